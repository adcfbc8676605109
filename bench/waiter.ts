/**
 * Waiter benchmark, on the e2e cluster's real node: how fast a gated pod goes
 * once its migration Job is Complete, how fast it fails once the migration
 * has failed, and how many API requests a waiting pod makes; beside the
 * polling loop most charts use today (k8s-wait-for style: `kubectl get job`
 * every 2 s), run in the same run.
 *
 *   npm run bench:waiter                    # 20 trials, a 65 s wait for the request count (about 5 min)
 *   npm run bench:waiter -- --quick         # 3 trials, a 15 s wait: CI's check that it still runs
 *   npm run bench:waiter -- --trials 40 --wait 120
 *
 * It starts its own cluster with the e2e harness (build.sh, then cluster.sh up
 * into test/e2e/.run/bench-*) and stops it on exit, on failure and on signals.
 *
 * - The library's waiter runs in the pod, as rendered. Its exit is the time
 *   stamp the container runtime put on its last log line ("condition met", or
 *   kubectl's error), and the app container's start is that of the app's first
 *   line: `kubectl logs --timestamps`, nanoseconds, this machine's clock.
 * - The Job's Complete and FailureTarget are when an admin watch opened here
 *   saw them; the migration's failure is the time stamp of its last log line.
 * - The polling loop has no shell to run in the kubectl image, so it runs here,
 *   with a token of a ServiceAccount of its own; its exit is seen here.
 * - Requests: the audit log's events for each ServiceAccount while its Job
 *   runs for the whole wait.
 *
 * Trials run one at a time. Figures are printed, never asserted. It exits
 * non-zero only if a waiter does not end the way its Job did.
 */
import * as fs from 'fs';
import { Duration } from 'cdk8s';
import {
  ApiWatch, AuditEvent, cleanUp, createNamespaces, getJson, jobNameOf, kubectl, Manifest, now, one, preciseTime, readAudit, start, synthApp,
  tokenKubeconfig,
  toYaml, useCluster, waitFor,
} from '../test/e2e/support';
import { buildControlPlane, upCluster } from '../test/e2e/support/harness';
import { withoutQueue } from '../test/manifests';

const NS = 'bench';

/** The polling loop of most wait-for charts: a GET every 2 s until Complete or Failed. */
const POLL = `while true; do
  s=$(kubectl get job "$JOB" -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}|{.status.conditions[?(@.type=="Failed")].status}') || s='|'
  case "$s" in True\\|*) exit 0 ;; *\\|True) exit 1 ;; esac
  sleep 2
done`;

interface Options { readonly trials: number; readonly failures: number; readonly waitSeconds: number }

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const get = (flag: string) => (argv.includes(flag) ? Number(argv[argv.indexOf(flag) + 1]) : undefined);
  for (const a of argv) if (a.startsWith('--') && !['--quick', '--trials', '--wait'].includes(a)) throw new Error(`usage: bench/waiter.ts [--quick] [--trials N] [--wait SECONDS] (got ${a})`);
  const trials = get('--trials') ?? (quick ? 3 : 20);
  return { trials, failures: Math.max(1, Math.round(trials / 4)), waitSeconds: get('--wait') ?? (quick ? 15 : 65) };
}

/** One application `name` whose migration runs the test image with `args`. */
function app(name: string, args: string[]): Manifest[] {
  return synthApp({
    name,
    image: 'e2e.local/app:1.0.0',
    replicas: 1,
    migration: { image: 'e2e.local/migrate:1.0.0', args, activeDeadline: Duration.minutes(5) },
  });
}

/**
 * A container's log lines with the runtime's time stamps, as epoch ms
 * (sub-millisecond); those of its previous run if the kubelet has started it
 * again since (a failed init container is restarted with back-off).
 */
async function logLines(pod: string, container: string): Promise<Array<{ at: number; text: string }>> {
  let r = await kubectl(['logs', pod, '-c', container, '--timestamps'], { namespace: NS });
  if (!r.stdout.trim()) r = await kubectl(['logs', pod, '-c', container, '--timestamps', '--previous'], { namespace: NS });
  return r.stdout.trim().split('\n').filter((l) => l).map((l) => {
    const [stamp, ...rest] = l.split(' ');
    return { at: preciseTime(stamp), text: rest.join(' ') };
  });
}

const last = (lines: Array<{ at: number; text: string }>) => lines[lines.length - 1];

/** The app's one pod, once its app container runs (or its waiter failed, when `failed`). */
async function appPod(name: string, failed = false): Promise<any> {
  return waitFor(async () => {
    const [pod] = (await getJson(['pods', '-l', `app.kubernetes.io/instance=${name},app.kubernetes.io/component=app`], { namespace: NS })).items;
    const waiter = pod?.status?.initContainerStatuses?.[1];
    const done = failed ? waiter?.state?.terminated ?? waiter?.lastState?.terminated : pod?.status?.containerStatuses?.[0]?.state?.running;
    return done ? pod : undefined;
  }, 180_000, `the pod of ${name}`);
}

/**
 * Applies application `name` with a ServiceAccount `<name>-poll` for the
 * polling loop, bound to the same Role so that their requests are told apart.
 */
