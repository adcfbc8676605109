#!/usr/bin/env bash
# Mutation testing of src/ with StrykerJS (CONTRIBUTING.md, "Mutation testing").
#   npm run test:mutation              every mutant of src/; writes reports/mutation/incremental.json
#   npm run test:mutation -- --resume  every mutant of src/, reusing the results in
#                                      reports/mutation/incremental.json that still hold: an
#                                      interrupted run (Ctrl-C saves what it has) goes on from there
#   npm run test:mutation -- --quick   only the mutants on lines of src/ changed since main (on main:
#                                      since the commit before HEAD), reusing the results in
#                                      reports/mutation/incremental.json where there is one
# Other arguments go to Stryker, e.g. `--mutate src/naming.ts --concurrency 1`.
# It prints the score table and every surviving mutant with its file and line, and fails under 95%.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=(--incremental --force)
quick=false
args=()
for a in "$@"; do
  case "$a" in
    --quick) mode=(--incremental) quick=true ;;
    --resume) mode=(--incremental) ;;
    *) args+=("$a") ;;
  esac
done
if $quick; then
  ranges=$(node test/mutation/changed-lines.js)
  if [ -z "$ranges" ]; then
    echo "test:mutation --quick: no line of src/ changed, nothing to mutate"
    exit 0
  fi
  mode+=(--mutate "$ranges")
fi

# StrykerJS 10 refuses Node.js older than 22; the machine's is 20. Node.js 22 comes from the npm
# registry's node-<platform>-<arch> package, installed once into test/mutation/.node/.
NODE_VERSION=22.23.5
platform=$(node -p 'process.platform + "-" + process.arch')
dir=test/mutation/.node
node22="$dir/node_modules/node-$platform/bin/node"
if [ ! -x "$node22" ] || [ "$("$node22" --version)" != "v$NODE_VERSION" ]; then
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "node-$platform@$NODE_VERSION" >/dev/null
fi

start=$(date +%s)
status=0
"$node22" node_modules/@stryker-mutator/core/bin/stryker.js run test/mutation/stryker.config.mjs "${mode[@]}" "${args[@]}" || status=$?
echo "test:mutation took $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
