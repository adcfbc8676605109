/*
 * Every example's committed manifests against the real cluster: a
 * server-side dry run, then one apply in one go, client-side and server-side,
 * with the documents in file order and reversed (a namespace per variant).
 * Re-applying changes nothing, and an updated release (new app image) applies
 * over it; no apply ever says "field is immutable".
 *
 * In the client-side, file-order variant the pods really run: the examples'
 * images are swapped for e2e.local/example (test/e2e/images/example), which
 * answers the commands they use, and everything else is applied byte for byte.
 * The Jobs complete and the Deployments become available, then roll to the
 * next image. The other variants hold a ResourceQuota of 0 pods, so that 28
 * namespaces of pods do not crowd the 2-core node. sql-migrate-git's Job
 * clones from github.com with a shell: it is applied, not run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { getJson, inPool, cleanUp, deleteNamespaces, kubectl, Manifest, namespaceName, now, RESTRICTED, ROOT, RUN_LABEL, RunResult, timing, toYaml, waitFor } from './kube';

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

/** Examples whose pods cannot run here, and why. */
const NOT_RUN: { [example: string]: string } = { 'sql-migrate-git': 'its Job runs a shell that clones from github.com' };

/** Whether a variant runs the example's pods. */
const runs = (example: string, mode: Mode, order: Order) => mode === 'client' && order === 'file' && !NOT_RUN[example];

/**
 * The manifests with every image but the waiter's swapped for the test
 * image: `tag` for the app containers, 1.0.0 for the Jobs'.
 */
function withTestImages(docs: Manifest[], tag = '1.0.0'): Manifest[] {
  return docs.map((d) => {
    const spec = d.spec?.template?.spec;
    if (!spec) return d;
    const copy = JSON.parse(JSON.stringify(d));
    for (const c of [...copy.spec.template.spec.initContainers ?? [], ...copy.spec.template.spec.containers]) {
      if (!c.name.startsWith('wait-for-')) c.image = `e2e.local/example:${d.kind === 'Job' ? '1.0.0' : tag}`;
    }
    return copy;
  });
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

async function diffExit(namespace: string, mode: Mode, docs: Manifest[]): Promise<RunResult> {
  return kubectl(['diff', ...mode === 'server' ? ['--server-side'] : [], '-f', '-'], { namespace, input: toYaml(docs), check: false });
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
      }
      for (const s of externalSecrets(e.docs)) {
        objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: s, namespace: ns }, stringData: { DB_PASSWORD: 'e2e', GIT_TOKEN: 'e2e' } });
      }
    }
  }
  await kubectl(['apply', '-f', '-'], { input: toYaml(objects) });
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
      expect((await kubectl(['get', 'all,configmaps,secrets,roles,rolebindings,serviceaccounts', '-o', 'name'], { namespace: ns })).stdout)
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
      if (running) await rolledOut(ns, docs, `${what}: first release`);

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
      if (running) await rolledOut(ns, next, `${what}: next release`);
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
