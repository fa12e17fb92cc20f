#!/bin/bash
# bench/conntrack-bench.sh [CONNECTIONS_PER_CLIENT] [ROUNDS]
#
# Connection churn through a MASQUERADE router namespace (scripts/scene/nat-scene.sh,
# prefix ntcb): two clients x two servers of scripts/scene/nat-churn.py saturate the two
# cores with short TCP connections from 200 reused source ports each. Per round, four
# modes run back to back on the same scene:
#   none         nothing watching
#   conntrack-E  `conntrack -E -e NEW` in the router namespace, writing to a file
#   nettrail-ct  nettrail-record, conntrack source only (--only-source conntrack)
#   nettrail-all nettrail-record, every source
# Prints one line per mode and round: connections/s, the watcher's CPU seconds
# (utime+stime from /proc/PID/stat) from the workload's start until 0.5 s (conntrack -E)
# or 1.5 s (nettrail: it reads its rings at least every 100 ms and commits every second)
# after its end, so start-up (BPF load, snapshot) is not counted; and what it recorded or lost.
# Uses $NETTRAIL_RECORD (default .build-ct/release/nettrail-record) and the nettrail next to it
# (the capture holds raw segments: its rows are read from the case `nettrail index` builds).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rec=${NETTRAIL_RECORD:-$repo/.build-ct/release/nettrail-record}
nt=$(dirname "$rec")/nettrail
n=${1:-10000}
rounds=${2:-3}
p=ntcb
source "$repo/bench/churn-lib.sh"

printf '%-6s %-13s %10s %10s  %s\n' round mode conn/s cpu_s recorded
for r in $(seq "$rounds"); do
	rate=$(workload)
	printf '%-6s %-13s %10s %10s  %s\n' "$r" none "$rate" - -

	ip netns exec $p-rtr conntrack -E -e NEW >"$tmp/ce.out" 2>"$tmp/ce.err" &
	w=$!
	sleep 0.5
	c0=$(cpu $w)
	rate=$(workload)
	sleep 0.5
	c=$(echo "$(cpu $w) $c0" | awk '{ printf "%.2f", $1 - $2 }')
	kill -INT $w; wait $w 2>/dev/null || true
	printf '%-6s %-13s %10s %10s  %s NEW lines, %s ENOBUFS warnings\n' "$r" conntrack-E "$rate" "$c" \
		"$(grep -c dport= "$tmp/ce.out" || true)" "$(grep -c ENOBUFS "$tmp/ce.err" || true)"

	for mode in nettrail-ct nettrail-all; do
		extra=()
		[ $mode = nettrail-ct ] && extra=(--only-source conntrack)
		# A fresh stderr file per run: the workload starts only once this recorder is attached.
		err=$tmp/$mode.$r.err
		"$rec" --db "$tmp/$mode.db" --force --netns /run/netns/$p-rtr "${extra[@]}" >"$tmp/rec.out" 2>"$err" &
		w=$!
		until grep -q "recording to" "$err" 2>/dev/null; do
			kill -0 $w 2>/dev/null || { cat "$err" >&2; exit 1; }
			sleep 0.1
		done
		c0=$(cpu $w)
		rate=$(workload)
		sleep 1.5
		c=$(echo "$(cpu $w) $c0" | awk '{ printf "%.2f", $1 - $2 }')
		kill -INT $w; wait $w || true
		"$nt" index "$tmp/$mode.db" --case "$tmp/$mode.case" --rebuild >/dev/null
		ns=$(stat -L -c %i /run/netns/$p-rtr)
		m=$(sqlite3 "$tmp/$mode.case" "SELECT count(*) FROM conntrack WHERE kind = 1 AND NOT flags & 2 AND netns = $ns AND orig_dport IN (7000, 7001)")
		ro=$(sqlite3 "$tmp/$mode.case" "SELECT count(*) FROM conntrack WHERE kind = 1 AND flags & 1 AND netns = $ns AND orig_dport IN (7000, 7001)")
		lost=$(sqlite3 "$tmp/$mode.case" "SELECT coalesce(sum(count), 0) FROM loss")
		# Conntrack's TCP state of the entry when re-opened (3 ESTABLISHED, 7 TIME_WAIT, 8 CLOSE).
		st=$(sqlite3 "$tmp/$mode.case" "SELECT group_concat(tcp_state || ':' || n, ' ') FROM
			(SELECT tcp_state, count(*) n FROM conntrack WHERE kind = 1 AND flags & 1 GROUP BY 1)")
		printf '%-6s %-13s %10s %10s  %s mappings (%s re-opened; states %s) for %s connections, %s lost\n' "$r" $mode \
			"$rate" "$c" "$m" "$ro" "$st" $((2 * n)) "$lost"
	done
done
