#!/usr/bin/env bash
# The test suite: real BPF programs, real processes, namespaces, NAT and
# containers. Must run as root; a test that needs BPF fails if BPF cannot load.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
swift build --build-tests
swift test --skip-build "$@"
