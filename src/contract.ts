import { ApiObject, Duration, Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Applier, Stage } from './applier';
import { contentHash, hashedName, jsonpathKey, RELEASE_LABEL } from './naming';
import { jobSelector } from './queue';
import { checkCommand, checkDuration, checkObject, checkPinnedImage, checkStrings, PropError } from './validation';

/*
 * Expand and contract. A migration's contract step is a second Job of the
 * release, which runs once the release has fully rolled out: every gated
 * workload has all its replicas on this release's pod template and available,
 * and no pod of an earlier release is left, not even a terminating one.
 *
 * The hold lives in the cluster, as an init container of the contract Job
 * (after the queue, before any sidecar), so it holds whatever applied the
 * manifests and in whatever order. It polls once a second: the workloads by
 * name (GET), the pods by each workload's selector (LIST), and the app's
 * migration Jobs (LIST, the queue's own right), and it fails the Job, so that
 * the contract step never runs, when:
 * - the release's migration failed;
 * - a workload's rollout failed (`ProgressDeadlineExceeded`);
 * - a later release has replaced this one's pod template (the contract step
 *   is superseded: the next release's contract step comes after its rollout).
 *
 * Every pod of a gated workload carries `RELEASE_LABEL` (the name of its
 * release's migration Job), whether the migration has a contract step or
 * not, which is what tells this release's pods from earlier and later ones. Pods that terminate keep their labels until they are gone,
 * so "no pod of an earlier release" counts terminating pods too, which a
 * Deployment's status does not (argo-cd#17408).
 */

/** The contract step of a migration: what runs once the release has fully rolled out. */
export interface ContractOptions {
  /**
   * The command of the contract step.
   * @default - the migration's command
   */
  readonly command?: string[];

  /**
   * Arguments to the command.
   * @default - the migration's args when `command` is not set; none when it is
   */
  readonly args?: string[];

  /**
   * The image that runs the contract step, pinned with a tag other than `latest` or a digest.
   * @default - the migration's image
   */
  readonly image?: string;

  /**
   * How long the contract Job may take, from its creation: its turn in the
   * queue, the release's migration and rollout, and the contract step itself.
   * It must be longer than the migration's `activeDeadline`.
   * @default - the migration's activeDeadline plus one hour
   */
  readonly activeDeadline?: Duration;
}

/** Name of the hold's init container, right after the queue in the contract Job's pod. */
export const HOLD_CONTAINER = 'wait-for-rollout';

/** Name of the contract step's container. */
export const CONTRACT_CONTAINER = 'contract';

const RELEASE_KEY = jsonpathKey(RELEASE_LABEL);

/**
 * What the hold reads, as kubectl jsonpaths: the app's Jobs as the queue lists
 * them, a workload's generation, replicas and rollout state, and the release
 * of each pod. A field that is not set prints empty; `|` keeps the fields apart.
 */
const JSONPATHS = {
  JOBS: '{range .items[*]}{.metadata.creationTimestamp} {.metadata.name} {.status.conditions[?(@.status=="True")].type}{"\\n"}{end}',
  STATUS: '{.metadata.generation}|{.status.observedGeneration}|{.spec.replicas}|{.status.replicas}|{.status.updatedReplicas}|'
    + `{.status.availableReplicas}|{.spec.template.metadata.labels.${RELEASE_KEY}}|{.status.conditions[?(@.reason=="ProgressDeadlineExceeded")].type}`,
  PODS: `{range .items[*]}{.metadata.name} {.metadata.labels.${RELEASE_KEY}}{"\\n"}{end}`,
};

/**
 * The hold, in bash. `WORKLOADS` has a line per gated workload: `kind/name
 * selector`. A failed `kubectl get` fails the container, and so the Job,
 * loudly, rather than count pods it could not list.
 */
