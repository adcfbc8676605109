/*
 * Argo CD v3.6.2 (support/argocd.ts) with releases that do not come one at a
 * time, each through the Application of examples/argocd/README.md (its name,
 * namespaces, repository and path changed), with the e2e app
 * (support/synth.ts appRelease, `Applier.argoCd()`):
 * - two revisions pushed in quick succession, the second while the first's
 *   migration runs (issue 16, "one migration at a time");
 * - a migration Job created suspended and later resumed, as Kueue does.
 * What Argo CD did is printed (its operations, from the Application's
 * Events, and its health for the Job); what the library promises is asserted:
 * at most one migration of the app runs at a time, no running Job is
 * deleted, new pods become ready only after their release's Job is Complete,
 * and the pods end on the last release. Times come from watches and from the
 * pods' own container timestamps (whole seconds: "after" is "not before").
 */
import { Duration } from 'cdk8s';
import {
  ApiWatch, appRelease, cleanUp, condition, createNamespaces, deleteNamespaces, getJson, imageOf, jobNameOf, kubectl, Manifest,
  namespaceName, now, rolledOut, sleep, timing, toYaml, waitFor,
} from './support';
import { ArgoCd, Pushed } from './support/argocd';
import { Applier } from '../../src';

const NAME = 'shop';
const APP = `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=app`;
const MIGRATIONS = `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=migration`;

/** Release `version` for Argo CD, whose migration sleeps `sleepS` seconds. */
const release = (version: string, sleepS: number): Manifest[] =>
  appRelease(version, [`--sleep=${sleepS}s`], { activeDeadline: Duration.seconds(150), props: { applier: Applier.argoCd() } });

const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

let argo: ArgoCd | undefined;

afterAll(async () => {
  if (argo) process.stderr.write(`argocd logs (tail):\n${argo.logs().slice(-4000)}\n`);
  await argo?.stop();
  cleanUp();
  await deleteNamespaces();
}, 300_000);

beforeAll(async () => {
  const started = now();
  argo = await ArgoCd.start();
  timing('argocd-queue: Argo CD started', now() - started);
}, 300_000);

/** One Application, its namespace and its path in git; install() syncs release 1.0.0 and waits until it is out. */
function appUnder(test: string) {
  const a = argo!;
  const ns = namespaceName(`argocd-${test}`);
  const name = namespaceName(test);
  const pushes: Pushed[] = [];
  const push = async (objects: Manifest[], message: string, refresh = true) => {
    const p = await a.push(`apps/${name}`, objects, message);
    pushes.push(p);
    if (refresh) await a.refresh(name);
    return p;
  };
  const install = async () => {
    await createNamespaces(ns);
    const p = await push(release('1.0.0', 1), 'shop 1.0.0', false); // no Application yet to refresh
    await a.apply(a.application(name, ns));
    const app = await a.operationEnded(name, p.revision);
    expect(app.status.operationState.phase).toBe('Succeeded');
    await rolledOut(ns, NAME, APP, 'e2e.local/app:1.0.0', 2);
  };
  /** The Application's operations so far, as its Events tell them. */
  const operations = async () => (await a.events(name)).filter((e) => e.reason.startsWith('Operation')).map((e) => `${e.at} ${e.reason}: ${e.message}`);
  return { a, ns, name, pushes, push, install, operations };
}

/** A migration as its pod ran it: the `migrate` container's start and end, and how it ended. */
interface Run { job: string; started: number; finished: number; exitCode: number; reason: string }

/** Every migration run the pod watch saw (pods of pruned Jobs included, from their last state), by start. */
function runsOf(pods: ApiWatch): Run[] {
  const runs: Run[] = [];
  for (const { object } of pods.lifetimes().values()) {
    const t = (object.status?.containerStatuses ?? []).find((c: any) => c.name === 'migrate')?.state?.terminated;
    if (!t) continue;
    runs.push({
      job: object.metadata.labels['batch.kubernetes.io/job-name'],
      started: Date.parse(t.startedAt),
      finished: Date.parse(t.finishedAt),
      exitCode: t.exitCode,
      reason: t.reason,
    });
  }
  return runs.sort((x, y) => x.started - y.started);
}

