#!/usr/bin/env bash
# Make sure a dockerd (cgroupfs driver, no iptables, no bridge) is running and the
# nettrail busybox image exists. Idempotent; installs nothing (apt-get install -y docker.io).
#
# Usage: scripts/scene/docker-up.sh [ROOTFS_CACHE_DIR]
#   ROOTFS_CACHE_DIR   passed to rootfs.sh (default /var/tmp/nettrail-rootfs)
# Env:  DOCKER_UP_TIMEOUT  seconds to wait for the daemon (default 60)
#       DOCKERD_LOG        daemon log file (default /tmp/nettrail-dockerd.log)
# Prints the image name (nettrail-busybox:latest) on stdout.
# Containers need an explicit network: docker run --network none|host ... (no bridge).
set -euo pipefail

die() { echo "docker-up.sh: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image=nettrail-busybox:latest
timeout_s="${DOCKER_UP_TIMEOUT:-60}"
log="${DOCKERD_LOG:-/tmp/nettrail-dockerd.log}"
pidfile=/var/run/docker.pid

[[ $EUID -eq 0 ]] || die "must run as root"
command -v dockerd >/dev/null || die "dockerd not found: apt-get install -y docker.io"
command -v docker >/dev/null || die "docker CLI not found: apt-get install -y docker.io"

ping_daemon() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Serialize concurrent callers (bounded), so only one of them starts a daemon.
exec 8>/run/nettrail-docker-up.lock
flock -w "$timeout_s" 8 || die "timed out waiting for /run/nettrail-docker-up.lock"

if ! ping_daemon; then
  running_pid=
  if [[ -s "$pidfile" ]]; then
    p="$(cat "$pidfile")"
    if [[ "$p" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == dockerd ]]; then
      running_pid="$p"
    fi
  fi
  if [[ -z "$running_pid" ]]; then
    rm -f "$pidfile"
    echo "docker-up.sh: starting dockerd (log: $log)" >&2
    # setsid: the daemon must outlive this script and its caller's session. It keeps
    # no descriptor of ours beyond stdio: a caller that waits for this script through
    # an inherited pipe or socket (Swift's Foundation.Process does) would wait for dockerd.
    (
      for fd in /proc/self/fd/*; do
        fd="${fd##*/}"
        if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
      done
      exec setsid dockerd \
        --exec-opt native.cgroupdriver=cgroupfs \
        --iptables=false --ip6tables=false --bridge=none \
        --pidfile "$pidfile" \
        </dev/null >>"$log" 2>&1
    ) &
    running_pid=$!
  else
    echo "docker-up.sh: dockerd (pid $running_pid) is starting; waiting" >&2
  fi
  deadline=$((SECONDS + timeout_s))
  until ping_daemon; do
    if ! kill -0 "$running_pid" 2>/dev/null; then
      die "dockerd exited during startup; last log line: $(tail -n 1 "$log" 2>/dev/null)"
    fi
    ((SECONDS < deadline)) || die "dockerd not ready after ${timeout_s}s (see $log)"
    sleep 0.05
  done
fi

driver="$(timeout 10 docker info --format '{{.CgroupDriver}}' 2>/dev/null || true)"
[[ "$driver" == cgroupfs ]] \
  || echo "docker-up.sh: warning: running dockerd uses cgroup driver '$driver', not cgroupfs" >&2

rootfs="$("$here/rootfs.sh" "${1:-/var/tmp/nettrail-rootfs}")" || die "rootfs.sh failed"
cache="$(dirname "$rootfs")"
want="$(sha256sum "$cache/stamp" | cut -c1-16)"
have="$(timeout 10 docker image inspect --format '{{index .Config.Labels "nettrail.rootfs"}}' "$image" 2>/dev/null || true)"
if [[ "$have" != "$want" ]]; then
  echo "docker-up.sh: importing $cache/rootfs.tar as $image" >&2
  timeout 60 docker import \
    -c "LABEL nettrail.rootfs=$want" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/sh"]' \
    "$cache/rootfs.tar" "$image" >/dev/null || die "docker import of $cache/rootfs.tar failed"
fi
echo "$image"
