#!/usr/bin/env bash
# Runs iocd's whole test suite on a fresh machine, installing what it needs first.
# Usage: ./scripts/test.sh            (CI calls this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is not installed; install a Rust toolchain (rustup) first" >&2
    exit 2
fi

# Real peers the tests talk to (logger, promtool, systemd-analyze), installed when missing.
./scripts/install-test-deps.sh

# Tests that use the real data in ../shared/data run when it is there and say they were
# skipped when it is not.
if [ -d ../shared/data ]; then
    echo "test.sh: real data found in ../shared/data"
else
    echo "test.sh: ../shared/data not found: real-data tests will be skipped"
fi

# Benchmarks and examples must at least compile.
cargo build --locked --workspace --all-targets
# Doc examples are tests too, and the docs' links (src/lib.rs is the map) must resolve.
cargo test --locked --workspace --doc
RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" cargo doc --locked --no-deps --workspace --document-private-items --quiet

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --locked --workspace --no-fail-fast --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, g }' "$log"
exit "$status"
