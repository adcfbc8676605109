/**
 * Every applier side by side, on the e2e cluster's real node, in one run: the
 * shop (PostgreSQL, sql-migrate) released under load by
 * - plain kubectl: the README's pipeline, `kubectl apply` then
 *   `pipeline/wait-for-release.sh` (`Applier.plain()`);
 * - Helm: `helm upgrade --install --wait` of a chart that wraps the manifests
 *   (`Applier.helm()`, as examples/helm/README.md does);
 * - Argo CD: automated sync of a git repository, with the Application of
 *   examples/argocd/README.md (`Applier.argoCd()`);
 * - Flux: kustomize-controller reconciling a Kustomization with the fields of
 *   docs/operations.md (`Applier.flux()`).
 * Each gets the same releases in a namespace of its own: install 1; 1 -> 2, a
 * good release with a new migration; the same release 2 applied again,
 * unchanged; 2 -> 3, whose migration fails, with the old pods evicted one at
 * a time once it has failed (as a node drain does).
 *
 *   npm run bench:appliers                  # 20 requests/s (about 5 min)
 *   npm run bench:appliers -- --quick       # 5 requests/s, the four at once: CI's check that it still runs
 *   npm run bench:appliers -- --rate 50
 *
 * The releases, the load and the evictions are test/e2e/support/shop.ts's;
 * Argo CD, Flux and Helm are driven by support/argocd.ts, flux.ts and helm.ts,
 * as their e2e tests drive them. It starts its own cluster (test/e2e/.run/appliers-*)
 * and stops it, and every process it started, on exit, on failure and on
 * signals. Figures are printed, never asserted; the run fails only if a
 * release breaks (an applier never reports, a Job never ends).
 *
 * Argo CD retries a failed automated sync (the README's `retry.limit`): the
 * failure it reports first (the Job Degraded, the sync operation Failed) is
 * what is measured, and the run does not wait for the retries.
 */
import * as os from 'os';
import { Applier } from '../src';
import { parseRateArgs, seconds } from './args';
import {
  ApiWatch, cleanUp, createNamespaces, getJson, kubectl, Manifest, manifestsFile, namespaceName, now, useCluster, waitFor, waitForRelease,
} from '../test/e2e/support';
import { ArgoCd } from '../test/e2e/support/argocd';
import { Flux, FLUX_RECIPE } from '../test/e2e/support/flux';
import { buildControlPlane, upCluster } from '../test/e2e/support/harness';
import { upgrade } from '../test/e2e/support/helm';
import {
  ApplyFn, databaseFor, Database, failed, failedRelease, FailedStep, Gate, psql, release, SHOP, ShopOptions, shopRelease, Step,
} from '../test/e2e/support/shop';


/** How one applier is driven. */
interface Driver {
  readonly name: string;
  readonly shop: ShopOptions;
  /** Applies a release and returns once the applier has taken it (it may still be rolling out). */
  readonly apply: ApplyFn;
  /** For the failing release: applies it without waiting for the outcome... */
  readonly applyFailing: ApplyFn;
  /** ...and reports its failure, as the applier or pipeline does. */
  readonly gate: Gate;
  /** Waits until the applier is done with the last release (not timed)... */
  readonly settle?: () => Promise<void>;
  /** ...then applies `objects` (the release in place) again, unchanged; resolves when the applier reports it done, with how it did. */
  readonly reapply: (objects: Manifest[]) => Promise<string>;
  readonly stop?: () => Promise<void>;
}

/** What the table shows for one applier. */
interface Row {
  readonly applier: string;
  readonly good: Step;
  readonly reapply: { ms: number; jobsMade: number; jobPodsMade: number; migrationsAdded: number; how: string };
  readonly bad: FailedStep;
}

const lastLine = (out: string, match: RegExp) => out.split('\n').filter((l) => match.test(l)).pop()?.trim() ?? out.trim().split('\n').pop() ?? '';