describe('two revisions pushed in quick succession: the second while the first\'s migration runs', () => {
  test('Argo CD finishes the first sync, then syncs the second; one migration at a time, no running Job deleted, pods end on the last', async () => {
    const { a, ns, name, pushes, push, install, operations } = appUnder('overlap');
    await install();
    const [second, third] = [release('1.1.0', 20), release('2.0.0', 3)];
    const first = jobNameOf(release('1.0.0', 1));
    const pods = await ApiWatch.pods(ns, MIGRATIONS);
    const jobs = await ApiWatch.open(ns, 'apis/batch/v1', 'jobs', { labelSelector: MIGRATIONS });
    try {
      const p2 = await push(second, 'shop 1.1.0');
      await waitFor(async () => {
        const [p] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${jobNameOf(second)}`], { namespace: ns })).items;
        return p?.status.containerStatuses?.find((c: any) => c.name === 'migrate')?.state.running;
      }, 120_000, 'the migration of 1.1.0 to run');
      const running = await a.app(name);
      const p3 = await push(third, 'shop 2.0.0');
      timing('argocd-queue: overlap: push of 1.1.0 -> push of 2.0.0 (1.1.0 migrating)', p3.at - p2.at);
      const app = await a.operationEnded(name, p3.revision, 600_000);
      await rolledOut(ns, NAME, APP, 'e2e.local/app:2.0.0', 2);
      const ops = await operations();
      process.stderr.write(`argocd-queue: overlap: while 1.1.0 migrated, the operation was ${running.status.operationState?.phase} for `
        + `${running.status.operationState?.operation?.sync?.revision?.slice(0, 7)} (1.1.0 is ${p2.revision.slice(0, 7)}); operations:\n`
        + `${ops.join('\n')}\n`);
      expect(app.status.operationState.phase).toBe('Succeeded');

      // What Argo CD did with 1.1.0: its sync ran to its end before 2.0.0's started (or 1.1.0 was skipped: then its Job must not run half).
      const startedFor = (rev: string) => ops.findIndex((o) => o.includes('OperationStarted') && o.includes(rev));
      const completedFor = (rev: string) => ops.findIndex((o) => o.includes('OperationCompleted') && o.includes(rev));
      process.stderr.write(`argocd-queue: overlap: 1.1.0 sync started #${startedFor(p2.revision)}, ended #${completedFor(p2.revision)}; `
        + `2.0.0 sync started #${startedFor(p3.revision)}\n`);

      // One migration at a time: each run started once the one before it had ended (whole seconds).
      const runs = runsOf(pods);
      process.stderr.write(`argocd-queue: overlap: runs ${JSON.stringify(runs.map((r) => ({ ...r, started: new Date(r.started), finished: new Date(r.finished) })))}\n`);
      // The watch's first list has 1.0.0's pod too (its Job is kept until a later sync prunes it).
      expect(runs.map((r) => r.job)).toEqual([first, jobNameOf(second), jobNameOf(third)]);
      for (let i = 1; i < runs.length; i++) {
        const gap = { before: runs[i - 1].job, after: runs[i].job };
        expect({ ...gap, startedAfterEnd: runs[i].started >= runs[i - 1].finished }).toEqual({ ...gap, startedAfterEnd: true });
        timing(`argocd-queue: overlap: ${gap.before} ended -> ${gap.after} started`, runs[i].started - runs[i - 1].finished);
      }
      // None killed: every migration exited 0 by itself, and any Job deleted (pruned) was Complete by then.
      expect(runs.map((r) => [r.exitCode, r.reason])).toEqual([[0, 'Completed'], [0, 'Completed'], [0, 'Completed']]);
      const deleted = jobs.events.filter((e) => e.type === 'DELETED').map((e) => ({ job: e.object.metadata.name, complete: condition(e.object, 'Complete')?.status }));
      process.stderr.write(`argocd-queue: overlap: Jobs deleted: ${JSON.stringify(deleted)}\n`);
      for (const d of deleted) expect(d).toEqual({ job: d.job, complete: 'True' });
      expect(pushes).toHaveLength(3);
    } finally {
      pods.close();
      jobs.close();
    }
  }, 900_000);
});

describe('a migration Job created suspended and resumed later, as Kueue does', () => {
  const policy = namespaceName('kueue-suspend');
  afterAll(async () => {
    await kubectl(['delete', '--ignore-not-found', `mutatingadmissionpolicybinding/${policy}`, `mutatingadmissionpolicy/${policy}`], { check: false });
  });

  test('Argo CD waits while the Job is Suspended, calls it Healthy once resumed and running; the waiters hold the new pods until it is Complete', async () => {
    const { a, ns, name, push, install } = appUnder('kueue');
    await install();
    // Kueue's webhook creates a Job suspended, and its controller sets suspend: false once it admits it. Emulated by a
    // MutatingAdmissionPolicy (in the API server, no webhook server) on this namespace's Jobs, and a patch later.
    await kubectl(['apply', '-f', '-'], {
      input: toYaml([{
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingAdmissionPolicy',
        metadata: { name: policy },
        spec: {
          matchConstraints: { resourceRules: [{ apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['jobs'] }] },
          failurePolicy: 'Fail',
          reinvocationPolicy: 'Never',
          mutations: [{ patchType: 'ApplyConfiguration', applyConfiguration: { expression: 'Object{spec: Object.spec{suspend: true}}' } }],
        },
      }, {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingAdmissionPolicyBinding',
        metadata: { name: policy },
        spec: { policyName: policy, matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
      }]),
    });
    const objects = release('1.1.0', 20);
    const job = jobNameOf(objects);
    const theJob = objects.find((o) => o.kind === 'Job' && o.metadata.name === job)!;
    await waitFor(async () => JSON.parse((await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { namespace: ns, input: toYaml([theJob]) }))
      .stdout).spec.suspend === true, 30_000, 'the admission policy to suspend new Jobs');

    const pods = await ApiWatch.pods(ns, APP);
    const deployments = await ApiWatch.open(ns, 'apis/apps/v1', 'deployments', {});
    try {
      const pushed = await push(objects, 'shop 1.1.0');
      // What Argo CD says, sampled every 500 ms: the Application's health and operation, and the Job's health in its resources.
      const seen: string[] = [];
      const sample = async () => {
        const app = await a.app(name);
        const live = await getJson(['job', job], { namespace: ns }).catch(() => undefined);
        const jobState = !live ? 'absent' : condition(live, 'Complete')?.status === 'True' ? 'Complete'
          : `suspend=${live.spec.suspend} Suspended=${condition(live, 'Suspended')?.status ?? '-'}`;
        const line = `Job ${jobState}; Argo CD: app health ${app.status?.health?.status}, `
          + `operation ${app.status?.operationState?.phase} (${app.status?.operationState?.message ?? ''})`;
        if (seen[seen.length - 1]?.slice(13) !== line) seen.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
        return { app, live };
      };

      // Phase 1: suspended. Argo CD's sync stays in wave -1; the Deployment is not touched.
      await waitFor(async () => condition((await sample()).live, 'Suspended')?.status === 'True', 120_000, `${job} to be Suspended`);
      const holdUntil = now() + 15_000;
      while (now() < holdUntil) {
        const s = await sample();
        expect(s.app.status.operationState.phase).toBe('Running');
        await sleep(500);
      }
      expect((await getJson(['deployment', NAME], { namespace: ns })).spec.template.spec.containers[0].image).toBe('e2e.local/app:1.0.0');

      // Phase 2: resumed, as Kueue's admission does. The Job controller sets Suspended=False; the pod runs for 20 s.
      const resumedAt = now();
      await kubectl(['patch', 'job', job, '--type=merge', '-p', '{"spec":{"suspend":false}}'], { namespace: ns });
      // When Argo CD's operation stopped waiting for the Job (its message names the next resource it waits for) while it had not completed.
      let movedOn: number | undefined;
      const complete = await waitFor(async () => {
        const s = await sample();
        const message: string = s.app.status?.operationState?.message ?? '';
        if (movedOn === undefined && condition(s.live, 'Complete')?.status !== 'True' && message.startsWith('waiting for healthy state of')
          && !message.includes(`batch/Job/${job}`)) movedOn = now();
        return condition(s.live, 'Complete')?.status === 'True' && s.live;
      }, 180_000, `${job} to complete`, 500);
      const completedAt = Date.parse(condition(complete, 'Complete').lastTransitionTime);
      const app = await a.operationEnded(name, pushed.revision, 300_000);
      await sample();
      const ready = await rolledOut(ns, NAME, APP, 'e2e.local/app:1.1.0', 2);
      process.stderr.write(`argocd-queue: kueue: what Argo CD said:\n${seen.join('\n')}\n`);
      expect(app.status.operationState.phase).toBe('Succeeded');

      // When Argo CD moved to wave 0: the Deployment's template changed.
      const updated = deployments.events.find((e) => e.object.spec.template.spec.containers[0].image === 'e2e.local/app:1.1.0')!.at;
      process.stderr.write(`argocd-queue: kueue: Argo CD's operation moved past the running Job: ${movedOn !== undefined}; `
        + `Deployment updated ${Math.round(completedAt - updated)} ms before the Job's Complete (whole seconds)\n`);
      if (movedOn !== undefined) timing('argocd-queue: kueue: resumed -> Argo CD\'s sync waits on the next wave, the Job still running', movedOn - resumedAt);
      timing('argocd-queue: kueue: resumed -> Deployment updated (wave 0)', updated - resumedAt);
      timing('argocd-queue: kueue: Deployment updated (wave 0) -> Job Complete', completedAt - updated);
      // What the docs say Argo CD does here (gitops-engine's health_job.go: any Suspended condition, even False, counts as done, so the
      // resumed, running Job is Healthy): it synced wave 0 before the Job had completed. If a later Argo CD waits, this fails: update the docs.
      expect(updated).toBeLessThan(completedAt);

      // The waiters held every new pod until the Job was Complete.
      const created = [...pods.lifetimes().values()].map((l) => l.object).filter((p) => imageOf(p) === 'e2e.local/app:1.1.0');
      expect(created.length).toBeGreaterThanOrEqual(2);
      for (const pod of ready) {
        // The second waiter container, `wait-for-<app>-job-complete` (src/waiter.ts), exits once the Job is Complete.
        const waiter = pod.status.initContainerStatuses.find((c: any) => c.name.endsWith('-job-complete'));
        expect(Date.parse(waiter.state.terminated.finishedAt)).toBeGreaterThanOrEqual(seconds(completedAt));
        expect(Date.parse(condition(pod, 'Ready').lastTransitionTime)).toBeGreaterThanOrEqual(seconds(completedAt));
      }
      // Of every pod of 1.1.0 seen, none was ready before the Job completed.
      for (const e of pods.events) {
        if (imageOf(e.object) === 'e2e.local/app:1.1.0' && condition(e.object, 'Ready')?.status === 'True') expect(e.at).toBeGreaterThanOrEqual(seconds(completedAt));
      }
    } finally {
      pods.close();
      deployments.close();
    }
  }, 900_000);
});
