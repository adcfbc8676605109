import { ApiObjectMetadataDefinition } from 'cdk8s';

/**
 * Where an object stands in a release's order: what the migration reads
 * (ConfigMaps, Secrets), the waiters' RBAC, the migration Job, and the
 * workloads that wait for it.
 * @internal
 */
export type Stage = 'config' | 'rbac' | 'migration' | 'workload';

type StageAnnotations = { [stage in Stage]?: { [key: string]: string } };

/**
 * How the order "config, then migration, then workloads" is also told to the
 * tool that applies the manifests. Whatever the applier, every gated pod keeps
 * its wait-for init container, so the order holds at run time regardless.
 */
export class Applier {
  /**
   * No annotations: `kubectl apply -f dist/` in one go, Flux, kapp, or
   * anything else that applies plain manifests. The init container holds the order.
   */
  public static plain(): Applier {
    return new Applier('plain', {});
  }

  /**
   * Flux applies plain manifests: no annotations are needed, because Job names
   * change with their content. Set `wait: true` and `prune: true` on the Kustomization.
   */
  public static flux(): Applier {
    return new Applier('flux', {});
  }

  /**
   * Argo CD sync waves: ConfigMaps, Secrets and RBAC in wave -2, the Job in
   * wave -1, the workloads in wave 0 (with anything else). Argo CD waits for
   * the Job to be healthy, that is complete, before it syncs the workloads, and
   * a failed Job fails the sync.
   */
  public static argoCd(): Applier {
    const wave = (n: number) => ({ 'argocd.argoproj.io/sync-wave': String(n) });
    return new Applier('argocd', { config: wave(-2), rbac: wave(-2), migration: wave(-1), workload: wave(0) });
  }

  /**
   * Helm hooks, for charts made with `cdk8s synth --format helm` or wrapped by
   * hand: the Job and the ConfigMaps and Secrets it reads become
   * `pre-install,pre-upgrade` hooks (weight -10 for what it reads, 0 for the
   * Job) that Helm deletes before creating them again. Hook resources are not
   * part of the release: `helm uninstall` leaves them, and old hashed
   * ConfigMaps and Secrets stay until deleted by hand.
   */
  public static helm(): Applier {
    const hook = (weight: number) => ({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-weight': String(weight),
      'helm.sh/hook-delete-policy': 'before-hook-creation',
    });
    return new Applier('helm', { config: hook(-10), migration: hook(0) });
  }

  /**
   * @param name the applier's name: `plain`, `flux`, `argocd` or `helm`
   */
  private constructor(public readonly name: string, private readonly annotations: StageAnnotations) {}

  /**
   * Annotates one object for its stage.
   * @internal
   */
  public _annotate(metadata: ApiObjectMetadataDefinition, stage: Stage): void {
    for (const [key, value] of Object.entries(this.annotations[stage] ?? {})) metadata.addAnnotation(key, value);
  }
}
