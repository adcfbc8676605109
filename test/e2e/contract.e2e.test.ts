/*
 * Expand and contract on the real node, under load (support/shop.ts): the
 * shop on PostgreSQL, migrated by sql-migrate, whose release 5 stops using
 * the column `note` and drops it in a contract step. Release 4's pods keep
 * serving 15 s after SIGTERM, so they sit in Terminating while release 5's
 * pods are ready: the contract step must wait for them to be gone, or their
 * requests fail. The order is read from the watch's clock and the
 * database's (sql-migrate's applied_at), both this machine's. Then, with the
 * e2e app, releases that overlap a contract step: the queue and the hold
 * decide who runs, read from the pods' container times (whole seconds).
 */
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  ApiWatch, appRelease, cleanUp, condition, createNamespaces, deleteNamespaces, getJson, kubectl, Manifest, namespaceName, SMALL, synthChart, timing,
  toYaml, waitFor,
} from './support';
import { DatabaseMigration, Restricted } from '../../src';
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

describe('releases that overlap a contract step (the e2e app, kubectl apply)', () => {
  const ns = namespaceName('contract-queue');
  const options = { activeDeadline: Duration.seconds(90), shutdownDelay: '20s' };
  // Release 1's contract step runs 15 s; release 2's migration is applied meanwhile. Release 2's
  // contract step then holds while release 1's pods take 20 s to stop, and release 3 is applied.
  const v1 = appRelease('1.0.0', ['--sleep=1s'], { ...options, contract: ['--sleep=15s'] });
  const v2 = appRelease('1.1.0', ['--sleep=1s'], { ...options, contract: ['--sleep=1s'] });
  const v3 = appRelease('2.0.0', ['--sleep=1s'], options);
  const jobs = (objects: Manifest[]) => objects.filter((o) => o.kind === 'Job').map((o) => o.metadata.name as string);
  const [[e1, c1], [e2, c2], [e3]] = [jobs(v1), jobs(v2), jobs(v3)];
  const apply = (objects: Manifest[]) => kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(objects) });
  const podOf = async (job: string) => (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${job}`], { namespace: ns })).items[0];
  const container = (pod: any, name: string) => [...pod?.status?.initContainerStatuses ?? [], ...pod?.status?.containerStatuses ?? []]
    .find((c: any) => c.name === name);
  const ended = (job: string) => waitFor(async () => {
    const j = await getJson(['job', job], { namespace: ns });
    return (condition(j, 'Complete')?.status === 'True' || condition(j, 'Failed')?.status === 'True') && j;
  }, 240_000, `${job} to end`);

  beforeAll(() => createNamespaces(ns));

  test('the next release\'s migration waits for a running contract step; a contract step still holding when a later release comes is superseded', async () => {
    expect([e1, c1, e2, c2, e3].every((n) => n)).toBe(true);
    await apply(v1);
    await waitFor(async () => container(await podOf(c1), 'contract')?.state.running, 180_000, `${c1}'s contract step to run`);
    await apply(v2);
    // Release 2's migration ran after release 1's contract step had ended.
    const c1Job = await ended(c1);
    expect(condition(c1Job, 'Complete')?.status).toBe('True');
    const e2Job = await ended(e2);
    expect(condition(e2Job, 'Complete')?.status).toBe('True');
    const c1Done = Date.parse(container(await podOf(c1), 'contract').state.terminated.finishedAt);
    const e2Start = Date.parse(container(await podOf(e2), 'migrate').state.terminated.startedAt);
    expect(e2Start).toBeGreaterThanOrEqual(c1Done);
    timing('contract queue: release 1 contract step ended -> release 2 migration started (whole seconds)', e2Start - c1Done);

    // Release 2's contract step holds while release 1's pods stop; release 3 comes meanwhile.
    await waitFor(async () => {
      const log = await kubectl(['logs', `job/${c2}`, '-c', 'wait-for-rollout'], { namespace: ns, check: false });
      return log.stdout.includes('from an earlier release to be gone');
    }, 180_000, `${c2} to hold for release 1's pods`);
    await apply(v3);
    const c2Job = await ended(c2);
    expect(condition(c2Job, 'Failed')?.status).toBe('True');
    const c2Pod = await podOf(c2);
    expect(container(c2Pod, 'contract').state.running).toBeUndefined();
    expect(container(c2Pod, 'contract').state.terminated).toBeUndefined();
    const hold = await kubectl(['logs', c2Pod.metadata.name, '-c', 'wait-for-rollout'], { namespace: ns });
    expect(hold.stdout + hold.stderr).toContain(`deployment/shop runs a later release (job/${e3}): this contract step is superseded and does not run`);
    const e3Job = await ended(e3);
    expect({ job: e3, conditions: e3Job.status.conditions.map((c: any) => `${c.type} ${c.reason ?? ''}`) })
      .toEqual({ job: e3, conditions: expect.arrayContaining([expect.stringMatching(/^Complete /)]) });
    const e3Start = Date.parse(container(await podOf(e3), 'migrate').state.terminated.startedAt);
    expect(e3Start).toBeGreaterThanOrEqual(Date.parse(condition(c2Job, 'Failed').lastTransitionTime));
  }, 600_000);
});

