#!/bin/bash
# bench/index-floor.sh CASE [ROUNDS]
#
# What SQLite alone costs to write a case's reconstructed tables (issue 12's "≥ 1 M
# events/s" target): the rows of `connection` and `nat_mapping` of a case nettrail built
# are copied with INSERT ... SELECT into a fresh database (same DDL, the case's pragmas:
# journal off, synchronous off), then the same indexes are created on them. No decoding,
# no join, no binding: a build of that case cannot write these tables faster with these
# columns and indexes. Then the same for every other table of the case and its indexes
# (what the build copies from the capture and decodes from the other records).
# Prints, per round, wall and CPU (user + sys of the sqlite3 process) of each step and
# the events/s the case's event count (case_capture.records) allows at that floor.
set -euo pipefail
c=${1:?usage: index-floor.sh CASE [ROUNDS]}
rounds=${2:-3}
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
tmp=$(mktemp -d /tmp/ntif.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
events=$(sqlite3 "$c" "SELECT records FROM case_capture WHERE capture_id = 1")
joined="'connection', 'nat_mapping'"
q() { sqlite3 -batch -noheader "$c" "$1"; }
# An INSERT naming its columns: SQLite copies the rows value by value, as a build's inserts
# write them (INSERT ... SELECT * between tables of one layout copies the records' bytes
# whole, which no build could do).
copy() {
	local cols
	cols=$(q "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('$1')")
	echo "INSERT INTO main.\"$1\" ($cols) SELECT $cols FROM src.\"$1\";"
}

# The SQL of each step, from the case's own schema.
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	q "SELECT sql || ';' FROM sqlite_master WHERE type = 'table' AND name IN ($joined)"
	echo "ATTACH DATABASE 'file:$c?mode=ro' AS src; BEGIN;"
	for t in connection nat_mapping; do copy "$t"; done
	echo "COMMIT;"
} >"$tmp/joined-rows.sql"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	q "SELECT sql || ';' FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ($joined)"
} >"$tmp/joined-indexes.sql"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	q "SELECT sql || ';' FROM sqlite_master WHERE type = 'table' AND name NOT IN ($joined)
	   AND name NOT LIKE 'sqlite_%'"
	echo "ATTACH DATABASE 'file:$c?mode=ro' AS src; BEGIN;"
	for t in $(q "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ($joined)
	             AND name NOT LIKE 'sqlite_%'"); do copy "$t"; done
	echo "COMMIT;"
} >"$tmp/other-rows.sql"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	q "SELECT sql || ';' FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name NOT IN ($joined)"
} >"$tmp/other-indexes.sql"

rows() { q "SELECT (SELECT count(*) FROM connection) || ' connection rows, '
	|| (SELECT count(*) FROM nat_mapping) || ' nat_mapping rows, '
	|| (SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ($joined))
	|| ' indexes on them; '
	|| (SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name NOT IN ($joined))
	|| ' indexes on the other tables'"; }
echo "case $c: $events events; $(rows)"

# step FILE DB: runs FILE against DB, prints "wall cpu" in seconds.
step() {
	/usr/bin/time -f "%e %U %S" -o "$tmp/t" sqlite3 -batch "$2" <"$1" >/dev/null
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$tmp/t"
}
rate() { awk -v e="$events" -v s="$1" 'BEGIN { printf "%.0f", e / s }'; }
printf '%-6s %-22s %-22s %-22s %-22s %-12s %s\n' round "conn+nat rows" "conn+nat indexes" "other rows" \
	"other indexes" "floor CPU" "events/s at floor (conn+nat only / all)"
for r in $(seq "$rounds"); do
	db=$tmp/floor.db
	rm -f "$db"
	read -r w1 c1 < <(step "$tmp/joined-rows.sql" "$db")
	read -r w2 c2 < <(step "$tmp/joined-indexes.sql" "$db")
	read -r w3 c3 < <(step "$tmp/other-rows.sql" "$db")
	read -r w4 c4 < <(step "$tmp/other-indexes.sql" "$db")
	joined_cpu=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.2f", a + b }')
	all_cpu=$(awk -v a="$c1" -v b="$c2" -v c="$c3" -v d="$c4" 'BEGIN { printf "%.2f", a + b + c + d }')
	printf '%-6s %-22s %-22s %-22s %-22s %-12s %s / %s\n' "$r" "${w1} s wall ${c1} s CPU" "${w2} s wall ${c2} s CPU" \
		"${w3} s wall ${c3} s CPU" "${w4} s wall ${c4} s CPU" "$joined_cpu / $all_cpu s" \
		"$(rate "$joined_cpu")" "$(rate "$all_cpu")"
done
