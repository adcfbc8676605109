import { posix } from 'path';
import { Duration, Yaml } from 'cdk8s';
import { IConstruct } from 'constructs';
import { Applier } from './applier';

/*
 * Synth-time checks. Every error message starts with the path of the
 * construct and of the prop (for example `[shop/shop] migration.image: `)
 * and quotes the offending value, so that a failed `cdk8s synth` says
 * exactly what to change, and where.
 */

/** DNS-1035: what a Service name must be, and so every `name` here, since objects of all kinds share it. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// The repository path, once a registry host (with its port) is split off: no component of it takes a port.
const IMAGE_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const IMAGE_HOST = /^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** ConfigMaps and Secrets are stored in etcd as one object of at most 1 MiB. */
export const MAX_DATA_BYTES = 1024 * 1024;

/** Marks the library's errors, whichever copy of the library raised them. */
const PROP_ERROR = Symbol.for('cdk8s-migrated-app.PropError');

/**
 * An invalid prop, or an invalid use of a construct (`gate(...)`). Its
 * message is `[<construct path>] <prop>: <problem>`. The checks raise it
 * with the prop alone; the construct whose props they check adds its path
 * (`locate()`), and a construct that passes props on to another one names
 * them as its own (`migration.` + `image`). Any other error passes through
 * unchanged. Test for it with `Errors.isPropError()`: jsii cannot export a
 * subclass of `Error`.
 */
export class PropError extends Error {
  /** Whether `x` is a `PropError`, from this copy of the library or another. */
  public static is(x: unknown): x is PropError {
    return typeof x === 'object' && x !== null && (x as { [PROP_ERROR]?: unknown })[PROP_ERROR] === true;
  }

  constructor(public readonly prop: string, public readonly problem: string, public readonly constructPath?: string) {
    super(constructPath === undefined ? `${prop}: ${problem}` : `[${constructPath}] ${prop}: ${problem}`);
    this.name = 'PropError';
    Object.defineProperty(this, PROP_ERROR, { value: true });
  }

  /** The same error, for a prop `prefix` levels down (`migration.` + `image`). */
  public under(prefix: string): PropError {
    return new PropError(`${prefix}${this.prop}`, this.problem, this.constructPath);
  }

  /** The same error, of the construct `scope`. */
  public at(scope: IConstruct): PropError {
    return new PropError(this.prop, this.problem, scope.node.path);
  }
}

/** `e`, thrown while `scope` checked or used its props: a prop error then names `scope`. */
export function locate(scope: IConstruct, e: unknown): unknown {
  return PropError.is(e) ? e.at(scope) : e;
}

/**
 * The library's errors. Each names the construct and the prop, as
 * `[<construct path>] <prop>: <problem>`, for example
 * `[shop/shop] migration.image: must be pinned with a tag or a digest ...`.
 */
export class Errors {
  /** Whether `x` is an error about a prop or a use of one of the library's constructs. */
  public static isPropError(x: any): boolean {
    return PropError.is(x);
  }

  private constructor() {}
}

function fail(prop: string, problem: string, value: unknown): never {
  throw new PropError(prop, `${problem} (got ${JSON.stringify(value)})`);
}

/*
 * Strings that cannot survive the trip through YAML. cdk8s writes YAML 1.1
 * (cdk8s 2.70.0 lib/yaml.js, the `yaml` package with `version: '1.1'`), so it
 * quotes what YAML 1.1 reads as a number, boolean or null, and no more. The
 * readers of its output are written in Go: kubectl, Helm and Argo CD use
 * sigs.k8s.io/yaml over go.yaml.in/yaml/v2, kustomize (Flux) go.yaml.in/yaml/v3.
 * Both resolve a plain scalar as checked here (go.yaml.in/yaml v2.4.4 and
 * v3.0.4, resolve.go, `resolve`; v2 is the wider of the two): a few words
 * (the table of `init`; its `<<` is looked up only for a first character
 * that the hint table marks, which `<` is not, so as a value it is a string);
 * after a '.', what strconv.ParseFloat takes (an '_' only between two
 * digits, as in Go's number literals); after a sign or a digit, with every
 * '_' removed, what strconv.ParseInt or ParseUint with base 0 takes (0x, 0o,
 * 0b and leading-0 octal), or a decimal float that does not overflow. So
 * `0o644`, `+_1` or `1e3_0` reach the API server as numbers, and it refuses
 * a ConfigMap, an env value or an arg that is one. test/yaml-scalars/ checks
 * this model against both readers, value by value.
 */
