import { Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as fc from 'fast-check';
import { stringify } from 'yaml';
import { buildProps, validProps } from './arbitraries';
import { expectSoundManifests, golden, Manifest, newChart, ofKind, one, raisedAt, synth, waitedJob, withoutQueue } from './helpers';
import { Errors, MigratedApplication, MigratedApplicationProps } from '../src';

const BASE: MigratedApplicationProps = {
  name: 'shop',
  image: 'ghcr.io/acme/shop:2.4.1',
  ports: [{ number: 8080, name: 'http' }],
  config: { APP_ENV: 'production', DB_HOST: 'mysql' },
  secretValues: { DB_PASSWORD: 'change-me' },
  migration: { command: ['php', 'artisan', 'migrate', '--force'] },
  securityContext: { user: 33, group: 33 },
};

function render(props: Partial<MigratedApplicationProps> = {}, chartProps = {}) {
  const chart = newChart(chartProps);
  const app = new MigratedApplication(chart, 'shop', { ...BASE, ...props });
  return { chart, app, objects: synth(chart) };
}

const deploymentOf = (objects: Manifest[]) => one(objects, 'Deployment');
const jobName = (objects: Manifest[]) => one(objects, 'Job').metadata.name;
const waiterJob = (objects: Manifest[]) => waitedJob(deploymentOf(objects));

describe('identity that survives refactoring', () => {
  test('a new construct id, or a move to another chart, changes nothing in the manifests', () => {
    const { objects } = render();
    const moved = new MigratedApplication(new Chart(Testing.app(), 'platform'), 'storefront', BASE);
    expect(synth(Chart.of(moved))).toEqual(objects);
  });

  test('the Deployment and the Service select the pods by the app\'s own labels', () => {
    const { objects } = render();
    const selector = { 'app.kubernetes.io/name': 'shop', 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/component': 'app' };
    expect(deploymentOf(objects).spec.selector).toEqual({ matchLabels: selector });
    expect(one(objects, 'Service').spec.selector).toEqual(selector);
    expect(deploymentOf(objects).spec.template.metadata.labels).toMatchObject(selector);
    // The Job's pod carries component=migration: the Service never selects it.
    expect(one(objects, 'Job').spec.template.metadata.labels['app.kubernetes.io/component']).toBe('migration');
  });
});

describe('a migrated application', () => {
  const { app, objects } = render();

  test('emits the Secret, ConfigMap, Job, ServiceAccount, Role, RoleBinding, Deployment and Service, and the queue\'s RBAC', () => {
    expect(withoutQueue(objects).map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'Job', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount']);
    expect(objects.filter((o) => !withoutQueue(objects).includes(o)).map((o) => `${o.kind}/${o.metadata.name}`).sort())
      .toEqual(['Role/shop-migrate-queue', 'RoleBinding/shop-migrate-queue', 'ServiceAccount/shop-migrate-queue']);
  });

  test('is schema-valid, restricted, least-privileged and self-contained', () => expectSoundManifests(objects));

  test('holds its pods until its own Job completes', () => {
    expect(waiterJob(objects)).toBe(app.migration.jobName);
    expect(jobName(objects)).toBe(app.migration.jobName);
    expect(one(withoutQueue(objects), 'Role').rules[0].resourceNames).toEqual([app.migration.jobName]);
    expect(deploymentOf(objects).spec.template.spec.serviceAccountName).toBe('shop');
    expect(one(withoutQueue(objects), 'RoleBinding').subjects).toEqual([{ apiGroup: '', kind: 'ServiceAccount', name: 'shop' }]);
  });

  test('runs the migration in the app image with the same config and secret', () => {
    const job = one(objects, 'Job').spec.template.spec.containers[0];
    const web = deploymentOf(objects).spec.template.spec.containers[0];
    expect(job.image).toBe(BASE.image);
    expect(job.command).toEqual(['php', 'artisan', 'migrate', '--force']);
    expect(job.envFrom).toEqual(web.envFrom);
    expect(web.envFrom).toEqual([
      { configMapRef: { name: one(objects, 'ConfigMap').metadata.name } },
      { secretRef: { name: one(objects, 'Secret').metadata.name } },
    ]);
  });

  test('names ConfigMap and Secret after their content, immutable', () => {
    const cm = one(objects, 'ConfigMap');
    const secret = one(objects, 'Secret');
    expect(cm.metadata.name).toMatch(/^shop-config-[0-9a-f]{10}$/);
    expect(secret.metadata.name).toMatch(/^shop-secret-[0-9a-f]{10}$/);
    expect([cm.immutable, secret.immutable]).toEqual([true, true]);
  });

  test('rolls out with RollingUpdate and a progress deadline past the migration deadline', () => {
    const spec = deploymentOf(objects).spec;
    expect(spec.strategy.type).toBe('RollingUpdate');
    expect(spec.progressDeadlineSeconds).toBe(900);
    expect(spec.replicas).toBe(2);
  });

  test('labels every object for pruning by instance', () => {
    for (const o of objects) expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/managed-by': 'cdk8s' });
    expect(one(objects, 'Job').metadata.labels['app.kubernetes.io/component']).toBe('migration');
    expect(deploymentOf(objects).metadata.labels['app.kubernetes.io/component']).toBe('app');
  });

  golden('matches the snapshot (read the diff before updating)', () => {
    expect(stringify(objects)).toMatchSnapshot();
  });
});

describe('releases', () => {
  const before = render().objects;

  test('a new app image or replica count keeps the Job, and rolls the pods', () => {
    const after = render({ image: 'ghcr.io/acme/shop:2.4.2', migration: { ...BASE.migration, image: BASE.image }, replicas: 5 }).objects;
    expect(jobName(after)).toBe(jobName(before));
    expect(deploymentOf(after).spec.template.spec.containers[0].image).toBe('ghcr.io/acme/shop:2.4.2');
  });

  test('a new migration image makes a new Job, and the new pods wait for it', () => {
    const after = render({ image: 'ghcr.io/acme/shop:2.5.0' }).objects;
    expect(jobName(after)).not.toBe(jobName(before));
    expect(waiterJob(after)).toBe(jobName(after));
    expect(one(withoutQueue(after), 'Role').rules[0].resourceNames).toEqual([jobName(after)]);
  });

  test('changed config gets a new ConfigMap, a new Job and new pods; same config, same names', () => {
    const after = render({ config: { ...BASE.config, APP_ENV: 'staging' } }).objects;
    expect(one(after, 'ConfigMap').metadata.name).not.toBe(one(before, 'ConfigMap').metadata.name);
    expect(jobName(after)).not.toBe(jobName(before));
    expect(render().objects).toEqual(before);
  });
});

test('the Secret carries the secret values, and the pod template all of the app\'s labels', () => {
  const { objects } = render();
  expect(one(objects, 'Secret').stringData).toEqual({ DB_PASSWORD: 'change-me' });
  const deployment = deploymentOf(objects);
  // The labels beyond the selector's (part-of, managed-by) reach the pods too, where kubectl get pods -l finds them.
  expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.metadata.labels);
  expect(deployment.spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'cdk8s' });
});

test('the app container gets a writable /tmp, and the pod runs as non-root for every container, ephemeral ones too', () => {
  const spec = deploymentOf(render().objects).spec.template.spec;
  expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  expect(spec.volumes).toContainEqual({ name: 'tmp', emptyDir: {} });
  // Pod Security "restricted" holds `kubectl debug`'s ephemeral containers to runAsNonRoot too: only the pod's own setting covers them.
  expect(spec.securityContext.runAsNonRoot).toBe(true);
});

test('a default name fits in 40 characters and stays distinct for long construct ids that differ only at their end', () => {
  const chart = newChart();
  const long = 'storefront-'.padEnd(60, 'x');
  const first = new MigratedApplication(chart, `${long}-one`, { image: BASE.image });
  const second = new MigratedApplication(chart, `${long}-two`, { image: BASE.image });
  for (const app of [first, second]) expect(app.name).toMatch(/^storefront-x+-[0-9a-f]{8}$/);
  expect(first.name.length).toBeLessThanOrEqual(40);
  expect(first.name).not.toBe(second.name);
  expectSoundManifests(synth(chart));
});

test('an existing Secret reaches app and migration, and none is emitted', () => {
  const chart = newChart();
  const app = new MigratedApplication(chart, 'shop', {
    ...BASE, secretValues: undefined, existingSecret: kplus.Secret.fromSecretName(chart, 'db', 'shop-db'),
  });
  const objects = synth(chart);
  expect(ofKind(objects, 'Secret')).toEqual([]);
  expect(app.secret).toBeUndefined();
  for (const spec of [one(objects, 'Job').spec.template.spec, deploymentOf(objects).spec.template.spec]) {
    expect(spec.containers[0].envFrom).toContainEqual({ secretRef: { name: 'shop-db' } });
  }
  expectSoundManifests(objects, { externalSecrets: ['shop-db'] });
});

test('Recreate stops the old pods before the new ones wait for the migration', () => {
  const { objects } = render({ strategy: kplus.DeploymentStrategy.recreate() });
  expect(deploymentOf(objects).spec.strategy).toEqual({ type: 'Recreate' });
});

test('the default progress deadline follows the migration deadline', () => {
  const { objects } = render({ migration: { activeDeadline: Duration.minutes(20) } });
  expect(deploymentOf(objects).spec.progressDeadlineSeconds).toBe(1500);
  expect(one(objects, 'Job').spec.activeDeadlineSeconds).toBe(1200);
});

test('a Service only when there are ports and it is wanted', () => {
  expect(ofKind(render({ ports: undefined }).objects, 'Service')).toEqual([]);
  expect(ofKind(render({ service: false }).objects, 'Service')).toEqual([]);
  const service = one(render().objects, 'Service');
  expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 8080 }]);
});

