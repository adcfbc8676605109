/*
 * Flux on the real node: kustomize-controller (test/e2e/modules/flux/go.mod,
 * built by build.sh) run as a host process by support/flux.ts, with the
 * manifests of `Applier.flux()` served as an ExternalArtifact (source-controller
 * does not build offline; kustomize-controller builds, applies, prunes and
 * health-checks it as it would any source's artifact). The Kustomization has the fields docs/operations.md
 * tells users to set (see FLUX_RECIPE); only its sourceRef and timeout differ.
 *
 * - the shop on PostgreSQL, released through Flux under load: install, a new
 *   migration, a failing one (Ready=False, old pods evicted during it come
 *   back and serve), the fix, an unchanged re-reconcile, and pruning the
 *   earlier releases with `pipeline/wait-for-release.sh -p`;
 * - what Flux's own pruning does to manifests without the per-release
 *   `kustomize.toolkit.fluxcd.io/prune: disabled` (Applier.plain(), which is
 *   what Applier.flux() emitted before): the old release's Job and reader
 *   RBAC go while the new migration fails, and the waiter of a re-created old
 *   pod is forbidden to read its Job.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import {
  ApiWatch, cleanUp, cluster, condition, createNamespaces, deleteNamespaces, getJson, imageOf, isReady, jobNameOf, kubectl, manifestsFile, Manifest,
  namespaceName, now, rolledOut, ROOT, runWithKubectl, sleep, start, tempDir, timing, toYaml, waitFor, waitForRelease,
} from './support';
import { Flux, FLUX_RECIPE, FLUX_VERSION, Published } from './support/flux';
import {
  Database, databaseFor, failed, psql, failedRelease, FailedStep, observeRelease, overlappingReleases, release, Request, SHOP, SHOP_SELECTOR,
  ShopOptions, shopRelease, Step, underLoad,
} from './support/shop';
import { appRelease } from './support/synth';
import { Applier } from '../../src';

const RATE = 20;
const PRUNE_DISABLED = { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' };


let flux: Flux | undefined;
const fluxNs = namespaceName('flux-system');

/** Starts kustomize-controller once for the file (its namespace first); again if `featureGates` differ from the running one's. */
async function fluxOnce(featureGates: string[] = []): Promise<Flux> {
  if (flux && flux.featureGates.join() !== featureGates.join()) {
    await flux.stop();
    flux = undefined;
  }
  if (!flux) {
    await createNamespaces(fluxNs);
    const started = now();
    flux = await Flux.start(fluxNs, featureGates);
    timing(`flux: kustomize-controller ${[FLUX_VERSION, ...featureGates].join(' ')} started -> ready`, now() - started);
  }
  return flux;
}

afterAll(async () => {
  await flux?.stop();
  cleanUp();
  await deleteNamespaces();
}, 300_000);

const failures = (requests: Request[]) => requests.filter(failed).map((r) => `${r.method} ${r.status} ${r.error}`.trim());

