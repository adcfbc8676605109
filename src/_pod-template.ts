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

/** What the library sets in one container that cdk8s-plus-27 renders without it. */
class ContainerEdits {
  /** `securityContext.seccompProfile: RuntimeDefault`. */
  public seccomp = false;
  /** `securityContext.capabilities: { drop: [ALL] }`. */
  public dropAllCapabilities = false;
  /** `terminationMessagePolicy: FallbackToLogsOnError`. */
  public fallbackToLogs = false;
  /** Ephemeral storage request and limit, in mebibytes. */
  public storage?: { readonly request: number; readonly limit: number };
  /** The projected token volume mounted where Kubernetes clients look for it. */
  public token?: string;
  /** `restartPolicy: Always`: a native sidecar. */
  public sidecar = false;
}

/**
 * The state of one workload's pod template: what the library adds to the pod
 * as cdk8s-plus renders it. The edits are applied to the rendered object,
 * after cdk8s-plus has mapped it through its Kubernetes 1.27 types, as plain
 * assignments: cdk8s's JSON patches cost a deep copy of every patch and a
 * walk of its path on each rendering (a seventh of the hand-written
 * variant's `Chart.toJson()` in bench/synth.ts, under the profiler), and the
 * typed mapping would drop fields newer than 1.27. Containers are found by
 * name, unique among a pod's containers and init containers. Each key goes in
 * at its place in key order, as cdk8s sorts keys and the typed mapping writes
 * them (alphabetically): a migration Job whose keys are all in order is
 * hashed faster (`stableJson()`).
 */
class PodTemplate {
  /** Remove the `cdk8s.io/metadata.addr` label. */
  public dropAddressLabel = false;
  /** The pod's `securityContext.seccompProfile: RuntimeDefault`. */
  public seccomp = false;
  /** Fields of the pod spec, set as given (plain strings and maps of strings). */
  public readonly fields: [string, string | { [key: string]: string }][] = [];
  /** The image pull secrets added, in order, after any `dockerRegistryAuth`. */
  public readonly pullSecrets: string[] = [];
  /** The projected token volumes, appended to the pod's volumes in order. */
  public readonly tokenVolumes: string[] = [];
  /** By container name. */
  public readonly containers = new Map<string, ContainerEdits>();
  /** How the library renders the object, given how cdk8s and the edits above render it (the Job: once per synthesis). */
  public finish?: (render: () => any) => any;

  constructor(public readonly workload: kplus.Workload) {}

  public container(name: string): ContainerEdits {
    let edits = this.containers.get(name);
    if (!edits) this.containers.set(name, edits = new ContainerEdits());
    return edits;
  }

  /** Applies the edits to `json`, the workload's object as cdk8s-plus rendered it. */
  public applyTo(json: any): any {
    const podTemplate = this.workload instanceof kplus.CronJob ? json.spec.jobTemplate.spec.template : json.spec.template;
    if (this.dropAddressLabel) delete podTemplate.metadata.labels[ADDRESS_LABEL];
    let spec = podTemplate.spec;
    for (const list of ['initContainers', 'containers']) {
      if (spec[list]) spec[list] = spec[list].map((c: any) => editContainer(c, this.containers.get(c.name)));
    }
    if (this.seccomp) spec = withKey(spec, 'securityContext', withKey(spec.securityContext ?? {}, 'seccompProfile', { type: 'RuntimeDefault' }));
    for (const [key, value] of this.fields) spec = withKey(spec, key, typeof value === 'string' ? value : { ...value });
    if (this.pullSecrets.length > 0) {
      spec = withKey(spec, 'imagePullSecrets', [...spec.imagePullSecrets ?? [], ...this.pullSecrets.map((name) => ({ name }))]);
    }
    if (this.tokenVolumes.length > 0) spec = withKey(spec, 'volumes', [...spec.volumes ?? [], ...this.tokenVolumes.map(tokenVolume)]);
    podTemplate.spec = spec;
    return json;
  }
}

/** The label cdk8s-plus-27 puts on every pod template (see `dropAddressLabel()`). */
const ADDRESS_LABEL = 'cdk8s.io/metadata.addr';

/**
 * A copy of `obj`, whose keys are in sorted order, with `key` set to `value`
 * at its place among them (where it was, if `obj` has it).
 */
function withKey(obj: any, key: string, value: unknown): any {
  const copy: any = {};
  let placed = false;
  for (const k of Object.keys(obj)) {
    if (!placed && k > key) {
      copy[key] = value;
      placed = true;
    }
    copy[k] = obj[k];
  }
  if (!placed) copy[key] = value;
  return copy;
}

