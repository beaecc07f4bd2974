//! The batch retro-hunt behind `iocd scan`: every core on one input, output in input order.
//!
//! ```text
//! reader ──chunks (4 MiB, whole lines)──▶ workers × N ──results (hit lines only)──▶ writer
//!    ▲                                        │
//!    └──────────── empty buffers ◀────────────┘
//! ```
//!
//! The reader fills recycled buffers with whole lines; a worker scans a whole chunk in one call
//! (tokens never span a line break), finds the lines of its hits, decodes just those lines
//! (which field matched, the flow's two ends, the action: [`DecodedLine`], as the daemon does)
//! and hands the buffer back. The writer puts results back in input order, numbers the lines
//! and writes alerts. Every channel is bounded and the buffer pool is fixed, so memory stays at
//! about `(2 × threads + 2) × 4 MiB` whatever the input size, and a slow output stalls the reader
//! instead of growing a queue.
//!
//! # Zeek TSV
//!
//! A Zeek ASCII log names its columns only in the `#fields` line at its top, which one chunk
//! has and the next ones do not. The reader, which sees the input in order, keeps the header
//! ([`ZeekStream`]): it finds the lines of each chunk that start with `#` (one `memmem` pass for
//! `\n#`) and gives the chunk the header in effect at its start plus each change with the offset
//! it takes effect at, so a header inside a chunk applies to the lines after it. When only
//! counting with no URL indicator, nothing is decoded and the reader skips this.
//!
//! # URLs split across fields
//!
//! A URL indicator also matches a line whose decoded fields split it into host and path
//! (Zeek `http.log`, Suricata EVE `http`, ECS `url.domain` + `url.path`): the engine notes
//! the name tokens that are the host of some URL indicator
//! ([`iocd_engine::Scratch::url_host_tokens`]), and only those lines are decoded to put
//! the URL back together ([`crate::alert::add_split_url_hits`]), as in the daemon.

mod input;
mod summary;
mod text;
mod triaged;

pub use input::{Compression, Counted, Globs, Input, WalkOptions, decompressed, expand};
pub use summary::{Row, Summary};
pub use triaged::ScanTriage;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, bounded};

use chrono::{DateTime, FixedOffset, Local};

use crate::alert::{
    Context, DecodedLine, LineFields, Origin, SyslogFields, TriageFields, add_split_url_hits,
    write_alert_as,
};
use crate::config::AlertFormat;
use crate::config::triage::TriageConfig;
use crate::decode::event::{ZeekHeader, ZeekStream, hash_lines};
use crate::decode::syslog;
use crate::decode::time::event_time;
use crate::time::{Digits, rfc3339, rfc3339_system};
use crate::triage::assets::Assets;
use crate::triage::{LineHits, internal_host};
use iocd_engine::{Hit, IocKind, IocSet, Scratch, for_each_hit_line};

/// Size of one chunk. Big enough that per-chunk overhead vanishes, small enough that a few per
/// thread stay in memory.
const CHUNK: usize = 4 << 20;

/// What to do with lines that hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// One alert per line with hits: ECS JSON (the daemon's alerts), OCSF or CEF.
    Alerts(AlertFormat),
    /// For people: `file:line:`, the line with its matches highlighted (ANSI colours when
    /// `color`), and each indicator with its kind and feeds.
    Text { color: bool },
    /// Each matched token on its own line, `file:line:token`.
    OnlyMatching { color: bool },
    /// Only count the lines with hits.
    Count,
    /// Nothing per line: every hit goes into the [`Summary`].
    Summary,
}

impl Output {
    /// Whether hit lines are kept for the writer.
    fn keeps_lines(self) -> bool {
        self != Output::Count
    }

    /// Whether hit lines are decoded (fields, syslog header, event time).
    fn decodes(self) -> bool {
        matches!(self, Output::Alerts(_) | Output::Summary)
    }
}

