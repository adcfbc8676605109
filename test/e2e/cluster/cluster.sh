#!/usr/bin/env bash
# A throwaway one-node Kubernetes cluster for the e2e suite: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, the
# kubelet and kube-proxy, all inside one network, mount and UTS namespace
# that this script creates, with its own addresses. Pods really run (runc,
# CNI bridge); images come from OCI archives (images/build.sh), not from a
# registry. Must run as root. Install the runtime first: test/e2e/cluster/setup.sh.
#
#   cluster.sh up DIR       start it in the background and return once the node
#                           is Ready, kube-proxy and the scheduler run and the
#                           images are imported; writes into DIR:
#                             kubeconfig        admin (O=system:masters), for the host
#                             env               KEY=value lines (shell- and dotenv-style)
#                             cluster.json      the same as JSON, for Node
#                             audit.log         apiserver audit log, Metadata level, JSON lines
#                             logs/*.log        component logs
#                             *.pid             one per process started
#                             pki/              CA, certs, service-account key
#                             node/             kubelet, kube-proxy, containerd and CNI configs
#                             ns/{net,mnt,uts}  the namespaces (nsenter --net=DIR/ns/net ...)
#                             postgres/         PostgreSQL's data, and its socket (superuser
#                                               postgres, trust, root only); it listens on
#                                               $NODE_IP:5432 inside (pods: scram-sha-256)
#   cluster.sh down DIR     stop everything started for DIR (pods and shims too),
#                           delete the namespaces, remove the cgroups, restore
#                           the kernel settings the kubelet changed; safe to
#                           repeat, safe on a DIR that never came up
#   cluster.sh status DIR   exit 0 if every component of DIR is running
#   cluster.sh load DIR [ARCHIVE...]
#                           import OCI archives into the node's containerd
#                           (default: every archive images/build.sh builds; up does this)
#   cluster.sh tag DIR SOURCE TARGET...
#                           give an imported image more names (ctr images tag)
#   cluster.sh exec DIR CMD [ARG...]
#                           run CMD inside the cluster's namespaces, e.g.
#                           `cluster.sh exec DIR ctr -n k8s.io containers ls`
#
# Network: nothing listens on, or sends to, any address of the machine's own
# network except 127.0.0.1. The namespace has lo, a veth pair (both ends
# inside) carrying the node's address $NODE_IP, the CNI bridge cni0 and the
# pods' veths, and no default route: the service and pod ranges exist only in
# there. The API server listens on :6443 inside; the host reaches it through
# two socat forwarders: 127.0.0.1:<free port> on the host -> DIR/apiserver.sock
# -> (inside) 127.0.0.1:6443. Pods reach it through the kubernetes Service
# (10.0.0.1:443, kube-proxy iptables rules inside the namespace) -> $NODE_IP:6443.
#
# Host changes, all undone by down: the kernel settings the kubelet sets
# (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
# kernel.keys.root_max{keys,bytes}; saved once for all clusters running at the
# same time in $HOST_STATE and restored when the last one goes down), and the
# cgroups named e2e-<hash of DIR> at the root of each cgroup hierarchy (the
# kubelet's cgroupRoot).
# Everything else (containerd's and the kubelet's state, /run, /var/lib,
# /var/log, iptables rules, routes) lives in the namespaces and goes with them.
#
# Binaries come from test/e2e/cluster/build.sh (run it first; a cold build is slow).
# Env: E2E_UP_TIMEOUT  seconds to wait for readiness (default 180)
#      E2E_APISERVER_EXTRA_ARGS  extra kube-apiserver flags, split on spaces
#                       (e.g. "--min-request-timeout=10" to make watches end sooner)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E="$(cd "$HERE/.." && pwd)"
# Start order; down stops them in reverse.
COMPONENTS=(etcd containerd kube-apiserver forward-ns forward-host
  kube-controller-manager kube-scheduler kubelet kube-proxy postgres)
NODE_NAME="e2e-node"
NODE_IP="10.200.0.1"       # on veth e2e0 inside the namespace
NODE_NET="10.200.0.0/24"
POD_CIDR="10.201.0.0/24"   # host-local IPAM on the cni0 bridge
POD_GATEWAY="10.201.0.1"
CLUSTER_CIDR="10.201.0.0/16"
SERVICE_CIDR="10.0.0.0/24" # the kubernetes Service is 10.0.0.1
CLUSTER_DNS="127.0.0.1"    # in the pods' resolv.conf: their own loopback, no server
APISERVER_PORT=6443        # inside the namespace, like every port below
POSTGRES_PORT=5432
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
KCM_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
SA_ISSUER="https://kubernetes.default.svc.cluster.local"
CONTAINERD_SOCK="/run/containerd/containerd.sock" # inside the mount namespace
CNI_BIN_DIR="/usr/lib/cni"                        # Debian's containernetworking-plugins
HOST_STATE="/run/cdk8s-migrated-app-e2e"
# What the kubelet's setupKernelTunables (pkg/kubelet/cm/container_manager_linux.go,
# v1.37.2) sets when protectKernelDefaults is false; protectKernelDefaults=true
# would only refuse to start on a host with other values.
KERNEL_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  echo "usage: $0 up|down|status DIR | load DIR [ARCHIVE...] | tag DIR SOURCE TARGET... | exec DIR CMD..." >&2
  exit 2
}

