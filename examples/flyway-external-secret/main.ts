import { App, Chart, Duration, Size } from 'cdk8s';
import { MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Spring Boot service whose schema Flyway migrates. The database password
// lives in a secret store; External Secrets copies it into the Secret
// `billing-db`, which this app only refers to: nothing secret is synthesized.
const app = new App();
const chart = new Chart(app, 'flyway-external-secret');

new MigratedApplication(chart, 'billing', {
  name: 'billing',
  image: 'ghcr.io/example/billing:3.2.0',
  ports: [{ number: 8080, name: 'http' }],
  // Flyway reads FLYWAY_*; the app's application.yml points spring.datasource
  // at the same variables, so both connect with one set of settings.
  config: {
    FLYWAY_URL: 'jdbc:postgresql://postgres.database.svc.cluster.local:5432/billing?sslmode=require',
    FLYWAY_USER: 'billing',
  },
  // Made by the ExternalSecret in README.md; holds FLYWAY_PASSWORD.
  existingSecret: kplus.Secret.fromSecretName(chart, 'db-credentials', 'billing-db'),
  resources: {
    cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) },
    memory: { request: Size.mebibytes(512), limit: Size.mebibytes(768) },
  },
  startup: kplus.Probe.fromHttpGet('/actuator/health/liveness', { port: 8080, failureThreshold: 30, periodSeconds: Duration.seconds(2) }),
  readiness: kplus.Probe.fromHttpGet('/actuator/health/readiness', { port: 8080 }),
  liveness: kplus.Probe.fromHttpGet('/actuator/health/liveness', { port: 8080 }),
  securityContext: { user: 10001, group: 10001 },
  migration: {
    // flyway/flyway with this release's SQL files under /flyway/sql; see Dockerfile.
    image: 'ghcr.io/example/billing-flyway:3.2.0',
    args: ['migrate'],
    env: {
      // Flyway keeps its user-level state under $HOME; the root filesystem is read-only.
      HOME: '/tmp',
      REDGATE_DISABLE_TELEMETRY: 'true',
    },
    resources: {
      cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.units(1) },
      memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
    },
    // The flyway images run as root unless told otherwise.
    securityContext: { user: 10001, group: 10001 },
  },
});

app.synth();