/// Options of one scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Worker threads; at least 1.
    pub threads: usize,
    pub output: Output,
    /// Alerts go through [`ScanState::triage`] (with [`Output::Alerts`] only).
    pub triage: bool,
    /// Which addresses are internal (the `[triage]` of a configuration), for directions and
    /// the summary's internal hosts; `None`: the default private ranges.
    pub internal: Option<Arc<Assets>>,
}

/// What a scan keeps across its inputs.
#[derive(Default)]
pub struct ScanState {
    /// Filled with [`Output::Summary`].
    pub summary: Summary,
    /// Set for `--triage` (with [`ScanOptions::triage`]).
    pub triage: Option<ScanTriage>,
}

/// Counters of a scan; they add up across inputs.
#[derive(Clone, Debug, Default)]
pub struct ScanStats {
    pub lines: u64,
    pub bytes: u64,
    /// Lines with at least one hit.
    pub hit_lines: u64,
    /// Hits by kind, indexed like [`IocKind::ALL`].
    pub hits_by_kind: [u64; 10],
    pub elapsed: Duration,
}

impl ScanStats {
    pub fn add(&mut self, o: &ScanStats) {
        self.lines += o.lines;
        self.bytes += o.bytes;
        self.hit_lines += o.hit_lines;
        for (a, b) in self.hits_by_kind.iter_mut().zip(o.hits_by_kind) {
            *a += b;
        }
        self.elapsed += o.elapsed;
    }

    pub fn hits(&self) -> u64 {
        self.hits_by_kind.iter().sum()
    }

    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Chunk {
    seq: u64,
    buf: Vec<u8>,
    /// The Zeek header in effect from each offset on, in order: the one of the chunk's start
    /// at 0 (when there is one), then each change at the start of the line after its header
    /// line. Empty when only counting.
    zeek: Vec<(usize, Option<Arc<ZeekHeader>>)>,
}

impl Chunk {
    /// The Zeek header the line starting at `at` is read with.
    fn zeek_at(&self, at: usize) -> Option<&ZeekHeader> {
        let i = self.zeek.partition_point(|(from, _)| *from <= at);
        i.checked_sub(1).and_then(|i| self.zeek[i].1.as_deref())
    }
}

/// A worker's findings in one chunk.
struct Found {
    seq: u64,
    lines: u64,
    bytes: u64,
    hit_lines: Vec<HitLine>,
    hits_by_kind: [u64; 10],
}

/// A line with hits.
struct HitLine {
    /// Index of the line in its chunk.
    index: u64,
    /// The line (empty when only counting).
    text: Vec<u8>,
    /// Its hits, relative to the line.
    hits: Vec<Hit>,
    /// What the decoded line says (alerts only, when its format is known).
    fields: Option<LineFields>,
    /// Its syslog header, when it has one (when decoded).
    syslog: Option<SyslogFields>,
    /// The time it says its event happened (when decoded).
    time: Option<DateTime<FixedOffset>>,
    /// The internal host of each hit, in the order of `hits` (summary only).
    hosts: Vec<Option<String>>,
    /// The decoded line, for the writer's triage (with triage only).
    decoded: Option<DecodedLine>,
}

/// What scanning one input did.
#[derive(Debug)]
pub struct Scanned {
    /// Counters of what was read (up to the error, if any).
    pub stats: ScanStats,
    /// Why reading the input stopped early (unreadable, truncated or corrupt compressed
    /// data): the lines before it were scanned and their alerts written.
    pub input_error: Option<io::Error>,
}

/// What alerts say about the input a line came from.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// `iocd.source.file` (`-` for standard input).
    pub name: &'a str,
    /// When the file was last written: RFC 3164 syslog times, which have no year, are dated
    /// in the year before it at the latest ([`syslog::parse_in_file`]). `None` (standard
    /// input): the time of the scan.
    pub modified: Option<SystemTime>,
}

