#!/usr/bin/env bash
# npm run e2e: the suite as two jest runs at once, each with a control plane of its own (its
# globalSetup starts one), so that one run's waits (migrations, rollouts, Argo CD's and Flux's
# polling) overlap the other's. Each line of output starts with its run's number. Arguments go to
# both runs (`npm run e2e -- -t 'Argo CD'`). One run, one file: jest --config test/e2e/support/jest.config.json FILE.
set -euo pipefail
cd "$(dirname "$0")/../../.."

# Run 1 takes the files that write to the checkout (`npx projen compile && scripts/synth-examples.sh`
# writes lib/, examples/*/dist/ and the node_modules/cdk8s-migrated-app link) and the one that
# reads examples/*/dist/, one after another; run 2 takes every other file. waiter.e2e.test.ts and
# argocd.e2e.test.ts are in run 1 only to even out the two runs' times.
FIRST='/test/e2e/(argocd-readme|flux|helm|examples|argocd|waiter)\.e2e\.test\.ts$'

jest=(node_modules/.bin/jest --config test/e2e/support/jest.config.json --ci)

# A cluster of one's own (E2E_REUSE_CLUSTER, test/e2e/support/global-setup.ts) serves one run only.
if [[ -n "${E2E_REUSE_CLUSTER:-}" ]]; then
  exec "${jest[@]}" "$@"
fi

# Built once here: two build.sh at once (each globalSetup runs it) would build the same files.
test/e2e/cluster/build.sh

"${jest[@]}" "$@" "$FIRST" > >(sed -u 's/^/[1] /') 2>&1 &
first=$!
"${jest[@]}" "$@" --testPathIgnorePatterns "$FIRST" > >(sed -u 's/^/[2] /') 2>&1 &
second=$!
# On a signal, each jest stops its control plane (test/e2e/support/harness.ts).
trap 'kill -TERM "$first" "$second" 2>/dev/null || true' INT TERM HUP

status=0
wait "$first" || status=1
wait "$second" || status=1
# sed may still be writing the last lines.
wait
exit "$status"
