//! `[triage]`: how hits become alerts — scoring, priority levels, assets, match-time
//! allowlists, deduplication, the flood guard and routing by priority.
//!
//! The doc comment of each field is the manual; `config/iocd.example.toml` lists every key
//! with its default. [`TriageConfig::validate`] reports every problem with its key path, like
//! the rest of the configuration. The model these keys drive is described in
//! `docs/ALERT_QUALITY.md` and in the triage module.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::ConfigErrors;
use iocd_engine::IocKind;

/// Alert priority levels: the model layer's ([`crate::model::Priority`]), named here as
/// the `[triage]` keys do.
pub use crate::model::Priority;

/// A network written as a CIDR or a single address (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Network, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        t.parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an address or CIDR")))
    }
}

/// The whole `[triage]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriageConfig {
    /// Score, deduplicate and route hits. Off: one alert per line with hits, every alert to
    /// every sink at once (what `iocd scan` does).
    pub enabled: bool,
    /// The protected network: addresses here are "internal" hosts (direction, dedup host,
    /// asset criticality). Default: RFC 1918, loopback, link-local, CGNAT (RFC 6598), IPv6
    /// unique-local and link-local.
    pub(crate) internal_networks: Vec<Network>,
    pub score: ScoreConfig,
    /// Score thresholds of the priority levels; below `low` is `info`.
    pub priority: PriorityConfig,
    /// Internal assets and their criticality (0-100). The first entry that names the host
    /// (by hostname, else the longest network) wins.
    pub assets: Vec<AssetConfig>,
    /// Match-time allowlist: hits involving these are counted, never alerted.
    pub allow: AllowConfig,
    /// The time windows, rates and digest intervals are computed on: `"event"` (the default:
    /// the time the line says, the clock when it says none; one clock for all sources, see the
    /// docs' limits) or `"arrival"` (the wall clock when the line is matched). See
    /// `docs/ALERT_QUALITY.md`, "Event time in the daemon".
    pub time: TimeBasis,
    /// Event time: how far behind the newest event time a line may be and still be triaged
    /// at its own time (older lines are triaged at newest - `max_lateness`); also how long a
    /// quiet stream waits before its clock runs on with the wall clock.
    #[serde(with = "humantime_serde")]
    pub max_lateness: Duration,
    /// Event time: how far past the wall clock a line's time may move the clock (a line from
    /// the future is triaged at wall clock + `max_ahead`).
    #[serde(with = "humantime_serde")]
    pub max_ahead: Duration,
    pub dedup: DedupConfig,
    pub flood: FloodConfig,
    pub routing: RoutingConfig,
}

/// `triage.time`: which clock triage runs on in the daemon.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TimeBasis {
    /// The time the decoded line says, with a bounded allowance for disorder.
    #[default]
    Event,
    /// The wall clock when the line is matched.
    Arrival,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            enabled: true,
            internal_networks: Vec::new(),
            score: ScoreConfig::default(),
            priority: PriorityConfig::default(),
            assets: Vec::new(),
            allow: AllowConfig::default(),
            time: TimeBasis::Event,
            max_lateness: Duration::from_secs(60),
            max_ahead: Duration::from_secs(300),
            dedup: DedupConfig::default(),
            flood: FloodConfig::default(),
            routing: RoutingConfig::default(),
        }
    }
}

/// `[triage.score]`: the points each component can give. See `docs/ALERT_QUALITY.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreConfig {
    /// Confidence (0-100) of a listing whose feed gives none (neither per listing nor the
    /// feed's `confidence`).
    pub default_confidence: u8,
    /// Severity (0-100) of a listing whose feed gives none.
    pub(crate) default_severity: u8,
    /// Points at confidence 100 (the best source's confidence times its feed's weight).
    pub(crate) confidence_points: f64,
    /// Points at severity 100 (the highest severity any source gives).
    pub(crate) severity_points: f64,
    /// Points when many independent feeds agree: `points * (1 - 2^-(n-1))` for n feeds.
    pub(crate) feeds_points: f64,
    /// Points at asset criticality 100.
    pub(crate) asset_points: f64,
    /// Criticality (0-100) of an internal host that no `[[triage.assets]]` entry names.
    pub(crate) default_criticality: u8,
    /// Points by what the log says happened.
    pub context: ContextPoints,
    /// Age decay of the threat points.
    pub decay: DecayConfig,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            default_confidence: 50,
            default_severity: 50,
            confidence_points: 30.0,
            severity_points: 20.0,
            feeds_points: 10.0,
            asset_points: 20.0,
            default_criticality: 25,
            context: ContextPoints::default(),
            decay: DecayConfig::default(),
        }
    }
}

