import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { raisedAt, Manifest, newChart, one, podSpecs, synth } from './helpers';
import { LinterWaiver, MigratedApplication, MigratedApplicationProps } from '../src';
import { lintChecksOf } from '../src/_pod-template';

const BASE: MigratedApplicationProps = { name: 'shop', image: 'ghcr.io/acme/shop:2.4.1', ports: [{ number: 8080, name: 'http' }] };

function render(props: Partial<MigratedApplicationProps> = {}): Manifest[] {
  const chart = newChart();
  new MigratedApplication(chart, 'shop', { ...BASE, ...props });
  return synth(chart);
}

/** The checks an object skips: kube-score's with their reasons, and Checkov's `id=reason` values. */
function exceptions(o: Manifest) {
  const a: { [key: string]: string } = o.metadata.annotations ?? {};
  const kubeScore = (a['kube-score/ignore'] ?? '').split(',').filter((id) => id !== '');
  const checkov = Object.entries(a).filter(([k]) => k.startsWith('checkov.io/skip')).map(([, v]) => v.split('=')[0]);
  return { kubeScore, checkov, annotations: a };
}

describe('LinterWaiver', () => {
  test('annotates each linter\'s mechanism, with the reason, once per check', () => {
    const chart = newChart();
    const cm = new kplus.ConfigMap(chart, 'cm', { metadata: { name: 'cm' } });
    LinterWaiver.addTo(cm, { kubeScore: 'pod-networkpolicy', checkov: 'CKV2_K8S_6', reason: 'because' });
    LinterWaiver.addTo(cm, { kubeScore: 'deployment-strategy', reason: 'on purpose' });
    LinterWaiver.addTo(cm, { checkov: 'CKV_K8S_21', reason: 'ns' });
    LinterWaiver.addTo(cm, { checkov: 'CKV2_K8S_6', reason: 'a better reason' });
    expect(one(synth(chart), 'ConfigMap').metadata.annotations).toEqual({
      'kube-score/ignore': 'pod-networkpolicy,deployment-strategy',
      'ignore-reason.kube-score/pod-networkpolicy': 'because',
      'ignore-reason.kube-score/deployment-strategy': 'on purpose',
      'checkov.io/skip1': 'CKV2_K8S_6=a better reason',
      'checkov.io/skip2': 'CKV_K8S_21=ns',
    });
  });

  test('objects keep their own checks, order and reasons, whatever other objects waived', () => {
    const chart = newChart();
    const [a, b, c] = ['a', 'b', 'c'].map((id) => new kplus.ConfigMap(chart, id, { metadata: { name: id } }));
    LinterWaiver.addTo(a, { kubeScore: 'pod-networkpolicy', checkov: 'CKV2_K8S_6', reason: 'a1' });
    LinterWaiver.addTo(b, { kubeScore: 'pod-networkpolicy', checkov: 'CKV2_K8S_6', reason: 'b1' });
    LinterWaiver.addTo(a, { checkov: 'CKV_K8S_21', reason: 'a2' });
    LinterWaiver.addTo(c, { checkov: 'CKV_K8S_21', reason: 'a2' });
    LinterWaiver.addTo(c, { kubeScore: 'deployment-strategy', checkov: 'CKV2_K8S_6', reason: 'a1' });
    const annotations = (name: string) => synth(chart).find((o) => o.metadata.name === name)!.metadata.annotations;
    expect(annotations('a')).toEqual({
      'kube-score/ignore': 'pod-networkpolicy',
      'ignore-reason.kube-score/pod-networkpolicy': 'a1',
      'checkov.io/skip1': 'CKV2_K8S_6=a1',
      'checkov.io/skip2': 'CKV_K8S_21=a2',
    });
    expect(annotations('b')).toEqual({
      'kube-score/ignore': 'pod-networkpolicy',
      'ignore-reason.kube-score/pod-networkpolicy': 'b1',
      'checkov.io/skip1': 'CKV2_K8S_6=b1',
    });
    expect(annotations('c')).toEqual({
      'kube-score/ignore': 'deployment-strategy',
      'ignore-reason.kube-score/deployment-strategy': 'a1',
      'checkov.io/skip1': 'CKV_K8S_21=a2',
      'checkov.io/skip2': 'CKV2_K8S_6=a1',
    });
  });

  test('objects that got the same checks in the same order share one record of them', () => {
    // What keeps the library's own waivers from costing memory per object in apps of thousands of objects.
    const chart = newChart();
    const [a, b, c] = ['a', 'b', 'c'].map((id) => new kplus.ConfigMap(chart, id, { metadata: { name: id } }));
    for (const o of [a, b]) {
      LinterWaiver.addTo(o, { kubeScore: 'pod-networkpolicy', reason: 'one' });
      LinterWaiver.addTo(o, { checkov: 'CKV_K8S_21', reason: 'two' });
    }
    LinterWaiver.addTo(c, { checkov: 'CKV_K8S_21', reason: 'two' });
    LinterWaiver.addTo(c, { kubeScore: 'pod-networkpolicy', reason: 'one' });
    expect(lintChecksOf(a.metadata)).toBe(lintChecksOf(b.metadata));
    expect(lintChecksOf(c.metadata)).not.toBe(lintChecksOf(a.metadata));
    expect(lintChecksOf(c.metadata)?.checkov).toEqual(['CKV_K8S_21']);
  });

  test('a Checkov check waived twice keeps its number, and the next one takes the number after it', () => {
    const chart = newChart();
    const cm = new kplus.ConfigMap(chart, 'cm', { metadata: { name: 'cm' } });
    LinterWaiver.addTo(cm, { checkov: 'CKV2_K8S_6', reason: 'first' });
    LinterWaiver.addTo(cm, { checkov: 'CKV2_K8S_6', reason: 'again' });
    LinterWaiver.addTo(cm, { checkov: 'CKV_K8S_21', reason: 'next' });
    expect(one(synth(chart), 'ConfigMap').metadata.annotations).toEqual({ 'checkov.io/skip1': 'CKV2_K8S_6=again', 'checkov.io/skip2': 'CKV_K8S_21=next' });
  });

  test.each([
    [{ reason: 'a=b', checkov: 'CKV_K8S_21' }, /^reason: must be a non-empty text without '='/],
    [{ reason: ' ', checkov: 'CKV_K8S_21' }, /^reason: /],
    [{ reason: 'why' }, /^kubeScore: or checkov must be given/],
    [{ reason: 'why', kubeScore: 'Pod NetworkPolicy' }, /^kubeScore: must be a kube-score check ID/],
    [{ reason: 'why', checkov: 'CKV_AWS_1' }, /^checkov: must be a Checkov Kubernetes check ID/],
    // kube-score/ignore is a comma-separated list: one ID must not smuggle in a second check under this reason.
    [{ reason: 'why', kubeScore: 'pod-probes,pod-networkpolicy' }, /^kubeScore: must be a kube-score check ID .*\(got "pod-probes,pod-networkpolicy"\)$/],
    [{ reason: 'why', checkov: 'XCKV_K8S_15' }, /^checkov: must be a Checkov Kubernetes check ID .*\(got "XCKV_K8S_15"\)$/],
    // Checkov splits `<ID>=<reason>` on '=': an ID with one would misname the check.
    [{ reason: 'why', checkov: 'CKV_K8S_15=yes' }, /^checkov: must be a Checkov Kubernetes check ID .*\(got "CKV_K8S_15=yes"\)$/],
  ])('refuses %j', (exception, error) => {
    const chart = newChart();
    const cm = new kplus.ConfigMap(chart, 'cm');
    expect(() => LinterWaiver.addTo(cm, exception)).toThrow(raisedAt('test/cm', error));
  });
});

