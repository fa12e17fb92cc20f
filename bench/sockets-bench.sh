#!/bin/bash
# bench/sockets-bench.sh [CONNECTIONS_PER_CLIENT] [ROUNDS]
#
# Per-connection cost of the socket hooks (bpf/sockets.bpf.c) on the churn workload:
# two scripts/scene/nat-churn.py clients x two servers, short TCP connections through
# the MASQUERADE scene (scripts/scene/nat-scene.sh, prefix ntsb), saturating both cores.
# Per round, back to back on the same scene:
#   none      nothing watching
#   sockets   nettrail-record --only-source sockets
# Prints connections/s, the recorder's CPU seconds over the workload (+1.5 s to drain),
# what the capture holds (connects/accepts with their owner, closes, losses), and the
# kernel-side cost: BPF run time of this recorder's socket programs (kernel.bpf_stats_enabled,
# on only while this runs) per connection (each connection = 2 sockets: client and server).
# Uses $NETTRAIL_RECORD (default .build-sock/release/nettrail-record) and the nettrail next to it
# (the capture holds raw segments: its rows are read from the case `nettrail index` builds).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rec=${NETTRAIL_RECORD:-$repo/.build-sock/release/nettrail-record}
nt=$(dirname "$rec")/nettrail
n=${1:-10000}
rounds=${2:-3}
p=ntsb
old=$(sysctl -n kernel.bpf_stats_enabled)
bench_cleanup() { sysctl -qw kernel.bpf_stats_enabled="$old"; }
source "$repo/bench/churn-lib.sh"

# Sum of run_cnt and run_time_ns over the socket programs (this bpftool cannot list the
# owning pid: per program name, the newest load, i.e. the recorder just started).
progstats() {
	bpftool prog show -j | python3 -c '
import json, sys
names = {"nt_sock_state", "nt_connect_exit", "nt_accept4_exit", "nt_accept_exit_plain", "nt_sock_send",
         "nt_sock_recv", "nt_skb_copy", "nt_sendto_enter", "nt_sendto_exit", "nt_sendmsg_enter",
         "nt_sendmsg_exit", "nt_recvfrom_enter", "nt_recvfrom_exit", "nt_recvmsg_enter", "nt_recvmsg_exit"}
newest = {}
for p in json.load(sys.stdin):
    if p.get("name") in names and p["id"] > newest.get(p["name"], {"id": -1})["id"]:
        newest[p["name"]] = p
if len(sys.argv) > 1:
    for n, p in sorted(newest.items()):
        print("%-22s %9d runs %7.0f ns/run" % (n, p.get("run_cnt", 0), p.get("run_time_ns", 0) / max(p.get("run_cnt", 0), 1)))
else:
    print(sum(p.get("run_cnt", 0) for p in newest.values()), sum(p.get("run_time_ns", 0) for p in newest.values()))' "$@"
}

printf '%-6s %-8s %10s %8s %12s  %s\n' round mode conn/s cpu_s bpf_ns/conn recorded
for r in $(seq "$rounds"); do
	rate=$(workload)
	printf '%-6s %-8s %10s %8s %12s  %s\n' "$r" none "$rate" - - -

	err=$tmp/rec.$r.err
	"$rec" --db "$tmp/s.db" --force --only-source sockets >"$tmp/rec.out" 2>"$err" &
	w=$!
	until grep -q "recording to" "$err" 2>/dev/null; do
		kill -0 $w 2>/dev/null || { cat "$err" >&2; exit 1; }
		sleep 0.1
	done
	sysctl -qw kernel.bpf_stats_enabled=1
	read -r r0 t0 < <(progstats)
	c0=$(cpu $w)
	rate=$(workload)
	read -r r1 t1 < <(progstats)
	[ "$r" = "$rounds" ] && progstats detail > "$tmp/detail"
	sysctl -qw kernel.bpf_stats_enabled=0
	sleep 1.5
	c=$(echo "$(cpu $w) $c0" | awk '{ printf "%.2f", $1 - $2 }')
	kill -INT $w; wait $w || true
	per=$(echo "$t1 $t0 $n" | awk '{ printf "%.0f", ($1 - $2) / (2 * $3) }')
	"$nt" index "$tmp/s.db" --case "$tmp/s.case" --rebuild >/dev/null
	q() { sqlite3 "$tmp/s.case" "$1"; }
	# Only this scene's namespaces: other workloads on the host are recorded too.
	cns=$(stat -L -c %i /run/netns/$p-cli) sns=$(stat -L -c %i /run/netns/$p-srv)
	conn=$(q "SELECT count(*) FROM tcp_event WHERE kind = 1 AND flags & 1 AND result = 0 AND sock_netns = $cns AND rport IN (7000, 7001)")
	acc=$(q "SELECT count(*) FROM tcp_event WHERE kind = 2 AND flags & 1 AND sock_netns = $sns AND lport IN (7000, 7001)")
	clo=$(q "SELECT count(*) FROM tcp_event WHERE kind = 3 AND flags & 1 AND sock_netns IN ($cns, $sns) AND (lport IN (7000, 7001) OR rport IN (7000, 7001))")
	lost=$(q "SELECT coalesce(sum(count), 0) FROM loss")
	printf '%-6s %-8s %10s %8s %12s  %s connects + %s accepts + %s closes with owner, for %s connections; %s lost\n' \
		"$r" sockets "$rate" "$c" "$per" "$conn" "$acc" "$clo" $((2 * n)) "$lost"
done
echo "per program, cumulative over the last round's recorder (since its start):"
cat "$tmp/detail"
