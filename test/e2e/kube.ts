/**
 * Helpers of the e2e suite (and of `bench/waiter.ts`): kubectl against the
 * control plane that globalSetup started, bounded waits, in-process synthesis,
 * a stand-in kubelet that patches pod status, service-account kubeconfigs,
 * and the waiter script run exactly as the Deployment renders it.
 *
 * Free of jest globals, so that the benchmark can use it too.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { Chart, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { ClusterInfo, readClusterInfo, ROOT } from './harness';
import { MigratedApplication, MigratedApplicationProps } from '../../src';
import { one } from '../manifests';
import type { Manifest } from '../manifests';

export { ROOT };

/** A synthesized (or fetched) Kubernetes object. */
export type { Manifest } from '../manifests';
export { ofKind, one } from '../manifests';

// ---------------------------------------------------------------- the cluster

let clusterInfo: ClusterInfo | undefined;

/** The control plane of this run (globalSetup puts its cluster.json in E2E_CLUSTER_JSON). */
export function cluster(): ClusterInfo {
  if (!clusterInfo) {
    const file = process.env.E2E_CLUSTER_JSON;
    if (!file) throw new Error('E2E_CLUSTER_JSON is not set: run the suite with `npm run e2e` (jest --config test/e2e/jest.config.json)');
    clusterInfo = readClusterInfo(file);
  }
  return clusterInfo;
}

/** Points the helpers at a cluster started some other way (the benchmark). */
export function useCluster(info: ClusterInfo): void {
  clusterInfo = info;
}

/** Epoch milliseconds, sub-millisecond resolution, on the same clock as `Date` and the audit log. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Records a timing for the summary that globalTeardown prints, and prints it
 * now. Timings are for reading, never asserted.
 */
export function timing(label: string, ms: number, extra = ''): void {
  const line = `  ${label.padEnd(72)} ${(ms / 1000).toFixed(3).padStart(8)} s${extra ? `  ${extra}` : ''}\n`;
  process.stderr.write(`e2e timing: ${line.trimStart()}`);
  const file = process.env.E2E_CLUSTER_JSON;
  if (file) fs.appendFileSync(path.join(path.dirname(file), 'timings.txt'), line);
}

// ---------------------------------------------------------------- kubectl

/**
 * The kubectl to run. gcloud's `kubectl` is a dispatcher that asks the server
 * for /version on every call and then runs `kubectl.1.XX` next to it; the real
 * binary is used directly (one request less per call, as in the waiter image).
 * `E2E_KUBECTL` overrides.
 */
export const KUBECTL = resolveKubectl();

function resolveKubectl(): string {
  if (process.env.E2E_KUBECTL) return process.env.E2E_KUBECTL;
  const which = spawnSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf-8' });
  const onPath = which.stdout.trim();
  if (!onPath) throw new Error('kubectl is not on PATH (or set E2E_KUBECTL)');
  const version = spawnSync(onPath, ['version', '--client'], { encoding: 'utf-8' }).stdout ?? '';
  const m = /Client Version: v(\d+)\.(\d+)\.\d+-dispatcher/.exec(version);
  if (m) {
    const real = path.join(path.dirname(fs.realpathSync(onPath)), `kubectl.${m[1]}.${m[2]}`);
    if (fs.existsSync(real)) return real;
  }
  return onPath;
}

const tempDirs: string[] = [];
/** A fresh folder under the system's temp folder, removed by `cleanUp()`. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `e2e-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

let binDir: string | undefined;
/** A folder whose `kubectl` is KUBECTL, to put first on the PATH of scripts. */
export function kubectlBinDir(): string {
  if (!binDir) {
    binDir = tempDir('bin');
    fs.symlinkSync(KUBECTL, path.join(binDir, 'kubectl'));
  }
  return binDir;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process exited, epoch ms (see `now()`). */
  readonly endedAt: number;
  readonly ms: number;
}

/** A process started by the harness, in its own process group. */
export interface Proc {
  readonly pid: number;
  readonly startedAt: number;
  readonly exited: Promise<RunResult>;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  running(): boolean;
  /** Kills the whole process group (the waiter's kubectl too). */
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<Proc>();

/** Kills every process group the helpers started that is still running. */
export function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
}

/** Kills what is still running, and removes the temp folders (tokens, waiter HOMEs). Call it in afterAll. */
export function cleanUp(): void {
  killAll();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  binDir = undefined;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
  /** Kill after this long (the result then has code null). */
  readonly timeoutMs?: number;
}

