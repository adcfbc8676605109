import { posix } from 'path';
import { ApiObject, Duration, Lazy, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  addTokenVolume, dropAddressLabel, finishRender, mountToken, podSeccompProfile, SERVICE_ACCOUNT_PATH, setPodSpecField,
} from './_pod-template';
import { Applier, Stage } from './applier';
import { Contract, CONTRACT_CONTAINER, ContractOptions, HOLD_CONTAINER } from './contract';
import { envFrom, envValues, isNonEmpty } from './env';
import { annotateException, annotateLibraryExceptions, OWN_PODS } from './exceptions';
import { claimName, contentHash, contentName, fitName, hashedName, recommendedLabels, RELEASE_LABEL } from './naming';
import { addExtraContainers, addImagePullSecrets, addPodMetadata } from './pod';
import { addQueueContainer, addQueueRbac, QUEUE_VOLUMES, queueName } from './queue';
import { withDefaults, WORKLOAD_RESOURCES } from './resources';
import { restrictedContainer } from './security';
import {
  checkApplier, checkCommand, checkDataSize, checkDuration, checkEnvNames, checkExclusive, checkFilePath, checkInteger, checkLabels, checkLabelValue,
  checkMountPath, checkName, checkPinnedImage, checkReference, checkStrings, checkSubdomain, checkYamlString, locate, PropError,
} from './validation';
import { addWaiter, checkWaiterOptions, DEFAULT_WAITER_IMAGE, WaiterOptions } from './waiter';

/** Folders the library mounts into the migration container itself. */
const RESERVED_PATHS = ['/tmp'];

/** The migration's container. */
const MIGRATE_CONTAINER = 'migrate';

/** The projected volume of the Job's token, when it has a ServiceAccount. */
const TOKEN_VOLUME = 'migrate-token';

/** Names of the volumes the library adds to the Job's pod. */
const RESERVED_VOLUMES = ['tmp', 'config-file', TOKEN_VOLUME, QUEUE_VOLUMES.token, QUEUE_VOLUMES.tmp];

/** Why the Job has no `ttlSecondsAfterFinished`, for readers and for kube-linter. */
export const NO_TTL_REASON = 'Pods of this release (scale-up, a drained node) must still find this Job; it is removed when the applier prunes it after a later release.';

/** A configuration file for the migration tool, mounted read-only into the Job's container. */
export interface MigrationConfigFile {
  /** Absolute path of the file in the container, for example `/app/dbconfig.yml`. */
  readonly path: string;

  /**
   * The file's content. It lands in a ConfigMap, so keep secrets out of it:
   * most tools expand `${DB_PASSWORD}`-style references from the environment.
   */
  readonly content: string;
}

/** What defines the migration Job. */
export interface MigrationOptions {
  /**
   * The command to run.
   * @default - the image's entrypoint
   */
  readonly command?: string[];

  /**
   * Arguments to the command.
   * @default - the image's default arguments
   */
  readonly args?: string[];

  /**
   * Literal environment variables that only the migration sees.
   * @default - none
   */
  readonly env?: { [name: string]: string };

  /**
   * Secret values that only the migration sees (for example a git token to
   * fetch the migrations). They are rendered into a Secret in the manifests;
   * use `existingSecret` to keep them out of git.
   * @default - none
   */
  readonly secretValues?: { [name: string]: string };

  /**
   * An existing Secret (External Secrets, Sealed Secrets, made by hand) whose
   * keys become environment variables of the migration only. The library emits
   * no Secret for it. Reference it with cdk8s-plus-27's `Secret.fromSecretName()`.
   * @default - none
   */
  readonly existingSecret?: kplus.ISecret;

  /**
   * A configuration file for the migration tool, mounted read-only by `subPath`.
   * @default - none
   */
  readonly configFile?: MigrationConfigFile;

  /**
   * How many times a failed migration is retried before the Job fails.
   * @default 0 - a failed migration stops and waits for a human
   */
  readonly backoffLimit?: number;

  /**
   * How long the migration may run, retries included, before the Job fails.
   * @default Duration.minutes(10)
   */
  readonly activeDeadline?: Duration;

