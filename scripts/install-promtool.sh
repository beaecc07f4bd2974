#!/usr/bin/env bash
# Installs promtool, which tests/admin.rs runs as `promtool check metrics` on what the admin
# server's /metrics serves. Debian ships it in the package `prometheus`.
# Usage: ./scripts/install-promtool.sh    (idempotent; needs root or sudo for apt-get)
#
# The entry below has the "command package [fallback package]" form of
# scripts/install-test-deps.sh's NEEDED list, so it can move there as one line:
#   promtool  tests/admin.rs checks the metrics exposition with `promtool check metrics`.
set -euo pipefail

NEEDED=(
    "promtool prometheus"
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
        echo "install-promtool.sh: $cmd is missing and apt-get is not available; install one of: $pkgs" >&2
        missing=1
        continue
    fi
    if [ "$updated" -eq 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
    for pkg in $pkgs; do
        echo "install-promtool.sh: installing $pkg (for $cmd)" >&2
        if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" \
            && command -v "$cmd" >/dev/null 2>&1; then
            break
        fi
    done
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "install-promtool.sh: could not install $cmd (tried: $pkgs)" >&2
        missing=1
    fi
done

# The package also installs the Prometheus server as an enabled systemd unit. Only promtool
# is wanted: on a machine that runs systemd, stop and disable the server.
if [ "$updated" -eq 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
exit "$missing"
