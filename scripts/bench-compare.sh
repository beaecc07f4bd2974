#!/usr/bin/env bash
# Side-by-side comparison of iocd with matchy, grep -F, rg -F and grepcidr on the same
# generated corpus and indicator files (made by iocd-corpus), scored against the planted truth.
#
#   scripts/bench-compare.sh [--size-mb 200] [--indicators 10000,100000,1000000] [--seed 1]
#                            [--tools iocd,matchy,grep,rg,grepcidr] [--skip-slow MIN]
#                            [--no-slow] [--real] [--real-only]
#
# Corpora are cached in target/bench-data/<size>-<n>[-s<seed>]/. Every tool runs under
# GNU `/usr/bin/time -v` (wall time, peak RSS). The report (markdown) is printed and written
# to target/bench-data/report-<size>.md.
#
#   --size-mb N        corpus size in MB (default 200; 1000 for the headline figures)
#   --indicators LIST  comma-separated set sizes (default 10000,100000)
#   --seed S           generator seed (default 1)
#   --tools LIST       which tools run on the generated corpus (default all:
#                      iocd,matchy,grep,rg,grepcidr; `iocd` is four runs: default threads and
#                      --threads 1, each with the feed parsed and compiled at start and with
#                      the set compiled beforehand into a set file (`iocs compile`, `--set`))
#   --skip-slow MIN    grep/rg runs that would take more than MIN minutes (estimated from
#                      measured rates: grep -F is ~5 MB/s at 1M literals, rg ~2 MB/s) run on
#                      the first slice of the corpus that takes about MIN minutes; MB/s,
#                      precision and recall are then computed on that slice (default 2)
#   --no-slow          skip those grep/rg runs instead
#   --real             also compare iocd and grep -F on the real logs and plain-list feeds
#                      in ../shared/data (or $IOCD_SHARED_DATA)
#   --real-only        only that (--tools does not apply to it)
#
# matchy (scripts/matchy.sh: crates.io 2.0.1, built once into ~/.cache/iocd-tools; IOCD_MATCHY
# overrides) gets a prebuilt database (`matchy build -i`, cached next to the corpus, its build
# time reported apart) of the indicators it can express (see `matchy-iocs` in bench_report.py)
# and runs `matchy match --threads 1`. It prints no line numbers, so a second, untimed run over
# the corpus with a marker line after each line tells which lines it reported.
#
# IOCD_BIN=/path/to/iocd uses that binary instead of building iocd (e.g. from a worktree when the
# tree does not build); iocd-corpus is then taken from IOCD_CORPUS_BIN, else next to it, else
# built.
#
# Needs: cargo, python3, and the Debian packages ripgrep, grepcidr, time (installed with
# apt-get when missing).
set -euo pipefail

SIZE_MB=200
INDICATORS=10000,100000
SEED=1
SKIP_SLOW=2
NO_SLOW=0
REAL=0
SYNTH=1
TOOLS=iocd,matchy,grep,rg,grepcidr

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

while (($#)); do
  case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --indicators) INDICATORS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --skip-slow) SKIP_SLOW=$2; shift 2 ;;
    --no-slow) NO_SLOW=1; shift ;;
    --real) REAL=1; shift ;;
    --real-only) REAL=1; SYNTH=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

for t in ${TOOLS//,/ }; do
  case "$t" in
    iocd|matchy|grep|rg|grepcidr) ;;
    *) echo "--tools: unknown tool $t (iocd, matchy, grep, rg, grepcidr)" >&2; exit 2 ;;
  esac
