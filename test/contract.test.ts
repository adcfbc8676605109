/*
 * The contract step: what it renders beside the migration, how its names
 * follow the release, what it refuses, and its hold's script run by bash
 * against a stand-in kubectl (the e2e suite runs it for real).
 */
import { execFileSync } from 'child_process';
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { expectSoundManifests, Manifest, newChart, ofKind, raisedAt, runWithStubKubectl, synth } from './helpers';
import { Applier, DatabaseMigration, MigratedApplication } from '../src';
import { CONTRACT_CONTAINER, HOLD_CONTAINER } from '../src/contract';
import { RELEASE_LABEL } from '../src/naming';
import { QUEUE_CONTAINER } from '../src/queue';

const IMAGE = 'ghcr.io/acme/shop:1.0.0';
type AppProps = ConstructorParameters<typeof MigratedApplication>[2];
const MIGRATION = { command: ['shop-migrate'], args: ['expand'] };

function render(migration: AppProps['migration'] = { ...MIGRATION, contract: { args: ['contract'] } }, props: Partial<AppProps> = {}) {
  const chart = newChart();
  const app = new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE, migration, ...props });
  const objects: Manifest[] = synth(chart);
  const jobs = ofKind(objects, 'Job');
  const expand = jobs.find((j) => j.metadata.name === app.migration.jobName)!;
  const contract = jobs.find((j) => j.metadata.name === app.migration.contractJobName);
  return { app, objects, expand, contract: contract!, pod: contract?.spec.template.spec };
}

const named = (objects: Manifest[], kind: string, name: string) => ofKind(objects, kind).find((o) => o.metadata.name === name);
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));

