//! Exports: the clean indicator set, published to the controls that block.
//!
//! iocd already does the hard part for matching (feeds normalised and merged with provenance,
//! safety rails, allowlists, expiry, false-positive marks, scores); an export hands the same
//! clean set to a firewall (external dynamic lists, nftables, ipset), a DNS resolver (a
//! response policy zone) or a sensor (Zeek intel, Suricata datasets), so a bad feed is kept
//! from blocking `0.0.0.0/0` or `google.com` there by the same rails that keep it from
//! alerting.
//!
//! Read [`Exports::update`] first: for each `[[exports]]` entry it [`select`](select())s the entries
//! (the compiled set minus what analysts marked false positive everywhere, filtered, cut to
//! `max_entries` keeping the best scores), [`render`](render())s them, and writes the file atomically
//! (`statefile::write_atomic`) when its content changed. A new version that would shrink or
//! grow the export by more than its `max_shrink` / `max_grow` share is *held back*: the
//! previous file stays, a warning is logged and counted, and the next update tries again — a
//! truncated feed must not empty a firewall's block list, nor a garbage one flood it.
//!
//! The daemon calls it from [`run`], a task that looks every second whether the set's
//! generation or the false-positive marks changed, and recomputes anyway every
//! `reload.expiry_interval` (scores decay and marks expire with time).
//!
//! The trade-off: an export is rebuilt whole, from the set, at each change (about what a
//! scan of the set's provenance costs), rather than patched; firewalls fetch whole lists
//! anyway, and a whole rebuild cannot drift from the set.

pub mod http;
pub mod render;
pub mod select;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

pub use render::{Rendered, aggregate, render};
pub use select::{Context, Entry, Left, select};

use crate::config::ExportConfig;
use crate::config::export::ExportFormat;
use crate::config::triage::ScoreConfig;
use crate::feedback::Feedback;
use crate::model::{SharedSet, Shutdown};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::ExportMetrics;
use crate::triage::assets::Allow;
use crate::triage::score::Scorer;
use iocd_engine::IocSet;

/// What an update did to one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was written.
    Written { entries: usize, bytes: usize },
    /// Same content as the version in place: nothing written.
    Unchanged,
    /// Held back by the change guard: `from` entries in place, `to` in the refused version.
    Held {
        reason: &'static str,
        from: usize,
        to: usize,
    },
    /// The file could not be written (the previous version, if any, stays).
    Failed(String),
}

/// Why a version was held back, as the `reason` label of `iocd_export_held_total`.
pub mod held {
    pub(crate) const SHRINK: &str = "shrink";
    pub(crate) const GROW: &str = "grow";
    pub const ALL: [&str; 2] = [SHRINK, GROW];
}

struct State {
    cfg: ExportConfig,
    /// Content of the version in place, without the RPZ serial (what "changed" compares).
    body: Option<Vec<u8>>,
    /// Entries of the version in place.
    entries: Option<usize>,
    /// The RPZ serial of the version in place.
    serial: u32,
    /// Content of the last version the guard held back (reported once).
    held: Option<Vec<u8>>,
    /// The file a previous run left, until this run writes its first version.
    previous: Option<String>,
}

/// Every configured export and what is in place for each.
pub struct Exports {
    states: Vec<State>,
    scorer: Scorer,
    default_confidence: u8,
    metrics: ExportMetrics,
    /// Where the export listener reads the versions in place, when it runs.
    published: Option<Arc<http::Published>>,
    /// `[triage.allow]`: what it spares from alerts is not exported either.
    allow: Option<Allow>,
}

