import { isDeepStrictEqual } from 'util';
import { Chart, Size, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import { newChart } from './helpers';
import { DatabaseMigration, MigratedApplication } from '../src';
import { contentHash, contentName, fitName, hashedName, inOrder, recommendedLabels, stableJson, suffixedName } from '../src/naming';

describe('stableJson', () => {
  test('does not depend on key order, at any depth', () => {
    expect(stableJson({ b: 1, a: { d: [1, 2], c: null } })).toBe(stableJson({ a: { c: null, d: [1, 2] }, b: 1 }));
    expect(stableJson({ a: { d: [1, 2] } })).toBe('{"a":{"d":[1,2]}}');
    // Array-index keys first, in numeric order, as any object lists them; the largest index is 2^32 - 2,
    // and one with a leading zero is no index.
    expect(stableJson({ 'b': 1, '10': 2, '9': 3, 'a': 4, '09': 5, '0': 6, '4294967294': 7 })).toBe('{"0":6,"9":3,"10":2,"4294967294":7,"09":5,"a":4,"b":1}');
    expect(stableJson({ '4294967295': 1, '1x': 2, '7': 3 })).toBe('{"7":3,"1x":2,"4294967295":1}');
    // Digits with a space before or after are no index, though Number() reads them as one.
    expect(stableJson({ ' 1': 1, ' 0': 2 })).toBe('{" 0":2," 1":1}');
    expect(stableJson({ '1 ': 1, '0 ': 2 })).toBe('{"0 ":2,"1 ":1}');
  });

  test('keeps array order and drops undefined members', () => {
    expect(stableJson([2, 1])).toBe('[2,1]');
    expect(stableJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(stableJson([undefined, () => 1])).toBe('[null,null]');
    expect(stableJson({ at: new Date(0), f: () => 1 })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });

  // Every name the library has ever hashed depends on this text: it must stay that of
  // JSON.stringify with sorted keys, as earlier versions wrote it (the oracle below).
  test('writes what JSON.stringify writes with every object\'s keys sorted', () => {
    const sortedKeys = (value: unknown) => JSON.stringify(value, (_key, v) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v);
    let objects = 0;
    let ordered = 0;
    const values = fc.anything({ withNullPrototype: true, withDate: true, withSparseArray: true, withBoxedValues: true, withMap: true });
    fc.assert(fc.property(values, (value) => {
      if (value && typeof value === 'object') objects++;
      expect(stableJson(value)).toBe(sortedKeys(value));
      // The fast path: what inOrder() lets through, JSON.stringify writes as it must be written.
      if (inOrder(value)) {
        if (Array.isArray(value) && value.length > 1) ordered++;
        expect(JSON.stringify(value)).toBe(sortedKeys(value));
      }
    }), { numRuns: 2000 });
    expect(objects).toBeGreaterThan(0);
    expect(ordered).toBeGreaterThan(0);
  });
});

describe('inOrder', () => {
  test('takes plain values whose object keys are sorted, array indexes first', () => {
    expect(inOrder({ a: 1, b: { c: [{ d: null, e: 'x' }] } })).toBe(true);
    expect(inOrder({ 2: 'x', 10: 'y', a: 1, b: 2 })).toBe(true);
    expect(inOrder({ '1': 'x', ' a': 1 })).toBe(true); // ' a' sorts before '1', but index keys come first
    expect(inOrder(Object.assign(Object.create(null), { a: 1, b: 2 }))).toBe(true);
    expect(inOrder([3, 'x', null, undefined])).toBe(true);
    expect(inOrder('b')).toBe(true);
  });

  test('refuses unsorted keys at any depth, toJSON() and objects JSON.stringify writes otherwise', () => {
    expect(inOrder({ b: 1, a: 2 })).toBe(false);
    expect(inOrder({ a: 1, a1: 0, a0: 2 })).toBe(false);
    expect(inOrder({ a: { c: 1, b: 2 } })).toBe(false);
    expect(inOrder([{ a: 1 }, { z: 1, y: 2 }])).toBe(false);
    expect(inOrder({ at: new Date(0) })).toBe(false);
    expect(inOrder([{ toJSON: () => 1 }])).toBe(false);
    expect(inOrder({ s: Object('x') })).toBe(false);
    expect(inOrder(new Map([['a', 1]]))).toBe(false);
    // The keys after the array indexes are compared all the same: `a` after `c`.
    expect(inOrder({ 1: 0, b: 1, c: 2, a: 3 })).toBe(false);
  });

  // What makes the migration Job's hash fast: the library's patches keep cdk8s's sorted keys.
  test('holds for the migration Jobs the library renders, sidecars and a contract step aside', () => {
    const chart = newChart();
    new MigratedApplication(chart, 'shop', { name: 'shop', image: 'ghcr.io/acme/shop:1.0.0', config: { A: '1' }, secretValues: { B: '2' } });
    new DatabaseMigration(chart, 'db', { name: 'db', image: 'ghcr.io/acme/db:1.0.0', command: ['migrate'], resources: { memory: { limit: Size.mebibytes(100) } } });
    const jobs = chart.toJson().filter((o) => o.kind === 'Job');
    expect(jobs).toHaveLength(2);
    for (const job of jobs) expect([job.metadata.name, inOrder(job)]).toEqual([job.metadata.name, true]);
  });
});

describe('contentHash', () => {
  test('is 10 hex digits, the start of the sha256 of the stable JSON', () => {
    // sha256('{"a":1}') computed independently: `printf '{"a":1}' | sha256sum`
    expect(contentHash({ a: 1 })).toBe('015abd7f5c');
  });

  // The oracle is node's own deep equality over the values as JSON reads them back (which
  // turns -0 into 0 and drops undefined members), not stableJson: equal values, whatever
  // their key order, hash the same; different ones differ.
  test('differs for different values and equals for equal ones', () => {
    const asJson = (v: unknown) => JSON.parse(JSON.stringify(v) ?? 'null');
    let equal = 0;
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (a, other, same) => {
      const b = same ? reversedKeys(a) : other;
      const expected = isDeepStrictEqual(asJson(a), asJson(b));
      if (expected) equal++;
      expect(contentHash(a) === contentHash(b)).toBe(expected);
    }));
    expect(equal).toBeGreaterThan(0);
  });
});

/** The same JSON value with the keys of every object in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).reverse().map((k) => [k, reversedKeys((value as any)[k])]));
  return value;
}

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
    expect(fitName('ab--cd', 4)).toBe('ab');
    expect(fitName('ab-', 10)).toBe('ab');
    expect(fitName('a'.repeat(70))).toHaveLength(63);
  });
});

// The hashes are the first 10 hex digits of sha256 over the JSON of [base, content],
// computed independently: `printf '["api",{"A":"1"}]' | sha256sum`.
test('contentName hashes the base with the content, so equal content under two bases differs', () => {
  expect(contentName('api', 'config', { A: '1' })).toBe('api-config-d247c4f44a');
  expect(contentName('api', 'config', { A: '2' })).toBe('api-config-36be527a0c');
  expect(contentName('web', 'config', { A: '1' })).toBe('web-config-8348ccfff9');
  expect(contentName('a'.repeat(63), 'config', { A: '1' })).toMatch(/^a{45}-config-[0-9a-f]{10}$/);
});

test('suffixedName keeps the whole suffix and shortens the base to fit 63 characters', () => {
  expect(suffixedName('wait-for-shop', '-tmp')).toBe('wait-for-shop-tmp');
  expect(suffixedName('x'.repeat(70), '-token')).toBe(`${'x'.repeat(57)}-token`);
  expect(suffixedName(`${'y'.repeat(55)}-----z`, '-token')).toBe(`${'y'.repeat(55)}-token`);
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

describe('claimName', () => {
  const IMAGE = 'ghcr.io/acme/shop:1.0.0';

  test('names the construct that claimed a name first, not its migration, which shares the claim', () => {
    const chart = newChart();
    new MigratedApplication(chart, 'first', { name: 'shop', image: IMAGE });
    expect(() => new DatabaseMigration(chart, 'second', { name: 'shop', image: IMAGE }))
      .toThrow(/name: "shop" is already used by test\/first; give each/);
  });

  test('takes an empty namespace for none, as kubectl does', () => {
    const app = Testing.app();
    new DatabaseMigration(new Chart(app, 'unset'), 'm', { name: 'shop', image: IMAGE });
    expect(() => new DatabaseMigration(new Chart(app, 'empty', { namespace: '' }), 'm', { name: 'shop', image: IMAGE }))
      .toThrow(/name: "shop" is already used by unset\/m; give each/);
  });
});
