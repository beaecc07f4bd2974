//! ECS: the alert on a line with hits ([`write_alert`]) and triage's own alerts, as the
//! Elastic Common Schema JSON iocd writes by default; the ECS field table ([`check`],
//! [`is_field`]) is in `fields`.

use serde::Serialize;

use crate::decode::syslog::SyslogFields;
pub use crate::model::RULESET;
use crate::time::rfc3339_secs;
use iocd_engine::{Hit, IocKind, IocSet, Pattern, Tlp};

mod context;
mod fields;
mod report;

pub use fields::{EcsType, check, field_type, is_field};
pub(crate) use report::report;

use super::finding::{Finding, Matched as Found, ThreatNames};
use super::{Context, Endpoint, Origin, TriageFields, event_id};

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
    /// The feeds' tags of the alert's indicators, and their campaigns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    iocd: Iocd<'a>,
}

/// ECS `rule.*`: what a SIEM's correlation rules key on. See [`rule`].
#[derive(Serialize)]
struct Rule {
    id: String,
    name: String,
    ruleset: &'static str,
}

/// The ECS `rule.id` and `rule.name` of an indicator match whose (primary) indicator is of
/// `kind`: one rule per indicator kind, `iocd.match.ipv4` ("Threat intelligence match:
/// ipv4 indicator"), so a SIEM rule can treat an address match and a hash match apart.
pub fn rule(kind: IocKind) -> (String, String) {
    (
        format!("iocd.match.{}", kind.as_str()),
        format!("Threat intelligence match: {} indicator", kind.as_str()),
    )
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
    id: String,
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_type: [&'static str; 1],
    dataset: &'static str,
    /// 1 (info) .. 5 (critical), from the priority ([`crate::model::Priority::severity`]).
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
    original: String,
}

#[derive(Serialize)]
struct Threat<'a> {
    /// The feeds that list the alert's (primary) indicator.
    feed: ThreatFeed<'a>,
    /// The strictest TLP of the indicators matched: how the alert may be shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    indicator: Option<TopIndicator>,
    /// Malware, tools, actors, ATT&CK techniques and tactics the feeds tie the indicators to
    /// (`threat.software`, `.group`, `.technique`, `.tactic`).
    #[serde(flatten)]
    context: ThreatNames,
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
    atomic: String,
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
    /// Other indicators of the set from the same MISP event or STIX report as one of the
    /// alert's, to pivot on (at most ten).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<context::Related<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retro: Option<&'a super::RetroFields>,
    /// `retro` for a retro alert made without triage (triage's fields carry it otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    alert_type: Option<&'static str>,
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
    // What the feeds say the indicator is, after what iocd says of it (a CIDR's network).
    let said: Vec<&str> = set
        .sources(hit.id)
        .iter()
        .filter_map(|s| set.meta(s).and_then(|m| m.description.as_deref()))
        .take(3)
        .collect();
    if !said.is_empty() {
        let mut d = ind.description.take().unwrap_or_default();
        for s in said {
            if d.split("; ").any(|x| x == s) {
                continue;
            }
            if !d.is_empty() {
                d.push_str("; ");
            }
            d.push_str(s);
        }
        ind.description = Some(d);
    }
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
    let alert = build(set, line, hits, cx);
    serde_json::to_writer(&mut *out, &alert).expect("serializing to memory cannot fail");
}

/// [`write_alert`], and the typed alert the other formats render from.
pub fn write_typed(
    out: &mut Vec<u8>,
    set: &IocSet,
    line: &[u8],
    hits: &[Hit],
    cx: &Context<'_>,
) -> Finding {
    let mut alert = build(set, line, hits, cx);
    serde_json::to_writer(&mut *out, &alert).expect("serializing to memory cannot fail");
    finding(&mut alert)
}

