#!/usr/bin/env bash
# The Kafka-protocol broker the Kafka tests run against: tansu 0.6.0 from crates.io.
#
#   scripts/tansu.sh path      prints the binary's path, building it first when missing
#   scripts/tansu.sh install   builds it when missing (what install-test-deps.sh calls)
#
# The binary is cached outside the repository, in $IOCD_TOOLS (default ~/.cache/iocd-tools),
# so a fresh clone reuses it: the first build takes ~10 minutes on 2 cores, later runs none.
# IOCD_TANSU=/path/to/tansu skips all of this and uses that binary.
set -euo pipefail

VERSION=0.6.0
ROOT="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
BIN="$ROOT/bin/tansu"

if [ -n "${IOCD_TANSU:-}" ]; then
    BIN="$IOCD_TANSU"
fi

install() {
    if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
        return 0
    fi
    if [ -n "${IOCD_TANSU:-}" ]; then
        echo "tansu.sh: IOCD_TANSU=$IOCD_TANSU is not a tansu $VERSION binary" >&2
        exit 1
    fi
    echo "tansu.sh: building tansu $VERSION into $ROOT (once; ~10 minutes)" >&2
    mkdir -p "$ROOT"
    # Its own target folder, so the project's build cache is not touched.
    CARGO_TARGET_DIR="$ROOT/target" cargo install tansu --version "$VERSION" \
        --features dynostore --locked --root "$ROOT" >&2
    rm -rf "$ROOT/target"
}

case "${1:-path}" in
    path) install; echo "$BIN" ;;
    install) install ;;
    *) echo "usage: $0 [path|install]" >&2; exit 2 ;;
esac
