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
//!    internal hosts is reported once as a likely false positive and demoted;
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
use crate::feedback::Feedback;
use crate::matcher::{Hit, IocSet};
use crate::pipeline::AlertRecord;
use crate::sightings::Sightings;
use crate::telemetry::metrics::TriageMetrics;

use assets::{Allow, Assets};
use dedup::{Dedup, Rollup, Seen};
use digest::Digest;
use flood::{Flood, FloodGuard};
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
    /// An indicator hitting many hosts: a likely false positive.
    Flood,
    /// A sink's summary of the alerts it did not get one by one.
    Digest,
}

impl AlertType {
    pub const ALL: [AlertType; 5] = [
        AlertType::Hit,
        AlertType::Escalation,
        AlertType::Rollup,
        AlertType::Flood,
        AlertType::Digest,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Hit => "hit",
            AlertType::Escalation => "escalation",
            AlertType::Rollup => "rollup",
            AlertType::Flood => "flood",
            AlertType::Digest => "digest",
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
    pub alerts: [[u64; 5]; 5],
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
    window: Duration,
    routes: Vec<Route>,
    digest_top: usize,
    clock: Arc<dyn Clock>,
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

fn rfc3339(ms: i64) -> String {
    // RFC 3339 ends with year 9999.
    const MAX_MS: i64 = 253_402_300_799_999;
    let t = UNIX_EPOCH + Duration::from_millis(ms.clamp(0, MAX_MS) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

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
            window: cfg.dedup.window,
            routes,
            digest_top: cfg.routing.digest_top,
            clock,
            gen_seen: AtomicU64::new(0),
            gen_loaded_at: AtomicI64::new(now / 1000),
            feedback: None,
            sightings: None,
            metrics,
            hasher: foldhash::fast::FixedState::with_seed(0x10cd_7a1a_6e00_0001),
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
        let now_s = now_ms.div_euclid(1000);
        let loaded = self.loaded_at(generation, now_s);
        let mut out = Assessment::default();
        tally.hits += hits.len() as u64;
        tally.lines += 1;
        self.name_feeds(set, generation, tally);
        let mut kept: Vec<(Kept, Option<String>, Option<u64>)> = Vec::with_capacity(hits.len());
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
            let mut flood_hosts = None;
            if let Some(g) = &self.flood {
                let ih = self.hash(&[&indicator]);
                let hh = self.hash(&[host.as_deref().unwrap_or("")]);
                match g.see(ih, hh, now_ms, &mut tally.flood_evictions) {
                    Flood::Normal => {}
                    Flood::Started { hosts } => {
                        tally.floods += 1;
                        flood_hosts = Some(hosts);
                        out.extra
                            .push(self.flood_alert(set, hit, &indicator, hosts, now_ms, tally));
                    }
                    Flood::Demoted { hosts } => flood_hosts = Some(hosts),
                }
            }
            let crit = host.as_deref().map(|h| self.assets.criticality(h));
            let situation = Situation {
                direction,
                inferred,
                action: facts
                    .action
                    .or(facts.seen_by_sensor.then_some(Action::Allowed)),
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
            if let Some(n) = flood_hosts {
                let to = self.flood_cfg.demote_to;
                let above = Priority::ALL.get(to.index() + 1).copied();
                if let Some(above) = above {
                    let max = self.scorer.levels().floor(above) - 0.1;
                    score.cap(
                        "flood",
                        Input::Number(n as f64),
                        max.max(0.0),
                        format!("hit {n} distinct internal hosts: likely false positive, demoted to {to}"),
                    );
                }
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
                flood_hosts,
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
            // A flooding indicator is one window whatever the host: one alert per host of a
            // likely false positive would be the flood again.
            let window_host = match flood_hosts {
                Some(_) => Some(FLOOD_HOST),
                None => host.as_deref(),
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
        let (p, host, flood_hosts) = {
            let (k, h, f) = &kept[primary];
            (k, h.clone(), *f)
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
        let now = self.clock.now_ms();
        let mut tally = Tally::default();
        let mut out: Vec<Outgoing> = self
            .dedup
            .sweep(now)
            .into_iter()
            .filter_map(|r| self.rollup(r, &mut tally))
            .collect();
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
            "@timestamp": rfc3339(self.clock.now_ms()),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.rollup",
                "start": rfc3339(w.first_seen),
                "end": rfc3339(w.last_seen),
                "severity": crate::alert::severity(w.priority.as_str()),
                "risk_score": w.score,
            },
            "rule": {
                "id": "iocd.rollup",
                "name": "Threat intelligence match roll-up: more hits after an alert",
                "ruleset": crate::alert::RULESET,
            },
            "message": format!(
                "{} more hit(s) of {} on {} ({}) after its alert, {} to {}",
                w.suppressed, w.indicator, host.unwrap_or("an unknown host"), w.direction,
                rfc3339(w.first_seen), rfc3339(w.last_seen)
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
                    "first_seen": rfc3339(w.first_seen),
                    "last_seen": rfc3339(w.last_seen),
                    "window_seconds": self.window.as_secs(),
                },
            },
        });
        Some(self.record(v, w.priority.as_str(), &w.indicator, host, None))
    }

    fn flood_alert(
        &self,
        set: &IocSet,
        hit: Hit,
        indicator: &str,
        hosts: u64,
        now: i64,
        tally: &mut Tally,
    ) -> Outgoing {
        let f = &self.flood_cfg;
        let p = f.report_priority;
        tally.alert(AlertType::Flood, p);
        let feeds = set.feeds();
        let providers: Vec<&str> = set
            .sources(hit.id)
            .iter()
            .map(|s| feeds[s.feed as usize].name.as_str())
            .collect();
        let until = now.saturating_add(millis(f.hold));
        let v = json!({
            "@timestamp": rfc3339(now),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.flood",
                "severity": crate::alert::severity(p.as_str()),
            },
            "rule": {
                "id": "iocd.flood",
                "name": "Indicator flood: one indicator, many internal hosts",
                "ruleset": crate::alert::RULESET,
            },
            "message": format!(
                "likely false positive: {indicator} hit {hosts} distinct internal hosts within {}; its alerts are demoted to {} until {}",
                humantime::format_duration(f.window), f.demote_to, rfc3339(until)
            ),
            "threat": {"feed": {"name": &providers}, "indicator": {"provider": &providers}},
            "iocd": {
                "alert_type": "flood",
                "priority": p.as_str(),
                "indicator": indicator,
                "flood": {
                    "hosts": hosts,
                    "window_seconds": f.window.as_secs(),
                    "demoted_to": f.demote_to.as_str(),
                    "until": rfc3339(until),
                },
            },
        });
        // Routed like any alert of its priority; digests count it too.
        self.fold(p, indicator, None, 1, tally);
        Outgoing {
            record: self.record(v, p.as_str(), indicator, None, None).record,
            sink: None,
        }
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
            "@timestamp": rfc3339(now),
            "event": {
                "kind": "alert",
                "category": ["threat"],
                "type": ["indicator"],
                "dataset": "iocd.digest",
                "start": rfc3339(d.since),
                "end": rfc3339(now),
                "severity": crate::alert::severity("info"),
            },
            "rule": {
                "id": "iocd.digest",
                "name": "Digest of the alerts below a sink's minimum priority",
                "ruleset": crate::alert::RULESET,
            },
            "message": format!(
                "iocd digest for {}: {} alert(s), {} hit(s) below {} since {}",
                r.name, d.alerts(), hits, r.min, rfc3339(d.since)
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

    /// The alert `v`, with its `event.id` ([`crate::alert::content_id`] of everything but
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
        let id = crate::alert::content_id(&kind, &content);
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
