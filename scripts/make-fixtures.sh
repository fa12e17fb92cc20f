#!/usr/bin/env bash
# Records fixtures/*.db with the real recorder and writes, beside each, the
# answers the analyzer must give — taken from what the workload logged itself.
# Run as root after a schema change: scripts/make-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
swift build --product nettrail-record >/dev/null
rec=.build/debug/nettrail-record
scene=scripts/scene
out=fixtures
mkdir -p "$out"
$scene/rootfs.sh >/dev/null

# --- processes.db: a short-lived runc container, a host marker process, a small burst.
db=$out/processes.db
tag=fx
short=fx-short-container
$scene/runc-rm.sh "$short" >/dev/null 2>&1 || true
$rec --db "$db" --force --duration 4 >/dev/null 2>"$out/.rec.log" &
recpid=$!
sleep 1.5
marker_start=$(date +%s.%N)
/bin/echo fixture-marker >/dev/null & marker=$!
wait $marker
$scene/runc-run.sh "$short" -- /bin/sh -c '/bin/echo inside; /bin/sleep 0.05' >/dev/null 2>&1
burst=()
for i in $(seq 20); do /bin/true & burst+=($!); done
wait "${burst[@]}"
marker_end=$(date +%s.%N)
wait $recpid
jq -n --arg id "$short" --argjson marker "$marker" --argjson burst "$(printf '%s\n' "${burst[@]}" | jq -s .)" \
  --arg from "$marker_start" --arg to "$marker_end" '{
    container: {id: $id, runtime: "runc", execs: ["/bin/sh", "/bin/echo", "/bin/sleep"]},
    marker: {pid: $marker, exe: "/bin/echo", argv: ["/bin/echo", "fixture-marker"]},
    burst: {exe: "/bin/true", pids: $burst},
    window: {from: $from, to: $to}
  }' > "$out/processes.answers.json"
rm -f "$out/.rec.log"
ls -la "$out"
