/*
 * One migration of an app at a time, on the real node: releases applied
 * while an earlier one migrates (two 10 s apart, three in a row, after a
 * failed one, a rollback), the README's prune recipe during a migration and
 * what an unguarded `kubectl apply --prune` does instead, and a construct
 * rename and a chart move applied over a release. The order is read from the
 * pods' own container timestamps (whole seconds in the API: "after" is "not
 * before") and from the Jobs' conditions.
 */
import { Duration } from 'cdk8s';
import {
  appRelease, AppReleaseOptions, cleanUp, condition, createNamespaces, deleteNamespaces, getJson, isReady, jobNameOf, jobPods, kubectl, Manifest,
  manifestsFile, namespaceName, now, rolledOut, sleep, timing, toYaml, waitFor, waitForRelease,
} from './support';

const NAME = 'shop';
const APP = `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=app`;
const MIGRATIONS = `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=migration`;
/** Room for a migration that waits behind two others. */
const DEADLINE = Duration.seconds(150);

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

/** Release `version`, whose migration sleeps `sleepS` seconds, then succeeds or fails with `fail`. */
function release(version: string, sleepS: number, fail?: string, options: AppReleaseOptions = {}): Manifest[] {
  return appRelease(version, [`--sleep=${sleepS}s`, ...fail ? [`--fail=${fail}`] : []], { activeDeadline: DEADLINE, ...options });
}

async function apply(ns: string, objects: Manifest[]): Promise<string> {
  const r = await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(objects) });
  return r.stdout + r.stderr;
}

/** One migration run, from its pod: when the queue let it go, and when the migration container ran. */
interface Run {
  readonly job: string;
  readonly queueEnded: number;
  readonly started: number;
  readonly finished: number;
  readonly exitCode: number;
  readonly reason: string;
}

/** The run of `job`'s migration, once its container has ended. */
async function runOf(ns: string, job: string, timeoutMs = 240_000): Promise<Run> {
  await jobPods(ns, job);
  const pod = await waitFor(async () => {
    const [p] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace: ns })).items;
    return p?.status.containerStatuses?.find((c: any) => c.name === 'migrate')?.state.terminated ? p : undefined;
  }, timeoutMs, `the migration of ${job} to end`);
  const [queue] = pod.status.initContainerStatuses;
  expect([queue.name, queue.state.terminated.exitCode]).toEqual(['wait-for-earlier-migrations', 0]);
  const t = pod.status.containerStatuses.find((c: any) => c.name === 'migrate').state.terminated;
  return {
    job,
    queueEnded: Date.parse(queue.state.terminated.finishedAt),
    started: Date.parse(t.startedAt),
    finished: Date.parse(t.finishedAt),
    exitCode: t.exitCode,
    reason: t.reason,
  };
}

/** When `job` got Complete or Failed. */
async function endedAt(ns: string, job: string): Promise<number> {
  const j = await waitFor(async () => {
    const o = await getJson(['job', job], { namespace: ns });
    return condition(o, 'Complete')?.status === 'True' || condition(o, 'Failed')?.status === 'True' ? o : undefined;
  }, 240_000, `${job} to end`);
  return Date.parse((condition(j, 'Complete') ?? condition(j, 'Failed')).lastTransitionTime);
}

/** Each run's migration started once the one before it had ended, and its queue let it go no earlier than that Job's end. */
async function expectOneAtATime(ns: string, runs: Run[]): Promise<void> {
  for (let i = 1; i < runs.length; i++) {
    const [before, after] = [runs[i - 1], runs[i]];
    const gap = { after: after.job, before: before.job };
    expect({ ...gap, startedAfterEnd: after.started >= before.finished }).toEqual({ ...gap, startedAfterEnd: true });
    expect({ ...gap, releasedAfterJobEnded: after.queueEnded >= await endedAt(ns, before.job) }).toEqual({ ...gap, releasedAfterJobEnded: true });
    timing(`queue: ${before.job} ended -> ${after.job} started (whole seconds)`, after.started - before.finished);
  }
}

