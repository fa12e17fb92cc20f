#!/bin/bash
# bench/kernel-cost.sh [ROUNDS]
#
# What the recorder's kernel side costs the host, in one run, interleaved rounds,
# every figure a ratio against a baseline measured in the same round:
#   1. churn: short TCP connections through the MASQUERADE scene (bench/churn-lib.sh,
#      prefix ntkc), 4 C clients (bench/churn.c) against 2 epoll servers; connections/s
#      with nothing watching, with `conntrack -E -e NEW` in the router's namespace, and with
#      nettrail-record (every default source, --netns on the router); BPF run time of the
#      recorder's programs per connection (kernel.bpf_stats_enabled, on only while measured).
#   2. exec burst: EXECS /bin/true from 2 forkers (bench/churn.c burst): nothing watching,
#      execsnoop (libbpf-tools), nettrail-record with every source, --only-source process,
#      and process + resolver; execs captured; BPF time per exec; host CPU per exec (the
#      burst tree's user + system time plus the watcher's during it), which moves far less
#      than the rate when something else shares the CPU.
#   3. getppid loop (CALLS calls, bench/churn.c getppid): ns per call unwatched and while
#      nettrail-record runs.
# Prints the median ratio and its spread (min-max) over the rounds.
# NETTRAIL_RECORD: the recorder (default: a release build of this tree, built here).
# NETTRAIL_RECORD_BASE: another build (e.g. the main branch), measured as extra legs
# "base" in the same rounds.
# CONNS (per client, default 8000), EXECS (default 5000), CALLS (default 5000000);
# ONLY: a subset of "churn exec getppid" (default all three).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
conns=${CONNS:-8000}
execs=${EXECS:-5000}
calls=${CALLS:-5000000}
only=" ${ONLY:-churn exec getppid} "
export DEBIAN_FRONTEND=noninteractive
need=()
command -v execsnoop >/dev/null || need+=(libbpf-tools)
command -v conntrack >/dev/null || need+=(conntrack)
command -v bpftool >/dev/null || need+=(bpftool)
command -v sqlite3 >/dev/null || need+=(sqlite3)
((${#need[@]} == 0)) || apt-get install -y "${need[@]}" >/dev/null
if [ -z "${NETTRAIL_RECORD:-}" ]; then
	(cd "$repo" && swift build -c release --static-swift-stdlib --product nettrail-record >/dev/null)
	NETTRAIL_RECORD=$repo/.build/release/nettrail-record
fi
rec=$NETTRAIL_RECORD
analyzer=${NETTRAIL:-$(dirname "$rec")/nettrail}
if [ ! -x "$analyzer" ]; then
	(cd "$repo" && swift build -c release --static-swift-stdlib --product nettrail >/dev/null)
	analyzer=$repo/.build/release/nettrail
fi
base=${NETTRAIL_RECORD_BASE:-}

p=ntkc
n=1 # churn-lib's Python workload is not used here
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
watcher=
bench_cleanup() {
	[ -n "$watcher" ] && kill -INT "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
source "$repo/bench/churn-lib.sh"
gcc -O2 -o "$tmp/churn" "$repo/bench/churn.c"
# The clients close first: their TIME_WAIT ports must be reusable across legs.
ip netns exec "$p-cli" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
for port in 7100 7101; do
	ip netns exec "$p-srv" "$tmp/churn" server $port >"$tmp/srv$port.out" &
	pids+=($!)
done
sleep 0.5

churn() { # prints connections/s of 4 clients
	local t0 t1 c=()
	t0=$(date +%s.%N)
	for i in 0 1 2 3; do
		ip netns exec "$p-cli" "$tmp/churn" client 10.201.1.2 10.201.2.2 $((7100 + i % 2)) "$conns" >"$tmp/cli$i" &
		c+=($!)
	done
	wait "${c[@]}"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk -v n=$((4 * conns)) '{ printf "%.0f", n / ($2 - $1) }'
}
burst() { # execs/s; how many ran when not all did
	local r ran
	read -r r ran cpu < <("$tmp/churn" burst "$execs" 2)
	echo "$cpu" >"$tmp/burstcpu"
	[ "$ran" = "$execs" ] && echo "$r" || echo "$r[ran:$ran]"
}
getppid() { "$tmp/churn" getppid "$calls"; }

# Per BPF program id: name, run_cnt, run_time_ns (every loaded nt_* program).
progstats() {
	bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("nt_"):
        print(p["id"], p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'
}
# Deltas between two progstats files: per program name, runs and ns; $3 = units (connections/execs).
progdelta() {
	python3 - "$1" "$2" "$3" "$4" <<'EOF'
import sys
def load(f):
    d = {}
    for line in open(f):
        i, name, c, t = line.split()
        d[i] = (name, int(c), int(t))
    return d
a, b, units, what = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
per = {}
for i, (name, c, t) in b.items():
    c0, t0 = a.get(i, (name, 0, 0))[1:]
    if c - c0 > 0:
        r = per.setdefault(name, [0, 0])
        r[0] += c - c0
        r[1] += t - t0
tot = sum(t for _, t in per.values())
if what == "total":
    print("%.0f" % (tot / units))
else:
    for name, (c, t) in sorted(per.items(), key=lambda x: -x[1][1]):
        print("  %-22s %10d runs %6.2f per unit %6.0f ns/run %7.0f ns per unit" % (name, c, c / units, t / c, t / units))
    print("  %-22s %10s %17s %14s %7.0f ns per unit" % ("total", "", "", "", tot / units))
EOF
}

start_watch() { # LEG: starts the watcher for LEG and sets $watcher (empty for none)
	watcher=
	case $1 in
	none) ;;
	conntrack) ip netns exec "$p-rtr" conntrack -E -e NEW >/dev/null 2>&1 & watcher=$!; sleep 0.5 ;;
	execsnoop) execsnoop >/dev/null 2>&1 & watcher=$!; sleep 1.5 ;;
	rec | base | process | procres)
		local bin=$rec args=(--netns "/run/netns/$p-rtr")
		[ "$1" = base ] && bin=$base
		[ "$1" = process ] && args=(--only-source process)
		[ "$1" = procres ] && args=(--only-source process --only-source resolver)
		# Removed first: the shell opens rec.err in the child, after this goes on, and an old
		# "recording to" would start the workload before this recorder is attached.
		rm -f "$tmp/rec.err"
		"$bin" --db "$tmp/$1.db" --force "${args[@]}" >"$tmp/rec.out" 2>"$tmp/rec.err" &
		watcher=$!
		until grep -q "recording to" "$tmp/rec.err" 2>/dev/null; do
			kill -0 $watcher 2>/dev/null || { cat "$tmp/rec.err" >&2; exit 1; }
			sleep 0.1
		done
		sleep 0.5 ;;
	esac
}
stop_watch() {
	if [ -n "$watcher" ]; then kill -INT "$watcher"; wait "$watcher" 2>/dev/null || true; fi
	watcher=
}

wcpu() { # the watcher's CPU time so far (user + system, us); 0 for none
	[ -n "$watcher" ] || { echo 0; return; }
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1e6 / hz }' "/proc/$watcher/stat" 2>/dev/null || echo 0
}

