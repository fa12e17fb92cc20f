#!/usr/bin/env bash
# The main job, end to end on this machine: build, make a small real scene
# (network namespaces, NAT, a runc container), record it, then query it.
#
#   ntdemo-cli 10.201.1.2 ── ntdemo-rtr (MASQUERADE out, DNAT :8080 in) ── ntdemo-srv 10.201.2.2
#
# A container in ntdemo-cli fetches a page from the server through source NAT;
# the server only sees the router's address. The capture then answers: which
# connection inside was that, which process, which container.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
scene=scripts/scene
out=${DEMO_DIR:-/tmp/nettrail-demo}
mkdir -p "$out/www"
echo "hello from the server" > "$out/www/index.html"

echo "== building"
swift build 2>&1 | tail -1
bin=$(swift build --show-bin-path)

cleanup() {
  set +e
  [[ -n "${rec:-}" ]] && kill -INT "$rec" 2>/dev/null && wait "$rec"
  [[ -n "${srv:-}" ]] && kill "$srv" 2>/dev/null
  [[ -n "${web:-}" ]] && kill "$web" 2>/dev/null
  $scene/runc-rm.sh demo-web >/dev/null 2>&1
  $scene/nat-scene.sh down ntdemo
}
trap cleanup EXIT

echo "== scene: three namespaces, MASQUERADE and DNAT in the router, a runc container"
$scene/nat-scene.sh up ntdemo
$scene/rootfs.sh >/dev/null
ip netns exec ntdemo-srv busybox httpd -f -vv -p 80 -h "$out/www" 2>"$out/server.log" & srv=$!
ip netns exec ntdemo-cli busybox httpd -f -vv -p 80 -h "$out/www" 2>"$out/published.log" & web=$!
sleep 0.3

echo "== recording (every network namespace)"
"$bin/nettrail-record" --db "$out/capture.db" --force --all-netns & rec=$!
sleep 2

# Outbound: a short-lived container fetches from the server, through source NAT.
$scene/runc-run.sh --netns /var/run/netns/ntdemo-cli demo-web -- \
  /bin/sh -c 'wget -q -O /dev/null http://10.201.2.2/; sleep 0.05' 2>/dev/null
# Inbound: the "outside" reaches the service published on the router's :8080.
ip netns exec ntdemo-srv busybox wget -q -O /dev/null http://10.201.2.1:8080/
# A burst of short processes on the host.
burst=(); for i in $(seq 200); do /bin/true & burst+=($!); done; wait "${burst[@]}"
sleep 1
kill -INT "$rec"; wait "$rec"; rec=
chmod 0600 "$out/capture.db"

# What the server saw, e.g. "[::ffff:10.201.2.1]:55901: url:/" -> 10.201.2.1:55901
seen=$(head -1 "$out/server.log" | sed -E 's/^\[(::ffff:)?([^]]+)\]:([0-9]+):.*/\2:\3/')
at=$(stat -c %.9Y "$out/server.log")   # when the server wrote that line
echo
echo "== the server logged a request from $seen; which connection, process and container was that?"
echo "\$ nettrail info capture.db"
"$bin/nettrail" info "$out/capture.db"
echo
echo "\$ nettrail nat capture.db --addr $seen"
"$bin/nettrail" nat "$out/capture.db" --addr "$seen"
echo
echo "\$ nettrail who capture.db --addr $seen --at $at"
"$bin/nettrail" who "$out/capture.db" --addr "$seen" --at "$at" || true
echo
echo "\$ nettrail processes capture.db --container demo-web"
"$bin/nettrail" processes "$out/capture.db" --container demo-web
echo
echo "\$ nettrail connections capture.db --container demo-web"
"$bin/nettrail" connections "$out/capture.db" --container demo-web
echo
echo "The capture is $out/capture.db; try: $bin/nettrail timeline $out/capture.db --container demo-web"
