import { posix } from 'path';
import { Duration } from 'cdk8s';

/*
 * Synth-time checks. Every error message starts with the prop's path
 * (for example `migration.image`) and quotes the offending value, so that a
 * failed `cdk8s synth` says exactly what to change.
 */

/** DNS-1035: what a Service name must be, and so every `name` here, since objects of all kinds share it. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const IMAGE_HOST = /^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** ConfigMaps and Secrets are stored in etcd as one object of at most 1 MiB. */
export const MAX_DATA_BYTES = 1024 * 1024;

/**
 * An invalid prop. Its message starts with the prop's path, which a construct
 * that passes props on to another can prefix (`migration.` for example); any
 * other error passes through unchanged.
 */
export class PropError extends Error {
  constructor(public readonly prop: string, public readonly problem: string) {
    super(`${prop}: ${problem}`);
    this.name = 'PropError';
  }

  /** The same error, for a prop `prefix` levels down (`migration.` + `image`). */
  public under(prefix: string): PropError {
    return new PropError(`${prefix}${this.prop}`, this.problem);
  }
}

function fail(prop: string, problem: string, value: unknown): never {
  throw new PropError(prop, `${problem} (got ${JSON.stringify(value)})`);
}

/**
 * A DNS-1035 label: at most 63 lower case letters, digits and '-', starting
 * with a letter. Objects of every kind are named after it, Services included.
 */
export function checkName(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS_1035_LABEL.test(value)) {
    fail(prop, 'must be a DNS label: at most 63 lower case letters, digits and \'-\', starting with a letter and ending with a letter or digit', value);
  }
  return value;
}

/** A label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit. */
export function checkLabelValue(prop: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
    fail(prop, 'must be a label value: at most 63 letters, digits, \'-\', \'_\' and \'.\', starting and ending with a letter or digit', value);
  }
  return value;
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
  for (const [name, value] of Object.entries(values ?? {})) {
    if (!ENV_NAME.test(name)) fail(`${prop}.${name}`, 'is not a valid environment variable name (letters, digits and \'_\', not starting with a digit)', name);
    if (typeof value !== 'string') fail(`${prop}.${name}`, 'must be a string', value);
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
  return value;
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
