/**
 * Waiter benchmark: how fast the wait-for init container lets a pod go once
 * the migration Job is Complete, and how many API requests a waiting pod
 * makes, beside the polling loop most charts use today (k8s-wait-for style:
 * `kubectl get job NAME -o jsonpath=...` every 2 s).
 *
 *   npx ts-node --project bench/tsconfig.json bench/waiter.ts
 *   npx ts-node --project bench/tsconfig.json bench/waiter.ts --trials 30 --wait 90
 *
 * It starts its own control plane with the e2e harness (test/e2e/build.sh,
 * then cluster.sh up into test/e2e/.run/bench-*), and stops it on exit, on
 * failure and on SIGINT/SIGTERM. Both waiters run here as processes, with a
 * token of their own ServiceAccount (`kubectl create token`), exactly the
 * script the Deployment renders for the library's. A stand-in kubelet marks
 * the Job's pod Succeeded; the Job controller then sets Complete.
 *
 * (a) Release latency: waiter exit (seen here) minus the moment the Job
 *     turned Complete, taken two ways: when an admin watch opened here saw the
 *     condition, and the audit log's stageTimestamp of the job-controller's
 *     status write that set it. Trials run one at a time.
 * (b) Requests: every audit event (ResponseComplete; a watch is one, logged
 *     when it ends) of each waiter's ServiceAccount during one long wait.
 *
 * Figures are printed, never asserted. Exits non-zero only if a waiter does
 * not exit 0 once its Job is Complete.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MigratedApplication } from '../src';
import { buildControlPlane, ClusterInfo, upCluster } from '../test/e2e/harness';
import {
  AuditEvent, auditTime, finishJobPod, JobWatch, cleanUp, kubectl, KUBECTL, kubectlBinDir, Manifest, now, one, Proc, sleep, start, startWaiter,
  synthChart, tempDir, tokenKubeconfig, toYaml, useCluster, waitFor, waiterOf,
} from '../test/e2e/kube';

const NS = 'bench';

/** The polling loop most charts use (k8s-wait-for and hand-written init containers): a GET every 2 s. */
const POLL_SCRIPT = `set -uo pipefail
job="\${MIGRATION_JOB:?}"
echo "polling Job \${job} every 2s"
while true; do
  state=$(kubectl get job "\${job}" -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}|{.status.conditions[?(@.type=="Failed")].status}') || state='|'
  case "\${state}" in
    True\\|*) echo "Job \${job} is complete"; exit 0 ;;
    *\\|True) echo "Job \${job} failed" >&2; exit 1 ;;
  esac
  sleep 2
done
`;

type Approach = 'watch' | 'poll';
const APPROACHES: Approach[] = ['watch', 'poll'];
const LABEL: { [a in Approach]: string } = { watch: 'watch (this library)', poll: 'poll every 2 s (kubectl get)' };

function parseArgs(argv: string[]): { trials: number; waitSeconds: number } {
  let trials = 20;
  let waitSeconds = 65;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--trials') trials = Number(argv[++i]);
    else if (argv[i] === '--wait') waitSeconds = Number(argv[++i]);
    else throw new Error(`usage: bench/waiter.ts [--trials N] [--wait SECONDS] (got ${argv[i]})`);
  }
  if (!(trials >= 1) || !(waitSeconds >= 30)) throw new Error('--trials must be >= 1 and --wait >= 30 (the steady state starts 10 s in)');
  return { trials, waitSeconds };
}

/** Reads the audit log as it grows. */
class AuditTail {
  public readonly events: AuditEvent[] = [];
  private offset = 0;
  private rest = '';
  constructor(private readonly file: string) {}

