import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ephemeralStorageMebibytes } from './_pod-template';

/** Requests and limits of a container, ephemeral storage in mebibytes. */
export interface DefaultResources {
  readonly cpu: kplus.CpuResources;
  readonly memory: kplus.MemoryResources;
  readonly ephemeralStorageMebibytes: { readonly request: number; readonly limit: number };
}

/**
 * The app's and the migration's: cdk8s-plus-27's own CPU and memory defaults,
 * and ephemeral storage, which covers the container's logs and its `/tmp` emptyDir.
 */
export const WORKLOAD_RESOURCES: DefaultResources = {
  cpu: { request: kplus.Cpu.millis(1000), limit: kplus.Cpu.millis(1500) },
  memory: { request: Size.mebibytes(512), limit: Size.mebibytes(2048) },
  ephemeralStorageMebibytes: { request: 64, limit: 1024 },
};

/**
 * Gives the container named `container` (about to be added to `workload`)
 * requests and limits of CPU, memory and ephemeral storage: `given`, resource
 * by resource, over `defaults`. Returns the resources to pass to cdk8s-plus,
 * which renders ephemeral storage in whole gibibytes only, so the default one
 * is set in mebibytes by the library.
 */
export function withDefaults(workload: kplus.Workload, container: string, given: kplus.ContainerResources | undefined,
  defaults: DefaultResources): kplus.ContainerResources {
  const cpu = given?.cpu ?? defaults.cpu;
  const memory = given?.memory ?? defaults.memory;
  if (given?.ephemeralStorage) return { cpu, memory, ephemeralStorage: given.ephemeralStorage };
  ephemeralStorageMebibytes(workload, container, defaults.ephemeralStorageMebibytes);
  return { cpu, memory };
}
