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
//! escalated: a new indicator beside one already alerted is not hidden as a duplicate. Finally routing decides which sinks get the alert now and
//! which fold it into their periodic digest ([`digest`]).
//!
//! Read [`Triage`] and [`Verdict`] first. All state is shared by the matcher threads through
//! sharded mutexes (no global lock on the hot path) and bounded, with evictions counted.
//! Time comes from a [`Clock`] so that tests drive windows by hand. Roll-ups at window close
//! and digests come from [`Triage::tick`], called by a [`Ticker`] thread; [`Triage::drain`]
//! closes everything at shutdown.

pub mod assets;
pub mod dedup;
pub mod digest;
pub mod event_clock;
pub mod flood;
pub mod score;

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

pub use crate::config::triage::Priority;
use crate::config::triage::TriageConfig;
use crate::decode::event::{self, Action, Direction, Event};
use crate::decode::time::{Digits, rfc3339_ms};
use crate::feedback::Feedback;
use crate::matcher::{Hit, IocSet};
use crate::pipeline::{AlertRecord, RULESET};
use crate::sightings::Sightings;
use crate::telemetry::metrics::TriageMetrics;
pub use event_clock::EventClock;

use assets::{Allow, Assets};
use dedup::{Dedup, Rollup, Seen};
use digest::Digest;
use flood::{Flood, FloodClass, FloodGuard, HostSet, Seen as FloodSeen};
use score::{Criticality, Input, Score, Scorer, Situation};

/// Milliseconds since the Unix epoch, from the system or from a test.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock moved by hand (tests).
#[derive(Debug, Default)]
pub struct ManualClock(pub AtomicI64);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a decoded line says, beyond which field each hit is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineFacts {
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_ip: Option<IpAddr>,
    pub dst_port: Option<u16>,
    pub action: Option<Action>,
    /// The line is a passive sensor's record (Suricata EVE, Zeek) that names no verdict: the
    /// traffic was seen on the wire, so it got through. Scored as allowed, and said so.
    pub seen_by_sensor: bool,
    /// The direction the line states, else the one its two addresses give.
    pub direction: Direction,
}

impl LineFacts {
    /// Reads the decoded line; `internal` says which addresses are the protected network's.
    pub fn new(ev: Option<&Event>, line: &[u8], internal: impl Fn(IpAddr) -> bool) -> LineFacts {
        let Some(ev) = ev else {
            return LineFacts {
                direction: Direction::Unknown,
                ..LineFacts::default()
            };
        };
        let (src_ip, dst_ip) = (ev.source_ip(line), ev.destination_ip(line));
        let direction = match ev.network_direction {
            Some(d) if d != Direction::Unknown => d,
            _ => event::direction(src_ip, dst_ip, internal),
        };
        let sensor = matches!(
            ev.format,
            event::Format::SuricataEve | event::Format::ZeekJson | event::Format::ZeekTsv
        );
        LineFacts {
            src_ip,
            src_port: ev.source_port(line),
            dst_ip,
            dst_port: ev.destination_port(line),
            action: ev.action,
            seen_by_sensor: sensor && ev.action.is_none(),
            direction,
        }
    }
}

/// Which end of the flow an ECS field names.
fn side(field: Option<&str>) -> Option<bool> {
    let f = field?;
    if f.starts_with("source.") || f == "client.ip" {
        Some(false)
    } else if f.starts_with("destination.")
        || f.starts_with("url.")
        || f.starts_with("dns.")
        || f.starts_with("tls.client.server_name")
        || f == "server.ip"
        || f == "http.request.referrer"
    {
        Some(true)
    } else {
        None
    }
}

/// Where one hit sits: direction (and whether it was inferred), the internal host.
fn locate(
    facts: &LineFacts,
    field: Option<&str>,
    hostname: Option<&str>,
    assets: &Assets,
) -> (Direction, bool, Option<String>) {
    let internal = |ip: Option<IpAddr>| ip.filter(|&i| assets.is_internal(i));
    let (src, dst) = (internal(facts.src_ip), internal(facts.dst_ip));
    let at_destination = side(field);
    let mut direction = facts.direction;
    let mut inferred = false;
    let names_a_destination = field.is_some_and(|f| {
        f.starts_with("dns.") || f.starts_with("url.") || f == "tls.client.server_name"
    });
    if names_a_destination && src.is_some() && direction != Direction::Outbound {
        // A name an internal client looked up or asked for is where it wants to go, whatever
        // the resolver's or proxy's address says about the flow itself.
        direction = Direction::Outbound;
        inferred = true;
    } else if direction == Direction::Unknown {
        // One address or none: the field that matched tells which way it went. An
        // indicator in the source came to us; one in the destination, a URL or a DNS
        // question is where one of ours went.
        direction = match at_destination {
            Some(true) => Direction::Outbound,
            Some(false) => Direction::Inbound,
            None => Direction::Unknown,
        };
        inferred = direction != Direction::Unknown;
    }
    let host = match at_destination {
        Some(true) => src,
        Some(false) => dst,
        None => src.or(dst),
    }
    .or(src.or(dst))
    .map(|ip| ip.to_string())
    .or_else(|| hostname.map(str::to_owned));
    (direction, inferred, host)
}

