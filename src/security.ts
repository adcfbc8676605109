import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

/**
 * The Pod Security Standards "restricted" settings this library gives every pod
 * it renders (non-root, no privilege escalation, all capabilities dropped,
 * RuntimeDefault seccomp, and a read-only root filesystem), for your own
 * workloads too, such as those you `gate()`.
 */
export class Restricted {
  /**
   * A container security context that meets "restricted", with `overrides` on top.
   * @param overrides settings to change, for example `user` for an image whose default user is root
   */
  public static containerSecurityContext(overrides: kplus.ContainerSecurityContextProps = {}): kplus.ContainerSecurityContextProps {
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

  /**
   * Sets the pod-level seccomp profile of `workload` to RuntimeDefault, which
   * cdk8s-plus-27 has no prop for, so that every container of the pod is covered.
   */
  public static applySeccompProfile(workload: kplus.Workload): void {
    ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpecPath(workload)}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
  }
}

/** The JSON path of a workload's pod spec. */
export function podSpecPath(workload: kplus.Workload): string {
  return workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
}
