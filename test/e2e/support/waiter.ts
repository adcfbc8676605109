/** Service-account kubeconfigs, and the waiter run on the host exactly as a workload renders it. */
import * as fs from 'fs';
import * as path from 'path';
import { cluster, now } from './cluster';
import { KUBECTL, kubectl, Proc, RunResult, start, tempDir, toYaml } from './kubectl';
import { WAITER } from '../../manifests';
import type { Manifest } from '../../manifests';

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
export function startWaiter(workload: Manifest, kubeconfig: string, timeoutMs = 180_000, kubectlPath = KUBECTL): WaiterRun {
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
      proc = start(kubectlPath, c.args, { env, timeoutMs });
      result = { ...await proc.exited, container: c.name };
      if (result.code !== 0) break;
    }
    done = true;
    return { ...result!, ms: result!.endedAt - startedAt };
  };
  return { startedAt, exited: run(), running: () => !done, current: () => current };
}
