/**
 * Helpers of the e2e suite (and of the benchmarks in bench/): kubectl against
 * the control plane that globalSetup started, bounded waits, in-process
 * synthesis, service-account kubeconfigs, the waiter run on the host as the
 * Deployment renders it, API watches, and the audit log.
 *
 * Free of jest globals, so that the benchmarks can use it too.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { Chart, Duration, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { stringify } from 'yaml';
import { buildEnv, ClusterInfo, readClusterInfo, ROOT } from './harness';
import { MigratedApplication, MigratedApplicationProps } from '../../src';
import { one, WAITER } from '../manifests';
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
 * The kubectl to run, for the tests' own commands as for the waiter: the one
 * that test/e2e/build.sh builds at the default waiter image's version (the
 * machine's kubectl is older, and not that binary). `E2E_KUBECTL` overrides.
 */
export const KUBECTL = process.env.E2E_KUBECTL ?? buildEnv().WAITER_KUBECTL;

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
  for (const w of [...watches]) w.close();
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

/** Runs a command (a script that calls kubectl) with this run's kubectl first on PATH and the cluster's kubeconfig. */
export async function runWithKubectl(command: string, args: string[]): Promise<{ code: number | null; out: string; endedAt: number }> {
  const env = { ...process.env, KUBECONFIG: cluster().KUBECONFIG, PATH: `${kubectlBinDir()}:${process.env.PATH}` };
  const r = await start(command, args, { env, timeoutMs: 600_000 }).exited;
  return { code: r.code, out: `${r.stdout}${r.stderr}`, endedAt: r.endedAt };
}

/** `pipeline/wait-for-release.sh` with `args`, as a pipeline runs it (see `runWithKubectl`). */
export function waitForRelease(args: string[]): ReturnType<typeof runWithKubectl> {
  return runWithKubectl('bash', [path.join(ROOT, 'pipeline', 'wait-for-release.sh'), ...args]);
}

/** Writes `objects` to a fresh `<prefix>.k8s.yaml`, as `cdk8s synth` would, for the commands that take a file; returns its path. */
export function manifestsFile(prefix: string, objects: Manifest[]): string {
  const file = path.join(tempDir(prefix), `${prefix}.k8s.yaml`);
  fs.writeFileSync(file, toYaml(objects));
  return file;
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

/** On every namespace of this run, so that each test file can delete its own when it ends. */
export const RUN_LABEL = { 'e2e.cdk8s-migrated-app/run': RUN_ID };

/**
 * Deletes this run's namespaces and waits until they are gone, so that their
 * pods free the node's CPU for the next test file (the node has 2 cores).
 * `E2E_KEEP_NAMESPACES=1` keeps them.
 */
export async function deleteNamespaces(): Promise<void> {
  if (process.env.E2E_KEEP_NAMESPACES) return; // to look at them after a failure, with E2E_REUSE_CLUSTER
  await kubectl(['delete', 'namespaces', '-l', `e2e.cdk8s-migrated-app/run=${RUN_ID}`, '--wait=true'], { timeoutMs: 180_000 });
}

/** The label with which the API server's own admission enforces Pod Security "restricted" in a namespace. */
export const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted' };

/**
 * Creates namespaces that enforce Pod Security "restricted", and waits until
 * each has its `default` ServiceAccount and `kube-root-ca.crt`, as pods need.
 */
export async function createNamespaces(...names: string[]): Promise<void> {
  const namespaces = names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...RESTRICTED, ...RUN_LABEL } } }));
  await kubectl(['apply', '-f', '-'], { input: toYaml(namespaces) });
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

/** Small requests, so that many test pods fit the 2-core node (cdk8s-plus's defaults request a whole CPU a container). */
export const SMALL: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(10) },
  memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) },
};

/** One MigratedApplication, synthesized; the app and the migration get SMALL resources unless `props` say otherwise. */
export function synthApp(props: MigratedApplicationProps): Manifest[] {
  return synthChart((chart) => new MigratedApplication(chart, props.name ?? 'app', {
    resources: SMALL,
    ...props,
    migration: { resources: SMALL, ...props.migration },
  }));
}

/** Options of `appRelease()`. */
export interface AppReleaseOptions {
  /** The app's name. */
  readonly name?: string;
  /** The migration's active deadline. */
  readonly activeDeadline?: Duration;
  /** The waiter's bound on a missing Job. */
  readonly notFoundTimeout?: Duration;
  /** More props, over these. */
  readonly props?: Partial<MigratedApplicationProps>;
  /** The chart's and the construct's ids, which must not matter. */
  readonly ids?: [string, string];
}

