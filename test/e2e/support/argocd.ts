/**
 * Argo CD on the node, for the argocd*.e2e.test.ts files: the application
 * controller, the repo-server and an in-memory Redis (test/e2e/modules/argocd,
 * built by build.sh), and argocd-server when a test asks (startServer()), as
 * host processes, the way Argo CD's own Procfile runs them, with
 * `ARGOCD_FAKE_IN_CLUSTER=true` and a kubeconfig, so that
 * `https://kubernetes.default.svc` is this run's cluster. Apps come from a
 * local bare git repository through a `file://` URL, as Argo CD's own e2e
 * fixture does.
 *
 * Network: Argo CD's processes run in a network namespace of their own that
 * has only `lo` (the controller's metrics server binds 0.0.0.0, and nothing
 * can change that), with a socat forwarder from its 127.0.0.1:6443 to the
 * cluster's DIR/apiserver.sock. Nothing listens anywhere else.
 *
 * Started lazily by the test file (`ArgoCd.start()`), stopped by `stop()`:
 * every process by its PID, then Argo CD's CRDs (and so every Application)
 * are deleted. Its namespace carries the run's label, so
 * `deleteNamespaces()` removes it. Free of jest globals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse, stringify } from 'yaml';
import { buildEnv } from './harness';
import {
  cluster, createNamespaces, crdsEstablished, getJson, KUBECTL, kubectl, Manifest, namespaceName, Proc, ROOT, RunResult, sleep, start, tempDir,
  toYaml, waitFor,
} from './index';

/** Fixed ports: the network namespace is Argo CD's alone. */
const PORTS = { apiserver: 6443, redis: 6379, server: 8080, repoServer: 8081, repoServerMetrics: 8084, controllerMetrics: 8082, serverMetrics: 8083 };

/** What `argocd` prints as its version, and where build.sh put it, its redis, hack/ and manifests/. */
export function argoCdBuild(): { dir: string; version: string } {
  const env = buildEnv();
  return { dir: env.ARGOCD_DIR, version: env.ARGOCD_VERSION };
}