const HOLD_SCRIPT = `set -eu
said=
# bash alone, no grep or sleep: the waiter's image must have bash and kubectl, nothing more.
pause() { read -rt 1 <> <(:) || :; }
job_line() {
  local created name conditions
  while read -r created name conditions; do
    if [ "$name" = "$1" ]; then echo "$created $name $conditions"; return; fi
  done <<<"$jobs"
}
while :; do
  jobs=$(kubectl get jobs --selector="$SELECTOR" --output=jsonpath="$JOBS")
  expand=$(job_line "$RELEASE")
  if [ -z "$expand" ]; then echo "job/$RELEASE, the migration of this release, is gone: the contract step does not run" >&2; exit 1; fi
  read -r created name _ <<<"$expand"
  mine="$created $name"
  case " $expand " in *" Failed "* | *" FailureTarget "*) echo "job/$RELEASE, the migration of this release, failed: the contract step does not run" >&2; exit 1 ;; esac
  waiting=()
  while read -r workload selector; do
    status=$(kubectl get "$workload" --ignore-not-found --output=jsonpath="$STATUS")
    IFS='|' read -r generation observed wanted current updated available release failed <<<"$status"
    if [ -z "$generation" ]; then waiting+=("$workload to be created"); continue; fi
    if [ "$release" != "$RELEASE" ]; then
      other=
      if [ -n "$release" ]; then other=$(job_line "$release"); fi
      read -r created name _ <<<"$other"
      if [ -n "$other" ] && [[ "$created $name" > "$mine" ]]; then
        echo "$workload runs a later release (job/$release): this contract step is superseded and does not run" >&2; exit 1
      fi
      waiting+=("$workload to take this release's pod template"); continue
    fi
    if [ -n "$failed" ]; then echo "the rollout of $workload failed (ProgressDeadlineExceeded): the contract step does not run" >&2; exit 1; fi
    wanted=\${wanted:-1}
    if [ "\${observed:-0}" -lt "$generation" ] || [ "\${updated:-0}" -ne "$wanted" ] || [ "\${available:-0}" -ne "$wanted" ] || [ "\${current:-0}" -ne "$wanted" ]; then
      waiting+=("$workload to roll out (\${updated:-0} of $wanted updated, \${available:-0} available, \${current:-0} in all)"); continue
    fi
    pods=$(kubectl get pods --selector="$selector" --output=jsonpath="$PODS")
    old=0
    while read -r pod release; do
      if [ -n "$pod" ] && [ "$release" != "$RELEASE" ]; then old=$((old + 1)); fi
    done <<<"$pods"
    if [ "$old" -gt 0 ]; then waiting+=("$old pod(s) of $workload from an earlier release to be gone"); fi
  done <<<"$WORKLOADS"
  if [ \${#waiting[@]} -eq 0 ]; then echo "the release of job/$RELEASE has rolled out and no earlier pod is left: starting the contract step"; exit 0; fi
  if [ "\${waiting[*]}" != "$said" ]; then said="\${waiting[*]}"; echo "waiting for $said"; fi
  pause
done
`;

/** What the contract step takes from its migration. */
export interface ContractSource {
  /** Base of the names. */
  readonly name: string;
  /** Labels of the migration's objects. */
  readonly labels: { [key: string]: string };
  /** The migration Job as it renders in this synthesis. */
  readonly renderJob: () => any;
  /** The migration Job's name in this synthesis. */
  readonly jobName: () => string;
  /** The migration's active deadline, in seconds. */
  readonly activeDeadlineSeconds: number;
  /** The ServiceAccount of the migration Job, which the contract Job shares. */
  readonly serviceAccount: kplus.IServiceAccount;
  /** How the order is told to the applier. */
  readonly applier: Applier;
  /** Annotates objects for their stage, as objects of this release only. */
  readonly annotate: (stage: Stage, ...resources: kplus.Resource[]) => void;
}

/**
 * The contract Job of a migration, its Role (list pods, get the gated
 * workloads by name) and RoleBinding, all named `<name>-contract-<hash of the
 * contract Job>`: a release with another migration or another contract step
 * gets new ones, and a pruned release takes its own with it.
 * @internal
 */
export class Contract {
  /** The contract Job. */
  public readonly job: ApiObject;
  private readonly role: kplus.Role;
  private readonly workloads: kplus.Workload[] = [];
  private readonly deadline: number;

