import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { expectSoundManifests, golden, Manifest, ofKind, one, podSpecs, waitedJob, withoutLintNotes, withoutQueue } from './helpers';
import { HOLD_CONTAINER } from '../src/contract';
import { RELEASE_LABEL } from '../src/naming';
import { QUEUE_CONTAINER } from '../src/queue';

/*
 * Every examples/<name>/main.ts is synthesized here, in-process, against src/
 * (jest maps `cdk8s-migrated-app` to it), and must give exactly the committed
 * examples/<name>/dist/, sound manifests, and the facts its README claims.
 */

const EXAMPLES = path.join(__dirname, '..', 'examples');
const HOW_TO_FIX = 'Run `npm run examples` (or `scripts/synth-examples.sh <name>` after `npx projen compile`) and commit examples/*/dist/.';

/** What one example must show, besides being sound. */
interface Expectations {
  /** Secrets the example refers to but does not emit. */
  readonly externalSecrets?: string[];
  /** Containers of the user's own workloads that are not restricted. */
  readonly foreignContainers?: string[];
  /** The facts that make the example what its README says it is. */
  readonly facts: (objects: Manifest[], text: string) => void;
}

const EXPECTATIONS: { [name: string]: Expectations } = {
  'laravel': {
    facts: (objects) => {
      expect(withoutQueue(objects).map((o) => o.kind).sort()).toEqual(
        ['ConfigMap', 'Deployment', 'Job', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount']);
      expect(waitedJob(one(objects, 'Deployment'))).toEqual(one(objects, 'Job').metadata.name);
      expect(envFromOf(one(objects, 'Job'))).toEqual(envFromOf(one(objects, 'Deployment')));
    },
  },

  'sql-migrate-git': {
    externalSecrets: ['ledger-db', 'ledger-migrations-git'],
    facts: (objects) => {
      expect(ofKind(objects, 'Secret')).toEqual([]);
      const job = one(objects, 'Job');
      const deployment = one(objects, 'Deployment');
      const pod = job.spec.template.spec;
      // The git token reaches the clone container and nothing else; the DB password reaches the migration and the app.
      const [queue, clone] = pod.initContainers;
      expect(queue.name).toBe(QUEUE_CONTAINER);
      const [container] = pod.containers;
      expect(secretsOf(job).sort()).toEqual(['ledger-db', 'ledger-migrations-git']);
      expect(clone.env).toContainEqual({ name: 'GIT_TOKEN', valueFrom: { secretKeyRef: { name: 'ledger-migrations-git', key: 'GIT_TOKEN' } } });
      expect(JSON.stringify(container)).not.toContain('ledger-migrations-git');
      expect(secretsOf(deployment)).toEqual(['ledger-db']);
      expect(job.spec.backoffLimit).toBe(0);

      const mount = container.volumeMounts.find((m: any) => m.mountPath === '/etc/sql-migrate/dbconfig.yml');
      expect(mount).toEqual({ mountPath: '/etc/sql-migrate/dbconfig.yml', name: mount.name, subPath: 'dbconfig.yml', readOnly: true });
      const volume = pod.volumes.find((v: any) => v.name === mount.name);
      const files = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name === volume.configMap.name)!;
      expect(files.immutable).toBe(true);
      expect(files.data['dbconfig.yml']).toContain('password=${DB_PASSWORD}');
      expect(files.data['dbconfig.yml']).toContain('dir: /migrations/ledger/');

      // An init container clones one tag, with no shell, into an emptyDir that the migration mounts read-only.
      expect(clone.command.slice(0, 2)).toEqual(['git', 'clone']);
      expect(clone.command).toContainEqual(expect.stringMatching(/^--branch=v\d/));
      expect(clone.command).toContainEqual(expect.stringContaining(':$(GIT_TOKEN)@'));
      expect(clone.command[clone.command.length - 1]).toBe('/migrations/ledger');
      expect(clone.restartPolicy).toBeUndefined();
      expect(clone.volumeMounts).toEqual([{ mountPath: '/migrations', name: 'migrations' }]);
      expect(container.volumeMounts).toContainEqual({ mountPath: '/migrations', name: 'migrations', readOnly: true });
      expect(pod.volumes).toContainEqual({ name: 'migrations', emptyDir: {} });
      expect(container.command).toEqual(['sql-migrate', 'up', '-config=/etc/sql-migrate/dbconfig.yml', '-env=production']);
      for (const c of [clone, container]) {
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(c.image).toMatch(/:\d+\.\d+\.\d+$/);
      }
      expect(deployment.spec.template.spec.volumes.map((v: any) => v.name)).not.toContain('migrations');
    },
  },

  'cloud-sql-proxy': {
    externalSecrets: ['inventory-db-app', 'inventory-db-owner'],
    facts: (objects) => {
      const job = one(objects, 'Job');
      const deployment = one(objects, 'Deployment');
      // One proxy per pod, as a native sidecar, before the waiter in the app's pods.
      // In the Job, after the queue: the proxy starts once it is the Job's turn.
      for (const [proxy] of [job.spec.template.spec.initContainers.slice(1), deployment.spec.template.spec.initContainers]) {
        expect(proxy).toMatchObject({ name: 'cloud-sql-proxy', restartPolicy: 'Always', startupProbe: { httpGet: { path: '/startup', port: 9090 } } });
        expect(proxy.image).toMatch(/^gcr\.io\/cloud-sql-connectors\/cloud-sql-proxy:\d+\.\d+\.\d+$/);
        expect(proxy.args).toContain('--port=5432');
      }
      // The migration shadows the shared user and password.
      const [migrate] = job.spec.template.spec.containers;
      expect(migrate.env).toEqual([{ name: 'DB_USER', value: 'inventory_owner' }]);
      expect(secretsOf(job)).toEqual(['inventory-db-app', 'inventory-db-owner']);
      expect(secretsOf(deployment)).toEqual(['inventory-db-app']);
      expect(one(objects, 'ConfigMap').data).toMatchObject({ DB_HOST: '127.0.0.1', DB_PORT: '5432', DB_USER: 'inventory_app' });
      // The Job's own identity, whose token only the migration container mounts.
      expect(job.spec.template.spec.serviceAccountName).toBe('inventory-migrate');
      const identity = ofKind(objects, 'ServiceAccount').find((a) => a.metadata.name === 'inventory-migrate')!;
      expect(identity.metadata.annotations['iam.gke.io/gcp-service-account']).toMatch(/@acme-prod\.iam\.gserviceaccount\.com$/);
      expect(migrate.volumeMounts).toContainEqual({ mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', name: 'migrate-token', readOnly: true });
    },
  },

  'flyway-external-secret': {
    externalSecrets: ['billing-db'],
    facts: (objects) => {
      // External Secrets makes the Secret; the example only refers to it.
      expect(ofKind(objects, 'Secret')).toEqual([]);
      const job = one(objects, 'Job');
      expect(secretsOf(job)).toEqual(['billing-db']);
      expect(secretsOf(one(objects, 'Deployment'))).toEqual(['billing-db']);
      const [container] = job.spec.template.spec.containers;
      expect(container.args).toEqual(['migrate']);
      const config = one(objects, 'ConfigMap');
      expect(Object.keys(config.data).sort()).toEqual(['FLYWAY_URL', 'FLYWAY_USER']);
      expect(config.data.FLYWAY_URL).toMatch(/^jdbc:postgresql:\/\//);
      expect(container.image).toMatch(/:\d+\.\d+\.\d+$/);
    },
  },

  'expand-contract': {
    externalSecrets: ['accounts-db'],
    facts: (objects) => {
      const [expand, contract] = ofKind(objects, 'Job');
      expect([expand.metadata.name, contract.metadata.name]).toEqual([expect.stringMatching(/^accounts-migrate-/), expect.stringMatching(/^accounts-contract-/)]);
      // The same image and environment; the contract half's own path; held until the rollout is over.
      const [e, c] = [expand, contract].map((j) => j.spec.template.spec.containers[0]);
      expect(c.command).toEqual(['php', 'artisan', 'migrate', '--force', '--path=database/migrations/contract']);
      expect(e.command).toEqual(['php', 'artisan', 'migrate', '--force', '--path=database/migrations/expand']);
      expect([c.image, c.envFrom]).toEqual([e.image, e.envFrom]);
      expect(contract.spec.template.spec.initContainers.map((i: any) => i.name)).toEqual([QUEUE_CONTAINER, HOLD_CONTAINER]);
      expect(contract.metadata.labels[RELEASE_LABEL]).toBe(expand.metadata.name);
      expect(one(objects, 'Deployment').spec.template.metadata.labels[RELEASE_LABEL]).toBe(expand.metadata.name);
    },
  },

  'shared-migration': {
    externalSecrets: ['orders-db'],
    facts: (objects) => {
      const job = one(objects, 'Job');
      const deployments = ofKind(objects, 'Deployment');
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['orders-api', 'orders-worker']);
      // Both wait for the same, only, Job.
      for (const d of deployments) expect(waitedJob(d)).toEqual(job.metadata.name);
      // Each runs as its own ServiceAccount, bound to the one Role that reads that Job.
      const accounts = deployments.map((d) => d.spec.template.spec.serviceAccountName).sort();
      expect(accounts).toEqual(['orders-api', 'orders-worker']);
      expect(ofKind(withoutQueue(objects), 'ServiceAccount').map((s) => s.metadata.name).sort()).toEqual(accounts);
      const role = one(withoutQueue(objects), 'Role');
      const bindings = ofKind(withoutQueue(objects), 'RoleBinding');
      expect(bindings).toHaveLength(1);
      for (const b of bindings) expect(b.roleRef.name).toBe(role.metadata.name);
      expect(bindings.flatMap((b) => b.subjects.map((s: any) => s.name)).sort()).toEqual(accounts);
      // The user's own containers are restricted too (no foreignContainers exception above),
      // and the rollout outlasts the migration's deadline.
      for (const d of deployments) {
        expect(d.spec.template.spec.automountServiceAccountToken).toBe(false);
        expect(d.spec.progressDeadlineSeconds).toBeGreaterThan(job.spec.activeDeadlineSeconds);
      }
      expect(one(objects, 'Service').metadata.name).toBe('orders-api');
    },
  },

  'stop-the-world': {
    facts: (objects) => {
      const deployment = one(objects, 'Deployment');
      const job = one(objects, 'Job');
      expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
      expect(waitedJob(deployment)).toEqual(job.metadata.name);
      expect(job.spec.activeDeadlineSeconds).toBe(1800);
      expect(deployment.spec.progressDeadlineSeconds).toBe(1800 + 300);
    },
  },

  'argocd': {
    externalSecrets: ['forum-db'],
    facts: (objects) => {
      const wave = (o: Manifest) => o.metadata.annotations?.['argocd.argoproj.io/sync-wave'];
      const waves = Object.fromEntries(objects.map((o) => [o.kind, wave(o)]));
      expect(waves).toEqual({
        ConfigMap: '-2',
        ServiceAccount: '-2',
        Role: '-2',
        RoleBinding: '-2',
        Job: '-1',
        Deployment: '0',
        Service: '0',
      });
      expect(ofKind(objects, 'Secret')).toEqual([]);
      expect(waitedJob(one(objects, 'Deployment'))).toEqual(one(objects, 'Job').metadata.name);
    },
  },

  'flux': {
    externalSecrets: ['invoices-db'],
    facts: (objects) => {
      const pruneDisabled = (o: Manifest) => o.metadata.annotations?.['kustomize.toolkit.fluxcd.io/prune'] === 'disabled';
      // Only the objects of one release (their names carry its hash) are kept from Flux's pruning.
      const kept = objects.filter(pruneDisabled).map((o) => `${o.kind}/${o.metadata.name.replace(/[0-9a-f]{10}$/, '<hash>')}`).sort();
      expect(kept).toEqual(['ConfigMap/invoices-config-<hash>', 'Job/invoices-migrate-<hash>', 'Role/invoices-reader-<hash>', 'RoleBinding/invoices-reader-<hash>']);
      expect(ofKind(objects, 'Secret')).toEqual([]);
      expect(waitedJob(one(objects, 'Deployment'))).toEqual(one(objects, 'Job').metadata.name);
    },
  },

  'helm': {
    facts: (objects, text) => {
      const hook = (weight: string) => ({
        'helm.sh/hook': 'pre-install,pre-upgrade',
        'helm.sh/hook-weight': weight,
        'helm.sh/hook-delete-policy': 'before-hook-creation',
      });
      const annotationsOf = (kind: string) => withoutLintNotes(one(withoutQueue(objects), kind).metadata.annotations);
      expect(annotationsOf('ConfigMap')).toEqual(hook('-10'));
      expect(annotationsOf('Secret')).toEqual(hook('-10'));
      // Helm prints the migration's log when it fails.
      expect(annotationsOf('Job')).toEqual({ ...hook('0'), 'helm.sh/hook-output-log-policy': 'hook-failed' });
      // The queue's RBAC and the Job's ServiceAccount exist before the Job, with what it reads.
      for (const q of objects.filter((o) => !withoutQueue(objects).includes(o))) expect([q.kind, withoutLintNotes(q.metadata.annotations)]).toEqual([q.kind, hook('-10')]);
      for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service']) expect([kind, annotationsOf(kind)]).toEqual([kind, {}]);
      // The Deployment keeps its init container: the order also holds outside of Helm's hooks.
      expect(waitedJob(one(objects, 'Deployment'))).toEqual(one(objects, 'Job').metadata.name);
      // The manifests go into a chart's templates/ as they are: nothing in them may look like a template action.
      expect(text).not.toContain('{{');
    },
  },
};


/** The names of the Secrets a workload's pods refer to, in any way, in order of first reference. */
function secretsOf(workload: Manifest): string[] {
  const names: string[] = [];
  for (const { spec } of podSpecs([workload])) {
    for (const c of [...spec.initContainers ?? [], ...spec.containers ?? []]) {
      for (const f of c.envFrom ?? []) if (f.secretRef) names.push(f.secretRef.name);
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.push(e.valueFrom.secretKeyRef.name);
    }
    for (const v of spec.volumes ?? []) {
      if (v.secret) names.push(v.secret.secretName);
      for (const s of v.projected?.sources ?? []) if (s.secret) names.push(s.secret.name);
    }
  }
  return [...new Set(names)];
}

function envFromOf(workload: Manifest): unknown[] {
  return workload.spec.template.spec.containers.map((c: any) => c.envFrom);
}

/** Paths of the files under `dir`, relative to it, sorted; none if it does not exist. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const walk = (sub: string): string[] => fs.readdirSync(path.join(dir, sub), { withFileTypes: true })
    .flatMap((e) => e.isDirectory() ? walk(path.join(sub, e.name)) : [path.join(sub, e.name)]);
  return walk('').sort();
}

/** Runs examples/<name>/main.ts as `cdk8s synth` would, writing into a fresh temporary directory, which it returns. */
function synthesize(name: string): string {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `cdk8s-example-${name}-`));
  const saved = process.env.CDK8S_OUTDIR;
  process.env.CDK8S_OUTDIR = outdir;
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(path.join(EXAMPLES, name, 'main.ts'));
    });
  } finally {
    if (saved === undefined) delete process.env.CDK8S_OUTDIR;
    else process.env.CDK8S_OUTDIR = saved;
  }
  return outdir;
}

