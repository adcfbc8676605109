import { createHash } from 'crypto';
import { Chart } from 'cdk8s';
import { IConstruct } from 'constructs';
import { nameClaimsOf } from './_pod-template';
import { PropError } from './validation';

/** Kubernetes object names used here are DNS labels: at most 63 characters. */
export const MAX_NAME_LENGTH = 63;

/** Length of the hex hash appended to generated names. */
const HASH_LENGTH = 10;

/**
 * JSON with object keys sorted at every level, so that equal values always
 * serialize (and hash) the same way on any machine and in any insertion order.
 * The text is exactly that of `JSON.stringify` with every object's keys sorted
 * (`undefined`, function and symbol members dropped from objects, `null` in
 * arrays; `toJSON()` honoured), so that names hashed by earlier versions stay
 * the same. It is written directly rather than through a replacer that copies
 * every object: a migration Job is hashed on every synthesis.
 */
export function stableJson(value: unknown): string {
  return (inOrder(value) ? JSON.stringify(value) : stableText(value)) as string;
}

/**
 * Whether `JSON.stringify` writes `value` as `stableJson()` must: every object
 * in it plain, without `toJSON()`, and its keys in sorted order. Rendered
 * migration Jobs are (cdk8s sorts keys, and the library's edits keep them
 * so), and `JSON.stringify` writes them three times faster, with a fraction
 * of the garbage. (`for...in` lists an object's own keys in the order of
 * `Object.keys()`; anything it lists beyond them, `JSON.stringify` leaves out.)
 * @internal exported for its tests
 */
export function inOrder(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!inOrder(item)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  // Array-index keys come first whatever their insertion order; the others must follow sorted.
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined) {
      if (previous >= key) return false;
      previous = key;
    } else if (!isArrayIndex(key)) {
      previous = key;
    }
    if (!inOrder((value as { [key: string]: unknown })[key])) return false;
  }
  return true;
}

function stableText(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return stableText((value as { toJSON: () => unknown }).toJSON());
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += `${i > 0 ? ',' : ''}${stableText(value[i]) ?? 'null'}`; // holes too, as JSON.stringify writes them
    return `${text}]`;
  }
  // Object.keys() lists array-index keys first, in numeric order; the rest are sorted. That is the
  // order earlier versions' replacer produced: it rebuilt each object from its sorted keys, and an
  // object lists its array-index keys first whatever their insertion order.
  const keys = Object.keys(value);
  let indexes = 0;
  while (indexes < keys.length && isArrayIndex(keys[indexes])) indexes++;
  let text = '{';
  for (const key of keys.slice(0, indexes).concat(keys.slice(indexes).sort())) {
    const member = stableText((value as { [key: string]: unknown })[key]);
    if (member !== undefined) text += `${text.length > 1 ? ',' : ''}${JSON.stringify(key)}:${member}`;
  }
  return `${text}}`;
}

/** An array index: 0 to 2^32 - 2 in canonical form (no leading zero), which objects list first. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;
function isArrayIndex(key: string): boolean {
  return ARRAY_INDEX.test(key) && Number(key) < 4294967295;
}

/** A short, stable hash of any JSON-serializable value. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * `<base>-<kind>-<hash>`, with `base` shortened as needed so that the whole
 * name fits in a DNS label. The hash should cover `base` itself, so that two
 * long bases that shorten to the same prefix still get different names.
 */
export function hashedName(base: string, kind: string, hash: string): string {
  return suffixedName(base, `-${kind}-${hash}`);
}

/**
 * `<base>-<kind>-<hash of base and content>`: the name of an object that is
 * named after its content, so that a change of content is a new object.
 */
export function contentName(base: string, kind: string, content: unknown): string {
  return hashedName(base, kind, contentHash([base, content]));
}

/** `base` shortened as needed so that `base + suffix` fits in a DNS label; the suffix is kept whole. */
export function suffixedName(base: string, suffix: string): string {
  return `${fitName(base, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
}

/** `value` cut to `max` characters, without a trailing dash. */
export function fitName(value: string, max: number = MAX_NAME_LENGTH): string {
  return value.slice(0, max).replace(/-+$/, '');
}

/** The value of `app.kubernetes.io/managed-by` on every object. */
export const MANAGED_BY = 'cdk8s';

/**
 * The label that ties objects to the release of a migration: its value is the
 * name of that migration's Job. A contract step's Job carries it, and so do
 * the pods of every gated workload.
 */
export const RELEASE_LABEL = 'cdk8s-migrated-app.github.io/release';

/** The prefix of the labels the library owns besides the recommended ones. */
export const OWN_LABEL_PREFIX = 'cdk8s-migrated-app.github.io/';

/** A label key as a field of a kubectl jsonpath: its dots escaped. */
export function jsonpathKey(key: string): string {
  return key.replace(/\./g, '\\.');
}

/**
 * The recommended `app.kubernetes.io/*` labels. All objects of one application
 * share `instance`, so `kubectl apply --prune -l app.kubernetes.io/instance=NAME` works.
 */
export function recommendedLabels(instance: string, component: 'app' | 'migration', partOf: string): { [key: string]: string } {
  return {
    'app.kubernetes.io/name': instance,
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': partOf,
    'app.kubernetes.io/managed-by': MANAGED_BY,
  };
}

/**
 * The labels that select the pods of a workload the library makes: stable
 * across refactors of the cdk8s app, unlike cdk8s-plus's default selector.
 */
export function selectorLabels(instance: string, component: 'app' | 'migration'): { [key: string]: string } {
  return {
    'app.kubernetes.io/name': instance,
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': component,
  };
}

/**
 * Records that `owner` names its objects after `name` in its chart's
 * namespace, and throws if another construct of the same app already does:
 * two would emit objects of the same kind and name, and one would overwrite
 * the other when applied. A construct's own children may share its claim.
 */
export function claimName(owner: IConstruct, prop: string, name: string): void {
  const inApp = nameClaimsOf(owner.node.root);
  const namespace = Chart.of(owner).namespace;
  const key = `${namespace ?? ''}/${name}`;
  const holder = inApp.get(key);
  if (holder && holder !== owner.node.scope) {
    throw new PropError(prop, `"${name}" is already used by ${holder.node.path}${namespace ? ` in namespace ${namespace}` : ''}; `
      + 'give each application and migration of a namespace its own name');
  }
  if (!holder) inApp.set(key, owner);
}
