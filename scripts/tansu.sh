#!/usr/bin/env bash
# The Kafka-protocol broker the Kafka tests run against: built once from crates.io and
# cached outside the repository (see scripts/crates-tool.sh for the version and the cache).
#
#   scripts/tansu.sh path      prints the binary's path, building it first when missing
#   scripts/tansu.sh install   builds it when missing
exec "$(dirname "$0")/crates-tool.sh" tansu "$@"
