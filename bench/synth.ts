/**
 * Synth benchmark: the CPU time and peak memory to construct and synthesize N
 * `MigratedApplication`s in one chart, beside a hand-written cdk8s-plus-27
 * equivalent that emits the same manifests, byte for byte, except for the
 * names (fixed instead of content hashes): the same containers, patches,
 * labels and annotations, without the library's validation and hashing.
 *
 *   npm run bench                   # N = 100, 1000 and 5000, 5 runs each (about 10 min on 2 shared cores)
 *   npm run bench -- --quick        # N = 100 and 1000, one run each
 *   npm run bench -- --smoke        # N = 10, one run each: CI's check that it still runs
 *   npm run bench -- --ns 100,500 --reps 5
 *
 * Every case runs in a fresh child process (the same file with `--case`), so
 * that its peak RSS is its own and cases do not warm up or fragment each
 * other's heap. The runs of the cases with the same N are interleaved (round
 * robin), so that a burst of load on a shared machine hits both alike. CPU
 * time is user + system of all the child's threads (GC helpers count); on a
 * busy machine it is the steadier figure. It is still noisy on the shared
 * 2-core machines: a fixed loop of 3e8 additions took from 656 to 1,066 ms of
 * CPU in back-to-back runs with nothing else running, and one round's ratio
 * at N = 5000 from 0.96 to 1.24 (docs/figures.md). So each N runs 5 rounds,
 * and the table gives each round's ratio (library ÷ hand-written, same round)
 * beside the ratio of the medians. One case alone, for example under
 * the profiler (the hand-written case needs the annotations the driver passes):
 *
 *   TS_NODE_PROJECT=bench/tsconfig.json node --cpu-prof --cpu-prof-dir=/tmp/prof \
 *     -r ts-node/register/transpile-only bench/synth.ts --case lib/1000
 *
 * The library is the compiled `lib/` (run `npx jsii` first), so that what is
 * measured is the JavaScript users run. The driver copies `lib/*.js` to a
 * temporary directory first and every case loads that copy, so that a rebuild
 * of `lib/` during the run cannot mix versions. Timings are printed, never
 * asserted. The run exits non-zero only if the two variants do not write the
 * same manifests (names aside).
 *
 * What cdk8s itself costs with many charts (`app.synth()` walks the whole app
 * once per chart) is not measured here: docs/figures.md has that finding.
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { ApiObject, App, Chart, Duration, JsonPatch, Size, Yaml } from 'cdk8s';
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

/** N applications in one chart, written by the library or by hand. */
export interface Case {
  readonly variant: Variant;
  readonly n: number;
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
 * The annotations of each kind of object, as the library writes them (linter
 * findings and their reasons): the driver renders one library app before any
 * timing and hands them to the hand-written cases, whose author would have
 * typed them in as constants.
 */
type Annotations = { [kind: string]: { [key: string]: string } };
/** What the hand-written author types in as constants: the annotations, and the migration queue's script and jsonpaths. */
interface Constants {
  readonly annotations: Annotations;
  readonly queueArgs: string[];
  readonly queueEnv: { [name: string]: string };
}
const CONSTANTS_ENV = 'CDK8S_BENCH_CONSTANTS';
let constants: Constants | undefined;
function constantsOf(): Constants {
  return (constants ??= JSON.parse(process.env[CONSTANTS_ENV] ?? '{"annotations":{},"queueArgs":[],"queueEnv":{}}'));
}
function annotationsOf(kind: string): { [key: string]: string } {
  return constantsOf().annotations[kind] ?? {};
}
function annotate(o: { metadata: { addAnnotation(key: string, value: string): void } }, kind: string): void {
  for (const [k, v] of Object.entries(annotationsOf(kind))) o.metadata.addAnnotation(k, v);
}

/**
 * Ephemeral storage requests and limits, patched in as the library does:
 * cdk8s-plus-27 renders them in whole gibibytes only. Memory is moved behind
 * them, so that the keys stay sorted, as cdk8s writes them.
 */
function ephemeralStorage(api: ApiObject, container: string, request: number, limit: number): void {
  for (const [kind, mebibytes] of [['requests', request], ['limits', limit]] as const) {
    const map = `${container}/resources/${kind}`;
    api.addJsonPatch(JsonPatch.add(`${map}/ephemeral-storage`, { value: `${mebibytes}Mi` }), JsonPatch.move(`${map}/memory`, `${map}/memory`));
  }
}

const WAITER_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) },
  memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
};

