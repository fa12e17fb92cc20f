#!/usr/bin/env bash
# Build (idempotently) a minimal busybox rootfs for nettrail's test containers.
#
# Usage: scripts/scene/rootfs.sh [CACHE_DIR]      (default /var/tmp/nettrail-rootfs)
#
# Produces:
#   CACHE_DIR/rootfs/        the root filesystem (busybox-static + applet symlinks, /etc files)
#   CACHE_DIR/rootfs.tar     the same tree as a tarball (for `docker import`)
#   CACHE_DIR/stamp          what it was built from; a matching stamp means "nothing to do"
# Prints the absolute rootfs directory on stdout. Needs Debian's busybox-static
# (/bin/busybox, statically linked); it installs nothing itself.
set -euo pipefail

die() { echo "rootfs.sh: $*" >&2; exit 1; }

cache="${1:-/var/tmp/nettrail-rootfs}"
[[ "$cache" == /* ]] || cache="$(pwd)/$cache"
bb=/bin/busybox
# Bump when the layout below changes, so existing caches get rebuilt.
layout_version=2

[[ -x "$bb" ]] || die "$bb not found: apt-get install -y busybox-static"
# Cheap identity of the busybox binary (size, mtime, inode: a package upgrade changes them).
bb_id="$(stat -Lc '%s-%Y-%i' "$bb")"
want_stamp="layout=$layout_version busybox=$bb_id"

cache_ok() {
  [[ -f "$cache/stamp" && -d "$cache/rootfs" && -f "$cache/rootfs.tar" ]] \
    && [[ "$(<"$cache/stamp")" == "$want_stamp" ]]
}
if cache_ok; then
  echo "$cache/rootfs"
  exit 0
fi

file_out="$(LC_ALL=C file -bL "$bb" 2>/dev/null || true)"
if [[ -n "$file_out" && "$file_out" != *"statically linked"* && "$file_out" != *"static-pie"* ]]; then
  die "$bb is not statically linked (is 'busybox' installed instead of 'busybox-static'?)"
fi

mkdir -p "$cache" || die "cannot create cache dir $cache"
# One builder at a time per cache dir (bounded wait).
exec 9>"$cache/.lock"
flock -w 60 9 || die "timed out waiting for lock $cache/.lock"
# Another builder may have finished while we waited.
if cache_ok; then
  echo "$cache/rootfs"
  exit 0
fi

tmp="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
r="$tmp/rootfs"

mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,run,var/tmp,root,home,mnt}
chmod 1777 "$r/tmp" "$r/var/tmp"
chmod 0700 "$r/root"
cp "$bb" "$r/bin/busybox"
chmod 0755 "$r/bin/busybox"

# One symlink per applet, where busybox says it lives (bin, sbin, usr/bin, usr/sbin).
n=0
while IFS= read -r applet; do
  [[ -n "$applet" ]] || continue
  applet="${applet#/}"
  name="${applet##*/}"
  [[ "$name" == busybox ]] && continue
  dir="${applet%/*}"
  [[ "$dir" == "$applet" ]] && dir=bin
  case "$dir" in
    bin) target=busybox ;;
    sbin) target=../bin/busybox ;;
    usr/bin|usr/sbin) target=../../bin/busybox ;;
    *) continue ;;
  esac
  mkdir -p "$r/$dir"
  ln -sf "$target" "$r/$dir/$name"
  n=$((n + 1))
done < <("$bb" --list-full 2>/dev/null || "$bb" --list)
(( n > 0 )) || die "busybox listed no applets"
for a in sh true sleep echo cat; do
  [[ -e "$r/bin/$a" || -e "$r/usr/bin/$a" ]] || die "busybox lacks required applet '$a'"
done

cat >"$r/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
cat >"$r/etc/nsswitch.conf" <<'EOF'
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
EOF
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
: >"$r/etc/resolv.conf"
echo nettrail >"$r/etc/hostname"

# Deterministic tarball, owned by root, for `docker import`.
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 \
    -C "$r" -cf "$tmp/rootfs.tar" . || die "tar of rootfs failed"

# Swap in atomically-ish: old tree out of the way, new tree in, then stamp.
rm -f "$cache/stamp"
if [[ -e "$cache/rootfs" ]]; then
  mv "$cache/rootfs" "$tmp/old-rootfs"
fi
mv "$r" "$cache/rootfs"
mv "$tmp/rootfs.tar" "$cache/rootfs.tar"
echo "$want_stamp" >"$cache/stamp"
echo "rootfs.sh: built $cache/rootfs ($n applets)" >&2
echo "$cache/rootfs"
