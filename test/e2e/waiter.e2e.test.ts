/*
 * 3. The wait-for init container exactly as rendered (its command and env
 *    from the synthesized Deployment), run here with a real token of the app's
 *    ServiceAccount against the real API server, in each situation it must
 *    handle; and pipeline/wait-for-release.sh against the same server.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'cdk8s';
import {
  cleanUp, cluster, condition, createNamespaces, finishJobPod, getJson, jobNameOf, jobPods, JobWatch, killAll, kubectl, kubectlBinDir, lastLine,
  Manifest, markPodReady, namespaceName, now, one, Proc, ROOT, sleep, start, startWaiter, synthApp, tempDir, timing, tokenKubeconfig, toYaml,
  waiterOf, waitFor,
} from './kube';

const NOT_FOUND_SECONDS = 5;
const objects = synthApp({
  name: 'shop',
  image: 'example/shop:1.0.0',
  migration: { image: 'example/shop-migrate:1.0.0', waiter: { notFoundTimeout: Duration.seconds(NOT_FOUND_SECONDS) } },
});
const deployment = one(objects, 'Deployment');
const job = jobNameOf(objects);
const without = (...kinds: string[]) => objects.filter((o) => !kinds.includes(o.kind));

let nsCount = 0;
/** A fresh namespace with the release's ServiceAccount and RBAC (and whatever else is given); returns it and a token kubeconfig. */
async function setUp(extra: Manifest[] = []): Promise<{ ns: string; kubeconfig: string }> {
  const ns = namespaceName(`waiter-${++nsCount}`);
  await createNamespaces(ns);
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml([...without('Job', 'Deployment'), ...extra]) });
  return { ns, kubeconfig: await tokenKubeconfig(ns, deployment.metadata.name) };
}

const watches: JobWatch[] = [];
async function watch(ns: string): Promise<JobWatch> {
  const w = await JobWatch.open(ns, job);
  watches.push(w);
  return w;
}

afterEach(() => {
  watches.splice(0).forEach((w) => w.close());
  killAll();
});
afterAll(() => cleanUp());

test('the rendered init container runs the script with bash and names this release\'s Job', () => {
  const init = waiterOf(deployment);
  expect(init.command[0]).toBe('/bin/bash');
  expect(init.command[1]).toBe('-c');
  expect(init.env).toContainEqual({ name: 'MIGRATION_JOB', value: job });
  expect(init.env).toContainEqual({ name: 'MIGRATION_JOB_WAIT_SECONDS', value: String(NOT_FOUND_SECONDS) });
});

test('keeps waiting while the Job runs, and exits 0 once it is Complete', async () => {
  const { ns, kubeconfig } = await setUp([one(objects, 'Job')]);
  const w = await watch(ns);
  const waiter = startWaiter(deployment, kubeconfig);
  await sleep(4000);
  expect({ running: waiter.running(), stderr: waiter.stderr() }).toEqual({ running: true, stderr: '' });
  expect(waiter.stdout()).toContain(`waiting for Job ${job} to complete`);

  await finishJobPod(ns, job, 0);
  const completeAt = await w.until('Complete', 60_000);
  const r = await waiter.exited;
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(lastLine(r.stdout)).toBe(`wait-for-migration: Job ${job} is complete`);
  // It did not leave before the Job was Complete (the admin watch saw it at most a few ms after the waiter's own watch).
  expect(r.endedAt).toBeGreaterThan(completeAt - 250);
  timing('waiter: Job Complete seen by an admin watch -> waiter exited 0', r.endedAt - completeAt);
});

test('exits non-zero with the Job\'s reason once the Job has Failed', async () => {
  const { ns, kubeconfig } = await setUp([one(objects, 'Job')]);
  const w = await watch(ns);
  const waiter = startWaiter(deployment, kubeconfig);
  await jobPods(ns, job);
  await sleep(1000);
  expect(waiter.running()).toBe(true);
  await finishJobPod(ns, job, 1);
  const failedAt = await w.until('Failed', 60_000);
  const r = await waiter.exited;
  expect(r.code).toBe(1);
  expect(lastLine(r.stderr)).toMatch(new RegExp(`^wait-for-migration: Job ${job} failed: BackoffLimitExceeded: .+\\. Next: kubectl logs job/${job}$`));
  const failed = condition(await getJson(['job', job], { namespace: ns }), 'Failed');
  expect(failed.reason).toBe('BackoffLimitExceeded');
  timing('waiter: Job Failed seen by an admin watch -> waiter exited 1', r.endedAt - failedAt);
});

