/*
 * Behaviour that only the goldens (the snapshot, examples' dist/) or nothing
 * at all guarded, found by mutation testing (npm run test:mutation). Error
 * messages are matched on the prop and the problem, wherever they stand in it.
 */
import { Chart, Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { newChart, Manifest, ofKind, one, synth } from './helpers';
import { DatabaseMigration, DatabaseMigrationProps, LinterWaiver, MigratedApplication, MigratedApplicationProps } from '../src';

const IMAGE = 'ghcr.io/acme/shop:1.0.0';

function app(props: Partial<MigratedApplicationProps> = {}) {
  const chart = newChart();
  new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE, ...props });
  return synth(chart);
}

function migrate(props: Partial<DatabaseMigrationProps> = {}) {
  const chart = newChart();
  new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE, ...props });
  return synth(chart);
}

const podOf = (o: Manifest) => o.spec.template.spec;

describe('secret values are environment variables', () => {
  // envFrom skips a key that is not a valid name, silently: the kubelet only reports an event.
  test.each<[string, () => unknown, RegExp]>([
    ['the app\'s', () => app({ secretValues: { 'db-password': 'x' } }), /(^|\s)secretValues\.db-password: is not a valid environment variable name/],
    ['the app\'s migration\'s', () => app({ migration: { secretValues: { 'git-token': 'x' } } }), /migration\.secretValues\.git-token: is not a valid environment variable name/],
    ['a DatabaseMigration\'s', () => migrate({ secretValues: { '1TOKEN': 'x' } }), /(^|\s)secretValues\.1TOKEN: is not a valid environment variable name/],
  ])('%s keys are checked as names', (_what, build, message) => {
    expect(build).toThrow(message);
  });

  test.each<[string, () => unknown, RegExp]>([
    ['the app\'s', () => app({ secretValues: { A: 1 as any } }), /(^|\s)secretValues\.A: must be a string/],
    ['a DatabaseMigration\'s', () => migrate({ secretValues: { A: null as any } }), /(^|\s)secretValues\.A: must be a string/],
  ])('%s values must be strings', (_what, build, message) => {
    expect(build).toThrow(message);
  });
});

describe('the Job\'s volumes', () => {
  // A user volume of one of these names would duplicate the library's, and the API server refuses the Job.
  test.each(['tmp', 'config-file', 'migrate-token', 'queue-token', 'queue-tmp'])('a volume mount may not bring a volume named %s', (name) => {
    const chart = newChart();
    const volume = kplus.Volume.fromEmptyDir(chart, 'v', name);
    expect(() => new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE, volumeMounts: [{ path: '/data', volume }] }))
      .toThrow(new RegExp(`volumeMounts\\[0\\]\\.volume: the volume name "${name}" is the library's own`));
  });

  test('a volume of another name is mounted where asked', () => {
    const chart = newChart();
    const volume = kplus.Volume.fromEmptyDir(chart, 'v', 'data');
    new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE, volumeMounts: [{ path: '/data', volume }] });
    const pod = podOf(one(synth(chart), 'Job'));
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    expect(pod.volumes.map((v: any) => v.name)).toContain('data');
  });
});

describe('the config file\'s ConfigMap is named after its content and path', () => {
  const files = (configFile: { path: string; content: string }) => one(migrate({ configFile }).filter((o) => o.kind === 'ConfigMap'), 'ConfigMap');

  test('new content, same path: a new ConfigMap, so that running pods keep the old one', () => {
    const before = files({ path: '/etc/m/dbconfig.yml', content: 'dir: a\n' });
    const after = files({ path: '/etc/m/dbconfig.yml', content: 'dir: b\n' });
    expect(after.metadata.name).not.toBe(before.metadata.name);
    expect([before.data, after.data]).toEqual([{ 'dbconfig.yml': 'dir: a\n' }, { 'dbconfig.yml': 'dir: b\n' }]);
  });

  test('a new path with the same content: a new ConfigMap too; the same file: the same one', () => {
    const a = files({ path: '/etc/m/dbconfig.yml', content: 'x' });
    expect(files({ path: '/etc/n/dbconfig.yml', content: 'x' }).metadata.name).not.toBe(a.metadata.name);
    expect(files({ path: '/etc/m/dbconfig.yml', content: 'x' }).metadata.name).toBe(a.metadata.name);
  });
});

describe('image pull policy', () => {
  // The CKV_K8S_15 and container-image-pull-policy waivers say so: pinned images, pulled IfNotPresent.
  test('the app\'s and the migration\'s containers pull IfNotPresent', () => {
    const objects = app();
    expect(podOf(one(objects, 'Deployment')).containers.map((c: any) => [c.name, c.imagePullPolicy])).toEqual([['app', 'IfNotPresent']]);
    expect(podOf(one(objects, 'Job')).containers.map((c: any) => [c.name, c.imagePullPolicy])).toEqual([['migrate', 'IfNotPresent']]);
  });

  test('a sidecar or init container pulls IfNotPresent unless it says otherwise', () => {
    const objects = migrate({
      sidecars: [{ name: 'proxy', image: 'proxy:1' }],
      initContainers: [{ name: 'clone', image: 'git:1', imagePullPolicy: kplus.ImagePullPolicy.ALWAYS }],
    });
    expect(podOf(one(objects, 'Job')).initContainers.map((c: any) => [c.name, c.imagePullPolicy])).toEqual([
      ['wait-for-earlier-migrations', 'IfNotPresent'], ['proxy', 'IfNotPresent'], ['clone', 'Always'],
    ]);
  });
});

