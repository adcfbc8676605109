import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { withDefaults, WORKLOAD_RESOURCES } from './resources';
import { podSpecPath, restrictedContainer } from './security';
import { checkCommand, checkImage, checkLabelKey, checkLabels, checkSubdomain, checkYamlString, PropError } from './validation';

/*
 * What the library adds to the pods it renders on request: extra containers,
 * image pull secrets and pod metadata. cdk8s-plus-27 (2.9.5) has no prop for
 * a container's `restartPolicy` (native sidecars) and takes a single
 * `dockerRegistryAuth` at construction only, so those two are patched in.
 */

/** Labels that the library sets on pod templates itself: selectors and the recommended labels rely on them. */
const RESERVED_LABEL_PREFIXES = ['app.kubernetes.io/', 'cdk8s.io/'];

/**
 * Adds `containers` to `workload` as init containers, restricted by default
 * (their `securityContext` is merged over it), pulled `IfNotPresent` unless
 * they say otherwise. With `sidecar`, each gets `restartPolicy: Always`: a
 * native sidecar, which starts before the containers that follow it and is
 * stopped once the pod's regular containers have exited, so a Job completes
 * (Kubernetes 1.29 and later; the feature is GA in 1.33).
 */
export function addExtraContainers(workload: kplus.Workload, prop: string, containers: kplus.ContainerProps[], sidecar: boolean): void {
  const spec = podSpecPath(workload);
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
    const self = `${spec}/initContainers/${workload.initContainers.length}`;
    const props = {
      ...c,
      imagePullPolicy: c.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
      securityContext: restrictedContainer(c.securityContext),
      // Like the app's and the migration's container: requests and limits of CPU, memory and ephemeral storage.
      resources: withDefaults(workload, self, c.resources, WORKLOAD_RESOURCES),
    };
    // cdk8s-plus-27 refuses probes on init containers, which native sidecars may have: they are patched in.
    const container = workload.addInitContainer({ ...props, startup: undefined, readiness: undefined, liveness: undefined });
    if (!sidecar) return;
    addRenderedPatch(workload, JsonPatch.add(`${self}/restartPolicy`, 'Always'));
    for (const [field, probe] of Object.entries(probes)) {
      // Probe._toKube (cdk8s-plus-27 2.9.5, lib/probe.js) renders a probe for a container, resolving a default port from it.
      if (probe) ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${self}/${field}`, probe._toKube(container)));
    }
  });
}

/** Patches applied to a workload's JSON once cdk8s-plus has rendered it. */
const renderedPatches = new WeakMap<kplus.Workload, JsonPatch[]>();

/**
 * Applies `patch` to the workload's final JSON. A JSON patch (`addJsonPatch`)
 * cannot add a container's `restartPolicy`: cdk8s 2.70.0 applies patches in
 * `ApiObject.toJson()`, and cdk8s-plus-27's `KubeJob`/`KubeDeployment` then map
 * the result through their Kubernetes 1.27 types (`toJson_KubeJobProps`),
 * which drop fields added later, such as that one (1.28). So this wraps the
 * object's `toJson()`; the Job's name, a hash of that output, covers it.
 */
function addRenderedPatch(workload: kplus.Workload, patch: JsonPatch): void {
  let patches = renderedPatches.get(workload);
  if (!patches) {
    const list: JsonPatch[] = [];
    const api = ApiObject.of(workload);
    const render = api.toJson.bind(api);
    api.toJson = () => JsonPatch.apply(render(), ...list);
    renderedPatches.set(workload, list);
    patches = list;
  }
  patches.push(patch);
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

/** The pull secrets each workload has so far, so that each is listed once. */
const pullSecrets = new WeakMap<kplus.Workload, Set<string>>();

/** Adds `secrets` to the pod's `imagePullSecrets`, each once, after any `dockerRegistryAuth` it has. */
export function addImagePullSecrets(workload: kplus.Workload, prop: string, secrets: kplus.ISecret[]): void {
  const names = pullSecrets.get(workload) ?? new Set(workload.dockerRegistryAuth ? [workload.dockerRegistryAuth.name] : []);
  pullSecrets.set(workload, names);
  const path = `${podSpecPath(workload)}/imagePullSecrets`;
  secrets.forEach((s, i) => {
    const name = checkSubdomain(`${prop}[${i}]`, s.name);
    if (names.has(name)) return;
    ApiObject.of(workload).addJsonPatch(names.size === 0 ? JsonPatch.add(path, [{ name }]) : JsonPatch.add(`${path}/-`, { name }));
    names.add(name);
  });
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
