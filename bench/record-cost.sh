#!/bin/bash
# bench/record-cost.sh [ROUNDS]
#
# What the recorder's user-space side costs the host, on the raw-segment capture,
# in one run, interleaved rounds, every rate a ratio against a baseline of the same round:
#   1. churn: short TCP connections through the MASQUERADE scene (bench/churn-lib.sh,
#      prefix ntrc), 4 C clients (bench/churn.c) against 2 epoll servers, both cores
#      saturated. Legs: nothing watching; `conntrack -E -e NEW` in the router's namespace
#      (writing to a file); nettrail-record with every default source (--netns on the router).
#      Per watcher: user and system CPU during the load and from start to exit, max RSS
#      (VmHWM); for the recorder also user CPU per connection, losses, and the capture's
#      bytes per event (`nettrail info`).
#   2. exec burst: EXECS /bin/true from 2 forkers (bench/churn.c burst), unwatched and under
#      nettrail-record (every default source, its own namespace only): time ratio, recorder
#      CPU, bytes per event.
# Every leg starts with the router's conntrack table flushed.
# Prints each round, then medians [min-max].
# NETTRAIL_BIN: directory with nettrail-record and nettrail (default: a release build of
# this tree, built here). NETTRAIL_BIN_BASE: another build's directory (e.g. the main branch),
# measured as extra legs "base" (churn) and "bburst" (exec burst) in the same rounds. CONNS: connections per client (default 25000). EXECS (default 5000).
# KEEP=1 keeps the captures and logs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
conns=${CONNS:-25000}
execs=${EXECS:-5000}
export DEBIAN_FRONTEND=noninteractive
need=()
command -v conntrack >/dev/null || need+=(conntrack)
[ -x /usr/bin/time ] || need+=(time)
((${#need[@]} == 0)) || apt-get install -y "${need[@]}" >/dev/null
if [ -z "${NETTRAIL_BIN:-}" ]; then
	(cd "$repo" && swift build -c release --static-swift-stdlib --product nettrail-record >/dev/null && swift build -c release --static-swift-stdlib --product nettrail >/dev/null)
	NETTRAIL_BIN=$repo/.build/release
fi
rec=$NETTRAIL_BIN/nettrail-record
nt=$NETTRAIL_BIN/nettrail
base=${NETTRAIL_BIN_BASE:+$NETTRAIL_BIN_BASE/nettrail-record}
recs=(rec); [ -n "$base" ] && recs+=(base)

p=ntrc
n=1 # churn-lib's Python workload is not used here
watcher= wrapper=
bench_cleanup() {
	[ -n "$watcher" ] && kill -INT "$watcher" 2>/dev/null || true
	[ -n "$wrapper" ] && wait "$wrapper" 2>/dev/null || true
}
source "$repo/bench/churn-lib.sh"
# `nettrail info` indexes the capture: keep its case with the run's files.
export NETTRAIL_CASE_DIR=$tmp/cases
gcc -O2 -o "$tmp/churn" "$repo/bench/churn.c"
# The clients close first: their TIME_WAIT ports must be reusable across legs.
ip netns exec "$p-cli" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
for port in 7100 7101; do
	ip netns exec "$p-srv" "$tmp/churn" server $port >"$tmp/srv$port.out" &
	pids+=($!)
done
sleep 0.5
hz=$(getconf CLK_TCK)

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
burst() { # seconds for EXECS /bin/true; "[ran:N]" appended when not all ran
	local t0 t1 r ran
	t0=$(date +%s.%N)
	read -r r ran _ < <("$tmp/churn" burst "$execs" 2)
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }'
	[ "$ran" = "$execs" ] || echo "[ran:$ran]"
}
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; } # user system, in clock ticks
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; } # KiB

