#!/usr/bin/env bash
# A throwaway Kubernetes control plane for the e2e suite: etcd +
# kube-apiserver + kube-controller-manager on 127.0.0.1, no kubelet, no
# scheduler (pods stay Pending unless a test patches their status).
#
#   cluster.sh up DIR     start it in the background and return once it is
#                         ready; writes into DIR:
#                           kubeconfig         admin (O=system:masters)
#                           env                KEY=value lines (shell- and dotenv-style)
#                           cluster.json       the same as JSON, for Node
#                           audit.log          apiserver audit log, Metadata level, JSON lines
#                           logs/*.log         component logs
#                           *.pid              one per component
#                           pki/               CA, certs, service-account key
#   cluster.sh down DIR   stop everything started for DIR; safe to repeat,
#                         safe on a DIR that never came up
#   cluster.sh status DIR exit 0 if every component of DIR is running
#
# Binaries come from test/e2e/build.sh (run it first; a cold build is slow).
# Env: E2E_UP_TIMEOUT  seconds to wait for readiness (default 90)
#      E2E_APISERVER_EXTRA_ARGS  extra kube-apiserver flags, split on spaces
#                       (e.g. "--min-request-timeout=10" to make watches end sooner)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
SERVICE_CIDR="10.0.0.0/24"   # only allocated in etcd; nothing is routed
SA_ISSUER="https://kubernetes.default.svc.cluster.local"

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  echo "usage: $0 up|down|status DIR" >&2
  exit 2
}

# ---------------------------------------------------------------- processes

# pid of component $1 in $DIR if it is alive and really ours, else nothing.
live_pid() {
  local f="$DIR/$1.pid" pid state
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  # A reused pid would not have our run folder on its command line.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != Z && -n "$state" ]] || return 1
  printf '%s\n' "$pid"
}

stop_component() {
  local name="$1" pid i
  if pid="$(live_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      live_pid "$name" >/dev/null || break
      sleep 0.1
    done
    if live_pid "$name" >/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$DIR/$name.pid"
}

cmd_down() {
  [[ -d "$DIR" ]] || return 0
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "${COMPONENTS[i]}"
  done
  # etcd data is useless once etcd is gone, and env/cluster.json would claim
  # a running cluster; keep logs, the audit log, certs and kubeconfigs.
  rm -rf "$DIR/etcd-data" "$DIR/env" "$DIR/cluster.json"
}

cmd_status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if pid="$(live_pid "$c")"; then
      echo "$c running (pid $pid)"
    else
      echo "$c not running"
      rc=1
    fi
  done
  return $rc
}

# Starts "$@" detached (own session, no inherited stdio) and records its pid.
# setsid execs in place here (a background job of a non-interactive shell is
# not a process-group leader), so $! is the component's own pid.
start_component() {
  local name="$1"
  shift
  setsid "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 9>&- &
  echo $! >"$DIR/$name.pid"
}

