/*
 * The waiter's cases, exactly as rendered: its two init containers' args, run
 * in order by a given kubectl on the host, with a real token of the app's
 * ServiceAccount, against the real API server, while the Job's pods really
 * run on the node. One namespace per case; the cases run concurrently, since
 * most of their time is spent waiting. waiter.e2e.test.ts runs them with the
 * default image's kubectl, waiter-min-kubectl.e2e.test.ts with the oldest one
 * the waiter supports.
 *
 * kubectl's output in each case is asserted exactly: the troubleshooting docs
 * quote it.
 */
import { Duration } from 'cdk8s';
import {
  cleanUp, deleteNamespaces, condition, createNamespaces, getJson, jobNameOf, jobPods, ApiWatch, kubectl, Manifest,
  namespaceName, now, one, readAudit, sleep, startWaiter, synthApp, timing, tokenKubeconfig, toYaml, waitFor, WaiterRun,
} from './index';
import { DatabaseMigration } from '../../../src';
import { ApplicationMigrationOptions } from '../../../src/application';

const NOT_FOUND_SECONDS = 5;
const MARGIN_SECONDS = 60;

/** A release whose migration runs the test image's `migrate` with `args`. */
function release(migration: ApplicationMigrationOptions = {}): Manifest[] {
  return synthApp({
    name: 'shop',
    image: 'e2e.local/app:1.0.0',
    migration: {
      image: 'e2e.local/migrate:1.0.0',
      ...migration,
      waiter: { notFoundTimeout: Duration.seconds(NOT_FOUND_SECONDS), ...migration.waiter },
    },
  });
}

const without = (objects: Manifest[], ...kinds: string[]) => objects.filter((o) => !kinds.includes(o.kind));

let cases = 0;
/** A fresh namespace with the release's ServiceAccount and RBAC, and the Job unless told otherwise; and a kubeconfig with the app's token. */
async function setUp(objects: Manifest[], options: { job?: boolean; rbac?: boolean } = {}) {
  const ns = namespaceName(`waiter-${++cases}`);
  await createNamespaces(ns);
  const skip = ['Deployment', ...options.job === false ? ['Job'] : [], ...options.rbac === false ? ['Role', 'RoleBinding'] : []];
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(without(objects, ...skip)) });
  return { ns, job: jobNameOf(objects), deployment: one(objects, 'Deployment'), kubeconfig: await tokenKubeconfig(ns, 'shop') };
}

const watch = (ns: string, job: string) => ApiWatch.job(ns, job);
afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

/**
 * Waits until the waiter's second container has its watch established, as the
 * audit log shows it: deleted before that, the Job is simply not found.
 */
async function watching(ns: string): Promise<void> {
  await waitFor(() => readAudit().some((e) => e.stage === 'ResponseStarted' && e.verb === 'watch' && e.objectRef?.resource === 'jobs'
    && e.user.username === `system:serviceaccount:${ns}:shop`), 60_000, `the waiter's watch in ${ns}`);
}

/** Asserts the waiter is still waiting, in its second container, `ms` from now. */
async function stillWaiting(waiter: WaiterRun, ms: number): Promise<void> {
  await sleep(ms);
  expect({ running: waiter.running(), in: waiter.current() }).toEqual({ running: true, in: 'wait-for-shop-job-complete' });
}

const FAILING = 'error: given jsonpath expression matches more than one value';

