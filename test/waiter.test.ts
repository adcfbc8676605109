import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { raisedAt, Manifest, newChart, one, podSpecs, synth } from './helpers';
import { DatabaseMigration } from '../src';
import { QUEUE_CONTAINER } from '../src/queue';
import { DEFAULT_WAITER_IMAGE, JOB_DONE_JSONPATH, waiterNames } from '../src/waiter';

function gatedDeployment(waiter = {}, name = 'api') {
  const chart = newChart();
  const migration = new DatabaseMigration(chart, 'db', { name, image: 'migrate/migrate:v4.17.0', activeDeadline: Duration.minutes(20), waiter });
  const deployment = new kplus.Deployment(chart, 'web', {
    metadata: { name: 'web' }, progressDeadline: Duration.minutes(25), containers: [{ image: 'web:1' }],
  });
  migration.gate(deployment);
  const objects = synth(chart);
  const spec = podSpecs([one(objects, 'Deployment')])[0].spec;
  return { migration, objects, spec, created: spec.initContainers[0], complete: spec.initContainers[1] };
}

/** Every container and init container of every pod template. */
const containersOf = (objects: Manifest[]) => podSpecs(objects).flatMap((p) => [...p.spec.initContainers ?? [], ...p.spec.containers]);

describe('the rendered waiter', () => {
  const { migration, objects, spec, created, complete } = gatedDeployment();
  const job = `job/${migration.jobName}`;

  test('is two init containers in the pinned kubectl image, named for what they wait for', () => {
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['wait-for-api-job-created', 'wait-for-api-job-complete']);
    expect(DEFAULT_WAITER_IMAGE).toBe('registry.k8s.io/kubectl:v1.36.6');
    expect(DatabaseMigration.DEFAULT_WAITER_IMAGE).toBe(DEFAULT_WAITER_IMAGE);
    for (const c of [created, complete]) expect([c.image, c.imagePullPolicy]).toEqual([DEFAULT_WAITER_IMAGE, 'IfNotPresent']);
  });

  test('keeps the image\'s entrypoint and passes kubectl args only: the one shell is the migration queue\'s, in the Job\'s pod', () => {
    for (const c of [created, complete]) expect(c.command).toBeUndefined();
    const shells = containersOf(objects).filter((c) => [...c.command ?? [], ...c.args ?? []].some((a: string) => /(^|\/)(ba|da|z)?sh$/.test(a)));
    expect(shells.map((c) => [c.name, c.command])).toEqual([[QUEUE_CONTAINER, ['/bin/bash', '-c']]]);
  });

  test('first waits for the Job to exist, bounded by notFoundTimeout', () => {
    expect(created.args).toEqual(['wait', job, '--for=create', '--timeout=300s']);
  });

  test('then watches it until complete (exit 0) or failing (exit 1), bounded by the deadline, notFoundTimeout and a minute', () => {
    expect(complete.args).toEqual(['wait', job, `--for=jsonpath=${JOB_DONE_JSONPATH}=True`, `--timeout=${1200 + 300 + 60}s`]);
    expect(JOB_DONE_JSONPATH).toBe(
      '{.status.conditions[ ?(@.type=="Complete"),?(@.type=="FailureTarget"),?(@.type=="FailureTarget"),?(@.type=="Failed"),?(@.type=="Failed")].status}');
  });

  test('reports kubectl\'s error as the termination message, and has only HOME in its environment', () => {
    for (const c of [created, complete]) {
      expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
      expect(c.env).toEqual([{ name: 'HOME', value: '/tmp' }]);
    }
  });

  test('runs as a non-root UID, restricted, with small resources and a shared writable /tmp', () => {
    for (const c of [created, complete]) {
      expect(c.securityContext).toMatchObject({
        runAsUser: 65532,
        runAsGroup: 65532,
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.resources).toEqual({
        requests: { 'cpu': '10m', 'memory': '32Mi', 'ephemeral-storage': '16Mi' },
        limits: { 'cpu': '200m', 'memory': '128Mi', 'ephemeral-storage': '64Mi' },
      });
      expect(c.volumeMounts).toContainEqual({ name: 'wait-for-api-tmp', mountPath: '/tmp' });
    }
    expect(spec.volumes).toContainEqual({ name: 'wait-for-api-tmp', emptyDir: {} });
  });

  test('alone mounts a projected token, CA and namespace at the standard path', () => {
    const mount = { name: 'wait-for-api-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true };
    for (const c of [created, complete]) expect(c.volumeMounts).toContainEqual(mount);
    expect(spec.volumes.find((v: any) => v.name === mount.name).projected.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.containers[0].volumeMounts ?? []).not.toContainEqual(expect.objectContaining({ name: mount.name }));
  });

  test('takes its image, bound and resources from the options', () => {
    const custom = gatedDeployment({
      image: 'mirror.example.com/kubectl:v1.37.2',
      notFoundTimeout: Duration.seconds(90),
      resources: { cpu: { request: kplus.Cpu.millis(5) } },
    });
    expect(custom.created.image).toBe('mirror.example.com/kubectl:v1.37.2');
    expect(custom.created.args).toContain('--timeout=90s');
    expect(custom.complete.args).toContain(`--timeout=${1200 + 90 + 60}s`);
    // The CPU given replaces the default CPU; memory and ephemeral storage keep theirs.
    expect(custom.complete.resources).toEqual({
      requests: { 'cpu': '5m', 'memory': '32Mi', 'ephemeral-storage': '16Mi' },
      limits: { 'memory': '128Mi', 'ephemeral-storage': '64Mi' },
    });
    // Ephemeral storage given replaces the default, as cdk8s-plus renders it: in whole gibibytes.
    const storage = gatedDeployment({ resources: { ephemeralStorage: { request: Size.gibibytes(1), limit: Size.gibibytes(2) } } });
    expect(storage.created.resources).toEqual({
      requests: { 'cpu': '10m', 'memory': '32Mi', 'ephemeral-storage': '1Gi' },
      limits: { 'cpu': '200m', 'memory': '128Mi', 'ephemeral-storage': '2Gi' },
    });
    // With neither CPU nor memory rendered, the default ephemeral storage still gets its requests and limits.
    const bare = gatedDeployment({ resources: { cpu: {}, memory: {} } });
    expect(bare.created.resources).toEqual({ requests: { 'ephemeral-storage': '16Mi' }, limits: { 'ephemeral-storage': '64Mi' } });
  });

  test('rejects a bad or unpinned image, or a bad bound, naming the prop', () => {
    expect(() => gatedDeployment({ image: 'Not An Image' })).toThrow(raisedAt('test/db', /^waiter\.image: is not a valid container image reference/));
    expect(() => gatedDeployment({ image: 'registry.k8s.io/kubectl' })).toThrow(raisedAt('test/db', /^waiter\.image: must be pinned/));
    expect(() => gatedDeployment({ notFoundTimeout: Duration.seconds(0) })).toThrow(raisedAt('test/db', /^waiter\.notFoundTimeout: must be a positive duration/));
  });
});

test('keeps whole suffixes, within 63 characters, for the longest migration names', () => {
  const names = waiterNames('m'.repeat(63));
  for (const n of Object.values(names)) expect(n.length).toBeLessThanOrEqual(63);
  expect(Object.values(names).map((n) => n.replace(/^wait-for-m+/, ''))).toEqual(['-job-created', '-job-complete', '-token', '-tmp']);
  const { spec } = gatedDeployment({}, 'm'.repeat(63));
  expect(spec.initContainers.map((c: any) => c.name)).toEqual([names.created, names.complete]);
});
