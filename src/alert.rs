//! Hits shaped as alerts: JSON in the Elastic Common Schema (ECS) shape SIEMs ingest.
//!
//! One alert per log line with hits, an ECS detection: `event.kind: "alert"`, `rule.*` (one
//! rule per indicator kind, [`rule`]), `threat.feed.name`, and when triage scored it
//! `event.severity` ([`severity`]) and `event.risk_score`. [`ecs`] holds the ECS fields iocd
//! writes or names, with their types: only those may be a `matched.field`. Each matched indicator is one entry of
//! `threat.enrichments[]`, with `threat.indicator.*` (type, the typed value field, every feed
//! that lists it as `provider`) and `matched.atomic` (the token as it stood in the line).
//! Everything ECS has no field for lives under `iocd.*`: where the line came from, and per
//! match the indicator's canonical text, kind, byte range and every source with its line.
//!
//! When the line was decoded ([`LineFields`]), each enrichment names its `matched.field` and
//! the alert carries the ECS `source.*`, `destination.*`, `network.direction`,
//! `event.action`/`event.outcome`, `url.*` and `dns.question.name` the line gave. When triage
//! made the alert ([`TriageFields`]), `iocd.priority`, `iocd.score` and
//! `iocd.score_components` say how urgent it is and why. Triage's own alerts (roll-ups, flood
//! reports, digests) are made in `crate::triage`.
//!
//! Every alert has a stable `event.id` ([`event_id`]; triage's own alerts: [`content_id`]):
//! the same line from the same source position gives the same id, so that a replay after a
//! crash is idempotent where the sink can use it (Elasticsearch `_id` with `create`).

pub mod ecs;

use serde::Serialize;

use crate::decode::event::{self as decoded, Direction};
use crate::decode::time::rfc3339_secs;
use crate::matcher::{Hit, IocKind, IocSet, Pattern, Tlp};
use crate::pipeline::IdHasher;
pub use crate::pipeline::content_id;
use crate::triage::score::Component;
use crate::triage::{AlertType, LineFacts, Verdict};

/// Where a line came from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Origin<'a> {
    /// The daemon source that read the line (`syslog_tcp`, `file`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<&'static str>,
    /// The file path (`-` for standard input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a str>,
    /// 1-based line number in `file` (batch scans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The sender's address (network sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<std::net::SocketAddr>,
    /// The Kafka message (Kafka source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaOrigin<'a>>,
    /// Byte offset of the line in `file` (a followed file, standard input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// When and where in its batch a line with no replayable position (syslog) arrived:
    /// what tells two such lines apart in `event.id`. Not written.
    #[serde(skip)]
    pub arrival: Option<Arrival>,
}

/// The arrival of a line that has no position a replay could find again (syslog).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// Wall-clock time its batch started, in nanoseconds since the Unix epoch.
    pub batch_ns: u64,
    /// Its byte offset in that batch.
    pub at: usize,
}

/// Topic, partition and offset of the message a line came from.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct KafkaOrigin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// What a line's syslog header said, for the ECS `log.syslog.*`, `host.*` and `process.*`
/// fields.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyslogFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
    /// Written as ECS `log.syslog.facility.code`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_code")]
    pub facility: Option<u8>,
    /// Written as ECS `log.syslog.severity.code`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_code")]
    pub severity: Option<u8>,
    /// The event's own time (RFC 3339), when the header had one: the alert's `@timestamp`
    /// (ECS has no `log.syslog` field for it).
    #[serde(skip)]
    pub timestamp: Option<String>,
    /// RFC 5424 structured data: `{ "sd-id": { "param": "value" } }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_data: Option<serde_json::Value>,
}

/// `{"code": n}`: ECS `log.syslog.facility` and `log.syslog.severity` are objects.
fn as_code<S: serde::Serializer>(v: &Option<u8>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry("code", v)?;
    m.end()
}

/// Everything about an alert beside the line and its hits.
#[derive(Clone, Debug, Default)]
pub struct Context<'a> {
    /// When the alert was made (RFC 3339).
    pub now: &'a str,
    pub origin: Origin<'a>,
    pub syslog: Option<SyslogFields>,
    /// Generation of the indicator set that matched (daemon only).
    pub generation: Option<u64>,
    /// `iocd.scan` for retro-hunts, `iocd.stream` for the daemon.
    pub dataset: &'static str,
    /// What the decoded line says ([`DecodedLine::fields`]).
    pub line: Option<&'a LineFields>,
    /// Priority, score and deduplication (daemon with triage on).
    pub triage: Option<&'a TriageFields<'a>>,
    /// The event's own time (RFC 3339) as the caller read it from the line (`iocd scan`);
    /// without it, the syslog header's.
    pub event_time: Option<&'a str>,
    /// Say in `iocd.timestamp_from` whether `@timestamp` is the line's time (`line`) or,
    /// the line having none, `now` (`scan`).
    pub mark_time_source: bool,
}

/// One end of a flow, as ECS `source` / `destination`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Endpoint {
    fn is_empty(&self) -> bool {
        self.ip.is_none() && self.port.is_none() && self.domain.is_none()
    }
}

