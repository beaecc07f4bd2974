//! Analysts' verdicts: indicators (or an indicator on one host) marked as false positives.
//!
//! Read [`Feedback`] first. Marks come from two places and are merged into one read-only
//! index that matcher threads consult with [`Feedback::verdict`], a lock-free load of an
//! `ArcSwap` and one hash lookup (two when the indicator has per-host marks):
//!
//! * the admin API (`POST`/`GET`/`DELETE /feedback`, see `daemon::admin`), whose marks are
//!   persisted to `[feedback] state` (JSON, written to a temporary file and renamed over the
//!   old one) so that they survive restarts;
//! * a watched file (`[feedback] file`), reloaded when it changes; its format is below. A bad
//!   line is reported with its number and skipped; an unreadable file keeps the marks it had.
//!
//! A change builds a new index beside the current one and swaps it in: it takes effect for the
//! next hit, without a restart, and is logged and counted (`iocd_feedback_marks`).
//!
//! # Limits
//!
//! Marks come from outside (an admin request, a file anyone with write access may edit), so
//! both paths are bounded the same way: at most `feedback.max_marks` marks from each origin
//! (an API mark beyond it is refused; a file with more is refused whole and its previous
//! marks stay), a feedback file of at most `feedback.max_file_bytes`, and each field of a
//! mark at most [`MAX_INDICATOR_BYTES`], [`MAX_HOST_BYTES`], [`MAX_REASON_BYTES`],
//! [`MAX_ANALYST_BYTES`] or [`MAX_EXPIRES_BYTES`] long, without control characters (a line
//! feed would forge a log line, an escape sequence would drive the terminal of whoever reads
//! the log) or bidirectional-text overrides. Every refusal is logged and counted in
//! `iocd_feedback_refused_total`; text from a mark is logged in its escaped (`Debug`) form.
//!
//! Indicators are canonicalized the way feeds are ([`crate::ioc::parse_indicator`]): a mark
//! on `hxxp://evil[.]com/` is the mark on `http://evil.com/`, and `evil.com/x` (no scheme)
//! marks both its `http://` and `https://` forms, as it would in a feed. A mark applies to the
//! indicator as listed, not to what it matched: marking `1.2.3.4` does not mark the network
//! `1.2.3.0/24`. Hosts are compared as canonical IP addresses, or as lower-case names
//! without a trailing dot.
//!
//! # The feedback file
//!
//! One mark per line; blank lines and lines starting with `#` are comments:
//!
//! ```text
//! INDICATOR [host=HOST] [expires=WHEN] [analyst=NAME] [# REASON]
//! ```
//!
//! `INDICATOR` is the first field (as in a plain feed list, defanged forms are fine), then
//! optional `key=value` fields separated by spaces, then an optional reason after ` #`. `WHEN`
//! is an RFC 3339 time (`2026-12-31T00:00:00Z`) or a duration from when the line was first read
//! (`30d`). Indicators that contain spaces (`string:...`) cannot be written in this file; mark
//! them through the API.
//!
//! ```text
//! cdn.example.net                          # shared CDN front, not C2
//! 198.51.100.7 host=10.1.2.3 analyst=alice # our vulnerability scanner
//! hxxp://evil[.]example/x expires=30d      # sinkholed since March
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntGauge};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::decode::time::{Digits, rfc3339};
use crate::telemetry::Metrics;

/// Longest indicator of a mark (a long URL fits).
pub const MAX_INDICATOR_BYTES: usize = 2048;
/// Longest host of a mark (a DNS name has at most 253 characters).
pub const MAX_HOST_BYTES: usize = 255;
/// Longest reason of a mark.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest analyst name of a mark.
pub const MAX_ANALYST_BYTES: usize = 128;
/// Longest `expires` of a mark.
pub const MAX_EXPIRES_BYTES: usize = 64;

/// Where a mark was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkOrigin {
    /// The admin API (persisted to the state file).
    Api,
    /// The watched feedback file.
    File,
}

impl MarkOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkOrigin::Api => "api",
            MarkOrigin::File => "file",
        }
    }
}

/// One analyst verdict: `indicator` (on `host`, or everywhere) is a false positive.
#[derive(Debug)]
pub struct Mark {
    /// Canonical text of the indicator (`Pattern`'s `Display`).
    pub indicator: String,
    /// For a scheme-less URL (`evil.com/x`): the `https://` form, marked too.
    pub twin: Option<String>,
    /// Canonical host (IP address or lower-case name); `None` for every host.
    pub host: Option<String>,
    pub reason: String,
    pub analyst: String,
    pub created: DateTime<Utc>,
    /// After this the mark no longer applies (it stays listed until removed).
    pub expires: Option<DateTime<Utc>>,
    pub origin: MarkOrigin,
    /// `expires` as written (`30d`), to tell an unchanged file line from an edited one.
    expires_spec: Option<String>,
    hits: AtomicU64,
    /// Unix seconds of the last hit this mark matched (0: none).
    last_hit: AtomicI64,
}

impl Mark {
    /// Hits this mark has matched since it was loaded.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether the mark still applies at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|e| e > now)
    }

    fn same_target(&self, indicator: &str, host: Option<&str>) -> bool {
        self.indicator == indicator && self.host.as_deref() == host
    }

    /// The JSON view of the API and the state file.
    pub fn view(&self) -> MarkView {
        let last = self.last_hit.load(Ordering::Relaxed);
        MarkView {
            indicator: self.indicator.clone(),
            host: self.host.clone(),
            reason: self.reason.clone(),
            analyst: self.analyst.clone(),
            created: rfc3339(&self.created, Digits::Secs),
            expires: self.expires.map(|t| rfc3339(&t, Digits::Secs)),
            origin: self.origin,
            hits: self.hits(),
            last_hit: (last > 0)
                .then(|| DateTime::from_timestamp(last, 0).map(|t| rfc3339(&t, Digits::Secs)))
                .flatten(),
            active: self.is_active(Utc::now()),
        }
    }
}