test('gives up after waiter.notFoundTimeout when the Job does not exist', async () => {
  const { kubeconfig } = await setUp();
  const waiter = startWaiter(deployment, kubeconfig);
  const r = await waiter.exited;
  expect(r.code).toBe(1);
  expect(lastLine(r.stderr)).toMatch(new RegExp(`^wait-for-migration: Job ${job} not found after ${NOT_FOUND_SECONDS}s\\.`));
  expect(r.ms).toBeGreaterThanOrEqual(NOT_FOUND_SECONDS * 1000); // it did not give up before its bound
  timing(`waiter: no Job, notFoundTimeout ${NOT_FOUND_SECONDS}s -> waiter exited 1 after`, r.ms);
});

test('proceeds once a Job created late completes, even past the not-found bound', async () => {
  const { ns, kubeconfig } = await setUp();
  const w = await watch(ns);
  const waiter = startWaiter(deployment, kubeconfig);
  await sleep(2000);
  expect(waiter.running()).toBe(true);
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml([one(objects, 'Job')]) });
  await jobPods(ns, job);
  // Let the not-found bound pass: once the Job has been seen, it no longer applies.
  await sleep(Math.max(0, waiter.startedAt + NOT_FOUND_SECONDS * 1000 + 1500 - now()));
  expect({ running: waiter.running(), stderr: waiter.stderr() }).toEqual({ running: true, stderr: '' });
  await finishJobPod(ns, job, 0);
  const completeAt = await w.until('Complete', 60_000);
  const r = await waiter.exited;
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.ms).toBeGreaterThan(NOT_FOUND_SECONDS * 1000);
  timing('waiter: late Job Complete seen by an admin watch -> waiter exited 0', r.endedAt - completeAt);
});

test('exits non-zero when the Job is deleted mid-wait', async () => {
  const { ns, kubeconfig } = await setUp([one(objects, 'Job')]);
  const waiter = startWaiter(deployment, kubeconfig);
  await jobPods(ns, job);
  await sleep(3000);
  expect(waiter.running()).toBe(true);
  const deletedAt = now();
  await kubectl(['delete', 'job', job, '--wait=false'], { namespace: ns });
  const r = await waiter.exited;
  expect(r.code).toBe(1);
  expect(lastLine(r.stderr)).toBe(`wait-for-migration: Job ${job} was deleted before it completed`);
  timing('waiter: kubectl delete job issued -> waiter exited 1', r.endedAt - deletedAt);
});

describe('pipeline/wait-for-release.sh', () => {
  const SCRIPT = `${ROOT}/pipeline/wait-for-release.sh`;
  function run(ns: string, file: string): Proc {
    return start('bash', [SCRIPT, '-n', ns, '-t', '120s', '-f', file], {
      env: { ...process.env, KUBECONFIG: cluster().KUBECONFIG, PATH: `${kubectlBinDir()}:${process.env.PATH}` },
      timeoutMs: 180_000,
    });
  }
  async function release(): Promise<{ ns: string; file: string }> {
    const { ns } = await setUp();
    const file = path.join(tempDir('release'), 'release.k8s.yaml');
    fs.writeFileSync(file, toYaml(objects));
    await kubectl(['apply', '-f', file], { namespace: ns });
    return { ns, file };
  }

  test('waits for the Job to complete, then for the rollout', async () => {
    const { ns, file } = await release();
    const w = await watch(ns);
    const script = run(ns, file);
    await jobPods(ns, job);
    await sleep(1000);
    expect(script.running()).toBe(true);
    await finishJobPod(ns, job, 0);
    await w.until('Complete', 60_000);
    await waitFor(() => script.stdout().includes(`job.batch/${job} is complete`), 30_000, 'the script to see the Job complete');
    // It is now in `kubectl rollout status`: play the kubelet for the Deployment's pods.
    expect(script.running()).toBe(true);
    const pods = await waitFor(async () => {
      const list = await getJson(['pods', '-l', 'app.kubernetes.io/component=app'], { namespace: ns });
      return list.items.length === 2 ? list.items : undefined;
    }, 60_000, 'the Deployment\'s 2 pods');
    for (const pod of pods) await markPodReady(ns, pod);
    const r = await script.exited;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`deployment "${deployment.metadata.name}" successfully rolled out`);
  });

  test('fails at once, with the Job\'s reason, when the migration fails', async () => {
    const { ns, file } = await release();
    const w = await watch(ns);
    const script = run(ns, file);
    await jobPods(ns, job);
    await sleep(1000);
    expect(script.running()).toBe(true);
    await finishJobPod(ns, job, 1);
    const failedAt = await w.until('Failed', 60_000);
    const r = await script.exited;
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toMatch(new RegExp(`^job\\.batch/${job} failed: BackoffLimitExceeded: .*Next: kubectl logs --namespace ${ns} job\\.batch/${job}$`));
    expect(r.stdout).not.toContain('rolled out');
    timing('wait-for-release.sh: Job Failed seen by an admin watch -> script exited 1', r.endedAt - failedAt);
  });
});
