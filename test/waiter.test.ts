import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { newChart, one, podSpecs, synth } from './helpers';
import { DatabaseMigration } from '../src';
import { DEFAULT_WAITER_IMAGE, WAITER_SCRIPT } from '../src/waiter';

function gatedDeployment(waiter = {}) {
  const chart = newChart();
  const migration = new DatabaseMigration(chart, 'db', { name: 'api', image: 'migrate/migrate:v4.17.0', waiter });
  const deployment = new kplus.Deployment(chart, 'web', {
    metadata: { name: 'web' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'web:1' }],
  });
  migration.gate(deployment);
  const objects = synth(chart);
  const spec = podSpecs([one(objects, 'Deployment')])[0].spec;
  return { migration, objects, spec, waiter: spec.initContainers[0] };
}

describe('the rendered init container', () => {
  const { migration, spec, waiter } = gatedDeployment();

  test('runs the script with bash in the pinned kubectl image', () => {
    expect(waiter.name).toBe('wait-for-api');
    expect(waiter.image).toBe(DEFAULT_WAITER_IMAGE);
    expect(DEFAULT_WAITER_IMAGE).toMatch(/^registry\.k8s\.io\/kubectl:v\d+\.\d+\.\d+$/);
    expect([DatabaseMigration.DEFAULT_WAITER_IMAGE, DatabaseMigration.WAITER_SCRIPT]).toEqual([DEFAULT_WAITER_IMAGE, WAITER_SCRIPT]);
    expect(waiter.command).toEqual(['/bin/bash', '-c', WAITER_SCRIPT]);
    expect(waiter.env).toEqual([
      { name: 'MIGRATION_JOB', value: migration.jobName },
      { name: 'MIGRATION_JOB_WAIT_SECONDS', value: '300' },
      { name: 'HOME', value: '/tmp' },
    ]);
    expect(waiter.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  test('runs as a non-root UID with small resources and a writable /tmp', () => {
    expect(waiter.securityContext).toMatchObject({ runAsUser: 65532, runAsGroup: 65532, runAsNonRoot: true, readOnlyRootFilesystem: true });
    expect(waiter.resources).toEqual({ requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } });
    const tmp = waiter.volumeMounts.find((m: any) => m.mountPath === '/tmp');
    expect(spec.volumes.find((v: any) => v.name === tmp.name)).toEqual({ name: tmp.name, emptyDir: {} });
  });

  test('alone mounts a projected token, CA and namespace at the standard path', () => {
    const mount = waiter.volumeMounts.find((m: any) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount');
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(volume.projected.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.containers[0].volumeMounts ?? []).not.toContainEqual(expect.objectContaining({ name: mount.name }));
  });

  test('takes its image, bound and resources from the options', () => {
    const custom = gatedDeployment({
      image: 'mirror.example.com/kubectl:v1.34.0',
      notFoundTimeout: Duration.seconds(90),
      resources: { cpu: { request: kplus.Cpu.millis(5) } },
    }).waiter;
    expect(custom.image).toBe('mirror.example.com/kubectl:v1.34.0');
    expect(custom.env).toContainEqual({ name: 'MIGRATION_JOB_WAIT_SECONDS', value: '90' });
    expect(custom.resources).toEqual({ requests: { cpu: '5m' } });
  });

  test('rejects a bad image or bound, naming the prop', () => {
    expect(() => gatedDeployment({ image: 'Not An Image' })).toThrow(/^waiter\.image: is not a valid container image reference/);
    expect(() => gatedDeployment({ notFoundTimeout: Duration.seconds(0) })).toThrow(/^waiter\.notFoundTimeout: must be a positive duration/);
  });
});

test('the script passes shellcheck', () => {
  const result = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: WAITER_SCRIPT, encoding: 'utf-8' });
  if (result.error) throw new Error(`shellcheck is required (apt-get install shellcheck): ${result.error.message}`);
  expect(result.stdout).toBe('');
  expect(result.status).toBe(0);
});

/*
 * The script's logic, against a stand-in kubectl that records its arguments
 * and plays back scripted watches (one file per invocation: event lines,
 * `sleep N`, `stderr TEXT`, `exit N`; a watch that does not exit stays open).
 * The real kubectl and API server are exercised by the e2e suite.
 */
describe('the script', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waiter-'));
    writeFileSync(join(dir, 'kubectl'), `#!/usr/bin/env bash
n=$(( $(cat "$FAKE/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE/count"
echo "$*" >> "$FAKE/args"
while IFS= read -r line; do
  case "$line" in
    sleep\\ *) sleep "\${line#sleep }" ;;
    exit\\ *) exit "\${line#exit }" ;;
    stderr\\ *) echo "\${line#stderr }" >&2 ;;
    *) printf '%s\\n' "$line" ;;
  esac
done < <(cat "$FAKE/watch-$n" 2>/dev/null)
exec sleep 20
`, { mode: 0o755 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(watches: string[][], waitSeconds = 5) {
    watches.forEach((lines, i) => writeFileSync(join(dir, `watch-${i + 1}`), lines.map((l) => `${l}\n`).join('')));
    const r = spawnSync('bash', ['-c', WAITER_SCRIPT], {
      env: { PATH: `${dir}:${process.env.PATH}`, FAKE: dir, MIGRATION_JOB: 'api-migrate-0123456789', MIGRATION_JOB_WAIT_SECONDS: String(waitSeconds) },
      encoding: 'utf-8',
      timeout: 20_000,
    });
    const lastLine = (r.stderr.trim().split('\n').pop() ?? '');
    const watchCount = Number(readFileSync(join(dir, 'count'), 'utf-8'));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastLine, watchCount, args: readFileSync(join(dir, 'args'), 'utf-8') };
  }

  test('watches only its Job, by name, with watch events', () => {
    const r = run([['ADDED|True|||']]);
    expect(r.args.trim()).toBe('get jobs --field-selector metadata.name=api-migrate-0123456789 --watch --output-watch-events -o '
      + 'jsonpath={.type}|{.object.status.conditions[?(@.type=="Complete")].status}|{.object.status.conditions[?(@.type=="Failed")].status}'
      + '|{.object.status.conditions[?(@.type=="Failed")].reason}|{.object.status.conditions[?(@.type=="Failed")].message}{"\\n"}');
  });

  test('exits 0 once the Job is complete, not before', () => {
    const r = run([['ADDED||||', 'sleep 0.3', 'MODIFIED||||', 'MODIFIED|True|||']]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Job api-migrate-0123456789 is complete');
  });

  test('exits 1 with the reason, the message and the next step when the Job failed', () => {
    const r = run([['ADDED||||', 'MODIFIED||True|BackoffLimitExceeded|Job has reached the specified backoff limit | twice']]);
    expect(r.status).toBe(1);
    expect(r.lastLine).toBe('wait-for-migration: Job api-migrate-0123456789 failed: BackoffLimitExceeded: '
      + 'Job has reached the specified backoff limit | twice. Next: kubectl logs job/api-migrate-0123456789');
  });

  test('exits 1 when the Job has not appeared within the bound', () => {
    const r = run([[]], 1);
    expect(r.status).toBe(1);
    expect(r.lastLine).toMatch(/^wait-for-migration: Job api-migrate-0123456789 not found after 1s\. Was it applied\?/);
  });

  test('waits for a Job created late, then past the bound while it runs', () => {
    const r = run([['sleep 0.5', 'ADDED||||', 'sleep 1.5', 'MODIFIED|True|||']], 1);
    expect(r.status).toBe(0);
  });

  test('exits 1 when the Job is deleted while it waits', () => {
    const r = run([['ADDED||||', 'DELETED||||']]);
    expect(r.status).toBe(1);
    expect(r.lastLine).toBe('wait-for-migration: Job api-migrate-0123456789 was deleted before it completed');
  });

  test('watches again when the API server ends the watch', () => {
    const r = run([['ADDED||||', 'exit 0'], ['ADDED|True|||']]);
    expect(r.status).toBe(0);
    expect(r.watchCount).toBe(2);
  });

  test('exits 1, showing kubectl\'s error, when the watch fails', () => {
    const r = run([['stderr Error from server (Forbidden): jobs.batch is forbidden', 'exit 1']]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Error from server (Forbidden)');
    expect(r.lastLine).toBe('wait-for-migration: could not watch Job api-migrate-0123456789 (kubectl exited with 1, see above)');
  });

  test('fails when its environment is missing', () => {
    const r = spawnSync('bash', ['-c', WAITER_SCRIPT], { env: { PATH: process.env.PATH }, encoding: 'utf-8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('MIGRATION_JOB must name the migration Job');
  });
});
