#!/bin/bash
# bench/case-digest.sh CASE
# One line per table of a case: name, row count, SHA-256 of every row in rowid order
# (sqlite3's quoted output, so a type change shows). Two cases built from one capture
# by different builds must print the same lines; case_capture (when and by what the
# case was built) is left out.
set -euo pipefail
c=${1:?usage: case-digest.sh CASE}
for t in $(sqlite3 "$c" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('case_capture') ORDER BY name"); do
	n=$(sqlite3 "$c" "SELECT count(*) FROM \"$t\"")
	h=$(sqlite3 -cmd ".mode quote" "$c" "SELECT * FROM \"$t\" ORDER BY rowid" | sha256sum | cut -c1-16)
	printf '%-28s %10s %s\n' "$t" "$n" "$h"
done
