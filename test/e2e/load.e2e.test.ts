/*
 * Real releases under load (test/e2e/shop.ts): the shop on PostgreSQL,
 * migrated by sql-migrate or by its own `migrate` subcommand, while the load
 * generator sends 20 requests a second through its Service. What the README
 * promises, checked from the requests, the database, and the API's own
 * records: no failed request through a healthy migration or a failed one, one
 * migration run per release, no new pod before its Job completed, and none of
 * the old version serving once a stop-the-world migration has begun.
 */
import { cleanUp, condition, createNamespaces, deleteNamespaces, imageOf, namespaceName, preciseTime, timing } from './support';
import { failed, FailedStep, overlappingReleases, Request, rollingReleases, Step, stopTheWorld, StopTheWorld, twoWorkloads } from './support/shop';

const RATE = 20;

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

/** Failed requests, for a readable assertion message. */
const failures = (requests: Request[]) => requests.filter(failed).map((r) => `${r.method} ${r.status} ${r.error}`.trim());

function report(s: Step): void {
  const f = s.figures;
  timing(`${s.name}: ${f.sent} requests, ${f.failed} failed, p99 ${f.p99Ms.toFixed(0)} ms; Job created -> done`, f.migrationMs);
  if (f.applyToReadyMs !== undefined) timing(`${s.name}: apply -> all new pods ready`, f.applyToReadyMs);
  if (f.completeToFirstReadyMs !== undefined) timing(`${s.name}: Job Complete -> first new pod ready`, f.completeToFirstReadyMs);
}

/** Every pod of `image` was first seen Ready after its Job was seen Complete, and its waiter ended no earlier than the Job's completion. */
function expectStartedAfterJob(s: Step, image: string, count: number): void {
  const pods = s.pods.filter((p) => imageOf(p) === image);
  expect(pods).toHaveLength(count);
  const completed = Date.parse(condition(s.job, 'Complete').lastTransitionTime);
  for (const pod of pods) {
    expect({ pod: pod.metadata.name, readyAfterComplete: s.observed.newPodsReadyAt.get(pod.metadata.name)! > s.observed.jobDoneAt })
      .toEqual({ pod: pod.metadata.name, readyAfterComplete: true });
    const waiter = pod.status.initContainerStatuses[1];
    expect(waiter.name).toMatch(/^wait-for-.*-job-complete$/);
    // The API's times are whole seconds: "after" is "not before".
    expect(Date.parse(waiter.state.terminated.finishedAt)).toBeGreaterThanOrEqual(completed);
  }
}

/** The Job ran one pod, which succeeded. */
function expectRanOnce(s: Step): void {
  expect(s.jobPods).toHaveLength(1);
  expect(s.job.status).toMatchObject({ succeeded: 1 });
  expect(s.job.status.failed ?? 0).toBe(0);
}

describe('rolling releases with sql-migrate, under load', () => {
  const ns = namespaceName('rolling');
  let r: Awaited<ReturnType<typeof rollingReleases>>;

  beforeAll(async () => {
    await createNamespaces(ns);
    r = await rollingReleases(ns, RATE, report);
  }, 900_000);

  test('install 1: sql-migrate creates the table, then the pods start', () => {
    expectRanOnce(r.install);
    expect(r.install.migrations).toEqual(['1_orders.sql']);
    expectStartedAfterJob(r.install, 'e2e.local/shop:1.0.0', 2);
  });

  test('upgrade to 2 under load: 0 failed requests, the migration ran once, every new pod started after the Job completed', () => {
    const s = r.expand;
    expect(failures(s.requests)).toEqual([]);
    expect(s.requests.length).toBeGreaterThan(RATE * 4);
    // Both releases answered: release 1 until its pods were replaced, release 2 after.
    expect(new Set(s.requests.map((q) => q.version))).toEqual(new Set(['1', '2']));
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:2.0.0', 2);
  });

  test('upgrade to 3, whose migration fails: 0 failed requests, old pods serve on, no retry, the gate fails with sql-migrate\'s error', () => {
    const s: FailedStep = r.broken;
    expect(failures(s.requests)).toEqual([]);
    expect(new Set(s.requests.map((q) => q.version))).toEqual(new Set(['2']));
    expect(s.observed.jobOutcome).toBe('FailureTarget');
    expect(s.job.spec.backoffLimit).toBe(0);
    expect(s.jobPods).toHaveLength(1);
    expect(s.job.status.failed).toBe(1);
    // Rolled back in its transaction: nothing of 3_unique_item.sql is recorded.
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    expect(s.gate.code).toBe(1);
    expect(s.gate.out).toContain(`job.batch/${s.observed.job} failed: BackoffLimitExceeded`);
    // sql-migrate's own words, and PostgreSQL's.
    expect(s.gate.out).toMatch(/Migration failed: .*could not create unique index "orders_item_key"/);
    expect(s.gate.out).toContain('3_unique_item.sql');
    timing('rolling 2 -> 3: Job FailureTarget -> wait-for-release.sh exited 1', s.gate.exitAfterFailureMs);
  });

  test('a drain during the failed release: each evicted old pod is replaced by a pod of 2 that starts and serves', () => {
    const s = r.broken;
    expect(s.evicted).toHaveLength(2);
    expect(s.replacements).toHaveLength(2);
    const servedBy = new Set(s.requests.filter((q) => !failed(q)).map((q) => q.pod));
    for (const pod of s.replacements) expect({ pod, served: servedBy.has(pod) }).toEqual({ pod, served: true });
    // The new release's pod is still held by its waiter.
    const stuck = s.pods.filter((p) => imageOf(p) === 'e2e.local/shop:3.0.0');
    expect(stuck.length).toBeGreaterThan(0);
    for (const p of stuck) expect(p.status.containerStatuses[0].ready).toBe(false);
  });

  test('the fix, release 4: 0 failed requests, the fixed migration ran once, every new pod started after its Job', () => {
    const s = r.fixed;
    expect(failures(s.requests)).toEqual([]);
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:4.0.0', 2);
  });
});

