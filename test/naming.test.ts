import * as fc from 'fast-check';
import { contentHash, contentName, fitName, hashedName, recommendedLabels, stableJson } from '../src/naming';

describe('stableJson', () => {
  test('does not depend on key order, at any depth', () => {
    expect(stableJson({ b: 1, a: { d: [1, 2], c: null } })).toBe(stableJson({ a: { c: null, d: [1, 2] }, b: 1 }));
    expect(stableJson({ a: { d: [1, 2] } })).toBe('{"a":{"d":[1,2]}}');
  });

  test('keeps array order and drops undefined members', () => {
    expect(stableJson([2, 1])).not.toBe(stableJson([1, 2]));
    expect(stableJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });
});

describe('contentHash', () => {
  test('is 10 hex digits, the start of the sha256 of the stable JSON', () => {
    // sha256('{"a":1}') computed independently: `printf '{"a":1}' | sha256sum`
    expect(contentHash({ a: 1 })).toBe('015abd7f5c');
  });

  test('differs for different values and equals for equal ones', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
      expect(contentHash(a) === contentHash(b)).toBe(stableJson(a) === stableJson(b));
    }));
  });
});

describe('hashedName', () => {
  test('joins base, kind and hash', () => {
    expect(hashedName('api', 'migrate', '0123456789')).toBe('api-migrate-0123456789');
  });

  test('always fits a DNS label, shortening only the base', () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/), (base) => {
      const name = hashedName(base, 'migrate-secret', '0123456789');
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.endsWith('-migrate-secret-0123456789')).toBe(true);
    }));
  });

  test('never leaves a dash where the base is cut', () => {
    expect(fitName('abc-def', 4)).toBe('abc');
    expect(fitName('a'.repeat(70))).toHaveLength(63);
  });
});

test('contentName hashes the base with the content, so equal content under two bases differs', () => {
  expect(contentName('api', 'config', { A: '1' })).toBe(hashedName('api', 'config', contentHash(['api', { A: '1' }])));
  expect(contentName('api', 'config', { A: '1' })).not.toBe(contentName('web', 'config', { A: '1' }).replace('web', 'api'));
  expect(contentName('api', 'config', { A: '1' })).not.toBe(contentName('api', 'config', { A: '2' }));
});

test('recommended labels share the instance across components', () => {
  expect(recommendedLabels('api', 'migration', 'shop')).toEqual({
    'app.kubernetes.io/name': 'api',
    'app.kubernetes.io/instance': 'api',
    'app.kubernetes.io/component': 'migration',
    'app.kubernetes.io/part-of': 'shop',
    'app.kubernetes.io/managed-by': 'cdk8s',
  });
});
