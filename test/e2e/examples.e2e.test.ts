/*
 * Every example's committed manifests against the real cluster: a
 * server-side dry run, then one apply in one go, client-side and server-side,
 * with the documents in file order and reversed (a namespace per variant).
 * Re-applying changes nothing, and an updated release (new app image) applies
 * over it; no apply ever says "field is immutable".
 *
 * In the client-side, file-order variant the pods really run: the examples'
 * images are swapped for e2e.local/example (test/e2e/images/example), which
 * answers the commands they use, the Cloud SQL Auth Proxy's for
 * e2e.local/tcpproxy and git's for e2e.local/git, and everything else is
 * applied byte for byte. The Jobs complete and the Deployments become
 * available, then roll to the next image. What the proxy and the clone stand
 * for runs in the namespace beforehand (backing()): a "database" (the app
 * image on port 5432) behind the Service e2e-db, and a git server behind
 * e2e-git. The other variants hold a ResourceQuota of 0 pods, so that 32
 * namespaces of pods do not crowd the 2-core node.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import {
  getJson, inPool, cleanUp, deleteNamespaces, jobPods, kubectl, Manifest, namespaceName, now, RESTRICTED, ROOT, RUN_LABEL, RunResult, sleep, timing,
  toYaml, waitFor,
} from './support';

const EXAMPLES_DIR = path.join(ROOT, 'examples');

interface Example { readonly name: string; readonly file: string; readonly docs: Manifest[] }

const examples: Example[] = fs.readdirSync(EXAMPLES_DIR)
  .filter((d) => fs.existsSync(path.join(EXAMPLES_DIR, d, 'main.ts')))
  .sort()
  .flatMap((name) => {
    const dist = path.join(EXAMPLES_DIR, name, 'dist');
    const files = fs.existsSync(dist) ? fs.readdirSync(dist).filter((f) => /\.ya?ml$/.test(f)).sort() : [];
    return files.map((f) => {
      const file = path.join(dist, f);
      const docs = parseAllDocuments(fs.readFileSync(file, 'utf-8')).map((d) => d.toJS()).filter((d) => d) as Manifest[];
      return { name, file, docs };
    });
  });

type Mode = 'client' | 'server';
type Order = 'file' | 'reverse';
const VARIANTS: Array<{ mode: Mode; order: Order }> = [
  { mode: 'client', order: 'file' }, { mode: 'client', order: 'reverse' },
  { mode: 'server', order: 'file' }, { mode: 'server', order: 'reverse' },
];

function namespaceOf(example: string, mode: Mode, order: Order): string {
  return namespaceName(`ex-${example}-${mode === 'client' ? 'csa' : 'ssa'}-${order === 'file' ? 'fwd' : 'rev'}`);
}

/** Secrets the manifests refer to but do not contain (made by External Secrets or by hand in real life). */
function externalSecrets(docs: Manifest[]): string[] {
  const emitted = new Set(docs.filter((d) => d.kind === 'Secret').map((d) => d.metadata.name));
  const referenced = new Set<string>();
  for (const d of docs) {
    const spec = d.spec?.template?.spec;
    if (!spec) continue;
    for (const c of [...spec.initContainers ?? [], ...spec.containers ?? []]) {
      for (const f of c.envFrom ?? []) if (f.secretRef) referenced.add(f.secretRef.name);
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) referenced.add(e.valueFrom.secretKeyRef.name);
    }
    for (const v of spec.volumes ?? []) {
      if (v.secret) referenced.add(v.secret.secretName);
      for (const s of v.projected?.sources ?? []) if (s.secret) referenced.add(s.secret.name);
    }
  }
  return [...referenced].filter((n) => !emitted.has(n)).sort();
}

/** Whether a variant runs the example's pods. */
const runs = (_example: string, mode: Mode, order: Order) => mode === 'client' && order === 'file';

/** Test images (test/e2e/images/build.sh). */
const TCPPROXY_IMAGE = 'e2e.local/tcpproxy:1.0.0';
const GIT_IMAGE = 'e2e.local/git:1.0.0';
const DB_IMAGE = 'e2e.local/app:1.0.0';