export function start(command: string, args: string[], options: StartOptions = {}): Proc {
  const startedAt = now();
  const child: ChildProcess = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd ?? ROOT,
    detached: true, // own process group: kill(-pid) reaches the children too
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let done = false;
  child.stdout!.setEncoding('utf-8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf-8').on('data', (d: string) => { err += d; });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.input ?? '');
  const pid = child.pid!;
  const kill = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (done) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<RunResult>((resolve, reject) => {
    child.on('error', (e) => { done = true; live.delete(proc); reject(e); });
    child.on('exit', (code, signal) => {
      const endedAt = now();
      done = true;
      if (timer) clearTimeout(timer);
      // Whatever the process left behind in its group goes too.
      try { process.kill(-pid, 'SIGKILL'); } catch { /* none left */ }
      live.delete(proc);
      // 'exit' can come before the last output; 'close' follows once the pipes are drained.
      child.once('close', () => resolve({ code, signal, stdout: out, stderr: err, endedAt, ms: endedAt - startedAt }));
    });
  });
  const proc: Proc = { pid, startedAt, exited, stdout: () => out, stderr: () => err, running: () => !done, kill };
  live.add(proc);
  if (options.timeoutMs) timer = setTimeout(() => kill('SIGKILL'), options.timeoutMs);
  return proc;
}

export interface KubectlOptions {
  readonly namespace?: string;
  /** Sent on stdin (use with `-f -`). */
  readonly input?: string;
  /** Defaults to the admin kubeconfig. */
  readonly kubeconfig?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
  /** Throw on a non-zero exit (default true). */
  readonly check?: boolean;
}

/** Runs kubectl against the cluster. */
export async function kubectl(args: string[], options: KubectlOptions = {}): Promise<RunResult> {
  const full = [...options.namespace ? ['--namespace', options.namespace] : [], ...args];
  const r = await start(KUBECTL, full, {
    env: { ...process.env, KUBECONFIG: options.kubeconfig ?? cluster().KUBECONFIG },
    input: options.input,
    timeoutMs: options.timeoutMs ?? 60_000,
  }).exited;
  if ((options.check ?? true) && r.code !== 0) {
    throw new Error(`kubectl ${full.join(' ')} exited with ${r.code ?? r.signal}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** `kubectl get ... -o json`, parsed. */
export async function getJson(args: string[], options: KubectlOptions = {}): Promise<any> {
  return JSON.parse((await kubectl(['get', ...args, '-o', 'json'], options)).stdout);
}

/** The object, or undefined when it does not exist. */
export async function tryGet(namespace: string, resource: string, name: string): Promise<any | undefined> {
  const r = await kubectl(['get', resource, name, '-o', 'json', '--ignore-not-found'], { namespace });
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

/**
 * Polls `cond` every `intervalMs` until it returns a truthy value, which it
 * returns; throws after `timeoutMs`, naming `what` and the last error.
 */
export async function waitFor<T>(cond: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number, what: string, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `; last error: ${(last as Error).message ?? last}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

const RUN_ID = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
/**
 * A namespace name for this run: `base` plus a short suffix, so that a rerun
 * against a reused control plane (E2E_REUSE_CLUSTER) starts from scratch too.
 */
export function namespaceName(base: string): string {
  return `${base}-${RUN_ID}`;
}

/** Creates namespaces (and waits until each has its `default` ServiceAccount and `kube-root-ca.crt`, as pods need). */
export async function createNamespaces(...names: string[]): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: toYaml(names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }))) });
  for (const ns of names) {
    await waitFor(async () => (await kubectl(['get', 'serviceaccount/default', 'configmap/kube-root-ca.crt'], { namespace: ns, check: false })).code === 0,
      60_000, `ServiceAccount default and ConfigMap kube-root-ca.crt in namespace ${ns}`);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time (the box has 2 cores). */
export async function inPool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ---------------------------------------------------------------- manifests

/** Synthesizes what `build` adds to a fresh chart, in-process, from ../../src. */
export function synthChart(build: (chart: Chart) => void): Manifest[] {
  const chart = new Chart(Testing.app({ outdir: tempDir('synth') }), 'e2e'); // nothing is written there: only toJson()
  build(chart);
  return Testing.synth(chart) as Manifest[];
}

/** One MigratedApplication, synthesized. */
export function synthApp(props: MigratedApplicationProps): Manifest[] {
  return synthChart((chart) => new MigratedApplication(chart, props.name ?? 'app', props));
}

/** Documents as a multi-document YAML stream, in order. */
export function toYaml(objects: object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export function jobNameOf(objects: Manifest[]): string {
  return one(objects, 'Job').metadata.name;
}

/** The wait-for init container of a workload manifest (or a pod). */
export function waiterOf(workload: Manifest): any {
  const spec = workload.kind === 'Pod' ? workload.spec : workload.spec.template.spec;
  const waiters = (spec.initContainers ?? []).filter((c: any) => /^wait-for-/.test(c.name));
  if (waiters.length !== 1) throw new Error(`${workload.kind}/${workload.metadata.name}: expected one wait-for init container, found ${waiters.length}`);
  return waiters[0];
}

/** The value of an env var of a container (literal values only). */
export function envOf(container: any, name: string): string | undefined {
  return (container.env ?? []).find((e: any) => e.name === name)?.value;
}

// ---------------------------------------------------------------- a stand-in kubelet

/** The pods of a Job, once the Job controller has made at least one. */
export async function jobPods(namespace: string, job: string, timeoutMs = 60_000): Promise<any[]> {
  return waitFor(async () => {
    const list = await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace });
    return list.items.length > 0 ? list.items : undefined;
  }, timeoutMs, `a pod of Job ${namespace}/${job}`);
}