/// `[triage.score.context]`: points (may be negative) by direction and by what the device did.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextPoints {
    /// An internal host reached the indicator and the device let it through (C2 call-back).
    pub(crate) outbound_allowed: f64,
    /// An internal host reached (or looked up) the indicator; the log does not say more.
    pub outbound: f64,
    /// An internal host tried to reach the indicator and was stopped.
    pub(crate) outbound_blocked: f64,
    /// The indicator reached an internal host and was let in (an accepted login, a served request).
    pub(crate) inbound_allowed: f64,
    /// The indicator reached an internal host; the log does not say more.
    pub inbound: f64,
    /// The indicator was stopped at the edge (an internet scan hitting the firewall).
    pub(crate) inbound_blocked: f64,
    /// Both ends internal.
    pub internal: f64,
    /// Direction unknown, or neither end internal.
    pub unknown: f64,
}

impl Default for ContextPoints {
    fn default() -> Self {
        ContextPoints {
            outbound_allowed: 25.0,
            outbound: 15.0,
            outbound_blocked: 5.0,
            inbound_allowed: 15.0,
            inbound: 0.0,
            inbound_blocked: -20.0,
            internal: 5.0,
            unknown: 0.0,
        }
    }
}

/// `[triage.score.decay]`: MISP's polynomial decay `1 - (t/tau)^(1/delta)` of the threat
/// points, `t` the indicator's age (its freshest source's last seen, else first seen, else
/// the time the indicator set was loaded).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecayConfig {
    /// Shape: above 1 the score drops fast early; below 1 it holds, then falls near `tau`.
    pub(crate) delta: f64,
    /// Lifetime per indicator kind: at `tau` the threat points reach 0.
    #[serde(with = "tau_map")]
    pub tau: BTreeMap<IocKind, Duration>,
}

impl Default for DecayConfig {
    fn default() -> Self {
        DecayConfig {
            delta: 0.5,
            tau: default_tau(),
        }
    }
}

impl DecayConfig {
    /// The lifetime of `kind`.
    pub(crate) fn tau_of(&self, kind: IocKind) -> Duration {
        self.tau
            .get(&kind)
            .copied()
            .unwrap_or_else(|| default_tau()[&kind])
    }
}

const DAY: u64 = 86_400;

/// The longest window, hold or digest interval.
pub(crate) const MAX_SPAN: Duration = Duration::from_secs(365 * DAY);
/// The longest indicator lifetime of the decay (ages are compared in seconds as `f64`; a
/// century is already "never decays").
pub(crate) const MAX_TAU: Duration = Duration::from_secs(100 * 365 * DAY);
/// The longest top list of a digest.
pub(crate) const MAX_DIGEST_TOP: usize = 1000;

/// Addresses change hands fast; names slower; hashes never stop being what they are.
pub(crate) fn default_tau() -> BTreeMap<IocKind, Duration> {
    IocKind::ALL
        .into_iter()
        .map(|k| {
            let days = match k {
                IocKind::Ipv4 | IocKind::Ipv6 => 30,
                IocKind::Url => 60,
                IocKind::Domain => 90,
                IocKind::Cidr | IocKind::Email => 180,
                IocKind::Md5 | IocKind::Sha1 | IocKind::Sha256 | IocKind::String => 365,
            };
            (k, Duration::from_secs(days * DAY))
        })
        .collect()
}

mod tau_map {
    use super::*;

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<IocKind, Duration>, D::Error> {
        #[derive(Deserialize)]
        struct D2(#[serde(with = "humantime_serde")] Duration);
        let raw: BTreeMap<String, D2> = BTreeMap::deserialize(d)?;
        let mut out = default_tau();
        for (k, v) in raw {
            let kind = IocKind::ALL
                .into_iter()
                .find(|x| x.as_str() == k)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown indicator kind {k:?} (ipv4 ipv6 cidr domain url md5 sha1 sha256 email string)"
                    ))
                })?;
            out.insert(kind, v.0);
        }
        Ok(out)
    }
}

