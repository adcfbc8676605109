import { ApiObjectMetadataDefinition } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { lintChecksOf, setLintChecks } from './_pod-template';
import { locate, PropError } from './validation';

/*
 * Findings of the policy linters that an object keeps on purpose, annotated on
 * the object itself with each linter's own mechanism, checked at the source:
 * - kube-score v1.20.0 (scorecard/scorecard.go): `kube-score/ignore` holds a
 *   comma-separated list of check IDs and has no room for a reason, so each
 *   reason goes in an annotation of its own, `ignore-reason.kube-score/<check>`;
 * - Checkov 3.3.30 (checkov/kubernetes/kubernetes_utils.py,
 *   `get_skipped_checks`): every annotation whose key contains
 *   `checkov.io/skip` skips `<check ID>=<reason>`; the value is split on `=`,
 *   so a reason must not contain one.
 * kubesec v2.14.2 has no per-object mechanism: docs/linters.md lists what it reports.
 */

const KUBE_SCORE_IGNORE = 'kube-score/ignore';
const KUBE_SCORE_REASON = 'ignore-reason.kube-score/';
const CHECKOV_SKIP = 'checkov.io/skip';
const KUBE_SCORE_CHECK = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const CHECKOV_CHECK = /^CKV2?_K8S_[0-9]+$/;

/** One deliberate linter finding, and why. */
export interface LinterWaiverProps {
  /** Why the object keeps this finding. It must not contain `=`, which Checkov splits its annotations on. */
  readonly reason: string;

  /**
   * The kube-score check ID, for example `pod-networkpolicy`.
   * @default - none
   */
  readonly kubeScore?: string;

  /**
   * The Checkov check ID, for example `CKV_K8S_15`.
   * @default - none
   */
  readonly checkov?: string;
}

/**
 * Waives findings of kube-score and Checkov that an object keeps on purpose:
 * annotates them on the object with
 * each linter's own mechanism and a reason, where both the linter and a
 * reviewer see them. Add them all this way rather than by hand: it keeps one
 * `kube-score/ignore` list and numbers the `checkov.io/skip<N>` annotations.
 */
export class LinterWaiver {
  /** Annotates `resource` so that kube-score and Checkov skip the given checks on it, with the reason. */
  public static addTo(resource: kplus.Resource, waiver: LinterWaiverProps): void {
    try {
      annotateException(resource.metadata, waiver);
    } catch (e) {
      throw locate(resource, e);
    }
  }

  private constructor() {}
}

/** `LinterWaiver.addTo()` on metadata. */
export function annotateException(metadata: ApiObjectMetadataDefinition, exception: LinterWaiverProps): void {
  const { reason, kubeScore, checkov } = exception;
  if (typeof reason !== 'string' || reason.trim() === '' || reason.includes('=')) {
    throw new PropError('reason', `must be a non-empty text without '=', which Checkov splits its annotations on (got ${JSON.stringify(reason)})`);
  }
  if (kubeScore === undefined && checkov === undefined) throw new PropError('kubeScore', 'or checkov must be given');
  if (kubeScore !== undefined && !KUBE_SCORE_CHECK.test(kubeScore)) {
    throw new PropError('kubeScore', `must be a kube-score check ID such as pod-networkpolicy (got ${JSON.stringify(kubeScore)})`);
  }
  if (checkov !== undefined && !CHECKOV_CHECK.test(checkov)) {
    throw new PropError('checkov', `must be a Checkov Kubernetes check ID such as CKV_K8S_15 (got ${JSON.stringify(checkov)})`);
  }
  const checks = (lintChecksOf(metadata) ?? LintChecks.NONE).with(kubeScore, checkov);
  setLintChecks(metadata, checks);
  if (kubeScore !== undefined) {
    metadata.addAnnotation(KUBE_SCORE_IGNORE, checks.kubeScoreIgnore);
    metadata.addAnnotation(cached(reasonKeys, kubeScore, () => `${KUBE_SCORE_REASON}${kubeScore}`), reason);
  }
  if (checkov !== undefined) {
    const index = checks.checkov.indexOf(checkov) + 1;
    metadata.addAnnotation(cached(skipKeys, index, () => `${CHECKOV_SKIP}${index}`), checkovValue(checkov, reason));
  }
}

/*
 * Every object the library renders gets the same few waivers. The annotation
 * keys and values below, and the `LintChecks` states, are made once and
 * shared: built afresh for each object, their strings and lists were a good
 * part of what thousands of apps kept in memory (docs/figures.md).
 */
const reasonKeys = new Map<string, string>();
const skipKeys = new Map<number, string>();
const checkovValues = new Map<string, { reason: string; value: string }>();

function cached<K, V>(cache: Map<K, V>, key: K, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}