/// Scans one input and writes its alerts (or nothing, when counting) to `out` in input order.
///
/// `progress` is called with the counters so far (bytes, hit lines) as chunks are written; with [`Output::Summary`], hits go
/// into `state.summary` instead of `out`; with [`ScanOptions::triage`], alerts are those of
/// `state.triage`. An error reading the input ends this input
/// ([`Scanned::input_error`]); `Err` is an error writing `out`.
///
/// Each alert's `@timestamp` is the time its line says ([`event_time`]), with the time of
/// the scan in `event.created`; a line that says none has the scan's time, and
/// `iocd.timestamp_from` says which (`line` or `scan`).
pub fn scan_reader(
    set: &IocSet,
    input: &mut (dyn Read + Send),
    source: &Source<'_>,
    opts: &ScanOptions,
    out: &mut dyn Write,
    state: &mut ScanState,
    progress: &mut dyn FnMut(&ScanStats),
) -> io::Result<Scanned> {
    let started = Instant::now();
    let threads = opts.threads.max(1);
    let pool = 2 * threads + 2;
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(pool);
    let (free_tx, free_rx) = bounded::<Vec<u8>>(pool);
    let (found_tx, found_rx) = bounded::<Found>(pool);
    for _ in 0..pool {
        free_tx.send(Vec::with_capacity(CHUNK)).expect("pool fits");
    }
    let now = SystemTime::now();
    let timestamp = rfc3339_system(now, Digits::Secs);
    let keep_lines = opts.output.keeps_lines();
    let reference = DateTime::<Local>::from(source.modified.unwrap_or(now)).fixed_offset();

    std::thread::scope(|scope| {
        // Zeek headers are needed to decode hit lines, and to put URLs split across Zeek
        // fields back together even when only counting.
        let has_urls = set
            .counts()
            .iter()
            .any(|&(k, n)| k == IocKind::Url && n > 0);
        let track_zeek = keep_lines || has_urls;
        let reader = scope.spawn(move || read_chunks(input, chunk_tx, free_rx, track_zeek));
        for _ in 0..threads {
            let (rx, free, tx) = (chunk_rx.clone(), free_tx.clone(), found_tx.clone());
            let (output, triage) = (opts.output, opts.triage);
            let assets = opts
                .internal
                .clone()
                .unwrap_or_else(|| Arc::new(Assets::new(&TriageConfig::default())));
            let how = How {
                output,
                triage,
                reference,
                assets,
            };
            scope.spawn(move || work(set, rx, free, tx, how));
        }
        drop(found_tx);
        drop(chunk_rx);
        let written = write_in_order(
            set,
            found_rx,
            source.name,
            &timestamp,
            opts,
            Writer {
                out,
                state,
                progress,
            },
        );
        let read = reader.join().expect("reader thread panicked");
        let mut stats = written?;
        stats.elapsed = started.elapsed();
        Ok(Scanned {
            stats,
            input_error: read.err(),
        })
    })
}

fn read_chunks(
    input: &mut (dyn Read + Send),
    tx: Sender<Chunk>,
    free: Receiver<Vec<u8>>,
    track_zeek: bool,
) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0;
    let mut zeek = ZeekStream::new();
    loop {
        // The pool only runs dry for good when the writer failed; it reports why.
        let Ok(mut buf) = free.recv() else {
            return Ok(());
        };
        buf.clear();
        buf.append(&mut carry);
        let mut eof = false;
        let mut failed = None;
        let mut target = CHUNK;
        loop {
            if buf.len() < target {
                let want = target - buf.len();
                // On an error, what was read before it is in `buf`: it is scanned, then the
                // error ends the input.
                let n = match (&mut *input).take(want as u64).read_to_end(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        failed = Some(e);
                        eof = true;
                        break;
                    }
                };
                if n < want {
                    eof = true;
                    break;
                }
            }
            if memchr::memrchr(b'\n', &buf).is_some() {
                break;
            }
            // A line longer than a chunk: grow this buffer until the line ends.
            target += CHUNK;
        }
        if !eof {
            let cut = memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
            carry.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
        }
        if !buf.is_empty() {
            let zeek = if track_zeek {
                zeek_changes(&mut zeek, &buf)
            } else {
                Vec::new()
            };
            if tx.send(Chunk { seq, buf, zeek }).is_err() {
                return Ok(());
            }
            seq += 1;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if eof {
            return Ok(());
        }
    }
}

