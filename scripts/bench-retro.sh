#!/usr/bin/env bash
# Retro-matching benchmarks, with the release `iocd run` (see docs/RETRO.md):
#
# 1. Rate of a retro job over the spool, per core: the daemon reads the corpus (once, then
#    twice) from files into its spool; a reload adds 10 indicators; the job runs with
#    max_cpu_share = 1 and reports the bytes it scanned and its thread's CPU time
#    (GET /retro). The rate is the difference of the two sizes over the difference of the
#    two CPU times (start-up costs cancel), and each run's bytes/CPU beside it.
# 2. Live throughput while jobs run: scripts/load.sh's sender (syslog-load) against a daemon
#    with [retro] on, alternately without and with a loop that keeps retro jobs running
#    (it removes an indicator and adds it back: back is new, so each addition is a job over
#    the whole spool, which the live traffic keeps growing). Reported: lines/s at full rate
#    in both, and their ratio, measured in one run.
#
# Usage: ./scripts/bench-retro.sh [--size-mb M] [--indicators N] [--seconds S] [--pairs P]
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=200
indicators=10000
seconds=10
pairs=2
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) size_mb="$2"; shift 2 ;;
        --indicators) indicators="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --pairs) pairs="$2"; shift 2 ;;
        *) echo "bench-retro.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
cargo build --release --locked -p iocd -p iocd-testkit --bin iocd --bin iocd-corpus --bin syslog-load >&2

work=target/retro-bench
corpus="$work/corpus-i$indicators-m$size_mb"
mkdir -p "$work"
if [ ! -s "$corpus/corpus.log" ]; then
    ./target/release/iocd-corpus --seed 7 --indicators "$indicators" --size-mb "$size_mb" --out "$corpus" >&2
fi
lines=$(wc -l <"$corpus/corpus.log")
# The baseline feed: every indicator but the last 10 planted ones; the 10 are added later.
cut -f2 "$corpus/truth.tsv" | sort -u | tail -n 10 >"$work/added.txt"
grep -vxF -f "$work/added.txt" "$corpus/iocs.txt" >"$work/base.txt" || true

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$1"; }
metric() { get "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'; }

# Part 1: one run over `copies` copies of the corpus; prints "bytes cpu_seconds".
retro_run() {
    local copies=$1 dir="$work/rate-$1" admin
    rm -rf "$dir"; mkdir -p "$dir"
    admin=$(free_port)
    cp "$work/base.txt" "$dir/feed.txt"
    {
        printf '[[feeds]]\nname = "bench"\npath = "feed.txt"\nallow_private = true\n'
        printf '[reload]\nwatch_files = false\n[triage]\nenabled = false\n'
        printf '[[sinks]]\ntype = "file"\npath = "alerts.jsonl"\n'
        printf '[admin]\nlisten = "127.0.0.1:%s"\n[log]\nlevel = "warn"\n' "$admin"
        printf '[retro]\nenabled = true\ndir = "retro"\nlookback = "1d"\nmax_cpu_share = 1.0\nspool_queue = 100000\nspool_level = 1\n'
        for i in $(seq 1 "$copies"); do
            ln -sf "$PWD/$corpus/corpus.log" "$dir/in$i.log"
            printf '[[sources.files]]\npath = "in%s.log"\nfrom_beginning = true\n' "$i"
        done
    } >"$dir/iocd.toml"
    ./target/release/iocd run --config "$dir/iocd.toml" 2>"$dir/iocd.log" &
    local pid=$!
    until get "http://127.0.0.1:$admin/metrics" >/dev/null 2>&1; do sleep 0.2; done
    local want=$((lines * copies))
    until [ "$(metric "$admin" iocd_source_events_total)" -ge "$want" ]; do sleep 0.5; done
    sleep 3 # the spool writer's last block (1 s) and segment
    cat "$work/added.txt" >>"$dir/feed.txt"
    kill -HUP "$pid"
    until get "http://127.0.0.1:$admin/retro" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("last_job") else 1)'; do sleep 0.5; done
    get "http://127.0.0.1:$admin/retro" >"$dir/retro.json"
    local dropped
    dropped=$(metric "$admin" iocd_retro_spool_dropped_lines_total)
    kill -TERM "$pid"; wait "$pid" || true
    python3 - "$dir/retro.json" "$dropped" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["last_job"]
print(j["scanned_bytes"], j["cpu_seconds"], j["hit_lines"], j["alerts"], sys.argv[2])
PY
}

echo "## part 1: retro job rate over the spool" >&2
read -r b1 c1 h1 a1 d1 < <(retro_run 1)
read -r b2 c2 h2 a2 d2 < <(retro_run 2)
python3 - "$b1" "$c1" "$h1" "$d1" "$b2" "$c2" "$h2" "$d2" "$size_mb" "$indicators" <<'PY' | tee "$work/rate.md"
import sys
b1, c1, h1, d1, b2, c2, h2, d2 = (float(x) for x in sys.argv[1:9])
size, n = sys.argv[9:11]
print(f"Corpus {size} MB (seed 7, {n} indicators in the set), 10 indicators added by the reload.\n")
print("| spool | scanned | job CPU | rate | lines with hits | spool drops |")
print("|---|---|---|---|---|---|")
for k, (b, c, h, d) in enumerate([(b1, c1, h1, d1), (b2, c2, h2, d2)], 1):
    print(f"| {k} x corpus | {b/1e6:.0f} MB | {c:.2f} s | {b/1e6/c:.0f} MB/s | {h:.0f} | {d:.0f} |")