/// The ECS fields a decoded line fills in an alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineFields {
    /// The format the line was decoded as (`iocd.decoded_as`).
    pub format: Option<&'static str>,
    /// The ECS field each hit is in, in the order of the hits given to [`write_alert`].
    pub matched: Vec<Option<String>>,
    pub source: Endpoint,
    pub destination: Endpoint,
    pub direction: Option<Direction>,
    /// `allowed`, `blocked`, `denied`, ... as the log said.
    pub action: Option<&'static str>,
    pub allowed: Option<bool>,
    pub url_original: Option<String>,
    pub url_domain: Option<String>,
    pub dns_question: Option<String>,
    pub user_name: Option<String>,
}

impl LineFields {
    /// Reads `ev`, decoded from `line`, for an alert on `hits` (offsets relative to `line`).
    /// `direction` is the flow's direction as the caller worked it out.
    pub fn new(
        ev: &decoded::Event,
        line: &[u8],
        hits: &[Hit],
        direction: Option<Direction>,
    ) -> LineFields {
        LineFields {
            format: Some(ev.format.as_str()),
            matched: hits
                .iter()
                .map(|h| ev.field_at(h.start..h.end).map(|f| f.name.to_string()))
                .collect(),
            source: Endpoint {
                ip: ev.source_ip(line),
                port: ev.source_port(line),
                domain: ev.source_domain(line).map(|d| d.into_owned()),
            },
            destination: Endpoint {
                ip: ev.destination_ip(line),
                port: ev.destination_port(line),
                domain: ev.value(line, "destination.domain").map(|d| d.into_owned()),
            },
            direction: direction.filter(|d| *d != Direction::Unknown),
            action: ev.action.map(|a| a.as_str()),
            allowed: ev.action.map(|a| !a.is_blocked()),
            url_original: ev.url(line).map(|u| u.into_owned()),
            url_domain: ev.url_domain(line).map(|u| u.into_owned()),
            dns_question: ev.dns_question(line).map(|u| u.into_owned()),
            user_name: ev.user_name(line).map(|u| u.into_owned()),
        }
    }
}

/// A line with hits, decoded once for its alert: the daemon's matcher threads and `iocd scan`
/// both go through here, so a retro-hunt alert says what a live one says.
pub struct DecodedLine {
    /// The line's fields, when its format is known.
    pub event: Option<decoded::Event>,
    /// What triage reads: the two ends, the action, the direction.
    pub facts: LineFacts,
}

impl DecodedLine {
    /// Decodes `line` (with the Zeek header of its stream, if any); `internal` says which
    /// addresses are the protected network's, for the direction of a flow.
    pub fn new(
        line: &[u8],
        zeek: Option<&decoded::ZeekHeader>,
        internal: impl Fn(std::net::IpAddr) -> bool,
    ) -> DecodedLine {
        let event = decoded::decode(line, zeek);
        let facts = LineFacts::new(event.as_ref(), line, internal);
        DecodedLine { event, facts }
    }

    /// A line left undecoded (its decoder failed): no fields, no facts but its text.
    pub fn undecoded(line: &[u8], internal: impl Fn(std::net::IpAddr) -> bool) -> DecodedLine {
        DecodedLine {
            event: None,
            facts: LineFacts::new(None, line, internal),
        }
    }

    /// The alert's fields for `hits` (offsets relative to `line`), with `direction` (the
    /// line's own, [`LineFacts::direction`], unless triage knows better).
    pub fn fields(&self, line: &[u8], hits: &[Hit], direction: Direction) -> Option<LineFields> {
        self.event
            .as_ref()
            .map(|e| LineFields::new(e, line, hits, Some(direction)))
    }
}

/// Hits of URL indicators on `line` whose decoded fields split the URL into a host and a
/// path: Zeek `http.log` `host` + `uri`, Suricata EVE `http.hostname` + `http.url`, ECS
/// `url.domain` + `url.path` (with `url.scheme` when the line has it, else `http`). The URL
/// put back together, `scheme://host/path`, is matched as the engine matches a URL token;
/// a hit covers the path field (its `matched.field`), offsets relative to the line.
pub fn split_url_hits(
    set: &IocSet,
    line: &[u8],
    ev: &decoded::Event,
    scratch: &mut crate::matcher::Scratch,
    out: &mut Vec<Hit>,
) {
    let (Some(host_f), Some(path_f)) = (
        ev.get("url.domain"),
        ev.get("url.path").or_else(|| ev.get("url.original")),
    ) else {
        return;
    };
    let (host, path) = (ev.text(line, host_f), ev.text(line, path_f));
    // An absolute URL in the path field is a URL token of its own: the scan matched it.
    if !path.starts_with('/') || host.is_empty() || host.contains(['/', ' ', '@']) {
        return;
    }
    let scheme = ev
        .value(line, "url.scheme")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+'))
        .map_or_else(|| "http".to_owned(), |s| s.to_ascii_lowercase());
    let url = format!("{scheme}://{host}{path}");
    let mut found = Vec::new();
    set.scan(url.as_bytes(), scratch, &mut found);
    for h in found {
        if h.start == 0 && set.kind(h.id) == IocKind::Url {
            out.push(Hit {
                start: path_f.value.start,
                end: path_f.value.end,
                id: h.id,
            });
        }
    }
}

