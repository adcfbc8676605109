#!/usr/bin/env bash
# Builds the e2e cluster's binaries from the Go modules pinned in
# test/e2e/controlplane/go.mod, test/e2e/controlplane/etcd/go.mod and
# test/e2e/kubectl/go.mod, sql-migrate from test/e2e/sql-migrate/go.mod, the
# helm CLI from test/e2e/modules/helm/go.mod, Flux's kustomize-controller and
# the CRDs it needs from test/e2e/modules/flux/go.mod, Argo CD and a small
# in-memory Redis from test/e2e/modules/argocd/go.mod, then the node's
# container images (test/e2e/images/build.sh).
#
# Output: test/e2e/.bin/kubernetes-<version>/{kube-apiserver,kube-controller-manager,
#                                            kube-scheduler,kubelet,kube-proxy}
#         test/e2e/.bin/etcd-<version>/etcd
#         test/e2e/.bin/kubectl-<version>/kubectl   the waiter's kubectl (its image's version)
#         test/e2e/.bin/sql-migrate-<version>/sql-migrate  packed into the shop images
#         test/e2e/.bin/helm-<version>/helm         for helm.e2e.test.ts
#         test/e2e/.bin/flux-<version>/kustomize-controller, crds/*.yaml
#                                                    for flux.e2e.test.ts
#         test/e2e/.bin/argocd-<version>/{argocd,redis,hack/,manifests/}
#                                                    for argocd.e2e.test.ts: Argo CD's
#                                                    multi-call binary, miniredis, and
#                                                    the module's hack/ scripts and
#                                                    manifests/ (CRDs, config)
#         test/e2e/.bin/images/*.tar                 OCI archives (images/build.sh)
# A binary is built only when it is missing from its versioned folder, so
# bumping a pinned version triggers a rebuild and nothing else does. A cold
# build of everything (empty Go build and module caches) took 9 minutes on 2
# cores, 1 GB of module downloads included: 7.5 min for the five Kubernetes
# commands, 0.5 for etcd, 1 for kubectl, seconds for the images.
# kustomize-controller (2026-12-06, with its modules downloaded and the Go build
# cache already holding the other builds' Kubernetes packages): 282 s of CPU,
# 809 s of wall time at a load average of 14 to 17, 1.5 GB at peak; warm
# (binary removed, build cache kept): 14 s. A probe with an empty build cache
# measured about 435 s of CPU.
# Argo CD (2026-12-06): 1201 s wall clock (437 s user + 80 s system CPU, 2.3 GB
# peak RSS) on 2 cores shared with other builds (load average 15), with no
# build cache for its go1.27.4 toolchain (its first use on the machine) and its
# modules already downloaded; warm (build cache kept, same go build): 8 s.
#
# Usage: build.sh            build what is missing
#        build.sh --check    exit 0 if everything is built, 1 otherwise
#        build.sh --env      print K8S_VERSION, ETCD_VERSION, KUBE_APISERVER,
#                            KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET,
#                            KUBE_PROXY, ETCD, WAITER_KUBECTL, WAITER_KUBECTL_VERSION,
#                            SQL_MIGRATE, SQL_MIGRATE_VERSION, HELM, HELM_VERSION,
#                            KUSTOMIZE_CONTROLLER, FLUX_VERSION, FLUX_CRDS,
#                            ARGOCD_DIR, ARGOCD_VERSION
#                            (KEY=value lines, shell-quoted; no build)
# Env:   E2E_BIN_DIR         cache folder (default test/e2e/.bin)
set -euo pipefail

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_ROOT="${E2E_BIN_DIR:-$E2E/.bin}"
K8S_MOD_DIR="$E2E/modules/controlplane"
ETCD_MOD_DIR="$E2E/modules/controlplane/etcd"
KUBECTL_MOD_DIR="$E2E/modules/kubectl"
SQL_MIGRATE_MOD_DIR="$E2E/modules/sql-migrate"
HELM_MOD_DIR="$E2E/modules/helm"
FLUX_MOD_DIR="$E2E/modules/flux"
ARGOCD_MOD_DIR="$E2E/modules/argocd"

