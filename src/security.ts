import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

/*
 * Pod Security Standards "restricted", by default, for every pod this library
 * renders: non-root, no privilege escalation, all capabilities dropped, the
 * RuntimeDefault seccomp profile, and a read-only root filesystem.
 */

/** The restricted container security context, with `overrides` on top. */
export function restrictedContainer(overrides: kplus.ContainerSecurityContextProps = {}): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    // cdk8s-plus-27's Capability enum has no member for the literal `ALL` that "restricted" requires.
    capabilities: { drop: ['ALL' as kplus.Capability] },
    ...overrides,
  };
}

/** The JSON path of a workload's pod spec. */
export function podSpecPath(workload: kplus.Workload): string {
  return workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
}

/** Where Kubernetes clients look for the in-cluster service account credentials. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * A patch adding a projected volume named `name` to the pod spec at `spec`:
 * what the kubelet would mount for an automounted token (a one-hour token of
 * the pod's ServiceAccount, `kube-root-ca.crt` and the namespace), for the one
 * container that needs it. cdk8s-plus-27 has no projected volumes.
 */
export function tokenVolume(spec: string, name: string): JsonPatch {
  return JsonPatch.add(`${spec}/volumes/-`, {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        // cdk8s-plus objects map patched JSON through their typed props, which spell it `downwardApi`.
        { downwardApi: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  });
}

/** A patch mounting the token volume `name` where clients look for it, in the container at `container` (a JSON path). */
export function tokenMount(container: string, name: string): JsonPatch {
  return JsonPatch.add(`${container}/volumeMounts/-`, { name, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true });
}

/** Sets the pod-level seccomp profile to RuntimeDefault, which cdk8s-plus-27 has no prop for. */
export function applySeccompProfile(workload: kplus.Workload): void {
  ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpecPath(workload)}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
}

/**
 * The Pod Security Standards "restricted" settings this library gives its own
 * pods, for your workloads too, such as those you `gate()`.
 */
export class Restricted {
  /**
   * Completes "restricted" for `workload`. cdk8s-plus already defaults its
   * containers to non-root, no privilege escalation and a read-only root
   * filesystem; this adds what it has no props for: the pod's RuntimeDefault
   * seccomp profile, and dropping ALL capabilities in every container and init
   * container the workload has when this is called. Call it after adding them.
   */
  public static applyTo(workload: kplus.Workload): void {
    applySeccompProfile(workload);
    const spec = podSpecPath(workload);
    const patch = (list: string, containers: kplus.Container[]) => containers.forEach((_, i) =>
      ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${spec}/${list}/${i}/securityContext/capabilities`, { drop: ['ALL'] })));
    patch('containers', workload.containers);
    patch('initContainers', workload.initContainers);
  }

  private constructor() {}
}