function plain(ns: string): Driver {
  let file = '';
  return {
    name: 'kubectl + wait-for-release.sh',
    shop: {},
    apply: (objects) => kubectl(['apply', '-f', manifestsFile('plain', objects)], { namespace: ns }),
    applyFailing: async (objects) => {
      file = manifestsFile('plain', objects);
      await kubectl(['apply', '-f', file], { namespace: ns });
    },
    // The README's pipeline step, started right after the apply.
    gate: async () => {
      const r = await waitForRelease(['-n', ns, '-t', '3m', '-f', file]);
      return { code: r.code, out: `exit ${r.code}: ${lastLine(r.out, /BackoffLimitExceeded/).replace(/^(.* failed: \w+).*$/, '$1')}`, endedAt: r.endedAt };
    },
    reapply: async (objects) => {
      const again = manifestsFile('plain', objects);
      await kubectl(['apply', '-f', again], { namespace: ns });
      const r = await waitForRelease(['-n', ns, '-t', '3m', '-f', again]);
      if (r.code !== 0) throw new Error(`wait-for-release.sh exited ${r.code} on an unchanged release:\n${r.out}`);
      return `exit ${r.code}`;
    },
  };
}

function helmDriver(ns: string): Driver {
  let pending: ReturnType<typeof upgrade> | undefined;
  const version = (objects: Manifest[]) => objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].image.split(':')[1];
  const up = async (objects: Manifest[]) => {
    const r = await upgrade(SHOP, ns, objects, version(objects));
    if (r.code !== 0) throw new Error(`helm upgrade --install exited ${r.code}:\n${r.stdout}${r.stderr}`);
    return r;
  };
  return {
    name: 'Helm',
    shop: { applier: Applier.helm() },
    apply: up,
    applyFailing: async (objects) => { pending = upgrade(SHOP, ns, objects, version(objects)); },
    gate: async () => {
      const r = await pending!;
      // Helm 4's hook wait (pkg/kube/statuswait.go, kstatus of fluxcd/cli-utils v1.2.2) sees a Job Failed only from its
      // Failed condition, which Kubernetes sets after FailureTarget once the pods have terminated.
      return { code: r.code, out: `exit ${r.code}: ${lastLine(`${r.stdout}${r.stderr}`, /^Error/)}`, endedAt: r.endedAt };
    },
    reapply: async (objects) => `exit ${(await up(objects)).code}`,
  };
}

async function argoCdDriver(ns: string): Promise<Driver> {
  const a = await ArgoCd.start();
  // Application names are global to Argo CD: one of its own per run.
  const appName = namespaceName('shop');
  const application = a.application(appName, ns);
  let revision = '';
  let created = false;
  const push = async (objects: Manifest[]) => {
    revision = (await a.push(`apps/${appName}`, objects, `shop ${objects.find((o) => o.kind === 'Job')!.metadata.name}`)).revision;
    if (!created) {
      await a.apply(application);
      created = true;
    }
    await a.refresh(appName);
  };
  return {
    name: 'Argo CD',
    shop: { applier: Applier.argoCd() },
    apply: push,
    applyFailing: push,
    // What Argo CD reports first: the Job's health is Degraded once its Failed condition is set (gitops-engine v3.6.2
    // pkg/health/health_job.go reads JobFailed, not FailureTarget), then the sync operation Failed, and it retries.
    // The run does not wait for the retries.
    gate: async () => {
      const app = await waitFor(async () => {
        const x = await a.app(appName);
        const op = x.status?.operationState;
        const forThis = op?.syncResult?.revision === revision || op?.operation?.sync?.revision === revision;
        return forThis && (x.status.health?.status === 'Degraded' || op.phase === 'Failed') && x;
      }, 180_000, 'Argo CD to report the failing release as Degraded or Failed', 200);
      const endedAt = now();
      const op = app.status.operationState;
      return { code: 1, out: `health ${app.status.health.status}, sync operation ${op.phase}${op.message ? `: ${op.message}` : ''}`, endedAt };
    },
    settle: async () => {
      await a.operationEnded(appName, revision);
      // Automated sync may follow a sync with a second one of the same revision: not over it.
      await waitFor(async () => {
        const x = await a.app(appName);
        return !x.operation && x.status?.operationState?.phase !== 'Running';
      }, 300_000, `Application ${appName} to run no operation`, 500);
    },
    // What `argocd app sync --revision` asks for: a sync operation of the same revision.
    reapply: async () => {
      const app = await a.sync(appName, revision);
      return `sync ${app.status.operationState.phase}, health ${app.status.health.status}`;
    },
    stop: () => a.stop(),
  };
}