# Reads "<module> vX.Y.Z" out of a go.mod without touching the network.
mod_version() {
  local gomod="$1" module="$2" v
  v="$(awk -v m="$module" '
        $1 == "replace" || $1 == ")" { inrep = 0 }
        $1 == "replace" && $2 == "(" { inrep = 1; next }
        inrep { next }
        $1 == "require" && $2 == m && $3 ~ /^v/ { print $3; exit }
        $1 == m && $2 ~ /^v/ { print $2; exit }
      ' "$gomod")"
  if [[ -z "$v" ]]; then
    echo "build.sh: cannot find $module in $gomod" >&2
    exit 1
  fi
  printf '%s\n' "$v"
}

K8S_VERSION="$(mod_version "$K8S_MOD_DIR/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version "$ETCD_MOD_DIR/go.mod" go.etcd.io/etcd/server/v3)"
# The staging module k8s.io/kubectl v0.X.Y is released with kubectl v1.X.Y.
KUBECTL_MOD_VERSION="$(mod_version "$KUBECTL_MOD_DIR/go.mod" k8s.io/kubectl)"
WAITER_KUBECTL_VERSION="v1.${KUBECTL_MOD_VERSION#v0.}"
# The oldest kubectl the waiter works with (src/waiter.ts says why): the waiter e2e cases run with it too.
MIN_KUBECTL_MOD_VERSION="$(mod_version "$KUBECTL_MOD_DIR/min.mod" k8s.io/kubectl)"
MIN_KUBECTL_VERSION="v1.${MIN_KUBECTL_MOD_VERSION#v0.}"
SQL_MIGRATE_VERSION="$(mod_version "$SQL_MIGRATE_MOD_DIR/go.mod" github.com/rubenv/sql-migrate)"
HELM_VERSION="$(mod_version "$HELM_MOD_DIR/go.mod" helm.sh/helm/v4)"
K8S_BIN_DIR="$BIN_ROOT/kubernetes-$K8S_VERSION"
ETCD_BIN_DIR="$BIN_ROOT/etcd-$ETCD_VERSION"
KUBECTL_BIN_DIR="$BIN_ROOT/kubectl-$WAITER_KUBECTL_VERSION"
MIN_KUBECTL_BIN_DIR="$BIN_ROOT/kubectl-$MIN_KUBECTL_VERSION"
SQL_MIGRATE_BIN_DIR="$BIN_ROOT/sql-migrate-$SQL_MIGRATE_VERSION"
HELM_BIN_DIR="$BIN_ROOT/helm-$HELM_VERSION"
FLUX_VERSION="$(mod_version "$FLUX_MOD_DIR/go.mod" github.com/fluxcd/kustomize-controller)"
# source-controller is not built (it does not build from the proxy), only its
# CRDs are taken from its module zip: the version is a "//crds" comment line.
FLUX_SOURCE_VERSION="$(awk '$1 == "//crds" && $2 == "github.com/fluxcd/source-controller" { print $3; exit }' "$FLUX_MOD_DIR/go.mod")"
FLUX_BIN_DIR="$BIN_ROOT/flux-$FLUX_VERSION"
ARGOCD_VERSION="$(mod_version "$ARGOCD_MOD_DIR/go.mod" github.com/argoproj/argo-cd/v3)"
ARGOCD_BIN_DIR="$BIN_ROOT/argocd-$ARGOCD_VERSION"
# Argo CD v3.6 declares go 1.27; the machine's Go may be older: fetch that toolchain from the module proxy.
ARGOCD_GOTOOLCHAIN="go1.27.4+auto"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

missing_k8s() {
  local c
  for c in "${K8S_COMMANDS[@]}"; do
    [[ -x "$K8S_BIN_DIR/$c" ]] || echo "$c"
  done
}
have_k8s() { [[ -z "$(missing_k8s)" ]]; }
have_etcd() { [[ -x "$ETCD_BIN_DIR/etcd" ]]; }
have_kubectl() { [[ -x "$KUBECTL_BIN_DIR/kubectl" ]]; }
have_min_kubectl() { [[ -x "$MIN_KUBECTL_BIN_DIR/kubectl" ]]; }
have_sql_migrate() { [[ -x "$SQL_MIGRATE_BIN_DIR/sql-migrate" ]]; }
have_helm() { [[ -x "$HELM_BIN_DIR/helm" ]]; }
have_flux() {
  [[ -x "$FLUX_BIN_DIR/kustomize-controller" &&
    -f "$FLUX_BIN_DIR/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml" &&
    -f "$FLUX_BIN_DIR/crds/source.toolkit.fluxcd.io_externalartifacts.yaml" &&
    -f "$FLUX_BIN_DIR/crds/source.toolkit.fluxcd.io_gitrepositories.yaml" ]]
}
have_argocd() {
  [[ -x "$ARGOCD_BIN_DIR/argocd" && -x "$ARGOCD_BIN_DIR/redis" && -x "$ARGOCD_BIN_DIR/hack/git-verify-wrapper.sh" \
    && -f "$ARGOCD_BIN_DIR/manifests/crds/application-crd.yaml" ]]
}

