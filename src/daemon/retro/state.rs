//! A retro job as it is kept across restarts (`state.json`), where it is in the history, and
//! the identities of the indicators already seen (`known.bin`).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::JobProgress;
use super::spool::{self, ReadError};
use crate::telemetry::metrics::RetroMetrics;
use crate::time::{Digits, rfc3339_ms};

const VERSION: u32 = 1;

/// Positions in the spool: segment number and block, as one ordered number.
pub(super) fn spool_pos(seq: u64, block: u32) -> i64 {
    ((seq << 24) | u64::from(block)) as i64
}

fn spool_seq_block(pos: i64) -> (u64, u32) {
    let p = pos as u64;
    (p >> 24, (p & 0xff_ffff) as u32)
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    pub version: u32,
    pub next_job: u64,
    pub job: Option<Job>,
    pub last: Option<Summary>,
}

impl State {
    /// The state in `path`; a missing file is a fresh start, an unreadable one is logged
    /// and replaced (its job is lost: said so).
    pub fn load(path: &Path) -> State {
        let fresh = State {
            version: VERSION,
            next_job: 1,
            ..State::default()
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fresh,
            Err(e) => {
                warn!(error = %e, path = %path.display(), "retro: cannot read the job state; starting without it");
                return fresh;
            }
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(s) if s.version == VERSION => s,
            Ok(s) => {
                warn!(version = s.version, path = %path.display(), "retro: job state of another version ignored");
                fresh
            }
            Err(e) => {
                warn!(error = %e, path = %path.display(), "retro: job state unreadable; starting without it");
                fresh
            }
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).expect("serializable");
        crate::statefile::write_atomic(path, &bytes)
    }
}

/// The identities of the indicators seen, sorted: `None` when there is no such file (a
/// first start). A file that is not a whole number of identities is read as far as it is.
pub(super) fn load_known(path: &Path) -> Option<Vec<u64>> {
    let bytes = std::fs::read(path).ok()?;
    let mut v: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    v.sort_unstable();
    Some(v)
}

pub(super) fn save_known(path: &Path, known: &[u64]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(known.len() * 8);
    for k in known {
        bytes.extend_from_slice(&k.to_le_bytes());
    }
    crate::statefile::write_atomic(path, &bytes)
}

/// A job: its passes over the history, where it is, what it alerted.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Job {
    pub id: u64,
    /// Unix seconds.
    pub started: i64,
    pub passes: Vec<Pass>,
    pub cursor: Cursor,
    /// Hashes of the keys (indicator and host) alerted.
    pub alerted: Vec<u64>,
    #[serde(skip)]
    pub alerted_len: usize,
    pub stats: Stats,
}

/// Some indicators, and the spans of history to look for them in.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Pass {
    pub indicators: Vec<u64>,
    /// When iocd got them (Unix seconds).
    pub added_at: i64,
    /// Lines that arrived before this (ns) are past the lookback.
    pub since_ns: u64,
    pub spans: Vec<Span>,
}

/// A stretch of one history, `from` included, `to` not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "history", rename_all = "lowercase")]
pub(super) enum Span {
    Spool {
        from: i64,
        to: i64,
    },
    Kafka {
        topic: String,
        partition: i32,
        from: i64,
        to: i64,
    },
}

impl Span {
    pub fn from(&self) -> i64 {
        match self {
            Span::Spool { from, .. } | Span::Kafka { from, .. } => *from,
        }
    }
    pub fn to(&self) -> i64 {
        match self {
            Span::Spool { to, .. } | Span::Kafka { to, .. } => *to,
        }
    }
    fn stream(&self) -> (Option<&str>, i32) {
        match self {
            Span::Spool { .. } => (None, -1),
            Span::Kafka {
                topic, partition, ..
            } => (Some(topic), *partition),
        }
    }
    fn with(&self, from: i64, to: i64) -> Span {
        match self {
            Span::Spool { .. } => Span::Spool { from, to },
            Span::Kafka {
                topic, partition, ..
            } => Span::Kafka {
                topic: topic.clone(),
                partition: *partition,
                from,
                to,
            },
        }
    }
}

