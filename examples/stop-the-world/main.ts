import { App, Chart, Duration, Size } from 'cdk8s';
import { LinterWaiver, MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Django app whose next release renames a column: the running version would
// break against the new schema, so no old pod may serve once the migration has
// started. With the Recreate strategy, every old pod is stopped; the new pods
// then wait for the migration before they start. Expect downtime.
const app = new App();
const chart = new Chart(app, 'stop-the-world');

const catalog = new MigratedApplication(chart, 'catalog', {
  name: 'catalog',
  image: 'ghcr.io/example/catalog:4.0.0',
  replicas: 3,
  strategy: kplus.DeploymentStrategy.recreate(),
  command: ['gunicorn', 'catalog.wsgi', '--bind=0.0.0.0:8000', '--workers=3'],
  ports: [{ number: 8000, name: 'http' }],
  config: {
    DJANGO_SETTINGS_MODULE: 'catalog.settings.production',
    DATABASE_HOST: 'postgres.database.svc.cluster.local',
    DATABASE_NAME: 'catalog',
    DATABASE_USER: 'catalog',
  },
  // Placeholder: in production, keep it out of git with `existingSecret`.
  secretValues: { DATABASE_PASSWORD: 'change-me' },
  resources: {
    cpu: { request: kplus.Cpu.millis(200), limit: kplus.Cpu.units(1) },
    memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
  },
  readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8000 }),
  securityContext: { user: 10001, group: 10001 },
  migration: {
    // A migration is short and mostly waits on the database: a small request, room to burst.
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.units(1) },
      memory: { request: Size.mebibytes(128), limit: Size.mebibytes(512) },
    },
    command: ['python', 'manage.py', 'migrate', '--noinput'],
    // A table rewrite can take a while: give it 30 minutes (the rollout's
    // progress deadline follows: 35 minutes).
    activeDeadline: Duration.minutes(30),
    securityContext: { user: 10001, group: 10001 },
  },
});

// kube-score warns against Recreate; here it is the point. The reason goes on the Deployment.
LinterWaiver.addTo(catalog.deployment, {
  kubeScore: 'deployment-strategy',
  reason: 'Recreate on purpose: no pod of the old release may serve once the migration has started.',
});

app.synth();
