import { App, Chart, Size } from 'cdk8s';
import { Applier, MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Laravel app deployed by Argo CD from the synthesized dist/ folder. Sync
// waves tell Argo CD the order: ConfigMap and RBAC (wave -2), then the
// migration Job (wave -1), which must complete before the Deployment and
// Service (wave 0) are synced.
const app = new App();
const chart = new Chart(app, 'argocd');

new MigratedApplication(chart, 'forum', {
  name: 'forum',
  image: 'ghcr.io/example/forum:1.12.0',
  applier: Applier.argoCd(),
  ports: [{ number: 8080, name: 'http' }],
  config: {
    APP_ENV: 'production',
    DB_CONNECTION: 'mysql',
    DB_HOST: 'mysql.database.svc.cluster.local',
    DB_DATABASE: 'forum',
    DB_USERNAME: 'forum',
  },
  // dist/ is committed and synced from git, so the password must not be in it:
  // a SealedSecret (or an ExternalSecret) synced alongside makes `forum-db`.
  existingSecret: kplus.Secret.fromSecretName(chart, 'db-credentials', 'forum-db'),
  resources: {
    cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) },
    memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
  },
  readiness: kplus.Probe.fromHttpGet('/up', { port: 8080 }),
  // www-data: the php images would otherwise run as root.
  securityContext: { user: 33, group: 33 },
  migration: {
    // A migration is short and mostly waits on the database: a small request, room to burst.
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.units(1) },
      memory: { request: Size.mebibytes(128), limit: Size.mebibytes(512) },
    },
    command: ['php', 'artisan', 'migrate', '--force'],
    securityContext: { user: 33, group: 33 },
  },
});

app.synth();