  /**
   * Resources of the migration container. Each of CPU, memory and ephemeral
   * storage that is left out keeps its default requests and limits.
   * @default - requests 1 CPU, 512Mi memory and 64Mi ephemeral storage; limits 1500m CPU, 2Gi memory and 1Gi ephemeral storage
   */
  readonly resources?: kplus.ContainerResources;

  /**
   * Security context of the migration container, merged over the restricted defaults.
   * Set `user` when the image would run as root.
   * @default - restricted: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped
   */
  readonly securityContext?: kplus.ContainerSecurityContextProps;

  /**
   * The init container that gated workloads wait in.
   * @default - see `WaiterOptions`
   */
  readonly waiter?: WaiterOptions;

  /**
   * A contract step: a second Job of each release that runs once the release
   * has fully rolled out, for the half of a zero-downtime schema change that
   * the old version would not survive (drop the old column, add the NOT NULL).
   * It runs in the migration's image, with its environment, files, sidecars
   * and init containers, after an init container that holds it until every
   * gated workload has all its replicas on this release's pod template and
   * available, and no pod of an earlier release is left, terminating ones
   * included. It never runs if the migration or the rollout fails, or if a
   * later release replaces this one first. See docs/expand-contract.md.
   * @default - none
   */
  readonly contract?: ContractOptions;

  /**
   * Long-running containers beside the migration, such as a database proxy
   * (Cloud SQL Auth Proxy, PgBouncer) or a service mesh's proxy. Each becomes
   * a native sidecar: an init container with `restartPolicy: Always`, started
   * before the migration and stopped once it has exited, so the Job completes.
   * That needs Kubernetes 1.29 or later (GA in 1.33). Their `securityContext`
   * is merged over the restricted defaults; they get no API token. Their
   * `resources` default to the migration container's, resource by resource.
   * @default - none
   */
  readonly sidecars?: kplus.ContainerProps[];

  /**
   * Containers that run to completion, in order, before the migration (after
   * the sidecars), for example one that clones the migrations from git into a
   * volume that the migration mounts too (`volumeMounts`). Their
   * `securityContext` is merged over the restricted defaults; they get no API
   * token, and none of the environment of the migration container. Their
   * `resources` default to the migration container's, resource by resource.
   * @default - none
   */
  readonly initContainers?: kplus.ContainerProps[];

  /**
   * More volumes mounted into the migration container, for example an
   * emptyDir that an init container fills. Not under `/tmp`, which the library mounts.
   * @default - none
   */
  readonly volumeMounts?: kplus.VolumeMount[];

  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` to pull the Job's images with.
   * @default - none
   */
  readonly imagePullSecrets?: kplus.ISecret[];

  /**
   * A ServiceAccount for the Job, for a cloud identity (an IRSA role
   * annotation on EKS, Workload Identity on GKE). Only the migration container
   * mounts its token, at `/var/run/secrets/kubernetes.io/serviceaccount`; the
   * sidecars and init containers get none. The library grants it no RBAC.
   * A `ServiceAccount` made in this app is applied with the Job's ConfigMaps
   * and Secrets, before the Job (sync waves, Helm hooks).
   * @default - the namespace's default ServiceAccount, and no token at all
   */
  readonly serviceAccount?: kplus.IServiceAccount;

  /**
   * Node labels the Job's pod must run on, for a dedicated node pool.
   * @default - any node
   */
  readonly nodeSelector?: { [key: string]: string };

  /**
   * Taints the Job's pod tolerates, for example `NodeTaintQuery.is('pool', 'migrations', { effect: TaintEffect.NO_SCHEDULE })`.
   * @default - none
   */
  readonly tolerations?: kplus.NodeTaintQuery[];

  /**
   * Node labels the Job's pod requires, as node affinity (all of them must
   * match), for example `NodeLabelQuery.in('topology.kubernetes.io/zone', ['eu-west-1a'])`.
   * @default - none
   */
  readonly nodeAffinity?: kplus.NodeLabelQuery[];

  /**
   * The PriorityClass of the Job's pod.
   * @default - the cluster's default priority
   */
  readonly priorityClassName?: string;

  /**
   * Labels of the Job's pod, beside the library's `app.kubernetes.io/*` ones
   * (cost labels, log routing, `sidecar.istio.io/inject`).
   * @default - none
   */
  readonly podLabels?: { [key: string]: string };