/** A rendered container with the library's edits, if any. */
function editContainer(c: any, edits: ContainerEdits | undefined): any {
  if (!edits) return c;
  if (edits.storage) {
    let resources = c.resources ?? {};
    resources = withKey(resources, 'limits', withKey(resources.limits ?? {}, 'ephemeral-storage', `${edits.storage.limit}Mi`));
    resources = withKey(resources, 'requests', withKey(resources.requests ?? {}, 'ephemeral-storage', `${edits.storage.request}Mi`));
    c = withKey(c, 'resources', resources);
  }
  if (edits.seccomp || edits.dropAllCapabilities) {
    let context = c.securityContext ?? {};
    if (edits.dropAllCapabilities) context = withKey(context, 'capabilities', { drop: ['ALL'] });
    if (edits.seccomp) context = withKey(context, 'seccompProfile', { type: 'RuntimeDefault' });
    c = withKey(c, 'securityContext', context);
  }
  if (edits.fallbackToLogs) c = withKey(c, 'terminationMessagePolicy', 'FallbackToLogsOnError');
  if (edits.token) c = withKey(c, 'volumeMounts', [...c.volumeMounts ?? [], { mountPath: SERVICE_ACCOUNT_PATH, name: edits.token, readOnly: true }]);
  // Last, where earlier versions of the library put it (a JSON patch of the rendered container): the manifests stay the same.
  if (edits.sidecar) c.restartPolicy = 'Always';
  return c;
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
 * Sets how the workload renders: `finish` gets a function that renders it as
 * cdk8s does, with the library's edits, and returns what the manifests carry.
 * One per workload.
 */
export function finishRender(workload: kplus.Workload, finish: (render: () => any) => any): void {
  const t = template(workload);
  if (t.finish) throw new Error(`${workload.node.path}: its rendering is already finished by the library`);
  t.finish = finish;
}

/** Makes the workload's object render through its template, `t`: the edits, then `finish`. */
function renderThroughTemplate(t: PodTemplate): PodTemplate {
  const api = ApiObject.of(t.workload);
  const render = api.toJson.bind(api);
  const edited = () => t.applyTo(render());
  api.toJson = () => (t.finish ? t.finish(edited) : edited());
  return t;
}

/**
 * Makes the init container `container` a native sidecar (`restartPolicy:
 * Always`, Kubernetes 1.29 and later) with `probes`, which cdk8s-plus-27
 * refuses on any init container. Unnecessary with cdk8s-plus-28: pass
 * `restartPolicy` and the probes to `addInitContainer()`.
 */
export function makeSidecar(workload: kplus.Workload, container: kplus.Container, probes: { [field: string]: kplus.Probe | undefined }): void {
  template(workload).container(container.name).sidecar = true;
  const index = workload.initContainers.indexOf(container);
  for (const [field, probe] of Object.entries(probes)) {
    // Probe._toKube (cdk8s-plus-27 2.9.5, lib/probe.js) renders a probe for a container, resolving a default port from it,
    // in cdk8s-plus's typed form: a JSON patch, which the typed mapping then writes out (1.27 has container probes).
    if (probe) ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpecPath(workload)}/initContainers/${index}/${field}`, probe._toKube(container)));
  }
}

/** The JSON path of a workload's pod spec, for a JSON patch: cdk8s-plus has no API to reach the rendered pod spec (any version, up to 33). */
function podSpecPath(workload: kplus.Workload): string {
  return workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec/template/spec' : '/spec/template/spec';
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
  template(workload).container(container.name).dropAllCapabilities = true;
}

/** Sets the pod-level seccomp profile to RuntimeDefault: no cdk8s-plus up to 33 has a prop for it. */
export function podSeccompProfile(workload: kplus.Workload): void {
  template(workload).seccomp = true;
}

/**
 * Sets a container's seccomp profile to RuntimeDefault. Unnecessary with
 * cdk8s-plus-28: `securityContext.seccompProfile`.
 */
export function containerSeccompProfile(workload: kplus.Workload, container: kplus.Container): void {
  template(workload).container(container.name).seccomp = true;
}

/**
 * Makes a failed container's message its last log lines when it wrote no
 * termination message: no cdk8s-plus up to 33 has a prop for it.
 */
export function fallbackToLogsOnError(workload: kplus.Workload, container: kplus.Container): void {
  template(workload).container(container.name).fallbackToLogs = true;
}

/**
 * Sets a field of the pod spec that the workload's props cannot set after
 * construction (`serviceAccountName`) or that cdk8s-plus-27 has no prop for
 * (`nodeSelector`, `priorityClassName`, up to 33).
 */
export function setPodSpecField(workload: kplus.Workload, key: string, value: string | { [key: string]: string }): void {
  template(workload).fields.push([key, value]);
}

/** Where Kubernetes clients look for the in-cluster service account credentials. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Adds a projected volume named `name` to the pod, after its other volumes:
 * what the kubelet would mount for an automounted token (a one-hour token of
 * the pod's ServiceAccount, `kube-root-ca.crt` and the namespace), for the
 * containers that `mountToken()` mounts it in. No cdk8s-plus up to 33 has
 * projected volumes.
 */
export function addTokenVolume(workload: kplus.Workload, name: string): void {
  template(workload).tokenVolumes.push(name);
}

/** The projected token volume `name`, as the API server gets it (keys in order). */
function tokenVolume(name: string) {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: 3600, path: 'token' } },
        { configMap: { items: [{ key: 'ca.crt', path: 'ca.crt' }], name: 'kube-root-ca.crt' } },
        { downwardAPI: { items: [{ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, path: 'namespace' }] } },
      ],
    },
  };
}

/** Mounts the token volume `name` (see `addTokenVolume()`) in `container`, after its other mounts, where Kubernetes clients look for it. */
export function mountToken(workload: kplus.Workload, container: kplus.Container, name: string): void {
  template(workload).container(container.name).token = name;
}

/**
 * Adds `names` to the pod's `imagePullSecrets`, each once, after any
 * `dockerRegistryAuth` it has: cdk8s-plus (up to 33) takes a single pull
 * secret, at construction only.
 */
export function addPullSecrets(workload: kplus.Workload, names: string[]): void {
  const added = template(workload).pullSecrets;
  for (const name of names) {
    if (name !== workload.dockerRegistryAuth?.name && !added.includes(name)) added.push(name);
  }
}

/**
 * Ephemeral storage requests and limits in mebibytes, for the container
 * named `container` (added to the workload now or later): cdk8s-plus (up to
 * 33, Container._toKube, `toGibibytes()`) renders them in whole gibibytes only.
 */
export function ephemeralStorageMebibytes(workload: kplus.Workload, container: string, mebibytes: { request: number; limit: number }): void {
  template(workload).container(container).storage = mebibytes;
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
  template(workload).dropAddressLabel = true;
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
