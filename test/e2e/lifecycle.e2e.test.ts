/*
 * Releases on the real node, one step after another in one namespace:
 * a release rolls out; re-applying it restarts nothing; the next release's
 * migration fails and the old pods keep serving (and come back when deleted);
 * a fixed release rolls out; scale-up starts pods at once, and after the Job
 * is pruned they fail with the documented message. Then Recreate, in a
 * namespace of its own. Every pod really runs; the namespaces enforce Pod
 * Security "restricted".
 */
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  ApiWatch, appRelease, cleanUp, deleteNamespaces, condition, createNamespaces, getJson, imageOf, isReady, jobNameOf, kubectl,
  Manifest, manifestsFile, namespaceName, now, rolledOut, runWithKubectl, timing, toYaml, waitFor, waitForRelease,
} from './support';
import { MigratedApplicationProps } from '../../src';

const NAME = 'shop';
const NOT_FOUND_SECONDS = 5;
const SELECTOR = `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=app`;

/** Release `version` of the app; its migration runs `migrateArgs`. */
function release(version: string, migrateArgs: string[], props: Partial<MigratedApplicationProps> = {}): Manifest[] {
  return appRelease(version, migrateArgs, { notFoundTimeout: Duration.seconds(NOT_FOUND_SECONDS), props });
}

async function apply(ns: string, objects: Manifest[]): Promise<string> {
  const r = await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(objects) });
  expect(`${r.stdout}${r.stderr}`).not.toContain('field is immutable');
  return r.stdout;
}

async function appPods(ns: string): Promise<any[]> {
  return (await getJson(['pods', '-l', SELECTOR], { namespace: ns })).items;
}

/** The pods of the Deployment's ReplicaSet that runs `version`. */
async function podsOfVersion(ns: string, version: string): Promise<any[]> {
  return (await appPods(ns)).filter((p) => imageOf(p) === `e2e.local/app:${version}`);
}

const available = (ns: string, version: string, replicas = 2) => rolledOut(ns, NAME, SELECTOR, `e2e.local/app:${version}`, replicas);

const seconds = (t: string) => Date.parse(t);

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