/// Adds to `hits` (of `buf`, sorted as [`IocSet::scan`] leaves them) the hits of URL
/// indicators split across the decoded fields of a line ([`split_url_hits`]). Only the lines
/// holding one of `tokens` (the scan's [`crate::matcher::Scratch::url_host_tokens`]: the host
/// of some URL indicator) are decoded, so the cost stays on those rare lines. `zeek_at` gives
/// the Zeek header in effect at a line's start. A decoder that panics costs that line its
/// split URLs, logged.
pub fn add_split_url_hits<'z>(
    set: &IocSet,
    buf: &[u8],
    tokens: &[std::ops::Range<usize>],
    zeek_at: impl Fn(usize) -> Option<&'z decoded::ZeekHeader>,
    scratch: &mut crate::matcher::Scratch,
    hits: &mut Vec<Hit>,
) {
    let before = hits.len();
    let mut last_line = usize::MAX;
    let mut found = Vec::new();
    for t in tokens {
        let start = memchr::memrchr(b'\n', &buf[..t.start]).map_or(0, |k| k + 1);
        if start == last_line {
            continue;
        }
        last_line = start;
        let mut end = memchr::memchr(b'\n', &buf[t.start..]).map_or(buf.len(), |k| t.start + k);
        if end > start && buf[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &buf[start..end];
        found.clear();
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(ev) = decoded::decode(line, zeek_at(start)) {
                split_url_hits(set, line, &ev, scratch, &mut found);
            }
        }));
        if decoded.is_err() {
            tracing::error!(
                line = %String::from_utf8_lossy(&line[..line.len().min(256)]),
                "a decoder panicked on a line; its split URLs are not matched"
            );
            continue;
        }
        for h in &found {
            let h = Hit {
                start: start + h.start,
                end: start + h.end,
                id: h.id,
            };
            // Once per indicator and line: the line may hold the URL whole as well.
            let known = hits
                .iter()
                .any(|k| k.id == h.id && k.start >= start && k.end <= end);
            if !known {
                hits.push(h);
            }
        }
    }
    if hits.len() > before {
        hits.sort_unstable();
    }
}

/// What triage decided about the alert (`iocd.*`).
#[derive(Clone, Debug, Serialize)]
pub struct TriageFields<'a> {
    /// `hit` (first of its window) or `escalation` (a higher priority within the window).
    pub alert_type: &'static str,
    pub priority: &'static str,
    pub score: f64,
    /// Each term of the score: name, input, contribution (they add up to `score`).
    pub score_components: &'a [Component],
    /// The internal host the alert is about (an address, else a host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_host: Option<&'a str>,
    pub dedup: DedupFields,
    /// The indicator is a flood (distinct hosts): its priority was demoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_hosts: Option<u64>,
    /// What the flood is (`scan`, `possible_outbreak`, `shared_infrastructure`,
    /// `likely_false_positive`), with `flood_hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_verdict: Option<&'static str>,
    /// Which of the hits written (their order) the priority and score are about: its kind
    /// names the alert's `rule.*`, its feeds `threat.feed.name`. Not written.
    #[serde(skip)]
    pub primary: usize,
}

impl<'a> TriageFields<'a> {
    /// What an immediate verdict writes into its alert.
    pub fn of(v: &'a Verdict) -> TriageFields<'a> {
        let p = v.primary();
        TriageFields {
            alert_type: v.alert_type.as_str(),
            priority: v.priority.as_str(),
            score: p.score.value,
            score_components: &p.score.components,
            internal_host: v.host.as_deref(),
            dedup: DedupFields {
                window_seconds: v.window_secs,
                escalated_from: v.escalated_from.map(|(p, _)| p.as_str()),
                count_before: v
                    .escalated_from
                    .filter(|_| v.alert_type == AlertType::Escalation)
                    .map(|(_, n)| n),
            },
            flood_hosts: v.flood_hosts,
            flood_verdict: v.flood_verdict,
            primary: v.primary,
        }
    }
}

/// The deduplication window of an alert.
#[derive(Clone, Debug, Serialize)]
pub struct DedupFields {
    /// Later hits of the same indicator, host and direction within this many seconds are
    /// counted and reported by a roll-up.
    pub window_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_from: Option<&'static str>,
    /// Escalations: hits counted in the window before this alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_before: Option<u64>,
}

#[derive(Serialize)]
struct Alert<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    event: Event<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Host<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<Process<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<Log<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<&'a Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<UrlFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<Dns<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User<'a>>,
    rule: Rule,
    threat: Threat<'a>,
    iocd: Iocd<'a>,
}

/// ECS `rule.*`: what a SIEM's correlation rules key on. See [`rule`].
#[derive(Serialize)]
struct Rule {
    id: String,
    name: String,
    ruleset: &'static str,
}

pub use crate::pipeline::RULESET;

/// The ECS `rule.id` and `rule.name` of an indicator match whose (primary) indicator is of
/// `kind`: one rule per indicator kind, `iocd.match.ipv4` ("Threat intelligence match:
/// ipv4 indicator"), so a SIEM rule can treat an address match and a hash match apart.
pub fn rule(kind: IocKind) -> (String, String) {
    (
        format!("iocd.match.{}", kind.as_str()),
        format!("Threat intelligence match: {} indicator", kind.as_str()),
    )
}

/// ECS `event.severity` of a priority label: 1 (info) to 5 (critical), the scale of OCSF's
/// `severity_id`; `None` for a label that is not a priority.
pub fn severity(priority: &str) -> Option<u8> {
    crate::config::triage::Priority::from_label(priority).map(|p| p.severity())
}

#[derive(Serialize)]
struct Network {
    direction: &'static str,
}

#[derive(Serialize)]
struct UrlFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
}

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Dns<'a> {
    question: DnsQuestion<'a>,
}

#[derive(Serialize)]
struct DnsQuestion<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Host<'a> {
    hostname: &'a str,
}