# start_watch LEG: runs the watcher under /usr/bin/time (user, system, max RSS from start to
# exit) and sets $watcher (its pid) and $wrapper (time's pid); nothing for "none".
start_watch() {
	watcher= wrapper=
	local l=$1
	# Every leg starts from an empty NAT table: the legs before it leave their TIME_WAIT entries,
	# which would slow the next leg's lookups and fill the recorder's startup dump.
	ip netns exec "$p-rtr" conntrack -F 2>/dev/null || true
	case $l in
	none) return ;;
	conntrack) /usr/bin/time -f '%U %S %M' -o "$tmp/time.$l" ip netns exec "$p-rtr" conntrack -E -e NEW >"$tmp/ct.out" 2>"$tmp/ct.err" & ;;
	rec | base)
		local bin=$rec; [ "$l" = base ] && bin=$base
		/usr/bin/time -f '%U %S %M' -o "$tmp/time.$l" "$bin" --db "$tmp/$l.db" --force --netns "/run/netns/$p-rtr" >"$tmp/rec.out" 2>"$tmp/rec.err" & ;;
	burst | bburst)
		local bin=$rec; [ "$l" = bburst ] && bin=$base
		/usr/bin/time -f '%U %S %M' -o "$tmp/time.$l" "$bin" --db "$tmp/$l.db" --force >"$tmp/rec.out" 2>"$tmp/rec.err" & ;;
	esac
	wrapper=$!
	until watcher=$(pgrep -P "$wrapper" | head -1) && [ -n "$watcher" ]; do sleep 0.02; done
	if [ "$l" = conntrack ]; then
		sleep 0.5
	else
		until grep -q "recording to" "$tmp/rec.err" 2>/dev/null; do
			kill -0 "$watcher" 2>/dev/null || { cat "$tmp/rec.err" >&2; exit 1; }
			sleep 0.1
		done
		sleep 0.5
	fi
}
# stop_watch: SIGINT, wait; keeps the last VmHWM seen in $peak (KiB)
stop_watch() {
	peak=$(hwm "$watcher")
	# The BPF maps' mappings in that RSS: each ring's data pages are mapped twice (and all present).
	maps=$(awk '/^[0-9a-f]+-/ { m = ($6 == "anon_inode:bpf-map") } /^Rss:/ && m { s += $2 } END { printf "%.1f", s / 1024 }' "/proc/$watcher/smaps")
	kill -INT "$watcher"
	while kill -0 "$watcher" 2>/dev/null; do
		local h; h=$(hwm "$watcher"); [ -n "$h" ] && peak=$h
		sleep 0.05
	done
	wait "$wrapper" || true
	watcher= wrapper=
}
info() { "$nt" info "$1" 2>/dev/null; }
field() { # KEY from `nettrail info` output in $1 (first number after "KEY")
	echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k || $i == k ":") { gsub(/[^0-9.]/, "", $(i + 1)); print $(i + 1); exit } }'
}
ratio() { echo "$1 $2" | awk '{ printf "%.3f", $1 / $2 }'; }

# One watched leg: LEG WORKLOAD UNITS; prints a result line and appends to R[...]
declare -A R
watched() {
	local l=$1 w=$2 units=$3 v u0 s0 u1 s1
	start_watch "$l"
	read -r u0 s0 < <(ticks "$watcher")
	v=$($w)
	read -r u1 s1 < <(ticks "$watcher")
	# The recorder seals and commits what the load left within about a second.
	[ "$l" = conntrack ] || sleep 1.5
	stop_watch
	local tu ts tm
	read -r tu ts tm <"$tmp/time.$l"
	local lu ls; lu=$(echo "$u1 $u0 $hz" | awk '{ printf "%.2f", ($1 - $2) / $3 }'); ls=$(echo "$s1 $s0 $hz" | awk '{ printf "%.2f", ($1 - $2) / $3 }')
	R[$l.load_user]+="$lu " R[$l.load_sys]+="$ls " R[$l.total_user]+="$tu " R[$l.total_sys]+="$ts "
	R[$l.rss]+="$(echo "$peak" | awk '{ printf "%.1f", $1 / 1024 }') "
	R[$l.rssmaps]+="$maps "
	line="$l: $v; cpu load user $lu sys $ls, start-to-exit user $tu sys $ts; VmHWM $(echo "$peak" | awk '{ printf "%.1f", $1 / 1024 }') MiB ($maps MiB of it BPF map mappings)"
	if [ "$l" != conntrack ]; then
		local inf ev sb bpe fb lost
		inf=$(info "$tmp/$l.db")
		[ "$r" = 1 ] && echo "$inf" >"$tmp/info.$l"
		ev=$(field "$inf" segment_events) sb=$(field "$inf" segment_bytes) bpe=$(field "$inf" bytes_per_event)
		fb=$(stat -c %s "$tmp/$l.db")
		lost=$(echo "$inf" | awk '/^lost/ { printf "%s%s %s", sep, $1, $2; sep = ", " }')
		R[$l.bpe]+="$bpe " R[$l.fbpe]+="$(ratio "$fb" "$ev") "
		R[$l.upc]+="$(echo "$tu $units" | awk '{ printf "%.2f", $1 * 1e6 / $2 }') "
		R[$l.uplc]+="$(echo "$lu $units" | awk '{ printf "%.2f", $1 * 1e6 / $2 }') "
		line+="; user us/unit (start-to-exit) $(echo "$tu $units" | awk '{ printf "%.2f", $1 * 1e6 / $2 }'), (load) $(echo "$lu $units" | awk '{ printf "%.2f", $1 * 1e6 / $2 }')"
		line+="; $ev events, $sb segment bytes = $bpe B/event, file $fb B = $(ratio "$fb" "$ev") B/event; ${lost:-no loss line}"
		[ -n "${KEEP:-}" ] || rm -f "$tmp/$l.db"*
	fi
	echo "$v" >"$tmp/v"
}