/** Which of `objects` exist in `namespace` now, as `Kind/name`. */
async function existing(namespace: string, objects: Manifest[]): Promise<string[]> {
  const found: string[] = [];
  for (const o of objects) {
    const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
    const r = await kubectl(['get', `${o.kind.toLowerCase()}${group}/${o.metadata.name}`], { namespace, check: false });
    if (r.code === 0) found.push(`${o.kind}/${o.metadata.name}`);
  }
  return found;
}
/** An init container that has failed at least once. */
const waiterFailed = (c: any) => (c.restartCount ?? 0) > 0 || !!c.state.terminated?.exitCode;
const names = (objects: Manifest[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);

/** Every pod of `image` was first seen Ready after its Job was seen Complete; its waiter ended no earlier than the Job's completion. */
function expectStartedAfterJob(s: Step, image: string): void {
  const pods = s.pods.filter((p) => imageOf(p) === image);
  expect(pods).toHaveLength(2);
  const completed = Date.parse(condition(s.job, 'Complete').lastTransitionTime);
  for (const pod of pods) {
    expect({ pod: pod.metadata.name, readyAfterComplete: s.observed.newPodsReadyAt.get(pod.metadata.name)! > s.observed.jobDoneAt })
      .toEqual({ pod: pod.metadata.name, readyAfterComplete: true });
    expect(Date.parse(pod.status.initContainerStatuses[1].state.terminated.finishedAt)).toBeGreaterThanOrEqual(completed);
  }
}

function expectRanOnce(s: Step): void {
  expect(s.jobPods).toHaveLength(1);
  expect(s.job.status).toMatchObject({ succeeded: 1 });
  expect(s.job.status.failed ?? 0).toBe(0);
}

describe(`Flux kustomize-controller ${FLUX_VERSION}: the shop released through a Kustomization (wait, prune) with Applier.flux(), under load`, () => {
  const ns = namespaceName('flux-shop');
  const shop = { applier: Applier.flux() };
  let db: Database;
  const published: Published[] = [];
  /** Publishes a release as the Kustomization's next revision. */
  const viaFlux = async (objects: Manifest[]) => { published.push(await flux!.publish(fluxNs, SHOP, objects)); };
  const last = () => published[published.length - 1];
  /** Waits until the Kustomization has settled on the last revision published. */
  const settled = (done?: Parameters<Flux['settled']>[4]) => flux!.settled(fluxNs, SHOP, last().revision, 300_000, done);

  const psqlMigrations = () => psql(db.name, 'SELECT id FROM gorp_migrations ORDER BY id').split('\n').filter((l) => l);

  beforeAll(async () => {
    await fluxOnce();
    await createNamespaces(ns);
    db = await databaseFor(ns);
    await flux!.kustomization(fluxNs, SHOP, { ...FLUX_RECIPE, targetNamespace: ns });
  }, 300_000);

  const steps: { [name: string]: Step } = {};

  test('install 1: Flux applies everything at once; the waiters hold the pods until the Job completed; Ready=True', async () => {
    const s = await release('flux: install 1', ns, db, 1, shop, 0, viaFlux);
    steps.install = s;
    const k = await settled();
    expect(k.ready).toMatchObject({ status: 'True', reason: 'ReconciliationSucceeded' });
    expect(k.lastAppliedRevision).toBe(last().revision);
    timing('flux: install 1: revision published -> Kustomization Ready=True', k.at - last().at);
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:1.0.0');
    // Flux created the pods with the Job: the waiter, not Flux, held them.
    const deployment = await getJson(['deployment', SHOP], { namespace: ns });
    expect(Date.parse(deployment.metadata.creationTimestamp)).toBeLessThanOrEqual(Date.parse(s.job.status.completionTime));
    timing('flux: install 1: Job Complete -> first new pod ready', s.figures.completeToFirstReadyMs!);
  }, 600_000);

  test('release 2 (a new migration) under load: 0 failed requests, the migration ran once, every new pod ready after the Job completed', async () => {
    const s = await release('flux: 1 -> 2', ns, db, 2, shop, RATE, viaFlux);
    steps.expand = s;
    const k = await settled();
    expect(k.ready).toMatchObject({ status: 'True' });
    expect(failures(s.requests)).toEqual([]);
    expect(s.requests.length).toBeGreaterThan(RATE * 4);
    expect(new Set(s.requests.map((q) => q.version))).toEqual(new Set(['1', '2']));
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:2.0.0');
    timing(`flux: 1 -> 2: ${s.figures.sent} requests, ${s.figures.failed} failed; Job Complete -> first new pod ready`, s.figures.completeToFirstReadyMs!);
  }, 600_000);

  let broken: FailedStep;
  let release2Left: string[];

  test('release 3, whose migration fails: Ready=False, 0 failed requests, and old pods evicted during it come back and serve', async () => {
    const two = shopRelease(db, 2, shop);
    broken = await failedRelease('flux: 2 -> 3 (fails; old pods evicted)', ns, db, 3, 'e2e.local/shop:2.0.0', RATE, {
      shop,
      apply: viaFlux,
      gate: async () => {
        const k = await settled();
        return { code: k.ready!.status === 'True' ? 0 : 1, out: `${k.ready!.reason}: ${k.ready!.message}`, endedAt: k.at };
      },
    });
    release2Left = await existing(ns, two);
    const s = broken;
    expect(s.gate.code).toBe(1);
    expect(s.gate.out).toMatch(/^HealthCheckFailed: /);
    expect(s.gate.out).toContain(`Job/${ns}/${s.observed.job}`);
    timing('flux: 2 -> 3: Job FailureTarget -> Kustomization Ready=False', s.gate.exitAfterFailureMs);
    expect(failures(s.requests)).toEqual([]);
    expect(new Set(s.requests.map((q) => q.version))).toEqual(new Set(['2']));
    expect(s.observed.jobOutcome).toBe('FailureTarget');
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    // Both old pods were evicted; each replacement passed its waiter (release 2's Job, read through release 2's reader Role) and served.
    expect(s.evicted).toHaveLength(2);
    expect(s.replacements).toHaveLength(2);
    const servedBy = new Set(s.requests.filter((q) => !failed(q)).map((q) => q.pod));
    for (const pod of s.replacements) expect({ pod, served: servedBy.has(pod) }).toEqual({ pod, served: true });
    // Flux pruned nothing of release 2: its Job, reader Role and RoleBinding, hashed ConfigMaps and Secret are all there.
    expect(release2Left).toEqual(names(two));
  }, 600_000);

  test('the fix, release 4, rolls out through Flux: Ready=True, 0 failed requests, the fixed migration ran once', async () => {
    const s = await release('flux: 2 -> 4 (the fix)', ns, db, 4, shop, RATE, viaFlux);
    steps.fixed = s;
    const k = await settled();
    expect(k.ready).toMatchObject({ status: 'True' });
    expect(failures(s.requests)).toEqual([]);
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:4.0.0');
  }, 600_000);

  test('an unchanged re-reconcile (same revision, a requested reconcile) runs no migration again and replaces no pod', async () => {
    const job = jobNameOf(shopRelease(db, 4, shop));
    const uids = async (args: string[]) => ((await getJson(args, { namespace: ns })).items.map((o: any) => o.metadata.uid) as string[]).sort();
    const before = { jobs: await uids(['jobs']), jobPods: await uids(['pods', '-l', 'batch.kubernetes.io/job-name']), pods: await uids(['pods', '-l', SHOP_SELECTOR]) };
    // Watches, so that a Job or pod made and gone again meanwhile would be seen too.
    const jobs = await ApiWatch.open(ns, 'apis/batch/v1', 'jobs', {});
    const allPods = await ApiWatch.pods(ns, '');
    try {
      const token = await flux!.requestReconcile(fluxNs, SHOP);
      const k = await settled((st) => st.lastHandledReconcileAt === token);
      expect(k.ready).toMatchObject({ status: 'True' });
      expect(k.lastAppliedRevision).toBe(last().revision);
      const known = new Set([...before.jobs, ...before.jobPods, ...before.pods]);
      expect([...jobs.events, ...allPods.events].filter((e) => !known.has(e.object.metadata.uid)).map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([]);
    } finally {
      jobs.close();
      allPods.close();
    }
    expect({ jobs: await uids(['jobs']), jobPods: await uids(['pods', '-l', 'batch.kubernetes.io/job-name']), pods: await uids(['pods', '-l', SHOP_SELECTOR]) })
      .toEqual(before);
    expect(psqlMigrations()).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
    expect((await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace: ns })).items).toHaveLength(1);
  }, 300_000);

  test('Flux leaves the earlier releases\' per-release objects; wait-for-release.sh -p removes them, and Flux stays Ready', async () => {
    const four = shopRelease(db, 4, shop);
    const earlier = [1, 2, 3].map((n) => shopRelease(db, n, shop)).flat()
      .filter((o) => !names(four).includes(`${o.kind}/${o.metadata.name}`))
      .filter((o, i, all) => all.findIndex((x) => x.kind === o.kind && x.metadata.name === o.metadata.name) === i);
    // Only per-release objects (the Jobs, the reader Roles and RoleBindings) differ between the releases, and all carry the annotation.
    expect(new Set(earlier.map((o) => o.kind))).toEqual(new Set(['Job', 'Role', 'RoleBinding']));
    for (const o of earlier) expect(o.metadata.annotations).toMatchObject(PRUNE_DISABLED);
    expect(await existing(ns, earlier)).toEqual(names(earlier));
    const r = await waitForRelease(['-n', ns, '-t', '3m', '-f', manifestsFile('flux-4', four), '-p', `app.kubernetes.io/instance=${SHOP}`]);
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.any(String) });
    expect(await existing(ns, earlier)).toEqual([]);
    expect(await existing(ns, four)).toEqual(names(four));
    const token = await flux!.requestReconcile(fluxNs, SHOP);
    const k = await settled((st) => st.lastHandledReconcileAt === token);
    expect(k.ready).toMatchObject({ status: 'True' });
    expect(await existing(ns, earlier)).toEqual([]);
    await rolledOut(ns, SHOP, SHOP_SELECTOR, 'e2e.local/shop:4.0.0');
  }, 300_000);
});

