import { spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, ChartProps, Testing } from 'cdk8s';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { CONTRACT_RBAC, Manifest, ofKind, podSpecs, QUEUE_RBAC, WAITER, waitedJob } from './manifests';
import { CONTRACT_CONTAINER, HOLD_CONTAINER } from '../src/contract';
import { QUEUE_CONTAINER } from '../src/queue';

export { Manifest, ofKind, one, podSpecs, PodSpecOf, waitedJob, withoutLintNotes, withoutQueue } from './manifests';

const MODELS: { [apiVersionKind: string]: new (data: any) => { validate(): void } } = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/** Set by test/mutation/setup.js for the mutation runs. */
const MUTATION_RUN = process.env.CDK8S_MIGRATED_APP_MUTATION === '1';

/**
 * A test that compares with committed output (the snapshot, examples' dist/).
 * Mutation testing turns these off (test/mutation/setup.js), so that a mutant
 * counts as killed only by a test that asserts the behaviour.
 */
export const golden: jest.It = MUTATION_RUN ? test.skip : test;

/**
 * A test of the sources' types (a `tsc` run), not of what they do. Stryker
 * plants all its mutants at once, switched at run time, in sources it marks
 * `// @ts-nocheck` (@stryker-mutator/instrumenter, disable-type-checks.js), so
 * such a test answers the same for every mutant and cannot kill one. Mutation
 * testing turns these off too (test/mutation/setup.js): each took seconds for
 * every mutant that ran its file's tests.
 */
export const typeCheck: jest.It = MUTATION_RUN ? test.skip : test;

export function newChart(props?: ChartProps): Chart {
  return new Chart(Testing.app(), 'test', props);
}

export function synth(chart: Chart): Manifest[] {
  return Testing.synth(chart) as Manifest[];
}

const allContainers = (spec: any): any[] => [...spec.initContainers ?? [], ...spec.containers ?? []];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Every object validates against the Kubernetes OpenAPI schemas (which check types and shapes, not names). */
export function expectSchemaValid(objects: Manifest[]): void {
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
    new Model(o).validate();
  }
}

// The API server's name rules (k8s.io/apimachinery pkg/util/validation): each is also at most 63 characters but SUBDOMAIN.
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$/;

/**
 * Every name is valid for its field, as the API server checks it: object
 * names (a Service's and a Job's are DNS-1035 or 1123 labels, others
 * subdomains), label keys and values (in metadata, pod templates and
 * selectors), container, volume and port names.
 */
export function expectValidNames(objects: Manifest[]): void {
  const problems: string[] = [];
  const check = (at: string, value: unknown, rule: RegExp, max = 63) => {
    if (typeof value !== 'string' || value.length > max || !rule.test(value)) problems.push(`${at}: ${JSON.stringify(value)}`);
  };
  const labels = (at: string, map: { [key: string]: string } = {}) => {
    for (const [k, v] of Object.entries(map)) {
      check(`${at} label key`, k.split('/').pop(), LABEL_KEY);
      check(`${at} label key`, k, LABEL_KEY, 253 + 1 + 63);
      check(`${at} label ${k}`, v, LABEL_VALUE);
    }
  };
  for (const o of objects) {
    const at = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Service') check(`${at} name`, o.metadata.name, DNS_1035);
    else if (o.kind === 'Job') check(`${at} name`, o.metadata.name, DNS_LABEL); // also the value of its pods' job-name label
    else check(`${at} name`, o.metadata.name, SUBDOMAIN, 253);
    labels(at, o.metadata.labels);
    labels(`${at} selector`, o.spec?.selector?.matchLabels ?? (o.kind === 'Service' ? o.spec?.selector : undefined));
    for (const p of o.kind === 'Service' ? o.spec.ports ?? [] : []) if (p.name !== undefined) check(`${at} port`, p.name, DNS_LABEL);
  }
  for (const { owner, spec, labels: podLabels } of podSpecs(objects)) {
    const at = `${owner.kind}/${owner.metadata.name} pod`;
    labels(at, podLabels);
    for (const c of allContainers(spec)) {
      check(`${at} container`, c.name, DNS_LABEL);
      for (const p of c.ports ?? []) if (p.name !== undefined) check(`${at} ${c.name} port`, p.name, IANA_SVC_NAME);
    }
    for (const v of spec.volumes ?? []) check(`${at} volume`, v.name, DNS_LABEL);
    const names = allContainers(spec).map((c) => c.name);
    expect({ at, duplicateContainers: names.filter((n, i) => names.indexOf(n) !== i) }).toEqual({ at, duplicateContainers: [] });
    const volumes = (spec.volumes ?? []).map((v: any) => v.name);
    expect({ at, duplicateVolumes: volumes.filter((n: string, i: number) => volumes.indexOf(n) !== i) }).toEqual({ at, duplicateVolumes: [] });
  }
  expect(problems).toEqual([]);
}

