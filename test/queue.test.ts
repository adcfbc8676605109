/*
 * The migration queue: one migration of an app at a time, first come, first
 * served. What it renders, and its script run by bash against a stand-in
 * kubectl that answers from a list of Jobs (the e2e suite runs it for real).
 */
import { execFileSync } from 'child_process';
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { expectSoundManifests, Manifest, newChart, ofKind, one, raisedAt, runWithStubKubectl, synth } from './helpers';
import { DatabaseMigration, MigratedApplication } from '../src';
import { addQueueContainer, JOB_ENDED_JSONPATH, QUEUE_CONTAINER } from '../src/queue';

const IMAGE = 'ghcr.io/acme/shop:1.0.0';

function render(props: Partial<ConstructorParameters<typeof MigratedApplication>[2]> = {}) {
  const chart = newChart();
  new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE, ...props });
  const objects = synth(chart);
  const pod = one(objects, 'Job').spec.template.spec;
  return { objects, pod, queue: pod.initContainers[0] };
}

const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('what the queue renders', () => {
  const { objects, pod, queue } = render({ sidecars: [{ name: 'proxy', image: 'proxy:1.0.0' }] });

  test('is the first init container of the Job\'s pod, before its sidecars, in the waiter\'s image, running bash', () => {
    expect(pod.initContainers.map((c: any) => c.name)).toEqual([QUEUE_CONTAINER, 'proxy']);
    expect([queue.image, queue.command]).toEqual([DatabaseMigration.DEFAULT_WAITER_IMAGE, ['/bin/bash', '-c']]);
    expect(queue.args).toHaveLength(1);
  });

  test('lists the Jobs of its own app only, and knows its own Job from the label the Job controller sets', () => {
    expect(envOf(queue)).toMatchObject({
      INSTANCE: 'shop',
      SELECTOR: 'app.kubernetes.io/instance=shop,app.kubernetes.io/component=migration',
      JOB_NAME: { fieldRef: { fieldPath: 'metadata.labels[\'batch.kubernetes.io/job-name\']' } },
      // test/jsonpath (Go, in .ci/run) evaluates it with client-go's jsonpath on Jobs in every state.
      ENDED: '{.status.conditions[ ?(@.type=="Complete"),?(@.type=="Failed")].status}',
      LC_ALL: 'C',
      // What the script reads, in its order; `r=` keeps an unset release label from shifting the conditions.
      LIST: '{range .items[*]}{.metadata.creationTimestamp} {.metadata.name} r={.metadata.labels.cdk8s-migrated-app\\.github\\.io/release} '
        + '{.status.conditions[?(@.status=="True")].type}{"\\n"}{end}',
    });
    expect(one(objects, 'Job').spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'shop', 'app.kubernetes.io/component': 'migration' });
  });

  test('has a Role that lists and watches Jobs, bound to the Job\'s own ServiceAccount, all named after the app, not the release', () => {
    const named = (kind: string) => ofKind(objects, kind).find((o) => o.metadata.name === 'shop-migrate-queue')!;
    expect(named('Role').rules).toEqual([{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'watch'] }]);
    expect(named('RoleBinding').subjects).toEqual([{ apiGroup: '', kind: 'ServiceAccount', name: 'shop-migrate-queue' }]);
    expect(named('ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('shop-migrate-queue');
    expectSoundManifests(objects);
  });

  test('the queue alone gets a token; the migration and the sidecars none', () => {
    const tokenMounts = (c: any) => (c.volumeMounts ?? []).filter((m: any) => m.mountPath.startsWith('/var/run/secrets'));
    expect(tokenMounts(queue)).toEqual([{ name: 'queue-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }]);
    for (const c of [...pod.initContainers.slice(1), ...pod.containers]) expect([c.name, tokenMounts(c)]).toEqual([c.name, []]);
  });

  test('takes the waiter\'s image and pull secrets', () => {
    const chart = newChart();
    const mirror = kplus.Secret.fromSecretName(chart, 'mirror', 'mirror');
    new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE, migration: { waiter: { image: 'mirror.acme.dev/kubectl:v1.36.6', imagePullSecrets: [mirror] } } });
    const spec = one(synth(chart), 'Job').spec.template.spec;
    expect([spec.initContainers[0].image, spec.imagePullSecrets]).toEqual(['mirror.acme.dev/kubectl:v1.36.6', [{ name: 'mirror' }]]);
  });

  test('its names are claimed: an app named like another app\'s queue is refused', () => {
    const chart = newChart();
    new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE });
    expect(() => new MigratedApplication(chart, 'other', { name: 'shop-migrate-queue', image: IMAGE }))
      .toThrow(raisedAt('test/other', /^name: "shop-migrate-queue" is already used by test\/shop/));
  });

  test('and the other way round: a migration whose queue would take another app\'s name is refused, naming its prop', () => {
    const chart = newChart();
    new MigratedApplication(chart, 'other', { name: 'shop-migrate-queue', image: IMAGE });
    expect(() => new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE }))
      .toThrow(raisedAt('test/shop', /^migration\.name: "shop-migrate-queue" is already used by test\/other/));
  });
});