/** What differs between a fresh synth and the committed dist/, one line per file. */
function staleFiles(fresh: string, committed: string): string[] {
  const freshFiles = filesUnder(fresh);
  const committedFiles = filesUnder(committed);
  const problems: string[] = [];
  for (const f of committedFiles.filter((x) => !freshFiles.includes(x))) problems.push(`dist/${f}: committed, but no longer synthesized`);
  for (const f of freshFiles) {
    if (!committedFiles.includes(f)) {
      problems.push(`dist/${f}: synthesized, but not committed`);
      continue;
    }
    const a = fs.readFileSync(path.join(fresh, f));
    const b = fs.readFileSync(path.join(committed, f));
    if (!a.equals(b)) {
      const [freshLines, committedLines] = [a.toString().split('\n'), b.toString().split('\n')];
      const longest = Math.max(freshLines.length, committedLines.length);
      const line = Array.from({ length: longest }, (_, i) => i).find((i) => freshLines[i] !== committedLines[i])!;
      problems.push(`dist/${f}: differs from a fresh synth, first at line ${line + 1}: committed ${JSON.stringify(committedLines[line])}, synthesized ${JSON.stringify(freshLines[line])}`);
    }
  }
  return problems;
}

function parseManifests(dir: string): { objects: Manifest[]; text: string } {
  const text = filesUnder(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf-8')).join('---\n');
  const docs = parseAllDocuments(text);
  for (const d of docs) expect(d.errors).toEqual([]);
  return { objects: docs.map((d) => d.toJSON()).filter((o) => o !== null), text };
}

const names = fs.readdirSync(EXAMPLES)
  .filter((n) => fs.existsSync(path.join(EXAMPLES, n, 'main.ts')))
  .sort();

test('every example is covered, and only examples are', () => {
  expect(names).toEqual(Object.keys(EXPECTATIONS).sort());
});

test('examples synthesize to distinct files and distinct object names', () => {
  const files = names.flatMap((n) => filesUnder(path.join(EXAMPLES, n, 'dist')));
  expect(new Set(files).size).toBe(files.length);
  const objects = names.flatMap((n) => parseManifests(path.join(EXAMPLES, n, 'dist')).objects);
  const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
  expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
});

describe.each(names)('examples/%s', (name) => {
  const dir = path.join(EXAMPLES, name);
  const expectations = EXPECTATIONS[name] ?? { facts: () => undefined };
  let outdir: string;
  let objects: Manifest[];
  let text: string;

  beforeAll(() => {
    outdir = synthesize(name);
    ({ objects, text } = parseManifests(outdir));
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('is a cdk8s app that imports the library by its package name, with a README', () => {
    expect(['main.ts', 'cdk8s.yaml', 'README.md'].filter((f) => !fs.existsSync(path.join(dir, f)))).toEqual([]);
    const main = fs.readFileSync(path.join(dir, 'main.ts'), 'utf-8');
    expect(main).toMatch(/^import .* from 'cdk8s-migrated-app';$/m);
    expect(main).not.toMatch(/from '\.{1,2}\//);
    expect(parse(fs.readFileSync(path.join(dir, 'cdk8s.yaml'), 'utf-8'))).toEqual({ language: 'typescript', app: 'npx ts-node main.ts' });
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf-8').trim()).not.toBe('');
  });

  golden('its committed dist/ is exactly what main.ts synthesizes', () => {
    const problems = staleFiles(outdir, path.join(dir, 'dist'));
    if (problems.length > 0) throw new Error(`examples/${name}/dist/ is stale. ${HOW_TO_FIX}\n  ${problems.join('\n  ')}`);
  });

  test('emits sound manifests: schema-valid, restricted, least-privileged, self-contained', () => {
    expect(objects.length).toBeGreaterThan(0);
    expectSoundManifests(objects, { externalSecrets: expectations.externalSecrets, foreignContainers: expectations.foreignContainers });
  });

  test('shows what its README says', () => expectations.facts(objects, text));
});