function rfc3339(t = Date.now()): string {
  return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}

function terminated(name: string, exitCode: number): any {
  const t = rfc3339();
  return {
    name,
    image: 'x',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: t, finishedAt: t } },
  };
}

async function patchStatus(namespace: string, pod: string, status: object): Promise<void> {
  await kubectl(['patch', 'pod', pod, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })], { namespace });
}

/** What a kubelet reports when every container of the pod exited with `exitCode` (Succeeded for 0, Failed otherwise). */
export async function markPodFinished(namespace: string, pod: any, exitCode: number): Promise<void> {
  await patchStatus(namespace, pod.metadata.name, {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    containerStatuses: pod.spec.containers.map((c: any) => terminated(c.name, exitCode)),
  });
}

/** Marks the (first) pod of a Job Succeeded or Failed, once the Job controller has made it. Returns the pod. */
export async function finishJobPod(namespace: string, job: string, exitCode: number): Promise<any> {
  const [pod] = await jobPods(namespace, job);
  await markPodFinished(namespace, pod, exitCode);
  return pod;
}

/** What a kubelet reports once the init containers succeeded and every container runs and is ready. */
export async function markPodReady(namespace: string, pod: any): Promise<void> {
  const t = rfc3339();
  const trueCondition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: t });
  await patchStatus(namespace, pod.metadata.name, {
    phase: 'Running',
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(trueCondition),
    initContainerStatuses: (pod.spec.initContainers ?? []).map((c: any) => ({ ...terminated(c.name, 0), ready: true })),
    containerStatuses: pod.spec.containers.map((c: any) => ({
      name: c.name, image: c.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: t } },
    })),
  });
}

/** What a kubelet reports when an init container failed (`Init:Error`). */
export async function markInitFailed(namespace: string, pod: any, initContainer: string, exitCode: number, message: string): Promise<void> {
  const t = rfc3339();
  await patchStatus(namespace, pod.metadata.name, {
    phase: 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: t },
      { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', lastProbeTime: null, lastTransitionTime: t },
      { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', lastProbeTime: null, lastTransitionTime: t },
      { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastProbeTime: null, lastTransitionTime: t },
    ],
    initContainerStatuses: (pod.spec.initContainers ?? []).map((c: any) => c.name === initContainer
      ? { name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state: { terminated: { exitCode, reason: 'Error', message, startedAt: t, finishedAt: t } } }
      : { ...terminated(c.name, 0), ready: true }),
    containerStatuses: pod.spec.containers.map((c: any) => ({
      name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason: 'PodInitializing' } },
    })),
  });
}

export function isReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

export function condition(obj: any, type: string): any | undefined {
  return (obj?.status?.conditions ?? []).find((c: any) => c.type === type);
}

// ---------------------------------------------------------------- service accounts and the waiter

/**
 * A kubeconfig that authenticates with a token of ServiceAccount `sa` from
 * `kubectl create token`, with `namespace` as the context's default, as the
 * in-cluster config of a pod gives kubectl. Returns its path.
 */
export async function tokenKubeconfig(namespace: string, sa: string): Promise<string> {
  const token = (await kubectl(['create', 'token', sa, '--duration=1h'], { namespace })).stdout.trim();
  const c = cluster();
  const file = path.join(tempDir('sa'), 'kubeconfig');
  fs.writeFileSync(file, toYaml([{
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { 'server': c.E2E_APISERVER, 'certificate-authority': c.E2E_CA_FILE } }],
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: sa, namespace } }],
    ['current-context']: 'e2e',
  }]), { mode: 0o600 });
  return file;
}