/** A projected volume with the pod's ServiceAccount token, the cluster's CA and the namespace. */
function tokenVolume(name: string) {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardApi: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

/** What a kubectl init container at `container` gets beyond cdk8s-plus: the token, seccomp, its log as its message. */
function kubectlPatches(container: string, token: string): JsonPatch[] {
  return [
    JsonPatch.add(`${container}/volumeMounts/-`, { name: token, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }),
    JsonPatch.add(`${container}/securityContext/seccompProfile`, SECCOMP),
    JsonPatch.add(`${container}/terminationMessagePolicy`, 'FallbackToLogsOnError'),
  ];
}

/**
 * The same objects written by hand with cdk8s-plus-27: the same
 * containers, env, envFrom, volumes, labels, annotations and patches, but
 * fixed names instead of content hashes and no validation of the inputs.
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
  annotate(configMap, 'ConfigMap');
  annotate(secret, 'Secret');

  // The migration queue's identity: it may list and watch Jobs.
  const queueName = `${name}-migrate-queue`;
  const queueAccount = new kplus.ServiceAccount(c, 'queue-service-account', { metadata: { name: queueName, labels: migrationLabels }, automountToken: false });
  const queueRole = new kplus.Role(c, 'queue-role', { metadata: { name: queueName, labels: migrationLabels } });
  queueRole.allow(['list', 'watch'], kplus.ApiResource.JOBS);
  const queueBinding = new kplus.RoleBinding(c, 'queue-binding', { metadata: { name: queueName, labels: migrationLabels }, role: queueRole });
  queueBinding.addSubjects(queueAccount);
  annotate(queueAccount, 'ServiceAccount');
  annotate(queueRole, 'Role');
  annotate(queueBinding, 'RoleBinding');

  const job = new kplus.Job(c, 'job', {
    metadata: { name: `${name}-migrate`, labels: migrationLabels },
    backoffLimit: 0,
    activeDeadline: Duration.minutes(10),
    securityContext: { ensureNonRoot: true },
    serviceAccount: queueAccount,
    automountServiceAccountToken: false,
  });
  annotate(job, 'Job');
  const jobApi = ApiObject.of(job);
  jobApi.addDependency(queueAccount, queueRole, queueBinding);
  for (const [k, v] of Object.entries(migrationLabels)) job.podMetadata.addLabel(k, v);
  jobApi.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
  jobApi.addJsonPatch(JsonPatch.add(`${POD_SPEC}/securityContext/seccompProfile`, SECCOMP));
  // The queue: the first init container waits until no earlier migration of the app runs.
  jobApi.addJsonPatch(JsonPatch.add(`${POD_SPEC}/volumes/-`, tokenVolume('queue-token')));
  const queue = job.addInitContainer({
    name: 'wait-for-earlier-migrations',
    image: waiter().DEFAULT_WAITER_IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/bin/bash', '-c'],
    args: constantsOf().queueArgs,
    envVariables: {
      HOME: kplus.EnvValue.fromValue('/tmp'),
      INSTANCE: kplus.EnvValue.fromValue(name),
      SELECTOR: kplus.EnvValue.fromValue(`app.kubernetes.io/instance=${name},app.kubernetes.io/component=migration`),
      JOB_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_LABEL, { key: 'batch.kubernetes.io/job-name' }),
      LIST: kplus.EnvValue.fromValue(constantsOf().queueEnv.LIST),
      LC_ALL: kplus.EnvValue.fromValue('C'),
      ENDED: kplus.EnvValue.fromValue(constantsOf().queueEnv.ENDED),
    },
    resources: WAITER_RESOURCES,
    securityContext: restricted(65532),
  });
  ephemeralStorage(jobApi, `${POD_SPEC}/initContainers/0`, 16, 64);
  queue.mount('/tmp', kplus.Volume.fromEmptyDir(job, 'queue-tmp', 'queue-tmp'));
  jobApi.addJsonPatch(...kubectlPatches(`${POD_SPEC}/initContainers/0`, 'queue-token'));
  const migrate = job.addContainer({
    name: 'migrate',
    image: IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: MIGRATE_COMMAND,
    securityContext: restricted(WWW_DATA),
  });
  ephemeralStorage(jobApi, `${POD_SPEC}/containers/0`, 64, 1024);
  migrate.env.copyFrom(kplus.Env.fromConfigMap(configMap));
  migrate.env.copyFrom(kplus.Env.fromSecret(secret));
  migrate.mount('/tmp', kplus.Volume.fromEmptyDir(job, 'tmp', 'tmp'));

  const serviceAccount = new kplus.ServiceAccount(c, 'service-account', {
    metadata: { name, labels: appLabels },
    automountToken: false,
  });
  annotate(serviceAccount, 'ServiceAccount');
  const role = new kplus.Role(c, 'reader', { metadata: { name: `${name}-reader`, labels: migrationLabels } });
  role.allowRead(job);
  const binding = new kplus.RoleBinding(c, 'reader-binding', {
    metadata: { name: `${name}-reader`, labels: migrationLabels },
    role,
  });
  binding.addSubjects(serviceAccount);
  annotate(role, 'Role');
  annotate(binding, 'RoleBinding');

  const deployment = new kplus.Deployment(c, 'deployment', {
    metadata: { name, labels: appLabels },
    replicas: 2,
    progressDeadline: Duration.minutes(15),
    serviceAccount,
    automountServiceAccountToken: false,
    securityContext: { ensureNonRoot: true },
    select: false,
  });
  annotate(deployment, 'Deployment');
  for (const [k, v] of Object.entries(appLabels)) deployment.podMetadata.addLabel(k, v);
  // The release of each pod: the migration Job's name.
  deployment.podMetadata.addLabel('cdk8s-migrated-app.github.io/release', `${name}-migrate`);
  deployment.select(kplus.LabelSelector.of({
    labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': name, 'app.kubernetes.io/component': 'app' },
  }));
  const patches = ApiObject.of(deployment);
  patches.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
  patches.addJsonPatch(JsonPatch.add(`${POD_SPEC}/securityContext/seccompProfile`, SECCOMP));
  const app = deployment.addContainer({
    name: 'app',
    image: IMAGE,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    ports: [{ number: PORT, name: 'http' }],
    readiness: kplus.Probe.fromHttpGet('/up', { port: PORT }),
    securityContext: restricted(WWW_DATA),
  });
  ephemeralStorage(patches, `${POD_SPEC}/containers/0`, 64, 1024);
  app.env.copyFrom(kplus.Env.fromConfigMap(configMap));
  app.env.copyFrom(kplus.Env.fromSecret(secret));
  app.mount('/tmp', kplus.Volume.fromEmptyDir(deployment, 'tmp', 'tmp'));

  const waiterName = `wait-for-${name}`;
  const tmp = kplus.Volume.fromEmptyDir(deployment, `${waiterName}-tmp`, `${waiterName}-tmp`);
  // Pairs, as the library has them: an object keyed by names unique to each app slows V8 down
  // at thousands of apps (see the library's addWaiter).
  const waits: [string, string[]][] = [
    [`${waiterName}-job-created`, ['wait', `job/${name}-migrate`, '--for=create', '--timeout=300s']],
    [`${waiterName}-job-complete`, ['wait', `job/${name}-migrate`, `--for=jsonpath=${waiter().JOB_DONE_JSONPATH}=True`, '--timeout=960s']],
  ];
  patches.addJsonPatch(JsonPatch.add(`${POD_SPEC}/volumes/-`, tokenVolume(`${waiterName}-token`)));
  waits.forEach(([waitName, args], i) => {
    const init = deployment.addInitContainer({
      name: waitName,
      image: waiter().DEFAULT_WAITER_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args,
      envVariables: { HOME: kplus.EnvValue.fromValue('/tmp') },
      resources: WAITER_RESOURCES,
      securityContext: restricted(65532),
    });
    ephemeralStorage(patches, `${POD_SPEC}/initContainers/${i}`, 16, 64);
    init.mount('/tmp', tmp);
    patches.addJsonPatch(...kubectlPatches(`${POD_SPEC}/initContainers/${i}`, `${waiterName}-token`));
  });
}

/** N applications in one chart. */
export function build(c: Case, outdir: string): App {
  const app = new App({ outdir });
  const chart = new Chart(app, 'apps');
  const add = c.variant === 'lib' ? libraryApp : handWrittenApp;
  for (let i = 0; i < c.n; i++) add(chart, `app-${i}`);
  return app;
}

// ---------------------------------------------------------------------------
// One case, in this (child) process.
// ---------------------------------------------------------------------------

interface Sample {
  readonly totalMs: number;
  /** CPU time, user + system, of all the process's threads: construct, then synth. */
  readonly constructCpuMs: number;
  readonly synthCpuMs: number;
  readonly totalCpuMs: number;
  /** The process's peak RSS (`process.resourceUsage().maxRSS`). */
  readonly peakRssMiB: number;
  readonly bytes: number;
}

function parseCase(id: string): Case {
  const [variant, n] = id.split('/');
  if ((variant !== 'lib' && variant !== 'hand') || !/^\d+$/.test(n ?? '')) throw new Error(`bad case '${id}': expected (lib|hand)/N`);
  return { variant, n: Number(n) };
}

function caseId(c: Case): string {
  return `${c.variant}/${c.n}`;
}

const MiB = 1024 * 1024;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The heap that N apps keep once constructed, in KiB per app: what every
 * garbage collection during synthesis walks again. Heap used after a full
 * collection, before and after construction; untimed, and steady from run to
 * run, unlike the CPU times.
 */
function retainedKiBPerApp(c: Case): number {
  lib();
  constantsOf();
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const before = process.memoryUsage().heapUsed;
  const app = build(c, os.tmpdir());
  gc();
  const after = process.memoryUsage().heapUsed;
  // Read after the second collection, so that the app is still alive during it.
  return app.node.children.length === 1 ? (after - before) / 1024 / c.n : NaN;
}

function runCase(c: Case): Sample {
  lib(); // loaded before the clock starts, as ts-node and cdk8s are
  constantsOf();
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-bench-'));
  try {
    (globalThis as { gc?: () => void }).gc?.();
    const c0 = cpuMs();
    const t0 = performance.now();
    const app = build(c, outdir);
    const c1 = cpuMs();
    app.synth();
    const t2 = performance.now();
    const c2 = cpuMs();
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const bytes = fs.readdirSync(outdir).reduce((sum, f) => sum + fs.statSync(path.join(outdir, f)).size, 0);
    return { totalMs: t2 - t0, constructCpuMs: c1 - c0, synthCpuMs: c2 - c1, totalCpuMs: c2 - c0, peakRssMiB: peakRss / MiB, bytes };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// The driver (parent process).
// ---------------------------------------------------------------------------

interface Options {
  readonly ns: number[];
  /** N of the retained-heap measurement. */
  readonly retainedN: number;
  readonly reps: number;
  readonly timeoutS: number;
}

function parseOptions(argv: string[]): Options {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  // CI's smoke run: both cases once at N = 10, so that the benchmark cannot rot; its figures mean little.
  const smoke = argv.includes('--smoke');
  return {
    ns: (get('--ns') ?? (smoke ? '10' : quick ? '100,1000' : '100,1000,5000')).split(',').map(Number),
    retainedN: smoke ? 10 : 1000,
    reps: Number(get('--reps') ?? (quick || smoke ? 1 : 5)),
    timeoutS: Number(get('--timeout') ?? 600),
  };
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

function runInChild<T = Sample>(c: Case, timeoutS: number, mode: '--case' | '--retained' = '--case'): T {
  const { execArgv, env } = childArgs();
  const r = spawnSync(process.execPath, [...execArgv, __filename, mode, caseId(c)], {
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

/** The manifests of N apps, one YAML document each, with the library's hashes taken out of the names. */
function documents(variant: Variant, n: number): string[] {
  const app = build({ variant, n }, os.tmpdir());
  return (app.node.findChild('apps') as Chart).toJson()
    .map((o) => Yaml.stringify(o).replace(/-(config|secret|migrate|reader)-[0-9a-f]{10}\b/g, '-$1'))
    .sort();
}

/**
 * Before any timing: the annotations the hand-written variant copies, and
 * then the check that both variants write the same manifests, names aside.
 */
function prepare(): string[] {
  const kinds: Annotations = {};
  const objects = (build({ variant: 'lib', n: 1 }, os.tmpdir()).node.findChild('apps') as Chart).toJson();
  for (const o of objects) kinds[o.kind] = o.metadata.annotations ?? {};
  const queue = objects.find((o) => o.kind === 'Job').spec.template.spec.initContainers[0];
  const queueEnv = Object.fromEntries(queue.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
  process.env[CONSTANTS_ENV] = JSON.stringify({ annotations: kinds, queueArgs: queue.args, queueEnv });
  constants = undefined;
  const a = documents('lib', 3);
  const b = documents('hand', 3);
  const differ = a.filter((d, i) => d !== b[i]);
  if (a.length === b.length && differ.length === 0) {
    console.log(`check: N=3: both variants write the same ${a.length} objects, byte for byte once the library's hashes are taken out of the names`);
    return [];
  }
  return [`N=3: the library writes ${a.length} objects, the hand-written ${b.length}; ${differ.length} differ, the first:\n${differ[0]}\nagainst\n${b[a.indexOf(differ[0])]}`];
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
    console.log(`cdk8s-migrated-app synth benchmark: node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);
    console.log(`library: the compiled lib/ of ${gitHead()}: ${snapshot.note}`);
    console.log(`cdk8s ${pkgVersion('cdk8s')}, cdk8s-plus-27 ${pkgVersion('cdk8s-plus-27')}, constructs ${pkgVersion('constructs')}`);
    console.log('each case: N apps in one chart, app.synth(), in a fresh `node --expose-gc --max-old-space-size=8192`; runs of the same N interleaved; medians\n');
    const problems = prepare();
    if (problems.length > 0) {
      console.error(`\nCORRECTNESS CHECK FAILED:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    const [ofLib, ofHand] = (['lib', 'hand'] as Variant[]).map((variant) => runInChild<number>({ variant, n: o.retainedN }, o.timeoutS, '--retained'));
    console.log(`retained after construction (heap used after a full collection, N = ${o.retainedN}): library ${fmt(ofLib, 1)} KiB per app, `
      + `hand-written ${fmt(ofHand, 1)}\n`);
    return measure(o, started);
  } finally {
    fs.rmSync(path.dirname(snapshot.dir), { recursive: true, force: true });
  }
}

interface Result {
  readonly c: Case;
  readonly samples: Sample[];
  failed?: string;
}

function measure(o: Options, started: number): number {
  const results: Result[] = [];
  for (const n of o.ns) {
    const pair = (['lib', 'hand'] as Variant[]).map((variant) => ({ c: { variant, n }, samples: [] as Sample[] } as Result));
    results.push(...pair);
    // Round robin: run 1 of each, then run 2 of each, ...
    for (let round = 0; round < o.reps; round++) {
      for (const r of pair.filter((x) => !x.failed)) {
        try {
          r.samples.push(runInChild(r.c, o.timeoutS));
        } catch (e) {
          r.failed = (e as Error).message;
        }
      }
    }
    for (const r of pair) {
      process.stderr.write(`  ${caseId(r.c).padEnd(10)} ${r.samples.map((s) => `${fmt(s.totalMs)}/${fmt(s.totalCpuMs)}`).join(', ')} ms wall/CPU${r.failed ? `  FAILED: ${r.failed}` : ''}\n`);
    }
  }
  report(o, results);
  console.log(`\nwhole run ${((performance.now() - started) / 1000).toFixed(0)} s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  const now = fingerprint(path.join(ROOT, 'lib'));
  if (now !== fingerprint(process.env[LIB_DIR_ENV]!)) console.log(`note: lib/ changed during the run (now ${now}); the cases all used the copy taken at the start`);
  const failed = results.filter((r) => r.failed);
  if (failed.length > 0) console.log(`failed cases: ${failed.map((r) => `${caseId(r.c)} (${r.failed})`).join('; ')}`);
  return 0;
}

function report(o: Options, results: Result[]): void {
  const med = (r: Result, f: (s: Sample) => number) => median(r.samples.map(f));
  const cpu = (s: Sample) => s.totalCpuMs;
  console.log('\n### Library ÷ hand-written, N apps in one chart (medians of the CPU time, user + system)\n');
  const rows = o.ns.map((n) => {
    const l = results.find((r) => r.c.variant === 'lib' && r.c.n === n)!;
    const h = results.find((r) => r.c.variant === 'hand' && r.c.n === n)!;
    if (l.samples.length === 0 || h.samples.length === 0) return [String(n), 'not run'];
    const ratio = (f: (s: Sample) => number) => fmt(med(l, f) / med(h, f), 2);
    // Each round ran the library, then the hand-written variant: its own ratio, in the order run.
    const rounds = l.samples.slice(0, h.samples.length).map((s, i) => fmt(cpu(s) / cpu(h.samples[i]), 2)).join(' ');
    return [String(n), fmt(med(l, cpu)), fmt(med(h, cpu)), ratio(cpu), rounds, ratio((s) => s.constructCpuMs), ratio((s) => s.synthCpuMs),
      fmt(med(l, cpu) * 1000 / n), fmt(med(h, cpu) * 1000 / n), `${fmt(med(l, (s) => s.peakRssMiB))} / ${fmt(med(h, (s) => s.peakRssMiB))}`,
      `${l.samples.length}+${h.samples.length}`];
  });
  const head = ['N apps', 'library CPU ms', 'hand-written CPU ms', 'ratio', 'ratio of each round', 'construct ratio', 'synth ratio', 'library µs/app',
    'hand µs/app', 'peak RSS MiB lib / hand', 'runs'];
  console.log(table(head, rows.map((r) => [...r, ...Array(head.length - r.length).fill('')])));
}

if (require.main === module) {
  const r = process.argv.indexOf('--retained');
  const i = process.argv.indexOf('--case');
  if (r >= 0) {
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(retainedKiBPerApp(parseCase(process.argv[r + 1])))}\n`);
  } else if (i >= 0) {
    const sample = runCase(parseCase(process.argv[i + 1]));
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(sample)}\n`);
  } else {
    process.exitCode = main(process.argv.slice(2));
  }
}