/** The Application of examples/argocd/README.md, as written. */
export function readmeApplication(): Manifest {
  const readme = fs.readFileSync(path.join(ROOT, 'examples', 'argocd', 'README.md'), 'utf-8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]));
  const apps = blocks.filter((b) => b?.kind === 'Application');
  if (apps.length !== 1) throw new Error(`examples/argocd/README.md: ${apps.length} Application blocks, want 1`);
  return apps[0];
}

/** One git commit as the test made it. */
export interface Pushed {
  readonly revision: string;
  readonly at: number;
}

export interface ArgoCdOptions {
  /**
   * The namespace of Argo CD's config and Applications: `argocd` for a test
   * that runs examples/argocd/README.md's `kubectl -n argocd` as written (it
   * still gets the run's label). Default: one of this run's own.
   */
  readonly namespace?: string;
}

export class ArgoCd {
  /**
   * Starts Argo CD for this run: its CRDs and config, the AppProject
   * `default` (argocd-server would make it; there is none), a bare git
   * repository, then Redis, the repo-server and the application controller.
   */
  public static async start(options: ArgoCdOptions = {}): Promise<ArgoCd> {
    const a = new ArgoCd(options);
    try {
      await a.install();
      await a.startProcesses();
    } catch (e) {
      await a.stop();
      throw e;
    }
    return a;
  }

  /** The namespace of Argo CD's config and of the Applications (the controller's `--namespace`). */
  public readonly namespace: string;
  /** `file://` URL of the bare repository the Applications read. */
  public readonly repoUrl: string;
  private readonly build = argoCdBuild();
  private readonly home = tempDir('argocd');
  private readonly work: string;
  private readonly procs: { name: string; proc: Proc }[] = [];
  private netnsHolder?: Proc;
  private env: NodeJS.ProcessEnv = {};
  private kubeconfigFile = '';

  private constructor(options: ArgoCdOptions) {
    this.namespace = options.namespace ?? namespaceName('argocd');
    const bare = path.join(this.home, 'deploy.git');
    this.repoUrl = `file://${bare}`;
    this.work = path.join(this.home, 'work');
  }

  private async install(): Promise<void> {
    const manifests = path.join(this.build.dir, 'manifests');
    const files = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').map((f) => path.join(dir, f));
    // The Application CRD is too big for client-side apply's last-applied annotation.
    for (const f of files(path.join(manifests, 'crds'))) await kubectl(['apply', '--server-side', '--force-conflicts', '-f', f]);
    await crdsEstablished(['applications.argoproj.io', 'appprojects.argoproj.io', 'applicationsets.argoproj.io']);
    await createNamespaces(this.namespace);
    for (const f of files(path.join(manifests, 'base', 'config'))) await kubectl(['apply', '-f', f], { namespace: this.namespace });
    await kubectl(['apply', '-f', '-'], {
      namespace: this.namespace,
      input: toYaml([{
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AppProject',
        metadata: { name: 'default' },
        // What argocd-server creates when it finds no project `default`.
        spec: { sourceRepos: ['*'], destinations: [{ server: '*', namespace: '*' }], clusterResourceWhitelist: [{ group: '*', kind: '*' }] },
      }]),
    });
    // The repository: bare, on branch main, cloned once into a work tree that commits and pushes.
    await this.git(['init', '--bare', '-b', 'main', this.repoUrl.slice('file://'.length)], this.home);
    await this.git(['clone', this.repoUrl, this.work], this.home);
    await this.git(['checkout', '-b', 'main'], this.work);
    fs.writeFileSync(path.join(this.work, 'README.md'), 'Manifests synthesized by argocd.e2e.test.ts.\n');
    await this.commit('initial commit');
  }

  private async startProcesses(): Promise<void> {
    const c = cluster();
    // A network namespace with only lo, held by a process that sleeps in it.
    this.netnsHolder = start('unshare', ['--net', '--', 'bash', '-c', 'ip link set lo up && exec sleep infinity']);
    const netns = this.netns();
    await waitFor(async () => (await start('nsenter', [`--net=${netns}`, '--', 'ip', '-o', 'link', 'show', 'lo']).exited).stdout.includes('UP'),
      10_000, 'the network namespace\'s lo to be up');
    const inNetns = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv) => this.daemon(name, command, args, env);
    const sock = path.join(c.E2E_CLUSTER_DIR, 'apiserver.sock');
    inNetns('apiserver-forwarder', 'socat', [`TCP-LISTEN:${PORTS.apiserver},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`], process.env);
    // The cluster's admin kubeconfig, pointed at the forwarder (the serving cert names 127.0.0.1).
    const kubeconfig = parse(fs.readFileSync(c.KUBECONFIG, 'utf-8'));
    for (const cl of kubeconfig.clusters) cl.cluster.server = `https://127.0.0.1:${PORTS.apiserver}`;
    const kubeconfigFile = path.join(this.home, 'kubeconfig');
    fs.writeFileSync(kubeconfigFile, stringify(kubeconfig));
    this.kubeconfigFile = kubeconfigFile;
    const dirs = Object.fromEntries(['home', 'tmp', 'tls', 'ssh', 'gnupg'].map((d) => {
      const dir = path.join(this.home, 'run', d);
      fs.mkdirSync(dir, { recursive: true });
      return [d, dir];
    }));
    const env: NodeJS.ProcessEnv = {
      PATH: `${path.join(this.build.dir, 'hack')}:${process.env.PATH}`, // git-verify-wrapper.sh, run on every manifest generation
      HOME: dirs.home,
      TMPDIR: dirs.tmp,
      KUBECONFIG: kubeconfigFile,
      ARGOCD_FAKE_IN_CLUSTER: 'true',
      ARGOCD_GPG_ENABLED: 'false',
      ARGOCD_TLS_DATA_PATH: dirs.tls,
      ARGOCD_SSH_DATA_PATH: dirs.ssh,
      ARGOCD_GNUPGHOME: dirs.gnupg,
      // The repo-server's askpass socket is /tmp/reposerver-ask-pass.sock unless this is set (util/askpass/common.go
      // in v3.6.2): one per instance, so that two Argo CDs on one host (npm run e2e runs two clusters) do not share it.
      ARGOCD_ASK_PASS_SOCK: path.join(dirs.tmp, 'ask-pass.sock'),
    };
    this.env = env;
    const argocd = path.join(this.build.dir, 'argocd');
    const redis = inNetns('redis', path.join(this.build.dir, 'redis'), [`-port=${PORTS.redis}`], env);
    await waitFor(() => {
      if (!redis.running()) throw new Error(`redis exited: ${redis.stderr()}`);
      return redis.stdout().includes('listening on');
    }, 30_000, 'redis to listen');
    const redisAddr = `127.0.0.1:${PORTS.redis}`;
    inNetns('repo-server', argocd, ['--address', '127.0.0.1', '--port', String(PORTS.repoServer), '--metrics-address', '127.0.0.1',
      '--metrics-port', String(PORTS.repoServerMetrics), '--disable-tls', '--client-ca-path=', '--redis', redisAddr, '--loglevel', 'info'],
    { ...env, ARGOCD_BINARY_NAME: 'argocd-repo-server' });
    inNetns('application-controller', argocd, ['--namespace', this.namespace, '--redis', redisAddr,
      '--repo-server', `127.0.0.1:${PORTS.repoServer}`, '--repo-server-plaintext', '--metrics-port', String(PORTS.controllerMetrics),
      '--loglevel', 'info'],
    // The StatefulSet's pod name: the controller takes its shard from the ordinal.
    { ...env, ARGOCD_BINARY_NAME: 'argocd-application-controller', HOSTNAME: 'argocd-application-controller-0' });
    // Both up: the repo-server serves gRPC, the controller has synced its caches (its metrics server answers once it runs).
    await waitFor(async () => {
      for (const { name, proc } of this.procs) if (!proc.running()) throw new Error(`${name} exited: ${proc.stderr().slice(-2000)}`);
      return (await this.listening(PORTS.repoServer)) && (await this.listening(PORTS.controllerMetrics));
    }, 120_000, 'the repo-server and the application controller to listen');
  }

  /** The network namespace of Argo CD's processes. */
  private netns(): string {
    return `/proc/${this.netnsHolder!.pid}/ns/net`;
  }

  /** A long-running process in Argo CD's network namespace, stopped by stop(). */
  private daemon(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    const proc = start('nsenter', [`--net=${this.netns()}`, '--', command, ...args], { env });
    this.procs.push({ name, proc });
    return proc;
  }

  /** Whether something accepts connections on 127.0.0.1:`port` in Argo CD's network namespace. */
  private async listening(port: number): Promise<boolean> {
    return (await start('nsenter', [`--net=${this.netns()}`, '--', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]).exited).code === 0;
  }

  /**
   * Starts argocd-server (the multi-call binary as `argocd-server`), for the `argocd` CLI: plain HTTP and gRPC
   * (`--insecure`) with no login (`--disable-auth`), on 127.0.0.1 of Argo CD's network namespace, so only cli()
   * reaches it. Stopped by stop().
   */
  public async startServer(): Promise<void> {
    const assets = path.join(this.home, 'run', 'static');
    fs.mkdirSync(assets, { recursive: true });
    const server = this.daemon('server', path.join(this.build.dir, 'argocd'), ['--insecure', '--disable-auth', '--namespace', this.namespace,
      '--address', '127.0.0.1', '--port', String(PORTS.server), '--metrics-port', String(PORTS.serverMetrics),
      '--redis', `127.0.0.1:${PORTS.redis}`, '--repo-server', `127.0.0.1:${PORTS.repoServer}`, '--repo-server-plaintext',
      '--staticassets', assets, '--loglevel', 'info'],
    { ...this.env, ARGOCD_BINARY_NAME: 'argocd-server' });
    await waitFor(async () => {
      if (!server.running()) throw new Error(`argocd-server exited: ${server.stderr().slice(-2000)}`);
      return this.listening(PORTS.server);
    }, 120_000, 'argocd-server to listen');
  }

  /**
   * Runs a bash script in `cwd` inside Argo CD's network namespace, as a user's shell would: `argocd` (the CLI)
   * and `kubectl` first on the PATH, KUBECONFIG the cluster's admin, and the CLI pointed at startServer()'s
   * server by the environment variables it reads (checked in v3.6.2's source: pkg/apiclient/apiclient.go reads
   * ARGOCD_SERVER; util/config/env.go reads ARGOCD_OPTS as default flags, so `--plaintext` there means no TLS).
   */
  public async cli(script: string, cwd: string, timeoutMs = 1_200_000): Promise<RunResult> {
    const bin = path.join(this.home, 'bin');
    if (!fs.existsSync(bin)) {
      fs.mkdirSync(bin);
      // The multi-call binary runs as the CLI when its file name is `argocd` (cmd/main.go).
      fs.symlinkSync(path.join(this.build.dir, 'argocd'), path.join(bin, 'argocd'));
      fs.symlinkSync(KUBECTL, path.join(bin, 'kubectl'));
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      KUBECONFIG: this.kubeconfigFile,
      ARGOCD_SERVER: `127.0.0.1:${PORTS.server}`,
      ARGOCD_OPTS: '--plaintext',
      HOME: path.join(this.home, 'run', 'home'),
    };
    return start('nsenter', [`--net=${this.netns()}`, '--', 'bash', '-euo', 'pipefail', '-c', script], { cwd, env, timeoutMs }).exited;
  }

  /** Writes `objects` as `<dir>/<file>` of the repository (replacing what was there), commits and pushes to main. */
  public async push(dir: string, objects: Manifest[], message: string, file = 'app.k8s.yaml'): Promise<Pushed> {
    const target = path.join(this.work, dir);
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    fs.writeFileSync(path.join(target, file), toYaml(objects));
    return this.commit(message);
  }

  /** A commit that changes nothing under any app's path, pushed to main. */
  public async pushEmpty(message: string): Promise<Pushed> {
    return this.commit(message);
  }

  private async commit(message: string): Promise<Pushed> {
    await this.git(['add', '-A'], this.work);
    await this.git(['-c', 'user.name=e2e', '-c', 'user.email=e2e@e2e.local', 'commit', '--allow-empty', '-q', '-m', message], this.work);
    await this.git(['push', '-q', 'origin', 'main'], this.work);
    const revision = (await this.git(['rev-parse', 'HEAD'], this.work)).trim();
    return { revision, at: Date.now() };
  }

  private async git(args: string[], cwd: string): Promise<string> {
    const r = await start('git', args, { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: this.home }, timeoutMs: 60_000 }).exited;
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} exited with ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * The README's Application with only its name, namespaces, repository and
   * path changed: `name` (Application names are global to Argo CD: one per
   * test and run), syncing `apps/<name>` of this repository into `namespace`.
   */
  public application(name: string, namespace: string): Manifest {
    const readme = readmeApplication();
    return {
      ...readme,
      metadata: { ...readme.metadata, name, namespace: this.namespace },
      spec: {
        ...readme.spec,
        source: { ...readme.spec.source, repoURL: this.repoUrl, path: `apps/${name}` },
        destination: { ...readme.spec.destination, namespace },
      },
    };
  }

  /** Creates or updates an Application in Argo CD's namespace. */
  public async apply(application: Manifest): Promise<void> {
    await kubectl(['apply', '-f', '-'], { namespace: this.namespace, input: toYaml([application]) });
  }

  /** The Application, as the controller last wrote it. */
  public app(name: string): Promise<any> {
    return getJson(['application.argoproj.io', name], { namespace: this.namespace });
  }

  /**
   * Asks the controller to look at git again now, as a git webhook or
   * `argocd app get --refresh` does (the annotation the API server sets):
   * without it the controller polls every 120 s or so.
   */
  public async refresh(name: string): Promise<void> {
    await kubectl(['annotate', '--overwrite', 'application.argoproj.io', name, 'argocd.argoproj.io/refresh=normal'], { namespace: this.namespace });
  }

  /** Waits until the Application's last operation is for `revision` and has ended (Succeeded, Failed or Error); returns the Application. */
  public async operationEnded(name: string, revision: string, timeoutMs = 300_000): Promise<any> {
    return waitFor(async () => {
      const app = await this.app(name);
      const op = app.status?.operationState;
      const ended = op && ['Succeeded', 'Failed', 'Error'].includes(op.phase) && op.syncResult?.revision === revision;
      return ended ? app : undefined;
    }, timeoutMs, `Application ${name}'s sync of ${revision.slice(0, 7)} to end`, 500);
  }

  /**
   * Syncs `revision` again, as `argocd app sync --revision` asks the API server to: an operation written into the
   * Application, with the sync options and prune of its policy. Waits until it has ended; returns the Application.
   */
  public async sync(name: string, revision: string, timeoutMs = 300_000): Promise<any> {
    // Not over a running operation (automated sync may follow one with another, to prune).
    const app = await waitFor(async () => {
      const a = await this.app(name);
      return !a.operation && a.status?.operationState?.phase !== 'Running' && a;
    }, timeoutMs, `Application ${name} to run no operation`, 500);
    const marker = `e2e-${Date.now()}`;
    const operation = {
      initiatedBy: { username: marker },
      sync: { revision, prune: app.spec.syncPolicy?.automated?.prune ?? false, syncOptions: app.spec.syncPolicy?.syncOptions },
    };
    await kubectl(['patch', 'application.argoproj.io', name, '--type=merge', '-p', JSON.stringify({ operation })], { namespace: this.namespace });
    return waitFor(async () => {
      const a = await this.app(name);
      const op = a.status?.operationState;
      return op?.operation?.initiatedBy?.username === marker && ['Succeeded', 'Failed', 'Error'].includes(op.phase) && a;
    }, timeoutMs, `Application ${name}'s sync of ${revision.slice(0, 7)} again to end`, 500);
  }

  /** The Events the controller recorded on an Application (OperationStarted, OperationCompleted...), oldest first. */
  public async events(name: string): Promise<{ reason: string; message: string; at: string }[]> {
    const list = await getJson(['events', '--field-selector', `involvedObject.kind=Application,involvedObject.name=${name}`], { namespace: this.namespace });
    return list.items.map((e: any) => ({ reason: e.reason, message: e.message, at: e.lastTimestamp ?? e.eventTime }))
      .sort((x: any, y: any) => Date.parse(x.at) - Date.parse(y.at));
  }

  /** The logs of the processes so far, and what exited. */
  public logs(): string {
    return this.procs.map(({ name, proc }) => `==> ${name} (pid ${proc.pid}${proc.running() ? '' : ', exited'})\n${proc.stderr().slice(-20_000)}`).join('\n');
  }

  /**
   * Stops every process by its PID (SIGTERM, then SIGKILL after 10 s), keeps
   * their logs in the cluster's folder (argocd-logs/), and deletes Argo CD's
   * CRDs, with every Application.
   */
  public async stop(): Promise<void> {
    const all = [...this.procs.reverse(), ...this.netnsHolder ? [{ name: 'netns', proc: this.netnsHolder }] : []];
    for (const { proc } of all) {
      proc.kill('SIGTERM');
      const ended = await Promise.race([proc.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!ended) proc.kill('SIGKILL');
      await proc.exited.catch(() => undefined);
    }
    try {
      const dir = path.join(cluster().E2E_CLUSTER_DIR, 'argocd-logs');
      fs.mkdirSync(dir, { recursive: true });
      for (const { name, proc } of this.procs) fs.writeFileSync(path.join(dir, `${this.namespace}-${name}.log`), `${proc.stdout()}${proc.stderr()}`);
    } catch {
      // no cluster folder: nothing to keep them in
    }
    // No Application has a finalizer: with no controller left, they go with their CRD.
    await kubectl(['delete', '--ignore-not-found', '--wait=true', 'crd/applications.argoproj.io', 'crd/appprojects.argoproj.io',
      'crd/applicationsets.argoproj.io'], { timeoutMs: 120_000, check: false });
  }
}
