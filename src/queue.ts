import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { addTokenVolume } from './_pod-template';
import { jsonpathKey, RELEASE_LABEL, suffixedName } from './naming';
import { addKubectlContainer, WaiterOptions } from './waiter';

/*
 * One migration of an app at a time. Every migration Job of an app (every
 * release's, and a rollback's) starts with an init container that waits until
 * each migration Job of the same app created before it has ended, Complete or
 * Failed. Jobs are ordered by `creationTimestamp`, then by name, which every
 * Job sees the same way, so the queue is first come, first served, and two
 * Jobs never wait for each other.
 *
 * Why not a lock (a Lease): a lock needs a holder that renews it while the
 * migration runs and releases it when it ends, that is a sidecar process of
 * our own and an expiry that can hand the lock over while a partitioned pod
 * still migrates. The Job controller already records the one fact needed:
 * since Kubernetes 1.31 a Job gets `Complete` or `Failed` only once none of
 * its pods is running or terminating (k8s.io/kubernetes v1.37.2,
 * pkg/controller/job/job_controller.go, `enactJobFinished` returns early
 * while `terminating > 0`), so "every earlier Job has ended" means "no earlier
 * migration container exists".
 *
 * The price is RBAC: listing Jobs cannot be narrowed to a label or to names,
 * so the queue's Role lets it list and watch the Jobs of its namespace. Only
 * the queue container mounts a token of the Job's ServiceAccount.
 *
 * It runs in the waiter's image: the official kubectl image is debian-base
 * with bash, grep, sed, gawk, coreutils, jq and diffutils, `ENTRYPOINT
 * ["/bin/kubectl"]` (kubernetes/kubernetes build/server-image/kubectl/Dockerfile,
 * since kubernetes/kubernetes#119592). The script uses bash and kubectl only.
 */

/** Name of the queue's init container, the first container of every migration pod. */
export const QUEUE_CONTAINER = 'wait-for-earlier-migrations';

/** Names of the volumes the queue adds to the Job's pod. */
export const QUEUE_VOLUMES = { token: 'queue-token', tmp: 'queue-tmp' };

/**
 * Whether a Job has ended, as a kubectl jsonpath: exactly one of `Complete`
 * and `Failed` is `True` once it has (a union of two filters; the leading
 * space is what client-go's parser needs, as in `JOB_DONE_JSONPATH`).
 */
export const JOB_ENDED_JSONPATH = '{.status.conditions[ ?(@.type=="Complete"),?(@.type=="Failed")].status}';

/**
 * One line per migration Job of the app: its `creationTimestamp`, its name,
 * `r=` and the release it belongs to (the label that a contract step's Job
 * carries, empty on a migration's own Job), and the types of its conditions
 * that are `True`. A kubectl jsonpath, not a
 * go-template: the manifests may be copied into a Helm chart's `templates/`,
 * where `{{` would be Helm's. RFC 3339 timestamps in UTC, as the API server
 * writes them, sort as strings in time order.
 */
const LIST_JSONPATH = `{range .items[*]}{.metadata.creationTimestamp} {.metadata.name} r={.metadata.labels.${jsonpathKey(RELEASE_LABEL)}} {.status.conditions[?(@.status=="True")].type}{"\\n"}{end}`;

/**
 * The queue, in bash: list the app's migration Jobs, find the earlier ones
 * that have not ended, and wait on them (a watch, not a poll) for at most 30
 * seconds before listing again, in case one was deleted, or deleted and
 * created again (it is then later than this Job). A migration's Job and its
 * contract step's Job are one release: neither waits for the other (the
 * contract step waits for the release's rollout instead, which waits for the
 * migration). A failed `kubectl get`
 * (RBAC, the API server gone) fails the container, and so this Job, loudly.
 * The Job's activeDeadlineSeconds bounds the whole wait.
 */
