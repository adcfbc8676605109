import { App, Chart, Size } from 'cdk8s';
import { MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Laravel app whose schema changes come in two halves. The expand half
// (database/migrations/expand) runs before any new pod serves, as always; the
// contract half (database/migrations/contract) runs once the release has
// fully rolled out and the last pod of the previous release is gone.
const app = new App();
const chart = new Chart(app, 'expand-contract');

new MigratedApplication(chart, 'accounts', {
  name: 'accounts',
  image: 'ghcr.io/example/accounts:3.2.0',
  ports: [{ number: 8080, name: 'http' }],
  config: {
    APP_ENV: 'production',
    DB_CONNECTION: 'pgsql',
    DB_HOST: 'postgres.database.svc.cluster.local',
    DB_DATABASE: 'accounts',
    DB_USERNAME: 'accounts',
  },
  // DB_PASSWORD, made outside this app (External Secrets, Sealed Secrets, kubectl).
  existingSecret: kplus.Secret.fromSecretName(chart, 'db', 'accounts-db'),
  migration: {
    command: ['php', 'artisan', 'migrate', '--force', '--path=database/migrations/expand'],
    // Runs in the same image, with the same environment and limits.
    contract: { command: ['php', 'artisan', 'migrate', '--force', '--path=database/migrations/contract'] },
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.units(1) },
      memory: { request: Size.mebibytes(128), limit: Size.mebibytes(512) },
    },
    securityContext: { user: 33, group: 33 },
  },
  securityContext: { user: 33, group: 33 },
  resources: {
    cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) },
    memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
  },
  readiness: kplus.Probe.fromHttpGet('/up', { port: 8080 }),
});

app.synth();
