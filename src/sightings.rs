//! MISP sightings: every hit is a sighting of its indicator, sent back to the intelligence
//! platform so that analysts see which indicators fire (type 0) and which are false
//! positives (type 1).
//!
//! Read [`Sightings`] first: matcher threads call [`Sightings::record`] once per hit; it adds
//! to an in-memory aggregate per indicator value and type (count, first and last time), under
//! a short lock with no allocation once the indicator has been seen in the interval. The
//! aggregate is bounded (`[sightings] max_pending`): beyond it new indicators are dropped and
//! counted, never the process's memory.
//!
//! [`Exporter`] takes the aggregate every `interval` ([`Sightings::take`]) and hands it to
//! each configured output:
//!
//! * a JSON-lines file, one line per indicator and type: `{"value", "type", "source",
//!   "count", "first_seen", "last_seen", "timestamp"}` (the times RFC 3339, `timestamp` the
//!   Unix time of the last sighting);
//! * a MISP server: `POST <misp_url>/sightings/add` with `{"values": [...], "type": "0"|"1",
//!   "source": ..., "timestamp": ...}`, one request per type (and per 500 values), with the
//!   API key in `Authorization`. MISP's endpoint records one sighting per value and request,
//!   so MISP sees one sighting per indicator per interval, dated with the latest hit of the
//!   request; the counts and exact times are in the file.
//!
//! An output that fails keeps its sightings (bounded by `max_pending`, oldest dropped first
//! and counted) and tries again at the next interval; a request is retried at once a few
//! times after connection errors, timeouts, 5xx, 408 and 429. A request MISP refuses (other
//! 4xx) is dropped, logged and counted: retrying cannot fix it.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use serde::Serialize;
use tracing::{debug, error, info, warn};

use crate::config::SightingsConfig;
use crate::retry::Backoff;
use crate::telemetry::Metrics;
use crate::time::{Digits, rfc3339_ms};

/// MISP sighting types iocd reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SightingType {
    /// `0`: the indicator was seen.
    Sighting,
    /// `1`: the indicator was seen and an analyst marked it as a false positive.
    FalsePositive,
}

impl SightingType {
    /// MISP's code, as MISP's API writes it (a string).
    pub fn code(self) -> &'static str {
        match self {
            SightingType::Sighting => "0",
            SightingType::FalsePositive => "1",
        }
    }
}

/// Hits of one indicator value and type during one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub value: String,
    pub kind: SightingType,
    pub count: u64,
    /// Unix seconds.
    pub first: i64,
    pub last: i64,
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    count: u64,
    first: i64,
    last: i64,
}

impl Agg {
    fn add(&mut self, count: u64, first: i64, last: i64) {
        self.count += count;
        self.first = self.first.min(first);
        self.last = self.last.max(last);
    }
}

/// The aggregate since the last [`Sightings::take`]: value -> [type 0, type 1].
#[derive(Default)]
struct Pending {
    by_value: HashMap<Box<str>, [Option<Agg>; 2]>,
    entries: usize,
}

/// Hits aggregated per indicator and type until the exporter takes them. Shared by every
/// matcher thread (`Arc<Sightings>`).
pub struct Sightings {
    pending: Mutex<Pending>,
    max_pending: usize,
    recorded: [IntCounter; 2],
    dropped: IntCounter,
    pending_gauge: IntGauge,
}

impl Default for Sightings {
    /// Up to 100 000 pending entries, metrics not registered anywhere (tests).
    fn default() -> Sightings {
        let counter = |n: &str| IntCounter::new(n, "unregistered").expect("valid metric");
        Sightings {
            pending: Mutex::new(Pending::default()),
            max_pending: 100_000,
            recorded: [counter("recorded0"), counter("recorded1")],
            dropped: counter("dropped"),
            pending_gauge: IntGauge::new("pending", "unregistered").expect("valid metric"),
        }
    }
}

