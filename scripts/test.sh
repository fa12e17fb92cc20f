#!/usr/bin/env bash
# The test suite: real BPF programs, real processes, namespaces, NAT and
# containers. Must run as root; a test that needs BPF fails if BPF cannot load.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Every test is XCTest; Swift Testing would only add a "0 tests" summary last.
status=0
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# XCTest's totals as the plain closing line: "Executed N tests, with M failures".
sed -nE 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/p' "$log" | tail -1 |
  { read -r n f && echo "tests: $((n - f)) passed, $f failed"; } || true
exit "$status"