/// The internal host a hit in `field` of a line is about, as triage names it for dedup and
/// scoring: the internal end of the flow, else the line's syslog `hostname` (`iocd scan
/// --summary` counts distinct ones).
pub fn internal_host(
    facts: &LineFacts,
    field: Option<&str>,
    hostname: Option<&str>,
    assets: &Assets,
) -> Option<String> {
    locate(facts, field, hostname, assets).2
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        }
    }
}

/// Counts a matcher thread keeps for one batch and adds to the metrics once
/// ([`Triage::flush`]).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub hits: u64,
    pub lines: u64,
    pub suppressed: [u64; 3],
    /// By alert type and priority.
    pub alerts: [[u64; 5]; 6],
    pub dedup_evictions: u64,
    pub flood_evictions: u64,
    pub floods: u64,
    /// By sink.
    pub digested: Vec<u64>,
    /// By feed number of the set of generation `feed_generation`, named by `feed_names`.
    pub feeds: Vec<FeedTally>,
    pub feed_names: Vec<Arc<str>>,
    pub feed_generation: u64,
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
    fn alert(&mut self, t: AlertType, p: Priority) {
        self.alerts[t as usize][p.index()] += 1;
    }
}

/// The distinct feeds that list `id` (its sources are ordered by feed).
fn feeds_of(set: &IocSet, id: crate::IocId) -> impl Iterator<Item = usize> + '_ {
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
    pub escalated_from: Option<(Priority, u64)>,
    /// The deduplication window, in seconds (0: off).
    pub window_secs: u64,
    /// Whether some sink takes the alert now (else it only went into digests).
    pub immediate: bool,
    /// The indicator is flooding: distinct hosts when it was declared.
    pub flood_hosts: Option<u64>,
    /// What triage made of the flood ([`FloodVerdict::as_str`]).
    pub flood_verdict: Option<&'static str>,
}

/// What triage makes of a flooding indicator (from its [`FloodClass`] and the
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

    fn demotes(&self) -> bool {
        !matches!(self, FloodVerdict::PossibleOutbreak)
    }
}

/// Scanning indicators a flood summary counts exactly (each keeps its hits and a distinct-host
/// counter of at most 512 bytes: about 3 MiB at most); beyond, they are counted by a sketch
/// (about 6.5% error) and their hits summed, not named.
const SUMMARY_INDICATORS: usize = 4096;

/// The scans stopped at the edge since the last flood summary: per indicator its hits and
/// distinct hosts, bounded; indicators beyond the bound are counted, not named.
struct FloodSummary {
    since: i64,
    cap: usize,
    by_indicator: hashbrown::HashMap<String, (u64, HostSet)>,
    more_indicators: HostSet,
    more_hits: u64,
    hits: u64,
}

impl FloodSummary {
    fn new(since: i64, cap: usize) -> FloodSummary {
        FloodSummary {
            since,
            cap: cap.max(1),
            by_indicator: hashbrown::HashMap::new(),
            more_indicators: HostSet::default(),
            more_hits: 0,
            hits: 0,
        }
    }