test('a chart namespace lands on every object and on the RoleBinding subject', () => {
  const { objects } = render({}, { namespace: 'shop-prod' });
  for (const o of objects) expect(o.metadata.namespace).toBe('shop-prod');
  expect(one(withoutQueue(objects), 'RoleBinding').subjects[0].namespace).toBe('shop-prod');
});

describe('bad input is refused at synth time, naming the prop', () => {
  test.each<[string, Partial<MigratedApplicationProps>, RegExp]>([
    ['an unpinned image that the migration runs in', { image: 'ghcr.io/acme/shop' }, /^image: must be pinned/],
    ['a latest migration image', { migration: { image: 'flyway/flyway:latest' } }, /^migration\.image: must not use the moving tag `latest`/],
    ['an invalid name', { name: 'Shop_1' }, /^name: must be a DNS label.*\(got "Shop_1"\)/],
    ['an invalid env name', { env: { 'bad-name': 'x' } }, /^env\.bad-name:/],
    ['an invalid config key', { config: { '9LIVES': 'x' } }, /^config\.9LIVES:/],
    ['an invalid migration env name', { migration: { env: { 'a b': 'x' } } }, /^migration\.env\.a b:/],
    ['zero replicas', { replicas: 0 }, /^replicas: must be a whole number of at least 1 \(got 0\)/],
    ['a negative backoff limit', { migration: { backoffLimit: -1 } }, /^migration\.backoffLimit:/],
    ['a zero migration deadline', { migration: { activeDeadline: Duration.seconds(0) } }, /^migration\.activeDeadline:/],
    ['a progress deadline not in whole seconds', { progressDeadline: Duration.millis(1500) }, /^progressDeadline: must be a positive duration of whole seconds \(got "1.5s"\)/],
    ['a progress deadline within the migration deadline', { progressDeadline: Duration.minutes(10) }, /^progressDeadline: must be longer than migration\.activeDeadline \(600s\)/],
    ['a port out of range', { ports: [{ number: 70000 }] }, /^ports\[0\]\.number: must be a port number from 1 to 65535 \(got 70000\)/],
    ['unnamed ports', { ports: [{ number: 80 }, { number: 81 }] }, /^ports\[0\]\.name: is required when there are several ports/],
    ['duplicate ports', { ports: [{ number: 80, name: 'a' }, { number: 80, name: 'b' }] }, /^ports\[1\]\.number: is used by an earlier port/],
    ['a bad port name', { ports: [{ number: 80, name: 'HTTP' }] }, /^ports\[0\]\.name: must be an IANA service name/],
    ['an oversized ConfigMap', { config: { BIG: 'x'.repeat(1024 * 1024) } }, /^config: holds \d+ bytes/],
    ['an oversized Secret', { secretValues: { BIG: 'x'.repeat(1024 * 1024) } }, /^secretValues: holds \d+ bytes/],
    ['an empty command', { command: [] }, /^command: must be a non-empty list/],
    ['an empty migration command', { migration: { command: [] } }, /^migration\.command: must be a non-empty list/],
    ['a bad waiter image', { migration: { waiter: { image: 'bad image' } } }, /^migration\.waiter\.image:/],
  ])('%s', (_what, props, message) => {
    expect(() => render(props)).toThrow(raisedAt('test/shop', message));
  });

  test('literal secret values and an existing Secret together', () => {
    const chart = newChart();
    expect(() => new MigratedApplication(chart, 'shop', { ...BASE, existingSecret: kplus.Secret.fromSecretName(chart, 's', 'x') }))
      .toThrow(raisedAt('test/shop', /^secretValues: cannot be given together with existingSecret/));
  });
});

