import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

/*
 * Pod Security Standards "restricted", by default, for every pod this library
 * renders: non-root, no privilege escalation, all capabilities dropped, the
 * RuntimeDefault seccomp profile and a read-only root filesystem.
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

/**
 * Sets the pod-level seccomp profile to RuntimeDefault (cdk8s-plus-27 has no
 * prop for it), so that every container of the pod is covered.
 */
export function restrictPod(workload: kplus.Workload): void {
  ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpecPath(workload)}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
}

