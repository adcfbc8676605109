import { ApiObject, Chart, Duration, JsonPatch, Lazy, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as fc from 'fast-check';
import { expectSoundManifests, Manifest, newChart, ofKind, one, podSpecs, raisedAt, synth, waitedJob, withoutQueue } from './helpers';
import { DatabaseMigration, DatabaseMigrationProps, MigratedApplication } from '../src';
import { NO_TTL_REASON } from '../src/migration';

const IMAGE = 'ghcr.io/acme/migrations:1.0.0';

function migrate(props: Partial<DatabaseMigrationProps> = {}, chart: Chart = newChart()) {
  const migration = new DatabaseMigration(chart, 'db', { name: 'api', image: IMAGE, ...props });
  return { chart, migration, objects: synth(chart) };
}

const jobOf = (objects: Manifest[]) => one(objects, 'Job');

describe('the Job', () => {
  const { migration, objects } = migrate();
  const job = jobOf(objects);
  const pod = job.spec.template.spec;

  test('is named <name>-migrate-<hash>', () => {
    expect(job.metadata.name).toBe(migration.jobName);
    expect(migration.jobName).toMatch(/^api-migrate-[0-9a-f]{10}$/);
  });

  test('does not retry, has a 10 minute deadline and no TTL, and says why', () => {
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.activeDeadlineSeconds).toBe(600);
    expect(job.spec.ttlSecondsAfterFinished).toBeUndefined();
    expect(job.metadata.annotations['ignore-check.kube-linter.io/job-ttl-seconds-after-finished']).toBe(NO_TTL_REASON);
    expect(NO_TTL_REASON).toMatch(/must still find this Job; it is removed when the applier prunes it/);
    expect(pod.restartPolicy).toBe('Never');
  });

  test('a reference that is not one, and a bad waiter pull secret, are refused, naming the prop and how to make one', () => {
    expect(() => new DatabaseMigration(newChart(), 'db', { name: 'api', image: IMAGE, existingSecret: 'db' as any }))
      .toThrow(raisedAt('test/db', /^existingSecret: must be a reference such as kplus\.Secret\.fromSecretName\(scope, id, name\) \(got "db"\)$/));
    const chart = newChart();
    const bad = kplus.Secret.fromSecretName(chart, 'bad', 'Not_A_Name');
    expect(() => new DatabaseMigration(chart, 'db', { name: 'api', image: IMAGE, waiter: { imagePullSecrets: [bad] } }))
      .toThrow(raisedAt('test/db', /^waiter\.imagePullSecrets\[0\]: must be a DNS subdomain/));
  });

  test('its pod runs as the queue\'s ServiceAccount, automounts no token, and carries the labels', () => {
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('api-migrate-queue');
    expect(job.spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'api', 'app.kubernetes.io/component': 'migration' });
  });

  test('alone, the manifests are sound', () => expectSoundManifests(objects));
});

test('backoff limit, deadline, command, args, env and resources reach the Job', () => {
  const job = jobOf(migrate({
    backoffLimit: 2,
    activeDeadline: Duration.minutes(30),
    command: ['sql-migrate', 'up'],
    args: ['-env=production'],
    env: { MIGRATE_ENV: 'production' },
    resources: { memory: { limit: Size.mebibytes(256) } },
    securityContext: { user: 1000 },
  }).objects);
  const [container] = job.spec.template.spec.containers;
  expect(job.spec.backoffLimit).toBe(2);
  expect(job.spec.activeDeadlineSeconds).toBe(1800);
  expect(container).toMatchObject({
    name: 'migrate',
    image: IMAGE,
    command: ['sql-migrate', 'up'],
    args: ['-env=production'],
    env: [{ name: 'MIGRATE_ENV', value: 'production' }],
    resources: { limits: { memory: '256Mi' } },
    securityContext: { runAsUser: 1000, runAsNonRoot: true, readOnlyRootFilesystem: true },
  });
});

