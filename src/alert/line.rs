//! A line with hits, decoded for its alert: the ECS fields it fills ([`LineFields`]), what
//! triage reads ([`LineFacts`]), and the hits of URL indicators split across fields.

use serde::Serialize;

use crate::decode::event::{self as decoded, Direction};
use crate::triage::LineFacts;
use iocd_engine::{Hit, IocKind, IocSet};

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
    pub(crate) fn is_empty(&self) -> bool {
        self.ip.is_none() && self.port.is_none() && self.domain.is_none()
    }
}

/// The ECS fields a decoded line fills in an alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineFields {
    /// The format the line was decoded as (`iocd.decoded_as`).
    pub format: Option<&'static str>,
    /// The ECS field each hit is in, in the order of the hits given to [`super::write_alert`].
    pub matched: Vec<Option<String>>,
    pub source: Endpoint,
    pub destination: Endpoint,
    pub direction: Option<Direction>,
    /// `allowed`, `blocked`, `denied`, ... as the log said.
    pub action: Option<&'static str>,
    pub allowed: Option<bool>,
    pub(crate) url_original: Option<String>,
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
    pub(crate) fn undecoded(
        line: &[u8],
        internal: impl Fn(std::net::IpAddr) -> bool,
    ) -> DecodedLine {
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
    scratch: &mut iocd_engine::Scratch,
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
/// holding one of `tokens` (the scan's [`iocd_engine::Scratch::url_host_tokens`]: the host
/// of some URL indicator) are decoded, so the cost stays on those rare lines. `zeek_at` gives
/// the Zeek header in effect at a line's start. A decoder that panics costs that line its
/// split URLs, logged.
pub fn add_split_url_hits<'z>(
    set: &IocSet,
    buf: &[u8],
    tokens: &[std::ops::Range<usize>],
    zeek_at: impl Fn(usize) -> Option<&'z decoded::ZeekHeader>,
    scratch: &mut iocd_engine::Scratch,
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