case "${1:-}" in
  --env)
    printf 'K8S_VERSION=%q\n' "$K8S_VERSION"
    printf 'ETCD_VERSION=%q\n' "$ETCD_VERSION"
    printf 'KUBE_APISERVER=%q\n' "$K8S_BIN_DIR/kube-apiserver"
    printf 'KUBE_CONTROLLER_MANAGER=%q\n' "$K8S_BIN_DIR/kube-controller-manager"
    printf 'KUBE_SCHEDULER=%q\n' "$K8S_BIN_DIR/kube-scheduler"
    printf 'KUBELET=%q\n' "$K8S_BIN_DIR/kubelet"
    printf 'KUBE_PROXY=%q\n' "$K8S_BIN_DIR/kube-proxy"
    printf 'ETCD=%q\n' "$ETCD_BIN_DIR/etcd"
    printf 'WAITER_KUBECTL=%q\n' "$KUBECTL_BIN_DIR/kubectl"
    printf 'WAITER_KUBECTL_VERSION=%q\n' "$WAITER_KUBECTL_VERSION"
    printf 'MIN_KUBECTL=%q\n' "$MIN_KUBECTL_BIN_DIR/kubectl"
    printf 'MIN_KUBECTL_VERSION=%q\n' "$MIN_KUBECTL_VERSION"
    printf 'SQL_MIGRATE=%q\n' "$SQL_MIGRATE_BIN_DIR/sql-migrate"
    printf 'SQL_MIGRATE_VERSION=%q\n' "$SQL_MIGRATE_VERSION"
    printf 'HELM=%q\n' "$HELM_BIN_DIR/helm"
    printf 'HELM_VERSION=%q\n' "$HELM_VERSION"
    printf 'KUSTOMIZE_CONTROLLER=%q\n' "$FLUX_BIN_DIR/kustomize-controller"
    printf 'FLUX_VERSION=%q\n' "$FLUX_VERSION"
    printf 'FLUX_CRDS=%q\n' "$FLUX_BIN_DIR/crds"
    printf 'ARGOCD_DIR=%q\n' "$ARGOCD_BIN_DIR"
    printf 'ARGOCD_VERSION=%q\n' "$ARGOCD_VERSION"
    exit 0
    ;;
  --check)
    have_k8s && have_etcd && have_kubectl && have_min_kubectl && have_sql_migrate && have_helm && have_flux && have_argocd && "$E2E/images/build.sh" --check
    exit $?
    ;;
  "") ;;
  *)
    echo "usage: $0 [--check|--env]" >&2
    exit 2
    ;;
esac

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: go is not on PATH" >&2
  exit 1
fi

# Small, reproducible binaries; at most 2 parallel compile jobs (2-core box).
export GOMAXPROCS="${GOMAXPROCS:-2}"
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED=0
GO_P="${GO_BUILD_P:-2}"

# What hack/lib/version.sh stamps into release builds, so /version and
# kubectl's skew check see the real version instead of v0.0.0-master.
version_ldflags() {
  local version="$1" minor pkg out="-s -w"
  minor="${version#v1.}"
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s\n' "$out"
}

