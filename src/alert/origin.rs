//! Where an alert's line came from, what else the alert says beside the line and its hits,
//! and the alert's stable `event.id`.

use serde::Serialize;

use crate::decode::syslog::SyslogFields;
use crate::model::IdHasher;

use super::{LineFields, TriageFields};

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
    /// What the decoded line says ([`super::DecodedLine::fields`]).
    pub line: Option<&'a LineFields>,
    /// Priority, score and deduplication (daemon with triage on).
    pub triage: Option<&'a TriageFields<'a>>,
    /// The event's own time (RFC 3339) as the caller read it from the line (`iocd scan`);
    /// without it, the syslog header's.
    pub event_time: Option<&'a str>,
    /// Say in `iocd.timestamp_from` whether `@timestamp` is the line's time (`line`) or,
    /// the line having none, `now` (`scan`).
    pub mark_time_source: bool,
    /// A retro job's alert on a line of history (`iocd.retro`).
    pub retro: Option<&'a super::RetroFields>,
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