# ---------------------------------------------------------------- ports

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints N distinct free loopback ports from 20000-32767 (below Linux's
# ephemeral range, so outgoing connections do not grab them meanwhile).
pick_ports() {
  local n="$1" p picked=() tries=0
  while ((${#picked[@]} < n)); do
    ((tries++ < 1000)) || die "could not find $n free ports"
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
    [[ " ${picked[*]-} " == *" $p "* ]] && continue
    port_in_use "$p" && continue
    picked+=("$p")
  done
  echo "${picked[@]}"
}

# ---------------------------------------------------------------- pki

gen_pki() {
  local pki="$DIR/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=e2e-kubernetes-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null

    # $1 name, $2 subject, $3 extendedKeyUsage, $4 optional subjectAltName
    sign() {
      local ext
      ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$3"
      [[ -n "${4:-}" ]] && ext+=$'\n'"subjectAltName=$4"
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" \
        -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days 3650 -sha256 -out "$1.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
      rm -f "$1.csr"
    }
    sign apiserver "/CN=kube-apiserver" serverAuth \
      "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1"
    sign admin "/O=system:masters/CN=e2e-admin" clientAuth
    sign controller-manager "/CN=system:kube-controller-manager" clientAuth
    sign controller-manager-serving "/CN=kube-controller-manager" serverAuth \
      "IP:127.0.0.1,DNS:localhost"

    # Service-account token signing key pair (TokenRequest, bound tokens).
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# $1 file, $2 server, $3 cert, $4 key, $5 user name
write_kubeconfig() {
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $2
    certificate-authority-data: $($b64 "$DIR/pki/ca.crt")
users:
- name: $5
  user:
    client-certificate-data: $($b64 "$3")
    client-key-data: $($b64 "$4")
contexts:
- name: e2e
  context:
    cluster: e2e
    user: $5
    namespace: default
current-context: e2e
EOF
  chmod 600 "$1"
}

# KEY=value lines -> one flat JSON object (values are paths, URLs, numbers).
env_to_json() {
  local k v sep=""
  printf '{'
  while IFS='=' read -r k v; do
    v="${v//\\/\\\\}"
    v="${v//\"/\\\"}"
    printf '%s\n  "%s": "%s"' "$sep" "$k" "$v"
    sep=","
  done
  printf '\n}\n'
}

# ---------------------------------------------------------------- up

admin_curl() {
  curl -sS --max-time 5 --cacert "$DIR/pki/ca.crt" \
    --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" "$@"
}

dump_logs() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if [[ -s "$DIR/logs/$c.log" ]]; then
      log "---- last 40 lines of $DIR/logs/$c.log"
      tail -n 40 "$DIR/logs/$c.log" >&2
    fi
  done
}

# wait_for DESCRIPTION COMMAND...: retries until COMMAND succeeds, a
# component dies, or the deadline passes.
wait_for() {
  local what="$1" c
  shift
  while ! "$@" >/dev/null 2>&1; do
    for c in "${STARTED[@]}"; do
      live_pid "$c" >/dev/null || die "$c exited while waiting for $what"
    done
    ((SECONDS < DEADLINE)) || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.25
  done
  log "$what: ok (${SECONDS}s)"
}

etcd_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
apiserver_ready() { [[ "$(admin_curl "$APISERVER/readyz")" == ok ]]; }
kcm_healthy() { [[ "$(curl -sS --max-time 2 --cacert "$DIR/pki/ca.crt" "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }
default_sa_exists() { admin_curl -f "$APISERVER/api/v1/namespaces/default/serviceaccounts/default"; }
root_ca_published() { admin_curl -f "$APISERVER/api/v1/namespaces/default/configmaps/kube-root-ca.crt"; }

cmd_up() {
  local c
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  [[ "$DIR" != *[[:space:]\"\\]* ]] || die "DIR must not contain spaces, quotes or backslashes: $DIR"
  for c in "${COMPONENTS[@]}"; do
    if live_pid "$c" >/dev/null; then
      die "$c is already running for $DIR; run '$0 down $DIR' first"
    fi
  done

  # shellcheck disable=SC1090
  eval "$("$HERE/build.sh" --env)"
  for c in "$KUBE_APISERVER" "$KUBE_CONTROLLER_MANAGER" "$ETCD"; do
    [[ -x "$c" ]] || die "missing $c: run test/e2e/build.sh first"
  done

  TIMEOUT="${E2E_UP_TIMEOUT:-90}"
  SECONDS=0
  DEADLINE=$TIMEOUT
  STARTED=()
  # Any failure from here on: show the logs and take down what was started.
  # (fd 9 = our stderr: a signal can land while a probe's output is sent to
  # /dev/null, and the traps would otherwise inherit that redirection.)
  exec 9>&2
  trap 'rc=$?; if ((rc != 0)); then { dump_logs; log "startup failed, stopping"; cmd_down; } 2>&9; fi' EXIT
  trap 'exit 130' INT TERM HUP

  rm -rf "$DIR/etcd-data" "$DIR/pki" "$DIR/logs" "$DIR/kubeconfig" \
    "$DIR/controller-manager.kubeconfig" "$DIR/audit.log" "$DIR/audit-policy.yaml" \
    "$DIR/env" "$DIR/cluster.json"
  mkdir -p "$DIR/logs"

  local ports
  ports="$(pick_ports 4)"
  read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT <<<"$ports"
  APISERVER="https://127.0.0.1:$APISERVER_PORT"
  log "dir $DIR; ports: etcd $ETCD_CLIENT_PORT/$ETCD_PEER_PORT, apiserver $APISERVER_PORT, controller-manager $KCM_PORT"

  gen_pki
  write_kubeconfig "$DIR/kubeconfig" "$APISERVER" "$DIR/pki/admin.crt" "$DIR/pki/admin.key" e2e-admin
  write_kubeconfig "$DIR/controller-manager.kubeconfig" "$APISERVER" \
    "$DIR/pki/controller-manager.crt" "$DIR/pki/controller-manager.key" system:kube-controller-manager

  # Everything at Metadata (who, verb, resource, response code; no bodies).
  # RequestReceived is omitted so each request is one ResponseComplete
  # event (long-running watches also log ResponseStarted).
  cat >"$DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
EOF

  start_component etcd "$ETCD" \
    --name=e2e \
    --data-dir="$DIR/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true \
    --log-level=warn
  STARTED+=(etcd)
  wait_for "etcd healthy" etcd_healthy

  local extra=()
  read -r -a extra <<<"${E2E_APISERVER_EXTRA_ARGS:-}"
  # --endpoint-reconciler-type=none: the default reconciler refuses a
  # loopback --advertise-address (Endpoints may not hold 127.0.0.0/8), so
  # the "kubernetes" Service simply has no endpoints here.
  # --requestheader-*: only so the controller-manager's delegated authn finds
  # a complete extension-apiserver-authentication ConfigMap (else it logs
  # errors); no certificate with CN front-proxy-client is ever issued.
  start_component kube-apiserver "$KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$DIR/pki" \
    --tls-cert-file="$DIR/pki/apiserver.crt" \
    --tls-private-key-file="$DIR/pki/apiserver.key" \
    --client-ca-file="$DIR/pki/ca.crt" \
    --requestheader-client-ca-file="$DIR/pki/ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --authorization-mode=RBAC \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer="$SA_ISSUER" \
    --service-account-key-file="$DIR/pki/sa.pub" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --api-audiences="$SA_ISSUER" \
    --audit-policy-file="$DIR/audit-policy.yaml" \
    --audit-log-path="$DIR/audit.log" \
    --audit-log-format=json \
    --audit-log-mode=blocking \
    --audit-log-maxsize=0 \
    --allow-privileged=true \
    --profiling=false \
    --v=1 \
    "${extra[@]}"
  STARTED+=(kube-apiserver)
  wait_for "kube-apiserver /readyz" apiserver_ready

  start_component kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
    --kubeconfig="$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$DIR/pki" \
    --tls-cert-file="$DIR/pki/controller-manager-serving.crt" \
    --tls-private-key-file="$DIR/pki/controller-manager-serving.key" \
    --leader-elect=false \
    --controllers='*' \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$DIR/pki/sa.key" \
    --root-ca-file="$DIR/pki/ca.crt" \
    --cluster-signing-cert-file="$DIR/pki/ca.crt" \
    --cluster-signing-key-file="$DIR/pki/ca.key" \
    --profiling=false \
    --v=1
  STARTED+=(kube-controller-manager)
  wait_for "kube-controller-manager /healthz" kcm_healthy
  wait_for "ServiceAccount default/default" default_sa_exists
  wait_for "ConfigMap default/kube-root-ca.crt" root_ca_published

  cat >"$DIR/env" <<EOF
KUBECONFIG=$DIR/kubeconfig
E2E_CLUSTER_DIR=$DIR
E2E_APISERVER=$APISERVER
E2E_CA_FILE=$DIR/pki/ca.crt
E2E_AUDIT_LOG=$DIR/audit.log
E2E_ETCD_ENDPOINT=http://127.0.0.1:$ETCD_CLIENT_PORT
E2E_CONTROLLER_MANAGER_PORT=$KCM_PORT
E2E_K8S_VERSION=$K8S_VERSION
E2E_ETCD_VERSION=$ETCD_VERSION
EOF
  env_to_json <"$DIR/env" >"$DIR/cluster.json"

  trap - EXIT INT TERM HUP
  log "ready in ${SECONDS}s: export KUBECONFIG=$DIR/kubeconfig (or: set -a; . $DIR/env; set +a)"
}

# ---------------------------------------------------------------- main

[[ $# -eq 2 ]] || usage
DIR="$2"
[[ -n "$DIR" ]] || usage
case "$1" in
  up) cmd_up ;;
  down)
    if [[ -d "$DIR" ]]; then DIR="$(cd "$DIR" && pwd)"; fi
    cmd_down
    ;;
  status)
    [[ -d "$DIR" ]] || { echo "no such dir $DIR"; exit 1; }
    DIR="$(cd "$DIR" && pwd)"
    cmd_status
    ;;
  *) usage ;;
esac
