#!/usr/bin/env bash
# Installs the programs iocd's tests run as real peers, when they are missing.
# Usage: ./scripts/install-test-deps.sh    (idempotent; needs root or sudo for apt-get)
#
# Each entry is "command package [fallback package]": the package is installed only when the
# command is not on PATH. Add a line per tool a test needs.
#   logger  tests/sources.rs sends syslog with util-linux logger in each of its modes
#           (--udp, --tcp, --octet-count, --rfc3164, --rfc5424); Debian ships it in bsdutils,
#           other distributions in util-linux.
#   promtool  tests/admin.rs checks the /metrics exposition with `promtool check metrics`
#           (Debian package prometheus).
#   systemd-analyze  tests/systemd.rs verifies the unit and rates its hardening.
#   unbound, dig, named-checkzone  tests/exports.rs loads iocd's RPZ export into a real
#           Unbound resolver and asks it with dig (Debian bind9-dnsutils); named-checkzone
#           (Debian bind9-utils) checks the zone as BIND reads it.
#   nft     tests/exports.rs checks the nftables set file with `nft -c -f` and loads it in a
#           private network namespace (Debian nftables).
#   ipset   tests/exports.rs loads the ipset restore file in a private network namespace.
#   tansu   tests/kafka.rs runs a real Kafka-protocol broker: tansu 0.6.0 from crates.io, built
#           once by scripts/tansu.sh and cached outside the repository (~10 minutes the first
#           time, nothing after).
#   medallion  tests/tip.rs polls a real TAXII 2.1 server: medallion 3.0.0 (the OASIS
#           reference server) from PyPI, in a virtual environment scripts/medallion.sh makes
#           once outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building iocd itself needs (librdkafka is compiled from source).
./scripts/build-deps.sh

NEEDED=(
    "logger bsdutils util-linux"
    "promtool prometheus"
    "systemd-analyze systemd"
    "unbound unbound"
    "dig bind9-dnsutils"
    "named-checkzone bind9-utils"
    "nft nftables"
    "ipset ipset"
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
updated=0
missing=0
for entry in "${NEEDED[@]}"; do
    read -r cmd pkgs <<<"$entry"
    if command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps.sh: $cmd is missing and apt-get is not available; install one of: $pkgs" >&2
        missing=1
        continue
    fi
    if [ "$updated" -eq 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
    for pkg in $pkgs; do
        echo "install-test-deps.sh: installing $pkg (for $cmd)" >&2
        if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" \
            && command -v "$cmd" >/dev/null 2>&1; then
            break
        fi
    done
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "install-test-deps.sh: could not install $cmd (tried: $pkgs)" >&2
        missing=1
    fi
done
if ! ./scripts/tansu.sh install; then
    echo "install-test-deps.sh: could not build tansu (the Kafka tests need it)" >&2
    missing=1
fi
if ! ./scripts/medallion.sh install; then
    echo "install-test-deps.sh: could not install medallion (the TAXII tests need it)" >&2
    missing=1
fi
exit "$missing"