/// Where a job is: a pass, a span of it, and a position in the span (`None`: its start).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Cursor {
    pub pass: usize,
    pub span: usize,
    pub pos: Option<i64>,
}

impl Cursor {
    /// The pass, span and position to read next; `None` when the job is done.
    pub fn at(&self, job: &Job) -> Option<(usize, usize, i64)> {
        let mut c = self.clone();
        loop {
            let pass = job.passes.get(c.pass)?;
            match pass.spans.get(c.span) {
                None => {
                    c = Cursor {
                        pass: c.pass + 1,
                        span: 0,
                        pos: None,
                    }
                }
                Some(s) => {
                    let pos = c.pos.unwrap_or(s.from()).max(s.from());
                    if pos < s.to() {
                        return Some((c.pass, c.span, pos));
                    }
                    c.span += 1;
                    c.pos = None;
                }
            }
        }
    }

    /// The current span was read up to `next`.
    pub fn advance(&mut self, passes: &[Pass], next: i64) {
        self.pos = Some(next);
        loop {
            let Some(pass) = passes.get(self.pass) else {
                return;
            };
            match pass.spans.get(self.span) {
                Some(s) if self.pos.unwrap_or(s.from()) < s.to() => return,
                Some(_) => {
                    self.span += 1;
                    self.pos = None;
                }
                None => {
                    self.pass += 1;
                    self.span = 0;
                    self.pos = None;
                }
            }
        }
    }
}

/// `n` without what `covered` covers.
fn subtract(n: (i64, i64), covered: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut parts = vec![n];
    for &(cf, ct) in covered {
        parts = parts
            .into_iter()
            .flat_map(|(f, t)| {
                let mut v = Vec::new();
                if cf >= t || ct <= f {
                    v.push((f, t));
                } else {
                    if f < cf {
                        v.push((f, cf));
                    }
                    if ct < t {
                        v.push((ct, t));
                    }
                }
                v
            })
            .collect();
    }
    parts.retain(|(f, t)| f < t);
    parts
}

impl Job {
    /// A reload added `added` while this job runs: they join the current pass for what it
    /// has left to read, and get a pass of their own for the rest of `ends` (what the
    /// current pass had read before, and what arrived since its ends).
    pub fn merge(&mut self, added: Vec<u64>, now: i64, since_ns: u64, ends: Vec<Span>) {
        let Some((p, s, pos)) = self.cursor.at(self) else {
            // Nothing left: a pass of their own over everything.
            self.passes.push(Pass {
                indicators: added,
                added_at: now,
                since_ns,
                spans: ends,
            });
            return;
        };
        let pass = &self.passes[p];
        // What the current pass will still read, per stream.
        let left: Vec<(Span, i64, i64)> = pass.spans[s..]
            .iter()
            .enumerate()
            .map(|(k, sp)| {
                let from = if k == 0 { pos } else { sp.from() };
                (sp.clone(), from, sp.to())
            })
            .collect();
        let mut own = Vec::new();
        for n in &ends {
            let covered: Vec<(i64, i64)> = left
                .iter()
                .filter(|(sp, _, _)| sp.stream() == n.stream())
                .map(|(_, f, t)| (*f, *t))
                .collect();
            for (f, t) in subtract((n.from(), n.to()), &covered) {
                own.push(n.with(f, t));
            }
        }
        self.passes[p].indicators.extend(added.iter().copied());
        if !own.is_empty() {
            self.passes.push(Pass {
                indicators: added,
                added_at: now,
                since_ns,
                spans: own,
            });
        }
    }

    pub fn indicators(&self) -> usize {
        let all: HashSet<u64> = self
            .passes
            .iter()
            .flat_map(|p| p.indicators.iter().copied())
            .collect();
        all.len()
    }

    /// What the job has read and found so far.
    fn found(&self) -> Found {
        Found {
            indicators: self.indicators(),
            scanned_bytes: self.stats.bytes,
            scanned_lines: self.stats.lines,
            hit_lines: self.stats.hit_lines,
            alerts: self.alerted_len.max(self.alerted.len()),
            cpu_seconds: self.stats.cpu_ns as f64 / 1e9,
            covered_from: self.stats.first_ns.map(ns_text),
            covered_to: self.stats.last_ns.map(ns_text),
        }
    }