/// The chunk's [`Chunk::zeek`], and `stream` brought past the chunk.
fn zeek_changes(stream: &mut ZeekStream, buf: &[u8]) -> Vec<(usize, Option<Arc<ZeekHeader>>)> {
    let mut changes = Vec::new();
    if let Some(h) = stream.current() {
        changes.push((0, Some(h.clone())));
    }
    for line in hash_lines(buf) {
        if stream.update(&buf[line.clone()]) {
            changes.push((line.end, stream.current().cloned()));
        }
    }
    changes
}

/// What a worker does with the lines that hit.
struct How {
    output: Output,
    /// Keep the decoded line for the writer's triage.
    triage: bool,
    /// The input's modification time, for RFC 3164 years.
    reference: DateTime<FixedOffset>,
    /// Which addresses are internal.
    assets: Arc<Assets>,
}

fn work(set: &IocSet, rx: Receiver<Chunk>, free: Sender<Vec<u8>>, tx: Sender<Found>, how: How) {
    let How {
        output,
        triage,
        reference,
        assets,
    } = how;
    let keep_lines = output.keeps_lines();
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    for chunk in rx {
        let Chunk { seq, ref buf, .. } = chunk;
        hits.clear();
        set.scan(buf, &mut scratch, &mut hits);
        // Lines that name the host of a URL indicator: is the URL split across their fields?
        if !scratch.url_host_tokens().is_empty() {
            let tokens = scratch.url_host_tokens().to_vec();
            let zeek = |at: usize| chunk.zeek_at(at);
            add_split_url_hits(set, buf, &tokens, zeek, &mut scratch, &mut hits);
        }
        let mut found = Found {
            seq,
            lines: 0,
            bytes: buf.len() as u64,
            hit_lines: Vec::new(),
            hits_by_kind: [0; 10],
        };
        let mut counted_to = 0;
        let mut line_no = 0u64;
        for_each_hit_line(buf, &hits, |start, end, line_hits| {
            line_no += memchr::memchr_iter(b'\n', &buf[counted_to..start]).count() as u64;
            counted_to = start;
            for h in line_hits {
                found.hits_by_kind[set.kind(h.id).index()] += 1;
            }
            let mut hit = HitLine {
                index: line_no,
                text: Vec::new(),
                hits: line_hits.to_vec(),
                fields: None,
                syslog: None,
                time: None,
                hosts: Vec::new(),
                decoded: None,
            };
            let line = &buf[start..end];
            if output.decodes() {
                let internal = |ip| assets.is_internal(ip);
                let decoded = DecodedLine::new(line, chunk.zeek_at(start), internal);
                hit.fields = decoded.fields(line, line_hits, decoded.facts.direction);
                let header = syslog::parse_in_file(line, reference);
                hit.time = event_time(line, decoded.event.as_ref(), header.as_ref());
                if output == Output::Summary {
                    let hostname = header.as_ref().and_then(|h| h.hostname.as_deref());
                    hit.hosts = line_hits
                        .iter()
                        .map(|h| {
                            let field = decoded
                                .event
                                .as_ref()
                                .and_then(|e| e.field_at(h.start..h.end))
                                .map(|f| f.name.as_ref());
                            internal_host(&decoded.facts, field, hostname, &assets)
                        })
                        .collect();
                }
                hit.syslog = header.map(|h| h.to_alert_fields());
                if triage {
                    hit.decoded = Some(decoded);
                }
            }
            if keep_lines {
                hit.text = line.to_vec();
            }
            found.hit_lines.push(hit);
        });
        line_no += memchr::memchr_iter(b'\n', &buf[counted_to..]).count() as u64;
        // A last line without a line feed is still a line.
        found.lines = line_no + u64::from(buf.last() != Some(&b'\n'));
        // The reader is gone once the input ended; the buffer is then simply dropped.
        let _ = free.send(chunk.buf);
        if tx.send(found).is_err() {
            return;
        }
    }
}