describe('the library\'s own exceptions', () => {
  const objects = render({ config: { A: '1' }, secretValues: { B: '2' } });

  test('every object leaves its namespace to the chart or the applier', () => {
    for (const o of objects) expect([o.kind, exceptions(o).checkov]).toEqual([o.kind, expect.arrayContaining(['CKV_K8S_21'])]);
  });

  test('the pods it renders keep the pull policy, tags, env Secrets, UID and NetworkPolicy findings, with reasons', () => {
    for (const kind of ['Job', 'Deployment']) {
      const { kubeScore, checkov, annotations } = exceptions(one(objects, kind));
      expect(kubeScore).toEqual(expect.arrayContaining(['container-image-pull-policy', 'pod-networkpolicy', 'container-security-context-user-group-id']));
      expect(checkov).toEqual(expect.arrayContaining(['CKV_K8S_15', 'CKV_K8S_43', 'CKV_K8S_35', 'CKV2_K8S_6', 'CKV_K8S_40']));
      for (const id of kubeScore) expect(annotations[`ignore-reason.kube-score/${id}`]).toMatch(/\w+/);
    }
    expect(exceptions(one(objects, 'Deployment')).kubeScore).toEqual(expect.arrayContaining(['deployment-has-poddisruptionbudget', 'deployment-has-host-podantiaffinity']));
  });

  test('missing probes and a single replica are annotated only when the props ask for them', () => {
    const without = exceptions(one(render({ replicas: 1 }), 'Deployment'));
    expect(without.kubeScore).toEqual(expect.arrayContaining(['pod-probes', 'deployment-replicas']));
    expect(without.checkov).toEqual(expect.arrayContaining(['CKV_K8S_8', 'CKV_K8S_9']));
    const probe = kplus.Probe.fromTcpSocket({ port: 8080 });
    const withProbes = exceptions(one(render({ readiness: probe, liveness: probe }), 'Deployment'));
    expect(withProbes.kubeScore).not.toEqual(expect.arrayContaining(['pod-probes']));
    expect(withProbes.kubeScore).not.toEqual(expect.arrayContaining(['deployment-replicas']));
    expect(withProbes.checkov).not.toEqual(expect.arrayContaining(['CKV_K8S_8']));
    expect(withProbes.checkov).not.toEqual(expect.arrayContaining(['CKV_K8S_9']));
  });
});

