#!/bin/bash
# bench/query-scale.sh [SMALL_SECONDS] [BIG_SECONDS]
#
# The analyzer at scale, on captures the real recorder makes here: a saturating
# churn of short TCP connections through the MASQUERADE scene (bench/churn-lib.sh,
# prefix ntqs; 4 C clients of bench/churn.c against 2 epoll servers) beside a
# steady exec loop, recorded twice (SMALL_SECONDS, default 20, and BIG_SECONDS,
# default 160) with every default source and conntrack in the router's namespace.
# For each capture: events, capture bytes per event, index time, events/s and peak
# RSS; then the median of 5 runs (and the slowest) of who, nat, processes --pid,
# connections --remote (in a 10 ms window: unbounded, it lists every connection to
# the server) and a 1-s timeline window, each with a 60 s timeout.
# NETTRAIL_RECORD / NETTRAIL: the binaries (default: this tree's release build).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
small=${1:-20}
big=${2:-160}
rec=${NETTRAIL_RECORD:-$repo/.build/release/nettrail-record}
nt=${NETTRAIL:-$repo/.build/release/nettrail}
[ -x "$rec" ] && [ -x "$nt" ] || (cd "$repo" && swift build -c release --static-swift-stdlib >/dev/null)
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
p=ntqs
n=1 # churn-lib's Python workload is not used here
source "$repo/bench/churn-lib.sh"
gcc -O2 -o "$tmp/churn" "$repo/bench/churn.c"
ip netns exec "$p-cli" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
for port in 7100 7101; do
	ip netns exec "$p-srv" "$tmp/churn" server $port >/dev/null &
	pids+=($!)
done
sleep 0.5

# record SECONDS DB: churn and execs for SECONDS under the recorder.
record() {
	local secs=$1 db=$2 err=$tmp/rec.err w c
	rm -f "$err" # else an earlier run's "recording to" is found before this recorder truncates it
	"$rec" --db "$db" --force --netns "/run/netns/$p-rtr" >/dev/null 2>"$err" &
	w=$!
	until grep -q "recording to" "$err" 2>/dev/null; do
		kill -0 $w 2>/dev/null || { cat "$err" >&2; exit 1; }
		sleep 0.1
	done
	local load=()
	for i in 0 1 2 3; do
		timeout "$secs" ip netns exec "$p-cli" "$tmp/churn" client 10.201.1.2 10.201.2.2 $((7100 + i % 2)) 100000000 >/dev/null 2>&1 &
		load+=($!)
	done
	timeout "$secs" bash -c 'while :; do /bin/true; sleep 0.005; done' &
	load+=($!)
	wait "${load[@]}" || true
	kill -INT $w
	wait $w || true
	tail -1 "$err"
}

field() { awk -v k="$1" '$1 == k { print $2 }'; }

# q LABEL ARGS...: median and max of 5 runs, in ms.
q() {
	local label=$1 t out=() s
	shift
	for i in 1 2 3 4 5; do
		s=$(date +%s%N)
		if ! timeout 60 "$nt" "$@" >/dev/null 2>"$tmp/q.err"; then
			[ $? = 124 ] && { printf '  %-26s timeout (60 s)\n' "$label"; return; }
			printf '  %-26s error: %s\n' "$label" "$(head -1 "$tmp/q.err")"; return
		fi
		out+=($(( ($(date +%s%N) - s) / 1000000 )))
	done
	printf '  %-26s median %5s ms  max %5s ms\n' "$label" "$(printf '%s\n' "${out[@]}" | sort -n | sed -n 3p)" \
		"$(printf '%s\n' "${out[@]}" | sort -n | tail -1)"
}

for size in small big; do
	secs=$small; [ $size = big ] && secs=$big
	db=$tmp/$size.db case=$tmp/$size.case
	echo "== $size: ${secs}s of churn + execs"
	record "$secs" "$db"
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$nt" index "$db" --case "$case" > "$tmp/index"
	read -r secs_idx rss < "$tmp/time"
	"$nt" info "$db" --case "$case" > "$tmp/info"
	events=$(field segment_events < "$tmp/info")
	bytes=$(stat -c %s "$db")
	echo "  events $events; capture $bytes bytes ($(echo "$bytes $events" | awk '{ printf "%.1f", $1 / $2 }') per event, segments $(field bytes_per_event < "$tmp/info") per event); lost: $(grep -c '^lost\.' "$tmp/info" || true) kinds"
	echo "  index: $secs_idx s ($(echo "$events $secs_idx" | awk '{ printf "%.0f", $1 / $2 }') events/s), peak RSS $((rss / 1024)) MiB, case $(( $(stat -c %s "$case") / 1048576 )) MiB"
	# Arguments taken from the capture itself: a translated connection in the middle, its client, its server.
	read -r tsrc tport at_ns < <(sqlite3 -separator ' ' "$case" \
		"SELECT ts_addr, ts_port, start + 200000 FROM nat_mapping WHERE status & 48 != 0 AND proto = 6 ORDER BY start LIMIT 1 OFFSET (SELECT count(*) / 2 FROM nat_mapping WHERE status & 48 != 0 AND proto = 6)")
	start_ns=$(sqlite3 "$case" "SELECT value FROM meta WHERE key = 'start_boot_ns'")
	rel=$(echo "$at_ns $start_ns" | awk '{ printf "+%.6f", ($1 - $2) / 1e9 }')
	cpid=$(sqlite3 "$case" "SELECT owner_pid FROM connection WHERE owner_pid IS NOT NULL AND rport = 7100 LIMIT 1")
	mid=$(echo "$secs" | awk '{ printf "%d", $1 / 2 }')
	q "who --at --addr" who "$db" --case "$case" --at "$rel" --addr "$tsrc:$tport"
	q "nat --at --addr" nat "$db" --case "$case" --at "$rel" --addr "$tsrc:$tport"
	q "processes --pid" processes "$db" --case "$case" --pid "$cpid"
	q "connections --remote" connections "$db" --case "$case" --remote 10.201.2.2:7100 --from "+$mid" --to "+$mid.01"
	q "timeline (1 s window)" timeline "$db" --case "$case" --from "+$mid" --to "+$((mid + 1))"
done
