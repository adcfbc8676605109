import { Duration, Names } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { dropAddressLabel, podSeccompProfile } from './_pod-template';
import { Applier } from './applier';
import { envFrom, envValues, isNonEmpty } from './env';
import { annotateException, APP_DEPLOYMENT, appChoices, OWN_PODS } from './exceptions';
import { DatabaseMigration, MigrationOptions } from './migration';
import { claimName, contentName, recommendedLabels, selectorLabels } from './naming';
import { addExtraContainers, addImagePullSecrets, addPodMetadata } from './pod';
import { withDefaults, WORKLOAD_RESOURCES } from './resources';
import { restrictedContainer } from './security';
import {
  checkApplier, checkCommand, checkDataSize, checkDuration, checkEnvNames, checkExclusive, checkImage, checkInteger, checkLabelValue, checkName,
  checkObject, checkPinnedImage, checkPorts, checkReference, checkStrings, locate, PropError,
} from './validation';

/** The app's container in the Deployment. */
const APP_CONTAINER = 'app';

/** The migration of a `MigratedApplication`. */
export interface ApplicationMigrationOptions extends MigrationOptions {
  /**
   * The image that runs the migration, pinned with a tag other than `latest` or a digest.
   * @default - the application's image
   */
  readonly image?: string;
}

/** Props of a `MigratedApplication`. */
export interface MigratedApplicationProps {
  /** The application's image. The migration runs in it too, unless `migration.image` says otherwise. */
  readonly image: string;

  /**
   * Base of the names of every object this construct emits: the Deployment,
   * Service and ServiceAccount are called this; the Job, ConfigMap and
   * Secret get it as a prefix.
   * @default - a name derived from the construct path
   */
  readonly name?: string;

  /**
   * The migration: its command, environment, files and limits.
   * @default - runs the application image's entrypoint
   */
  readonly migration?: ApplicationMigrationOptions;

  /**
   * Number of pods.
   * @default 2
   */
  readonly replicas?: number;

  /**
   * The application's command.
   * @default - the image's entrypoint
   */
  readonly command?: string[];

  /**
   * Arguments to the application's command.
   * @default - the image's default arguments
   */
  readonly args?: string[];

  /**
   * Ports the application listens on.
   * @default - none
   */
  readonly ports?: kplus.ContainerPort[];

  /**
   * Whether to expose `ports` through a ClusterIP Service named like the application.
   * @default true when `ports` are given
   */
  readonly service?: boolean;

  /**
   * Literal environment variables that only the application sees.
   * @default - none
   */
  readonly env?: { [name: string]: string };

  /**
   * Non-secret configuration for the application and the migration. It
   * becomes an immutable ConfigMap whose name carries a hash of its content,
   * so a change rolls the pods and old pods keep their old values.
   * @default - none
   */
  readonly config?: { [name: string]: string };

  /**
   * Secret values for the application and the migration, rendered into an
   * immutable Secret named after a hash of its content. They end up in the
   * synthesized manifests: to keep them out of git, use `existingSecret`.
   * @default - none
   */
  readonly secretValues?: { [name: string]: string };

  /**
   * An existing Secret (External Secrets, Sealed Secrets, made by hand) whose
   * keys become environment variables of the application and the migration.
   * The library emits no Secret for it. Reference it with cdk8s-plus-27's `Secret.fromSecretName()`.
   * @default - none
   */
  readonly existingSecret?: kplus.ISecret;

  /**
   * Resources of the application container. Each of CPU, memory and ephemeral
   * storage that is left out keeps its default requests and limits.
   * @default - requests 1 CPU, 512Mi memory and 64Mi ephemeral storage; limits 1500m CPU, 2Gi memory and 1Gi ephemeral storage
   */
  readonly resources?: kplus.ContainerResources;

  /**
   * When the app container is ready for traffic: the Service and a rolling
   * update wait for it. Without one, kube-score and Checkov findings are
   * waived on the Deployment, with that reason.
   * @default - none
   */
  readonly readiness?: kplus.Probe;

  /**
   * When the kubelet restarts the app container: only useful for an app that
   * can hang without exiting.
   * @default - none
   */
  readonly liveness?: kplus.Probe;

  /**
   * How long the app container may take to start before the liveness and
   * readiness probes begin.
   * @default - none
   */
  readonly startup?: kplus.Probe;

  /**
   * Security context of the application container, merged over the restricted
   * defaults. Set `user` when the image would run as root.
   * @default - restricted: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped
   */
  readonly securityContext?: kplus.ContainerSecurityContextProps;

  /**
   * How old pods make way for new ones.
   *
   * `RollingUpdate` keeps the old version serving while the migration runs, so
   * the migration must be backward compatible (expand/contract). `Recreate`
   * stops every old pod first, then the new pods wait for the migration.
   * @default DeploymentStrategy.rollingUpdate()
   */
  readonly strategy?: kplus.DeploymentStrategy;