# build_into DEST MODDIR LDFLAGS NAME PKG...: go build into a temp folder,
# then move each binary into DEST, so an interrupted build never leaves a
# half-written binary behind and binaries already in DEST stay.
# NAME: output file name for a single package, or "" to name binaries after
# their packages.
build_into() {
  local dest="$1" moddir="$2" ldflags="$3" name="$4" f
  shift 4
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp" "$dest"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$moddir" && go build -p "$GO_P" -ldflags="$ldflags" -o "$tmp/$name" "$@")
  for f in "$tmp"/*; do
    mv -f "$f" "$dest/"
  done
  rm -rf "$tmp"
  trap - EXIT
}

# module_dir MODDIR MODULE[@VERSION]: the module's folder in the module cache, downloaded first if
# need be. (`go list -m -f '{{.Dir}}'` prints nothing for a module not downloaded yet: with an
# empty cache, Argo CD's hack/ scripts were then looked for in /hack.)
module_dir() {
  (cd "$1" && go mod download -json "$2" | awk -F'"' '$2 == "Dir" { print $4 }')
}

mkdir -p "$BIN_ROOT"

if have_k8s; then
  echo "build.sh: kubernetes $K8S_VERSION already built in $K8S_BIN_DIR (skipping)"
else
  mapfile -t todo < <(missing_k8s)
  echo "build.sh: building ${todo[*]} $K8S_VERSION into $K8S_BIN_DIR (slow: 7-10 min cold)"
  start=$SECONDS
  build_into "$K8S_BIN_DIR" "$K8S_MOD_DIR" "$(version_ldflags "$K8S_VERSION")" "" \
    "${todo[@]/#/k8s.io/kubernetes/cmd/}"
  echo "build.sh: kubernetes $K8S_VERSION built in $((SECONDS - start))s"
fi

if have_etcd; then
  echo "build.sh: etcd $ETCD_VERSION already built in $ETCD_BIN_DIR (skipping)"
else
  echo "build.sh: building etcd $ETCD_VERSION into $ETCD_BIN_DIR"
  start=$SECONDS
  # The etcd binary's main package is the root of go.etcd.io/etcd/server/v3.
  build_into "$ETCD_BIN_DIR" "$ETCD_MOD_DIR" "-s -w" etcd go.etcd.io/etcd/server/v3
  echo "build.sh: etcd $ETCD_VERSION built in $((SECONDS - start))s"
fi

if have_kubectl; then
  echo "build.sh: kubectl $WAITER_KUBECTL_VERSION already built in $KUBECTL_BIN_DIR (skipping)"
else
  echo "build.sh: building kubectl $WAITER_KUBECTL_VERSION into $KUBECTL_BIN_DIR"
  start=$SECONDS
  build_into "$KUBECTL_BIN_DIR" "$KUBECTL_MOD_DIR" "$(version_ldflags "$WAITER_KUBECTL_VERSION")" kubectl .
  echo "build.sh: kubectl $WAITER_KUBECTL_VERSION built in $((SECONDS - start))s"
fi

if have_min_kubectl; then
  echo "build.sh: kubectl $MIN_KUBECTL_VERSION already built in $MIN_KUBECTL_BIN_DIR (skipping)"
else
  echo "build.sh: building kubectl $MIN_KUBECTL_VERSION into $MIN_KUBECTL_BIN_DIR"
  start=$SECONDS
  # The same main.go as the waiter's kubectl, with the older pins of min.mod (and min.sum).
  build_into "$MIN_KUBECTL_BIN_DIR" "$KUBECTL_MOD_DIR" "$(version_ldflags "$MIN_KUBECTL_VERSION")" kubectl -modfile=min.mod .
  echo "build.sh: kubectl $MIN_KUBECTL_VERSION built in $((SECONDS - start))s"
fi

if have_sql_migrate; then
  echo "build.sh: sql-migrate $SQL_MIGRATE_VERSION already built in $SQL_MIGRATE_BIN_DIR (skipping)"
else
  echo "build.sh: building sql-migrate $SQL_MIGRATE_VERSION into $SQL_MIGRATE_BIN_DIR"
  start=$SECONDS
  build_into "$SQL_MIGRATE_BIN_DIR" "$SQL_MIGRATE_MOD_DIR" "-s -w" sql-migrate github.com/rubenv/sql-migrate/sql-migrate
  echo "build.sh: sql-migrate $SQL_MIGRATE_VERSION built in $((SECONDS - start))s"
fi

if have_helm; then
  echo "build.sh: helm $HELM_VERSION already built in $HELM_BIN_DIR (skipping)"
else
  echo "build.sh: building helm $HELM_VERSION into $HELM_BIN_DIR"
  start=$SECONDS
  # The version Helm's Makefile stamps (`helm version` would say v4.3 otherwise).
  build_into "$HELM_BIN_DIR" "$HELM_MOD_DIR" "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" helm \
    helm.sh/helm/v4/cmd/helm
  echo "build.sh: helm $HELM_VERSION built in $((SECONDS - start))s"
fi

if have_flux; then
  echo "build.sh: kustomize-controller $FLUX_VERSION already built in $FLUX_BIN_DIR (skipping)"
else
  if [[ -z "$FLUX_SOURCE_VERSION" ]]; then
    echo "build.sh: no //crds github.com/fluxcd/source-controller line in $FLUX_MOD_DIR/go.mod" >&2
    exit 1
  fi
  echo "build.sh: building kustomize-controller $FLUX_VERSION into $FLUX_BIN_DIR (slow: 5 to 8 min of CPU cold)"
  start=$SECONDS
  build_into "$FLUX_BIN_DIR" "$FLUX_MOD_DIR" "-s -w" kustomize-controller github.com/fluxcd/kustomize-controller
  # The CRDs: the Kustomization from kustomize-controller's module zip, and
  # from source-controller's every source kind: the ExternalArtifact is the
  # test's, but kustomize-controller watches GitRepository, OCIRepository and
  # Bucket too, and without their CRDs its cache never syncs (it exits).
  kc_dir="$(module_dir "$FLUX_MOD_DIR" github.com/fluxcd/kustomize-controller)"
  sc_dir="$(module_dir "$FLUX_MOD_DIR" "github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION")"
  mkdir -p "$FLUX_BIN_DIR/crds.tmp.$$"
  cp "$kc_dir/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" \
    "$sc_dir"/config/crd/bases/source.toolkit.fluxcd.io_*.yaml "$FLUX_BIN_DIR/crds.tmp.$$/"
  chmod 644 "$FLUX_BIN_DIR/crds.tmp.$$"/*.yaml
  rm -rf "$FLUX_BIN_DIR/crds"
  mv "$FLUX_BIN_DIR/crds.tmp.$$" "$FLUX_BIN_DIR/crds"
  echo "build.sh: kustomize-controller $FLUX_VERSION built in $((SECONDS - start))s"
fi

if have_argocd; then
  echo "build.sh: argocd $ARGOCD_VERSION already built in $ARGOCD_BIN_DIR (skipping)"
else
  echo "build.sh: building argocd $ARGOCD_VERSION and redis into $ARGOCD_BIN_DIR (slow: 9 min of CPU cold, 2.3 GB of memory)"
  start=$SECONDS
  # The files the test needs from the module itself: the repo-server execs hack/git-verify-wrapper.sh (and
  # gpg-wrapper.sh) from PATH; manifests/ has the CRDs and the config objects. Copied first: have_argocd looks for the binaries.
  argocd_src="$(GOTOOLCHAIN="$ARGOCD_GOTOOLCHAIN" module_dir "$ARGOCD_MOD_DIR" github.com/argoproj/argo-cd/v3)"
  mkdir -p "$ARGOCD_BIN_DIR/hack"
  rm -rf "$ARGOCD_BIN_DIR/manifests"
  cp "$argocd_src/hack/git-verify-wrapper.sh" "$argocd_src/hack/gpg-wrapper.sh" "$ARGOCD_BIN_DIR/hack/"
  cp -r "$argocd_src/manifests" "$ARGOCD_BIN_DIR/manifests"
  chmod -R u+w "$ARGOCD_BIN_DIR/hack" "$ARGOCD_BIN_DIR/manifests"
  chmod +x "$ARGOCD_BIN_DIR/hack/"*.sh
  # The version stamp Argo CD's Makefile sets (common.version, else 99.99.99).
  GOTOOLCHAIN="$ARGOCD_GOTOOLCHAIN" build_into "$ARGOCD_BIN_DIR" "$ARGOCD_MOD_DIR" \
    "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}" argocd github.com/argoproj/argo-cd/v3/cmd
  GOTOOLCHAIN="$ARGOCD_GOTOOLCHAIN" build_into "$ARGOCD_BIN_DIR" "$ARGOCD_MOD_DIR" "-s -w" redis ./redis
  echo "build.sh: argocd $ARGOCD_VERSION built in $((SECONDS - start))s"
fi

ls -l "$K8S_BIN_DIR" "$ETCD_BIN_DIR" "$KUBECTL_BIN_DIR" "$MIN_KUBECTL_BIN_DIR" "$SQL_MIGRATE_BIN_DIR" "$HELM_BIN_DIR" "$FLUX_BIN_DIR" \
  "$ARGOCD_BIN_DIR"

"$E2E/images/build.sh"