test('the config file is mounted read-only by subPath from an immutable, hashed ConfigMap', () => {
  const content = 'production:\n  dialect: postgres\n  datasource: password=${DB_PASSWORD}\n';
  const { objects } = migrate({ configFile: { path: '/migrations/dbconfig.yml', content } });
  const pod = jobOf(objects).spec.template.spec;
  const mount = pod.containers[0].volumeMounts.find((m: any) => m.mountPath === '/migrations/dbconfig.yml');
  expect(mount).toMatchObject({ subPath: 'dbconfig.yml', readOnly: true });
  const cmName = pod.volumes.find((v: any) => v.name === mount.name).configMap.name;
  const cm = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name === cmName)!;
  expect(cm.metadata.name).toMatch(/^api-migrate-files-[0-9a-f]{10}$/);
  expect(cm.immutable).toBe(true);
  expect(cm.data).toEqual({ 'dbconfig.yml': content });
  expectSoundManifests(objects);
});

test('migration-only secret values reach the Job alone, through an immutable, hashed Secret', () => {
  const { chart, migration } = migrate({ secretValues: { GIT_TOKEN: 'ghp_example' } });
  const web = new kplus.Deployment(chart, 'web', { progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }] });
  migration.gate(web);
  const objects = synth(chart);
  const secret = one(objects, 'Secret');
  expect(secret.metadata.name).toMatch(/^api-migrate-secret-[0-9a-f]{10}$/);
  expect(secret.immutable).toBe(true);
  expect(secret.stringData).toEqual({ GIT_TOKEN: 'ghp_example' });
  expect(jobOf(objects).spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
  expect(JSON.stringify(one(objects, 'Deployment'))).not.toContain(secret.metadata.name);
  expectSoundManifests(objects, { foreignContainers: ['main'] });
});

test('its pod runs as non-root for every container, ephemeral ones too, and the migration container gets a writable /tmp', () => {
  const pod = jobOf(migrate().objects).spec.template.spec;
  // Pod Security "restricted" holds `kubectl debug`'s ephemeral containers to runAsNonRoot too: only the pod's own setting covers them.
  expect(pod.securityContext.runAsNonRoot).toBe(true);
  expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
});

test('a default name fits in 40 characters and stays distinct for long construct ids that differ only at their end', () => {
  const chart = newChart();
  const long = 'migrations-'.padEnd(60, 'x');
  const first = new DatabaseMigration(chart, `${long}-one`, { image: IMAGE });
  const second = new DatabaseMigration(chart, `${long}-two`, { image: IMAGE });
  for (const m of [first, second]) expect(m.name).toMatch(/^migrations-x+-[0-9a-f]{8}$/);
  expect(first.name.length).toBeLessThanOrEqual(40);
  expect(first.name).not.toBe(second.name);
  expectSoundManifests(synth(chart));
});

test('the longest name keeps every object, container and volume name valid', () => {
  const chart = newChart();
  const identity = new kplus.ServiceAccount(chart, 'identity', { metadata: { name: 'x'.repeat(63) }, automountToken: false });
  const { objects } = migrate({
    name: 'a'.repeat(63),
    configFile: { path: '/etc/migrations/dbconfig.yml', content: 'x' },
    secretValues: { TOKEN: 'x' },
    serviceAccount: identity,
  }, chart);
  expectSoundManifests(objects);
});

test('an existing Secret is referenced and never emitted', () => {
  const chart = newChart();
  const { objects } = migrate({ existingSecret: kplus.Secret.fromSecretName(chart, 'git', 'git-credentials') }, chart);
  expect(ofKind(objects, 'Secret')).toEqual([]);
  expect(jobOf(objects).spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: 'git-credentials' } }]);
  expectSoundManifests(objects, { externalSecrets: ['git-credentials'] });
});

