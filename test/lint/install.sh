#!/usr/bin/env bash
# Installs the linters of `npm run lint:k8s` into test/lint/.tools/ (gitignored),
# once: a no-op while they are there and this script, go.mod and go.sum are unchanged.
# - kube-score and kubesec: built from their Go modules, pinned in go.mod and go.sum here;
# - Checkov: from PyPI into a virtual environment, pinned below;
# - the Kubernetes 1.36 JSON schemas that kubesec validates each object against
#   before it scores it: by default it fetches them from GitHub, which CI cannot
#   reach, so they come from the PyPI package kubernetes-validate instead.
set -euo pipefail
cd "$(dirname "$0")"

CHECKOV_VERSION=3.3.30
KUBERNETES_VALIDATE_VERSION=1.37.0
SCHEMAS=v1.36.0-local-strict

tools=.tools
stamp="$tools/installed"
want=$(cat install.sh go.mod go.sum | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
rm -rf "$tools"
mkdir -p "$tools/bin" "$tools/schemas"

go build -o "$tools/bin/" github.com/zegl/kube-score/cmd/kube-score github.com/controlplaneio/kubesec/v2

python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
  "checkov==$CHECKOV_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"

# kubernetes-validate's schemas refer to their shared definitions as
# "/api/_definitions.json", which resolves against each schema's "$id" (an
# https:// URL that kubesec would try to fetch): point them at the local file.
site=$("$tools/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')
dest=$(cd "$tools/schemas" && pwd)
for f in "$site/kubernetes-json-schema/$SCHEMAS"/*.json; do
  sed "s#\"/api/_definitions.json#\"file://$dest/_definitions.json#g" "$f" > "$dest/$(basename "$f")"
done

echo "$want" > "$stamp"
echo "linters installed in test/lint/.tools: kube-score, kubesec, checkov $CHECKOV_VERSION"