async function fluxDriver(ns: string): Promise<Driver> {
  const fluxNs = namespaceName('flux-system');
  await createNamespaces(fluxNs);
  const flux = await Flux.start(fluxNs);
  let revision = '';
  const publish = async (objects: Manifest[]) => { revision = (await flux.publish(fluxNs, SHOP, objects)).revision; };
  try {
    await flux.kustomization(fluxNs, SHOP, { ...FLUX_RECIPE, targetNamespace: ns });
  } catch (e) {
    await flux.stop();
    throw e;
  }
  return {
    name: 'Flux',
    shop: { applier: Applier.flux() },
    apply: publish,
    applyFailing: publish,
    // kustomize-controller v1.9.6's health check (kstatus of fluxcd/cli-utils v1.2.3) also waits for the Job's Failed condition.
    gate: async () => {
      const k = await flux.settled(fluxNs, SHOP, revision);
      return { code: k.ready!.status === 'True' ? 0 : 1, out: `Ready=${k.ready!.status} ${k.ready!.reason}`, endedAt: k.at };
    },
    settle: async () => { await flux.settled(fluxNs, SHOP, revision); },
    // What `flux reconcile kustomization` asks for: a reconcile of the same revision.
    reapply: async () => {
      const token = await flux.requestReconcile(fluxNs, SHOP);
      const k = await flux.settled(fluxNs, SHOP, revision, 300_000, (st) => st.lastHandledReconcileAt === token);
      return `Ready=${k.ready!.status} ${k.ready!.reason}`;
    },
    stop: () => flux.stop(),
  };
}

/** The same release applied again: how long until the applier says it is done, and whether a Job or a migration ran. */
async function unchanged(ns: string, db: Database, d: Driver, objects: Manifest[]): Promise<Row['reapply']> {
  const uids = async (args: string[]) => new Set<string>((await getJson(args, { namespace: ns })).items.map((o: any) => o.metadata.uid));
  const [jobsBefore, podsBefore] = [await uids(['jobs']), await uids(['pods', '-l', 'batch.kubernetes.io/job-name'])];
  const migrations = () => Number(psql(db.name, 'SELECT count(*) FROM gorp_migrations'));
  const migrationsBefore = migrations();
  // Watches, so that a Job or pod made and deleted again meanwhile counts too.
  const jobs = await ApiWatch.open(ns, 'apis/batch/v1', 'jobs', {});
  const jobPods = await ApiWatch.pods(ns, 'batch.kubernetes.io/job-name');
  try {
    await d.settle?.();
    const started = now();
    const how = await d.reapply(objects);
    const ms = now() - started;
    const made = (w: ApiWatch, before: Set<string>) => new Set(w.events.map((e) => e.object.metadata.uid).filter((u) => !before.has(u))).size;
    return { ms, jobsMade: made(jobs, jobsBefore), jobPodsMade: made(jobPods, podsBefore), migrationsAdded: migrations() - migrationsBefore, how };
  } finally {
    jobs.close();
    jobPods.close();
  }
}

