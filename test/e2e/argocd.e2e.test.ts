/*
 * Argo CD v3.6 (test/e2e/modules/argocd, built by build.sh, run by
 * support/argocd.ts as host processes) on the real node, syncing manifests
 * synthesized with `Applier.argoCd()` from a git repository, through the
 * Application of examples/argocd/README.md as written (only its name,
 * namespaces, repository and path changed). The shop on PostgreSQL under load
 * (support/shop.ts), one release after another:
 * - install 1;
 * - 2, a new migration: the Job completes before any new pod starts, 0 failed requests;
 * - 3, whose migration fails: Argo CD reports it, the old pods serve on, and
 *   an old pod deleted meanwhile comes back Ready (its waiter finds release 2's Job);
 * - 4, the fix; then a sync of the same revision again: no migration runs;
 * - 5, with a contract step (wave 1): it runs after the last pod of 4 is gone.
 * Argo CD's own order is read from admin watches and the Application's status.
 */
import {
  ApiWatch, cleanUp, condition, createNamespaces, deleteNamespaces, getJson, imageOf, isReady, kubectl, Manifest, namespaceName, now,
  timing, waitFor,
} from './support';
import { ArgoCd, Pushed, readmeApplication } from './support/argocd';
import {
  Database, databaseFor, failed, observeRelease, psql, release, Request, SHOP_SELECTOR, shopRelease, ShopOptions, step, Step, underLoad,
} from './support/shop';
import { Applier } from '../../src';

const RATE = 20;
/** The Application's `syncPolicy.retry.limit` in examples/argocd/README.md. */
const RETRIES = 2;
const failures = (requests: Request[]) => requests.filter(failed).map((r) => `${r.method} ${r.status} ${r.version} ${r.error}`.trim());

let argo: ArgoCd | undefined;

afterAll(async () => {
  await argo?.stop();
  cleanUp();
  await deleteNamespaces();
}, 300_000);

