/*
 * RBAC through the real authorizer: the app's ServiceAccount may get, list
 * and watch its own release's migration Job and nothing else, also after the
 * next release is applied; and the pods, really running on the node, get the
 * tokens they should (the Job's pod only in its queue; the app's pod only in
 * the waiter); the queue's ServiceAccount may list and watch Jobs, no more.
 */
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  cleanUp, deleteNamespaces, condition, createNamespaces, getJson, inPool, isReady, jobPods, kubectl, Manifest,
  namespaceName, now, SMALL, synthApp, synthChart, timing, tokenKubeconfig, toYaml, waitFor,
} from './support';
import { DatabaseMigration, MigratedApplication, Restricted } from '../../src';

const NS = namespaceName('rbac');
const SA_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
let objects: Manifest[];
let own: string;
let other: string;

beforeAll(async () => {
  objects = synthChart((chart) => {
    new MigratedApplication(chart, 'billing', { name: 'billing', image: 'e2e.local/app:1.0.0', resources: SMALL, migration: { image: 'e2e.local/migrate:1.0.0', resources: SMALL } });
    // A second application in the same namespace, whose Job ours must not read.
    new MigratedApplication(chart, 'ledger', { name: 'ledger', image: 'e2e.local/app:1.0.0', resources: SMALL, migration: { image: 'e2e.local/migrate:1.0.0', resources: SMALL } });
  });
  const jobs = objects.filter((o) => o.kind === 'Job').map((j) => j.metadata.name);
  own = jobs.find((j) => j.startsWith('billing-'))!;
  other = jobs.find((j) => j.startsWith('ledger-'))!;
  await createNamespaces(NS);
  await kubectl(['apply', '-f', '-'], { namespace: NS, input: toYaml(objects) });
});
afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

const AS = [`--as=system:serviceaccount:${NS}:billing`, '--as-group=system:serviceaccounts', `--as-group=system:serviceaccounts:${NS}`, '--as-group=system:authenticated'];

async function canI(verb: string, resource: string): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', verb, resource, ...AS], { namespace: NS, check: false });
  const answer = r.stdout.trim();
  if (!['yes', 'no'].includes(answer) || (r.code === 0) !== (answer === 'yes')) {
    throw new Error(`kubectl auth can-i ${verb} ${resource}: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${r.stderr}`);
  }
  return answer === 'yes';
}

test('the app\'s ServiceAccount can get, list and watch its own migration Job, and do nothing else', async () => {
  const started = now();
  expect(own).toBeDefined();
  expect(other).toBeDefined();
  const allowed = [
    ['get', `jobs.batch/${own}`], ['list', `jobs.batch/${own}`], ['watch', `jobs.batch/${own}`],
  ];
  const denied = [
    ['get', `jobs.batch/${other}`], ['list', `jobs.batch/${other}`], ['watch', `jobs.batch/${other}`],
    ['list', 'jobs.batch'], ['watch', 'jobs.batch'],
    ['get', 'secrets'], ['list', 'secrets'], ['watch', 'secrets'],
    ['get', 'pods'], ['list', 'pods'], ['get', 'pods/log'],
    ['get', 'configmaps'], ['list', 'configmaps'],
    ['get', 'deployments.apps'], ['list', 'deployments.apps'],
    ...['create', 'update', 'patch', 'delete', 'deletecollection'].flatMap((verb) => [
      [verb, 'jobs.batch'], [verb, `jobs.batch/${own}`], [verb, 'deployments.apps'], [verb, 'deployments.apps/billing'],
      [verb, 'pods'], [verb, 'secrets'], [verb, 'configmaps'],
    ]),
    ['update', `jobs.batch/${own}/status`], ['patch', `jobs.batch/${own}/status`],
    ['create', 'pods/exec'], ['create', 'serviceaccounts/token'], ['create', 'rolebindings.rbac.authorization.k8s.io'],
    ['*', '*'],
  ];
  const answers = await inPool([...allowed, ...denied], 3, async ([verb, resource]) => ({ verb, resource, allowed: await canI(verb, resource) }));
  expect(answers).toEqual([
    ...allowed.map(([verb, resource]) => ({ verb, resource, allowed: true })),
    ...denied.map(([verb, resource]) => ({ verb, resource, allowed: false })),
  ]);
  timing(`rbac: ${answers.length} kubectl auth can-i checks`, now() - started);
});