/** A Cloud SQL Auth Proxy container, or its stand-in. */
const isCloudSqlProxy = (c: any) => c.image === TCPPROXY_IMAGE || c.image.startsWith('gcr.io/cloud-sql-connectors/cloud-sql-proxy:');

/**
 * The manifests with every image but the waiter's swapped for a test image:
 * e2e.local/tcpproxy for the Cloud SQL Auth Proxy, e2e.local/git for a
 * container that runs `git`, and e2e.local/example for the rest: `tag` for
 * the app containers, 1.0.0 for the Jobs'.
 */
function withTestImages(docs: Manifest[], tag = '1.0.0'): Manifest[] {
  return docs.map((d) => {
    const spec = d.spec?.template?.spec;
    if (!spec) return d;
    const copy = JSON.parse(JSON.stringify(d));
    for (const c of [...copy.spec.template.spec.initContainers ?? [], ...copy.spec.template.spec.containers]) {
      if (c.name.startsWith('wait-for-')) continue;
      if (isCloudSqlProxy(c)) c.image = TCPPROXY_IMAGE;
      else if (c.command?.[0] === 'git') c.image = GIT_IMAGE;
      else c.image = `e2e.local/example:${d.kind === 'Job' ? '1.0.0' : tag}`;
    }
    return copy;
  });
}

/** The label of what backing() starts. */
const BACKING = 'e2e.cdk8s-migrated-app/backing';

/** A Deployment of one restricted pod and a Service in front of it, named `name`. */
function backingService(name: string, image: string, args: string[], env: { [name: string]: string }, port: number, targetPort: number): object[] {
  const labels = { [BACKING]: name };
  return [{
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name,
            image,
            imagePullPolicy: 'IfNotPresent',
            args,
            env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
            ports: [{ containerPort: targetPort }],
            readinessProbe: { tcpSocket: { port: targetPort }, periodSeconds: 1 },
            resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          }],
        },
      },
    },
  }, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: { selector: labels, ports: [{ port, targetPort }] },
  }];
}

/** The migrations the git server holds for sql-migrate-git. */
const MIGRATION_FILES = ['postgres/20250601_accounts.sql=CREATE TABLE accounts (id bigint PRIMARY KEY);', 'postgres/20250615_entries.sql=CREATE TABLE entries (id bigint PRIMARY KEY);'];

/**
 * What an example's proxy or clone reaches, started before its pods (the
 * kubelet gives pods the environment variables of the Services that exist
 * when they start): the "database" behind e2e-db is the app image answering
 * HTTP on 5432; the git server behind e2e-git holds MIGRATION_FILES at the tag
 * the Job clones, for the token of the example's Secret.
 */
function backing(example: Example): object[] {
  const containers = example.docs.flatMap((d) => [...d.spec?.template?.spec?.initContainers ?? [], ...d.spec?.template?.spec?.containers ?? []]);
  const backed: object[] = [];
  if (containers.some(isCloudSqlProxy)) {
    backed.push(...backingService('e2e-db', DB_IMAGE, ['--port=5432', '--version=e2e-db'], {}, 5432, 5432));
  }
  const clone = containers.find((c) => c.command?.[0] === 'git');
  if (clone) {
    const tag = clone.command.find((a: string) => a.startsWith('--branch=')).slice('--branch='.length);
    const env = { E2E_GIT_TOKEN: 'e2e', E2E_GIT_TAG: tag, E2E_GIT_FILES: MIGRATION_FILES.join('|') };
    backed.push(...backingService('e2e-git', GIT_IMAGE, ['e2e-serve', '--listen=:8080'], env, 80, 8080));
  }
  return backed;
}

/** Logs of container `container` of the first pod of Job `job`. */
async function jobLogs(namespace: string, job: string, container: string): Promise<string> {
  const [pod] = await jobPods(namespace, job);
  return (await kubectl(['logs', pod.metadata.name, '-c', container], { namespace })).stdout;
}

/**
 * What each example's pods did, beyond completing and becoming available:
 * the migration and the app reached the database through their own proxy
 * copies, and the Job cloned its migrations in the pod.
 */
