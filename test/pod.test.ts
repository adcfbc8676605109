/*
 * What platform teams add to the migration Job and the app's pods: sidecars,
 * pull secrets, scheduling, a Job identity, init containers and volumes, pod
 * metadata; and the precedence of the Job's own environment over the shared one.
 */
import { Chart, Cron, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { expectSoundManifests, Manifest, newChart, ofKind, one, raisedAt, synth } from './helpers';
import { Applier, DatabaseMigration, DatabaseMigrationProps, MigratedApplication, MigratedApplicationProps } from '../src';
import {
  addPullSecrets, addTokenVolume, containerSeccompProfile, ephemeralStorageMebibytes, fallbackToLogsOnError, finishRender, mountToken,
  SERVICE_ACCOUNT_PATH,
} from '../src/_pod-template';
import { inOrder } from '../src/naming';
import { QUEUE_CONTAINER } from '../src/queue';

const IMAGE = 'ghcr.io/acme/shop:1.0.0';
const PROXY: kplus.ContainerProps = {
  name: 'cloud-sql-proxy',
  image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1',
  args: ['--port=5432', 'acme:europe-west1:shop'],
  securityContext: { user: 65532, group: 65532 },
};

function app(props: Partial<MigratedApplicationProps> = {}, chart: Chart = newChart()) {
  const application = new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE, ...props });
  const objects = synth(chart);
  return { chart, application, objects, job: one(objects, 'Job'), deployment: one(objects, 'Deployment') };
}

function migrate(props: Partial<DatabaseMigrationProps> = {}, chart: Chart = newChart()) {
  const migration = new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE, ...props });
  return { migration, objects: synth(chart), job: one(synth(chart), 'Job') };
}

const podOf = (o: Manifest) => o.spec.template.spec;
const names = (containers: any[] = []) => containers.map((c) => c.name);