describe('a Deployment and a StatefulSet gated on one migration with a contract step, then a scale to zero', () => {
  const ns = namespaceName('contract-two');
  /** Release `version`: an API Deployment and a worker StatefulSet of the e2e app, both slow to stop, gated on one migration. */
  const release = (version: string, apiReplicas: number) => synthChart((chart) => {
    const migration = new DatabaseMigration(chart, 'migration', {
      name: 'two',
      image: `e2e.local/migrate:${version}`,
      args: [`--version=${version}`, '--sleep=1s'],
      activeDeadline: Duration.seconds(90),
      resources: SMALL,
      contract: { args: [`--version=${version}-contract`] },
    });
    const workload = (w: kplus.Deployment | kplus.StatefulSet) => {
      w.addContainer({
        image: `e2e.local/app:${version}`,
        args: [`--version=${version}`, '--shutdown-delay=8s'],
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        resources: SMALL,
        portNumber: 8080,
        readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
      });
      Restricted.applyTo(w);
      migration.gate(w);
    };
    workload(new kplus.Deployment(chart, 'api', { metadata: { name: 'two-api' }, replicas: apiReplicas, progressDeadline: Duration.minutes(3) }));
    const service = new kplus.Service(chart, 'worker-service', { metadata: { name: 'two-worker' }, clusterIP: 'None', ports: [{ port: 8080 }] });
    workload(new kplus.StatefulSet(chart, 'worker', { metadata: { name: 'two-worker' }, replicas: 2, service }));
  });
  const v1 = release('1.0.0', 2);
  const v2 = release('1.1.0', 2);
  const v3 = release('2.0.0', 0);
  const contractOf = (objects: Manifest[]) => objects.find((o) => o.kind === 'Job' && o.metadata.name.includes('-contract-'))!.metadata.name;

  beforeAll(() => createNamespaces(ns));

  test('each release\'s contract step starts after the last pod of the earlier release, of either workload, is gone', async () => {
    await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(v1) });
    await waitFor(async () => condition(await getJson(['job', contractOf(v1)], { namespace: ns }), 'Complete')?.status === 'True',
      240_000, 'release 1\'s contract step');
    for (const [objects, what] of [[v2, 'release 2'], [v3, 'release 3 (the API scaled to zero)']] as const) {
      const before = (await getJson(['pods', '-l', '!batch.kubernetes.io/job-name'], { namespace: ns })).items.map((p: any) => p.metadata.name);
      const pods = await ApiWatch.pods(ns, '!batch.kubernetes.io/job-name');
      try {
        await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(objects) });
        const contract = contractOf(objects);
        const job = await waitFor(async () => {
          const j = await getJson(['job', contract], { namespace: ns });
          return (condition(j, 'Complete')?.status === 'True' || condition(j, 'Failed')?.status === 'True') && j;
        }, 300_000, `${what}'s contract step`);
        expect({ what, complete: condition(job, 'Complete')?.status }).toEqual({ what, complete: 'True' });
        const gone = pods.events.filter((e) => e.type === 'DELETED' && before.includes(e.object.metadata.name)).map((e) => e.at);
        expect({ what, gone: gone.length }).toEqual({ what, gone: before.length });
        const [pod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${contract}`], { namespace: ns })).items;
        const started = Date.parse(pod.status.containerStatuses.find((c: any) => c.name === 'contract').state.terminated.startedAt);
        expect({ what, startedAfterLastGone: started >= Math.floor(Math.max(...gone) / 1000) * 1000 }).toEqual({ what, startedAfterLastGone: true });
        timing(`contract, two workloads: ${what}: last old pod gone -> contract step started (whole seconds)`, started - Math.max(...gone));
      } finally {
        pods.close();
      }
    }
  }, 900_000);
});