  public poll(): AuditEvent[] {
    const fd = fs.openSync(this.file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.rest + buf.toString('utf-8')).split('\n');
      this.rest = lines.pop() ?? '';
      const fresh = lines.filter((l) => l).map((l) => JSON.parse(l) as AuditEvent);
      this.events.push(...fresh);
      return fresh;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Waits for an event matching `pred` (among all read so far, then new ones). */
  public async until(pred: (e: AuditEvent) => boolean, timeoutMs: number, what: string): Promise<AuditEvent> {
    return waitFor(() => {
      this.poll();
      return this.events.find(pred);
    }, timeoutMs, what, 25);
  }
}

function saUser(sa: string): string {
  return `system:serviceaccount:${NS}:${sa}`;
}

/** One application per waiter: its own ServiceAccount, RBAC and Job (no Deployment: its init container runs here). */
function synthAll(names: string[]): { objects: Manifest[]; deployments: Map<string, Manifest>; jobs: Map<string, string> } {
  const objects = synthChart((chart) => {
    for (const name of names) new MigratedApplication(chart, name, { name, image: 'example/bench:1.0.0', replicas: 1 });
  });
  const deployments = new Map<string, Manifest>();
  const jobs = new Map<string, string>();
  for (const name of names) {
    const own = objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/instance'] === name);
    deployments.set(name, one(own, 'Deployment'));
    jobs.set(name, one(own, 'Job').metadata.name);
  }
  return { objects: objects.filter((o) => o.kind !== 'Deployment' && o.kind !== 'Service'), deployments, jobs };
}

/** Starts one waiter of either kind, as the app's ServiceAccount. */
function startApproach(approach: Approach, deployment: Manifest, kubeconfig: string): Proc {
  if (approach === 'watch') return startWaiter(deployment, kubeconfig, 600_000);
  const job = waiterOf(deployment).env.find((e: any) => e.name === 'MIGRATION_JOB').value;
  return start('bash', ['-c', POLL_SCRIPT], {
    env: {
      MIGRATION_JOB: job,
      HOME: tempDir('poll-home'),
      KUBECONFIG: kubeconfig,
      PATH: `${kubectlBinDir()}:${process.env.PATH}`,
    },
    timeoutMs: 600_000,
  });
}

interface Trial {
  readonly approach: Approach;
  readonly name: string;
  readonly job: string;
  /** Epoch ms: the admin watch saw Complete=True. */
  readonly completeSeen: number;
  /** Epoch ms: the waiter process exited (0). */
  readonly exited: number;
  /** Epoch ms: stageTimestamp of the job-controller's status write that set Complete (filled in from the audit log). */
  completeAudit?: number;
}

function stats(values: number[]): { median: number; mean: number; max: number; min: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return {
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    max: s[s.length - 1],
    min: s[0],
  };
}

const ms = (v: number) => `${v.toFixed(0).padStart(6)} ms`;

async function main(): Promise<void> {
  const { trials, waitSeconds } = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  buildControlPlane();
  const running = upCluster('bench', cleanUp);
  let failed = false;
  try {
    const info: ClusterInfo = running.info;
    useCluster(info);
    const audit = new AuditTail(info.E2E_AUDIT_LOG);
    process.stderr.write(`bench: control plane ${info.E2E_K8S_VERSION} up in ${((Date.now() - t0) / 1000).toFixed(1)}s; kubectl ${KUBECTL}\n`);

    // Every waiter gets its own application (ServiceAccount, RBAC, Job), all applied up front.
    const names = [
      ...APPROACHES.flatMap((a) => Array.from({ length: trials }, (_, i) => `${a}-${i + 1}`)),
      ...APPROACHES.map((a) => `${a}-rate`),
    ];
    const { objects, deployments, jobs } = synthAll(names);
    await kubectl(['create', 'namespace', NS]);
    await waitFor(async () => (await kubectl(['get', 'serviceaccount/default'], { namespace: NS, check: false })).code === 0, 60_000, 'ServiceAccount bench/default');
    await kubectl(['apply', '-f', '-'], { namespace: NS, input: toYaml(objects), timeoutMs: 180_000 });
    const kubeconfigs = new Map<string, string>();
    for (const name of names) kubeconfigs.set(name, await tokenKubeconfig(NS, name));
    process.stderr.write(`bench: ${names.length} applications applied, tokens made (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`);

    // (a) Release latency, one trial at a time.
    const results: Trial[] = [];
    for (const approach of APPROACHES) {
      for (let i = 1; i <= trials; i++) {
        const name = `${approach}-${i}`;
        const job = jobs.get(name)!;
        const w = await JobWatch.open(NS, job);
        try {
          const proc = startApproach(approach, deployments.get(name)!, kubeconfigs.get(name)!);
          // Wait until it is really waiting: the watch is open, or the first GET is done.
          await audit.until((e) => e.user.username === saUser(name) && e.objectRef?.resource === 'jobs'
            && (approach === 'watch' ? e.verb === 'watch' && e.stage === 'ResponseStarted' : e.verb === 'get' && e.stage === 'ResponseComplete'),
          30_000, `${name} to start waiting`);
          // Land the Job's completion at a random phase of the poll loop (and a random moment for the watch).
          await sleep(Math.random() * (approach === 'poll' ? 2200 : 500));
          if (!proc.running()) throw new Error(`${name} exited early: ${proc.stderr()}`);
          await finishJobPod(NS, job, 0);
          const completeSeen = await w.until('Complete', 60_000);
          const r = await proc.exited;
          if (r.code !== 0) throw new Error(`${name} exited with ${r.code}: ${r.stderr}`);
          results.push({ approach, name, job, completeSeen, exited: r.endedAt });
          process.stderr.write(`bench: ${name}: released ${(r.endedAt - completeSeen).toFixed(0)} ms after the admin watch saw Complete\n`);
        } finally {
          w.close();
        }
      }
    }

    // (b) Requests during one long wait, both approaches side by side.
    const rate = new Map<Approach, { proc: Proc; startedAt: number }>();
    for (const approach of APPROACHES) {
      const name = `${approach}-rate`;
      rate.set(approach, { proc: startApproach(approach, deployments.get(name)!, kubeconfigs.get(name)!), startedAt: now() });
    }
    process.stderr.write(`bench: both waiters waiting ${waitSeconds}s on a running Job...\n`);
    await sleep(waitSeconds * 1000);
    const waitEnd = now();
    for (const approach of APPROACHES) {
      if (!rate.get(approach)!.proc.running()) throw new Error(`${approach}-rate exited during the wait: ${rate.get(approach)!.proc.stderr()}`);
    }
    await Promise.all(APPROACHES.map((a) => finishJobPod(NS, jobs.get(`${a}-rate`)!, 0)));
    const ends = new Map<Approach, number>();
    for (const approach of APPROACHES) {
      const r = await rate.get(approach)!.proc.exited;
      if (r.code !== 0) throw new Error(`${approach}-rate exited with ${r.code}: ${r.stderr}`);
      ends.set(approach, r.endedAt);
    }
    await sleep(1500); // the audit log's last events of the closed watches
    audit.poll();

    // The job-controller's status write that set Complete: the last one received before the admin watch saw it.
    for (const t of results) {
      const writes = audit.events.filter((e) => e.stage === 'ResponseComplete' && e.user.username === 'system:serviceaccount:kube-system:job-controller'
        && e.objectRef?.resource === 'jobs' && e.objectRef.subresource === 'status' && e.objectRef.name === t.job
        && e.responseStatus?.code === 200 && auditTime(e.requestReceivedTimestamp) <= t.completeSeen);
      const last = writes[writes.length - 1];
      if (last) t.completeAudit = auditTime(last.stageTimestamp);
    }

    // ---------------------------------------------------------------- report
    const out: string[] = [];
    out.push('');
    out.push(`Waiter benchmark: control plane ${info.E2E_K8S_VERSION} on 127.0.0.1 (no kubelet), ${os.cpus().length} CPUs, kubectl ${path.basename(KUBECTL)}`);
    out.push('');
    out.push(`(a) Release latency: waiter exit minus the Job turning Complete, ${trials} trials each, one at a time`);
    out.push(`    ${'approach'.padEnd(30)} ${'Complete taken from'.padEnd(34)} ${'median'.padStart(9)} ${'mean'.padStart(9)} ${'max'.padStart(9)} ${'min'.padStart(9)}`);
    for (const approach of APPROACHES) {
      const mine = results.filter((t) => t.approach === approach);
      const fromWatch = stats(mine.map((t) => t.exited - t.completeSeen));
      out.push(`    ${LABEL[approach].padEnd(30)} ${'admin watch (seen here)'.padEnd(34)} ${ms(fromWatch.median)} ${ms(fromWatch.mean)} ${ms(fromWatch.max)} ${ms(fromWatch.min)}`);
      const audited = mine.filter((t) => t.completeAudit !== undefined);
      if (audited.length > 0) {
        const fromAudit = stats(audited.map((t) => t.exited - t.completeAudit!));
        out.push(`    ${''.padEnd(30)} ${`audit: job-controller write (${audited.length})`.padEnd(34)} ${ms(fromAudit.median)} ${ms(fromAudit.mean)} ${ms(fromAudit.max)} ${ms(fromAudit.min)}`);
      }
    }
    out.push('');
    out.push(`(b) API requests of one waiting pod, from the audit log (user system:serviceaccount:${NS}:<sa>; ResponseComplete events plus watches still open)`);
    out.push(`    ${'approach'.padEnd(30)} ${'waited'.padStart(8)} ${'requests'.padStart(9)} ${'per minute'.padStart(11)} ${'steady/min'.padStart(11)}   by verb`);
    for (const approach of APPROACHES) {
      const { startedAt } = rate.get(approach)!;
      const end = ends.get(approach)!;
      const mine = audit.events.filter((e) => e.user.username === saUser(`${approach}-rate`));
      // Every finished request, plus any watch still open (logged ResponseStarted, not yet ResponseComplete).
      const completed = new Set(mine.filter((e) => e.stage === 'ResponseComplete').map((e) => e.auditID));
      const events = mine.filter((e) => e.stage === 'ResponseComplete' || (e.stage === 'ResponseStarted' && !completed.has(e.auditID)));
      const minutes = (end - startedAt) / 60_000;
      // Steady state: requests received from 10 s into the wait until the Job was completed (start-up discovery excluded).
      const steady = events.filter((e) => {
        const received = auditTime(e.requestReceivedTimestamp);
        return received >= startedAt + 10_000 && received <= waitEnd;
      });
      const steadyMinutes = (waitEnd - startedAt - 10_000) / 60_000;
      const verbs: { [v: string]: number } = {};
      for (const e of events) verbs[e.verb] = (verbs[e.verb] ?? 0) + 1;
      out.push(`    ${LABEL[approach].padEnd(30)} ${`${((end - startedAt) / 1000).toFixed(1)} s`.padStart(8)} ${String(events.length).padStart(9)} `
        + `${(events.length / minutes).toFixed(1).padStart(11)} ${(steady.length / steadyMinutes).toFixed(1).padStart(11)}   `
        + Object.entries(verbs).map(([v, n]) => `${v} ${n}`).join(', '));
    }
    out.push('');
    out.push(`Total run ${((Date.now() - t0) / 1000).toFixed(0)} s. Audit log: ${info.E2E_AUDIT_LOG}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } catch (e) {
    failed = true;
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  } finally {
    cleanUp();
    running.down();
  }
  process.exitCode = failed ? 1 : 0;
}

void main();