/**
 * Every pod template meets the Pod Security Standards "restricted" profile, and
 * more (read-only root filesystem). `foreignContainers` names containers of the
 * user's own workloads (gated with `gate()`), whose settings are the user's.
 */
export function expectRestricted(objects: Manifest[], foreignContainers: string[] = []): void {
  const pods = podSpecs(objects);
  expect({ podTemplates: pods.length > 0 }).toEqual({ podTemplates: true });
  for (const { owner, spec } of pods) {
    const where = `${owner.kind}/${owner.metadata.name}`;
    const pod = spec.securityContext ?? {};
    expect([where, spec.hostNetwork ?? false, spec.hostPID ?? false, spec.hostIPC ?? false]).toEqual([where, false, false, false]);
    for (const v of spec.volumes ?? []) {
      const types = Object.keys(v).filter((k) => k !== 'name');
      expect([where, v.name, types.every((t) => ['configMap', 'secret', 'emptyDir', 'projected', 'downwardAPI', 'persistentVolumeClaim', 'csi', 'ephemeral'].includes(t))])
        .toEqual([where, v.name, true]);
    }
    const own = allContainers(spec).filter((x) => !foreignContainers.includes(x.name));
    expect({ where, ownContainers: own.length > 0 }).toEqual({ where, ownContainers: true });
    for (const c of own) {
      const sc = c.securityContext ?? {};
      const at = `${where} container ${c.name}`;
      expect({ at, runAsNonRoot: sc.runAsNonRoot ?? pod.runAsNonRoot }).toEqual({ at, runAsNonRoot: true });
      expect({ at, rootUser: (sc.runAsUser ?? pod.runAsUser) === 0 }).toEqual({ at, rootUser: false });
      expect({ at, allowPrivilegeEscalation: sc.allowPrivilegeEscalation }).toEqual({ at, allowPrivilegeEscalation: false });
      expect({ at, privileged: sc.privileged ?? false }).toEqual({ at, privileged: false });
      expect({ at, drop: sc.capabilities?.drop }).toEqual({ at, drop: ['ALL'] });
      expect({ at, add: (sc.capabilities?.add ?? []).filter((a: string) => a !== 'NET_BIND_SERVICE') }).toEqual({ at, add: [] });
      expect({ at, seccomp: (sc.seccompProfile ?? pod.seccompProfile)?.type }).toEqual({ at, seccomp: 'RuntimeDefault' });
      expect({ at, readOnlyRootFilesystem: sc.readOnlyRootFilesystem }).toEqual({ at, readOnlyRootFilesystem: true });
      expect({ at, hostPorts: (c.ports ?? []).filter((p: any) => p.hostPort) }).toEqual({ at, hostPorts: [] });
    }
  }
}

/**
 * Every name an object refers to resolves inside the set (or, for Secrets, to
 * one of `externalSecrets`): envFrom, env valueFrom, volumes, service accounts,
 * role bindings and service selectors.
 */
