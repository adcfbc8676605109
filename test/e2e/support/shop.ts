/**
 * Real releases of a real app, for `load.e2e.test.ts` (which asserts) and
 * `bench/release.ts` (which prints figures): the shop (test/e2e/images/shop)
 * on PostgreSQL, migrated by sql-migrate or by its own `migrate` subcommand,
 * with traffic from the load generator running all the while.
 *
 * The database is the one `cluster.sh` runs on the node. Pods reach it the
 * way apps reach a managed database outside their cluster: through a
 * selector-less Service `postgres` whose EndpointSlice names the node's
 * address. The node has no cluster DNS, so the app's config names the
 * Service by its ClusterIP instead of `postgres.<namespace>.svc`.
 *
 * Free of jest globals.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { imagesEnv } from './harness';
import {
  ApiWatch, cluster, condition, getJson, imageOf, isReady, jobNameOf, kubectl, Manifest, manifestsFile, now, runWithKubectl, ROOT, sleep, start,
  synthChart, SMALL, toYaml, waitFor, waitForRelease,
} from './index';
import { Applier, MigratedApplication, MigratedApplicationProps, Restricted } from '../../../src';

// ---------------------------------------------------------------- the database

export interface Database {
  readonly name: string;
  readonly password: string;
  /** The ClusterIP of the Service `postgres` in the app's namespace. */
  readonly host: string;
}

