/**
 * Flux on the node, as far as it can be built offline: kustomize-controller
 * (test/e2e/modules/flux/go.mod, built by build.sh) as a host process with
 * the cluster's admin kubeconfig, and, instead of source-controller (which
 * does not build from the module proxy), an `ExternalArtifact` per source
 * whose status the test writes itself, pointing at a `.tar.gz` that a small
 * HTTP server on 127.0.0.1 serves. kustomize-controller's own tests feed it
 * the same way (`applyExternalArtifact`). The Kustomizations are the real
 * thing: kustomize-controller builds, applies (server-side), prunes and
 * health-checks exactly as it would with a GitRepository.
 *
 * `Flux.start()` installs the CRDs (from the module zips) and starts both;
 * `stop()` deletes what it made, ends the controller by its PID, closes the
 * server and removes the CRDs. Free of jest globals.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { cluster, now } from './cluster';
import { buildEnv } from './harness';
import { crdsEstablished, getJson, kubectl, Proc, start, tempDir, toYaml, waitFor } from './kubectl';
import { condition } from './pods';
import type { Manifest } from '../../manifests';

export const FLUX_VERSION = buildEnv().FLUX_VERSION;
/** The CRDs build.sh copies: the Kustomization, and every source kind (kustomize-controller watches them all), by `<plural>.<group>`. */
const CRDS = fs.readdirSync(buildEnv().FLUX_CRDS).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/^(.*)_(.*)\.yaml$/, '$2.$1'));

/** The Kustomization's fields as docs/operations.md shows them (its sourceRef aside), with a shorter timeout for the tests and benchmarks. */
export const FLUX_RECIPE = { interval: '10m', path: './dist', prune: true, wait: true, timeout: '3m' };

/** A free TCP port on 127.0.0.1 (the kernel's pick; closed again before it is used). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** What one `publish()` made available. */
export interface Published {
  readonly revision: string;
  /** `sha256:<hex>` of the tarball. */
  readonly digest: string;
  readonly url: string;
  /** When the ExternalArtifact's status was written (epoch ms, see `now()`). */
  readonly at: number;
}

/** A Kustomization's Ready condition and the revisions it reports. */
export interface KustomizationState {
  readonly ready?: { status: string; reason: string; message: string };
  readonly lastAppliedRevision?: string;
  readonly lastAttemptedRevision?: string;
  readonly lastHandledReconcileAt?: string;
  readonly object: any;
}

export class Flux {
  /**
   * Installs the CRDs, starts the artifact server and kustomize-controller, and waits until the controller is healthy.
   * `featureGates` (`Name=true`) are turned on besides ExternalArtifact.
   */
  public static async start(runtimeNamespace: string, featureGates: string[] = []): Promise<Flux> {
    const env = buildEnv();
    await kubectl(['apply', '--server-side', '-f', env.FLUX_CRDS]);
    await crdsEstablished(CRDS);

    const files = new Map<string, Buffer>();
    const server = http.createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

    const [metrics, health] = [await freePort(), await freePort()];
    const startedAt = now();
    const proc = start(env.KUSTOMIZE_CONTROLLER, [
      '--enable-leader-election=false',
      '--events-addr=',
      `--metrics-addr=127.0.0.1:${metrics}`,
      `--health-addr=127.0.0.1:${health}`,
      `--feature-gates=${['ExternalArtifact=true', ...featureGates].join(',')}`,
      '--log-level=info',
    ], { env: { ...process.env, KUBECONFIG: cluster().KUBECONFIG, RUNTIME_NAMESPACE: runtimeNamespace } });
    const flux = new Flux(proc, server, files, base, startedAt, featureGates);
    try {
      await waitFor(async () => {
        if (!proc.running()) throw new Error(`kustomize-controller exited:\n${proc.stderr().slice(-2000)}`);
        return new Promise<boolean>((resolve) => {
          http.get(`http://127.0.0.1:${health}/readyz`, (res) => { res.resume(); resolve(res.statusCode === 200); })
            .on('error', () => resolve(false));
        });
      }, 120_000, 'kustomize-controller to be ready (/readyz)', 500);
    } catch (e) {
      await flux.stop();
      throw e;
    }
    return flux;
  }

