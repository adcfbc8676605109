#!/usr/bin/env bash
# Builds the e2e node's container images as OCI archives, without a registry
# or a container engine: static Go programs packed by ./mkimage.
#
#   pause.tar    registry.k8s.io/pause:3.10     containerd's sandbox_image; /pause,
#                                               USER 65535:65535 like the real one
#   kubectl.tar  registry.k8s.io/kubectl:vX.Y.Z the waiter stand-in: /bin/kubectl
#                (built by ../build.sh from ../kubectl), /bin/bash with the shared
#                libraries it loads (copied from this Debian 12 host), /etc/passwd and
#                /etc/group, ENTRYPOINT ["/bin/kubectl"], no USER. The real image
#                (kubernetes build/server-image/kubectl/Dockerfile) is debian-base
#                bookworm plus bash, grep, sed, gawk, coreutils, jq and diffutils, with
#                the same ENTRYPOINT and no USER; the migration queue needs bash only.
#   migrate.tar  e2e.local/migrate:{1.0.0,1.1.0,2.0.0}  ./migrate, ENTRYPOINT ["/bin/migrate"]
#   app.tar      e2e.local/app:{1.0.0,1.1.0,2.0.0}      ./app, ENTRYPOINT ["/bin/app"]
#   example.tar  e2e.local/example:{1.0.0,1.1.0,2.0.0}  ./example as /bin/example (the ENTRYPOINT),
#                /bin/php, /bin/python, /bin/gunicorn, /app/orders, /app/inventory and
#                /bin/sql-migrate: the examples'
#                commands, so that their manifests run with only the images swapped
#   tcpproxy.tar e2e.local/tcpproxy:1.0.0  ./tcpproxy, ENTRYPOINT ["/bin/tcpproxy"]: the
#                database proxy sidecar of examples/cloud-sql-proxy
#   git.tar      e2e.local/git:1.0.0       ./git (its own Go module: go-git), ENTRYPOINT
#                ["/bin/git"]: clones for examples/sql-migrate-git, and serves the repo
#                all USER 65532:65532, as images built for the restricted Pod
#                Security level declare: a pod that sets runAsNonRoot without a
#                runAsUser then runs (the kubelet refuses it for an image whose
#                user is root, or not numeric).
#   shop-N.tar   e2e.local/shop:N.0.0, N = 1..5   the release tests' web app: ./shop
#                (ENTRYPOINT ["/bin/shop"], CMD ["serve"], SHOP_VERSION=N), sql-migrate
#                (built by ../build.sh from ../sql-migrate) and release N's
#                migrations in /migrations; USER 65532:65532
#   loadgen      no image: the release tests' traffic, a static binary run on the node
# The app and migrate tags all name the same image (behaviour comes from
# args/env); `cluster.sh tag DIR SRC DST` adds more names on a running node.
#
# Output: test/e2e/.bin/images/<image>.tar, each next to a <image>.key holding
# the sha256 of everything it is built from (sources, Go version, names,
# kubectl binary); an archive is rebuilt only when its key changes.
#
# Usage: build.sh          build what is missing or stale
#        build.sh --check  exit 0 if every archive is up to date, 1 otherwise
#        build.sh --env    print IMAGES_DIR, IMAGE_ARCHIVES, PAUSE_IMAGE,
#                          WAITER_IMAGE, APP_IMAGES, MIGRATE_IMAGES, EXAMPLE_IMAGES,
#                          SHOP_IMAGES, LOADGEN, TCPPROXY_IMAGE, GIT_IMAGE (no build)
# Env:   E2E_BIN_DIR       cache folder (default test/e2e/.bin)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E="$(cd "$HERE/.." && pwd)"
IMAGES_DIR="${E2E_BIN_DIR:-$E2E/.bin}/images"

# shellcheck disable=SC1090
eval "$("$E2E/cluster/build.sh" --env)" # WAITER_KUBECTL, WAITER_KUBECTL_VERSION, SQL_MIGRATE