/**
 * Release `version` of the e2e app (`e2e.local/app`, 2 replicas, ready once it
 * answers), migrated by `e2e.local/migrate:<version>` with `migrateArgs`.
 */
export function appRelease(version: string, migrateArgs: string[], options: AppReleaseOptions = {}): Manifest[] {
  const small = { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } };
  const activeDeadline = options.activeDeadline ?? Duration.seconds(60);
  const props: MigratedApplicationProps = {
    name: options.name ?? 'shop',
    image: `e2e.local/app:${version}`,
    args: [`--version=${version}`],
    replicas: 2,
    ports: [{ number: 8080, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
    resources: small,
    migration: {
      image: `e2e.local/migrate:${version}`,
      args: [`--version=${version}`, ...migrateArgs],
      activeDeadline,
      resources: small,
      waiter: options.notFoundTimeout ? { notFoundTimeout: options.notFoundTimeout } : undefined,
    },
    progressDeadline: Duration.seconds(activeDeadline.toSeconds() + 30),
    ...options.props,
  };
  const [chartId, id] = options.ids ?? ['e2e', props.name!];
  const chart = new Chart(Testing.app({ outdir: tempDir('synth') }), chartId);
  new MigratedApplication(chart, id, props);
  return Testing.synth(chart) as Manifest[];
}

/** Documents as a multi-document YAML stream, in order. */
export function toYaml(objects: object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export function jobNameOf(objects: Manifest[]): string {
  return one(objects, 'Job').metadata.name;
}

// ---------------------------------------------------------------- pods

/** The pods of a Job, once the Job controller has made at least one. */
export async function jobPods(namespace: string, job: string, timeoutMs = 60_000): Promise<any[]> {
  return waitFor(async () => {
    const list = await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace });
    return list.items.length > 0 ? list.items : undefined;
  }, timeoutMs, `a pod of Job ${namespace}/${job}`);
}

export function isReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** The image of a pod's first (the app's) container. */
export const imageOf = (pod: any): string => pod.spec.containers[0].image;

/**
 * Waits until Deployment `name` has exactly `replicas` pods, all updated and
 * available, and as many ready pods of `image` (matching `selector`) that are
 * not terminating; returns those.
 */
