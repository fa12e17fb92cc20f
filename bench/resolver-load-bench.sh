#!/usr/bin/env bash
# Resolver probes under load: exec-to-armed delay for libc files never seen
# before while the recorder is busy with other rows: short loopback TCP
# connections (2 clients, RST-closed so no TIME_WAIT) and a shell loop exec'ing
# /bin/true, all running across the whole measurement and ending by themselves.
# Usage: sudo bench/resolver-load-bench.sh [FRESH_ROOTS] [SECONDS_OF_LOAD_BEFORE]
#   REC=path/to/nettrail-record   (default .build-dns/release/nettrail-record, as resolver-bench.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; root="$here/.."
rec="${REC:-$root/.build-dns/release/nettrail-record}"
# The capture holds raw segments: its rows are read from the case `nettrail index` builds.
nt="$(dirname "$rec")/nettrail"
n="${1:-8}"; warm="${2:-2}"
work="$(mktemp -d /tmp/nt-resolver-load.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
rootfs="$("$root/scripts/scene/resolver-rootfs.sh")"
# Copied before recording: the copies are fresh files, never mapped.
for i in $(seq "$n"); do cp -a "$rootfs" "$work/fresh$i"; done
port=$((RANDOM % 10000 + 40000))
cat >"$work/churn.py" <<'PY'
import socket, struct, sys, time
role, port = sys.argv[1], int(sys.argv[2])
if role == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(4096)
    while True:
        c, _ = s.accept(); c.close()
else:
    n, end = 0, time.time() + float(sys.argv[3])
    while time.time() < end:
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try: c.connect(("127.0.0.1", port)); n += 1
        except OSError: pass
        c.close()
    print(n)
PY

"$rec" --db "$work/l.db" --force --no-conntrack --only-source process --only-source sockets --only-source resolver \
  >"$work/l.out" 2>&1 &
recpid=$!
for _ in $(seq 100); do grep -q "recording to" "$work/l.out" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
load=$((warm + n + 2))
python3 "$work/churn.py" server "$port" & pids+=($!)
sleep 0.2
python3 "$work/churn.py" client "$port" "$load" >"$work/c1" & c1=$!
python3 "$work/churn.py" client "$port" "$load" >"$work/c2" & c2=$!
bash -c 'end=$((SECONDS + $1)); while ((SECONDS < end)); do /bin/true; done' _ "$load" & execs=$!
sleep "$warm"
for i in $(seq "$n"); do
  chroot "$work/fresh$i" /usr/bin/getent passwd root >/dev/null
  sleep 0.3
  chroot "$work/fresh$i" /usr/bin/getent hosts ct-v4.nettrail.test >/dev/null
  sleep 0.5
done
wait "$c1" "$c2" "$execs"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 0.5
# The recorder's CPU seconds (all its threads), user + system, over the whole run.
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$recpid/stat")
kill -INT "$recpid"; wait "$recpid" || true
echo "== load: $(($(cat "$work/c1") + $(cat "$work/c2"))) loopback connections in ${load} s, plus a loop exec'ing /bin/true"
echo "recorder CPU: $cpu s"
tail -1 "$work/l.out"
"$nt" index "$work/l.db" --case "$work/l.case" --rebuild >/dev/null
sqlite3 "$work/l.case" "select 'execs recorded: '||count(*) from process_exec"
sqlite3 "$work/l.case" "select 'armed: delay '||((ts-trigger_ts)/1000)||' us after '||(case when pid in (select pid from dns_probe where event='miss') then 'the mapping' else 'the exec' end)||'; '||detail from dns_probe where event='armed' and detail like '%/fresh%'"
sqlite3 "$work/l.case" "select 'fresh-root exec-to-armed delay, ms: min '||round(min(d)/1e6,1)||', median '||round((select d from (select ts-trigger_ts d from dns_probe where event='armed' and detail like '%/fresh%' order by d) limit 1 offset (select count(*)/2 from dns_probe where event='armed' and detail like '%/fresh%'))/1e6,1)||', max '||round(max(d)/1e6,1) from (select ts-trigger_ts d from dns_probe where event='armed' and detail like '%/fresh%')"
# Of that delay, the part before arming began (ring reading + queueing): delay - symbols - attach.
sqlite3 "$work/l.case" "select 'fresh-root exec-to-arming-start, ms: '||group_concat(round(w/1e3,1), ' ') from (select (ts-trigger_ts)/1000 - cast(substr(detail, instr(detail,'symbols ')+8) as int) - cast(substr(detail, instr(detail,'attach ')+7) as int) w from dns_probe where event='armed' and detail like '%/fresh%' order by ts)"
sqlite3 "$work/l.case" "select event, count(*) from dns_probe group by event"
sqlite3 "$work/l.case" "select 'second getent in each fresh root attributed: '||count(*)||' / $n' from dns where name='ct-v4.nettrail.test' and rc=0"
sqlite3 "$work/l.case" "select 'loss: '||source||' '||kind||' '||sum(count) from loss group by source, kind"