PAUSE_IMAGE="registry.k8s.io/pause:3.10"
WAITER_IMAGE="registry.k8s.io/kubectl:$WAITER_KUBECTL_VERSION"
TAGS=(1.0.0 1.1.0 2.0.0)
APP_IMAGES=("${TAGS[@]/#/e2e.local/app:}")
MIGRATE_IMAGES=("${TAGS[@]/#/e2e.local/migrate:}")
EXAMPLE_IMAGES=("${TAGS[@]/#/e2e.local/example:}")
# The commands the examples run, each a copy of ./example, which answers all of them.
EXAMPLE_COMMANDS=(/bin/example /bin/php /bin/python /bin/gunicorn /app/orders /app/inventory /bin/sql-migrate)
TCPPROXY_IMAGE="e2e.local/tcpproxy:1.0.0"
GIT_IMAGE="e2e.local/git:1.0.0"
# Release N of the shop, and the migrations its image holds: release 3's
# fails; release 4 replaces it with a fixed one; release 5 stops using the
# column `note`, and holds the contract step that drops it (/contract), and a
# contract step that fails (/contract-broken).
SHOP_RELEASES=(1 2 3 4 5)
SHOP_IMAGES=("${SHOP_RELEASES[@]/#/e2e.local/shop:}")
SHOP_IMAGES=("${SHOP_IMAGES[@]/%/.0.0}")
shop_migrations() {
  case "$1" in
    1) echo 1_orders.sql ;;
    2) echo 1_orders.sql 2_note.sql ;;
    3) echo 1_orders.sql 2_note.sql 3_unique_item.sql ;;
    4 | 5) echo 1_orders.sql 2_note.sql 3_sku.sql ;;
  esac
}
IMAGES=(pause kubectl migrate app example tcpproxy git "${SHOP_RELEASES[@]/#/shop-}")
# What the build makes besides: a host program, not an image.
LOADGEN="${E2E_BIN_DIR:-$E2E/.bin}/loadgen"

# Debian 12's bash and what it loads (ldd: libtinfo, libc and the dynamic loader),
# for the kubectl stand-in, as the real image has them.
mapfile -t BASH_FILES < <(echo /bin/bash; ldd /bin/bash | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

# mkimage arguments of image $1; @BIN@ stands for the folder of the freshly
# built programs (kept out of the key, which must not depend on a temp path).
spec() {
  case "$1" in
    pause)
      echo "-name $PAUSE_IMAGE -file /pause=@BIN@/pause:0755 -entrypoint [\"/pause\"] -user 65535:65535"
      ;;
    kubectl)
      local f
      for f in "${BASH_FILES[@]}"; do printf -- '-file %s=%s:0755 ' "$f" "$f"; done
      echo "-name $WAITER_IMAGE -file /bin/kubectl=$WAITER_KUBECTL:0755" \
        "-file /etc/passwd=$HERE/rootfs/etc/passwd:0644 -file /etc/group=$HERE/rootfs/etc/group:0644" \
        "-entrypoint [\"/bin/kubectl\"]"
      ;;
    migrate | app)
      local names=() n
      if [[ $1 == app ]]; then names=("${APP_IMAGES[@]}"); else names=("${MIGRATE_IMAGES[@]}"); fi
      for n in "${names[@]}"; do printf -- '-name %s ' "$n"; done
      echo "-file /bin/$1=@BIN@/$1:0755 -file /etc/passwd=$HERE/rootfs/etc/passwd:0644" \
        "-file /etc/group=$HERE/rootfs/etc/group:0644 -dir /tmp:1777 -entrypoint [\"/bin/$1\"]" \
        "-user 65532:65532"
      ;;
    shop-*)
      local v="${1#shop-}" m files=""
      for m in $(shop_migrations "$v"); do files+="-file /migrations/$m=$HERE/shop/migrations/$m:0644 "; done
      if [[ $v == 5 ]]; then
        files+="-file /contract/5_drop_note.sql=$HERE/shop/contract/5_drop_note.sql:0644 "
        files+="-file /contract-broken/5_broken.sql=$HERE/shop/contract/5_broken.sql:0644 "
      fi
      echo "-name e2e.local/shop:$v.0.0 -file /bin/shop=@BIN@/shop:0755 -file /bin/sql-migrate=$SQL_MIGRATE:0755" \
        "$files-file /etc/passwd=$HERE/rootfs/etc/passwd:0644 -file /etc/group=$HERE/rootfs/etc/group:0644" \
        "-dir /tmp:1777 -env PATH=/bin -env SHOP_VERSION=$v -entrypoint [\"/bin/shop\"] -cmd [\"serve\"]" \
        "-user 65532:65532"
      ;;
    loadgen) echo "loadgen" ;;
    example)
      local n c
      for n in "${EXAMPLE_IMAGES[@]}"; do printf -- '-name %s ' "$n"; done
      for c in "${EXAMPLE_COMMANDS[@]}"; do printf -- '-file %s=@BIN@/example:0755 ' "$c"; done
      echo "-file /etc/passwd=$HERE/rootfs/etc/passwd:0644 -file /etc/group=$HERE/rootfs/etc/group:0644" \
        "-dir /tmp:1777 -entrypoint [\"/bin/example\"] -user 65532:65532"
      ;;
    tcpproxy | git)
      local name="$TCPPROXY_IMAGE"
      [[ $1 == git ]] && name="$GIT_IMAGE"
      echo "-name $name -file /bin/$1=@BIN@/$1:0755 -file /etc/passwd=$HERE/rootfs/etc/passwd:0644" \
        "-file /etc/group=$HERE/rootfs/etc/group:0644 -dir /tmp:1777 -entrypoint [\"/bin/$1\"] -user 65532:65532"
      ;;
  esac
}