  /**
   * Annotations of the Job's pod (mesh settings, log routing).
   * @default - none
   */
  readonly podAnnotations?: { [key: string]: string };
}

/** Props of a `DatabaseMigration`. */
export interface DatabaseMigrationProps extends MigrationOptions {
  /** The image that runs the migration, pinned with a tag other than `latest` or a digest. */
  readonly image: string;

  /**
   * How the order is also told to the tool that applies the manifests.
   * @default Applier.plain()
   */
  readonly applier?: Applier;

  /**
   * Base of the names of every object this construct emits.
   * @default - a name derived from the construct path
   */
  readonly name?: string;

  /**
   * ConfigMaps whose keys become environment variables of the migration, as
   * of the workloads it gates.
   * @default - none
   */
  readonly envFromConfigMaps?: kplus.IConfigMap[];

  /**
   * Secrets whose keys become environment variables of the migration, as of
   * the workloads it gates.
   * @default - none
   */
  readonly envFromSecrets?: kplus.ISecret[];

  /**
   * Value of the `app.kubernetes.io/part-of` label.
   * @default - the name
   */
  readonly partOf?: string;
}

/**
 * A database migration that runs once per release, as a Kubernetes Job, and
 * the means to hold any workload's pods until it has succeeded (`gate()`).
 *
 * The Job is named `<name>-migrate-<hash>`, where the hash covers the Job as
 * rendered, everything but its name, whatever route a change took (props, or
 * mutations of `job` such as `job.addVolume()` or a patch). Identical output
 * gets the same name, so re-applying is a no-op; any change gets a new Job,
 * so it never hits the Job's immutable pod template, and the gated
 * workloads' pod templates change with it so that their new pods wait for it.
 *
 * Migrations of the same name run one at a time: each Job's first init
 * container waits until every Job of the same migration created before it has
 * completed or failed. It lists and watches the namespace's Jobs with a token
 * of the Job's ServiceAccount (`<name>-migrate-queue`, or `serviceAccount`),
 * bound to a Role of the same name.
 */
export class DatabaseMigration extends Construct {
  /** The image of the wait-for init container, unless `waiter.image` says otherwise. */
  public static readonly DEFAULT_WAITER_IMAGE = DEFAULT_WAITER_IMAGE;

  /** Base of the names of this migration's objects. */
  public readonly name: string;

  /**
   * The migration Job. Changing it is supported: whatever reaches its
   * manifest changes its name too.
   */
  public readonly job: kplus.Job;

  /** How long the migration may run before the Job fails. */
  public readonly activeDeadline: Duration;

  /** The Secret with the migration-only `secretValues`, if any. */
  public readonly secret?: kplus.Secret;

  /** How the order is told to the applier. */
  public readonly applier: Applier;

  private readonly labels: { [key: string]: string };
  private readonly waiter: WaiterOptions;
  private readonly contract?: Contract;
  private readonly gated: kplus.Workload[] = [];
  private reader?: { role: kplus.Role; binding: kplus.RoleBinding };
  /** Whether the Job is rendering: its own name is then a placeholder, left out of the hash. */
  private hashing = false;
  /** The hash of the Job as it last rendered. */
  private lastHash = '';
  /** The Job as rendered in the synthesis under way, once rendered: see `beginSynthesis()`. */
  private memo?: { hash?: string; json?: any };

