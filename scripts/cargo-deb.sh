#!/usr/bin/env bash
# The Debian packager the package is built with: built once from crates.io and
# cached outside the repository (see scripts/crates-tool.sh for the version and the cache).
#
#   scripts/cargo-deb.sh path      prints the binary's path, building it first when missing
#   scripts/cargo-deb.sh install   builds it when missing
exec "$(dirname "$0")/crates-tool.sh" cargo-deb "$@"