impl Sightings {
    /// An aggregate of at most `max_pending` indicator-and-type entries, counted in
    /// `metrics`.
    pub fn new(metrics: &Metrics, max_pending: usize) -> Sightings {
        Sightings {
            pending: Mutex::new(Pending::default()),
            max_pending: max_pending.max(1),
            recorded: [
                metrics.sightings_recorded.with_label_values(&["0"]),
                metrics.sightings_recorded.with_label_values(&["1"]),
            ],
            dropped: metrics
                .sightings_dropped
                .with_label_values(&["pending_full"]),
            pending_gauge: metrics.sightings_pending.clone(),
        }
    }

    /// One hit of `indicator` (its canonical text) at `unix_time`; `false_positive` when a
    /// feedback mark applied to it. Cheap: a short lock and, for an indicator already seen in
    /// this interval, no allocation.
    pub fn record(&self, indicator: &str, false_positive: bool, unix_time: i64) {
        let slot = usize::from(false_positive);
        let mut p = self.lock();
        if let Some(aggs) = p.by_value.get_mut(indicator) {
            match &mut aggs[slot] {
                Some(a) => a.add(1, unix_time, unix_time),
                None => {
                    aggs[slot] = Some(Agg {
                        count: 1,
                        first: unix_time,
                        last: unix_time,
                    });
                    p.entries += 1;
                }
            }
        } else if p.entries >= self.max_pending {
            drop(p);
            self.dropped.inc();
            return;
        } else {
            let mut aggs = [None, None];
            aggs[slot] = Some(Agg {
                count: 1,
                first: unix_time,
                last: unix_time,
            });
            p.by_value.insert(indicator.into(), aggs);
            p.entries += 1;
        }
        let entries = p.entries;
        drop(p);
        self.recorded[slot].inc();
        self.pending_gauge.set(entries as i64);
    }

    /// Takes everything aggregated so far, sorted by type then value.
    pub fn take(&self) -> Vec<Sighting> {
        let taken = std::mem::take(&mut *self.lock());
        self.pending_gauge.set(0);
        let mut out = Vec::with_capacity(taken.entries);
        for (value, aggs) in taken.by_value {
            for (slot, a) in aggs.iter().enumerate() {
                if let Some(a) = a {
                    out.push(Sighting {
                        value: value.to_string(),
                        kind: if slot == 0 {
                            SightingType::Sighting
                        } else {
                            SightingType::FalsePositive
                        },
                        count: a.count,
                        first: a.first,
                        last: a.last,
                    });
                }
            }
        }
        out.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One line of the sightings file.
#[derive(Serialize)]
struct FileLine<'a> {
    value: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'a str,
    count: u64,
    first_seen: String,
    last_seen: String,
    timestamp: i64,
}

/// The body of MISP's `/sightings/add`.
#[derive(Serialize)]
struct MispBody<'a> {
    values: Vec<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'a str,
    timestamp: i64,
}

/// Values per MISP request.
const MISP_CHUNK: usize = 500;
/// Immediate retries of one MISP request before its sightings wait for the next interval.
const MISP_RETRIES: u32 = 3;

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("sightings.api_key_file {path}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sightings: HTTP client: {0}")]
    Client(String),
    #[error("sightings.misp_url {0:?} is not a URL")]
    Url(String),
}

/// Sends aggregated sightings to the configured outputs every interval.
pub struct Exporter {
    source: String,
    max_pending: usize,
    file: Option<FileOut>,
    misp: Option<MispOut>,
    metrics: ExportMetrics,
}

struct FileOut {
    path: PathBuf,
    pending: Vec<Sighting>,
}

struct MispOut {
    client: reqwest::Client,
    url: reqwest::Url,
    key: String,
    retry_delay: Duration,
    pending: Vec<Sighting>,
}

struct ExportMetrics {
    sent_file: IntCounter,
    sent_misp: IntCounter,
    errors_file: IntCounter,
    errors_misp: IntCounter,
    retries: IntCounter,
    dropped_buffer: IntCounter,
    dropped_refused: IntCounter,
    partial_line_cut: IntCounter,
}