/** `<check>=<reason>`, the value Checkov reads; the last one made for each check is kept. */
function checkovValue(checkov: string, reason: string): string {
  let last = checkovValues.get(checkov);
  if (last?.reason !== reason) {
    last = { reason, value: `${checkov}=${reason}` };
    checkovValues.set(checkov, last);
  }
  return last.value;
}

/**
 * The linter checks annotated on an object so far, in order (Checkov's are
 * numbered `checkov.io/skip1`, `skip2`...). Immutable, and shared by every
 * object that got the same checks in the same order.
 */
export class LintChecks {
  public static readonly NONE = new LintChecks([], []);

  /** The value of `kube-score/ignore`. */
  public readonly kubeScoreIgnore: string;
  private readonly next = new Map<string | undefined, Map<string | undefined, LintChecks>>();

  private constructor(public readonly kubeScore: readonly string[], public readonly checkov: readonly string[]) {
    this.kubeScoreIgnore = kubeScore.join(',');
  }

  /** These checks, and `kubeScore` and `checkov` last where they are not in yet. */
  public with(kubeScore: string | undefined, checkov: string | undefined): LintChecks {
    const byKubeScore = cached(this.next, kubeScore, () => new Map<string | undefined, LintChecks>());
    return cached(byKubeScore, checkov, () => new LintChecks(
      kubeScore === undefined || this.kubeScore.includes(kubeScore) ? this.kubeScore : [...this.kubeScore, kubeScore],
      checkov === undefined || this.checkov.includes(checkov) ? this.checkov : [...this.checkov, checkov],
    ));
  }
}

/** What every object this library renders keeps. */
const EVERY_OBJECT: LinterWaiverProps[] = [
  { checkov: 'CKV_K8S_21', reason: 'The namespace is the chart\'s or the applier\'s to choose (kubectl -n, an Argo CD destination, helm -n).' },
];

/** What every workload whose pods it renders or gates keeps, for the containers the library adds. */
const WORKLOAD: LinterWaiverProps[] = [
  {
    kubeScore: 'container-image-pull-policy',
    checkov: 'CKV_K8S_15',
    reason: 'IfNotPresent: images are pinned by a tag other than latest or by a digest (checked at synth), so a node reuses the very image without asking the registry at each pod start.',
  },
  { checkov: 'CKV_K8S_43', reason: 'Images are pinned by a tag other than latest or by a digest, checked at synth; a digest is the user\'s choice.' },
  { checkov: 'CKV_K8S_35', reason: 'The app and the migration take their settings from environment variables, Secrets included (envFrom), as most migration tools expect.' },
  {
    kubeScore: 'pod-networkpolicy',
    checkov: 'CKV2_K8S_6',
    reason: 'Who may reach these pods and what they must reach (the database, the API server) is known to the cluster, not the library: bring a NetworkPolicy or a namespace default-deny.',
  },
];

/** What the pods the library itself renders keep: the application's and the migration's. */
export const OWN_PODS: LinterWaiverProps[] = [
  {
    kubeScore: 'container-security-context-user-group-id',
    checkov: 'CKV_K8S_40',
    reason: 'The UID and GID are the image\'s own or those securityContext sets; runAsNonRoot holds them to non-root either way.',
  },
];

/** What the application's Deployment keeps. */
export const APP_DEPLOYMENT: LinterWaiverProps[] = [
  {
    kubeScore: 'deployment-has-poddisruptionbudget',
    reason: 'How many pods may be down during a drain is the application\'s availability choice: add a PodDisruptionBudget next to it.',
  },
  {
    kubeScore: 'deployment-has-host-podantiaffinity',
    reason: 'Spreading pods over nodes is a scheduling choice of the application and the cluster: use deployment.scheduling.spread() or topology spread constraints.',
  },
];

/** What the application's Deployment keeps when its props leave a probe out, or ask for one replica. */
export function appChoices(props: { readiness?: unknown; liveness?: unknown; replicas: number }): LinterWaiverProps[] {
  return [
    ...props.readiness ? [] : [
      { kubeScore: 'pod-probes', checkov: 'CKV_K8S_9', reason: 'No readiness probe was given (the readiness prop): the library cannot guess how the app tells it is ready.' },
    ],
    ...props.liveness ? [] : [
      { checkov: 'CKV_K8S_8', reason: 'No liveness probe was given (the liveness prop): one only helps an app that can hang without exiting.' },
    ],
    ...props.replicas > 1 ? [] : [{ kubeScore: 'deployment-replicas', reason: 'One replica was asked for (the replicas prop).' }],
  ];
}

/** Annotates the exceptions the library's own choices call for on `resource`. */
export function annotateLibraryExceptions(resource: kplus.Resource): void {
  for (const e of [...EVERY_OBJECT, ...resource instanceof kplus.Workload ? WORKLOAD : []]) annotateException(resource.metadata, e);
}
