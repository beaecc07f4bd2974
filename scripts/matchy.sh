#!/usr/bin/env bash
# matchy, the peer IOC matcher scripts/bench-compare.sh compares iocd with: matchy 2.0.1 from
# crates.io.
#
#   scripts/matchy.sh path      prints the binary's path, building it first when missing
#   scripts/matchy.sh install   builds it when missing
#
# The binary is cached outside the repository, in $IOCD_TOOLS (default ~/.cache/iocd-tools),
# so a fresh clone reuses it: the first build takes a few minutes on 2 cores, later runs none.
# IOCD_MATCHY=/path/to/matchy skips all of this and uses that binary.
set -euo pipefail

VERSION=2.0.1
ROOT="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
BIN="$ROOT/bin/matchy"

if [ -n "${IOCD_MATCHY:-}" ]; then
    BIN="$IOCD_MATCHY"
fi

install() {
    if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
        return 0
    fi
    if [ -n "${IOCD_MATCHY:-}" ]; then
        echo "matchy.sh: IOCD_MATCHY=$IOCD_MATCHY is not a matchy $VERSION binary" >&2
        exit 1
    fi
    echo "matchy.sh: building matchy $VERSION into $ROOT (once; a few minutes)" >&2
    mkdir -p "$ROOT"
    # Its own target folder, so the project's build cache is not touched.
    CARGO_TARGET_DIR="$ROOT/target-matchy" cargo install matchy --version "$VERSION" \
        --locked --root "$ROOT" >&2
    rm -rf "$ROOT/target-matchy"
}

case "${1:-path}" in
    path) install; echo "$BIN" ;;
    install) install ;;
    *) echo "usage: $0 [path|install]" >&2; exit 2 ;;
esac