describe('the Job name', () => {
  const name = (props: Partial<DatabaseMigrationProps> = {}) => migrate(props).migration.jobName;

  test('is the same for the same inputs, in any key order', () => {
    expect(name({ env: { A: '1', B: '2' } })).toBe(name({ env: { B: '2', A: '1' } }));
  });

  test.each<[string, Partial<DatabaseMigrationProps>]>([
    ['image', { image: 'ghcr.io/acme/migrations:1.0.1' }],
    ['command', { command: ['migrate'] }],
    ['args', { args: ['up'] }],
    ['env', { env: { A: '1' } }],
    ['config file content', { configFile: { path: '/c.yml', content: 'b' } }],
    ['secret values', { secretValues: { T: 'x' } }],
    ['backoff limit', { backoffLimit: 1 }],
    ['resources', { resources: { memory: { limit: Size.mebibytes(64) } } }],
    ['security context', { securityContext: { user: 1001 } }],
  ])('changes with the %s', (_what, props) => {
    expect(name(props)).not.toBe(name());
  });

  test('changes with the secrets and config maps it reads', () => {
    const reading = (build: (c: Chart) => Partial<DatabaseMigrationProps>) => {
      const c = newChart();
      return migrate(build(c), c).migration.jobName;
    };
    const names = [
      reading(() => ({})),
      reading((c) => ({ envFromSecrets: [kplus.Secret.fromSecretName(c, 's', 'creds-a')] })),
      reading((c) => ({ envFromSecrets: [kplus.Secret.fromSecretName(c, 's', 'creds-b')] })),
      reading((c) => ({ envFromConfigMaps: [kplus.ConfigMap.fromConfigMapName(c, 'm', 'settings-a')] })),
      reading((c) => ({ envFromConfigMaps: [kplus.ConfigMap.fromConfigMapName(c, 'm', 'settings-b')] })),
    ];
    expect(new Set(names).size).toBe(names.length);
  });

  // The name hashes the Job as rendered, so a change by any route renames it.
  test.each<[string, (job: kplus.Job) => void]>([
    ['a pod annotation', (job) => job.podMetadata.addAnnotation('sidecar.istio.io/inject', 'false')],
    ['an imagePullSecret', (job) => ApiObject.of(job).addJsonPatch(JsonPatch.add('/spec/template/spec/imagePullSecrets', [{ name: 'regcred' }]))],
    ['a nodeSelector', (job) => ApiObject.of(job).addJsonPatch(JsonPatch.add('/spec/template/spec/nodeSelector', { pool: 'migrations' }))],
    ['an extra volume', (job) => job.addVolume(kplus.Volume.fromEmptyDir(job, 'scratch', 'scratch'))],
  ])('changes with %s made through migration.job', (_what, mutate) => {
    const { chart, migration } = migrate();
    const before = migration.jobName;
    mutate(migration.job);
    const job = jobOf(synth(chart));
    expect(job.metadata.name).not.toBe(before);
    expect(job.metadata.name).toBe(migration.jobName);
    expect(one(synth(chart), 'Job').metadata.name).toBe(job.metadata.name);
  });

  test('keeps what the library adds to the pod over a JSON patch of migration.job, which applies to the Job as cdk8s-plus renders it', () => {
    const { chart, migration } = migrate();
    const queue = '/spec/template/spec/initContainers/0';
    ApiObject.of(migration.job).addJsonPatch(
      JsonPatch.add(`${queue}/securityContext/seccompProfile`, { type: 'Unconfined' }),
      JsonPatch.add(`${queue}/terminationMessagePolicy`, 'File'),
      JsonPatch.add('/spec/template/spec/containers/0/env', [{ name: 'PATCHED', value: 'yes' }]),
    );
    const pod = jobOf(synth(chart)).spec.template.spec;
    expect(pod.initContainers[0].securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.initContainers[0].terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(pod.containers[0].env).toEqual([{ name: 'PATCHED', value: 'yes' }]);
  });

  test('is hashed from one rendering of the Job per synthesis, however many objects name it', () => {
    const chart = newChart();
    const app = new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE });
    const worker = new kplus.Deployment(chart, 'worker', { automountServiceAccountToken: false, progressDeadline: Duration.minutes(20) });
    worker.addContainer({ name: 'worker', image: IMAGE });
    app.migration.gate(worker);
    let renders = 0;
    app.migration.job.containers[0].env.addVariable('RENDERS', kplus.EnvValue.fromValue(Lazy.any({ produce: () => String(++renders) })));
    const objects = synth(chart);
    // The Job, its Role and RoleBinding, and two waiters in each of two Deployments name it.
    expect(renders).toBe(1);
    expect(ofKind(objects, 'Deployment').flatMap((d) => d.spec.template.spec.initContainers.map((c: any) => c.args[1])))
      .toEqual(Array(4).fill(`job/${one(objects, 'Job').metadata.name}`));
    synth(chart);
    expect(renders).toBe(2);
    // Outside a synthesis, the getter renders the Job as it is.
    expect(app.migration.jobName).toMatch(/^shop-migrate-[0-9a-f]{10}$/);
    expect(renders).toBe(3);
  });

  test('reflects a mutation made between two syntheses in the same run, everywhere it is named', () => {
    const { chart, migration } = migrate();
    const app = new kplus.Deployment(chart, 'app', { automountServiceAccountToken: false, progressDeadline: Duration.minutes(20) });
    app.addContainer({ name: 'app', image: IMAGE });
    migration.gate(app);
    const before = one(synth(chart), 'Job').metadata.name;
    migration.job.podMetadata.addAnnotation('changed', 'yes');
    const after = synth(chart);
    const renamed = one(after, 'Job').metadata.name;
    expect(renamed).not.toBe(before);
    expect(renamed).toBe(migration.jobName);
    expect(ofKind(after, 'Role').filter((r) => r.metadata.name.includes('-reader-')).map((r) => r.rules[0].resourceNames)).toEqual([[renamed]]);
    expect(one(after, 'Deployment').spec.template.spec.initContainers[0].args[1]).toBe(`job/${renamed}`);
  });

  // cdk8s gives no signal when a synthesis ends: the library forgets the Job's
  // rendering once the synchronous run that synthesized ends.
  test('renders the Job as it is, outside a synthesis, once the run that synthesized it has ended', async () => {
    // The first synthesis of the chart: the first is when the library must arrange to forget.
    const chart = newChart();
    const migration = new DatabaseMigration(chart, 'db', { name: 'api', image: IMAGE });
    const before = one(synth(chart), 'Job').metadata.name;
    migration.job.podMetadata.addAnnotation('changed', 'yes');
    await Promise.resolve();
    const job = ApiObject.of(migration.job).toJson();
    expect(job.spec.template.metadata.annotations).toMatchObject({ changed: 'yes' });
    expect(job.metadata.name).not.toBe(before);
    expect(job.metadata.name).toBe(migration.jobName);
  });

  test('renders a node selector the same, byte for byte, in whichever key order the props list it', () => {
    const render = (nodeSelector: { [key: string]: string }) => JSON.stringify(jobOf(migrate({ nodeSelector }).objects));
    const sorted = render({ 'kubernetes.io/arch': 'amd64', 'pool': 'migrations' });
    expect(render({ 'pool': 'migrations', 'kubernetes.io/arch': 'amd64' })).toBe(sorted);
    expect(sorted).toContain('"nodeSelector":{"kubernetes.io/arch":"amd64","pool":"migrations"}');
  });

  test('does not change with the construct id or the chart: no pod label of cdk8s-plus\'s carries the path', () => {
    const renamed = new DatabaseMigration(new Chart(Testing.app(), 'elsewhere'), 'renamed', { name: 'api', image: IMAGE });
    expect(renamed.jobName).toBe(migrate().migration.jobName);
    expect(JSON.stringify(synth(Chart.of(renamed)))).not.toContain('cdk8s.io/metadata.addr');
  });

  test('is the same, in the same output, for identical output', () => {
    expect(synth(migrate().chart)).toEqual(synth(migrate().chart));
  });

  test('stays at most 63 characters for the longest names', () => {
    const long = migrate({ name: 'a'.repeat(63) }).migration.jobName;
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^a+-migrate-[0-9a-f]{10}$/);
  });

  // Re-applying a Job whose pod template changed under the same name fails with
  // "field is immutable". Whatever the props, the same name must mean the same Job.
  test('determines the Job spec: equal names mean equal Jobs', () => {
    const small = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const props = fc.record({
      image: fc.constantFrom('m:1', 'm:2'),
      command: small(fc.constantFrom(['a'], ['b'])),
      args: small(fc.constantFrom(['x'], ['y'])),
      env: small(fc.dictionary(fc.constantFrom('A', 'B'), fc.constantFrom('1', '2'))),
      backoffLimit: small(fc.constantFrom(0, 1)),
      activeDeadline: small(fc.constantFrom(60, 120).map((s) => Duration.seconds(s))),
      secretValues: small(fc.constantFrom({ T: '1' }, { T: '2' })),
      configFile: small(fc.constantFrom({ path: '/a.yml', content: '1' }, { path: '/b.yml', content: '1' })),
      securityContext: small(fc.constantFrom({ user: 1 }, { readOnlyRootFilesystem: false })),
    });
    // Each run compares two Jobs: a second draw, or the same props again (then the
    // specs are equal, so the names must be). Names are equal exactly when specs are.
    let pairs = { same: 0, different: 0 };
    fc.assert(fc.property(props, props, fc.boolean(), (p, other, again) => {
      const [a, b] = [jobOf(migrate(p).objects), jobOf(migrate(again ? { ...p } : other).objects)];
      const sameSpec = JSON.stringify(a.spec) === JSON.stringify(b.spec);
      pairs = { same: pairs.same + (sameSpec ? 1 : 0), different: pairs.different + (sameSpec ? 0 : 1) };
      expect({ sameName: a.metadata.name === b.metadata.name }).toEqual({ sameName: sameSpec });
    }), { numRuns: 150 });
    expect(pairs.same).toBeGreaterThan(10);
    expect(pairs.different).toBeGreaterThan(10);
  });
});