    pub fn progress(&self) -> JobProgress {
        let at = self.cursor.at(self);
        JobProgress {
            id: self.id,
            started: rfc3339_ms(self.started * 1000, Digits::Secs),
            passes: self.passes.len(),
            pass: at.map_or(self.passes.len(), |a| a.0),
            spans: at.map_or(0, |a| self.passes[a.0].spans.len()),
            span: at.map_or(0, |a| a.1),
            found: self.found(),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id,
            started: rfc3339_ms(self.started * 1000, Digits::Secs),
            ended: rfc3339_ms(spool::unix_now() * 1000, Digits::Secs),
            found: self.found(),
        }
    }
}

fn ns_text(ns: u64) -> String {
    rfc3339_ms((ns / 1_000_000) as i64, Digits::Secs)
}

/// A finished job, as `GET /retro` shows the last one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub id: u64,
    pub started: String,
    pub ended: String,
    #[serde(flatten)]
    pub found: Found,
}

/// What a job read and found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Found {
    pub indicators: usize,
    pub scanned_bytes: u64,
    pub scanned_lines: u64,
    pub hit_lines: u64,
    pub alerts: usize,
    /// CPU time the job's thread spent reading and matching (the sleeps for the CPU share
    /// not counted): `scanned_bytes / cpu_seconds` is its rate per core.
    pub cpu_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_to: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Stats {
    pub bytes: u64,
    #[serde(default)]
    pub cpu_ns: u64,
    pub lines: u64,
    pub hit_lines: u64,
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
}

