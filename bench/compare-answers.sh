#!/bin/bash
# bench/compare-answers.sh CAPTURE OLD_NETTRAIL NEW_NETTRAIL
#
# Two builds' answers on one capture, diffed: each build indexes the capture into a
# case of its own, then both answer the same queries (info, who, nat, connections by
# remote, owner and time window, processes by pid, name and window, timeline
# windows, dns), with arguments taken from the capture (a translated TCP mapping and an
# exec at a quarter, half and three quarters of it, the server endpoint). Prints each
# query and "same" or the diff; exits 1 if any answer differs. Lines that name the case
# file, and info's rows of tables that only one build's case has, are left out (say
# which in RESULTS.md when a layout changes).
set -euo pipefail
cap=${1:?usage: compare-answers.sh CAPTURE OLD_NETTRAIL NEW_NETTRAIL}
old=${2:?usage}
new=${3:?usage}
tmp=$(mktemp -d /tmp/ntca.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$old" index "$cap" --case "$tmp/old.case" >/dev/null
"$new" index "$cap" --case "$tmp/new.case" >/dev/null
c=$tmp/new.case
start=$(sqlite3 "$c" "SELECT value FROM meta WHERE key = 'start_boot_ns'")
rel() { echo "$1 $start" | awk '{ printf "+%.6f", ($1 - $2) / 1e9 }'; }
queries=("info --format csv" "dns" "connections --remote 10.201.2.2:7100 --from +5 --to +5.01"
	"connections --from +10 --to +10.02" "connections --to +0.5" "timeline --from +12 --to +12.05"
	"timeline --from +0 --to +0.3" "processes --from +3 --to +3.2")
for q in 4 2 1.33; do
	read -r addr port at oaddr oport < <(sqlite3 -separator ' ' "$c" "
		SELECT ts_addr, ts_port, start + 200000, os_addr, os_port FROM nat_mapping WHERE status & 48 != 0 AND proto = 6
		ORDER BY start LIMIT 1 OFFSET (SELECT CAST(count(*) / $q AS INTEGER) FROM nat_mapping WHERE status & 48 != 0 AND proto = 6)")
	pid=$(sqlite3 "$c" "SELECT pid FROM process_exec ORDER BY ts LIMIT 1 OFFSET (SELECT CAST(count(*) / $q AS INTEGER) FROM process_exec)")
	r=$(rel "$at")
	cpid=$(sqlite3 "$c" "SELECT owner_pid FROM connection WHERE owner_pid IS NOT NULL AND start >= $at ORDER BY start LIMIT 1")
	queries+=("who --at $r --addr $addr:$port" "nat --at $r --addr $addr:$port" "nat --at $r --addr $oaddr:$oport"
		"who --at $r --addr $oaddr:$oport" "connections --remote $addr:$port" "connections --remote $addr --from $r --to $r"
		"connections --pid $cpid --from $r --to +30" "processes --pid $pid" "processes --pid $pid --format json")
done
differ=0
for q in "${queries[@]}"; do
	# shellcheck disable=SC2086
	"$old" $q "$cap" --case "$tmp/old.case" >"$tmp/a" 2>&1 || true
	# shellcheck disable=SC2086
	"$new" $q "$cap" --case "$tmp/new.case" >"$tmp/b" 2>&1 || true
	for f in a b; do grep -v -E '(old|new)\.case|^rows\.connection_span' "$tmp/$f" >"$tmp/$f.f" || true; done
	if cmp -s "$tmp/a.f" "$tmp/b.f"; then
		printf 'same  %6s lines  %s\n' "$(wc -l <"$tmp/a.f")" "$q"
	else
		printf 'DIFF  %s\n' "$q"
		diff "$tmp/a.f" "$tmp/b.f" | head -20 || true
		differ=1
	fi
done
exit $differ
