/**
 * Synth benchmark: the time and peak memory to construct and synthesize N
 * `MigratedApplication`s, beside a hand-written cdk8s-plus-27 equivalent that
 * emits the same objects without the library's hashing and validation; N apps
 * in one chart, and N apps in one chart each; and ways to synthesize many charts.
 *
 *   npx ts-node --project bench/tsconfig.json bench/synth.ts             # the full run (6-10 min on 2 shared cores)
 *   npx ts-node --project bench/tsconfig.json bench/synth.ts --quick     # N = 100 and 1000, one run each
 *   npx ts-node --project bench/tsconfig.json bench/synth.ts --smoke     # N = 10, one run each: CI's check that it still runs
 *   npx ts-node --project bench/tsconfig.json bench/synth.ts --ns 100,500 --reps 5 --max-charts 500
 *
 * Every case runs in a fresh child process (the same file with `--case`), so
 * that its peak RSS is its own and cases do not warm up or fragment each
 * other's heap. The runs of the cases with the same N are interleaved (round
 * robin), so that a burst of load on a shared machine hits all of them alike.
 * Times are wall clock and CPU (user + system, all threads of the child, so GC
 * helper threads count); on a busy machine the CPU time is the steadier figure.
 * One case alone, for example under the profiler:
 *
 *   TS_NODE_PROJECT=bench/tsconfig.json node --cpu-prof --cpu-prof-dir=/tmp/prof \
 *     -r ts-node/register/transpile-only bench/synth.ts --case lib/chart-per-app/1000
 *
 * The library is the compiled `lib/` (run `npx jsii` first), so that what is
 * measured is the JavaScript users run. The driver copies `lib/*.js` to a
 * temporary directory first and every case loads that copy, so that a rebuild
 * of `lib/` during the run cannot mix versions. Timings are printed, never
 * asserted. The run exits non-zero only if the hand-written variant does not
 * emit the same number of objects of each kind as the library, or if the
 * many-charts workaround does not write the same files as `app.synth()`.
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { ApiObject, App, Chart, DependencyGraph, Duration, JsonPatch, Names, Size, Yaml, YamlOutputType } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';

const ROOT = path.resolve(__dirname, '..');

/** Where the compiled library is loaded from: `lib/`, or the driver's snapshot of it. */
const LIB_DIR_ENV = 'CDK8S_BENCH_LIB_DIR';
function libDir(): string {
  return process.env[LIB_DIR_ENV] ?? path.join(ROOT, 'lib');
}
let loaded: typeof import('../lib') | undefined;
function lib(): typeof import('../lib') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded from a path chosen at run time (the snapshot)
  return (loaded ??= require(path.join(libDir(), 'index.js')));
}
/** The waiter's image and condition: the hand-written variant renders the same init containers. */
let loadedWaiter: typeof import('../lib/waiter') | undefined;
function waiter(): typeof import('../lib/waiter') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- as above
  return (loadedWaiter ??= require(path.join(libDir(), 'waiter.js')));
}

// ---------------------------------------------------------------------------
// The two variants: one application each, from the same inputs.
// ---------------------------------------------------------------------------

export type Variant = 'lib' | 'hand';
export type Layout = 'one-chart' | 'chart-per-app';
/**
 * How the app is written out:
 * - `synth`: `app.synth()`, YamlOutputType.FILE_PER_CHART (the default);
 * - `app-file`: `app.synth()`, YamlOutputType.FILE_PER_APP;
 * - `per-resource`: `app.synth()`, YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE;
 * - `once`: `synthOnce(app)` below: the files of FILE_PER_CHART, with the app prepared and validated once.
 */
export type Output = 'synth' | 'app-file' | 'per-resource' | 'once';

export interface Case {
  readonly variant: Variant;
  readonly layout: Layout;
  readonly n: number;
  readonly output: Output;
  /** Sets CDK8S_DISABLE_SORT, which skips sorting the keys of every object (and so changes the YAML's key order). */
  readonly nosort: boolean;
}

const IMAGE = 'ghcr.io/example/shop:2.4.1';
const MIGRATE_COMMAND = ['php', 'artisan', 'migrate', '--force'];
const PORT = 8080;
const WWW_DATA = 33;

function config(name: string): { [key: string]: string } {
  return {
    APP_ENV: 'production',
    DB_CONNECTION: 'mysql',
    DB_HOST: 'mysql.database.svc.cluster.local',
    DB_DATABASE: name,
    DB_USERNAME: name,
  };
}

