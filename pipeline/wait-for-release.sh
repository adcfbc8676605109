#!/usr/bin/env bash
# Gate a CI/CD pipeline on a release made with cdk8s-migrated-app.
#
#   kubectl apply -f dist/
#   pipeline/wait-for-release.sh [-n NAMESPACE] [-t TIMEOUT] -f dist/            # what the manifests hold
#   pipeline/wait-for-release.sh [-n NAMESPACE] [-t TIMEOUT] -l app.kubernetes.io/instance=shop
#   pipeline/wait-for-release.sh [-n NAMESPACE] [-t TIMEOUT] -f dist/ -p app.kubernetes.io/instance=shop
#
# For each migration Job it waits until the Job is Complete or Failed, whichever
# comes first: a failed migration fails the pipeline at once, with the Job's
# reason and the end of its log, instead of after the whole timeout. Then it
# waits for the rollout of each Deployment, StatefulSet and DaemonSet. Exits non-zero on any failure.
# A contract step's Job is one of the Jobs: it completes only after the rollout,
# so a failed contract step, or one that did not run, fails the pipeline too.
# With -l, Jobs of earlier releases that were not pruned are waited for too.
#
# With -p SELECTOR (and -f), once the release is complete it prunes: it deletes
# the objects that carry SELECTOR's labels, that the manifests do not hold, and
# that were created before this release's newest Job, that is earlier
# releases' objects; never a Job whose migration has not ended (Complete or
# Failed), and nothing a later release made (another pipeline's apply). It
# re-applies nothing, unlike `kubectl apply --prune`.
set -euo pipefail

usage() { echo "usage: $0 [-n NAMESPACE] [-t TIMEOUT] (-f MANIFEST ... [-p SELECTOR] | -l SELECTOR)" >&2; exit 2; }
namespace=()
timeout=15m
sources=()
files=()
prune_selector=
while getopts 'n:t:f:l:p:' opt; do
  case $opt in
    n) namespace=(--namespace "$OPTARG") ;;
    t) timeout=$OPTARG ;;
    f) files+=(--filename "$OPTARG"); sources+=(--filename "$OPTARG") ;;
    l) sources=("jobs,deployments,statefulsets,daemonsets" --selector "$OPTARG") ;;
    p) prune_selector=$OPTARG ;;
    *) usage ;;
  esac
done
((${#sources[@]} > 0)) || usage
if [[ -n $prune_selector ]] && ((${#files[@]} == 0)); then
  echo "$0: -p needs -f: it keeps what the manifests hold" >&2
  exit 2
fi

objects=$(kubectl get "${namespace[@]}" "${sources[@]}" --output name)
mapfile -t jobs < <(grep '^job\.batch/' <<<"$objects" || true)
mapfile -t workloads < <(grep -E '^(deployment|statefulset|daemonset)\.apps/' <<<"$objects" || true)

for job in "${jobs[@]}"; do
  echo "waiting for ${job} to complete or fail (timeout ${timeout})"
  kubectl wait "${namespace[@]}" --for=condition=Complete --timeout="$timeout" "$job" >/dev/null &
  complete=$!
  kubectl wait "${namespace[@]}" --for=condition=Failed --timeout="$timeout" "$job" >/dev/null &
  failed=$!
  status=0
  wait -n -p first "$complete" "$failed" || status=$?
  kill "$complete" "$failed" 2>/dev/null || true
  if ((status != 0)); then
    echo "${job}: gave up waiting after ${timeout}" >&2
    exit 1
  fi
  if [[ $first == "$failed" ]]; then
    reason=$(kubectl get "${namespace[@]}" "$job" --output 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}')
    echo "${job} failed: ${reason}. The end of its containers' logs:" >&2
    kubectl logs "${namespace[@]}" --all-containers --prefix --tail=20 "$job" >&2 || true
    exit 1
  fi
  echo "${job} is complete"
done

for workload in "${workloads[@]}"; do
  kubectl rollout status "${namespace[@]}" --timeout="$timeout" "$workload"
done

[[ -n $prune_selector ]] || exit 0

# The kinds the library emits. Timestamps are RFC 3339 in UTC: in the C locale they sort as strings.
export LC_ALL=C
kinds=jobs,configmaps,secrets,serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,deployments,statefulsets,daemonsets,services
columns='KIND:.kind,NAME:.metadata.name,CREATED:.metadata.creationTimestamp,TRUE:.status.conditions[?(@.status=="True")].type'
released=
for job in "${jobs[@]}"; do
  created=$(kubectl get "${namespace[@]}" "$job" --output 'jsonpath={.metadata.creationTimestamp}')
  if [[ $created > $released ]]; then released=$created; fi
done
if [[ -z $released ]]; then
  echo "pruning nothing: the manifests hold no migration Job to date this release by"
  exit 0
fi
keep=$(kubectl get "${namespace[@]}" "${files[@]}" --output custom-columns=KIND:.kind,NAME:.metadata.name --no-headers)
while read -r kind name created conditions; do
  if grep -qxE "$kind +$name" <<<"$keep"; then continue; fi
  if [[ ! $created < $released ]]; then
    echo "keeping ${kind}/${name}: not older than this release (${created})"
  elif [[ $kind == Job && ! ,$conditions, =~ ,(Complete|Failed), ]]; then
    echo "keeping ${kind}/${name}: its migration has not ended"
  else
    kubectl delete "${namespace[@]}" --wait=false "${kind}/${name}"
  fi
done < <(kubectl get "${namespace[@]}" "$kinds" --selector "$prune_selector" --output "custom-columns=$columns" --no-headers)
