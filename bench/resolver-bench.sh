#!/usr/bin/env bash
# Resolver probes: (1) exec-to-armed delay for libc files never seen before,
# (2) added cost per exec on an exec burst, as ratios within one run.
# Usage: sudo bench/resolver-bench.sh [EXECS] [ROUNDS]     (release build of nettrail-record first:
#   swift build --scratch-path .build-dns -c release --product nettrail-record)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; root="$here/.."
rec="${REC:-$root/.build-dns/release/nettrail-record}"
# The capture holds raw segments: its rows are read from the case `nettrail index` builds.
nt="$(dirname "$rec")/nettrail"
case_of() { "$nt" index "$1" --case "$1.case" --rebuild >/dev/null; }
n="${1:-4000}"; rounds="${2:-3}"
work="$(mktemp -d /tmp/nt-resolver-bench.XXXXXX)"; trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/burst" "$here/resolver-burst.c"
rootfs="$("$root/scripts/scene/resolver-rootfs.sh")"

record() { # DB ONLY-SOURCES... ; runs until stopped; sets pid
  local db="$1"; shift
  local args=(); for s in "$@"; do args+=(--only-source "$s"); done
  rm -f "$db.out" # else wait_ready can find the last run's "recording to" before this one truncates it
  "$rec" --db "$db" --force --no-conntrack "${args[@]}" >"$db.out" 2>&1 &
  pid=$!
}
wait_ready() { for _ in $(seq 100); do grep -q "recording to" "$1.out" 2>/dev/null && { sleep 0.5; return; }; sleep 0.1; done; }

echo "== exec burst: $n execs of /bin/true (dynamic, host libc probed), 2 forkers, $rounds rounds"
for r in $(seq "$rounds"); do
  base=$("$work/burst" "$n" 2)
  record "$work/p.db" process; wait_ready "$work/p.db"
  proc=$("$work/burst" "$n" 2); kill -INT "$pid"; wait "$pid" || true
  record "$work/r.db" process resolver; wait_ready "$work/r.db"
  res=$("$work/burst" "$n" 2); kill -INT "$pid"; wait "$pid" || true
  case_of "$work/r.db"
  execs=$(sqlite3 "$work/r.db.case" "select count(*) from process_exec where filename='/bin/true'")
  echo "round $r: unwatched $base/s, process-only $proc/s, process+resolver $res/s; resolver/process-only $(echo "scale=3; $res/$proc" | bc), resolver/unwatched $(echo "scale=3; $res/$base" | bc); execs recorded $execs"
done

echo "== exec-to-armed delay: 8 fresh copies of the container rootfs (libc never seen), getent in each"
record "$work/d.db" process resolver; wait_ready "$work/d.db"
for i in $(seq 8); do
  cp -a "$rootfs" "$work/fresh$i"
  chroot "$work/fresh$i" /usr/bin/getent passwd root >/dev/null
  sleep 0.3
  chroot "$work/fresh$i" /usr/bin/getent hosts ct-v4.nettrail.test >/dev/null
done
sleep 0.5; kill -INT "$pid"; wait "$pid" || true
case_of "$work/d.db"
sqlite3 "$work/d.db.case" "select 'armed: delay '||((ts-trigger_ts)/1000)||' us after '||(case when pid in (select pid from dns_probe where event='miss') then 'the mapping (process already gone at its exec)' else 'the exec' end)||'; '||detail from dns_probe where event='armed' and path not like '/usr/lib/%'"
sqlite3 "$work/d.db.case" "select event, count(*) from dns_probe group by event"
sqlite3 "$work/d.db.case" "select 'second getent in each fresh root attributed: '||count(*)||' / 8' from dns where name='ct-v4.nettrail.test' and rc=0"
