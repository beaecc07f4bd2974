#!/usr/bin/env bash
# The alert-quality scenarios of docs/ALERT_QUALITY.md: real logs with internet scans against
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
# this script runs it with its report shown and its files kept. Then the generated flood
# scenario (tests/flood_scenario.rs: blocked scanners, C2 call-backs, an outbreak, a CDN
# address; no shared data needed), kept in OUT_DIR/flood.
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

flood="$out/flood"
mkdir -p "$flood"
flood_status=0
FLOOD_SCENARIO_OUT="$flood" cargo test --test flood_scenario -- --nocapture >"$flood/test.log" 2>&1 || flood_status=$?
if [ -s "$flood/report.txt" ]; then
    cat "$flood/report.txt"
fi
echo "files: $flood (iocd.toml, c2.txt, scanners.txt, shared-infrastructure.txt, flood.log, soc.jsonl, archive.jsonl, report.txt, test.log)"
if [ "$flood_status" -ne 0 ]; then
    tail -n 40 "$flood/test.log" >&2
    echo "alert-quality.sh: the flood scenario failed (exit $flood_status)" >&2
    [ "$status" -ne 0 ] || status=$flood_status
fi
exit "$status"