describe('stop the world (Recreate, the framework\'s migrator), as examples/stop-the-world/README.md says', () => {
  const ns = namespaceName('stw');
  let r: Awaited<ReturnType<typeof stopTheWorld>>;

  beforeAll(async () => {
    await createNamespaces(ns);
    r = await stopTheWorld(ns, RATE, report);
  }, 600_000);

  test('no request is answered by release 1 once the migration has begun, and the downtime spans the migration', () => {
    const s: StopTheWorld = r.upgrade;
    const lateOld = s.requests.filter((q) => !failed(q) && q.version === '1' && q.end > s.migrationStartedAt);
    expect(lateOld).toEqual([]);
    expect(s.requests.filter((q) => !failed(q) && q.version === '2').length).toBeGreaterThan(0);
    // Nobody served while the migration ran: the gap between the releases contains it.
    expect(s.downtimeMs).toBeGreaterThan(s.migrationEndedAt - s.migrationStartedAt);
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    expectStartedAfterJob(s, 'e2e.local/shop:2.0.0', 2);
    timing(`stop the world: downtime (last answer of 1 -> first of 2); ${s.figures.failed} of ${s.figures.sent} requests failed`, s.downtimeMs);
    timing('stop the world: the migration itself (the database\'s clock)', s.migrationEndedAt - s.migrationStartedAt);
  });
});

describe('two workloads gated on one migration: an API and a worker', () => {
  const ns = namespaceName('two');
  let r: Awaited<ReturnType<typeof twoWorkloads>>;

  beforeAll(async () => {
    await createNamespaces(ns);
    r = await twoWorkloads(ns, RATE, report);
  }, 600_000);

  test('one Job runs once; the API\'s and the worker\'s new pods all start after it completed; 0 failed requests', () => {
    const s = r.upgrade;
    expect(failures(s.requests)).toEqual([]);
    expectRanOnce(s);
    expect(s.migrations).toEqual(['1_orders.sql', '2_note.sql']);
    const pods = s.pods.filter((p) => imageOf(p) === 'e2e.local/shop:2.0.0');
    expect(pods.map((p) => p.metadata.labels['app.kubernetes.io/component'] ?? 'worker').sort()).toEqual(['app', 'app', 'worker']);
    const completed = preciseTime(condition(s.job, 'Complete').lastTransitionTime);
    for (const pod of pods) {
      expect(s.observed.newPodsReadyAt.get(pod.metadata.name)!).toBeGreaterThan(s.observed.jobDoneAt);
      expect(Date.parse(pod.status.initContainerStatuses[1].state.terminated.finishedAt)).toBeGreaterThanOrEqual(completed);
    }
  });
});

describe('two releases that overlap, under load: release 4 applied while release 2 migrates', () => {
  const ns = namespaceName('overlap');
  let r: Awaited<ReturnType<typeof overlappingReleases>>;

  beforeAll(async () => {
    await createNamespaces(ns);
    r = await overlappingReleases(ns, RATE, report);
  }, 600_000);

  test('0 failed requests; the database records the migrations one after another, never overlapping', () => {
    const s = r.overlap;
    expect(failures(s.requests)).toEqual([]);
    expect(s.recorded.map((m) => m.id)).toEqual(['1_orders.sql', '2_note.sql', '3_sku.sql']);
    for (let i = 1; i < s.recorded.length; i++) {
      const [before, after] = [s.recorded[i - 1], s.recorded[i]];
      expect({ after: after.id, startedAfterEnd: after.startedAt >= before.finishedAt }).toEqual({ after: after.id, startedAfterEnd: true });
    }
    timing('overlap: 2_note.sql finished -> 3_sku.sql started (the database\'s clock)', s.recorded[2].startedAt - s.recorded[1].finishedAt);
    expectRanOnce(s);
    expectStartedAfterJob(s, 'e2e.local/shop:4.0.0', 2);
  });
});
