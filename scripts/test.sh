#!/usr/bin/env bash
# The test suite: real BPF programs, real processes, namespaces, NAT and
# containers. Must run as root; a test that needs BPF fails if BPF cannot load.
#
# Usage: scripts/test.sh [XCTEST_FILTER]
# Each test class runs in its own process under a deadline (NT_TEST_CLASS_TIMEOUT
# seconds, default 900), so a hang is reported as that class failing and the rest
# still run. Output is line-buffered: a log shows which test is running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
swift build --build-tests
limit="${NT_TEST_CLASS_TIMEOUT:-900}"
log=$(mktemp)
# The analyzer builds a case per capture it opens; the tests' cases go with the run.
export NETTRAIL_CASE_DIR=$(mktemp -d)
# The container tests start a dockerd when none runs; stop it again afterwards.
# (Zombies do not count: a dockerd killed earlier may linger as one.)
live_dockerd() { { ps -C dockerd -o pid=,stat= || true; } | awk '$2 !~ /Z/ { print $1 }'; }
had_dockerd=$(live_dockerd)
cleanup() {
  rm -f "$log"
  rm -rf "$NETTRAIL_CASE_DIR"
  if [[ -z "$had_dockerd" ]]; then pid=$(live_dockerd); [[ -z "$pid" ]] || kill $pid 2>/dev/null || true; fi
}
trap cleanup EXIT

# Every test is XCTest; Swift Testing would only add a "0 tests" summary last.
classes=$(swift test list --skip-build --disable-swift-testing 2>/dev/null | sed -nE 's#^([A-Za-z0-9_]+\.[A-Za-z0-9_]+)/.*#\1#p' | sort -u)
if (($#)); then classes=$(grep -E -- "$1" <<<"$classes" || true); fi
[[ -n "$classes" ]] || { echo "test.sh: no test class matches" >&2; exit 1; }

passed=0 failed=0 broken=()
for class in $classes; do
  status=0
  # stdbuf: XCTest's stdout is block-buffered into a pipe, so a hang would show nothing.
  # A file and tail --pid, not a pipe into tee: a daemon a test leaves behind holding
  # the pipe would keep tee, and this script, waiting.
  # Emptied here, not by the runner's redirection: tail must not start on the last class's log.
  : >"$log"
  timeout -k 15 "$limit" stdbuf -oL -eL \
    swift test --skip-build --disable-swift-testing --filter "^$class/" >>"$log" 2>&1 &
  runner=$!
  tail --pid="$runner" -n +1 -f "$log" &
  tailer=$!
  wait "$runner" || status=$?
  wait "$tailer" || true
  p=$(grep -c "^Test Case '.*' passed" "$log" || true)
  f=$(grep -c "^Test Case '.*' failed" "$log" || true)
  if ((status == 124 || status == 137)); then
    # timeout kills swift-test, not the test process it started: that one would live on
    # (holding whatever it held, e.g. the scene lock) into the next class.
    pkill -KILL -f 'nettrailPackageTests.xctest' 2>/dev/null || true
    echo "test.sh: $class did not finish within ${limit}s; killed" >&2
    broken+=("$class (timed out)")
    f=$((f + 1))
  elif ((status != 0)); then
    broken+=("$class (exit $status)")
    ((f > 0)) || f=1
  fi
  passed=$((passed + p)) failed=$((failed + f))
done
((${#broken[@]})) && printf 'test.sh: failed: %s\n' "${broken[@]}" >&2
echo "tests: $passed passed, $failed failed"
((failed == 0))
