//! The typed alert the formats other than ECS render from: what an alert says, whatever made
//! it (a line with hits, a roll-up, a flood report, a flood summary, a digest), with ECS's
//! names for the fields. Made beside the ECS JSON from the same typed values (never parsed
//! back from it), and carried to the sinks in [`crate::model::AlertRecord::formats`].

use std::net::IpAddr;

use crate::model::{Formats, Priority};
use iocd_engine::IocKind;

/// One alert, for OCSF ([`super::ocsf`]) and CEF ([`super::cef`]).
#[derive(Clone, Debug, Default)]
pub struct Finding {
    /// ECS `event.id`.
    pub id: String,
    /// ECS `@timestamp` (RFC 3339).
    pub timestamp: String,
    /// ECS `event.created`, when the alert has it.
    pub created: Option<String>,
    /// ECS `event.dataset`.
    pub dataset: &'static str,
    /// ECS `rule.id`, `rule.name`, `rule.ruleset`.
    pub rule_id: String,
    pub rule_name: String,
    pub ruleset: &'static str,
    /// `iocd.alert_type` (`None`: an alert without triage).
    pub alert_type: Option<&'static str>,
    pub priority: Option<Priority>,
    /// `iocd.score`.
    pub score: Option<f64>,
    /// A roll-up's `iocd.dedup.count`.
    pub count: Option<u64>,
    /// ECS `event.start` and `event.end` (RFC 3339).
    pub start: Option<String>,
    pub end: Option<String>,
    /// ECS `message` (triage's own alerts).
    pub message: Option<String>,
    /// ECS `event.original`: the line.
    pub original: Option<String>,
    pub source: Side,
    pub destination: Side,
    pub url_original: Option<String>,
    pub url_domain: Option<String>,
    pub dns_question: Option<String>,
    /// ECS `host.hostname` (the syslog header's).
    pub hostname: Option<String>,
    /// ECS `event.action`.
    pub action: Option<&'static str>,
    /// ECS `network.direction`.
    pub direction: Option<&'static str>,
    /// The indicators matched, or the one triage's alert is about.
    pub matches: Vec<Matched>,
    /// A flood summary's `iocd.flood_summary.indicators`.
    pub flood_indicators: Option<u64>,
    /// A digest's `iocd.sink`.
    pub digest_sink: Option<String>,
    /// The ECS `iocd` block (OCSF `unmapped.iocd`).
    pub iocd: serde_json::Value,
    /// The threat context of the alert's indicators (ECS `threat.software`, `.group`,
    /// `.technique`, `.tactic`).
    pub threat: ThreatNames,
}

/// What the feeds tie an alert's indicators to, by name (docs/FEEDS.md, "Threat context").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreatNames {
    /// Malware families.
    pub malware: Vec<String>,
    /// Tools.
    pub tools: Vec<String>,
    /// Threat actors and intrusion sets.
    pub groups: Vec<String>,
    /// ATT&CK techniques: (id, name) as the feeds paired them.
    pub techniques: Vec<(Option<String>, Option<String>)>,
    /// ATT&CK tactics.
    pub tactics: Vec<String>,
}

/// One end of the flow, as ECS `source` / `destination`.
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub domain: Option<String>,
}

/// One matched indicator.
#[derive(Clone, Debug)]
pub struct Matched {
    /// Its canonical text.
    pub indicator: String,
    /// `None`: a kind iocd could not name.
    pub kind: Option<IocKind>,
    /// The token as it stood in the line (`None`: triage's own alerts).
    pub atomic: Option<String>,
    /// The ECS field it was in, else the log's own key (`matched_path`).
    pub field: Option<String>,
    /// The feeds that list it.
    pub providers: Vec<String>,
}

impl Matched {
    /// The kind's name, `unknown` when there is none.
    pub(crate) fn kind_str(&self) -> &'static str {
        self.kind.map_or("unknown", IocKind::as_str)
    }
}

impl Finding {
    /// The finding's title: what kind of alert it is, and its first indicator.
    pub fn title(&self) -> String {
        let first = self
            .matches
            .first()
            .map(|x| format!("{} ({})", x.indicator, x.kind_str()));
        match self.alert_type {
            Some("rollup") => {
                let n = self.count.unwrap_or(0);
                match first {
                    Some(f) => format!("Threat indicator match roll-up: {f}, {n} more hit(s)"),
                    None => format!("Threat indicator match roll-up: {n} more hit(s)"),
                }
            }
            Some("flood") => match first {
                Some(f) => format!("Likely false positive: {f} hit many hosts"),
                None => "Likely false positive: an indicator hit many hosts".to_owned(),
            },
            Some("flood_summary") => format!(
                "Scans stopped at the edge: {} flooding indicator(s)",
                self.flood_indicators.unwrap_or(0)
            ),
            Some("digest") => match &self.digest_sink {
                Some(sink) => format!("iocd digest for {sink}"),
                None => "iocd digest".to_owned(),
            },
            _ => self.match_title(),
        }
    }

    fn match_title(&self) -> String {
        match self.matches.as_slice() {
            [] => "Threat indicator match".to_owned(),
            [one] => format!(
                "Threat indicator match: {} ({})",
                one.indicator,
                one.kind_str()
            ),
            [first, rest @ ..] => format!(
                "Threat indicator match: {} ({}) and {} more",
                first.indicator,
                first.kind_str(),
                rest.len()
            ),
        }
    }

    /// iocd's priority on OCSF's severity scale: 1 informational .. 5 critical, 0 unknown.
    pub fn severity_id(&self) -> u8 {
        self.priority.map_or(0, Priority::severity)
    }

