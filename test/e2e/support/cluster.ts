/** The cluster of this run, and the suite's clock: when things happen, and how long they took (printed, never asserted). */
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { ClusterInfo, readClusterInfo } from './harness';

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
