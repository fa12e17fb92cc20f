#!/usr/bin/env bash
# Force-remove runc containers started by runc-run.sh, and their bundles.
#
# Usage: scripts/scene/runc-rm.sh [--bundle-root DIR] ID [ID...]
# Missing containers are not an error (idempotent). Exit 1 if one could not be removed.
set -euo pipefail

die() { echo "runc-rm.sh: $*" >&2; exit 1; }
bundle_root=/run/nettrail/runc
if [[ "${1:-}" == --bundle-root ]]; then
  (($# >= 2)) || die "--bundle-root needs a directory"
  bundle_root="$2"; shift 2
fi
(($# > 0)) || die "usage: runc-rm.sh [--bundle-root DIR] ID [ID...]"
command -v runc >/dev/null || die "runc not found: apt-get install -y runc"

fail=0
for id in "$@"; do
  [[ "$id" =~ ^[A-Za-z0-9_.+-]+$ ]] || { echo "runc-rm.sh: invalid container ID '$id'" >&2; fail=1; continue; }
  if runc state "$id" >/dev/null 2>&1; then
    # delete -f kills (SIGKILL) and waits; retry briefly for slow teardown.
    for _ in 1 2 3 4 5; do
      runc delete -f "$id" >/dev/null 2>&1 || true
      runc state "$id" >/dev/null 2>&1 || break
      sleep 0.2
    done
    if runc state "$id" >/dev/null 2>&1; then
      echo "runc-rm.sh: could not delete container $id" >&2; fail=1; continue
    fi
  fi
  rm -rf -- "${bundle_root:?}/$id"
done
exit "$fail"
