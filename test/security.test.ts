import * as kplus from 'cdk8s-plus-27';
import { expectRestricted, newChart, one, synth } from './helpers';
import { Restricted } from '../src';
import { podSpecPath } from '../src/_pod-template';
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
  expect(podSpecPath(cron)).toBe('/spec/jobTemplate/spec/template/spec');
  expect(one(objects, 'CronJob').spec.jobTemplate.spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  expect(one(objects, 'Deployment').spec.template.spec.initContainers[0].securityContext.capabilities).toEqual({ drop: ['ALL'] });
});
