#!/usr/bin/env bash
# Run a real runc container on the nettrail busybox rootfs.
#
# Usage: scripts/scene/runc-run.sh [options] ID -- CMD [ARG...]
#   --detach, -d          run in the background: prints ID on stdout and returns;
#                         container stdout/stderr go to BUNDLE/console.log
#                         (default: foreground; container stdio is ours, exit code is
#                         the container's, ID goes to stderr, bundle removed afterwards)
#   --netns new|host|PATH new = fresh network namespace, only lo (up) (default);
#                         host = share the host's; PATH = join e.g. /var/run/netns/foo
#   --cgroups-path P      linux.cgroupsPath (default /nettrail/ID); '' = leave unset
#                         (runc then uses <runc's own cgroup>/ID per hierarchy, see README)
#   --bind SRC:DST[:ro]   extra bind mount (repeatable); DST must exist in the rootfs
#                         or be under /mnt, /tmp or /run (tmpfs)
#   --rootfs DIR          rootfs to use (default: output of rootfs.sh, built if needed)
#   --bundle-root DIR     where bundles live (default /run/nettrail/runc)
# Host PID of a detached container: runc state ID | jq .pid   (or BUNDLE/pid)
# The rootfs is shared read-only by all containers; /tmp, /run and /mnt are tmpfs.
# Remove with scripts/scene/runc-rm.sh ID.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