  private readonly made: { kind: string; namespace: string; name: string }[] = [];
  private stopped = false;

  private constructor(public readonly proc: Proc, private readonly server: http.Server, private readonly files: Map<string, Buffer>,
    private readonly base: string, public readonly startedAt: number, public readonly featureGates: string[]) {}

  /** The controller's log so far (JSON lines on stderr). */
  public log(): string {
    return this.proc.stderr() + this.proc.stdout();
  }

  /**
   * Creates the ExternalArtifact `name` (if it is new) and a Kustomization
   * `name` with `spec` (plus the sourceRef to that artifact), both in `namespace`.
   */
  public async kustomization(namespace: string, name: string, spec: { [key: string]: unknown }): Promise<void> {
    await this.source(namespace, name);
    await this.apply({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name, namespace },
      spec: { ...spec, sourceRef: { kind: 'ExternalArtifact', name } },
    });
  }

  /** Creates the ExternalArtifact `name` in `namespace` (if it is new): the source that `publish()` and `publishGit()` fill in. */
  public async source(namespace: string, name: string): Promise<void> {
    await this.apply({ apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'ExternalArtifact', metadata: { name, namespace }, spec: {} });
  }

  /** Applies a Flux object (server-side) and deletes it in `stop()`. */
  public async apply(object: Manifest): Promise<void> {
    await kubectl(['apply', '--server-side', '-f', '-'], { input: toYaml([object]) });
    this.adopt(object);
  }

  /** Deletes a Flux object that something else applied (a README's command) in `stop()`, Kustomizations before their sources. */
  public adopt(object: Manifest): void {
    const plural = { Kustomization: 'kustomizations.kustomize.toolkit.fluxcd.io', ExternalArtifact: 'externalartifacts.source.toolkit.fluxcd.io' }[object.kind];
    if (!plural) throw new Error(`Flux.adopt: not a Flux kind: ${object.kind}`);
    const { namespace, name } = object.metadata as { namespace: string; name: string };
    if (this.made.some((o) => o.kind === plural && o.namespace === namespace && o.name === name)) return;
    this.made.unshift({ kind: plural, namespace, name });
  }

  /**
   * Publishes `objects` on branch `ref` of the source `name`: a reproducible
   * `.tar.gz` of one file (`<name>.k8s.yaml` in `dir/`, as `cdk8s synth`
   * writes it), served at a URL named after its digest, and the
   * ExternalArtifact's status pointing at it, as source-controller writes it,
   * with the revision `<ref>@sha256:<digest>`. The same objects give the
   * same digest and revision.
   */
  public async publish(namespace: string, name: string, objects: Manifest[], ref = 'main', dir = 'dist'): Promise<Published> {
    const root = tempDir('flux-artifact');
    fs.mkdirSync(path.join(root, dir));
    fs.writeFileSync(path.join(root, dir, `${name}.k8s.yaml`), toYaml(objects));
    const tar = execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', dir]);
    const hex = createHash('sha256').update(gzipSync(tar)).digest('hex');
    return this.publishTar(namespace, name, tar, `${ref}@sha256:${hex}`);
  }

  /**
   * Publishes the commit at `ref` of the git repository `gitDir` (a bare one
   * will do) as source-controller publishes a GitRepository's: the files of
   * that commit, without `.git` (here `git archive`), with the revision
   * `<ref>@sha1:<commit>` (the format of source-controller v1.9.6's
   * docs/spec/v1/gitrepositories.md, from `commitReference()` in
   * internal/controller/gitrepository_controller.go).
   */
  public async publishGit(namespace: string, name: string, gitDir: string, ref = 'main'): Promise<Published> {
    const commit = execFileSync('git', ['-C', gitDir, 'rev-parse', `refs/heads/${ref}`], { encoding: 'utf-8' }).trim();
    const tar = execFileSync('git', ['-C', gitDir, 'archive', '--format=tar', commit]);
    return this.publishTar(namespace, name, tar, `${ref}@sha1:${commit}`);
  }

  /**
   * Serves `tar`, gzipped, at a URL named after its digest, and writes the
   * ExternalArtifact's status pointing at it, as source-controller writes it.
   */
  private async publishTar(namespace: string, name: string, tar: Buffer, revision: string): Promise<Published> {
    const body = gzipSync(tar); // zlib writes no timestamp: the same tar gives the same bytes
    const hex = createHash('sha256').update(body).digest('hex');
    const urlPath = `/${namespace}/${name}/${hex}.tar.gz`;
    this.files.set(urlPath, body);
    const url = `${this.base}${urlPath}`;
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = {
      artifact: { path: urlPath.slice(1), url, revision, digest: `sha256:${hex}`, lastUpdateTime: time, size: body.length },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: `stored artifact for revision '${revision}'`, lastTransitionTime: time }],
    };
    await kubectl(['patch', `externalartifacts.source.toolkit.fluxcd.io/${name}`, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })],
      { namespace });
    return { revision, digest: `sha256:${hex}`, url, at: now() };
  }

  /** Asks for a reconcile now, as `flux reconcile kustomization` does (the requestedAt annotation); returns its token. */
  public async requestReconcile(namespace: string, name: string): Promise<string> {
    const token = new Date().toISOString();
    await kubectl(['annotate', '--overwrite', `kustomizations.kustomize.toolkit.fluxcd.io/${name}`, `reconcile.fluxcd.io/requestedAt=${token}`], { namespace });
    return token;
  }

  public async state(namespace: string, name: string): Promise<KustomizationState> {
    const k = await getJson([`kustomizations.kustomize.toolkit.fluxcd.io/${name}`], { namespace });
    const ready = condition(k, 'Ready');
    return {
      ready: ready && { status: ready.status, reason: ready.reason, message: ready.message },
      lastAppliedRevision: k.status?.lastAppliedRevision,
      lastAttemptedRevision: k.status?.lastAttemptedRevision,
      lastHandledReconcileAt: k.status?.lastHandledReconcileAt,
      object: k,
    };
  }

  /**
   * Waits until the Kustomization has finished an attempt at `revision`
   * (Ready True or False, not Unknown, while it reconciles), and returns its
   * state and when that was seen.
   */
  public async settled(namespace: string, name: string, revision: string, timeoutMs = 300_000,
    done: (s: KustomizationState) => boolean = () => true): Promise<KustomizationState & { at: number }> {
    return waitFor(async () => {
      if (!this.proc.running()) throw new Error(`kustomize-controller exited:\n${this.log().slice(-3000)}`);
      const s = await this.state(namespace, name);
      const over = s.lastAttemptedRevision === revision && s.ready && s.ready.status !== 'Unknown'
        && s.object.status?.observedGeneration === s.object.metadata.generation && done(s);
      return over ? { ...s, at: now() } : undefined;
    }, timeoutMs, `Kustomization ${namespace}/${name} to settle on ${revision}`, 200);
  }

  /**
   * Deletes the Kustomizations and artifacts it made (the controller, still
   * running, handles their finalizers), ends the controller by its PID,
   * closes the server and removes the CRDs. Writes the controller's log to
   * the cluster's log folder. Idempotent.
   */
  public async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      for (const o of this.made.splice(0)) {
        await kubectl(['delete', `${o.kind}/${o.name}`, '--ignore-not-found', '--wait=true', '--timeout=120s'], { namespace: o.namespace, timeoutMs: 130_000, check: false });
      }
    } finally {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await this.proc.exited.catch(() => undefined);
      clearTimeout(timer);
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      try {
        fs.writeFileSync(path.join(cluster().E2E_CLUSTER_DIR, 'logs', `kustomize-controller-${this.proc.pid}.log`), this.log());
      } catch {
        // no log folder: nothing to keep
      }
      await kubectl(['delete', 'crd', ...CRDS, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000, check: false });
      // Flux's CRDs are in the category `all`: while kubectl's discovery cache still holds them, `kubectl get all` asks for
      // them and fails ("the server doesn't have a resource type \"kustomizations\""), as examples.e2e.test.ts did when it
      // ran right after this file. `kubectl api-resources` without --cached invalidates that cache and fetches it again
      // (k8s.io/kubectl v0.36.6 pkg/cmd/apiresources/apiresources.go).
      await waitFor(async () => !(await kubectl(['api-resources', '-o', 'name'], { check: false })).stdout.includes('.fluxcd.io'),
        60_000, 'Flux\'s resources to be gone from discovery');
    }
  }
}