done
want() { [[ ",$TOOLS," == *",$1,"* ]]; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY="python3 $ROOT/scripts/bench_report.py"
DATA="$ROOT/target/bench-data"
SHARED=${IOCD_SHARED_DATA:-$ROOT/../shared/data}
mkdir -p "$DATA"

log() { echo "== $*" >&2; }

ensure_tools() {
  local missing=()
  if want rg || ((REAL)); then command -v rg >/dev/null || missing+=(ripgrep); fi
  if want grepcidr; then command -v grepcidr >/dev/null || missing+=(grepcidr); fi
  [ -x /usr/bin/time ] || missing+=(time)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
}

# timed NAME TIMEFILE OUTFILE CMD...: runs CMD under GNU time; exit status 1 (nothing
# matched) is fine, 2 and up is an error.
timed() {
  local name=$1 tfile=$2 ofile=$3
  shift 3
  log "$name: $*"
  local rc=0
  /usr/bin/time -v -o "$tfile" "$@" >"$ofile" 2>"$ofile.err" || rc=$?
  if ((rc >= 2)); then
    echo "$name failed with status $rc" >&2
    tail -5 "$ofile.err" "$tfile" >&2
    exit 1
  fi
  awk -F': ' '/Elapsed/ {w=$2} /Maximum resident/ {r=$2} END {printf "   wall %s, peak RSS %.0f MiB\n", w, r/1024}' "$tfile" >&2
}

ensure_tools
if [ -n "${IOCD_BIN:-}" ]; then
  IOCD=$IOCD_BIN
  GEN=${IOCD_CORPUS_BIN:-$(dirname "$IOCD_BIN")/iocd-corpus}
  if [ ! -x "$GEN" ]; then
    log "cargo build --release -p iocd-testkit --bin iocd-corpus"
    cargo build --release -p iocd-testkit --bin iocd-corpus --quiet
    GEN="$ROOT/target/release/iocd-corpus"
  fi
else
  log "cargo build --release -p iocd -p iocd-testkit --bins"
  cargo build --release -p iocd -p iocd-testkit --bins --quiet
  IOCD="$ROOT/target/release/iocd"
  GEN="$ROOT/target/release/iocd-corpus"
fi
log "iocd: $IOCD; iocd-corpus: $GEN"
if want matchy; then
  MATCHY=$("$ROOT/scripts/matchy.sh" path)
  MATCHY_VERSION=$("$MATCHY" --version | awk '{print $2}')
fi
SCAN_FLAGS=()
if "$IOCD" scan --help 2>/dev/null | grep -q -- --no-progress; then SCAN_FLAGS+=(--no-progress); fi
# Every indicator as listed, as grep takes them: the safety rails (on by default since
# issue 14) would drop the generated corpus's reserved addresses and make counts differ.
# A set file was compiled with its rails (or without): scanning with it takes neither flag.
SET_FLAGS=("${SCAN_FLAGS[@]}")
COMPILE_FLAGS=()
if "$IOCD" scan --help 2>/dev/null | grep -q -- --no-rails; then SCAN_FLAGS+=(--no-rails); COMPILE_FLAGS+=(--no-rails); fi

if ((SYNTH)); then
  RUNS="$DATA/runs-$SIZE_MB.tsv"
  : >"$RUNS"
  IFS=, read -ra NS <<<"$INDICATORS"
  for n in "${NS[@]}"; do
    d="$DATA/$SIZE_MB-$n"
    [ "$SEED" = 1 ] || d="$d-s$SEED"
    if [ ! -f "$d/.complete" ]; then
      log "generating $d"
      rm -rf "$d"
      "$GEN" --seed "$SEED" --indicators "$n" --size-mb "$SIZE_MB" --out "$d" >&2
      touch "$d/.complete"
    fi
    r="$d/runs"
    mkdir -p "$r"
    bytes=$(stat -c %s "$d/corpus.log")
    lines=$(wc -l <"$d/corpus.log")

    if want iocd; then
      timed "iocd ($n)" "$r/iocd.time" "$r/iocd.out" \
        "$IOCD" scan "${SCAN_FLAGS[@]}" --iocs "$d/iocs.txt" "$d/corpus.log"
      $PY lines-iocd "$r/iocd.out" >"$r/iocd.lines"
      printf 'iocd\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/iocd.time" "$r/iocd.lines" "" >>"$RUNS"

      timed "iocd --threads 1 ($n)" "$r/iocd1.time" "$r/iocd1.out" \
        "$IOCD" scan "${SCAN_FLAGS[@]}" --threads 1 --iocs "$d/iocs.txt" "$d/corpus.log"
      $PY lines-iocd "$r/iocd1.out" >"$r/iocd1.lines"
      printf 'iocd --threads 1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/iocd1.time" "$r/iocd1.lines" "" >>"$RUNS"

      # The same set compiled once into a set file (not timed, like matchy's database; the
      # compile is timed apart and reported in a note), then mapped by each scan.
      if "$IOCD" iocs compile --help >/dev/null 2>&1; then
        timed "iocd iocs compile ($n)" "$r/iocdset-build.time" "$r/iocdset-build.out" \
          "$IOCD" iocs compile "${COMPILE_FLAGS[@]}" --iocs "$d/iocs.txt" -o "$r/set.iocd"
        build_note="set file compiled beforehand, not timed here: \`iocd iocs compile\` took $(awk -F': ' '/Elapsed/ {print $2}' "$r/iocdset-build.time") wall, $(($(stat -c %s "$r/set.iocd") / 1024 / 1024)) MiB file"
        timed "iocd --set ($n)" "$r/iocdset.time" "$r/iocdset.out" \
          "$IOCD" scan ${SET_FLAGS[@]+"${SET_FLAGS[@]}"} --set "$r/set.iocd" "$d/corpus.log"
        $PY lines-iocd "$r/iocdset.out" >"$r/iocdset.lines"
        printf 'iocd --set\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/iocdset.time" "$r/iocdset.lines" "$build_note" >>"$RUNS"
        timed "iocd --set --threads 1 ($n)" "$r/iocdset1.time" "$r/iocdset1.out" \
          "$IOCD" scan ${SET_FLAGS[@]+"${SET_FLAGS[@]}"} --threads 1 --set "$r/set.iocd" "$d/corpus.log"
        $PY lines-iocd "$r/iocdset1.out" >"$r/iocdset1.lines"
        printf 'iocd --set --threads 1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/iocdset1.time" "$r/iocdset1.lines" "" >>"$RUNS"
        rm -f "$r/set.iocd"
      fi
    fi

    if want matchy; then
      # The database, built once per indicator set and matchy version, is not timed with the
      # match run; its build is timed apart and reported in a note.
      m="$d/matchy-$MATCHY_VERSION"
      if [ ! -f "$m/db.mxy" ]; then
        rm -rf "$m"
        mkdir -p "$m"
        $PY matchy-iocs "$d" >"$m/iocs.txt"
        timed "matchy build ($n)" "$m/build.time" "$m/build.out" \
          "$MATCHY" build --case-insensitive -o "$m/db.mxy.tmp" "$m/iocs.txt"
        mv "$m/db.mxy.tmp" "$m/db.mxy"
      fi
      timed "matchy ($n)" "$r/matchy.time" "$r/matchy.out" \
        "$MATCHY" match --threads 1 "$m/db.mxy" "$d/corpus.log"
      # Which lines: the same run, untimed, over the corpus with a marker line after each line.
      log "matchy ($n): marked run for line numbers"
      $PY matchy-marked "$d/corpus.log" | "$MATCHY" match --threads 1 "$m/db.mxy" - >"$r/matchy-marked.out"
      $PY lines-matchy "$r/matchy-marked.out" >"$r/matchy.lines"
      timed_matches=$(grep -vc '"matched_text":"255.255.255.254"' "$r/matchy.out" || true)
      marked_matches=$(grep -vc '"matched_text":"255.255.255.254"' "$r/matchy-marked.out" || true)
      if [ "$timed_matches" != "$marked_matches" ]; then
        echo "matchy ($n): the timed run printed $timed_matches matches, the marked run $marked_matches" >&2
        exit 1
      fi
      bwall=$(awk -F': ' '/Elapsed/ {print $2}' "$m/build.time")
      brss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$m/build.time")
      note="database prebuilt, not timed here: \`matchy build\` of $(wc -l <"$m/iocs.txt") entries took $bwall wall, $brss MiB peak, $(($(stat -c %s "$m/db.mxy") / 1024 / 1024)) MiB file"
      printf 'matchy\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/matchy.time" "$r/matchy.lines" "$note" >>"$RUNS"
      rm -f "$r/matchy.out" "$r/matchy-marked.out"
    fi

    for tool in grep rg; do
      want "$tool" || continue
      input="$d/corpus.log"
      ibytes=$bytes
      ilines=$lines
      note=""
      rate=$($PY estimate "$tool" "$n")
      if awk -v s="$SIZE_MB" -v r="$rate" -v m="$SKIP_SLOW" 'BEGIN {exit !(s / r > m * 60)}'; then
        if ((NO_SLOW)); then
          log "skipping $tool at $n indicators (estimated $(awk -v s="$SIZE_MB" -v r="$rate" 'BEGIN {printf "%.0f", s / r / 60}') min)"
          continue
        fi
        slice_mb=$(awk -v r="$rate" -v m="$SKIP_SLOW" 'BEGIN {v = r * m * 60; if (v < 5) v = 5; printf "%d", v}')
        input="$d/slice-$slice_mb.log"
        if [ ! -f "$input.lines" ]; then
          $PY slice "$d/corpus.log" "$slice_mb" "$input" >"$input.lines"
        fi
        ibytes=$(stat -c %s "$input")
        ilines=$(cat "$input.lines")
        note="run on the first $slice_mb MB of the corpus ($ilines lines): at the expected ~$rate MB/s the whole corpus would take over $SKIP_SLOW min"
      fi
      if [ "$tool" = grep ]; then
        timed "grep -F ($n)" "$r/grep.time" "$r/grep.out" \
          env LC_ALL=C grep -F -n -f "$d/literals.txt" "$input"
      else
        timed "rg -F ($n)" "$r/rg.time" "$r/rg.out" \
          rg --no-config -F -n --no-filename -f "$d/literals.txt" "$input"
      fi
      $PY lines-prefix "$r/$tool.out" >"$r/$tool.lines"
      label=$tool
      [ "$tool" = grep ] && label="grep -F"
      [ "$tool" = rg ] && label="rg -F"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$n" "$d" "$ibytes" "$ilines" "$r/$tool.time" "$r/$tool.lines" "$note" >>"$RUNS"
      rm -f "$r/$tool.out"
    done

    if want grepcidr; then
      timed "grepcidr ($n)" "$r/grepcidr.time" "$r/grepcidr.out" \
        grepcidr -f "$d/cidrs.txt" "$d/corpus.log"
      $PY lines-content "$r/grepcidr.out" "$d/corpus.log" >"$r/grepcidr.lines"
      printf 'grepcidr\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$d" "$bytes" "$lines" "$r/grepcidr.time" "$r/grepcidr.lines" "" >>"$RUNS"
      rm -f "$r/grepcidr.out"
    fi
  done

  REPORT="$DATA/report-$SIZE_MB.md"
  {
    echo "## iocd vs other tools: ${SIZE_MB} MB generated corpus, seed $SEED"
    echo
    versions=()
    if want iocd; then
      if [ -n "${IOCD_BIN:-}" ]; then
        versions+=("$("$IOCD" --version 2>/dev/null | sed -n 1p || true) ($IOCD_BIN)")
      else
        versions+=("$("$IOCD" --version 2>/dev/null | sed -n 1p || true) (tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo ' with local changes'))")
      fi
    fi
    want matchy && versions+=("matchy $MATCHY_VERSION")
    # (grepcidr -V exits with status 1; `|| true` keeps set -e out of these.)
    want grep && versions+=("$(grep --version 2>/dev/null | sed -n 1p || true) (LC_ALL=C)")
    want rg && versions+=("$(rg --version 2>/dev/null | sed -n 1p || true)")
    want grepcidr && versions+=("grepcidr $(grepcidr -V 2>&1 | grep -o '[0-9][0-9.]*' | sed -n 1p || true)")
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg)" \
      "at the end; $(IFS=';'; echo "${versions[*]}" | sed 's/;/, /g')."
    echo
    $PY report "$RUNS"
  } >"$REPORT"
  cat "$REPORT"
