import { App, Chart, Duration, Size } from 'cdk8s';
import { MigratedApplication } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';

// An app on GKE whose PostgreSQL is Cloud SQL, reached through the Cloud SQL
// Auth Proxy as a native sidecar: each app pod and the migration Job's pod get
// their own copy, and the Job still completes when the migration exits.
const app = new App();
const chart = new Chart(app, 'cloud-sql-proxy');

// cloud-sql-proxy v2.27.0: the image runs as 65532 (distroless nonroot) with
// ENTRYPOINT /cloud-sql-proxy; it listens on 127.0.0.1:--port. --health-check
// serves /startup on --http-address:--http-port, which the startup probe
// waits for, so the containers after it start once the proxy is up.
const proxy: kplus.ContainerProps = {
  name: 'cloud-sql-proxy',
  image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.27.0',
  args: [
    '--port=5432',
    '--structured-logs',
    '--health-check',
    '--http-address=0.0.0.0',
    '--http-port=9090',
    'acme-prod:europe-west1:inventory',
  ],
  startup: kplus.Probe.fromHttpGet('/startup', { port: 9090, periodSeconds: Duration.seconds(1), failureThreshold: 60 }),
  resources: {
    cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
    memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
  },
  securityContext: { user: 65532, group: 65532 },
};

const inventory = new MigratedApplication(chart, 'inventory', {
  name: 'inventory',
  image: 'ghcr.io/example/inventory:3.2.0',
  command: ['/app/inventory', 'serve'],
  ports: [{ number: 8080, name: 'http' }],
  sidecars: [proxy],
  // The app connects as inventory_app, through its own proxy on loopback.
  config: { DB_HOST: '127.0.0.1', DB_PORT: '5432', DB_NAME: 'inventory', DB_USER: 'inventory_app' },
  // DB_PASSWORD of inventory_app.
  existingSecret: kplus.Secret.fromSecretName(chart, 'app-db', 'inventory-db-app'),
  resources: {
    cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
    memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
  },
  readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  securityContext: { user: 65532, group: 65532 },
  migration: {
    command: ['/app/inventory', 'migrate'],
    // The migration owns the schema: it connects as inventory_owner, with that
    // role's password. Both shadow the shared DB_USER and DB_PASSWORD for the Job.
    env: { DB_USER: 'inventory_owner' },
    existingSecret: kplus.Secret.fromSecretName(chart, 'owner-db', 'inventory-db-owner'),
    // The Job's own identity (GKE Workload Identity), for its proxy to reach Cloud SQL.
    serviceAccount: new kplus.ServiceAccount(chart, 'migrate-identity', {
      metadata: {
        name: 'inventory-migrate',
        annotations: { 'iam.gke.io/gcp-service-account': 'inventory-migrate@acme-prod.iam.gserviceaccount.com' },
      },
      automountToken: false,
    }),
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
      memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
    },
    securityContext: { user: 65532, group: 65532 },
  },
});
// The app's pods reach Cloud SQL as another Google service account.
inventory.serviceAccount.metadata.addAnnotation('iam.gke.io/gcp-service-account', 'inventory-app@acme-prod.iam.gserviceaccount.com');

app.synth();