impl Exporter {
    /// Reads the API key file and builds the HTTP client. `None` outputs: an exporter that
    /// only drains (and counts).
    pub fn new(cfg: &SightingsConfig, metrics: &Metrics) -> Result<Exporter, ExportError> {
        let misp = match &cfg.misp_url {
            None => None,
            Some(base) => {
                let key = match (&cfg.api_key, &cfg.api_key_file) {
                    (Some(k), _) => k.trim().to_owned(),
                    (None, Some(path)) => std::fs::read_to_string(path)
                        .map_err(|source| ExportError::KeyFile {
                            path: path.clone(),
                            source,
                        })?
                        .trim()
                        .to_owned(),
                    (None, None) => String::new(),
                };
                let url = misp_add_url(base).ok_or_else(|| ExportError::Url(base.clone()))?;
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::builder()
                    .timeout(cfg.request_timeout)
                    .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION")))
                    .danger_accept_invalid_certs(!cfg.verify_tls)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| ExportError::Client(e.to_string()))?;
                Some(MispOut {
                    client,
                    url,
                    key,
                    retry_delay: cfg.retry_delay,
                    pending: Vec::new(),
                })
            }
        };
        let m = |output: &str| metrics.sightings_sent.with_label_values(&[output]);
        let e = |output: &str| metrics.sightings_errors.with_label_values(&[output]);
        Ok(Exporter {
            source: cfg.source.clone(),
            max_pending: cfg.max_pending.max(1),
            file: cfg.file.clone().map(|path| FileOut {
                path,
                pending: Vec::new(),
            }),
            misp,
            metrics: ExportMetrics {
                sent_file: m("file"),
                sent_misp: m("misp"),
                errors_file: e("file"),
                errors_misp: e("misp"),
                retries: metrics.sightings_retries.clone(),
                dropped_buffer: metrics
                    .sightings_dropped
                    .with_label_values(&["buffer_full"]),
                dropped_refused: metrics.sightings_dropped.with_label_values(&["refused"]),
                partial_line_cut: metrics.state_partial_line_bytes_cut.clone(),
            },
        })
        .inspect(|e| {
            // A crash in the middle of an append may have left half a line: cut it now, so
            // that the file reads as JSON lines again before anything is added.
            if let Some(f) = &e.file {
                repair(&f.path, &e.metrics);
            }
        })
    }

    /// Flushes every `interval` until `shutdown`, then returns itself for a last
    /// [`Exporter::flush`] once the matcher threads have stopped recording.
    pub async fn run(
        mut self,
        sightings: Arc<Sightings>,
        interval: Duration,
        shutdown: crate::model::Shutdown,
    ) -> Exporter {
        // Validation keeps it at least 1s; a zero period would panic.
        let interval = interval.max(Duration::from_millis(1));
        let start = tokio::time::Instant::now() + interval;
        let mut tick = tokio::time::interval_at(start, interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return self,
                _ = tick.tick() => self.flush(&sightings).await,
            }
        }
    }

    /// Takes what `sightings` aggregated and sends it, with what earlier flushes could not
    /// send, to every output.
    pub async fn flush(&mut self, sightings: &Sightings) {
        let new = sightings.take();
        if !new.is_empty() {
            debug!(entries = new.len(), "sightings flush");
        }
        let (max, dropped) = (self.max_pending, &self.metrics.dropped_buffer);
        match (&mut self.file, &mut self.misp) {
            (Some(f), Some(m)) => {
                merge(&mut f.pending, new.clone(), max, dropped);
                merge(&mut m.pending, new, max, dropped);
            }
            (Some(f), None) => merge(&mut f.pending, new, max, dropped),
            (None, Some(m)) => merge(&mut m.pending, new, max, dropped),
            // No output: the aggregate is only drained (validation warns about it).
            (None, None) => {}
        }
        if let Some(f) = &mut self.file {
            write_file(f, &self.source, &self.metrics);
        }
        if let Some(m) = &mut self.misp {
            send_misp(m, &self.source, &self.metrics).await;
        }
    }
}

