/*
 * 5. A failed migration keeps the old version serving: with RollingUpdate and
 *    2 replicas, release 1 migrates and its pods are Ready; release 2's
 *    migration fails; the old ReplicaSet keeps its 2 ready pods, the new pods
 *    never become ready, and the Deployment reports ProgressDeadlineExceeded.
 */
import { Duration } from 'cdk8s';
import {
  condition, createNamespaces, envOf, finishJobPod, getJson, jobNameOf, JobWatch, cleanUp, kubectl, lastLine, markInitFailed, markPodReady,
  namespaceName, now, one, startWaiter, synthApp, timing, tokenKubeconfig, toYaml, waitFor, waiterOf,
} from './kube';

const NS = namespaceName('failure');
const NAME = 'keep';

const r1 = synthApp({
  name: NAME,
  image: 'example/keep:1.0.0',
  replicas: 2,
  migration: { image: 'example/keep-migrate:1.0.0', activeDeadline: Duration.seconds(120) },
  progressDeadline: Duration.seconds(180),
});
const r2 = synthApp({
  name: NAME,
  image: 'example/keep:2.0.0',
  replicas: 2,
  migration: { image: 'example/keep-migrate:2.0.0', activeDeadline: Duration.seconds(10) },
  progressDeadline: Duration.seconds(20),
});

async function deploymentReplicaSets(): Promise<{ deployment: any; sets: any[] }> {
  const deployment = await getJson(['deployment', NAME], { namespace: NS });
  const sets = (await getJson(['replicasets'], { namespace: NS })).items
    .filter((rs: any) => (rs.metadata.ownerReferences ?? []).some((o: any) => o.uid === deployment.metadata.uid));
  return { deployment, sets };
}

async function podsOf(rs: any): Promise<any[]> {
  return (await getJson(['pods', '-l', `pod-template-hash=${rs.metadata.labels['pod-template-hash']}`], { namespace: NS })).items;
}

beforeAll(() => createNamespaces(NS));
afterAll(() => cleanUp());

test('a failed migration leaves the old pods serving and the rollout failing on its progress deadline', async () => {
  expect(one(r2, 'Deployment').spec.strategy?.type ?? 'RollingUpdate').toBe('RollingUpdate');
  expect(jobNameOf(r2)).not.toBe(jobNameOf(r1));

  // Release 1: the migration succeeds and both pods become Ready.
  await kubectl(['apply', '-f', '-'], { namespace: NS, input: toYaml(r1) });
  await finishJobPod(NS, jobNameOf(r1), 0);
  const oldPods = await waitFor(async () => {
    const { sets } = await deploymentReplicaSets();
    const pods = sets.length === 1 ? await podsOf(sets[0]) : [];
    return pods.length === 2 ? pods : undefined;
  }, 60_000, 'the 2 pods of release 1');
  for (const pod of oldPods) await markPodReady(NS, pod);
  const { sets: [oldRs] } = await waitFor(async () => {
    const r = await deploymentReplicaSets();
    return r.deployment.status?.availableReplicas === 2 && r.deployment.status?.updatedReplicas === 2 ? r : undefined;
  }, 60_000, 'release 1 available with 2 replicas');

  // Release 2: a new migration, which fails.
  const job2 = jobNameOf(r2);
  const applied = now();
  await kubectl(['apply', '-f', '-'], { namespace: NS, input: toYaml(r2) });
  const w = await JobWatch.open(NS, job2);
  await finishJobPod(NS, job2, 1);
  await w.until('Failed', 60_000);
  w.close();
  expect(condition(await getJson(['job', job2], { namespace: NS }), 'Failed').reason).toBe('BackoffLimitExceeded');

  // The new ReplicaSet's pods: their init container, run as rendered, fails with the Job's reason; report that as a kubelet would.
  const newRs = await waitFor(async () => (await deploymentReplicaSets()).sets.find((rs) => rs.metadata.uid !== oldRs.metadata.uid),
    60_000, 'the ReplicaSet of release 2');
  const newPods = await waitFor(async () => {
    const pods = await podsOf(newRs);
    return pods.length > 0 ? pods : undefined;
  }, 60_000, 'a pod of release 2');
  expect(envOf(waiterOf(newPods[0]), 'MIGRATION_JOB')).toBe(job2);
  const waiter = await startWaiter(newPods[0], await tokenKubeconfig(NS, NAME)).exited;
  expect(waiter.code).toBe(1);
  expect(lastLine(waiter.stderr)).toContain('BackoffLimitExceeded');
  for (const pod of newPods) await markInitFailed(NS, pod, waiterOf(pod).name, 1, lastLine(waiter.stderr));

  const { deployment } = await waitFor(async () => {
    const r = await deploymentReplicaSets();
    const progressing = condition(r.deployment, 'Progressing');
    return progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded' ? r : undefined;
  }, 90_000, 'Deployment condition Progressing=False reason ProgressDeadlineExceeded');
  timing('failure: apply of release 2 -> ProgressDeadlineExceeded (progressDeadline 20s)', now() - applied);

  // The old version still serves: its ReplicaSet keeps 2 ready pods; none of the new pods is ready.
  const old = await getJson(['replicaset', oldRs.metadata.name], { namespace: NS });
  expect({ replicas: old.spec.replicas, ready: old.status.readyReplicas, available: old.status.availableReplicas })
    .toEqual({ replicas: 2, ready: 2, available: 2 });
  expect((await podsOf(old)).filter((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toHaveLength(2);
  const fresh = await getJson(['replicaset', newRs.metadata.name], { namespace: NS });
  expect(fresh.status.readyReplicas ?? 0).toBe(0);
  expect((await podsOf(fresh)).filter((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toEqual([]);
  expect(deployment.status.availableReplicas).toBe(2);
  expect(condition(deployment, 'Available')?.status).toBe('True');
});
