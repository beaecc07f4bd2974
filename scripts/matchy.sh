#!/usr/bin/env bash
# matchy, the peer IOC matcher scripts/bench-compare.sh compares iocd with: built once from crates.io and
# cached outside the repository (see scripts/crates-tool.sh for the version and the cache).
#
#   scripts/matchy.sh path      prints the binary's path, building it first when missing
#   scripts/matchy.sh install   builds it when missing
exec "$(dirname "$0")/crates-tool.sh" matchy "$@"