stat_() { # median [min-max] of the words in $1
	echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s [%s-%s]", m, v[1], v[NR] }'
}

echo "recorder: $rec; $((4 * conns)) connections per churn leg, $execs execs per burst; $rounds rounds"
for r in $(seq "$rounds"); do
	echo "== round $r"
	ip netns exec "$p-rtr" conntrack -F 2>/dev/null || true
	v0=$(churn)
	echo "none: $v0 conn/s"
	R[none.rate]+="$v0 "
	for l in conntrack "${recs[@]}"; do
		watched "$l" churn $((4 * conns))
		v=$(cat "$tmp/v")
		R[$l.rate]+="$(ratio "$v" "$v0") "
		echo "$line" | sed "s/^$l: $v;/$l: $v conn\/s ($(ratio "$v" "$v0")x);/"
	done
	b0=$(burst)
	echo "burst none: $b0 s"
	bursts=(burst); [ -n "$base" ] && bursts+=(bburst)
	for l in "${bursts[@]}"; do
		watched "$l" burst "$execs"
		b=$(cat "$tmp/v")
		R[$l.time]+="$(ratio "${b%%[*}" "${b0%%[*}") "
		echo "$line" | sed "s/^$l: $b;/$l: $b s ($(ratio "${b%%[*}" "${b0%%[*}")x time);/"
	done
done

echo
echo "== medians over $rounds rounds [min-max]"
echo "churn, unwatched conn/s: $(stat_ "${R[none.rate]}")"
for l in conntrack "${recs[@]}"; do
	echo "churn, $l: rate vs unwatched $(stat_ "${R[$l.rate]}")"
	echo "  cpu during load: user $(stat_ "${R[$l.load_user]}") sys $(stat_ "${R[$l.load_sys]}")"
	echo "  cpu start-to-exit: user $(stat_ "${R[$l.total_user]}") sys $(stat_ "${R[$l.total_sys]}")"
	echo "  VmHWM MiB: $(stat_ "${R[$l.rss]}"), BPF map mappings in it: $(stat_ "${R[$l.rssmaps]}")"
done
for l in "${recs[@]}"; do
	for span in load total; do
		cpu_ratio=""
		for i in $(seq "$rounds"); do
			a=$(echo "${R[$l.${span}_user]}" | cut -d' ' -f"$i") b=$(echo "${R[$l.${span}_sys]}" | cut -d' ' -f"$i")
			c=$(echo "${R[conntrack.${span}_user]}" | cut -d' ' -f"$i") d=$(echo "${R[conntrack.${span}_sys]}" | cut -d' ' -f"$i")
			cpu_ratio+="$(echo "$a $b $c $d" | awk '{ printf "%.2f", ($1 + $2) / ($3 + $4) }') "
		done
		echo "churn, $l cpu (user+sys, $span) vs conntrack -E: $(stat_ "$cpu_ratio")"
	done
	echo "churn, $l user us per connection: start-to-exit $(stat_ "${R[$l.upc]}"), during load $(stat_ "${R[$l.uplc]}")"
	echo "churn, $l bytes per event: stored $(stat_ "${R[$l.bpe]}"), file $(stat_ "${R[$l.fbpe]}")"
done
for l in "${bursts[@]}"; do
	echo "burst, $l time vs unwatched: $(stat_ "${R[$l.time]}")"
	echo "burst, $l cpu start-to-exit: user $(stat_ "${R[$l.total_user]}") sys $(stat_ "${R[$l.total_sys]}"); user us per exec $(stat_ "${R[$l.upc]}")"
	echo "burst, $l bytes per event: stored $(stat_ "${R[$l.bpe]}"), file $(stat_ "${R[$l.fbpe]}"); VmHWM MiB $(stat_ "${R[$l.rss]}")"
done
echo
echo "== nettrail info, round 1"
for l in rec burst; do echo "-- $l"; cat "$tmp/info.$l"; done