describe('sidecars', () => {
  const { job, deployment, objects } = app({ sidecars: [PROXY], migration: { sidecars: [{ name: 'log-shipper', image: 'fluent/fluent-bit:3.2.0' }] } });

  test('are native sidecars of the Job, before its own, and start before the migration', () => {
    const pod = podOf(job);
    // After the migration queue, which holds them until it is this Job's turn.
    expect(names(pod.initContainers)).toEqual([QUEUE_CONTAINER, 'cloud-sql-proxy', 'log-shipper']);
    expect(pod.initContainers.map((c: any) => c.restartPolicy)).toEqual([undefined, 'Always', 'Always']);
    expect(names(pod.containers)).toEqual(['migrate']);
    expect(pod.restartPolicy).toBe('Never');
  });

  test('give each app pod its own copy, before the waiter', () => {
    const pod = podOf(deployment);
    expect(names(pod.initContainers)).toEqual(['cloud-sql-proxy', 'wait-for-shop-job-created', 'wait-for-shop-job-complete']);
    expect(pod.initContainers[0]).toMatchObject({ name: PROXY.name, image: PROXY.image, args: PROXY.args, restartPolicy: 'Always', imagePullPolicy: 'IfNotPresent' });
    expect(pod.initContainers.slice(1).map((c: any) => c.restartPolicy)).toEqual([undefined, undefined]);
  });

  test('are restricted and get no token', () => {
    expect(podOf(job).initContainers[1].securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expectSoundManifests(objects);
  });

  test('get requests and limits like the migration\'s, each resource they set kept', () => {
    const defaults = {
      requests: { 'cpu': '1000m', 'memory': '512Mi', 'ephemeral-storage': '64Mi' },
      limits: { 'cpu': '1500m', 'memory': '2048Mi', 'ephemeral-storage': '1024Mi' },
    };
    expect(podOf(job).initContainers[1].resources).toEqual(defaults);
    expect(podOf(deployment).initContainers[0].resources).toEqual(defaults);
    const small = app({ sidecars: [{ ...PROXY, resources: { memory: { request: Size.mebibytes(32), limit: Size.mebibytes(64) } } }] });
    expect(podOf(small.job).initContainers[1].resources).toEqual({
      requests: { ...defaults.requests, memory: '32Mi' },
      limits: { ...defaults.limits, memory: '64Mi' },
    });
  });

  test('may have probes, which cdk8s-plus refuses on init containers', () => {
    const probed = app({ sidecars: [{ ...PROXY, startup: kplus.Probe.fromHttpGet('/startup', { port: 9090 }), liveness: kplus.Probe.fromTcpSocket({ port: 5432 }) }] });
    for (const sidecar of [podOf(probed.job).initContainers[1], podOf(probed.deployment).initContainers[0]]) {
      expect(sidecar.startupProbe).toMatchObject({ httpGet: { path: '/startup', port: 9090 } });
      expect(sidecar.livenessProbe).toMatchObject({ tcpSocket: { port: 5432 } });
    }
    expect(() => app({ migration: { initContainers: [{ name: 'c', image: 'git:1', readiness: kplus.Probe.fromCommand(['true']) }] } }))
      .toThrow(raisedAt('test/shop', /^migration\.initContainers\[0\]\.readiness: an init container that runs to completion cannot have probes/));
  });

  test.each<[string, Partial<MigratedApplicationProps>, RegExp]>([
    ['a missing name', { sidecars: [{ image: 'proxy:1' }] }, /^sidecars\[0\]\.name: must be a DNS label/],
    ['a name taken by the migration', { sidecars: [{ name: 'migrate', image: 'proxy:1' }] }, /^sidecars\[0\]\.name: "migrate" is already the name/],
    ['a name taken by the app', { sidecars: [{ name: 'app', image: 'proxy:1' }] }, /^sidecars\[0\]\.name: "app" is already the name/],
    ['a name taken twice', { sidecars: [{ name: 'p', image: 'proxy:1' }, { name: 'p', image: 'proxy:1' }] }, /^sidecars\[1\]\.name: "p" is already/],
    ['the Job\'s own, clashing with a shared one', { sidecars: [{ name: 'p', image: 'proxy:1' }], migration: { sidecars: [{ name: 'p', image: 'proxy:1' }] } }, /^migration\.sidecars\[0\]\.name:/],
    ['a bad image', { sidecars: [{ name: 'p', image: 'Proxy' }] }, /^sidecars\[0\]\.image: is not a valid container image reference/],
    ['an empty command', { migration: { sidecars: [{ name: 'p', image: 'proxy:1', command: [] }] } }, /^migration\.sidecars\[0\]\.command: must be a non-empty list/],
  ])('reject %s', (_what, props, message) => {
    expect(() => app(props)).toThrow(raisedAt('test/shop', message));
  });
});

describe('init containers and volumes of the Job', () => {
  const chart = newChart();
  const migrations = kplus.Volume.fromEmptyDir(chart, 'migrations', 'migrations');
  const token = kplus.Secret.fromSecretName(chart, 'git', 'shop-git');
  const clone: kplus.ContainerProps = {
    name: 'clone',
    image: 'alpine/git:v2.47.2',
    args: ['clone', '--branch=v1', 'https://x-access-token:$(GIT_TOKEN)@github.com/acme/migrations.git', '/migrations/repo'],
    envVariables: { GIT_TOKEN: kplus.EnvValue.fromSecretValue({ secret: token, key: 'GIT_TOKEN' }) },
    volumeMounts: [{ path: '/migrations', volume: migrations }],
  };
  const { job, deployment, objects } = app({ sidecars: [PROXY], migration: { initContainers: [clone], volumeMounts: [{ path: '/migrations', volume: migrations, readOnly: true }] } }, chart);

  test('run after the sidecars, sharing a volume with the migration; the token reaches the clone only', () => {
    const pod = podOf(job);
    expect(names(pod.initContainers)).toEqual([QUEUE_CONTAINER, 'cloud-sql-proxy', 'clone']);
    expect(pod.initContainers[2].restartPolicy).toBeUndefined();
    expect(pod.initContainers[2].volumeMounts).toEqual([{ name: 'migrations', mountPath: '/migrations' }]);
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'migrations', mountPath: '/migrations', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'migrations', emptyDir: {} });
    expect(JSON.stringify(deployment)).not.toContain('shop-git');
    expect(JSON.stringify(pod.containers)).not.toContain('shop-git');
    expectSoundManifests(objects, { externalSecrets: ['shop-git'] });
  });

  test.each<[string, Partial<DatabaseMigrationProps>, RegExp]>([
    ['a mount over /tmp', { volumeMounts: [{ path: '/tmp/m', volume: kplus.Volume.fromEmptyDir(newChart(), 'v', 'v') }] }, /^volumeMounts\[0\]\.path: must not be in \/tmp/],
    ['a relative mount path', { volumeMounts: [{ path: 'm', volume: kplus.Volume.fromEmptyDir(newChart(), 'v', 'v') }] }, /^volumeMounts\[0\]\.path: must be an absolute path/],
    ['a mount over the config file', {
      configFile: { path: '/etc/m/c.yml', content: '' },
      volumeMounts: [{ path: '/etc/m/c.yml', volume: kplus.Volume.fromEmptyDir(newChart(), 'v', 'v') }],
    }, /^volumeMounts\[0\]\.path: must not be in \/etc\/m\/c\.yml/],
    ['a volume named like the library\'s', { volumeMounts: [{ path: '/m', volume: kplus.Volume.fromEmptyDir(newChart(), 'v', 'tmp') }] }, /^volumeMounts\[0\]\.volume: the volume name "tmp"/],
    ['an init container named like the migration', { initContainers: [{ name: 'migrate', image: 'git:1' }] }, /^initContainers\[0\]\.name: "migrate" is already/],
  ])('reject %s', (_what, props, message) => {
    expect(() => migrate(props)).toThrow(raisedAt('test/db', message));
  });
});

