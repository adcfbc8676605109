import { App, Chart, Duration, Size } from 'cdk8s';
import { DatabaseMigration, LinterWaiver, Restricted } from 'cdk8s-migrated-app';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';

// One release of an orders service made of two workloads built from the same
// image: an HTTP API and a queue worker. One migration Job runs per release,
// and the pods of both Deployments wait for it.
const app = new App();
const chart = new Chart(app, 'shared-migration');

const IMAGE = 'ghcr.io/example/orders:5.0.2';

// Settings both workloads and the migration read.
const config = new kplus.ConfigMap(chart, 'config', {
  metadata: { name: 'orders-db' },
  data: { DB_HOST: 'postgres.database.svc.cluster.local', DB_NAME: 'orders', DB_USER: 'orders' },
});
// DB_PASSWORD, made outside this app (External Secrets, Sealed Secrets, kubectl).
const credentials = kplus.Secret.fromSecretName(chart, 'credentials', 'orders-db');

const migration = new DatabaseMigration(chart, 'migration', {
  name: 'orders',
  image: IMAGE,
  command: ['/app/orders', 'migrate', 'up'],
  envFromConfigMaps: [config],
  envFromSecrets: [credentials],
  resources: {
    cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
    memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
  },
  securityContext: { user: 10001, group: 10001 },
});

/**
 * A Deployment of the orders image, as restricted as the library's own pods:
 * non-root, read-only root filesystem, no privilege escalation, no
 * capabilities, RuntimeDefault seccomp, and no service account token.
 */
function ordersDeployment(scope: Construct, id: string, name: string, args: string[], port: kplus.ContainerPort): kplus.Deployment {
  const deployment = new kplus.Deployment(scope, id, {
    metadata: { name, labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'orders' } },
    replicas: 2,
    // Longer than the migration's 10-minute active deadline, so that a slow but
    // healthy migration does not fail `kubectl rollout status`.
    progressDeadline: Duration.minutes(15),
    securityContext: { ensureNonRoot: true, user: 10001, group: 10001 },
    // automountServiceAccountToken stays false (the cdk8s-plus default); gate() requires it.
  });
  deployment.podMetadata.addLabel('app.kubernetes.io/name', name);
  deployment.addContainer({
    name: 'orders',
    image: IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/app/orders', ...args],
    ports: [port],
    envFrom: [kplus.Env.fromConfigMap(config), kplus.Env.fromSecret(credentials)],
    resources: {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
      memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
      // cdk8s-plus-27 renders ephemeral storage in whole gibibytes only.
      ephemeralStorage: { request: Size.gibibytes(1), limit: Size.gibibytes(1) },
    },
    readiness: kplus.Probe.fromHttpGet('/readyz', { port: port.number }),
    liveness: kplus.Probe.fromHttpGet('/healthz', { port: port.number }),
    volumeMounts: [{ path: '/tmp', volume: kplus.Volume.fromEmptyDir(deployment, 'tmp', 'tmp') }],
  });
  // cdk8s-plus defaults to non-root, no privilege escalation and a read-only root
  // filesystem; this adds the RuntimeDefault seccomp profile and drops ALL capabilities.
  Restricted.applyTo(deployment);
  // gate() annotates what the waiter calls for; these are this example's own choices.
  LinterWaiver.addTo(deployment, { kubeScore: 'deployment-has-poddisruptionbudget', reason: 'Left to the cluster\'s operators in this example.' });
  LinterWaiver.addTo(deployment, { kubeScore: 'deployment-has-host-podantiaffinity', reason: 'Left to the cluster\'s scheduler in this example.' });
  return deployment;
}

const api = ordersDeployment(chart, 'api', 'orders-api', ['serve', '--listen=:8080'], { number: 8080, name: 'http' });
const worker = ordersDeployment(chart, 'worker', 'orders-worker', ['work', '--queue=orders', '--health=:9090'], { number: 9090, name: 'health' });
const service = api.exposeViaService({ name: 'orders-api', ports: [{ port: 80, targetPort: 8080, name: 'http' }] });

// The namespace is the applier's (kubectl -n, an Argo CD destination), as for the library's objects.
const namespace = 'The namespace is the applier\'s to choose.';
LinterWaiver.addTo(config, { checkov: 'CKV_K8S_21', reason: namespace });
LinterWaiver.addTo(service, { checkov: 'CKV_K8S_21', reason: namespace });

// Each gets the wait-for init container, a ServiceAccount of its own (neither
// has one) and a RoleBinding to the one Role that may read this release's Job.
migration.gate(api);
migration.gate(worker);

app.synth();
