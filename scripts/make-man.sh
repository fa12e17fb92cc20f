#!/usr/bin/env bash
# Writes man/nettrail.1 and man/nettrail-record.8 from the commands' own help
# (swift-argument-parser's generate-manual), so a page says what --help says.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product nettrail >/dev/null
swift build --product nettrail-record >/dev/null
swift build --product generate-manual >/dev/null
bin=$(swift build --show-bin-path)
gen=$(find .build -path '*debug/generate-manual-tool' -type f | head -1)
[[ -x "$gen" ]] || gen="$bin/generate-manual"
mkdir -p man
date=$(date -u +%Y-%m-%d)
"$gen" "$bin/nettrail" --date "$date" -o man
"$gen" "$bin/nettrail-record" --section 8 --date "$date" -o man
ls man
