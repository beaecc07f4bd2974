#!/usr/bin/env bash
# The Debian packager the package is built with: cargo-deb from crates.io.
#
#   scripts/cargo-deb.sh path      prints the binary's path, building it first when missing
#   scripts/cargo-deb.sh install   builds it when missing (what install-test-deps.sh calls)
#
# Cached outside the repository, in $IOCD_TOOLS (default ~/.cache/iocd-tools), like tansu:
# a few minutes the first time on 2 cores, nothing after.
set -euo pipefail

VERSION=3.8.0
ROOT="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
BIN="$ROOT/bin/cargo-deb"

install() {
    if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
        return 0
    fi
    echo "cargo-deb.sh: building cargo-deb $VERSION into $ROOT (once)" >&2
    mkdir -p "$ROOT"
    CARGO_TARGET_DIR="$ROOT/target-cargo-deb" cargo install cargo-deb --version "$VERSION" \
        --locked --root "$ROOT" >&2
    rm -rf "$ROOT/target-cargo-deb"
}

case "${1:-path}" in
    path) install; echo "$BIN" ;;
    install) install ;;
    *) echo "usage: $0 [path|install]" >&2; exit 2 ;;
esac