# One leg: LEG WORKLOAD UNITS; prints the workload's figure; keeps BPF deltas in $tmp/delta.LEG.WORKLOAD
leg() {
	local l=$1 w=$2 units=$3 v
	start_watch "$l"
	sysctl -qw kernel.bpf_stats_enabled=1
	progstats >"$tmp/ps0"
	local c0; c0=$(wcpu)
	v=$($w)
	echo "$(wcpu) $c0" | awk '{ print $1 - $2 }' >"$tmp/wcpu"
	progstats >"$tmp/ps1"
	sysctl -qw kernel.bpf_stats_enabled=0
	progdelta "$tmp/ps0" "$tmp/ps1" "$units" detail >"$tmp/delta.$l.$w"
	progdelta "$tmp/ps0" "$tmp/ps1" "$units" total >"$tmp/total.$l.$w"
	stop_watch
	if [ "$w" = burst ] && [ -f "$tmp/$l.db" ] && [ "$l" != none ]; then
		# The capture holds raw segments: count in its case (indexed here, outside the timed legs).
		"$analyzer" index "$tmp/$l.db" --case "$tmp/$l.case" >/dev/null
		sqlite3 "$tmp/$l.case" "select count(*) || coalesce((select ', lost ' || group_concat(kind || ' ' || count) from loss), '') from process_exec where filename = '/bin/true'" >"$tmp/captured.$l"
		rm -f "$tmp/$l.db"* "$tmp/$l.case"*
	fi
	echo "$v"
}