async function expectExampleBehaviour(example: Example, namespace: string, docs: Manifest[]): Promise<void> {
  const job = docs.find((d) => d.kind === 'Job')!.metadata.name;
  const deployment = docs.find((d) => d.kind === 'Deployment')!.metadata.name;
  if (example.name === 'cloud-sql-proxy') {
    const answered = (user: string) => new RegExp(`as ${user}; database at 127\\.0\\.0\\.1:5432 answered \\{"hostname":"e2e-db-[-a-z0-9]+","version":"e2e-db"\\}`);
    expect(await jobLogs(namespace, job, 'migrate')).toMatch(answered('inventory_owner'));
    expect(await jobLogs(namespace, job, 'cloud-sql-proxy')).toMatch(/tcpproxy: 127\.0\.0\.1:\d+ -> [\d.]+:5432/);
    const [jobPod] = await jobPods(namespace, job);
    // The sidecar was stopped once the migration had exited: the Job completed with it.
    expect(jobPod.status.initContainerStatuses.find((s: any) => s.name === 'cloud-sql-proxy').state.terminated).toBeDefined();
    const body = (await kubectl(['get', '--raw', `/api/v1/namespaces/${namespace}/services/${deployment}:8080/proxy/`])).stdout;
    expect(body).toMatch(answered('inventory_app'));
    const pods = (await getJson(['pods', '-l', `app.kubernetes.io/instance=${deployment},app.kubernetes.io/component=app`], { namespace })).items;
    for (const pod of pods.filter((p: any) => p.status.phase === 'Running')) {
      const proxy = pod.status.initContainerStatuses.find((s: any) => s.name === 'cloud-sql-proxy');
      expect({ pod: pod.metadata.name, running: proxy.state.running !== undefined }).toEqual({ pod: pod.metadata.name, running: true });
    }
  }
  if (example.name === 'sql-migrate-git') {
    expect(await jobLogs(namespace, job, 'clone-migrations')).toMatch(/^git: cloned http:\/\/x-access-token@[\d.]+:80\/example\/ledger-migrations\.git at v[\d.]+ \([0-9a-f]{40}\) into \/migrations\/ledger$/m);
    const migrated = await jobLogs(namespace, job, 'migrate');
    expect(migrated).toContain('sql-migrate: applying /migrations/ledger/postgres/20250601_accounts.sql');
    expect(migrated).toContain('sql-migrate: applied 2 migrations');
    const served = (await kubectl(['logs', 'deployment/e2e-git'], { namespace })).stdout;
    expect(served).toMatch(/git e2e-serve: POST \/example\/ledger-migrations\.git\/git-upload-pack/);
    expect(served).not.toContain('unauthorized');
  }
}

/**
 * What must not move when nothing changes: the resourceVersion of objects
 * no controller writes to, and for Jobs and Deployments (whose status the
 * controllers update) the generation, labels, annotations and the managed
 * fields of everything but status.
 */
async function snapshot(namespace: string, docs: Manifest[]): Promise<{ [key: string]: unknown }> {
  const list = await getJson(['-f', '-'], { namespace, input: toYaml(docs) });
  const items: any[] = list.kind === 'List' ? list.items : [list];
  return Object.fromEntries(items.map((o) => {
    const m = o.metadata;
    const key = `${o.kind}/${m.name}`;
    if (o.kind === 'Job' || o.kind === 'Deployment') {
      const managed = (m.managedFields ?? []).filter((f: any) => f.subresource !== 'status');
      return [key, { generation: m.generation, labels: m.labels, annotations: m.annotations, managed }];
    }
    return [key, m.resourceVersion];
  }));
}

function applyArgs(mode: Mode): string[] {
  return mode === 'server' ? ['apply', '--server-side', '-f', '-'] : ['apply', '-f', '-'];
}

function expectNoImmutable(r: RunResult, what: string): void {
  expect({ what, output: `${r.stdout}${r.stderr}`.includes('field is immutable') }).toEqual({ what, output: false });
  expect({ what, code: r.code, stderr: r.stderr }).toEqual({ what, code: 0, stderr: expect.anything() });
}

