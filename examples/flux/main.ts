import { App, Chart, Size } from 'cdk8s';
import { Applier, MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Laravel app deployed by Flux from the synthesized dist/ folder. Flux
// applies a release in one go; the pods' init container holds them until the
// migration Job has completed. Applier.flux() marks the objects of one
// release (the Job, the RBAC that reads it, the hashed ConfigMap)
// `kustomize.toolkit.fluxcd.io/prune: disabled`, so that Flux does not delete
// the previous release's Job while pods of that release may still wait on it.
const app = new App();
const chart = new Chart(app, 'flux');

new MigratedApplication(chart, 'invoices', {
  name: 'invoices',
  image: 'ghcr.io/example/invoices:2.4.0',
  applier: Applier.flux(),
  ports: [{ number: 8080, name: 'http' }],
  config: {
    APP_ENV: 'production',
    DB_CONNECTION: 'pgsql',
    DB_HOST: 'postgres.database.svc.cluster.local',
    DB_DATABASE: 'invoices',
    DB_USERNAME: 'invoices',
  },
  // dist/ is committed and reconciled from git, so the password must not be in it:
  // a SealedSecret (or an ExternalSecret) makes `invoices-db`.
  existingSecret: kplus.Secret.fromSecretName(chart, 'db-credentials', 'invoices-db'),
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
