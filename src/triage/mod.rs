//! Triage: from hits to the few prioritized, deduplicated, explained alerts an analyst reads.
//!
//! A hit is not an alert. For each line with hits a matcher thread calls
//! [`Triage::assess`], which, per hit:
//!
//! 1. locates it: which field matched (from the decoded line), the direction of the flow, the
//!    internal host involved ([`LineFacts`]);
//! 2. drops it if the match-time allowlist or an analyst's false-positive mark says so
//!    (counted, never alerted; sightings recorded);
//! 3. feeds the flood guard ([`flood`]): an indicator that suddenly hits many distinct
//!    internal hosts is judged by what its hits said ([`FloodVerdict`]): scans blocked at
//!    the edge are demoted and counted in one periodic flood summary; many hosts reaching it
//!    outbound and allowed is escalated as a possible outbreak, unless a shared-infrastructure
//!    list names it (then, like any other flood, it is reported once and demoted);
//! 4. scores it ([`score`]): 0-100 with every term explained, mapped to a [`Priority`].
//!
//! Each kept hit then goes through the deduplication window of its (indicator, internal
//! host, direction) ([`dedup`]), the best-scored first: the first hit of a window alerts,
//! later ones are counted and reported by one roll-up when the window closes, unless one is
//! of a higher priority (it alerts again). A line alerts when one of its windows opened or
//! escalated: a new indicator beside one already alerted is not hidden as a duplicate.
//! Finally routing decides which sinks get the alert now and which fold it into their
//! periodic digest ([`digest`]).
//!
//! Read [`Triage`] and [`Verdict`] first. Triage decides; it renders nothing: its verdicts and
//! its own alerts ([`report`]) are typed values that the alert module renders.
//!
//! Files by concern: the clock ([`clock`]), what a line says ([`facts`]), the verdict types
//! ([`verdict`]), assessing a line ([`assess`]), the tally and its metrics (`tally`),
//! triage's own alerts ([`report`]) and the flood summary (`summary`), time passing
//! (`ticker`), and the state behind them: [`dedup`], [`flood`], [`digest`], [`score`],
//! [`assets`].
//!
//! All state is shared by the matcher threads through sharded mutexes ([`shards`]: no global
//! lock on the hot path) and bounded, with evictions counted. Time comes from a [`Clock`] so
//! that tests drive windows by hand. Roll-ups at window close and digests come from
//! [`Triage::tick`], called by a [`Ticker`] thread; [`Triage::drain`] closes everything at
//! shutdown.

pub mod assess;
pub mod assets;
pub mod clock;
pub mod dedup;
pub mod digest;
pub mod event_clock;
pub mod facts;
pub mod flood;
pub mod report;
pub mod score;
pub(crate) mod shards;
mod summary;
mod tally;
mod ticker;
pub mod verdict;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use crate::config::triage::Priority;
use crate::config::triage::TriageConfig;
use crate::feedback::Feedback;
use crate::model::AlertPriority;
use crate::sightings::Sightings;
use crate::telemetry::metrics::TriageMetrics;
pub use assess::LineHits;
pub use clock::{Clock, ManualClock, SystemClock};
pub use event_clock::EventClock;
pub use facts::{LineFacts, internal_host};
pub use report::{Outgoing, Report};
pub use ticker::Ticker;
pub use verdict::{
    AlertType, Assessment, FeedTally, FloodVerdict, Kept, Suppressed, Tally, Verdict,
};

use assets::{Allow, Assets};
use clock::millis;
use dedup::Dedup;
use digest::Digest;
use flood::FloodGuard;
use score::Scorer;
use summary::{FloodSummary, SUMMARY_INDICATORS};

/// One sink's routing.
struct Route {
    name: String,
    min: Priority,
    interval_ms: i64,
    next_due: AtomicI64,
    digest: Mutex<Digest>,
}