/// `[triage.priority]`: the lowest score of each level.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityConfig {
    pub critical: f64,
    pub high: f64,
    pub medium: f64,
    pub low: f64,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            critical: 80.0,
            high: 60.0,
            medium: 40.0,
            low: 20.0,
        }
    }
}

impl PriorityConfig {
    /// The level of `score`.
    pub fn level(&self, score: f64) -> Priority {
        if score >= self.critical {
            Priority::Critical
        } else if score >= self.high {
            Priority::High
        } else if score >= self.medium {
            Priority::Medium
        } else if score >= self.low {
            Priority::Low
        } else {
            Priority::Info
        }
    }

    /// The lowest score of `level` (0 for `info`).
    pub fn floor(&self, level: Priority) -> f64 {
        match level {
            Priority::Info => 0.0,
            Priority::Low => self.low,
            Priority::Medium => self.medium,
            Priority::High => self.high,
            Priority::Critical => self.critical,
        }
    }
}

/// `[[triage.assets]]`: internal hosts that matter more (or less) than the default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Shown in the score's explanation.
    pub name: String,
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Host names (syslog hostname, or a name the log gives the internal host), any case.
    #[serde(default)]
    pub(crate) hostnames: Vec<String>,
    /// 0 (lab, honeypot) to 100 (domain controller, payment system).
    pub criticality: u8,
}

/// `[triage.allow]`: a hit whose line comes from or goes to one of these networks or host
/// names (your own scanners, known-good hosts), or that matched one of these indicators, is
/// counted (`iocd_triage_suppressed_hits_total{reason="allowlist"}`) and never alerted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowConfig {
    pub networks: Vec<Network>,
    pub(crate) hostnames: Vec<String>,
    /// Canonical indicator text, as alerts show it in `iocd.matches[].indicator`.
    pub indicators: Vec<String>,
}

/// `[triage.dedup]`: one alert per (indicator, internal host, direction) per window.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Later hits in the window are counted; when it closes a roll-up alert carries the
    /// count, first and last seen (only if more hits came). 0s turns deduplication off.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Open windows kept; when full the oldest is closed early (its roll-up sent) and the
    /// eviction counted.
    pub max_entries: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window: Duration::from_secs(3600),
            max_entries: 100_000,
        }
    }
}

/// `[triage.flood]`: an indicator that suddenly hits many distinct internal hosts. What that
/// means depends on what its hits say (`docs/ALERT_QUALITY.md`, "Flood guard"):
///
/// * mostly **inbound and blocked** (a scanner stopped at the edge): routine. Its alerts are
///   demoted to `demote_to` and it goes into one periodic flood summary (top flooding
///   indicators with host and hit counts, every `triage.routing.digest_interval`, at
///   `summary_priority`), never a report of its own;
/// * mostly **outbound and allowed** (many of our hosts reached it and the device let them):
///   a possible outbreak, unless the indicator or its network is in a `shared_infrastructure`
///   list (CDN, cloud, public DNS). An outbreak is escalated to `outbreak_priority` and
///   reported once; shared infrastructure is a likely false positive (below);
/// * anything else, or shared infrastructure: a likely false positive, reported once at
///   `report_priority`, its alerts demoted for `hold`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    pub enabled: bool,
    /// Distinct internal hosts within `window` that make a flood.
    pub hosts: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long a flooding indicator stays demoted after its flood alert.
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// The priority a flooding indicator's alerts are demoted to (at most).
    pub(crate) demote_to: Priority,
    /// The priority of the flood alert itself: high by default, so that it reaches the sinks
    /// that got the indicator's alerts before it was demoted.
    pub(crate) report_priority: Priority,
    /// Indicators tracked; when full the oldest is forgotten and the eviction counted.
    pub max_indicators: usize,
    /// The priority alerts of a possible outbreak are raised to (at least), and of its report.
    pub outbreak_priority: Priority,
    /// The priority of the periodic summary of scans stopped at the edge.
    pub(crate) summary_priority: Priority,
    /// Lists of shared infrastructure (MISP warninglists as JSON, e.g. CDN, cloud and public
    /// DNS ranges; or plain lists, one value per line), loaded at start and consulted when an
    /// indicator floods outbound: an indicator in one, or inside a network in one, is a likely
    /// false positive, not an outbreak. Relative paths are relative to the configuration file.
    pub shared_infrastructure: Vec<std::path::PathBuf>,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            hosts: 50,
            window: Duration::from_secs(600),
            hold: Duration::from_secs(86_400),
            demote_to: Priority::Info,
            report_priority: Priority::High,
            max_indicators: 10_000,
            outbreak_priority: Priority::Critical,
            summary_priority: Priority::Info,
            shared_infrastructure: Vec::new(),
        }
    }
}