describe('resources', () => {
  const containers = (objects: Manifest[]) => podSpecs(objects).flatMap(({ spec }) => [...spec.initContainers ?? [], ...spec.containers]);

  test('every container gets requests and limits of CPU, memory and ephemeral storage', () => {
    const all = containers(render());
    expect(all).toHaveLength(5); // the app, the migration, its queue and the two waiters
    for (const c of all) {
      // In this order, not only these keys: cdk8s writes keys sorted, and the patched-in storage keeps to it.
      for (const kind of ['requests', 'limits']) expect([c.name, Object.keys(c.resources[kind])]).toEqual([c.name, ['cpu', 'ephemeral-storage', 'memory']]);
    }
    const app = one(render(), 'Deployment').spec.template.spec.containers[0];
    expect(app.resources).toEqual({
      requests: { 'cpu': '1000m', 'memory': '512Mi', 'ephemeral-storage': '64Mi' },
      limits: { 'cpu': '1500m', 'memory': '2048Mi', 'ephemeral-storage': '1024Mi' },
    });
  });

  test('what is given replaces the default of that resource only', () => {
    const objects = render({
      resources: { memory: { request: Size.mebibytes(100), limit: Size.mebibytes(200) } },
      migration: { resources: { ephemeralStorage: { request: Size.gibibytes(1), limit: Size.gibibytes(2) } } },
    });
    expect(one(objects, 'Deployment').spec.template.spec.containers[0].resources).toEqual({
      requests: { 'cpu': '1000m', 'memory': '100Mi', 'ephemeral-storage': '64Mi' },
      limits: { 'cpu': '1500m', 'memory': '200Mi', 'ephemeral-storage': '1024Mi' },
    });
    expect(one(objects, 'Job').spec.template.spec.containers[0].resources).toEqual({
      requests: { 'cpu': '1000m', 'memory': '512Mi', 'ephemeral-storage': '1Gi' },
      limits: { 'cpu': '1500m', 'memory': '2048Mi', 'ephemeral-storage': '2Gi' },
    });
  });

  test('a memory limit without a request: the requests hold CPU and storage only, the limits all three, in order', () => {
    const { resources } = one(render({ resources: { memory: { limit: Size.mebibytes(200) } } }), 'Deployment').spec.template.spec.containers[0];
    expect(Object.entries(resources.requests)).toEqual([['cpu', '1000m'], ['ephemeral-storage', '64Mi']]);
    expect(Object.entries(resources.limits)).toEqual([['cpu', '1500m'], ['ephemeral-storage', '1024Mi'], ['memory', '200Mi']]);
  });
});
