/*
 * Strings that cdk8s writes unquoted and Go reads as numbers: the library's
 * check against the real reader. Random number-like strings go into a config
 * map's values; the library either refuses the value with a PropError that
 * names it, or writes YAML that kubectl (sigs.k8s.io/yaml, as Helm and Argo
 * CD read it too) reads back as the very same string. And every value the
 * library refuses is one that kubectl really misreads. No cluster needed:
 * `kubectl label --local` only reads the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing, Yaml } from 'cdk8s';
import * as fc from 'fast-check';
import { cleanUp, KUBECTL, runWithKubectl, tempDir } from './support';
import { MigratedApplication } from '../../src';

afterAll(() => cleanUp());

/** Number-like strings: signs, digits, base prefixes, dots, exponents and underscores. */
const numberLike = fc.array(fc.constantFrom(...'0123456789._+-eExXoObBaf'.split(''), '0o', '0x', '0b', '1e', '_', '.5'), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join(''));

/** What kubectl reads back for each value, written by cdk8s's own YAML writer into a ConfigMap's data. */
async function kubectlReads(values: string[]): Promise<unknown[]> {
  const data = Object.fromEntries(values.map((v, i) => [`k${i}`, v]));
  const file = path.join(tempDir('yaml'), 'cm.yaml');
  fs.writeFileSync(file, Yaml.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data }));
  const r = await runWithKubectl(KUBECTL, ['label', '--local', '-f', file, 'checked=yes', '-o', 'json']);
  expect(r.code).toBe(0);
  const read = JSON.parse(r.out).data;
  return values.map((_, i) => read[`k${i}`]);
}

/** Where the apps below would write: nothing is synthesized (and Testing.app() without one makes a folder per app). */
const OUTDIR = tempDir('yaml-apps');

function libraryRefuses(value: string): boolean {
  try {
    new MigratedApplication(new Chart(Testing.app({ outdir: OUTDIR }), 'c'), 'app', { name: 'app', image: 'app:1', config: { VALUE: value } });
    return false;
  } catch (e: any) {
    expect(e.message).toMatch(/^\[c\/app\] config\.VALUE: is written unquoted by cdk8s's YAML writer/);
    return true;
  }
}

test('the library refuses exactly the values that kubectl would not read back as the same string', async () => {
  const samples = fc.sample(numberLike, { numRuns: 600, seed: 20261206 });
  const known = ['0o644', '0O17', '-0o7', '+_1', '0_x1', '1e3_0', '0o8', '1e400', '_1', '0b', '1e', '18', 'yes', '0x1F', `0o${'7'.repeat(30)}`,
    '~', 'Off', '.NaN', '-.inf'];
  const values = [...new Set([...known, ...samples])];
  const read = await kubectlReads(values);
  const wrong = values.filter((v, i) => libraryRefuses(v) !== (read[i] !== v));
  expect(wrong).toEqual([]);
  const refused = values.filter((v) => libraryRefuses(v));
  process.stdout.write(`yaml: ${values.length} number-like values, ${refused.length} refused, e.g. ${refused.slice(0, 8).join(' ')}\n`);
  expect(refused).toEqual(expect.arrayContaining(['0o644', '0O17', '-0o7', '+_1', '0_x1', '1e3_0']));
});
