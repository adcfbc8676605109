import { Duration } from 'cdk8s';
import { newChart, raisedAt, synth } from './helpers';
import { MigratedApplication, MigratedApplicationProps } from '../src';
import {
  checkCommand, checkDataSize, checkDuration, checkEnvNames, checkExclusive, checkImage, checkInteger, checkFilePath, checkLabelValue, checkName,
  checkPinnedImage, checkPort, checkPorts, MAX_DATA_BYTES,
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
  expect(() => checkDataSize('config', { K: 'x'.repeat(MAX_DATA_BYTES) })).toThrow(/^config: holds 1048577 bytes; a ConfigMap or Secret holds at most 1048576 bytes/);
});

test('checkExclusive names both props', () => {
  expect(() => checkExclusive('secretValues', undefined, 'existingSecret', {})).not.toThrow();
  expect(() => checkExclusive('secretValues', {}, 'existingSecret', {})).toThrow(/^secretValues: cannot be given together with existingSecret/);
});

test.each(['/app/dbconfig.yml', '/config.yaml', '/tmpfiles/x.toml'])('checkFilePath accepts %s', (p) => expect(checkFilePath('configFile.path', p, ['/tmp'])).toBe(p));
test.each(['dbconfig.yml', '/app/', '/a/../b', '/a//b', ''])('checkFilePath rejects %j', (p) => {
  expect(() => checkFilePath('configFile.path', p, ['/tmp'])).toThrow(/^configFile\.path: must be an absolute path/);
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
  ])('%s', (_prop, props, message) => {
    expect(() => new MigratedApplication(newChart(), 'app', { name: 'app', image: 'app:1', ...props })).toThrow(raisedAt('test/app', message));
  });
});