async function run(d: Driver, ns: string, rate: number, log: (s: string) => void): Promise<Row> {
  const db = await databaseFor(ns);
  const install = await release(`${d.name}: install 1`, ns, db, 1, d.shop, 0, d.apply);
  log(`${install.name}: Job Complete -> first pod ready ${seconds(install.figures.completeToFirstReadyMs)} s`);
  const good = await release(`${d.name}: 1 -> 2`, ns, db, 2, d.shop, rate, d.apply);
  log(`${good.name}: ${good.figures.sent} requests, ${good.figures.failed} failed; Job Complete -> first new pod ready ${seconds(good.figures.completeToFirstReadyMs)} s`);
  const reapply = await unchanged(ns, db, d, shopRelease(db, 2, d.shop));
  log(`${d.name}: 2 again, unchanged: ${seconds(reapply.ms)} s, ${reapply.jobsMade} Jobs and ${reapply.jobPodsMade} migration pods made, `
    + `${reapply.migrationsAdded} migrations applied (${reapply.how})`);
  const bad = await failedRelease(`${d.name}: 2 -> 3 (fails; old pods evicted)`, ns, db, 3, 'e2e.local/shop:2.0.0', rate,
    { shop: d.shop, apply: d.applyFailing, gate: d.gate });
  log(`${bad.name}: ${bad.figures.sent} requests, ${bad.figures.failed} failed; FailureTarget -> reported ${seconds(bad.gate.exitAfterFailureMs)} s `
    + `(${bad.gate.code}: ${bad.gate.out.trim().split('\n').pop()}); evicted ${bad.evicted.length}, replaced ${bad.replacements.length}`);
  return { applier: d.name, good, reapply, bad };
}

function cells(r: Row): string[] {
  const served = new Set(r.bad.requests.filter((q) => !failed(q)).map((q) => q.pod));
  const back = r.bad.replacements.filter((p) => served.has(p)).length;
  const re = r.reapply;
  const reapply = re.jobsMade || re.jobPodsMade
    ? `a new Job (${re.jobPodsMade} pod), ${re.migrationsAdded} migrations applied, ${seconds(re.ms)} s`
    : `no Job, no migration, ${seconds(re.ms)} s`;
  return [
    r.applier,
    seconds(r.good.figures.completeToFirstReadyMs),
    `${seconds(r.bad.gate.exitAfterFailureMs)}: ${r.bad.gate.code === 0 ? 'reported success!' : r.bad.gate.out.trim().split('\n').pop()!.replace(/shop-migrate-[0-9a-f]+/g, '<job>')}`,
    `${r.good.figures.failed}/${r.good.figures.sent}`,
    `${r.bad.figures.failed}/${r.bad.figures.sent}`,
    `${back}/${r.bad.evicted.length} evicted pods replaced and served`,
    reapply,
  ];
}

async function main(): Promise<void> {
  const o = parseRateArgs(process.argv.slice(2), 'appliers.ts', 5, 20);
  buildControlPlane();
  const cluster = upCluster('appliers', () => cleanUp());
  useCluster(cluster.info);
  const log = (s: string) => process.stderr.write(`bench:appliers: ${s}\n`);
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const loadBefore = load();
  const started = now();
  const drivers: [string, (ns: string) => Driver | Promise<Driver>][] = [
    ['plain', plain], ['helm', helmDriver], ['argocd-shop', argoCdDriver], ['flux-shop', fluxDriver],
  ];
  const one = async ([ns, make]: typeof drivers[number]): Promise<Row> => {
    await createNamespaces(ns);
    const d = await make(ns);
    try {
      return await run(d, ns, o.rate, log);
    } finally {
      await d.stop?.();
    }
  };
  const rows: Row[] = [];
  if (o.quick) {
    // CI's check that it still runs: the four at once, the figures not comparable with a full run's.
    rows.push(...await Promise.all(drivers.map(one)));
  } else {
    // One applier at a time: Argo CD's and Flux's processes go before the next one starts.
    for (const d of drivers) rows.push(await one(d));
  }
  const head = ['applier', 'good release: Job Complete -> first new pod Ready s', 'failing migration: Job FailureTarget -> reported, s: how',
    'failed requests, good release', 'failed requests, failed release', 'old pods deleted during the failed release', 'unchanged re-apply'];
  process.stdout.write(`\nbench:appliers, ${new Date().toISOString()}, ${o.rate} requests/s, Kubernetes ${cluster.info.E2E_K8S_VERSION} `
    + `(${o.quick ? 'quick' : 'full'}), ${seconds(now() - started)} s; load average (1, 5, 15 min) before ${loadBefore}, after ${load()}\n\n`);
  process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n`);
  for (const r of rows) process.stdout.write(`| ${cells(r).join(' | ')} |\n`);
  cleanUp();
  cluster.down();
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