describe('gate()', () => {
  function twoWorkloads() {
    const chart = newChart();
    const migration = new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE });
    const api = new kplus.Deployment(chart, 'api', { metadata: { name: 'api' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'api:1' }] });
    const workerAccount = new kplus.ServiceAccount(chart, 'worker-sa', { metadata: { name: 'worker' }, automountToken: false });
    const worker = new kplus.StatefulSet(chart, 'worker', {
      metadata: { name: 'worker' },
      serviceAccount: workerAccount,
      containers: [{ image: 'worker:1' }],
      service: new kplus.Service(chart, 'worker-svc', { metadata: { name: 'worker' }, clusterIP: 'None', ports: [{ port: 80 }] }),
    });
    migration.gate(api);
    migration.gate(worker);
    return { chart, migration, api, worker, objects: synth(chart) };
  }

  test('holds every gated workload in the same Job', () => {
    const { migration, objects } = twoWorkloads();
    const workloads = objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));
    expect(workloads.map(waitedJob)).toEqual([migration.jobName, migration.jobName]);
    expect(migration.gatedWorkloads).toHaveLength(2);
  });

  test('binds each workload\'s ServiceAccount to one read-only Role of this release, named after the Job', () => {
    const { migration, objects } = twoWorkloads();
    const accounts = podSpecs(objects).filter((p) => p.owner.kind !== 'Job').map((p) => p.spec.serviceAccountName);
    expect(accounts).toEqual(['api', 'worker']);
    const role = one(withoutQueue(objects), 'Role');
    const binding = one(withoutQueue(objects), 'RoleBinding');
    const hash = migration.jobName.slice(-10);
    expect([role.metadata.name, binding.metadata.name, binding.roleRef.name]).toEqual([`shop-reader-${hash}`, `shop-reader-${hash}`, `shop-reader-${hash}`]);
    expect(binding.subjects.map((s: any) => s.name)).toEqual(['api', 'worker']);
    expectSoundManifests(objects, { foreignContainers: ['main'] });
  });

  test('gates across namespaces when both are set, naming the Job\'s namespace in the waiter and binding there', () => {
    const app = Testing.app();
    const migration = new DatabaseMigration(new Chart(app, 'db', { namespace: 'db' }), 'm', { name: 'shop', image: IMAGE });
    const web = new kplus.Deployment(new Chart(app, 'web', { namespace: 'web' }), 'web', {
      metadata: { name: 'web' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }],
    });
    migration.gate(web);
    const [dbObjects, webObjects] = app.charts.map((c) => synth(c));
    const waiters = one(webObjects, 'Deployment').spec.template.spec.initContainers;
    for (const w of waiters) expect(w.args).toContain('--namespace=db');
    expect(one(withoutQueue(dbObjects), 'RoleBinding').metadata.namespace).toBe('db');
    expect(one(withoutQueue(dbObjects), 'RoleBinding').subjects).toEqual([{ apiGroup: '', kind: 'ServiceAccount', name: 'web', namespace: 'web' }]);
  });

  test('refuses to gate across namespaces when either is unknown', () => {
    const app = Testing.app();
    const migration = new DatabaseMigration(new Chart(app, 'db', { namespace: 'db' }), 'm', { name: 'shop', image: IMAGE });
    const web = new kplus.Deployment(new Chart(app, 'web'), 'web', { progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }] });
    expect(() => migration.gate(web)).toThrow(raisedAt('db/m', /^gate\(web\/web\)\.metadata\.namespace: \(unset\) and the migration's \(db\) must both be set/));
  });

  test('in one namespace, the waiter names none: kubectl reads the Job from the pod\'s own', () => {
    const app = Testing.app();
    const migration = new DatabaseMigration(new Chart(app, 'db', { namespace: 'shop' }), 'm', { name: 'shop', image: IMAGE });
    const web = new kplus.Deployment(new Chart(app, 'web', { namespace: 'shop' }), 'web', {
      metadata: { name: 'web' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }],
    });
    migration.gate(web);
    const waiters = one(synth(Chart.of(web)), 'Deployment').spec.template.spec.initContainers;
    expect(waiters).toHaveLength(2);
    for (const w of waiters) expect(w.args.filter((a: string) => a.startsWith('--namespace'))).toEqual([]);
  });

  test('refuses a workload that automounts a token, or one gated twice', () => {
    const { chart, migration, api } = twoWorkloads();
    expect(() => migration.gate(api)).toThrow(raisedAt('test/db', /^gate\(test\/api\): the workload is already gated on migration 'shop'/));
    const loose = new kplus.Deployment(chart, 'loose', { automountServiceAccountToken: true, containers: [{ image: 'x:1' }] });
    expect(() => migration.gate(loose)).toThrow(raisedAt('test/db', /^gate\(test\/loose\)\.automountServiceAccountToken: must be false/));
  });

  test('refuses a Deployment that would report a long healthy migration as a failed rollout', () => {
    const { chart, migration } = twoWorkloads();
    const hasty = new kplus.Deployment(chart, 'hasty', { containers: [{ image: 'x:1' }] });
    expect(() => migration.gate(hasty)).toThrow(
      raisedAt('test/db', /^gate\(test\/hasty\)\.progressDeadline: must be longer than the migration's activeDeadline \(600s\).*\(got "600s"\)$/));
  });

  test('emits a ServiceAccount it creates before the workload that uses it', () => {
    const { objects } = twoWorkloads();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds.indexOf('ServiceAccount/api')).toBeLessThan(kinds.indexOf('Deployment/api'));
  });

  test('refuses a container name that is already taken', () => {
    const chart = newChart();
    const migration = new DatabaseMigration(chart, 'db', { name: 'shop', image: IMAGE });
    const web = new kplus.StatefulSet(chart, 'web', {
      containers: [{ name: 'wait-for-shop-job-complete', image: 'x:1' }],
      service: new kplus.Service(chart, 'web-svc', { clusterIP: 'None', ports: [{ port: 80 }] }),
    });
    expect(() => migration.gate(web)).toThrow(raisedAt('test/db', /^gate\(test\/web\): the workload already has a container named 'wait-for-shop-job-complete'/));
  });
});

