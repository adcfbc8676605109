import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as fc from 'fast-check';
import { MigratedApplicationProps } from '../src';
import { checkYamlString, goYamlReadsNonString } from '../src/validation';

/*
 * Random props that validation accepts, shared by the property tests and by
 * `npm run lint:k8s`, which lints a sample of what they render.
 */

/**
 * A string that validation lets through (`checkYamlString`): not one that cdk8s writes unquoted and
 * Go's YAML reads as a number, a boolean or null (`0`, `-_0`), nor YAML's merge key, which validation
 * refuses with tests of its own.
 */
function acceptedString(v: string): boolean {
  try {
    checkYamlString('text', v);
    return true;
  } catch {
    return false;
  }
}
const text = (constraints: fc.StringConstraints = {}) => fc.string(constraints).filter(acceptedString);
const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const subdomain = fc.array(dnsLabel, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));
const subdomains = fc.uniqueArray(subdomain, { maxLength: 2 });
const labelName = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/);
const labelKey = fc.tuple(fc.option(subdomain, { nil: undefined }), labelName)
  .map(([prefix, name]) => (prefix ? `${prefix}/${name}` : name))
  .filter((k) => !['app.kubernetes.io/', 'cdk8s.io/', 'cdk8s-migrated-app.github.io/'].some((reserved) => k.startsWith(reserved)));
const labelValue = fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?$/).filter((v) => !goYamlReadsNonString(v));
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
/** Up to two extra containers, named `<prefix>-<i>` so that they never clash with the library's. */
const containers = (prefix: string) => fc.array(fc.record({
  image: fc.constantFrom('proxy:1', 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1', `git@sha256:${'c'.repeat(64)}`),
  args: fc.option(fc.array(text(), { maxLength: 3 }), { nil: undefined }),
}), { maxLength: 2 }).map((cs) => cs.map((c, i) => ({ ...c, name: `${prefix}-${i}` })));

/** Props of a `MigratedApplication` that validation accepts, with names where the props take references (see `buildProps`). */
export const validProps = fc.record({
  // Every name that validation accepts, of any length up to the full 63 characters.
  name: fc.integer({ min: 1, max: 63 }).chain((length) => fc.tuple(
    fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
    fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), { minLength: Math.max(0, length - 2), maxLength: Math.max(0, length - 2) }),
    fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  ).map(([first, middle, last]) => (length === 1 ? first : `${first}${middle.join('')}${last}`))),
  partOf: fc.option(fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/).filter((v) => !goYamlReadsNonString(v)), { nil: undefined }),
  image: fc.constantFrom('app:1', 'ghcr.io/acme/app:2.0', `app@sha256:${'b'.repeat(64)}`),
  replicas: fc.integer({ min: 1, max: 50 }),
  ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }).map((ns) => ns.map((n, i) => ({ number: n, name: `p${i}` }))),
  env: fc.dictionary(envName, text(), { maxKeys: 3 }),
  config: fc.option(fc.dictionary(envName, text(), { maxKeys: 3 }), { nil: undefined }),
  secretValues: fc.option(fc.dictionary(envName, text(), { maxKeys: 3 }), { nil: undefined }),
  migration: fc.record({
    command: fc.option(fc.array(text({ minLength: 1 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    backoffLimit: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    activeDeadline: fc.option(fc.integer({ min: 1, max: 3600 }).map(Duration.seconds), { nil: undefined }),
    waiter: fc.option(fc.record({ notFoundTimeout: fc.integer({ min: 1, max: 3600 }).map(Duration.seconds) }), { nil: undefined }),
    sidecars: containers('side'),
    initContainers: containers('init'),
    imagePullSecrets: subdomains,
    // Prefixed with `sa.` in buildProps(): a dot that no app name has.
    serviceAccount: fc.option(subdomain, { nil: undefined }),
    nodeSelector: fc.option(labels, { nil: undefined }),
    tolerations: fc.array(fc.tuple(labelKey, labelValue), { maxLength: 2 }),
    nodeAffinity: fc.array(fc.tuple(labelKey, fc.array(labelValue, { minLength: 1, maxLength: 2 })), { maxLength: 2 }),
    priorityClassName: fc.option(subdomain, { nil: undefined }),
    podLabels: fc.option(labels, { nil: undefined }),
    podAnnotations: fc.option(fc.dictionary(labelKey, text()), { nil: undefined }),
  }),
  sidecars: containers('proxy'),
  imagePullSecrets: subdomains,
  podLabels: fc.option(labels, { nil: undefined }),
  podAnnotations: fc.option(fc.dictionary(labelKey, text()), { nil: undefined }),
});

/** `validProps` (or a mutation of them), with the names of Secrets and ServiceAccounts made into references in `chart`. */
export function buildProps(chart: Chart, props: any): MigratedApplicationProps {
  const secrets = (ns: string[]) => ns.map((n, i) => kplus.Secret.fromSecretName(chart, `pull-${chart.node.children.length}-${i}`, n));
  const m = props.migration;
  return {
    ...props,
    imagePullSecrets: secrets(props.imagePullSecrets),
    migration: {
      ...m,
      imagePullSecrets: secrets(m.imagePullSecrets),
      serviceAccount: m.serviceAccount === undefined ? undefined : new kplus.ServiceAccount(chart, 'job-identity', { metadata: { name: `sa.${m.serviceAccount}` }, automountToken: false }),
      tolerations: m.tolerations.map(([k, v]: [string, string]) => kplus.NodeTaintQuery.is(k, v)),
      nodeAffinity: m.nodeAffinity.map(([k, vs]: [string, string[]]) => kplus.NodeLabelQuery.in(k, vs)),
    },
  };
}
