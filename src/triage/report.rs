//! The alerts triage makes on its own, as typed values: the roll-up of a closed window, the
//! report of a flooding indicator, the periodic summary of scans stopped at the edge, a sink's
//! digest. Triage decides them; the alert module renders them (ECS, OCSF, CEF).

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::clock::millis;
use super::dedup::Rollup;
use super::digest::{Counts, Digest, Top};
use super::summary::FloodSummary;
use super::{AlertType, FloodVerdict, Priority, Tally, Triage};
use crate::model::AlertPriority;
use iocd_engine::{Hit, IocKind, IocSet};

/// An alert triage made on its own, ready to be rendered for the sinks.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub report: Report,
    /// When it was made (ms since the epoch): its `@timestamp`.
    pub(crate) at_ms: i64,
    /// Unix seconds of the alert record (the clock's when it was made).
    pub time: i64,
    /// For routing and metrics: its priority, or `Digest`.
    pub priority: AlertPriority,
    /// Partition key: `indicator|host`.
    pub key: Arc<str>,
    /// `Some(i)`: for sink `i` only (a digest). `None`: routed by priority.
    pub sink: Option<usize>,
}

/// What one of triage's own alerts says.
#[derive(Clone, Debug)]
pub enum Report {
    Rollup(RollupReport),
    Flood(FloodReport),
    FloodSummary(SummaryReport),
    Digest(DigestReport),
}

impl Report {
    pub fn alert_type(&self) -> AlertType {
        match self {
            Report::Rollup(_) => AlertType::Rollup,
            Report::Flood(_) => AlertType::Flood,
            Report::FloodSummary(_) => AlertType::FloodSummary,
            Report::Digest(_) => AlertType::Digest,
        }
    }
}

/// A closed window's count of hits that were not alerted.
#[derive(Clone, Debug)]
pub struct RollupReport {
    pub window: Rollup,
    /// The deduplication window's length, in seconds.
    pub(crate) window_secs: u64,
}

/// An indicator that hit many distinct internal hosts, and what triage made of it.
#[derive(Clone, Debug)]
pub struct FloodReport {
    pub indicator: String,
    pub kind: IocKind,
    /// The feeds that list it (once each).
    pub providers: Vec<String>,
    pub hosts: u64,
    /// The flood guard's window (`triage.flood.window`).
    pub window: Duration,
    pub verdict: FloodVerdict,
    /// Until when (ms) its alerts are raised or demoted.
    pub(crate) until_ms: i64,
    /// The report's own priority.
    pub priority: Priority,
    /// What its alerts are raised to (a possible outbreak) or demoted to (anything else).
    pub(crate) raised_to: Option<Priority>,
    pub(crate) demoted_to: Option<Priority>,
    /// What the feeds say the indicator is part of.
    pub context: Option<Arc<iocd_engine::Context>>,
}

/// The scans stopped at the edge since the last summary.
#[derive(Clone, Debug)]
pub struct SummaryReport {
    /// Start of the period (ms).
    pub since: i64,
    pub priority: Priority,
    /// Scanning indicators (past the bound, an estimate).
    pub indicators: u64,
    pub hits: u64,
    /// Most hits first: (indicator, hits, distinct hosts); as many as a digest shows, and at
    /// least 3 (the message names 3).
    pub top: Vec<(String, u64, u64)>,
    /// How many of `top` the alert lists (`triage.routing.digest_top`).
    pub shown: usize,
    /// Indicators past the bound: counted by a sketch, not named.
    pub(crate) more_indicators: u64,
    pub(crate) more_hits: u64,
}

/// One sink's summary of the alerts it did not take one by one.
#[derive(Clone, Debug)]
pub struct DigestReport {
    /// The sink's name.
    pub sink: String,
    /// Its minimum priority.
    pub min: Priority,
    /// Start of the period (ms).
    pub since: i64,
    /// Alerts and hits by priority (indexed by [`Priority::index`]).
    pub(crate) by_priority: [Counts; 5],
    pub top_indicators: Vec<Top>,
    pub(crate) top_hosts: Vec<Top>,
}

impl DigestReport {
    pub fn alerts(&self) -> u64 {
        self.by_priority.iter().map(|c| c.alerts).sum()
    }

    pub fn hits(&self) -> u64 {
        self.by_priority.iter().map(|c| c.hits).sum()
    }
}

impl Triage {
    /// `report`, at `at_ms`, with its routing.
    fn outgoing(
        &self,
        report: Report,
        at_ms: i64,
        priority: AlertPriority,
        key: String,
        sink: Option<usize>,
    ) -> Outgoing {
        Outgoing {
            report,
            at_ms,
            time: self.clock.now_ms().div_euclid(1000),
            priority,
            key: Arc::from(key),
            sink,
        }
    }