/** Defines every case, for the kubectl at `kubectl`, of `version`. */
export function waiterCases(kubectlPath: string, version: string): void {
  test('renders no shell: kubectl args only, in the image of the version under test', () => {
    const { deployment } = { deployment: one(release(), 'Deployment') };
    const inits = deployment.spec.template.spec.initContainers;
    expect(inits.map((c: any) => [c.name, c.image, c.command])).toEqual([
      ['wait-for-shop-job-created', DatabaseMigration.DEFAULT_WAITER_IMAGE, undefined],
      ['wait-for-shop-job-complete', DatabaseMigration.DEFAULT_WAITER_IMAGE, undefined],
    ]);
  });

  test.concurrent('success: keeps waiting while the Job runs, and exits 0 once it is Complete, not before', async () => {
    const { ns, job, deployment, kubeconfig } = await setUp(release({ args: ['--sleep=6s'] }));
    const w = await watch(ns, job);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await stillWaiting(waiter, 3000);
    const completeAt = await w.until('Complete', 90_000);
    const r = await waiter.exited;
    expect({ container: r.container, code: r.code, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({
      container: 'wait-for-shop-job-complete', code: 0, stdout: `job.batch/${job} condition met`, stderr: '',
    });
    expect(r.endedAt).toBeGreaterThan(completeAt - 250); // the admin watch may see it a few ms after the waiter's own
    timing('waiter: Job Complete (admin watch) -> waiter exited 0', r.endedAt - completeAt);
  });

  test.concurrent('failure with backoffLimit 0: exits 1 within seconds of FailureTarget', async () => {
    const { ns, job, deployment, kubeconfig } = await setUp(release({ args: ['--sleep=3s', '--fail=constraint violated'] }));
    const w = await watch(ns, job);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await stillWaiting(waiter, 1500);
    const targetAt = await w.until('FailureTarget', 90_000);
    const r = await waiter.exited;
    expect({ container: r.container, code: r.code, stdout: r.stdout, stderr: r.stderr.trim() }).toEqual({
      container: 'wait-for-shop-job-complete', code: 1, stdout: '', stderr: FAILING,
    });
    expect(condition(await getJson(['job', job], { namespace: ns }), 'FailureTarget').reason).toBe('BackoffLimitExceeded');
    expect(await jobPods(ns, job)).toHaveLength(1); // not retried
    timing('waiter: Job FailureTarget (admin watch) -> waiter exited 1', r.endedAt - targetAt);
  });

  test.concurrent('failure with backoffLimit 1: waits through the first failed pod, exits 1 once the retry fails too', async () => {
    const { ns, job, deployment, kubeconfig } = await setUp(release({ args: ['--fail=constraint violated'], backoffLimit: 1 }));
    const w = await watch(ns, job);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await waitFor(async () => (await getJson(['job', job], { namespace: ns })).status?.failed >= 1, 90_000, 'the first pod to fail');
    expect(waiter.running()).toBe(true);
    const targetAt = await w.until('FailureTarget', 120_000);
    const r = await waiter.exited;
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: FAILING });
    expect(r.endedAt).toBeGreaterThan(targetAt - 250);
    expect((await getJson(['job', job], { namespace: ns })).status.failed).toBe(2);
  });

  test.concurrent('deadline exceeded: exits 1 at FailureTarget, before the killed pod has terminated and the Job is Failed', async () => {
    const { ns, job, deployment, kubeconfig } = await setUp(release({ args: ['--sleep=300s'], activeDeadline: Duration.seconds(8) }));
    const w = await watch(ns, job);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    const targetAt = await w.until('FailureTarget', 90_000);
    const r = await waiter.exited;
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: FAILING });
    expect(condition(await getJson(['job', job], { namespace: ns }), 'FailureTarget').reason).toBe('DeadlineExceeded');
    const failedAt = await w.until('Failed', 90_000);
    expect(r.endedAt).toBeLessThan(failedAt + 250);
    timing('waiter: Job FailureTarget (DeadlineExceeded) -> waiter exited 1', r.endedAt - targetAt);
    timing('Job controller: FailureTarget -> Failed (the killed pod terminating)', failedAt - targetAt);
  });

  test.concurrent('suspended (as Kueue does), then resumed: keeps waiting, then exits 0', async () => {
    const objects = release({ args: ['--sleep=1s'] });
    const { ns, job, deployment, kubeconfig } = await setUp(objects, { job: false });
    const suspended = { ...one(objects, 'Job'), spec: { ...one(objects, 'Job').spec, suspend: true } };
    await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml([suspended]) });
    const w = await watch(ns, job);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await w.until('Suspended', 60_000);
    await stillWaiting(waiter, 4000);
    await kubectl(['patch', 'job', job, '--type=merge', '-p', '{"spec":{"suspend":false}}'], { namespace: ns });
    await w.until('Complete', 90_000);
    const r = await waiter.exited;
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: `job.batch/${job} condition met` });
  });

  test.concurrent('not found: the first container exits 1 after notFoundTimeout, and the second never runs', async () => {
    const { deployment, kubeconfig } = await setUp(release(), { job: false });
    const r = await startWaiter(deployment, kubeconfig, 180_000, kubectlPath).exited;
    expect({ container: r.container, code: r.code, stdout: r.stdout, stderr: r.stderr.trim() }).toEqual({
      container: 'wait-for-shop-job-created', code: 1, stdout: '', stderr: 'error: timed out waiting for the condition',
    });
    expect(r.ms).toBeGreaterThanOrEqual(NOT_FOUND_SECONDS * 1000);
    timing(`waiter ${version}: no Job, notFoundTimeout ${NOT_FOUND_SECONDS}s -> exited 1 after`, r.ms);
  });

  test.concurrent('created late: waits for the Job to appear, then for it to complete, past the not-found bound', async () => {
    const objects = release({ args: ['--sleep=8s'] });
    const { ns, job, deployment, kubeconfig } = await setUp(objects, { job: false });
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await sleep(2000);
    expect(waiter.current()).toBe('wait-for-shop-job-created');
    await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml([one(objects, 'Job')]) });
    const w = await watch(ns, job);
    await stillWaiting(waiter, NOT_FOUND_SECONDS * 1000);
    await w.until('Complete', 90_000);
    const r = await waiter.exited;
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: `job.batch/${job} condition met` });
    expect(r.ms).toBeGreaterThan(NOT_FOUND_SECONDS * 1000);
  });

  test.concurrent.each([
    ['complete', [], 'Complete', 0],
    ['failed', ['--fail=constraint violated'], 'Failed', 1],
  ] as const)('already %s before the pod starts: resolves at once', async (_state, args, conditionType, code) => {
    const { ns, job, deployment, kubeconfig } = await setUp(release({ args: [...args] }));
    const w = await watch(ns, job);
    await w.until(conditionType, 90_000);
    const r = await startWaiter(deployment, kubeconfig, 180_000, kubectlPath).exited;
    expect({ container: r.container, code: r.code }).toEqual({ container: 'wait-for-shop-job-complete', code });
    expect(code === 0 ? r.stdout.trim() : r.stderr.trim()).toBe(code === 0 ? `job.batch/${job} condition met` : FAILING);
    timing(`waiter ${version}: Job already ${conditionType} -> both containers done in`, r.ms);
  });

  test.concurrent('deleted mid-wait, then applied again (a retry): keeps waiting, and follows the new Job', async () => {
    const objects = release({ args: ['--sleep=300s'] });
    const { ns, job, deployment, kubeconfig } = await setUp(objects);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await watching(ns);
    await kubectl(['delete', 'job', job, '--wait=true', '--cascade=foreground'], { namespace: ns, timeoutMs: 120_000 });
    await stillWaiting(waiter, 2000);
    const retry = { ...one(objects, 'Job'), spec: { ...one(objects, 'Job').spec, template: { ...one(objects, 'Job').spec.template } } };
    retry.spec.template.spec = { ...retry.spec.template.spec, containers: [{ ...retry.spec.template.spec.containers[0], args: ['--sleep=1s'] }] };
    await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml([retry]) });
    const r = await waiter.exited;
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: `job.batch/${job} condition met` });
  });

  test.concurrent('deleted mid-wait, and never applied again: exits 1 at its bound, naming the Job', async () => {
    const deadline = 5;
    // Suspended, so that its short deadline cannot fail it before it is deleted: a failing Job would end the wait another way.
    const objects = release({ args: ['--sleep=300s'], activeDeadline: Duration.seconds(deadline) })
      .map((o) => (o.kind === 'Job' ? { ...o, spec: { ...o.spec, suspend: true } } : o));
    const { ns, job, deployment, kubeconfig } = await setUp(objects);
    const waiter = startWaiter(deployment, kubeconfig, 180_000, kubectlPath);
    await watching(ns);
    await kubectl(['delete', 'job', job, '--wait=false'], { namespace: ns });
    const r = await waiter.exited;
    expect({ container: r.container, code: r.code, stderr: r.stderr.trim() }).toEqual({
      container: 'wait-for-shop-job-complete', code: 1, stderr: `error: timed out waiting for the condition on jobs/${job}`,
    });
    expect(r.ms).toBeGreaterThanOrEqual((deadline + NOT_FOUND_SECONDS + MARGIN_SECONDS) * 1000);
    timing(`waiter ${version}: Job deleted, bound ${deadline}+${NOT_FOUND_SECONDS}+${MARGIN_SECONDS}s -> exited 1 after`, r.ms);
  }, 240_000);

  test.concurrent('forbidden (no RoleBinding): exits 1 at once with the API server\'s answer', async () => {
    const { ns, job, deployment, kubeconfig } = await setUp(release(), { rbac: false });
    const started = now();
    const r = await startWaiter(deployment, kubeconfig, 180_000, kubectlPath).exited;
    expect({ container: r.container, code: r.code, stderr: r.stderr.trim() }).toEqual({
      container: 'wait-for-shop-job-created',
      code: 1,
      stderr: `Error from server (Forbidden): jobs.batch "${job}" is forbidden: User "system:serviceaccount:${ns}:shop" `
        + `cannot get resource "jobs" in API group "batch" in the namespace "${ns}"`,
    });
    expect(now() - started).toBeLessThan(NOT_FOUND_SECONDS * 1000);
  });
}
