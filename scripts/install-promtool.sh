#!/usr/bin/env bash
# Installs `promtool` (Debian package `prometheus`), which tests/admin.rs runs as
# `promtool check metrics` on the admin server's /metrics output.
# Usage: ./scripts/install-promtool.sh    (idempotent; needs root or sudo for apt-get)
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-promtool.sh: installing the Debian package prometheus (for promtool)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus
# The package also ships the Prometheus server, enabled as a systemd unit; only promtool is
# wanted here, so on a machine that runs systemd the server is stopped and disabled.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null 2>&1 || {
    echo "install-promtool.sh: the prometheus package installed no promtool" >&2
    exit 1
}
