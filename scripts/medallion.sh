#!/usr/bin/env bash
# The TAXII 2.1 server the TAXII tests run against: medallion (the OASIS reference server,
# from PyPI), in a virtual environment of its own.
#
#   scripts/medallion.sh path      prints the medallion program's path, installing it first
#   scripts/medallion.sh install   installs it when missing (what install-test-deps.sh calls)
#
# Installed outside the repository, in $IOCD_TOOLS (default ~/.cache/iocd-tools), so a fresh
# clone reuses it. IOCD_MEDALLION=/path/to/medallion skips all of this and uses that program.
set -euo pipefail

VERSION=3.0.0
ROOT="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
VENV="$ROOT/medallion-$VERSION"
BIN="$VENV/bin/medallion"

if [ -n "${IOCD_MEDALLION:-}" ]; then
    BIN="$IOCD_MEDALLION"
fi

install() {
    if [ -x "$BIN" ]; then
        return 0
    fi
    if [ -n "${IOCD_MEDALLION:-}" ]; then
        echo "medallion.sh: IOCD_MEDALLION=$IOCD_MEDALLION is not executable" >&2
        exit 1
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "medallion.sh: python3 is needed to install medallion" >&2
        exit 1
    fi
    echo "medallion.sh: installing medallion $VERSION into $VENV (once)" >&2
    mkdir -p "$ROOT"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >&2; then
        # Debian without python3-venv: install it, then try again.
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get install -y -qq python3-venv >&2
        python3 -m venv "$VENV" >&2
    fi
    "$VENV/bin/pip" install --quiet "medallion==$VERSION" >&2
}

case "${1:-path}" in
    path) install; echo "$BIN" ;;
    install) install ;;
    *) echo "usage: $0 [path|install]" >&2; exit 2 ;;
esac