  constructor(scope: Construct, id: string, props: DatabaseMigrationProps) {
    super(scope, id);
    try {
      this.name = checkName('name', props.name ?? Names.toDnsLabel(this, { maxLen: 40 }));
      claimName(this, 'name', this.name);
      claimName(this, 'name', queueName(this.name));
      const partOf = checkLabelValue('partOf', props.partOf ?? this.name);
      const image = checkPinnedImage('image', props.image);
      checkCommand('command', props.command);
      checkStrings('args', props.args);
      checkEnvNames('env', props.env);
      checkEnvNames('secretValues', props.secretValues);
      checkReference('existingSecret', props.existingSecret, 'kplus.Secret.fromSecretName(scope, id, name)');
      checkApplier('applier', props.applier);
      checkExclusive('secretValues', props.secretValues, 'existingSecret', props.existingSecret);
      const backoffLimit = checkInteger('backoffLimit', props.backoffLimit ?? 0, 0);
      this.activeDeadline = props.activeDeadline ?? Duration.minutes(10);
      const activeDeadline = checkDuration('activeDeadline', this.activeDeadline);
      if (props.serviceAccount) checkSubdomain('serviceAccount', props.serviceAccount.name);
      const reservedPaths = [...RESERVED_PATHS, ...props.serviceAccount ? [SERVICE_ACCOUNT_PATH] : []];
      if (props.configFile) {
        checkFilePath('configFile.path', props.configFile.path, reservedPaths);
        checkYamlString('configFile.content', props.configFile.content);
        checkDataSize('configFile.content', { [posix.basename(props.configFile.path)]: props.configFile.content });
      }
      this.applier = props.applier ?? Applier.plain();
      this.waiter = props.waiter ?? {};
      const waiterImage = checkWaiterOptions(this.waiter).image;
      this.labels = recommendedLabels(this.name, 'migration', partOf);
      // cdk8s validates every construct of the app at the start of each Chart.toJson() (App.synth() runs it per chart),
      // after any mutation made before synth and before it renders a single object: a synthesis begins here.
      this.node.addValidation({ validate: () => this.beginSynthesis() });

      if (isNonEmpty(props.secretValues)) {
        checkDataSize('secretValues', props.secretValues);
        this.secret = new kplus.Secret(this, 'secret', {
          metadata: { name: contentName(this.name, 'migrate-secret', props.secretValues), labels: this.labels },
          stringData: { ...props.secretValues }, // a plain copy: cdk8s cannot serialize null-prototype objects
          immutable: true,
        });
        this._annotateRelease('config', this.secret);
      }
      const queue = addQueueRbac(this, this.name, this.labels, props.serviceAccount);
      this._annotate('config', ...queue.serviceAccount ? [queue.serviceAccount] : [], queue.role, queue.binding);
      const configMaps = props.envFromConfigMaps ?? [];
      const secrets = [...props.envFromSecrets ?? [], ...this.secret ? [this.secret] : [], ...props.existingSecret ? [props.existingSecret] : []];

      this.job = new kplus.Job(this, 'job', {
        metadata: {
          name: Lazy.any({ produce: () => this.synthesizedJobName }),
          labels: this.labels,
        },
        backoffLimit,
        activeDeadline: Duration.seconds(activeDeadline),
        securityContext: { ensureNonRoot: true },
        serviceAccount: queue.jobServiceAccount,
        automountServiceAccountToken: false,
      });
      // Added here rather than in the props: cdk8s copies the props' annotations with a spread, and on Node.js 20
      // each Job's copy then got a V8 hidden class of its own with every annotation added after it (checked with
      // %HaveSameMap): a map and a descriptor array per app, kept (docs/figures.md).
      this.job.metadata.addAnnotation('ignore-check.kube-linter.io/job-ttl-seconds-after-finished', NO_TTL_REASON);
      // Emitted before the Job, so that a first apply does not create its pod for a missing ServiceAccount.
      ApiObject.of(this.job).addDependency(...queue.serviceAccount ? [queue.serviceAccount] : [], queue.role, queue.binding);
      // The Job renders once per synthesis, and is named after what it renders.
      finishRender(this.job, (render) => this.renderJob(render));
      for (const [k, v] of Object.entries(this.labels)) this.job.podMetadata.addLabel(k, v);
      dropAddressLabel(this.job);
      addPodMetadata(this.job, 'pod', props.podLabels, props.podAnnotations);
      this._annotateRelease('migration', this.job);
      for (const e of OWN_PODS) annotateException(this.job.metadata, e);
      podSeccompProfile(this.job);
      this.schedule(props);
      addImagePullSecrets(this.job, 'imagePullSecrets', props.imagePullSecrets ?? []);
      // The first init container: the Job's turn comes before its sidecars and init containers start.
      addQueueContainer(this.job, this.name, waiterImage, this.waiter);
      addImagePullSecrets(this.job, 'waiter.imagePullSecrets', this.waiter.imagePullSecrets ?? []);

      const container = this.job.addContainer({
        name: MIGRATE_CONTAINER,
        image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: props.command,
        args: props.args,
        envVariables: envValues(props.env),
        resources: withDefaults(this.job, MIGRATE_CONTAINER, props.resources, WORKLOAD_RESOURCES),
        securityContext: restrictedContainer(props.securityContext),
      });
      envFrom(container, configMaps, secrets);
      container.mount('/tmp', kplus.Volume.fromEmptyDir(this.job, 'tmp', 'tmp'));
      (props.volumeMounts ?? []).forEach((m, i) => {
        checkMountPath(`volumeMounts[${i}].path`, m.path, [...reservedPaths, ...props.configFile ? [props.configFile.path] : []]);
        if (RESERVED_VOLUMES.includes(m.volume.name)) {
          throw new PropError(`volumeMounts[${i}].volume`, `the volume name "${m.volume.name}" is the library's own (${RESERVED_VOLUMES.join(', ')})`);
        }
        container.mount(m.path, m.volume, m);
      });
      // After the migration container, so that their names are checked against its name.
      addExtraContainers(this.job, 'sidecars', props.sidecars ?? [], true);
      addExtraContainers(this.job, 'initContainers', props.initContainers ?? [], false);
      if (props.serviceAccount instanceof kplus.ServiceAccount) this._annotate('config', props.serviceAccount);
      // Only the migration container gets the token.
      if (props.serviceAccount) {
        addTokenVolume(this.job, TOKEN_VOLUME);
        mountToken(this.job, container, TOKEN_VOLUME);
      }

      if (props.contract !== undefined) {
        const taken = [...this.job.initContainers, ...this.job.containers].map((c) => c.name)
          .find((n) => [HOLD_CONTAINER, CONTRACT_CONTAINER].includes(n));
        if (taken) throw new PropError('contract', `the contract Job's pod has a container named '${taken}' of its own: rename the sidecar or init container`);
        this.contract = new Contract(this, {
          name: this.name,
          labels: this.labels,
          renderJob: () => ApiObject.of(this.job).toJson(),
          jobName: () => this.synthesizedJobName,
          activeDeadlineSeconds: activeDeadline,
          serviceAccount: queue.jobServiceAccount,
          applier: this.applier,
          annotate: (stage, ...resources) => this._annotateRelease(stage, ...resources),
        }, props.contract);
      }
      if (props.configFile) {
        const key = posix.basename(props.configFile.path);
        const files = new kplus.ConfigMap(this, 'files', {
          metadata: { name: contentName(this.name, 'migrate-files', props.configFile), labels: this.labels },
          data: { [key]: props.configFile.content },
          immutable: true,
        });
        this._annotateRelease('config', files);
        container.mount(props.configFile.path, kplus.Volume.fromConfigMap(this.job, 'config-file', files, { name: 'config-file' }), { subPath: key, readOnly: true });
      }
    } catch (e) {
      throw locate(this, e);
    }
  }