recs=(rec); [ -n "$base" ] && recs+=(base)
declare -A R
for r in $(seq "$rounds"); do
	echo "== round $r"
	if [[ $only == *" churn "* ]]; then
	v0=$(leg none churn $((4 * conns)))
	line="churn conn/s: none $v0"
	for l in conntrack "${recs[@]}"; do
		v=$(leg "$l" churn $((4 * conns)))
		R[churn.$l]+="$(echo "$v $v0" | awk '{ printf "%.3f", $1 / $2 }') "
		[ "$l" = conntrack ] || R[bpfconn.$l]+="$(cat "$tmp/total.$l.churn") "
		line+=", $l $v"
	done
	echo "$line"
	fi

	if [[ $only == *" exec "* ]]; then
	v0=$(leg none burst "$execs")
	cpu0=$(cat "$tmp/burstcpu")
	line="exec burst execs/s: none $v0 (${cpu0} us CPU/exec)"
	for l in execsnoop "${recs[@]}" process procres; do
		v=$(leg "$l" burst "$execs")
		# a rate: the time ratio is the inverse
		R[exec.$l]+="$(echo "${v%%[*} ${v0%%[*}" | awk '{ printf "%.3f", $2 / $1 }') "
		# CPU per exec, the burst's own and the watcher's during it, against the unwatched burst's
		R[execcpu.$l]+="$(echo "$(cat "$tmp/burstcpu") $(cat "$tmp/wcpu") $execs $cpu0" | awk '{ printf "%.3f", ($1 + $2 / $3) / $4 }') "
		[ "$l" = execsnoop ] || R[bpfexec.$l]+="$(cat "$tmp/total.$l.burst") "
		line+=", $l $v"
		[ -f "$tmp/captured.$l" ] && line+=" ($(cat "$tmp/captured.$l")/$execs)"
	done
	echo "$line"
	fi

	if [[ $only == *" getppid "* ]]; then
	v0=$(leg none getppid "$calls")
	line="getppid ns/call: none $v0"
	for l in "${recs[@]}"; do
		v=$(leg "$l" getppid "$calls")
		R[getppid.$l]+="$(echo "$v $v0" | awk '{ printf "%.3f", $1 / $2 }') "
		R[bpfppid.$l]+="$(cat "$tmp/total.$l.getppid") "
		line+=", $l $v"
	done
	echo "$line"
	fi
done

stat() { # median [min-max] of the words in $1
	[ -n "$1" ] || { echo "-"; return; }
	echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s [%s-%s]", m, v[1], v[NR] }'
}
echo
echo "== medians over $rounds rounds [spread]"
echo "churn rate vs unwatched (higher is better):"
for l in conntrack "${recs[@]}"; do echo "  $l: $(stat "${R[churn.$l]:-}")"; done
for l in "${recs[@]}"; do echo "  $l BPF ns per connection: $(stat "${R[bpfconn.$l]:-}")"; done
echo "exec burst time vs unwatched (lower is better):"
for l in execsnoop "${recs[@]}" process procres; do echo "  $l: $(stat "${R[exec.$l]:-}")"; done
echo "host CPU per exec (the burst's and the watcher's) vs unwatched (lower is better):"
for l in execsnoop "${recs[@]}" process procres; do echo "  $l: $(stat "${R[execcpu.$l]:-}")"; done
for l in "${recs[@]}" process procres; do echo "  $l BPF ns per exec: $(stat "${R[bpfexec.$l]:-}")"; done
echo "getppid time per call vs unwatched (lower is better):"
for l in "${recs[@]}"; do echo "  $l: $(stat "${R[getppid.$l]:-}")"; done
for l in "${recs[@]}"; do echo "  $l BPF ns per getppid call: $(stat "${R[bpfppid.$l]:-}")"; done
echo
for l in "${recs[@]}"; do
	[ -f "$tmp/delta.$l.churn" ] && { echo "== $l, last round, BPF programs per connection (churn)"; cat "$tmp/delta.$l.churn"; }
	[ -f "$tmp/delta.$l.burst" ] && { echo "== $l, last round, BPF programs per exec (burst)"; cat "$tmp/delta.$l.burst"; }
done
