#!/usr/bin/env bash
# The alert-quality scenario of docs/ALERT_QUALITY.md: real logs with internet scans against
# real feeds (../shared/data), plus planted true hits and a planted CDN flood, through the real
# daemon (`iocd run`, file sources, a SOC sink and an archive sink). Prints hits, alerts, the
# cut and where each planted true hit landed, and fails when a planted true hit is not alerted
# at high or critical or when the SOC sink gets more than 5% of one alert per hit.
#
# Usage: ./scripts/alert-quality.sh [OUT_DIR]
#   OUT_DIR (default target/alert-quality) keeps the run: iocd.toml, planted.log, soc.jsonl,
#   archive.jsonl, report.txt.
#
# The scenario itself is tests/alert_quality.rs (one place, run by the test suite as well);
# this script runs it with its report shown and its files kept.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/alert-quality}
if [ ! -d ../shared/data ]; then
    echo "alert-quality.sh: ../shared/data not found: nothing to measure" >&2
    exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/test.log"
status=0
ALERT_QUALITY_OUT="$out" cargo test --test alert_quality -- --nocapture >"$log" 2>&1 || status=$?
if [ -s "$out/report.txt" ]; then
    cat "$out/report.txt"
fi
echo "files: $out (iocd.toml, planted.log, soc.jsonl, archive.jsonl, report.txt, test.log)"
if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "alert-quality.sh: the scenario failed (exit $status)" >&2
fi
exit "$status"