describe('Flux\'s own pruning over manifests without the annotation (Applier.plain(), as Applier.flux() was): what it does during a failed release', () => {
  const ns = namespaceName('flux-plain');
  const name = 'plain';
  const instance = `app.kubernetes.io/instance=${name}`;
  const pods = `${instance},app.kubernetes.io/component=app`;
  const v1 = appRelease('1.0.0', ['--sleep=2s'], { name, notFoundTimeout: undefined });
  const v2 = appRelease('2.0.0', ['--sleep=2s', '--fail=duplicate key value violates unique constraint'], { name });

  beforeAll(async () => {
    await fluxOnce();
    await createNamespaces(ns);
    await flux!.kustomization(fluxNs, name, { ...FLUX_RECIPE, targetNamespace: ns });
  }, 300_000);

  test('release 1\'s Job and reader RBAC are pruned once release 2 is applied; an old pod deleted then: its waiter may not read its Job', async () => {
    const one = await flux!.publish(fluxNs, name, v1);
    expect((await flux!.settled(fluxNs, name, one.revision)).ready).toMatchObject({ status: 'True' });
    await rolledOut(ns, name, pods, 'e2e.local/app:1.0.0');
    const perRelease1 = v1.filter((o) => !v2.some((x) => x.kind === o.kind && x.metadata.name === o.metadata.name));
    expect(await existing(ns, perRelease1)).toEqual(names(perRelease1));

    const two = await flux!.publish(fluxNs, name, v2);
    const k = await flux!.settled(fluxNs, name, two.revision);
    expect(k.ready).toMatchObject({ status: 'False', reason: 'HealthCheckFailed' });
    // Gone: release 1's Job, Role and RoleBinding (everything of release 1 that release 2 does not have).
    expect(await existing(ns, perRelease1)).toEqual([]);
    // The old pods still serve, but one deleted now is replaced by a pod whose waiter cannot read its Job.
    const [old] = (await getJson(['pods', '-l', pods], { namespace: ns })).items.filter((p: any) => imageOf(p) === 'e2e.local/app:1.0.0');
    await kubectl(['delete', 'pod', old.metadata.name, '--wait=true'], { namespace: ns, timeoutMs: 120_000 });
    const stuck = await waitFor(async () => {
      const list = (await getJson(['pods', '-l', pods], { namespace: ns })).items
        .filter((p: any) => imageOf(p) === 'e2e.local/app:1.0.0' && p.metadata.name !== old.metadata.name && !isReady(p));
      return list.find((p: any) => (p.status.initContainerStatuses ?? []).some(waiterFailed));
    }, 180_000, 'the replacement of the deleted old pod to fail its waiter');
    const waiter = stuck.status.initContainerStatuses.find(waiterFailed);
    // The waiter's kubectl error is its termination message.
    const terminated = waiter.state.terminated ?? waiter.lastState.terminated;
    process.stderr.write(`flux (no annotation): the replacement ${stuck.metadata.name}'s ${waiter.name} exited ${terminated.exitCode}: ${terminated.message}\n`);
    expect({ name: waiter.name, exitCode: terminated.exitCode }).toEqual({ name: `wait-for-${name}-job-created`, exitCode: 1 });
    expect(terminated.message).toMatch(new RegExp(`jobs.batch "${jobNameOf(v1)}" is forbidden: User "system:serviceaccount:${ns}:${name}" cannot get resource "jobs"`));
    expect(isReady(stuck)).toBe(false);
  }, 600_000);
});

