#!/usr/bin/env python3
"""Helpers for scripts/bench-compare.sh (stdlib only).

Subcommands:
  lines-iocd OUT             1-based line numbers from `iocd scan` JSON lines (iocd.source.line)
  lines-prefix OUT           line numbers from `grep -n` / `rg -n` output (`N:line`)
  lines-content OUT CORPUS   line numbers of the CORPUS lines that OUT prints (for grepcidr)
  lines-matchy OUT           line numbers from `matchy match` NDJSON of a corpus run through
                             `matchy-marked` (the marker's matches close each line)
  matchy-iocs DIR            matchy's text input from the indicator files of DIR (see below)
  matchy-marked CORPUS       CORPUS with the marker line after every line, to stdout
  slice CORPUS MB OUT        first MB megabytes of CORPUS, cut at a line end; prints its line count
  estimate TOOL N            expected MB/s of grep or rg -F with N literals (from measurements)
  report RUNS.tsv            markdown table: speed, memory, precision, recall, traps
  concat DIR                 every file under DIR (sorted), each ending in a newline, to stdout
  feed-literals FEED...      the literals a grep user would feed to `grep -F -f` from plain lists
  real-compare ...           iocd vs grep on real logs (see bench-compare.sh --real)
"""

import json
import math
import os
import random
import re
import sys


def out(s=""):
    sys.stdout.write(s + "\n")


# --- extracting line numbers ---------------------------------------------------------------


