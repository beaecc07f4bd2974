//! The time a log line says its event happened.
//!
//! [`event_time`] reads it from where each format keeps it, in this order:
//!
//! 1. the format's own time field, found by key: JSON `@timestamp`, `timestamp` (Suricata
//!    EVE), `EventTime`/`TimeCreated` (Windows, NXLog), `eventTime` (CloudTrail),
//!    `systemTime` (Wazuh Windows), `ts` (Zeek JSON), Zeek TSV `ts`; read as RFC 3339 / ISO
//!    8601 (with or without a `T`, an offset with or without a colon; no offset is UTC) or as
//!    seconds since the Unix epoch;
//! 2. the request time of an Apache/nginx access log (`[22/Nov/2026:10:00:03 +0000]`) and the
//!    epoch of a squid `access.log` line;
//! 3. the syslog header's time (RFC 5424, or RFC 3164 with the year its caller inferred).
//!
//! The format's field comes before the syslog header: a relay's header says when the line was
//! relayed, the field when the event happened. Only fields the decoder read as the format's own
//! are consulted (never text inside another field's value), so a user agent or a URL cannot
//! choose an event's time, as it cannot choose its format (docs/ALERT_QUALITY.md).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::event::{Event, Format};
use super::syslog::SyslogHeader;

/// Keys (the last component of a field's name, after its format prefix) that hold an event's
/// time, in order of preference.
const TIME_KEYS: [&str; 7] = [
    "@timestamp",
    "timestamp",
    "EventTime",
    "TimeCreated",
    "eventTime",
    "systemTime",
    "ts",
];

/// The time `line` says its event happened (see the module docs); `None` when it says none.
pub fn event_time(
    line: &[u8],
    ev: Option<&Event>,
    header: Option<&SyslogHeader>,
) -> Option<DateTime<FixedOffset>> {
    if let Some(ev) = ev {
        if let Some(t) = field_time(line, ev) {
            return Some(t);
        }
        let t = match ev.format {
            Format::AccessLog => access_log_time(line),
            Format::Squid => {
                let body = header.map_or(line, |h| &line[h.body_offset.min(line.len())..]);
                let first = body
                    .split(|b| b.is_ascii_whitespace())
                    .find(|w| !w.is_empty())?;
                epoch(std::str::from_utf8(first).ok()?)
            }
            _ => None,
        };
        if t.is_some() {
            return t;
        }
    }
    header
        .and_then(|h| h.timestamp.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

fn field_time(line: &[u8], ev: &Event) -> Option<DateTime<FixedOffset>> {
    let key = |name: &str| -> Option<usize> {
        let bare = ["json.", "zeek."]
            .iter()
            .find_map(|p| name.strip_prefix(p))?;
        // A nested key (`win.system.systemTime`) by its last component; `@timestamp` whole.
        let last = bare.rsplit('.').next().unwrap_or(bare);
        TIME_KEYS.iter().position(|k| *k == bare || *k == last)
    };
    let best = ev
        .fields
        .iter()
        .filter_map(|f| Some((key(&f.name)?, f)))
        .min_by_key(|(rank, _)| *rank)?;
    let text = ev.text(line, best.1);
    parse_time(text.trim())
}

/// A time written as RFC 3339 / ISO 8601 (`2021-06-06T15:59:46.457984+0200`,
/// `2020-10-23 02:36:43.128Z`, `2024-01-02T03:04:05`: no offset is UTC) or as seconds since
/// the Unix epoch (`1663683561.702855`; milliseconds when it has 13 digits or more).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(s);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    let s = s.strip_suffix('Z').map_or_else(
        || s.to_owned(),
        |head| format!("{head}+0000"), // `Z` after a space-separated time
    );
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(&s, f) {
            return Some(t);
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, f) {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    None
}

/// Seconds since the Unix epoch, with a fraction (`1140701044.525`); 13 digits or more before
/// the point are milliseconds.
fn epoch(s: &str) -> Option<DateTime<FixedOffset>> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 16 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = int.parse().ok()?;
    let digits = &frac[..frac.len().min(9)];
    let mut nanos: u32 = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let secs = if int.len() >= 13 {
        nanos = (n % 1000) as u32 * 1_000_000;
        n / 1000
    } else {
        n
    };
    Utc.timestamp_opt(secs, nanos)
        .single()
        .map(|t| t.fixed_offset())
}

