/*
 * Reading synthesized manifests: no jest here, so that the e2e harness and
 * the benchmarks can use it too. The assertions are in helpers.ts.
 */

/** A synthesized Kubernetes object. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [key: string]: any }; [key: string]: any };

export function ofKind(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((o) => o.kind === kind);
}

export function one(objects: Manifest[], kind: string): Manifest {
  const found = ofKind(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
}

/** A pod template's spec, and where it sits. */
export interface PodSpecOf { owner: Manifest; spec: any; labels: { [key: string]: string } }

export function podSpecs(objects: Manifest[]): PodSpecOf[] {
  return objects.flatMap((o) => {
    const template = o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
    return template?.spec ? [{ owner: o, spec: template.spec, labels: template.metadata?.labels ?? {} }] : [];
  });
}

/** The ServiceAccount, Role and RoleBinding of a migration queue, one set per app, shared by its releases. */
export const QUEUE_RBAC = /-migrate-queue$/;

/** The names of a contract step's Job, Role and RoleBinding. */
export const CONTRACT_RBAC = /-contract-[0-9a-f]{10}$/;

/** The objects but a migration queue's: what one release adds. */
export function withoutQueue(objects: Manifest[]): Manifest[] {
  return objects.filter((o) => !QUEUE_RBAC.test(o.metadata.name));
}

/** The names of the waiter's init containers. */
export const WAITER = /^wait-for-/;

/**
 * The Job that a pod template's waiter waits for, read from the `job/<name>`
 * argument of its init containers, which must all name the same one.
 */
export function waitedJob(owner: Manifest): string {
  const spec = podSpecs([owner])[0].spec;
  const jobs = (spec.initContainers ?? []).filter((c: any) => WAITER.test(c.name))
    .map((c: any) => c.args.find((a: string) => a.startsWith('job/')).slice('job/'.length));
  if (jobs.length !== 2 || jobs[0] !== jobs[1]) throw new Error(`${owner.kind}/${owner.metadata.name}: expected two waiters on one Job, found ${jobs}`);
  return jobs[0];
}

/** Keys of the annotations that tell the policy linters (kube-linter, kube-score, Checkov) what an object keeps on purpose, and why. */
export const LINT_NOTE = /^(ignore-check\.kube-linter\.io\/|kube-score\/ignore$|ignore-reason\.kube-score\/|checkov\.io\/skip)/;

/** Annotations without the linter notes. */
export function withoutLintNotes(annotations: { [key: string]: string } = {}): { [key: string]: string } {
  return Object.fromEntries(Object.entries(annotations).filter(([k]) => !LINT_NOTE.test(k)));
}
