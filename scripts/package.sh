#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/iocd_<version>-1_<arch>.deb.
#
#   ./scripts/package.sh            release build (what to install)
#   ./scripts/package.sh --dev      the test build (tests/package.rs: same package, debug binary)
#
# Before cargo-deb runs, the binary writes what the package ships beside it: the man page
# (`iocd manpage`), bash/zsh/fish completions (`iocd completions`), and the unit for
# /usr/bin with a system user (`iocd`, made by the package's postinst) instead of the
# source tree's DynamicUser unit for /usr/local/bin. cargo-deb is built once and cached
# (scripts/cargo-deb.sh). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
dir=release
if [ "${1:-}" = "--dev" ]; then
    profile=dev
    dir=debug
fi
cargo_deb=$(./scripts/cargo-deb.sh path)
bin="target/$dir/iocd"
if [ -n "${IOCD_PACKAGE_BIN:-}" ]; then
    # The test suite's binary, already built (no cargo build inside a test).
    [ "$(realpath "$IOCD_PACKAGE_BIN")" = "$(realpath "$bin")" ] || cp "$IOCD_PACKAGE_BIN" "$bin"
else
    cargo build --locked --profile "$profile" --bin iocd >&2
fi
out=target/package
rm -rf "$out"
mkdir -p "$out"
"$bin" manpage | gzip -n -9 >"$out/iocd.1.gz"
"$bin" completions bash >"$out/iocd.bash"
"$bin" completions zsh >"$out/_iocd"
"$bin" completions fish >"$out/iocd.fish"
sed -e 's#/usr/local/bin/iocd#/usr/bin/iocd#g' \
    -e 's#^DynamicUser=yes#User=iocd\nGroup=iocd#' \
    systemd/iocd.service >"$out/iocd.service"
"$cargo_deb" --no-build --profile "$profile" --output target/debian/ -p iocd >&2
ls -t target/debian/iocd_*.deb | head -1
