/*
 * `npm run lint:k8s`: kube-score, Checkov and kubesec (installed by
 * test/lint/install.sh) over every example's dist/, a sample of what the
 * property tests' random props render, and the hand-written baseline. Prints
 * a table of findings per linter and target, and fails on any finding that the
 * library's manifests do not annotate (or, for kubesec, that docs/linters.md does not accept).
 *
 * A finding is what each linter reports at its default severity: kube-score
 * checks graded WARNING or CRITICAL (those it prints; `[OK]` grades are not);
 * every failed Checkov check; kubesec's critical and advised rules.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { MigratedApplication } from '../../src';
import { buildProps, validProps } from '../arbitraries';

const ROOT = path.resolve(__dirname, '..', '..');
const TOOLS = path.join(__dirname, '.tools');
const SAMPLES = 20;
const SEED = 12;

interface Target { readonly name: string; readonly files: string[]; readonly gate: boolean }
interface Count { findings: number; annotated: number; details: string[] }
type Linter = (files: string[]) => Map<string, Count>;

const count = (): Count => ({ findings: 0, annotated: 0, details: [] });
const run = (cmd: string, args: string[]): string => {
  // The linters exit non-zero when they find something; their JSON says what.
  const r = spawnSync(cmd, args, { encoding: 'utf-8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (!r.stdout.trim()) throw new Error(`${cmd} ${args.join(' ')} printed nothing (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
};

/** kube-score: each check graded WARNING (5) or CRITICAL (1); annotated when the object's `kube-score/ignore` names it. */
const kubeScore: Linter = (files) => {
  const out = new Map<string, Count>();
  for (const file of files) {
    const c = count();
    for (const o of JSON.parse(run(path.join(TOOLS, 'bin', 'kube-score'), ['score', '-o', 'json', file]))) {
      const ignored = String(o.object_meta?.annotations?.['kube-score/ignore'] ?? '').split(',');
      for (const check of o.checks) {
        if (check.grade > 5) continue;
        const id = check.check.id;
        if (!check.skipped) {
          c.findings++;
          c.details.push(`${o.type_meta.kind}/${o.object_meta.name}: ${id}`);
        } else if (ignored.includes(id)) {
          c.annotated++;
        }
      }
    }
    out.set(file, c);
  }
  return out;
};

/** Checkov: every failed check; annotated when skipped by a `checkov.io/skip<N>` annotation. One run for all files. */
const checkov: Linter = (files) => {
  const out = new Map<string, Count>(files.map((f) => [f, count()]));
  const args = ['--framework', 'kubernetes', '--skip-download', '--compact', '-o', 'json', ...files.flatMap((f) => ['-f', f])];
  const reports = [JSON.parse(run(path.join(TOOLS, 'venv', 'bin', 'checkov'), args))].flat();
  const of = (r: any) => out.get(path.resolve(ROOT, r.file_abs_path ?? r.file_path))!;
  for (const report of reports) {
    for (const r of report.results.failed_checks) {
      const c = of(r);
      c.findings++;
      c.details.push(`${r.resource}: ${r.check_id} ${r.check_name}`);
    }
    for (const r of report.results.skipped_checks ?? []) of(r).annotated++;
  }
  return out;
};

/**
 * kubesec: critical and advised rules, against the Kubernetes 1.36 JSON schemas that
 * install.sh unpacks (it validates every object first, and by default fetches
 * them from GitHub). It has no per-object ignore: the rules that docs/linters.md
 * lists as accepted count as annotated.
 */
const kubesec: Linter = (files) => {
  const accepted = acceptedKubesecRules();
  const schemas = path.join(TOOLS, 'schemas', '{{.ResourceKind}}{{.KindSuffix}}.json');
  const out = new Map<string, Count>();
  for (const file of files) {
    const c = count();
    for (const o of JSON.parse(run(path.join(TOOLS, 'bin', 'kubesec'), ['scan', '--schema-location', schemas, file]))) {
      if (!o.valid) throw new Error(`kubesec: ${o.object} in ${file} is invalid: ${o.message}`);
      for (const rule of [...o.scoring.critical ?? [], ...o.scoring.advise ?? []]) {
        if (accepted.has(rule.id)) {
          c.annotated++;
        } else {
          c.findings++;
          c.details.push(`${o.object}: ${rule.id} ${rule.reason}`);
        }
      }
    }
    out.set(file, c);
  }
  return out;
};

