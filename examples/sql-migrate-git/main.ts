import { App, Chart, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { MigratedApplication } from 'cdk8s-migrated-app';

// A Go service whose SQL migrations live in their own git repository. The Job
// clones one tag of that repository into /tmp (an emptyDir: the root filesystem
// is read-only) and runs `sql-migrate up` against it.
const app = new App();
const chart = new Chart(app, 'sql-migrate-git');

// The tag of the migrations repository this release runs. It is part of the
// Job's definition, so bumping it gives a new Job that runs once; a branch such
// as `main` would not: the Job's name would not change when the branch moves.
const MIGRATIONS_REF = 'v2025.06.2';

// sql-migrate expands environment variables in `datasource` (and only there),
// so the password comes from the Job's environment, not from this file.
const DBCONFIG = [
  'production:',
  '  dialect: postgres',
  '  datasource: host=${DB_HOST} port=5432 dbname=${DB_NAME} user=${DB_USER} password=${DB_PASSWORD} sslmode=require',
  '  dir: /tmp/migrations/postgres',
  '  table: schema_migrations',
  '',
].join('\n');

const CLONE_AND_MIGRATE = [
  'set -eu',
  'git clone --quiet --depth 1 --branch "$MIGRATIONS_REF" \\',
  '  "https://x-access-token:${GIT_TOKEN}@github.com/example/ledger-migrations.git" /tmp/migrations',
  'exec sql-migrate up -config=/etc/sql-migrate/dbconfig.yml -env=production',
].join('\n');

new MigratedApplication(chart, 'ledger', {
  name: 'ledger',
  image: 'ghcr.io/example/ledger:1.8.0',
  replicas: 3,
  ports: [{ number: 8080, name: 'http' }],
  // The app and the migration both read these.
  config: {
    DB_HOST: 'postgres.database.svc.cluster.local',
    DB_NAME: 'ledger',
    DB_USER: 'ledger',
  },
  // DB_PASSWORD, made outside this app (External Secrets, Sealed Secrets, kubectl).
  existingSecret: kplus.Secret.fromSecretName(chart, 'db-credentials', 'ledger-db'),
  resources: {
    cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
    memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
  },
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  securityContext: { user: 65532, group: 65532 },
  migration: {
    // git and sql-migrate in one image; see Dockerfile.
    image: 'ghcr.io/example/sql-migrate-git:1.7.0',
    command: ['sh', '-c', CLONE_AND_MIGRATE],
    env: {
      MIGRATIONS_REF,
      // git looks for its configuration under $HOME; never prompt for credentials.
      HOME: '/tmp',
      GIT_TERMINAL_PROMPT: '0',
    },
    // GIT_TOKEN: a read-only token for the migrations repository. Only the Job
    // gets it, and it stays out of git and out of the Job's name.
    existingSecret: kplus.Secret.fromSecretName(chart, 'git-token', 'ledger-migrations-git'),
    configFile: { path: '/etc/sql-migrate/dbconfig.yml', content: DBCONFIG },
    // backoffLimit is left at its default, 0: a failed migration is not retried.
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
      memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
    },
    securityContext: { user: 65532, group: 65532 },
  },
});

app.synth();