describe('RollingUpdate, release after release', () => {
  const ns = namespaceName('release');
  const v1 = release('1.0.0', ['--sleep=2s']);
  const v2 = release('1.1.0', ['--sleep=2s', '--fail=duplicate key value violates unique constraint']);
  const v3 = release('2.0.0', ['--sleep=1s']);

  beforeAll(() => createNamespaces(ns));

  test('a release rolls out: the Job runs, then every pod\'s waiter ends after its completion, then the app starts', async () => {
    const applied = now();
    await apply(ns, v1);
    // The README's pipeline gate, on the manifests as a file.
    const gate = await waitForRelease(['-n', ns, '-t', '3m', '-f', manifestsFile('release', v1)]);
    expect({ code: gate.code, out: gate.out }).toEqual({ code: 0, out: expect.stringContaining(`job.batch/${jobNameOf(v1)} is complete`) });
    expect(gate.out).toContain(`deployment "${NAME}" successfully rolled out`);
    const pods = await available(ns, '1.0.0');
    timing('release: apply -> 2 pods ready', now() - applied);
    const job = await getJson(['job', jobNameOf(v1)], { namespace: ns });
    const complete = condition(job, 'Complete');
    expect(complete.status).toBe('True');
    const [jobPod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${jobNameOf(v1)}`], { namespace: ns })).items;
    expect(jobPod.status.phase).toBe('Succeeded');
    expect(jobPod.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    for (const pod of pods) {
      const [created, done] = pod.status.initContainerStatuses;
      expect([created.name, done.name]).toEqual(['wait-for-shop-job-created', 'wait-for-shop-job-complete']);
      // Times are whole seconds in the API, so "after" is "not before".
      expect(seconds(done.state.terminated.finishedAt)).toBeGreaterThanOrEqual(seconds(complete.lastTransitionTime));
      expect(seconds(pod.status.containerStatuses[0].state.running.startedAt)).toBeGreaterThanOrEqual(seconds(done.state.terminated.finishedAt));
    }
    const d = await getJson(['deployment', NAME], { namespace: ns });
    expect(condition(d, 'Available').status).toBe('True');
  });

  test('re-applying the identical manifests restarts nothing', async () => {
    const before = (await appPods(ns)).map((p) => [p.metadata.name, p.metadata.uid, p.status.containerStatuses[0].restartCount]);
    const jobUid = (await getJson(['job', jobNameOf(v1)], { namespace: ns })).metadata.uid;
    await apply(ns, v1);
    const diff = await kubectl(['diff', '-f', '-'], { namespace: ns, input: toYaml(v1), check: false });
    expect({ code: diff.code, diff: diff.stdout }).toEqual({ code: 0, diff: '' });
    await new Promise((r) => setTimeout(r, 3000));
    expect((await appPods(ns)).map((p) => [p.metadata.name, p.metadata.uid, p.status.containerStatuses[0].restartCount])).toEqual(before);
    expect((await getJson(['job', jobNameOf(v1)], { namespace: ns })).metadata.uid).toBe(jobUid);
  });

  test('a failed migration: new pods stay in their init phase, the old ones all keep serving, and the pipeline and rollout fail', async () => {
    const old = await podsOfVersion(ns, '1.0.0');
    const w = await ApiWatch.job(ns, jobNameOf(v2));
    await apply(ns, v2);
    const pipeline = waitForRelease(['-n', ns, '-t', '5m', '-l', `app.kubernetes.io/instance=${NAME}`]);
    const failedAt = await w.until('FailureTarget', 120_000);
    const gate = await pipeline;
    expect(gate.code).toBe(1);
    expect(gate.out).toContain(`job.batch/${jobNameOf(v2)} failed: BackoffLimitExceeded: Job has reached the specified backoff limit`);
    timing('pipeline/wait-for-release.sh: Job FailureTarget -> script exited 1', now() - failedAt);

    // The new pods: the second waiter fails, with kubectl's message as its termination message.
    const fresh = await waitFor(async () => {
      const pods = await podsOfVersion(ns, '1.1.0');
      const waiterEnded = (p: any) => {
        const waiter = p.status.initContainerStatuses?.[1];
        return waiter?.lastState?.terminated ?? waiter?.state?.terminated;
      };
      const failed = pods.filter(waiterEnded);
      return failed.length > 0 && failed.length === pods.length ? pods : undefined;
    }, 120_000, 'the new pods\' waiters to fail');
    for (const pod of fresh) {
      const waiter = pod.status.initContainerStatuses[1];
      const terminated = waiter.state.terminated ?? waiter.lastState.terminated;
      expect({ exitCode: terminated.exitCode, message: terminated.message.trim() })
        .toEqual({ exitCode: 1, message: 'error: given jsonpath expression matches more than one value' });
      expect(isReady(pod)).toBe(false);
      expect(pod.status.phase).toBe('Pending');
    }
    const columns = ['--no-headers', '-o', 'custom-columns=NAME:.metadata.name'];
    const rows = (await kubectl(['get', 'pods', '-l', SELECTOR, ...columns], { namespace: ns })).stdout;
    expect(rows.trim().split('\n')).toHaveLength(old.length + fresh.length);

    // The old ReplicaSet keeps all its ready pods, and the rollout fails at its progress deadline.
    const status = await runWithKubectl('kubectl', ['rollout', 'status', `deployment/${NAME}`, '-n', ns, '--timeout=3m']);
    expect({ code: status.code, out: status.out.trim().split('\n').pop() }).toEqual({ code: 1, out: `error: deployment "${NAME}" exceeded its progress deadline` });
    const still = (await podsOfVersion(ns, '1.0.0')).filter(isReady);
    expect(still.map((p) => p.metadata.uid).sort()).toEqual(old.map((p) => p.metadata.uid).sort());
    expect(condition(await getJson(['deployment', NAME], { namespace: ns }), 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });

  test('an old pod deleted while the new migration has failed comes back Ready: it can still read its own release\'s Job', async () => {
    const before = (await podsOfVersion(ns, '1.0.0')).map((p) => p.metadata.uid);
    await kubectl(['delete', 'pod', (await podsOfVersion(ns, '1.0.0'))[0].metadata.name, '--wait=true'], { namespace: ns, timeoutMs: 120_000 });
    const reborn = await waitFor(async () => (await podsOfVersion(ns, '1.0.0')).find((p) => isReady(p) && !before.includes(p.metadata.uid)),
      120_000, 'a new pod of 1.0.0, ready');
    expect(reborn.status.initContainerStatuses.map((c: any) => c.state.terminated.exitCode)).toEqual([0, 0]);
    expect((await podsOfVersion(ns, '1.0.0')).filter(isReady)).toHaveLength(2);
  });

  test('a fixed release rolls out', async () => {
    await apply(ns, v3);
    await available(ns, '2.0.0');
    // The old pods are gone, or on their way out (terminating).
    expect((await podsOfVersion(ns, '1.0.0')).filter((p) => !p.metadata.deletionTimestamp)).toEqual([]);
  });

  test('the prune step of wait-for-release.sh removes the earlier releases\' Jobs, Roles and RoleBindings, and keeps this one\'s and the queue\'s', async () => {
    // The README's recipe: apply, then gate and prune (prune last).
    const r = await waitForRelease(['-n', ns, '-t', '3m', '-f', manifestsFile('prune', v3), '-p', `app.kubernetes.io/instance=${NAME}`]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`job.batch "${jobNameOf(v1)}" deleted`);
    expect(r.out).toContain(`job.batch "${jobNameOf(v2)}" deleted`);
    const names = async (kind: string) => (await getJson([kind, '-l', `app.kubernetes.io/instance=${NAME}`], { namespace: ns })).items.map((o: any) => o.metadata.name);
    const hash = jobNameOf(v3).slice(-10);
    await waitFor(async () => (await names('jobs')).length === 1, 60_000, 'the pruned Jobs to be gone');
    expect(await names('jobs')).toEqual([jobNameOf(v3)]);
    expect(await names('roles')).toEqual([`${NAME}-migrate-queue`, `${NAME}-reader-${hash}`]);
    expect(await names('rolebindings')).toEqual([`${NAME}-migrate-queue`, `${NAME}-reader-${hash}`]);
    await available(ns, '2.0.0');
  });

  test('scaling up long after the Job completed starts new pods at once', async () => {
    const started = now();
    await kubectl(['scale', `deployment/${NAME}`, '--replicas=3'], { namespace: ns });
    const pods = await available(ns, '2.0.0', 3);
    const newest = pods.sort((a, b) => seconds(b.metadata.creationTimestamp) - seconds(a.metadata.creationTimestamp))[0];
    const [created, done] = newest.status.initContainerStatuses.map((c: any) => c.state.terminated);
    expect([created.exitCode, done.exitCode]).toEqual([0, 0]);
    timing('scale-up: kubectl scale -> third pod ready', now() - started);
  });

  test('once the Job is pruned, new pods fail after notFoundTimeout with the documented message', async () => {
    await kubectl(['delete', 'job', jobNameOf(v3), '--cascade=foreground', '--wait=true'], { namespace: ns, timeoutMs: 120_000 });
    await kubectl(['scale', `deployment/${NAME}`, '--replicas=4'], { namespace: ns });
    const stuck = await waitFor(async () => {
      const pods = (await podsOfVersion(ns, '2.0.0')).filter((p) => !isReady(p));
      const waiter = pods[0]?.status.initContainerStatuses?.[0];
      return waiter?.lastState?.terminated ?? waiter?.state?.terminated ? pods[0] : undefined;
    }, 120_000, 'the fourth pod\'s first waiter to fail');
    const waiter = stuck.status.initContainerStatuses[0];
    const terminated = waiter.state.terminated ?? waiter.lastState.terminated;
    expect({ name: waiter.name, exitCode: terminated.exitCode, message: terminated.message.trim() })
      .toEqual({ name: 'wait-for-shop-job-created', exitCode: 1, message: 'error: timed out waiting for the condition' });
    expect(seconds(terminated.finishedAt) - seconds(terminated.startedAt)).toBeGreaterThanOrEqual((NOT_FOUND_SECONDS - 1) * 1000);
  });
});

test('Recreate: no old pod is still running when a new one starts', async () => {
  const ns = namespaceName('recreate');
  await createNamespaces(ns);
  const props = { strategy: kplus.DeploymentStrategy.recreate() };
  await apply(ns, release('1.0.0', [], props));
  await available(ns, '1.0.0');
  const w = await ApiWatch.pods(ns, SELECTOR);
  await apply(ns, release('1.1.0', ['--sleep=3s'], props));
  await available(ns, '1.1.0');
  const image = (e: { object: any }) => e.object?.spec?.containers?.[0]?.image;
  const oldNames = new Set(w.events.filter((e) => image(e) === 'e2e.local/app:1.0.0').map((e) => e.object.metadata.name));
  // An old pod has stopped once the kubelet reports it Succeeded or Failed (its containers have exited), or once it is deleted.
  const stopped = (name: string) => w.events.find((e) => e.object.metadata.name === name
    && (e.type === 'DELETED' || ['Succeeded', 'Failed'].includes(e.object.status?.phase)))?.at ?? Infinity;
  const lastOldStopped = Math.max(...[...oldNames].map(stopped));
  const firstNewSeen = Math.min(...w.events.filter((e) => image(e) === 'e2e.local/app:1.1.0').map((e) => e.at));
  expect(oldNames.size).toBe(2);
  expect(lastOldStopped).toBeLessThanOrEqual(firstNewSeen);
  timing('Recreate: last old pod stopped -> first new pod created', firstNewSeen - lastOldStopped);
});
