/**
 * Release benchmark, on the e2e cluster's real node: the scenarios of
 * test/e2e/load.e2e.test.ts and contract.e2e.test.ts (the shop on PostgreSQL, sql-migrate or the
 * framework's migrator, the load generator sending requests through the
 * Service all the while), with their figures printed instead of asserted.
 *
 *   npm run bench:release                  # 50 requests/s, every scenario (about 6 min)
 *   npm run bench:release -- --quick       # 10 requests/s, the rolling releases and expand/contract: CI's check that it still runs
 *   npm run bench:release -- --rate 100
 *
 * It starts its own cluster with the e2e harness (test/e2e/.run/bench-*) and
 * stops it on exit, on failure and on signals. Times come from watches opened
 * here (the Job's Complete or FailureTarget, each pod's Ready) and from the
 * load generator's own clock, all this machine's.
 *
 * Columns: requests sent and failed during the step (the load runs from 2 s
 * before the apply until 2 s after the rollout, or after the failure and the
 * drain); the p99 of their latency; apply -> every new pod Ready; the Job from
 * its creation to Complete (or FailureTarget); Job Complete -> the first new
 * pod Ready.
 */
import { parseRateArgs, seconds } from './args';
import { cleanUp, createNamespaces, useCluster } from '../test/e2e/support';
import { buildControlPlane, upCluster } from '../test/e2e/support/harness';
import { expandContract, rollingReleases, Step, stopTheWorld, twoWorkloads } from '../test/e2e/support/shop';


function row(s: Step): string[] {
  const f = s.figures;
  return [s.name, String(f.sent), String(f.failed), f.sent ? f.p99Ms.toFixed(0) : '-', seconds(f.applyToReadyMs),
    `${seconds(f.migrationMs)} ${s.observed.jobOutcome === 'Complete' ? '' : '(failed)'}`.trim(), seconds(f.completeToFirstReadyMs)];
}

async function main(): Promise<void> {
  const o = parseRateArgs(process.argv.slice(2), 'release.ts', 10, 50);
  buildControlPlane();
  const cluster = upCluster('bench', () => cleanUp());
  useCluster(cluster.info);
  const rows: string[][] = [];
  const onStep = (s: Step) => {
    rows.push(row(s));
    process.stderr.write(`bench:release: ${rows[rows.length - 1].join(' | ')}\n`);
  };
  await createNamespaces('rolling');
  await rollingReleases('rolling', o.rate, onStep);
  if (!o.quick) {
    await createNamespaces('stw', 'two');
    const stw = await stopTheWorld('stw', o.rate, onStep);
    await twoWorkloads('two', o.rate, onStep);
    const u = stw.upgrade;
    process.stdout.write(`stop the world: downtime (last answer of 1 -> first of 2) ${seconds(u.downtimeMs)} s; `
      + `the migration itself ${seconds(u.migrationEndedAt - u.migrationStartedAt)} s (the database's clock)\n`);
  }
  await createNamespaces('contract');
  const c = (await expandContract('contract', o.rate, onStep)).contracted;
  const lastGone = Math.max(...c.oldPodsGoneAt);
  process.stdout.write(`expand and contract: first new pod ready -> last old pod gone ${seconds(lastGone - Math.min(...c.newPodsReadyAt))} s; `
    + `last old pod gone -> contract step applied ${seconds(c.contractApplied[0].at - lastGone)} s (the database's clock)\n`);
  const head = ['step', 'requests', 'failed', 'p99 ms', 'apply -> all new ready s', 'Job created -> done s', 'Complete -> first ready s'];
  process.stdout.write(`\nbench:release, ${o.rate} requests/s, Kubernetes ${cluster.info.E2E_K8S_VERSION} (${o.quick ? 'quick' : 'full'})\n\n`);
  process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n`);
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
  cleanUp();
  cluster.down();
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