test('with a real token, the same: its Job by name or field selector, nothing else', async () => {
  const kubeconfig = await tokenKubeconfig(NS, 'billing');
  const as = (args: string[]) => kubectl(args, { kubeconfig, check: false });
  expect((await as(['get', 'job', own, '-o', 'name'])).stdout.trim()).toBe(`job.batch/${own}`);
  expect((await as(['get', 'jobs', '--field-selector', `metadata.name=${own}`, '-o', 'name'])).stdout.trim()).toBe(`job.batch/${own}`);
  for (const args of [
    ['get', 'jobs'], ['get', 'job', other], ['get', 'jobs', '--field-selector', `metadata.name=${other}`],
    ['get', 'secrets'], ['get', 'pods'], ['get', 'configmaps'],
    ['delete', 'job', own, '--dry-run=server'], ['label', 'job', own, 'x=y', '--dry-run=server'],
    ['scale', 'deployment', 'billing', '--replicas=0', '--dry-run=server'],
  ]) {
    const r = await as(args);
    expect({ args, code: r.code, forbidden: /Forbidden|forbidden/.test(r.stderr) }).toEqual({ args, code: 1, forbidden: true });
  }
});

test('the migration Job\'s pod mounts one token, in its queue container only; the app\'s pods mount one only in the waiter, as the kubelet reports it', async () => {
  const [jobPod] = await jobPods(NS, own);
  expect(jobPod.spec.automountServiceAccountToken).toBe(false);
  expect(jobPod.spec.serviceAccountName).toBe('billing-migrate-queue');
  const tokenVolumes = (spec: any) => (spec.volumes ?? [])
    .filter((v: any) => (v.projected?.sources ?? []).some((s: any) => s.serviceAccountToken) || v.secret?.secretName?.includes('token'))
    .map((v: any) => v.name);
  expect(tokenVolumes(jobPod.spec)).toEqual(['queue-token']);
  for (const c of [...jobPod.spec.initContainers ?? [], ...jobPod.spec.containers]) {
    const mounts = (c.volumeMounts ?? []).filter((m: any) => m.mountPath.startsWith(SA_PATH)).map((m: any) => m.name);
    expect({ container: c.name, mounts }).toEqual({ container: c.name, mounts: c.name === 'wait-for-earlier-migrations' ? ['queue-token'] : [] });
  }

  // The Deployment's pods, as the ReplicaSet controller and the ServiceAccount admission plugin made
  // them, once running: their status carries the kubelet's own view of each container's mounts.
  const pods = await waitFor(async () => {
    const list = await getJson(['pods', '-l', 'app.kubernetes.io/instance=billing,app.kubernetes.io/component=app'], { namespace: NS });
    return list.items.length === 2 && list.items.every(isReady) ? list.items : undefined;
  }, 180_000, 'the 2 pods of Deployment billing, ready');
  for (const pod of pods) {
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBe('billing');
    const volumes = tokenVolumes(pod.spec);
    expect(volumes).toEqual(['wait-for-billing-token']); // no kube-api-access-* added by admission
    const mounting = (statuses: any[]) => statuses
      .filter((c: any) => (c.volumeMounts ?? []).some((m: any) => volumes.includes(m.name) || m.mountPath.startsWith(SA_PATH)))
      .map((c: any) => c.name);
    expect(mounting([...pod.spec.initContainers, ...pod.spec.containers])).toEqual(['wait-for-billing-job-created', 'wait-for-billing-job-complete']);
    // The kubelet reports each container's mounts in its status; and the waiters, running as UID 65532,
    // read the token: they exited 0 after a list and watch that need it.
    const statuses = [...pod.status.initContainerStatuses, ...pod.status.containerStatuses];
    expect(statuses.every((c: any) => Array.isArray(c.volumeMounts))).toBe(true);
    expect(mounting(statuses)).toEqual(['wait-for-billing-job-created', 'wait-for-billing-job-complete']);
    expect(pod.status.initContainerStatuses.map((c: any) => [c.name, c.state.terminated?.exitCode])).toEqual([
      ['wait-for-billing-job-created', 0], ['wait-for-billing-job-complete', 0],
    ]);
  }
});