/** The migration container of `job` is running. */
function migrating(ns: string, job: string): Promise<unknown> {
  return waitFor(async () => {
    const [p] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace: ns })).items;
    return p?.status.containerStatuses?.find((c: any) => c.name === 'migrate')?.state.running;
  }, 120_000, `the migration of ${job} to run`);
}

const available = (ns: string, version: string) => rolledOut(ns, NAME, APP, `e2e.local/app:${version}`, 2);

test('two releases applied 10 s apart: the second migration starts only once the first has ended', async () => {
  const ns = namespaceName('queue-two');
  await createNamespaces(ns);
  const [v1, v2] = [release('1.0.0', 20), release('1.1.0', 3)];
  const appliedAt = now();
  await apply(ns, v1);
  await migrating(ns, jobNameOf(v1));
  await sleep(Math.max(0, 10_000 - (now() - appliedAt)));
  await apply(ns, v2);
  // What `kubectl get pods` shows meanwhile: the second Job's pod holds in its queue container.
  const shown = await waitFor(async () => {
    const r = await kubectl(['get', 'pods', '-l', MIGRATIONS], { namespace: ns });
    return r.stdout.split('\n').some((l) => l.startsWith(jobNameOf(v2)) && /Init:0\/1\s+0\s/.test(l)) ? r.stdout : undefined;
  }, 60_000, 'the second migration to show as waiting');
  process.stdout.write(`kubectl get pods -l ${MIGRATIONS} (while the first migration runs):\n${shown}`);
  const line = `waiting for job/${jobNameOf(v1)} to complete or fail`;
  await waitFor(async () => (await kubectl(['logs', `job/${jobNameOf(v2)}`, '-c', 'wait-for-earlier-migrations'], { namespace: ns, check: false }))
    .stdout.includes(line), 30_000, `the queue's log to say "${line}"`);
  const runs = [await runOf(ns, jobNameOf(v1)), await runOf(ns, jobNameOf(v2))];
  expect(runs.map((r) => [r.exitCode, r.reason])).toEqual([[0, 'Completed'], [0, 'Completed']]);
  await expectOneAtATime(ns, runs);
  await available(ns, '1.1.0');
});

test('three releases in a row run their migrations one after another, in the order applied', async () => {
  const ns = namespaceName('queue-three');
  await createNamespaces(ns);
  const releases = [release('1.0.0', 8), release('1.1.0', 8), release('2.0.0', 8)];
  for (const r of releases) {
    await apply(ns, r);
    await sleep(2000);
  }
  const runs: Run[] = [];
  for (const r of releases) runs.push(await runOf(ns, jobNameOf(r)));
  expect(runs.every((r) => r.exitCode === 0)).toBe(true);
  await expectOneAtATime(ns, runs);
  await available(ns, '2.0.0');
});

test('the release after a failed one starts its migration once the failed Job has Failed, and rolls out', async () => {
  const ns = namespaceName('queue-failed');
  await createNamespaces(ns);
  const [broken, fixed] = [release('1.0.0', 8, 'duplicate key value violates unique constraint'), release('1.1.0', 2)];
  await apply(ns, broken);
  await migrating(ns, jobNameOf(broken));
  await apply(ns, fixed);
  const runs = [await runOf(ns, jobNameOf(broken)), await runOf(ns, jobNameOf(fixed))];
  expect(runs.map((r) => r.exitCode)).toEqual([1, 0]);
  expect(condition(await getJson(['job', jobNameOf(broken)], { namespace: ns }), 'Failed')?.status).toBe('True');
  await expectOneAtATime(ns, runs);
  await available(ns, '1.1.0');
});

