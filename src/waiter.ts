import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { fitName } from './naming';
import { podSpecPath, restrictedContainer } from './security';
import { checkDuration, checkImage, checkName } from './validation';

/**
 * The official kubectl image, pinned. It ships bash, which the waiter script needs.
 */
export const DEFAULT_WAITER_IMAGE = 'registry.k8s.io/kubectl:v1.36.4';

/** The kubectl image runs as root by default; the waiter runs as this UID instead. */
export const WAITER_USER = 65532;

/** Where Kubernetes clients look for the in-cluster service account credentials. */
export const SERVICE_ACCOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The init container's program. It watches (never polls) the one Job named by
 * `$MIGRATION_JOB` and:
 * - exits 0 as soon as the Job has the condition Complete=True;
 * - exits 1 with the Job's reason and message once it has Failed=True;
 * - exits 1 if the Job is deleted, or has not appeared within
 *   `$MIGRATION_JOB_WAIT_SECONDS` seconds;
 * - exits 1 if the watch itself fails (forbidden, API server unreachable), so
 *   the kubelet restarts it with back-off and the pod shows why.
 * The API server ends every watch after 30 to 60 minutes; then it lists and
 * watches again, which also catches anything that happened in between.
 */
export const WAITER_SCRIPT = `set -uo pipefail
job="\${MIGRATION_JOB:?MIGRATION_JOB must name the migration Job}"
limit="\${MIGRATION_JOB_WAIT_SECONDS:?MIGRATION_JOB_WAIT_SECONDS must be a number of seconds}"
say() { printf 'wait-for-migration: %s\\n' "$*"; }
fail() { say "$*" >&2; exit 1; }
# One line per watch event: TYPE|Complete status|Failed status|Failed reason|Failed message
format='{.type}|{.object.status.conditions[?(@.type=="Complete")].status}|{.object.status.conditions[?(@.type=="Failed")].status}|{.object.status.conditions[?(@.type=="Failed")].reason}|{.object.status.conditions[?(@.type=="Failed")].message}{"\\n"}'
seen=false
started=$SECONDS
watcher=
trap '[[ -n $watcher ]] && kill "$watcher" 2>/dev/null' EXIT
say "waiting for Job \${job} to complete"
while true; do
  exec 3< <(exec kubectl get jobs --field-selector "metadata.name=\${job}" --watch --output-watch-events -o "jsonpath=\${format}")
  watcher=$!
  while true; do
    if [[ $seen == true ]]; then
      IFS='|' read -r event complete failed reason message <&3
    else
      left=$((limit - (SECONDS - started)))
      ((left > 0)) || fail "Job \${job} not found after \${limit}s. Was it applied? Was it deleted, for example by ttlSecondsAfterFinished or a prune?"
      IFS='|' read -r -t "$left" event complete failed reason message <&3
    fi
    status=$?
    ((status > 128)) && continue
    ((status == 0)) || break
    case "$event" in
      ADDED | MODIFIED) seen=true ;;
      DELETED) fail "Job \${job} was deleted before it completed" ;;
      *) continue ;;
    esac
    if [[ $complete == True ]]; then
      say "Job \${job} is complete"
      exit 0
    fi
    if [[ $failed == True ]]; then
      fail "Job \${job} failed: \${reason:-Failed}: \${message:-no message}. Next: kubectl logs job/\${job}"
    fi
  done
  wait "$watcher"
  status=$?
  ((status == 0)) || fail "could not watch Job \${job} (kubectl exited with \${status}, see above)"
done
`;

/**
 * Options for the init container that holds a workload's pods until the
 * migration Job has completed.
 */
export interface WaiterOptions {
  /**
   * An image with bash and kubectl. Change it to use a private mirror.
   * @default "registry.k8s.io/kubectl:v1.36.4"
   */
  readonly image?: string;

  /**
   * How long a pod waits for the migration Job to appear before it fails.
   * Only the wait for the Job to exist is bounded: once it exists, the pod
   * waits as long as the Job runs (the Job's own active deadline bounds that).
   * @default Duration.minutes(5)
   */
  readonly notFoundTimeout?: Duration;

  /**
   * Resources of the init container. It only waits on a watch.
   * @default - requests 10m CPU and 32Mi memory; limits 200m CPU and 128Mi memory
   */
  readonly resources?: kplus.ContainerResources;

  /**
   * Security context of the init container, merged over the restricted defaults.
   * @default - restricted: non-root UID 65532, read-only root filesystem, no privilege escalation, all capabilities dropped
   */
  readonly securityContext?: kplus.ContainerSecurityContextProps;
}

const WAITER_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) },
  memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
};

/**
 * The waiter's image and bound, checked. The migration checks them when it is
 * built, before any workload is gated.
 * @internal
 */
export function checkWaiterOptions(options: WaiterOptions): { image: string; waitSeconds: number } {
  return {
    image: checkImage('waiter.image', options.image ?? DEFAULT_WAITER_IMAGE),
    waitSeconds: checkDuration('waiter.notFoundTimeout', options.notFoundTimeout ?? Duration.minutes(5)),
  };
}

/**
 * Adds the waiter to `workload` as an init container named
 * `wait-for-<migrationName>`, with a service account token that only this
 * container mounts. Returns the container.
 * @internal
 */
export function addWaiter(workload: kplus.Workload, migrationName: string, jobName: string, options: WaiterOptions): kplus.Container {
  const { image, waitSeconds } = checkWaiterOptions(options);
  const name = checkName('waiter container name', fitName(`wait-for-${migrationName}`));
  const taken = [...workload.initContainers, ...workload.containers].map((c) => c.name);
  if (taken.includes(name)) {
    throw new Error(`gate(${workload.node.path}): the workload already has a container named '${name}'; gate each workload on a migration only once`);
  }
  const container = workload.addInitContainer({
    name,
    image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/bin/bash', '-c', WAITER_SCRIPT],
    envVariables: {
      MIGRATION_JOB: kplus.EnvValue.fromValue(jobName),
      MIGRATION_JOB_WAIT_SECONDS: kplus.EnvValue.fromValue(String(waitSeconds)),
      // kubectl writes its discovery cache under $HOME; the root filesystem is read-only.
      HOME: kplus.EnvValue.fromValue('/tmp'),
    },
    resources: options.resources ?? WAITER_RESOURCES,
    securityContext: restrictedContainer({ user: WAITER_USER, group: WAITER_USER, ...options.securityContext }),
  });
  container.mount('/tmp', kplus.Volume.fromEmptyDir(workload, `${name}-tmp`, `${name}-tmp`));

  // cdk8s-plus-27 has no projected volumes and no per-container seccomp or
  // termination message policy, so these are patched in. The init container's
  // index is fixed now: containers added later come after it.
  const spec = podSpecPath(workload);
  const self = `${spec}/initContainers/${workload.initContainers.length - 1}`;
  const tokenVolume = `${name}-token`;
  ApiObject.of(workload).addJsonPatch(
    JsonPatch.add(`${spec}/volumes/-`, {
      name: tokenVolume,
      projected: {
        sources: [
          { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          // cdk8s-plus objects map patched JSON through their typed props, which spell it `downwardApi`.
          { downwardApi: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    }),
    JsonPatch.add(`${self}/volumeMounts/-`, { name: tokenVolume, mountPath: SERVICE_ACCOUNT_PATH, readOnly: true }),
    JsonPatch.add(`${self}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }),
    JsonPatch.add(`${self}/terminationMessagePolicy`, 'FallbackToLogsOnError'),
  );
  return container;
}