/** The last line of a process's output, trimmed. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/**
 * Runs the workload's wait-for init container as rendered: its `command`
 * and literal `env`, with KUBECONFIG (a service-account token) instead of the
 * in-cluster credentials, KUBECTL first on PATH, and a fresh folder for HOME
 * (in the pod, HOME=/tmp is an emptyDir).
 */
export function startWaiter(workload: Manifest, kubeconfig: string, timeoutMs = 120_000): Proc {
  const init = waiterOf(workload);
  const env: NodeJS.ProcessEnv = {};
  for (const e of init.env ?? []) {
    if (e.value === undefined) throw new Error(`init container ${init.name}: env ${e.name} is not a literal value`);
    env[e.name] = e.value;
  }
  env.HOME = tempDir('waiter-home');
  env.KUBECONFIG = kubeconfig;
  env.PATH = `${kubectlBinDir()}:${process.env.PATH}`;
  const [command, ...args] = init.command;
  return start(command, args, { env, timeoutMs });
}

// ---------------------------------------------------------------- an admin watch

export interface WatchEvent { readonly type: string; readonly at: number; readonly object: any }

/**
 * An admin watch on one Job, in this process: records when each condition
 * first shows status True, to the sub-millisecond, on the clock of `now()`.
 */
export class JobWatch {
  /** Opens the watch; resolves once the API server has answered (the watch is established). */
  public static open(namespace: string, job: string): Promise<JobWatch> {
    return new Promise((resolve, reject) => {
      const c = cluster();
      const pki = path.join(c.E2E_CLUSTER_DIR, 'pki');
      const url = new URL(`${c.E2E_APISERVER}/apis/batch/v1/namespaces/${namespace}/jobs`);
      url.searchParams.set('watch', 'true');
      url.searchParams.set('fieldSelector', `metadata.name=${job}`);
      const w = new JobWatch(job);
      // Bounded: the API server must answer within 30 s (the watch itself may then stay idle for long).
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`watch ${namespace}/${job}: no answer from the API server within 30s`));
      }, 30_000);
      const req = https.request(url, {
        method: 'GET',
        ca: fs.readFileSync(c.E2E_CA_FILE),
        cert: fs.readFileSync(path.join(pki, 'admin.crt')),
        key: fs.readFileSync(path.join(pki, 'admin.key')),
      }, (res) => {
        clearTimeout(timer);
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${namespace}/${job}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf-8');
        res.on('data', (chunk: string) => w.feed(chunk));
        res.on('end', () => { w.ended = true; });
        resolve(w);
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        if (!w.closed) reject(e);
      });
      req.end();
      w.req = req;
    });
  }

  public readonly events: WatchEvent[] = [];
  /** Epoch ms at which each condition type was first seen True. */
  public readonly firstTrue: { [type: string]: number } = {};
  public ended = false;
  private closed = false;
  private buffer = '';
  private req?: ReturnType<typeof https.request>;

  private constructor(public readonly job: string) {}

  private feed(chunk: string): void {
    const at = now();
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line);
      this.events.push({ type: e.type, at, object: e.object });
      for (const cond of e.object?.status?.conditions ?? []) {
        if (cond.status === 'True' && this.firstTrue[cond.type] === undefined) this.firstTrue[cond.type] = at;
      }
    }
  }

  /** Waits until condition `type` has shown True; returns when it was first seen. */
  public async until(type: string, timeoutMs: number): Promise<number> {
    return waitFor(() => this.firstTrue[type], timeoutMs, `condition ${type}=True on Job ${this.job}`, 20);
  }

  public close(): void {
    this.closed = true;
    this.req?.destroy();
  }
}

// ---------------------------------------------------------------- the audit log

export interface AuditEvent {
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly userAgent?: string;
  readonly user: { readonly username: string };
  readonly objectRef?: { readonly resource?: string; readonly subresource?: string; readonly namespace?: string; readonly name?: string };
  readonly responseStatus?: { readonly code?: number };
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
  readonly auditID: string;
}

/** The audit log's events so far (JSON lines; a partly written last line is skipped). */
export function readAudit(): AuditEvent[] {
  const text = fs.readFileSync(cluster().E2E_AUDIT_LOG, 'utf-8');
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      // the line being written
    }
  }
  return events;
}

/** An audit timestamp (RFC 3339 with microseconds) as epoch ms with the microseconds kept. */
export function auditTime(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return Date.parse(ts);
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}
