import { readFileSync } from 'fs';
import { join } from 'path';
import { Duration, Yaml } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { newChart, raisedAt, synth } from './helpers';
import { Errors, MigratedApplication, MigratedApplicationProps } from '../src';
import {
  checkCommand, checkDataSize, checkDuration, checkEnvNames, checkExclusive, checkImage, checkInteger, checkFilePath, checkLabelKey, checkLabels,
  checkLabelValue, checkMountPath, checkName, checkPinnedImage, checkPort, checkPorts, checkSubdomain, goYamlReadsNonString, MAX_DATA_BYTES,
  PropError,
} from '../src/validation';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('checkPinnedImage', () => {
  test.each([
    'app:1.2.3',
    'ghcr.io/acme/api:2024-05-01',
    'localhost:5000/team/app:v1',
    'registry.k8s.io/kubectl:v1.34.0',
    `app@${DIGEST}`,
    `ghcr.io/acme/api:1.0@${DIGEST}`,
  ])('accepts %s', (image) => {
    expect(checkPinnedImage('image', image)).toBe(image);
  });

  test.each([
    ['app', /image: must be pinned with a tag or a digest .*got "app"/],
    ['ghcr.io/acme/api', /must be pinned/],
    ['localhost:5000/team/app', /must be pinned/],
    ['app:latest', /image: must not use the moving tag `latest`/],
    ['App:1', /image: is not a valid container image reference/],
    ['app :1', /not a valid container image reference/],
    ['app:1:2', /not a valid container image reference/],
    ['app@sha256:abc', /image: has an invalid digest/],
    ['', /image: must be a container image reference/],
  ])('rejects %j', (image, message) => {
    expect(() => checkPinnedImage('image', image)).toThrow(message);
  });

  test('a plain image check accepts a moving tag', () => {
    expect(checkImage('waiter.image', 'mirror.local/kubectl')).toBe('mirror.local/kubectl');
  });
});