/**
 * `kubectl diff`, asked again a few times while it finds a difference.
 *
 * kubectl diff reads each live object first and dry-runs the patch after it. When a controller writes
 * in between (the Deployment controller updating status while pods start), the two differ in
 * `resourceVersion` and status only: CI saw exactly that once. A real difference between the manifests
 * and the cluster shows on every try, so the last try's result is what the test asserts on.
 */
async function diffExit(namespace: string, mode: Mode, docs: Manifest[]): Promise<RunResult> {
  const diff = () => kubectl(['diff', ...mode === 'server' ? ['--server-side'] : [], '-f', '-'], { namespace, input: toYaml(docs), check: false });
  let result = await diff();
  for (let retry = 1; retry <= 4 && result.code === 1; retry++) {
    await sleep(1_000);
    result = await diff();
  }
  return result;
}

/** The same release with a new tag on every app container image, for the variants whose pods do not run. */
function withNextImage(docs: Manifest[]): Manifest[] {
  return docs.map((d) => {
    if (d.kind !== 'Deployment') return d;
    const copy = JSON.parse(JSON.stringify(d));
    for (const c of copy.spec.template.spec.containers) c.image = `${c.image}-e2e-next`;
    return copy;
  });
}

/** Every Job of the release is Complete, and every Deployment has all its pods of this template ready. */
async function rolledOut(namespace: string, docs: Manifest[], what: string): Promise<void> {
  for (const job of docs.filter((d) => d.kind === 'Job')) {
    await waitFor(async () => (await getJson(['job', job.metadata.name], { namespace })).status?.conditions?.some(
      (c: any) => c.type === 'Complete' && c.status === 'True'), 180_000, `${what}: Job ${job.metadata.name} Complete`);
  }
  for (const d of docs.filter((o) => o.kind === 'Deployment')) {
    await waitFor(async () => {
      const live = await getJson(['deployment', d.metadata.name], { namespace });
      const want = live.spec.replicas;
      return live.status?.observedGeneration === live.metadata.generation && live.status?.updatedReplicas === want
        && live.status?.availableReplicas === want && live.status?.replicas === want;
    }, 240_000, `${what}: Deployment ${d.metadata.name} available`);
  }
}

afterAll(async () => {
  cleanUp();
  await deleteNamespaces();
});

test('every example has committed manifests', () => {
  const withMain = fs.readdirSync(EXAMPLES_DIR).filter((d) => fs.existsSync(path.join(EXAMPLES_DIR, d, 'main.ts')));
  expect(withMain.length).toBeGreaterThan(0);
  expect([...new Set(examples.map((e) => e.name))].sort()).toEqual(withMain.sort());
  for (const e of examples) expect({ file: e.file, docs: e.docs.length > 0 }).toEqual({ file: e.file, docs: true });
});

beforeAll(async () => {
  // Every variant's namespace (restricted), the Secrets the examples expect to exist, and the quota that keeps pods out, in one apply.
  const objects: object[] = [];
  for (const e of examples) {
    for (const { mode, order } of VARIANTS) {
      const ns = namespaceOf(e.name, mode, order);
      objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ...RESTRICTED, ...RUN_LABEL } } });
      if (!runs(e.name, mode, order)) {
        objects.push({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-pods', namespace: ns }, spec: { hard: { pods: '0' } } });
      } else {
        for (const o of backing(e) as Manifest[]) objects.push({ ...o, metadata: { ...o.metadata, namespace: ns } });
      }
      for (const s of externalSecrets(e.docs)) {
        objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: s, namespace: ns }, stringData: { DB_PASSWORD: 'e2e', GIT_TOKEN: 'e2e' } });
      }
    }
  }
  await kubectl(['apply', '-f', '-'], { input: toYaml(objects) });
  for (const o of objects as Manifest[]) {
    if (o.kind !== 'Deployment') continue;
    await waitFor(async () => (await getJson(['deployment', o.metadata.name], { namespace: o.metadata.namespace })).status?.availableReplicas === 1,
      120_000, `backing ${o.metadata.namespace}/${o.metadata.name} available`);
  }
});

