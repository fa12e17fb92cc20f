#!/bin/bash
# bench/index-scale.sh SMALL_CAPTURE BIG_CAPTURE [...]
#
# Indexing a case, and querying it, as a capture grows (issue 12). For each capture
# (made by bench/make-big-capture.sh, e.g. ~1 M and >= 10 M events): events, the time
# of `nettrail index --rebuild` into a case of its own (in a directory under /var/tmp,
# never beside the capture; removed at the end unless KEEP=1), events/s, peak RSS, the case's size on disk; then the median
# of 5 runs of who, nat, processes --pid, connections --remote and a 1-s timeline,
# each run with a 60 s timeout ("timeout" is printed rather than waiting longer).
# Query arguments come from the case itself: a translated TCP mapping in the middle of
# the capture (who/nat at its start + 0.2 ms, by its translated source; connections
# --remote by the same ip:port, which the server saw as its peer), the pid of an
# exec in the middle of the capture.
# NETTRAIL: the analyzer (default: this tree's release build).
# Run it under the shared lock: flock /tmp/nettrail-scene.lock bench/index-scale.sh ...
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(($# > 0)) || { echo "usage: index-scale.sh CAPTURE..." >&2; exit 2; }
nt=${NETTRAIL:-$repo/.build/release/nettrail}
[ -x "$nt" ] || (cd "$repo" && swift build -c release --static-swift-stdlib --product nettrail >/dev/null)
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
tmp=$(mktemp -d /tmp/ntis.XXXXXX)
cases=$(mktemp -d /var/tmp/ntis-cases.XXXXXX)
cleanup() {
	if [ -n "${KEEP:-}" ]; then echo "cases kept in $cases"; else rm -rf "$cases"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# q LABEL ARGS...: median of 5 runs in ms, or "timeout"/"error".
q() {
	local label=$1 s out=()
	shift
	for _ in 1 2 3 4 5; do
		s=$(date +%s%N)
		if timeout 60 "$nt" "$@" >/dev/null 2>"$tmp/q.err"; then
			out+=($((($(date +%s%N) - s) / 1000000)))
		else
			local rc=$?
			if [ $rc = 124 ]; then printf '  %-22s timeout (60 s)\n' "$label"; else
				printf '  %-22s error: %s\n' "$label" "$(head -1 "$tmp/q.err")"; fi
			return
		fi
	done
	printf '  %-22s %8s ms  (%s)\n' "$label" "$(printf '%s\n' "${out[@]}" | sort -n | sed -n 3p)" "${out[*]}"
}

for cap in "$@"; do
	c=$cases/$(basename "$cap").case
	echo "== $cap"
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$nt" index "$cap" --case "$c" --rebuild >"$tmp/index"
	read -r secs rss <"$tmp/time"
	events=$(sqlite3 "$c" "SELECT records FROM case_capture WHERE capture_id = 1")
	printf '  events %s; index %s s, %s events/s; peak RSS %s MiB; case %s MiB\n' "$events" "$secs" \
		"$(echo "$events $secs" | awk '{ printf "%.0f", $1 / $2 }')" $((rss / 1024)) $(($(stat -c %s "$c") / 1048576))
	start=$(sqlite3 "$c" "SELECT value FROM meta WHERE key = 'start_boot_ns'")
	read -r addr port at < <(sqlite3 -separator ' ' "$c" "
		SELECT ts_addr, ts_port, start + 200000 FROM nat_mapping WHERE status & 48 != 0 AND proto = 6
		ORDER BY start LIMIT 1 OFFSET (SELECT count(*) / 2 FROM nat_mapping WHERE status & 48 != 0 AND proto = 6)")
	rel=$(echo "$at $start" | awk '{ printf "+%.6f", ($1 - $2) / 1e9 }')
	pid=$(sqlite3 "$c" "SELECT pid FROM process_exec ORDER BY ts LIMIT 1 OFFSET (SELECT count(*) / 2 FROM process_exec)")
	echo "  who/nat --at $rel --addr $addr:$port; processes --pid $pid; connections --remote $addr:$port"
	q "who --at --addr" who "$cap" --case "$c" --at "$rel" --addr "$addr:$port"
	q "nat --at --addr" nat "$cap" --case "$c" --at "$rel" --addr "$addr:$port"
	q "processes --pid" processes "$cap" --case "$c" --pid "$pid"
	q "connections --remote" connections "$cap" --case "$c" --remote "$addr:$port"
	q "timeline +20..+21" timeline "$cap" --case "$c" --from +20 --to +21
done
