import { App, Chart, Size } from 'cdk8s';
import { MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// A Go service whose SQL migrations live in their own git repository. An init
// container of the Job clones one tag of that repository into an emptyDir that
// the migration container mounts read-only, and `sql-migrate up` runs on it.
// No shell: each container runs one command.
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
  '  dir: /migrations/ledger/postgres',
  '  table: schema_migrations',
  '',
].join('\n');

// git and sql-migrate in one image; see Dockerfile.
const MIGRATION_IMAGE = 'ghcr.io/example/sql-migrate-git:1.7.0';
const RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
  memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
};

// Shared by the clone (read-write) and the migration (read-only).
const migrations = kplus.Volume.fromEmptyDir(chart, 'migrations', 'migrations');
// GIT_TOKEN: a read-only token for the migrations repository, made outside
// this app (External Secrets, Sealed Secrets, kubectl). Only the clone
// container reads it: not the migration, not the app.
const gitToken = kplus.Secret.fromSecretName(chart, 'git-token', 'ledger-migrations-git');

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
  resources: RESOURCES,
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  securityContext: { user: 65532, group: 65532 },
  migration: {
    image: MIGRATION_IMAGE,
    command: ['sql-migrate', 'up', '-config=/etc/sql-migrate/dbconfig.yml', '-env=production'],
    initContainers: [{
      name: 'clone-migrations',
      image: MIGRATION_IMAGE,
      // The kubelet expands $(GIT_TOKEN) from this container's environment: no shell needed.
      command: [
        'git', 'clone', '--quiet', '--depth=1', `--branch=${MIGRATIONS_REF}`,
        'https://x-access-token:$(GIT_TOKEN)@github.com/example/ledger-migrations.git', '/migrations/ledger',
      ],
      envVariables: {
        GIT_TOKEN: kplus.EnvValue.fromSecretValue({ secret: gitToken, key: 'GIT_TOKEN' }),
        // Fail on a bad token instead of waiting for a prompt.
        GIT_TERMINAL_PROMPT: kplus.EnvValue.fromValue('0'),
      },
      volumeMounts: [{ path: '/migrations', volume: migrations }],
      resources: RESOURCES,
      securityContext: { user: 65532, group: 65532 },
    }],
    volumeMounts: [{ path: '/migrations', volume: migrations, readOnly: true }],
    configFile: { path: '/etc/sql-migrate/dbconfig.yml', content: DBCONFIG },
    // backoffLimit is left at its default, 0: a failed migration is not retried.
    resources: RESOURCES,
    securityContext: { user: 65532, group: 65532 },
  },
});

app.synth();
