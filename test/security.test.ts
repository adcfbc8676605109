import * as kplus from 'cdk8s-plus-27';
import { newChart, one, synth } from './helpers';
import { Restricted } from '../src';
import { podSpecPath } from '../src/security';

test('the restricted container context, with per-container overrides on top', () => {
  expect(Restricted.containerSecurityContext()).toEqual({
    ensureNonRoot: true, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] },
  });
  expect(Restricted.containerSecurityContext({ readOnlyRootFilesystem: false, user: 1000 }))
    .toMatchObject({ readOnlyRootFilesystem: false, user: 1000, ensureNonRoot: true });
});

test('applySeccompProfile sets the RuntimeDefault seccomp profile on the pod, for every kind of workload', () => {
  const chart = newChart();
  const deployment = new kplus.Deployment(chart, 'd', { containers: [{ image: 'x:1' }] });
  const cron = new kplus.CronJob(chart, 'c', { schedule: { expressionString: '0 * * * *' } as any, containers: [{ image: 'x:1' }] });
  Restricted.applySeccompProfile(deployment);
  Restricted.applySeccompProfile(cron);
  const objects = synth(chart);
  expect(podSpecPath(cron)).toBe('/spec/jobTemplate/spec/template/spec');
  expect(one(objects, 'Deployment').spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  expect(one(objects, 'CronJob').spec.jobTemplate.spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
});