  constructor(scope: Construct, private readonly source: ContractSource, private readonly options: ContractOptions) {
    checkObject('contract', options);
    checkCommand('contract.command', options.command);
    checkStrings('contract.args', options.args);
    if (options.command === undefined && options.args === undefined && options.image === undefined) {
      throw new PropError('contract', 'needs a command, args or an image of its own; otherwise it would run the migration again');
    }
    if (options.image !== undefined) checkPinnedImage('contract.image', options.image);
    this.deadline = checkDuration('contract.activeDeadline', options.activeDeadline ?? Duration.seconds(source.activeDeadlineSeconds + 3600));
    if (this.deadline <= source.activeDeadlineSeconds) {
      throw new PropError('contract.activeDeadline', `must be longer than the migration's activeDeadline (${source.activeDeadlineSeconds}s): `
        + `the contract Job waits for the migration and the rollout (got "${this.deadline}s")`);
    }
    const name = Lazy.any({ produce: () => this.jobName });
    this.job = new ApiObject(scope, 'contract-job', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      // Named in render(), after a hash of the rest.
      metadata: { labels: { ...source.labels, [RELEASE_LABEL]: Lazy.any({ produce: () => source.jobName() }) } },
    });
    source.applier._annotate(this.job.metadata, 'contract', true);
    const render = this.job.toJson.bind(this.job);
    this.job.toJson = () => this.render(render());
    this.role = new kplus.Role(scope, 'contract-role', { metadata: { name, labels: source.labels } });
    this.role.allow(['list'], kplus.ApiResource.PODS);
    const binding = new kplus.RoleBinding(scope, 'contract-binding', { metadata: { name, labels: source.labels }, role: this.role });
    binding.addSubjects(source.serviceAccount);
    source.annotate('contract-rbac', this.role, binding);
    this.job.addDependency(this.role, binding);
  }

  /** The contract Job's name: `<name>-contract-<hash of the Job as rendered, but its name>`. */
  public get jobName(): string {
    return this.job.toJson().metadata.name;
  }

  /**
   * Makes the contract step wait for `workload`'s rollout: lets the hold read
   * it by name. (Its pods carry the release label: `gate()` adds it to every
   * gated workload, with a contract step or not, so that a later release
   * without one still supersedes this one.)
   * @param where the prop that names the workload in errors
   */
  public gate(workload: kplus.Workload, where: string, jobNamespace: string | undefined): void {
    if (!(workload instanceof kplus.Deployment || workload instanceof kplus.StatefulSet)) {
      throw new PropError(where, 'a migration with a contract step can gate Deployments and StatefulSets only: the hold reads their rollout status');
    }
    if (workload.metadata.namespace !== jobNamespace) {
      throw new PropError(`${where}.metadata.namespace`, 'must be the migration\'s with a contract step, whose hold reads the workload and its pods');
    }
    if (Object.keys(workload.matchLabels).length === 0) {
      throw new PropError(where, 'needs a label selector (matchLabels): the contract step finds the workload\'s pods by it');
    }
    this.role.allow(['get'], workload);
    this.workloads.push(workload);
  }

  /** The contract Job, made from the migration Job as it renders. */
  private render(own: any): any {
    const expand = this.source.renderJob();
    const spec = JSON.parse(JSON.stringify(expand.spec));
    spec.activeDeadlineSeconds = this.deadline;
    const pod = spec.template.spec;
    // The queue is the first init container, and the migration the only container, of every migration Job.
    const [queue] = pod.initContainers;
    const [main] = pod.containers;
    const release = this.source.jobName();
    const workloads = this.workloads.map((w) => {
      const selector = Object.entries(w.matchLabels).sort().map(([k, v]) => `${k}=${v}`).join(',');
      return `${w instanceof kplus.Deployment ? 'deployment' : 'statefulset'}/${w.name} ${selector}`;
    });
    const env = { HOME: '/tmp', LC_ALL: 'C', RELEASE: release, SELECTOR: jobSelector(this.source.name), WORKLOADS: workloads.join('\n'), ...JSONPATHS };
    const hold = {
      ...JSON.parse(JSON.stringify(queue)),
      name: HOLD_CONTAINER,
      args: [HOLD_SCRIPT],
      env: Object.entries(env).map(([n, value]) => ({ name: n, value })),
    };
    pod.initContainers.splice(1, 0, hold);
    main.name = CONTRACT_CONTAINER;
    if (this.options.image !== undefined) main.image = this.options.image;
    if (this.options.command !== undefined) {
      main.command = [...this.options.command];
      delete main.args;
    }
    if (this.options.args !== undefined) main.args = [...this.options.args];
    spec.template.metadata.labels[RELEASE_LABEL] = release;
    // The migration Job's annotations (linter waivers), with the applier's for the contract stage over its own stage's: every
    // applier sets the same keys in both stages.
    const json = { ...own, metadata: { ...own.metadata, annotations: { ...expand.metadata.annotations, ...own.metadata.annotations } }, spec };
    const { name: _placeholder, ...metadata } = json.metadata;
    json.metadata.name = hashedName(this.source.name, 'contract', contentHash({ ...json, metadata }));
    return json;
  }
}