/* Property-based: any accepted props yield sound manifests; any refused props fail with an Error naming a prop. */
describe('random props', () => {
  const anyName = fc.string({ maxLength: 10 });

  test('accepted props always yield sound manifests', () => {
    fc.assert(fc.property(validProps, (props) => {
      const chart = newChart();
      new MigratedApplication(chart, 'app', buildProps(chart, props));
      expectSoundManifests(synth(chart));
    }), { numRuns: 100 });
  });

  // Each mutation makes one prop invalid; the error must name that prop.
  const mutations: Array<[RegExp, fc.Arbitrary<(p: any) => any>]> = [
    [/^name:/, anyName.filter((n) => !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)).map((n) => (p: any) => ({ ...p, name: n }))],
    [/^partOf:/, anyName.filter((n) => !/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(n)).map((n) => (p: any) => ({ ...p, partOf: n }))],
    [/^image:/, fc.constantFrom('app', 'app:latest', 'UPPER:1', '', 'a b:1').map((i) => (p: any) => ({ ...p, image: i }))],
    [/^replicas:/, fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true })).map((r) => (p: any) => ({ ...p, replicas: r }))],
    [/^ports\[0\]\.number:/, fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 65536 })).map((n) => (p: any) => ({ ...p, ports: [{ number: n }] }))],
    [/^env\./, anyName.filter((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)).map((n) => (p: any) => ({ ...p, env: { [n]: 'x' } }))],
    [/^migration\.backoffLimit:/, fc.integer({ max: -1 }).map((b) => (p: any) => ({ ...p, migration: { ...p.migration, backoffLimit: b } }))],
    [/^migration\.command:/, fc.constant((p: any) => ({ ...p, migration: { ...p.migration, command: [] } }))],
    [/^sidecars\[0\]\.name:/, anyName.filter((n) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)).map((n) => (p: any) => ({ ...p, sidecars: [{ name: n, image: 'proxy:1' }] }))],
    [/^migration\.initContainers\[0\]\.image:/, fc.constantFrom('', 'UPPER:1', 'a b').map((i) => (p: any) => ({ ...p, migration: { ...p.migration, initContainers: [{ name: 'x', image: i }] } }))],
    [/^imagePullSecrets\[0\]:/, anyName.filter((n) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(n)).map((n) => (p: any) => ({ ...p, imagePullSecrets: [n] }))],
    [/^migration\.nodeSelector\./, anyName.filter((v) => !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)).map((v) => (p: any) => ({ ...p, migration: { ...p.migration, nodeSelector: { pool: v } } }))],
    [/^migration\.priorityClassName:/, anyName.filter((n) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(n)).map((n) => (p: any) => ({ ...p, migration: { ...p.migration, priorityClassName: n } }))],
    [/^podLabels\./, fc.constantFrom('app.kubernetes.io/name', 'cdk8s.io/metadata.addr', 'a b', '-x').map((k) => (p: any) => ({ ...p, podLabels: { [k]: 'v' } }))],
    [/^migration\.podAnnotations\./, fc.constantFrom('/x', 'a/b/c', 'x'.repeat(64)).map((k) => (p: any) => ({ ...p, migration: { ...p.migration, podAnnotations: { [k]: 'v' } } }))],
  ];

  test.each(mutations.map(([prop, m]) => [prop.source, prop, m] as const))('refused %s: an Error naming the prop', (_source, prop, mutation) => {
    fc.assert(fc.property(validProps, mutation, (props, mutate) => {
      const chart = newChart();
      let error: unknown;
      try {
        new MigratedApplication(chart, 'app', buildProps(chart, mutate(props)));
      } catch (e) {
        error = e;
      }
      expect(Errors.isPropError(error)).toBe(true);
      expect((error as Error).message).toMatch(raisedAt('test/app', prop));
    }), { numRuns: 25 });
  });
});

test('an error names the construct and the prop, and Errors.isPropError() tells it from any other', () => {
  const chart = new Chart(Testing.app(), 'shop');
  let error: unknown;
  try {
    new MigratedApplication(chart, 'shop', { ...BASE, migration: { image: 'flyway/flyway:latest' } });
  } catch (e) {
    error = e;
  }
  expect((error as Error).message).toMatch(/^\[shop\/shop\] migration\.image: must not use the moving tag `latest`/);
  expect(Errors.isPropError(error)).toBe(true);
  expect(Errors.isPropError(new Error('[shop/shop] migration.image: no'))).toBe(false);
  expect(Errors.isPropError(undefined)).toBe(false);
  expect(Errors.isPropError(null)).toBe(false);
});
