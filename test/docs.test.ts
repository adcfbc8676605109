import { spawnSync } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';
import { parseAllDocuments } from 'yaml';
import { expectSoundManifests, Manifest, typeCheck } from './helpers';

/*
 * Every TypeScript sample in README.md, in docs/*.md and in the examples' READMEs is a
 * whole program: it type-checks against the library's source, runs, and
 * writes sound manifests. A sample that needs the cluster's own Secrets names
 * them with `Secret.fromSecretName`, which the soundness check allows.
 */
const ROOT = join(__dirname, '..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => join('docs', f)),
  ...readdirSync(join(ROOT, 'examples')).map((e) => join('examples', e, 'README.md')),
]
  .filter((f) => { try { return readFileSync(join(ROOT, f)).length > 0; } catch { return false; } });

interface Sample { readonly doc: string; readonly line: number; readonly code: string }

function samples(doc: string): Sample[] {
  const found: Sample[] = [];
  const lines = readFileSync(join(ROOT, doc), 'utf-8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const end = lines.indexOf('```', i + 1);
    found.push({ doc, line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return found;
}

const all = DOCS.flatMap(samples);
// Inside the repository, so that jest transforms them and `cdk8s-migrated-app` maps to src/; in a
// folder of this run's own, since runs can share a checkout: StrykerJS runs its test runners side by
// side in one sandbox, and with a shared folder one run deleted the samples another was loading.
const dir = mkdtempSync(join(ROOT, 'test', '.samples-'));
const file = (s: Sample) => join(dir, `${s.doc.replace(/[/.]/g, '_')}_${s.line}.ts`);

beforeAll(() => {
  for (const s of all) writeFileSync(file(s), s.code.replace(/from 'cdk8s-migrated-app'/g, `from '${relative(dir, join(ROOT, 'src'))}'`));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the docs have samples, and each is a whole program', () => {
  expect(all.length).toBeGreaterThanOrEqual(2);
  // The pages under docs/ have samples of their own.
  expect(new Set(all.map((s) => s.doc)).size).toBeGreaterThan(2);
  for (const s of all) expect([s.doc, s.line, s.code]).toEqual([s.doc, s.line, expect.stringMatching(/\.synth\(\);\s*$/)]);
});

typeCheck('every sample type-checks', () => {
  const tsc = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), [
    '--noEmit', '--strict', '--target', 'ES2020', '--module', 'commonjs', '--moduleResolution', 'node', '--esModuleInterop', '--skipLibCheck',
    ...all.map(file),
  ], { encoding: 'utf-8', cwd: ROOT });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
}, 60_000);

describe.each(all.map((s) => [`${s.doc}:${s.line}`, s] as const))('the sample at %s', (_where, sample) => {
  test('runs and writes sound manifests', () => {
    const out = mkdtempSync(join(tmpdir(), 'sample-'));
    const before = process.env.CDK8S_OUTDIR;
    process.env.CDK8S_OUTDIR = out;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- runs the sample, as `cdk8s synth` would
      jest.isolateModules(() => require(file(sample)));
      const objects = readdirSync(out).flatMap((f) => parseAllDocuments(readFileSync(join(out, f), 'utf-8')).map((d) => d.toJS() as Manifest));
      expect(objects.map((o) => o.kind)).toContain('Job');
      const externalSecrets = [...sample.code.matchAll(/fromSecretName\([^)]*'([^']+)'\)/g)].map((m) => m[1]);
      expectSoundManifests(objects, { externalSecrets });
    } finally {
      process.env.CDK8S_OUTDIR = before;
      rmSync(out, { recursive: true, force: true });
    }
  });
});