/// The triage state shared by every matcher thread. See the module docs.
pub struct Triage {
    scorer: Scorer,
    assets: Assets,
    allow: Allow,
    dedup: Dedup,
    flood: Option<FloodGuard>,
    flood_cfg: crate::config::triage::FloodConfig,
    /// Shared-infrastructure lists (`triage.flood.shared_infrastructure`), asked when an
    /// indicator floods outbound.
    shared: crate::ioc::allowlist::Allowlists,
    summary: Mutex<FloodSummary>,
    summary_interval_ms: i64,
    summary_next_due: AtomicI64,
    window: Duration,
    routes: Vec<Route>,
    digest_top: usize,
    clock: Arc<dyn Clock>,
    /// The daemon's event clock (`triage.time = "event"`), also `clock`: lines are triaged
    /// at [`Triage::line_time`].
    event_clock: Option<Arc<EventClock>>,
    /// In event time, the next event time (ms) at which a matcher thread ticks before it
    /// assesses its line ([`Triage::catch_up`]); ticks are one at a time (`ticking`).
    next_catch_up: AtomicI64,
    ticking: Mutex<()>,
    /// Where [`Triage::catch_up`] hands what a tick made (the daemon's sinks).
    on_due: std::sync::OnceLock<Box<dyn Fn(Outgoing) + Send + Sync>>,
    /// The generation of the set last seen, and when it was first seen (Unix seconds).
    gen_seen: AtomicU64,
    gen_loaded_at: AtomicI64,
    feedback: Option<Arc<Feedback>>,
    sightings: Option<Arc<Sightings>>,
    metrics: TriageMetrics,
    hasher: foldhash::fast::FixedState,
}

/// The host of the one window a flooding indicator shares.
const FLOOD_HOST: &str = "(many hosts: flood)";

impl Triage {
    /// `sinks` are the sinks' metric names, in configuration order (their routes).
    pub fn new(
        cfg: &TriageConfig,
        sinks: &[String],
        metrics: TriageMetrics,
        clock: Arc<dyn Clock>,
    ) -> Triage {
        let now = clock.now_ms();
        let routes = cfg
            .routes(sinks)
            .into_iter()
            .zip(sinks)
            .map(|((min, every), name)| Route {
                name: name.clone(),
                min,
                interval_ms: millis(every),
                next_due: AtomicI64::new(now.saturating_add(millis(every))),
                digest: Mutex::new(Digest::new(now, cfg.routing.digest_top)),
            })
            .collect();
        let f = &cfg.flood;
        Triage {
            scorer: Scorer::new(cfg.score.clone(), cfg.priority.clone()),
            assets: Assets::new(cfg),
            allow: Allow::new(cfg),
            dedup: Dedup::new(millis(cfg.dedup.window), cfg.dedup.max_entries),
            flood: f.enabled.then(|| {
                FloodGuard::new(f.hosts, millis(f.window), millis(f.hold), f.max_indicators)
            }),
            flood_cfg: f.clone(),
            shared: crate::ioc::allowlist::Allowlists::default(),
            summary: Mutex::new(FloodSummary::new(now, SUMMARY_INDICATORS)),
            summary_interval_ms: millis(cfg.routing.digest_interval),
            summary_next_due: AtomicI64::new(
                now.saturating_add(millis(cfg.routing.digest_interval)),
            ),
            window: cfg.dedup.window,
            routes,
            digest_top: cfg.routing.digest_top,
            clock,
            event_clock: None,
            next_catch_up: AtomicI64::new(i64::MIN),
            ticking: Mutex::new(()),
            on_due: std::sync::OnceLock::new(),
            gen_seen: AtomicU64::new(0),
            gen_loaded_at: AtomicI64::new(now / 1000),
            feedback: None,
            sightings: None,
            metrics,
            hasher: foldhash::fast::FixedState::with_seed(0x10cd_7a1a_6e00_0001),
        }
    }

    /// Lists of shared infrastructure (CDN, cloud, public DNS ranges...): an indicator that
    /// many of our hosts reach outbound and that one of them lists is a likely false
    /// positive, not an outbreak.
    pub fn with_shared_infrastructure(mut self, lists: &[crate::ioc::allowlist::List]) -> Triage {
        self.shared = crate::ioc::allowlist::Allowlists::build(lists);
        self
    }

    /// Runs triage on `clock`, in event time: lines are triaged at [`Triage::line_time`] of
    /// their own time, and ticks read the same clock.
    pub(crate) fn with_event_clock(mut self, clock: Arc<EventClock>) -> Triage {
        self.clock = clock.clone();
        self.event_clock = Some(clock);
        self
    }

    /// The daemon's clock as `cfg.time` says: in event time an [`EventClock`] on the system
    /// clock with `cfg.max_lateness` and `cfg.max_ahead`; in arrival time, unchanged.
    pub(crate) fn with_time(self, cfg: &TriageConfig) -> Triage {
        match cfg.time {
            crate::config::triage::TimeBasis::Event => {
                let late = self.metrics.late_lines.clone();
                self.with_event_clock(Arc::new(
                    EventClock::new(millis(cfg.max_lateness), millis(cfg.max_ahead))
                        .counting_late(late),
                ))
            }
            crate::config::triage::TimeBasis::Arrival => self,
        }
    }

