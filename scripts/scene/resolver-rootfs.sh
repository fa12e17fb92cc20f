#!/usr/bin/env bash
# Build (idempotently) a rootfs with its OWN copy of the host's glibc (new
# inodes, not the host's files) plus getent, on top of the busybox rootfs,
# with names served from its own /etc/hosts (no outside network needed).
#
# Usage: scripts/scene/resolver-rootfs.sh [CACHE_DIR]   (default /var/tmp/nettrail-resolver-rootfs)
# Prints the rootfs directory. /etc/hosts inside it maps:
#   ct-v4.nettrail.test  -> 192.0.2.44
#   ct-v6.nettrail.test  -> 2001:db8::44
#   ct-both.nettrail.test -> 192.0.2.45 and 2001:db8::45
set -euo pipefail
die() { echo "resolver-rootfs.sh: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-/var/tmp/nettrail-resolver-rootfs}"
layout_version=1
base="$("$here/rootfs.sh")"
libc=/lib/x86_64-linux-gnu/libc.so.6
ld=/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[[ -f "$libc" && -f "$ld" ]] || die "host glibc not found at $libc / $ld"
want="layout=$layout_version libc=$(stat -Lc '%s-%Y-%i' "$libc") base=$(stat -c '%Y-%i' "$base/bin/busybox")"
if [[ -f "$cache/stamp" && "$(<"$cache/stamp")" == "$want" && -d "$cache/rootfs" ]]; then
  echo "$cache/rootfs"; exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"; flock -w 60 9 || die "lock timeout"
tmp="$(mktemp -d "$cache/.build.XXXXXX")"; trap 'rm -rf "$tmp"' EXIT
r="$tmp/rootfs"
cp -a "$base" "$r"
mkdir -p "$r/lib/x86_64-linux-gnu" "$r/lib64" "$r/usr/bin"
# Copies, not links: the container's libc is a different file (inode) from the host's.
cp "$libc" "$ld" "$r/lib/x86_64-linux-gnu/"
for f in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  [[ -f "$f" ]] && cp "$f" "$r/lib/x86_64-linux-gnu/"
done
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
rm -f "$r/usr/bin/getent"
cp /usr/bin/getent "$r/usr/bin/getent"
cat >"$r/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
192.0.2.44	ct-v4.nettrail.test
2001:db8::44	ct-v6.nettrail.test
192.0.2.45	ct-both.nettrail.test
2001:db8::45	ct-both.nettrail.test
HOSTS
printf 'hosts: files\n' >"$r/etc/nsswitch.conf"
rm -rf "$cache/rootfs"; mv "$r" "$cache/rootfs"
echo "$want" >"$cache/stamp"
echo "$cache/rootfs"