#[derive(Serialize)]
struct Process<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
}

#[derive(Serialize)]
struct Log<'a> {
    syslog: &'a SyslogFields,
}

#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_type: [&'static str; 1],
    dataset: &'static str,
    /// 1 (info) .. 5 (critical), from the priority ([`severity`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<u8>,
    /// The 0-100 score.
    #[serde(skip_serializing_if = "Option::is_none")]
    risk_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    original: &'a str,
}

#[derive(Serialize)]
struct Threat<'a> {
    /// The feeds that list the alert's (primary) indicator.
    feed: ThreatFeed<'a>,
    /// The strictest TLP of the indicators matched: how the alert may be shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    indicator: Option<TopIndicator>,
    enrichments: Vec<Enrichment<'a>>,
}

#[derive(Serialize)]
struct ThreatFeed<'a> {
    name: Vec<&'a str>,
}

#[derive(Serialize)]
struct TopIndicator {
    marking: Marking,
}

#[derive(Serialize)]
struct Enrichment<'a> {
    indicator: Indicator<'a>,
    matched: Matched<'a>,
}

#[derive(Serialize, Default)]
struct Indicator<'a> {
    #[serde(rename = "type")]
    ecs_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<IndicatorUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<IndicatorFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<IndicatorEmail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    provider: Vec<&'a str>,
    /// ECS keyword from the best source's confidence: `High`, `Medium`, `Low`, `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    marking: Option<Marking>,
}

#[derive(Serialize)]
struct Marking {
    tlp: &'static str,
}

#[derive(Serialize, Default)]
struct IndicatorUrl {
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full: Option<String>,
}

#[derive(Serialize)]
struct IndicatorFile {
    hash: IndicatorHash,
}

#[derive(Serialize, Default)]
struct IndicatorHash {
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

#[derive(Serialize)]
struct IndicatorEmail {
    address: String,
}

#[derive(Serialize)]
struct Matched<'a> {
    atomic: &'a str,
    /// The ECS field of the line the token was in, when the line was decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(rename = "type")]
    match_type: &'static str,
}

#[derive(Serialize)]
struct Iocd<'a> {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    triage: Option<&'a TriageFields<'a>>,
    source: &'a Origin<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded_as: Option<&'static str>,
    /// Where `@timestamp` comes from (`iocd scan`): `line` (the time the line says) or `scan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_from: Option<&'static str>,
    matches: Vec<MatchInfo<'a>>,
}

#[derive(Serialize)]
struct MatchInfo<'a> {
    indicator: String,
    kind: IocKind,
    start: usize,
    end: usize,
    /// Where the token was in the decoded line when that is not an ECS field
    /// (`json.Hashes`, `zeek.uid`): ECS's `matched.field` only names ECS fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_path: Option<&'a str>,
    sources: Vec<SourceInfo<'a>>,
}

#[derive(Serialize)]
struct SourceInfo<'a> {
    feed: &'a str,
    location: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    line: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the sources of an indicator say, summed up for `threat.indicator.*`: the best
/// confidence, the earliest first seen, the latest last seen, the strictest TLP.
fn provenance(set: &IocSet, hit: &Hit, ind: &mut Indicator<'_>) {
    let (mut conf, mut first, mut last, mut tlp) =
        (None::<u8>, None::<i64>, None::<i64>, None::<Tlp>);
    for s in set.sources(hit.id) {
        if let Some(m) = set.meta(s) {
            conf = conf.max(m.confidence);
            first = match (first, m.first_seen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last = last.max(m.last_seen);
            tlp = tlp.max(m.tlp);
        }
    }
    ind.confidence = conf.map(|c| match c {
        70.. => "High",
        30..=69 => "Medium",
        1..=29 => "Low",
        0 => "None",
    });
    ind.first_seen = first.and_then(rfc3339_secs);
    ind.last_seen = last.and_then(rfc3339_secs);
    ind.marking = tlp.map(marking);
}

fn marking(t: Tlp) -> Marking {
    Marking {
        tlp: match t {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        },
    }
}

/// The strictest TLP any source of `hit` gives.
fn tlp_of(set: &IocSet, hit: &Hit) -> Option<Tlp> {
    set.sources(hit.id)
        .iter()
        .filter_map(|s| set.meta(s).and_then(|m| m.tlp))
        .max()
}

fn indicator<'a>(pattern: &Pattern, providers: Vec<&'a str>) -> Indicator<'a> {
    let text = pattern.to_string();
    let mut ind = Indicator {
        provider: providers,
        ..Indicator::default()
    };
    match pattern {
        Pattern::Ipv4(_) => {
            ind.ecs_type = "ipv4-addr";
            ind.ip = Some(text);
        }
        Pattern::Ipv6(_) => {
            ind.ecs_type = "ipv6-addr";
            ind.ip = Some(text);
        }
        Pattern::Cidr(n) => {
            // ECS has no network field: the network goes in the description, the type says
            // which address family matched.
            ind.ecs_type = if matches!(n, ipnet::IpNet::V4(_)) {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            };
            ind.description = Some(format!("network {text}"));
        }
        Pattern::Domain { .. } => {
            ind.ecs_type = "domain-name";
            ind.url = Some(IndicatorUrl {
                domain: Some(text),
                full: None,
            });
        }
        Pattern::Url { .. } => {
            ind.ecs_type = "url";
            ind.url = Some(IndicatorUrl {
                domain: None,
                full: Some(text),
            });
        }
        Pattern::Md5(_) | Pattern::Sha1(_) | Pattern::Sha256(_) => {
            ind.ecs_type = "file";
            let mut hash = IndicatorHash::default();
            match pattern.kind() {
                IocKind::Md5 => hash.md5 = Some(text),
                IocKind::Sha1 => hash.sha1 = Some(text),
                _ => hash.sha256 = Some(text),
            }
            ind.file = Some(IndicatorFile { hash });
        }
        Pattern::Email(_) => {
            ind.ecs_type = "email-addr";
            ind.email = Some(IndicatorEmail { address: text });
        }
        Pattern::String { .. } => {
            ind.ecs_type = "artifact";
            ind.description = Some(text);
        }
    }
    ind
}

