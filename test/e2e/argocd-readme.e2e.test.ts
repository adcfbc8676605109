/*
 * examples/argocd/README.md's "Synthesize and apply", every command as
 * written, against Argo CD v3.6.2 on the node (support/argocd.ts), with
 * argocd-server started for the `argocd` CLI (`--insecure --disable-auth`, on
 * loopback inside Argo CD's network namespace, where the commands run).
 * - `npx projen compile && scripts/synth-examples.sh argocd` runs in the
 *   repository, as `npm run examples` does;
 * - `git add/commit/push` run in a clone of a local bare repository that
 *   holds the repository's files without examples/argocd/dist (the state
 *   before the first release), pushed to by its `origin`;
 * - `kubectl -n argocd apply -f forum-application.yaml`: the README's
 *   Application, only its repoURL replaced by the bare repository's file:// URL;
 *   Argo CD's namespace is `argocd`, as the README has it;
 * - `argocd app wait forum --sync --health --timeout 900`.
 * The example's image is e2e.local/example tagged ghcr.io/example/forum:1.12.0
 * (`php artisan migrate --force` exits 0, HTTP 200 on 8080); the Secret
 * `forum-db`, which a SealedSecret would make, is created by the test.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanUp, cluster, condition, createNamespaces, deleteNamespaces, getJson, kubectl, now, ROOT, RunResult, start, tempDir, timing, toYaml,
} from './support';
import { ArgoCd, readmeApplication } from './support/argocd';

const readme = fs.readFileSync(path.join(ROOT, 'examples', 'argocd', 'README.md'), 'utf-8');
const section = readme.slice(readme.indexOf('## Synthesize and apply'));
const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trimEnd().split('\n'))[0] ?? [];
const BUILD = 'npx projen compile && scripts/synth-examples.sh argocd';
const out = (r: RunResult) => `${r.stdout}${r.stderr}`;

let argo: ArgoCd | undefined;
// scripts/synth-examples.sh links the package to the checkout; leave none behind (see helm.e2e.test.ts).
const link = path.join(ROOT, 'node_modules', 'cdk8s-migrated-app');
const linked = fs.existsSync(link);

afterAll(async () => {
  if (argo) process.stderr.write(`argocd logs (tail):\n${argo.logs().slice(-4000)}\n`);
  await argo?.stop();
  if (!linked) fs.rmSync(link, { force: true });
  cleanUp();
  // `forum` was made by the test (with the run's label) before Argo CD's CreateNamespace=true would have.
  await deleteNamespaces();
}, 300_000);

describe('examples/argocd/README.md, every command as written, with argocd app wait', () => {
  let a: ArgoCd;
  let clone = '';

  test('the README\'s commands are the four this test runs', () => {
    expect(commands).toEqual([
      BUILD,
      'git add examples/argocd/dist && git commit -m "forum 1.12.0" && git push',
      'kubectl -n argocd apply -f forum-application.yaml    # the manifest above',
      'argocd app wait forum --sync --health --timeout 900',
    ]);
  });

  beforeAll(async () => {
    const started = now();
    // `kubectl -n argocd`: Argo CD's own namespace is `argocd` here.
    argo = await ArgoCd.start({ namespace: 'argocd' });
    a = argo;
    await a.startServer();
    timing('argocd-readme: Argo CD with argocd-server started', now() - started);
    const c = cluster();
    const tag = await start(c.E2E_CLUSTER_SH, ['tag', c.E2E_CLUSTER_DIR, 'e2e.local/example:1.0.0', 'ghcr.io/example/forum:1.12.0']).exited;
    expect(tag.code).toBe(0);
    await createNamespaces('forum');
    await kubectl(['create', 'secret', 'generic', 'forum-db', '--from-literal=DB_PASSWORD=e2e'], { namespace: 'forum' });
    // The deploy repository: the checkout's files (as git tracks them), without examples/argocd/dist, pushed to main.
    clone = path.join(tempDir('argocd-readme'), 'forum-deploy');
    const git = async (args: string[], cwd: string) => {
      const r = await start('git', args, { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' }, timeoutMs: 120_000 }).exited;
      if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${out(r)}`);
      return r.stdout;
    };
    await git(['clone', '-q', a.repoUrl, clone], ROOT);
    await git(['config', 'user.name', 'e2e'], clone);
    await git(['config', 'user.email', 'e2e@e2e.local'], clone);
    const files = (await git(['ls-files', '-z'], ROOT)).split('\0').filter((f) => f && !f.startsWith('examples/argocd/dist/'));
    for (const f of files) {
      const from = path.join(ROOT, f);
      if (!fs.existsSync(from)) continue; // deleted in the work tree
      fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
      fs.copyFileSync(from, path.join(clone, f));
    }
    await git(['add', '-A'], clone);
    await git(['commit', '-q', '-m', 'the repository, before forum 1.12.0'], clone);
    await git(['push', '-q'], clone);
  }, 300_000);

  test('synthesize, push, apply the Application, argocd app wait: it returns once the sync and the app are Healthy', async () => {
    // 1. In the repository, as `npm run examples` does: writes lib/ and examples/argocd/dist/.
    const build = await start('bash', ['-euo', 'pipefail', '-c', commands[0]], {
      cwd: ROOT,
      env: { ...process.env, npm_config_yes: 'true' },
      timeoutMs: 600_000,
    }).exited;
    expect({ code: build.code, out: out(build) }).toEqual({ code: 0, out: expect.stringContaining('examples/argocd: wrote examples/argocd/dist/argocd.k8s.yaml') });
    fs.mkdirSync(path.join(clone, 'examples', 'argocd', 'dist'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'examples', 'argocd', 'dist', 'argocd.k8s.yaml'), path.join(clone, 'examples', 'argocd', 'dist', 'argocd.k8s.yaml'));
    // The Application of the README, its repoURL the bare repository's.
    const application = readmeApplication();
    expect(application.spec.source.repoURL).toBe('https://github.com/example/forum-deploy.git');
    application.spec.source.repoURL = a.repoUrl;
    fs.writeFileSync(path.join(clone, 'forum-application.yaml'), toYaml([application]));

    // 2-4. In the clone, inside Argo CD's network namespace (the CLI reaches argocd-server on its loopback).
    const started = now();
    const r = await a.cli(commands.slice(1).join('\n'), clone);
    const waited = now() - started;
    process.stderr.write(`argocd-readme: the commands printed:\n${out(r)}\n`);
    expect(r.code).toBe(0);
    // What `argocd app wait` printed: the app's status once it matched (cmd/argocd/commands/app.go printAppSummaryTable).
    expect(r.stdout).toMatch(/Sync Status:\s+Synced to main/);
    expect(r.stdout).toMatch(/Health Status:\s+Healthy/);

    // It returned only once Argo CD was done: the Job Complete, the Deployment's pods ready.
    const app = await getJson(['application.argoproj.io', 'forum'], { namespace: 'argocd' });
    expect({ sync: app.status.sync.status, health: app.status.health.status, phase: app.status.operationState.phase })
      .toEqual({ sync: 'Synced', health: 'Healthy', phase: 'Succeeded' });
    const jobs = (await getJson(['jobs'], { namespace: 'forum' })).items;
    expect(jobs).toHaveLength(1);
    expect(condition(jobs[0], 'Complete')?.status).toBe('True');
    const d = await getJson(['deployment', 'forum'], { namespace: 'forum' });
    expect(d.status.readyReplicas).toBe(d.spec.replicas);
    timing('argocd-readme: git commit && push && kubectl apply && argocd app wait', waited);
  }, 1_200_000);
});
