/*
 * Helm v4 (test/e2e/modules/helm/go.mod, built by build.sh) on the real node, with
 * charts that wrap manifests synthesized with `Applier.helm()`, as
 * examples/helm/README.md tells users to:
 * - releases one after another: install, an upgrade with a new migration, a
 *   failing migration, its fix, an upgrade that changes nothing; the order of
 *   hooks and Deployment is read from an admin watch, not from helm's output;
 * - what `helm uninstall` leaves;
 * - an unchanged upgrade under Helm's default hook delete policy (none set),
 *   and with `Applier.helm({ keepUnchangedHooks: true })`, server- and client-side;
 * - the example's README commands, run as written (both ways of making the
 *   chart, install, uninstall, clean-up), with its image served by e2e.local/example.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  ApiWatch, cleanUp, cluster, createNamespaces, deleteNamespaces, getJson, isReady, jobNameOf, kubectl,
  Manifest, namespaceName, now, rolledOut, ROOT, RunResult, start, synthApp, tempDir, timing, waitFor, WatchEvent,
} from './support';
import { chart, helm, helmEnv, upgrade as upgradeChart } from './support/helm';
import { Applier } from '../../src';

const NAME = 'shop';
const INSTANCE = `app.kubernetes.io/instance=${NAME}`;
const APP_PODS = `${INSTANCE},app.kubernetes.io/component=app`;
const seconds = (t: string) => Date.parse(t);

/** A bash script run with helmEnv() in `cwd`; npx installs without asking, as it would after a "y" in a terminal. */
function bash(script: string, cwd: string): Promise<RunResult> {
  return start('bash', ['-euo', 'pipefail', '-c', script], { env: { ...helmEnv(), npm_config_yes: 'true' }, cwd, timeoutMs: 600_000 }).exited;
}

const out = (r: RunResult) => `${r.stdout}${r.stderr}`;

/**
 * Release `version` of the app, with `applier`: app image tag `tag`, the migration runs `migrateArgs`,
 * and with `contractArgs`, a contract step runs them in the migration's image.
 */
function release(version: string, tag: string, migrateArgs: string[], applier = Applier.helm(), contractArgs?: string[]): Manifest[] {
  const small = { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } };
  return synthApp({
    name: NAME,
    image: `e2e.local/app:${tag}`,
    args: [`--version=${version}`],
    replicas: 2,
    applier,
    ports: [{ number: 8080, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080, periodSeconds: Duration.seconds(1), failureThreshold: 1 }),
    resources: small,
    // A ConfigMap per release (its hash changes), one Secret for all (its hash does not).
    config: { APP_RELEASE: version },
    secretValues: { DB_PASSWORD: 'e2e' },
    migration: {
      image: 'e2e.local/migrate:1.0.0',
      args: [`--version=${version}`, ...migrateArgs],
      activeDeadline: Duration.seconds(60),
      resources: small,
      waiter: { notFoundTimeout: Duration.seconds(30) },
      contract: contractArgs ? { args: contractArgs, activeDeadline: Duration.minutes(5) } : undefined,
    },
    progressDeadline: Duration.seconds(90),
  });
}

function upgrade(ns: string, objects: Manifest[], version: string, ...flags: string[]): Promise<RunResult> {
  return upgradeChart(NAME, ns, objects, version, ...flags);
}

const nameOf = (objects: Manifest[], kind: string) => objects.find((o) => o.kind === kind)!.metadata.name as string;

/** Admin watches on what a release makes, all opened before helm runs. */
class Watches {
  public static async open(ns: string): Promise<Watches> {
    const sel = { labelSelector: INSTANCE };
    return new Watches(...await Promise.all([
      ApiWatch.open(ns, 'api/v1', 'configmaps', sel), ApiWatch.open(ns, 'api/v1', 'secrets', sel),
      ApiWatch.open(ns, 'apis/batch/v1', 'jobs', sel), ApiWatch.open(ns, 'apis/apps/v1', 'deployments', sel),
      ApiWatch.open(ns, 'api/v1', 'pods', { labelSelector: APP_PODS }),
      ApiWatch.open(ns, 'api/v1', 'pods', { labelSelector: 'batch.kubernetes.io/job-name' }),
    ]));
  }

  private constructor(public readonly configMaps: ApiWatch, public readonly secrets: ApiWatch, public readonly jobs: ApiWatch,
    public readonly deployments: ApiWatch, public readonly appPods: ApiWatch, public readonly jobPods: ApiWatch) {}

