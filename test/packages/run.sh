#!/usr/bin/env bash
# Smoke tests of the packages that `npx projen package-all` builds into dist/:
# the quick-start example, written in TypeScript (examples/laravel/main.ts),
# Python, Java and Go, must each synthesize exactly the committed
# examples/laravel/dist/laravel.k8s.yaml, byte for byte.
#
#   test/packages/run.sh                 # all of them
#   test/packages/run.sh python go       # some: typescript, python, java, go
#
# Run `npx projen package-all` first. Everything is built in a temporary
# directory; only the usual caches (pip, ~/.m2, Go's) are reused.
# Needs node, python3 (with venv), java + mvn, and go.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
expected=examples/laravel/dist/laravel.k8s.yaml
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(typescript python java go)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The runtimes warn about Node 20's end of life on every start; the build already says so.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

version() { node -p "require('$1/package.json').version"; }
pkg_version=$(version .)
cdk8s_version=$(version cdk8s)
plus_version=$(version cdk8s-plus-27)
constructs_version=$(version constructs)
echo "packages: cdk8s-migrated-app $pkg_version against cdk8s $cdk8s_version, cdk8s-plus-27 $plus_version, constructs $constructs_version"
echo "packages: expected output: $expected"

need() {
  local what
  for what in "$@"; do
    if ! compgen -G "$what" >/dev/null; then
      echo "packages: missing $what: run \`npx projen package-all\` first" >&2
      exit 2
    fi
  done
}

synth_typescript() {
  # As scripts/synth-examples.sh does: the example imports the library by its package name.
  ln -sfn .. node_modules/cdk8s-migrated-app
  (cd examples/laravel && CDK8S_OUTDIR="$tmp/typescript" npx --no-install ts-node main.ts)
}

synth_python() {
  need "dist/python/cdk8s_migrated_app-$pkg_version-py3-none-any.whl"
  python3 -m venv "$tmp/venv"
  "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check \
    "dist/python/cdk8s_migrated_app-$pkg_version-py3-none-any.whl" \
    "cdk8s==$cdk8s_version" "cdk8s-plus-27==$plus_version" "constructs==$constructs_version"
  CDK8S_OUTDIR="$tmp/python" "$tmp/venv/bin/python" test/packages/python/main.py
}

synth_java() {
  need "dist/java/io/github/cdk8s-migrated-app/cdk8s-migrated-app/$pkg_version/*.jar" "node_modules/cdk8s-plus-27/dist/java"
  local m2=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
  # Maven never re-fetches a release it has cached: drop the last run's copy of the package under test.
  rm -rf "$m2/io/github/cdk8s-migrated-app/cdk8s-migrated-app/$pkg_version"
  CDK8S_OUTDIR="$tmp/java" mvn --batch-mode --quiet -f test/packages/java/pom.xml \
    -Dmaven.repo.local="$m2" -DbuildDirectory="$tmp/java-target" \
    -Dcdk8s-migrated-app.version="$pkg_version" -Dcdk8s.version="$cdk8s_version" \
    -Dcdk8s-plus-27.version="$plus_version" -Dconstructs.version="$constructs_version" \
    compile exec:java 2>&1 | sed -e 's/\x1b\[0m//g' # Maven 3.8 prints stray colour resets even with --batch-mode
}

synth_go() {
  need dist/go/cdk8smigratedapp/go.mod node_modules/cdk8s/dist/go/cdk8s/go.mod node_modules/cdk8s-plus-27/dist/go/cdk8splus27/go.mod
  # go.mod replaces cdk8s-core-go and cdk8s-plus-go with the bindings that package:go built from node_modules.
  if ! grep -qx "$cdk8s_version" node_modules/cdk8s/dist/go/cdk8s/version ||
    ! grep -qx "$plus_version" node_modules/cdk8s-plus-27/dist/go/cdk8splus27/version; then
    echo "packages: node_modules/*/dist/go holds bindings of other versions: delete them and run \`npx projen package:go\`" >&2
    return 1
  fi
  # On copies of go.mod and go.sum, tidied: a newer jsii-pacmak makes the bindings require a newer
  # jsii-runtime-go, which must not fail the test nor change the work tree.
  cp test/packages/go/go.mod test/packages/go/go.sum "$tmp/"
  (cd test/packages/go && go mod tidy -modfile="$tmp/go.mod")
  cmp -s test/packages/go/go.mod "$tmp/go.mod" && cmp -s test/packages/go/go.sum "$tmp/go.sum" ||
    echo "packages: note: test/packages/go/go.mod or go.sum is not tidy: run \`go mod tidy\` there"
  local status=0
  (cd test/packages/go && CDK8S_OUTDIR="$tmp/go" go run -modfile="$tmp/go.mod" .) 2>"$tmp/go.stderr" || status=$?
  # jsii-runtime-go ends some messages without a newline ("Runtime process exited abnormally: ...").
  cat "$tmp/go.stderr" >&2
  [ -z "$(tail -c 1 "$tmp/go.stderr")" ] || echo >&2
  return "$status"
}

passed=0
failed=0
for lang in "${langs[@]}"; do
  case "$lang" in
    typescript | python | java | go) ;;
    *) echo "packages: unknown language '$lang' (typescript, python, java, go)" >&2; exit 2 ;;
  esac
  echo "packages: $lang: synthesizing the example"
  start=$SECONDS
  # In a subshell of its own, so that `set -e` stops it at its first failing command.
  set +e
  (set -e; "synth_$lang")
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    echo "packages: $lang: FAILED with exit code $status ($((SECONDS - start))s)"
    failed=$((failed + 1))
  elif cmp -s "$expected" "$tmp/$lang/laravel.k8s.yaml"; then
    echo "packages: $lang: identical to $expected ($((SECONDS - start))s)"
    passed=$((passed + 1))
  else
    echo "packages: $lang: MISMATCH with $expected ($((SECONDS - start))s):"
    diff -u "$expected" "$tmp/$lang/laravel.k8s.yaml" --label "$expected" --label "$lang" | head -n 40 || true
    [ "$lang" != typescript ] || echo "packages: the TypeScript example differs: regenerate it with \`npm run example\` if the change is intended"
    failed=$((failed + 1))
  fi
done
echo "packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
