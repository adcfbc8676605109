import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { expectSoundManifests, Manifest, newChart, synth, withoutLintNotes } from './helpers';
import { Applier, MigratedApplication } from '../src';

function render(applier?: Applier): Manifest[] {
  const chart = newChart();
  const app = new MigratedApplication(chart, 'shop', {
    name: 'shop',
    image: 'ghcr.io/acme/shop:1.0.0',
    ports: [{ number: 8080 }],
    config: { A: '1' },
    secretValues: { B: '2' },
    migration: { secretValues: { GIT_TOKEN: 't' }, configFile: { path: '/c.yml', content: 'x' } },
    applier,
  });
  app.migration.gate(new kplus.Deployment(chart, 'worker', {
    metadata: { name: 'worker' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'worker:1' }],
  }));
  const objects = synth(chart);
  expectSoundManifests(objects, { foreignContainers: ['main'] });
  return objects;
}

/** `Kind/name` → annotations, for every object. */
const annotations = (objects: Manifest[]) =>
  Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name.replace(/-[0-9a-f]{10}$/, '-<hash>')}`, o.metadata.annotations ?? {}]));

const stageAnnotations = (a: { [k: string]: any }) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, withoutLintNotes(v)]));

const OBJECTS = [
  'ConfigMap/shop-config-<hash>', 'Secret/shop-secret-<hash>', 'Secret/shop-migrate-secret-<hash>', 'ConfigMap/shop-migrate-files-<hash>',
  'Job/shop-migrate-<hash>', 'ServiceAccount/shop', 'ServiceAccount/worker', 'Role/shop-reader-<hash>', 'RoleBinding/shop-reader-<hash>',
  'Deployment/shop', 'Deployment/worker', 'Service/shop',
  'ServiceAccount/shop-migrate-queue', 'Role/shop-migrate-queue', 'RoleBinding/shop-migrate-queue',
];

test.each([undefined, Applier.plain()])('%s: no annotations but the Job\'s TTL note', (applier) => {
  const objects = render(applier);
  const all = stageAnnotations(annotations(objects));
  expect(Object.keys(all).sort()).toEqual([...OBJECTS].sort());
  for (const a of Object.values(all)) expect(a).toEqual({});
});

test('flux: prune disabled on the objects of one release (named after their content), and on nothing else', () => {
  const objects = render(Applier.flux());
  const off = { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' };
  expect(stageAnnotations(annotations(objects))).toEqual({
    'ConfigMap/shop-config-<hash>': off,
    'Secret/shop-secret-<hash>': off,
    'Secret/shop-migrate-secret-<hash>': off,
    'ConfigMap/shop-migrate-files-<hash>': off,
    'Job/shop-migrate-<hash>': off,
    'Role/shop-reader-<hash>': off,
    'RoleBinding/shop-reader-<hash>': off,
    // Named the same in every release: Flux prunes them once the app is gone from the Kustomization.
    'ServiceAccount/shop': {},
    'ServiceAccount/worker': {},
    'ServiceAccount/shop-migrate-queue': {},
    'Role/shop-migrate-queue': {},
    'RoleBinding/shop-migrate-queue': {},
    'Deployment/shop': {},
    'Deployment/worker': {},
    'Service/shop': {},
  });
  // Exactly the objects whose names carry the release's hash.
  for (const o of objects) {
    expect({ name: o.metadata.name, off: withoutLintNotes(o.metadata.annotations ?? {})['kustomize.toolkit.fluxcd.io/prune'] === 'disabled' })
      .toEqual({ name: o.metadata.name, off: /-[0-9a-f]{10}$/.test(o.metadata.name) });
  }
});

test('argocd: config and RBAC in wave -2, the Job in -1, workloads in 0', () => {
  const objects = render(Applier.argoCd());
  const wave = (n: number) => ({ 'argocd.argoproj.io/sync-wave': String(n) });
  const rbac = objects.filter((o) => o.kind === 'RoleBinding');
  expect(rbac).toHaveLength(2);
  for (const b of rbac) expect(withoutLintNotes(b.metadata.annotations)).toEqual(wave(-2));
  expect(stageAnnotations(annotations(objects))).toEqual({
    'ConfigMap/shop-config-<hash>': wave(-2),
    'Secret/shop-secret-<hash>': wave(-2),
    'Secret/shop-migrate-secret-<hash>': wave(-2),
    'ConfigMap/shop-migrate-files-<hash>': wave(-2),
    'ServiceAccount/shop': wave(-2),
    'ServiceAccount/worker': wave(-2),
    'Role/shop-reader-<hash>': wave(-2),
    'RoleBinding/shop-reader-<hash>': wave(-2),
    'ServiceAccount/shop-migrate-queue': wave(-2),
    'Role/shop-migrate-queue': wave(-2),
    'RoleBinding/shop-migrate-queue': wave(-2),
    'Job/shop-migrate-<hash>': wave(-1),
    'Deployment/shop': wave(0),
    'Deployment/worker': wave(0),
    'Service/shop': wave(0),
  });
});

test.each([
  ['by default', Applier.helm(), 'before-hook-creation'],
  ['keepUnchangedHooks', Applier.helm({ keepUnchangedHooks: true }), 'hook-failed'],
])('helm %s: what the Job reads, then the Job, as pre-install/pre-upgrade hooks; the rest stays in the release', (_label, applier, policy) => {
  const objects = render(applier);
  const hook = (weight: number) => ({
    'helm.sh/hook': 'pre-install,pre-upgrade',
    'helm.sh/hook-weight': String(weight),
    'helm.sh/hook-delete-policy': policy,
  });
  expect(stageAnnotations(annotations(objects))).toEqual({
    'ConfigMap/shop-config-<hash>': hook(-10),
    'Secret/shop-secret-<hash>': hook(-10),
    'Secret/shop-migrate-secret-<hash>': hook(-10),
    'ConfigMap/shop-migrate-files-<hash>': hook(-10),
    // The Job's pod runs as the queue's ServiceAccount: it must exist before the Job.
    'ServiceAccount/shop-migrate-queue': hook(-10),
    'Role/shop-migrate-queue': hook(-10),
    'RoleBinding/shop-migrate-queue': hook(-10),
    // Helm prints the migration's log when it fails.
    'Job/shop-migrate-<hash>': { ...hook(0), 'helm.sh/hook-output-log-policy': 'hook-failed' },
    'ServiceAccount/shop': {},
    'ServiceAccount/worker': {},
    'Role/shop-reader-<hash>': {},
    'RoleBinding/shop-reader-<hash>': {},
    'Deployment/shop': {},
    'Deployment/worker': {},
    'Service/shop': {},
  });
  // The init container stays: hooks order a helm install, not a kubectl apply of the same YAML.
  expect(objects.filter((o) => o.kind === 'Deployment').map((d) => [d.metadata.name, d.spec.template.spec.initContainers[1].name]))
    .toEqual([['shop', 'wait-for-shop-job-complete'], ['worker', 'wait-for-shop-job-complete']]);
});

test('appliers have names', () => {
  expect([Applier.plain(), Applier.flux(), Applier.argoCd(), Applier.helm()].map((a) => a.name)).toEqual(['plain', 'flux', 'argocd', 'helm']);
});