impl Stats {
    pub fn add(&mut self, s: &Step) {
        self.bytes += s.bytes;
        self.lines += s.lines;
        if let Some(f) = s.first_ns {
            self.first_ns = Some(self.first_ns.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = s.last_ns {
            self.last_ns = Some(self.last_ns.map_or(l, |x| x.max(l)));
        }
    }
}

/// What one step of a job read.
#[derive(Debug, Default)]
pub(super) struct Step {
    /// Where the span's reading goes on from.
    pub next: i64,
    pub bytes: u64,
    pub lines: u64,
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
}

impl Step {
    pub fn done_at(to: i64) -> Step {
        Step {
            next: to,
            ..Step::default()
        }
    }
    pub fn saw(&mut self, ns: u64) {
        self.first_ns = Some(self.first_ns.map_or(ns, |x| x.min(ns)));
        self.last_ns = Some(self.last_ns.map_or(ns, |x| x.max(ns)));
    }
}

/// The segment a job is reading, kept between steps (a step is one block).
#[derive(Default)]
pub(super) struct SegmentCache {
    seq: Option<u64>,
    bytes: Vec<u8>,
}

/// Reads one block of the spool at `pos` (or skips to the next segment that exists).
pub(super) fn step_spool(
    dir: Option<&Path>,
    cache: &mut SegmentCache,
    pos: i64,
    to: i64,
    since_ns: u64,
    metrics: &RetroMetrics,
    emit: &mut dyn FnMut(&crate::model::Batch) -> (u64, u64),
) -> Step {
    let Some(dir) = dir else {
        return Step::done_at(to);
    };
    let (seq, block) = spool_seq_block(pos);
    let (to_seq, _) = spool_seq_block(to);
    let segs = spool::segments(dir).unwrap_or_default();
    let Some(seg) = segs.into_iter().find(|s| s.seq >= seq && s.seq < to_seq) else {
        return Step::done_at(to);
    };
    let block = if seg.seq == seq { block } else { 0 };
    if cache.seq != Some(seg.seq) {
        cache.seq = None;
        match std::fs::read(&seg.path) {
            Ok(b) => {
                cache.bytes = b;
                cache.seq = Some(seg.seq);
            }
            Err(e) => {
                // Deleted by the bounds since it was listed, most likely.
                warn!(error = %e, segment = %seg.path.display(), "retro: cannot read a spool segment; skipped");
                return Step::done_at(spool_pos(seg.seq + 1, 0));
            }
        }
    }
    let mut step = Step::done_at(spool_pos(seg.seq + 1, 0));
    let result = spool::read_blocks(&cache.bytes, &seg.path, block, since_ns, |b| {
        for batch in &b.batches {
            let (bytes, lines) = emit(batch);
            step.bytes += bytes;
            step.lines += lines;
            step.saw(batch.arrival_ns);
        }
        step.next = spool_pos(seg.seq, b.index + 1);
        false
    });
    if let Err(e) = result {
        match &e {
            ReadError::Corrupt { .. } => {
                metrics.spool_corrupt.inc();
                warn!(error = %e, "retro: corrupt spool segment; the rest of it is skipped");
            }
            ReadError::Io { .. } => warn!(error = %e, "retro: spool segment unreadable; skipped"),
        }
        step.next = spool_pos(seg.seq + 1, 0);
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(ind: &[u64], spans: Vec<Span>) -> Pass {
        Pass {
            indicators: ind.to_vec(),
            added_at: 0,
            since_ns: 0,
            spans,
        }
    }

    fn job(passes: Vec<Pass>) -> Job {
        Job {
            id: 1,
            started: 0,
            passes,
            cursor: Cursor::default(),
            alerted: Vec::new(),
            alerted_len: 0,
            stats: Stats::default(),
        }
    }

    #[test]
    fn the_cursor_walks_passes_and_spans_and_skips_empty_ones() {
        let mut j = job(vec![
            pass(
                &[1],
                vec![
                    Span::Spool { from: 0, to: 10 },
                    Span::Spool { from: 5, to: 5 },
                ],
            ),
            pass(&[2], vec![Span::Spool { from: 20, to: 30 }]),
        ]);
        assert_eq!(j.cursor.at(&j), Some((0, 0, 0)));
        j.cursor.advance(&j.passes, 4);
        assert_eq!(j.cursor.at(&j), Some((0, 0, 4)));
        j.cursor.advance(&j.passes, 10);
        assert_eq!(j.cursor.at(&j), Some((1, 0, 20)));
        assert_eq!(j.cursor.pass, 1, "the empty span is skipped");
        j.cursor.advance(&j.passes, 30);
        assert_eq!(j.cursor.at(&j), None);
    }

    /// A reload in the middle of a pass: the new indicators join the rest of the pass, and
    /// their own pass covers what the pass had read and what arrived since, nothing twice.
    #[test]
    fn a_merge_covers_the_whole_history_for_the_new_indicators_once() {
        let mut j = job(vec![pass(
            &[1],
            vec![
                Span::Spool { from: 0, to: 100 },
                Span::Kafka {
                    topic: "t".into(),
                    partition: 0,
                    from: 0,
                    to: 50,
                },
            ],
        )]);
        j.cursor.advance(&j.passes, 40);
        j.merge(
            vec![2],
            9,
            0,
            vec![
                Span::Spool { from: 0, to: 130 },
                Span::Kafka {
                    topic: "t".into(),
                    partition: 0,
                    from: 0,
                    to: 70,
                },
                Span::Kafka {
                    topic: "t".into(),
                    partition: 1,
                    from: 3,
                    to: 9,
                },
            ],
        );
        assert_eq!(j.passes[0].indicators, vec![1, 2]);
        assert_eq!(
            j.passes[1].spans,
            vec![
                Span::Spool { from: 0, to: 40 },
                Span::Spool { from: 100, to: 130 },
                Span::Kafka {
                    topic: "t".into(),
                    partition: 0,
                    from: 50,
                    to: 70
                },
                Span::Kafka {
                    topic: "t".into(),
                    partition: 1,
                    from: 3,
                    to: 9
                },
            ]
        );
        assert_eq!(j.passes[1].indicators, vec![2]);
        assert_eq!(j.indicators(), 2);
    }

    #[test]
    fn spool_positions_order_by_segment_then_block() {
        assert!(spool_pos(1, 0) > spool_pos(0, 0xff_fff0));
        assert_eq!(spool_seq_block(spool_pos(7, 3)), (7, 3));
    }
}
