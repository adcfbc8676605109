/*
 * 4. Upgrades, pruning and rollback of manifests synthesized in-process: a new
 *    app image keeps the Job and rolls the Deployment; a new migration image
 *    makes a new Job and a ReplicaSet whose pods wait for it; `kubectl apply
 *    --prune` removes the old Job; re-applying release 1 brings its Job back.
 */
import {
  createNamespaces, envOf, finishJobPod, getJson, jobNameOf, JobWatch, cleanUp, kubectl, Manifest, namespaceName, now, one, RunResult, synthApp,
  timing, toYaml, tryGet, waitFor, waiterOf,
} from './kube';

const NS = namespaceName('upgrade');
const NAME = 'shop';
const APP = 'app.kubernetes.io/instance=shop';

function release(appImage: string, migrationImage: string): Manifest[] {
  return synthApp({ name: NAME, image: appImage, replicas: 2, migration: { image: migrationImage, command: ['/app/migrate'] } });
}
const r1 = release('example/shop:1.0.0', 'example/shop-migrate:1.0.0');
const r2 = release('example/shop:1.1.0', 'example/shop-migrate:1.0.0'); // a new app image only
const r3 = release('example/shop:1.1.0', 'example/shop-migrate:2.0.0'); // a new migration

/** `kubectl apply --prune` of one release, with the allowlist kubectl needs to know which kinds to prune. */
const PRUNE = ['--prune', '-l', APP, ...[
  'core/v1/ConfigMap', 'core/v1/Secret', 'core/v1/ServiceAccount', 'core/v1/Service', 'batch/v1/Job', 'apps/v1/Deployment',
  'rbac.authorization.k8s.io/v1/Role', 'rbac.authorization.k8s.io/v1/RoleBinding',
].map((k) => `--prune-allowlist=${k}`)];

async function apply(objects: Manifest[], prune = false): Promise<RunResult> {
  const r = await kubectl(['apply', ...prune ? PRUNE : [], '-f', '-'], { namespace: NS, input: toYaml(objects), check: false });
  expect({ code: r.code, stderr: r.stderr, immutable: `${r.stdout}${r.stderr}`.includes('field is immutable') }).toEqual({ code: 0, stderr: '', immutable: false });
  return r;
}

async function jobs(): Promise<string[]> {
  return (await getJson(['jobs', '-l', APP], { namespace: NS })).items.map((j: any) => j.metadata.name).sort();
}

/** The Deployment's ReplicaSets, oldest first. */
async function replicaSets(): Promise<any[]> {
  const deployment = await getJson(['deployment', NAME], { namespace: NS });
  return (await getJson(['replicasets'], { namespace: NS })).items
    .filter((rs: any) => (rs.metadata.ownerReferences ?? []).some((o: any) => o.uid === deployment.metadata.uid))
    .sort((a: any, b: any) => Number(a.metadata.annotations['deployment.kubernetes.io/revision']) - Number(b.metadata.annotations['deployment.kubernetes.io/revision']));
}

async function newestReplicaSet(revision: number): Promise<any> {
  return waitFor(async () => (await replicaSets()).find((rs) => rs.metadata.annotations['deployment.kubernetes.io/revision'] === String(revision)),
    60_000, `ReplicaSet revision ${revision} of Deployment ${NAME}`);
}

beforeAll(() => createNamespaces(NS));
afterAll(() => cleanUp());

test('the releases differ where they should', () => {
  expect(jobNameOf(r2)).toBe(jobNameOf(r1));
  expect(jobNameOf(r3)).not.toBe(jobNameOf(r1));
  expect(envOf(waiterOf(one(r3, 'Deployment')), 'MIGRATION_JOB')).toBe(jobNameOf(r3));
});

test('release 1, a new app image, a new migration with prune, and a rollback', async () => {
  const job1 = jobNameOf(r1);
  const job3 = jobNameOf(r3);

  // Release 1: migrates.
  await apply(r1, true);
  const w1 = await JobWatch.open(NS, job1);
  await finishJobPod(NS, job1, 0);
  await w1.until('Complete', 60_000);
  w1.close();
  const rs1 = await newestReplicaSet(1);
  const uid1 = (await getJson(['job', job1], { namespace: NS })).metadata.uid;

  // Release 2: only the app's image. Same Job, untouched; the Deployment rolls.
  const t2 = now();
  await apply(r2, true);
  const rs2 = await newestReplicaSet(2);
  timing('upgrade: apply of a new app image -> new ReplicaSet', now() - t2);
  expect(rs2.metadata.name).not.toBe(rs1.metadata.name);
  expect(rs2.spec.template.spec.containers[0].image).toBe('example/shop:1.1.0');
  expect(envOf(waiterOf(rs2), 'MIGRATION_JOB')).toBe(job1);
  expect(await jobs()).toEqual([job1]);
  expect((await getJson(['job', job1], { namespace: NS })).metadata.uid).toBe(uid1);

  // Release 3: a new migration, applied with prune. A new Job; release 1's goes.
  const t3 = now();
  await apply(r3, true);
  const rs3 = await newestReplicaSet(3);
  expect(envOf(waiterOf(rs3), 'MIGRATION_JOB')).toBe(job3);
  await waitFor(async () => (await jobs()).join() === job3, 60_000, `Job ${job1} pruned and ${job3} alone`);
  timing('upgrade: apply --prune of a new migration -> old Job gone', now() - t3);
  // The ReplicaSet controller made pods of the new template; each one's init container waits for the new Job.
  const hash = rs3.metadata.labels['pod-template-hash'];
  const pods = await waitFor(async () => {
    const list = await getJson(['pods', '-l', `pod-template-hash=${hash}`], { namespace: NS });
    return list.items.length > 0 ? list.items : undefined;
  }, 60_000, `a pod of ReplicaSet ${rs3.metadata.name}`);
  for (const pod of pods) expect(envOf(waiterOf(pod), 'MIGRATION_JOB')).toBe(job3);

  // Roll back the manifests: release 1's Job name comes back (a new Job object), release 3's is pruned.
  const t4 = now();
  await apply(r1, true);
  await waitFor(async () => (await jobs()).join() === job1, 60_000, `Job ${job1} back and ${job3} pruned`);
  timing('upgrade: apply --prune of release 1 again -> its Job back, the other gone', now() - t4);
  const back = await tryGet(NS, 'job', job1);
  expect(back.metadata.uid).not.toBe(uid1);
  const deployment = await getJson(['deployment', NAME], { namespace: NS });
  expect(envOf(waiterOf(deployment), 'MIGRATION_JOB')).toBe(job1);
  expect(deployment.spec.template.spec.containers[0].image).toBe('example/shop:1.0.0');
});
