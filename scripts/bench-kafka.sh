#!/usr/bin/env bash
# Kafka throughput: messages per second from a topic to the alert topic through one
# `iocd run`, against a bare rdkafka consumer that only counts the same messages on the same
# broker (tansu 0.6.0 on loopback), in one run, alternating, medians of --rounds. Writes the
# result to docs/PERFORMANCE.md under "## Kafka throughput" (other sections are left alone).
#
# Usage: ./scripts/bench-kafka.sh [--messages N] [--indicators N] [--rounds R] [--no-write]
#   --messages    messages produced (default 200000; lines of a generated corpus)
#   --indicators  indicators iocd loads (default 100000)
#   --rounds      rounds of (bare consumer, iocd) (default 3)
#   --no-write    print the results only
set -euo pipefail
cd "$(dirname "$0")/.."

messages=200000
indicators=100000
rounds=3
write=1
while [ $# -gt 0 ]; do
    case "$1" in
        --messages) messages="$2"; shift 2 ;;
        --indicators) indicators="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --no-write) write=0; shift ;;
        *) echo "bench-kafka.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

./scripts/build-deps.sh
tansu=$(./scripts/tansu.sh path)
cargo build --release --locked --bin iocd -p iocd -p iocd-testkit --bin iocd-corpus --bin kafka-bench >&2

# ~270 B per line: enough MB for the messages asked for.
size_mb=$(( messages * 300 / 1000000 + 1 ))
work=target/bench-kafka
corpus="$work/corpus-s1-i$indicators-m$size_mb"
mkdir -p "$work"
if [ ! -s "$corpus/corpus.log" ] || [ ! -s "$corpus/iocs.txt" ]; then
    ./target/release/iocd-corpus --seed 1 --indicators "$indicators" --size-mb "$size_mb" --out "$corpus" >&2
fi

out="$work/result.md"
./target/release/kafka-bench --iocd ./target/release/iocd --tansu "$tansu" \
    --iocs "$corpus/iocs.txt" --corpus "$corpus/corpus.log" \
    --messages "$messages" --rounds "$rounds" >"$out"
{
    cat "$out"
    echo
    echo "Command: \`./scripts/bench-kafka.sh --messages $messages --indicators $indicators --rounds $rounds\`"
} >"$out.full"
cat "$out.full"

if [ "$write" -eq 1 ]; then
    python3 - "$out.full" docs/PERFORMANCE.md <<'PY'
import re, sys
section = open(sys.argv[1]).read().strip() + "\n"
doc = open(sys.argv[2]).read()
pat = re.compile(r"^## Kafka throughput\n.*?(?=^## |\Z)", re.S | re.M)
if pat.search(doc):
    doc = pat.sub(lambda m: section + "\n", doc)
else:
    doc = doc.rstrip() + "\n\n" + section
open(sys.argv[2], "w").write(doc)
PY
    echo "bench-kafka.sh: docs/PERFORMANCE.md updated" >&2
fi