  public close(): void {
    for (const w of [this.configMaps, this.secrets, this.jobs, this.deployments, this.appPods, this.jobPods]) w.close();
  }
}

/** When `w` first showed an event that matches. */
function first(w: ApiWatch, match: (e: WatchEvent) => boolean): number | undefined {
  return w.events.find(match)?.at;
}
const named = (name: string) => (e: WatchEvent) => e.object?.metadata?.name === name;
const added = (name: string) => (e: WatchEvent) => named(name)(e) && e.type === 'ADDED';
const withCondition = (name: string, type: string) => (e: WatchEvent) =>
  named(name)(e) && (e.object.status?.conditions ?? []).some((c: any) => c.type === type && c.status === 'True');
const templateImage = (image: string) => (e: WatchEvent) => e.object?.spec?.template?.spec?.containers?.[0]?.image === image;
/** The distinct uids `w` saw for objects named `name`. */
const uids = (w: ApiWatch, name: string) => [...new Set(w.events.filter(named(name)).map((e) => e.object.metadata.uid))];
const migrationRuns = (w: ApiWatch, job: string) =>
  [...new Set(w.events.filter((e) => e.object?.metadata?.labels?.['batch.kubernetes.io/job-name'] === job).map((e) => e.object.metadata.uid))];

/** What the app's Service answers, through the API server's proxy. */
async function served(ns: string): Promise<string> {
  const r = await kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/services/${NAME}:8080/proxy/version`]);
  return r.stdout.trim();
}

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

describe('helm upgrade --install, release after release', () => {
  const ns = namespaceName('helm');
  const v1 = release('1.0.0', '1.0.0', ['--sleep=3s']);
  const v2 = release('1.1.0', '1.1.0', ['--sleep=3s']);
  const v3 = release('2.0.0', '2.0.0', ['--sleep=2s', '--fail=duplicate key value violates unique constraint']);
  const v4 = release('2.0.1', '2.0.0', ['--sleep=3s']);
  let w: Watches;

  beforeAll(async () => {
    await createNamespaces(ns);
    w = await Watches.open(ns);
  });
  afterAll(() => w?.close());

  test('install: the ConfigMap and Secret, then the Job to completion, then the Deployment', async () => {
    const started = now();
    const r = await upgrade(ns, v1, '1.0.0');
    expect({ code: r.code, out: out(r) }).toEqual({ code: 0, out: expect.stringContaining('STATUS: deployed') });
    timing('helm: upgrade --install (migration 3 s) -> helm exited', r.endedAt - started);
    const job = jobNameOf(v1);
    const jobAdded = first(w.jobs, added(job))!;
    const complete = first(w.jobs, withCondition(job, 'Complete'))!;
    const deployment = first(w.deployments, added(NAME))!;
    expect(first(w.configMaps, added(nameOf(v1, 'ConfigMap')))).toBeLessThan(jobAdded);
    expect(first(w.secrets, added(nameOf(v1, 'Secret')))).toBeLessThan(jobAdded);
    expect(complete).toBeGreaterThan(jobAdded);
    expect(deployment).toBeGreaterThan(complete);
    // The same from the API server's own times (whole seconds: "after" is "not before").
    const [j, d] = [await getJson(['job', job], { namespace: ns }), await getJson(['deployment', NAME], { namespace: ns })];
    expect(seconds(d.metadata.creationTimestamp)).toBeGreaterThanOrEqual(seconds(j.status.completionTime));
    timing('helm: install: Job Complete -> Deployment created', deployment - complete);
    for (const pod of await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:1.0.0')) {
      expect(seconds(pod.metadata.creationTimestamp)).toBeGreaterThanOrEqual(seconds(j.status.completionTime));
    }
    // Hooks are not in the release's manifest; the rest is.
    const manifest = out(await helm(['get', 'manifest', NAME, '--namespace', ns]));
    expect(manifest).toContain('kind: Deployment');
    expect(manifest).not.toMatch(/kind: (Job|ConfigMap|Secret)\n/);
    const hooks = out(await helm(['get', 'hooks', NAME, '--namespace', ns]));
    for (const kind of ['Job', 'ConfigMap', 'Secret']) expect(hooks).toContain(`kind: ${kind}`);
  });

  test('upgrade with a new migration: the old pods serve while it runs; the Deployment changes only once it completed', async () => {
    const started = now();
    const r = await upgrade(ns, v2, '1.1.0');
    expect(r.code).toBe(0);
    timing('helm: upgrade (migration 3 s) -> helm exited', r.endedAt - started);
    const job = jobNameOf(v2);
    const complete = first(w.jobs, withCondition(job, 'Complete'))!;
    const changed = first(w.deployments, templateImage('e2e.local/app:1.1.0'))!;
    expect(first(w.configMaps, added(nameOf(v2, 'ConfigMap')))).toBeLessThan(first(w.jobs, added(job))!);
    expect(changed).toBeGreaterThan(complete);
    timing('helm: upgrade: Job Complete -> Deployment template changed', changed - complete);
    // No pod of the old version was deleted, and none of the new one created, before the Deployment changed.
    const oldGone = first(w.appPods, (e) => e.object.spec.containers[0].image === 'e2e.local/app:1.0.0' && !!e.object.metadata.deletionTimestamp)!;
    const newPod = first(w.appPods, (e) => e.type === 'ADDED' && e.object.spec.containers[0].image === 'e2e.local/app:1.1.0')!;
    expect(oldGone).toBeGreaterThan(changed);
    expect(newPod).toBeGreaterThan(changed);
    await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:1.1.0');
    expect(await served(ns)).toBe('1.1.0');
  });

  test('a failing migration fails helm upgrade as soon as the Job fails; the Deployment is untouched and the old pods serve', async () => {
    const before = await getJson(['deployment', NAME], { namespace: ns });
    const started = now();
    const r = await upgrade(ns, v3, '2.0.0');
    const job = jobNameOf(v3);
    expect(r.code).not.toBe(0);
    // Helm's hook waiter (kstatus) reports the failed Job; it did not run into its --timeout.
    expect(out(r)).toContain(`resource Job/${ns}/${job} not ready. status: Failed`);
    expect(out(r)).not.toMatch(/context deadline exceeded|timed out/);
    // hook-output-log-policy: the migration's own error, in helm's output.
    expect(out(r)).toContain('FAILED: duplicate key value violates unique constraint');
    const failureTarget = first(w.jobs, withCondition(job, 'FailureTarget'))!;
    const failed = first(w.jobs, withCondition(job, 'Failed'))!;
    timing('helm: failing upgrade: helm started -> helm exited 1 (--timeout 5m)', r.endedAt - started);
    timing('helm: failing upgrade: Job FailureTarget -> helm exited 1', r.endedAt - failureTarget);
    timing('helm: failing upgrade: Job Failed -> helm exited 1', r.endedAt - failed);
    const after = await getJson(['deployment', NAME], { namespace: ns });
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec.template.spec.containers[0].image).toBe('e2e.local/app:1.1.0');
    expect(first(w.deployments, templateImage('e2e.local/app:2.0.0'))).toBeUndefined();
    await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:1.1.0');
    expect(await served(ns)).toBe('1.1.0');
    expect(out(await helm(['status', NAME, '--namespace', ns]))).toContain('STATUS: failed');
    // The failed Job stays, for `kubectl logs` (a hook that failed is not deleted by before-hook-creation).
    const logs = await kubectl(['logs', `job/${job}`], { namespace: ns });
    expect(logs.stdout + logs.stderr).toContain('FAILED: duplicate key value violates unique constraint');
  });

  test('re-running after a fix works', async () => {
    const r = await upgrade(ns, v4, '2.0.1');
    expect({ code: r.code, out: out(r) }).toEqual({ code: 0, out: expect.stringContaining('STATUS: deployed') });
    await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:2.0.0');
    expect(await served(ns)).toBe('2.0.1');
  });

  test('an upgrade that changes nothing: what before-hook-creation does to the Job, and to a pod that starts meanwhile', async () => {
    const job = jobNameOf(v4);
    const secret = nameOf(v4, 'Secret');
    const mark = w.jobs.events.length;
    const helmDone = upgrade(ns, v4, '2.0.1');
    // Restart one app pod while helm is at work, as soon as it has deleted the Job.
    const deletedAt = await waitFor(() => w.jobs.events.slice(mark).find((e) => named(job)(e) && e.type === 'DELETED')?.at,
      60_000, `helm to delete Job ${job}`, 20);
    const [victim] = (await getJson(['pods', '-l', APP_PODS], { namespace: ns })).items;
    await kubectl(['delete', 'pod', victim.metadata.name, '--wait=false'], { namespace: ns });
    const restartedAt = now();
    const r = await helmDone;
    expect(r.code).toBe(0);
    const pods = await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:2.0.0');
    const addedAt = (uid: string) => first(w.appPods, (e) => e.type === 'ADDED' && e.object.metadata.uid === uid)!;
    const replacement = pods.find((p) => addedAt(p.metadata.uid) > deletedAt);
    const jobUids = uids(w.jobs, job);
    const runs = migrationRuns(w.jobPods, job);
    expect(jobUids).toHaveLength(2);
    expect(runs).toHaveLength(2); // the migration ran a second time
    // The unchanged Secret, a hook too, was deleted and created again by each of the five helm runs.
    expect(uids(w.secrets, secret)).toHaveLength(5);
    const readded = first(w.jobs, (e) => e.type === 'ADDED' && e.object.metadata.uid === jobUids[1])!;
    const recomplete = first(w.jobs, (e) => e.object.metadata.uid === jobUids[1] && withCondition(job, 'Complete')(e))!;
    timing('helm: unchanged upgrade: Job deleted -> created again', readded - deletedAt);
    timing('helm: unchanged upgrade: Job deleted -> Complete again (no Job, or a running one)', recomplete - deletedAt);
    expect(replacement).toBeDefined();
    const readyAt = first(w.appPods, (e) => e.object.metadata.uid === replacement.metadata.uid && isReady(e.object))!;
    expect(readyAt).toBeGreaterThan(recomplete);
    timing('helm: unchanged upgrade: pod restarted meanwhile: deleted -> ready', readyAt - restartedAt,
      `waiter restarts ${replacement.status.initContainerStatuses.map((c: any) => c.restartCount).join('/')}`);
  });

  test('old hooks stay across releases, and after helm uninstall', async () => {
    const jobs = (await getJson(['jobs', '-l', INSTANCE], { namespace: ns })).items.map((j: any) => j.metadata.name).sort();
    expect(jobs).toEqual([v1, v2, v3, v4].map(jobNameOf).sort());
    const configMaps = (await getJson(['configmaps', '-l', INSTANCE], { namespace: ns })).items.map((c: any) => c.metadata.name).sort();
    expect(configMaps).toEqual([v1, v2, v3, v4].map((v) => nameOf(v, 'ConfigMap')).sort());
    const r = await helm(['uninstall', NAME, '--namespace', ns, '--wait']);
    expect(r.code).toBe(0);
    const left = (await kubectl(['get', 'deployments,services,serviceaccounts,roles,rolebindings,jobs,configmaps,secrets', '-l', INSTANCE, '-o', 'name'], { namespace: ns })).stdout.trim().split('\n').sort();
    expect(left).toEqual([
      ...[v1, v2, v3, v4].map((v) => `configmap/${nameOf(v, 'ConfigMap')}`).sort(),
      ...[v1, v2, v3, v4].map((v) => `job.batch/${jobNameOf(v)}`).sort(),
      `secret/${nameOf(v4, 'Secret')}`,
      // The Job's queue, a hook with what the Job reads: one set for every release.
      `role.rbac.authorization.k8s.io/${NAME}-migrate-queue`, `rolebinding.rbac.authorization.k8s.io/${NAME}-migrate-queue`,
      `serviceaccount/${NAME}-migrate-queue`,
    ].sort());
  });
});

/** The manifests with the hooks' delete policy removed: Helm's default. */
function withoutDeletePolicy(objects: Manifest[]): Manifest[] {
  return objects.map((o) => {
    if (!o.metadata.annotations?.['helm.sh/hook']) return o;
    const copy = JSON.parse(JSON.stringify(o));
    delete copy.metadata.annotations['helm.sh/hook-delete-policy'];
    return copy;
  });
}

describe.each([
  ['no hook-delete-policy (Helm\'s default)', 'default', withoutDeletePolicy(release('1.0.0', '1.0.0', ['--sleep=1s']))],
  ['keepUnchangedHooks', 'keep', release('1.0.0', '1.0.0', ['--sleep=1s'], Applier.helm({ keepUnchangedHooks: true }))],
])('%s', (label, short, v1) => {
  const ns = namespaceName(`helm-${short}`);
  const keep = short === 'keep';
  let w: Watches;

  beforeAll(async () => {
    await createNamespaces(ns);
    w = await Watches.open(ns);
  });
  afterAll(() => w?.close());

  test('install, then the same chart again: server-side (Helm 4\'s default), then client-side', async () => {
    expect((await upgrade(ns, v1, '1.0.0')).code).toBe(0);
    const started = now();
    const again = await upgrade(ns, v1, '1.0.0');
    expect(again.code).toBe(0);
    timing(`helm: unchanged upgrade (migration 1 s), ${label} -> helm exited`, again.endedAt - started);
    const job = jobNameOf(v1);
    const count = () => ({
      jobs: uids(w.jobs, job).length,
      migrationRuns: migrationRuns(w.jobPods, job).length,
      secrets: uids(w.secrets, nameOf(v1, 'Secret')).length,
      configMaps: uids(w.configMaps, nameOf(v1, 'ConfigMap')).length,
    });
    // Helm's default is before-hook-creation: each upgrade deletes the hooks and runs the migration again.
    // With keepUnchangedHooks, server-side apply leaves them as they are, and the Job is already complete.
    const once = { jobs: 1, migrationRuns: 1, secrets: 1, configMaps: 1 };
    const twice = { jobs: 2, migrationRuns: 2, secrets: 2, configMaps: 2 };
    expect(count()).toEqual(keep ? once : twice);
    const clientSide = await upgrade(ns, v1, '1.0.0', '--server-side=false');
    if (keep) {
      // Client-side apply (Helm 3's only way) creates hooks with a plain create.
      expect({ code: clientSide.code, out: out(clientSide) }).toEqual({ code: 1, out: expect.stringMatching(/configmaps "shop-config-[0-9a-f]+" already exists/) });
      // That failed revision is now the last, and `--server-side=auto` (the default) takes its method: client-side again.
      expect(out(await upgrade(ns, v1, '1.0.0'))).toMatch(/configmaps "shop-config-[0-9a-f]+" already exists/);
      expect((await upgrade(ns, v1, '1.0.0', '--server-side=true')).code).toBe(0);
      expect(count()).toEqual(once);
    } else {
      expect(clientSide.code).toBe(0);
      expect(count()).toEqual({ jobs: 3, migrationRuns: 3, secrets: 3, configMaps: 3 });
    }
    await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:1.0.0');
  });

  if (keep) {
    test('keepUnchangedHooks: a failed Job is deleted once helm printed its log; the same release again runs it again', async () => {
      const failing = release('1.1.0', '1.1.0', ['--fail=relation already exists'], Applier.helm({ keepUnchangedHooks: true }));
      const job = jobNameOf(failing);
      const r = await upgrade(ns, failing, '1.1.0');
      expect(r.code).toBe(1);
      expect(out(r)).toContain('FAILED: relation already exists');
      await waitFor(async () => (await kubectl(['get', 'job', job], { namespace: ns, check: false })).stderr.includes('NotFound'), 60_000, `Job ${job} deleted`);
      expect((await getJson(['deployment', NAME], { namespace: ns })).spec.template.spec.containers[0].image).toBe('e2e.local/app:1.0.0');
      expect((await upgrade(ns, failing, '1.1.0')).code).toBe(1);
      expect(uids(w.jobs, job)).toHaveLength(2);
      await rolledOut(ns, NAME, APP_PODS, 'e2e.local/app:1.0.0');
    });
  }
});

describe('a contract step as post-install,post-upgrade hooks, without --wait', () => {
  const ns = namespaceName('helm-contract');
  // Old pods keep serving 5 s after SIGTERM: Helm's own "done" comes long before they are gone.
  const slow = (objects: Manifest[]) => objects.map((o) => {
    if (o.kind !== 'Deployment') return o;
    const copy = JSON.parse(JSON.stringify(o));
    copy.spec.template.spec.containers[0].args.push('--shutdown-delay=5s');
    return copy;
  });
  const v1 = slow(release('1.0.0', '1.0.0', ['--sleep=1s'], Applier.helm(), ['--version=1.0.0-contract', '--sleep=1s']));
  const v2 = slow(release('1.1.0', '1.1.0', ['--sleep=1s'], Applier.helm(), ['--version=1.1.0-contract', '--sleep=1s']));
  const contractOf = (objects: Manifest[]) => objects.find((o) => o.kind === 'Job' && o.metadata.name.includes('-contract-'))!.metadata.name as string;

  beforeAll(() => createNamespaces(ns));

  test('helm returns once the contract Job has completed; the contract step started after the last old pod was gone; hooks, not the release', async () => {
    const install = await helm(['upgrade', '--install', NAME, chart(NAME, v1, '1.0.0'), '--namespace', ns, '--timeout', '5m']);
    expect({ code: install.code, out: out(install) }).toEqual({ code: 0, out: expect.stringContaining('STATUS: deployed') });
    const pods = await ApiWatch.open(ns, 'api/v1', 'pods', { labelSelector: APP_PODS });
    try {
      const before = (await getJson(['pods', '-l', APP_PODS], { namespace: ns })).items.map((p: any) => p.metadata.name);
      expect(before).toHaveLength(2);
      const r = await helm(['upgrade', NAME, chart(NAME, v2, '1.1.0'), '--namespace', ns, '--timeout', '5m']);
      expect({ code: r.code, out: out(r) }).toEqual({ code: 0, out: expect.stringContaining('STATUS: deployed') });
      const job = await getJson(['job', contractOf(v2)], { namespace: ns });
      expect(job.status.conditions.find((c: any) => c.type === 'Complete').status).toBe('True');
      // Helm waited for the hook: it exited after the Job's completion (whole seconds: "not before").
      expect(Math.ceil(r.endedAt / 1000) * 1000).toBeGreaterThanOrEqual(seconds(job.status.completionTime));
      const gone = pods.events.filter((e) => e.type === 'DELETED' && before.includes(e.object.metadata.name)).map((e) => e.at);
      expect(gone).toHaveLength(2);
      const [pod] = (await getJson(['pods', '-l', `batch.kubernetes.io/job-name=${contractOf(v2)}`], { namespace: ns })).items;
      const started = seconds(pod.status.containerStatuses.find((c: any) => c.name === 'contract').state.terminated.startedAt);
      expect(started).toBeGreaterThanOrEqual(Math.floor(Math.max(...gone) / 1000) * 1000);
      timing('helm: contract step: last old pod gone -> helm exited', r.endedAt - Math.max(...gone));
      const hooks = out(await helm(['get', 'hooks', NAME, '--namespace', ns]));
      expect(hooks).toContain(`name: ${contractOf(v2)}`);
      expect(out(await helm(['get', 'manifest', NAME, '--namespace', ns]))).not.toContain('-contract-');
    } finally {
      pods.close();
    }
  });
});

describe('examples/helm/README.md, its commands as written', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'examples', 'helm', 'README.md'), 'utf-8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trimEnd().split('\n'));
  const [byCli, byHand, install, uninstall] = blocks;
  const BUILD = 'npx projen compile && scripts/synth-examples.sh helm';
  // One namespace per way of making the chart; the README's `wiki` becomes them.
  const namespaces = { cli: namespaceName('helm-ex-cli'), hand: namespaceName('helm-ex-hand') };
  const inNamespace = (lines: string[], ns: string) => lines.map((l) => l.replace(/(--namespace|-n) wiki\b/g, `$1 ${ns}`)).join('\n');
  const dirs = { cli: '', hand: '' };
  // scripts/synth-examples.sh links the package to the checkout; `npx projen build` then failed in jsii-docgen (ELOOP on
  // that link), so leave none behind.
  const link = path.join(ROOT, 'node_modules', 'cdk8s-migrated-app');
  const linked = fs.existsSync(link);
  afterAll(() => {
    if (!linked) fs.rmSync(link, { force: true });
  });

  beforeAll(async () => {
    await createNamespaces(namespaces.cli, namespaces.hand);
    // The example's image, served by the e2e image that stands in for the examples' (php artisan migrate --force, HTTP on 8080).
    const c = cluster();
    const tag = await start(c.E2E_CLUSTER_SH, ['tag', c.E2E_CLUSTER_DIR, 'e2e.local/example:1.0.0', 'ghcr.io/example/wiki:3.1.0']).exited;
    expect(tag.code).toBe(0);
  });

  test('the README has the four blocks this test runs, each naming the namespace where it must', () => {
    expect(blocks).toHaveLength(4);
    expect(byCli[0].startsWith(BUILD)).toBe(true);
    expect(byHand[0]).toBe(BUILD);
    for (const line of [...install, ...uninstall]) expect(line).toMatch(/(--namespace|-n) wiki\b/);
  });

  test('make the chart both ways: the cdk8s CLI\'s --format helm, and by hand; the same template either way', async () => {
    // The first line of both blocks, in the repository (it writes lib/ and examples/helm/dist/, as `npm run examples` does).
    const build = await bash(BUILD, ROOT);
    expect({ code: build.code, out: out(build) }).toEqual({ code: 0, out: expect.stringContaining('examples/helm: wrote') });
    // The rest in scratch folders laid out like the repository, so that wiki-chart/ lands there.
    dirs.cli = tempDir('helm-ex-cli');
    fs.mkdirSync(path.join(dirs.cli, 'examples', 'helm'), { recursive: true });
    for (const f of ['helm/main.ts', 'helm/cdk8s.yaml', 'tsconfig.json']) fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(dirs.cli, 'examples', f));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dirs.cli, 'node_modules'));
    const cli = await bash(byCli.slice(1).join('\n'), dirs.cli);
    expect({ code: cli.code, out: out(cli) }).toEqual({ code: 0, out: expect.stringContaining('../../wiki-chart/templates/helm.k8s.yaml') });
    dirs.hand = tempDir('helm-ex-hand');
    fs.symlinkSync(path.join(ROOT, 'examples'), path.join(dirs.hand, 'examples'));
    const hand = await bash(byHand.slice(1).join('\n'), dirs.hand);
    expect({ code: hand.code, out: out(hand) }).toEqual({ code: 0, out: '' });

    const dist = fs.readFileSync(path.join(ROOT, 'examples', 'helm', 'dist', 'helm.k8s.yaml'), 'utf-8');
    expect(fs.readFileSync(path.join(dirs.cli, 'wiki-chart', 'templates', 'helm.k8s.yaml'), 'utf-8')).toBe(dist);
    expect(fs.readFileSync(path.join(dirs.hand, 'wiki-chart', 'templates', 'helm.k8s.yaml'), 'utf-8')).toBe(dist);
    expect(dist).not.toContain('{{');
    // cdk8s-cli writes Chart.yaml (apiVersion v2, named after the folder) and a README.md beside templates/.
    expect(fs.readdirSync(path.join(dirs.cli, 'wiki-chart')).sort()).toEqual(['Chart.yaml', 'README.md', 'templates']);
    expect(fs.readFileSync(path.join(dirs.cli, 'wiki-chart', 'Chart.yaml'), 'utf-8')).toMatch(/^apiVersion: "v2"\nname: "helm"\nversion: "0\.1\.0"\n/);
    const lint = await helm(['lint', path.join(dirs.hand, 'wiki-chart')]);
    expect({ code: lint.code, out: out(lint) }).toEqual({ code: 0, out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed') });
  });

  test.each(['cli', 'hand'] as const)('install the chart made by %s, as the README says; uninstall and clean up', async (how) => {
    const ns = namespaces[how];
    const r = await bash(inNamespace(install, ns), dirs[how]);
    expect({ code: r.code, out: out(r) }).toEqual({ code: 0, out: expect.stringContaining('STATUS: deployed') });
    const jobs = (await getJson(['jobs', '-l', 'app.kubernetes.io/instance=wiki'], { namespace: ns })).items;
    expect(jobs.map((j: any) => [j.metadata.name.replace(/[0-9a-f]{10}$/, '<hash>'), j.status.succeeded])).toEqual([['wiki-migrate-<hash>', 1]]);
    const d = await getJson(['deployment', 'wiki'], { namespace: ns });
    expect(d.status.availableReplicas).toBe(d.spec.replicas);
    expect(seconds(d.metadata.creationTimestamp)).toBeGreaterThanOrEqual(seconds(jobs[0].status.completionTime));
    const gone = await bash(inNamespace(uninstall, ns), dirs[how]);
    expect(gone.code).toBe(0);
    // The uninstall removed the release's objects; the README's kubectl line removed the hooks it left.
    expect(out(gone)).toContain('release "wiki" uninstalled');
    expect(out(gone)).toMatch(/job.batch "wiki-migrate-[0-9a-f]+" deleted/);
    const left = await kubectl(['get', 'deployments,services,jobs,configmaps,secrets,roles,rolebindings,serviceaccounts', '-l', 'app.kubernetes.io/instance=wiki', '-o', 'name'], { namespace: ns });
    expect(left.stdout.trim()).toBe('');
  });
});