  /** Node selector, tolerations, node affinity and priority class of the Job's pod. */
  private schedule(props: MigrationOptions): void {
    if (props.nodeSelector !== undefined) {
      checkLabels('nodeSelector', props.nodeSelector);
      const selector = Object.fromEntries(Object.keys(props.nodeSelector).sort().map((k) => [k, props.nodeSelector![k]]));
      if (Object.keys(selector).length > 0) setPodSpecField(this.job, 'nodeSelector', selector);
    }
    if (props.priorityClassName !== undefined) {
      setPodSpecField(this.job, 'priorityClassName', checkSubdomain('priorityClassName', props.priorityClassName));
    }
    if ((props.tolerations ?? []).length > 0) this.job.scheduling.tolerate(kplus.Node.tainted(...props.tolerations!));
    if ((props.nodeAffinity ?? []).length > 0) this.job.scheduling.attract(kplus.Node.labeled(...props.nodeAffinity!));
  }

  /**
   * Name of the migration Job: `<name>-migrate-<hash of the Job as rendered>`.
   * The manifests always carry the name of the Job as it is at synth time;
   * read here, it reflects the Job as it is now.
   */
  public get jobName(): string {
    return this.asItIsNow(() => hashedName(this.name, 'migrate', this.jobHash()));
  }

