import { Duration } from 'cdk8s';
import * as fc from 'fast-check';

/*
 * Random props that validation accepts, shared by the property tests and by
 * `npm run lint:k8s`, which lints a sample of what they render.
 */

const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);

/** Props of a `MigratedApplication` that validation accepts. */
export const validProps = fc.record({
  // Every name that validation accepts, of any length up to the full 63 characters.
  name: fc.integer({ min: 1, max: 63 }).chain((length) => fc.tuple(
    fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
    fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), { minLength: Math.max(0, length - 2), maxLength: Math.max(0, length - 2) }),
    fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  ).map(([first, middle, last]) => (length === 1 ? first : `${first}${middle.join('')}${last}`))),
  partOf: fc.option(fc.stringMatching(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/), { nil: undefined }),
  image: fc.constantFrom('app:1', 'ghcr.io/acme/app:2.0', `app@sha256:${'b'.repeat(64)}`),
  replicas: fc.integer({ min: 1, max: 50 }),
  ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }).map((ns) => ns.map((n, i) => ({ number: n, name: `p${i}` }))),
  env: fc.dictionary(envName, fc.string(), { maxKeys: 3 }),
  config: fc.option(fc.dictionary(envName, fc.string(), { maxKeys: 3 }), { nil: undefined }),
  secretValues: fc.option(fc.dictionary(envName, fc.string(), { maxKeys: 3 }), { nil: undefined }),
  migration: fc.record({
    command: fc.option(fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    backoffLimit: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    activeDeadline: fc.option(fc.integer({ min: 1, max: 3600 }).map(Duration.seconds), { nil: undefined }),
    waiter: fc.option(fc.record({ notFoundTimeout: fc.integer({ min: 1, max: 3600 }).map(Duration.seconds) }), { nil: undefined }),
  }),
});
