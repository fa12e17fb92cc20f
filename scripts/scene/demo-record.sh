#!/usr/bin/env bash
# demo-record.sh OUT BIN [PREFIX] [CONTAINER]
# The demo's scene, recorded with BIN/nettrail-record into OUT/capture.db:
#
#   PREFIX-cli 10.201.1.2 ── PREFIX-rtr (MASQUERADE out, DNAT :8080 in) ── PREFIX-srv 10.201.2.2
#
# a runc container CONTAINER in PREFIX-cli fetching a page from the server through source NAT,
# the "outside" resolving the router's name and reaching the service published there, and a
# burst of host processes.
# Prints what the server saw: "IP:PORT UNIX-TIME". Run it under flock /tmp/nettrail-scene.lock.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: demo-record.sh OUT BIN [PREFIX] [CONTAINER]} bin=${2:?usage: demo-record.sh OUT BIN}
p=${3:-ntdemo} name=${4:-demo-web}
scene=scripts/scene
mkdir -p "$out/www"
echo "hello from the server" > "$out/www/index.html"

cleanup() {
  set +e
  [[ -n "${rec:-}" ]] && kill -INT "$rec" 2>/dev/null && wait "$rec"
  [[ -n "${srv:-}" ]] && kill "$srv" 2>/dev/null
  [[ -n "${web:-}" ]] && kill "$web" 2>/dev/null
  $scene/runc-rm.sh "$name" >/dev/null 2>&1
  $scene/nat-scene.sh down "$p"
}
trap cleanup EXIT

$scene/nat-scene.sh up "$p"
$scene/rootfs.sh >/dev/null
ip netns exec "$p-srv" busybox httpd -f -vv -p 80 -h "$out/www" 2>"$out/server.log" & srv=$!
ip netns exec "$p-cli" busybox httpd -f -vv -p 80 -h "$out/www" 2>"$out/published.log" & web=$!
sleep 0.3

"$bin/nettrail-record" --db "$out/capture.db" --force --all-netns --quiet >"$out/record.log" 2>&1 & rec=$!
sleep 2

# Outbound: a short-lived container fetches from the server, through source NAT.
$scene/runc-run.sh --netns "/var/run/netns/$p-cli" "$name" -- \
  /bin/sh -c 'wget -q -O /dev/null http://10.201.2.2/; sleep 0.05' >/dev/null 2>&1
# Inbound: the "outside" reaches the service published on the router's :8080 by a name. GNU
# wget resolves it with the host libc's getaddrinfo (probed: busybox's is linked in, unseen),
# from a hosts file bound over /etc/hosts in the mount namespace ip netns exec makes.
printf '10.201.2.1\tweb.%s.test\n' "$p" >"$out/hosts"
ip netns exec "$p-srv" sh -c 'mount --bind "$1" /etc/hosts && exec wget -q --no-proxy -O /dev/null "http://web.$2.test:8080/"' \
  sh "$out/hosts" "$p"
# A burst of short processes on the host.
burst=(); for i in $(seq 200); do /bin/true & burst+=($!); done; wait "${burst[@]}"
sleep 1
kill -INT "$rec"; wait "$rec"; rec=
chmod 0600 "$out/capture.db"

# What the server saw, e.g. "[::ffff:10.201.2.1]:55901: url:/" -> 10.201.2.1:55901
seen=$(head -1 "$out/server.log" | sed -E 's/^\[(::ffff:)?([^]]+)\]:([0-9]+):.*/\2:\3/')
echo "$seen $(stat -c %.9Y "$out/server.log")"