const GO_YAML_WORDS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO',
  'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '', '~', 'null', 'Null', 'NULL', '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF',
  '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF']);
/**
 * `<<`: cdk8s writes it unquoted, Go's readers resolve it as a string (above),
 * and PyYAML tags it a merge key and fails (6.0.3, `yaml.safe_load('a: <<')`:
 * "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'").
 * Checkov reads manifests with a PyYAML SafeLoader and, when that fails, skips
 * the whole file with a warning (checkov/common/parsers/yaml/loader.py).
 */
const MERGE_KEY = '<<';
const GO_YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/**
 * An integer with a base prefix. The other integers that ParseInt or ParseUint
 * take (decimal, and leading-0 octal) match GO_YAML_FLOAT, so Go reads them as
 * numbers whichever parser takes them.
 */
const GO_PREFIXED_INT = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/;

/** Whether strconv.ParseInt or ParseUint (base 0, 64 bits) takes `s`, an integer with a base prefix. */
function goParsesPrefixedInt(s: string): boolean {
  const m = GO_PREFIXED_INT.exec(s);
  if (!m) return false;
  const [, sign, digits] = m;
  // ParseInt takes a sign and int64; ParseUint no sign and uint64. BigInt() reads the prefixes as Go does, in either case.
  const max = sign === '-' ? 2n ** 63n : sign === '+' ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return BigInt(digits) <= max;
}

/** Whether a Go YAML reader resolves the plain scalar `s` to something other than a string. */
export function goYamlReadsNonString(s: string): boolean {
  if (GO_YAML_WORDS.has(s)) return true;
  const finite = (f: string) => GO_YAML_FLOAT.test(f) && Number.isFinite(Number(f));
  // After the leading '.', an '_' only between two digits.
  if (s.startsWith('.')) return !/[^0-9]_|_[^0-9]|_$/.test(s) && finite(s.replace(/_/g, ''));
  if (!/^[-+0-9]/.test(s)) return false;
  const plain = s.replace(/_/g, '');
  return goParsesPrefixedInt(plain) || finite(plain);
}

/**
 * A string that reaches the API server as a string: refused when cdk8s would
 * write it unquoted and a Go YAML reader would read it as something else.
 */
export function checkYamlString(prop: string, value: string): string {
  if (typeof value !== 'string') fail(prop, 'must be a string', value);
  if (value === MERGE_KEY) {
    fail(prop, 'is YAML\'s merge key, which cdk8s\'s YAML writer leaves unquoted: Go\'s readers take it for a string, but YAML 1.1 readers '
      + 'such as PyYAML (Checkov\'s) refuse the manifest; change the value', value);
  }
  if (goYamlReadsNonString(value) && Yaml.stringify([value]) === `- ${value}\n`) {
    fail(prop, 'is written unquoted by cdk8s\'s YAML writer (YAML 1.1) and read back as a number, boolean or null by the YAML readers of '
      + 'kubectl, Helm, Argo CD and Flux (Go), so the API server would not get this string; change the value', value);
  }
  return value;
}

/** A list of strings, each reaching the API server as a string, when given. */
export function checkStrings(prop: string, value: string[] | undefined): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) fail(prop, 'must be a list of strings', value);
  value.forEach((v, i) => checkYamlString(`${prop}[${i}]`, v));
}

/** A map of strings (env, config, labels), given as a plain object, when given. */
export function checkStringMap(prop: string, value: { [key: string]: string } | undefined): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(prop, 'must be a map of names to strings', value);
  for (const [key, v] of Object.entries(value)) checkYamlString(`${prop}.${key}`, v);
}

/** An object of props, when given: from JavaScript or Python anything can come. */
export function checkObject(prop: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) fail(prop, 'must be an object of props', value);
}

/** An `Applier`, when given: a string such as 'helm' from JavaScript or Python is not one. */
export function checkApplier(prop: string, value: Applier | undefined): void {
  if (value !== undefined && !(value instanceof Applier)) fail(prop, 'must be an Applier: Applier.plain(), Applier.flux(), Applier.argoCd() or Applier.helm()', value);
}

