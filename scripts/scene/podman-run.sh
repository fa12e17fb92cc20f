#!/usr/bin/env bash
# Run a real podman container on the nettrail busybox rootfs (podman run --rootfs DIR:O).
#
# Usage: scripts/scene/podman-run.sh [options] -- CMD [ARG...]
#   --detach, -d          background: prints the full 64-hex container ID on stdout;
#                         container is kept until `podman rm -f -t 0 ID` (or --rm)
#                         (default: foreground; container stdio is ours, exit code is the
#                         container's, full ID goes to stderr, container removed afterwards)
#   --name NAME           container name (default: podman's random name)
#   --netns none|host|PATH  none = new netns with only lo, up (default);
#                         host = host's; PATH = join e.g. /var/run/netns/foo
#   --rm                  detached: remove the container when it exits
#   --keep                foreground: keep the stopped container
#   --bind SRC:DST[:ro]   extra bind mount (repeatable)
#   --rootfs DIR          rootfs (default: output of rootfs.sh, built if needed)
#   --runtime NAME        OCI runtime (default runc: Debian's crun 1.8 refuses this
#                         hybrid cgroup host, and podman prefers crun once installed)
# Host PID: podman inspect -f '{{.State.Pid}}' ID
# The rootfs is used as the lower layer of an overlay (":O"), so it is never written.
set -euo pipefail

die() { echo "podman-run.sh: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

detach=0
name=
netns=none
rm_detached=0
keep=0
rootfs=
runtime=runc
binds=()

while (($#)); do
  case "$1" in
    --detach|-d) detach=1; shift ;;
    --name) (($# >= 2)) || die "--name needs an argument"; name="$2"; shift 2 ;;
    --netns) (($# >= 2)) || die "--netns needs an argument"; netns="$2"; shift 2 ;;
    --rm) rm_detached=1; shift ;;
    --keep) keep=1; shift ;;
    --bind) (($# >= 2)) || die "--bind needs SRC:DST[:ro]"; binds+=("$2"); shift 2 ;;
    --rootfs) (($# >= 2)) || die "--rootfs needs a directory"; rootfs="$2"; shift 2 ;;
    --runtime) (($# >= 2)) || die "--runtime needs a name"; runtime="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (missing -- before the command?)" ;;
  esac
done
(($# > 0)) || die "usage: podman-run.sh [--detach] [--name N] [--netns none|host|PATH] -- CMD..."
command -v podman >/dev/null || die "podman not found: apt-get install -y podman"
command -v conmon >/dev/null || die "conmon not found (podman needs it): apt-get install -y conmon"
[[ $EUID -eq 0 ]] || die "must run as root"

if [[ -z "$rootfs" ]]; then
  rootfs="$("$here/rootfs.sh")" || die "rootfs.sh failed"
fi
[[ -x "$rootfs/bin/busybox" ]] || die "no busybox rootfs at $rootfs"
rootfs="$(cd "$rootfs" && pwd)"

case "$netns" in
  none|host) net=(--network "$netns") ;;
  /*) [[ -e "$netns" ]] || die "network namespace $netns does not exist"; net=(--network "ns:$netns") ;;
  *) die "--netns must be none, host or an absolute path (got '$netns')" ;;
esac

opts=(
  --runtime "$runtime"
  "${net[@]}"
  # The VM's hard RLIMIT_NOFILE (20000) is below podman's default of 1048576:
  # without these, runc fails with "error setting rlimit type 7".
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
  --log-driver k8s-file
)
[[ -n "$name" ]] && opts+=(--name "$name")
for b in "${binds[@]+"${binds[@]}"}"; do
  IFS=: read -r src dst mode <<<"$b"
  [[ -n "$src" && -n "$dst" && -e "$src" ]] || die "bad --bind '$b' (want existing SRC:DST[:ro])"
  opts+=(--volume "$(realpath "$src"):$dst${mode:+:$mode}")
done

cidfile="$(mktemp -u /tmp/nettrail-podman-cid.XXXXXX)"
trap 'rm -f "$cidfile"' EXIT
# A failed `podman run` can leave a container in state Created: remove it.
cleanup_failed() {
  if [[ -s "$cidfile" ]]; then
    podman rm -f -t 0 "$(<"$cidfile")" >/dev/null 2>&1 || true
  fi
}

if ((detach)); then
  ((rm_detached)) && opts+=(--rm)
  if ! out="$(timeout 60 podman run --detach "${opts[@]}" --cidfile "$cidfile" --rootfs -- "$rootfs:O" "$@" 2>&1)"; then
    cleanup_failed
    die "podman run failed: $(echo "$out" | tail -n 1)"
  fi
  cid="$(echo "$out" | tail -n 1)"
  [[ "$cid" =~ ^[0-9a-f]{64}$ ]] || { cleanup_failed; die "podman run printed no container ID: $out"; }
  echo "$cid"
else
  ((keep)) || opts+=(--rm)
  set +e
  podman run "${opts[@]}" --cidfile "$cidfile" --rootfs -- "$rootfs:O" "$@"
  rc=$?
  set -e
  if [[ -s "$cidfile" ]]; then
    echo "$(<"$cidfile")" >&2
    # Exit codes 125-127 may be podman's own failure (container never ran).
    if ((rc >= 125 && rc <= 127 && keep == 0)); then cleanup_failed; fi
  fi
  exit "$rc"
fi