/** Runs SQL as the superuser (over the server's socket on this host); returns psql's unaligned output. */
export function psql(database: string, sql: string): string {
  const c = cluster();
  return execFileSync(c.E2E_PSQL, ['-h', c.E2E_POSTGRES_SOCKET_DIR, '-p', c.E2E_POSTGRES_PORT, '-U', 'postgres', '-d', database,
    '-AtX', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf-8' }).trim();
}

/**
 * A database and its owner role, both called `name`, and in `namespace` the
 * Service `postgres` in front of the node's PostgreSQL.
 */
export async function createDatabase(namespace: string, name: string): Promise<Database> {
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  psql('postgres', `CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
  psql('postgres', `CREATE DATABASE ${name} OWNER ${name}`);
  const c = cluster();
  const port = Number(c.E2E_POSTGRES_PORT);
  await kubectl(['apply', '-f', '-'], {
    namespace,
    input: toYaml([
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'postgres' }, spec: { ports: [{ name: 'postgres', port, protocol: 'TCP' }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'postgres-node', labels: { 'kubernetes.io/service-name': 'postgres' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [c.E2E_POSTGRES_HOST] }],
        ports: [{ name: 'postgres', port, protocol: 'TCP' }],
      },
    ]),
  });
  const host = (await getJson(['service', 'postgres'], { namespace })).spec.clusterIP;
  // Until kube-proxy has programmed the new Service, a pod that connects to it is refused, and a
  // migration Job (backoffLimit 0) fails at once: wait until it answers from the node.
  await waitFor(async () => (await start('nsenter', [`--net=${c.E2E_NETNS}`, `--mount=${c.E2E_MOUNTNS}`, '--',
    path.join(path.dirname(c.E2E_PSQL), 'pg_isready'), '-q', '-h', host, '-p', String(port)]).exited).code === 0,
  60_000, `PostgreSQL through the Service postgres (${host}) in ${namespace}`);
  return { name, password, host };
}

// ---------------------------------------------------------------- releases

export const SHOP = 'shop';
export const SHOP_SELECTOR = `app.kubernetes.io/instance=${SHOP},app.kubernetes.io/component=app`;
export const DBCONFIG_PATH = '/etc/sql-migrate/dbconfig.yml';
/** sql-migrate's config: the password comes from the environment (sql-migrate expands `${VAR}` in `datasource`). */
const DATASOURCE = 'host=${PGHOST} dbname=${PGDATABASE} user=${PGUSER} password=${PGPASSWORD} sslmode=disable';

/** sql-migrate's environments: the migrations, and release 5's contract steps (each its own table: sql-migrate refuses a table that records a file it does not have). */
export const DBCONFIG = `production:
  dialect: postgres
  datasource: ${DATASOURCE}
  dir: /migrations
contract:
  dialect: postgres
  datasource: ${DATASOURCE}
  dir: /contract
  table: gorp_contract
contract-broken:
  dialect: postgres
  datasource: ${DATASOURCE}
  dir: /contract-broken
  table: gorp_contract_broken
`;

export type Migrator = 'sql-migrate' | 'framework';

export interface ShopOptions {
  readonly migrator?: Migrator;
  readonly replicas?: number;
  readonly strategy?: kplus.DeploymentStrategy;
  /** Also gate a worker Deployment `shop-worker` (the same image) on the migration. */
  readonly worker?: boolean;
  /** A contract step: sql-migrate up in this environment of DBCONFIG (release 5's image holds its files). */
  readonly contract?: 'contract' | 'contract-broken';
  /** How long the app keeps serving after SIGTERM (the shop's default is 3s). */
  readonly shutdownDelay?: string;
  /** How the order is told to the tool that applies the release (default `Applier.plain()`). */
  readonly applier?: Applier;
}

/** How a release's objects reach the cluster: `kubectl apply` unless a test says otherwise (a Flux source, ...). */
export type ApplyFn = (objects: Manifest[]) => Promise<unknown>;

/** Release `n` (1-4) of the shop, against `db`. */
export function shopRelease(db: Database, n: number, options: ShopOptions = {}): Manifest[] {
  const image = `e2e.local/shop:${n}.0.0`;
  const props: MigratedApplicationProps = {
    name: SHOP,
    image,
    replicas: options.replicas ?? 2,
    strategy: options.strategy,
    applier: options.applier,
    ports: [{ number: 8080, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
    resources: SMALL,
    config: { PGHOST: db.host, PGDATABASE: db.name, PGUSER: db.name, PGSSLMODE: 'disable' },
    secretValues: { PGPASSWORD: db.password },
    progressDeadline: Duration.seconds(150),
    args: options.shutdownDelay ? ['serve', `--shutdown-delay=${options.shutdownDelay}`] : undefined,
    migration: {
      contract: options.contract ? { command: ['/bin/sql-migrate', 'up', `-config=${DBCONFIG_PATH}`, `-env=${options.contract}`] } : undefined,
      ...(options.migrator ?? 'sql-migrate') === 'sql-migrate'
        ? { command: ['/bin/sql-migrate', 'up', `-config=${DBCONFIG_PATH}`, '-env=production'], configFile: { path: DBCONFIG_PATH, content: DBCONFIG } }
        : { args: ['migrate'] },
      activeDeadline: Duration.seconds(120),
      resources: SMALL,
    },
  };
  return synthChart((chart) => {
    const app = new MigratedApplication(chart, SHOP, props);
    if (!options.worker) return;
    // A second workload of the same release, as in examples/shared-migration: its pods wait for the same Job.
    const worker = new kplus.Deployment(chart, 'worker', {
      metadata: { name: `${SHOP}-worker` },
      replicas: 1,
      securityContext: { ensureNonRoot: true },
    });
    worker.addContainer({
      name: 'worker',
      image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: ['serve', '--port=9090'],
      envFrom: [kplus.Env.fromConfigMap(app.configMap!), kplus.Env.fromSecret(app.secret!)],
      resources: SMALL,
      readiness: kplus.Probe.fromHttpGet('/healthz', { port: 9090, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
    });
    Restricted.applyTo(worker);
    app.migration.gate(worker);
  });
}

// ---------------------------------------------------------------- traffic

/** One request of the load generator (see test/e2e/images/loadgen). */
export interface Request {
  readonly start: number;
  readonly end: number;
  readonly method: string;
  readonly status: number;
  readonly version: string;
  readonly pod: string;
  readonly error: string;
}

export const failed = (r: Request) => r.status < 200 || r.status > 299;

/**
 * The load generator, running on the node (in the cluster's network and mount
 * namespaces) against the shop's Service, until `stop()`.
 */
export class Load {
  public static async start(namespace: string, rate: number): Promise<Load> {
    const c = cluster();
    const ip = (await getJson(['service', SHOP], { namespace })).spec.clusterIP;
    const dir = path.join(c.E2E_CLUSTER_DIR, 'load');
    fs.mkdirSync(dir, { recursive: true });
    const out = path.join(dir, `${namespace}-${Date.now()}.jsonl`);
    const proc = start('nsenter', [`--net=${c.E2E_NETNS}`, `--mount=${c.E2E_MOUNTNS}`, '--', imagesEnv().LOADGEN,
      `--url=http://${ip}:8080/orders`, `--rate=${rate}`, '--timeout=2s', '--max-duration=10m', `--out=${out}`]);
    return new Load(proc, out);
  }

  private stopped?: Promise<Request[]>;

  private constructor(private readonly proc: ReturnType<typeof start>, private readonly out: string) {}

  /** Stops sending, waits for the requests in flight, and returns every request. */
  public stop(): Promise<Request[]> {
    this.stopped ??= this.collect();
    return this.stopped;
  }

  private async collect(): Promise<Request[]> {
    this.proc.kill('SIGINT');
    const r = await this.proc.exited;
    if (r.code !== 0) throw new Error(`loadgen exited with ${r.code ?? r.signal}: ${r.stderr}`);
    const records = fs.readFileSync(this.out, 'utf-8').trim().split('\n').filter((l) => l).map((l) => JSON.parse(l) as Request);
    fs.rmSync(this.out);
    return records.sort((a, b) => a.start - b.start);
  }
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---------------------------------------------------------------- one release, observed

export interface Observed {
  readonly appliedAt: number;
  readonly job: string;
  /** When the Job was first seen, and when it was first seen Complete or FailureTarget (the watch's clock). */
  readonly jobCreatedAt: number;
  readonly jobDoneAt: number;
  readonly jobOutcome: 'Complete' | 'FailureTarget';
  /** When each pod of the new image was first seen Ready, by pod name. */
  readonly newPodsReadyAt: Map<string, number>;
}

/** The pods of the workloads: every pod in the namespace but the migration Jobs'. */
const WORKLOAD_PODS = '!batch.kubernetes.io/job-name';

/**
 * Applies `objects` (with `kubectl apply`, or with `applyFn`) while watching
 * the Job and the workloads' pods; waits for the Job to finish, then, if it
 * completed, for the workloads to roll out to `image`.
 */
export async function observeRelease(namespace: string, objects: Manifest[], image: string,
  applyFn: () => Promise<unknown> = () => kubectl(['apply', '-f', '-'], { namespace, input: toYaml(objects) })): Promise<Observed> {
  const job = jobNameOf(objects);
  const jobWatch = await ApiWatch.job(namespace, job);
  const podWatch = await ApiWatch.pods(namespace, WORKLOAD_PODS);
  try {
    const appliedAt = now();
    await applyFn();
    const jobDoneAt = await waitFor(() => jobWatch.firstTrue.Complete ?? jobWatch.firstTrue.FailureTarget, 180_000, `Job ${job} to finish`, 20);
    const jobOutcome = jobWatch.firstTrue.Complete !== undefined ? 'Complete' : 'FailureTarget';
    if (jobOutcome === 'Complete') {
      for (const d of objects.filter((o) => o.kind === 'Deployment')) {
        // An applier may create or update it only now (Argo CD: in the wave after the Job's): until then, rollout
        // status would report on what is there, or fail on nothing.
        const want = JSON.stringify(d.spec.template.spec.containers.map((c: any) => c.image));
        await waitFor(async () => JSON.stringify((await getJson(['deployment', d.metadata.name], { namespace })).spec.template.spec.containers
          .map((c: any) => c.image)) === want, 150_000, `deployment/${d.metadata.name} to have the images ${want}`);
        await kubectl(['rollout', 'status', `deployment/${d.metadata.name}`, '--timeout=150s'], { namespace, timeoutMs: 160_000 });
      }
      // Until the old pods are gone too: their last requests count.
      await waitFor(async () => (await getJson(['pods', '-l', WORKLOAD_PODS], { namespace })).items.every((p: any) => imageOf(p) === image && isReady(p)),
        120_000, `only ready pods of ${image} left in ${namespace}`);
    }
    const newPodsReadyAt = new Map<string, number>();
    for (const e of podWatch.events) {
      if (imageOf(e.object) !== image || !isReady(e.object) || newPodsReadyAt.has(e.object.metadata.name)) continue;
      newPodsReadyAt.set(e.object.metadata.name, e.at);
    }
    return { appliedAt, job, jobCreatedAt: jobWatch.events[0].at, jobDoneAt, jobOutcome, newPodsReadyAt };
  } finally {
    jobWatch.close();
    podWatch.close();
  }
}

/** The figures of one step, for the benchmark's table and the tests' log. */
export interface Figures {
  readonly sent: number;
  readonly failed: number;
  readonly p99Ms: number;
  readonly applyToReadyMs?: number;
  readonly migrationMs: number;
  readonly completeToFirstReadyMs?: number;
}

export function figures(requests: Request[], o: Observed): Figures {
  const ready = [...o.newPodsReadyAt.values()];
  return {
    sent: requests.length,
    failed: requests.filter(failed).length,
    p99Ms: percentile(requests.map((r) => r.end - r.start), 99),
    applyToReadyMs: o.jobOutcome === 'Complete' && ready.length ? Math.max(...ready) - o.appliedAt : undefined,
    migrationMs: o.jobDoneAt - o.jobCreatedAt,
    completeToFirstReadyMs: o.jobOutcome === 'Complete' && ready.length ? Math.min(...ready) - o.jobDoneAt : undefined,
  };
}

// ---------------------------------------------------------------- scenarios

/** One release of a scenario, and what was seen of it. */
export interface Step {
  readonly name: string;
  /** The requests sent during the step (none for an install). */
  readonly requests: Request[];
  readonly observed: Observed;
  readonly figures: Figures;
  /** The Job and its pods, and the workloads' pods, once the step is over. */
  readonly job: any;
  readonly jobPods: any[];
  readonly pods: any[];
  /** The migrations the database records once the step is over (sql-migrate's table, or the framework's), in order. */
  readonly migrations: string[];
}

/** Sends traffic at `rate` for 2 s, during `fn`, and for 2 s after it. */
export async function underLoad<T>(namespace: string, rate: number, fn: () => Promise<T>): Promise<{ requests: Request[]; result: T }> {
  const load = await Load.start(namespace, rate);
  try {
    await sleep(2000);
    const result = await fn();
    await sleep(2000);
    return { requests: await load.stop(), result };
  } finally {
    await load.stop().catch(() => undefined);
  }
}

/** What the API and the database hold once a release `observed` is over, with the figures of `requests`. */
export async function step(name: string, namespace: string, db: Database, migrator: Migrator, requests: Request[],
  observed: Observed): Promise<Step> {
  const table = migrator === 'sql-migrate' ? 'gorp_migrations' : 'shop_migrations';
  return {
    name,
    requests,
    observed,
    figures: figures(requests, observed),
    job: await getJson(['job', observed.job], { namespace }),
    jobPods: (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${observed.job}`], { namespace })).items,
    pods: (await getJson(['pods', '-l', WORKLOAD_PODS], { namespace })).items,
    migrations: psql(db.name, `SELECT id FROM ${table} ORDER BY id`).split('\n').filter((l) => l),
  };
}

/** Release `n` with `kubectl apply` (or `apply`); under load at `rate` unless it is 0. */
export async function release(name: string, namespace: string, db: Database, n: number, shop: ShopOptions, rate: number,
  apply?: ApplyFn): Promise<Step> {
  const objects = shopRelease(db, n, shop);
  const go = () => observeRelease(namespace, objects, `e2e.local/shop:${n}.0.0`, apply && (() => apply(objects)));
  const { requests, result } = rate > 0 ? await underLoad(namespace, rate, go) : { requests: [], result: await go() };
  if (result.jobOutcome !== 'Complete') {
    const log = await kubectl(['logs', `job/${result.job}`, '--tail=20'], { namespace, check: false });
    throw new Error(`${name}: the migration Job ${result.job} failed:\n${log.stdout}${log.stderr}`);
  }
  return step(name, namespace, db, shop.migrator ?? 'sql-migrate', requests, result);
}

/** A database for `namespace`, named after it. */
export function databaseFor(namespace: string): Promise<Database> {
  return createDatabase(namespace, `db_${namespace.replace(/-/g, '_')}`);
}

/** What reports a release's outcome: its exit code (0 for success), its output, and when it ended (epoch ms, see `now()`). */
export type Gate = () => Promise<{ code: number | null; out: string; endedAt: number }>;

/** How `failedRelease` applies the release and learns of its failure (by default `kubectl apply`, then `wait-for-release.sh`). */
export interface FailedReleaseOptions {
  readonly shop?: ShopOptions;
  readonly apply?: ApplyFn;
  /** Started right after the apply. */
  readonly gate?: Gate;
}

export interface FailedStep extends Step {
  /** `pipeline/wait-for-release.sh` (or the options' gate), started right after the apply, as a pipeline runs it. */
  readonly gate: { readonly code: number | null; readonly out: string; readonly exitAfterFailureMs: number };
  /** The old pods evicted one at a time once the migration had failed, and the pods that replaced them. */
  readonly evicted: string[];
  readonly replacements: string[];
}

/**
 * Release `n`, whose migration fails, under load: the pipeline gate runs from
 * the apply on; once the Job has failed, the old release's pods are evicted
 * one at a time, as a node drain does, and each replacement must pass its
 * waiter (on the old release's Job) and serve before the next eviction.
 */
export async function failedRelease(name: string, namespace: string, db: Database, n: number, oldImage: string, rate: number,
  options: FailedReleaseOptions = {}): Promise<FailedStep> {
  const objects = shopRelease(db, n, options.shop);
  const manifests = manifestsFile('failed', objects);
  const apply = options.apply ?? (() => kubectl(['apply', '-f', manifests], { namespace }));
  const startGate = options.gate ?? (() => waitForRelease(['-n', namespace, '-t', '3m', '-f', manifests]));
  let gate: ReturnType<Gate> | undefined;
  const evicted: string[] = [];
  const replacements: string[] = [];
  const { requests, result } = await underLoad(namespace, rate, async () => {
    const observed = await observeRelease(namespace, objects, `e2e.local/shop:${n}.0.0`, async () => {
      await apply(objects);
      gate = startGate();
    });
    const g = await gate!;
    const oldPods = (await getJson(['pods', '-l', SHOP_SELECTOR], { namespace })).items.filter((p: any) => imageOf(p) === oldImage);
    for (const pod of oldPods) {
      await kubectl(['create', '--raw', `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/eviction`, '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.metadata.name, namespace } }),
      });
      evicted.push(pod.metadata.name);
      const replacement = await waitFor(async () => (await getJson(['pods', '-l', SHOP_SELECTOR], { namespace })).items.find((p: any) =>
        imageOf(p) === oldImage && isReady(p) && !p.metadata.deletionTimestamp && !oldPods.some((o: any) => o.metadata.name === p.metadata.name)
        && !replacements.includes(p.metadata.name)), 120_000, `a ready replacement of ${pod.metadata.name}`);
      replacements.push(replacement.metadata.name);
      await waitFor(async () => (await kubectl(['get', 'pod', pod.metadata.name], { namespace, check: false })).code !== 0,
        120_000, `${pod.metadata.name} to be gone`);
    }
    return { observed, gate: { code: g.code, out: g.out, exitAfterFailureMs: g.endedAt - observed.jobDoneAt } };
  });
  return { ...await step(name, namespace, db, 'sql-migrate', requests, result.observed), gate: result.gate, evicted, replacements };
}

/** Rolling releases with sql-migrate: install 1, then 2 (expand), 3 (fails), 4 (the fix), all under load. */
export async function rollingReleases(namespace: string, rate: number, onStep: (s: Step) => void = () => undefined) {
  const db = await databaseFor(namespace);
  const report = <S extends Step>(s: S) => { onStep(s); return s; };
  const install = report(await release('rolling: install 1', namespace, db, 1, {}, 0));
  const expand = report(await release('rolling: 1 -> 2 (expand)', namespace, db, 2, {}, rate));
  const broken = report(await failedRelease('rolling: 2 -> 3 (fails; old pods evicted)', namespace, db, 3, 'e2e.local/shop:2.0.0', rate));
  const fixed = report(await release('rolling: 2 -> 4 (the fix)', namespace, db, 4, {}, rate));
  return { db, install, expand, broken, fixed };
}

/** The stop-the-world procedure of examples/stop-the-world/README.md, as a shell script for `namespace` and `manifests`. */
export function stopTheWorldScript(namespace: string, manifests: string): string {
  const readme = fs.readFileSync(path.join(ROOT, 'examples', 'stop-the-world', 'README.md'), 'utf-8');
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('--replicas=0'));
  if (!block) throw new Error('examples/stop-the-world/README.md: no block that scales to zero');
  return `set -euo pipefail\n${block
    .replace(/-n catalog/g, `-n ${namespace}`)
    .replace(/deployment\/catalog/g, `deployment/${SHOP}`)
    .replace(/instance=catalog/g, `instance=${SHOP}`)
    .replace(/--timeout=40m/g, '--timeout=3m')
    .replace(/examples\/stop-the-world\/dist\//g, manifests)}`;
}

export interface StopTheWorld extends Step {
  /** When the framework migrator started and ended the migration (the database's clock_timestamp(), epoch ms). */
  readonly migrationStartedAt: number;
  readonly migrationEndedAt: number;
  /** From the last request answered by release 1 to the first answered by release 2. */
  readonly downtimeMs: number;
}

/** Recreate, with the framework's migrator, following the stop-the-world README: install 1, then 2 under load. */
export async function stopTheWorld(namespace: string, rate: number, onStep: (s: Step) => void = () => undefined) {
  const db = await databaseFor(namespace);
  const shop: ShopOptions = { migrator: 'framework', strategy: kplus.DeploymentStrategy.recreate() };
  const install = await release('stop the world: install 1', namespace, db, 1, shop, 0);
  onStep(install);
  const objects = shopRelease(db, 2, shop);
  const manifests = manifestsFile('stw', objects);
  const { requests, result } = await underLoad(namespace, rate, () => observeRelease(namespace, objects, 'e2e.local/shop:2.0.0', async () => {
    const r = await runWithKubectl('bash', ['-c', stopTheWorldScript(namespace, manifests)]);
    if (r.code !== 0) throw new Error(`the stop-the-world procedure failed (${r.code}):\n${r.out}`);
  }));
  const [startedAt, endedAt] = psql(db.name, "SELECT extract(epoch FROM started_at) * 1000 || ' ' || extract(epoch FROM finished_at) * 1000 "
    + "FROM shop_migrations WHERE id = '2_note.sql'").split(' ').map(Number);
  const ok = requests.filter((r) => !failed(r));
  const lastOld = Math.max(...ok.filter((r) => r.version === '1').map((r) => r.end));
  const firstNew = Math.min(...ok.filter((r) => r.version === '2').map((r) => r.start));
  const upgrade: StopTheWorld = {
    ...await step('stop the world: 1 -> 2 (Recreate)', namespace, db, 'framework', requests, result),
    migrationStartedAt: startedAt,
    migrationEndedAt: endedAt,
    downtimeMs: firstNew - lastOld,
  };
  onStep(upgrade);
  return { db, install, upgrade };
}

/** An API and a worker gated on one migration (the framework's migrator): install 1, then 2 under load. */
export async function twoWorkloads(namespace: string, rate: number, onStep: (s: Step) => void = () => undefined) {
  const db = await databaseFor(namespace);
  const shop: ShopOptions = { migrator: 'framework', worker: true };
  const install = await release('two workloads: install 1', namespace, db, 1, shop, 0);
  onStep(install);
  const upgrade = await release('two workloads: 1 -> 2', namespace, db, 2, shop, rate);
  onStep(upgrade);
  return { db, install, upgrade };
}

/** A migration as the framework's migrator records it: its id, and when it started and finished by the database's clock (epoch ms). */
export interface RecordedMigration {
  readonly id: string;
  readonly startedAt: number;
  readonly finishedAt: number;
}

export interface Overlap extends Step {
  /** What `shop_migrations` holds once both releases are out, by start. */
  readonly recorded: RecordedMigration[];
}

/**
 * Two releases that overlap, under load, with the framework's migrator:
 * install 1, then release 2 (whose 2_note.sql sleeps 4 s), and release 4 as
 * soon as 2's migration container runs, before it has ended. `apply` (default
 * `kubectl apply`) and `applier` say how the releases reach the cluster.
 */
export async function overlappingReleases(namespace: string, rate: number, onStep: (s: Step) => void = () => undefined,
  options: { apply?: ApplyFn; applier?: Applier } = {}) {
  const db = await databaseFor(namespace);
  const shop: ShopOptions = { migrator: 'framework', applier: options.applier };
  const apply = options.apply ?? ((objects: Manifest[]) => kubectl(['apply', '-f', '-'], { namespace, input: toYaml(objects) }));
  const install = await release('overlap: install 1', namespace, db, 1, shop, 0, apply);
  onStep(install);
  const [second, fourth] = [shopRelease(db, 2, shop), shopRelease(db, 4, shop)];
  const { requests, result } = await underLoad(namespace, rate, () => observeRelease(namespace, fourth, 'e2e.local/shop:4.0.0', async () => {
    await apply(second);
    await waitFor(async () => {
      const [pod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${jobNameOf(second)}`], { namespace })).items;
      return pod?.status.containerStatuses?.[0]?.state.running;
    }, 120_000, 'release 2\'s migration to run');
    await apply(fourth);
  }));
  const recorded = psql(db.name, "SELECT id || ' ' || extract(epoch FROM started_at) * 1000 || ' ' || extract(epoch FROM finished_at) * 1000 "
    + 'FROM shop_migrations ORDER BY started_at').split('\n').filter((l) => l).map((l) => {
    const [id, startedAt, finishedAt] = l.split(' ');
    return { id, startedAt: Number(startedAt), finishedAt: Number(finishedAt) };
  });
  const overlap: Overlap = { ...await step('overlap: 2, then 4 while 2 migrates', namespace, db, 'framework', requests, result), recorded };
  onStep(overlap);
  return { db, install, overlap, secondJob: jobNameOf(second) };
}

// ---------------------------------------------------------------- expand and contract

/** A release with a contract step, and what was seen of it. */
export interface ContractStep extends Step {
  /** The contract Job, and its pod, once it has ended. */
  readonly contractJob: any;
  readonly contractPod: any;
  /** `pipeline/wait-for-release.sh -f`, started right after the apply. */
  readonly gate: { readonly code: number | null; readonly out: string };
  /** When each pod that was there before the apply was seen gone (its DELETED event, the watch's clock), in order. */
  readonly oldPodsGoneAt: number[];
  /** When each pod of this release was first seen Ready (the watch's clock). */
  readonly newPodsReadyAt: number[];
  /** The logs of the contract Job's hold and of the contract step. */
  readonly holdLog: string;
  readonly contractLog: string;
  /** When sql-migrate recorded each contract migration it applied (gorp_contract.applied_at, epoch ms). */
  readonly contractApplied: { id: string; at: number }[];
}

/**
 * Release `n` of the shop with a contract step, under load: applies it,
 * runs the pipeline gate, and waits for the contract Job to end (Complete or
 * Failed) and, for a release whose migration completed, for the old pods to
 * be gone.
 */
export async function contractRelease(name: string, namespace: string, db: Database, n: number, shop: ShopOptions,
  rate: number): Promise<ContractStep> {
  const objects = shopRelease(db, n, shop);
  const contract = objects.find((o) => o.kind === 'Job' && o.metadata.name.includes('-contract-'))!.metadata.name;
  const manifests = manifestsFile('contract', objects);
  const before = new Set<string>((await getJson(['pods', '-l', SHOP_SELECTOR], { namespace })).items.map((p: any) => p.metadata.name));
  const pods = await ApiWatch.pods(namespace, SHOP_SELECTOR);
  let gate: ReturnType<typeof waitForRelease> | undefined;
  try {
    const { requests, result } = await underLoad(namespace, rate, async () => {
      const observed = await observeRelease(namespace, objects, `e2e.local/shop:${n}.0.0`, async () => {
        await kubectl(['apply', '-f', manifests], { namespace });
        gate = waitForRelease(['-n', namespace, '-t', '4m', '-f', manifests]);
      });
      const ended = await waitFor(async () => {
        const job = await getJson(['job', contract], { namespace });
        return ['Complete', 'Failed'].some((t) => condition(job, t)?.status === 'True') && job;
      }, 300_000, `contract Job ${contract} to end`);
      const g = await gate!;
      return { observed, ended, gate: { code: g.code, out: g.out } };
    });
    const [contractPod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${contract}`], { namespace })).items;
    const log = async (container: string) => {
      const r = await kubectl(['logs', contractPod.metadata.name, '-c', container], { namespace, check: false });
      return r.stdout + r.stderr;
    };
    const applied = psql(db.name, "SELECT to_regclass('gorp_contract') IS NOT NULL") === 't'
      ? psql(db.name, "SELECT id || ' ' || extract(epoch FROM applied_at) * 1000 FROM gorp_contract ORDER BY applied_at").split('\n').filter((l) => l)
      : [];
    const readyNew = pods.events.filter((e) => !before.has(e.object.metadata.name) && isReady(e.object));
    const newPodsReadyAt = [...new Set(readyNew.map((e) => e.object.metadata.name))]
      .map((pod) => readyNew.find((e) => e.object.metadata.name === pod)!.at);
    return {
      ...await step(name, namespace, db, 'sql-migrate', requests, result.observed),
      contractJob: result.ended,
      contractPod,
      gate: result.gate,
      oldPodsGoneAt: pods.events.filter((e) => e.type === 'DELETED' && before.has(e.object.metadata.name)).map((e) => e.at),
      newPodsReadyAt,
      holdLog: await log('wait-for-rollout'),
      contractLog: await log('contract'),
      contractApplied: applied.map((l) => ({ id: l.split(' ')[0], at: Number(l.split(' ')[1]) })),
    };
  } finally {
    pods.close();
  }
}

/**
 * Expand and contract under load, with sql-migrate: install release 4 (whose
 * pods keep serving 15 s after SIGTERM), release 3 with a contract step
 * (its migration fails: the contract step must never run), release 5 with
 * the contract step that drops the column release 4 uses, and release 5
 * again with a contract step that fails.
 */
export async function expandContract(namespace: string, rate: number, onStep: (s: Step) => void = () => undefined) {
  const db = await databaseFor(namespace);
  const slow = { shutdownDelay: '15s' };
  const report = <S extends Step>(s: S) => { onStep(s); return s; };
  const install = report(await release('contract: install 4', namespace, db, 4, slow, 0));
  const failedExpand = report(await contractRelease('contract: 4 -> 3 (its migration fails)', namespace, db, 3, { ...slow, contract: 'contract' }, rate));
  const contracted = report(await contractRelease('contract: 4 -> 5 (drops note)', namespace, db, 5, { ...slow, contract: 'contract' }, rate));
  const broken = report(await contractRelease('contract: 5, a contract step that fails', namespace, db, 5, { ...slow, contract: 'contract-broken' }, rate));
  return { db, install, failedExpand, contracted, broken };
}