/// Adds `new` to `pending` (same value and type: one entry), dropping the oldest beyond
/// `max`.
fn merge(pending: &mut Vec<Sighting>, new: Vec<Sighting>, max: usize, dropped: &IntCounter) {
    if pending.is_empty() {
        *pending = new;
    } else {
        let mut at: HashMap<(SightingType, String), usize> = pending
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.kind, s.value.clone()), i))
            .collect();
        for s in new {
            match at.get(&(s.kind, s.value.clone())) {
                Some(&i) => {
                    let p = &mut pending[i];
                    p.count += s.count;
                    p.first = p.first.min(s.first);
                    p.last = p.last.max(s.last);
                }
                None => {
                    at.insert((s.kind, s.value.clone()), pending.len());
                    pending.push(s);
                }
            }
        }
    }
    if pending.len() > max {
        let over = pending.len() - max;
        pending.sort_by_key(|s| s.last);
        pending.drain(..over);
        dropped.inc_by(over as u64);
        warn!(
            dropped = over,
            "sightings buffer full: the oldest sightings were dropped"
        );
    }
}

fn write_file(f: &mut FileOut, source: &str, m: &ExportMetrics) {
    if f.pending.is_empty() {
        return;
    }
    let mut buf = Vec::with_capacity(f.pending.len() * 128);
    for s in &f.pending {
        let line = FileLine {
            value: &s.value,
            kind: s.kind.code(),
            source,
            count: s.count,
            first_seen: rfc3339_ms(s.first.saturating_mul(1000), Digits::Secs),
            last_seen: rfc3339_ms(s.last.saturating_mul(1000), Digits::Secs),
            timestamp: s.last,
        };
        serde_json::to_writer(&mut buf, &line).expect("serializing to memory cannot fail");
        buf.push(b'\n');
    }
    // Opened per flush: rotation needs nothing from iocd. One write of whole lines, after
    // a partial last line (a write cut short) is removed, so lines are never glued.
    repair(&f.path, m);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&f.path)
        .and_then(|mut file| file.write_all(&buf));
    match written {
        Ok(()) => {
            m.sent_file.inc_by(f.pending.len() as u64);
            f.pending.clear();
        }
        Err(e) => {
            m.errors_file.inc();
            error!(path = %f.path.display(), error = %e, pending = f.pending.len(),
                "cannot write sightings; trying again at the next interval");
        }
    }
}

/// Cuts a partial last line from the sightings file, counted; logs when it cannot.
fn repair(path: &std::path::Path, m: &ExportMetrics) {
    match crate::statefile::repair_partial_line(path) {
        Ok(cut) => m.partial_line_cut.inc_by(cut),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot check the end of the sightings file")
        }
    }
}

/// `<base>/sightings/add`, whether `base` ends with a slash or not.
fn misp_add_url(base: &str) -> Option<reqwest::Url> {
    let mut u = reqwest::Url::parse(base).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let path = format!("{}/sightings/add", u.path().trim_end_matches('/'));
    u.set_path(&path);
    Some(u)
}

enum Sent {
    Ok,
    /// Worth trying again later.
    Retry(String),
    /// MISP will never take it.
    Refused(String),
}

async fn send_misp(m: &mut MispOut, source: &str, metrics: &ExportMetrics) {
    if m.pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut m.pending);
    let mut keep = Vec::new();
    for kind in [SightingType::Sighting, SightingType::FalsePositive] {
        let of_kind: Vec<Sighting> = pending.iter().filter(|s| s.kind == kind).cloned().collect();
        for chunk in of_kind.chunks(MISP_CHUNK) {
            let body = MispBody {
                values: chunk.iter().map(|s| s.value.as_str()).collect(),
                kind: kind.code(),
                source,
                timestamp: chunk.iter().map(|s| s.last).max().unwrap_or_default(),
            };
            let bytes = serde_json::to_vec(&body).expect("serializing to memory cannot fail");
            let outcome = post_with_retries(m, &bytes, metrics).await;
            match outcome {
                Sent::Ok => {
                    metrics.sent_misp.inc_by(chunk.len() as u64);
                    info!(
                        sightings = chunk.len(),
                        r#type = kind.code(),
                        "sightings sent to MISP"
                    );
                }
                Sent::Retry(why) => {
                    metrics.errors_misp.inc();
                    warn!(error = ?why, sightings = chunk.len(),
                        "MISP unreachable; sightings kept for the next interval");
                    keep.extend_from_slice(chunk);
                }
                Sent::Refused(why) => {
                    metrics.errors_misp.inc();
                    metrics.dropped_refused.inc_by(chunk.len() as u64);
                    error!(error = ?why, sightings = chunk.len(),
                        "MISP refused the sightings; they are dropped");
                }
            }
        }
    }
    m.pending = keep;
}

