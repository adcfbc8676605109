#!/usr/bin/env bash
# Installs the system packages the e2e node needs (Debian/Ubuntu, as root):
#   containerd, runc                  container runtime (cluster.sh runs its own
#                                     containerd inside the cluster's namespaces)
#   containernetworking-plugins       bridge, host-local, loopback, portmap in /usr/lib/cni
#   iptables                          kube-proxy (iptables mode), the kubelet, portmap
#   socat                             the loopback forwarder from the host to the API server
#   iproute2, util-linux              ip, unshare, nsenter, findmnt, mount
#   openssl, curl                     certificates and readiness probes
#   postgresql-15                     the database of the release tests (cluster.sh runs
#                                     its own server in the cluster's namespaces; the
#                                     package's own "main" cluster is never started)
# Idempotent: installs only what is missing, and runs `apt-get update` only then.
#
# Versions checked (apt-cache show/policy on Debian 12 bookworm, Nov 2026):
# containerd 1.6.20~ds1-1+deb12u3, runc 1.1.5+ds1-1+deb12u1,
# containernetworking-plugins 1.1.1+ds1-3+b5 (plugins in /usr/lib/cni), iptables
# 1.8.9-2 (nft backend by default), socat 1.7.4.4-2, postgresql-15 15.18-0+deb12u1
# installed here (apt's candidate: 15.20-0+deb12u1). The kubelet v1.37 still
# accepts containerd 1.6: cmd/kubelet/app/server.go getCgroupDriverFromCRI only
# logs that a CRI without the RuntimeConfig RPC loses support in 1.38.0 and
# falls back to the KubeletConfiguration's cgroupDriver.
#
# No service is started: packages are installed under a temporary
# /usr/sbin/policy-rc.d that denies service starts (honoured by
# invoke-rc.d/deb-systemd-invoke), so no host-wide containerd comes up.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables socat iproute2 util-linux openssl curl postgresql-15)

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup.sh: all of ${PACKAGES[*]} are installed"
  exit 0
fi

if ((EUID != 0)); then
  echo "setup.sh: must run as root to install: ${missing[*]}" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# temporary, from test/e2e/cluster/setup.sh: start no services\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if $own_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup.sh: done"
