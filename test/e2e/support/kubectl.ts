/** Processes the suite starts (kubectl above all, with bounded waits), temp folders, and the namespaces of a run. */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { cluster, now, sleep } from './cluster';
import { buildEnv, ROOT } from './harness';
import type { Manifest } from '../../manifests';

/**
 * The kubectl to run, for the tests' own commands as for the waiter: the one
 * that test/e2e/cluster/build.sh builds at the default waiter image's version (the
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

/** Removes the temp folders (tokens, waiter HOMEs) and forgets the kubectl folder. */
export function removeTempDirs(): void {
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

/** Runs a command (a script that calls kubectl) with this run's kubectl first on PATH and the cluster's kubeconfig, in `cwd` (default the repository). */
export async function runWithKubectl(command: string, args: string[], cwd?: string): Promise<{ code: number | null; out: string; endedAt: number }> {
  const env = { ...process.env, KUBECONFIG: cluster().KUBECONFIG, PATH: `${kubectlBinDir()}:${process.env.PATH}` };
  const r = await start(command, args, { env, cwd, timeoutMs: 600_000 }).exited;
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

/**
 * Waits until every CRD in `crds` (their names) is Established. Polled: kubectl wait fails at
 * once, rather than waiting, on a CRD whose `status.conditions` is still null (seen with Flux's,
 * created while the API server was busy).
 */
export async function crdsEstablished(crds: string[]): Promise<void> {
  await waitFor(async () => (await kubectl(['wait', '--for=condition=Established', '--timeout=5s', ...crds.map((c) => `crd/${c}`)],
    { timeoutMs: 10_000, check: false })).code === 0, 60_000, `the CRDs ${crds.join(', ')} to be Established`);
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

/** Documents as a multi-document YAML stream, in order. */
export function toYaml(objects: object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