test.each(['api', 'a', 'a-1', 'x'.repeat(63)])('checkName accepts %s', (name) => expect(checkName('name', name)).toBe(name));
test.each(['Api', '-a', 'a-', 'a_b', '', 'x'.repeat(64), 'a.b', '1api'])('checkName rejects %j', (name) => {
  expect(() => checkName('name', name)).toThrow(/^name: must be a DNS label.*\(got /);
});

test('checkEnvNames names the key that is wrong', () => {
  expect(() => checkEnvNames('env', { GOOD_1: 'x', _ok: 'y' })).not.toThrow();
  expect(() => checkEnvNames('env', { '1BAD': 'x' })).toThrow(/^env\.1BAD: is not a valid environment variable name/);
  expect(() => checkEnvNames('config', { 'DB-HOST': 'x' })).toThrow(/^config\.DB-HOST:/);
  expect(() => checkEnvNames('env', { A: 1 as any })).toThrow(/^env\.A: must be a string \(got 1\)/);
});

test('checkInteger, checkPort and checkDuration reject out-of-range values', () => {
  expect(checkInteger('replicas', 1, 1)).toBe(1);
  expect(() => checkInteger('replicas', 0, 1)).toThrow(/^replicas: must be a whole number of at least 1 \(got 0\)/);
  expect(() => checkInteger('backoffLimit', -1, 0)).toThrow(/^backoffLimit:/);
  expect(() => checkInteger('backoffLimit', 1.5, 0)).toThrow(/^backoffLimit:/);
  expect(checkPort('ports[0].number', 65535)).toBe(65535);
  expect(() => checkPort('ports[0].number', 0)).toThrow(/^ports\[0\]\.number: must be a port number from 1 to 65535 \(got 0\)/);
  expect(() => checkPort('ports[0].number', 65536)).toThrow(/^ports\[0\]\.number:/);
  expect(checkDuration('activeDeadline', Duration.minutes(2))).toBe(120);
  expect(() => checkDuration('activeDeadline', Duration.seconds(0))).toThrow(/^activeDeadline: must be a positive duration of whole seconds \(got "0s"\)/);
  expect(() => checkDuration('activeDeadline', Duration.millis(1500))).toThrow(/^activeDeadline:/);
});

test('checkCommand rejects empty commands and empty words', () => {
  expect(() => checkCommand('command', undefined)).not.toThrow();
  expect(() => checkCommand('command', ['migrate'])).not.toThrow();
  expect(() => checkCommand('command', [])).toThrow(/^command: must be a non-empty list/);
  expect(() => checkCommand('migration.command', ['x', ''])).toThrow(/^migration\.command:/);
});

test('checkDataSize allows exactly 1 MiB and no more', () => {
  expect(() => checkDataSize('config', { K: 'x'.repeat(MAX_DATA_BYTES - 1) })).not.toThrow();
  expect(() => checkDataSize('config', { K: 'x'.repeat(MAX_DATA_BYTES) }))
    .toThrow(/^config: holds 1048577 bytes; a ConfigMap or Secret holds at most 1048576 bytes \(1 MiB\) \(got "1048577 bytes"\)$/);
});

test('checkExclusive names both props', () => {
  expect(() => checkExclusive('secretValues', undefined, 'existingSecret', {})).not.toThrow();
  expect(() => checkExclusive('secretValues', {}, 'existingSecret', {})).toThrow(/^secretValues: cannot be given together with existingSecret/);
});

test.each(['/app/dbconfig.yml', '/config.yaml', '/tmpfiles/x.toml'])('checkFilePath accepts %s', (p) => expect(checkFilePath('configFile.path', p, ['/tmp'])).toBe(p));
test.each(['dbconfig.yml', '/app/', '/a/../b', '/a//b', ''])('checkFilePath rejects %j', (p) => {
  expect(() => checkFilePath('configFile.path', p, ['/tmp'])).toThrow(/^configFile\.path: must be an absolute path/);
});
test('checkFilePath takes a file name of up to 253 characters, a ConfigMap key\'s most', () => {
  expect(checkFilePath('configFile.path', `/app/${'f'.repeat(253)}`, ['/tmp'])).toBe(`/app/${'f'.repeat(253)}`);
  expect(() => checkFilePath('configFile.path', `/app/${'f'.repeat(254)}`, ['/tmp'])).toThrow(/^configFile\.path: must end in a file name/);
});
test.each(['/app/db config.yml', '/app/.'])('checkFilePath rejects %j, whose base name is no ConfigMap key', (p) => {
  expect(() => checkFilePath('configFile.path', p, ['/tmp'])).toThrow(/^configFile\.path: must end in a file name/);
});
test('checkFilePath rejects a path with a colon, which no mount path may have', () => {
  expect(() => checkFilePath('configFile.path', '/app/db:1.yml', ['/tmp'])).toThrow(/^configFile\.path: must not contain ':'/);
});
test.each(['/tmp', '/tmp/dbconfig.yml'])('checkFilePath rejects %j, inside a folder the library mounts', (p) => {
  expect(() => checkFilePath('configFile.path', p, ['/tmp'])).toThrow(/^configFile\.path: must not be in \/tmp, where the library mounts a volume of its own/);
});

test.each(['shop', 'Shop_1.x', 'a', ''])('checkLabelValue accepts %j', (v) => expect(checkLabelValue('partOf', v)).toBe(v));
test.each(['-shop', 'shop.', 'my shop', 'x'.repeat(64), 'a/b'])('checkLabelValue rejects %j', (v) => {
  expect(() => checkLabelValue('partOf', v)).toThrow(/^partOf: must be a label value/);
});

test('checkPorts wants unique numbers and, for several ports, unique IANA names', () => {
  expect(() => checkPorts('ports', [{ number: 80 }])).not.toThrow();
  expect(() => checkPorts('ports', [{ number: 80, name: 'http' }, { number: 9090, name: 'metrics-2' }])).not.toThrow();
  expect(() => checkPorts('ports', [{ number: 80 }, { number: 81, name: 'b' }])).toThrow(/^ports\[0\]\.name: is required/);
  expect(() => checkPorts('ports', [{ number: 80, name: 'a' }, { number: 81, name: 'a' }])).toThrow(/^ports\[1\]\.name: is used by an earlier port/);
  expect(() => checkPorts('ports', [{ number: 80, name: '8080' }])).toThrow(/^ports\[0\]\.name: must be an IANA service name/);
  expect(() => checkPorts('ports', [{ number: 80, name: 'a-very-long-port-name' }])).toThrow(/^ports\[0\]\.name:/);
});

describe('strings that cdk8s writes unquoted and Go YAML readers take for numbers', () => {
  // Each checked by hand against go.yaml.in/yaml v2.4.4 resolve.go and Go's strconv; the e2e suite checks many more against kubectl itself.
  test.each(['0o644', '0O17', '-0o7', '+_1', '0_x1', '1e3_0'])('%s is refused, naming the prop', (value) => {
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', config: { MODE: value } }))
      .toThrow(new RegExp(`^\\[test/app\\] config\\.MODE: is written unquoted by cdk8s's YAML writer .* \\(got "${value.replace(/[+]/g, '\\+')}"\\)$`));
  });

  test('the refusal says why, whole', () => {
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', config: { MODE: '0o644' } })).toThrow(
      '[test/app] config.MODE: is written unquoted by cdk8s\'s YAML writer (YAML 1.1) and read back as a number, boolean or null by the YAML '
      + 'readers of kubectl, Helm, Argo CD and Flux (Go), so the API server would not get this string; change the value (got "0o644")');
  });

  test.each([
    ['0o8', 'not octal: Go reads a string'],
    ['1e400', 'overflows: strconv.ParseFloat fails, Go reads a string'],
    [`0o${'7'.repeat(30)}`, 'overflows 64 bits: Go reads a string'],
    ['_1', 'a string to Go'],
    ['18', 'quoted by cdk8s, a YAML 1.1 integer'],
    ['0x1F', 'quoted by cdk8s'],
    ['yes', 'quoted by cdk8s, a YAML 1.1 boolean'],
  ])('%s is accepted: %s', (value) => {
    const chart = newChart();
    new MigratedApplication(chart, 'app', { name: 'app', image: 'app:1', config: { MODE: value } });
    expect(synth(chart).find((o) => o.kind === 'ConfigMap')!.data.MODE).toBe(value);
  });

  // What go.yaml.in/yaml v2.4.4 and v3.0.4 make of each value written unquoted: the edge cases of every rule, the words
  // and a sample of number-like strings, recorded by the readers themselves and checked against them in .ci/run
  // (test/yaml-scalars/, Go).
  const scalars: Array<{ value: string; v2: string; v3: string }> = JSON.parse(readFileSync(join(__dirname, 'yaml-scalars', 'scalars.json'), 'utf-8'));
  const V3_NON_STRINGS = ['!!int', '!!float', '!!bool', '!!null'];

  test('the model agrees with both Go readers on every recorded value', () => {
    const parsed = scalars.filter((s) => s.v2 !== 'error' && s.v3 !== 'error');
    const readsNonString = (s: typeof scalars[number]) => s.v2 !== 'string' || V3_NON_STRINGS.includes(s.v3);
    expect(parsed.filter((s) => goYamlReadsNonString(s.value) !== readsNonString(s))).toEqual([]);
    // Enough of each kind that a model wrong either way fails.
    expect(parsed.length).toBeGreaterThan(500);
    expect(new Set(parsed.map((s) => s.v2))).toEqual(new Set(['string', 'int', 'uint64', 'float64', 'bool', '<nil>']));
    expect(parsed.filter(readsNonString).length).toBeGreaterThan(150);
  });

  test('what v3 alone reads as something else, a timestamp or a merge key, cdk8s quotes or the library refuses', () => {
    const v3Only = scalars.filter((s) => s.v2 === 'string' && s.v3 !== '!!str').map((s) => [s.value, s.v3]);
    expect(v3Only).toEqual([['2001-12-14', '!!timestamp'], ['<<', '!!merge']]);
    expect(Yaml.stringify(['2001-12-14'])).toBe('- "2001-12-14"\n');
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', config: { MODE: '<<' } })).toThrow(/merge key/);
  });

  // The words of go.yaml.in/yaml v2.4.4's resolve table (resolve.go, `init`), read by hand; v3.0.4's are a subset.
  test.each(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE',
    'off', 'Off', 'OFF', '', '~', 'null', 'Null', 'NULL', '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF',
    '-.inf', '-.Inf', '-.INF'])('%j is a word that Go reads as a boolean, null or float', (word) => {
    expect(goYamlReadsNonString(word)).toBe(true);
  });

  test('"<<" is a string to Go, but refused for the YAML 1.1 readers that take it for a merge key', () => {
    // resolve() looks a word up only when the hint table marks its first character, which it does not for '<'.
    expect(goYamlReadsNonString('<<')).toBe(false);
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', config: { MODE: '<<' } }))
      .toThrow(raisedAt('test/app', /^config\.MODE: is YAML's merge key, which cdk8s's YAML writer leaves unquoted: .*PyYAML.* \(got "<<"\)$/));
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', config: { MODE: '<<<' } })).not.toThrow();
  });

  test.each<[string, Partial<MigratedApplicationProps>, RegExp]>([
    ['args', { args: ['--mode', '0o644'] }, /^args\[1\]: is written unquoted/],
    ['command', { command: ['run', '+_1'] }, /^command\[1\]: is written unquoted/],
    ['env', { env: { MODE: '0o644' } }, /^env\.MODE: is written unquoted/],
    ['secretValues', { secretValues: { MODE: '0o644' } }, /^secretValues\.MODE: is written unquoted/],
    ['partOf', { partOf: '0o644' }, /^partOf: is written unquoted/],
    ['podLabels', { podLabels: { mode: '0o644' } }, /^podLabels\.mode: is written unquoted/],
    ['podAnnotations', { podAnnotations: { mode: '0o644' } }, /^podAnnotations\.mode: is written unquoted/],
    ['migration.args', { migration: { args: ['0o644'] } }, /^migration\.args\[0\]: is written unquoted/],
    ['migration.nodeSelector', { migration: { nodeSelector: { pool: '0o644' } } }, /^migration\.nodeSelector\.pool: is written unquoted/],
    ['migration.configFile.content', { migration: { configFile: { path: '/etc/mode', content: '0o644' } } }, /^migration\.configFile\.content: is written unquoted/],
    // Names that are DNS subdomains may be all digits and letters of a Go number.
    ['migration.serviceAccount', { migration: { serviceAccount: kplus.ServiceAccount.fromServiceAccountName(newChart(), 'sa', '0o644') } },
      /^migration\.serviceAccount: is written unquoted/],
    ['imagePullSecrets', { imagePullSecrets: [kplus.Secret.fromSecretName(newChart(), 's', '0o17')] }, /^imagePullSecrets\[0\]: is written unquoted/],
  ])('%s', (_prop, props, message) => {
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', ...props })).toThrow(raisedAt('test/app', message));
  });
});

