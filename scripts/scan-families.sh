#!/usr/bin/env bash
# What each indicator family costs a scan: `scan-profile` (crates/testkit) on the generated corpus with
# the whole mixed set, then with only one family of it kept (KINDS=...), one thread, in memory.
# Prints a markdown table: MiB/s (best of ROUNDS) and milliseconds per 64 MiB.
#
#   scripts/scan-families.sh [INDICATORS] [MIB] [ROUNDS]     (defaults: 1000000 64 7)
#
# A family's figure includes the passes it turns on: IPv4, domains and e-mail share the dotted
# pass (a set with any of them expands every `.`), CIDR includes IPv4 and IPv6 networks.
# FAMILIES="all ipv4" runs only those; KERNEL=sse2 (or avx2, portable) picks the byte-class kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
mib=${2:-64}
rounds=${3:-7}
cargo build --release --locked -p iocd-testkit --bin scan-profile >&2
bin=./target/release/scan-profile
best() {
    "$bin" "$n" "$mib" "$rounds" 2>&1 | awk '/^round/ { if ($3 > m) m = $3 } END { print m }'
}
echo "| indicators kept (of $n) | MiB/s | ms per $mib MiB |"
echo "|---|---:|---:|"
for kinds in ${FAMILIES:-all ipv4 cidr ipv6 domain email url md5,sha1,sha256 string}; do
    if [ "$kinds" = all ]; then
        rate=$(best)
    else
        rate=$(KINDS=$kinds best)
    fi
    awk -v k="$kinds" -v r="$rate" -v m="$mib" 'BEGIN { printf "| %s | %.0f | %.1f |\n", k, r, m * 1000 / r }'
done
