#!/usr/bin/env bash
# The main job, end to end on this machine: build, make a small real scene
# (network namespaces, NAT, a runc container), record it, then query it.
#
#   ntdemo-cli 10.201.1.2 ── ntdemo-rtr (MASQUERADE out, DNAT :8080 in) ── ntdemo-srv 10.201.2.2
#
# A container in ntdemo-cli fetches a page from the server through source NAT;
# the server only sees the router's address. The capture then answers: which
# connection inside was that, which process, which container. The server side
# also reaches the router's published port by a name, which `dns` shows.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
scene=scripts/scene
out=${DEMO_DIR:-/tmp/nettrail-demo}

echo "== building"
swift build 2>&1 | tail -1
bin=$(swift build --show-bin-path)

echo "== scene: three namespaces, MASQUERADE and DNAT in the router, a runc container; recording"
recorded=$(flock /tmp/nettrail-scene.lock scripts/scene/demo-record.sh "$out" "$bin")
read -r seen at <<<"$recorded"

echo
echo "== the server logged a request from $seen; which connection, process and container was that?"
echo "\$ nettrail info capture.db"
"$bin/nettrail" info "$out/capture.db"
echo
echo "\$ nettrail nat capture.db --addr $seen"
"$bin/nettrail" nat "$out/capture.db" --addr "$seen"
echo
# The moment is the server log's mtime, which the kernel keeps only to a clock tick (a few
# ms): the connection may show as "nearby", begun a few ms after it.
echo "\$ nettrail who capture.db --addr $seen --at $at    # --at: the log file's mtime, good to a clock tick"
"$bin/nettrail" who "$out/capture.db" --addr "$seen" --at "$at" || true
echo
echo "\$ nettrail containers capture.db"
"$bin/nettrail" containers "$out/capture.db"
echo
echo "\$ nettrail processes capture.db --container demo-web"
"$bin/nettrail" processes "$out/capture.db" --container demo-web
echo
echo "\$ nettrail connections capture.db --container demo-web"
"$bin/nettrail" connections "$out/capture.db" --container demo-web
echo
echo "\$ nettrail dns capture.db"
"$bin/nettrail" dns "$out/capture.db"
echo
echo "The capture is $out/capture.db; try: $bin/nettrail timeline $out/capture.db --container demo-web"