/** The migration container of every Job pod of the shop in `namespace`: its Job, and when it ran (the API's whole seconds). */
async function migrationRuns(namespace: string): Promise<{ job: string; started: number; finished: number; exitCode: number }[]> {
  const pods = (await getJson(['pods', '-l', `app.kubernetes.io/instance=${SHOP},batch.kubernetes.io/job-name`], { namespace })).items;
  return pods.map((p: any) => {
    const t = p.status.containerStatuses[0].state.terminated;
    return { job: p.metadata.labels['batch.kubernetes.io/job-name'], started: Date.parse(t.startedAt), finished: Date.parse(t.finishedAt), exitCode: t.exitCode };
  }).sort((a: any, b: any) => a.started - b.started);
}

/** What the overlap tests saw, for the assertions that differ with the feature gates. */
interface OverlapSeen {
  readonly r: Awaited<ReturnType<typeof overlappingReleases>>;
  readonly published: Published[];
  /** Release 2's Job once it ended, and release 4's Job's pod. */
  readonly two: any;
  readonly fourPod: any;
  /** The pods of release 2 that became Ready, and the reasons of the Kustomization's Ready condition, in order. */
  readonly twoReady: string[];
  readonly reasons: string[];
}

/**
 * Release 4 published while release 2 migrates, through Flux with `featureGates`; `whatFluxDid` asserts what
 * depends on them. The rest is what issue 16 asks of every applier.
 */