function secretValues(name: string): { [key: string]: string } {
  return { DB_PASSWORD: `change-me-${name}` };
}

/** The library: the quick-start example's props, without the Service. */
function libraryApp(scope: Construct, name: string): void {
  new (lib().MigratedApplication)(scope, name, {
    name,
    image: IMAGE,
    ports: [{ number: PORT, name: 'http' }],
    service: false,
    config: config(name),
    secretValues: secretValues(name),
    migration: { command: MIGRATE_COMMAND, securityContext: { user: WWW_DATA, group: WWW_DATA } },
    securityContext: { user: WWW_DATA, group: WWW_DATA },
    readiness: kplus.Probe.fromHttpGet('/up', { port: PORT }),
  });
}

function labels(name: string, component: string): { [key: string]: string } {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': name,
    'app.kubernetes.io/managed-by': 'cdk8s',
  };
}

function restricted(user: number): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL' as kplus.Capability] },
    user,
    group: user,
  };
}

const SECCOMP = { type: 'RuntimeDefault' };
const POD_SPEC = '/spec/template/spec';

/**
 * The same seven objects written by hand with cdk8s-plus-27: the same
 * containers, env, envFrom, volumes, labels and patches, but fixed names
 * instead of content hashes and no validation of the inputs.
 */
function handWrittenApp(scope: Construct, name: string): void {
  const c = new Construct(scope, name);
  const appLabels = labels(name, 'app');
  const migrationLabels = labels(name, 'migration');

  const configMap = new kplus.ConfigMap(c, 'config', {
    metadata: { name: `${name}-config`, labels: appLabels },
    data: config(name),
    immutable: true,
  });
  const secret = new kplus.Secret(c, 'secret', {
    metadata: { name: `${name}-secret`, labels: appLabels },
    stringData: secretValues(name),
    immutable: true,
  });

  const job = new kplus.Job(c, 'job', {
    metadata: {
      name: `${name}-migrate`,
      labels: migrationLabels,
      annotations: { 'ignore-check.kube-linter.io/job-ttl-seconds-after-finished': 'Pods of this release must still find this Job.' },
    },
    backoffLimit: 0,
    activeDeadline: Duration.minutes(10),
    securityContext: { ensureNonRoot: true },
  });
  for (const [k, v] of Object.entries(migrationLabels)) job.podMetadata.addLabel(k, v);
  ApiObject.of(job).addJsonPatch(JsonPatch.add(`${POD_SPEC}/securityContext/seccompProfile`, SECCOMP));
  const migrate = job.addContainer({
    name: 'migrate',
    image: IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: MIGRATE_COMMAND,
    securityContext: restricted(WWW_DATA),
  });
  migrate.env.copyFrom(kplus.Env.fromConfigMap(configMap));
  migrate.env.copyFrom(kplus.Env.fromSecret(secret));
  migrate.mount('/tmp', kplus.Volume.fromEmptyDir(job, 'tmp', 'tmp'));

  const serviceAccount = new kplus.ServiceAccount(c, 'service-account', {
    metadata: { name, labels: appLabels },
    automountToken: false,
  });
  const role = new kplus.Role(c, 'reader', { metadata: { name: `${name}-reader`, labels: migrationLabels } });
  role.allowRead(job);
  const binding = new kplus.RoleBinding(c, 'reader-binding', {
    metadata: { name: `${name}-reader-binding`, labels: migrationLabels },
    role,
  });
  binding.addSubjects(serviceAccount);

  const deployment = new kplus.Deployment(c, 'deployment', {
    metadata: { name, labels: appLabels },
    replicas: 2,
    progressDeadline: Duration.minutes(15),
    serviceAccount,
    automountServiceAccountToken: false,
    securityContext: { ensureNonRoot: true },
  });
  for (const [k, v] of Object.entries(appLabels)) deployment.podMetadata.addLabel(k, v);
  const patches = ApiObject.of(deployment);
  patches.addJsonPatch(JsonPatch.add(`${POD_SPEC}/securityContext/seccompProfile`, SECCOMP));
  const app = deployment.addContainer({
    name: 'app',
    image: IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    ports: [{ number: PORT, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/up', { port: PORT }),
    securityContext: restricted(WWW_DATA),
  });
  app.env.copyFrom(kplus.Env.fromConfigMap(configMap));
  app.env.copyFrom(kplus.Env.fromSecret(secret));
  app.mount('/tmp', kplus.Volume.fromEmptyDir(deployment, 'tmp', 'tmp'));

  const waiterName = `wait-for-${name}`;
  const tmp = kplus.Volume.fromEmptyDir(deployment, `${waiterName}-tmp`, `${waiterName}-tmp`);
  const waits = {
    [`${waiterName}-job-created`]: ['wait', `job/${name}-migrate`, '--for=create', '--timeout=300s'],
    [`${waiterName}-job-complete`]: ['wait', `job/${name}-migrate`, `--for=jsonpath=${waiter().JOB_DONE_JSONPATH}=True`, '--timeout=960s'],
  };
  Object.entries(waits).forEach(([waitName, args], i) => {
    const init = deployment.addInitContainer({
      name: waitName,
      image: waiter().DEFAULT_WAITER_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args,
      envVariables: { HOME: kplus.EnvValue.fromValue('/tmp') },
      resources: {
        cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) },
        memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
      },
      securityContext: restricted(65532),
    });
    init.mount('/tmp', tmp);
    patches.addJsonPatch(
      JsonPatch.add(`${POD_SPEC}/initContainers/${i}/volumeMounts/-`, {
        name: `${waiterName}-token`, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true,
      }),
      JsonPatch.add(`${POD_SPEC}/initContainers/${i}/securityContext/seccompProfile`, SECCOMP),
      JsonPatch.add(`${POD_SPEC}/initContainers/${i}/terminationMessagePolicy`, 'FallbackToLogsOnError'),
    );
  });
  patches.addJsonPatch(JsonPatch.add(`${POD_SPEC}/volumes/-`, {
    name: `${waiterName}-token`,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardApi: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  }));
}