  /**
   * How long a rollout may make no progress before the Deployment reports
   * ProgressDeadlineExceeded and `kubectl rollout status` fails. Must be longer
   * than the migration's active deadline, so that a long but healthy migration
   * does not fail the rollout and a failed or hung one does.
   * @default - the migration's active deadline plus 5 minutes
   */
  readonly progressDeadline?: Duration;

  /**
   * Value of the `app.kubernetes.io/part-of` label.
   * @default - the name
   */
  readonly partOf?: string;

  /**
   * How the order (config, then migration, then workloads) is also told to
   * the tool that applies the manifests.
   * @default Applier.plain()
   */
  readonly applier?: Applier;

  /**
   * Long-running containers that the application and the migration both
   * need, such as a database proxy (Cloud SQL Auth Proxy, PgBouncer): each pod
   * of the app and the Job's pod get their own copy. They are native sidecars
   * (init containers with `restartPolicy: Always`, Kubernetes 1.29 or later),
   * so the Job still completes when the migration exits. They come before the
   * Job's own `migration.sidecars`, and before the waiter in the app's pods.
   * Their `securityContext` is merged over the restricted defaults; they get no API token.
   * Their `resources` default to the app container's, resource by resource.
   * @default - none
   */
  readonly sidecars?: kplus.ContainerProps[];

  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` to pull images with, for
   * the app's pods (the waiter's image included) and the migration Job.
   * `migration.imagePullSecrets` and `migration.waiter.imagePullSecrets` add more.
   * @default - none
   */
  readonly imagePullSecrets?: kplus.ISecret[];

  /**
   * Labels of the app's pods, beside the library's `app.kubernetes.io/*` ones.
   * The Job's pod takes `migration.podLabels`.
   * @default - none
   */
  readonly podLabels?: { [key: string]: string };

  /**
   * Annotations of the app's pods (mesh injection, log routing).
   * The Job's pod takes `migration.podAnnotations`.
   * @default - none
   */
  readonly podAnnotations?: { [key: string]: string };
}

/**
 * A Deployment whose new pods start only after this release's database
 * migration Job has succeeded, with the ConfigMap, Secret, ServiceAccount and
 * RBAC it needs: plain manifests that hold the order with any applier.
 */
export class MigratedApplication extends Construct {
  /** Base of the names of this application's objects. */
  public readonly name: string;

  /** The migration, which gates `deployment`. Gate more workloads with `migration.gate()`. */
  public readonly migration: DatabaseMigration;

  /** The application's Deployment. */
  public readonly deployment: kplus.Deployment;

  /** The application's ServiceAccount, which only the wait-for init container gets a token of. */
  public readonly serviceAccount: kplus.ServiceAccount;

  /** The Service, when `ports` are exposed. */
  public readonly service?: kplus.Service;

  /** The ConfigMap made from `config`, if any. */
  public readonly configMap?: kplus.ConfigMap;

  /** The Secret made from `secretValues`, if any. */
  public readonly secret?: kplus.Secret;

