#!/bin/bash
# bench/make-big-capture.sh OUT SECONDS
#
# A large capture made by the real recorder, for bench/index-scale.sh: SECONDS of a
# saturating churn of short TCP connections through the MASQUERADE scene
# (bench/churn-lib.sh, prefix ntbc; 4 C clients of bench/churn.c against 2 epoll
# servers) beside an exec load (bench/churn.c burst: fork+exec of /bin/true from
# 1 forker, so the process tables are not empty), recorded with every default source
# and conntrack in the router's namespace. Writes OUT (replaced if it exists) and
# prints its segments, events and losses (read with sqlite3: `nettrail info` would
# build the whole case first). Bounded: every load runs under `timeout SECONDS`,
# and the scene is removed on exit.
# HELD=N: also N TCP connections opened as the recording starts and held open to its end
# (a Python holder: its cost is not measured here), as a server's pools and keepalives are.
# NETTRAIL_RECORD: the recorder (default: this tree's release build).
# Run it under the shared lock: flock /tmp/nettrail-scene.lock bench/make-big-capture.sh ...
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: make-big-capture.sh OUT SECONDS}
secs=${2:?usage: make-big-capture.sh OUT SECONDS}
rec=${NETTRAIL_RECORD:-$repo/.build/release/nettrail-record}
[ -x "$rec" ] || (cd "$repo" && swift build -c release --static-swift-stdlib --product nettrail-record >/dev/null)
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
p=ntbc
n=1 # churn-lib's Python workload is not used here
watcher=
bench_cleanup() {
	[ -n "$watcher" ] && kill -INT "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
}
source "$repo/bench/churn-lib.sh"
gcc -O2 -o "$tmp/churn" "$repo/bench/churn.c"
# The clients close first: their TIME_WAIT ports must be reusable within the run.
ip netns exec "$p-cli" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
# Minutes of churn at ~10k connections/s would fill the router's conntrack table with
# TIME_WAIT entries (the scene keeps them 120 s), and new connections would then be dropped.
ip netns exec "$p-rtr" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=2
for port in 7100 7101; do
	ip netns exec "$p-srv" "$tmp/churn" server $port >/dev/null &
	pids+=($!)
done
sleep 0.5

"$rec" --db "$out" --force --netns "/run/netns/$p-rtr" >"$tmp/rec.out" 2>"$tmp/rec.err" &
watcher=$!
until grep -q "recording to" "$tmp/rec.err" 2>/dev/null; do
	kill -0 $watcher 2>/dev/null || { cat "$tmp/rec.err" >&2; exit 1; }
	sleep 0.1
done
if [ "${HELD:-0}" -gt 0 ]; then
	ulimit -n $((HELD + 1024))
	ip netns exec "$p-srv" python3 -c '
import socket
s = socket.create_server(("0.0.0.0", 7200), backlog=4096)
held = []
while True:
    held.append(s.accept()[0])' &
	pids+=($!)
	sleep 0.5
	ip netns exec "$p-cli" python3 -c '
import socket, sys, time
held = [socket.create_connection(("10.201.2.2", 7200)) for _ in range(int(sys.argv[1]))]
print("held", len(held), flush=True)
time.sleep(1e6)' "$HELD" >"$tmp/held" &
	pids+=($!)
	for _ in $(seq 600); do grep -q held "$tmp/held" && break; sleep 0.1; done
	grep -q held "$tmp/held" || { echo "make-big-capture: the holder did not open $HELD connections" >&2; exit 1; }
fi
load=()
for i in 0 1 2 3; do
	timeout "$secs" ip netns exec "$p-cli" "$tmp/churn" client 10.201.1.2 10.201.2.2 $((7100 + i % 2)) 1000000000 \
		>"$tmp/cli$i" 2>&1 &
	load+=($!)
done
timeout "$secs" "$tmp/churn" burst 1000000000 1 >/dev/null 2>&1 &
load+=($!)
wait "${load[@]}" || true
kill -INT $watcher
wait $watcher || true
watcher=
tail -3 "$tmp/rec.err"
sqlite3 "file:$out?mode=ro" "SELECT 'segments ' || count(*) || ', segment_events ' || sum(records) FROM segment;
	SELECT 'lost ' || coalesce((SELECT group_concat(source || '/' || kind || ' ' || count, ', ') FROM loss), 'nothing')"