test('a rollback applied during a migration: the earlier release\'s Job, pruned and created again, waits for the running one', async () => {
  const ns = namespaceName('queue-rollback');
  await createNamespaces(ns);
  const [v1, v2] = [release('1.0.0', 1), release('1.1.0', 15)];
  await apply(ns, v1);
  await available(ns, '1.0.0');
  // Release 1's Job was pruned after it rolled out, as the README's recipe does once a later release is out.
  await kubectl(['delete', 'job', jobNameOf(v1), '--wait=true'], { namespace: ns, timeoutMs: 60_000 });
  await apply(ns, v2);
  await migrating(ns, jobNameOf(v2));
  await apply(ns, v1);
  const runs = [await runOf(ns, jobNameOf(v2)), await runOf(ns, jobNameOf(v1))];
  expect(runs.map((r) => r.exitCode)).toEqual([0, 0]);
  await expectOneAtATime(ns, runs);
  await available(ns, '1.0.0');
});

test('the README\'s recipe (apply, gate, prune last) during a migration kills nothing, and prunes the earlier Job once it has ended', async () => {
  const ns = namespaceName('queue-prune');
  await createNamespaces(ns);
  const [v1, v2] = [release('1.0.0', 15), release('1.1.0', 2)];
  await apply(ns, v1);
  await migrating(ns, jobNameOf(v1));
  const manifests = manifestsFile('prune', v2);
  await kubectl(['apply', '-f', manifests], { namespace: ns });
  // Release 1's migration is watched to its end while the pipeline gates and prunes.
  const [gate, first] = await Promise.all([
    waitForRelease(['-n', ns, '-t', '4m', '-f', manifests, '-p', `app.kubernetes.io/instance=${NAME}`]),
    runOf(ns, jobNameOf(v1)),
  ]);
  expect(gate.code).toBe(0);
  expect([first.exitCode, first.reason]).toEqual([0, 'Completed']);
  expect(gate.out).toContain(`job.batch "${jobNameOf(v1)}" deleted`);
  expect(gate.out).not.toContain('keeping Job');
  expect((await getJson(['jobs', '-l', MIGRATIONS], { namespace: ns })).items.map((j: any) => j.metadata.name)).toEqual([jobNameOf(v2)]);
  await available(ns, '1.1.0');
});

test('the prune step keeps a Job whose migration has not ended, and whatever a later release made', async () => {
  const ns = namespaceName('queue-keep');
  await createNamespaces(ns);
  const [v1, v2] = [release('1.0.0', 1), release('1.1.0', 20)];
  await apply(ns, v1);
  await available(ns, '1.0.0');
  await apply(ns, v2);
  await migrating(ns, jobNameOf(v2));
  // A rollback's pipeline, whose release is complete at once, prunes while release 2 still migrates.
  await apply(ns, v1);
  const gate = await waitForRelease(['-n', ns, '-t', '2m', '-f', manifestsFile('keep', v1), '-p', `app.kubernetes.io/instance=${NAME}`]);
  expect(gate.code).toBe(0);
  expect(gate.out).toContain(`keeping Job/${jobNameOf(v2)}: not older than this release`);
  const run = await runOf(ns, jobNameOf(v2));
  expect([run.exitCode, run.reason]).toEqual([0, 'Completed']);
});

test('measured: an unguarded kubectl apply --prune during a migration deletes the running Job and stops its migration', async () => {
  const ns = namespaceName('queue-unguarded');
  await createNamespaces(ns);
  const [v1, v2] = [release('1.0.0', 30), release('1.1.0', 1)];
  await apply(ns, v1);
  await migrating(ns, jobNameOf(v1));
  const [pod] = await jobPods(ns, jobNameOf(v1));
  const started = now();
  const allow = ['batch/v1/Job', 'core/v1/ConfigMap', 'apps/v1/Deployment'].map((k) => `--prune-allowlist=${k}`);
  const r = await kubectl(['apply', '--prune', '-l', `app.kubernetes.io/instance=${NAME}`, ...allow, '-f', '-'], { namespace: ns, input: toYaml(v2) });
  expect(r.stdout).toContain(`job.batch/${jobNameOf(v1)} pruned`);
  await waitFor(async () => (await kubectl(['get', 'pod', pod.metadata.name], { namespace: ns, check: false })).code !== 0,
    120_000, 'the pruned Job\'s pod to be gone');
  timing('unguarded prune: apply --prune -> the running migration\'s pod gone', now() - started);
  expect((await getJson(['jobs', '-l', MIGRATIONS], { namespace: ns })).items.map((j: any) => j.metadata.name)).toEqual([jobNameOf(v2)]);
});