describe('what a contract step renders', () => {
  const { app, objects, expand, contract, pod } = render();

  test('a second Job of the release, named after its own content, labelled with the release\'s migration Job', () => {
    expect(ofKind(objects, 'Job')).toHaveLength(2);
    expect(contract.metadata.name).toMatch(/^shop-contract-[0-9a-f]{10}$/);
    expect(contract.metadata.labels[RELEASE_LABEL]).toBe(expand.metadata.name);
    expect(contract.spec.template.metadata.labels[RELEASE_LABEL]).toBe(expand.metadata.name);
    expect(expand.metadata.labels[RELEASE_LABEL]).toBeUndefined();
  });

  test('the queue first, then the hold, then the contract step in the migration\'s image and command, with the contract\'s args', () => {
    expect(pod.initContainers.map((c: any) => c.name)).toEqual([QUEUE_CONTAINER, HOLD_CONTAINER]);
    expect(pod.containers.map((c: any) => [c.name, c.image, c.command, c.args])).toEqual([[CONTRACT_CONTAINER, IMAGE, ['shop-migrate'], ['contract']]]);
    const migrate = expand.spec.template.spec.containers[0];
    const { name: _a, args: _b, ...same } = migrate;
    expect(pod.containers[0]).toMatchObject(same);
  });

  test('the hold runs bash in the waiter\'s image, knows the release, the app\'s Jobs and the gated Deployment with its selector', () => {
    const hold = pod.initContainers[1];
    expect([hold.image, hold.command]).toEqual([DatabaseMigration.DEFAULT_WAITER_IMAGE, ['/bin/bash', '-c']]);
    expect(envOf(hold)).toMatchObject({
      RELEASE: expand.metadata.name,
      SELECTOR: 'app.kubernetes.io/instance=shop,app.kubernetes.io/component=migration',
      WORKLOADS: 'deployment/shop app.kubernetes.io/component=app,app.kubernetes.io/instance=shop,app.kubernetes.io/name=shop',
      LC_ALL: 'C',
    });
    expect(() => execFileSync('bash', ['-n', '-c', hold.args[0]])).not.toThrow();
  });

  test('the hold\'s jsonpaths print, in order, the fields its script reads (kubectl ran them on the node: contract.e2e.test.ts)', () => {
    const env = envOf(pod.initContainers[1]);
    expect([env.HOME, env.JOBS, env.PODS]).toEqual([
      '/tmp',
      '{range .items[*]}{.metadata.creationTimestamp} {.metadata.name} {.status.conditions[?(@.status=="True")].type}{"\\n"}{end}',
      '{range .items[*]}{.metadata.name} {.metadata.labels.cdk8s-migrated-app\\.github\\.io/release}{"\\n"}{end}',
    ]);
    expect(env.STATUS.split('|')).toEqual(['{.metadata.generation}', '{.status.observedGeneration}', '{.spec.replicas}', '{.status.replicas}',
      '{.status.updatedReplicas}', '{.status.availableReplicas}', '{.spec.template.metadata.labels.cdk8s-migrated-app\\.github\\.io/release}',
      '{.status.conditions[?(@.reason=="ProgressDeadlineExceeded")].type}']);
  });

  test('its RBAC is emitted before it, so that a first apply never creates its pod without them; it keeps the migration Job\'s linter waivers', () => {
    const at = (kind: string) => objects.findIndex((o) => o.kind === kind && o.metadata.name === contract.metadata.name);
    expect(at('Role')).toBeLessThan(at('Job'));
    expect(at('RoleBinding')).toBeLessThan(at('Job'));
    expect(contract.metadata.annotations).toEqual(expand.metadata.annotations);
    expect(contract.metadata.annotations['ignore-check.kube-linter.io/job-ttl-seconds-after-finished']).toBeDefined();
  });

  test('the Deployment\'s pods carry the release, so that the hold tells them from earlier ones', () => {
    const deployment = ofKind(objects, 'Deployment')[0];
    expect(deployment.spec.template.metadata.labels[RELEASE_LABEL]).toBe(expand.metadata.name);
    expect(deployment.spec.selector.matchLabels[RELEASE_LABEL]).toBeUndefined();
  });

  test('its Role lists pods and gets the gated Deployment by name; bound to the Job\'s ServiceAccount; the queue and the hold alone get a token', () => {
    const role = named(objects, 'Role', contract.metadata.name)!;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['shop'], verbs: ['get'] },
    ]);
    expect(named(objects, 'RoleBinding', contract.metadata.name)!.subjects).toEqual([{ apiGroup: '', kind: 'ServiceAccount', name: 'shop-migrate-queue' }]);
    expect(pod.serviceAccountName).toBe('shop-migrate-queue');
    expectSoundManifests(objects);
  });

  test('the deadline covers the queue, the migration and the rollout: the migration\'s plus an hour by default', () => {
    expect(contract.spec.activeDeadlineSeconds).toBe(600 + 3600);
    expect(render({ ...MIGRATION, contract: { args: ['c'], activeDeadline: Duration.minutes(30) } }).contract.spec.activeDeadlineSeconds).toBe(1800);
  });

  test('contractJobName is undefined without a contract step, and no contract object is emitted; the pods still carry their release', () => {
    const r = render(MIGRATION);
    expect(r.app.migration.contractJobName).toBeUndefined();
    expect(r.objects.filter((o) => o.metadata.name.includes('-contract-'))).toEqual([]);
    // The pods carry their release anyway: a later release without a contract step must still supersede an earlier one's.
    expect(ofKind(r.objects, 'Deployment')[0].spec.template.metadata.labels[RELEASE_LABEL]).toBe(r.app.migration.jobName);
    expect(app.migration.contractJobName).toBe(contract.metadata.name);
  });
});

describe('the contract step\'s command, image and names', () => {
  test('a command of its own drops the migration\'s args unless it gives its own; an image of its own', () => {
    const a = render({ ...MIGRATION, contract: { command: ['psql', '-f', 'contract.sql'] } }).pod.containers[0];
    expect([a.command, a.args]).toEqual([['psql', '-f', 'contract.sql'], undefined]);
    const b = render({ ...MIGRATION, contract: { image: 'ghcr.io/acme/contract:2.0.0', args: ['go'] } }).pod.containers[0];
    expect([b.image, b.command, b.args]).toEqual(['ghcr.io/acme/contract:2.0.0', ['shop-migrate'], ['go']]);
  });

  test('a new contract step is a new contract Job of the same release; a new migration is a new release for both', () => {
    const one = render();
    const fixed = render({ ...MIGRATION, contract: { args: ['contract', '--fixed'] } });
    expect(fixed.expand.metadata.name).toBe(one.expand.metadata.name);
    expect(fixed.contract.metadata.name).not.toBe(one.contract.metadata.name);
    const next = render({ ...MIGRATION, args: ['expand', '--v2'], contract: { args: ['contract'] } });
    expect(next.expand.metadata.name).not.toBe(one.expand.metadata.name);
    expect(next.contract.metadata.name).not.toBe(one.contract.metadata.name);
    expect(next.contract.metadata.labels[RELEASE_LABEL]).toBe(next.expand.metadata.name);
  });

  test('the same app renders the same names again', () => {
    expect(render().contract.metadata.name).toBe(render().contract.metadata.name);
  });
});

