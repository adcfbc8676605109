import { ApiObject, ApiObjectMetadataDefinition, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { IConstruct } from 'constructs';
import type { LintChecks } from './exceptions';

/*
 * Internal (not exported from index.ts; cdk8s-plus marks such modules with a
 * leading `_`): every workaround for what cdk8s-plus-27 2.9.5 has no API for
 * in a pod template, and all the state the library keeps about constructs.
 * No other module holds state: moving to a newer cdk8s-plus should be a
 * matter of deleting what it makes unnecessary here.
 *
 * Checked against the npm packages cdk8s-plus-28 2.5.6, cdk8s-plus-30 2.4.10
 * and cdk8s-plus-33 2.5.57 (lib/container.d.ts, lib/pod.js, lib/volume.d.ts):
 * - cdk8s-plus-28 has a container `restartPolicy` (native sidecars, which may
 *   then have probes), a container `seccompProfile` and `Capability.ALL`;
 * - none of them has a pod-level seccomp profile, a projected volume, a
 *   container `terminationMessagePolicy`, ephemeral storage in units smaller
 *   than a gibibyte, or more than one image pull secret (`dockerRegistryAuth`,
 *   at construction only).
 */

/** The state of one workload's pod template. */
class PodTemplate {
  /** Patches applied after cdk8s-plus has mapped the object through its Kubernetes 1.27 types. */
  public readonly rendered: JsonPatch[] = [];
  /** The image pull secrets the pod has so far, each listed once. */
  public pullSecrets?: Set<string>;
  /** How the library renders the object, given how cdk8s and the patches above render it (the Job: once per synthesis). */
  public finish?: (render: () => any) => any;

  constructor(public readonly workload: kplus.Workload) {}
}

/*
 * The library's state, by object: the one place that holds any. It sits on the
 * object itself, under this module's symbols, rather than in WeakMaps, whose
 * entries are hash-table inserts and, in V8, ephemerons that every full garbage
 * collection traces again: an app of thousands of objects has one per object.
 * Symbol keys stay out of `Object.keys`, JSON and cdk8s's rendering.
 */
const TEMPLATE = Symbol('cdk8s-migrated-app.podTemplate');
const LINT_CHECKS = Symbol('cdk8s-migrated-app.lintChecks');
const NAME_CLAIMS = Symbol('cdk8s-migrated-app.nameClaims');

function template(workload: kplus.Workload): PodTemplate {
  const holder = workload as kplus.Workload & { [TEMPLATE]?: PodTemplate };
  return holder[TEMPLATE] ??= renderThroughTemplate(new PodTemplate(workload));
}

/**
 * The JSON path of a workload's pod spec. cdk8s-plus has no API to reach the
 * rendered pod spec, so every patch below needs it (any version, up to 33).
 */
export function podSpecPath(workload: kplus.Workload): string {
  return workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
}

/**
 * The JSON path of the container that will be added next to `list`
 * (`containers` or `initContainers`): its index is fixed when it is added, as
 * containers added later come after it.
 */
export function nextContainerPath(workload: kplus.Workload, list: 'containers' | 'initContainers'): string {
  const containers = list === 'containers' ? workload.containers : workload.initContainers;
  return `${podSpecPath(workload)}/${list}/${containers.length}`;
}

/** The JSON path of `container`, one of `workload`'s containers or init containers. */
export function containerPath(workload: kplus.Workload, container: kplus.Container): string {
  const init = workload.initContainers.indexOf(container);
  if (init >= 0) return `${podSpecPath(workload)}/initContainers/${init}`;
  return `${podSpecPath(workload)}/containers/${workload.containers.indexOf(container)}`;
}

/** Adds JSON patches to the workload's object. */
export function patch(workload: kplus.Workload, ...ops: JsonPatch[]): void {
  ApiObject.of(workload).addJsonPatch(...ops);
}

/**
 * Applies `op` to the workload's final JSON. A JSON patch (`addJsonPatch`)
 * cannot add a container's `restartPolicy`: cdk8s 2.70.0 applies patches in
 * `ApiObject.toJson()`, and cdk8s-plus-27's `KubeJob`/`KubeDeployment` then
 * map the result through their Kubernetes 1.27 types (`toJson_KubeJobProps`),
 * which drop fields added later, such as that one (1.28). Unnecessary with
 * cdk8s-plus-28, whose containers have `restartPolicy`.
 */
function addRenderedPatch(workload: kplus.Workload, op: JsonPatch): void {
  template(workload).rendered.push(op);
}

/**
 * Sets how the workload renders: `finish` gets a function that renders it as
 * cdk8s does, then the rendered patches, and returns what the manifests
 * carry. One per workload.
 */
export function finishRender(workload: kplus.Workload, finish: (render: () => any) => any): void {
  const t = template(workload);
  if (t.finish) throw new Error(`${workload.node.path}: its rendering is already finished by the library`);
  t.finish = finish;
}

/** Makes the workload's object render through its template, `t`: the rendered patches, then `finish`. */
function renderThroughTemplate(t: PodTemplate): PodTemplate {
  const api = ApiObject.of(t.workload);
  const render = api.toJson.bind(api);
  const patched = () => JsonPatch.apply(render(), ...t.rendered);
  api.toJson = () => (t.finish ? t.finish(patched) : patched());
  return t;
}

/**
 * Makes the init container `container` a native sidecar (`restartPolicy:
 * Always`, Kubernetes 1.29 and later) with `probes`, which cdk8s-plus-27
 * refuses on any init container. Unnecessary with cdk8s-plus-28: pass
 * `restartPolicy` and the probes to `addInitContainer()`.
 */
export function makeSidecar(workload: kplus.Workload, container: kplus.Container, probes: { [field: string]: kplus.Probe | undefined }): void {
  const self = containerPath(workload, container);
  addRenderedPatch(workload, JsonPatch.add(`${self}/restartPolicy`, 'Always'));
  for (const [field, probe] of Object.entries(probes)) {
    // Probe._toKube (cdk8s-plus-27 2.9.5, lib/probe.js) renders a probe for a container, resolving a default port from it.
    if (probe) patch(workload, JsonPatch.add(`${self}/${field}`, probe._toKube(container)));
  }
}

/**
 * The capability to drop for Pod Security "restricted". Unnecessary with
 * cdk8s-plus-28: `kplus.Capability.ALL`.
 */
export const ALL_CAPABILITIES = 'ALL' as kplus.Capability;

/**
 * Drops ALL capabilities in `container`, after the fact. Unnecessary with
 * cdk8s-plus-28: pass `Capability.ALL` in its security context.
 */
export function dropAllCapabilities(workload: kplus.Workload, container: kplus.Container): void {
  patch(workload, JsonPatch.add(`${containerPath(workload, container)}/securityContext/capabilities`, { drop: ['ALL'] }));
}

/** Sets the pod-level seccomp profile to RuntimeDefault: no cdk8s-plus up to 33 has a prop for it. */
export function podSeccompProfile(workload: kplus.Workload): void {
  patch(workload, JsonPatch.add(`${podSpecPath(workload)}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
}

/**
 * Sets a container's seccomp profile to RuntimeDefault. Unnecessary with
 * cdk8s-plus-28: `securityContext.seccompProfile`.
 */
export function containerSeccompProfile(workload: kplus.Workload, container: kplus.Container): void {
  patch(workload, JsonPatch.add(`${containerPath(workload, container)}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
}

/**
 * Makes a failed container's message its last log lines when it wrote no
 * termination message: no cdk8s-plus up to 33 has a prop for it.
 */
export function fallbackToLogsOnError(workload: kplus.Workload, container: kplus.Container): void {
  patch(workload, JsonPatch.add(`${containerPath(workload, container)}/terminationMessagePolicy`, 'FallbackToLogsOnError'));
}

/** Where Kubernetes clients look for the in-cluster service account credentials. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Adds a projected volume named `name` to the pod: what the kubelet would
 * mount for an automounted token (a one-hour token of the pod's
 * ServiceAccount, `kube-root-ca.crt` and the namespace), for the containers
 * that `mountToken()` mounts it in. No cdk8s-plus up to 33 has projected
 * volumes.
 */
export function addTokenVolume(workload: kplus.Workload, name: string): void {
  patch(workload, JsonPatch.add(`${podSpecPath(workload)}/volumes/-`, {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        // cdk8s-plus objects map patched JSON through their typed props, which spell it `downwardApi`.
        { downwardApi: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  }));
}

/** Mounts the token volume `name` (see `addTokenVolume()`) in `container`, where Kubernetes clients look for it. */
export function mountToken(workload: kplus.Workload, container: kplus.Container, name: string): void {
  patch(workload, JsonPatch.add(`${containerPath(workload, container)}/volumeMounts/-`, { name, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true }));
}

/**
 * Adds `names` to the pod's `imagePullSecrets`, each once, after any
 * `dockerRegistryAuth` it has: cdk8s-plus (up to 33) takes a single pull
 * secret, at construction only.
 */
export function addPullSecrets(workload: kplus.Workload, names: string[]): void {
  const t = template(workload);
  const have = t.pullSecrets ??= new Set(workload.dockerRegistryAuth ? [workload.dockerRegistryAuth.name] : []);
  const path = `${podSpecPath(workload)}/imagePullSecrets`;
  for (const name of names) {
    if (have.has(name)) continue;
    patch(workload, have.size === 0 ? JsonPatch.add(path, [{ name }]) : JsonPatch.add(`${path}/-`, { name }));
    have.add(name);
  }
}

/**
 * Ephemeral storage requests and limits in mebibytes, for the container at
 * `path`: cdk8s-plus (up to 33, Container._toKube, `toGibibytes()`) renders
 * them in whole gibibytes only. `rendered` says whether cdk8s-plus renders
 * `requests` and `limits` at all (it does when CPU or memory has one). The
 * storage goes in at its place in key order, before `memory`, as cdk8s sorts
 * keys: a migration Job whose keys are all in order is hashed faster
 * (`stableJson()`).
 */
export function ephemeralStorageMebibytes(workload: kplus.Workload, path: string, mebibytes: { request: number; limit: number },
  rendered: { requests: boolean; limits: boolean }): void {
  // cdk8s-plus objects map patched JSON through their typed props, in which a quantity is `{ value }`.
  const storage = { requests: { value: `${mebibytes.request}Mi` }, limits: { value: `${mebibytes.limit}Mi` } };
  if (!rendered.requests && !rendered.limits) {
    patch(workload, JsonPatch.add(`${path}/resources`, {
      requests: { 'ephemeral-storage': storage.requests },
      limits: { 'ephemeral-storage': storage.limits },
    }));
    return;
  }
  for (const kind of ['requests', 'limits'] as const) {
    const map = `${path}/resources/${kind}`;
    if (!rendered[kind]) {
      patch(workload, JsonPatch.add(map, { 'ephemeral-storage': storage[kind] }));
      continue;
    }
    // Added last. A move of `memory` onto itself takes it out and puts it back last, behind the storage;
    // where there is no memory, it adds an undefined one, which the typed props leave out.
    patch(workload, JsonPatch.add(`${map}/ephemeral-storage`, storage[kind]), JsonPatch.move(`${map}/memory`, `${map}/memory`));
  }
}

/**
 * The linter checks annotated on an object so far (`LintChecks` in
 * exceptions.ts): cdk8s has no getter for annotations, and rendering them
 * would resolve lazy names.
 */
export function lintChecksOf(metadata: ApiObjectMetadataDefinition): LintChecks | undefined {
  return (metadata as LintChecksHolder)[LINT_CHECKS];
}

/** Records the linter checks annotated on an object so far. */
export function setLintChecks(metadata: ApiObjectMetadataDefinition, checks: LintChecks): void {
  (metadata as LintChecksHolder)[LINT_CHECKS] = checks;
}
type LintChecksHolder = ApiObjectMetadataDefinition & { [LINT_CHECKS]?: LintChecks };

/** The names in use in the app of `root`, by namespace: `<namespace>/<name>` → the construct using it. */
export function nameClaimsOf(root: IConstruct): Map<string, IConstruct> {
  const holder = root as IConstruct & { [NAME_CLAIMS]?: Map<string, IConstruct> };
  return holder[NAME_CLAIMS] ??= new Map();
}

/**
 * Removes the `cdk8s.io/metadata.addr` label that cdk8s-plus-27 puts on every
 * pod template it renders (Workload.podMetadata, even with `select: false`).
 * It is derived from the construct path, so renaming a construct or moving it
 * to another chart would change the pod template, and, where it is the
 * selector, `spec.selector`, which is immutable. The library selects its pods
 * by `selectorLabels()` instead, and a Job's name (a hash of its manifest)
 * then depends on what it runs, not on where it sits in the construct tree.
 * cdk8s-plus-33 2.5.57 still has this label (lib/pod.js, `Pod.ADDRESS_LABEL`).
 */
export function dropAddressLabel(workload: kplus.Workload): void {
  const podTemplate = podSpecPath(workload).replace(/\/spec$/, '');
  patch(workload, JsonPatch.remove(`${podTemplate}/metadata/labels/cdk8s.io~1metadata.addr`));
}