function overlapThroughFlux(featureGates: string[], label: string, whatFluxDid: (seen: OverlapSeen) => void): void {
  describe(`Flux (${featureGates.join(', ') || 'default feature gates'}): release 4 published while release 2 migrates (Applier.flux(), the framework's migrator, under load)`, () => {
    const ns = namespaceName(`flux-overlap-${label}`);
    const name = `overlap-${label}`;
    const published: Published[] = [];
    let seen: OverlapSeen;
    let k: Awaited<ReturnType<Flux['settled']>>;

    beforeAll(async () => {
      await fluxOnce(featureGates);
      await createNamespaces(ns);
      await flux!.kustomization(fluxNs, name, { ...FLUX_RECIPE, targetNamespace: ns });
      const pods = await ApiWatch.pods(ns, SHOP_SELECTOR);
      const kustomization = await ApiWatch.open(fluxNs, 'apis/kustomize.toolkit.fluxcd.io/v1', 'kustomizations', { fieldSelector: `metadata.name=${name}` });
      let r: OverlapSeen['r'];
      try {
        r = await overlappingReleases(ns, RATE, undefined, {
          applier: Applier.flux(),
          apply: async (objects) => { published.push(await flux!.publish(fluxNs, name, objects)); },
        });
        k = await flux!.settled(fluxNs, name, published[published.length - 1].revision);
      } finally {
        pods.close();
        kustomization.close();
      }
      const twoReady = [...new Set(pods.events.filter((e) => imageOf(e.object) === 'e2e.local/shop:2.0.0' && isReady(e.object)).map((e) => e.object.metadata.name))];
      const reasons = kustomization.events.map((e) => condition(e.object, 'Ready')?.reason).filter((x, i, all) => x && x !== all[i - 1]);
      const [fourPod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${r.overlap.observed.job}`], { namespace: ns })).items;
      seen = { r, published, two: await getJson(['job', r.secondJob], { namespace: ns }), fourPod, twoReady, reasons };
      process.stdout.write(`flux overlap (${label}): release 2's pods that became Ready: ${twoReady.join(', ') || 'none'}; Ready's reasons: ${reasons.join(' -> ')}\n`);
    }, 900_000);

    test('at most one migration ran at a time; release 2\'s Job was not killed; both completed, in order; 0 failed requests; Ready on release 4', async () => {
      const s = seen.r.overlap;
      expect(failures(s.requests)).toEqual([]);
      expect(s.requests.length).toBeGreaterThan(RATE * 4);
      // The node: every migration container of the app, by its own start and end, one after another.
      const runs = await migrationRuns(ns);
      expect(runs.map((x) => x.exitCode)).toEqual([0, 0, 0]);
      for (let i = 1; i < runs.length; i++) {
        expect({ job: runs[i].job, startedAfterEnd: runs[i].started >= runs[i - 1].finished }).toEqual({ job: runs[i].job, startedAfterEnd: true });
      }
      // The database: the migrations recorded one after another, in release order.
      expect(s.recorded.map((m) => m.id)).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
      for (let i = 1; i < s.recorded.length; i++) expect(s.recorded[i].startedAt).toBeGreaterThanOrEqual(s.recorded[i - 1].finishedAt);
      // Release 2's Job ran to completion, once, and is still there (Flux did not prune it).
      expect(seen.two.status).toMatchObject({ succeeded: 1 });
      expect(seen.two.status.failed ?? 0).toBe(0);
      expect(runs.filter((x) => x.job === seen.r.secondJob)).toHaveLength(1);
      expectRanOnce(s);
      // The pods end on release 4, and Flux says so.
      expectStartedAfterJob(s, 'e2e.local/shop:4.0.0');
      expect(s.pods.every((p) => imageOf(p) === 'e2e.local/shop:4.0.0')).toBe(true);
      expect(k.ready).toMatchObject({ status: 'True' });
      expect(k.lastAppliedRevision).toBe(published[published.length - 1].revision);
    });

    test('what Flux did with the second revision', () => {
      const fourCreated = Date.parse(seen.r.overlap.job.metadata.creationTimestamp);
      const twoCompleted = Date.parse(seen.two.status.completionTime);
      const [, second, fourth] = published;
      whatFluxDid(seen);
      timing(`flux overlap (${label}): release 2 published -> release 4 published`, fourth.at - second.at);
      timing(`flux overlap (${label}): release 4 published -> its Job created (whole seconds)`, fourCreated - fourth.at);
      timing(`flux overlap (${label}): release 2's Job Complete -> release 4's Job created (whole seconds)`, fourCreated - twoCompleted);
    });
  });
}

// Without the CancelHealthCheckOnNewRevision feature gate (off by default in v1.9.6: internal/features/features.go), a
// reconcile of the new revision waits until the running one's health check has ended (controller-runtime reconciles one
// object at a time), so Flux itself keeps the releases apart.
overlapThroughFlux([], 'default', (seen) => {
  expect(Date.parse(seen.r.overlap.job.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(seen.two.status.completionTime));
  expect(seen.twoReady).toHaveLength(2);
});

describe('Flux: a contract step released under load (Applier.flux(), sql-migrate): release 4, then 5, whose contract step drops a column', () => {
  const ns = namespaceName('flux-contract');
  const name = 'contract';
  // Release 4's pods keep serving 15 s after SIGTERM: they sit in Terminating while 5's are ready, and the contract step must wait.
  const slow: ShopOptions = { shutdownDelay: '15s', applier: Applier.flux() };
  let db: Database;
  const published: Published[] = [];
  const viaFlux = async (objects: Manifest[]) => { published.push(await flux!.publish(fluxNs, name, objects)); };

  beforeAll(async () => {
    await fluxOnce();
    await createNamespaces(ns);
    db = await databaseFor(ns);
    await flux!.kustomization(fluxNs, name, { ...FLUX_RECIPE, targetNamespace: ns });
    await release('flux contract: install 4', ns, db, 4, slow, 0, viaFlux);
    expect((await flux!.settled(fluxNs, name, published[0].revision)).ready).toMatchObject({ status: 'True' });
  }, 600_000);

  test('0 failed requests; the contract step ran after the last old pod was gone; Flux stayed Ready=Unknown until the contract Job completed', async () => {
    const objects = shopRelease(db, 5, { ...slow, contract: 'contract' });
    const contract = objects.find((o) => o.kind === 'Job' && o.metadata.name.includes('-contract-'))!.metadata.name;
    expect(objects.find((o) => o.metadata.name === contract)!.metadata.annotations).toMatchObject(PRUNE_DISABLED);
    const before = new Set<string>((await getJson(['pods', '-l', SHOP_SELECTOR], { namespace: ns })).items.map((p: any) => p.metadata.name));
    const pods = await ApiWatch.pods(ns, SHOP_SELECTOR);
    const contractJob = await ApiWatch.job(ns, contract);
    const kustomization = await ApiWatch.open(fluxNs, 'apis/kustomize.toolkit.fluxcd.io/v1', 'kustomizations', { fieldSelector: `metadata.name=${name}` });
    try {
      const { requests, result } = await underLoad(ns, RATE, async () => {
        const observed = await observeRelease(ns, objects, 'e2e.local/shop:5.0.0', () => viaFlux(objects));
        return { observed, k: await flux!.settled(fluxNs, name, published[1].revision) };
      });
      expect(failures(requests)).toEqual([]);
      expect(result.k.ready).toMatchObject({ status: 'True' });
      expect(result.k.lastAppliedRevision).toBe(published[1].revision);
      // The contract step: after both old pods were gone, by the pod's own start and by the database's clock.
      const gone = pods.events.filter((e) => e.type === 'DELETED' && before.has(e.object.metadata.name)).map((e) => e.at);
      expect(gone).toHaveLength(2);
      const lastGone = Math.max(...gone);
      const job = await getJson(['job', contract], { namespace: ns });
      expect(condition(job, 'Complete')?.status).toBe('True');
      const [pod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${contract}`], { namespace: ns })).items;
      const started = Date.parse(pod.status.containerStatuses.find((c: any) => c.name === 'contract').state.terminated.startedAt);
      expect(started).toBeGreaterThanOrEqual(Math.floor(lastGone / 1000) * 1000);
      const [applied] = psql(db.name, "SELECT id || ' ' || extract(epoch FROM applied_at) * 1000 FROM gorp_contract").split('\n');
      expect(applied.split(' ')[0]).toBe('5_drop_note.sql');
      expect(Number(applied.split(' ')[1])).toBeGreaterThan(lastGone);
      // What Flux reported meanwhile: its health check (wait: true) waits for every Job it applied to be Complete, the
      // contract Job too (fluxcd/pkg/runtime v0.110.3 statusreaders/job.go: Current only on Complete).
      const rev = published[1].revision;
      const forRev = kustomization.events.filter((e) => e.object.status?.lastAttemptedRevision === rev);
      const readyOf = (e: any) => condition(e.object, 'Ready');
      const firstTrue = forRev.find((e) => readyOf(e)?.status === 'True');
      expect(firstTrue).toBeDefined();
      const completeAt = contractJob.firstTrue.Complete!;
      expect(firstTrue!.at).toBeGreaterThan(completeAt);
      const meanwhile = [...new Set(forRev.filter((e) => e.at < firstTrue!.at).map((e) => `${readyOf(e)?.status} ${readyOf(e)?.reason}: ${readyOf(e)?.message}`))];
      process.stdout.write(`flux contract: Ready while release 5's Jobs ran:\n  ${meanwhile.join('\n  ')}\n`);
      expect(meanwhile.every((m) => m.startsWith('Unknown '))).toBe(true);
      timing('flux contract: last old pod gone -> contract step applied (the database\'s clock)', Number(applied.split(' ')[1]) - lastGone);
      timing('flux contract: contract Job Complete -> Kustomization Ready=True', firstTrue!.at - completeAt);
      timing('flux contract: revision published -> Kustomization Ready=True', firstTrue!.at - published[1].at);
    } finally {
      pods.close();
      contractJob.close();
      kustomization.close();
    }
  }, 600_000);
});