describe('image references, at their edges', () => {
  test.each([
    'a__b:1', 'a---b:1', 'a.b_c:1', 'host.io:5000/a/b:1', 'localhost/app:1', 'my-host:80/app:1', `app:${'t'.repeat(128)}`, 'app:_1', 'app:V1.0-rc.1',
    'a/b/c/d:1', 'UPPER.example.com/app:1',
    // A one-character host with a port, a host ending in upper case, and dashes repeated after the first component (as docker's grammar allows).
    'h:5000/app:1', 'Registry.Example.COM/app:1', 'acme/a--b:1', 'ghcr.io/acme/a--b_c.d:1',
  ])('accepts %s', (image) => expect(checkImage('image', image)).toBe(image));

  test.each([
    'a._b:1', 'a__-b:1', '_a:1', 'a_:1', 'a/B:1', 'app:-1', 'app:.1', `app:${'t'.repeat(129)}`, 'app:', 'ho_st.io/app:1', '-host.io/app:1',
    'host.io:x/app:1', 'a//b:1', 'a/:1', `app@sha256:${'A'.repeat(64)}`, `app@sha256:${'a'.repeat(63)}`, `app@sha256:${'a'.repeat(65)}`,
    `app@sha512:${'a'.repeat(64)}`, `app@x@sha256:${'a'.repeat(64)}`, ' app:1', 'app:1 ',
    // Without a tag, the last character counts too.
    'app_', 'app-', 'app.', 'a/',
    // Only a registry host may be in upper case; a path component after the first may hold no other separator.
    'Acme/app:1', 'acme/aPp:1', 'acme/my app:1', 'host.io/a:x/b:1',
    // A port belongs to the registry host only, never to a path component.
    'host.io/a:50/b:1', 'acme/a:50/b:1',
  ])('rejects %j', (image) => expect(() => checkImage('image', image)).toThrow(/^image: (is not a valid container image reference|has an invalid digest)/));

  test.each([
    `app@xsha256:${'a'.repeat(64)}`, `app@sha256:${'a'.repeat(64)}@sha256:${'b'.repeat(64)}`,
  ])('rejects the digest of %j', (image) => {
    expect(() => checkImage('image', image)).toThrow(/^image: has an invalid digest: expected `@sha256:` and 64 hex digits/);
  });

  test('a non-string is no image', () => {
    expect(() => checkImage('image', undefined as any)).toThrow(/^image: must be a container image reference \(got undefined\)/);
    expect(() => checkImage('image', 1 as any)).toThrow(/^image: must be a container image reference \(got 1\)/);
  });

  test('a digest pins, a tag of a registry port does not', () => {
    expect(checkPinnedImage('image', `localhost:5000/app@${DIGEST}`)).toBe(`localhost:5000/app@${DIGEST}`);
    expect(() => checkPinnedImage('image', 'localhost:5000/app')).toThrow(/^image: must be pinned/);
    expect(checkPinnedImage('image', 'app:latest-1')).toBe('app:latest-1');
    expect(() => checkPinnedImage('image', 'ghcr.io/acme/app:latest')).toThrow(/^image: must not use the moving tag `latest`.*\(got "ghcr\.io\/acme\/app:latest"\)/);
  });
});