    /// The roll-up of a closed window; `None` when every sink only gets it in a digest.
    pub(super) fn rollup(&self, w: Rollup, tally: &mut Tally) -> Option<Outgoing> {
        tally.alert(AlertType::Rollup, w.priority);
        if !self.fold(
            w.priority,
            &w.indicator,
            w.host.as_deref(),
            w.suppressed,
            tally,
        ) {
            return None;
        }
        let key = format!("{}|{}", w.indicator, w.host.as_deref().unwrap_or(""));
        let priority = AlertPriority::Level(w.priority);
        let report = Report::Rollup(RollupReport {
            window: w,
            window_secs: self.window.as_secs(),
        });
        Some(self.outgoing(report, self.clock.now_ms(), priority, key, None))
    }

    /// The report of indicator `hit` starting to flood (`hosts` distinct hosts) at `now`.
    pub(super) fn flood_report(
        &self,
        set: &IocSet,
        hit: Hit,
        hosts: u64,
        verdict: &FloodVerdict,
        now: i64,
        tally: &mut Tally,
    ) -> Outgoing {
        let f = &self.flood_cfg;
        let outbreak = *verdict == FloodVerdict::PossibleOutbreak;
        let p = if outbreak {
            f.outbreak_priority
        } else {
            f.report_priority
        };
        tally.alert(AlertType::Flood, p);
        let feeds = set.feeds();
        let mut providers: Vec<String> = set
            .sources(hit.id)
            .iter()
            .map(|s| feeds[s.feed as usize].name.clone())
            .collect();
        providers.dedup();
        let indicator = set.pattern(hit.id).to_string();
        let report = Report::Flood(FloodReport {
            indicator: indicator.clone(),
            kind: set.kind(hit.id),
            providers,
            hosts,
            window: f.window,
            verdict: verdict.clone(),
            until_ms: now.saturating_add(millis(f.hold)),
            priority: p,
            raised_to: outbreak.then_some(f.outbreak_priority),
            demoted_to: (!outbreak).then_some(f.demote_to),
            context: super::assess::context_of(set, hit.id),
        });
        // Routed like any alert of its priority; digests count it too.
        self.fold(p, &indicator, None, 1, tally);
        self.outgoing(
            report,
            now,
            AlertPriority::Level(p),
            format!("{indicator}|"),
            None,
        )
    }

    /// The periodic summary of scans stopped at the edge, `None` when there was none. Routed
    /// by its priority (`triage.flood.summary_priority`).
    pub(super) fn take_summary(&self, now: i64, tally: &mut Tally) -> Option<Outgoing> {
        let sum = {
            let mut g = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
            let cap = g.cap;
            std::mem::replace(&mut *g, FloodSummary::new(now, cap))
        };
        if sum.is_empty() {
            return None;
        }
        let p = self.flood_cfg.summary_priority;
        tally.alert(AlertType::FloodSummary, p);
        let mut top: Vec<(&String, u64, u64)> = sum
            .by_indicator
            .iter()
            .map(|(i, (hits, hosts))| (i, *hits, hosts.count()))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
        let report = Report::FloodSummary(SummaryReport {
            since: sum.since,
            priority: p,
            indicators: sum.by_indicator.len() as u64 + sum.more_indicators.count(),
            hits: sum.hits,
            top: top
                .iter()
                .take(self.digest_top.max(3))
                .map(|(i, hits, hosts)| ((*i).clone(), *hits, *hosts))
                .collect(),
            shown: self.digest_top,
            more_indicators: sum.more_indicators.count(),
            more_hits: sum.more_hits,
        });
        self.fold(p, "(flood summary)", None, sum.hits, tally);
        Some(self.outgoing(
            report,
            now,
            AlertPriority::Level(p),
            "flood_summary|".to_owned(),
            None,
        ))
    }

    /// Sink `i`'s digest, `None` when it has nothing.
    pub(super) fn take_digest(&self, i: usize, now: i64, tally: &mut Tally) -> Option<Outgoing> {
        let r = &self.routes[i];
        let d = {
            let mut g = r.digest.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *g, Digest::new(now, self.digest_top))
        };
        if d.is_empty() {
            return None;
        }
        tally.alert(AlertType::Digest, Priority::Info);
        let report = Report::Digest(DigestReport {
            sink: r.name.clone(),
            min: r.min,
            since: d.since,
            by_priority: d.by_priority,
            top_indicators: d.indicators.top(self.digest_top),
            top_hosts: d.hosts.top(self.digest_top),
        });
        Some(self.outgoing(
            report,
            now,
            AlertPriority::Digest,
            format!("{}|", r.name),
            Some(i),
        ))
    }
}