/**
 * Runs the queue's script with a stand-in kubectl: `get` prints the next of
 * `lists` (the last one again once they run out), `wait` records its
 * arguments. Returns the exit code, the output and the recorded waits.
 */
function runQueue(job: string, lists: string[][]) {
  const { queue } = render();
  const r = runWithStubKubectl(queue.args[0], { ...envOf(queue), JOB_NAME: job }, { list: lists.map((l) => l.join('\n')) },
    'case "$1" in get) next list ;; wait) shift; record "$@" ;; esac');
  return { status: r.status, out: r.out, waits: r.recorded };
}

describe('the queue\'s script', () => {
  const T1 = '2026-12-06T10:00:00Z';
  const T2 = '2026-12-06T10:00:10Z';
  const T3 = '2026-12-06T10:00:20Z';
  const wait = (...jobs: string[]) => `${jobs.map((j) => `job/${j}`).join(' ')} --for=jsonpath=${JOB_ENDED_JSONPATH}=True --timeout=30s`;

  test('starts at once when no earlier migration is running', () => {
    const r = runQueue('shop-migrate-b', [[`${T1} shop-migrate-a r= SuccessCriteriaMet Complete`, `${T2} shop-migrate-b r= `]]);
    expect([r.status, r.waits]).toEqual([0, []]);
    expect(r.out).toContain('no earlier migration of shop is running: starting');
  });

  test('waits for an earlier running one, then starts once it has ended', () => {
    const r = runQueue('shop-migrate-b', [
      [`${T1} shop-migrate-a r= `, `${T2} shop-migrate-b r= `],
      [`${T1} shop-migrate-a r= FailureTarget Failed`, `${T2} shop-migrate-b r= `],
    ]);
    expect([r.status, r.waits]).toEqual([0, [wait('shop-migrate-a')]]);
    expect(r.out).toContain('waiting for job/shop-migrate-a to complete or fail');
  });

  test('ignores later Jobs, which wait for it: a queue of three is first come, first served', () => {
    const jobs = [`${T1} shop-migrate-c r= `, `${T2} shop-migrate-a r= `, `${T3} shop-migrate-b r= `];
    expect(runQueue('shop-migrate-c', [jobs]).waits).toEqual([]);
    expect(runQueue('shop-migrate-a', [jobs, [`${T1} shop-migrate-c r= Complete`, ...jobs.slice(1)]]).waits).toEqual([wait('shop-migrate-c')]);
    expect(runQueue('shop-migrate-b', [jobs, [`${T1} shop-migrate-c r= Complete`, `${T2} shop-migrate-a r= Complete`, jobs[2]]]).waits)
      .toEqual([wait('shop-migrate-c', 'shop-migrate-a')]);
  });

  test('breaks a tie of creation times by name, the same way for both Jobs', () => {
    const jobs = [`${T1} shop-migrate-b r= `, `${T1} shop-migrate-a r= `];
    expect(runQueue('shop-migrate-a', [jobs]).waits).toEqual([]);
    expect(runQueue('shop-migrate-b', [jobs, [`${T1} shop-migrate-b r= `, `${T1} shop-migrate-a r= Complete`]]).waits).toEqual([wait('shop-migrate-a')]);
  });

  test('a FailureTarget or SuccessCriteriaMet alone is not the end: its pod may still run', () => {
    const r = runQueue('shop-migrate-b', [
      [`${T1} shop-migrate-a r= FailureTarget`, `${T2} shop-migrate-b r= `],
      [`${T1} shop-migrate-a r= SuccessCriteriaMet`, `${T2} shop-migrate-b r= `],
      [`${T1} shop-migrate-a r= SuccessCriteriaMet Complete`, `${T2} shop-migrate-b r= `],
    ]);
    expect([r.status, r.waits]).toEqual([0, [wait('shop-migrate-a'), wait('shop-migrate-a')]]);
  });

  test('lists again after each wait: an earlier Job deleted, or deleted and created again later, no longer holds it', () => {
    const r = runQueue('shop-migrate-b', [
      [`${T1} shop-migrate-a r= `, `${T2} shop-migrate-b r= `],
      [`${T2} shop-migrate-b r= `, `${T3} shop-migrate-a r= `],
    ]);
    expect([r.status, r.waits]).toEqual([0, [wait('shop-migrate-a')]]);
  });

  test('a migration and the contract step of its release never wait for each other, whichever was created first', () => {
    const jobs = [`${T1} shop-contract-a r=shop-migrate-b `, `${T2} shop-migrate-b r= `];
    expect(runQueue('shop-migrate-b', [jobs])).toMatchObject({ status: 0, waits: [] });
    expect(runQueue('shop-contract-a', [jobs])).toMatchObject({ status: 0, waits: [] });
  });

  test('a contract step waits for an earlier release\'s Jobs, and the next release\'s migration waits for it', () => {
    const jobs = [`${T1} shop-migrate-a r= Complete`, `${T1} shop-contract-a r=shop-migrate-a `, `${T2} shop-migrate-b r= `, `${T3} shop-contract-b r=shop-migrate-b `];
    const a = [`${T1} shop-migrate-a r= Complete`, `${T1} shop-contract-a r=shop-migrate-a Complete`, ...jobs.slice(2)];
    expect(runQueue('shop-migrate-b', [jobs, a]).waits).toEqual([wait('shop-contract-a')]);
    expect(runQueue('shop-contract-b', [jobs, a]).waits).toEqual([wait('shop-contract-a')]);
  });

  test('fails loudly when its own Job is not listed', () => {
    const r = runQueue('shop-migrate-x', [[`${T1} shop-migrate-a r= `]]);
    expect(r.status).toBe(1);
    expect(r.out).toContain('job/shop-migrate-x is not among the migrations of shop: was it deleted?');
  });

  test('the script is plain bash: it parses', () => {
    expect(() => execFileSync('bash', ['-n', '-c', render().queue.args[0]])).not.toThrow();
  });
});

test('gating many workloads adds no second queue', () => {
  const chart = newChart();
  const app = new MigratedApplication(chart, 'shop', { name: 'shop', image: IMAGE });
  app.migration.gate(new kplus.Deployment(chart, 'worker', { metadata: { name: 'worker' }, progressDeadline: Duration.minutes(15), containers: [{ image: 'worker:1' }] }));
  const objects: Manifest[] = synth(chart);
  expect(ofKind(objects, 'Role').map((r) => r.metadata.name).filter((n) => n.endsWith('-queue'))).toEqual(['shop-migrate-queue']);
  expect(one(objects, 'Job').spec.template.spec.initContainers.filter((c: any) => c.name === QUEUE_CONTAINER)).toHaveLength(1);
});

test('the queue is the first init container, or the library stops with a bug of its own', () => {
  const job = new kplus.Job(newChart(), 'job');
  job.addInitContainer({ name: 'first', image: IMAGE });
  expect(() => addQueueContainer(job, 'shop', IMAGE, {})).toThrow(/^the queue must be the first init container of the migration pod$/);
});