  /** `read()`, with the Jobs rendered as they are now rather than as in the synthesis under way. */
  private asItIsNow<T>(read: () => T): T {
    const memo = this.memo;
    this.memo = undefined;
    try {
      return read();
    } finally {
      this.memo = memo;
    }
  }

  /** The Job's name as the manifests being synthesized carry it. */
  private get synthesizedJobName(): string {
    return hashedName(this.name, 'migrate', this.synthesisHash());
  }

  /**
   * Name of the contract step's Job, `<name>-contract-<hash>`, if the
   * migration has a contract step. Read here, it reflects the Jobs as they are now.
   */
  public get contractJobName(): string | undefined {
    const contract = this.contract;
    return contract && this.asItIsNow(() => contract.jobName);
  }

  /** The workloads gated on this migration so far. */
  public get gatedWorkloads(): kplus.Workload[] {
    return [...this.gated];
  }

  /**
   * Holds `workload`'s pods until the migration Job has completed: adds the
   * waiter's init containers (the only containers that get an API token), a
   * ServiceAccount if the workload has none, and binds it to this release's
   * Role, which can only read this release's Job. It annotates the workload
   * with the kube-score and Checkov findings that the waiter's choices call for
   * (image pull policy, NetworkPolicy, ...), each with its reason.
   *
   * The workload may live in another namespace than the migration if both
   * namespaces are set (on their charts or objects): the waiter then names the
   * Job's namespace, and the RoleBinding lives there.
   */
  public gate(workload: kplus.Workload): void {
    try {
      this.gateOnce(workload);
    } catch (e) {
      throw locate(this, e);
    }
  }

  /** `gate()`, whose prop errors name the workload as `gate(<its path>)`. */
  private gateOnce(workload: kplus.Workload): void {
    const where = `gate(${workload.node.path})`;
    if (this.gated.includes(workload)) throw new PropError(where, `the workload is already gated on migration '${this.name}'`);
    if (workload.automountServiceAccountToken) {
      throw new PropError(`${where}.automountServiceAccountToken`, 'must be false; the waiter mounts its own token so that the app containers get none');
    }
    const deadline = this.activeDeadline.toSeconds();
    if (workload instanceof kplus.Deployment && workload.progressDeadline.toSeconds() <= deadline) {
      throw new PropError(`${where}.progressDeadline`, `must be longer than the migration's activeDeadline (${deadline}s), `
        + `or a long healthy migration fails the rollout (got "${workload.progressDeadline.toSeconds()}s")`);
    }
    const jobNamespace = this.job.metadata.namespace;
    const workloadNamespace = workload.metadata.namespace;
    if (jobNamespace !== workloadNamespace && (jobNamespace === undefined || workloadNamespace === undefined)) {
      throw new PropError(`${where}.metadata.namespace`, `(${workloadNamespace ?? 'unset'}) and the migration's (${jobNamespace ?? 'unset'}) must `
        + 'both be set to gate across namespaces, so that the waiter and the RoleBinding can name the Job\'s; or leave both unset');
    }
    this.contract?.gate(workload, where, jobNamespace);
    // The release of each pod, for a contract step's hold, this release's or an earlier one's.
    workload.podMetadata.addLabel(RELEASE_LABEL, Lazy.any({ produce: () => this.synthesizedJobName }));
    addWaiter(workload, {
      migrationName: this.name,
      jobName: () => this.synthesizedJobName,
      namespace: jobNamespace !== workloadNamespace ? jobNamespace : undefined,
      activeDeadlineSeconds: deadline,
    }, this.waiter);

    let serviceAccount = workload.serviceAccount;
    if (!serviceAccount) {
      const created = new kplus.ServiceAccount(workload, 'service-account', {
        metadata: { name: fitName(workload.name), labels: this.labels },
        automountToken: false,
      });
      setPodSpecField(workload, 'serviceAccountName', created.name);
      // Emit it before the workload, so a first apply does not create pods for a missing ServiceAccount.
      ApiObject.of(workload).addDependency(created);
      this._annotate('rbac', created);
      serviceAccount = created;
    }
    this.readerOfThisRelease().binding.addSubjects(serviceAccount);
    this._annotate('workload', workload);
    this.gated.push(workload);
  }

