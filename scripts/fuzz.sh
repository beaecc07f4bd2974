#!/usr/bin/env bash
# Fuzzes one target for SECONDS (default 300).
#
#   scripts/fuzz.sh [TARGET] [SECONDS] [extra libFuzzer flags...]
#
# TARGET is `engine_vs_oracle` (the default: the engine against the naive oracle,
# tests/oracle) or `decode` (the field decoders of src/decode/event.rs are total: no panic,
# every range inside the line and on character boundaries).
#
# With cargo-fuzz installed (`cargo install cargo-fuzz`), runs the libFuzzer target on the
# stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags; no sanitizer, since
# ASan is not needed for targets in safe code), with debug assertions and overflow checks on.
# The corpus lives in fuzz/corpus/TARGET, findings in fuzz/artifacts/TARGET. The `decode`
# corpus starts from the first lines of each sample log in ../shared/data/logs when that
# folder exists (copied into the git-ignored corpus, never into the repository). Without
# cargo-fuzz, or when libFuzzer does not build, runs the target's plain random loop
# (`engine_vs_oracle_loop`, `decode_loop`) instead (no coverage guidance). Exits non-zero when
# the target finds a failure.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=engine_vs_oracle
case "${1:-}" in
    engine_vs_oracle|decode) target="$1"; shift ;;
esac
secs="${1:-300}"
shift || true

seed_decode_corpus() {
    local logs=../../shared/data/logs n=0
    mkdir -p corpus/decode
    [ -d "$logs" ] && [ -z "$(ls -A corpus/decode)" ] || return 0
    while IFS= read -r -d '' f; do
        head -n 40 "$f" | while IFS= read -r line; do
            n=$((n + 1))
            # The first byte selects the Zeek header (odd: on) in decode_check.rs.
            printf '\001%s' "$line" | head -c 1024 > "corpus/decode/seed-$(basename "$f")-$n"
        done
    done < <(find "$logs" -type f -print0)
}

loop() {
    echo "fuzz.sh: running the plain loop ${target}_loop for ${secs}s" >&2
    cargo run --quiet --release --no-default-features --bin "${target}_loop" -- "$secs"
}

if [ "$target" = decode ]; then
    seed_decode_corpus
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not installed (cargo install cargo-fuzz)" >&2
    loop
    exit
fi
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz build --sanitizer none --debug-assertions "$target"; then
    echo "fuzz.sh: the libFuzzer target does not build here" >&2
    loop
    exit
fi
mkdir -p "corpus/$target"
cargo fuzz run --sanitizer none --debug-assertions "$target" "corpus/$target" -- \
    -max_total_time="$secs" -max_len=1024 -timeout=10 -print_final_stats=1 "$@"