function outputType(output: Output): YamlOutputType {
  switch (output) {
    case 'app-file': return YamlOutputType.FILE_PER_APP;
    case 'per-resource': return YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE;
    default: return YamlOutputType.FILE_PER_CHART;
  }
}

/** N applications: all in one chart, or one chart each. */
export function build(c: Case, outdir: string): App {
  const app = new App({ outdir, yamlOutputType: outputType(c.output) });
  const shared = c.layout === 'one-chart' ? new Chart(app, 'apps') : undefined;
  const add = c.variant === 'lib' ? libraryApp : handWrittenApp;
  for (let i = 0; i < c.n; i++) {
    add(shared ?? new Chart(app, `chart-${i}`), `app-${i}`);
  }
  return app;
}

function synthesize(app: App, output: Output): void {
  if (output === 'once') synthOnce(app);
  else app.synth();
}

/**
 * The workaround for apps with many charts: writes the files that
 * `app.synth()` writes with YamlOutputType.FILE_PER_CHART, with public cdk8s
 * APIs only. In cdk8s 2.70, `App.synth()` calls `Chart.toJson()` once per
 * chart, and each call resolves the dependencies and validates the WHOLE app
 * again, so C charts walk the whole tree C times. Here only the first chart
 * (and any chart that overrides `toJson()`, the hook cdk8s offers) goes
 * through `toJson()`, which prepares and validates the app once; the others
 * are rendered the way `toJson()` renders them, without the app-wide steps.
 */
export function synthOnce(app: App): void {
  fs.mkdirSync(app.outdir, { recursive: true });
  const charts = app.charts;
  if (charts.length === 0) return;
  const first = charts[0].toJson();
  // What App.synth calls hasDependantCharts: nested charts or dependencies across charts,
  // which the toJson() above (resolveDependencies) has turned into chart dependencies.
  const dependant = charts.some((chart) => chart.node.dependencies.some((d) => Chart.of(d) !== chart));
  charts.forEach((chart, i) => {
    let objects: any[];
    if (i === 0) {
      objects = first;
    } else if (chart.toJson !== Chart.prototype.toJson) {
      objects = chart.toJson();
    } else {
      objects = new DependencyGraph(chart.node).topology()
        .filter((x): x is ApiObject => x instanceof ApiObject && Chart.of(x) === chart)
        .map((o) => o.toJson());
    }
    const name = dependant ? `${String(i).padStart(4, '0')}-${Names.toDnsLabel(chart)}` : Names.toDnsLabel(chart);
    Yaml.save(path.join(app.outdir, `${name}${app.outputFileExtension}`), objects);
  });
}

// ---------------------------------------------------------------------------
// One case, in this (child) process.
// ---------------------------------------------------------------------------

