import { App, Chart, Size } from 'cdk8s';
import { MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Laravel app whose image also carries its migrations: `php artisan migrate`
// runs once per release in a Job, and the new pods wait for it.
const app = new App();
const chart = new Chart(app, 'laravel');

new MigratedApplication(chart, 'shop', {
  name: 'shop',
  image: 'ghcr.io/example/shop:2.4.1',
  ports: [{ number: 8080, name: 'http' }],
  // Both reach the app and the migration through envFrom.
  config: {
    APP_ENV: 'production',
    DB_CONNECTION: 'mysql',
    DB_HOST: 'mysql.database.svc.cluster.local',
    DB_DATABASE: 'shop',
    DB_USERNAME: 'shop',
  },
  // Placeholder: in production, keep it out of git with `existingSecret`.
  secretValues: { DB_PASSWORD: 'change-me' },
  migration: {
    // A migration is short and mostly waits on the database: a small request, room to burst.
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.units(1) },
      memory: { request: Size.mebibytes(128), limit: Size.mebibytes(512) },
    },
    command: ['php', 'artisan', 'migrate', '--force'],
    securityContext: { user: 33, group: 33 },
  },
  // www-data: the php images would otherwise run as root.
  securityContext: { user: 33, group: 33 },
  resources: {
    cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) },
    memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
  },
  readiness: kplus.Probe.fromHttpGet('/up', { port: 8080 }),
});

app.synth();