    /// Whether lines are triaged at their own time ([`Triage::with_event_clock`]).
    pub(crate) fn in_event_time(&self) -> bool {
        self.event_clock.is_some()
    }

    /// The time to triage a line at: in event time, [`EventClock::observe`] of the time the
    /// line says (`None`: it says none); else the clock's.
    pub(crate) fn line_time(&self, line_ms: Option<i64>) -> i64 {
        match &self.event_clock {
            Some(c) => {
                let (at, first) = c.observe_first(line_ms);
                if first {
                    self.restart_schedules(at);
                }
                at
            }
            None => self.clock.now_ms(),
        }
    }

    /// Digest and flood-summary schedules start at `now` (the first event time seen: the
    /// daemon's start is no event of the log, so live and replayed lines cut digests at the
    /// same event times).
    fn restart_schedules(&self, now: i64) {
        let _one_at_a_time = self.ticking.lock().unwrap_or_else(PoisonError::into_inner);
        self.summary_next_due.store(
            now.saturating_add(self.summary_interval_ms),
            Ordering::Release,
        );
        self.summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .since = now;
        for r in &self.routes {
            r.next_due
                .store(now.saturating_add(r.interval_ms), Ordering::Release);
            r.digest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .since = now;
        }
    }

    /// Where the roll-ups and digests a matcher thread's [`Triage::catch_up`] makes go (set
    /// once; later calls are ignored).
    pub(crate) fn deliver_due(&self, f: impl Fn(Outgoing) + Send + Sync + 'static) {
        let _ = self.on_due.set(Box::new(f));
    }

    /// In event time, before a line triaged at `at_ms` is assessed: if a digest or the flood
    /// summary is due by `at_ms`, or a second of event time passed since the last catch-up
    /// (windows to close), ticks now (on
    /// this thread, handing the result to [`Triage::deliver_due`]), so that windows close
    /// and digests are cut at the same event times whether lines come live or all at once
    /// (the ticker thread alone would cut a replayed backlog at whatever line it reached
    /// each wall-clock second).
    pub(crate) fn catch_up(&self, at_ms: i64) {
        let Some(deliver) = self.on_due.get() else {
            return;
        };
        if self.event_clock.is_none() {
            return;
        }
        // A digest or flood summary due: cut it before this line, as the ticker would have
        // live (exactly, so that both give the same digests).
        let due = self
            .routes
            .iter()
            .map(|r| r.next_due.load(Ordering::Acquire))
            .chain([self.summary_next_due.load(Ordering::Acquire)])
            .min()
            .unwrap_or(i64::MAX);
        let next = self.next_catch_up.load(Ordering::Acquire);
        if at_ms < next && at_ms < due {
            return;
        }
        if self
            .next_catch_up
            .compare_exchange(
                next,
                at_ms.saturating_add(1000),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
            && at_ms < due
        {
            return;
        }
        for o in self.tick() {
            deliver(o);
        }
    }

    /// Analysts' false-positive marks, consulted for every hit.
    pub(crate) fn with_feedback(mut self, f: Arc<Feedback>) -> Triage {
        self.feedback = Some(f);
        self
    }

    /// MISP sightings, recorded for every hit.
    pub(crate) fn with_sightings(mut self, s: Arc<Sightings>) -> Triage {
        self.sightings = Some(s);
        self
    }

    /// Which addresses are internal (for callers that decode lines).
    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// Whether sink `sink` takes an alert of `priority` at once. Alerts without a level (triage
    /// off, digests) go everywhere.
    pub(crate) fn wants(&self, sink: usize, priority: AlertPriority) -> bool {
        match (priority.level(), self.routes.get(sink)) {
            (Some(p), Some(r)) => p >= r.min,
            _ => true,
        }
    }

    /// When the indicator set of `generation` was loaded (Unix seconds): the first time a
    /// matcher saw it. Listings without dates are as old as that.
    fn loaded_at(&self, generation: u64, now_s: i64) -> i64 {
        if self.gen_seen.load(Ordering::Acquire) != generation {
            self.gen_loaded_at.store(now_s, Ordering::Release);
            self.gen_seen.store(generation, Ordering::Release);
            return now_s;
        }
        self.gen_loaded_at.load(Ordering::Acquire)
    }

    fn hash(&self, parts: &[&str]) -> u64 {
        self.hasher.hash_one(parts)
    }
}

#[cfg(test)]
mod tests;