const SCRIPT = `set -eu
waiting=
while :; do
  list=$(kubectl get jobs --selector="$SELECTOR" --output=jsonpath="$LIST")
  mine=
  while read -r created name release conditions; do
    if [ "$name" = "$JOB_NAME" ]; then mine="$created $name"; release=\${release#r=}; my_release=\${release:-$name}; fi
  done <<<"$list"
  if [ -z "$mine" ]; then echo "job/$JOB_NAME is not among the migrations of $INSTANCE: was it deleted?" >&2; exit 1; fi
  earlier=()
  while read -r created name release conditions; do
    case " $conditions " in *" Complete "* | *" Failed "*) continue ;; esac
    release=\${release#r=}
    if [ "\${release:-$name}" = "$my_release" ]; then continue; fi
    if [[ "$created $name" < "$mine" ]]; then earlier+=("job/$name"); fi
  done <<<"$list"
  if [ \${#earlier[@]} -eq 0 ]; then echo "no earlier migration of $INSTANCE is running: starting"; exit 0; fi
  if [ "\${earlier[*]}" != "$waiting" ]; then waiting="\${earlier[*]}"; echo "waiting for $waiting to complete or fail"; fi
  kubectl wait "\${earlier[@]}" --for="jsonpath=$ENDED=True" --timeout=30s >/dev/null 2>&1 || true
done
`;

/** The label selector of an app's migration Jobs, its contract steps' included. */
export function jobSelector(instance: string): string {
  return `app.kubernetes.io/instance=${instance},app.kubernetes.io/component=migration`;
}

/** The stable name of the queue's ServiceAccount, Role and RoleBinding: one set per app, shared by every release. */
export function queueName(migrationName: string): string {
  return suffixedName(migrationName, '-migrate-queue');
}

/** What the queue of one migration adds beside its Job. */
export interface Queue {
  /** The Job's ServiceAccount, unless the migration brings its own. */
  readonly serviceAccount?: kplus.ServiceAccount;
  /** Lists and watches the namespace's Jobs. */
  readonly role: kplus.Role;
  /** Binds the Job's ServiceAccount to `role`. */
  readonly binding: kplus.RoleBinding;
}

/**
 * The queue's ServiceAccount (when `serviceAccount` is not given), Role and
 * RoleBinding, named `<name>-migrate-queue`.
 * @internal
 */
export function addQueueRbac(scope: Construct, migrationName: string, labels: { [key: string]: string },
  serviceAccount: kplus.IServiceAccount | undefined): Queue & { jobServiceAccount: kplus.IServiceAccount } {
  const name = queueName(migrationName);
  const own = serviceAccount ? undefined : new kplus.ServiceAccount(scope, 'queue-service-account', {
    metadata: { name, labels }, automountToken: false,
  });
  const role = new kplus.Role(scope, 'queue-role', { metadata: { name, labels } });
  role.allow(['list', 'watch'], kplus.ApiResource.JOBS);
  const binding = new kplus.RoleBinding(scope, 'queue-binding', { metadata: { name, labels }, role });
  const jobServiceAccount = serviceAccount ?? own!;
  binding.addSubjects(jobServiceAccount);
  return { serviceAccount: own, role, binding, jobServiceAccount };
}

/**
 * Adds the queue's init container to the Job's pod. Call it before any other
 * init container is added: it must be the first, so that sidecars and init
 * containers start only once it is the Job's turn.
 * @internal
 */
export function addQueueContainer(job: kplus.Job, instance: string, image: string, options: WaiterOptions): kplus.Container {
  if (job.initContainers.length > 0) throw new Error('the queue must be the first init container of the migration pod');
  addTokenVolume(job, QUEUE_VOLUMES.token);
  return addKubectlContainer(job, {
    name: QUEUE_CONTAINER,
    image,
    command: ['/bin/bash', '-c'],
    args: [SCRIPT],
    env: {
      INSTANCE: kplus.EnvValue.fromValue(instance),
      SELECTOR: kplus.EnvValue.fromValue(jobSelector(instance)),
      // Set by the Job controller on its pods since Kubernetes 1.27.
      JOB_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_LABEL, { key: 'batch.kubernetes.io/job-name' }),
      LIST: kplus.EnvValue.fromValue(LIST_JSONPATH),
      // `[[ a < b ]]` compares in the locale's collation: byte order, whatever the image sets.
      LC_ALL: kplus.EnvValue.fromValue('C'),
      ENDED: kplus.EnvValue.fromValue(JOB_ENDED_JSONPATH),
    },
    tmp: kplus.Volume.fromEmptyDir(job, QUEUE_VOLUMES.tmp, QUEUE_VOLUMES.tmp),
    token: QUEUE_VOLUMES.token,
    options,
  });
}