describe('appliers', () => {
  const annotations = (applier: Applier) => {
    const { objects, contract } = render(undefined, { applier });
    const role = named(objects, 'Role', contract.metadata.name)!;
    return { job: contract.metadata.annotations, role: role.metadata.annotations };
  };

  test('Argo CD: wave 1, after the workloads (wave 0), not a hook', () => {
    const a = annotations(Applier.argoCd());
    expect([a.job['argocd.argoproj.io/sync-wave'], a.role['argocd.argoproj.io/sync-wave'], a.job['argocd.argoproj.io/hook']]).toEqual(['1', '1', undefined]);
  });

  test('Helm: post-install,post-upgrade hooks, the RBAC before the Job; none of the migration\'s pre hooks', () => {
    const a = annotations(Applier.helm());
    expect([a.job['helm.sh/hook'], a.job['helm.sh/hook-weight'], a.job['helm.sh/hook-output-log-policy']]).toEqual(['post-install,post-upgrade', '0', 'hook-failed']);
    expect([a.role['helm.sh/hook'], a.role['helm.sh/hook-weight']]).toEqual(['post-install,post-upgrade', '-10']);
  });

  test('every applier sets the same annotation keys for the contract step as for the migration, which the contract Job\'s override relies on', () => {
    for (const applier of [Applier.plain(), Applier.flux(), Applier.argoCd(), Applier.helm(), Applier.helm({ keepUnchangedHooks: true })]) {
      expect(Object.keys(applier._annotations('contract', false)).sort()).toEqual(Object.keys(applier._annotations('migration', false)).sort());
    }
  });

  test('plain and Flux: no ordering annotation', () => {
    for (const applier of [Applier.plain(), Applier.flux()]) {
      const keys = Object.keys(annotations(applier).job);
      expect(keys.filter((k) => k.startsWith('helm.sh/') || k.startsWith('argocd.'))).toEqual([]);
    }
  });

  test('Flux: the contract Job and its RBAC belong to one release: Flux must not prune them, a later release\'s pipeline does', () => {
    const off = { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' };
    const a = annotations(Applier.flux());
    expect(a.job).toMatchObject(off);
    expect(a.role).toMatchObject(off);
    expect(annotations(Applier.plain()).job).not.toHaveProperty('kustomize.toolkit.fluxcd.io/prune');
  });
});

describe('what a contract step refuses, naming the prop', () => {
  const fails = (migration: AppProps['migration'], message: RegExp) => expect(() => render(migration)).toThrow(raisedAt('test/shop', message));

  test('nothing of its own: it would run the migration again', () => {
    fails({ ...MIGRATION, contract: {} }, /^migration\.contract: needs a command, args or an image of its own/);
  });

  test('a bad command, args, image or deadline', () => {
    fails({ ...MIGRATION, contract: { command: [] } }, /^migration\.contract\.command: must be a non-empty list/);
    fails({ ...MIGRATION, contract: { args: [1 as any] } }, /^migration\.contract\.args\[0\]: /);
    fails({ ...MIGRATION, contract: { image: 'ghcr.io/acme/shop:latest' } }, /^migration\.contract\.image: /);
    fails({ ...MIGRATION, contract: { args: ['c'], activeDeadline: Duration.minutes(5) } },
      /^migration\.contract\.activeDeadline: must be longer than the migration's activeDeadline \(600s\): the contract Job waits for the migration and the rollout \(got "300s"\)$/);
    fails({ ...MIGRATION, contract: { args: ['c'], activeDeadline: Duration.minutes(10) } }, /^migration\.contract\.activeDeadline: must be longer .* \(got "600s"\)$/);
    fails({ ...MIGRATION, contract: { args: ['c'], activeDeadline: Duration.millis(1500) } }, /^migration\.contract\.activeDeadline: must be a positive duration of whole seconds/);
    fails({ ...MIGRATION, contract: 'drop' as any }, /^migration\.contract: must be an object of props/);
  });

  test('a sidecar named like the hold or the contract container', () => {
    fails({ ...MIGRATION, contract: { args: ['c'] }, sidecars: [{ name: CONTRACT_CONTAINER, image: 'proxy:1.0.0' }] }, /^migration\.contract: the contract Job's pod has a container named 'contract'/);
  });

  test('gating a DaemonSet, or a workload in another namespace', () => {
    const chart = newChart({ namespace: 'shop' });
    const migration = new DatabaseMigration(chart, 'db', { name: 'db', image: IMAGE, contract: { args: ['c'] } });
    const daemons = new kplus.DaemonSet(chart, 'agent', { containers: [{ image: 'agent:1' }] });
    expect(() => migration.gate(daemons)).toThrow(raisedAt('test/db', /^gate\(test\/agent\): a migration with a contract step can gate Deployments and StatefulSets only/));
    const unselected = new kplus.Deployment(chart, 'unselected', { select: false, progressDeadline: Duration.minutes(15), containers: [{ image: 'u:1' }] });
    expect(() => migration.gate(unselected)).toThrow(raisedAt('test/db', /^gate\(test\/unselected\): needs a label selector \(matchLabels\): the contract step finds the workload's pods by it$/));
    const elsewhere = new kplus.Deployment(chart, 'other', { metadata: { namespace: 'other' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'o:1' }] });
    expect(() => migration.gate(elsewhere)).toThrow(raisedAt('test/db', /^gate\(test\/other\)\.metadata\.namespace: must be the migration's with a contract step/));
  });
});

test('two gated workloads, a StatefulSet among them: the hold waits for both, and its Role names both', () => {
  const chart = newChart();
  const migration = new DatabaseMigration(chart, 'db', { name: 'db', image: IMAGE, contract: { args: ['c'] } });
  const api = new kplus.Deployment(chart, 'api', { metadata: { name: 'api' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'api:1' }] });
  const worker = new kplus.StatefulSet(chart, 'worker', { metadata: { name: 'worker' }, containers: [{ image: 'worker:1' }], service: new kplus.Service(chart, 'svc', { ports: [{ port: 80 }] }) });
  migration.gate(api);
  migration.gate(worker);
  const objects = synth(chart);
  const contract = named(objects, 'Job', migration.contractJobName!)!;
  const workloads: string[] = envOf(contract.spec.template.spec.initContainers[1]).WORKLOADS.split('\n');
  expect(workloads.map((w) => w.split(' ')[0])).toEqual(['deployment/api', 'statefulset/worker']);
  expect(workloads.every((w) => w.split(' ')[1].includes('cdk8s.io/metadata.addr='))).toBe(true);
  expect(named(objects, 'Role', migration.contractJobName!)!.rules.slice(1)).toEqual([
    { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['api'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: ['worker'], verbs: ['get'] },
  ]);
  for (const kind of ['Deployment', 'StatefulSet']) expect(ofKind(objects, kind)[0].spec.template.metadata.labels[RELEASE_LABEL]).toBe(migration.jobName);
});

/**
 * Runs the hold's script with a stand-in kubectl that answers `get jobs`,
 * `get <workload>` and `get pods` from lists of answers (the last one again
 * once they run out), or fails every call with `exit.status`. It pauses a
 * second between polls.
 */
function runHold(answers: { jobs: string[][]; status: string[]; pods: string[][] }, exit: { status?: number } = {}) {
  const hold = render().pod.initContainers[1];
  const lines = (lists: string[][]) => lists.map((l) => l.join('\n'));
  const r = runWithStubKubectl(hold.args[0], { ...envOf(hold), RELEASE: 'shop-migrate-b' },
    { jobs: lines(answers.jobs), status: answers.status, pods: lines(answers.pods) },
    exit.status !== undefined ? `echo 'Error from server (Forbidden)' >&2; exit ${exit.status}`
      : 'case "$2" in jobs) next jobs ;; pods) next pods ;; deployment/*) next status ;; esac', 20_000);
  return { status: r.status, out: r.out };
}

describe('the hold\'s script', () => {
  const T1 = '2026-12-06T10:00:00Z';
  const T2 = '2026-12-06T10:00:10Z';
  const T3 = '2026-12-06T10:00:20Z';
  const JOBS = [`${T1} shop-migrate-a Complete`, `${T2} shop-migrate-b SuccessCriteriaMet Complete`];
  // generation|observed|replicas|current|updated|available|release|ProgressDeadlineExceeded
  const DONE = '2|2|2|2|2|2|shop-migrate-b|';

  test('waits for the rollout, then for the last pod of the earlier release, terminating or not, then starts', () => {
    const r = runHold({
      jobs: [JOBS],
      status: ['2|1|2|2|0|2|shop-migrate-b|', '2|2|2|3|1|2|shop-migrate-b|', DONE],
      pods: [['shop-new-1 shop-migrate-b', 'shop-new-2 shop-migrate-b', 'shop-old-1 shop-migrate-a'], ['shop-new-1 shop-migrate-b', 'shop-new-2 shop-migrate-b']],
    });
    expect(r.status).toBe(0);
    expect(r.out.trim().split('\n')).toEqual([
      'waiting for deployment/shop to roll out (0 of 2 updated, 2 available, 2 in all)',
      'waiting for deployment/shop to roll out (1 of 2 updated, 2 available, 3 in all)',
      'waiting for 1 pod(s) of deployment/shop from an earlier release to be gone',
      'the release of job/shop-migrate-b has rolled out and no earlier pod is left: starting the contract step',
    ]);
  });

  test('a pod without the release label is from before the contract step: it counts as earlier', () => {
    const r = runHold({ jobs: [JOBS], status: [DONE], pods: [['shop-old-1 ', 'shop-new-1 shop-migrate-b'], ['shop-new-1 shop-migrate-b']] });
    expect([r.status, r.out]).toEqual([0, expect.stringContaining('waiting for 1 pod(s) of deployment/shop from an earlier release to be gone')]);
  });

  test('a workload not created yet, or still on an earlier release\'s template (applied in reverse order), is waited for', () => {
    const r = runHold({ jobs: [JOBS], status: ['', '1|1|2|2|2|2|shop-migrate-a|', '1|1|2|2|2|2||', DONE], pods: [[]] });
    expect(r.status).toBe(0);
    expect(r.out).toContain('waiting for deployment/shop to be created');
    expect(r.out).toContain('waiting for deployment/shop to take this release\'s pod template');
  });

  test('scaled to zero: starts once no pod is left', () => {
    expect(runHold({ jobs: [JOBS], status: ['3|3|0||||shop-migrate-b|'], pods: [['shop-old-1 shop-migrate-a'], []] }).status).toBe(0);
  });

  test('the release\'s migration failed: fails, and the contract step never runs', () => {
    const r = runHold({ jobs: [[JOBS[0], `${T2} shop-migrate-b FailureTarget`]], status: [DONE], pods: [[]] });
    expect([r.status, r.out.trim()]).toEqual([1, 'job/shop-migrate-b, the migration of this release, failed: the contract step does not run']);
  });

  test('the release\'s migration is gone: fails', () => {
    expect(runHold({ jobs: [[JOBS[0]]], status: [DONE], pods: [[]] }).status).toBe(1);
  });

  test('the rollout failed (progress deadline): fails', () => {
    const r = runHold({ jobs: [JOBS], status: ['2|2|2|3|1|2|shop-migrate-b|Progressing'], pods: [[]] });
    expect([r.status, r.out.trim()]).toEqual([1, 'the rollout of deployment/shop failed (ProgressDeadlineExceeded): the contract step does not run']);
  });

  test('a later release took over the workload: superseded, fails', () => {
    const r = runHold({ jobs: [[...JOBS, `${T3} shop-migrate-c `]], status: ['3|3|2|2|2|2|shop-migrate-c|'], pods: [[]] });
    expect([r.status, r.out.trim()]).toEqual([1, 'deployment/shop runs a later release (job/shop-migrate-c): this contract step is superseded and does not run']);
  });

  test('kubectl fails (RBAC, the API server gone): fails, never counts pods it could not list', () => {
    const r = runHold({ jobs: [JOBS], status: [DONE], pods: [[]] }, { status: 1 });
    expect([r.status, r.out.trim()]).toEqual([1, 'Error from server (Forbidden)']);
  });
});