/// `[triage.routing]`: which alerts each sink gets at once. Alerts below a sink's
/// `min_priority` are folded into that sink's digest, sent every `digest_interval`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// For every sink not listed in `sinks`.
    pub min_priority: Priority,
    #[serde(with = "humantime_serde")]
    pub digest_interval: Duration,
    /// Indicators and hosts listed in a digest (the most hits first).
    pub(crate) digest_top: usize,
    /// Per sink, by its name: its `name`, else its kind and position (`stdout0`, `file1`).
    pub sinks: BTreeMap<String, SinkRoute>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            min_priority: Priority::Info,
            digest_interval: Duration::from_secs(900),
            digest_top: 10,
            sinks: BTreeMap::new(),
        }
    }
}

/// `[triage.routing.sinks.<name>]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkRoute {
    pub min_priority: Priority,
    /// Default: `triage.routing.digest_interval`.
    #[serde(default, with = "humantime_serde")]
    pub digest_interval: Option<Duration>,
}

impl TriageConfig {
    /// Checks what types cannot; `sinks` are the sinks' metric names in configuration order.
    pub fn validate(&self, sinks: &[String], errs: &mut ConfigErrors) {
        let s = &self.score;
        for (v, at) in [
            (s.default_confidence, "triage.score.default_confidence"),
            (s.default_severity, "triage.score.default_severity"),
            (s.default_criticality, "triage.score.default_criticality"),
        ] {
            if v > 100 {
                errs.push(at, "must be between 0 and 100");
            }
        }
        for (v, at) in [
            (s.confidence_points, "triage.score.confidence_points"),
            (s.severity_points, "triage.score.severity_points"),
            (s.feeds_points, "triage.score.feeds_points"),
            (s.asset_points, "triage.score.asset_points"),
        ] {
            if !(0.0..=100.0).contains(&v) {
                errs.push(at, "must be between 0 and 100");
            }
        }
        let c = &s.context;
        for (v, name) in [
            (c.outbound_allowed, "outbound_allowed"),
            (c.outbound, "outbound"),
            (c.outbound_blocked, "outbound_blocked"),
            (c.inbound_allowed, "inbound_allowed"),
            (c.inbound, "inbound"),
            (c.inbound_blocked, "inbound_blocked"),
            (c.internal, "internal"),
            (c.unknown, "unknown"),
        ] {
            if !(-100.0..=100.0).contains(&v) {
                errs.push(
                    format!("triage.score.context.{name}"),
                    "must be between -100 and 100",
                );
            }
        }
        if !(s.decay.delta > 0.0 && s.decay.delta.is_finite()) {
            errs.push("triage.score.decay.delta", "must be a positive number");
        }
        for (k, t) in &s.decay.tau {
            if t.is_zero() {
                errs.push(
                    format!("triage.score.decay.tau.{}", k.as_str()),
                    "must be longer than 0s",
                );
            } else if *t > MAX_TAU {
                errs.push(
                    format!("triage.score.decay.tau.{}", k.as_str()),
                    "must be at most 100y",
                );
            }
        }
        let p = &self.priority;
        let levels = [
            (p.low, "low"),
            (p.medium, "medium"),
            (p.high, "high"),
            (p.critical, "critical"),
        ];
        for (v, name) in levels {
            if !(0.0..=100.0).contains(&v) {
                errs.push(
                    format!("triage.priority.{name}"),
                    "must be between 0 and 100",
                );
            }
        }
        for w in levels.windows(2) {
            if w[1].0 <= w[0].0 {
                errs.push(
                    format!("triage.priority.{}", w[1].1),
                    format!("must be above {} ({})", w[0].1, w[0].0),
                );
            }
        }
        for (i, a) in self.assets.iter().enumerate() {
            let at = format!("triage.assets[{i}]");
            if a.criticality > 100 {
                errs.push(format!("{at}.criticality"), "must be between 0 and 100");
            }
            if a.networks.is_empty() && a.hostnames.is_empty() {
                errs.push(
                    at,
                    "names no network and no hostname: it would match nothing",
                );
            }
        }
        // The allowance for disorder is held in memory as open windows: a day at most.
        for (d, at) in [
            (self.max_lateness, "triage.max_lateness"),
            (self.max_ahead, "triage.max_ahead"),
        ] {
            if d > Duration::from_secs(86_400) {
                errs.push(at, "must be at most 1d");
            }
        }
        // Windows and intervals are added to the clock in milliseconds: a year is already
        // more than any SOC would want, and it keeps `now + window` far from overflowing.
        let mut at_most_a_year = |d: Duration, at: &str| {
            if d > MAX_SPAN {
                errs.push(at, "must be at most 365d");
            }
        };
        at_most_a_year(self.dedup.window, "triage.dedup.window");
        at_most_a_year(self.flood.window, "triage.flood.window");
        at_most_a_year(self.flood.hold, "triage.flood.hold");
        at_most_a_year(
            self.routing.digest_interval,
            "triage.routing.digest_interval",
        );
        for (name, route) in &self.routing.sinks {
            if let Some(d) = route.digest_interval {
                at_most_a_year(d, &format!("triage.routing.sinks.{name}.digest_interval"));
            }
        }
        super::count_in(
            self.dedup.max_entries,
            1,
            super::MAX_BUFFER_EVENTS,
            "triage.dedup.max_entries",
            errs,
        );
        let f = &self.flood;
        if f.enabled {
            if f.hosts < 2 {
                errs.push("triage.flood.hosts", "must be at least 2");
            }
            if f.window.is_zero() {
                errs.push("triage.flood.window", "must be longer than 0s");
            }
            super::count_in(
                f.max_indicators,
                1,
                super::MAX_BUFFER_EVENTS,
                "triage.flood.max_indicators",
                errs,
            );
            if f.outbreak_priority <= f.demote_to {
                errs.push(
                    "triage.flood.outbreak_priority",
                    format!(
                        "must be above demote_to ({}): an outbreak would be demoted",
                        f.demote_to
                    ),
                );
            }
            // That each file reads as an allowlist is checked where allowlists are parsed
            // (`iocd validate` and the daemon's start); here, that it is a readable file.
            for (i, p) in f.shared_infrastructure.iter().enumerate() {
                if let Err(e) = std::fs::File::open(p).and_then(|f| f.metadata()) {
                    errs.push(
                        format!("triage.flood.shared_infrastructure[{i}]"),
                        format!("cannot read {}: {e}", p.display()),
                    );
                }
            }
        }
        let r = &self.routing;
        if r.digest_interval < Duration::from_secs(1) {
            errs.push("triage.routing.digest_interval", "must be at least 1s");
        }
        if r.digest_top == 0 {
            errs.push("triage.routing.digest_top", "must be at least 1");
        } else if r.digest_top > MAX_DIGEST_TOP {
            // Each digest keeps 8x this many counters and scans them, under the sink's digest
            // lock, for every alert it folds in.
            errs.push(
                "triage.routing.digest_top",
                format!("must be at most {MAX_DIGEST_TOP}"),
            );
        }
        for (name, route) in &r.sinks {
            let at = format!("triage.routing.sinks.{name}");
            if !sinks.iter().any(|s| s == name) {
                errs.push(
                    at.clone(),
                    format!("no sink is named {name:?} (sinks: {})", sinks.join(", ")),
                );
            }
            if route
                .digest_interval
                .is_some_and(|d| d < Duration::from_secs(1))
            {
                errs.push(format!("{at}.digest_interval"), "must be at least 1s");
            }
        }
    }