def json_fields(path, what, field):
    """`field(object)` of each JSON line of `path`; exits naming `what` on a line that is not."""
    with open(path, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                yield field(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                sys.exit(f"{what}: {raw[:200]!r}")


def lines_iocd(path):
    for n in json_fields(path, "lines-iocd: not an iocd alert", lambda v: v["iocd"]["source"]["line"]):
        out(str(n))


def lines_prefix(path):
    w = sys.stdout
    with open(path, "rb") as f:
        for raw in f:
            i = raw.find(b":")
            if i > 0 and raw[:i].isdigit():
                w.write(raw[:i].decode() + "\n")


def lines_content(out_path, corpus):
    want = set()
    with open(out_path, "rb") as f:
        for raw in f:
            want.add(raw.rstrip(b"\n"))
    if not want:
        return
    w = sys.stdout
    with open(corpus, "rb") as f:
        for n, raw in enumerate(f, 1):
            if raw.rstrip(b"\n") in want:
                w.write(f"{n}\n")


# matchy 2.x prints one NDJSON object per match (`matched_text`, `match_type`, the input path,
# a timestamp) and no line number or line. To score it, a second, untimed run reads the corpus
# with this marker line after every line: the marker address is in matchy's database (one
# entry more, in the timed run too), so the matches of corpus line k are those printed between
# the (k-1)-th and the k-th marker match. 255.255.255.254 is in no generated set or line.
MATCHY_MARKER = "255.255.255.254"


def lines_matchy(path):
    w = sys.stdout
    line = 1
    hit = False
    for text in json_fields(path, "lines-matchy: not a matchy match", lambda v: v["matched_text"]):
        if text == MATCHY_MARKER:
            if hit:
                w.write(f"{line}\n")
            line += 1
            hit = False
        else:
            hit = True
    if hit:
        sys.exit("lines-matchy: matches after the last marker (was the input marked?)")


def matchy_marked(corpus):
    w = sys.stdout.buffer
    marker = MATCHY_MARKER.encode() + b"\n"
    with open(corpus, "rb") as f:
        for raw in f:
            w.write(raw if raw.endswith(b"\n") else raw + b"\n")
            w.write(marker)


def matchy_iocs(directory):
    """The indicators of an iocd-corpus set that matchy's database can express, one per line
    for `matchy build` (text format: an address or CIDR goes to the IP tree, a line with `*`,
    `?` or `[` is a glob, anything else a literal): addresses, IPv4 and IPv6 CIDRs, hashes,
    e-mail addresses and domains; a domain iocd also matches in its subdomains (every domain
    not listed `domain-exact:`) as itself and the glob `*.domain`. URLs, URL prefixes and free
    strings are left out: matchy looks up only the tokens its extractors pull out of a line
    (IPv4, IPv6, domains, e-mail addresses, hashes, crypto wallets), so no URL or string entry
    could ever match, and a URL's `?` or `[` would turn it into a glob. Then the marker
    address (see lines-matchy)."""
    exact, skip = set(), set()
    cidrs = []
    with open(os.path.join(directory, "iocs.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("domain-exact:"):
                exact.add(line.split(":", 1)[1])
            elif line.startswith(("string:", "istring:", "url-prefix:")):
                skip.add(line.split(":", 1)[1])
            elif "/" in line and "://" not in line and not line.startswith("#"):
                v = line.split("#", 1)[0].strip()
                if CIDR.match(v):
                    cidrs.append(v.lower())
    seen = set()
    w = sys.stdout
    with open(os.path.join(directory, "literals.txt"), encoding="utf-8") as f:
        for v in f:
            v = v.rstrip("\n")
            if not v or v in skip or v in seen:
                continue
            seen.add(v)
            k = kind_of(v)
            if k in ("url", "string"):
                continue
            w.write(v + "\n")
            if k == "domain" and v not in exact:
                w.write("*." + v + "\n")
    for c in cidrs:
        w.write(c + "\n")
    w.write(MATCHY_MARKER + "\n")


def make_slice(corpus, mb, dest):
    limit = int(float(mb) * 1e6)
    lines = 0
    with open(corpus, "rb") as f, open(dest, "wb") as o:
        done = 0
        for raw in f:
            if done + len(raw) > limit and lines > 0:
                break
            o.write(raw)
            done += len(raw)
            lines += 1
    out(str(lines))


# grep -F / rg -F speed with N literals on log text, MB/s: (N, grep, rg). grep's figures and
# rg's at 1M are from shared/PERF-NOTES.md; rg's at 10k and 100k were measured by this script
# on the generated corpus (2 busy cores). Log-log interpolation between them; only used to
# decide when a run needs a slice.
RATES = [(10_000, 35.0, 40.0), (100_000, 17.0, 10.0), (1_000_000, 5.0, 2.0)]


def estimate(tool, n):
    col = 1 if tool == "grep" else 2
    n = max(int(n), 1)
    pts = [(math.log(p[0]), math.log(p[col])) for p in RATES]
    x = math.log(n)
    if x <= pts[0][0]:
        return math.exp(pts[0][1])
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1:
            return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    return math.exp(y1 + (y1 - y0) * (x - x1) / (x1 - x0))


# --- the report ------------------------------------------------------------------------------


def parse_time(path):
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) from GNU time -v output."""
    wall, rss, cpu = None, None, 0.0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("Elapsed (wall clock) time"):
                t = line.rsplit(": ", 1)[1]
                secs = 0.0
                for part in t.split(":"):
                    secs = secs * 60 + float(part)
                wall = secs
            elif line.startswith("Maximum resident set size"):
                rss = int(line.rsplit(": ", 1)[1])
            elif line.startswith(("User time", "System time")):
                cpu += float(line.rsplit(": ", 1)[1])
    return wall, cpu, rss


def kind_of(value):
    """The kind of a canonical indicator value from truth.tsv."""
    if "://" in value:
        return "url"
    if " " in value:
        return "string"
    if "/" in value:
        return "cidr6" if ":" in value else "cidr4"
    if "@" in value:
        return "email"
    if re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", value):
        return "hash"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        return "ipv4"
    if ":" in value:
        return "ipv6"
    if "." not in value:
        return "string"
    return "domain"


# Which planted kinds each tool's input can find at all.
SCOPE = {
    "grep": lambda k: k not in ("cidr4", "cidr6"),
    "rg": lambda k: k not in ("cidr4", "cidr6"),
    "grepcidr": lambda k: k in ("ipv4", "cidr4"),
    # What matchy-iocs gives it: URLs, URL prefixes and free strings are out.
    "matchy": lambda k: k in ("ipv4", "cidr4", "ipv6", "cidr6", "domain", "email", "hash"),
}


def read_truth(path, max_line):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            n = int(parts[0])
            if n <= max_line:
                rows[n] = parts
    return rows


def read_lines(path):
    s = set()
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                s.add(int(line))
    return s


def pct(a, b):
    return "n/a" if b == 0 else f"{100.0 * a / b:.1f}%"


def report(runs_path):
    runs = []
    with open(runs_path) as f:
        for line in f:
            if not line.strip():
                continue
            tool, n, data, nbytes, nlines, tfile, lfile, note = line.rstrip("\n").split("\t")
            runs.append(
                dict(
                    tool=tool,
                    n=int(n),
                    data=data,
                    bytes=int(nbytes),
                    lines=int(nlines),
                    tfile=tfile,
                    lfile=lfile,
                    note=note,
                )
            )
    iocd_rate = {}
    matchy_rate = {}
    rows = []
    notes = []
    for r in runs:
        wall, cpu, rss = parse_time(r["tfile"])
        mbs = r["bytes"] / 1e6 / wall if wall else float("nan")
        mb_cpu = r["bytes"] / 1e6 / cpu if cpu else float("nan")
        if r["tool"] == "iocd":
            iocd_rate[r["n"]] = mbs
        if r["tool"] == "matchy":
            matchy_rate[r["n"]] = mbs
        truth = read_truth(os.path.join(r["data"], "truth.tsv"), r["lines"])
        traps = read_truth(os.path.join(r["data"], "traps.tsv"), r["lines"])
        got = read_lines(r["lfile"])
        tp = len(got & truth.keys())
        base = r["tool"].split(" ")[0]
        in_scope = SCOPE.get(base, lambda k: True)
        scoped = {n for n, row in truth.items() if in_scope(kind_of(row[1]))}
        rows.append(
            dict(
                r,
                wall=wall,
                cpu=cpu,
                mb_cpu=mb_cpu,
                rss=rss,
                mbs=mbs,
                reported=len(got),
                precision=pct(tp, len(got)),
                recall=pct(tp, len(truth)),
                scoped=pct(len(got & scoped), len(scoped)),
                traps=len(got & traps.keys()),
                ntraps=len(traps),
                ntruth=len(truth),
            )
        )
        if r["note"]:
            notes.append(f"{r['tool']} at {r['n']:,} indicators: {r['note']}")
    vs_matchy = bool(matchy_rate)
    out(
        "| indicators | tool | MB/s | vs iocd "
        + ("| vs matchy " if vs_matchy else "")
        + "| wall s | CPU s | MB/CPU-s | peak RSS MiB "
        "| lines reported | precision | recall | recall in scope | trap lines reported |"
    )
    out("|---:|---|---:|---:|" + ("---:|" if vs_matchy else "") + "---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def ratio(r, rates):
        return f"{r['mbs'] / rates[r['n']]:.3f}x" if rates.get(r["n"]) else "-"

    for r in rows:
        sliced = r["bytes"] < os.path.getsize(os.path.join(r["data"], "corpus.log"))
        size = f" ({r['bytes'] / 1e6:.0f} MB slice)" if sliced else ""
        vm = f"| {ratio(r, matchy_rate)} " if vs_matchy else ""
        out(
            f"| {r['n']:,} | {r['tool']}{size} | {r['mbs']:.1f} | {ratio(r, iocd_rate)} {vm}| {r['wall']:.2f} "
            f"| {r['cpu']:.2f} | {r['mb_cpu']:.1f} | {r['rss'] / 1024:.0f} | {r['reported']:,} | {r['precision']} | {r['recall']} "
            f"| {r['scoped']} | {r['traps']} of {r['ntraps']} |"
        )
    out()
    if vs_matchy:
        for mine in ("iocd --threads 1", "iocd --set --threads 1"):
            one = {r["n"]: r for r in rows if r["tool"] == mine}
            parts = []
            for r in rows:
                o = one.get(r["n"])
                if r["tool"] == "matchy" and o and r["wall"] and r["cpu"]:
                    parts.append(
                        f"{r['n']:,} indicators {r['wall'] / o['wall']:.2f}x by wall time, "
                        f"{r['cpu'] / o['cpu']:.2f}x by CPU time"
                    )
            if parts:
                out(
                    f"{mine} against matchy --threads 1 (same run, same input; how many times "
                    "faster iocd is): " + "; ".join(parts) + "."
                )
                out()
    out(
        "precision = reported lines that hold a planted indicator / reported lines; recall = "
        "planted lines reported / planted lines; in scope = only the planted kinds the tool's "
        "input can express (grep, rg: no CIDRs; grepcidr: IPv4 and IPv4 CIDRs; matchy: "
        "addresses, CIDRs, domains, e-mail addresses and hashes, no URLs or free strings); trap "
        "lines hold a token that contains an indicator as a substring but must not match it "
        "under the contract, and nothing else. Times include loading/compiling the indicators, "
        "except matchy's, whose database is built beforehand (its build time is in the notes). "
        "MB/s is wall-clock; MB/CPU-s (user + system time) is the figure to trust when the "
        "machine is busy with other work."
    )
    for n in notes:
        out(f"- {n}")


# --- real data ---------------------------------------------------------------------------------


def concat(directory):
    w = sys.stdout.buffer
    for root, dirs, files in sorted(os.walk(directory)):
        dirs.sort()
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            if not data:
                continue
            w.write(data)
            if not data.endswith(b"\n"):
                w.write(b"\n")


CIDR = re.compile(r"^[0-9.]+/\d+$|^[0-9a-fA-F:]+/\d+$")


def feed_literals(paths):
    """What a grep user makes of plain lists: comments, blanks and CIDRs dropped, the first
    column kept, nothing refanged or normalized."""
    seen = set()
    for p in paths:
        with open(p, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").lstrip("\ufeff")
                if line.lstrip().startswith("#"):
                    continue
                line = re.split(r"\s#", line, maxsplit=1)[0]
                line = re.split(r"[\t;,]", line, maxsplit=1)[0].strip()
                if not line or CIDR.match(line) or line in seen:
                    continue
                seen.add(line)
                out(line)


def real_compare(log, iocd_out, grep_lines, literals, sample=10):
    with open(log, "rb") as f:
        lines = f.read().split(b"\n")
    iocd = {}
    with open(iocd_out, "rb") as f:
        for raw in f:
            if raw.strip():
                v = json.loads(raw)
                iocd[v["iocd"]["source"]["line"]] = [
                    f"{m.get('kind')}:{m.get('indicator')}" for m in v["iocd"].get("matches", [])
                ]
    grep = read_lines(grep_lines)
    both = grep & iocd.keys()
    out(f"log lines                 {len(lines) - (1 if lines and lines[-1] == b'' else 0):,}")
    out(f"lines reported by iocd    {len(iocd):,}")
    out(f"lines reported by grep -F {len(grep):,}")
    out(f"reported by both          {len(both):,}")
    only_grep = sorted(grep - iocd.keys())
    only_iocd = sorted(iocd.keys() - grep)
    out(f"grep only                 {len(only_grep):,}")
    out(f"iocd only                 {len(only_iocd):,}")
    kinds = {}
    for n in only_iocd:
        for k in sorted({m.split(":", 1)[0] for m in iocd[n]}):
            kinds[k] = kinds.get(k, 0) + 1
    out("iocd only, by kind matched " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    with open(literals, encoding="utf-8", errors="replace") as f:
        lits = [l.rstrip("\n") for l in f if l.strip()]
    rnd = random.Random(1)

    def show(n, why):
        text = lines[n - 1].decode("utf-8", "replace").rstrip("\r")
        if len(text) > 300:
            text = text[:300] + "..."
        out(f"  line {n}: {why}")
        out(f"    {text}")

    out()
    out(f"A sample of lines grep reports and iocd does not (up to {sample}), with the literals grep found:")
    for n in sorted(rnd.sample(only_grep, min(sample, len(only_grep)))):
        text = lines[n - 1].decode("utf-8", "replace")
        found = [l for l in lits if l in text][:5]
        show(n, "grep literal(s) " + ", ".join(repr(x) for x in found))
    out()
    out(f"A sample of lines iocd reports and grep does not (up to {sample}), with what iocd matched:")
    for n in sorted(rnd.sample(only_iocd, min(sample, len(only_iocd)))):
        show(n, "iocd " + ", ".join(iocd[n][:5]))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "lines-iocd":
        lines_iocd(*args)
    elif cmd == "lines-prefix":
        lines_prefix(*args)
    elif cmd == "lines-content":
        lines_content(*args)
    elif cmd == "lines-matchy":
        lines_matchy(*args)
    elif cmd == "matchy-iocs":
        matchy_iocs(*args)
    elif cmd == "matchy-marked":
        matchy_marked(*args)
    elif cmd == "slice":
        make_slice(*args)
    elif cmd == "estimate":
        out(f"{estimate(*args):.2f}")
    elif cmd == "report":
        report(*args)
    elif cmd == "concat":
        concat(*args)
    elif cmd == "feed-literals":
        feed_literals(args)
    elif cmd == "real-compare":
        real_compare(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
