/**
 * The control plane that globalSetup started, for globalTeardown: both run in
 * jest's main process, which loads this module once for the two of them.
 */
import { RunningCluster } from './harness';

const KEY = Symbol.for('cdk8s-migrated-app.e2e.cluster');
type Holder = { [KEY]?: RunningCluster };

export function setCluster(cluster: RunningCluster): void {
  (globalThis as Holder)[KEY] = cluster;
}

export function takeCluster(): RunningCluster | undefined {
  const cluster = (globalThis as Holder)[KEY];
  delete (globalThis as Holder)[KEY];
  return cluster;
}