    /// Milliseconds since the epoch of `@timestamp` (else `event.created`, else now).
    pub(crate) fn time_ms(&self) -> i64 {
        [Some(&self.timestamp), self.created.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(
                || chrono::Utc::now().timestamp_millis(),
                |t| t.timestamp_millis(),
            )
    }
}

/// `s`, unless it is empty (a format leaves an empty field out).
pub(crate) fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Epoch milliseconds of an RFC 3339 time.
pub(crate) fn epoch_ms(t: Option<&str>) -> Option<i64> {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

impl Formats for Finding {
    fn ocsf(&self) -> Vec<u8> {
        serde_json::to_vec(&super::ocsf::ocsf(self)).expect("a Value serializes")
    }

    fn cef(&self) -> Vec<u8> {
        super::cef::cef(self).into_bytes()
    }
}

/// Names of each kind an alert keeps, at most.
pub(crate) const MAX_THREAT_NAMES: usize = 32;

/// Adds `s` to `list` unless it is there (case aside) or the list is full.
fn push_name(list: &mut Vec<String>, s: &str) {
    if list.len() < MAX_THREAT_NAMES && !list.iter().any(|x| x.eq_ignore_ascii_case(s)) {
        list.push(s.to_owned());
    }
}

impl ThreatNames {
    /// The names of one indicator's context (a roll-up's, a flood report's).
    pub fn of(cx: &iocd_engine::Context) -> ThreatNames {
        let mut names = ThreatNames::default();
        names.add(cx);
        names
    }

    /// Adds what `cx` names, each kind capped at [`MAX_THREAT_NAMES`], without repeats.
    pub fn add(&mut self, cx: &iocd_engine::Context) {
        for (list, names) in [
            (&mut self.malware, &cx.malware),
            (&mut self.tools, &cx.tools),
            (&mut self.groups, &cx.groups),
            (&mut self.tactics, &cx.tactics),
        ] {
            for n in names {
                push_name(list, n);
            }
        }
        for t in &cx.techniques {
            let pair = (t.id.clone(), t.name.clone());
            if self.techniques.len() < MAX_THREAT_NAMES && !self.techniques.contains(&pair) {
                self.techniques.push(pair);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ThreatNames::default()
    }

    /// Into `threat`, as ECS `threat.software`, `.group`, `.technique` and `.tactic` (what
    /// [`ThreatNames`] serializes as).
    pub fn to_ecs(&self, threat: &mut serde_json::Map<String, serde_json::Value>) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) {
            threat.extend(fields);
        }
    }
}

/// ECS's shape: `software` (`name` and `type`, `Malware` or `Tool`, side by side), `group`,
/// `technique` (`id` and `name`, each without repeats) and `tactic`; a kind without names is
/// left out, so that an alert without context has none of these fields. Written straight from
/// the names (no intermediate JSON values): it runs for every alert.
impl serde::Serialize for ThreatNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if !self.malware.is_empty() || !self.tools.is_empty() {
            m.serialize_entry("software", &Software(self))?;
        }
        if !self.groups.is_empty() {
            m.serialize_entry("group", &Names(&self.groups))?;
        }
        let t = Techniques(
            Technique(&self.techniques, true),
            Technique(&self.techniques, false),
        );
        if t.0.any() || t.1.any() {
            m.serialize_entry("technique", &t)?;
        }
        if !self.tactics.is_empty() {
            m.serialize_entry("tactic", &Names(&self.tactics))?;
        }
        m.end()
    }
}

/// `{"name": [malware..., tools...], "type": ["Malware"..., "Tool"...]}`.
struct Software<'a>(&'a ThreatNames);

impl serde::Serialize for Software<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct All<'a>(&'a ThreatNames);
        impl serde::Serialize for All<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.malware.iter().chain(&self.0.tools))
            }
        }
        struct Kinds<'a>(&'a ThreatNames);
        impl serde::Serialize for Kinds<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(
                    std::iter::repeat_n("Malware", self.0.malware.len())
                        .chain(std::iter::repeat_n("Tool", self.0.tools.len())),
                )
            }
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &All(self.0))?;
        m.serialize_entry("type", &Kinds(self.0))?;
        m.end()
    }
}

/// `{"name": [...]}`.
struct Names<'a>(&'a [String]);

impl serde::Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("name", self.0)?;
        m.end()
    }
}

/// The ids (`true`) or the names of techniques, each once (case aside).
struct Technique<'a>(&'a [(Option<String>, Option<String>)], bool);

impl<'a> Technique<'a> {
    fn field(&self, t: &'a (Option<String>, Option<String>)) -> Option<&'a str> {
        if self.1 {
            t.0.as_deref()
        } else {
            t.1.as_deref()
        }
    }

    fn values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.0.iter().enumerate().filter_map(move |(i, t)| {
            let v = self.field(t)?;
            let seen = self.0[..i]
                .iter()
                .any(|e| self.field(e).is_some_and(|x| x.eq_ignore_ascii_case(v)));
            (!seen).then_some(v)
        })
    }

    fn any(&self) -> bool {
        self.values().next().is_some()
    }
}

impl serde::Serialize for Technique<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.values())
    }
}

/// `{"id": [...], "name": [...]}`, each left out when empty.
struct Techniques<'a>(Technique<'a>, Technique<'a>);

impl serde::Serialize for Techniques<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if self.0.any() {
            m.serialize_entry("id", &self.0)?;
        }
        if self.1.any() {
            m.serialize_entry("name", &self.1)?;
        }
        m.end()
    }
}