die() { echo "runc-run.sh: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Bump when the template below changes (invalidates cached templates).
template_version=3

detach=0
netns=new
cgpath=__default__
rootfs=
bundle_root=/run/nettrail/runc
binds=()
id=

while (($#)); do
  case "$1" in
    --detach|-d) detach=1; shift ;;
    --netns) (($# >= 2)) || die "--netns needs an argument"; netns="$2"; shift 2 ;;
    --cgroups-path) (($# >= 2)) || die "--cgroups-path needs an argument"; cgpath="$2"; shift 2 ;;
    --bind) (($# >= 2)) || die "--bind needs SRC:DST[:ro]"; binds+=("$2"); shift 2 ;;
    --rootfs) (($# >= 2)) || die "--rootfs needs a directory"; rootfs="$2"; shift 2 ;;
    --bundle-root) (($# >= 2)) || die "--bundle-root needs a directory"; bundle_root="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [[ -z "$id" ]] || die "unexpected argument '$1' (missing -- before the command?)"; id="$1"; shift ;;
  esac
done
[[ -n "$id" ]] || die "usage: runc-run.sh [--detach] [--netns new|host|PATH] ID -- CMD..."
(($# > 0)) || die "no command given after --"
[[ "$id" =~ ^[A-Za-z0-9_.+-]+$ && ${#id} -le 200 ]] || die "invalid container ID '$id' (allowed: [A-Za-z0-9_.+-])"
[[ $EUID -eq 0 ]] || die "must run as root"
runc_bin="$(command -v runc)" || die "runc not found: apt-get install -y runc"

# JSON string literal from a shell string (control chars other than \n \t \r rejected).
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"; s="${s//$'\t'/\\t}"; s="${s//$'\r'/\\r}"
  [[ "$s" != *[[:cntrl:]]* ]] || die "control character in argument: $(printf %q "$1")"
  printf '"%s"' "$s"
}

if [[ -z "$rootfs" ]]; then
  rootfs="$("$here/rootfs.sh")" || die "rootfs.sh failed"
fi
[[ -x "$rootfs/bin/busybox" ]] || die "no busybox rootfs at $rootfs"
rootfs="$(cd "$rootfs" && pwd)"

case "$netns" in
  new|host) netkind="$netns" ;;
  /*) [[ -e "$netns" ]] || die "network namespace $netns does not exist"; netkind=path ;;
  *) die "--netns must be new, host or an absolute path (got '$netns')" ;;
esac
[[ "$cgpath" == __default__ ]] && cgpath="/nettrail/$id"

binds_json=
for b in "${binds[@]+"${binds[@]}"}"; do
  IFS=: read -r src dst mode <<<"$b"
  [[ -n "$src" && -n "$dst" ]] || die "bad --bind '$b' (want SRC:DST[:ro])"
  [[ -e "$src" ]] || die "bind source $src does not exist"
  [[ "$dst" == /* && "$dst" != *..* ]] || die "bind destination '$dst' must be an absolute path without '..'"
  # The shared rootfs must stay pristine: runc would mkdir/touch missing
  # mountpoints in it. Only existing paths or paths under a tmpfs are allowed.
  case "$dst" in
    /tmp/*|/run/*|/mnt/*) ;;
    *) [[ -e "$rootfs$dst" ]] || die "bind destination $dst does not exist in the rootfs (use a path under /mnt, /tmp or /run)" ;;
  esac
  o='"rbind","rprivate"'
  case "${mode:-rw}" in ro) o+=',"ro"' ;; rw) ;; *) die "bad --bind mode '$mode' (ro or rw)" ;; esac
  binds_json+=",{\"destination\":$(json_str "$dst"),\"type\":\"bind\",\"source\":$(json_str "$(realpath "$src")"),\"options\":[$o]}"
done

# --- config template: `runc spec` edited once by jq per (runc binary, variant), cached.
# jq 1.6 needs ~45-60 ms per start, so per-container values are filled in by bash
# into the placeholders "@@...@@" of the compact template.
cgkind="set"; [[ -z "$cgpath" ]] && cgkind="unset"
runc_key="$(stat -Lc '%s-%Y-%i' "$runc_bin")"
tdir="$bundle_root/.templates"
template="$tdir/v$template_version-$runc_key-$netkind-$cgkind.json"
if [[ ! -s "$template" ]]; then
  command -v jq >/dev/null || die "jq not found: apt-get install -y jq"
  mkdir -p "$tdir"
  tmpd="$(mktemp -d "$tdir/.gen.XXXXXX")"
  (cd "$tmpd" && runc spec) || { rm -rf "$tmpd"; die "runc spec failed"; }
  # netns new: runc itself brings lo up in a fresh netns (its "loopback" network).
  jq -c --arg netkind "$netkind" --arg cgkind "$cgkind" '
    .root = {path: "@@ROOT@@", readonly: true}
    | .hostname = "@@HOST@@"
    | .process.terminal = false
    | .process.args = ["@@ARGS@@"]
    | .process.cwd = "/"
    | .mounts += [
        {destination:"/tmp", type:"tmpfs", source:"tmpfs", options:["nosuid","nodev","mode=1777","size=64m"]},
        {destination:"/run", type:"tmpfs", source:"tmpfs", options:["nosuid","nodev","mode=755","size=16m"]},
        {destination:"/mnt", type:"tmpfs", source:"tmpfs", options:["nosuid","nodev","mode=755","size=16m"]},
        "@@BINDS@@"
      ]
    | if $cgkind == "set" then .linux.cgroupsPath = "@@CG@@" else del(.linux.cgroupsPath) end
    | if $netkind == "host" then .linux.namespaces |= map(select(.type != "network"))
      elif $netkind == "path" then .linux.namespaces |= map(if .type == "network" then .path = "@@NETNS@@" else . end)
      else . end
  ' "$tmpd/config.json" >"$tmpd/t.json" || { rm -rf "$tmpd"; die "jq edit of runc spec failed"; }
  mv -f "$tmpd/t.json" "$template"
  rm -rf "$tmpd"
fi

args_json=
for a in "$@"; do args_json+=",$(json_str "$a")"; done
j_root="$(json_str "$rootfs")"
j_host="$(json_str "${id:0:63}")"
j_cg="$(json_str "$cgpath")"
j_netns="$(json_str "$netns")"
cfg="$(<"$template")"
cfg="${cfg/'"@@ROOT@@"'/"$j_root"}"
cfg="${cfg/'"@@HOST@@"'/"$j_host"}"
cfg="${cfg/'["@@ARGS@@"]'/"[${args_json#,}]"}"
cfg="${cfg/',"@@BINDS@@"'/"$binds_json"}"
[[ "$cgkind" == set ]] && cfg="${cfg/'"@@CG@@"'/"$j_cg"}"
[[ "$netkind" == path ]] && cfg="${cfg/'"@@NETNS@@"'/"$j_netns"}"
[[ "$cfg" != *@@* ]] || die "internal error: unfilled placeholder in $template (delete it)"

if runc state "$id" >/dev/null 2>&1; then
  die "container $id already exists (remove it with runc-rm.sh $id)"
fi
bundle="$bundle_root/$id"
# No such container, so a leftover bundle (e.g. after a killed run) is stale.
[[ -e "$bundle" ]] && rm -rf -- "$bundle"
mkdir -p "$bundle"
ok=0
cleanup_bundle() { if ((ok == 0)) || ((detach == 0)); then rm -rf "$bundle"; fi; }
trap cleanup_bundle EXIT
printf '%s\n' "$cfg" >"$bundle/config.json"

if ((detach)); then
  runc run --detach --bundle "$bundle" --pid-file "$bundle/pid" "$id" \
    </dev/null >"$bundle/console.log" 2>&1 \
    || die "runc run failed: $(tail -n 3 "$bundle/console.log" | tr '\n' ' ')"
  ok=1
  echo "$id"
else
  echo "$id" >&2
  # Background + wait so that a TERM/INT/HUP to this script kills the container
  # (a PID-1 `sleep` would ignore a forwarded SIGTERM) instead of orphaning it.
  runc run --bundle "$bundle" "$id" <&0 &
  rpid=$!
  trap 'runc kill "$id" KILL >/dev/null 2>&1 || kill -KILL "$rpid" 2>/dev/null || true' TERM INT HUP
  rc=0
  while :; do
    set +e; wait "$rpid"; rc=$?; set -e
    kill -0 "$rpid" 2>/dev/null || break
  done
  trap - TERM INT HUP
  ok=1
  # runc run (foreground) deletes the container itself; make sure.
  runc delete -f "$id" >/dev/null 2>&1 || true
  exit "$rc"
fi
