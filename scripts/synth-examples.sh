#!/usr/bin/env bash
# Synthesizes examples (all of them, or the ones named) with the built package,
# exactly as `cdk8s synth` would run them: `npx ts-node main.ts` in the example's folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The examples import the library by its package name; resolve it to this checkout's build.
ln -sfn .. "$root/node_modules/cdk8s-migrated-app"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in "$root"/examples/*/main.ts; do names+=("$(basename "$(dirname "$d")")"); done
fi
for name in "${names[@]}"; do
  dir="$root/examples/$name"
  rm -rf "$dir/dist"
  (cd "$dir" && CDK8S_OUTDIR=dist npx ts-node main.ts)
  echo "examples/$name: wrote $(find "$dir/dist" -type f | sed "s|$root/||" | tr '\n' ' ')"
done