/// A [`Mark`] as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkView {
    pub indicator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub analyst: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub origin: MarkOrigin,
    #[serde(default)]
    pub hits: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_hit: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// What `POST /feedback` takes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    /// Any form a feed may list (defanged, upper case, `domain-exact:`, ...).
    pub indicator: String,
    /// An IP address or a host name; absent: every host.
    #[serde(default)]
    pub host: Option<String>,
    pub reason: String,
    pub analyst: String,
    /// RFC 3339 time, or a duration from now (`12h`, `30d`).
    #[serde(default)]
    pub expires: Option<String>,
}

/// Why a mark was not made, removed or saved.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("indicator {value:?}: {reason}")]
    Indicator { value: String, reason: String },
    #[error("host {0:?} is not an IP address or a host name")]
    Host(String),
    #[error("expires {0:?} is neither an RFC 3339 time nor a duration (30d, 12h)")]
    Expires(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{field} is {len} bytes long; at most {max} are accepted")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{field} contains the control or text-direction character {found:?} at byte {at}: a \
         mark is one line of plain text"
    )]
    Control {
        field: &'static str,
        found: char,
        at: usize,
    },
    #[error(
        "{max} API marks are kept already (feedback.max_marks): remove one \
         (DELETE /feedback) before adding another"
    )]
    TooMany { max: usize },
    #[error("cannot save the feedback state to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FeedbackError {
    /// Whether the request was at fault (400) rather than iocd (500).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, FeedbackError::Save { .. })
    }

    /// Whether the request was refused for the number of marks already kept (409) rather
    /// than for what it carried.
    pub fn is_over_limit(&self) -> bool {
        matches!(self, FeedbackError::TooMany { .. })
    }

    /// The `reason` label of `iocd_feedback_refused_total`.
    fn metric_reason(&self) -> &'static str {
        if self.is_over_limit() {
            "too_many_marks"
        } else {
            "invalid"
        }
    }
}