test('DatabaseMigration.gate(): the ServiceAccount of each gated workload may read the one Job, and only that', async () => {
  const ns = namespaceName('rbac-gate');
  const gated = synthChart((chart) => {
    const migration = new DatabaseMigration(chart, 'migration', { name: 'orders', image: 'e2e.local/migrate:1.0.0', resources: SMALL });
    for (const name of ['orders-api', 'orders-worker']) {
      const workload = new kplus.Deployment(chart, name, {
        metadata: { name }, progressDeadline: Duration.minutes(15), containers: [{ image: 'e2e.local/app:1.0.0', portNumber: 8080, resources: SMALL }],
      });
      Restricted.applyTo(workload);
      migration.gate(workload);
    }
  });
  const job = gated.find((o) => o.kind === 'Job')!.metadata.name;
  const accounts = gated.filter((o) => o.kind === 'ServiceAccount' && o.metadata.name !== 'orders-migrate-queue').map((o) => o.metadata.name).sort();
  expect(accounts).toEqual(['orders-api', 'orders-worker']);
  await createNamespaces(ns);
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(gated) });
  for (const sa of accounts) {
    const as = [`--as=system:serviceaccount:${ns}:${sa}`, '--as-group=system:serviceaccounts', `--as-group=system:serviceaccounts:${ns}`];
    const ask = async (verb: string, resource: string) => (await kubectl(['auth', 'can-i', verb, resource, ...as], { namespace: ns, check: false })).stdout.trim();
    expect({ sa, answers: [await ask('get', `jobs.batch/${job}`), await ask('watch', `jobs.batch/${job}`), await ask('list', 'jobs.batch'), await ask('get', 'secrets')] })
      .toEqual({ sa, answers: ['yes', 'yes', 'no', 'no'] });
  }
});

test('a release\'s ServiceAccount token can still read that release\'s Job after the next release is applied and its migration failed', async () => {
  const ns = namespaceName('rbac-releases');
  const releaseOf = (version: string, args: string[]) => synthApp({
    name: 'shop', image: `e2e.local/app:${version}`, migration: { image: `e2e.local/migrate:${version}`, args },
  });
  const first = releaseOf('1.0.0', []);
  const second = releaseOf('1.1.0', ['--fail=constraint violated']);
  const [jobN, jobN1] = [first, second].map((r) => r.find((o) => o.kind === 'Job')!.metadata.name);
  expect(jobN).not.toBe(jobN1);
  await createNamespaces(ns);
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(first.filter((o) => o.kind !== 'Deployment')) });
  await kubectl(['apply', '-f', '-'], { namespace: ns, input: toYaml(second.filter((o) => o.kind !== 'Deployment')) });
  await waitFor(async () => condition(await getJson(['job', jobN1], { namespace: ns }), 'Failed')?.status === 'True', 120_000, `Job ${jobN1} to fail`);
  const kubeconfig = await tokenKubeconfig(ns, 'shop');
  for (const job of [jobN, jobN1]) {
    const r = await kubectl(['get', 'job', job, '-o', 'name'], { kubeconfig, check: false });
    expect({ job, code: r.code, out: r.stdout.trim() }).toEqual({ job, code: 0, out: `job.batch/${job}` });
  }
  const roles = (await getJson(['roles'], { namespace: ns })).items.filter((r: any) => r.metadata.name !== 'shop-migrate-queue')
    .map((r: any) => r.rules[0].resourceNames[0]).sort();
  expect(roles).toEqual([jobN, jobN1].sort());
});

test('the migration queue\'s ServiceAccount may list and watch Jobs, and nothing else', async () => {
  const as = [`--as=system:serviceaccount:${NS}:billing-migrate-queue`, '--as-group=system:serviceaccounts', `--as-group=system:serviceaccounts:${NS}`];
  const ask = async (...args: string[]) => (await kubectl(['auth', 'can-i', ...args, ...as], { namespace: NS, check: false })).stdout.trim();
  const checks: Array<[string[], string]> = [
    [['list', 'jobs.batch'], 'yes'], [['watch', 'jobs.batch'], 'yes'],
    [['get', `jobs.batch/${own}`], 'no'], [['create', 'jobs.batch'], 'no'], [['delete', `jobs.batch/${own}`], 'no'], [['patch', `jobs.batch/${own}`], 'no'],
    [['get', 'secrets'], 'no'], [['list', 'pods'], 'no'], [['get', 'configmaps'], 'no'], [['list', 'jobs.batch', '--namespace', 'default'], 'no'],
  ];
  for (const [args, answer] of checks) expect({ args, answer: await ask(...args) }).toEqual({ args, answer });
  // Its token, as the queue mounts it, lists the namespace's Jobs: both apps'.
  const kubeconfig = await tokenKubeconfig(NS, 'billing-migrate-queue');
  const r = await kubectl(['get', 'jobs', '-l', 'app.kubernetes.io/component=migration', '-o', 'name', '--namespace', NS], { kubeconfig });
  expect(r.stdout.trim().split('\n').sort()).toEqual([`job.batch/${other}`, `job.batch/${own}`].sort());
});