    /// The route of each sink, in configuration order.
    pub(crate) fn routes(&self, sinks: &[String]) -> Vec<(Priority, Duration)> {
        sinks
            .iter()
            .map(|name| match self.routing.sinks.get(name) {
                Some(r) => (
                    r.min_priority,
                    r.digest_interval.unwrap_or(self.routing.digest_interval),
                ),
                None => (self.routing.min_priority, self.routing.digest_interval),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TriageConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_valid_and_ordered() {
        let c = TriageConfig::default();
        let mut errs = ConfigErrors::default();
        c.validate(&["stdout0".into()], &mut errs);
        assert!(errs.is_empty(), "{errs}");
        assert_eq!(c.priority.level(80.0), Priority::Critical);
        assert_eq!(c.priority.level(79.9), Priority::High);
        assert_eq!(c.priority.level(19.9), Priority::Info);
        assert!(Priority::Critical > Priority::High && Priority::Low > Priority::Info);
        assert_eq!(
            c.score.decay.tau_of(IocKind::Ipv4),
            Duration::from_secs(30 * DAY)
        );
    }

    #[test]
    fn every_error_with_its_key_path() {
        let c = parse(
            r#"
            [score]
            default_confidence = 120
            [score.context]
            inbound_blocked = -200
            [score.decay]
            delta = 0
            [score.decay.tau]
            domain = "0s"
            [priority]
            high = 30
            [[assets]]
            name = "x"
            criticality = 101
            [dedup]
            max_entries = 0
            [flood]
            hosts = 1
            [routing]
            digest_top = 0
            [routing.sinks.file9]
            min_priority = "high"
            digest_interval = "400d"
            "#,
        )
        .unwrap();
        let mut errs = ConfigErrors::default();
        c.validate(&["stdout0".into(), "file1".into()], &mut errs);
        let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "triage.score.default_confidence",
            "triage.score.context.inbound_blocked",
            "triage.score.decay.delta",
            "triage.score.decay.tau.domain",
            "triage.priority.high",
            "triage.assets[0].criticality",
            "triage.assets[0]",
            "triage.dedup.max_entries",
            "triage.flood.hosts",
            "triage.routing.digest_top",
            "triage.routing.sinks.file9",
            "triage.routing.sinks.file9.digest_interval",
        ] {
            assert!(paths.contains(&want), "missing {want} in {errs}");
        }
    }

    #[test]
    fn spans_that_would_overflow_the_clock_are_refused() {
        let c = parse(
            "[dedup]\nwindow = \"500000000y\"\n[flood]\nwindow = \"2y\"\nhold = \"1000y\"\n\
             [routing]\ndigest_interval = \"366d\"\ndigest_top = 9000000000000000000\n",
        )
        .unwrap();
        let mut errs = ConfigErrors::default();
        c.validate(&["stdout0".into()], &mut errs);
        let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "triage.dedup.window",
                "triage.flood.window",
                "triage.flood.hold",
                "triage.routing.digest_interval",
                "triage.routing.digest_top",
            ],
            "{errs}"
        );
        let ok = parse("[dedup]\nwindow = \"365d\"\n[routing]\ndigest_top = 1000\n").unwrap();
        let mut errs = ConfigErrors::default();
        ok.validate(&["stdout0".into()], &mut errs);
        assert!(errs.is_empty(), "{errs}");
    }

    #[test]
    fn bad_values_name_themselves() {
        let e = parse("[routing]\nmin_priority = \"urgent\"\n").unwrap_err();
        assert!(e.contains("urgent") && e.contains("critical"), "{e}");
        let e = parse("[allow]\nnetworks = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        let e = parse("[score.decay.tau]\nipv5 = \"1d\"\n").unwrap_err();
        assert!(e.contains("ipv5"), "{e}");
        let c = parse("[allow]\nnetworks = [\"192.0.2.7\", \"10.1.2.3/8\"]\n").unwrap();
        assert_eq!(c.allow.networks[0].0.to_string(), "192.0.2.7/32");
        assert_eq!(c.allow.networks[1].0.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn routes_per_sink() {
        let c = parse(
            "[routing]\nmin_priority = \"low\"\ndigest_interval = \"1m\"\n[routing.sinks.file1]\nmin_priority = \"high\"\n",
        )
        .unwrap();
        let r = c.routes(&["stdout0".into(), "file1".into()]);
        assert_eq!(r[0], (Priority::Low, Duration::from_secs(60)));
        assert_eq!(r[1], (Priority::High, Duration::from_secs(60)));
    }
}
