import * as kplus from 'cdk8s-plus-27';
import { newChart, one, synth } from './helpers';
import { envFrom, envValues } from '../src/env';

test('literal env renders sorted by name, whatever the key order', () => {
  expect(Object.keys(envValues({ B: '2', A: '1', _C: '3' }))).toEqual(['A', 'B', '_C']);
  expect(envValues({ A: 'x' }).A.value).toBe('x');
  expect(envValues()).toEqual({});
});

test('envFrom adds ConfigMaps first, then Secrets', () => {
  const chart = newChart();
  const deployment = new kplus.Deployment(chart, 'd', { containers: [{ image: 'x:1' }] });
  envFrom(deployment.containers[0], [kplus.ConfigMap.fromConfigMapName(chart, 'c', 'cm')], [kplus.Secret.fromSecretName(chart, 's', 'sec')]);
  expect(one(synth(chart), 'Deployment').spec.template.spec.containers[0].envFrom).toEqual([
    { configMapRef: { name: 'cm' } }, { secretRef: { name: 'sec' } },
  ]);
});
