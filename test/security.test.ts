import * as kplus from 'cdk8s-plus-27';
import { expectLeastPrivilege, expectOnlyWaiterHasToken, expectReferencesResolve, expectRestricted, Manifest, newChart, one, synth } from './helpers';
import { MigratedApplication, Restricted } from '../src';
import { restrictedContainer } from '../src/security';

test('the restricted container context, with per-container overrides on top', () => {
  expect(restrictedContainer()).toEqual({
    ensureNonRoot: true, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
  });
  expect(restrictedContainer({ readOnlyRootFilesystem: false, user: 1000 }))
    .toMatchObject({ readOnlyRootFilesystem: false, user: 1000, ensureNonRoot: true });
});

test('Restricted.applyTo completes "restricted" for a user\'s workload, whatever its kind', () => {
  const chart = newChart();
  const deployment = new kplus.Deployment(chart, 'd', { containers: [{ image: 'x:1' }, { name: 'sidecar', image: 'y:1' }] });
  deployment.addInitContainer({ name: 'setup', image: 'z:1' });
  const cron = new kplus.CronJob(chart, 'c', { schedule: { expressionString: '0 * * * *' } as any, containers: [{ image: 'x:1' }] });
  const before = synth(chart);
  expect(() => expectRestricted(before)).toThrow();
  Restricted.applyTo(deployment);
  Restricted.applyTo(cron);
  const objects = synth(chart);
  expectRestricted(objects);
  expect(one(objects, 'CronJob').spec.jobTemplate.spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  expect(one(objects, 'Deployment').spec.template.spec.initContainers[0].securityContext.capabilities).toEqual({ drop: ['ALL'] });
  // The pod's seccomp profile covers its containers: none gets one of its own.
  expect(one(objects, 'Deployment').spec.template.spec.containers.map((c: any) => c.securityContext.seccompProfile)).toEqual([undefined, undefined]);
});

describe('the soundness checks have something to check', () => {
  const chart = newChart();
  new MigratedApplication(chart, 'shop', { name: 'shop', image: 'shop:1' });
  const objects = synth(chart);
  const without = (kind: string) => objects.filter((o) => o.kind !== kind);

  test('they pass on a whole release', () => {
    expectRestricted(objects);
    expectLeastPrivilege(objects);
    expectOnlyWaiterHasToken(objects);
  });

  test('but not on a set without pod templates, or a gated workload without its Role', () => {
    const noPods = objects.filter((o) => !['Job', 'Deployment'].includes(o.kind));
    expect(() => expectRestricted(noPods)).toThrow(/podTemplates/);
    expect(() => expectOnlyWaiterHasToken(noPods)).toThrow(/podTemplates/);
    expect(() => expectLeastPrivilege(without('Role'))).toThrow(/readable/);
  });

  test('a Role without a waiter is extra RBAC', () => {
    const ungated = objects.filter((o) => o.kind !== 'Deployment');
    expect(() => expectLeastPrivilege(ungated)).toThrow();
  });

  test('a Service that selects every pod is refused', () => {
    const service = objects.find((o) => o.kind === 'Service');
    expect(service).toBeUndefined(); // no ports: no Service; make one that selects nothing in particular
    const open: Manifest = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'open' }, spec: { selector: {}, ports: [{ port: 80 }] } };
    expect(() => expectReferencesResolve([...objects, open])).toThrow(/hasSelector/);
  });
});