  constructor(scope: Construct, id: string, props: MigratedApplicationProps) {
    super(scope, id);
    try {
      this.name = checkName('name', props.name ?? Names.toDnsLabel(this, { maxLen: 40 }));
      claimName(this, 'name', this.name);
      checkImage('image', props.image);
      checkCommand('command', props.command);
      checkStrings('args', props.args);
      checkEnvNames('env', props.env);
      checkEnvNames('config', props.config);
      checkEnvNames('secretValues', props.secretValues);
      checkReference('existingSecret', props.existingSecret, 'kplus.Secret.fromSecretName(scope, id, name)');
      checkObject('migration', props.migration);
      checkApplier('applier', props.applier);
      checkExclusive('secretValues', props.secretValues, 'existingSecret', props.existingSecret);
      const replicas = checkInteger('replicas', props.replicas ?? 2, 1);
      checkPorts('ports', props.ports ?? []);
      const partOf = checkLabelValue('partOf', props.partOf ?? this.name);
      const labels = recommendedLabels(this.name, 'app', partOf);

      if (isNonEmpty(props.config)) {
        checkDataSize('config', props.config);
        this.configMap = new kplus.ConfigMap(this, 'config', {
          metadata: { name: contentName(this.name, 'config', props.config), labels },
          data: { ...props.config }, // a plain copy: cdk8s cannot serialize null-prototype objects
          immutable: true,
        });
      }
      if (isNonEmpty(props.secretValues)) {
        checkDataSize('secretValues', props.secretValues);
        this.secret = new kplus.Secret(this, 'secret', {
          metadata: { name: contentName(this.name, 'secret', props.secretValues), labels },
          stringData: { ...props.secretValues }, // a plain copy: cdk8s cannot serialize null-prototype objects
          immutable: true,
        });
      }
      const configMaps = this.configMap ? [this.configMap] : [];
      const secrets = [...this.secret ? [this.secret] : [], ...props.existingSecret ? [props.existingSecret] : []];

      const migration = props.migration ?? {};
      // The migration runs in the app's image unless told otherwise; then that image must be pinned.
      checkPinnedImage(migration.image === undefined ? 'image' : 'migration.image', migration.image ?? props.image);
      const sidecars = props.sidecars ?? [];
      const pullSecrets = props.imagePullSecrets ?? [];
      if (migration.serviceAccount?.name === this.name) {
        throw new PropError('migration.serviceAccount', `must not be the app's own ServiceAccount "${this.name}", which the waiter's RBAC is bound to; give the Job one of its own`);
      }
      // The Job's lists begin with this construct's own: errors about those name them as such.
      const shared = new Map([['sidecars', sidecars.length], ['imagePullSecrets', pullSecrets.length]]);
      this.migration = withPropPrefix(shared, () => new DatabaseMigration(this, 'migration', {
        ...migration,
        name: this.name,
        image: migration.image ?? props.image,
        envFromConfigMaps: configMaps,
        envFromSecrets: secrets,
        partOf,
        applier: props.applier,
        sidecars: [...sidecars, ...migration.sidecars ?? []],
        imagePullSecrets: [...pullSecrets, ...migration.imagePullSecrets ?? []],
      }));
      // Both named after their content: a release's own.
      this.migration._annotateRelease('config', ...configMaps, ...this.secret ? [this.secret] : []);
      const activeDeadline = this.migration.activeDeadline.toSeconds();
      const progressDeadline = checkDuration('progressDeadline', props.progressDeadline ?? Duration.seconds(activeDeadline + 300));
      if (progressDeadline <= activeDeadline) {
        throw new PropError('progressDeadline', `must be longer than migration.activeDeadline (${activeDeadline}s), or a long healthy migration fails the rollout (got "${progressDeadline}s")`);
      }

      this.serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
        metadata: { name: this.name, labels },
        automountToken: false,
      });
      this.migration._annotate('rbac', this.serviceAccount);
      this.deployment = new kplus.Deployment(this, 'deployment', {
        metadata: { name: this.name, labels },
        replicas,
        strategy: props.strategy,
        progressDeadline: Duration.seconds(progressDeadline),
        serviceAccount: this.serviceAccount,
        automountServiceAccountToken: false,
        securityContext: { ensureNonRoot: true },
        select: false,
      });
      for (const [k, v] of Object.entries(labels)) this.deployment.podMetadata.addLabel(k, v);
      this.deployment.select(kplus.LabelSelector.of({ labels: selectorLabels(this.name, 'app') }));
      dropAddressLabel(this.deployment);
      addPodMetadata(this.deployment, 'pod', props.podLabels, props.podAnnotations);
      podSeccompProfile(this.deployment);
      for (const e of [...OWN_PODS, ...APP_DEPLOYMENT, ...appChoices({ ...props, replicas })]) annotateException(this.deployment.metadata, e);
      addImagePullSecrets(this.deployment, 'imagePullSecrets', pullSecrets);

      const app = this.deployment.addContainer({
        name: APP_CONTAINER,
        image: props.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: props.command,
        args: props.args,
        ports: props.ports,
        envVariables: envValues(props.env),
        resources: withDefaults(this.deployment, APP_CONTAINER, props.resources, WORKLOAD_RESOURCES),
        readiness: props.readiness,
        liveness: props.liveness,
        startup: props.startup,
        securityContext: restrictedContainer(props.securityContext),
      });
      envFrom(app, configMaps, secrets);
      app.mount('/tmp', kplus.Volume.fromEmptyDir(this.deployment, 'tmp', 'tmp'));
      addExtraContainers(this.deployment, 'sidecars', sidecars, true);

      this.migration.gate(this.deployment);

      if ((props.service ?? true) && (props.ports ?? []).length > 0) {
        // Not Deployment.exposeViaService(), which selects by cdk8s-plus's construct-path label.
        this.service = new kplus.Service(this, 'service', {
          metadata: { name: this.name, labels },
          ports: props.ports!.map((p) => ({ port: p.number, targetPort: p.number, name: p.name })),
        });
        for (const [k, v] of Object.entries(selectorLabels(this.name, 'app'))) this.service.selectLabel(k, v);
        this.migration._annotate('workload', this.service);
      }
    } catch (e) {
      throw locate(this, e);
    }
  }
}

/**
 * Runs `fn`, which builds the migration, naming the props of the prop errors
 * it throws as this construct's: `migration.*`, except that the first
 * `shared.get(list)` items of each of the Job's lists named in `shared` are
 * this construct's own `<list>`, and the rest are `migration.<list>`.
 */
function withPropPrefix<T>(shared: Map<string, number>, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!PropError.is(e)) throw e;
    const item = /^(\w+)\[(\d+)\](.*)$/.exec(e.prop);
    const own = item ? shared.get(item[1]) : undefined;
    if (!item || own === undefined) throw e.under('migration.');
    const [, list, index, rest] = item;
    const i = Number(index);
    throw new PropError(i < own ? `${list}[${i}]${rest}` : `migration.${list}[${i - own}]${rest}`, e.problem);
  }
}
