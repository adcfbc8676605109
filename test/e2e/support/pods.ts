/** Pods and conditions, as the API reports them. */
import { getJson, waitFor } from './kubectl';

/** The pods of a Job, once the Job controller has made at least one. */
export async function jobPods(namespace: string, job: string, timeoutMs = 60_000): Promise<any[]> {
  return waitFor(async () => {
    const list = await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace });
    return list.items.length > 0 ? list.items : undefined;
  }, timeoutMs, `a pod of Job ${namespace}/${job}`);
}

export function isReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** The image of a pod's first (the app's) container. */
export const imageOf = (pod: any): string => pod.spec.containers[0].image;

/**
 * Waits until Deployment `name` has exactly `replicas` pods, all updated and
 * available, and as many ready pods of `image` (matching `selector`) that are
 * not terminating; returns those.
 */
export async function rolledOut(namespace: string, name: string, selector: string, image: string, replicas = 2): Promise<any[]> {
  return waitFor(async () => {
    const d = await getJson(['deployment', name], { namespace });
    const pods = (await getJson(['pods', '-l', selector], { namespace })).items
      .filter((p: any) => imageOf(p) === image && isReady(p) && !p.metadata.deletionTimestamp);
    const done = d.status?.updatedReplicas === replicas && d.status?.availableReplicas === replicas && d.status?.replicas === replicas;
    return done && pods.length === replicas ? pods : undefined;
  }, 180_000, `Deployment ${namespace}/${name} available with ${replicas} pods of ${image}`);
}

export function condition(obj: any, type: string): any | undefined {
  return (obj?.status?.conditions ?? []).find((c: any) => c.type === type);
}
