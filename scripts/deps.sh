#!/usr/bin/env bash
# Installs what nettrail needs to build and test on Debian 12, and mounts the
# kernel filesystems the recorder and the tests use. Idempotent.
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "deps.sh: run as root" >&2; exit 1; }

pkgs=(
  libbpf-dev libelf-dev zlib1g-dev  # the recorder's loader
  libsqlite3-dev sqlite3            # the timeline
  libzstd-dev                       # the codec of capture segments
  libnetfilter-conntrack-dev        # conntrack startup dump and Netlink fallback
  iproute2 iptables nftables conntrack  # test scenes: namespaces, NAT, the conntrack -E baseline
  runc busybox-static jq            # real containers for tests and the demo
  docker.io                         # dockerd, started by the tests themselves
)
missing=()
for p in "${pkgs[@]}"; do
  [[ $p == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
export PATH=/opt/swift/usr/bin:$PATH
command -v swift >/dev/null || { echo "deps.sh: swift not found (expected in /opt/swift/usr/bin)" >&2; exit 1; }