print(f"\nRate from the difference of the two sizes: **{(b2-b1)/1e6/(c2-c1):.0f} MB/s per core**.")
PY

# Part 2: live throughput with and without retro jobs running.
echo "## part 2: live throughput while retro jobs run" >&2
live_run() {
    local jobs=$1 dir="$work/live-$1-$2" syslog admin
    rm -rf "$dir"; mkdir -p "$dir"
    syslog=$(free_port); admin=$(free_port)
    cp "$work/base.txt" "$dir/feed.txt"
    cat >"$dir/iocd.toml" <<EOF
[sources.syslog_tcp]
listen = "127.0.0.1:$syslog"
[[feeds]]
name = "bench"
path = "$PWD/$dir/feed.txt"
allow_private = true
[reload]
watch_files = false
[triage]
enabled = false
[[sinks]]
type = "stdout"
[admin]
listen = "127.0.0.1:$admin"
[log]
level = "warn"
EOF
    if [ "$jobs" != off ]; then
        printf '[retro]\nenabled = true\ndir = "%s"\nlookback = "1d"\n' "$PWD/$dir/retro" >>"$dir/iocd.toml"
    fi
    if [ "$jobs" = with ]; then
        (
            # Keep jobs running: add the 10, wait for the job, take them away, again.
            until get "http://127.0.0.1:$admin/metrics" >/dev/null 2>&1; do sleep 0.2; done
            sleep 2
            pid=$(pgrep -f "iocd run --config $PWD/$dir/iocd.toml" | head -1)
            while kill -0 "$pid" 2>/dev/null; do
                cat "$work/base.txt" "$work/added.txt" >"$dir/feed.txt"; kill -HUP "$pid" 2>/dev/null || break
                sleep 1
                while get "http://127.0.0.1:$admin/retro" 2>/dev/null | grep -q '"state":"\(running\|waiting\)"'; do sleep 0.2; done
                cp "$work/base.txt" "$dir/feed.txt"; kill -HUP "$pid" 2>/dev/null || break
                sleep 0.5
            done
        ) &
    fi
    # The daemon's last metrics before it stops (syslog-load stops it).
    (
        until get "http://127.0.0.1:$admin/metrics" >/dev/null 2>&1; do sleep 0.2; done
        while get "http://127.0.0.1:$admin/metrics" >"$dir/metrics.tmp" 2>/dev/null; do
            mv "$dir/metrics.tmp" "$dir/metrics.txt"; sleep 0.5
        done
    ) &
    ./target/release/syslog-load --iocd ./target/release/iocd --config "$PWD/$dir/iocd.toml" \
        --corpus "$corpus/corpus.log" --addr "127.0.0.1:$syslog" --admin "127.0.0.1:$admin" \
        --seconds "$seconds" --rounds 1 --log "$dir/iocd.log" >"$dir/result.md"
    wait
    local m
    m=$(awk -F'|' '/^\| 1 \|/ { gsub(/[* ]/, "", $3); print $3; exit }' "$dir/result.md")
    local f="$dir/metrics.txt" jobs_done written dropped
    jobs_done=$(awk '$1 ~ /^iocd_retro_jobs_total/ { s += $2 } END { print s + 0 }' "$f")
    written=$(awk '$1 == "iocd_retro_spool_written_bytes_total" { print $2 }' "$f")
    dropped=$(awk '$1 == "iocd_retro_spool_dropped_lines_total" { print $2 }' "$f")
    echo "$m $jobs_done ${written:-0} ${dropped:-0}"
}
rows=()
for p in $(seq 1 "$pairs"); do
    read -r off _ < <(live_run off "$p")
    read -r idle _ _ idrop < <(live_run without "$p")
    read -r with njobs _ wdrop < <(live_run with "$p")
    rows+=("$off $idle $with $njobs $idrop $wdrop")
done
python3 - "${rows[@]}" <<'PY' | tee "$work/live.md"
import statistics, sys
rows = [tuple(float(x) for x in r.split()) for r in sys.argv[1:]]
print("| round | retro off, lines/s | retro on, no job | retro on, jobs running | jobs / off | jobs / no job | jobs done meanwhile | lines not spooled (no job / jobs) |")
print("|---|---|---|---|---|---|---|---|")
for i, (o, a, b, n, di, dw) in enumerate(rows, 1):
    print(f"| {i} | {o:,.0f} | {a:,.0f} | {b:,.0f} | {b/o:.2f} | {b/a:.2f} | {n:.0f} | {di:,.0f} / {dw:,.0f} |")
med = lambda f: statistics.median(f(r) for r in rows)
print(f"\nMedian ratios: jobs running / retro off **{med(lambda r: r[2]/r[0]):.2f}**, "
      f"jobs running / retro on without a job **{med(lambda r: r[2]/r[1]):.2f}**, "
      f"retro on without a job / retro off {med(lambda r: r[1]/r[0]):.2f}.")
PY