/// Appends one alert (a JSON object, no line feed) for `line`, whose `hits` have offsets
/// relative to the line's start.
pub fn write_alert(out: &mut Vec<u8>, set: &IocSet, line: &[u8], hits: &[Hit], cx: &Context<'_>) {
    let original = String::from_utf8_lossy(line);
    let atomics: Vec<String> = hits
        .iter()
        .map(|h| String::from_utf8_lossy(&line[h.start..h.end]).into_owned())
        .collect();
    let mut enrichments = Vec::with_capacity(hits.len());
    let mut matches = Vec::with_capacity(hits.len());
    for (h, atomic) in hits.iter().zip(&atomics) {
        let pattern = set.pattern(h.id);
        let feeds = set.feeds();
        let sources: Vec<SourceInfo<'_>> = set
            .sources(h.id)
            .iter()
            .map(|s| {
                let f = &feeds[s.feed as usize];
                SourceInfo {
                    feed: &f.name,
                    location: &f.location,
                    line: s.line,
                }
            })
            .collect();
        let providers = sources.iter().map(|s| s.feed).collect();
        let mut ind = indicator(&pattern, providers);
        provenance(set, h, &mut ind);
        let decoded = cx
            .line
            .and_then(|l| l.matched.get(enrichments.len()))
            .and_then(|f| f.as_deref());
        let (field, matched_path) = match decoded {
            Some(f) if ecs::is_field(f) => (Some(f), None),
            other => (None, other),
        };
        enrichments.push(Enrichment {
            indicator: ind,
            matched: Matched {
                atomic,
                field,
                match_type: "indicator_match_rule",
            },
        });
        matches.push(MatchInfo {
            indicator: pattern.to_string(),
            kind: pattern.kind(),
            start: h.start,
            end: h.end,
            matched_path,
            sources,
        });
    }
    let primary = cx
        .triage
        .map_or(0, |t| t.primary)
        .min(hits.len().saturating_sub(1));
    let (rule_id, rule_name) = rule(matches.get(primary).map_or(IocKind::String, |m| m.kind));
    let feed_names: Vec<&str> = {
        let mut names: Vec<&str> = matches
            .get(primary)
            .map(|m| m.sources.iter().map(|s| s.feed).collect())
            .unwrap_or_default();
        names.dedup();
        names
    };
    let tlp = hits.iter().filter_map(|h| tlp_of(set, h)).max();
    let mut indicators: Vec<&str> = matches.iter().map(|m| m.indicator.as_str()).collect();
    let id = event_id(
        &cx.origin,
        line,
        &mut indicators,
        cx.triage.map_or("match", |t| t.alert_type),
    );
    let sys = cx.syslog.as_ref();
    let lf = cx.line;
    // The event's own time when the log says it; the alert's creation time beside it.
    let event_time = cx
        .event_time
        .or_else(|| sys.and_then(|s| s.timestamp.as_deref()));
    let alert = Alert {
        timestamp: event_time.unwrap_or(cx.now),
        event: Event {
            id: &id,
            kind: "alert",
            category: ["threat"],
            kind_type: ["indicator"],
            dataset: cx.dataset,
            severity: cx.triage.and_then(|t| severity(t.priority)),
            risk_score: cx.triage.map(|t| t.score),
            created: event_time.map(|_| cx.now),
            action: lf.and_then(|l| l.action),
            outcome: lf
                .and_then(|l| l.allowed)
                .map(|a| if a { "success" } else { "failure" }),
            original: &original,
        },
        host: sys
            .and_then(|s| s.hostname.as_deref())
            .map(|hostname| Host { hostname }),
        process: sys.and_then(|s| {
            let pid = s.procid.as_deref().and_then(|p| p.parse().ok());
            (s.appname.is_some() || pid.is_some()).then_some(Process {
                name: s.appname.as_deref(),
                pid,
            })
        }),
        log: sys.map(|syslog| Log { syslog }),
        source: lf.map(|l| &l.source).filter(|e| !e.is_empty()),
        destination: lf.map(|l| &l.destination).filter(|e| !e.is_empty()),
        network: lf.and_then(|l| l.direction).map(|d| Network {
            direction: d.as_str(),
        }),
        url: lf
            .filter(|l| l.url_original.is_some() || l.url_domain.is_some())
            .map(|l| UrlFields {
                original: l.url_original.as_deref(),
                domain: l.url_domain.as_deref(),
            }),
        dns: lf.and_then(|l| l.dns_question.as_deref()).map(|name| Dns {
            question: DnsQuestion { name },
        }),
        user: lf
            .and_then(|l| l.user_name.as_deref())
            .map(|name| User { name }),
        rule: Rule {
            id: rule_id,
            name: rule_name,
            ruleset: RULESET,
        },
        threat: Threat {
            feed: ThreatFeed { name: feed_names },
            indicator: tlp.map(|t| TopIndicator {
                marking: marking(t),
            }),
            enrichments,
        },
        iocd: Iocd {
            triage: cx.triage,
            source: &cx.origin,
            generation: cx.generation,
            decoded_as: lf.and_then(|l| l.format),
            timestamp_from: cx.mark_time_source.then_some(if event_time.is_some() {
                "line"
            } else {
                "scan"
            }),
            matches,
        },
    };
    serde_json::to_writer(&mut *out, &alert).expect("serializing to memory cannot fail");
}

