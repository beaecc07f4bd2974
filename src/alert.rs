//! Hits shaped as alerts: JSON in the Elastic Common Schema (ECS) shape SIEMs ingest.
//!
//! One alert per log line with hits. Each matched indicator is one entry of
//! `threat.enrichments[]`, with `threat.indicator.*` (type, the typed value field, every feed
//! that lists it as `provider`) and `matched.atomic` (the token as it stood in the line).
//! Everything ECS has no field for lives under `iocd.*`: where the line came from, and per
//! match the indicator's canonical text, kind, byte range and every source with its line.

use serde::Serialize;

use crate::matcher::{Hit, IocKind, IocSet, Pattern};

/// Where a line came from.
#[derive(Clone, Debug, Serialize)]
pub struct Origin<'a> {
    /// The file path, or `-` for standard input.
    pub file: &'a str,
    /// 1-based line number.
    pub line: u64,
}

#[derive(Serialize)]
struct Alert<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    event: Event<'a>,
    threat: Threat<'a>,
    iocd: Iocd<'a>,
}

#[derive(Serialize)]
struct Event<'a> {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_type: [&'static str; 1],
    dataset: &'static str,
    original: &'a str,
}

#[derive(Serialize)]
struct Threat<'a> {
    enrichments: Vec<Enrichment<'a>>,
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
    #[serde(rename = "type")]
    match_type: &'static str,
}

#[derive(Serialize)]
struct Iocd<'a> {
    source: &'a Origin<'a>,
    matches: Vec<MatchInfo<'a>>,
}

#[derive(Serialize)]
struct MatchInfo<'a> {
    indicator: String,
    kind: IocKind,
    start: usize,
    end: usize,
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

impl Serialize for IocKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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

/// Appends one alert (a JSON object and a line feed) for `line`, whose `hits` have offsets
/// relative to the line's start.
pub fn write_alert(
    out: &mut Vec<u8>,
    set: &IocSet,
    timestamp: &str,
    line: &[u8],
    hits: &[Hit],
    origin: &Origin<'_>,
) {
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
        enrichments.push(Enrichment {
            indicator: indicator(&pattern, providers),
            matched: Matched {
                atomic,
                match_type: "indicator_match_rule",
            },
        });
        matches.push(MatchInfo {
            indicator: pattern.to_string(),
            kind: pattern.kind(),
            start: h.start,
            end: h.end,
            sources,
        });
    }
    let alert = Alert {
        timestamp,
        event: Event {
            kind: "enrichment",
            category: ["threat"],
            kind_type: ["indicator"],
            dataset: "iocd.scan",
            original: &original,
        },
        threat: Threat { enrichments },
        iocd: Iocd {
            source: origin,
            matches,
        },
    };
    serde_json::to_writer(&mut *out, &alert).expect("serializing to memory cannot fail");
    out.push(b'\n');
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
        let origin = Origin {
            file: "fw.log",
            line: 7,
        };
        write_alert(&mut out, &set, "2026-01-01T00:00:00Z", line, &hits, &origin);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
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
    }
}
