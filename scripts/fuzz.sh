#!/usr/bin/env bash
# Fuzzes one target for SECONDS (default 300).
#
#   scripts/fuzz.sh [TARGET] [SECONDS] [extra libFuzzer flags...]
#
# TARGET is `engine_vs_oracle` (the default: the engine against the naive oracle,
# crates/testkit/src/oracle), `decode` (the field decoders of src/decode/event.rs are total: no panic,
# every range inside the line and on character boundaries), or one of the parsers of
# documents written by the adversary (total, bounded, within the limits of
# src/ioc/feed/mod.rs `limits`; docs/FUZZING.md):
#
#   feed_plain feed_csv feed_zeek feed_misp misp_manifest feed_stix stix_pattern
#   feed_openioc feed_auto allowlist feedback_file spool_segment set_file
#
# The parser targets' corpora start from the feeds and allowlists in ../shared/data (heads
# of files, copied into the git-ignored fuzz/corpus/TARGET at run time, never into the
# repository); they have no plain-loop fallback and need cargo-fuzz.
#
# With cargo-fuzz installed (`cargo install cargo-fuzz`), runs the libFuzzer target on the
# stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags; no sanitizer, since
# ASan is not needed for targets in safe code), with debug assertions and overflow checks on.
# The corpus lives in fuzz/corpus/TARGET, findings in fuzz/artifacts/TARGET. The `decode`
# corpus starts from the first lines of each sample log in ../shared/data/logs when that
# folder exists (copied into the git-ignored corpus, never into the repository). Without
# cargo-fuzz, or when libFuzzer does not build, runs the target's plain random loop
# (`engine_vs_oracle_loop`, `decode_loop`) instead (no coverage guidance). Exits non-zero when
# the target finds a failure.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=engine_vs_oracle
feed_targets="feed_plain feed_csv feed_zeek feed_misp misp_manifest feed_stix stix_pattern feed_openioc feed_auto allowlist feedback_file spool_segment set_file"
case "${1:-}" in
    engine_vs_oracle|decode) target="$1"; shift ;;
    feed_*|misp_manifest|stix_pattern|allowlist|feedback_file|spool_segment|set_file)
        case " $feed_targets " in
            *" $1 "*) target="$1"; shift ;;
            *) echo "fuzz.sh: unknown target $1 (targets: engine_vs_oracle decode $feed_targets)" >&2; exit 2 ;;
        esac ;;
esac
secs="${1:-300}"
shift || true

seed_decode_corpus() {
    local logs=../../shared/data/logs n=0
    mkdir -p corpus/decode
    [ -d "$logs" ] && [ -z "$(ls -A corpus/decode)" ] || return 0
    while IFS= read -r -d '' f; do
        head -n 40 "$f" | while IFS= read -r line; do
            n=$((n + 1))
            # The first byte selects the Zeek header (odd: on) in decode_check.rs.
            printf '\001%s' "$line" | head -c 1024 > "corpus/decode/seed-$(basename "$f")-$n"
        done
    done < <(find "$logs" -type f -print0)
}

