#!/usr/bin/env bash
# Gate a CI/CD pipeline on a release made with cdk8s-migrated-app.
#
#   kubectl apply -f dist/
#   pipeline/wait-for-release.sh [-n NAMESPACE] [-t TIMEOUT] -f dist/            # what the manifests hold
#   pipeline/wait-for-release.sh [-n NAMESPACE] [-t TIMEOUT] -l app.kubernetes.io/instance=shop
#
# For each migration Job it waits until the Job is Complete or Failed, whichever
# comes first: a failed migration fails the pipeline at once, with the Job's
# reason and the end of its log, instead of after the whole timeout. Then it
# waits for the rollout of each Deployment, StatefulSet and DaemonSet. Exits non-zero on any failure.
# With -l, Jobs of earlier releases that were not pruned are waited for too.
set -euo pipefail

usage() { echo "usage: $0 [-n NAMESPACE] [-t TIMEOUT] (-f MANIFEST ... | -l SELECTOR)" >&2; exit 2; }
namespace=()
timeout=15m
sources=()
while getopts 'n:t:f:l:' opt; do
  case $opt in
    n) namespace=(--namespace "$OPTARG") ;;
    t) timeout=$OPTARG ;;
    f) sources+=(--filename "$OPTARG") ;;
    l) sources=("jobs,deployments,statefulsets,daemonsets" --selector "$OPTARG") ;;
    *) usage ;;
  esac
done
((${#sources[@]} > 0)) || usage

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
    echo "${job} failed: ${reason}. The end of its log:" >&2
    kubectl logs "${namespace[@]}" --tail=20 "$job" >&2 || true
    exit 1
  fi
  echo "${job} is complete"
done

for workload in "${workloads[@]}"; do
  kubectl rollout status "${namespace[@]}" --timeout="$timeout" "$workload"
done