/** The kubesec rules that docs/linters.md's table of accepted kubesec findings lists, as `| kubesec | `RuleId` | reason |`. */
function acceptedKubesecRules(): Set<string> {
  const readme = fs.readFileSync(path.join(ROOT, 'docs', 'linters.md'), 'utf-8');
  return new Set([...readme.matchAll(/^\| kubesec \| `(\w+)` \|/gm)].map((m) => m[1]));
}

/** Manifests of `SAMPLES` random accepted props, one file each, in a temporary folder removed on exit. */
function sampleManifests(): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lint-k8s-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return fc.sample(validProps, { numRuns: SAMPLES, seed: SEED }).map((props, i) => {
    const chart = new Chart(Testing.app({ outdir: dir }), 'sample'); // nothing is synthesized there; toJson() below
    new MigratedApplication(chart, 'app', buildProps(chart, props));
    const file = path.join(dir, `sample-${i}.yaml`);
    fs.writeFileSync(file, chart.toJson().map((o) => JSON.stringify(o)).join('\n---\n'));
    return file;
  });
}

function yamlIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f));
}

function versions(): { [linter: string]: string } {
  const goMod = fs.readFileSync(path.join(__dirname, 'go.mod'), 'utf-8');
  const go = (mod: string) => goMod.match(new RegExp(`^\\s*${mod.replace(/\./g, '\\.')} (v\\S+)`, 'm'))?.[1] ?? '?';
  return {
    'kube-score': go('github.com/zegl/kube-score'),
    'Checkov': execFileSync(path.join(TOOLS, 'venv', 'bin', 'checkov'), ['--version'], { encoding: 'utf-8' }).trim(),
    'kubesec': go('github.com/controlplaneio/kubesec/v2'),
  };
}

function main(): void {
  const examples = path.join(ROOT, 'examples');
  const targets: Target[] = [
    ...fs.readdirSync(examples).sort().filter((d) => fs.existsSync(path.join(examples, d, 'dist')))
      .map((d) => ({ name: d, files: yamlIn(path.join(examples, d, 'dist')), gate: true })),
    { name: `random props (${SAMPLES} apps)`, files: sampleManifests(), gate: true },
    { name: 'baseline (hand-written, not gated)', files: yamlIn(path.join(__dirname, 'baseline')), gate: false },
  ];
  for (const t of targets) {
    for (const f of t.files) for (const doc of parseAllDocuments(fs.readFileSync(f, 'utf-8'))) if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0]}`);
  }
  const all = targets.flatMap((t) => t.files);
  const linters: Array<[string, Linter]> = [['kube-score', kubeScore], ['Checkov', checkov], ['kubesec', kubesec]];
  const v = versions();
  console.log(`linters: ${Object.entries(v).map(([k, ver]) => `${k} ${ver}`).join(', ')}\n`);
  console.log('| linter | target | findings | annotated exceptions |');
  console.log('| --- | --- | ---: | ---: |');
  const failures: string[] = [];
  for (const [name, lint] of linters) {
    const results = lint(all);
    for (const t of targets) {
      const sum = count();
      for (const f of t.files) {
        const c = results.get(f)!;
        sum.findings += c.findings;
        sum.annotated += c.annotated;
        sum.details.push(...c.details.map((d) => `${path.basename(f)} ${d}`));
      }
      console.log(`| ${name} ${v[name]} | ${t.name} | ${sum.findings} | ${sum.annotated} |`);
      if (t.gate) failures.push(...sum.details.map((d) => `${name} on ${t.name}: ${d}`));
    }
  }
  if (failures.length > 0) {
    console.error(`\n${failures.length} unannotated findings:\n${failures.join('\n')}`);
    process.exit(1);
  }
  console.log('\nNo unannotated findings in the library\'s manifests.');
}

main();