async function applyWithPoller(name: string, objects: Manifest[]): Promise<void> {
  const poller = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `${name}-poll` }, automountServiceAccountToken: false };
  // The release's reader binding, not the migration queue's.
  one(withoutQueue(objects), 'RoleBinding').subjects.push({ kind: 'ServiceAccount', name: `${name}-poll` });
  await kubectl(['apply', '-f', '-'], { namespace: NS, input: toYaml([poller, ...objects]) });
}

/** The polling loop, here, with a token of `name`'s ServiceAccount. */
async function startPoll(name: string, job: string) {
  const kubeconfig = await tokenKubeconfig(NS, name);
  return start('bash', ['-c', POLL], { env: { ...process.env, JOB: job, KUBECONFIG: kubeconfig }, timeoutMs: 600_000 });
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const f = (v: number) => `${v.toFixed(0)} ms`;
  return `${f(median)} / ${f(sorted[sorted.length - 1])}`.padEnd(20);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  buildControlPlane();
  const cluster = upCluster('bench', () => cleanUp());
  useCluster(cluster.info);
  await createNamespaces(NS);
  const started = now();
  const release = { waiterExit: [] as number[], appStart: [] as number[], poll: [] as number[] };
  const failure = { fromPodFailed: [] as number[], fromTarget: [] as number[], poll: [] as number[] };
  let problems = 0;

  for (let i = 0; i < o.trials + o.failures; i++) {
    const failing = i >= o.trials;
    const name = `t${i}`;
    const objects = app(name, failing ? ['--sleep=3s', '--fail=constraint violated'] : ['--sleep=3s']);
    const job = jobNameOf(objects);
    await applyWithPoller(name, objects);
    const w = await ApiWatch.job(NS, job);
    const poll = await startPoll(`${name}-poll`, job);
    const ended = await w.until(failing ? 'FailureTarget' : 'Complete', 180_000);
    const polled = await poll.exited;
    const pod = await appPod(name, failing);
    w.close();
    const waiter = last(await logLines(pod.metadata.name, `wait-for-${name}-job-complete`));
    const ok = failing ? waiter.text.startsWith('error: given jsonpath expression matches more than one value') : waiter.text === `job.batch/${job} condition met`;
    if (!ok || polled.code !== (failing ? 1 : 0)) {
      process.stderr.write(`trial ${name}: waiter said ${JSON.stringify(waiter.text)}, poll exited ${polled.code}\n`);
      problems++;
      continue;
    }
    if (failing) {
      const [migrationPod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace: NS })).items;
      const migrationFailed = last(await logLines(migrationPod.metadata.name, 'migrate'));
      failure.fromPodFailed.push(waiter.at - migrationFailed.at);
      failure.fromTarget.push(waiter.at - ended);
      failure.poll.push(polled.endedAt - ended);
    } else {
      release.waiterExit.push(waiter.at - ended);
      release.appStart.push(last(await logLines(pod.metadata.name, 'app')).at - ended);
      release.poll.push(polled.endedAt - ended);
    }
    process.stderr.write(`trial ${i + 1}/${o.trials + o.failures} ${failing ? 'failing' : 'succeeding'}: done\n`);
  }

  // Requests: a Job that runs for the whole wait, a pod waiting for it, and the poller beside it.
  const name = 'requests';
  const objects = app(name, [`--sleep=${o.waitSeconds}s`]);
  const since = now();
  await applyWithPoller(name, objects);
  const poll = await startPoll(`${name}-poll`, jobNameOf(objects));
  await poll.exited;
  await appPod(name);
  await new Promise((r) => setTimeout(r, 1500)); // the audit log's last events of the closed watch
  const events = readAudit().filter((e: AuditEvent) => e.stage === 'ResponseComplete' && Date.parse(e.requestReceivedTimestamp) >= since - 1000);
  const count = (sa: string) => events.filter((e) => e.user.username === `system:serviceaccount:${NS}:${sa}`);
  const describe = (list: AuditEvent[]) => {
    const kinds = new Map<string, number>();
    for (const e of list) {
      const what = e.objectRef?.resource ? `${e.verb} ${e.objectRef.resource}` : 'discovery';
      kinds.set(what, (kinds.get(what) ?? 0) + 1);
    }
    return `${list.length} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`;
  };

  const lines = [
    `Waiter benchmark on the real node: ${o.trials} succeeding and ${o.failures} failing migrations, one at a time; ${((now() - started) / 1000).toFixed(0)} s`,
    '',
    '| from | to | this library (in the pod): median / max | poll every 2 s (here): median / max |',
    '| --- | --- | --- | --- |',
    `| Job Complete | waiter exits 0 | ${stats(release.waiterExit)} | ${stats(release.poll)} |`,
    `| Job Complete | app container starts | ${stats(release.appStart)} | |`,
    `| migration pod fails (its last log line) | waiter exits 1 | ${stats(failure.fromPodFailed)} | |`,
    `| Job FailureTarget | waiter exits 1 | ${stats(failure.fromTarget)} | ${stats(failure.poll)} (at Failed) |`,
    '',
    `API requests while waiting ${o.waitSeconds} s for a running Job:`,
    `- this library, both init containers of one pod: ${describe(count(name))}`,
    `- poll every 2 s: ${describe(count(`${name}-poll`))}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  fs.appendFileSync(`${cluster.dir}/bench.txt`, `${lines.join('\n')}\n`);
  cluster.down();
  if (problems > 0) throw new Error(`${problems} trial(s) did not end the way their Job did`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
