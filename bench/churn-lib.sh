# Sourced by the churn benchmarks (bench/conntrack-bench.sh, bench/sockets-bench.sh).
# Before sourcing, set: p (scene prefix), n (connections per client).
# Brings up the MASQUERADE scene with two nat-churn.py servers, and defines
# `cpu PID` (utime+stime seconds) and `workload` (two clients; prints connections/s).
# Scripts that need more teardown define `bench_cleanup` before sourcing.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scene=$repo/scripts/scene/nat-scene.sh
churn=$repo/scripts/scene/nat-churn.py
tmp=$(mktemp -d "/tmp/$p.XXXXXX")
pids=()
cleanup() {
	if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$scene" down "$p"
	if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
# A bench stopped by a signal (timeout) must not leave its servers behind: they hold the scene.
trap cleanup EXIT
trap "exit 130" INT TERM
"$scene" up "$p"
for port in 7000 7001; do
	ip netns exec "$p-srv" python3 "$churn" server 0.0.0.0 $port /dev/null >"$tmp/srv$port.out" &
	pids+=($!)
done
sleep 1
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

workload() {
	local t0 t1
	t0=$(date +%s.%N)
	ip netns exec "$p-cli" python3 "$churn" client 10.201.1.2 10.201.2.2 7000 "$n" "$tmp/c1" 200 30000 &
	local a=$!
	ip netns exec "$p-cli" python3 "$churn" client 10.201.1.2 10.201.2.2 7001 "$n" "$tmp/c2" 200 31000 &
	local b=$!
	wait $a $b
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk -v n="$n" '{ printf "%.0f", 2 * n / ($2 - $1) }'
}