interface Sample {
  readonly constructMs: number;
  readonly synthMs: number;
  readonly totalMs: number;
  /** CPU time, user + system, of all the process's threads. */
  readonly constructCpuMs: number;
  readonly synthCpuMs: number;
  readonly totalCpuMs: number;
  /** RSS after the modules are loaded, before the case. */
  readonly baseRssMiB: number;
  /** The process's peak RSS (`process.resourceUsage().maxRSS`). */
  readonly peakRssMiB: number;
  readonly kinds: { [kind: string]: number };
  readonly bytes: number;
}

function parseCase(id: string): Case {
  const [variant, layout, n, ...flags] = id.split('/');
  if ((variant !== 'lib' && variant !== 'hand') || (layout !== 'one-chart' && layout !== 'chart-per-app') || !/^\d+$/.test(n)) {
    throw new Error(`bad case '${id}': expected (lib|hand)/(one-chart|chart-per-app)/N[/app-file|/per-resource|/once][/nosort]`);
  }
  const outputs = flags.filter((f) => f !== 'nosort');
  if (outputs.length > 1 || outputs.some((o) => !['app-file', 'per-resource', 'once'].includes(o))) throw new Error(`bad case flags in '${id}'`);
  return { variant, layout, n: Number(n), output: (outputs[0] ?? 'synth') as Output, nosort: flags.includes('nosort') };
}

function caseId(c: Case): string {
  return [c.variant, c.layout, c.n, ...c.output === 'synth' ? [] : [c.output], ...c.nosort ? ['nosort'] : []].join('/');
}