describe('subdomains, label keys and mount paths, at their edges', () => {
  const label63 = 'a'.repeat(63);
  // '0', '123' and '1e3' are quoted by cdk8s, 'no' too: Go's YAML readers get them as strings.
  test.each(['a', 'a.b', 'a-b.c-d', '0', '123', '1e3', 'no', `${label63}.${label63}.${label63}.${'a'.repeat(61)}`])('checkSubdomain accepts %s', (v) => {
    expect(checkSubdomain('s', v)).toBe(v);
  });
  test.each(['', 'A', 'a_b', '.a', 'a.', 'a..b', '-a', 'a-', 'a.-b', `${label63}.${label63}.${label63}.${'a'.repeat(62)}`, 'a b'])('checkSubdomain rejects %j', (v) => {
    expect(() => checkSubdomain('s', v)).toThrow(/^s: must be a DNS subdomain.*\(got /);
  });

  test.each(['a', 'A_b.c-D', 'example.com/a', 'a.b/c', `${'a'.repeat(253)}/${label63}`, label63])('checkLabelKey accepts %s', (k) => {
    expect(checkLabelKey('k', k)).toBe(k);
  });
  test.each(['', '/a', 'a/', 'A.com/a', 'a/b/c', `${'a'.repeat(254)}/a`, `${label63}a`, '-a', 'a-', 'a b', '_a'])('checkLabelKey rejects %j', (k) => {
    expect(() => checkLabelKey('k', k)).toThrow(/^k: is not a valid label or annotation key/);
  });

  test('checkLabels checks keys and values, naming the key', () => {
    expect(() => checkLabels('podLabels', undefined)).not.toThrow();
    expect(() => checkLabels('podLabels', { 'team': 'a', 'example.com/x': '' })).not.toThrow();
    expect(() => checkLabels('podLabels', { 'a b': 'x' })).toThrow(/^podLabels\.a b: is not a valid label or annotation key/);
    expect(() => checkLabels('podLabels', { team: '-x' })).toThrow(/^podLabels\.team: must be a label value/);
  });

  test('checkMountPath keeps to absolute paths outside the library\'s own', () => {
    expect(checkMountPath('p', '/data', ['/tmp', '/var/run/x'])).toBe('/data');
    expect(checkMountPath('p', '/var/run', ['/var/run/x'])).toBe('/var/run');
    expect(checkMountPath('p', '/a..b/c', [])).toBe('/a..b/c');
    for (const bad of ['data', '/data/', '/a//b', '/a/../b', '/..', 7 as any]) {
      expect(() => checkMountPath('p', bad, [])).toThrow(/^p: must be an absolute path/);
    }
    expect(() => checkMountPath('p', '/var/run/x/y', ['/tmp', '/var/run/x'])).toThrow(/^p: must not be in \/var\/run\/x, where/);
    expect(() => checkMountPath('p', '/a:b', [])).toThrow(/^p: must not contain ':'/);
  });
});

test('checkPorts: names of at most 15 characters, single dashes, at least one letter; numbers unique', () => {
  expect(() => checkPorts('ports', [{ number: 80, name: 'a'.repeat(15) }])).not.toThrow();
  expect(() => checkPorts('ports', [{ number: 80, name: 'a'.repeat(16) }])).toThrow(/^ports\[0\]\.name: must be an IANA service name.*\(got "a{16}"\)/);
  expect(() => checkPorts('ports', [{ number: 80, name: 'a--b' }])).toThrow(/^ports\[0\]\.name: must be an IANA service name/);
  expect(() => checkPorts('ports', [{ number: 80, name: '1-2' }])).toThrow(/^ports\[0\]\.name: must be an IANA service name/);
  // Starting and ending with a letter or digit, whatever follows or precedes a valid part.
  for (const name of ['-http', 'http-', 'Http', 'httP']) {
    expect(() => checkPorts('ports', [{ number: 80, name }])).toThrow(new RegExp(`^ports\\[0\\]\\.name: must be an IANA service name.*\\(got "${name}"\\)$`));
  }
  expect(() => checkPorts('ports', [{ number: 80, name: 'a' }, { number: 80, name: 'b' }])).toThrow(/^ports\[1\]\.number: is used by an earlier port \(got 80\)/);
  expect(() => checkPorts('ports', [{ number: 80, name: 'a' }, { number: 81 }])).toThrow(/^ports\[1\]\.name: is required when there are several ports/);
  expect(() => checkPorts('ports', [{ number: 1.5 }])).toThrow(/^ports\[0\]\.number: must be a port number/);
  expect(() => checkPorts('ports', [])).not.toThrow();
});

test('checkCommand and checkEnvNames refuse what is not a list of words or a string', () => {
  expect(() => checkCommand('command', 'migrate' as any)).toThrow(/^command: must be a non-empty list of non-empty strings.*\(got "migrate"\)/);
  expect(() => checkCommand('command', ['migrate', 1 as any])).toThrow(/^command:/);
  expect(() => checkEnvNames('env', undefined)).not.toThrow();
  expect(() => checkEnvNames('env', { A_: 'x', a1: '' })).not.toThrow();
  expect(() => checkEnvNames('env', { 'A B': 'x' })).toThrow(/^env\.A B: is not a valid environment variable name.*\(got "A B"\)/);
});

test('checkDuration and checkInteger report what they got', () => {
  expect(() => checkDuration('d', Duration.millis(500))).toThrow(/^d: must be a positive duration of whole seconds \(got "0.5s"\)/);
  expect(checkDuration('d', Duration.seconds(1))).toBe(1);
  expect(() => checkInteger('n', Number.NaN, 0)).toThrow(/^n: must be a whole number of at least 0 \(got null\)/);
  expect(checkInteger('n', 0, 0)).toBe(0);
  expect(checkPort('p', 1)).toBe(1);
});

test('checkDataSize counts keys and values in UTF-8 bytes', () => {
  const half = MAX_DATA_BYTES / 2;
  expect(() => checkDataSize('c', { ['k'.repeat(half)]: 'v'.repeat(half) })).not.toThrow();
  expect(() => checkDataSize('c', { ['k'.repeat(half)]: `${'v'.repeat(half - 1)}é` })).toThrow(/^c: holds 1048577 bytes/);
  expect(() => checkDataSize('c', { a: 'x'.repeat(half), b: 'y'.repeat(half) })).toThrow(/^c: holds 1048578 bytes/);
});

test('PropError keeps the prop and the problem apart, and moves under a prefix', () => {
  const e = new PropError('image', 'must be pinned');
  expect([e.message, e.prop, e.problem, e.name]).toEqual(['image: must be pinned', 'image', 'must be pinned', 'PropError']);
  const under = e.under('migration.');
  expect([under.message, under.prop, under.problem]).toEqual(['migration.image: must be pinned', 'migration.image', 'must be pinned']);
  expect(under).toBeInstanceOf(PropError);
});

test('Errors.isPropError() knows the errors of other copies and versions of the library by the registered symbol they carry', () => {
  // The symbol's key is what a PropError of another copy of the package (an app and a construct library each with their own) has.
  const mark = (value: unknown) => Object.defineProperty(new Error('x: y'), Symbol.for('cdk8s-migrated-app.PropError'), { value });
  expect(Errors.isPropError(mark(true))).toBe(true);
  expect(Errors.isPropError(mark(false))).toBe(false);
  expect(Errors.isPropError(new PropError('x', 'y'))).toBe(true);
});

test('a JavaScript or Python caller\'s list that is not one is refused, naming the prop', () => {
  expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', args: 'migrate' as any }))
    .toThrow(raisedAt('test/app', /^args: must be a list of strings \(got "migrate"\)$/));
});

test('a JavaScript or Python caller\'s array is no name, label value or subdomain, even when its text would be one', () => {
  // ['api'] converts to the string "api": only the type check tells it from one.
  expect(() => checkName('name', ['api'] as any)).toThrow(/^name: must be a DNS label.*\(got \["api"\]\)$/);
  expect(() => checkLabelValue('partOf', ['shop'] as any)).toThrow(/^partOf: must be a label value.*\(got \["shop"\]\)$/);
  expect(() => checkSubdomain('existingSecret', ['db'] as any)).toThrow(/^existingSecret: must be a DNS subdomain.*\(got \["db"\]\)$/);
});