# Paths that depend on DIR.
set_paths() {
  NS="$DIR/ns"
  # One cgroup root per run folder, so clusters never share cgroups.
  CGROUP_NAME="e2e-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)"
}

# ---------------------------------------------------------------- processes

# pid of component $1 in $DIR if it is alive and really ours, else nothing.
live_pid() {
  local f="$DIR/$1.pid" pid state
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  # A reused pid would have neither our run folder on its command line nor
  # as its working directory (the forwarders name their socket relative to
  # it). (The process may exit meanwhile: no error message for that.)
  if ! { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$DIR/"; then
    [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$DIR" ]] || return 1
  fi
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != Z && -n "$state" ]] || return 1
  printf '%s\n' "$pid"
}

# Stops component $1: SIGTERM to its process group (setsid made it the
# leader: this also reaches socat's per-connection children), SIGKILL after
# 10 s.
stop_component() {
  local name="$1" pid i
  if pid="$(live_pid "$name")"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      live_pid "$name" >/dev/null || break
      sleep 0.1
    done
    if live_pid "$name" >/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$DIR/$name.pid"
}

# Starts "$@" in DIR, detached (own session, no inherited stdio), and records
# its pid. The subshell execs setsid, which execs in place here (a background
# job of a non-interactive shell is not a process-group leader), so $! is the
# component's own pid.
start_host_component() {
  local name="$1"
  shift
  (cd "$DIR" && exec setsid "$@") </dev/null >"$DIR/logs/$name.log" 2>&1 9>&- &
  echo $! >"$DIR/$name.pid"
  STARTED+=("$name")
}

# The same inside the namespaces: nsenter joins them and execs (it forks only
# for a PID namespace), so the pid is still the component's. Entering a mount
# namespace moves the working directory to its root; --wd keeps DIR.
start_component() {
  local name="$1"
  shift
  start_host_component "$name" nsenter --net="$NS/net" --mount="$NS/mnt" --uts="$NS/uts" \
    --wd="$DIR" -- "$@"
}

# Runs "$@" inside the namespaces.
in_ns() { nsenter --net="$NS/net" --mount="$NS/mnt" --uts="$NS/uts" -- "$@"; }

ns_mounted() { [[ -e "$NS/$1" ]] && findmnt -rn --mountpoint "$NS/$1" >/dev/null 2>&1; }

