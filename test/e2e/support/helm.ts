/**
 * Helm v4 (test/e2e/modules/helm/go.mod, built by build.sh) as
 * helm.e2e.test.ts and bench/appliers.ts run it: its own config, cache and
 * data folders, this run's cluster, and charts that wrap synthesized
 * manifests as examples/helm/README.md does by hand. Free of jest globals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildEnv } from './harness';
import { cluster, kubectlBinDir, Manifest, RunResult, start, tempDir, toYaml } from './index';

export const HELM = buildEnv().HELM;

let helmHome: string | undefined;
/** helm's environment: this cluster, its own config/cache/data folders, and this run's kubectl and helm first on PATH. */
export function helmEnv(): NodeJS.ProcessEnv {
  helmHome ??= tempDir('helm-home');
  const bin = kubectlBinDir();
  if (!fs.existsSync(path.join(bin, 'helm'))) fs.symlinkSync(HELM, path.join(bin, 'helm'));
  return {
    ...process.env,
    KUBECONFIG: cluster().KUBECONFIG,
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
    PATH: `${bin}:${process.env.PATH}`,
  };
}

export function helm(args: string[]): Promise<RunResult> {
  return start(HELM, args, { env: helmEnv(), timeoutMs: 600_000 }).exited;
}

/** A chart folder `name` that wraps `objects` as its only template, as examples/helm/README.md does by hand. */
export function chart(name: string, objects: Manifest[], version: string): string {
  const dir = tempDir('chart');
  fs.mkdirSync(path.join(dir, 'templates'));
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: 0.1.0\nappVersion: "${version}"\n`);
  fs.writeFileSync(path.join(dir, 'templates', `${name}.k8s.yaml`), toYaml(objects));
  return dir;
}

/** `helm upgrade --install <name>` of `objects` as a chart, with `--wait --timeout 5m` and `flags`. */
export function upgrade(name: string, ns: string, objects: Manifest[], version: string, ...flags: string[]): Promise<RunResult> {
  return helm(['upgrade', '--install', name, chart(name, objects, version), '--namespace', ns, '--wait', '--timeout', '5m', ...flags]);
}