export function expectReferencesResolve(objects: Manifest[], externalSecrets: string[] = []): void {
  const names = (kind: string) => ofKind(objects, kind).map((o) => o.metadata.name);
  const configMaps = [...names('ConfigMap'), 'kube-root-ca.crt']; // published into every namespace by Kubernetes
  const secrets = [...names('Secret'), ...externalSecrets];
  const refs: Array<[string, string, string[]]> = [];
  for (const { owner, spec } of podSpecs(objects)) {
    const at = `${owner.kind}/${owner.metadata.name}`;
    if (spec.serviceAccountName) refs.push([at, spec.serviceAccountName, names('ServiceAccount')]);
    for (const c of allContainers(spec)) {
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef) refs.push([at, f.configMapRef.name, configMaps]);
        if (f.secretRef) refs.push([at, f.secretRef.name, secrets]);
      }
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef) refs.push([at, e.valueFrom.configMapKeyRef.name, configMaps]);
        if (e.valueFrom?.secretKeyRef) refs.push([at, e.valueFrom.secretKeyRef.name, secrets]);
      }
      const volumes = (spec.volumes ?? []).map((v: any) => v.name);
      for (const m of c.volumeMounts ?? []) refs.push([`${at} ${c.name}`, m.name, volumes]);
    }
    for (const v of spec.volumes ?? []) {
      if (v.configMap) refs.push([at, v.configMap.name, configMaps]);
      if (v.secret) refs.push([at, v.secret.secretName, secrets]);
      for (const s of v.projected?.sources ?? []) if (s.configMap) refs.push([at, s.configMap.name, configMaps]);
    }
  }
  for (const b of ofKind(objects, 'RoleBinding')) {
    refs.push([`RoleBinding/${b.metadata.name}`, b.roleRef.name, names(b.roleRef.kind)]);
    for (const s of b.subjects) refs.push([`RoleBinding/${b.metadata.name}`, s.name, names(s.kind)]);
  }
  for (const s of ofKind(objects, 'Service')) {
    const selector = Object.entries(s.spec.selector ?? {});
    expect({ service: s.metadata.name, hasSelector: selector.length > 0 }).toEqual({ service: s.metadata.name, hasSelector: true });
    const selected = podSpecs(objects).filter((p) => selector.every(([k, v]) => p.labels[k] === v));
    expect({ service: s.metadata.name, selects: selected.length > 0 }).toEqual({ service: s.metadata.name, selects: true });
  }
  for (const [at, name, within] of refs) expect({ at, name, resolves: within.includes(name) }).toEqual({ at, name, resolves: true });
}

/**
 * Each Role either grants read (get, list, watch) on exactly one Job of the
 * set, or is a migration queue's (`<name>-migrate-queue`), which lists and
 * watches Jobs, and nothing else; no cluster-wide RBAC. The Job that each
 * waiter of the set waits for is the one of a Role; with no waiter, there is
 * no RBAC but the queue's.
 */
