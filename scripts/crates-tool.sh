#!/usr/bin/env bash
# Tools from crates.io that the tests and benchmarks run beside iocd, each pinned to a version,
# built once and cached outside the repository, in $IOCD_TOOLS (default ~/.cache/iocd-tools),
# so that a fresh clone reuses them:
#
#   scripts/crates-tool.sh TOOL path      prints the binary's path, building it first when missing
#   scripts/crates-tool.sh TOOL install   builds it when missing
#
#   TOOL       version  what for                                          override
#   tansu      0.6.0    the Kafka-protocol broker of the Kafka tests (~10   IOCD_TANSU
#                       minutes to build on 2 cores)
#   cargo-deb  3.8.0    the Debian packager of scripts/package.sh          IOCD_CARGO_DEB
#   matchy     2.0.1    the peer IOC matcher of scripts/bench-compare.sh   IOCD_MATCHY
#
# The override (a path to a binary) skips the build and uses that binary; it must be the
# pinned version. Each build gets its own target folder under the cache, deleted after, so the
# project's build cache is not touched. scripts/tansu.sh, cargo-deb.sh and matchy.sh call this.
set -euo pipefail

tool=${1:-}
case "$tool" in
    tansu) version=0.6.0 features=(--features dynostore) override=${IOCD_TANSU:-} var=IOCD_TANSU ;;
    cargo-deb) version=3.8.0 features=() override=${IOCD_CARGO_DEB:-} var=IOCD_CARGO_DEB ;;
    matchy) version=2.0.1 features=() override=${IOCD_MATCHY:-} var=IOCD_MATCHY ;;
    *) echo "usage: $0 tansu|cargo-deb|matchy [path|install]" >&2; exit 2 ;;
esac
root="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
bin="${override:-$root/bin/$tool}"

install() {
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
        return 0
    fi
    if [ -n "$override" ]; then
        echo "$tool: $var=$override is not a $tool $version binary" >&2
        exit 1
    fi
    echo "$tool: building $tool $version into $root (once)" >&2
    mkdir -p "$root"
    CARGO_TARGET_DIR="$root/target-$tool" cargo install "$tool" --version "$version" \
        ${features[@]+"${features[@]}"} --locked --root "$root" >&2
    rm -rf "$root/target-$tool"
}

case "${2:-path}" in
    path) install; echo "$bin" ;;
    install) install ;;
    *) echo "usage: $0 $tool [path|install]" >&2; exit 2 ;;
esac
