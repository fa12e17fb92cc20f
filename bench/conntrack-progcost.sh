#!/bin/bash
# bench/conntrack-progcost.sh [CONNECTIONS]
# The netfilter program's own cost per packet: kernel BPF run-time statistics
# (kernel.bpf_stats_enabled, on only while this runs) of nt_ct_hook through the
# MASQUERADE scene, with nettrail-record conntrack-only attached: first a churn of
# short connections (every run a new, re-opened or ending entry now and then), then
# one established TCP stream for 3 s (the fast path alone).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rec=${NETTRAIL_RECORD:-$repo/.build-ct/release/nettrail-record}
n=${1:-20000}
p=ntcp
scene=$repo/scripts/scene/nat-scene.sh
churn=$repo/scripts/scene/nat-churn.py
tmp=$(mktemp -d /tmp/ntcp.XXXXXX)
pids=()
old=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	sysctl -qw kernel.bpf_stats_enabled="$old"
	# SIGINT stops the recorder cleanly; background jobs of a script ignore it, so TERM for the rest.
	for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$scene" down $p
	rm -rf "$tmp"
}
trap cleanup EXIT
"$scene" up $p
ip netns exec $p-srv python3 "$churn" server 0.0.0.0 7000 /dev/null >/dev/null &
pids+=($!)
"$rec" --db "$tmp/c.db" --force --netns /run/netns/$p-rtr --only-source conntrack >/dev/null 2>"$tmp/err" &
pids+=($!)
rid=$!
until grep -q "recording to" "$tmp/err"; do sleep 0.1; done
sysctl -qw kernel.bpf_stats_enabled=1
ip netns exec $p-cli python3 "$churn" client 10.201.1.2 10.201.2.2 7000 "$n" "$tmp/c1" 200
# report LABEL UNITS [BASE_RUNS BASE_NS]: runs and ns of this recorder's copy, minus a baseline.
counters() { bpftool prog show name nt_ct_hook -j | python3 -c '
import glob, json, sys
progs = json.load(sys.stdin)
progs = progs if isinstance(progs, list) else [progs]
# Another recorder (a test running beside this) may have its own copy: ours is the one
# our recorder holds a link to (prog_id in its fds'"'"' fdinfo).
ids = set()
for f in glob.glob("/proc/%s/fdinfo/*" % sys.argv[1]):
    try:
        ids.update(int(l.split()[1]) for l in open(f) if l.startswith("prog_id:"))
    except OSError:
        pass
p = [p for p in progs if p["id"] in ids][0]
print(p.get("run_cnt", 0), p.get("run_time_ns", 0))
' "$rid"; }
report() {
	read -r runs ns < <(counters)
	awk -v l="$1" -v u="$2" -v r="$runs" -v t="$ns" -v br="${3:-0}" -v bt="${4:-0}" 'BEGIN {
		printf "%s: %d runs, %.0f ns per run, %.1f runs per %s\n", l, r - br, (t - bt) / (r - br), (r - br) / u, "unit" }'
}
report "churn of $n connections (unit = connection)" "$n"
read -r base_runs base_ns < <(counters)
sysctl -qw kernel.bpf_stats_enabled=0
ip netns exec $p-srv python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7009)); s.listen()
c, _ = s.accept()
while c.recv(1 << 20): pass' &
pids+=($!)
sleep 0.5
sysctl -qw kernel.bpf_stats_enabled=1
ip netns exec $p-cli python3 -c '
import socket, time
s = socket.create_connection(("10.201.2.2", 7009)); b = b"x" * (1 << 16); end = time.time() + 3
while time.time() < end: s.sendall(b)
s.close()'
report "one established TCP stream for 3 s (unit = stream)" 1 "$base_runs" "$base_ns"