test('a construct-id rename and a chart move, applied over the release: no error, no new Job, no new pod', async () => {
  const ns = namespaceName('queue-rename');
  await createNamespaces(ns);
  const v1 = release('1.0.0', 1);
  await apply(ns, v1);
  await available(ns, '1.0.0');
  const before = await getJson(['jobs,replicasets,pods', '-l', `app.kubernetes.io/instance=${NAME}`], { namespace: ns });
  for (const ids of [['e2e', 'storefront'], ['platform', 'storefront']] as Array<[string, string]>) {
    const moved = release('1.0.0', 1, undefined, { ids });
    expect(moved).toEqual(v1);
    expect(await apply(ns, moved)).not.toMatch(/immutable|error/i);
  }
  await sleep(3000);
  const after = await getJson(['jobs,replicasets,pods', '-l', `app.kubernetes.io/instance=${NAME}`], { namespace: ns });
  const uids = (l: any) => l.items.map((o: any) => `${o.kind}/${o.metadata.name}/${o.metadata.uid}`).sort();
  expect(uids(after)).toEqual(uids(before));
});

test('upgrading from manifests that selected by cdk8s-plus\'s path label: apply refuses the selector once; deleted with --cascade=orphan, the new Deployment adopts the pods and rolls', async () => {
  const ns = namespaceName('queue-upgrade');
  await createNamespaces(ns);
  const current = release('1.0.0', 1);
  // What earlier versions rendered: the Deployment selected its pods by cdk8s.io/metadata.addr, which its pod template carried.
  const ADDR = { 'cdk8s.io/metadata.addr': 'e2e-shop-deployment-c8d5e3a1' };
  const earlier = current.map((o) => (o.kind !== 'Deployment' ? o : {
    ...o,
    spec: {
      ...o.spec,
      selector: { matchLabels: ADDR },
      template: { ...o.spec.template, metadata: { ...o.spec.template.metadata, labels: { ...o.spec.template.metadata.labels, ...ADDR } } },
    },
  }));
  await apply(ns, earlier);
  await available(ns, '1.0.0');
  const before = (await getJson(['pods', '-l', APP], { namespace: ns })).items.map((p: any) => p.metadata.name).sort();
  const refused = await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(current), check: false });
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('field is immutable');
  // The step the docs give, then the new manifests.
  await kubectl(['delete', 'deployment', NAME, '--cascade=orphan'], { namespace: ns });
  expect(await apply(ns, current)).not.toMatch(/error/i);
  // The old pods served until the new ones were ready: at least two ready pods at every look.
  const ready = async () => (await getJson(['pods', '-l', APP], { namespace: ns })).items.filter((p: any) => isReady(p) && !p.metadata.deletionTimestamp);
  await waitFor(async () => {
    const pods = await ready();
    expect(pods.length).toBeGreaterThanOrEqual(2);
    return pods.every((p: any) => !before.includes(p.metadata.name)) && pods.length === 2;
  }, 120_000, 'the adopted pods to be replaced by the new ReplicaSet\'s');
  const d = await getJson(['deployment', NAME], { namespace: ns });
  expect(d.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/component': 'app', 'app.kubernetes.io/instance': NAME, 'app.kubernetes.io/name': NAME } });
});
