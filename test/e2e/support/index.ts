/**
 * Helpers of the e2e suite (and of the benchmarks in bench/), one module per
 * concern: the cluster and the clock, kubectl and processes, in-process
 * synthesis, pods, service accounts and the waiter, API watches, and the
 * audit log. Free of jest globals, so that the benchmarks can use them too.
 */
import { killAll, removeTempDirs } from './kubectl';
import { closeWatches } from './watch';

export { ROOT } from './harness';
export type { Manifest } from '../../manifests';
export { ofKind, one } from '../../manifests';
export * from './cluster';
export * from './kubectl';
export * from './synth';
export * from './pods';
export * from './waiter';
export * from './watch';
export * from './audit';

/** Kills what is still running, closes the watches, and removes the temp folders (tokens, waiter HOMEs). Call it in afterAll. */
export function cleanUp(): void {
  killAll();
  closeWatches();
  removeTempDirs();
}