test('an app without config or secret values emits no ConfigMap or Secret, and no envFrom', () => {
  const objects = app({ config: {}, secretValues: {} });
  expect([ofKind(objects, 'ConfigMap'), ofKind(objects, 'Secret')]).toEqual([[], []]);
  expect(podOf(one(objects, 'Deployment')).containers[0].envFrom).toBeUndefined();
});

describe('errors in the lists the app shares with its Job name the app\'s prop', () => {
  const secrets = (names: string[]) => {
    const chart = newChart();
    return names.map((n, i) => kplus.Secret.fromSecretName(chart, `s${i}`, n));
  };
  const eleven = Array.from({ length: 11 }, (_, i) => `registry-${i}`);

  test('from the eleventh item on, too', () => {
    expect(() => app({ imagePullSecrets: secrets([...eleven.slice(0, 10), 'Bad']) })).toThrow(/(^|\s)imagePullSecrets\[10\]: must be a DNS subdomain/);
    expect(() => app({ imagePullSecrets: secrets(eleven), migration: { imagePullSecrets: secrets(['Bad']) } }))
      .toThrow(/migration\.imagePullSecrets\[0\]: must be a DNS subdomain/);
  });
});

describe('scheduling props that are given but empty change nothing', () => {
  test('an empty node selector, toleration list or node affinity list renders none', () => {
    const pod = podOf(one(migrate({ nodeSelector: {}, tolerations: [], nodeAffinity: [] }), 'Job'));
    expect([pod.nodeSelector, pod.tolerations, pod.affinity]).toEqual([undefined, undefined, undefined]);
    expect(one(migrate({ nodeSelector: {}, tolerations: [], nodeAffinity: [] }), 'Job').metadata.name).toBe(one(migrate(), 'Job').metadata.name);
  });
});

test('gate() refuses a workload in a namespace when the migration has none', () => {
  const appScope = Testing.app();
  const migration = new DatabaseMigration(new Chart(appScope, 'db'), 'm', { name: 'shop', image: IMAGE });
  const web = new kplus.Deployment(new Chart(appScope, 'web', { namespace: 'web' }), 'web', { progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }] });
  expect(() => migration.gate(web)).toThrow(/gate\(web\/web\)\.metadata\.namespace: \(web\) and the migration's \(unset\) must both be set/);
});

describe('resources when only limits are rendered', () => {
  test('the default ephemeral storage request gets a requests map of its own', () => {
    const pod = podOf(one(migrate({ resources: { cpu: { limit: kplus.Cpu.millis(500) }, memory: { limit: Size.mebibytes(100) } } }), 'Job'));
    expect(pod.containers[0].resources).toEqual({
      requests: { 'ephemeral-storage': '64Mi' },
      limits: { 'cpu': '500m', 'memory': '100Mi', 'ephemeral-storage': '1024Mi' },
    });
  });

  test('and when only requests are, a limits map of its own', () => {
    const pod = podOf(one(migrate({ resources: { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(10) } } }), 'Job'));
    expect(pod.containers[0].resources).toEqual({
      requests: { 'cpu': '50m', 'memory': '10Mi', 'ephemeral-storage': '64Mi' },
      limits: { 'ephemeral-storage': '1024Mi' },
    });
  });
});

describe('lint exceptions', () => {
  test('a kube-score check given twice is listed once, with the last reason', () => {
    const chart = newChart();
    const cm = new kplus.ConfigMap(chart, 'cm', { metadata: { name: 'cm' } });
    LinterWaiver.addTo(cm, { kubeScore: 'pod-probes', reason: 'first' });
    LinterWaiver.addTo(cm, { kubeScore: 'pod-probes', reason: 'second' });
    expect(one(synth(chart), 'ConfigMap').metadata.annotations).toEqual({ 'kube-score/ignore': 'pod-probes', 'ignore-reason.kube-score/pod-probes': 'second' });
  });

  test('a reason must be text', () => {
    const cm = new kplus.ConfigMap(newChart(), 'cm');
    expect(() => LinterWaiver.addTo(cm, { kubeScore: 'pod-probes', reason: 42 as any })).toThrow(/reason: must be a non-empty text without '='.*\(got 42\)/);
    expect(() => LinterWaiver.addTo(cm, { kubeScore: 'pod-probes', reason: '' })).toThrow(/reason: must be a non-empty text/);
  });
});

describe('extra containers and pod metadata', () => {
  test('a container name may have 63 characters, not 64', () => {
    expect(() => migrate({ sidecars: [{ name: 'a'.repeat(63), image: 'proxy:1' }] })).not.toThrow();
    expect(() => migrate({ sidecars: [{ name: 'a'.repeat(64), image: 'proxy:1' }] })).toThrow(/(^|\s)sidecars\[0\]\.name: must be a DNS label/);
    expect(() => migrate({ sidecars: [{ image: 'proxy:1' }] })).toThrow(/(^|\s)sidecars\[0\]\.name: must be a DNS label.*\(got undefined\)/);
  });

  test('an annotation value must be a string', () => {
    expect(() => migrate({ podAnnotations: { team: 1 as any } })).toThrow(/podAnnotations\.team: must be a string \(got 1\)/);
  });

  test('pod labels and annotations are rendered sorted by key', () => {
    const template = one(migrate({ podLabels: { b: '1', a: '2' }, podAnnotations: { y: '1', x: '2' } }), 'Job').spec.template.metadata;
    expect(Object.keys(template.annotations)).toEqual(['x', 'y']);
    expect(Object.keys(template.labels).filter((k) => k.length === 1)).toEqual(['a', 'b']);
  });
});
