import { posix } from 'path';
import { ApiObject, Duration, JsonPatch, Lazy, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Applier, Stage } from './applier';
import { envFrom, envValues, isNonEmpty } from './env';
import { annotateException, annotateLibraryExceptions, OWN_PODS } from './exceptions';
import { claimName, contentHash, contentName, fitName, hashedName, recommendedLabels } from './naming';
import { withDefaults, WORKLOAD_RESOURCES } from './resources';
import { applySeccompProfile, podSpecPath, restrictedContainer } from './security';
import {
  checkCommand, checkDataSize, checkDuration, checkEnvNames, checkExclusive, checkFilePath, checkInteger, checkLabelValue, checkName,
  checkPinnedImage,
} from './validation';
import { addWaiter, checkWaiterOptions, DEFAULT_WAITER_IMAGE, WaiterOptions } from './waiter';

/** Folders the library mounts into the migration container itself. */
const RESERVED_PATHS = ['/tmp'];

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
  private readonly gated: kplus.Workload[] = [];
  private reader?: { role: kplus.Role; binding: kplus.RoleBinding };
  private hashing = false;

  constructor(scope: Construct, id: string, props: DatabaseMigrationProps) {
    super(scope, id);
    this.name = checkName('name', props.name ?? Names.toDnsLabel(this, { maxLen: 40 }));
    claimName(this, 'name', this.name);
    const partOf = checkLabelValue('partOf', props.partOf ?? this.name);
    const image = checkPinnedImage('image', props.image);
    checkCommand('command', props.command);
    checkEnvNames('env', props.env);
    checkEnvNames('secretValues', props.secretValues);
    checkExclusive('secretValues', props.secretValues, 'existingSecret', props.existingSecret);
    const backoffLimit = checkInteger('backoffLimit', props.backoffLimit ?? 0, 0);
    this.activeDeadline = props.activeDeadline ?? Duration.minutes(10);
    const activeDeadline = checkDuration('activeDeadline', this.activeDeadline);
    if (props.configFile) {
      checkFilePath('configFile.path', props.configFile.path, RESERVED_PATHS);
      checkDataSize('configFile.content', { [posix.basename(props.configFile.path)]: props.configFile.content });
    }
    this.applier = props.applier ?? Applier.plain();
    this.waiter = props.waiter ?? {};
    checkWaiterOptions(this.waiter);
    this.labels = recommendedLabels(this.name, 'migration', partOf);

    if (isNonEmpty(props.secretValues)) {
      checkDataSize('secretValues', props.secretValues);
      this.secret = new kplus.Secret(this, 'secret', {
        metadata: { name: contentName(this.name, 'migrate-secret', props.secretValues), labels: this.labels },
        stringData: { ...props.secretValues }, // a plain copy: cdk8s cannot serialize null-prototype objects
        immutable: true,
      });
      this._annotate('config', this.secret);
    }
    const configMaps = props.envFromConfigMaps ?? [];
    const secrets = [...props.envFromSecrets ?? [], ...this.secret ? [this.secret] : [], ...props.existingSecret ? [props.existingSecret] : []];

    this.job = new kplus.Job(this, 'job', {
      metadata: {
        name: Lazy.any({ produce: () => this.jobName }),
        labels: this.labels,
        annotations: { 'ignore-check.kube-linter.io/job-ttl-seconds-after-finished': NO_TTL_REASON },
      },
      backoffLimit,
      activeDeadline: Duration.seconds(activeDeadline),
      securityContext: { ensureNonRoot: true },
    });
    for (const [k, v] of Object.entries(this.labels)) this.job.podMetadata.addLabel(k, v);
    this._annotate('migration', this.job);
    for (const e of OWN_PODS) annotateException(this.job.metadata, e);
    applySeccompProfile(this.job);

    const container = this.job.addContainer({
      name: 'migrate',
      image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: props.command,
      args: props.args,
      envVariables: envValues(props.env),
      resources: withDefaults(this.job, `/spec/template/spec/containers/${this.job.containers.length}`, props.resources, WORKLOAD_RESOURCES),
      securityContext: restrictedContainer(props.securityContext),
    });
    envFrom(container, configMaps, secrets);
    container.mount('/tmp', kplus.Volume.fromEmptyDir(this.job, 'tmp', 'tmp'));

    if (props.configFile) {
      const key = posix.basename(props.configFile.path);
      const files = new kplus.ConfigMap(this, 'files', {
        metadata: { name: contentName(this.name, 'migrate-files', props.configFile), labels: this.labels },
        data: { [key]: props.configFile.content },
        immutable: true,
      });
      this._annotate('config', files);
      container.mount(props.configFile.path, kplus.Volume.fromConfigMap(this.job, 'config-file', files, { name: 'config-file' }), { subPath: key, readOnly: true });
    }
  }

  /**
   * Name of the migration Job: `<name>-migrate-<hash of the Job as rendered>`.
   * The manifests always carry the name of the Job as it is at synth time;
   * read here, it reflects the Job as it is now.
   */
  public get jobName(): string {
    return hashedName(this.name, 'migrate', this.jobHash());
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
    const where = `gate(${workload.node.path})`;
    if (this.gated.includes(workload)) throw new Error(`${where}: the workload is already gated on migration '${this.name}'`);
    if (workload.automountServiceAccountToken) {
      throw new Error(`${where}: automountServiceAccountToken must be false; the waiter mounts its own token so that the app containers get none`);
    }
    const deadline = this.activeDeadline.toSeconds();
    if (workload instanceof kplus.Deployment && workload.progressDeadline.toSeconds() <= deadline) {
      throw new Error(`${where}: the Deployment's progressDeadline (${workload.progressDeadline.toSeconds()}s) must be longer than the migration's `
        + `activeDeadline (${deadline}s), or a long healthy migration fails the rollout`);
    }
    const jobNamespace = this.job.metadata.namespace;
    const workloadNamespace = workload.metadata.namespace;
    if (jobNamespace !== workloadNamespace && (jobNamespace === undefined || workloadNamespace === undefined)) {
      throw new Error(`${where}: the workload's namespace (${workloadNamespace ?? 'unset'}) and the migration's (${jobNamespace ?? 'unset'}) must `
        + 'both be set to gate across namespaces, so that the waiter and the RoleBinding can name the Job\'s; or leave both unset');
    }
    addWaiter(workload, {
      migrationName: this.name,
      jobName: () => this.jobName,
      namespace: jobNamespace !== workloadNamespace ? jobNamespace : undefined,
      activeDeadlineSeconds: deadline,
    }, this.waiter);

    let serviceAccount = workload.serviceAccount;
    if (!serviceAccount) {
      const created = new kplus.ServiceAccount(workload, 'service-account', {
        metadata: { name: fitName(workload.name), labels: this.labels },
        automountToken: false,
      });
      ApiObject.of(workload).addJsonPatch(JsonPatch.add(`${podSpecPath(workload)}/serviceAccountName`, created.name));
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
      const name = Lazy.any({ produce: () => hashedName(this.name, 'reader', this.jobHash()) });
      const role = new kplus.Role(this, 'reader', { metadata: { name, labels: this.labels } });
      role.allowRead(this.job);
      const binding = new kplus.RoleBinding(this, 'reader-binding', { metadata: { name, labels: this.labels }, role });
      this._annotate('rbac', role, binding);
      this.reader = { role, binding };
    }
    return this.reader;
  }

  /**
   * A hash of the Job's manifest as it renders now, everything but its name.
   * Rendering it resolves the name, which asks for this hash again: that
   * inner call gets a placeholder, which is then left out.
   */
  private jobHash(): string {
    if (this.hashing) return 'x';
    this.hashing = true;
    try {
      const manifest = ApiObject.of(this.job).toJson();
      delete manifest.metadata.name;
      return contentHash(manifest);
    } finally {
      this.hashing = false;
    }
  }

  /**
   * Annotates objects for the applier, as belonging to `stage` of the release,
   * and with the linter findings that the library's choices call for.
   * @internal
   */
  public _annotate(stage: Stage, ...resources: kplus.Resource[]): void {
    for (const r of resources) {
      this.applier._annotate(r.metadata, stage);
      annotateLibraryExceptions(r);
    }
  }
}