  /**
   * The Role that reads this release's Job, and its RoleBinding, both named
   * `<name>-reader-<the Job's hash>`: a new release gets new ones, so pods of
   * the previous release (restarted, rescheduled, rolled back) can still read
   * their own Job until the applier prunes that release's objects together.
   */
  private readerOfThisRelease(): { role: kplus.Role; binding: kplus.RoleBinding } {
    if (!this.reader) {
      const name = Lazy.any({ produce: () => hashedName(this.name, 'reader', this.synthesisHash()) });
      const role = new kplus.Role(this, 'reader', { metadata: { name, labels: this.labels } });
      role.allowRead(this.job);
      const binding = new kplus.RoleBinding(this, 'reader-binding', { metadata: { name, labels: this.labels }, role });
      this._annotateRelease('rbac', role, binding);
      this.reader = { role, binding };
    }
    return this.reader;
  }

  /**
   * A synthesis begins: the Job renders again, once, the first time it or an
   * object that names it renders, and every reference to its name shares that
   * rendering. cdk8s gives no signal when a synthesis ends; it runs
   * synchronously, so the rendering is forgotten once the current run of
   * JavaScript ends, and a mutation made after a synthesis counts in the
   * next one. (A mutation of the Job made after `Chart.toJson()`, followed in
   * the same synchronous run by `ApiObject.of(...).toJson()` with no
   * `Chart.toJson()` or `App.synth()` between them, would render the earlier
   * Job.) The `jobName` getter always renders the Job as it is.
   */
  private beginSynthesis(): string[] {
    if (!this.memo) queueMicrotask(() => { this.memo = undefined; });
    this.memo = {};
    return [];
  }

  /** The Job's hash: within a synthesis, that of its one rendering. */
  private synthesisHash(): string {
    return (this.memo && !this.hashing && this.memo.hash) || this.jobHash();
  }

  /**
   * A hash of the Job's manifest as it renders now, everything but its name.
   * While the Job renders, its own name resolves to a placeholder, which is
   * then left out.
   */
  private jobHash(): string {
    if (this.hashing) return 'x';
    ApiObject.of(this.job).toJson();
    return this.lastHash;
  }

  /** Renders the Job, or takes its rendering in this synthesis, and names it after a hash of the rest. */
  private renderJob(render: () => any): any {
    if (this.memo?.json) return this.memo.json;
    this.hashing = true;
    let json: any;
    try {
      json = render();
    } finally {
      this.hashing = false;
    }
    const { name: _placeholder, ...metadata } = json.metadata;
    this.lastHash = contentHash({ ...json, metadata });
    json.metadata.name = hashedName(this.name, 'migrate', this.lastHash);
    if (this.memo) Object.assign(this.memo, { hash: this.lastHash, json });
    return json;
  }

  /**
   * Annotates objects for the applier, as belonging to `stage` of the release,
   * and with the linter findings that the library's choices call for.
   * @internal
   */
  public _annotate(stage: Stage, ...resources: kplus.Resource[]): void {
    this.annotateAll(stage, false, resources);
  }

  /**
   * Annotates objects that belong to this release only (named after their
   * content, so the next release has others) for the applier, as `_annotate`
   * does, and as per-release objects.
   * @internal
   */
  public _annotateRelease(stage: Stage, ...resources: kplus.Resource[]): void {
    this.annotateAll(stage, true, resources);
  }

  private annotateAll(stage: Stage, perRelease: boolean, resources: kplus.Resource[]): void {
    for (const r of resources) {
      this.applier._annotate(r.metadata, stage, perRelease);
      annotateLibraryExceptions(r);
    }
  }
}


