#!/usr/bin/env bash
# Fuzzes the engine against the naive oracle (tests/oracle) for SECONDS (default 300).
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#
# With cargo-fuzz installed (`cargo install cargo-fuzz`), runs the libFuzzer target
# `engine_vs_oracle` on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z
# flags; no sanitizer, since ASan is not needed for a differential target in safe code), with
# debug assertions and overflow checks on. The corpus lives in fuzz/corpus/engine_vs_oracle,
# findings in fuzz/artifacts/engine_vs_oracle. Without cargo-fuzz, or when libFuzzer does not
# build, runs the plain random loop `engine_vs_oracle_loop` instead (no coverage guidance).
# Exits non-zero when engine and oracle disagree.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-300}"
shift || true

loop() {
    echo "fuzz.sh: running the plain loop for ${secs}s" >&2
    cargo run --quiet --release --no-default-features --bin engine_vs_oracle_loop -- "$secs"
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not installed (cargo install cargo-fuzz)" >&2
    loop
    exit
fi
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz build --sanitizer none --debug-assertions engine_vs_oracle; then
    echo "fuzz.sh: the libFuzzer target does not build here" >&2
    loop
    exit
fi
mkdir -p corpus/engine_vs_oracle
cargo fuzz run --sanitizer none --debug-assertions engine_vs_oracle corpus/engine_vs_oracle -- \
    -max_total_time="$secs" -max_len=1024 -timeout=10 -print_final_stats=1 "$@"
