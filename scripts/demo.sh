#!/usr/bin/env bash
# Builds iocd and runs its main job on the shipped example: the example feed against the
# sample log, printing one ECS JSON alert per line that matched and a summary.
# Usage: ./scripts/demo.sh [more iocd scan arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin iocd >&2
echo "iocd: scanning config/sample.log against config/feeds/example.txt" >&2
set +e
./target/release/iocd scan --iocs config/feeds/example.txt config/sample.log --stats "$@"
rc=$?
set -e
# Like grep: 0 = something matched, 1 = nothing matched, 2 = error.
[ "$rc" -le 1 ] || exit "$rc"
