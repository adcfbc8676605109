import { Duration, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { addTokenVolume, containerSeccompProfile, fallbackToLogsOnError, mountToken } from './_pod-template';
import { suffixedName } from './naming';
import { addImagePullSecrets } from './pod';
import { DefaultResources, withDefaults } from './resources';
import { restrictedContainer } from './security';
import { checkDuration, checkPinnedImage, PropError } from './validation';

/**
 * The official kubectl image, pinned. Checked at the source
 * (kubernetes/kubernetes build/server-image/kubectl/Dockerfile, as changed in
 * 2023 by PR #119592): `FROM registry.k8s.io/build-image/debian-base:bookworm-v1.0.0`,
 * with bash, grep, sed, gawk, coreutils, jq and diffutils from apt,
 * `ENTRYPOINT ["/bin/kubectl"]` and no USER. The waiter's two containers
 * need none of those tools: they pass `args` only and keep the image's
 * entrypoint. The migration Job's queue (queue.ts) runs bash in it.
 *
 * The oldest kubectl the waiter's containers work with is 1.31 (k8s.io/kubectl v0.31.0),
 * checked in the Go module proxy's sources of k8s.io/kubectl v0.30.0, v0.31.0
 * and v0.36.6 and k8s.io/client-go v0.31.0 and v0.36.6:
 * - `kubectl wait --for=create` appeared in 1.31 (pkg/cmd/wait/wait.go,
 *   `RunWait`: a GET every 0.5 s until the object exists, at most
 *   `--timeout`); 1.30 has no `create` condition;
 * - the jsonpath condition of the second container exits 1 with "given
 *   jsonpath expression matches more than one value" in 1.30 already, and
 *   pkg/cmd/wait/json.go and create.go, and client-go's util/jsonpath (the
 *   union parsing JOB_DONE_JSONPATH relies on), are identical in 1.31.0 and
 *   1.36.6.
 * Each waiter container passes a single `--for`, so 1.36's ANDing of several
 * is not needed. The default is 1.36 for the API servers it supports under
 * kubectl's ±1 minor version skew, 1.35 to 1.37: every minor the Kubernetes
 * project supports as of this release. v1.36.6 is the newest 1.36 patch on
 * the Go module proxy (k8s.io/kubectl v0.36.6); the e2e suite builds that
 * kubectl.
 */
export const DEFAULT_WAITER_IMAGE = 'registry.k8s.io/kubectl:v1.36.6';

/** The kubectl image runs as root by default; the waiter runs as this UID instead. */
export const WAITER_USER = 65532;

/**
 * The condition that the second init container waits for, as a kubectl jsonpath.
 *
 * `kubectl wait` has no "Complete or Failed". It does exit 1 when a jsonpath
 * matches more than one value (k8s.io/kubectl v0.36.6, pkg/cmd/wait/json.go,
 * `verifyParsedJSONPath`), and it keeps waiting while it matches none. This
 * expression is a union of filters over the Job's conditions in which
 * `Complete` appears once and each failure condition twice:
 * - a running, suspended or success-decided (`SuccessCriteriaMet`) Job matches
 *   nothing: keep waiting;
 * - a complete Job matches one value, `True`: exit 0;
 * - a failing Job matches two or more: exit 1 with "given jsonpath expression
 *   matches more than one value". `FailureTarget`, which the Job controller
 *   sets since 1.31 as soon as failure is decided, counts as failure, so the
 *   waiter does not wait for the pods to terminate before `Failed`.
 *
 * This relies on two behaviours of client-go's jsonpath parser that are not
 * documented (k8s.io/client-go v0.36.6, util/jsonpath/parser.go): a union
 * whose first member is a filter parses only after a space (`[ ?(...),?(...)]`;
 * without it, `parseFilter` wants `]` right after the first `)`), and a
 * union's members add up. The e2e suite runs it through the kubectl of
 * DEFAULT_WAITER_IMAGE against a real API server, in every Job state; change
 * the two only together.
 */
export const JOB_DONE_JSONPATH = '{.status.conditions[ ?(@.type=="Complete"),?(@.type=="FailureTarget"),?(@.type=="FailureTarget"),?(@.type=="Failed"),?(@.type=="Failed")].status}';

/** What the waiter's bounds add to the migration's active deadline, for scheduling and start-up. */
const WAIT_MARGIN_SECONDS = 60;

/**
 * Options for the init containers that hold a workload's pods until the
 * migration Job has completed.
 */
export interface WaiterOptions {
  /**
   * An image whose entrypoint is kubectl 1.31 or newer (the waiter passes only
   * `args`; 1.31 added `kubectl wait --for=create`), with `/bin/bash` (the
   * migration Job's queue runs a short bash script in it), pinned with a tag
   * or digest, whose minor is within one of the API server's: the official
   * image, or a private mirror of it.
   * @default "registry.k8s.io/kubectl:v1.36.6"
   */
  readonly image?: string;

  /**
   * How long a pod waits for the migration Job to exist before it fails.
   * Once the Job exists, the pod waits as long as the Job may run: its active
   * deadline, plus this, plus a minute.
   * @default Duration.minutes(5)
   */
  readonly notFoundTimeout?: Duration;

  /**
   * Resources of each waiter container. They only wait on the API server and
   * write kubectl's discovery cache to `/tmp`. Each of CPU, memory and
   * ephemeral storage that is left out keeps its default requests and limits.
   * @default - requests 10m CPU, 32Mi memory and 16Mi ephemeral storage; limits 200m CPU, 128Mi memory and 64Mi ephemeral storage
   */
  readonly resources?: kplus.ContainerResources;

  /**
   * Security context of the waiter containers, merged over the restricted defaults.
   * @default - restricted: non-root UID 65532, read-only root filesystem, no privilege escalation, all capabilities dropped
   */
  readonly securityContext?: kplus.ContainerSecurityContextProps;

  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` to pull the waiter's
   * image with, for a private mirror. They are added to the `imagePullSecrets`
   * of every workload gated on the migration and of the migration Job, whose
   * queue runs in the same image (pull secrets are per pod).
   * @default - none
   */
  readonly imagePullSecrets?: kplus.ISecret[];
}

const WAITER_RESOURCES: DefaultResources = {
  cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) },
  memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
  ephemeralStorageMebibytes: { request: 16, limit: 64 },
};

/**
 * The waiter's image and bound, checked. The migration checks them when it is
 * built, before any workload is gated. (Its pull secrets are checked where
 * they are added to a pod, the migration Job's first.)
 * @internal
 */
export function checkWaiterOptions(options: WaiterOptions): { image: string; notFoundSeconds: number } {
  return {
    image: checkPinnedImage('waiter.image', options.image ?? DEFAULT_WAITER_IMAGE),
    notFoundSeconds: checkDuration('waiter.notFoundTimeout', options.notFoundTimeout ?? Duration.minutes(5)),
  };
}

/** The names of the waiter's containers and volumes in a workload gated on migration `migrationName`. */
export function waiterNames(migrationName: string) {
  const base = `wait-for-${migrationName}`;
  return {
    created: suffixedName(base, '-job-created'),
    complete: suffixedName(base, '-job-complete'),
    token: suffixedName(base, '-token'),
    tmp: suffixedName(base, '-tmp'),
  };
}

/** A container that runs kubectl against the API server, with a token of its own. */
export interface KubectlContainer {
  /** The container's name. */
  readonly name: string;
  /** The image, checked: kubectl is its entrypoint. */
  readonly image: string;
  /** Replaces the image's entrypoint (kubectl), when set. */
  readonly command?: string[];
  /** Arguments to the entrypoint or the command. */
  readonly args: string[];
  /** More environment variables; `HOME` is `/tmp`. */
  readonly env?: { [name: string]: kplus.EnvValue };
  /** The emptyDir mounted at `/tmp`, where kubectl caches discovery. */
  readonly tmp: kplus.Volume;
  /** The name of the pod's projected token volume, which this container mounts. */
  readonly token: string;
  /** Resources and security context. */
  readonly options: WaiterOptions;
}

/**
 * Adds an init container that runs kubectl: restricted (UID 65532, a
 * read-only root filesystem, the RuntimeDefault seccomp profile),
 * `FallbackToLogsOnError`, the waiter's default resources, and a token from
 * the projected volume `token`, which the caller adds to the pod.
 * @internal
 */
export function addKubectlContainer(workload: kplus.Workload, c: KubectlContainer): kplus.Container {
  const container = workload.addInitContainer({
    name: c.name,
    image: c.image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: c.command,
    args: c.args,
    // kubectl caches discovery under $HOME/.kube; the root filesystem is read-only.
    envVariables: { HOME: kplus.EnvValue.fromValue('/tmp'), ...c.env },
    resources: withDefaults(workload, c.name, c.options.resources, WAITER_RESOURCES),
    securityContext: restrictedContainer({ user: WAITER_USER, group: WAITER_USER, ...c.options.securityContext }),
  });
  container.mount('/tmp', c.tmp);
  mountToken(workload, container, c.token);
  containerSeccompProfile(workload, container);
  fallbackToLogsOnError(workload, container);
  return container;
}

/** What a workload waits for. */
export interface WaitTarget {
  /** The migration's name, which the containers are named after. */
  readonly migrationName: string;
  /** The Job's name, asked for at synth time: it is a hash of the Job as rendered. */
  readonly jobName: () => string;
  /** The Job's namespace, when it is not the workload's own. */
  readonly namespace?: string;
  /** The Job's active deadline, in seconds. */
  readonly activeDeadlineSeconds: number;
}

/**
 * Adds the waiter to `workload`: two init containers that run kubectl with
 * `args` only, in sequence:
 * 1. `wait-for-<migration>-job-created`: until the Job exists, at most
 *    `notFoundTimeout` (kubectl polls a GET every 0.5 s in this phase);
 * 2. `wait-for-<migration>-job-complete`: one list and watch of that Job, until
 *    it is complete (exit 0) or failing (exit 1), at most the active deadline
 *    plus `notFoundTimeout` plus a minute.
 * Only they mount a service account token. Returns them.
 * @internal
 */
export function addWaiter(workload: kplus.Workload, target: WaitTarget, options: WaiterOptions): kplus.Container[] {
  const { image, notFoundSeconds } = checkWaiterOptions(options);
  const names = waiterNames(target.migrationName);
  const taken = [...workload.initContainers, ...workload.containers].map((c) => c.name);
  const clash = [names.created, names.complete].find((n) => taken.includes(n));
  if (clash) {
    throw new PropError(`gate(${workload.node.path})`, `the workload already has a container named '${clash}'; gate each workload on a migration only once`);
  }
  const job: string = Lazy.any({ produce: () => `job/${target.jobName()}` });
  const namespace = target.namespace ? [`--namespace=${target.namespace}`] : [];
  const completeSeconds = target.activeDeadlineSeconds + notFoundSeconds + WAIT_MARGIN_SECONDS;
  // Pairs, not an object keyed by the container names, which hold the migration's name: with thousands
  // of apps in one chart, such objects made V8 slower for everything built afterwards, cdk8s's YAML
  // writer included (measured with bench/synth.ts and docs/figures.md; V8's object shapes are the likely cause).
  const steps: [string, string[]][] = [
    [names.created, ['wait', job, '--for=create', `--timeout=${notFoundSeconds}s`, ...namespace]],
    [names.complete, ['wait', job, `--for=jsonpath=${JOB_DONE_JSONPATH}=True`, `--timeout=${completeSeconds}s`, ...namespace]],
  ];

  const tmp = kplus.Volume.fromEmptyDir(workload, names.tmp, names.tmp);
  addTokenVolume(workload, names.token);
  const containers = steps.map(([name, args]) => addKubectlContainer(workload, {
    name, image, args, tmp, token: names.token, options,
  }));
  addImagePullSecrets(workload, 'waiter.imagePullSecrets', options.imagePullSecrets ?? []);
  return containers;
}
