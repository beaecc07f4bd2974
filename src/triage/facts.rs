//! What a decoded line says, and where one hit of it sits: the direction of the flow and the
//! internal host involved.

use std::net::IpAddr;

use crate::decode::event::{self, Action, Direction, Event};

use super::assets::Assets;

/// What a decoded line says, beyond which field each hit is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineFacts {
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_ip: Option<IpAddr>,
    pub(crate) dst_port: Option<u16>,
    pub action: Option<Action>,
    /// The line is a passive sensor's record (Suricata EVE, Zeek) that names no verdict: the
    /// traffic was seen on the wire, so it got through. Scored as allowed, and said so.
    pub(crate) seen_by_sensor: bool,
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
pub(super) fn side(field: Option<&str>) -> Option<bool> {
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
pub(super) fn locate(
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