/// Where the writer puts what it finds.
struct Writer<'a> {
    out: &'a mut dyn Write,
    state: &'a mut ScanState,
    progress: &'a mut dyn FnMut(&ScanStats),
}

/// Appends one of triage's own alerts (roll-up, flood report, digest) in `format`.
fn push_record(buf: &mut Vec<u8>, format: AlertFormat, o: &crate::triage::Outgoing) {
    buf.extend_from_slice(&crate::alert::in_format(&crate::alert::record(o), format));
    buf.push(b'\n');
}

fn write_in_order(
    set: &IocSet,
    rx: Receiver<Found>,
    name: &str,
    timestamp: &str,
    opts: &ScanOptions,
    w: Writer<'_>,
) -> io::Result<ScanStats> {
    let Writer {
        out,
        state,
        progress,
    } = w;
    let ScanState { summary, triage } = state;
    let triage = triage.as_mut().filter(|_| opts.triage);
    let mut stats = ScanStats::default();
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut ecs = Vec::new();
    let mut text = String::new();
    let mut triage = triage;
    for found in rx {
        pending.insert(found.seq, found);
        while let Some(f) = pending.remove(&next) {
            next += 1;
            for h in &f.hit_lines {
                stats.hit_lines += 1;
                let line_no = stats.lines + h.index + 1;
                match opts.output {
                    Output::Alerts(format) => {
                        let time = h.time.map(|t| rfc3339(&t, Digits::Auto));
                        let mut cx = Context {
                            now: timestamp,
                            origin: Origin {
                                file: Some(name),
                                line: Some(line_no),
                                ..Origin::default()
                            },
                            dataset: "iocd.scan",
                            line: h.fields.as_ref(),
                            syslog: h.syslog.clone(),
                            event_time: time.as_deref(),
                            mark_time_source: true,
                            ..Context::default()
                        };
                        ecs.clear();
                        match (&mut triage, &h.decoded) {
                            (Some(tr), Some(d)) => {
                                let (t, tally, due) =
                                    tr.advance(h.time.map(|t| t.timestamp_millis()));
                                for o in due {
                                    push_record(&mut buf, format, &o);
                                }
                                let hostname =
                                    h.syslog.as_ref().and_then(|s| s.hostname.as_deref());
                                let line = LineHits {
                                    set,
                                    generation: 1,
                                    event: d.event.as_ref(),
                                    facts: &d.facts,
                                    hostname,
                                    hits: &h.hits,
                                };
                                let a = t.assess(&line, tally);
                                for o in a.extra {
                                    push_record(&mut buf, format, &o);
                                }
                                // Suppressed (duplicate, allowlisted), or only into a digest.
                                let Some(v) = a.verdict.filter(|v| v.immediate) else {
                                    continue;
                                };
                                let shown: Vec<Hit> = v.kept.iter().map(|k| k.hit).collect();
                                let fields = d.fields(&h.text, &shown, v.direction);
                                let tf = TriageFields::of(&v);
                                cx.line = fields.as_ref();
                                cx.triage = Some(&tf);
                                write_alert_as(&mut ecs, format, set, &h.text, &shown, &cx);
                            }
                            _ => write_alert_as(&mut ecs, format, set, &h.text, &h.hits, &cx),
                        }
                        buf.extend_from_slice(&ecs);
                        buf.push(b'\n');
                    }
                    Output::Text { color } => {
                        text.clear();
                        text::line(&mut text, set, name, line_no, &h.text, &h.hits, color);
                        buf.extend_from_slice(text.as_bytes());
                    }
                    Output::OnlyMatching { color } => {
                        text.clear();
                        text::only_matching(&mut text, name, line_no, &h.text, &h.hits, color);
                        buf.extend_from_slice(text.as_bytes());
                    }
                    Output::Summary => {
                        // One count per indicator per line, however often it is in the line.
                        let mut seen = Vec::with_capacity(h.hits.len());
                        for (i, hit) in h.hits.iter().enumerate() {
                            if seen.contains(&hit.id) {
                                continue;
                            }
                            seen.push(hit.id);
                            let host = h.hosts.get(i).and_then(|x| x.as_deref());
                            summary.add(hit.id, h.time, host);
                        }
                    }
                    Output::Count => {}
                }
            }
            for (a, b) in stats.hits_by_kind.iter_mut().zip(f.hits_by_kind) {
                *a += b;
            }
            stats.lines += f.lines;
            stats.bytes += f.bytes;
            if !buf.is_empty() {
                out.write_all(&buf)?;
                buf.clear();
            }
            progress(&stats);
        }
    }
    out.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::SetBuilder;

    fn set() -> IocSet {
        let mut b = SetBuilder::new();
        b.add_plain_list("t", "t.txt", b"1.2.3.4\nevil.com\n");
        b.build()
    }

    fn run(input: &[u8], threads: usize) -> (ScanStats, Vec<serde_json::Value>) {
        let mut out = Vec::new();
        let opts = ScanOptions {
            threads,
            output: Output::Alerts(AlertFormat::Ecs),
            triage: false,
            internal: None,
        };
        let stats = scan_reader(
            &set(),
            &mut &input[..],
            &Source {
                name: "in.log",
                modified: None,
            },
            &opts,
            &mut out,
            &mut ScanState::default(),
            &mut |_| {},
        )
        .unwrap()
        .stats;
        let alerts = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        (stats, alerts)
    }

    #[test]
    fn numbers_lines_across_chunks_in_order() {
        // ~20 MiB: several chunks, so several workers and the reorder buffer take part.
        let mut input = Vec::new();
        let mut want = Vec::new();
        for n in 1..=200_000u64 {
            if n % 997 == 0 {
                input.extend_from_slice(format!("{n} SRC=1.2.3.4 DST=9.9.9.9\r\n").as_bytes());
                want.push(n);
            } else if n % 1009 == 0 {
                input.extend_from_slice(format!("{n} query a.evil.com A\n").as_bytes());
                want.push(n);
            } else {
                input.extend_from_slice(format!("{n} SRC=11.2.3.4 {:0>80}\n", n).as_bytes());
            }
        }
        input.extend_from_slice(b"last line 1.2.3.4");
        want.push(200_001);
        for threads in [1, 3] {
            let (stats, alerts) = run(&input, threads);
            assert_eq!(stats.lines, 200_001);
            assert_eq!(stats.bytes, input.len() as u64);
            let lines: Vec<u64> = alerts
                .iter()
                .map(|a| a["iocd"]["source"]["line"].as_u64().unwrap())
                .collect();
            assert_eq!(lines, want);
            assert_eq!(stats.hit_lines, want.len() as u64);
            let first = &alerts[0];
            assert_eq!(first["event"]["original"], "997 SRC=1.2.3.4 DST=9.9.9.9");
        }
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_one_line() {
        let mut input = vec![b'x'; CHUNK + 1000];
        input.extend_from_slice(b" 1.2.3.4\nnext\n");
        let (stats, alerts) = run(&input, 2);
        assert_eq!(stats.lines, 2);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["iocd"]["source"]["line"], 1);
    }

    #[test]
    fn hit_lines_are_decoded_with_the_zeek_header_in_effect() {
        let input = b"#separator \\x09\n#fields\tts\tid.orig_h\tquery\n\
            1\t10.0.0.1\ta.evil.com\n\
            #fields\tquery\tts\tid.orig_h\n#types\tstring\ttime\taddr\n\
            a.evil.com\t2\t10.0.0.2\n\
            Feb  4 23:33:37 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=10.0.0.3 DST=1.2.3.4 SPT=1 DPT=22\n";
        for threads in [1, 2] {
            let (_, alerts) = run(input, threads);
            let got: Vec<_> = alerts
                .iter()
                .map(|a| {
                    (
                        a["iocd"]["source"]["line"].as_u64().unwrap(),
                        a["threat"]["enrichments"][0]["matched"]["field"].clone(),
                        a["source"]["ip"].clone(),
                    )
                })
                .collect();
            assert_eq!(
                got,
                [
                    (3, "dns.question.name".into(), "10.0.0.1".into()),
                    (6, "dns.question.name".into(), "10.0.0.2".into()),
                    (7, "destination.ip".into(), "10.0.0.3".into()),
                ]
            );
            assert_eq!(alerts[1]["dns"]["question"]["name"], "a.evil.com");
            assert_eq!(alerts[2]["event"]["action"], "blocked");
            assert_eq!(alerts[2]["network"]["direction"], "inbound");
        }
        // Without its header a Zeek line is not decoded, and still alerts.
        let (_, alerts) = run(b"1\t10.0.0.1\ta.evil.com\n", 1);
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0]["threat"]["enrichments"][0]["matched"]["field"].is_null());
    }

    #[test]
    fn chunks_carry_the_header_of_their_start_and_each_change() {
        let mut z = ZeekStream::new();
        let first = b"#fields\tts\tquery\n1\tx\n";
        let c1 = Chunk {
            seq: 0,
            zeek: zeek_changes(&mut z, first),
            buf: first.to_vec(),
        };
        let fields = |h: Option<&ZeekHeader>| h.map(|h| h.fields().join(","));
        assert_eq!(fields(c1.zeek_at(0)), None, "the header line itself");
        assert_eq!(fields(c1.zeek_at(17)).as_deref(), Some("ts,query"));
        // The next chunk starts with the header in effect, and changes it half-way.
        let second = b"2\ty\n#close\tx\n#fields\tquery\tts\nz\t3\n";
        let c2 = Chunk {
            seq: 1,
            zeek: zeek_changes(&mut z, second),
            buf: second.to_vec(),
        };
        assert_eq!(c2.zeek.len(), 2);
        assert_eq!(fields(c2.zeek_at(0)).as_deref(), Some("ts,query"));
        assert_eq!(fields(c2.zeek_at(4)).as_deref(), Some("ts,query"));
        let after = second.len() - b"z\t3\n".len();
        assert_eq!(fields(c2.zeek_at(after)).as_deref(), Some("query,ts"));
        // A chunk without header lines costs one entry, none when there is no header.
        assert_eq!(zeek_changes(&mut z, b"a\tb\n").len(), 1);
        assert!(zeek_changes(&mut ZeekStream::new(), b"a\tb\n").is_empty());
    }

    /// Gives `data`, then fails: a disk error, or corrupt compressed data, half-way.
    struct FailAfter(io::Cursor<Vec<u8>>);
    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt deflate stream",
                )),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_input_after_its_lines_are_written() {
        let mut input = Vec::new();
        for n in 0..300_000u64 {
            input.extend_from_slice(format!("{n} SRC=1.2.3.4 {:0>20}\n", n).as_bytes());
        }
        let mut out = Vec::new();
        let opts = ScanOptions {
            threads: 2,
            output: Output::Count,
            triage: false,
            internal: None,
        };
        let mut r = FailAfter(io::Cursor::new(input));
        let src = Source {
            name: "x",
            modified: None,
        };
        let mut sum = ScanState::default();
        let got = scan_reader(&set(), &mut r, &src, &opts, &mut out, &mut sum, &mut |_| {});
        let got = got.unwrap();
        let e = got.input_error.expect("the read error is reported");
        assert_eq!(e.to_string(), "corrupt deflate stream");
        // Every line read before the error was scanned.
        assert_eq!(got.stats.hit_lines, 300_000);
    }

    #[test]
    fn urls_split_across_fields_match_as_the_daemon_matches_them() {
        let mut b = SetBuilder::new();
        b.add_plain_list(
            "u",
            "u.txt",
            b"http://lyvyxor.com/login.php\nurl-prefix:http://gate.example.net/panel/\n\
              https://ecs.example.org/a/b\nhttp://147.32.82.197/muieblackcat\n",
        );
        let set = b.build();
        let input = b"#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\thost\turi\n\
            1.0\t10.0.0.1\t208.100.26.251\tlyvyxor.com\t/login.php\n\
            2.0\t10.0.0.1\t208.100.26.251\tlyvyxor.com\t/login.php5\n\
            3.0\t10.0.0.1\t208.100.26.251\tLYVYXOR.COM\t/login.php?x=1\n\
            {\"timestamp\":\"2021-06-06T15:59:46+0200\",\"event_type\":\"http\",\"src_ip\":\"10.0.0.2\",\"dest_ip\":\"147.32.82.197\",\"http\":{\"hostname\":\"147.32.82.197\",\"url\":\"/muieblackcat\"}}\n\
            {\"timestamp\":\"2021-06-06T15:59:47+0200\",\"event_type\":\"http\",\"src_ip\":\"10.0.0.2\",\"dest_ip\":\"10.9.9.9\",\"http\":{\"hostname\":\"gate.example.net\",\"url\":\"/panel/login\"}}\n\
            {\"@timestamp\":\"2026-01-01T00:00:00Z\",\"url\":{\"scheme\":\"https\",\"domain\":\"ecs.example.org\",\"path\":\"/a/b\"},\"source\":{\"ip\":\"10.0.0.3\"}}\n\
            {\"@timestamp\":\"2026-01-01T00:00:00Z\",\"url\":{\"domain\":\"ecs.example.org\",\"path\":\"/a/b\"},\"source\":{\"ip\":\"10.0.0.3\"}}\n\
            whole URL http://lyvyxor.com/login.php in a line of no format\n";
        for threads in [1, 2] {
            let mut out = Vec::new();
            let opts = ScanOptions {
                threads,
                output: Output::Alerts(AlertFormat::Ecs),
                triage: false,
                internal: None,
            };
            let src = Source {
                name: "x",
                modified: None,
            };
            let mut st = ScanState::default();
            let got = scan_reader(
                &set,
                &mut &input[..],
                &src,
                &opts,
                &mut out,
                &mut st,
                &mut |_| {},
            )
            .unwrap();
            let alerts: Vec<serde_json::Value> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            let seen: Vec<(u64, String, String)> = alerts
                .iter()
                .map(|a| {
                    let e = &a["threat"]["enrichments"][0];
                    (
                        a["iocd"]["source"]["line"].as_u64().unwrap(),
                        e["indicator"]["url"]["full"].as_str().unwrap().to_owned(),
                        e["matched"]["field"].as_str().unwrap_or("-").to_owned(),
                    )
                })
                .collect();
            let want = [
                (3, "http://lyvyxor.com/login.php", "url.original"),
                (6, "http://147.32.82.197/muieblackcat", "url.original"),
                (7, "http://gate.example.net/panel/", "url.original"),
                (8, "https://ecs.example.org/a/b", "url.path"),
                (10, "http://lyvyxor.com/login.php", "-"),
            ];
            let want: Vec<(u64, String, String)> = want
                .iter()
                .map(|(l, u, f)| (*l, u.to_string(), f.to_string()))
                .collect();
            assert_eq!(seen, want, "exact URLs, prefixes, the scheme of ECS lines");
            assert_eq!(got.stats.hit_lines, 5);
            // Counting counts the same lines.
            let count = ScanOptions {
                output: Output::Count,
                ..opts.clone()
            };
            let n = scan_reader(
                &set,
                &mut &input[..],
                &src,
                &count,
                &mut Vec::new(),
                &mut st,
                &mut |_| {},
            )
            .unwrap()
            .stats
            .hit_lines;
            assert_eq!(n, 5);
        }
    }

    #[test]
    fn empty_input() {
        let (stats, alerts) = run(b"", 2);
        assert_eq!(stats.lines, 0);
        assert!(alerts.is_empty());
    }
}
