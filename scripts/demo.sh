#!/usr/bin/env bash
# Builds iocd and runs its main job, the daemon, on the embedded default configuration
# (config/iocd.example.toml: syslog on 127.0.0.1:5514, the example feed shipped beside it,
# alerts on standard output). It then sends the sample log config/sample.log over TCP syslog,
# prints the alerts, and stops the daemon with SIGTERM (which drains and flushes).
# Usage: ./scripts/demo.sh            (no Kafka, no root, nothing else needed)
#        ./scripts/demo.sh --keep     (leave the daemon running; stop it with Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-deps.sh
cargo build --release --locked --bin iocd >&2
bin=./target/release/iocd
cfg=config/iocd.example.toml
"$bin" validate --config "$cfg" >&2

if [ "${1:-}" = "--keep" ]; then
    echo "iocd: running with $cfg; send syslog to 127.0.0.1:5514 (e.g. logger -n 127.0.0.1 -P 5514 --tcp 'hello 198.51.100.23')" >&2
    exec "$bin" run --config "$cfg"
fi

"$bin" run --config "$cfg" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
# Ready once the admin server says so (the first indicator set is loaded, listeners bound).
for _ in $(seq 1 100); do
    # (A brace group: bash reports a refused connection of `exec` itself, not to its 2>.)
    if { exec 3<>/dev/tcp/127.0.0.1/9750; } 2>/dev/null; then
        printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3
        if head -n 1 <&3 | grep -q ' 200'; then exec 3<&-; break; fi
        exec 3<&-
    fi
    sleep 0.1
done
echo "iocd: sending config/sample.log over TCP syslog to 127.0.0.1:5514" >&2
if command -v logger >/dev/null 2>&1; then
    while IFS= read -r line; do
        logger --tcp -n 127.0.0.1 -P 5514 --rfc5424 -t demo -- "$line"
    done < config/sample.log
else
    exec 4<>/dev/tcp/127.0.0.1/5514
    cat config/sample.log >&4
    exec 4<&-
fi
sleep 1
kill -TERM "$pid"
wait "$pid"
trap - EXIT
echo "iocd: stopped cleanly" >&2