# The cache key of image $1: its spec, the Go toolchain, the builder and the
# sources it is built from.
key() {
  {
    echo "spec $(spec "$1")"
    go env GOVERSION
    sha256sum "$HERE/go.mod" "$HERE/mkimage/main.go" "$HERE"/internal/*/*.go "$HERE"/rootfs/etc/*
    case "$1" in
      kubectl) sha256sum "$WAITER_KUBECTL" "${BASH_FILES[@]}" ;;
      shop-*) sha256sum "$HERE/go.sum" "$HERE/shop"/*.go "$HERE/shop/migrations"/*.sql "$SQL_MIGRATE" ;;
      git) sha256sum "$HERE/git"/*.go "$HERE/git/go.mod" "$HERE/git/go.sum" ;;
      *) sha256sum "$HERE/$1"/*.go ;;
    esac
  } | sed "s|$HERE/||; s|$E2E/||" | sha256sum | cut -d' ' -f1
}

artifact() { if [[ $1 == loadgen ]]; then echo "$LOADGEN"; else echo "$IMAGES_DIR/$1.tar"; fi; }

fresh() {
  [[ -s "$(artifact "$1")" && -s "$IMAGES_DIR/$1.key" ]] &&
    [[ "$(<"$IMAGES_DIR/$1.key")" == "$(key "$1")" ]]
}

case "${1:-}" in
  --env)
    archives=()
    for i in "${IMAGES[@]}"; do archives+=("$IMAGES_DIR/$i.tar"); done
    printf 'IMAGES_DIR=%q\n' "$IMAGES_DIR"
    printf 'IMAGE_ARCHIVES=%q\n' "${archives[*]}"
    printf 'PAUSE_IMAGE=%q\n' "$PAUSE_IMAGE"
    printf 'WAITER_IMAGE=%q\n' "$WAITER_IMAGE"
    printf 'APP_IMAGES=%q\n' "${APP_IMAGES[*]}"
    printf 'MIGRATE_IMAGES=%q\n' "${MIGRATE_IMAGES[*]}"
    printf 'EXAMPLE_IMAGES=%q\n' "${EXAMPLE_IMAGES[*]}"
    printf 'SHOP_IMAGES=%q\n' "${SHOP_IMAGES[*]}"
    printf 'LOADGEN=%q\n' "$LOADGEN"
    printf 'TCPPROXY_IMAGE=%q\n' "$TCPPROXY_IMAGE"
    printf 'GIT_IMAGE=%q\n' "$GIT_IMAGE"
    exit 0
    ;;
  --check)
    for i in "${IMAGES[@]}" loadgen; do fresh "$i" || exit 1; done
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--check|--env]" >&2
    exit 2
    ;;
esac

for b in "$WAITER_KUBECTL" "$SQL_MIGRATE"; do
  [[ -x "$b" ]] || { echo "images/build.sh: missing $b: run test/e2e/cluster/build.sh" >&2; exit 1; }
done

stale=()
for i in "${IMAGES[@]}" loadgen; do
  fresh "$i" || stale+=("$i")
done
if ((${#stale[@]} == 0)); then
  echo "images/build.sh: images up to date in $IMAGES_DIR (skipping)"
  exit 0
fi

start=$SECONDS
mkdir -p "$IMAGES_DIR"
tmp="$(mktemp -d "$IMAGES_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Static, reproducible binaries: no cgo, no local paths, no VCS stamp.
(
  export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
  cd "$HERE" && go build -ldflags="-s -w" -o "$tmp/" ./mkimage ./pause ./migrate ./app ./example ./tcpproxy ./shop ./loadgen
  cd git && go build -ldflags="-s -w" -o "$tmp/" .
)
for i in "${stale[@]}"; do
  k="$(key "$i")"
  if [[ $i == loadgen ]]; then
    mv -f "$tmp/loadgen" "$LOADGEN"
    printf '%s\n' "$k" >"$IMAGES_DIR/$i.key"
    continue
  fi
  s="$(spec "$i")"
  s="${s//@BIN@/$tmp}"
  # The spec is a plain word list (no spaces inside any word).
  read -r -a args <<<"$s"
  "$tmp/mkimage" -o "$IMAGES_DIR/$i.tar" "${args[@]}"
  printf '%s\n' "$k" >"$IMAGES_DIR/$i.key"
done
echo "images/build.sh: built ${stale[*]} in $((SECONDS - start))s"
