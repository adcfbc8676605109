import { ApiObjectMetadataDefinition } from 'cdk8s';

/**
 * Where an object stands in a release's order: what the migration reads
 * (ConfigMaps, Secrets), the waiters' RBAC, the migration Job, the
 * workloads that wait for it, and the contract step's RBAC and Job, which
 * wait for the workloads.
 * @internal
 */
export type Stage = 'config' | 'rbac' | 'migration' | 'workload' | 'contract-rbac' | 'contract';

type StageAnnotations = { [stage in Stage]?: { [key: string]: string } };

/**
 * Options of `Applier.helm()`.
 */
export interface HelmApplierOptions {
  /**
   * Leave a hook whose manifest did not change where it is on `helm upgrade`,
   * instead of deleting it and creating it again: the migration then runs
   * once per Job name, not once per `helm upgrade`, and the ConfigMaps,
   * Secrets and Job that running pods read never disappear.
   *
   * It needs Helm 4 with server-side apply, its default for releases it
   * installs: Helm 4 then applies an existing, unchanged hook as a no-op and
   * finds the Job already complete. Helm 3, and Helm 4 with
   * `--server-side=false` or on a release installed by Helm 3 (`auto` keeps
   * client-side apply), create hooks with a plain create, which fails with
   * "already exists" as soon as one is unchanged. The hooks get
   * `hook-delete-policy: hook-failed`: a failed Job is deleted once Helm has
   * printed its log, so running the same release again runs it again.
   *
   * @default false
   */
  readonly keepUnchangedHooks?: boolean;
}

/**
 * How the order "config, then migration, then workloads" is also told to the
 * tool that applies the manifests. Whatever the applier, every gated pod keeps
 * its wait-for init container, so the order holds at run time regardless.
 */
export class Applier {
  /**
   * No annotations: `kubectl apply -f dist/` in one go, in any document
   * order. The init containers hold the order. With Flux, use `Applier.flux()`,
   * which keeps Flux from pruning an earlier release's Job too soon.
   */
  public static plain(): Applier {
    return new Applier('plain', {});
  }

  /**
   * Flux applies plain manifests, in one go: the waiters hold the pods until
   * the Job completes. Set `wait: true` and `prune: true` on the Kustomization.
   *
   * The objects that belong to one release only, named after their content
   * (the Job, the waiters' reader Role and RoleBinding, the hashed ConfigMaps
   * and Secrets, a contract step's Job and RBAC), get
   * `kustomize.toolkit.fluxcd.io/prune: disabled`. kustomize-controller
   * otherwise deletes the previous release's as soon as it has applied the
   * next one, before that one's migration has run: a pod of the previous
   * release re-created while the new migration runs or after it failed (a
   * drain, an eviction) then finds no Job to wait for, and never starts.
   * Prune them once a release is out with `pipeline/wait-for-release.sh -p`.
   * The other objects (Deployment, Service, ServiceAccounts, the queue's
   * RBAC) are Flux's to prune.
   */
  public static flux(): Applier {
    return new Applier('flux', {}, { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' });
  }

  /**
   * Argo CD sync waves: ConfigMaps, Secrets and RBAC in wave -2, the Job in
   * wave -1, the workloads in wave 0 (with anything else), a contract step's
   * Job and RBAC in wave 1 (not a PostSync hook, which Argo CD would run again
   * on every sync). Argo CD waits for
   * the Job to be healthy, that is complete, before it syncs the workloads, and
   * a failed Job fails the sync.
   */
  public static argoCd(): Applier {
    const wave = (n: number) => ({ 'argocd.argoproj.io/sync-wave': String(n) });
    return new Applier('argocd', { 'config': wave(-2), 'rbac': wave(-2), 'migration': wave(-1), 'workload': wave(0), 'contract-rbac': wave(1), 'contract': wave(1) });
  }

  /**
   * Helm hooks, for charts made with `cdk8s synth --format helm` or wrapped by
   * hand: the Job and the ConfigMaps and Secrets it reads become
   * `pre-install,pre-upgrade` hooks (weight -10 for what it reads, 0 for the
   * Job), so Helm runs the Job to completion before it touches the
   * Deployment, and a failed Job fails the upgrade at once, with the
   * migration's log in Helm's output (`hook-output-log-policy: hook-failed`).
   * A contract step and its RBAC become `post-install,post-upgrade` hooks
   * (weights 0 and -10): Helm waits for the contract Job, whose own hold waits
   * for the rollout, so the step is safe with or without `--wait`.
   * Hook resources are not part of the release: `helm uninstall` leaves them,
   * and old hashed ConfigMaps and Secrets and old Jobs stay until deleted.
   *
   * By default the hooks are deleted and created again on every
   * `helm upgrade` (`hook-delete-policy: before-hook-creation`, which is also
   * what Helm does when no policy is set): an upgrade that keeps the Job's
   * name runs the migration again, and a pod that starts meanwhile waits for
   * that run. See `HelmApplierOptions.keepUnchangedHooks` for Helm 4.
   * @param options what Helm does with unchanged hooks on an upgrade
   */
  public static helm(options: HelmApplierOptions = {}): Applier {
    const hook = (weight: number, when = 'pre') => ({
      'helm.sh/hook': `${when}-install,${when}-upgrade`,
      'helm.sh/hook-weight': String(weight),
      // Helm 3 and 4 (pkg/action/hooks.go) delete a hook before creating it only under before-hook-creation, which is
      // also their default when no policy is given; any other policy leaves an existing hook to be created over.
      'helm.sh/hook-delete-policy': options.keepUnchangedHooks ? 'hook-failed' : 'before-hook-creation',
    });
    return new Applier('helm', {
      'config': hook(-10),
      'migration': { ...hook(0), 'helm.sh/hook-output-log-policy': 'hook-failed' },
      'contract-rbac': hook(-10, 'post'),
      'contract': { ...hook(0, 'post'), 'helm.sh/hook-output-log-policy': 'hook-failed' },
    });
  }

  /**
   * @param name the applier's name: `plain`, `flux`, `argocd` or `helm`
   * @param annotations by stage
   * @param releaseAnnotations on the objects that belong to one release only (named after their content), whatever their stage
   */
  private constructor(public readonly name: string, private readonly annotations: StageAnnotations,
    private readonly releaseAnnotations: { [key: string]: string } = {}) {}

  /**
   * Annotates one object for its stage, and, if it belongs to one release
   * only (its name changes with its content), as such.
   * @internal
   */
  public _annotate(metadata: ApiObjectMetadataDefinition, stage: Stage, perRelease: boolean): void {
    for (const [key, value] of Object.entries(this._annotations(stage, perRelease))) metadata.addAnnotation(key, value);
  }

  /**
   * The annotations of one stage, and of a per-release object if `perRelease`.
   * @internal
   */
  public _annotations(stage: Stage, perRelease: boolean): { [key: string]: string } {
    return { ...this.annotations[stage], ...perRelease ? this.releaseAnnotations : {} };
  }
}
