import * as kplus from 'cdk8s-plus-27';

/** Makes every key of `configMaps` and `secrets` an environment variable of `container`. */
export function envFrom(container: kplus.Container, configMaps: kplus.IConfigMap[], secrets: kplus.ISecret[]): void {
  configMaps.forEach((c) => container.env.copyFrom(kplus.Env.fromConfigMap(c)));
  secrets.forEach((s) => container.env.copyFrom(kplus.Env.fromSecret(s)));
}

/**
 * Literal environment variables, sorted by name: the Job's name hashes them
 * regardless of order, so the rendered order must not depend on it either.
 */
export function envValues(env: { [name: string]: string } = {}): { [name: string]: kplus.EnvValue } {
  return Object.fromEntries(Object.keys(env).sort().map((k) => [k, kplus.EnvValue.fromValue(env[k])]));
}

/** Whether a map has at least one entry: an empty one makes no ConfigMap or Secret. */
export function isNonEmpty(values: { [key: string]: string } | undefined): values is { [key: string]: string } {
  return values !== undefined && Object.keys(values).length > 0;
}
