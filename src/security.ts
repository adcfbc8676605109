import * as kplus from 'cdk8s-plus-27';
import { ALL_CAPABILITIES, dropAllCapabilities, podSeccompProfile } from './_pod-template';

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
    capabilities: { drop: [ALL_CAPABILITIES] },
    ...overrides,
  };
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
    podSeccompProfile(workload);
    for (const c of [...workload.containers, ...workload.initContainers]) dropAllCapabilities(workload, c);
  }

  private constructor() {}
}