impl Exports {
    pub fn new(cfgs: &[ExportConfig], score: &ScoreConfig, metrics: &Metrics) -> Exports {
        let exports = Exports {
            states: cfgs
                .iter()
                .map(|cfg| {
                    // The version a previous run left is what consumers have: the guard
                    // compares with it, and the listener serves it until a new one is written.
                    let in_place = std::fs::read_to_string(&cfg.path).ok();
                    State {
                        serial: in_place.as_deref().and_then(soa_serial).unwrap_or(0),
                        entries: in_place
                            .as_deref()
                            .map(|t| render::count_entries(cfg.format, t)),
                        previous: in_place,
                        cfg: cfg.clone(),
                        body: None,
                        held: None,
                    }
                })
                .collect(),
            scorer: Scorer::new(score.clone(), Default::default()),
            default_confidence: score.default_confidence,
            metrics: metrics.export.clone(),
            published: None,
            allow: None,
        };
        for st in &exports.states {
            if let (Some(text), Some(n)) = (&st.previous, st.entries) {
                let name = st.cfg.name.as_str();
                exports
                    .metrics
                    .entries
                    .with_label_values(&[name])
                    .set(n as i64);
                exports
                    .metrics
                    .bytes
                    .with_label_values(&[name])
                    .set(text.len() as i64);
            }
        }
        exports
    }

    /// Also puts each version written in `published`, for the export listener (each gets
    /// its ETag and gzip body then, once).
    pub(crate) fn publish_to(mut self, published: Arc<http::Published>) -> Exports {
        for st in &self.states {
            if let Some(text) = &st.previous {
                published.publish(
                    &st.cfg.name,
                    http::Version::new(st.cfg.format, text.clone().into_bytes()),
                );
            }
        }
        self.published = Some(published);
        self
    }

    /// Leaves out what the match-time allowlist (`[triage.allow]`) spares: an address in
    /// one of its networks, a network overlapping one, one of its host names or a parent
    /// domain of one, one of its indicators.
    pub(crate) fn with_allow(mut self, allow: Allow) -> Exports {
        self.allow = (!allow.is_empty()).then_some(allow);
        self
    }

