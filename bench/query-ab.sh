#!/bin/bash
# bench/query-ab.sh ROUNDS BASE_NETTRAIL NEW_NETTRAIL -- QUERY ARGS...
#
# One query, two analyzer builds, interleaved (base, new, base, new, ...) so that a noisy
# machine slows both alike: each run's wall and CPU time (perf stat's elapsed and task-clock), then
# the median and minimum of each, and new/base of the medians. The query's arguments follow
# "--" as given to nettrail (capture, --case, window...); both builds must answer from the
# same case, so build it first (`nettrail index CAPTURE --case C`). Outputs are compared too:
# a difference is printed and the exit status is 1. When the builds' case versions differ,
# give each its own case instead: BASE_CASE=... NEW_CASE=... (appended as --case).
# Run it under the shared lock: flock /tmp/nettrail-scene.lock bench/query-ab.sh ...
set -euo pipefail
rounds=${1:?usage: query-ab.sh ROUNDS BASE NEW -- QUERY ARGS...}
base=${2:?usage}
new=${3:?usage}
[ "${4:-}" = "--" ] || { echo "usage: query-ab.sh ROUNDS BASE NEW -- QUERY ARGS..." >&2; exit 2; }
shift 4
command -v perf >/dev/null || apt-get install -y linux-perf >/dev/null
tmp=$(mktemp -d /tmp/ntab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for _ in $(seq "$rounds"); do
	for b in base new; do
		bin=$base; case_args=(${BASE_CASE:+--case "$BASE_CASE"})
		[ $b = new ] && { bin=$new; case_args=(${NEW_CASE:+--case "$NEW_CASE"}); }
		perf stat -e task-clock -o "$tmp/stat" "$bin" "$@" "${case_args[@]}" >"$tmp/$b.out" 2>/dev/null || true
		awk '/task-clock/ { cpu = $1 } /seconds time elapsed/ { wall = $1 * 1000 }
			END { printf "%.1f %.1f\n", wall, cpu }' "$tmp/stat" >>"$tmp/$b"
	done
done
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for b in base new; do
	printf '%-4s wall median %s ms (min %s)  cpu median %s ms (min %s)  [%s]\n' $b \
		"$(cut -d' ' -f1 "$tmp/$b" | med)" "$(cut -d' ' -f1 "$tmp/$b" | sort -n | head -1)" \
		"$(cut -d' ' -f2 "$tmp/$b" | med)" "$(cut -d' ' -f2 "$tmp/$b" | sort -n | head -1)" "$(wc -l <"$tmp/new.out") lines"
done
awk -v b="$(cut -d' ' -f1 "$tmp/base" | med)" -v n="$(cut -d' ' -f1 "$tmp/new" | med)" \
	-v cb="$(cut -d' ' -f2 "$tmp/base" | med)" -v cn="$(cut -d' ' -f2 "$tmp/new" | med)" \
	'BEGIN { printf "new/base: wall %.2f, cpu %.2f\n", n / b, cn / cb }'
cmp -s "$tmp/base.out" "$tmp/new.out" || { echo "the answers differ:"; diff "$tmp/base.out" "$tmp/new.out" | head -5; exit 1; }
echo "answers identical"