const MiB = 1024 * 1024;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function runCase(c: Case): Sample {
  if (c.nosort) process.env.CDK8S_DISABLE_SORT = '1';
  else delete process.env.CDK8S_DISABLE_SORT;
  lib(); // loaded before the clock starts, as ts-node and cdk8s are
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-bench-'));
  try {
    (globalThis as { gc?: () => void }).gc?.();
    const baseRss = process.memoryUsage().rss;
    const c0 = cpuMs();
    const t0 = performance.now();
    const app = build(c, outdir);
    const t1 = performance.now();
    const c1 = cpuMs();
    synthesize(app, c.output);
    const t2 = performance.now();
    const c2 = cpuMs();
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const { kinds, bytes } = readOutput(outdir);
    return {
      constructMs: t1 - t0,
      synthMs: t2 - t1,
      totalMs: t2 - t0,
      constructCpuMs: c1 - c0,
      synthCpuMs: c2 - c1,
      totalCpuMs: c2 - c0,
      baseRssMiB: baseRss / MiB,
      peakRssMiB: peakRss / MiB,
      kinds,
      bytes,
    };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** Counts the top-level `kind:` of every YAML document written under `dir`. */
function readOutput(dir: string): { kinds: { [kind: string]: number }; bytes: number } {
  const kinds: { [kind: string]: number } = {};
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const text = fs.readFileSync(path.join(entry.parentPath ?? entry.path, entry.name), 'utf8');
    bytes += Buffer.byteLength(text);
    for (const m of text.matchAll(/^kind: (\S+)$/gm)) kinds[m[1]] = (kinds[m[1]] ?? 0) + 1;
  }
  return { kinds, bytes };
}

// ---------------------------------------------------------------------------
// The driver (parent process).
// ---------------------------------------------------------------------------

interface Options {
  readonly ns: number[];
  readonly reps?: number;
  readonly workarounds: boolean;
  readonly timeoutS: number;
  /** The `app.synth()` cases with one chart per app, whose cost grows with N², run only up to this N. */
  readonly maxCharts: number;
}

function parseOptions(argv: string[]): Options {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  // CI's smoke run: every case once at N = 10, so that the benchmark cannot rot; its figures mean little.
  const smoke = argv.includes('--smoke');
  return {
    ns: (get('--ns') ?? (smoke ? '10' : quick ? '100,1000' : '100,1000,5000')).split(',').map(Number),
    reps: get('--reps') !== undefined ? Number(get('--reps')) : quick || smoke ? 1 : undefined,
    workarounds: !argv.includes('--no-workarounds'),
    timeoutS: Number(get('--timeout') ?? 300),
    maxCharts: Number(get('--max-charts') ?? 1000),
  };
}

/** Cases whose synthesis walks the whole app once per chart (cdk8s 2.70 `Chart.toJson()`): ~N² with N charts. */
function quadratic(c: Case): boolean {
  return c.layout === 'chart-per-app' && (c.output === 'synth' || c.output === 'app-file');
}

interface Planned {
  readonly c: Case;
  readonly reps: number;
  readonly skipped?: string;
}

/**
 * The cases and how many runs of each (medians of 3 up to N = 1000; 2 for the
 * main cases at N = 5000; 1 for the workarounds at N = 5000 and for the ~N²
 * ones at N = 1000, which take ~45 s a run): 6 to 10 minutes on 2 shared cores.
 */
function plan(o: Options): Planned[] {
  const planned: Planned[] = [];
  const add = (c: Case, reps: number, skipped?: string) => {
    if (!skipped && quadratic(c) && c.n > o.maxCharts) skipped = `not run: ~N² with one chart per app; N > --max-charts ${o.maxCharts}`;
    planned.push({ c, reps: skipped ? 0 : o.reps ?? reps, skipped });
  };
  for (const n of o.ns) {
    for (const layout of ['one-chart', 'chart-per-app'] as Layout[]) {
      for (const variant of ['lib', 'hand'] as Variant[]) {
        const c: Case = { variant, layout, n, output: 'synth', nosort: false };
        add(c, n < 1000 ? 3 : n > 1000 ? 2 : quadratic(c) ? 1 : 3);
      }
    }
    if (o.workarounds) {
      // Many charts, library only: the same app written out other ways; and one chart without key sorting.
      const libCase = (layout: Layout, output: Output, nosort = false): Case => ({ variant: 'lib', layout, n, output, nosort });
      add(libCase('chart-per-app', 'once'), n <= 1000 ? 3 : 1);
      add(libCase('chart-per-app', 'app-file'), n < 1000 ? 3 : 1);
      add(libCase('chart-per-app', 'per-resource'), n < 1000 ? 3 : 1, n > 1000 ? 'not run: 7 files per app, slow to create here (linear in N)' : undefined);
      add(libCase('one-chart', 'synth', true), n <= 1000 ? 3 : 1);
    }
  }
  return planned;
}

interface Result {
  readonly c: Case;
  readonly samples: Sample[];
  failed?: string;
  readonly skipped?: string;
}

function childArgs(): { execArgv: string[]; env: NodeJS.ProcessEnv } {
  const execArgv = ['--expose-gc', '--max-old-space-size=8192'];
  const env = { ...process.env };
  if (__filename.endsWith('.ts')) {
    execArgv.push('-r', require.resolve('ts-node/register/transpile-only'));
    env.TS_NODE_PROJECT = path.join(__dirname, 'tsconfig.json');
  }
  delete env.CDK8S_DISABLE_SORT;
  return { execArgv, env };
}

function runInChild(c: Case, timeoutS: number): Sample {
  const { execArgv, env } = childArgs();
  const r = spawnSync(process.execPath, [...execArgv, __filename, '--case', caseId(c)], {
    env, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 * MiB,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (r.error || r.status !== 0 || !line) {
    const why = r.error ? String(r.error.message) : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${why}${r.stderr ? `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  }
  return JSON.parse(line.slice('BENCH_RESULT '.length));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function med(r: Result, f: (s: Sample) => number): number {
  return median(r.samples.map(f));
}

function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

function fingerprint(dir: string): string {
  const hash = createHash('sha256');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.js')).sort()) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
  return hash.digest('hex').slice(0, 12);
}

/**
 * Copies `lib/*.js` to a temporary directory whose `node_modules` links to
 * this checkout's, and points this process and the cases at the copy.
 */
function snapshotLib(): { dir: string; note: string } {
  const src = path.join(ROOT, 'lib');
  if (!fs.existsSync(path.join(src, 'index.js'))) throw new Error('lib/index.js is missing: run `npx jsii` first');
  const newest = (d: string, ext: string) => Math.max(
    ...fs.readdirSync(d).filter((f) => f.endsWith(ext)).map((f) => fs.statSync(path.join(d, f)).mtimeMs),
  );
  const stale = newest(path.join(ROOT, 'src'), '.ts') > newest(src, '.js');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-bench-lib-'));
  const dir = path.join(root, 'lib');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(src).filter((x) => x.endsWith('.js'))) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  process.env[LIB_DIR_ENV] = dir;
  const warning = stale ? ' WARNING: a file in src/ is newer than lib/; run `npx jsii` to measure the current source.' : '';
  return { dir, note: `a copy of lib/*.js taken at the start (fingerprint ${fingerprint(dir)}).${warning}` };
}

/** Before any timing: both variants emit the same kinds and counts; synthOnce writes what app.synth() writes. */
function correctnessCheck(): string[] {
  const problems: string[] = [];
  const render = (c: Case) => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-bench-check-'));
    try {
      synthesize(build(c, outdir), c.output);
      const files: { [name: string]: string } = {};
      for (const f of fs.readdirSync(outdir).sort()) files[f] = fs.readFileSync(path.join(outdir, f), 'utf8');
      return { ...readOutput(outdir), files };
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  };
  for (const layout of ['one-chart', 'chart-per-app'] as Layout[]) {
    const a = render({ variant: 'lib', layout, n: 3, output: 'synth', nosort: false });
    const b = render({ variant: 'hand', layout, n: 3, output: 'synth', nosort: false });
    const ka = JSON.stringify(sorted(a.kinds));
    const kb = JSON.stringify(sorted(b.kinds));
    if (ka !== kb) problems.push(`${layout}, N=3: library emits ${ka}, hand-written emits ${kb}`);
    else console.log(`check: ${layout}, N=3: both variants emit ${ka} (YAML bytes: library ${a.bytes}, hand-written ${b.bytes})`);
  }
  const structure = structureDiff();
  console.log(`check: one app, every object's key paths (names and values aside): ${structure.length === 0 ? 'the same in both variants' : `differ (info only): ${structure.join('; ')}`}`);
  for (const variant of ['lib', 'hand'] as Variant[]) {
    const viaSynth = render({ variant, layout: 'chart-per-app', n: 5, output: 'synth', nosort: false });
    const viaOnce = render({ variant, layout: 'chart-per-app', n: 5, output: 'once', nosort: false });
    if (JSON.stringify(viaSynth.files) !== JSON.stringify(viaOnce.files)) problems.push(`${variant}: synthOnce() does not write the same files as app.synth()`);
    else console.log(`check: ${variant}, 5 charts: synthOnce() writes the same ${Object.keys(viaOnce.files).length} files, byte for byte, as app.synth()`);
  }
  return problems;
}

/** The JSON key paths (array items by index) of each kind of object, for one app: where the two variants' content differs in shape. */
function structureDiff(): string[] {
  const paths = (variant: Variant) => {
    const app = build({ variant, layout: 'one-chart', n: 1, output: 'synth', nosort: false }, os.tmpdir());
    const byKind: { [kind: string]: Set<string> } = {};
    for (const obj of (app.node.findChild('apps') as Chart).toJson()) {
      const set = (byKind[obj.kind] ??= new Set());
      const walk = (v: unknown, at: string) => {
        if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => walk(x, `${at}/${k}`));
        else set.add(at);
      };
      walk(obj, '');
    }
    return byKind;
  };
  const a = paths('lib');
  const b = paths('hand');
  const diffs: string[] = [];
  for (const kind of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const onlyLib = [...a[kind] ?? []].filter((x) => !b[kind]?.has(x));
    const onlyHand = [...b[kind] ?? []].filter((x) => !a[kind]?.has(x));
    if (onlyLib.length) diffs.push(`${kind} only in the library: ${onlyLib.join(', ')}`);
    if (onlyHand.length) diffs.push(`${kind} only hand-written: ${onlyHand.join(', ')}`);
  }
  return diffs;
}

function sorted(o: { [k: string]: number }): { [k: string]: number } {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

function pkgVersion(name: string): string {
  return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
}

function gitHead(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function main(argv: string[]): number {
  const o = parseOptions(argv);
  const started = performance.now();
  const snapshot = snapshotLib();
  try {
    console.log(`cdk8s-migrated-app synth benchmark: node ${process.version}, ${os.cpus().length} CPUs, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);
    console.log(`library: the compiled lib/ of ${gitHead()}: ${snapshot.note}`);
    console.log(`cdk8s ${pkgVersion('cdk8s')}, cdk8s-plus-27 ${pkgVersion('cdk8s-plus-27')}, constructs ${pkgVersion('constructs')}, yaml ${pkgVersion('yaml')}`);
    console.log('each case: a fresh `node --expose-gc --max-old-space-size=8192`; runs of the same N interleaved; medians; peak RSS is the child\'s maxRSS\n');
    return measure(o, started);
  } finally {
    fs.rmSync(path.dirname(snapshot.dir), { recursive: true, force: true });
  }
}

function measure(o: Options, started: number): number {
  const problems = correctnessCheck();
  if (problems.length > 0) {
    console.error(`\nCORRECTNESS CHECK FAILED:\n  ${problems.join('\n  ')}`);
    return 1;
  }

  // Round robin over the cases of one N: run 1 of each, then run 2 of each, ...
  const planned = plan(o);
  const results: Result[] = planned.map(({ c, skipped }) => ({ c, samples: [], skipped }));
  for (const n of o.ns) {
    const group = planned.map((p, i) => ({ ...p, r: results[i] })).filter((p) => p.c.n === n);
    for (let round = 0; round < Math.max(0, ...group.map((p) => p.reps)); round++) {
      for (const p of group.filter((x) => x.reps > round && !x.r.failed)) {
        try {
          p.r.samples.push(runInChild(p.c, o.timeoutS));
        } catch (e) {
          p.r.failed = (e as Error).message;
        }
      }
    }
    for (const { r } of group) {
      const runs = r.skipped ?? `${r.samples.map((s) => `${fmt(s.totalMs)}/${fmt(s.totalCpuMs)}`).join(', ')} ms wall/CPU`;
      const last = r.samples[r.samples.length - 1];
      process.stderr.write(`  ${caseId(r.c).padEnd(36)} ${runs}${last ? `, peak ${fmt(last.peakRssMiB)} MiB` : ''}${r.failed ? `  FAILED: ${r.failed}` : ''}\n`);
    }
  }

  // Same kinds and counts for both variants at every N, from the YAML each child wrote.
  for (const r of results.filter((x) => x.c.variant === 'lib' && x.c.output === 'synth' && !x.c.nosort)) {
    const h = results.find((x) => x.c.variant === 'hand' && x.c.layout === r.c.layout && x.c.n === r.c.n && x.c.output === 'synth');
    if (!h || !r.samples[0] || !h.samples[0]) continue;
    const a = JSON.stringify(sorted(r.samples[0].kinds));
    const b = JSON.stringify(sorted(h.samples[0].kinds));
    if (a !== b) problems.push(`${r.c.layout}, N=${r.c.n}: library emits ${a}, hand-written emits ${b}`);
  }

  report(o, results);

  console.log(`\nwhole run ${((performance.now() - started) / 1000).toFixed(0)} s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  const now = fingerprint(path.join(ROOT, 'lib'));
  if (now !== fingerprint(process.env[LIB_DIR_ENV]!)) console.log(`note: lib/ changed during the run (now ${now}); the cases all used the copy taken at the start`);
  if (results.some((r) => r.failed)) console.log(`failed cases: ${results.filter((r) => r.failed).map((r) => `${caseId(r.c)} (${r.failed})`).join('; ')}`);
  if (problems.length > 0) {
    console.error(`\nCORRECTNESS CHECK FAILED:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  return 0;
}

function report(o: Options, results: Result[]): void {
  const find = (c: Partial<Case>) => results.find((r) => Object.entries(c).every(([k, v]) => r.c[k as keyof Case] === v));
  const ran = (r: Result | undefined): boolean => r !== undefined && r.samples.length > 0;
  const perApp = (r: Result, f: (s: Sample) => number) => med(r, f) * 1000 / r.c.n;
  const wall = (s: Sample) => s.totalMs;
  const cpu = (s: Sample) => s.totalCpuMs;
  // The smallest N at which the same case ran: growth of the time per app from there.
  const base = (r: Result) => o.ns.map((n) => find({ ...r.c, n })).find(ran)!;
  const notRun = (r: Result | undefined) => (r?.skipped ?? (r?.failed ? `FAILED: ${r.failed}` : 'not run'));

  console.log('\n### Every case (medians; µs/app = total ÷ N; growth = µs/app ÷ µs/app of the same case at the smallest N: 1.00 is linear)\n');
  console.log(table(
    ['case', 'runs', 'construct ms', 'synth ms', 'total ms', 'total CPU ms', 'µs/app', 'CPU µs/app', 'growth', 'CPU growth', 'peak RSS MiB', 'RSS KiB/app', 'YAML MB'],
    results.map((r) => {
      if (!ran(r)) return [caseId(r.c), '0', '', '', 'not run', '', '', '', '', '', '', '', ''];
      const b = base(r);
      return [
        caseId(r.c), String(r.samples.length), fmt(med(r, (s) => s.constructMs)), fmt(med(r, (s) => s.synthMs)), fmt(med(r, wall)), fmt(med(r, cpu)),
        fmt(perApp(r, wall)), fmt(perApp(r, cpu)), fmt(perApp(r, wall) / perApp(b, wall), 2), fmt(perApp(r, cpu) / perApp(b, cpu), 2),
        fmt(med(r, (s) => s.peakRssMiB)), fmt(med(r, (s) => s.peakRssMiB - s.baseRssMiB) * 1024 / r.c.n), fmt(med(r, (s) => s.bytes) / 1e6, 1),
      ];
    }),
  ));
  console.log('(RSS KiB/app = (peak RSS − RSS before the case) ÷ N; the RSS before the case, with ts-node and cdk8s loaded, is ~110 MiB)');
  results.filter((r) => !ran(r)).forEach((r) => console.log(`- ${caseId(r.c)}: ${notRun(r)}`));

  console.log('\n### Library ÷ hand-written (ratios of the medians)\n');
  const ratioRows: string[][] = [];
  for (const layout of ['one-chart', 'chart-per-app'] as Layout[]) {
    for (const n of o.ns) {
      const l = find({ variant: 'lib', layout, n, output: 'synth', nosort: false });
      const h = find({ variant: 'hand', layout, n, output: 'synth', nosort: false });
      if (!l || !h || !ran(l) || !ran(h)) {
        ratioRows.push([`${layout} N=${n}`, '', 'not run', '', '', '', '', '', '']);
        continue;
      }
      const ratio = (f: (s: Sample) => number) => fmt(med(l, f) / med(h, f), 2);
      ratioRows.push([`${layout} N=${n}`, `${fmt(med(l, wall))} / ${fmt(med(l, cpu))}`, `${fmt(med(h, wall))} / ${fmt(med(h, cpu))}`,
        ratio(wall), ratio(cpu), ratio((s) => s.constructCpuMs), ratio((s) => s.synthCpuMs), ratio((s) => s.peakRssMiB), `${l.samples.length}+${h.samples.length}`]);
    }
  }
  console.log(table(['layout', 'library ms wall / CPU', 'hand-written ms wall / CPU', 'total wall', 'total CPU', 'construct CPU', 'synth CPU', 'peak RSS', 'runs'], ratioRows));

  if (!o.workarounds) return;
  console.log('\n### Many charts: the library\'s N apps in N charts, written out four ways; and in one chart, for scale\n');
  const rows: string[][] = [];
  const notes: string[] = [];
  const ways: [string, Partial<Case>][] = [
    ['N charts, app.synth() FILE_PER_CHART (default)', { layout: 'chart-per-app', output: 'synth' }],
    ['N charts, app.synth() FILE_PER_APP', { layout: 'chart-per-app', output: 'app-file' }],
    ['N charts, app.synth() FOLDER_PER_CHART_FILE_PER_RESOURCE', { layout: 'chart-per-app', output: 'per-resource' }],
    ['N charts, synthOnce(app): the default\'s files', { layout: 'chart-per-app', output: 'once' }],
    ['1 chart, app.synth()', { layout: 'one-chart', output: 'synth' }],
    ['1 chart, app.synth(), CDK8S_DISABLE_SORT=1', { layout: 'one-chart', output: 'synth', nosort: true }],
  ];
  for (const n of o.ns) {
    for (const [label, c] of ways) {
      const r = find({ variant: 'lib', n, nosort: false, ...c });
      if (r === undefined) continue;
      if (!ran(r)) {
        // For the ~N² cases: what the largest N that ran predicts, as an estimate only.
        const largest = quadratic(r.c) ? [...o.ns].reverse().map((m) => find({ ...r.c, n: m })).find(ran) : undefined;
        const guess = largest ? `; ~N² from N=${largest.c.n} predicts ~${fmt(med(largest, wall) * (n / largest.c.n) ** 2 / 1000)} s (an estimate, not a measurement)` : '';
        rows.push([`N=${n}: ${label}`, '', '', 'not run', '', '', '', '']);
        notes.push(`- N=${n}: ${label}: ${notRun(r)}${guess}`);
        continue;
      }
      rows.push([`N=${n}: ${label}`, fmt(med(r, (s) => s.constructMs)), fmt(med(r, (s) => s.synthMs)), fmt(med(r, wall)), fmt(med(r, cpu)), fmt(perApp(r, cpu)),
        fmt(med(r, (s) => s.peakRssMiB)), String(r.samples.length)]);
    }
  }
  console.log(table(['how', 'construct ms', 'synth ms', 'total ms', 'total CPU ms', 'CPU µs/app', 'peak RSS MiB', 'runs'], rows));
  notes.forEach((x) => console.log(x));
}

if (require.main === module) {
  const i = process.argv.indexOf('--case');
  if (i >= 0) {
    const sample = runCase(parseCase(process.argv[i + 1]));
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(sample)}\n`);
  } else {
    process.exitCode = main(process.argv.slice(2));
  }
}