test.each<[string, Partial<DatabaseMigrationProps>, RegExp]>([
  ['an unpinned image', { image: 'ghcr.io/acme/migrations' }, /^image: must be pinned/],
  ['a latest image', { image: 'migrations:latest' }, /^image: must not use the moving tag `latest`/],
  ['a bad name', { name: 'API' }, /^name: must be a DNS label/],
  ['a name starting with a digit', { name: '1api' }, /^name: must be a DNS label/],
  ['a bad partOf', { partOf: 'my shop' }, /^partOf: must be a label value/],
  ['an over-long partOf', { partOf: 'x'.repeat(64) }, /^partOf: must be a label value/],
  ['a config file over the library\'s /tmp', { configFile: { path: '/tmp', content: 'x' } }, /^configFile\.path: must not be in \/tmp/],
  ['an unpinned waiter image', { waiter: { image: 'mirror.example.com/kubectl' } }, /^waiter\.image: must be pinned/],
  ['an empty command', { command: [] }, /^command: must be a non-empty list/],
  ['a bad env name', { env: { 'A-B': '1' } }, /^env\.A-B:/],
  ['a negative backoff limit', { backoffLimit: -1 }, /^backoffLimit: must be a whole number of at least 0/],
  ['a zero deadline', { activeDeadline: Duration.seconds(0) }, /^activeDeadline: must be a positive duration/],
  ['a relative config file path', { configFile: { path: 'dbconfig.yml', content: '' } }, /^configFile\.path: must be an absolute path/],
  ['an oversized config file', { configFile: { path: '/c.yml', content: 'x'.repeat(1024 * 1024) } }, /^configFile\.content: holds/],
  ['oversized secret values', { secretValues: { BIG: 'x'.repeat(1024 * 1024) } }, /^secretValues: holds 1048579 bytes/],
  ['a volume named like the queue\'s token', { volumeMounts: [{ path: '/m', volume: kplus.Volume.fromEmptyDir(newChart(), 'v', 'queue-token') }] },
    /^volumeMounts\[0\]\.volume: the volume name "queue-token" is the library's own \(tmp, config-file, migrate-token, queue-token, queue-tmp\)$/],
])('rejects %s', (_what, props, message) => {
  expect(() => migrate(props)).toThrow(raisedAt('test/db', message));
});

test('rejects literal and existing migration secrets together', () => {
  const chart = newChart();
  expect(() => migrate({ secretValues: { A: '1' }, existingSecret: kplus.Secret.fromSecretName(chart, 's', 's') }, chart))
    .toThrow(raisedAt('test/db', /^secretValues: cannot be given together with existingSecret/));
});

describe('names in one namespace', () => {
  test('two migrations, or a migration and an application, may not share one', () => {
    const chart = newChart();
    new DatabaseMigration(chart, 'a', { name: 'shop', image: IMAGE });
    expect(() => new DatabaseMigration(chart, 'b', { name: 'shop', image: IMAGE }))
      .toThrow(raisedAt('test/b', /^name: "shop" is already used by test\/a; give each application and migration of a namespace its own name/));
    expect(() => new MigratedApplication(chart, 'c', { name: 'shop', image: IMAGE }))
      .toThrow(raisedAt('test/c', /^name: "shop" is already used by test\/a/));
  });

  test('two namespaces may each have one', () => {
    const app = Testing.app();
    new DatabaseMigration(new Chart(app, 'one', { namespace: 'one' }), 'm', { name: 'shop', image: IMAGE });
    expect(() => new DatabaseMigration(new Chart(app, 'two', { namespace: 'two' }), 'm', { name: 'shop', image: IMAGE })).not.toThrow();
    expect(() => new DatabaseMigration(new Chart(app, 'three', { namespace: 'one' }), 'm', { name: 'shop', image: IMAGE }))
      .toThrow(raisedAt('three/m', /^name: "shop" is already used by one\/m in namespace one/));
  });
});

describe('a JavaScript or Python caller\'s wrong types get a PropError naming the prop, not a TypeError', () => {
  const chart = () => newChart();
  test.each<[string, (c: Chart) => any, RegExp]>([
    ['applier as a string', () => ({ applier: 'helm' }), /^applier: must be an Applier: Applier\.plain\(\), .* \(got "helm"\)$/],
    ['existingSecret as a string', () => ({ existingSecret: 'shop-db' }), /^existingSecret: must be a reference such as kplus\.Secret\.fromSecretName/],
    ['existingSecret as null', () => ({ existingSecret: null }), /^existingSecret: must be a reference such as .* \(got null\)$/],
    ['existingSecret without a name', () => ({ existingSecret: {} }), /^existingSecret: must be a reference such as .* \(got \{\}\)$/],
    ['existingSecret as a function', () => ({ existingSecret: function shopDb() {} }), /^existingSecret: must be a reference such as /],
    ['existingSecret named wrong', (c) => ({ existingSecret: kplus.Secret.fromSecretName(c, 's', 'Shop_DB') }), /^existingSecret: must be a DNS subdomain/],
    ['migration as a string', () => ({ migration: 'php artisan migrate' }), /^migration: must be an object of props \(got "php artisan migrate"\)$/],
    ['migration as null', () => ({ migration: null }), /^migration: must be an object of props \(got null\)$/],
    ['ports with null', () => ({ ports: [null] }), /^ports: must be a list of ports such as .* \(got \[null\]\)$/],
    ['migration.env as null', () => ({ migration: { env: null } }), /^migration\.env: must be a map of names to strings \(got null\)$/],
    ['ports as one port', () => ({ ports: { number: 8080 } }), /^ports: must be a list of ports/],
    ['ports of numbers', () => ({ ports: [8080] }), /^ports: must be a list of ports/],
    ['config as a list', () => ({ config: ['A=1'] }), /^config: must be a map of names to strings/],
    ['config with a number', () => ({ config: { PORT: 8080 } }), /^config\.PORT: must be a string \(got 8080\)$/],
    ['secretValues as a string', () => ({ secretValues: 'DB_PASSWORD=x' }), /^secretValues: must be a map of names to strings/],
    ['args with a number', () => ({ args: ['--port', 8080] }), /^args\[1\]: must be a string \(got 8080\)$/],
  ])('%s', (_what, props, message) => {
    const c = chart();
    expect(() => new MigratedApplication(c, 'app', { image: IMAGE, ...props(c) })).toThrow(raisedAt('test/app', message));
  });

  test('DatabaseMigration: applier and existingSecret too', () => {
    const wrong: any[] = [{ applier: 'argocd' }, { existingSecret: 42 }];
    expect(() => new DatabaseMigration(chart(), 'm', { image: IMAGE, ...wrong[0] })).toThrow(raisedAt('test/m', /^applier: must be an Applier/));
    expect(() => new DatabaseMigration(chart(), 'm', { image: IMAGE, ...wrong[1] })).toThrow(raisedAt('test/m', /^existingSecret: must be a reference .* \(got 42\)$/));
  });
});