describe('Argo CD: the shop released by automated sync, as examples/argocd/README.md configures it', () => {
  const ns = namespaceName('argocd-shop');
  // Application names are global to Argo CD (its tracking id leaves the namespace out): one of its own per run.
  const appName = namespaceName('shop');
  const appPath = `apps/${appName}`;
  const slow: ShopOptions = { applier: Applier.argoCd(), shutdownDelay: '15s' };
  const shop: ShopOptions = { applier: Applier.argoCd() };
  let db: Database;
  let a: ArgoCd;
  const steps: { [name: string]: Step } = {};
  const pushes: { [n: number]: Pushed } = {};

  const push = async (n: number, objects: Manifest[]) => {
    pushes[n] = await a.push(appPath, objects, `shop ${n}.0.0`);
    await a.refresh(appName);
  };

  beforeAll(async () => {
    const started = now();
    argo = await ArgoCd.start();
    a = argo;
    timing('argocd: CRDs, config, redis, repo-server, application controller started', now() - started);
    await createNamespaces(ns);
    db = await databaseFor(ns);
  }, 300_000);

  afterAll(async () => {
    // Keep what the controller said, for a failure's post-mortem.
    if (argo) process.stderr.write(`argocd logs (tail):\n${argo.logs().slice(-6000)}\n`);
  });

  test('the README\'s Application: automated sync with prune and selfHeal, CreateNamespace and PruneLast', () => {
    const app = readmeApplication();
    expect(app.spec.syncPolicy).toEqual({
      automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true', 'PruneLast=true'], retry: { limit: RETRIES },
    });
    expect(app.spec.destination.server).toBe('https://kubernetes.default.svc');
  });

  test('install 1: Argo CD syncs wave by wave; the Deployment is created once the Job has completed', async () => {
    const application = a.application(appName, ns);
    expect(application.spec.source.path).toBe(appPath);
    const deployments = await ApiWatch.open(ns, 'apis/apps/v1', 'deployments', {});
    try {
      const s = await release('argocd: install 1', ns, db, 1, shop, 0, async (objects) => {
        pushes[1] = await a.push(appPath, objects, 'shop 1.0.0');
        await a.apply(application);
      });
      steps.install = s;
      const app = await a.operationEnded(appName, pushes[1].revision);
      expect({ phase: app.status.operationState.phase, sync: app.status.sync.status, health: app.status.health.status })
        .toEqual({ phase: 'Succeeded', sync: 'Synced', health: 'Healthy' });
      const created = deployments.events.find((e) => e.type === 'ADDED')!.at;
      expect(created).toBeGreaterThan(s.observed.jobDoneAt);
      expect(s.migrations).toEqual(['1_orders.sql']);
      timing('argocd: install 1: Job Complete -> Deployment created by the next wave', created - s.observed.jobDoneAt);
      timing('argocd: install 1: git push -> all pods ready', s.figures.applyToReadyMs!);
    } finally {
      deployments.close();
    }
  });

  test('release 2, a new migration, under load: 0 failed requests; the Job completed before any pod of 2 started', async () => {
    const s = await release('argocd: 1 -> 2', ns, db, 2, shop, RATE, (objects) => push(2, objects));
    steps.expand = s;
    expect(failures(s.requests)).toEqual([]);
    expect(s.requests.length).toBeGreaterThan(RATE * 4);
    expect(new Set(s.requests.map((q) => q.version))).toEqual(new Set(['1', '2']));
    expect(s.jobPods).toHaveLength(1);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    const pods = s.pods.filter((p) => imageOf(p) === 'e2e.local/shop:2.0.0');
    expect(pods).toHaveLength(2);
    const completed = Date.parse(condition(s.job, 'Complete').lastTransitionTime);
    for (const pod of pods) {
      // Created (by the ReplicaSet of the Deployment Argo CD updated in wave 0) no earlier than the Job's completion: whole seconds.
      expect(Date.parse(pod.metadata.creationTimestamp)).toBeGreaterThanOrEqual(completed);
      expect(s.observed.newPodsReadyAt.get(pod.metadata.name)!).toBeGreaterThan(s.observed.jobDoneAt);
    }
    const app = await a.operationEnded(appName, pushes[2].revision);
    expect(app.status.operationState.phase).toBe('Succeeded');
    timing('argocd: 1 -> 2: Job Complete -> first new pod ready', s.figures.completeToFirstReadyMs!);
    timing('argocd: 1 -> 2: git push -> all new pods ready', s.figures.applyToReadyMs!, `${s.figures.sent} requests, ${s.figures.failed} failed`);
  });

  test('release 3, whose migration fails, under load: Argo CD reports it, release 2 serves on, a deleted old pod comes back Ready', async () => {
    const objects = shopRelease(db, 3, shop);
    let deleted = '';
    let replacement: any;
    let reported: any;
    const { requests, result } = await underLoad(ns, RATE, async () => {
      const observed = await observeRelease(ns, objects, 'e2e.local/shop:3.0.0', () => push(3, objects));
      // What Argo CD says: the Job's health is Degraded once its Failed condition is set (FailureTarget does not count).
      reported = await waitFor(async () => {
        const app = await a.app(appName);
        const op = app.status?.operationState;
        const forThis = op?.syncResult?.revision === pushes[3].revision || op?.operation?.sync?.revision === pushes[3].revision;
        return forThis && (app.status.health?.status === 'Degraded' || op.phase === 'Failed') && app;
      }, 180_000, 'Argo CD to report release 3 as Degraded or Failed');
      timing('argocd: 2 -> 3: Job FailureTarget -> Argo CD reports Degraded or Failed', now() - observed.jobDoneAt);
      const old = (await getJson(['pods', '-l', SHOP_SELECTOR], { namespace: ns })).items.filter((p: any) => imageOf(p) === 'e2e.local/shop:2.0.0');
      expect(old).toHaveLength(2);
      deleted = old[0].metadata.name;
      const deletedAt = now();
      await kubectl(['delete', 'pod', deleted, '--wait=true'], { namespace: ns, timeoutMs: 120_000 });
      replacement = await waitFor(async () => (await getJson(['pods', '-l', SHOP_SELECTOR], { namespace: ns })).items.find((p: any) =>
        imageOf(p) === 'e2e.local/shop:2.0.0' && isReady(p) && !p.metadata.deletionTimestamp && !old.some((o: any) => o.metadata.name === p.metadata.name)),
      120_000, `a ready replacement of ${deleted}`);
      timing('argocd: 2 -> 3: old pod deleted -> its replacement ready', now() - deletedAt);
      return observed;
    });
    const s = await step('argocd: 2 -> 3 (fails)', ns, db, 'sql-migrate', requests, result);
    steps.broken = s;
    process.stderr.write(`argocd: release 3: health ${reported.status.health.status}, operation ${reported.status.operationState.phase}: `
      + `${reported.status.operationState.message}\n`);
    expect(result.jobOutcome).toBe('FailureTarget');
    expect(failures(requests)).toEqual([]);
    expect(requests.filter((q) => !failed(q)).every((q) => q.version === '2')).toBe(true);
    // Argo CD stopped in wave -1: the Deployment still has release 2's template, whose waiter names release 2's Job.
    const d = await getJson(['deployment', 'shop'], { namespace: ns });
    expect(d.spec.template.spec.containers[0].image).toBe('e2e.local/shop:2.0.0');
    expect((await getJson(['job', steps.expand.observed.job], { namespace: ns })).status.succeeded).toBe(1);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    expect(s.jobPods).toHaveLength(1);
    expect(replacement.status.initContainerStatuses.every((c: any) => c.state.terminated?.exitCode === 0)).toBe(true);
  });

  test(`release 4, the fix: it waits until Argo CD has retried 3's failed sync ${RETRIES} times, then rolls out with 0 failed requests; `
    + 'earlier Jobs are pruned then', async () => {
    const pushedAt = now();
    let retriesEnded = 0;
    let endedEventAt = 0;
    const s = await release('argocd: 2 -> 4 (the fix)', ns, db, 4, slow, RATE, async (objects) => {
      await push(4, objects);
      // Automated sync retries a failed operation (the README's `retry.limit` times, with a growing backoff) and starts
      // none meanwhile ("another operation is in progress"): the fix waits for the retries to end.
      // The controller starts the next operation as soon as that one ends: its Event is what stays.
      const ended = await waitFor(async () => (await a.events(appName)).find((e) => e.reason === 'OperationCompleted'
        && e.message.startsWith(`Sync operation to ${pushes[3].revision} `)), 600_000, 'release 3\'s sync operation to end', 1000);
      retriesEnded = now();
      endedEventAt = Date.parse(ended.at);
      expect(ended.message).toBe(`Sync operation to ${pushes[3].revision} failed: one or more synchronization tasks completed unsuccessfully `
        + `(retried ${RETRIES} times).`);
    });
    steps.fixed = s;
    expect(failures(s.requests)).toEqual([]);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
    expect(s.jobPods).toHaveLength(1);
    // The API's times are whole seconds: "after" is "not before".
    expect(Date.parse(s.job.metadata.creationTimestamp)).toBeGreaterThanOrEqual(endedEventAt);
    const app = await a.operationEnded(appName, pushes[4].revision);
    expect({ phase: app.status.operationState.phase, health: app.status.health.status }).toEqual({ phase: 'Succeeded', health: 'Healthy' });
    timing('argocd: 2 -> 4: git push -> 3\'s retries ended (Failed), seen', retriesEnded - pushedAt);
    timing('argocd: 2 -> 4: git push -> Job of 4 created', s.observed.jobCreatedAt - pushedAt);
    timing('argocd: 2 -> 4: git push -> all new pods ready', s.figures.applyToReadyMs!, `${s.figures.sent} requests, ${s.figures.failed} failed`);
    // prune with PruneLast: once 4's waves were healthy, the Jobs of 2 and 3 went; 4's stays.
    // Polled: after release 2, automated sync ran a second, "partial" sync of the same revision once the first had ended.
    const jobs = () => getJson(['jobs', '-l', 'app.kubernetes.io/instance=shop'], { namespace: ns }).then((l) => l.items.map((j: any) => j.metadata.name));
    await waitFor(async () => JSON.stringify(await jobs()) === JSON.stringify([s.observed.job]), 60_000, `only ${s.observed.job} left`);
  }, 900_000);

  test('the same revision synced again: the Job is left as it is, no migration runs', async () => {
    const job = await getJson(['job', steps.fixed.observed.job], { namespace: ns });
    const migrations = psql(db.name, 'SELECT count(*) FROM gorp_migrations');
    const app = await a.sync(appName, pushes[4].revision);
    expect(app.status.operationState.phase).toBe('Succeeded');
    const again = await getJson(['job', steps.fixed.observed.job], { namespace: ns });
    expect(again.metadata.uid).toBe(job.metadata.uid);
    expect((await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job.metadata.name}`], { namespace: ns })).items).toHaveLength(1);
    expect(psql(db.name, 'SELECT count(*) FROM gorp_migrations')).toBe(migrations);
  });

  test('release 5 with a contract step (wave 1), under load: 0 failed requests; the step ran after the last pod of 4 was gone', async () => {
    const objects = shopRelease(db, 5, { ...slow, contract: 'contract' });
    const contract = objects.find((o) => o.kind === 'Job' && o.metadata.name.includes('-contract-'))!;
    expect(contract.metadata.annotations['argocd.argoproj.io/sync-wave']).toBe('1');
    const before = new Set<string>((await getJson(['pods', '-l', SHOP_SELECTOR], { namespace: ns })).items.map((p: any) => p.metadata.name));
    const pods = await ApiWatch.pods(ns, SHOP_SELECTOR);
    try {
      const { requests, result } = await underLoad(ns, RATE, async () => {
        const observed = await observeRelease(ns, objects, 'e2e.local/shop:5.0.0', () => push(5, objects));
        const app = await a.operationEnded(appName, pushes[5].revision);
        return { observed, app };
      });
      expect(result.app.status.operationState.phase).toBe('Succeeded');
      expect(failures(requests)).toEqual([]);
      const gone = pods.events.filter((e) => e.type === 'DELETED' && before.has(e.object.metadata.name)).map((e) => e.at);
      expect(gone).toHaveLength(2);
      const lastGone = Math.max(...gone);
      const job = await getJson(['job', contract.metadata.name], { namespace: ns });
      expect(condition(job, 'Complete')?.status).toBe('True');
      const [pod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${contract.metadata.name}`], { namespace: ns })).items;
      const started = Date.parse(pod.status.containerStatuses.find((c: any) => c.name === 'contract').state.terminated.startedAt);
      expect(started).toBeGreaterThanOrEqual(Math.floor(lastGone / 1000) * 1000);
      const [applied] = psql(db.name, "SELECT id || ' ' || extract(epoch FROM applied_at) * 1000 FROM gorp_contract").split('\n');
      expect(applied.split(' ')[0]).toBe('5_drop_note.sql');
      expect(Number(applied.split(' ')[1])).toBeGreaterThan(lastGone);
      timing('argocd: 4 -> 5: last old pod gone -> contract step applied', Number(applied.split(' ')[1]) - lastGone);
      timing('argocd: 4 -> 5: git push -> sync Succeeded', Date.parse(result.app.status.operationState.finishedAt) - pushes[5].at);
    } finally {
      pods.close();
    }
  }, 600_000);
});