describe('examples/flux/README.md, its commands as written', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'examples', 'flux', 'README.md'), 'utf-8');
  const [kustomizationYaml] = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trimEnd().split('\n'));
  const [once, each] = blocks;
  const BUILD = 'npx projen compile && scripts/synth-examples.sh flux';
  const NAME = 'invoices';
  const ns = namespaceName('flux-ex');
  // The README's namespaces become the test's: `-n flux-system` the controller's, `-n invoices` the app's.
  const inNamespaces = (lines: string[]) => lines.map((l) => l.replace(/-n flux-system\b/g, `-n ${fluxNs}`).replace(/-n invoices\b/g, `-n ${ns}`)).join('\n');
  const work = tempDir('flux-ex-work');
  const bare = path.join(tempDir('flux-ex-git'), 'invoices-deploy.git');
  // scripts/synth-examples.sh links the package to the checkout; leave no link behind that was not there (see helm.e2e.test.ts).
  const link = path.join(ROOT, 'node_modules', 'cdk8s-migrated-app');
  const linked = fs.existsSync(link);
  let stopMirror = () => undefined as void;
  /** Why the mirror below stopped publishing, if it failed. */
  let mirrorError: unknown;
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, encoding: 'utf-8' }).trim();
  const bash = (script: string, cwd: string) => runWithKubectl('bash', ['-euo', 'pipefail', '-c', script], cwd);

  afterAll(() => {
    stopMirror();
    if (!linked) fs.rmSync(link, { force: true });
  });

  beforeAll(async () => {
    await fluxOnce();
    await createNamespaces(ns);
    // What the README leaves to the user: the Secret invoices-db, and the image (the e2e image that answers `php artisan migrate`).
    await kubectl(['create', 'secret', 'generic', `${NAME}-db`, '--from-literal=DB_PASSWORD=pw'], { namespace: ns });
    const c = cluster();
    expect((await start(c.E2E_CLUSTER_SH, ['tag', c.E2E_CLUSTER_DIR, 'e2e.local/example:1.0.0', 'ghcr.io/example/invoices:2.4.0']).exited).code).toBe(0);
    // The deploy repository: a bare one as the remote, and a clone laid out like this repository (pipeline/ beside examples/).
    git(['init', '--quiet', '--bare', '--initial-branch=main', bare], ROOT);
    git(['clone', '--quiet', bare, work], ROOT);
    git(['config', 'user.email', 'e2e@example.invalid'], work);
    git(['config', 'user.name', 'e2e'], work);
    fs.symlinkSync(path.join(ROOT, 'pipeline'), path.join(work, 'pipeline'));
    fs.writeFileSync(path.join(work, '.gitignore'), '/pipeline\n');
    git(['add', '.gitignore'], work);
    git(['commit', '--quiet', '-m', 'deploy repository'], work);
    git(['push', '--quiet', '-u', 'origin', 'main'], work);
    // source-controller's part: the ExternalArtifact invoices-deploy follows main of the bare repository (polled, as
    // source-controller polls a GitRepository on its interval), with the files of each new commit.
    await flux!.source(fluxNs, `${NAME}-deploy`);
    let last = '';
    let running = true;
    void (async () => {
      while (running) {
        const head = git(['rev-parse', 'refs/heads/main'], bare);
        if (head !== last) {
          await flux!.publishGit(fluxNs, `${NAME}-deploy`, bare);
          last = head;
        }
        await sleep(300);
      }
    })().catch((e) => { mirrorError = e; });
    stopMirror = () => { running = false; };
  }, 300_000);

  test('the README has the blocks this test runs: the Kustomization, one command once, then a release', () => {
    expect(blocks).toHaveLength(2);
    expect(once).toHaveLength(1);
    expect(each[0]).toBe(BUILD);
    const k = parse(kustomizationYaml);
    expect(k).toMatchObject({ kind: 'Kustomization', metadata: { name: NAME, namespace: 'flux-system' }, spec: { sourceRef: { kind: 'GitRepository', name: `${NAME}-deploy` } } });
    // The fields of docs/operations.md's recipe, which the shop's tests above run.
    expect(k.spec).toMatchObject({ ...FLUX_RECIPE, timeout: '15m', path: './examples/flux/dist', targetNamespace: NAME });
  });

  test('apply the Kustomization, then synthesize, push, wait and prune as written: the Job completed before the pods were ready; Ready on the pushed commit', async () => {
    // The Kustomization as written, but for its source (an ExternalArtifact of the same name stands for the GitRepository) and namespaces.
    const k = parse(kustomizationYaml);
    k.metadata.namespace = fluxNs;
    k.spec.targetNamespace = ns;
    k.spec.sourceRef = { kind: 'ExternalArtifact', name: `${NAME}-deploy` };
    fs.writeFileSync(path.join(work, `${NAME}-kustomization.yaml`), toYaml([k]));
    const applied = await bash(inNamespaces(once), work);
    flux!.adopt(k);
    expect({ code: applied.code, out: applied.out }).toEqual({ code: 0, out: expect.stringContaining(`kustomization.kustomize.toolkit.fluxcd.io/${NAME} created`) });

    // The first line in the repository (it writes lib/ and examples/flux/dist/, as `npm run examples` does); the rest in the deploy clone.
    const build = await bash(BUILD, ROOT);
    expect({ code: build.code, out: build.out }).toEqual({ code: 0, out: expect.stringContaining('examples/flux: wrote') });
    fs.cpSync(path.join(ROOT, 'examples', 'flux', 'dist'), path.join(work, 'examples', 'flux', 'dist'), { recursive: true });
    const pushed = now();
    const r = await bash(inNamespaces(each.slice(1)), work);
    expect(mirrorError).toBeUndefined();
    timing('flux example: git push -> the README\'s commands done (wait, wait, wait-for-release.sh -p)', r.endedAt - pushed);
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.stringContaining(`kustomization.kustomize.toolkit.fluxcd.io/${NAME} condition met`) });

    const state = await flux!.state(fluxNs, NAME);
    expect(state.ready).toMatchObject({ status: 'True' });
    expect(state.lastAppliedRevision).toBe(`main@sha1:${git(['rev-parse', 'HEAD'], work)}`);
    const [job] = (await getJson(['jobs', '-l', `app.kubernetes.io/instance=${NAME}`], { namespace: ns })).items;
    expect(job.status).toMatchObject({ succeeded: 1 });
    const pods = (await getJson(['pods', '-l', `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=app`], { namespace: ns })).items;
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      expect(isReady(pod)).toBe(true);
      // The waiter let the pod go no earlier than the Job's completion (whole seconds).
      const waiter = pod.status.initContainerStatuses.find((c: any) => c.name.endsWith('-job-complete'));
      expect(Date.parse(waiter.state.terminated.finishedAt)).toBeGreaterThanOrEqual(Date.parse(job.status.completionTime));
    }
  }, 900_000);
});

// With it, a new revision cancels the running health check (kustomization_controller.go: HealthCheckCanceledReason) and
// is applied at once: release 4's Job is created while release 2's migrates, and the queue, not Flux, keeps them apart.
overlapThroughFlux(['CancelHealthCheckOnNewRevision=true'], 'cancel', (seen) => {
  expect(seen.reasons).toContain('HealthCheckCanceled');
  const twoCompleted = Date.parse(seen.two.status.completionTime);
  expect(Date.parse(seen.r.overlap.job.metadata.creationTimestamp)).toBeLessThan(twoCompleted);
  const [queue] = seen.fourPod.status.initContainerStatuses;
  expect(queue.name).toBe('wait-for-earlier-migrations');
  // The queue let release 4's migration go no earlier than release 2's Job ended (whole seconds).
  expect(Date.parse(queue.state.terminated.finishedAt)).toBeGreaterThanOrEqual(twoCompleted);
});