export async function rolledOut(namespace: string, name: string, selector: string, image: string, replicas = 2): Promise<any[]> {
  return waitFor(async () => {
    const d = await getJson(['deployment', name], { namespace });
    const pods = (await getJson(['pods', '-l', selector], { namespace })).items
      .filter((p: any) => imageOf(p) === image && isReady(p) && !p.metadata.deletionTimestamp);
    const done = d.status?.updatedReplicas === replicas && d.status?.availableReplicas === replicas && d.status?.replicas === replicas;
    return done && pods.length === replicas ? pods : undefined;
  }, 180_000, `Deployment ${namespace}/${name} available with ${replicas} pods of ${image}`);
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

/** The waiter's init containers of a workload manifest (or a pod), in order. */
export function waitersOf(workload: Manifest): any[] {
  const spec = workload.kind === 'Pod' ? workload.spec : workload.spec.template.spec;
  const waiters = (spec.initContainers ?? []).filter((c: any) => WAITER.test(c.name));
  if (waiters.length !== 2) throw new Error(`${workload.kind}/${workload.metadata.name}: expected two waiter init containers, found ${waiters.length}`);
  return waiters;
}

/** How a run of the waiter ended: which container ended it, and how. */
export interface WaiterResult extends RunResult {
  /** The name of the last container that ran. */
  readonly container: string;
}

/** The waiter, running here as the kubelet runs it in a pod. */
export interface WaiterRun {
  readonly startedAt: number;
  readonly exited: Promise<WaiterResult>;
  running(): boolean;
  /** The container running now. */
  current(): string;
}

/**
 * Runs the workload's waiter init containers as rendered, in order, each
 * until it exits, stopping at the first that fails, as the kubelet does: the
 * image's entrypoint (KUBECTL, the same version) with the container's `args`
 * and literal `env`, KUBECONFIG holding a service-account token instead of the
 * in-cluster credentials, and a fresh HOME shared by both (an emptyDir in the pod).
 */
export function startWaiter(workload: Manifest, kubeconfig: string, timeoutMs = 180_000): WaiterRun {
  const home = tempDir('waiter-home');
  const startedAt = now();
  let proc: Proc | undefined;
  let current = '';
  let done = false;
  const run = async (): Promise<WaiterResult> => {
    let result: WaiterResult | undefined;
    for (const c of waitersOf(workload)) {
      if (c.command) throw new Error(`init container ${c.name} has a command; the kubectl image's entrypoint must be kept`);
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      for (const e of c.env ?? []) {
        if (e.value === undefined) throw new Error(`init container ${c.name}: env ${e.name} is not a literal value`);
        env[e.name] = e.value;
      }
      env.HOME = home;
      env.KUBECONFIG = kubeconfig;
      current = c.name;
      proc = start(KUBECTL, c.args, { env, timeoutMs });
      result = { ...await proc.exited, container: c.name };
      if (result.code !== 0) break;
    }
    done = true;
    return { ...result!, ms: result!.endedAt - startedAt };
  };
  return { startedAt, exited: run(), running: () => !done, current: () => current };
}

// ---------------------------------------------------------------- an admin watch

export interface WatchEvent { readonly type: string; readonly at: number; readonly object: any }

/**
 * An admin watch, in this process, on the objects of one resource in a
 * namespace (`jobs`, `pods`...) that match a field or label selector: records
 * every event, and when each condition first shows status True, to the
 * sub-millisecond, on the clock of `now()`.
 */
export class ApiWatch {
  /** A watch on the one Job named `job`. */
  public static job(namespace: string, job: string): Promise<ApiWatch> {
    return ApiWatch.open(namespace, 'apis/batch/v1', 'jobs', { fieldSelector: `metadata.name=${job}` });
  }

  /** A watch on the pods that match `labelSelector`. */
  public static pods(namespace: string, labelSelector: string): Promise<ApiWatch> {
    return ApiWatch.open(namespace, 'api/v1', 'pods', { labelSelector });
  }

  /** Opens the watch; resolves once the API server has answered (the watch is established). */
  public static open(namespace: string, group: string, resource: string, params: { [key: string]: string }): Promise<ApiWatch> {
    return new Promise((resolve, reject) => {
      const c = cluster();
      const pki = path.join(c.E2E_CLUSTER_DIR, 'pki');
      const url = new URL(`${c.E2E_APISERVER}/${group}/namespaces/${namespace}/${resource}`);
      url.searchParams.set('watch', 'true');
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      const w = new ApiWatch(`${resource} ${JSON.stringify(params)} in ${namespace}`);
      // Bounded: the API server must answer within 30 s (the watch itself may then stay idle for long).
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`watch ${w.what}: no answer from the API server within 30s`));
      }, 30_000);
      const req = https.request(url, {
        method: 'GET',
        ca: fs.readFileSync(c.E2E_CA_FILE),
        cert: fs.readFileSync(path.join(pki, 'admin.crt')),
        key: fs.readFileSync(path.join(pki, 'admin.key')),
      }, (res) => {
        clearTimeout(timer);
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${w.what}: HTTP ${res.statusCode}`));
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
      watches.add(w);
    });
  }

  public readonly events: WatchEvent[] = [];
  /** Epoch ms at which each condition type was first seen True (on any of the objects). */
  public readonly firstTrue: { [type: string]: number } = {};
  public ended = false;
  private closed = false;
  private buffer = '';
  private req?: ReturnType<typeof https.request>;

  private constructor(public readonly what: string) {}

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
    return waitFor(() => this.firstTrue[type], timeoutMs, `condition ${type}=True on ${this.what}`, 20);
  }

  /** When each object (by name) was first seen, and when it was deleted. */
  public lifetimes(): Map<string, { added: number; deleted?: number; object: any }> {
    const seen = new Map<string, { added: number; deleted?: number; object: any }>();
    for (const e of this.events) {
      const name = e.object?.metadata?.name;
      if (!name) continue;
      const entry = seen.get(name) ?? { added: e.at, object: e.object };
      if (e.type === 'DELETED') entry.deleted = e.at;
      entry.object = e.object;
      seen.set(name, entry);
    }
    return seen;
  }

  public close(): void {
    this.closed = true;
    watches.delete(this);
    this.req?.destroy();
  }
}

const watches = new Set<ApiWatch>();

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

/**
 * An RFC 3339 time with fractional seconds (the audit log's microseconds, the
 * container runtime's nanoseconds in `kubectl logs --timestamps`) as epoch ms,
 * with the fraction kept.
 */
export function preciseTime(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return Date.parse(ts);
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}
