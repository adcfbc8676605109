/*
 * Expand and contract on the real node, under load (support/shop.ts): the
 * shop on PostgreSQL, migrated by sql-migrate, whose release 5 stops using
 * the column `note` and drops it in a contract step. Release 4's pods keep
 * serving 15 s after SIGTERM, so they sit in Terminating while release 5's
 * pods are ready: the contract step must wait for them to be gone, or their
 * requests fail. The order is read from the watch's clock and the
 * database's (sql-migrate's applied_at), both this machine's.
 */
import { cleanUp, createNamespaces, deleteNamespaces, namespaceName, timing } from './support';
import { expandContract, failed, psql, Request, Step } from './support/shop';

const RATE = 20;

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

const failures = (requests: Request[]) => requests.filter(failed).map((r) => `${r.method} ${r.status} ${r.version} ${r.error}`.trim());

function report(s: Step): void {
  const f = s.figures;
  timing(`${s.name}: ${f.sent} requests, ${f.failed} failed, p99 ${f.p99Ms.toFixed(0)} ms; Job created -> done`, f.migrationMs);
}

describe('expand and contract under load, with sql-migrate', () => {
  let r: Awaited<ReturnType<typeof expandContract>>;
  beforeAll(async () => {
    const ns = namespaceName('contract');
    await createNamespaces(ns);
    r = await expandContract(ns, RATE, report);
  }, 900_000);

  test('a release whose migration fails: 0 failed requests, the contract Job fails in its hold, the contract step never starts', () => {
    const s = r.failedExpand;
    expect(s.observed.jobOutcome).toBe('FailureTarget');
    expect(failures(s.requests)).toEqual([]);
    expect(s.contractJob.status.conditions.find((c: any) => c.type === 'Failed').status).toBe('True');
    const contract = s.contractPod.status.containerStatuses.find((c: any) => c.name === 'contract');
    expect(contract.state.running).toBeUndefined();
    expect(contract.state.terminated).toBeUndefined();
    expect(s.holdLog).toContain(`job/${s.observed.job}, the migration of this release, failed: the contract step does not run`);
    expect(s.gate.code).not.toBe(0);
    expect(s.contractApplied).toEqual([]);
  });

  test('release 5: 0 failed requests; old pods sat in Terminating while new ones were ready; the column was dropped after the last was gone', () => {
    const s = r.contracted;
    expect(failures(s.requests)).toEqual([]);
    expect(s.requests.length).toBeGreaterThan(RATE * 4);
    expect(s.gate).toEqual({ code: 0, out: expect.stringContaining(`${s.contractJob.metadata.name} is complete`) });
    expect(s.contractApplied.map((m) => m.id)).toEqual(['5_drop_note.sql']);
    expect(psql(r.db.name, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'")).toBe('0');
    // Release 4's two pods and release 3's stuck ones: all gone, each after the first pod of 5 was ready.
    expect(s.oldPodsGoneAt.length).toBeGreaterThanOrEqual(2);
    const lastGone = Math.max(...s.oldPodsGoneAt);
    expect(Math.min(...s.newPodsReadyAt)).toBeLessThan(lastGone);
    expect(s.contractApplied[0].at).toBeGreaterThan(lastGone);
    // The API's container times are whole seconds: "after" is "not before".
    const started = Date.parse(s.contractPod.status.containerStatuses.find((c: any) => c.name === 'contract').state.terminated.startedAt);
    expect(started).toBeGreaterThanOrEqual(Math.floor(lastGone / 1000) * 1000);
    expect(s.holdLog).toMatch(/waiting for .*pod\(s\) of deployment\/shop from an earlier release to be gone/);
    timing('contract: last old pod gone -> contract step applied (the database\'s clock)', s.contractApplied[0].at - lastGone);
    timing('contract: first new pod ready -> last old pod gone (the hold\'s wait)', lastGone - Math.min(...s.newPodsReadyAt));
  });

  test('a contract step that fails: 0 failed requests, release 5 serves on, the gate fails with sql-migrate\'s error', () => {
    const s = r.broken;
    expect(failures(s.requests)).toEqual([]);
    expect(s.requests.filter((q) => !failed(q)).every((q) => q.version === '5')).toBe(true);
    expect(s.contractJob.status.conditions.find((c: any) => c.type === 'Failed').status).toBe('True');
    expect(s.gate.code).toBe(1);
    expect(s.gate.out).toContain(`${s.contractJob.metadata.name} failed`);
    expect(s.gate.out).toMatch(/column "no_such_column" of relation "orders" does not exist/);
    expect(s.contractLog).toMatch(/no_such_column/);
  });
});