/// The `[dd/Mon/yyyy:hh:mm:ss +zzzz]` of a common or combined access log: the first bracket
/// of the line, where the format puts it.
fn access_log_time(line: &[u8]) -> Option<DateTime<FixedOffset>> {
    let open = memchr::memchr(b'[', &line[..line.len().min(512)])?;
    let close = open + memchr::memchr(b']', &line[open..])?;
    let inside = std::str::from_utf8(&line[open + 1..close]).ok()?;
    DateTime::parse_from_str(inside, "%d/%b/%Y:%H:%M:%S %z").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::event::{ZeekHeader, decode};
    use crate::decode::syslog;
    use crate::time::{Digits, rfc3339};

    fn at(line: &str, zeek: Option<&ZeekHeader>) -> Option<String> {
        let modified = FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 30, 9, 0, 0)
            .unwrap();
        let header = syslog::parse_in_file(line.as_bytes(), modified);
        let ev = decode(line.as_bytes(), zeek);
        event_time(line.as_bytes(), ev.as_ref(), header.as_ref()).map(|t| rfc3339(&t, Digits::Auto))
    }

    #[test]
    fn each_format_where_it_keeps_its_time() {
        let cases: [(&str, Option<&str>); 12] = [
            // RFC 3164: the year of the file's modification, its zone.
            (
                "Mar 29 10:42:45 ip-10-77-20-248 sshd[1291]: Failed password for root from 45.61.136.7 port 22 ssh2",
                Some("2026-03-29T10:42:45+01:00"),
            ),
            // A month after the file's: the year before.
            (
                "Dec 30 23:59:01 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=45.61.136.7 DST=10.0.0.1",
                Some("2025-12-30T23:59:01+01:00"),
            ),
            (
                "<134>1 2019-05-15T16:25:50Z fw CheckPoint 19710 - - drop 45.61.136.7",
                Some("2019-05-15T16:25:50Z"),
            ),
            (
                r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1,"event_type":"alert","src_ip":"45.61.136.7","dest_ip":"10.0.0.1"}"#,
                Some("2021-06-06T15:59:46.457984+02:00"),
            ),
            (
                r#"{"@timestamp":"2020-10-23T02:36:43.128Z","source":{"ip":"45.61.136.7"}}"#,
                Some("2020-10-23T02:36:43.128Z"),
            ),
            (
                r#"{"EventTime":"2020-10-22 22:57:58","Hostname":"WORKSTATION5","EventID":3,"SourceIp":"45.61.136.7"}"#,
                Some("2020-10-22T22:57:58Z"),
            ),
            (
                r#"{"ts":1663683561.702855,"uid":"Cw","id.orig_h":"45.61.136.7","id.resp_h":"10.0.0.1"}"#,
                Some("2022-09-20T14:19:21.702855Z"),
            ),
            (
                r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 203 "-" "Mozilla [01/Jan/1999:00:00:00 +0000]""#,
                Some("2015-05-17T10:05:03Z"),
            ),
            (
                "1140701044.525   1231 45.61.136.7 TCP_DENIED/400 1536 GET http://a.example/ - NONE/- text/html",
                Some("2006-02-23T13:24:04.525Z"),
            ),
            // A syslog header and a JSON body: the body's own time.
            (
                r#"Mar 29 10:42:45 relay app: {"@timestamp":"2026-03-28T23:00:00Z","source":{"ip":"45.61.136.7"}}"#,
                Some("2026-03-28T23:00:00Z"),
            ),
            // No time anywhere.
            ("45.61.136.7 said hello", None),
            // A time-looking value in another key is not the event's time.
            (
                r#"{"comment":"2020-01-01T00:00:00Z","src_ip":"45.61.136.7"}"#,
                None,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(at(line, None).as_deref(), want, "{line}");
        }
        let zeek = ZeekHeader::from_lines([
            &b"#separator \\x09"[..],
            b"#fields\tts\tuid\tid.orig_h\tid.resp_h\tquery",
        ])
        .unwrap();
        assert_eq!(
            at(
                "1663683561.5\tC1\t10.0.0.1\t8.8.8.8\tbad.example",
                Some(&zeek)
            )
            .as_deref(),
            Some("2022-09-20T14:19:21.500Z")
        );
    }

    #[test]
    fn time_texts() {
        let p = |s: &str| parse_time(s).map(|t| t.timestamp_millis());
        assert_eq!(p("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(p("1970-01-01 00:00:01.5Z"), Some(1500));
        assert_eq!(p("1970-01-01T01:00:01+0100"), Some(1000));
        assert_eq!(p("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(p("13.184015"), Some(13_184));
        for bad in [
            "",
            "-",
            "yesterday",
            "2020-13-01T00:00:00Z",
            "1.2.3",
            "99999999999999999",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