    fn add(&mut self, indicator: &str, indicator_hash: u64, host: u64) {
        self.hits += 1;
        if let Some(e) = self.by_indicator.get_mut(indicator) {
            e.0 += 1;
            e.1.insert(host);
        } else if self.by_indicator.len() < self.cap {
            let mut hosts = HostSet::default();
            hosts.insert(host);
            self.by_indicator.insert(indicator.to_owned(), (1, hosts));
        } else {
            self.more_indicators.insert(indicator_hash);
            self.more_hits += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.hits == 0
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

/// An alert triage made on its own (roll-up, flood report, digest), ready for the sinks.
#[derive(Debug)]
pub struct Outgoing {
    pub record: AlertRecord,
    /// `Some(i)`: for sink `i` only (a digest). `None`: routed by priority.
    pub sink: Option<usize>,
}

/// What [`Triage::assess`] decided for a line.
#[derive(Debug, Default)]
pub struct Assessment {
    /// The line's alert, or `None` when every hit was suppressed.
    pub verdict: Option<Verdict>,
    /// Alerts to send beside it (a roll-up of a window this line closed, a flood report).
    pub extra: Vec<Outgoing>,
}

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

/// A duration in milliseconds, saturated to what the clock arithmetic can hold.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

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
    pub fn with_event_clock(mut self, clock: Arc<EventClock>) -> Triage {
        self.clock = clock.clone();
        self.event_clock = Some(clock);
        self
    }

    /// The daemon's clock as `cfg.time` says: in event time an [`EventClock`] on the system
    /// clock with `cfg.max_lateness` and `cfg.max_ahead`; in arrival time, unchanged.
    pub fn with_time(self, cfg: &TriageConfig) -> Triage {
        match cfg.time {
            crate::config::triage::TimeBasis::Event => self.with_event_clock(Arc::new(
                EventClock::new(millis(cfg.max_lateness), millis(cfg.max_ahead)),
            )),
            crate::config::triage::TimeBasis::Arrival => self,
        }
    }

    /// Whether lines are triaged at their own time ([`Triage::with_event_clock`]).
    pub fn in_event_time(&self) -> bool {
        self.event_clock.is_some()
    }

    /// The time to triage a line at: in event time, [`EventClock::observe`] of the time the
    /// line says (`None`: it says none); else the clock's.
    pub fn line_time(&self, line_ms: Option<i64>) -> i64 {
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
    pub fn deliver_due(&self, f: impl Fn(Outgoing) + Send + Sync + 'static) {
        let _ = self.on_due.set(Box::new(f));
    }

    /// In event time, before a line triaged at `at_ms` is assessed: if a digest or the flood
    /// summary is due by `at_ms`, or a second of event time passed since the last catch-up
    /// (windows to close), ticks now (on
    /// this thread, handing the result to [`Triage::deliver_due`]), so that windows close
    /// and digests are cut at the same event times whether lines come live or all at once
    /// (the ticker thread alone would cut a replayed backlog at whatever line it reached
    /// each wall-clock second).
    pub fn catch_up(&self, at_ms: i64) {
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
    pub fn with_feedback(mut self, f: Arc<Feedback>) -> Triage {
        self.feedback = Some(f);
        self
    }

    /// MISP sightings, recorded for every hit.
    pub fn with_sightings(mut self, s: Arc<Sightings>) -> Triage {
        self.sightings = Some(s);
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Which addresses are internal (for callers that decode lines).
    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// Whether sink `sink` takes an alert labelled `priority` at once. Labels that are not a
    /// level (`none` when triage is off) go everywhere.
    pub fn wants(&self, sink: usize, priority: &str) -> bool {
        match (Priority::from_label(priority), self.routes.get(sink)) {
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

    /// Decides what a line with `hits` (offsets relative to the line) becomes. `ev` is the
    /// decoded line and `facts` what it says ([`LineFacts::new`]), `hostname` its syslog host.
    #[allow(clippy::too_many_arguments)]
    pub fn assess(
        &self,
        set: &IocSet,
        generation: u64,
        ev: Option<&Event>,
        facts: &LineFacts,
        hostname: Option<&str>,
        hits: &[Hit],
        tally: &mut Tally,
    ) -> Assessment {
        let now_ms = self.clock.now_ms();
        self.assess_at(set, generation, ev, facts, hostname, hits, tally, now_ms)
    }

    /// [`Triage::assess`] at `now_ms`, the time the line is triaged at (the daemon's
    /// [`EventClock::observe`] of the line's event time) rather than the clock's.
    #[allow(clippy::too_many_arguments)]
    pub fn assess_at(
        &self,
        set: &IocSet,
        generation: u64,
        ev: Option<&Event>,
        facts: &LineFacts,
        hostname: Option<&str>,
        hits: &[Hit],
        tally: &mut Tally,
        now_ms: i64,
    ) -> Assessment {
        let now_s = now_ms.div_euclid(1000);
        let loaded = self.loaded_at(generation, now_s);
        let mut out = Assessment::default();
        tally.hits += hits.len() as u64;
        tally.lines += 1;
        self.name_feeds(set, generation, tally);
        // (the hit, its internal host, its flood: distinct hosts and what it is)
        type Located = (Kept, Option<String>, Option<(u64, FloodVerdict)>);
        let mut kept: Vec<Located> = Vec::with_capacity(hits.len());
        for &hit in hits {
            let listed_by = feeds_of(set, hit.id).count();
            for f in feeds_of(set, hit.id) {
                let ft = &mut tally.feeds[f];
                ft.hits += 1;
                if listed_by == 1 {
                    ft.unique_hits += 1;
                }
            }
            let indicator = set.pattern(hit.id).to_string();
            let field = ev
                .and_then(|e| e.field_at(hit.start..hit.end))
                .map(|f| f.name.to_string());
            let (direction, inferred, host) =
                locate(facts, field.as_deref(), hostname, &self.assets);
            let by_host = !self.allow.is_empty()
                && (facts.src_ip.is_some_and(|i| self.allow.address(i))
                    || facts.dst_ip.is_some_and(|i| self.allow.address(i))
                    || host.as_deref().is_some_and(|h| self.allow.host(h))
                    || hostname.is_some_and(|h| self.allow.host(h)));
            if by_host {
                // Our own scanner or a known-good host: not a sighting of the indicator.
                tally.suppressed[Suppressed::Allowlist as usize] += 1;
                continue;
            }
            if self.allow.indicator(&indicator) {
                tally.suppressed[Suppressed::Allowlist as usize] += 1;
                if let Some(s) = &self.sightings {
                    s.record(&indicator, true, now_s);
                }
                continue;
            }
            let fp = self
                .feedback
                .as_ref()
                .and_then(|f| f.verdict(&indicator, host.as_deref()))
                .is_some();
            if let Some(s) = &self.sightings {
                s.record(&indicator, fp, now_s);
            }
            if fp {
                tally.suppressed[Suppressed::FalsePositive as usize] += 1;
                continue;
            }
            let action = facts
                .action
                .or(facts.seen_by_sensor.then_some(Action::Allowed));
            let mut flood_hosts = None;
            let mut flood_verdict = None;
            if let Some(g) = &self.flood {
                let ih = self.hash(&[&indicator]);
                let hh = self.hash(&[host.as_deref().unwrap_or("")]);
                let seen = match (direction, action.map(|a| a.is_blocked())) {
                    (Direction::Inbound, Some(true)) => FloodSeen::InboundBlocked,
                    (Direction::Outbound, Some(false)) => FloodSeen::OutboundAllowed,
                    _ => FloodSeen::Other,
                };
                let (hosts, class, started) =
                    match g.see(ih, hh, seen, now_ms, &mut tally.flood_evictions) {
                        Flood::Normal => (0, None, false),
                        Flood::Started { hosts, class } => (hosts, Some(class), true),
                        Flood::Flooding { hosts, class } => (hosts, Some(class), false),
                    };
                if let Some(class) = class {
                    let v = self.flood_verdict(set, hit, class);
                    if started {
                        tally.floods += 1;
                        if v != FloodVerdict::Scan {
                            out.extra.push(
                                self.flood_alert(set, hit, &indicator, hosts, &v, now_ms, tally),
                            );
                        }
                    }
                    if v == FloodVerdict::Scan {
                        self.summary
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .add(&indicator, ih, hh);
                    }
                    flood_hosts = Some(hosts);
                    flood_verdict = Some(v);
                }
            }
            let crit = host.as_deref().map(|h| self.assets.criticality(h));
            let situation = Situation {
                direction,
                inferred,
                action,
                seen_by_sensor: facts.seen_by_sensor,
                field: field.as_deref(),
            };
            let mut score = self.scorer.score(
                set,
                hit.id,
                now_s,
                loaded,
                &situation,
                &Criticality {
                    value: crit.map(|c| c.0),
                    asset: crit.and_then(|c| c.1),
                },
            );
            if let (Some(n), Some(v)) = (flood_hosts, &flood_verdict) {
                self.explain_flood(&mut score, n, v);
            }
            let priority = self.scorer.level(score.value);
            kept.push((
                Kept {
                    hit,
                    indicator,
                    field,
                    direction,
                    score,
                    priority,
                },
                host,
                flood_hosts.zip(flood_verdict),
            ));
        }
        let Some(best) = (0..kept.len()).max_by(|&a, &b| {
            kept[a]
                .0
                .score
                .value
                .total_cmp(&kept[b].0.score.value)
                .then(b.cmp(&a))
        }) else {
            return out;
        };
        // Every indicator of the line has its own window (indicator, internal host,
        // direction): a new indicator seen beside one already alerted is a new alert, not a
        // duplicate of the other. The best-scored hit goes first, so that it is the alert's
        // when it opens or escalates its window; otherwise the alert is the first indicator
        // that did.
        let order = std::iter::once(best).chain((0..kept.len()).filter(|&i| i != best));
        let mut seen_keys: Vec<u64> = Vec::with_capacity(kept.len());
        // (index of the hit the alert is about, its type, what it escalated from)
        type Outcome = (usize, AlertType, Option<(Priority, u64)>);
        let mut outcome: Option<Outcome> = None;
        let mut fx = dedup::Effects::default();
        for i in order {
            let (k, host, flood_hosts) = &kept[i];
            // A demoted flooding indicator is one window whatever the host: one alert per host
            // of a scan or a likely false positive would be the flood again. A possible
            // outbreak keeps a window per host: each host that reached it is news.
            let window_host = match flood_hosts {
                Some((_, v)) if v.demotes() => Some(FLOOD_HOST),
                _ => host.as_deref(),
            };
            let key = self.hash(&[
                &k.indicator,
                window_host.unwrap_or(""),
                k.direction.as_str(),
            ]);
            if seen_keys.contains(&key) {
                // The same indicator twice in one line is one hit of its window.
                continue;
            }
            seen_keys.push(key);
            let seen = self
                .dedup
                .see(key, now_ms, k.priority, k.score.value, &mut fx, || {
                    (
                        Arc::from(k.indicator.as_str()),
                        window_host.map(Arc::from),
                        k.direction.as_str(),
                    )
                });
            match seen {
                Seen::Duplicate => {}
                Seen::New { closed } => {
                    if let Some(o) = closed.and_then(|r| self.rollup(r, tally)) {
                        out.extra.push(o);
                    }
                    outcome.get_or_insert((i, AlertType::Hit, None));
                }
                Seen::Escalated { from, suppressed } => {
                    outcome.get_or_insert((i, AlertType::Escalation, Some((from, suppressed))));
                }
            }
        }
        tally.dedup_evictions += fx.evicted;
        let Some((primary, alert_type, escalated_from)) = outcome else {
            tally.suppressed[Suppressed::Duplicate as usize] += kept.len() as u64;
            return out;
        };
        let (p, host, flood_hosts, flood_verdict) = {
            let (k, h, f) = &kept[primary];
            (
                k,
                h.clone(),
                f.as_ref().map(|x| x.0),
                f.as_ref().map(|x| x.1.as_str()),
            )
        };
        let priority = p.priority;
        let direction = p.direction;
        tally.alert(alert_type, priority);
        for f in feeds_of(set, p.hit.id) {
            tally.feeds[f].alerts[priority.index()] += 1;
        }
        let indicator = p.indicator.clone();
        let immediate = self.fold(priority, &indicator, host.as_deref(), 1, tally);
        out.verdict = Some(Verdict {
            kept: kept.into_iter().map(|k| k.0).collect(),
            primary,
            priority,
            host,
            direction,
            alert_type,
            escalated_from,
            window_secs: self.window.as_secs(),
            immediate,
            flood_hosts,
            flood_verdict,
        });
        out
    }

    /// Folds an alert into the digest of every sink that does not take it at once; returns
    /// whether some sink takes it at once.
    fn fold(
        &self,
        priority: Priority,
        indicator: &str,
        host: Option<&str>,
        hits: u64,
        tally: &mut Tally,
    ) -> bool {
        let mut immediate = self.routes.is_empty();
        if tally.digested.len() < self.routes.len() {
            tally.digested.resize(self.routes.len(), 0);
        }
        for (i, r) in self.routes.iter().enumerate() {
            if priority >= r.min {
                immediate = true;
            } else {
                r.digest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(priority, indicator, host, hits);
                tally.digested[i] += 1;
            }
        }
        immediate
    }

    /// Makes `t.feeds` count for the feeds of `set` (of `generation`): the counts kept for
    /// another set's feed numbers are added to the metrics first.
    fn name_feeds(&self, set: &IocSet, generation: u64, t: &mut Tally) {
        let feeds = set.feeds();
        if t.feed_generation == generation
            && t.feed_names.len() == feeds.len()
            && t.feeds.len() == feeds.len()
        {
            return;
        }
        self.flush_feeds(t);
        t.feed_names = feeds.iter().map(|f| Arc::from(f.name.as_str())).collect();
        t.feeds = vec![FeedTally::default(); feeds.len()];
        t.feed_generation = generation;
    }

    fn flush_feeds(&self, t: &mut Tally) {
        let m = &self.metrics;
        for (name, ft) in t.feed_names.iter().zip(t.feeds.iter_mut()) {
            if ft.hits > 0 {
                m.feed_hits.with_label_values(&[name]).inc_by(ft.hits);
            }
            if ft.unique_hits > 0 {
                m.feed_unique_hits
                    .with_label_values(&[name])
                    .inc_by(ft.unique_hits);
            }
            for (p, n) in Priority::ALL.iter().zip(ft.alerts) {
                if n > 0 {
                    m.feed_alerts
                        .with_label_values(&[name, p.as_str()])
                        .inc_by(n);
                }
            }
            *ft = FeedTally::default();
        }
    }

    /// Adds a thread's batch counts to the metrics.
    pub fn flush(&self, t: &mut Tally) {
        self.flush_feeds(t);
        let m = &self.metrics;
        if t.hits > 0 {
            m.hits.inc_by(t.hits);
            m.hit_lines.inc_by(t.lines);
        }
        for (r, n) in Suppressed::ALL.iter().zip(t.suppressed) {
            if n > 0 {
                m.suppressed.with_label_values(&[r.as_str()]).inc_by(n);
            }
        }
        for (ty, row) in AlertType::ALL.iter().zip(t.alerts) {
            for (p, n) in Priority::ALL.iter().zip(row) {
                if n > 0 {
                    m.alerts
                        .with_label_values(&[p.as_str(), ty.as_str()])
                        .inc_by(n);
                }
            }
        }
        if t.dedup_evictions > 0 {
            m.evictions
                .with_label_values(&["dedup"])
                .inc_by(t.dedup_evictions);
        }
        if t.flood_evictions > 0 {
            m.evictions
                .with_label_values(&["flood"])
                .inc_by(t.flood_evictions);
        }
        if t.floods > 0 {
            m.floods.inc_by(t.floods);
        }
        for (r, n) in self.routes.iter().zip(&t.digested) {
            if *n > 0 {
                m.digested.with_label_values(&[&r.name]).inc_by(*n);
            }
        }
        *t = Tally {
            digested: std::mem::take(&mut t.digested),
            feeds: std::mem::take(&mut t.feeds),
            feed_names: std::mem::take(&mut t.feed_names),
            feed_generation: t.feed_generation,
            ..Tally::default()
        };
        t.digested.iter_mut().for_each(|n| *n = 0);
    }

    /// Closes the windows whose time is up and sends the digests that are due. Called every
    /// second or so by the [`Ticker`].
    pub fn tick(&self) -> Vec<Outgoing> {
        let _one_at_a_time = self.ticking.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now_ms();
        let mut tally = Tally::default();
        let mut out: Vec<Outgoing> = self
            .dedup
            .sweep(now)
            .into_iter()
            .filter_map(|r| self.rollup(r, &mut tally))
            .collect();
        // A clock that went back past a schedule's start (the event clock, at the first line
        // of a backlog older than the daemon's start) restarts the schedule there: a digest
        // interval is one interval of the clock's time, not of the wall clock's.
        let rebase = |due: &AtomicI64, every: i64| {
            let back = now < due.load(Ordering::Acquire).saturating_sub(every);
            if back {
                due.store(now.saturating_add(every), Ordering::Release);
            }
            back
        };
        if rebase(&self.summary_next_due, self.summary_interval_ms) {
            let mut s = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
            s.since = s.since.min(now);
        }
        for r in &self.routes {
            if rebase(&r.next_due, r.interval_ms) {
                let mut d = r.digest.lock().unwrap_or_else(PoisonError::into_inner);
                d.since = d.since.min(now);
            }
        }
        if now >= self.summary_next_due.load(Ordering::Acquire) {
            self.summary_next_due.store(
                now.saturating_add(self.summary_interval_ms),
                Ordering::Release,
            );
            out.extend(self.take_summary(now, &mut tally));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if now >= r.next_due.load(Ordering::Acquire) {
                r.next_due
                    .store(now.saturating_add(r.interval_ms), Ordering::Release);
                out.extend(self.take_digest(i, now, &mut tally));
            }
        }
        self.flush(&mut tally);
        self.publish();
        out
    }

    /// Closes every window and takes every digest (shutdown, after the matchers drained).
    pub fn drain(&self) -> Vec<Outgoing> {
        let now = self.clock.now_ms();
        let mut tally = Tally::default();
        let mut out: Vec<Outgoing> = self
            .dedup
            .drain()
            .into_iter()
            .filter_map(|r| self.rollup(r, &mut tally))
            .collect();
        // The summary first: it may fold into the digests taken next.
        out.extend(self.take_summary(now, &mut tally));
        for i in 0..self.routes.len() {
            out.extend(self.take_digest(i, now, &mut tally));
        }
        self.flush(&mut tally);
        self.publish();
        out
    }

    /// Sets the gauges of the state's size.
    pub fn publish(&self) {
        self.metrics.dedup_entries.set(self.dedup.len() as i64);
        if let Some(f) = &self.flood {
            self.metrics.flood_entries.set(f.len() as i64);
        }
    }

    /// The roll-up alert of a closed window; `None` when every sink only gets it in a digest.
    fn rollup(&self, w: Rollup, tally: &mut Tally) -> Option<Outgoing> {
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
        let host = w.host.as_deref();
        let v = json!({
            "@timestamp": rfc3339_ms(self.clock.now_ms(), Digits::Millis),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.rollup",
                "start": rfc3339_ms(w.first_seen, Digits::Millis),
                "end": rfc3339_ms(w.last_seen, Digits::Millis),
                "severity": w.priority.severity(),
                "risk_score": w.score,
            },
            "rule": {
                "id": "iocd.rollup",
                "name": "Threat intelligence match roll-up: more hits after an alert",
                "ruleset": RULESET,
            },
            "message": format!(
                "{} more hit(s) of {} on {} ({}) after its alert, {} to {}",
                w.suppressed, w.indicator, host.unwrap_or("an unknown host"), w.direction,
                rfc3339_ms(w.first_seen, Digits::Millis), rfc3339_ms(w.last_seen, Digits::Millis)
            ),
            "network": {"direction": w.direction},
            "iocd": {
                "alert_type": "rollup",
                "priority": w.priority.as_str(),
                "score": w.score,
                "indicator": &*w.indicator,
                // The name hit alerts use, so that a roll-up joins the alert it follows.
                "internal_host": host,
                "dedup": {
                    "count": w.suppressed,
                    "first_seen": rfc3339_ms(w.first_seen, Digits::Millis),
                    "last_seen": rfc3339_ms(w.last_seen, Digits::Millis),
                    "window_seconds": self.window.as_secs(),
                },
            },
        });
        Some(self.record(v, w.priority.as_str(), &w.indicator, host, None))
    }

    /// What a flood of class `class` of indicator `hit` is: an outbound flood is a possible
    /// outbreak unless a shared-infrastructure list names the indicator or its network.
    fn flood_verdict(&self, set: &IocSet, hit: Hit, class: FloodClass) -> FloodVerdict {
        match class {
            FloodClass::Scan => FloodVerdict::Scan,
            FloodClass::Other => FloodVerdict::LikelyFalsePositive,
            FloodClass::Outbound => match self.shared.check(&set.pattern(hit.id)) {
                Some(n) => FloodVerdict::SharedInfrastructure(self.shared.name(n).to_owned()),
                None => FloodVerdict::PossibleOutbreak,
            },
        }
    }

    /// The `flood` term of a flooding indicator's score: a cap (demotion) or a floor
    /// (escalation), with why.
    fn explain_flood(&self, score: &mut Score, hosts: u64, v: &FloodVerdict) {
        let f = &self.flood_cfg;
        let levels = self.scorer.levels();
        let within = humantime::format_duration(f.window);
        if let FloodVerdict::PossibleOutbreak = v {
            let to = f.outbreak_priority;
            score.bound(
                "flood",
                Input::Number(hosts as f64),
                levels.floor(to),
                100.0,
                format!(
                    "{hosts} distinct internal hosts reached it within {within}, outbound and allowed, \
                     and no shared-infrastructure list names it or its network: possible outbreak, at least {to}"
                ),
            );
            return;
        }
        let to = f.demote_to;
        let max = match Priority::ALL.get(to.index() + 1) {
            Some(&above) => (levels.floor(above) - 0.1).max(0.0),
            None => 100.0,
        };
        let why = match v {
            FloodVerdict::Scan => format!(
                "{hosts} distinct internal hosts within {within}, mostly inbound and blocked: \
                 a scan stopped at the edge, in the periodic flood summary; at most {to}"
            ),
            FloodVerdict::SharedInfrastructure(list) => format!(
                "{hosts} distinct internal hosts within {within}, outbound and allowed, but it \
                 or its network is in the shared-infrastructure list {list}: likely false \
                 positive, at most {to}"
            ),
            _ => format!(
                "hit {hosts} distinct internal hosts within {within}: likely false positive, at most {to}"
            ),
        };
        score.bound("flood", Input::Number(hosts as f64), 0.0, max, why);
    }

    #[allow(clippy::too_many_arguments)]
    fn flood_alert(
        &self,
        set: &IocSet,
        hit: Hit,
        indicator: &str,
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
        let mut providers: Vec<&str> = set
            .sources(hit.id)
            .iter()
            .map(|s| feeds[s.feed as usize].name.as_str())
            .collect();
        providers.dedup();
        let until = now.saturating_add(millis(f.hold));
        let within = humantime::format_duration(f.window);
        let message = match verdict {
            FloodVerdict::PossibleOutbreak => format!(
                "possible outbreak: {hosts} distinct internal hosts reached {indicator} within {within}, \
                 outbound and allowed, and no shared-infrastructure list names it; its alerts are raised to {} until {}",
                f.outbreak_priority,
                rfc3339_ms(until, Digits::Millis)
            ),
            FloodVerdict::SharedInfrastructure(list) => format!(
                "likely false positive: {indicator} hit {hosts} distinct internal hosts within {within} \
                 and is shared infrastructure (in {list}); its alerts are demoted to {} until {}",
                f.demote_to,
                rfc3339_ms(until, Digits::Millis)
            ),
            _ => format!(
                "likely false positive: {indicator} hit {hosts} distinct internal hosts within {within}; \
                 its alerts are demoted to {} until {}",
                f.demote_to,
                rfc3339_ms(until, Digits::Millis)
            ),
        };
        let mut flood = json!({
            "hosts": hosts,
            "window_seconds": f.window.as_secs(),
            "verdict": verdict.as_str(),
            "until": rfc3339_ms(until, Digits::Millis),
        });
        if outbreak {
            flood["raised_to"] = json!(f.outbreak_priority.as_str());
        } else {
            flood["demoted_to"] = json!(f.demote_to.as_str());
        }
        if let FloodVerdict::SharedInfrastructure(list) = verdict {
            flood["shared_infrastructure"] = json!(list);
        }
        let v = json!({
            "@timestamp": rfc3339_ms(now, Digits::Millis),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.flood",
                "severity": p.severity(),
            },
            "rule": {
                "id": "iocd.flood",
                "name": "Indicator flood: one indicator, many internal hosts",
                "ruleset": RULESET,
            },
            "message": message,
            "threat": {"feed": {"name": &providers}, "indicator": {"provider": &providers}},
            "iocd": {
                "alert_type": "flood",
                "priority": p.as_str(),
                "indicator": indicator,
                "flood": flood,
            },
        });
        // Routed like any alert of its priority; digests count it too.
        self.fold(p, indicator, None, 1, tally);
        Outgoing {
            record: self.record(v, p.as_str(), indicator, None, None).record,
            sink: None,
        }
    }

    /// The periodic summary of scans stopped at the edge, `None` when there was none. Routed
    /// by its priority (`triage.flood.summary_priority`).
    fn take_summary(&self, now: i64, tally: &mut Tally) -> Option<Outgoing> {
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
        let indicators = sum.by_indicator.len() as u64 + sum.more_indicators.count();
        let shown: Vec<serde_json::Value> = top
            .iter()
            .take(self.digest_top)
            .map(|(i, hits, hosts)| json!({"indicator": i, "hosts": hosts, "hits": hits}))
            .collect();
        let names: Vec<String> = top
            .iter()
            .take(3)
            .map(|(i, hits, hosts)| format!("{i} ({hits} hits on {hosts} hosts)"))
            .collect();
        let v = json!({
            "@timestamp": rfc3339_ms(now, Digits::Millis),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.flood_summary",
                "start": rfc3339_ms(sum.since, Digits::Millis),
                "end": rfc3339_ms(now, Digits::Millis),
                "severity": p.severity(),
            },
            "rule": {
                "id": "iocd.flood_summary",
                "name": "Scans stopped at the edge: listed addresses flooding inbound, blocked",
                "ruleset": RULESET,
            },
            "message": format!(
                "{indicators} listed indicator(s) scanned many internal hosts and were blocked at the edge since {}: {} hit(s) since each was declared a flood; top: {}",
                rfc3339_ms(sum.since, Digits::Millis), sum.hits, names.join(", ")
            ),
            "iocd": {
                "alert_type": "flood_summary",
                "priority": p.as_str(),
                "flood_summary": {
                    "indicators": indicators,
                    "hits": sum.hits,
                    "top_indicators": shown,
                    "more_indicators": sum.more_indicators.count(),
                    "more_hits": sum.more_hits,
                    // Past the bound, the indicator count is a sketch's estimate.
                    "indicators_estimated": sum.more_hits > 0,
                },
            },
        });
        self.fold(p, "(flood summary)", None, sum.hits, tally);
        Some(Outgoing {
            record: self
                .record(v, p.as_str(), "flood_summary", None, None)
                .record,
            sink: None,
        })
    }

    fn take_digest(&self, i: usize, now: i64, tally: &mut Tally) -> Option<Outgoing> {
        let r = &self.routes[i];
        let d = {
            let mut g = r.digest.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *g, Digest::new(now, self.digest_top))
        };
        if d.is_empty() {
            return None;
        }
        tally.alert(AlertType::Digest, Priority::Info);
        let counts: serde_json::Map<String, serde_json::Value> = Priority::ALL
            .iter()
            .rev()
            .map(|p| {
                let c = d.by_priority[p.index()];
                (
                    p.as_str().to_owned(),
                    json!({"alerts": c.alerts, "hits": c.hits}),
                )
            })
            .collect();
        let hits: u64 = d.by_priority.iter().map(|c| c.hits).sum();
        let v = json!({
            "@timestamp": rfc3339_ms(now, Digits::Millis),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.digest",
                "start": rfc3339_ms(d.since, Digits::Millis),
                "end": rfc3339_ms(now, Digits::Millis),
                "severity": Priority::Info.severity(),
            },
            "rule": {
                "id": "iocd.digest",
                "name": "Digest of the alerts below a sink's minimum priority",
                "ruleset": RULESET,
            },
            "message": format!(
                "iocd digest for {}: {} alert(s), {} hit(s) below {} since {}",
                r.name, d.alerts(), hits, r.min, rfc3339_ms(d.since, Digits::Millis)
            ),
            "iocd": {
                "alert_type": "digest",
                "priority": "info",
                "sink": r.name,
                "alerts": d.alerts(),
                "hits": hits,
                "by_priority": counts,
                "top_indicators": d.indicators.top(self.digest_top),
                "top_hosts": d.hosts.top(self.digest_top),
            },
        });
        Some(self.record(v, "digest", &r.name, None, Some(i)))
    }

    /// The alert `v`, with its `event.id` ([`crate::pipeline::content_id`] of everything but
    /// `@timestamp`), for the sinks.
    fn record(
        &self,
        mut v: serde_json::Value,
        priority: &'static str,
        indicator: &str,
        host: Option<&str>,
        sink: Option<usize>,
    ) -> Outgoing {
        let stamp = v.as_object_mut().and_then(|o| o.remove("@timestamp"));
        let kind = v["iocd"]["alert_type"].as_str().unwrap_or("").to_owned();
        let content = serde_json::to_vec(&v).expect("serializing to memory cannot fail");
        let id = crate::pipeline::content_id(&kind, &content);
        if let Some(o) = v.as_object_mut() {
            if let Some(t) = stamp {
                o.insert("@timestamp".into(), t);
            }
            if let Some(e) = o.get_mut("event").and_then(|e| e.as_object_mut()) {
                e.insert("id".into(), id.into());
            }
        }
        let json = serde_json::to_vec(&v).expect("serializing to memory cannot fail");
        Outgoing {
            record: AlertRecord {
                json: Arc::from(json),
                time: self.clock.now_ms().div_euclid(1000),
                priority,
                key: Arc::from(format!("{indicator}|{}", host.unwrap_or(""))),
                receipt: None,
            },
            sink,
        }
    }
}

/// The thread that calls [`Triage::tick`] every `period` and hands what it returns to
/// `deliver` (which may block: it is the sinks' backpressure).
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn spawn(
        triage: Arc<Triage>,
        period: Duration,
        deliver: impl Fn(Outgoing) + Send + 'static,
    ) -> std::io::Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("iocd-triage".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    std::thread::park_timeout(period);
                    if s.load(Ordering::Acquire) {
                        return;
                    }
                    for o in triage.tick() {
                        deliver(o);
                    }
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (after the tick it may be in) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