/// Posts `body`, retrying at once [`MISP_RETRIES`] times (from `retry_delay`, doubling, with
/// jitter) while MISP cannot take it now.
async fn post_with_retries(m: &MispOut, body: &[u8], metrics: &ExportMetrics) -> Sent {
    use backon::Retryable as _;
    let backoff = Backoff::new(m.retry_delay, m.retry_delay * 4).times(MISP_RETRIES as usize);
    let attempt = || async {
        match post_once(m, body).await {
            Sent::Retry(why) => Err(why),
            other => Ok(other),
        }
    };
    attempt
        .retry(backoff.builder())
        .notify(|why, wait| {
            metrics.retries.inc();
            debug!(error = ?why, ?wait, "MISP sightings request failed, retrying");
        })
        .await
        .unwrap_or_else(Sent::Retry)
}

async fn post_once(m: &MispOut, body: &[u8]) -> Sent {
    let mut req = m
        .client
        .post(m.url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if !m.key.is_empty() {
        let mut v = match reqwest::header::HeaderValue::from_str(&m.key) {
            Ok(v) => v,
            Err(_) => return Sent::Refused("the API key holds characters a header cannot".into()),
        };
        v.set_sensitive(true);
        req = req.header(reqwest::header::AUTHORIZATION, v);
    }
    match req.send().await {
        Err(e) => Sent::Retry(e.to_string()),
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Sent::Ok;
            }
            let text = resp.text().await.unwrap_or_default();
            let text: String = text.chars().take(300).collect();
            let why = format!("HTTP {status}: {text}");
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Sent::Retry(why)
            } else {
                Sent::Refused(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_aggregates_per_value_and_type() {
        let s = Sightings::default();
        s.record("1.2.3.4", false, 100);
        s.record("1.2.3.4", false, 90);
        s.record("1.2.3.4", true, 95);
        s.record("evil.com", false, 120);
        let got = s.take();
        assert_eq!(
            got,
            vec![
                Sighting {
                    value: "1.2.3.4".into(),
                    kind: SightingType::Sighting,
                    count: 2,
                    first: 90,
                    last: 100
                },
                Sighting {
                    value: "evil.com".into(),
                    kind: SightingType::Sighting,
                    count: 1,
                    first: 120,
                    last: 120
                },
                Sighting {
                    value: "1.2.3.4".into(),
                    kind: SightingType::FalsePositive,
                    count: 1,
                    first: 95,
                    last: 95
                },
            ]
        );
        assert!(s.take().is_empty());
    }

    #[test]
    fn pending_is_bounded() {
        let s = Sightings {
            max_pending: 2,
            ..Sightings::default()
        };
        s.record("a.com", false, 1);
        s.record("b.com", false, 1);
        s.record("c.com", false, 1);
        s.record("a.com", true, 1); // a known value may still take its second type
        assert_eq!(s.dropped.get(), 1);
        assert_eq!(s.take().len(), 3);
    }

    #[test]
    fn merge_sums_and_drops_the_oldest() {
        let c = IntCounter::new("x", "x").unwrap();
        let mk = |v: &str, last| Sighting {
            value: v.into(),
            kind: SightingType::Sighting,
            count: 1,
            first: last,
            last,
        };
        let mut p = vec![mk("a", 1), mk("b", 2)];
        merge(&mut p, vec![mk("a", 5), mk("c", 3)], 2, &c);
        assert_eq!(c.get(), 1);
        let names: Vec<(&str, u64)> = p.iter().map(|s| (s.value.as_str(), s.count)).collect();
        assert_eq!(names, [("c", 1), ("a", 2)]);
    }

    #[test]
    fn misp_url_appends_the_endpoint() {
        assert_eq!(
            misp_add_url("https://misp.example/").unwrap().as_str(),
            "https://misp.example/sightings/add"
        );
        assert_eq!(
            misp_add_url("https://misp.example/misp").unwrap().as_str(),
            "https://misp.example/misp/sightings/add"
        );
        assert!(misp_add_url("ftp://x").is_none());
    }
}