/** A Secret or ConfigMap reference (an ISecret or IConfigMap), when given. */
export function checkReference(prop: string, value: { name: string } | undefined, how: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || typeof value.name !== 'string') fail(prop, `must be a reference such as ${how}`, value);
  checkSubdomain(prop, value.name);
}

/**
 * A DNS-1035 label: at most 63 lower case letters, digits and '-', starting
 * with a letter. Objects of every kind are named after it, Services included.
 */
export function checkName(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS_1035_LABEL.test(value)) {
    fail(prop, 'must be a DNS label: at most 63 lower case letters, digits and \'-\', starting with a letter and ending with a letter or digit', value);
  }
  // No YAML check: a label that starts with a letter is a string to Go unless it is a word such as
  // `no` or `null`, which cdk8s quotes.
  return value;
}

/** A label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit. */
export function checkLabelValue(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
    fail(prop, 'must be a label value: at most 63 letters, digits, \'-\', \'_\' and \'.\', starting and ending with a letter or digit', value);
  }
  return checkYamlString(prop, value);
}

/**
 * A container image reference that names one immutable image: a tag other
 * than `latest`, or a digest. A moving tag cannot tell when to migrate again.
 */
export function checkPinnedImage(prop: string, value: string): string {
  checkImage(prop, value);
  const at = value.indexOf('@');
  if (at >= 0) return value;
  const lastSlash = value.lastIndexOf('/');
  const colon = value.indexOf(':', lastSlash + 1);
  if (colon < 0) {
    fail(prop, 'must be pinned with a tag or a digest (for example `app:1.4.2` or `app@sha256:...`): the migration Job\'s name is derived from it', value);
  }
  if (value.slice(colon + 1) === 'latest') {
    fail(prop, 'must not use the moving tag `latest`: the migration Job\'s name is derived from the image, so pin a version or a digest', value);
  }
  return value;
}

/** A syntactically valid container image reference. */
export function checkImage(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(prop, 'must be a container image reference', value);
  const [ref, digest, ...rest] = value.split('@');
  if (rest.length > 0 || (digest !== undefined && !DIGEST.test(digest))) {
    fail(prop, 'has an invalid digest: expected `@sha256:` and 64 hex digits', value);
  }
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.indexOf(':', lastSlash + 1);
  const name = colon < 0 ? ref : ref.slice(0, colon);
  const tag = colon < 0 ? undefined : ref.slice(colon + 1);
  const firstSlash = name.indexOf('/');
  const host = firstSlash > 0 ? name.slice(0, firstSlash) : undefined;
  const hostLike = host !== undefined && (host.includes('.') || host.includes(':') || host === 'localhost');
  const path = hostLike ? name.slice(firstSlash + 1) : name;
  if ((hostLike && !IMAGE_HOST.test(host!)) || !IMAGE_NAME.test(path) || (tag !== undefined && !TAG.test(tag))) {
    fail(prop, 'is not a valid container image reference ([registry/]repository[:tag][@sha256:digest], repository in lower case)', value);
  }
  return value;
}

/** Names usable as environment variables (and so as envFrom keys). */
export function checkEnvNames(prop: string, values: { [name: string]: string } | undefined): void {
  checkStringMap(prop, values);
  for (const name of Object.keys(values ?? {})) {
    if (!ENV_NAME.test(name)) fail(`${prop}.${name}`, 'is not a valid environment variable name (letters, digits and \'_\', not starting with a digit)', name);
  }
}

/** The data of one ConfigMap or Secret fits in the 1 MiB etcd allows. */
export function checkDataSize(prop: string, data: { [key: string]: string }): void {
  const bytes = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (bytes > MAX_DATA_BYTES) fail(prop, `holds ${bytes} bytes; a ConfigMap or Secret holds at most ${MAX_DATA_BYTES} bytes (1 MiB)`, `${bytes} bytes`);
}

/** An integer, at least `min`. */
export function checkInteger(prop: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) fail(prop, `must be a whole number of at least ${min}`, value);
  return value;
}

/** A positive duration, in whole seconds. */
export function checkDuration(prop: string, value: Duration): number {
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds <= 0) fail(prop, 'must be a positive duration of whole seconds', `${seconds}s`);
  return seconds;
}

/** A TCP/UDP port number. */
export function checkPort(prop: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) fail(prop, 'must be a port number from 1 to 65535', value);
  return value;
}

