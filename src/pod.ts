import * as kplus from 'cdk8s-plus-27';
import { addPullSecrets, makeSidecar } from './_pod-template';
import { OWN_LABEL_PREFIX } from './naming';
import { withDefaults, WORKLOAD_RESOURCES } from './resources';
import { restrictedContainer } from './security';
import { checkCommand, checkImage, checkLabelKey, checkLabels, checkSubdomain, checkYamlString, PropError } from './validation';

/*
 * What the library adds to the pods it renders on request: extra containers,
 * image pull secrets and pod metadata. What cdk8s-plus-27 has no API for is
 * in _pod-template.ts.
 */

/** Labels that the library sets on pod templates itself: selectors and the recommended labels rely on them. */
const RESERVED_LABEL_PREFIXES = ['app.kubernetes.io/', 'cdk8s.io/', OWN_LABEL_PREFIX];

/**
 * Adds `containers` to `workload` as init containers, restricted by default
 * (their `securityContext` is merged over it), pulled `IfNotPresent` unless
 * they say otherwise. With `sidecar`, each gets `restartPolicy: Always`: a
 * native sidecar, which starts before the containers that follow it and is
 * stopped once the pod's regular containers have exited, so a Job completes
 * (Kubernetes 1.29 and later; the feature is GA in 1.33).
 */
export function addExtraContainers(workload: kplus.Workload, prop: string, containers: kplus.ContainerProps[], sidecar: boolean): void {
  containers.forEach((c, i) => {
    const at = `${prop}[${i}]`;
    checkContainerName(`${at}.name`, c.name, workload);
    checkImage(`${at}.image`, c.image);
    checkCommand(`${at}.command`, c.command);
    const probes = { startupProbe: c.startup, readinessProbe: c.readiness, livenessProbe: c.liveness };
    if (!sidecar) {
      const probe = (['startup', 'readiness', 'liveness'] as const).find((k) => c[k] !== undefined);
      if (probe) throw new PropError(`${at}.${probe}`, 'an init container that runs to completion cannot have probes (a sidecar can)');
    }
    const props = {
      ...c,
      imagePullPolicy: c.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
      securityContext: restrictedContainer(c.securityContext),
      // Like the app's and the migration's container: requests and limits of CPU, memory and ephemeral storage.
      resources: withDefaults(workload, c.name!, c.resources, WORKLOAD_RESOURCES),
    };
    // cdk8s-plus-27 refuses probes on init containers, which native sidecars may have: they are patched in.
    const container = workload.addInitContainer({ ...props, startup: undefined, readiness: undefined, liveness: undefined });
    if (sidecar) makeSidecar(workload, container, probes);
  });
}

/** A container name: a DNS-1123 label, not taken by another container of the workload. */
function checkContainerName(prop: string, name: string | undefined, workload: kplus.Workload): void {
  if (typeof name !== 'string' || name.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    throw new PropError(prop, `must be a DNS label: at most 63 lower case letters, digits and '-' (got ${JSON.stringify(name)})`);
  }
  if ([...workload.initContainers, ...workload.containers].some((c) => c.name === name)) {
    throw new PropError(prop, `"${name}" is already the name of another container of ${workload.node.path}`);
  }
}

/** Adds `secrets` to the pod's `imagePullSecrets`, each once, after any `dockerRegistryAuth` it has. */
export function addImagePullSecrets(workload: kplus.Workload, prop: string, secrets: kplus.ISecret[]): void {
  addPullSecrets(workload, secrets.map((s, i) => checkSubdomain(`${prop}[${i}]`, s.name)));
}

/** Adds labels and annotations to the pod template. The labels the library sets itself cannot be changed. */
export function addPodMetadata(
  workload: kplus.Workload, prop: string, labels: { [key: string]: string } = {}, annotations: { [key: string]: string } = {},
): void {
  checkLabels(`${prop}Labels`, labels);
  for (const key of Object.keys(labels)) {
    if (RESERVED_LABEL_PREFIXES.some((p) => key.startsWith(p))) {
      throw new PropError(`${prop}Labels.${key}`, `the library sets the ${RESERVED_LABEL_PREFIXES.join(' and ')} labels itself`);
    }
  }
  for (const [key, value] of Object.entries(annotations)) {
    checkLabelKey(`${prop}Annotations.${key}`, key);
    checkYamlString(`${prop}Annotations.${key}`, value);
  }
  for (const key of Object.keys(labels).sort()) workload.podMetadata.addLabel(key, labels[key]);
  for (const key of Object.keys(annotations).sort()) workload.podMetadata.addAnnotation(key, annotations[key]);
}
