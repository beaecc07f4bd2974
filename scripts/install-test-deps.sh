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
#   lintian, man, dpkg-deb  tests/package.rs builds the Debian package (scripts/package.sh,
#           with cargo-deb built once by scripts/cargo-deb.sh and cached outside the
#           repository, ~4 minutes the first time), runs lintian on it, extracts it, and
#           renders its man page; tests/cli.rs renders `iocd manpage` with `man -l`.
#   rsyslogd  tests/contrib_forwarders.rs checks contrib/forwarders/rsyslog/iocd.conf with
#           `rsyslogd -N1` and runs a real rsyslogd that forwards a log file to iocd.
#   syslog-ng  tests/contrib_forwarders.rs checks contrib/forwarders/syslog-ng/iocd.conf with
#           `syslog-ng --syntax-only`. Debian's syslog-ng-core conflicts with rsyslog (each is
#           the system logger), so when syslog-ng is not on PATH its package is unpacked, not
#           installed, into $IOCD_TOOLS (default ~/.cache/iocd-tools) and run from there by
#           $IOCD_TOOLS/bin/syslog-ng (its libraries come from apt-get); the system logger is
#           left alone.
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
    "rsyslogd rsyslog"
    "lintian lintian"
    "man man-db"
    "dpkg-deb dpkg"
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
# syslog-ng beside rsyslog (see the header): Debian's syslog-ng-core unpacked into
# $IOCD_TOOLS/syslog-ng-<version>, run through the wrapper $IOCD_TOOLS/bin/syslog-ng.
install_syslog_ng() {
    local root="${IOCD_TOOLS:-$HOME/.cache/iocd-tools}"
    local wrapper="$root/bin/syslog-ng"
    if command -v syslog-ng >/dev/null 2>&1 || "$wrapper" --version >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps.sh: syslog-ng is missing and apt-get is not available; install syslog-ng" >&2
        return 1
    fi
    if [ "$updated" -eq 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
    echo "install-test-deps.sh: unpacking syslog-ng-core into $root (for syslog-ng)" >&2
    local tmp deb version dir modules
    tmp=$(mktemp -d)
    # As root, apt-get downloads as its _apt user, which must be able to write there.
    if [ "$(id -u)" -eq 0 ]; then
        chown _apt "$tmp" 2>/dev/null || true
    fi
    if ! (cd "$tmp" && apt-get download -qq syslog-ng-core); then
        rm -rf "$tmp"
        return 1
    fi
    deb=$(ls "$tmp"/syslog-ng-core_*.deb)
    version=$(dpkg-deb -f "$deb" Version)
    # Its libraries (glib, ivykis, ...), which conflict with nothing.
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get satisfy -y -qq --no-install-recommends \
        "$(dpkg-deb -f "$deb" Depends)"; then
        rm -rf "$tmp"
        return 1
    fi
    dir="$root/syslog-ng-$version"
    rm -rf "$dir"
    mkdir -p "$dir" "$root/bin"
    dpkg-deb -x "$deb" "$dir"
    rm -rf "$tmp"
    modules=$(ls -d "$dir"/usr/lib/syslog-ng/[0-9]* | head -n 1)
    {
        echo '#!/bin/sh'
        echo "# syslog-ng $version, unpacked by scripts/install-test-deps.sh (see there why)."
        echo "LD_LIBRARY_PATH=\"$dir/usr/lib/syslog-ng\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\" \\"
        echo "    exec \"$dir/usr/sbin/syslog-ng\" --module-path=\"$modules\" \"\$@\""
    } >"$wrapper"
    chmod 755 "$wrapper"
    "$wrapper" --version >/dev/null
}
if ! install_syslog_ng; then
    echo "install-test-deps.sh: could not install syslog-ng (tried: unpacking syslog-ng-core)" >&2
    missing=1
fi
if ! ./scripts/tansu.sh install; then
    echo "install-test-deps.sh: could not build tansu (the Kafka tests need it)" >&2
    missing=1
fi
if ! ./scripts/cargo-deb.sh install; then
    echo "install-test-deps.sh: could not build cargo-deb (the package test needs it)" >&2
    missing=1
fi
if ! ./scripts/medallion.sh install; then
    echo "install-test-deps.sh: could not install medallion (the TAXII tests need it)" >&2
    missing=1
fi
exit "$missing"