/** A non-empty list of non-empty strings, when given. */
export function checkCommand(prop: string, value: string[] | undefined): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    fail(prop, 'must be a non-empty list of non-empty strings; leave it out to use the image\'s own entrypoint', value);
  }
  checkStrings(prop, value);
}

/** At most one of two mutually exclusive props. */
export function checkExclusive(propA: string, a: unknown, propB: string, b: unknown): void {
  if (a !== undefined && b !== undefined) {
    throw new PropError(propA, `cannot be given together with ${propB}: give literal values or an existing Secret, not both`);
  }
}

/**
 * An absolute path for a file mounted by `subPath` from a ConfigMap: its base
 * name is the ConfigMap key, and it must not be, or be inside, one of the
 * `reserved` folders that the library mounts itself.
 */
export function checkFilePath(prop: string, value: string, reserved: string[]): string {
  checkMountPath(prop, value, reserved);
  const base = posix.basename(value);
  if (base.length > 253 || !CONFIG_KEY.test(base) || base === '.') {
    fail(prop, 'must end in a file name of letters, digits, \'-\', \'_\' and \'.\' (it becomes a ConfigMap key)', value);
  }
  return value;
}

/** An absolute mount path that is not, and is not inside, one of the `reserved` paths that the library mounts itself. */
export function checkMountPath(prop: string, value: string, reserved: string[]): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.endsWith('/') || value.includes('//') || value.split('/').includes('..')) {
    fail(prop, 'must be an absolute path, like `/app/dbconfig.yml`', value);
  }
  if (value.includes(':')) fail(prop, 'must not contain \':\', which a volume mount path cannot have', value);
  const taken = reserved.find((r) => value === r || value.startsWith(`${r}/`));
  if (taken) fail(prop, `must not be in ${taken}, where the library mounts a volume of its own`, value);
  return value;
}

const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Container ports: valid numbers, unique, and named (IANA service names) when there are several. */
export function checkPorts(prop: string, ports: Array<{ number: number; name?: string }>): void {
  if (!Array.isArray(ports) || ports.some((p) => p === null || typeof p !== 'object')) fail(prop, 'must be a list of ports such as { number: 8080, name: \'http\' }', ports);
  const numbers = new Set<number>();
  const names = new Set<string>();
  ports.forEach((p, i) => {
    checkPort(`${prop}[${i}].number`, p.number);
    if (numbers.has(p.number)) fail(`${prop}[${i}].number`, 'is used by an earlier port', p.number);
    numbers.add(p.number);
    if (p.name === undefined) {
      if (ports.length > 1) fail(`${prop}[${i}].name`, 'is required when there are several ports, so that the Service can tell them apart', p.name);
      return;
    }
    if (p.name.length > 15 || !PORT_NAME.test(p.name) || p.name.includes('--')) {
      fail(`${prop}[${i}].name`, 'must be an IANA service name: at most 15 lower case letters, digits and single \'-\', with at least one letter', p.name);
    }
    if (names.has(p.name)) fail(`${prop}[${i}].name`, 'is used by an earlier port', p.name);
    names.add(p.name);
  });
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** A DNS-1123 subdomain, as the names of Secrets and PriorityClasses are: at most 253 characters. */
export function checkSubdomain(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length > 253 || !SUBDOMAIN.test(value)) {
    fail(prop, 'must be a DNS subdomain: at most 253 lower case letters, digits, \'-\' and \'.\', starting and ending with a letter or digit', value);
  }
  return checkYamlString(prop, value); // a subdomain may be all digits: `0o644` reaches Go's YAML readers as a number
}

/** A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
export function checkLabelKey(prop: string, key: string): string {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = key.slice(slash + 1);
  if ((prefix !== undefined && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) || name.length > 63 || !LABEL_NAME.test(name)) {
    fail(prop, 'is not a valid label or annotation key ([DNS subdomain/]name, the name at most 63 letters, digits, \'-\', \'_\' and \'.\')', key);
  }
  return key;
}

/** Labels (or a node selector): valid keys and values. */
export function checkLabels(prop: string, labels: { [key: string]: string } | undefined): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    checkLabelKey(`${prop}.${key}`, key);
    checkLabelValue(`${prop}.${key}`, value);
  }
}
