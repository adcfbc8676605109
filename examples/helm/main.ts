import { App, Chart, Size } from 'cdk8s';
import { Applier, MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Laravel app installed with Helm. The migration Job, and the ConfigMap and
// Secret it reads, become pre-install/pre-upgrade hooks: Helm runs the Job to
// completion before it installs or upgrades the Deployment.
const app = new App();
const chart = new Chart(app, 'helm');

new MigratedApplication(chart, 'wiki', {
  name: 'wiki',
  image: 'ghcr.io/example/wiki:3.1.0',
  applier: Applier.helm(),
  ports: [{ number: 8080, name: 'http' }],
  config: {
    APP_ENV: 'production',
    DB_CONNECTION: 'pgsql',
    DB_HOST: 'postgres.database.svc.cluster.local',
    DB_DATABASE: 'wiki',
    DB_USERNAME: 'wiki',
  },
  // Placeholder: in production, keep it out of the chart with `existingSecret`.
  secretValues: { DB_PASSWORD: 'change-me' },
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