fi

if ((REAL)); then
  echo
  if [ ! -d "$SHARED/logs" ] || [ ! -d "$SHARED/feeds" ]; then
    echo "--real: no real data at $SHARED (set IOCD_SHARED_DATA); skipped."
    exit 0
  fi
  R="$DATA/real"
  mkdir -p "$R"
  $PY concat "$SHARED/logs" >"$R/logs.log"
  FEEDS=()
  for f in ipsum/ipsum.txt abusech/threatfox_ioc_ips_elliotwutingfeng.txt \
    spamhaus/drop.txt spamhaus/edrop.txt spamhaus/drop_ipv6.txt \
    eset/eset_all_samples.md5.txt eset/eset_all_samples.sha1.txt eset/eset_all_samples.sha256.txt \
    urlhaus_filter/urlhaus-filter-domains.txt signature-base/c2-iocs.txt; do
    [ -f "$SHARED/feeds/$f" ] && FEEDS+=("$SHARED/feeds/$f")
  done
  for f in "$SHARED"/feeds/maltrail/*.txt; do
    case "$f" in */worst_asns.txt) ;; *) FEEDS+=("$f") ;; esac
  done
  $PY feed-literals "${FEEDS[@]}" >"$R/literals.txt"
  IOCS_ARGS=()
  for f in "${FEEDS[@]}"; do IOCS_ARGS+=(--iocs "$f"); done
  timed "iocd (real)" "$R/iocd.time" "$R/iocd.out" "$IOCD" scan "${SCAN_FLAGS[@]}" "${IOCS_ARGS[@]}" "$R/logs.log"
  timed "grep -F (real)" "$R/grep.time" "$R/grep.out" env LC_ALL=C grep -F -n -f "$R/literals.txt" "$R/logs.log"
  $PY lines-prefix "$R/grep.out" >"$R/grep.lines"
  echo "## iocd vs grep -F on the real logs"
  echo
  echo "$(wc -l <"$R/logs.log") lines ($(stat -c %s "$R/logs.log") bytes) from $SHARED/logs; ${#FEEDS[@]} plain-list feeds;" \
    "grep gets $(wc -l <"$R/literals.txt") literals (comments, blank lines and CIDRs dropped, first column kept, nothing refanged)."
  echo
  $PY real-compare "$R/logs.log" "$R/iocd.out" "$R/grep.lines" "$R/literals.txt"
fi