/// Refuses a field longer than `max` bytes or with a character that could forge a log line
/// or drive a terminal: C0 and C1 controls (line feed, carriage return, escape, ...) and the
/// bidirectional-text overrides and isolates.
fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), FeedbackError> {
    if value.len() > max {
        return Err(FeedbackError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    match value.char_indices().find(|&(_, c)| bad(c)) {
        Some((at, found)) => Err(FeedbackError::Control { field, found, at }),
        None => Ok(()),
    }
}

/// A bad line of the feedback file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// What the last load of the feedback file found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileReport {
    pub path: Option<String>,
    pub loaded_at: Option<String>,
    pub marks: usize,
    pub errors: Vec<LineError>,
    /// Why the file could not be read at all, or was refused whole (too large, too many
    /// marks): the previous marks stayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// `GET /feedback/summary`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Marks that apply now, by origin.
    pub active: HashMap<&'static str, usize>,
    /// Marks past their expiry (listed until removed).
    pub expired: usize,
    /// Hits matched by a mark since start.
    pub suppressed_hits: u64,
    /// The marks that matched the most hits (at most 20).
    pub top: Vec<MarkView>,
    pub file: FileReport,
    /// The state file, when API marks are persisted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// The read side: canonical indicator -> marks.
#[derive(Default)]
struct Index {
    by_indicator: HashMap<Box<str>, Entry>,
}

#[derive(Default)]
struct Entry {
    everywhere: Option<Arc<Mark>>,
    hosts: HashMap<Box<str>, Arc<Mark>>,
}

#[derive(Default)]
struct Store {
    api: Vec<Arc<Mark>>,
    file: Vec<Arc<Mark>>,
    report: FileReport,
}

/// The false-positive marks, shared by the matcher threads (reads) and the admin server and
/// control loop (writes). Cheap to read; writes rebuild the index and swap it in.
pub struct Feedback {
    index: ArcSwap<Index>,
    store: Mutex<Store>,
    state: Option<PathBuf>,
    suppressed: IntCounter,
    marks_api: IntGauge,
    marks_file: IntGauge,
    file_errors: IntGauge,
    /// `iocd_feedback_refused_total`, by origin and reason.
    refused: prometheus::IntCounterVec,
    max_marks: usize,
    max_file_bytes: u64,
    /// +1 each time the marks change ([`Feedback::changes`]).
    changes: AtomicU64,
}

impl Default for Feedback {
    /// No marks, nothing persisted, metrics not registered anywhere (tests).
    fn default() -> Feedback {
        let counter = |n: &str| IntCounter::new(n, "unregistered").expect("valid metric");
        let gauge = |n: &str| IntGauge::new(n, "unregistered").expect("valid metric");
        Feedback {
            index: ArcSwap::from_pointee(Index::default()),
            store: Mutex::new(Store::default()),
            state: None,
            suppressed: counter("suppressed"),
            marks_api: gauge("marks_api"),
            marks_file: gauge("marks_file"),
            file_errors: gauge("file_errors"),
            refused: prometheus::IntCounterVec::new(
                prometheus::Opts::new("refused", "unregistered"),
                &["origin", "reason"],
            )
            .expect("valid metric"),
            max_marks: crate::config::FeedbackConfig::default().max_marks,
            max_file_bytes: crate::config::FeedbackConfig::default().max_file_bytes,
            changes: AtomicU64::new(0),
        }
    }
}

impl Feedback {
    /// Marks persisted to `state` (loaded now when it exists), counted in `metrics`.
    ///
    /// A state file that cannot be read or parsed is logged, moved aside to `<state>.bad`
    /// (so that the next save does not destroy what an operator may want to recover) and
    /// iocd starts without API marks: feedback must never stop the daemon.
    pub fn new(metrics: &Metrics, state: Option<PathBuf>) -> Feedback {
        let f = Feedback {
            state: state.clone(),
            suppressed: metrics.feedback_suppressed.clone(),
            marks_api: metrics.feedback_marks.with_label_values(&["api"]),
            marks_file: metrics.feedback_marks.with_label_values(&["file"]),
            file_errors: metrics.feedback_file_errors.clone(),
            refused: metrics.feedback_refused.clone(),
            ..Feedback::default()
        };
        if let Some(path) = &state {
            match load_state(path) {
                Ok(marks) => {
                    let n = marks.len();
                    f.lock().api = marks;
                    if n > 0 {
                        info!(path = %path.display(), marks = n, "feedback marks loaded");
                    }
                    let max = f.max_marks;
                    if n > max {
                        warn!(path = %path.display(), marks = n, max,
                            "more API marks than feedback.max_marks: new ones are refused until some are removed");
                    }
                }
                Err(e) => {
                    let aside = path.with_extension("bad");
                    let moved = std::fs::rename(path, &aside).is_ok();
                    error!(path = %path.display(), error = ?e, moved_to = moved.then(|| aside.display().to_string()),
                        "the feedback state file is unreadable; starting without API marks");
                }
            }
        }
        f.publish(&f.lock());
        f
    }

    /// At most `max_marks` marks from each origin and a feedback file of at most
    /// `max_file_bytes` (see the module docs).
    pub fn with_limits(mut self, max_marks: usize, max_file_bytes: u64) -> Feedback {
        self.max_marks = max_marks.max(1);
        self.max_file_bytes = max_file_bytes;
        let n = self.lock().api.len();
        if n > self.max_marks {
            warn!(
                marks = n,
                max = self.max_marks,
                "more API marks than feedback.max_marks: new ones are refused until some are removed"
            );
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mark that makes a hit of `indicator` (canonical text, as `Pattern` displays it)
    /// on `host` (an IP address or host name, any case) a false positive: a mark for every
    /// host first, then one for this host. Expired marks do not count.
    ///
    /// Lock-free. Call it once per hit: a verdict is counted as one suppressed hit
    /// (`iocd_feedback_suppressed_hits_total`) and on the mark's own hit counter.
    pub fn verdict(&self, indicator: &str, host: Option<&str>) -> Option<Arc<Mark>> {
        let index = self.index.load();
        let entry = index.by_indicator.get(indicator)?;
        let now = Utc::now();
        let found = entry
            .everywhere
            .as_ref()
            .filter(|m| m.is_active(now))
            .or_else(|| {
                if entry.hosts.is_empty() {
                    return None;
                }
                let h = canonical_host(host?)?;
                entry.hosts.get(h.as_str()).filter(|m| m.is_active(now))
            })?;
        found.hits.fetch_add(1, Ordering::Relaxed);
        found.last_hit.store(now.timestamp(), Ordering::Relaxed);
        self.suppressed.inc();
        Some(found.clone())
    }

    /// Whether `indicator` (canonical text) has an active mark for every host: what exports
    /// leave out. Unlike [`Feedback::verdict`] it counts nothing.
    pub fn marked_everywhere(&self, indicator: &str, now: DateTime<Utc>) -> bool {
        self.index
            .load()
            .by_indicator
            .get(indicator)
            .and_then(|e| e.everywhere.as_ref())
            .is_some_and(|m| m.is_active(now))
    }

    /// Adds (or replaces: same indicator and host) an API mark and persists it. On a save
    /// failure nothing changes.
    pub fn add(&self, req: MarkRequest) -> Result<Arc<Mark>, FeedbackError> {
        let added = self.add_checked(req);
        if let Err(e) = &added
            && e.is_bad_request()
        {
            self.refused
                .with_label_values(&["api", e.metric_reason()])
                .inc();
        }
        added
    }

    fn add_checked(&self, req: MarkRequest) -> Result<Arc<Mark>, FeedbackError> {
        let now = Utc::now();
        // As sent, before trimming: a reason ending in a line feed is refused too.
        check_text("reason", &req.reason, MAX_REASON_BYTES)?;
        check_text("analyst", &req.analyst, MAX_ANALYST_BYTES)?;
        if req.reason.trim().is_empty() {
            return Err(FeedbackError::Empty("reason"));
        }
        if req.analyst.trim().is_empty() {
            return Err(FeedbackError::Empty("analyst"));
        }
        let mark = Arc::new(make_mark(
            &req.indicator,
            req.host.as_deref(),
            req.expires.as_deref(),
            req.reason.trim(),
            req.analyst.trim(),
            now,
            MarkOrigin::Api,
        )?);
        let mut st = self.lock();
        let mut api = st.api.clone();
        api.retain(|m| !m.same_target(&mark.indicator, mark.host.as_deref()));
        // Replacing a mark never grows the list: always allowed.
        if api.len() >= self.max_marks {
            return Err(FeedbackError::TooMany {
                max: self.max_marks,
            });
        }
        api.push(mark.clone());
        self.save(&api)?;
        st.api = api;
        self.publish(&st);
        info!(indicator = ?mark.indicator, host = ?mark.host.as_deref().unwrap_or("*"),
            analyst = ?mark.analyst, reason = ?mark.reason, expires = mark.expires.map(|t| rfc3339(&t, Digits::Secs)),
            "feedback: marked as false positive");
        Ok(mark)
    }

    /// Removes the API mark on `indicator` (any form) and `host`, and persists the change.
    /// `Ok(None)`: there was none (file marks are removed by editing the file).
    pub fn remove(
        &self,
        indicator: &str,
        host: Option<&str>,
    ) -> Result<Option<Arc<Mark>>, FeedbackError> {
        let (canonical, _) = canonical_indicator(indicator)?;
        let host = match host.filter(|h| !h.trim().is_empty()) {
            Some(h) => {
                check_text("host", h, MAX_HOST_BYTES)?;
                Some(canonical_host(h).ok_or_else(|| FeedbackError::Host(h.to_owned()))?)
            }
            None => None,
        };
        let mut st = self.lock();
        let Some(pos) = st
            .api
            .iter()
            .position(|m| m.same_target(&canonical, host.as_deref()))
        else {
            return Ok(None);
        };
        let mut api = st.api.clone();
        let removed = api.remove(pos);
        self.save(&api)?;
        st.api = api;
        self.publish(&st);
        info!(indicator = ?removed.indicator, host = ?removed.host.as_deref().unwrap_or("*"),
            "feedback: mark removed");
        Ok(Some(removed))
    }

    /// How many times the marks changed: a caller that caches something made from the marks
    /// rebuilds it when this moves.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Active marks on indicators `set` lists, by feed name (every feed of the set, 0 when
    /// none): the feedback half of a feed's value (`iocd_feed_false_positive_marks`). A mark
    /// counts once for each feed that lists its indicator (or its `https://` twin), whatever
    /// the host it is limited to.
    pub fn marks_by_feed(&self, set: &crate::IocSet, now: DateTime<Utc>) -> Vec<(String, i64)> {
        let feeds = set.feeds();
        let mut counts = vec![0i64; feeds.len()];
        let mut hit: Vec<bool> = vec![false; feeds.len()];
        for m in self.list().iter().filter(|m| m.is_active(now)) {
            hit.iter_mut().for_each(|h| *h = false);
            for text in std::iter::once(&m.indicator).chain(&m.twin) {
                for id in listed(set, text) {
                    for s in set.sources(id) {
                        hit[s.feed as usize] = true;
                    }
                }
            }
            for (c, h) in counts.iter_mut().zip(&hit) {
                *c += i64::from(*h);
            }
        }
        feeds.iter().map(|f| f.name.clone()).zip(counts).collect()
    }

    /// Every mark, API marks first.
    pub fn list(&self) -> Vec<Arc<Mark>> {
        let st = self.lock();
        st.api.iter().chain(&st.file).cloned().collect()
    }

    /// Counts, the most-hit marks and the file's last load.
    pub fn summary(&self) -> Summary {
        let st = self.lock();
        let now = Utc::now();
        let all: Vec<&Arc<Mark>> = st.api.iter().chain(&st.file).collect();
        let mut active = HashMap::from([("api", 0), ("file", 0)]);
        let mut expired = 0;
        for m in &all {
            if m.is_active(now) {
                *active.entry(m.origin.as_str()).or_default() += 1;
            } else {
                expired += 1;
            }
        }
        let mut top: Vec<&Arc<Mark>> = all.iter().copied().filter(|m| m.hits() > 0).collect();
        top.sort_by_key(|m| std::cmp::Reverse(m.hits()));
        Summary {
            active,
            expired,
            suppressed_hits: self.suppressed.get(),
            top: top.iter().take(20).map(|m| m.view()).collect(),
            file: st.report.clone(),
            state: self.state.as_ref().map(|p| p.display().to_string()),
        }
    }

    /// Reads the feedback file again and swaps its marks in. Bad lines are logged with their
    /// number and skipped; a file that cannot be read keeps the previous file marks.
    pub fn load_file(&self, path: &Path) -> FileReport {
        let now = Utc::now();
        let loaded_at = Some(rfc3339(&now, Digits::Secs));
        let shown = Some(path.display().to_string());
        let mut st = self.lock();
        let refuse = |st: &mut Store, reason: &'static str, why: String| {
            self.refused.with_label_values(&["file", reason]).inc();
            error!(path = %path.display(), reason, error = ?why,
                "feedback file refused whole; its previous marks stay");
            st.report = FileReport {
                path: shown.clone(),
                loaded_at: loaded_at.clone(),
                marks: st.file.len(),
                errors: Vec::new(),
                unreadable: Some(why),
            };
        };
        match read_at_most(path, self.max_file_bytes) {
            Err(e) => {
                error!(path = %path.display(), error = %e,
                    "feedback file unreadable; its previous marks stay");
                st.report = FileReport {
                    path: shown,
                    loaded_at,
                    marks: st.file.len(),
                    errors: Vec::new(),
                    unreadable: Some(e.to_string()),
                };
            }
            Ok(None) => refuse(
                &mut st,
                "too_large",
                format!(
                    "larger than {} bytes (feedback.max_file_bytes)",
                    self.max_file_bytes
                ),
            ),
            Ok(Some(bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                let (marks, errors) = parse_file(&text, now);
                if marks.len() > self.max_marks {
                    refuse(
                        &mut st,
                        "too_many_marks",
                        format!(
                            "{} marks, more than feedback.max_marks ({})",
                            marks.len(),
                            self.max_marks
                        ),
                    );
                    self.publish(&st);
                    return st.report.clone();
                }
                for e in &errors {
                    warn!(path = %path.display(), line = e.line, reason = ?e.reason,
                        "feedback file: line skipped");
                }
                // Keep the hit counts of marks that did not change, and the creation and
                // expiry of lines whose `expires` did not change: `expires=30d` counts from
                // when the line was first read, not from the last edit of another line.
                let marks: Vec<Arc<Mark>> = marks
                    .into_iter()
                    .map(|mut m| {
                        if let Some(old) = st
                            .file
                            .iter()
                            .find(|o| o.same_target(&m.indicator, m.host.as_deref()))
                        {
                            m.hits.store(old.hits(), Ordering::Relaxed);
                            m.last_hit
                                .store(old.last_hit.load(Ordering::Relaxed), Ordering::Relaxed);
                            if old.expires_spec == m.expires_spec {
                                m.created = old.created;
                                m.expires = old.expires;
                            }
                        }
                        Arc::new(m)
                    })
                    .collect();
                info!(path = %path.display(), marks = marks.len(), bad_lines = errors.len(),
                    "feedback file loaded");
                st.report = FileReport {
                    path: shown,
                    loaded_at,
                    marks: marks.len(),
                    errors,
                    unreadable: None,
                };
                st.file = marks;
            }
        }
        self.publish(&st);
        st.report.clone()
    }

    /// Builds the read index from `st` and swaps it in; updates the gauges.
    fn publish(&self, st: &Store) {
        let mut index = Index::default();
        // File marks first: an API mark on the same target wins.
        for m in st.file.iter().chain(&st.api) {
            for key in std::iter::once(&m.indicator).chain(&m.twin) {
                let e = index.by_indicator.entry(key.as_str().into()).or_default();
                match &m.host {
                    None => e.everywhere = Some(m.clone()),
                    Some(h) => {
                        e.hosts.insert(h.as_str().into(), m.clone());
                    }
                }
            }
        }
        self.index.store(Arc::new(index));
        self.changes.fetch_add(1, Ordering::Release);
        self.marks_api.set(st.api.len() as i64);
        self.marks_file.set(st.file.len() as i64);
        self.file_errors.set(st.report.errors.len() as i64);
    }

    fn save(&self, api: &[Arc<Mark>]) -> Result<(), FeedbackError> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        let views: Vec<MarkView> = api.iter().map(|m| m.view()).collect();
        let mut text = serde_json::to_vec_pretty(&views).expect("marks serialize");
        text.push(b'\n');
        write_atomic(path, &text).map_err(|source| FeedbackError::Save {
            path: path.clone(),
            source,
        })
    }
}

/// The whole of `path`, or `None` when it is longer than `max` bytes (read no further).
fn read_at_most(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`:
/// a crash leaves the old file or the new one, never half of one.
/// The temporary name is `crate::statefile`'s, so that a start after a crash removes what
/// this left behind.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::statefile::write_atomic(path, bytes)
}

fn load_state(path: &Path) -> Result<Vec<Arc<Mark>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let views: Vec<MarkView> = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(views.len());
    for v in views {
        let created = parse_time(&v.created).ok_or_else(|| format!("bad time {:?}", v.created))?;
        let m = make_mark(
            &v.indicator,
            v.host.as_deref(),
            v.expires.as_deref(),
            &v.reason,
            &v.analyst,
            created,
            MarkOrigin::Api,
        )
        .map_err(|e| e.to_string())?;
        m.hits.store(v.hits, Ordering::Relaxed);
        out.push(Arc::new(m));
    }
    Ok(out)
}

/// The indicators of `set` whose canonical text is `text` (a mark's indicator): the text
/// alone does not say whether a domain was listed with its subdomains, a URL as a prefix or a
/// string case-insensitively, so each form is looked up.
fn listed(set: &crate::IocSet, text: &str) -> Vec<crate::IocId> {
    use crate::matcher::Pattern;
    let mut candidates: Vec<Pattern> = Vec::with_capacity(4);
    match crate::ioc::parse_indicator(text) {
        Ok(Pattern::Domain { name, .. }) => {
            for subdomains in [true, false] {
                candidates.push(Pattern::Domain {
                    name: name.clone(),
                    subdomains,
                });
            }
        }
        Ok(Pattern::Url { url, .. }) => {
            for prefix in [false, true] {
                candidates.push(Pattern::Url {
                    url: url.clone(),
                    prefix,
                });
            }
        }
        Ok(p) => candidates.push(p),
        Err(_) => {}
    }
    for case_insensitive in [false, true] {
        candidates.push(Pattern::String {
            text: text.to_owned(),
            case_insensitive,
        });
    }
    let mut ids: Vec<crate::IocId> = candidates
        .iter()
        .filter_map(|p| set.find(p))
        .filter(|&id| set.pattern(id).to_string() == text)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The canonical text of an indicator, and of its `https://` twin for a scheme-less URL.
pub fn canonical_indicator(raw: &str) -> Result<(String, Option<String>), FeedbackError> {
    check_text("indicator", raw, MAX_INDICATOR_BYTES)?;
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(FeedbackError::Empty("indicator"));
    }
    let p = crate::ioc::parse_indicator(raw).map_err(|e| FeedbackError::Indicator {
        value: raw.to_owned(),
        reason: e.to_string(),
    })?;
    let twin = crate::ioc::https_twin(raw, &p).map(|t| t.to_string());
    Ok((p.to_string(), twin))
}

/// An IP address in its canonical text (an IPv4-mapped IPv6 address as its IPv4 address), or
/// a lower-case host name without a trailing dot.
/// `None` for an empty value or one with characters no host name has.
pub fn canonical_host(raw: &str) -> Option<String> {
    let h = raw.trim();
    let bare = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        // A dual-stack log writes an IPv4 client as `::ffff:10.1.2.3`: the same host.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        return Some(ip.to_string());
    }
    let name = h.trim_end_matches('.');
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then(|| name.to_ascii_lowercase())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339, or a duration after `now`.
fn parse_expires(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FeedbackError> {
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    humantime::parse_duration(s.trim())
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| FeedbackError::Expires(s.to_owned()))
}

fn make_mark(
    indicator: &str,
    host: Option<&str>,
    expires: Option<&str>,
    reason: &str,
    analyst: &str,
    created: DateTime<Utc>,
    origin: MarkOrigin,
) -> Result<Mark, FeedbackError> {
    check_text("reason", reason, MAX_REASON_BYTES)?;
    check_text("analyst", analyst, MAX_ANALYST_BYTES)?;
    if let Some(e) = expires {
        check_text("expires", e, MAX_EXPIRES_BYTES)?;
    }
    let (indicator, twin) = canonical_indicator(indicator)?;
    let host = match host.filter(|h| !h.trim().is_empty()) {
        Some(h) => {
            check_text("host", h, MAX_HOST_BYTES)?;
            Some(canonical_host(h).ok_or_else(|| FeedbackError::Host(h.to_owned()))?)
        }
        None => None,
    };
    let expires_spec = expires
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    let expires = match &expires_spec {
        Some(e) => Some(parse_expires(e, created)?),
        None => None,
    };
    Ok(Mark {
        indicator,
        twin,
        host,
        reason: reason.to_owned(),
        analyst: analyst.to_owned(),
        created,
        expires,
        origin,
        expires_spec,
        hits: AtomicU64::new(0),
        last_hit: AtomicI64::new(0),
    })
}

/// Parses the feedback file format (see the module docs). `now` is the creation time of
/// every mark and the start of relative expiries.
fn parse_file(text: &str, now: DateTime<Utc>) -> (Vec<Mark>, Vec<LineError>) {
    let mut marks: Vec<Mark> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (fields, reason) = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(at) => (&line[..at], line[at + 2..].trim()),
            None => (line, ""),
        };
        let mut parts = fields.split_whitespace();
        let indicator = parts.next().unwrap_or_default();
        let (mut host, mut expires, mut analyst) = (None, None, None);
        let mut bad = None;
        for p in parts {
            match p.split_once('=') {
                Some(("host", v)) => host = Some(v),
                Some(("expires", v)) => expires = Some(v),
                Some(("analyst", v)) => analyst = Some(v),
                _ => {
                    bad = Some(format!(
                        "unexpected {p:?}: after the indicator only host=, expires=, analyst= and \"# reason\""
                    ));
                    break;
                }
            }
        }
        let made = match bad {
            Some(reason) => Err(reason),
            None => make_mark(
                indicator,
                host,
                expires,
                reason,
                analyst.unwrap_or("feedback file"),
                now,
                MarkOrigin::File,
            )
            .map_err(|e| e.to_string()),
        };
        match made {
            Ok(m) => {
                // The same target twice: the later line wins, as when editing a list.
                marks.retain(|o| !o.same_target(&m.indicator, m.host.as_deref()));
                marks.push(m);
            }
            Err(reason) => errors.push(LineError {
                line: line_no,
                reason,
            }),
        }
    }
    (marks, errors)
}

/// For the fuzz target only (fuzz/fuzz_targets/feedback_file.rs): parses feedback-file bytes
/// as [`Feedback::load_file`] does, and returns how many marks it gave and the line numbers of
/// the lines it reported.
#[doc(hidden)]
pub fn parse_feedback_file(bytes: &[u8]) -> (usize, Vec<usize>) {
    let (marks, errors) = parse_file(&String::from_utf8_lossy(bytes), Utc::now());
    (marks.len(), errors.iter().map(|e| e.line).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(indicator: &str, host: Option<&str>) -> MarkRequest {
        MarkRequest {
            indicator: indicator.into(),
            host: host.map(Into::into),
            reason: "cdn".into(),
            analyst: "alice".into(),
            expires: None,
        }
    }

    #[test]
    fn defanged_marks_match_canonical_indicators() {
        let f = Feedback::default();
        f.add(req("hxxp://EVIL[.]com/", None)).unwrap();
        f.add(req("evil.example/x", None)).unwrap();
        assert!(f.verdict("http://evil.com/", None).is_some());
        assert!(f.verdict("http://evil.example/x", Some("h")).is_some());
        assert!(
            f.verdict("https://evil.example/x", None).is_some(),
            "https twin"
        );
        assert!(f.verdict("http://evil.com/y", None).is_none());
        assert_eq!(f.suppressed.get(), 3);
    }

    #[test]
    fn host_marks_apply_to_that_host_only() {
        let f = Feedback::default();
        f.add(req("198.51.100.7", Some("10.1.2.3"))).unwrap();
        f.add(req("evil.com", Some("WS01.corp."))).unwrap();
        assert!(f.verdict("198.51.100.7", Some("10.1.2.3")).is_some());
        assert!(f.verdict("198.51.100.7", Some("10.1.2.4")).is_none());
        assert!(f.verdict("198.51.100.7", None).is_none());
        assert!(f.verdict("evil.com", Some("ws01.CORP")).is_some());
        let m = f.verdict("evil.com", Some("ws01.corp")).unwrap();
        assert_eq!(m.hits(), 2);
        assert_eq!(m.host.as_deref(), Some("ws01.corp"));
    }

    #[test]
    fn expired_marks_do_not_apply() {
        let f = Feedback::default();
        let mut r = req("1.2.3.4", None);
        r.expires = Some("2000-01-01T00:00:00Z".into());
        f.add(r).unwrap();
        assert!(f.verdict("1.2.3.4", None).is_none());
        let mut r = req("1.2.3.5", None);
        r.expires = Some("1h".into());
        let m = f.add(r).unwrap();
        assert!(m.expires.unwrap() > Utc::now());
        assert!(f.verdict("1.2.3.5", None).is_some());
        assert_eq!(f.summary().expired, 1);
    }

    #[test]
    fn bad_requests_are_refused() {
        let f = Feedback::default();
        assert!(matches!(
            f.add(req("1.2.3.999", None)),
            Err(FeedbackError::Indicator { .. })
        ));
        assert!(matches!(
            f.add(req("1.2.3.4", Some("a b"))),
            Err(FeedbackError::Host(_))
        ));
        let mut r = req("1.2.3.4", None);
        r.reason = " ".into();
        assert!(matches!(f.add(r), Err(FeedbackError::Empty("reason"))));
        let mut r = req("1.2.3.4", None);
        r.expires = Some("soon".into());
        assert!(matches!(f.add(r), Err(FeedbackError::Expires(_))));
        assert!(f.list().is_empty());
    }

    #[test]
    fn control_characters_and_long_fields_are_refused_and_counted() {
        let m = Metrics::new();
        let f = Feedback::new(&m, None);
        for (field, value) in [
            ("reason", "ok\n2026-01-01T00:00:00Z INFO forged line"),
            ("reason", "red \u{1b}[31m text"),
            ("reason", "trailing line feed\n"),
            ("analyst", "al\rice"),
            ("reason", "bidi \u{202e}txt.exe"),
        ] {
            let mut r = req("1.2.3.4", None);
            match field {
                "reason" => r.reason = value.into(),
                _ => r.analyst = value.into(),
            }
            let e = f.add(r).unwrap_err();
            assert!(matches!(e, FeedbackError::Control { .. }), "{value:?}: {e}");
            assert!(e.is_bad_request());
            assert!(!e.to_string().contains('\n') && !e.to_string().contains('\u{1b}'));
        }
        let mut r = req("1.2.3.4", None);
        r.reason = "x".repeat(MAX_REASON_BYTES + 1);
        let e = f.add(r).unwrap_err();
        assert!(
            matches!(
                e,
                FeedbackError::TooLong {
                    field: "reason",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().len() < 200,
            "the error does not echo the field"
        );
        let e = f
            .add(req(
                &format!("{}.com", "a".repeat(MAX_INDICATOR_BYTES)),
                None,
            ))
            .unwrap_err();
        assert!(
            matches!(
                e,
                FeedbackError::TooLong {
                    field: "indicator",
                    ..
                }
            ),
            "{e}"
        );
        let e = f.add(req("1.2.3.4", Some("ws01\u{1b}"))).unwrap_err();
        assert!(
            matches!(e, FeedbackError::Control { field: "host", .. }),
            "{e}"
        );
        assert!(f.list().is_empty());
        assert!(
            m.render()
                .contains("iocd_feedback_refused_total{origin=\"api\",reason=\"invalid\"} 8"),
            "{}",
            m.render()
        );
    }

    #[test]
    fn api_marks_stop_at_the_limit_but_replacing_one_is_fine() {
        let m = Metrics::new();
        let f = Feedback::new(&m, None).with_limits(2, 1 << 20);
        f.add(req("1.2.3.4", None)).unwrap();
        f.add(req("1.2.3.5", None)).unwrap();
        let e = f.add(req("1.2.3.6", None)).unwrap_err();
        assert!(e.is_over_limit(), "{e}");
        f.add(req("1.2.3.5", None)).expect("same target: replaced");
        assert_eq!(f.list().len(), 2);
        f.remove("1.2.3.4", None).unwrap().unwrap();
        f.add(req("1.2.3.6", None)).unwrap();
        assert!(
            m.render().contains(
                "iocd_feedback_refused_total{origin=\"api\",reason=\"too_many_marks\"} 1"
            )
        );
    }

    #[test]
    fn an_over_limit_file_is_refused_whole_and_the_old_marks_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp.txt");
        let m = Metrics::new();
        let f = Feedback::new(&m, None).with_limits(3, 1024);
        std::fs::write(&path, "a.example\nb.example\n").unwrap();
        assert_eq!(f.load_file(&path).marks, 2);
        // Four marks: one too many.
        std::fs::write(&path, "c.example\nd.example\ne.example\nf.example\n").unwrap();
        let r = f.load_file(&path);
        assert!(
            r.unreadable.as_deref().unwrap().contains("max_marks"),
            "{r:?}"
        );
        assert!(f.verdict("a.example", None).is_some());
        assert!(f.verdict("c.example", None).is_none());
        // Too many bytes, even if few marks.
        std::fs::write(&path, format!("g.example # {}\n", "x".repeat(2000))).unwrap();
        let r = f.load_file(&path);
        assert!(
            r.unreadable.as_deref().unwrap().contains("max_file_bytes"),
            "{r:?}"
        );
        assert!(f.verdict("b.example", None).is_some());
        // A line with an escape is one bad line, the rest loads.
        std::fs::write(&path, "h.example # a \u{1b}[2J b\ni.example\n").unwrap();
        let r = f.load_file(&path);
        assert_eq!((r.marks, r.errors.len()), (1, 1), "{r:?}");
        assert!(f.verdict("i.example", None).is_some());
        let text = m.render();
        for reason in ["too_many_marks", "too_large"] {
            assert!(
                text.contains(&format!(
                    "iocd_feedback_refused_total{{origin=\"file\",reason=\"{reason}\"}} 1"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn file_format_reports_bad_lines_by_number() {
        let now = Utc::now();
        let text = "\u{feff}# comment\n\
            cdn.example.net   # shared CDN\n\
            \n\
            198.51.100.7 host=10.1.2.3 analyst=bob expires=30d # scanner\n\
            1.2.3.999\n\
            evil.com color=red\n\
            EVIL.COM # again, later wins\n";
        let (marks, errors) = parse_file(text, now);
        assert_eq!(marks.len(), 3, "{marks:?}");
        assert_eq!(marks[0].indicator, "cdn.example.net");
        assert_eq!(marks[0].reason, "shared CDN");
        assert_eq!(marks[1].host.as_deref(), Some("10.1.2.3"));
        assert_eq!(marks[1].analyst, "bob");
        assert!(marks[1].expires.unwrap() > now + chrono::Duration::days(29));
        assert_eq!(marks[2].reason, "again, later wins");
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [5, 6]);
    }

    #[test]
    fn state_survives_a_restart_and_bad_state_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.json");
        let m = Metrics::new();
        let f = Feedback::new(&m, Some(path.clone()));
        f.add(req("evil.com", None)).unwrap();
        f.add(req("1.2.3.4", Some("10.0.0.1"))).unwrap();
        f.verdict("evil.com", None).unwrap();
        assert_eq!(
            f.remove("EVIL[.]com", None).unwrap().unwrap().indicator,
            "evil.com"
        );
        assert!(f.remove("evil.com", None).unwrap().is_none());
        drop(f);
        let m = Metrics::new();
        let f = Feedback::new(&m, Some(path.clone()));
        assert_eq!(f.list().len(), 1);
        assert!(f.verdict("1.2.3.4", Some("10.0.0.1")).is_some());
        assert!(m.render().contains("iocd_feedback_marks{origin=\"api\"} 1"));
        drop(f);

        std::fs::write(&path, b"not json").unwrap();
        let f = Feedback::new(&Metrics::new(), Some(path.clone()));
        assert!(f.list().is_empty());
        assert!(path.with_extension("bad").exists());
    }

    #[test]
    fn a_relative_expiry_counts_from_the_first_load_of_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp.txt");
        let f = Feedback::default();
        std::fs::write(&path, "evil.com expires=1h\n1.2.3.4 expires=1h\n").unwrap();
        f.load_file(&path);
        let first = |f: &Feedback, ind: &str| {
            let m = f.list().into_iter().find(|m| m.indicator == ind).unwrap();
            (m.created, m.expires.unwrap())
        };
        let (created, expires) = first(&f, "evil.com");
        let (_, other) = first(&f, "1.2.3.4");
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Another line is added, this one's expiry is edited: only the edited one moves.
        std::fs::write(
            &path,
            "evil.com expires=1h\n1.2.3.4 expires=2h\nnew.example\n",
        )
        .unwrap();
        f.load_file(&path);
        assert_eq!(
            first(&f, "evil.com"),
            (created, expires),
            "an edit elsewhere"
        );
        assert!(first(&f, "1.2.3.4").1 > other + chrono::Duration::minutes(59));
    }

    #[test]
    fn file_reload_swaps_marks_and_keeps_the_old_ones_when_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp.txt");
        let f = Feedback::default();
        std::fs::write(&path, "evil.com\nbad..name\n").unwrap();
        let r = f.load_file(&path);
        assert_eq!((r.marks, r.errors.len()), (1, 1));
        assert!(f.verdict("evil.com", None).is_some());
        std::fs::write(&path, "other.com\n").unwrap();
        f.load_file(&path);
        assert!(f.verdict("evil.com", None).is_none());
        assert!(f.verdict("other.com", None).is_some());
        std::fs::remove_file(&path).unwrap();
        let r = f.load_file(&path);
        assert!(r.unreadable.is_some());
        assert!(f.verdict("other.com", None).is_some());
        // An API mark on the same target wins over the file's.
        f.add(req("other.com", None)).unwrap();
        assert_eq!(
            f.verdict("other.com", None).unwrap().origin,
            MarkOrigin::Api
        );
    }

    #[test]
    fn marks_are_charged_to_every_feed_that_lists_the_indicator() {
        use crate::matcher::{Compiler, Pattern, SourceRef};
        let mut c = Compiler::new();
        let a = c.add_feed("a", "a.txt");
        let b = c.add_feed("b", "b.txt");
        let quiet = c.add_feed("quiet", "q.txt");
        let ip = Pattern::Ipv4("192.0.2.7".parse().unwrap());
        c.add(&ip, SourceRef::plain(a, 1));
        c.add(&ip, SourceRef::plain(b, 4));
        // Listed twice by one feed: still one mark for it.
        c.add(&ip, SourceRef::plain(b, 9));
        let exact = Pattern::Domain {
            name: "cdn.example".into(),
            subdomains: false,
        };
        c.add(&exact, SourceRef::plain(a, 2));
        c.add(
            &Pattern::Url {
                url: "https://x.example/p".into(),
                prefix: false,
            },
            SourceRef::plain(b, 5),
        );
        c.add(
            &Pattern::Ipv4("192.0.2.99".parse().unwrap()),
            SourceRef::plain(quiet, 1),
        );
        let set = c.build();
        let f = Feedback::default();
        let before = f.changes();
        f.add(req("192.0.2.7", Some("10.0.0.1"))).unwrap();
        assert!(f.changes() > before, "a new mark is a change");
        // Listed without its subdomains: the mark's text finds it all the same.
        f.add(req("cdn[.]example", None)).unwrap();
        // A scheme-less URL marks its https:// twin, which feed b lists.
        f.add(req("x.example/p", None)).unwrap();
        // Not in the set: charged to nobody.
        f.add(req("198.51.100.1", None)).unwrap();
        let mut expired = req("192.0.2.99", None);
        expired.expires = Some("2001-01-01T00:00:00Z".into());
        let _ = f.add(expired);
        let got = f.marks_by_feed(&set, Utc::now());
        assert_eq!(
            got,
            vec![("a".into(), 2), ("b".into(), 2), ("quiet".into(), 0)]
        );
    }
}