/// The `event.id` of an alert on `line`: the same line read from the same source position,
/// with the same indicators and alert type, gets the same id, so that an at-least-once replay
/// is idempotent where the sink can use it (Elasticsearch `_id` with `create`).
///
/// The source position, by source:
/// * Kafka: topic, partition and offset of the message (one message is one line);
/// * a followed file or standard input: the path (`-`) and the line's byte offset
///   (`iocd.source.offset`), so reading the same file again (`from_beginning`, or the same
///   input piped in again) gives the same ids; a file replaced under the same path starts
///   at offset 0 again, and the line's own bytes tell its lines apart;
/// * `iocd scan`: the file and the line number;
/// * syslog (UDP, TCP, TLS), which no one can replay: the peer, the wall-clock time its
///   batch arrived (nanoseconds) and the line's place in that batch. Unique per received
///   line, and the same through every retry of every sink, but a sender that sends the
///   same message again makes a new alert with a new id.
///
/// The line's bytes always take part, and so do the indicators (sorted: their order in
/// the line does not matter) and the alert type (`hit`, `escalation`, or `match` without
/// triage).
pub fn event_id(
    origin: &Origin<'_>,
    line: &[u8],
    indicators: &mut [&str],
    alert_type: &str,
) -> String {
    let mut h = IdHasher::new("iocd.alert.v1");
    if let Some(k) = &origin.kafka {
        h.field(b"kafka")
            .field(k.topic.as_bytes())
            .field(&k.partition.to_le_bytes())
            .field(&k.offset.to_le_bytes());
    } else if let Some(offset) = origin.offset {
        h.field(b"stream")
            .field(origin.file.unwrap_or("-").as_bytes())
            .field(&offset.to_le_bytes());
    } else if let (Some(file), Some(n)) = (origin.file, origin.line) {
        h.field(b"scan")
            .field(file.as_bytes())
            .field(&n.to_le_bytes());
    } else {
        let a = origin.arrival.unwrap_or_default();
        h.field(b"arrival")
            .field(origin.input.unwrap_or("").as_bytes())
            .field(
                origin
                    .peer
                    .map(|p| p.to_string())
                    .unwrap_or_default()
                    .as_bytes(),
            )
            .field(&a.batch_ns.to_le_bytes())
            .field(&(a.at as u64).to_le_bytes());
    }
    h.field(line).field(alert_type.as_bytes());
    indicators.sort_unstable();
    for i in indicators.iter() {
        h.field(i.as_bytes());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::SetBuilder;
    use crate::matcher::Scratch;

    #[test]
    fn alert_is_ecs_shaped() {
        let mut b = SetBuilder::new();
        b.add_plain_list("feodo", "feodo.txt", b"1.2.3.4\nevil.com\n");
        b.add_plain_list("ipsum", "ipsum.txt", b"# x\n1.2.3.4\n");
        let set = b.build();
        let line = b"SRC=1.2.3.4 host=a.evil.com \xff";
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        let mut out = Vec::new();
        let cx = Context {
            now: "2026-01-01T00:00:00Z",
            origin: Origin {
                file: Some("fw.log"),
                line: Some(7),
                ..Origin::default()
            },
            dataset: "iocd.scan",
            ..Context::default()
        };
        write_alert(&mut out, &set, line, &hits, &cx);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2026-01-01T00:00:00Z");
        let mut inds = ["1.2.3.4", "evil.com"];
        assert_eq!(
            v["event"]["id"],
            event_id(&cx.origin, line, &mut inds, "match"),
            "scan alerts: file and line number"
        );
        assert!(v.get("host").is_none() && v.get("log").is_none());
        assert_eq!(
            v["event"]["original"],
            "SRC=1.2.3.4 host=a.evil.com \u{fffd}"
        );
        let e = &v["threat"]["enrichments"];
        assert_eq!(e[0]["indicator"]["type"], "ipv4-addr");
        assert_eq!(e[0]["indicator"]["ip"], "1.2.3.4");
        assert_eq!(
            e[0]["indicator"]["provider"],
            serde_json::json!(["feodo", "ipsum"])
        );
        assert_eq!(e[0]["matched"]["atomic"], "1.2.3.4");
        assert_eq!(e[1]["indicator"]["url"]["domain"], "evil.com");
        assert_eq!(e[1]["matched"]["atomic"], "a.evil.com");
        assert_eq!(v["iocd"]["source"]["line"], 7);
        assert_eq!(
            v["iocd"]["matches"][0]["sources"][1]["location"],
            "ipsum.txt"
        );
        assert_eq!(v["iocd"]["matches"][0]["sources"][1]["line"], 2);
        assert_eq!(v["iocd"]["matches"][1]["kind"], "domain");
        // A detection (ECS reserves `enrichment` for indicator documents); a retro-hunt
        // has no score, so no severity or risk score.
        assert_eq!(v["event"]["kind"], "alert");
        assert!(v["event"].get("severity").is_none() && v["event"].get("risk_score").is_none());
        assert_eq!(v["rule"]["id"], "iocd.match.ipv4");
        assert_eq!(
            v["rule"]["name"],
            "Threat intelligence match: ipv4 indicator"
        );
        assert_eq!(v["rule"]["ruleset"], "iocd");
        assert_eq!(
            v["threat"]["feed"]["name"],
            serde_json::json!(["feodo", "ipsum"])
        );
        assert!(v["threat"].get("indicator").is_none(), "no TLP given");
        assert_eq!(ecs::check(&v), Vec::<String>::new());
    }

    #[test]
    fn event_id_is_the_same_for_the_same_position_and_differs_otherwise() {
        let kafka = |offset| Origin {
            input: Some("kafka"),
            kafka: Some(KafkaOrigin {
                topic: "fw",
                partition: 2,
                offset,
            }),
            ..Origin::default()
        };
        let file = |path, offset| Origin {
            input: Some("file"),
            file: Some(path),
            offset: Some(offset),
            ..Origin::default()
        };
        let syslog = |batch_ns, at| Origin {
            input: Some("syslog_tcp"),
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            arrival: Some(Arrival { batch_ns, at }),
            ..Origin::default()
        };
        let id = |o: &Origin<'_>, line: &[u8], inds: &[&str], t: &str| {
            event_id(o, line, &mut inds.to_vec(), t)
        };
        let base = id(&kafka(7), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit");
        assert_eq!(base.len(), 32);
        assert!(
            base.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // The same alert again (a replay), with its indicators in another order.
        assert_eq!(
            base,
            id(&kafka(7), b"x 1.2.3.4", &["evil.com", "1.2.3.4"], "hit")
        );
        // Anything that makes it another alert makes another id.
        let others = [
            id(&kafka(8), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
            id(&kafka(7), b"y 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
            id(&kafka(7), b"x 1.2.3.4", &["1.2.3.4"], "hit"),
            id(
                &kafka(7),
                b"x 1.2.3.4",
                &["1.2.3.4", "evil.com"],
                "escalation",
            ),
            id(
                &file("/a", 7),
                b"x 1.2.3.4",
                &["1.2.3.4", "evil.com"],
                "hit",
            ),
            id(
                &file("/b", 7),
                b"x 1.2.3.4",
                &["1.2.3.4", "evil.com"],
                "hit",
            ),
            id(
                &file("/a", 8),
                b"x 1.2.3.4",
                &["1.2.3.4", "evil.com"],
                "hit",
            ),
            id(&syslog(1, 0), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
            id(
                &syslog(1, 10),
                b"x 1.2.3.4",
                &["1.2.3.4", "evil.com"],
                "hit",
            ),
            id(&syslog(2, 0), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
        ];
        let mut all: Vec<&String> = others.iter().chain([&base]).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), others.len() + 1, "{others:?}");
        // Length prefixes: moving a byte from one field to the next is another input.
        assert_ne!(
            id(&file("/a", 7), b"ab", &["c"], "hit"),
            id(&file("/a", 7), b"a", &["bc"], "hit")
        );
        assert_ne!(content_id("rollup", b"{}"), content_id("flood", b"{}"));
        assert_eq!(content_id("rollup", b"{}"), content_id("rollup", b"{}"));
    }

    #[test]
    fn syslog_fields_and_stream_origin() {
        let mut b = SetBuilder::new();
        b.add_plain_list("f", "f.txt", b"1.2.3.4\n");
        let set = b.build();
        let line = b"<34>1 2026-11-22T10:00:00Z fw01 sshd 4242 - - from 1.2.3.4";
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        let cx = Context {
            now: "2026-11-22T10:00:01Z",
            origin: Origin {
                input: Some("syslog_tcp"),
                peer: Some("127.0.0.1:5000".parse().unwrap()),
                ..Origin::default()
            },
            syslog: Some(SyslogFields {
                hostname: Some("fw01".into()),
                appname: Some("sshd".into()),
                procid: Some("4242".into()),
                timestamp: Some("2026-11-22T10:00:00Z".into()),
                facility: Some(4),
                severity: Some(2),
                ..SyslogFields::default()
            }),
            generation: Some(3),
            dataset: "iocd.stream",
            line: None,
            triage: None,
            ..Context::default()
        };
        let mut out = Vec::new();
        write_alert(&mut out, &set, line, &hits, &cx);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2026-11-22T10:00:00Z");
        assert_eq!(v["event"]["created"], "2026-11-22T10:00:01Z");
        assert_eq!(v["host"]["hostname"], "fw01");
        assert_eq!(v["process"]["name"], "sshd");
        assert_eq!(v["process"]["pid"], 4242);
        // ECS: `log.syslog.severity` and `.facility` are objects; no `log.syslog.timestamp`.
        assert_eq!(v["log"]["syslog"]["severity"]["code"], 2);
        assert_eq!(v["log"]["syslog"]["facility"]["code"], 4);
        assert!(v["log"]["syslog"].get("timestamp").is_none());
        assert_eq!(ecs::check(&v), Vec::<String>::new());
        assert_eq!(v["iocd"]["source"]["input"], "syslog_tcp");
        assert_eq!(v["iocd"]["source"]["peer"], "127.0.0.1:5000");
        assert_eq!(v["iocd"]["generation"], 3);
        assert_eq!(v["event"]["dataset"], "iocd.stream");
    }

    #[test]
    fn decoded_fields_and_triage() {
        let mut b = SetBuilder::new();
        b.add_plain_list("c2", "c2.txt", b"1.2.3.4\nevil.com\n");
        let set = b.build();
        let line = b"Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.0.0.5 DST=1.2.3.4 PROTO=TCP SPT=50000 DPT=443";
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        let ev = crate::decode::event::decode(line, None).expect("netfilter");
        let fields = LineFields::new(&ev, line, &hits, Some(Direction::Outbound));
        let comps = vec![Component {
            name: "context",
            input: crate::triage::score::Input::Label("outbound/allowed".into()),
            contribution: 25.0,
            note: None,
        }];
        let tf = TriageFields {
            alert_type: "hit",
            priority: "high",
            score: 25.0,
            score_components: &comps,
            internal_host: Some("10.0.0.5"),
            dedup: DedupFields {
                window_seconds: 3600,
                escalated_from: None,
                count_before: None,
            },
            flood_hosts: None,
            flood_verdict: None,
            primary: 0,
        };
        let cx = Context {
            now: "2026-01-01T00:00:00Z",
            dataset: "iocd.stream",
            line: Some(&fields),
            triage: Some(&tf),
            ..Context::default()
        };
        let mut out = Vec::new();
        write_alert(&mut out, &set, line, &hits, &cx);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let m = &v["threat"]["enrichments"][0]["matched"];
        assert_eq!(m["field"], "destination.ip");
        assert_eq!(v["source"]["ip"], "10.0.0.5");
        assert_eq!(v["source"]["port"], 50000);
        assert_eq!(v["destination"]["ip"], "1.2.3.4");
        assert_eq!(v["destination"]["port"], 443);
        assert_eq!(v["network"]["direction"], "outbound");
        assert_eq!(v["event"]["action"], "allowed");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["iocd"]["priority"], "high");
        assert_eq!(v["iocd"]["score"], 25.0);
        assert_eq!(
            v["iocd"]["score_components"][0]["input"],
            "outbound/allowed"
        );
        assert_eq!(v["iocd"]["internal_host"], "10.0.0.5");
        assert_eq!(v["iocd"]["dedup"]["window_seconds"], 3600);
        assert_eq!(v["iocd"]["decoded_as"], "netfilter");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(v["event"]["severity"], 4, "high");
        assert_eq!(v["event"]["risk_score"], 25.0);
        assert_eq!(v["rule"]["id"], "iocd.match.ipv4");
        assert_eq!(v["threat"]["feed"]["name"], serde_json::json!(["c2"]));
        assert_eq!(ecs::check(&v), Vec::<String>::new());
    }

    #[test]
    fn matched_field_names_only_ecs_fields_and_tlp_is_the_strictest() {
        use crate::matcher::{Compiler, Meta, Pattern, SourceRef};
        let mut c = Compiler::new();
        let f = c.add_feed("misp", "misp.json");
        let md5 = Pattern::Md5([0xd4; 16]);
        let meta = |tlp| Meta {
            tlp: Some(tlp),
            ..Meta::default()
        };
        c.add_with_meta(&md5, SourceRef::plain(f, 1), meta(Tlp::Green));
        let ip = Pattern::Ipv4("203.0.113.5".parse().unwrap());
        c.add_with_meta(&ip, SourceRef::plain(f, 2), meta(Tlp::Amber));
        let set = c.build();
        let hash = "D4".repeat(16);
        // Sysmon's `Hashes` with an algorithm no ECS field has: `json.Hashes`.
        let text = format!(
            r#"{{"EventID":1,"Hashes":"XYZ={hash}","DestinationIp":"203.0.113.5","Image":"C:\a.exe"}}"#
        );
        let line = text.as_bytes();
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        assert_eq!(hits.len(), 2);
        let ev = crate::decode::event::decode(line, None).expect("json");
        let fields = LineFields::new(&ev, line, &hits, None);
        let cx = Context {
            now: "2026-01-01T00:00:00Z",
            dataset: "iocd.stream",
            line: Some(&fields),
            ..Context::default()
        };
        let mut out = Vec::new();
        write_alert(&mut out, &set, line, &hits, &cx);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let e = &v["threat"]["enrichments"];
        let m = &v["iocd"]["matches"];
        let by_kind = |k: &str| {
            (0..2)
                .find(|&i| m[i]["kind"] == k)
                .unwrap_or_else(|| panic!("{k}: {v}"))
        };
        let (h, i) = (by_kind("md5"), by_kind("ipv4"));
        assert!(e[h]["matched"].get("field").is_none(), "{v}");
        assert_eq!(m[h]["matched_path"], "json.Hashes", "{v}");
        assert_eq!(e[i]["matched"]["field"], "destination.ip", "{v}");
        assert!(m[i].get("matched_path").is_none(), "{v}");
        // Per indicator its own marking; the alert as a whole the strictest.
        assert_eq!(e[h]["indicator"]["marking"]["tlp"], "GREEN");
        assert_eq!(e[i]["indicator"]["marking"]["tlp"], "AMBER");
        assert_eq!(v["threat"]["indicator"]["marking"]["tlp"], "AMBER");
        assert_eq!(ecs::check(&v), Vec::<String>::new());
    }
}
