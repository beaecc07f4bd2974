//! What triage decides: why a hit was suppressed, the kinds of alert, a line's verdict, what
//! a flood is, and the counts a matcher thread keeps.

use std::sync::Arc;

use crate::decode::event::Direction;
use iocd_engine::{Hit, IocSet};

use super::Priority;
use super::report::Outgoing;
use super::score::Score;

/// Why a hit did not become an alert (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppressed {
    Allowlist,
    FalsePositive,
    Duplicate,
}

impl Suppressed {
    pub const ALL: [Suppressed; 3] = [
        Suppressed::Allowlist,
        Suppressed::FalsePositive,
        Suppressed::Duplicate,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Suppressed::Allowlist => "allowlist",
            Suppressed::FalsePositive => "false_positive",
            Suppressed::Duplicate => "duplicate",
        }
    }
}

/// The kinds of alert triage makes (the `type` label and `iocd.alert_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    /// The first hit of a window.
    Hit,
    /// A hit of a higher priority than its window had alerted.
    Escalation,
    /// A closed window's count of hits not alerted.
    Rollup,
    /// An indicator hitting many hosts: a likely false positive, or a possible outbreak.
    Flood,
    /// A sink's summary of the alerts it did not get one by one.
    Digest,
    /// The periodic summary of scans stopped at the edge (floods of inbound, blocked hits).
    FloodSummary,
    /// A line of history with a hit on an indicator a reload added (a retro job's alert;
    /// triage counts it as the hit it made, `ALL` leaves it out).
    Retro,
}

impl AlertType {
    pub const ALL: [AlertType; 6] = [
        AlertType::Hit,
        AlertType::Escalation,
        AlertType::Rollup,
        AlertType::Flood,
        AlertType::Digest,
        AlertType::FloodSummary,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Hit => "hit",
            AlertType::Escalation => "escalation",
            AlertType::Rollup => "rollup",
            AlertType::Flood => "flood",
            AlertType::Digest => "digest",
            AlertType::FloodSummary => "flood_summary",
            AlertType::Retro => "retro",
        }
    }
}

/// Counts a matcher thread keeps for one batch and adds to the metrics once
/// ([`super::Triage::flush`]).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub hits: u64,
    pub lines: u64,
    pub suppressed: [u64; 3],
    /// By alert type and priority.
    pub alerts: [[u64; 5]; 6],
    pub(crate) dedup_evictions: u64,
    pub(crate) flood_evictions: u64,
    pub floods: u64,
    /// By sink.
    pub digested: Vec<u64>,
    /// By feed number of the set of generation `feed_generation`, named by `feed_names`.
    pub feeds: Vec<FeedTally>,
    pub(crate) feed_names: Vec<Arc<str>>,
    pub(crate) feed_generation: u64,
}

/// One feed's share of a batch: what `iocd_feed_*_total` add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedTally {
    pub hits: u64,
    /// Hits on indicators no other feed lists.
    pub unique_hits: u64,
    /// Hit and escalation alerts about an indicator the feed lists, by priority.
    pub alerts: [u64; 5],
}

impl Tally {
    pub(super) fn alert(&mut self, t: AlertType, p: Priority) {
        self.alerts[t as usize][p.index()] += 1;
    }
}

/// The distinct feeds that list `id` (its sources are ordered by feed).
pub(super) fn feeds_of(set: &IocSet, id: crate::IocId) -> impl Iterator<Item = usize> + '_ {
    let src = set.sources(id);
    src.iter()
        .enumerate()
        .filter(move |(i, s)| *i == 0 || src[i - 1].feed != s.feed)
        .map(|(_, s)| s.feed as usize)
}

/// One hit that survived the allowlist and feedback, scored.
#[derive(Clone, Debug)]
pub struct Kept {
    pub hit: Hit,
    pub indicator: String,
    pub field: Option<String>,
    pub direction: Direction,
    pub score: Score,
    pub priority: Priority,
}

/// The alert a line makes.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The hits to report, in line order (allowlisted and false-positive ones left out).
    pub kept: Vec<Kept>,
    /// The hit whose score is the alert's: the best, unless its window had alerted already
    /// and another indicator of the line opened (or escalated) its own.
    pub primary: usize,
    pub priority: Priority,
    pub host: Option<String>,
    pub direction: Direction,
    pub alert_type: AlertType,
    /// Escalation: the priority alerted before, and hits counted since.
    pub(crate) escalated_from: Option<(Priority, u64)>,
    /// The deduplication window, in seconds (0: off).
    pub(crate) window_secs: u64,
    /// Whether some sink takes the alert now (else it only went into digests).
    pub immediate: bool,
    /// The indicator is flooding: distinct hosts when it was declared.
    pub(crate) flood_hosts: Option<u64>,
    /// What triage made of the flood ([`FloodVerdict::as_str`]).
    pub(crate) flood_verdict: Option<&'static str>,
}

/// What triage makes of a flooding indicator (from its [`super::flood::FloodClass`] and the
/// shared-infrastructure lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FloodVerdict {
    /// Inbound and blocked: a scan stopped at the edge. Demoted, summarised periodically.
    Scan,
    /// Outbound and allowed, in no shared-infrastructure list: escalated.
    PossibleOutbreak,
    /// Outbound and allowed, but the indicator or its network is in this list: demoted.
    SharedInfrastructure(String),
    /// Anything else: demoted, as a likely false positive.
    LikelyFalsePositive,
}

impl FloodVerdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            FloodVerdict::Scan => "scan",
            FloodVerdict::PossibleOutbreak => "possible_outbreak",
            FloodVerdict::SharedInfrastructure(_) => "shared_infrastructure",
            FloodVerdict::LikelyFalsePositive => "likely_false_positive",
        }
    }

    pub(super) fn demotes(&self) -> bool {
        !matches!(self, FloodVerdict::PossibleOutbreak)
    }
}

impl Verdict {
    pub fn primary(&self) -> &Kept {
        &self.kept[self.primary]
    }

    /// The partition key of the alert: indicator and internal host.
    pub fn key(&self) -> Arc<str> {
        let mut k = self.primary().indicator.clone();
        k.push('|');
        k.push_str(self.host.as_deref().unwrap_or(""));
        Arc::from(k)
    }
}

/// What [`super::Triage::assess`] decided for a line.
#[derive(Debug, Default)]
pub struct Assessment {
    /// The line's alert, or `None` when every hit was suppressed.
    pub verdict: Option<Verdict>,
    /// Alerts to send beside it (a roll-up of a window this line closed, a flood report).
    pub extra: Vec<Outgoing>,
}