export function expectLeastPrivilege(objects: Manifest[]): void {
  expect(objects.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
  const jobs = ofKind(objects, 'Job').map((j) => j.metadata.name);
  const roles = ofKind(objects, 'Role');
  const waited = podSpecs(objects).filter((p) => p.owner.kind !== 'Job' && (p.spec.initContainers ?? []).some((c: any) => WAITER.test(c.name)))
    .map((p) => waitedJob(p.owner));
  const readable = roles.map((r) => r.rules?.[0]?.resourceNames?.[0]);
  expect({ waited, readable: waited.filter((j) => readable.includes(j)) }).toEqual({ waited, readable: waited });
  if (waited.length === 0) expect([...roles, ...ofKind(objects, 'RoleBinding')].filter((o) => !QUEUE_RBAC.test(o.metadata.name))).toEqual([]);
  for (const role of roles) {
    if (CONTRACT_RBAC.test(role.metadata.name)) {
      // A contract step's hold: list pods, and get the gated workloads by name; named like its Job.
      expect(jobs).toContain(role.metadata.name);
      const [pods, ...workloads] = role.rules;
      expect(pods).toEqual({ apiGroups: [''], resources: ['pods'], verbs: ['list'] });
      expect(workloads.length).toBeGreaterThan(0);
      for (const w of workloads) expect([w.apiGroups, w.verbs, w.resourceNames.length]).toEqual([['apps'], ['get'], 1]);
      continue;
    }
    expect(role.rules).toHaveLength(1);
    const [rule] = role.rules;
    expect(rule.apiGroups).toEqual(['batch']);
    expect(rule.resources).toEqual(['jobs']);
    if (QUEUE_RBAC.test(role.metadata.name)) {
      expect({ role: role.metadata.name, verbs: [...rule.verbs].sort(), resourceNames: rule.resourceNames })
        .toEqual({ role: role.metadata.name, verbs: ['list', 'watch'], resourceNames: undefined });
      continue;
    }
    expect([...rule.verbs].sort()).toEqual(['get', 'list', 'watch']);
    expect(rule.resourceNames).toHaveLength(1);
    expect(jobs).toContain(rule.resourceNames[0]);
  }
}

/**
 * No pod automounts a service account token; the only tokens are projected
 * ones, mounted by the wait-for init containers alone, by the migration
 * queue (the Job's first init container), and by the migration container
 * when the Job has a ServiceAccount of its own (`migration.serviceAccount`).
 */
export function expectOnlyWaiterHasToken(objects: Manifest[]): void {
  for (const o of ofKind(objects, 'ServiceAccount')) expect({ sa: o.metadata.name, automount: o.automountServiceAccountToken }).toEqual({ sa: o.metadata.name, automount: false });
  const pods = podSpecs(objects);
  expect({ podTemplates: pods.length > 0 }).toEqual({ podTemplates: true });
  for (const { owner, spec } of pods) {
    const at = `${owner.kind}/${owner.metadata.name}`;
    expect({ at, automount: spec.automountServiceAccountToken }).toEqual({ at, automount: false });
    const tokenVolumes = (spec.volumes ?? [])
      .filter((v: any) => v.projected?.sources?.some((s: any) => s.serviceAccountToken))
      .map((v: any) => v.name);
    const isJob = owner.kind === 'Job';
    // A Job runs as its queue's own ServiceAccount, or as the one `migration.serviceAccount` names.
    const ownIdentity = isJob && !QUEUE_RBAC.test(spec.serviceAccountName);
    if (isJob) expect({ at, tokenVolumes }).toEqual({ at, tokenVolumes: ['queue-token', ...ownIdentity ? ['migrate-token'] : []] });
    for (const c of allContainers(spec)) {
      const mountsToken = (c.volumeMounts ?? []).some((m: any) => tokenVolumes.includes(m.name));
      const isInit = (spec.initContainers ?? []).includes(c);
      const allowed = isJob
        ? (['migrate', CONTRACT_CONTAINER].includes(c.name) && !isInit && ownIdentity)
          || (c.name === QUEUE_CONTAINER && isInit && spec.initContainers[0] === c)
          || (c.name === HOLD_CONTAINER && isInit && spec.initContainers[1] === c)
        : WAITER.test(c.name) && isInit;
      expect({ at, container: c.name, mountsToken }).toEqual({ at, container: c.name, mountsToken: allowed });
    }
  }
}

/** All of the checks above, over one synthesized set. */
export function expectSoundManifests(objects: Manifest[], options: { externalSecrets?: string[]; foreignContainers?: string[] } = {}): void {
  expectSchemaValid(objects);
  expectValidNames(objects);
  expectRestricted(objects, options.foreignContainers);
  expectReferencesResolve(objects, options.externalSecrets);
  expectLeastPrivilege(objects);
  expectOnlyWaiterHasToken(objects);
}

/** `message` as the library raises it for the construct at `path`: `[<path>] <message>`. */
export function raisedAt(path: string, message: RegExp): RegExp {
  return new RegExp(`^\\[${path.replace(/[/.()[\]]/g, '\\$&')}\\] ${message.source.replace(/^\^/, '')}`);
}

/**
 * Runs a script the library renders into a pod (`bash -c script`) against a
 * stand-in kubectl, with nothing else on the PATH: the script must need bash
 * and kubectl only, as in the kubectl image. The stand-in runs `body`, bash in
 * which `next NAME` prints the next of `answers[NAME]` (the last one again once
 * they run out) and `record ARGS...` keeps a line for `recorded`.
 */
export function runWithStubKubectl(script: string, env: { [name: string]: string }, answers: { [name: string]: string[] }, body: string,
  timeoutMs = 10_000): { status: number | null; out: string; recorded: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'stub-kubectl-'));
  try {
    for (const [name, list] of Object.entries(answers)) list.forEach((a, i) => writeFileSync(join(dir, `${name}-${i}`), a));
    writeFileSync(join(dir, 'kubectl'), [
      '#!/bin/bash',
      `dir=${dir}`,
      // Builtins only: the PATH holds this stub alone.
      'next() { local n=0 f; [ -f "$dir/$1.n" ] && read -r n < "$dir/$1.n"; f="$dir/$1-$n"; [ -f "$f" ] || f="$dir/$1-$((n - 1))"; '
        + '[ -f "$dir/$1-$n" ] && echo $((n + 1)) > "$dir/$1.n"; printf \'%s\\n\' "$(<"$f")"; }',
      'record() { echo "$*" >> "$dir/recorded"; }',
      body,
    ].join('\n'));
    chmodSync(join(dir, 'kubectl'), 0o755);
    const run = spawnSync('/bin/bash', ['-c', script], { env: { ...env, PATH: dir }, encoding: 'utf8', timeout: timeoutMs });
    const file = join(dir, 'recorded');
    return { status: run.status, out: run.stdout + run.stderr, recorded: existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
