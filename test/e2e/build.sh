#!/usr/bin/env bash
# Builds the e2e control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager) from the Go modules pinned in
# test/e2e/controlplane/go.mod and test/e2e/controlplane/etcd/go.mod.
#
# Output: test/e2e/.bin/kubernetes-<version>/{kube-apiserver,kube-controller-manager}
#         test/e2e/.bin/etcd-<version>/etcd
# A binary set is built only when its versioned folder is missing or
# incomplete, so bumping a pinned version triggers a rebuild and nothing
# else does. A cold build takes roughly 10-25 minutes on 2 cores.
#
# Usage: build.sh            build what is missing
#        build.sh --check    exit 0 if everything is built, 1 otherwise
#        build.sh --env      print KUBE_APISERVER=..., KUBE_CONTROLLER_MANAGER=...,
#                            ETCD=..., K8S_VERSION=..., ETCD_VERSION=... (no build)
# Env:   E2E_BIN_DIR         cache folder (default test/e2e/.bin)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_ROOT="${E2E_BIN_DIR:-$HERE/.bin}"
K8S_MOD_DIR="$HERE/controlplane"
ETCD_MOD_DIR="$HERE/controlplane/etcd"

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
K8S_BIN_DIR="$BIN_ROOT/kubernetes-$K8S_VERSION"
ETCD_BIN_DIR="$BIN_ROOT/etcd-$ETCD_VERSION"

have_k8s() { [[ -x "$K8S_BIN_DIR/kube-apiserver" && -x "$K8S_BIN_DIR/kube-controller-manager" ]]; }
have_etcd() { [[ -x "$ETCD_BIN_DIR/etcd" ]]; }

case "${1:-}" in
  --env)
    printf 'K8S_VERSION=%q\n' "$K8S_VERSION"
    printf 'ETCD_VERSION=%q\n' "$ETCD_VERSION"
    printf 'KUBE_APISERVER=%q\n' "$K8S_BIN_DIR/kube-apiserver"
    printf 'KUBE_CONTROLLER_MANAGER=%q\n' "$K8S_BIN_DIR/kube-controller-manager"
    printf 'ETCD=%q\n' "$ETCD_BIN_DIR/etcd"
    exit 0
    ;;
  --check)
    have_k8s && have_etcd
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

# go build -o into a temp folder, then rename it into place, so an
# interrupted build never leaves a half-written versioned folder behind.
# $4: output file name for a single package, or "" to name binaries after
# their packages.
build_into() {
  local dest="$1" moddir="$2" ldflags="$3" name="$4"
  shift 4
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$moddir" && go build -p "$GO_P" -ldflags="$ldflags" -o "$tmp/$name" "$@")
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
}

mkdir -p "$BIN_ROOT"

if have_k8s; then
  echo "build.sh: kubernetes $K8S_VERSION already built in $K8S_BIN_DIR (skipping)"
else
  echo "build.sh: building kube-apiserver and kube-controller-manager $K8S_VERSION into $K8S_BIN_DIR (slow: 10-25 min cold)"
  start=$SECONDS
  minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  ldflags="-s -w"
  # What hack/lib/version.sh stamps into release builds, so /version and
  # kubectl's skew check see the real version instead of v0.0.0-master.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  build_into "$K8S_BIN_DIR" "$K8S_MOD_DIR" "$ldflags" "" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager
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

ls -l "$K8S_BIN_DIR" "$ETCD_BIN_DIR"
