#!/usr/bin/env bash
# Installs what building iocd needs besides Rust, when it is missing: the rdkafka crate
# compiles librdkafka from source (a C compiler, make, pkg-config) with TLS from OpenSSL
# (libssl-dev) and zlib (zlib1g-dev). Called by demo.sh and install-test-deps.sh.
# Usage: ./scripts/build-deps.sh    (idempotent; needs root or sudo for apt-get)
set -euo pipefail

PACKAGES=(gcc make pkg-config libssl-dev zlib1g-dev)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "build-deps.sh: missing ${missing[*]} and apt-get is not available; install them first" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "build-deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
