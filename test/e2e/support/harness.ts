/**
 * Starting and stopping the e2e control plane from Node: `build.sh`, then
 * `cluster.sh up` into a fresh run folder, and `cluster.sh down` on every way
 * out (normal end, failure, SIGINT/SIGTERM/SIGHUP, process exit). Used by the
 * jest globalSetup/globalTeardown and by `bench/waiter.ts`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const E2E_DIR = path.resolve(__dirname, '..');
export const ROOT = path.resolve(E2E_DIR, '..', '..');
export const RUN_ROOT = path.join(E2E_DIR, '.run');
const CLUSTER_SH = path.join(E2E_DIR, 'cluster', 'cluster.sh');
const BUILD_SH = path.join(E2E_DIR, 'cluster', 'build.sh');

/** What `cluster.sh up` writes into `DIR/cluster.json`. */
export interface ClusterInfo {
  readonly KUBECONFIG: string;
  readonly E2E_CLUSTER_DIR: string;
  readonly E2E_APISERVER: string;
  readonly E2E_CA_FILE: string;
  readonly E2E_AUDIT_LOG: string;
  readonly E2E_K8S_VERSION: string;
  readonly E2E_ETCD_VERSION: string;
  readonly [key: string]: string;
}

export function readClusterInfo(file: string): ClusterInfo {
  return JSON.parse(fs.readFileSync(file, 'utf-8')) as ClusterInfo;
}

const scriptEnvs = new Map<string, { [key: string]: string }>();
/** What `script --env` prints (KEY=value lines), parsed once per process. */
function scriptEnv(script: string): { [key: string]: string } {
  let env = scriptEnvs.get(script);
  if (!env) {
    const r = spawnSync(script, ['--env'], { encoding: 'utf-8', cwd: ROOT });
    if (r.status !== 0) throw new Error(`${path.relative(ROOT, script)} --env failed: ${r.stderr}`);
    // Lines of KEY=value, the value quoted by printf %q (paths here have no characters that need it).
    env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^'(.*)'$/, '$1')]));
    scriptEnvs.set(script, env);
  }
  return env;
}

/** What `build.sh --env` prints: the paths of the binaries (KUBELET, WAITER_KUBECTL, ...) and their versions. Builds nothing. */
export function buildEnv(): { [key: string]: string } {
  return scriptEnv(BUILD_SH);
}

/** What `images/build.sh --env` prints: the images' names and where the archives and the load generator are. Builds nothing. */
export function imagesEnv(): { [key: string]: string } {
  return scriptEnv(path.join(E2E_DIR, 'images', 'build.sh'));
}

/** Runs build.sh (a no-op once the binaries are built), with its output on our stderr. */
export function buildControlPlane(): void {
  const r = spawnSync(BUILD_SH, [], { stdio: ['ignore', process.stderr, process.stderr], cwd: ROOT });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`test/e2e/cluster/build.sh failed with exit code ${r.status}`);
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/**
 * Removes run folders of this kind (`<prefix>-*`) left by earlier runs, once
 * they are over an hour old and none of their components is running.
 */
function removeStaleRuns(prefix: string): void {
  if (!fs.existsSync(RUN_ROOT)) return;
  for (const name of fs.readdirSync(RUN_ROOT)) {
    if (!name.startsWith(`${prefix}-`)) continue;
    const dir = path.join(RUN_ROOT, name);
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs < 3600_000) continue;
      const status = spawnSync(CLUSTER_SH, ['status', dir], { stdio: 'ignore' });
      // status exits 0 only if every component runs; skip a folder where any still does.
      const pids = fs.readdirSync(dir).filter((f) => f.endsWith('.pid'));
      if (status.status !== 0 && pids.length === 0) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // another run may be cleaning up too
    }
  }
}

/** A control plane started by this process. `down()` is idempotent. */
export interface RunningCluster {
  readonly dir: string;
  readonly infoFile: string;
  readonly info: ClusterInfo;
  down(): void;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Starts a control plane in `test/e2e/.run/<prefix>-<time>-<pid>` and makes
 * sure it is stopped whatever happens to this process afterwards.
 * `beforeDown` runs first, for example to end processes that would otherwise
 * outlive a signal (a polling loop does not end when the API server goes away;
 * a watch does).
 */
export function upCluster(prefix: string, beforeDown?: () => void): RunningCluster {
  removeStaleRuns(prefix);
  fs.mkdirSync(RUN_ROOT, { recursive: true });
  const dir = path.join(RUN_ROOT, `${prefix}-${stamp()}-${process.pid}`);
  let stopped = false;
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\ne2e harness: ${signal}: stopping the control plane in ${dir}\n`);
    down();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
  };
  const onExit = () => down();
  function down(): void {
    if (stopped) return;
    stopped = true;
    try {
      beforeDown?.();
    } catch (e) {
      process.stderr.write(`e2e harness: ${(e as Error).message}\n`);
    }
    const r = spawnSync(CLUSTER_SH, ['down', dir], { stdio: ['ignore', process.stderr, process.stderr] });
    if (r.status !== 0) process.stderr.write(`e2e harness: cluster.sh down ${dir} exited with ${r.status}\n`);
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.removeListener('exit', onExit);
  }
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', onExit);

  const r = spawnSync(CLUSTER_SH, ['up', dir], { stdio: ['ignore', process.stderr, process.stderr], cwd: ROOT });
  if (r.error || r.status !== 0) {
    down(); // cluster.sh cleans up after a failed start itself; this is belt and braces
    throw new Error(`test/e2e/cluster/cluster.sh up ${dir} failed (${r.error?.message ?? `exit code ${r.status}`}); logs in ${dir}/logs`);
  }
  const infoFile = path.join(dir, 'cluster.json');
  return { dir, infoFile, info: readClusterInfo(infoFile), down };
}