describe.each(examples.map((e) => [e.name, e] as const))('example %s', (_name, example) => {
  test('dry-runs, applies in one go (client- and server-side, in both orders), re-applies as a no-op, and takes an update', async () => {
    const started = now();
    const configured = new Set<string>();
    expect(example.docs.length).toBeGreaterThan(1);
    await inPool(VARIANTS, 2, async ({ mode, order }) => {
      const ns = namespaceOf(example.name, mode, order);
      const running = runs(example.name, mode, order);
      const release = running ? withTestImages(example.docs) : example.docs;
      const docs = order === 'file' ? release : [...release].reverse();
      const input = toYaml(docs);
      const what = `${example.name} ${mode}-side, ${order} order`;

      const dry = await kubectl([...applyArgs(mode), '--dry-run=server'], { namespace: ns, input, check: false });
      expectNoImmutable(dry, `${what}: dry run`);
      expect(dry.stdout.trim().split('\n')).toHaveLength(docs.length);
      expect((await kubectl(['get', 'all,configmaps,secrets,roles,rolebindings,serviceaccounts', '-o', 'name', '-l', `!${BACKING}`], { namespace: ns })).stdout)
        .not.toMatch(/job\.batch|deployment\.apps/); // the dry run created nothing

      const first = await kubectl(applyArgs(mode), { namespace: ns, input, check: false });
      expectNoImmutable(first, `${what}: first apply`);
      const verb = mode === 'server' ? 'serverside-applied' : 'created';
      expect(first.stdout.trim().split('\n').filter((l) => l.endsWith(` ${verb}`))).toHaveLength(docs.length);

      const before = await snapshot(ns, docs);
      const diff = await diffExit(ns, mode, docs);
      expect({ what, diff: diff.code, output: diff.stdout + diff.stderr }).toEqual({ what, diff: 0, output: '' });

      const again = await kubectl(applyArgs(mode), { namespace: ns, input, check: false });
      expectNoImmutable(again, `${what}: re-apply`);
      expect({ what, after: await snapshot(ns, docs) }).toEqual({ what, after: before });
      for (const l of again.stdout.split('\n').filter((x) => / configured$/.test(x))) configured.add(`${mode}-side: ${l.split(' ')[0].split('/')[0]}`);
      if (running) {
        await rolledOut(ns, docs, `${what}: first release`);
        await expectExampleBehaviour(example, ns, docs);
      }

      // The next release: a new app image. The Job stays as it is; the Deployments roll.
      const next = running ? withTestImages(docs, '1.1.0') : withNextImage(docs);
      const update = await kubectl(applyArgs(mode), { namespace: ns, input: toYaml(next), check: false });
      expectNoImmutable(update, `${what}: updated release`);
      const after = await snapshot(ns, next);
      for (const job of docs.filter((d) => d.kind === 'Job')) {
        expect(after[`Job/${job.metadata.name}`]).toEqual(before[`Job/${job.metadata.name}`]);
      }
      for (const d of next.filter((o) => o.kind === 'Deployment')) {
        const live = await getJson(['deployment', d.metadata.name], { namespace: ns });
        expect(live.spec.template.spec.containers.map((c: any) => c.image)).toEqual(d.spec.template.spec.containers.map((c: any) => c.image));
        expect(live.metadata.generation).toBeGreaterThan(1);
      }
      expect((await diffExit(ns, mode, next)).code).toBe(0);
      if (running) {
        await rolledOut(ns, next, `${what}: next release`);
        await expectExampleBehaviour(example, ns, next);
      }
    });
    timing(`example ${example.name}: 4 apply variants`, now() - started);
    // Free the node for the next example: its pods hold CPU requests until their namespace is gone.
    if (!process.env.E2E_KEEP_NAMESPACES) {
      const namespaces = VARIANTS.map(({ mode, order }) => namespaceOf(example.name, mode, order));
      await kubectl(['delete', 'namespaces', ...namespaces, '--wait=true'], { timeoutMs: 180_000 });
    }
    if (configured.size > 0) {
      process.stderr.write(`e2e note: example ${example.name}: a re-apply that changed nothing printed "configured" for ${[...configured].sort().join(', ')}\n`);
    }
  });
});
