import { ApiObject, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

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
 * Gives the container at `path` (a JSON pointer into `workload`) requests and
 * limits of CPU, memory and ephemeral storage: `given`, resource by resource,
 * over `defaults`. Returns the resources to pass to cdk8s-plus, which renders
 * ephemeral storage in whole gibibytes only (cdk8s-plus-27 Container._toKube,
 * `toGibibytes()`), so the default one is patched in, in mebibytes.
 */
export function withDefaults(workload: kplus.Workload, path: string, given: kplus.ContainerResources | undefined,
  defaults: DefaultResources): kplus.ContainerResources {
  const cpu = given?.cpu ?? defaults.cpu;
  const memory = given?.memory ?? defaults.memory;
  if (given?.ephemeralStorage) return { cpu, memory, ephemeralStorage: given.ephemeralStorage };
  // cdk8s-plus objects map patched JSON through their typed props, in which a quantity is `{ value }`.
  const storage = { requests: { value: `${defaults.ephemeralStorageMebibytes.request}Mi` }, limits: { value: `${defaults.ephemeralStorageMebibytes.limit}Mi` } };
  const rendered = { requests: Boolean(cpu.request || memory.request), limits: Boolean(cpu.limit || memory.limit) };
  const api = ApiObject.of(workload);
  if (!rendered.requests && !rendered.limits) {
    api.addJsonPatch(JsonPatch.add(`${path}/resources`, {
      requests: { 'ephemeral-storage': storage.requests },
      limits: { 'ephemeral-storage': storage.limits },
    }));
  } else {
    for (const kind of ['requests', 'limits'] as const) {
      api.addJsonPatch(rendered[kind]
        ? JsonPatch.add(`${path}/resources/${kind}/ephemeral-storage`, storage[kind])
        : JsonPatch.add(`${path}/resources/${kind}`, { 'ephemeral-storage': storage[kind] }));
    }
  }
  return { cpu, memory };
}