/// The ECS alert on `line`, typed.
fn build<'a>(set: &'a IocSet, line: &[u8], hits: &[Hit], cx: &'a Context<'a>) -> Alert<'a> {
    let mut enrichments = Vec::with_capacity(hits.len());
    let mut matches = Vec::with_capacity(hits.len());
    for h in hits {
        let atomic = String::from_utf8_lossy(&line[h.start..h.end]).into_owned();
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
            Some(f) if is_field(f) => (Some(f), None),
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
    let threat_context = context::gather(set, hits);
    let mut indicators: Vec<&str> = matches.iter().map(|m| m.indicator.as_str()).collect();
    let id = event_id(
        &cx.origin,
        line,
        &mut indicators,
        cx.triage
            .map_or(if cx.retro.is_some() { "retro" } else { "match" }, |t| {
                t.alert_type.as_str()
            }),
    );
    let sys = cx.syslog.as_ref();
    let lf = cx.line;
    // The event's own time when the log says it; the alert's creation time beside it.
    let event_time = cx
        .event_time
        .or_else(|| sys.and_then(|s| s.timestamp.as_deref()));
    Alert {
        timestamp: event_time.unwrap_or(cx.now),
        event: Event {
            id,
            kind: "alert",
            category: ["threat"],
            kind_type: ["indicator"],
            dataset: cx.dataset,
            severity: cx.triage.map(|t| t.priority.severity()),
            risk_score: cx.triage.map(|t| t.score),
            created: event_time.map(|_| cx.now),
            action: lf.and_then(|l| l.action),
            outcome: lf
                .and_then(|l| l.allowed)
                .map(|a| if a { "success" } else { "failure" }),
            original: String::from_utf8_lossy(line).into_owned(),
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
            context: threat_context.names,
            enrichments,
        },
        tags: threat_context.tags,
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
            related: threat_context.related,
            retro: cx.retro,
            alert_type: (cx.triage.is_none() && cx.retro.is_some()).then_some("retro"),
        },
    }
}

/// What the formats other than ECS render of the line's alert `a`, once `a` is written (its
/// threat context moves into the finding rather than being copied).
fn finding(a: &mut Alert<'_>) -> Finding {
    let threat = std::mem::take(&mut a.threat.context);
    use super::finding::{Side, non_empty};
    let side = |e: Option<&Endpoint>| {
        e.map(|e| Side {
            ip: e.ip,
            port: e.port,
            domain: non_empty(e.domain.as_deref()),
        })
        .unwrap_or_default()
    };
    let triage = a.iocd.triage;
    Finding {
        id: a.event.id.clone(),
        timestamp: a.timestamp.to_owned(),
        created: a.event.created.map(str::to_owned),
        dataset: a.event.dataset,
        rule_id: a.rule.id.clone(),
        rule_name: a.rule.name.clone(),
        ruleset: a.rule.ruleset,
        alert_type: triage.map(|t| t.alert_type.as_str()).or(a.iocd.alert_type),
        priority: triage.map(|t| t.priority),
        score: triage.map(|t| t.score),
        count: None,
        start: None,
        end: None,
        message: None,
        original: non_empty(Some(&a.event.original)),
        source: side(a.source),
        destination: side(a.destination),
        url_original: a.url.as_ref().and_then(|u| non_empty(u.original)),
        url_domain: a.url.as_ref().and_then(|u| non_empty(u.domain)),
        dns_question: a
            .dns
            .as_ref()
            .and_then(|d| non_empty(Some(d.question.name))),
        hostname: a.host.as_ref().and_then(|h| non_empty(Some(h.hostname))),
        action: a.event.action.filter(|x| !x.is_empty()),
        direction: a.network.as_ref().map(|n| n.direction),
        matches: a
            .iocd
            .matches
            .iter()
            .zip(&a.threat.enrichments)
            .map(|(m, e)| Found {
                indicator: m.indicator.clone(),
                kind: Some(m.kind),
                atomic: non_empty(Some(&e.matched.atomic)),
                field: non_empty(e.matched.field.or(m.matched_path)),
                providers: e
                    .indicator
                    .provider
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect(),
            })
            .collect(),
        flood_indicators: None,
        digest_sink: None,
        threat,
        iocd: serde_json::to_value(&a.iocd).expect("serializing to a value cannot fail"),
    }
}
