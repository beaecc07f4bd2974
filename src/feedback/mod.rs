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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntGauge};
use tracing::{error, info, warn};

use crate::telemetry::Metrics;
use crate::time::{Digits, rfc3339};

mod file;
mod mark;

#[cfg(feature = "fuzzing")]
pub use file::parse_feedback_file;
use file::*;
pub use file::{canonical_host, canonical_indicator};
pub use mark::*;

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
    pub(crate) fn with_limits(mut self, max_marks: usize, max_file_bytes: u64) -> Feedback {
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
    pub(crate) fn marked_everywhere(&self, indicator: &str, now: DateTime<Utc>) -> bool {
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
    pub(crate) fn marks_by_feed(
        &self,
        set: &crate::IocSet,
        now: DateTime<Utc>,
    ) -> Vec<(String, i64)> {
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
    pub(crate) fn load_file(&self, path: &Path) -> FileReport {
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

#[cfg(test)]
mod tests;
