import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const SCRIPT = join(__dirname, '..', 'pipeline', 'wait-for-release.sh');

/*
 * The pipeline recipe against a stand-in kubectl: `get -o name` lists the
 * objects, each `wait --for=condition=X` ends after the delay in `wait-X`
 * ("never" blocks), `get -o jsonpath` prints the failure reason, and
 * `rollout status` succeeds. Every call's arguments are recorded.
 * The e2e suite runs the recipe against a real API server.
 */
describe('pipeline/wait-for-release.sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gate-'));
    writeFileSync(join(dir, 'kubectl'), `#!/usr/bin/env bash
echo "$*" >> "$FAKE/calls"
case "$*" in
  *"--output name"*) cat "$FAKE/objects" ;;
  *"--output jsonpath="*) printf 'BackoffLimitExceeded: Job has reached the specified backoff limit' ;;
  wait*condition=Complete*) d=$(cat "$FAKE/wait-Complete"); [[ $d == never ]] && exec sleep 30; sleep "$d" ;;
  wait*condition=Failed*) d=$(cat "$FAKE/wait-Failed"); [[ $d == never ]] && exec sleep 30; sleep "$d" ;;
  rollout*) echo "rolled out" ;;
  logs*) echo "Migration failed: pq: could not create unique index" ;;
esac
`, { mode: 0o755 });
    writeFileSync(join(dir, 'objects'), 'configmap/shop-config-1\njob.batch/shop-migrate-abc\ndeployment.apps/shop\nstatefulset.apps/worker\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[], waits: { Complete: string; Failed: string }) {
    writeFileSync(join(dir, 'wait-Complete'), waits.Complete);
    writeFileSync(join(dir, 'wait-Failed'), waits.Failed);
    const r = spawnSync('bash', [SCRIPT, ...args], {
      env: { PATH: `${dir}:${process.env.PATH}`, FAKE: dir }, encoding: 'utf-8', timeout: 20_000,
    });
    const calls = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf-8').trim().split('\n') : [];
    return { ...r, calls };
  }

  test('waits for the Job, then for each workload\'s rollout', () => {
    const r = run(['-n', 'shop', '-t', '5m', '-f', 'dist/'], { Complete: '0.2', Failed: 'never' });
    expect(r.status).toBe(0);
    expect(r.calls[0]).toBe('get --namespace shop --filename dist/ --output name');
    expect(r.calls).toContain('wait --namespace shop --for=condition=Complete --timeout=5m job.batch/shop-migrate-abc');
    expect(r.calls).toContain('wait --namespace shop --for=condition=Failed --timeout=5m job.batch/shop-migrate-abc');
    expect(r.calls.slice(-2)).toEqual([
      'rollout status --namespace shop --timeout=5m deployment.apps/shop',
      'rollout status --namespace shop --timeout=5m statefulset.apps/worker',
    ]);
    expect(r.stdout).toContain('job.batch/shop-migrate-abc is complete');
  });

  test('fails at once with the Job\'s reason when the migration fails, and checks no rollout', () => {
    const r = run(['-f', 'dist/'], { Complete: 'never', Failed: '0.2' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('job.batch/shop-migrate-abc failed: BackoffLimitExceeded: Job has reached the specified backoff limit. '
      + 'The end of its containers\' logs:\nMigration failed: pq: could not create unique index');
    expect(r.calls).toContain('logs --all-containers --prefix --tail=20 job.batch/shop-migrate-abc');
    expect(r.calls.filter((c) => c.startsWith('rollout'))).toEqual([]);
    expect(run(['-n', 'shop', '-f', 'dist/'], { Complete: 'never', Failed: '0' }).calls).toContain('logs --namespace shop --all-containers --prefix --tail=20 job.batch/shop-migrate-abc');
  });

  test('fails when neither condition arrives in time', () => {
    const fakeTimeout = `#!/usr/bin/env bash
echo "$*" >> "$FAKE/calls"
case "$*" in *"--output name"*) cat "$FAKE/objects" ;; wait*) exit 1 ;; esac
`;
    writeFileSync(join(dir, 'kubectl'), fakeTimeout, { mode: 0o755 });
    const r = run(['-t', '1s', '-f', 'dist/'], { Complete: 'never', Failed: 'never' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('job.batch/shop-migrate-abc: gave up waiting after 1s');
  });

  test('finds the objects by label with -l', () => {
    const r = run(['-l', 'app.kubernetes.io/instance=shop'], { Complete: '0', Failed: 'never' });
    expect(r.status).toBe(0);
    expect(r.calls[0]).toBe('get jobs,deployments,statefulsets,daemonsets --selector app.kubernetes.io/instance=shop --output name');
  });

  test('asks for manifests or a selector', () => {
    const r = run([], { Complete: '0', Failed: '0' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  });
});

/*
 * The prune step (-p), against a stand-in kubectl: the manifests hold
 * `objects`, the cluster's labelled objects are `labelled` (custom-columns
 * rows: kind, name, creation time, True conditions), this release's Job was
 * created at RELEASED, and every call is recorded.
 */
describe('pipeline/wait-for-release.sh -p: prune last', () => {
  const RELEASED = '2026-12-06T10:00:00Z';
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'prune-'));
    writeFileSync(join(dir, 'kubectl'), `#!/usr/bin/env bash
echo "$*" >> "$FAKE/calls"
case "$*" in
  *"--output name"*) printf 'configmap/shop-config-2\\njob.batch/shop-migrate-2\\n' ;;
  wait*condition=Complete*) ;;
  wait*condition=Failed*) exec sleep 30 ;;
  *"jsonpath={.metadata.creationTimestamp}"*) echo ${RELEASED} ;;
  *"--filename"*"custom-columns=KIND:.kind,NAME:.metadata.name"*) printf 'ConfigMap   shop-config-2\\nJob   shop-migrate-2\\nRole   shop-migrate-queue\\n' ;;
  *"--selector"*custom-columns*) cat "$FAKE/labelled" ;;
esac
`, { mode: 0o755 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function prune(labelled: string[]) {
    writeFileSync(join(dir, 'labelled'), labelled.map((l) => `${l}\n`).join(''));
    const r = spawnSync('bash', [SCRIPT, '-f', 'dist/', '-p', 'app.kubernetes.io/instance=shop'], {
      env: { PATH: `${dir}:${process.env.PATH}`, FAKE: dir }, encoding: 'utf-8', timeout: 20_000,
    });
    const calls = readFileSync(join(dir, 'calls'), 'utf-8').trim().split('\n');
    return { ...r, deleted: calls.filter((c) => c.startsWith('delete')).map((c) => c.split(' ').pop()) };
  }

  test('deletes what the manifests no longer hold and is older than this release, once the release is complete', () => {
    const r = prune([
      'ConfigMap   shop-config-1        2026-12-06T09:00:00Z   <none>',
      'ConfigMap   shop-config-2        2026-12-06T09:59:59Z   <none>',
      'Job         shop-migrate-1       2026-12-06T09:00:00Z   SuccessCriteriaMet,Complete',
      'Job         shop-migrate-0       2026-12-06T08:00:00Z   FailureTarget,Failed',
      'Role        shop-reader-1        2026-12-06T09:00:00Z   <none>',
      'Role        shop-migrate-queue   2026-12-06T08:00:00Z   <none>',
    ]);
    expect(r.status).toBe(0);
    expect(r.deleted).toEqual(['ConfigMap/shop-config-1', 'Job/shop-migrate-1', 'Job/shop-migrate-0', 'Role/shop-reader-1']);
  });

  test('keeps a Job whose migration has not ended, even a failing one whose pod still runs', () => {
    const r = prune([
      'Job   shop-migrate-1   2026-12-06T09:00:00Z   <none>',
      'Job   shop-migrate-0   2026-12-06T08:00:00Z   FailureTarget',
    ]);
    expect(r.deleted).toEqual([]);
    expect(r.stdout).toContain('keeping Job/shop-migrate-1: its migration has not ended');
    expect(r.stdout).toContain('keeping Job/shop-migrate-0: its migration has not ended');
  });

  test('keeps what a later release made: another pipeline applied it meanwhile', () => {
    const r = prune([
      'Job         shop-migrate-3   2026-12-06T10:00:05Z   SuccessCriteriaMet,Complete',
      `ConfigMap   shop-config-3    ${RELEASED}   <none>`,
    ]);
    expect(r.deleted).toEqual([]);
    expect(r.stdout).toContain('keeping Job/shop-migrate-3: not older than this release (2026-12-06T10:00:05Z)');
    expect(r.stdout).toContain(`keeping ConfigMap/shop-config-3: not older than this release (${RELEASED})`);
  });

  test('needs the manifests', () => {
    const r = spawnSync('bash', [SCRIPT, '-l', 'app.kubernetes.io/instance=shop', '-p', 'app.kubernetes.io/instance=shop'], { encoding: 'utf-8' });
    expect([r.status, r.stderr.trim()]).toEqual([2, `${SCRIPT}: -p needs -f: it keeps what the manifests hold`]);
  });
});