    /// The names of the exports, in configuration order.
    pub fn names(&self) -> Vec<String> {
        self.states.iter().map(|s| s.cfg.name.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Rebuilds every export from `set` (loaded at `loaded_at`, Unix seconds) as of `now`,
    /// leaving out indicators `marked` false positive everywhere, and writes those that
    /// changed. One outcome per export, in configuration order; each is logged and counted.
    pub fn update(
        &mut self,
        set: &IocSet,
        loaded_at: i64,
        now: SystemTime,
        marked: &dyn Fn(&str) -> bool,
    ) -> Vec<Outcome> {
        let now_s = unix(now);
        let cx = Context {
            scorer: &self.scorer,
            default_confidence: self.default_confidence,
            now: now_s,
            loaded_at,
            marked,
            allow: self.allow.as_ref(),
        };
        let m = &self.metrics;
        let mut outcomes = Vec::with_capacity(self.states.len());
        for st in &mut self.states {
            let name = st.cfg.name.as_str();
            let (entries, left) = select(set, &st.cfg, &cx);
            // Rendered once without the serial to compare, and once with it to write.
            let body = render(&st.cfg, &entries, 0);
            if st.body.as_deref() == Some(body.bytes.as_slice()) {
                st.held = None;
                outcomes.push(Outcome::Unchanged);
                continue;
            }
            // The same refused version computed again (the next tick, the periodic pass) was
            // reported already: it is neither logged nor counted again.
            let seen = st.held.as_deref() == Some(body.bytes.as_slice());
            if !seen {
                for (reason, n) in &body.skipped {
                    m.skipped
                        .with_label_values(&[name, reason])
                        .inc_by(*n as u64);
                    warn!(
                        export = name,
                        reason,
                        entries = n,
                        "export entries left out"
                    );
                }
            }
            if let Some(from) = st.entries
                && let Some(reason) = guard(&st.cfg, from, body.entries)
            {
                if !seen {
                    m.held.with_label_values(&[name, reason]).inc();
                    warn!(
                        export = name,
                        reason,
                        in_place = from,
                        refused = body.entries,
                        max_shrink = st.cfg.max_shrink,
                        max_grow = ?st.cfg.max_grow,
                        "export change held back: the previous version stays"
                    );
                    st.held = Some(body.bytes.clone());
                }
                outcomes.push(Outcome::Held {
                    reason,
                    from,
                    to: body.entries,
                });
                continue;
            }
            st.held = None;
            let serial = (now_s.clamp(0, u32::MAX as i64) as u32).max(st.serial.wrapping_add(1));
            let file = if st.cfg.format == ExportFormat::Rpz {
                render(&st.cfg, &entries, serial).bytes
            } else {
                body.bytes.clone()
            };
            match crate::statefile::write_atomic(&st.cfg.path, &file) {
                Ok(()) => {
                    if let Some(p) = &self.published {
                        p.publish(name, http::Version::new(st.cfg.format, file.clone()));
                    }
                    st.body = Some(body.bytes);
                    st.entries = Some(body.entries);
                    st.previous = None;
                    st.serial = serial;
                    m.entries
                        .with_label_values(&[name])
                        .set(body.entries as i64);
                    m.bytes.with_label_values(&[name]).set(file.len() as i64);
                    m.last_change.with_label_values(&[name]).set(now_s);
                    m.writes.with_label_values(&[name]).inc();
                    info!(
                        export = name,
                        path = %st.cfg.path.display(),
                        entries = body.entries,
                        bytes = file.len(),
                        false_positive = left.false_positive,
                        allowed = left.allowed,
                        over_max = left.over_max,
                        "export written"
                    );
                    outcomes.push(Outcome::Written {
                        entries: body.entries,
                        bytes: file.len(),
                    });
                }
                Err(e) => {
                    m.errors.with_label_values(&[name]).inc();
                    warn!(export = name, path = %st.cfg.path.display(), error = %e,
                        "cannot write the export; the previous version stays");
                    outcomes.push(Outcome::Failed(e.to_string()));
                }
            }
        }
        outcomes
    }

    /// The files the exports write, for cleaning what a crash left beside them.
    pub fn paths(cfgs: &[ExportConfig]) -> Vec<PathBuf> {
        cfgs.iter().map(|c| c.path.clone()).collect()
    }
}

/// Whether a change from `from` to `to` entries is beyond the export's bounds (`from`: the
/// version this run wrote last, else the file a previous run left). An export that had
/// nothing in place is never held: there is nothing to protect.
fn guard(cfg: &ExportConfig, from: usize, to: usize) -> Option<&'static str> {
    if from == 0 {
        return None;
    }
    let (f, t) = (from as f64, to as f64);
    if t < f * (1.0 - cfg.max_shrink) {
        return Some(held::SHRINK);
    }
    if let Some(g) = cfg.max_grow
        && t > f * (1.0 + g)
    {
        return Some(held::GROW);
    }
    None
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The SOA serial of an RPZ file iocd wrote before, so a restart keeps serials increasing.
fn soa_serial(text: &str) -> Option<u32> {
    let line = text.lines().find(|l| l.starts_with("@ IN SOA "))?;
    line.split_whitespace().nth(5)?.parse().ok()
}

/// Keeps the exports current until shutdown: checks every second whether the set's
/// generation or the false-positive marks changed, and every `every` recomputes anyway.
/// The work runs on a blocking thread.
pub async fn run(
    mut exports: Exports,
    shared: SharedSet,
    feedback: Arc<Feedback>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut seen: Option<(u64, u64)> = None;
    let mut loaded_at = (0u64, unix(SystemTime::now()));
    let mut last = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snap = shared.load_full();
        let now_seen = (snap.generation, feedback.changes());
        if seen == Some(now_seen) && last.elapsed() < every {
            continue;
        }
        if loaded_at.0 != snap.generation {
            loaded_at = (snap.generation, unix(SystemTime::now()));
        }
        seen = Some(now_seen);
        last = std::time::Instant::now();
        let fb = feedback.clone();
        let at = loaded_at.1;
        let job = tokio::task::spawn_blocking(move || {
            let marked = |s: &str| fb.marked_everywhere(s, chrono::Utc::now());
            // A bug in one format must not end the exports: the versions in place stay, and
            // the next change or pass tries again.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exports.update(&snap.set, at, SystemTime::now(), &marked)
            }));
            if r.is_err() {
                tracing::error!("an export update panicked; the versions in place stay");
            }
            exports
        });
        match job.await {
            Ok(e) => exports = e,
            Err(e) => {
                tracing::error!(error = %e, "the export task failed; exports stop");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