ctr_ns() { in_ns ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# Pids of every process in our namespaces (containerd's shims end up there,
# outside any component's process group) or in our cgroups (pods).
ns_pids() {
  local ids=() p link f
  [[ -s "$DIR/ns.ids" ]] && read -r -a ids <"$DIR/ns.ids"
  # (Also from the namespace files, in case ns.ids was never written.)
  ns_mounted net && ids+=("net:[$(stat -L -c %i "$NS/net")]")
  ns_mounted mnt && ids+=("mnt:[$(stat -L -c %i "$NS/mnt")]")
  ((${#ids[@]} > 0)) || return 0
  for p in /proc/[0-9]*; do
    link="$(readlink "$p/ns/net" 2>/dev/null || true)"
    if [[ " ${ids[*]} " == *" $link "* ]]; then
      echo "${p#/proc/}"
      continue
    fi
    link="$(readlink "$p/ns/mnt" 2>/dev/null || true)"
    [[ " ${ids[*]} " == *" $link "* ]] && echo "${p#/proc/}"
  done
  for f in $(cgroup_roots); do
    [[ -d "$f$CGROUP_NAME" ]] && find "$f$CGROUP_NAME" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  return 0
}

# SIGKILLs whatever is left in our namespaces and cgroups, and waits for it.
sweep_processes() {
  local pids i
  for ((i = 0; i < 50; i++)); do
    mapfile -t pids < <(ns_pids | sort -un | grep -vx -e "$$" -e 1 || true)
    ((${#pids[@]} > 0)) || return 0
    ((i == 0)) && log "killing ${#pids[@]} leftover processes in the cluster's namespaces and cgroups"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  log "warning: processes still alive: ${pids[*]}"
}

# Kills every pod's containers through containerd while it still runs, so
# that their shims exit normally (the kubelet is stopped by then and cannot
# restart them). Each task separately: a shim that serves a whole pod may
# already have cleaned up a task listed a moment ago.
stop_pods() {
  local ids=() id left=()
  live_pid containerd >/dev/null || return 0
  # (timeout runs programs, not shell functions: spell ctr_ns out.)
  local ctr=(nsenter --net="$NS/net" --mount="$NS/mnt" --uts="$NS/uts" --
    ctr --address "$CONTAINERD_SOCK" --namespace k8s.io)
  mapfile -t ids < <(timeout 10 "${ctr[@]}" tasks list -q 2>/dev/null || true)
  ((${#ids[@]} > 0)) || return 0
  log "stopping ${#ids[@]} containers"
  for id in "${ids[@]}"; do
    timeout 10 "${ctr[@]}" tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in "${ids[@]}"; do
    timeout 10 "${ctr[@]}" tasks delete "$id" >/dev/null 2>&1 || true
  done
  mapfile -t left < <(timeout 10 "${ctr[@]}" tasks list -q 2>/dev/null || true)
  ((${#left[@]} == 0)) || log "${#left[@]} tasks are still there; their processes are killed below"
}

cmd_down() {
  [[ -d "$DIR" ]] || return 0
  local i
  # Nothing may start new pods while they are being killed: kubelet and
  # control loops first, then the pods, then the runtime and the rest.
  for i in kube-proxy kube-scheduler kube-controller-manager kubelet; do
    stop_component "$i"
  done
  stop_pods
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "${COMPONENTS[i]}"
  done
  sweep_processes
  # With no process left inside, unmounting the namespace files frees the
  # namespaces: the veths, bridge and iptables rules of the network
  # namespace, and the tmpfs mounts of the mount namespace, go with them.
  for i in net mnt uts; do
    if ns_mounted "$i"; then umount "$NS/$i" || log "warning: cannot unmount $NS/$i"; fi
  done
  if findmnt -rn --mountpoint "$NS" >/dev/null 2>&1; then umount "$NS" || log "warning: cannot unmount $NS"; fi
  remove_cgroups
  release_host_state
  # etcd's and PostgreSQL's data are useless once they are gone, and env/cluster.json would claim
  # a running cluster; keep logs, the audit log, certs and kubeconfigs.
  rm -rf "$DIR/etcd-data" "$DIR/postgres" "$DIR/env" "$DIR/cluster.json" "$DIR/apiserver.sock" "$NS" "$DIR/ns.ids"
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

# ---------------------------------------------------------------- host state

# Kernel settings: saved by the first cluster to come up, restored by the
# last one to go down (several may run at once; each one's kubelet sets the
# same values). $HOST_STATE/users holds one file per running cluster naming
# its DIR; a cluster that died without `down` is recognised by its kubelet
# pid being gone.
with_host_lock() {
  local fd rc=0
  mkdir -p "$HOST_STATE/users"
  exec {fd}>"$HOST_STATE/lock"
  flock "$fd"
  "$@" || rc=$?
  exec {fd}>&-
  return $rc
}

acquire_host_state_locked() {
  local s
  if [[ ! -s "$HOST_STATE/sysctl.orig" ]]; then
    for s in "${KERNEL_SYSCTLS[@]}"; do
      printf '%s=%s\n' "$s" "$(sysctl -n "$s")"
    done >"$HOST_STATE/sysctl.orig.tmp"
    mv "$HOST_STATE/sysctl.orig.tmp" "$HOST_STATE/sysctl.orig"
  fi
  printf '%s\n' "$DIR" >"$HOST_STATE/users/$CGROUP_NAME"
}

release_host_state_locked() {
  local u other k v cur
  rm -f "$HOST_STATE/users/$CGROUP_NAME"
  for u in "$HOST_STATE"/users/*; do
    [[ -f "$u" ]] || continue
    other="$(<"$u")"
    if [[ -s "$other/kubelet.pid" ]] && (DIR="$other" live_pid kubelet >/dev/null); then
      return 0 # another cluster still runs: it restores later
    fi
    rm -f "$u"
  done
  if [[ -s "$HOST_STATE/sysctl.orig" ]]; then
    while IFS='=' read -r k v; do
      cur="$(sysctl -n "$k" 2>/dev/null || true)"
      if [[ "$cur" != "$v" ]]; then
        sysctl -qw "$k=$v" || log "warning: cannot restore $k=$v"
      fi
    done <"$HOST_STATE/sysctl.orig"
  fi
  rm -rf "$HOST_STATE"
}

release_host_state() {
  [[ -e "$HOST_STATE/users/$CGROUP_NAME" ]] || return 0
  with_host_lock release_host_state_locked
}

# The cgroup hierarchies' roots, with a trailing slash: each v1 controller
# mount, or the one v2 hierarchy. (Written on cgroup v1; v2 is untested.)
cgroup_roots() {
  local h
  if [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup/
    return
  fi
  for h in /sys/fs/cgroup/*/; do
    [[ -e "${h}cgroup.procs" ]] && echo "$h"
  done
}

# The kubelet's cgroupRoot must exist in every hierarchy; a new v1 cpuset
# cgroup starts with no CPUs and memory nodes, so it gets its parent's.
create_cgroups() {
  local h
  for h in $(cgroup_roots); do
    mkdir -p "$h$CGROUP_NAME"
    if [[ -e "$h$CGROUP_NAME/cpuset.cpus" && -e "${h}cpuset.cpus" ]]; then
      cat "${h}cpuset.cpus" >"$h$CGROUP_NAME/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$CGROUP_NAME/cpuset.mems"
    fi
  done
}

remove_cgroups() {
  local h i left
  for ((i = 0; i < 50; i++)); do
    left=()
    for h in $(cgroup_roots); do
      [[ -d "$h$CGROUP_NAME" ]] || continue
      find "$h$CGROUP_NAME" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d "$h$CGROUP_NAME" ]] && left+=("$h$CGROUP_NAME")
    done
    ((${#left[@]} > 0)) || return 0
    sleep 0.1
  done
  log "warning: cannot remove cgroups ${left[*]}"
}

# ---------------------------------------------------------------- namespaces

# Creates the network, mount and UTS namespaces, kept alive by bind mounts on
# DIR/ns/{net,mnt,uts} (DIR/ns is made a private mount first, as unshare(1)
# requires for a persistent mount namespace), and sets them up.
create_namespaces() {
  mkdir -p "$NS"
  findmnt -rn --mountpoint "$NS" >/dev/null 2>&1 || mount --bind "$NS" "$NS"
  mount --make-private "$NS"
  touch "$NS/net" "$NS/mnt" "$NS/uts"
  # shellcheck disable=SC2016 # the script expands $1 and $2 itself
  unshare --net="$NS/net" --mount="$NS/mnt" --uts="$NS/uts" --propagation private \
    -- bash -euo pipefail -c '
      # The new mount namespace starts as a copy of the host mount table, with
      # the bind mounts that keep other namespaces alive (other clusters,
      # ip netns): drop those copies so they cannot pin them.
      { findmnt -rn -t nsfs -o TARGET || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
      echo "$1" >/proc/sys/kernel/hostname
      ip link set lo up
      # The node address: a veth pair with both ends in here (the kernel has
      # no dummy link type). Nothing connects it to the host.
      ip link add e2e0 type veth peer name e2e1
      ip addr add "$2" dev e2e0
      ip link set e2e0 up
      ip link set e2e1 up
      # A route for the Service range, as a real node has through its default
      # route: the kernel picks a route before kube-proxy'"'"'s DNAT in OUTPUT
      # runs, so without one a process on the node (the release tests'"'"' load
      # generator) cannot connect to a ClusterIP. Pods route by their gateway.
      ip route add "$3" dev e2e0
      # Per network namespace since Linux 5.3 (checked: a new netns has its
      # own net.bridge.* values here).
      sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
        net.bridge.bridge-nf-call-ip6tables=1
      # The fixed paths of containerd, runc, CNI and the kubelet
      # (/run/containerd, /run/netns, /run/xtables.lock, /var/lib/kubelet,
      # /var/lib/containerd, /var/lib/cni, /var/log/pods, /var/log/containers):
      # private tmpfs, gone with the namespace.
      for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 e2e-tmpfs "$d"; done
      mkdir -p /run/netns /run/containerd /var/lib/kubelet /var/lib/containerd /var/lib/cni \
        /var/log/pods /var/log/containers
    ' setup "$NODE_NAME" "$NODE_IP/24" "$SERVICE_CIDR" || die "cannot set up the namespaces in $NS"
  # The namespaces' ids, to find processes in them even if the mounts are gone.
  printf '%s %s\n' "$(in_ns readlink /proc/self/ns/net)" "$(in_ns readlink /proc/self/ns/mnt)" >"$DIR/ns.ids"
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
    # 127.0.0.1: the host's forwarder and the components inside; NODE_IP:
    # the kubernetes Service's endpoint; 10.0.0.1: its ClusterIP.
    sign apiserver "/CN=kube-apiserver" serverAuth \
      "IP:127.0.0.1,IP:$NODE_IP,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    sign admin "/O=system:masters/CN=e2e-admin" clientAuth
    sign controller-manager "/CN=system:kube-controller-manager" clientAuth
    sign controller-manager-serving "/CN=kube-controller-manager" serverAuth \
      "IP:127.0.0.1,DNS:localhost"
    sign scheduler "/CN=system:kube-scheduler" clientAuth
    sign scheduler-serving "/CN=kube-scheduler" serverAuth "IP:127.0.0.1,DNS:localhost"
    # The Node authorizer and NodeRestriction know a kubelet by this name.
    sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    sign kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME"
    # The default ClusterRoleBinding system:node-proxier names this user.
    sign kube-proxy "/CN=system:kube-proxy" clientAuth
    # The API server's client cert for kubelet calls (logs, exec, port-forward).
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth

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

# ---------------------------------------------------------------- node configs

write_node_configs() {
  local node="$DIR/node"
  mkdir -p "$node/cni"

  # containerd 1.6 config format (version 2), checked against Debian's
  # containerd 1.6.20 (`containerd config default`).
  # restrict_oom_score_adj: the kubelet asks for oom_score_adj -998 for
  # sandboxes, which needs CAP_SYS_RESOURCE (root here lacks it: runc then
  # fails with "can't get final child's PID from pipe: EOF").
  # cgroupfs (SystemdCgroup = false): cgroup v1 without systemd as init.
  cat >"$node/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$node/cni"
    max_conf_num = 1
EOF

  # bridge + host-local + portmap (containerd adds loopback itself).
  # No ipMasq: there is nowhere to masquerade to.
  cat >"$node/cni/10-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

  # There is no cluster DNS. Every pod's resolver is on its own loopback,
  # where nothing listens: a lookup fails at once (port unreachable is a hard
  # error for UDP; an address that is merely unroutable would make each
  # lookup wait for its timeout). ClusterFirst pods get it as clusterDNS
  # (without one the kubelet posts a MissingClusterDNS warning event for
  # every pod), pods with dnsPolicy Default from this file.
  printf 'nameserver 127.0.0.1\noptions ndots:1 attempts:1 timeout:1\n' >"$node/resolv.conf"

  # Checked against k8s.io/kubelet v0.37.2 config/v1beta1/types.go.
  # failCgroupV1: kubelet >= 1.35 refuses cgroup v1 by default.
  # oomScoreAdj 0: no CAP_SYS_RESOURCE to lower it (default -999).
  # Eviction and image GC thresholds: never evict or collect in a test run
  # (the imported images cannot be pulled back).
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_NAME
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $DIR/pki/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $DIR/pki/ca.crt
authorization:
  mode: Webhook
failSwapOn: false
resolvConf: $node/resolv.conf
clusterDomain: cluster.local
clusterDNS: ["$CLUSTER_DNS"]
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
  imagefs.inodesFree: "1%"
evictionPressureTransitionPeriod: 5s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
shutdownGracePeriod: 0s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 20s
serializeImagePulls: false
EOF

  # Checked against k8s.io/kube-proxy v0.37.2 config/v1alpha1/types.go and
  # pkg/proxy/conntrack/sysctls.go: maxPerCore 0 and zero timeouts leave the
  # conntrack sysctls alone (nf_conntrack_max and the hashsize are host-wide).
  # nodePortAddresses on the node's subnet only: no route_localnet.
  cat >"$node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $DIR/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
clusterCIDR: $CLUSTER_CIDR
nodePortAddresses: ["$NODE_NET"]
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  minSyncPeriod: 0s
  syncPeriod: 30s
EOF
}

# ---------------------------------------------------------------- images

# Imports OCI archives into the node's containerd, under the names in their
# index (images/mkimage sets io.containerd.image.name), unpacked for CRI.
load_images() {
  local a
  for a in "$@"; do
    [[ -s "$a" ]] || die "no image archive $a: run test/e2e/cluster/build.sh"
    ctr_ns images import "$a" >/dev/null || die "ctr images import $a failed"
  done
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

# Probes; the in-namespace ones run curl in there.
postgres_ready() { "$PG_BIN/pg_isready" -q -h "$DIR/postgres" -p "$POSTGRES_PORT"; }
etcd_healthy() { in_ns curl -sf --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
containerd_ready() { ctr_ns version; }
apiserver_ready() { [[ "$(admin_curl "$APISERVER/readyz")" == ok ]]; }
in_ns_healthz() { [[ "$(in_ns curl -sS --max-time 2 --cacert "$DIR/pki/ca.crt" "$1")" == ok ]]; }
kcm_healthy() { in_ns_healthz "https://127.0.0.1:$KCM_PORT/healthz"; }
scheduler_healthy() { in_ns_healthz "https://127.0.0.1:$SCHEDULER_PORT/healthz"; }
kubelet_healthy() { [[ "$(in_ns curl -sS --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz")" == ok ]]; }
# kube-proxy's /healthz answers 200 once it has synced its rules.
proxy_healthy() { in_ns curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"; }
default_sa_exists() { admin_curl -f "$APISERVER/api/v1/namespaces/default/serviceaccounts/default"; }
root_ca_published() { admin_curl -f "$APISERVER/api/v1/namespaces/default/configmaps/kube-root-ca.crt"; }
# Ready, and no taints left (the node lifecycle controller removes
# node.kubernetes.io/not-ready once it sees Ready).
node_ready() {
  local node
  # (The API server pretty-prints JSON for curl: compare without blanks.)
  node="$(admin_curl -f "$APISERVER/api/v1/nodes/$NODE_NAME" | tr -d ' \n')" || return 1
  grep -q '"type":"Ready","status":"True"' <<<"$node" && ! grep -q '"taints"' <<<"$node"
}
kubernetes_endpoint() {
  admin_curl -f "$APISERVER/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes" |
    grep -qF "\"$NODE_IP\""
}
images_listed() {
  local have n
  have="$(ctr_ns images list -q)"
  for n in "${ALL_IMAGES[@]}"; do
    grep -qxF "$n" <<<"$have" || return 1
  done
}

# PostgreSQL from Debian's package, for the suite's real releases: what a
# cluster's apps reach as a database outside the cluster (a managed RDS or
# Cloud SQL instance), so it runs on the node, not in a pod, and the tests
# put a selector-less Service with an EndpointSlice at $NODE_IP:5432 in
# front of it. Fresh data every time; fsync off (throwaway data, less disk
# I/O on a shared machine). The superuser logs in only through the socket
# in DIR/postgres (0700, so root only); roles the tests create log in over
# TCP with scram-sha-256 from the node's and the pods' ranges.
start_postgres() {
  local pg="$DIR/postgres"
  rm -rf "$pg"
  install -d -o postgres -g postgres -m 0700 "$pg"
  (cd "$pg" && setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$PG_BIN/initdb" --pgdata="$pg/data" --username=postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8) >"$DIR/logs/initdb.log" 2>&1 ||
    die "initdb failed: see $DIR/logs/initdb.log"
  printf 'host all all %s scram-sha-256\nhost all all %s scram-sha-256\n' "$NODE_NET" "$CLUSTER_CIDR" \
    >>"$pg/data/pg_hba.conf"
  start_component postgres setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$PG_BIN/postgres" -D "$pg/data" -c listen_addresses="$NODE_IP" -c port="$POSTGRES_PORT" \
    -c unix_socket_directories="$pg" -c fsync=off -c max_connections=200 -c log_min_messages=warning
}

check_prerequisites() {
  local c missing=()
  ((EUID == 0)) || die "must run as root (namespaces, mounts, cgroups)"
  for c in unshare nsenter findmnt ip sysctl socat containerd containerd-shim-runc-v2 runc ctr \
    iptables iptables-restore openssl curl flock setpriv; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  PG_BIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)"
  for c in initdb postgres; do
    [[ -x "$PG_BIN/$c" ]] || missing+=("postgresql's $c")
  done
  id postgres >/dev/null 2>&1 || missing+=("user postgres")
  for c in bridge host-local loopback portmap; do
    [[ -x "$CNI_BIN_DIR/$c" ]] || missing+=("$CNI_BIN_DIR/$c")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run test/e2e/cluster/setup.sh"
}

cmd_up() {
  local c
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  [[ "$DIR" != *[[:space:]\"\\]* ]] || die "DIR must not contain spaces, quotes or backslashes: $DIR"
  set_paths
  for c in "${COMPONENTS[@]}"; do
    if live_pid "$c" >/dev/null; then
      die "$c is already running for $DIR; run '$0 down $DIR' first"
    fi
  done
  ns_mounted net && die "$DIR has namespaces from an earlier run; run '$0 down $DIR' first"
  check_prerequisites

  # shellcheck disable=SC1090
  eval "$("$HERE/build.sh" --env)"
  for c in "$KUBE_APISERVER" "$KUBE_CONTROLLER_MANAGER" "$KUBE_SCHEDULER" "$KUBELET" \
    "$KUBE_PROXY" "$ETCD"; do
    [[ -x "$c" ]] || die "missing $c: run test/e2e/cluster/build.sh first"
  done
  # shellcheck disable=SC1090
  eval "$("$E2E/images/build.sh" --env)"
  local archives=()
  read -r -a archives <<<"$IMAGE_ARCHIVES"
  # shellcheck disable=SC2153 # APP_IMAGES and MIGRATE_IMAGES come from the eval above
  read -r -a ALL_IMAGES <<<"$PAUSE_IMAGE $WAITER_IMAGE $APP_IMAGES $MIGRATE_IMAGES"
  "$E2E/images/build.sh" --check || die "images are missing or stale: run test/e2e/cluster/build.sh"

  TIMEOUT="${E2E_UP_TIMEOUT:-180}"
  SECONDS=0
  DEADLINE=$TIMEOUT
  STARTED=()
  # Any failure from here on: show the logs and take down what was started.
  # (fd 9 = our stderr: a signal can land while a probe's output is sent to
  # /dev/null, and the traps would otherwise inherit that redirection.)
  exec 9>&2
  trap 'rc=$?; if ((rc != 0)); then { dump_logs; log "startup failed, stopping"; cmd_down; } 2>&9; fi' EXIT
  trap 'exit 130' INT TERM HUP

  rm -rf "$DIR/etcd-data" "$DIR/pki" "$DIR/logs" "$DIR/node" "$DIR"/*.kubeconfig \
    "$DIR/kubeconfig" "$DIR/audit.log" "$DIR/audit-policy.yaml" "$DIR/env" \
    "$DIR/cluster.json" "$DIR/apiserver.sock"
  mkdir -p "$DIR/logs"

  local host_port
  host_port="$(pick_ports 1)"
  APISERVER="https://127.0.0.1:$host_port"
  local inside="https://127.0.0.1:$APISERVER_PORT"
  log "dir $DIR; node $NODE_NAME $NODE_IP; API server on host $APISERVER (forwarded to $inside in the namespace)"

  gen_pki
  write_kubeconfig "$DIR/kubeconfig" "$APISERVER" "$DIR/pki/admin.crt" "$DIR/pki/admin.key" e2e-admin
  write_kubeconfig "$DIR/controller-manager.kubeconfig" "$inside" \
    "$DIR/pki/controller-manager.crt" "$DIR/pki/controller-manager.key" system:kube-controller-manager
  write_kubeconfig "$DIR/scheduler.kubeconfig" "$inside" \
    "$DIR/pki/scheduler.crt" "$DIR/pki/scheduler.key" system:kube-scheduler
  write_kubeconfig "$DIR/kubelet.kubeconfig" "$inside" \
    "$DIR/pki/kubelet.crt" "$DIR/pki/kubelet.key" "system:node:$NODE_NAME"
  write_kubeconfig "$DIR/kube-proxy.kubeconfig" "$inside" \
    "$DIR/pki/kube-proxy.crt" "$DIR/pki/kube-proxy.key" system:kube-proxy
  write_node_configs

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

  with_host_lock acquire_host_state_locked
  create_cgroups
  create_namespaces

  start_component containerd containerd --config "$DIR/node/containerd.toml" --log-level warn
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
  wait_for "etcd healthy" etcd_healthy
  start_postgres

  local extra=()
  read -r -a extra <<<"${E2E_APISERVER_EXTRA_ARGS:-}"
  # --advertise-address: the node's address, so the kubernetes Service gets
  # a real endpoint (the default lease reconciler refuses loopback).
  # --requestheader-*: only so delegated authn (controller-manager,
  # scheduler) finds a complete extension-apiserver-authentication ConfigMap;
  # no certificate with CN front-proxy-client is ever issued.
  start_component kube-apiserver "$KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address=0.0.0.0 \
    --advertise-address="$NODE_IP" \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$DIR/pki" \
    --tls-cert-file="$DIR/pki/apiserver.crt" \
    --tls-private-key-file="$DIR/pki/apiserver.key" \
    --client-ca-file="$DIR/pki/ca.crt" \
    --kubelet-client-certificate="$DIR/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$DIR/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$DIR/pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --requestheader-client-ca-file="$DIR/pki/ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
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

  # The host's way in: socat inside listens on a unix socket in DIR (the
  # same file on both sides of the mount namespace) and connects to the API
  # server; socat on the host listens on 127.0.0.1 only and connects to
  # that socket. The socket is named relative to DIR, their working
  # directory, as a socket path holds at most 107 bytes. One forked child
  # per connection; nodelay keeps small TLS records (watch events) from
  # waiting on Nagle.
  start_component forward-ns socat \
    "UNIX-LISTEN:apiserver.sock,fork,unlink-early,mode=600" \
    "TCP:127.0.0.1:$APISERVER_PORT,nodelay"
  start_host_component forward-host socat \
    "TCP-LISTEN:$host_port,bind=127.0.0.1,fork,reuseaddr,nodelay" \
    "UNIX-CONNECT:apiserver.sock"

  # Images go in while the API server starts.
  wait_for "containerd" containerd_ready
  load_images "${archives[@]}"
  wait_for "images imported" images_listed

  wait_for "kube-apiserver /readyz (through the host forwarder)" apiserver_ready

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
  start_component kube-scheduler "$KUBE_SCHEDULER" \
    --kubeconfig="$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 \
    --secure-port="$SCHEDULER_PORT" \
    --tls-cert-file="$DIR/pki/scheduler-serving.crt" \
    --tls-private-key-file="$DIR/pki/scheduler-serving.key" \
    --leader-elect=false \
    --profiling=false \
    --v=1
  start_component kubelet "$KUBELET" \
    --config="$DIR/node/kubelet.yaml" \
    --kubeconfig="$DIR/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" \
    --v=1
  start_component kube-proxy "$KUBE_PROXY" \
    --config="$DIR/node/kube-proxy.yaml" \
    --v=1

  wait_for "kube-controller-manager /healthz" kcm_healthy
  wait_for "kube-scheduler /healthz" scheduler_healthy
  wait_for "kubelet /healthz" kubelet_healthy
  wait_for "node $NODE_NAME Ready and untainted" node_ready
  wait_for "kube-proxy /healthz (rules synced)" proxy_healthy
  wait_for "EndpointSlice default/kubernetes -> $NODE_IP" kubernetes_endpoint
  wait_for "ServiceAccount default/default" default_sa_exists
  wait_for "ConfigMap default/kube-root-ca.crt" root_ca_published
  wait_for "PostgreSQL accepting connections" postgres_ready

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
E2E_NETNS=$NS/net
E2E_MOUNTNS=$NS/mnt
E2E_NODE_NAME=$NODE_NAME
E2E_NODE_IP=$NODE_IP
E2E_POD_CIDR=$POD_CIDR
E2E_SERVICE_CIDR=$SERVICE_CIDR
E2E_APISERVER_INTERNAL=https://$NODE_IP:$APISERVER_PORT
E2E_PAUSE_IMAGE=$PAUSE_IMAGE
E2E_WAITER_IMAGE=$WAITER_IMAGE
E2E_WAITER_KUBECTL=$WAITER_KUBECTL
E2E_APP_IMAGES=$APP_IMAGES
E2E_MIGRATE_IMAGES=$MIGRATE_IMAGES
E2E_CLUSTER_SH=$HERE/cluster.sh
E2E_POSTGRES_HOST=$NODE_IP
E2E_POSTGRES_PORT=$POSTGRES_PORT
E2E_POSTGRES_SOCKET_DIR=$DIR/postgres
E2E_PSQL=$PG_BIN/psql
EOF
  env_to_json <"$DIR/env" >"$DIR/cluster.json"

  trap - EXIT INT TERM HUP
  log "ready in ${SECONDS}s: export KUBECONFIG=$DIR/kubeconfig (or: set -a; . $DIR/env; set +a)"
}

# For load/tag/exec: the cluster must be up.
need_running() {
  set_paths
  ns_mounted net || die "no cluster in $DIR (run '$0 up $DIR')"
}

cmd_load() {
  need_running
  live_pid containerd >/dev/null || die "containerd is not running for $DIR"
  local archives=()
  if (($# == 0)); then
    # shellcheck disable=SC1090
    eval "$("$E2E/images/build.sh" --env)"
    read -r -a archives <<<"$IMAGE_ARCHIVES"
  else
    archives=("$@")
  fi
  load_images "${archives[@]}"
  log "imported ${archives[*]}"
}

cmd_tag() {
  need_running
  (($# >= 2)) || usage
  ctr_ns images tag --force "$@" >/dev/null
}

# ---------------------------------------------------------------- main

(($# >= 2)) || usage
sub="$1"
DIR="$2"
shift 2
[[ -n "$DIR" ]] || usage
case "$sub" in
  up)
    (($# == 0)) || usage
    cmd_up
    ;;
  down)
    (($# == 0)) || usage
    if [[ -d "$DIR" ]]; then DIR="$(cd "$DIR" && pwd)"; fi
    set_paths
    cmd_down
    ;;
  status)
    (($# == 0)) || usage
    [[ -d "$DIR" ]] || { echo "no such dir $DIR"; exit 1; }
    DIR="$(cd "$DIR" && pwd)"
    set_paths
    cmd_status
    ;;
  load | tag | exec)
    [[ -d "$DIR" ]] || die "no such dir $DIR"
    DIR="$(cd "$DIR" && pwd)"
    case "$sub" in
      load) cmd_load "$@" ;;
      tag) cmd_tag "$@" ;;
      exec)
        (($# >= 1)) || usage
        need_running
        in_ns "$@"
        ;;
    esac
    ;;
  *) usage ;;
esac