describe('image pull secrets', () => {
  const chart = newChart();
  let n = 0;
  const pull = (name: string) => kplus.Secret.fromSecretName(chart, `pull-${n++}`, name);
  const { job, deployment, objects } = app({
    imagePullSecrets: [pull('registry')],
    migration: { imagePullSecrets: [pull('migrations-registry'), pull('registry')], waiter: { imagePullSecrets: [pull('mirror')] } },
  }, chart);

  test('reach the app and the Job (both with the waiter\'s, whose image runs the Job\'s queue), each once', () => {
    expect(podOf(deployment).imagePullSecrets).toEqual([{ name: 'registry' }, { name: 'mirror' }]);
    expect(podOf(job).imagePullSecrets).toEqual([{ name: 'registry' }, { name: 'migrations-registry' }, { name: 'mirror' }]);
    expectSoundManifests(objects, { externalSecrets: ['registry', 'migrations-registry', 'mirror'] });
  });

  test('the waiter\'s reach every gated workload, after its own', () => {
    const c = newChart();
    const migration = new DatabaseMigration(c, 'db', { name: 'shop', image: IMAGE, waiter: { imagePullSecrets: [kplus.Secret.fromSecretName(c, 'm', 'mirror')] } });
    const worker = new kplus.Deployment(c, 'worker', {
      automountServiceAccountToken: false,
      progressDeadline: Duration.minutes(15),
      dockerRegistryAuth: kplus.Secret.fromSecretName(c, 'own', 'own-registry'),
      containers: [{ image: 'worker:1' }],
    });
    migration.gate(worker);
    const spec = podOf(synth(c).find((o) => o.kind === 'Deployment')!);
    expect(spec.imagePullSecrets).toEqual([{ name: 'own-registry' }, { name: 'mirror' }]);
  });

  test.each<[string, Partial<MigratedApplicationProps>, RegExp]>([
    ['a bad name for the app', { imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', 'Bad_Name')] }, /^imagePullSecrets\[0\]: must be a DNS subdomain/],
    ['a bad name for the Job', { migration: { imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', '-x')] } }, /^migration\.imagePullSecrets\[0\]: must be a DNS subdomain/],
    ['a bad name for the Job after a good one for the app', {
      imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', 'registry')],
      migration: { imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', 'Bad')] },
    }, /^migration\.imagePullSecrets\[0\]: must be a DNS subdomain/],
    ['a bad name for the waiter', { migration: { waiter: { imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', 'x/y')] } } }, /^migration\.waiter\.imagePullSecrets\[0\]: must be a DNS subdomain/],
  ])('reject %s', (_what, props, message) => {
    expect(() => app(props)).toThrow(raisedAt('test/shop', message));
  });
});

describe('scheduling of the Job', () => {
  const { job, deployment, objects } = app({
    migration: {
      nodeSelector: { 'pool': 'migrations', 'kubernetes.io/arch': 'amd64' },
      tolerations: [kplus.NodeTaintQuery.is('pool', 'migrations', { effect: kplus.TaintEffect.NO_SCHEDULE })],
      nodeAffinity: [kplus.NodeLabelQuery.in('topology.kubernetes.io/zone', ['europe-west1-b'])],
      priorityClassName: 'batch-low',
    },
  });

  test('reaches the Job\'s pod, and only it', () => {
    const pod = podOf(job);
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64', 'pool': 'migrations' });
    expect(pod.tolerations).toEqual([{ key: 'pool', operator: 'Equal', value: 'migrations', effect: 'NoSchedule' }]);
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms)
      .toEqual([{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['europe-west1-b'] }] }]);
    expect(pod.priorityClassName).toBe('batch-low');
    const app_ = podOf(deployment);
    expect([app_.nodeSelector, app_.tolerations, app_.affinity, app_.priorityClassName]).toEqual([undefined, undefined, undefined, undefined]);
    expectSoundManifests(objects);
  });

  test.each<[string, Partial<DatabaseMigrationProps>, RegExp]>([
    ['a bad node selector key', { nodeSelector: { 'a b': 'x' } }, /^nodeSelector\.a b: is not a valid label or annotation key/],
    ['a bad node selector value', { nodeSelector: { pool: 'a b' } }, /^nodeSelector\.pool: must be a label value/],
    ['a bad priority class', { priorityClassName: 'Batch' }, /^priorityClassName: must be a DNS subdomain/],
  ])('rejects %s', (_what, props, message) => {
    expect(() => migrate(props)).toThrow(raisedAt('test/db', message));
  });
});

describe('a ServiceAccount for the Job', () => {
  const chart = newChart();
  const identity = new kplus.ServiceAccount(chart, 'identity', {
    metadata: { name: 'shop-migrate', annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/shop-migrate' } },
    automountToken: false,
  });
  const { job, objects } = app({ sidecars: [PROXY], migration: { serviceAccount: identity, initContainers: [{ name: 'fetch', image: 'git:1' }] } }, chart);

  test('names it, and only the migration container mounts its token', () => {
    const pod = podOf(job);
    expect(pod.serviceAccountName).toBe('shop-migrate');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes).toContainEqual(expect.objectContaining({ name: 'migrate-token', projected: expect.anything() }));
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'migrate-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    // The queue mounts a token of the same ServiceAccount, bound to its Role: the sidecar and the fetch mount none.
    expect(pod.initContainers[0].volumeMounts).toContainEqual({ name: 'queue-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    for (const c of pod.initContainers.slice(1)) expect({ c: c.name, mounts: c.volumeMounts ?? [] }).toEqual({ c: c.name, mounts: [] });
    expect(ofKind(objects, 'RoleBinding').find((b) => b.metadata.name === 'shop-migrate-queue')?.subjects)
      .toEqual([{ apiGroup: '', kind: 'ServiceAccount', name: 'shop-migrate' }]);
    expect(ofKind(objects, 'ServiceAccount').map((a) => a.metadata.name).sort()).toEqual(['shop', 'shop-migrate']);
    expectSoundManifests(objects);
  });

  test('one made in the app is applied before the Job, as its ConfigMaps and Secrets are', () => {
    const c = newChart();
    const account = new kplus.ServiceAccount(c, 'identity', { metadata: { name: 'shop-migrate' }, automountToken: false });
    new MigratedApplication(c, 'shop', { name: 'shop', image: IMAGE, applier: Applier.argoCd(), migration: { serviceAccount: account } });
    const emitted = synth(c);
    const wave = (o: Manifest | undefined) => o?.metadata.annotations?.['argocd.argoproj.io/sync-wave'];
    expect(wave(emitted.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'shop-migrate'))).toBe('-2');
    expect(wave(one(emitted, 'Job'))).toBe('-1');
  });

  test('by default the Job runs as its queue\'s ServiceAccount, whose token only the queue mounts', () => {
    const pod = podOf(app().job);
    expect([pod.serviceAccountName, pod.volumes.map((v: any) => v.name).sort()]).toEqual(['shop-migrate-queue', ['queue-tmp', 'queue-token', 'tmp']]);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  test.each<[string, (c: Chart) => Partial<MigratedApplicationProps>, RegExp]>([
    ['the app\'s own', (c) => ({ migration: { serviceAccount: kplus.ServiceAccount.fromServiceAccountName(c, 's', 'shop') } }), /^migration\.serviceAccount: must not be the app's own/],
    ['a bad name', (c) => ({ migration: { serviceAccount: kplus.ServiceAccount.fromServiceAccountName(c, 's', 'Shop') } }), /^migration\.serviceAccount: must be a DNS subdomain/],
    ['a mount over its token', (c) => ({
      migration: {
        serviceAccount: kplus.ServiceAccount.fromServiceAccountName(c, 's', 'm'),
        volumeMounts: [{ path: '/var/run/secrets/kubernetes.io/serviceaccount', volume: kplus.Volume.fromEmptyDir(c, 'v', 'v') }],
      },
    }), /^migration\.volumeMounts\[0\]\.path: must not be in \/var\/run\/secrets/],
  ])('rejects %s', (_what, props, message) => {
    const c = newChart();
    expect(() => app(props(c), c)).toThrow(raisedAt('test/shop', message));
  });
});

describe('pod metadata', () => {
  const { job, deployment, objects } = app({
    podLabels: { 'cost-center': 'shop' },
    podAnnotations: { 'sidecar.istio.io/inject': 'true' },
    migration: { podLabels: { 'cost-center': 'shop-batch' }, podAnnotations: { 'sidecar.istio.io/inject': 'false' } },
  });

  test('reaches the app\'s pod template and the Job\'s pod separately', () => {
    expect(deployment.spec.template.metadata.labels['cost-center']).toBe('shop');
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'sidecar.istio.io/inject': 'true' });
    expect(job.spec.template.metadata.labels['cost-center']).toBe('shop-batch');
    expect(job.spec.template.metadata.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(deployment.spec.selector.matchLabels['cost-center']).toBeUndefined();
    expectSoundManifests(objects);
  });

  test.each<[string, Partial<MigratedApplicationProps>, RegExp]>([
    ['a library label', { podLabels: { 'app.kubernetes.io/name': 'x' } }, /^podLabels\.app\.kubernetes\.io\/name: the library sets/],
    ['a bad label value', { migration: { podLabels: { team: 'a b' } } }, /^migration\.podLabels\.team: must be a label value/],
    ['a bad annotation key', { podAnnotations: { '/x': 'y' } }, /^podAnnotations\.\/x: is not a valid label or annotation key/],
    ['a cdk8s label', { migration: { podLabels: { 'cdk8s.io/x': 'x' } } },
      /^migration\.podLabels\.cdk8s\.io\/x: the library sets the app\.kubernetes\.io\/ and cdk8s\.io\/ and cdk8s-migrated-app\.github\.io\/ labels itself$/],
  ])('rejects %s', (_what, props, message) => {
    expect(() => app(props)).toThrow(raisedAt('test/shop', message));
  });
});

describe('the Job\'s environment shadows the shared one', () => {
  const chart = newChart();
  const { job, deployment } = app({
    config: { DB_USER: 'shop_app', DB_HOST: '127.0.0.1' },
    existingSecret: kplus.Secret.fromSecretName(chart, 'app-db', 'shop-db-app'),
    migration: { env: { DB_USER: 'shop_owner' }, existingSecret: kplus.Secret.fromSecretName(chart, 'owner-db', 'shop-db-owner') },
  }, chart);

  // The kubelet gives `env` precedence over `envFrom`, and among `envFrom` the
  // last source wins (k8s.io/api v0.37.2, core/v1/types.go, Container.EnvFrom).
  test('migration.env comes as env, the Job\'s Secret last in envFrom', () => {
    const [migration] = podOf(job).containers;
    expect(migration.env).toEqual([{ name: 'DB_USER', value: 'shop_owner' }]);
    expect(migration.envFrom.map((f: any) => f.configMapRef?.name ?? f.secretRef?.name)).toEqual([expect.stringMatching(/^shop-config-/), 'shop-db-app', 'shop-db-owner']);
    const [appContainer] = podOf(deployment).containers;
    expect(appContainer.env).toBeUndefined();
    expect(appContainer.envFrom.map((f: any) => f.configMapRef?.name ?? f.secretRef?.name)).toEqual([expect.stringMatching(/^shop-config-/), 'shop-db-app']);
  });
});

describe('the Job name changes with each new prop', () => {
  const chart = newChart();
  const base = migrate({}, chart).migration.jobName;
  test.each<[string, (c: Chart) => Partial<DatabaseMigrationProps>]>([
    ['a sidecar', () => ({ sidecars: [PROXY] })],
    ['an init container', () => ({ initContainers: [{ name: 'clone', image: 'git:1' }] })],
    ['a volume mount', (c) => ({ volumeMounts: [{ path: '/m', volume: kplus.Volume.fromEmptyDir(c, 'v', 'v') }] })],
    ['an image pull secret', (c) => ({ imagePullSecrets: [kplus.Secret.fromSecretName(c, 'p', 'registry')] })],
    ['a ServiceAccount', (c) => ({ serviceAccount: kplus.ServiceAccount.fromServiceAccountName(c, 's', 'identity') })],
    ['a node selector', () => ({ nodeSelector: { pool: 'm' } })],
    ['a toleration', () => ({ tolerations: [kplus.NodeTaintQuery.exists('pool')] })],
    ['a node affinity', () => ({ nodeAffinity: [kplus.NodeLabelQuery.exists('pool')] })],
    ['a priority class', () => ({ priorityClassName: 'low' })],
    ['a pod label', () => ({ podLabels: { team: 'a' } })],
    ['a pod annotation', () => ({ podAnnotations: { team: 'a' } })],
  ])('%s', (_what, props) => {
    const c = newChart();
    expect(migrate(props(c), c).migration.jobName).not.toBe(base);
  });
});

describe('the pod-template workarounds\' own guards', () => {
  test('a workload\'s rendering is finished once: a second finish is a bug of the library, and throws', () => {
    const chart = newChart();
    const job = new kplus.Job(chart, 'job');
    finishRender(job, (render) => render());
    expect(() => finishRender(job, (render) => render())).toThrow(/^test\/job: its rendering is already finished by the library$/);
  });

  test('edits a pod as cdk8s-plus renders it, with no volumes or mounts of its own, keeping every key in order', () => {
    const chart = newChart();
    const cron = new kplus.CronJob(chart, 'cron', { schedule: Cron.hourly(), containers: [{ name: 'main', image: IMAGE }] });
    const [main] = cron.containers;
    addTokenVolume(cron, 'token');
    mountToken(cron, main, 'token');
    containerSeccompProfile(cron, main);
    fallbackToLogsOnError(cron, main);
    ephemeralStorageMebibytes(cron, 'main', { request: 16, limit: 64 });
    const spec = one(synth(chart), 'CronJob').spec.jobTemplate.spec.template.spec;
    expect(spec.volumes.map((v: any) => [v.name, Object.keys(v.projected.sources[2])])).toEqual([['token', ['downwardAPI']]]);
    const [container] = spec.containers;
    expect(container.volumeMounts).toEqual([{ mountPath: SERVICE_ACCOUNT_PATH, name: 'token', readOnly: true }]);
    expect(container.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(container.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(container.resources).toEqual({
      limits: { 'cpu': '1500m', 'ephemeral-storage': '64Mi', 'memory': '2048Mi' },
      requests: { 'cpu': '1000m', 'ephemeral-storage': '16Mi', 'memory': '512Mi' },
    });
    expect(inOrder(spec)).toBe(true);
  });

  test('edits only what it was asked to, container by container', () => {
    const chart = newChart();
    const deployment = new kplus.Deployment(chart, 'bare', { containers: [{ name: 'a', image: IMAGE }, { name: 'b', image: IMAGE }] });
    const [a] = deployment.containers;
    containerSeccompProfile(deployment, a);
    ephemeralStorageMebibytes(deployment, 'b', { request: 16, limit: 64 });
    const template = one(synth(chart), 'Deployment').spec.template;
    const [first, second] = template.spec.containers;
    expect(first.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(first.resources.limits['ephemeral-storage']).toBeUndefined();
    expect(second.resources.limits['ephemeral-storage']).toBe('64Mi');
    for (const c of [first, second]) {
      expect(c.terminationMessagePolicy).toBeUndefined();
      expect(c.securityContext.capabilities).toBeUndefined();
      expect(c.volumeMounts).toBeUndefined();
    }
    expect(second.securityContext.seccompProfile).toBeUndefined();
    expect(template.spec.securityContext.seccompProfile).toBeUndefined();
    expect(template.spec.volumes).toBeUndefined();
    expect(template.spec.imagePullSecrets).toBeUndefined();
    expect(template.metadata.labels['cdk8s.io/metadata.addr']).toBeDefined();
  });

  test('adds each pull secret once, after the one cdk8s-plus renders', () => {
    const chart = newChart();
    const deployment = new kplus.Deployment(chart, 'd', {
      containers: [{ image: IMAGE }], dockerRegistryAuth: kplus.Secret.fromSecretName(chart, 'auth', 'regcred'),
    });
    addPullSecrets(deployment, ['mirror', 'regcred', 'mirror']);
    expect(one(synth(chart), 'Deployment').spec.template.spec.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
  });
});