# Seeds for the parser targets: the head of each real file (the inputs are capped at
# max_len anyway), a few hand-made documents for formats the data has no sample of.
seed_feed_corpus() {
    local data=../../shared/data dir="corpus/$target"
    mkdir -p "$dir"
    [ -d "$data" ] && [ -z "$(ls -A "$dir")" ] || return 0
    # Named by content (`put` runs in pipelines, so a counter would not survive).
    put() {
        local tmp="$dir/.seed"
        cat > "$tmp"
        mv "$tmp" "$dir/seed-$(sha1sum "$tmp" | cut -c1-16)"
    }
    heads() { # BYTES FILES...
        local bytes="$1"; shift
        for f in "$@"; do [ -f "$f" ] && head -c "$bytes" "$f" | put; done
    }
    case "$target" in
        feed_plain) heads 4096 "$data"/feeds/{ipsum,maltrail,spamhaus,signature-base,eset}/*.txt \
                "$data"/feeds/urlhaus_filter/*.txt "$data"/feeds/abusech/*.txt \
                "$data"/feeds/unit42_timely_threat_intel/*.txt ;;
        feed_csv) heads 4096 "$data"/feeds/abusech/*.csv "$data"/feeds/urlhaus_filter/*.csv ;;
        feed_zeek)
            printf '#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.cif_confidence\n1.2.3.4\tIntel::ADDR\tfeedx\tC2\t8.5\nevil.com\tIntel::DOMAIN\tfeedx\t-\t-\nevil.com/a.php\tIntel::URL\tfeedx\t-\t-\n' | put
            printf '#separator \\x2c\n#fields,indicator,indicator_type,meta.tags\nd41d8cd98f00b204e9800998ecf8427f,Intel::FILE_HASH,a;b\n' | put ;;
        feed_misp) heads 16384 "$data"/feeds/misp_feed_format/*.json "$data"/feeds/eset/misp_events/*.json ;;
        misp_manifest)
            for f in "$data"/feeds/misp_feed_format/*.json; do
                [ -f "$f" ] || continue
                m='{"57c4445b-c548-4654-af0b-4be3950d210f": {"info": "x", "Orgc": {"name": "o"}, "timestamp": "1"}}'
                # Two bytes (little-endian) give the manifest's length; the event follows it.
                lo=$(( ${#m} % 256 )) hi=$(( ${#m} / 256 ))
                { printf "\\$(printf %03o "$lo")\\$(printf %03o "$hi")"; printf '%s' "$m"; head -c 8192 "$f"; } | put
            done ;;
        feed_stix|feed_auto) heads 16384 "$data"/feeds/stix21_oasis_examples/*.json
            [ "$target" = feed_auto ] && heads 4096 "$data"/feeds/openioc_fireeye/*.ioc \
                "$data"/feeds/misp_feed_format/*.json "$data"/feeds/abusech/*.csv \
                "$data"/feeds/spamhaus/*.txt ;;
        stix_pattern)
            grep -ho '"pattern": *"[^"]*"' "$data"/feeds/stix21_oasis_examples/*.json \
                | sed -e 's/^"pattern": *"//' -e 's/"$//' | sort -u | while IFS= read -r p; do
                    printf '%s' "$p" | put
                done ;;
        feed_openioc) heads 16384 "$data"/feeds/openioc_fireeye/*.ioc ;;
        allowlist)
            for f in "$data"/allowlists/misp-warninglists/*.json; do
                { printf '\000'; head -c 4096 "$f"; } | put
            done
            for f in "$data"/allowlists/maltrail/*.txt; do
                { printf '\001'; head -c 4096 "$f"; } | put
            done ;;
        feedback_file)
            printf 'cdn.example.net  # shared CDN\n198.51.100.7 host=10.1.2.3 analyst=alice # scanner\nhxxp://evil[.]example/x expires=30d # sinkholed\n203.0.113.9 expires=2026-12-31T00:00:00Z\n' | put
            heads 4096 "$data"/allowlists/maltrail/whitelist.txt ;;
    esac
    echo "fuzz.sh: seeded $dir with $(ls "$dir" | wc -l) inputs" >&2
}

loop() {
    echo "fuzz.sh: running the plain loop ${target}_loop for ${secs}s" >&2
    cargo run --quiet --release --no-default-features --bin "${target}_loop" -- "$secs"
}

max_len=1024
case "$target" in
    decode) seed_decode_corpus ;;
    engine_vs_oracle) ;;
    # Segments are binary: no seed; the magic numbers are found by libFuzzer's comparisons.
    spool_segment) max_len=65536; mkdir -p "corpus/$target" ;;
    # Odd first byte: edits to a built-in well-formed set file; a few seeds of each mode.
    set_file) max_len=4096; mkdir -p "corpus/$target"
        printf '\001\000\000\000\000' > "corpus/$target/seed-edit"
        printf '\000IOCDSET\000' > "corpus/$target/seed-header" ;;
    feed_misp|misp_manifest|feed_stix|feed_openioc|feed_auto) max_len=16384; seed_feed_corpus ;;
    *) max_len=4096; seed_feed_corpus ;;
esac
has_loop=false
case "$target" in engine_vs_oracle|decode) has_loop=true ;; esac
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not installed (cargo install cargo-fuzz)" >&2
    $has_loop || exit 2
    loop
    exit
fi
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz build --sanitizer none --debug-assertions "$target"; then
    echo "fuzz.sh: the libFuzzer target does not build here" >&2
    $has_loop || exit 2
    loop
    exit
fi
mkdir -p "corpus/$target"
cargo fuzz run --sanitizer none --debug-assertions "$target" "corpus/$target" -- \
    -max_total_time="$secs" -max_len="$max_len" -timeout=10 -print_final_stats=1 "$@"
