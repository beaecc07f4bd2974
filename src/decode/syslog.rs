//! The header of a syslog message: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`)
//! and the older, looser RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, often seen
//! without its `<PRI>` in files).
//!
//! [`parse`] is the one entry point. It is called by matcher threads for lines with hits only,
//! so that an alert can say which host and program sent the line, when, and with which
//! structured data; it allocates the few strings it returns and never panics, whatever the
//! bytes (a `proptest` below feeds it arbitrary ones).
//!
//! The grammar is `syslog_loose`'s, which accepts what real senders emit rather than what the
//! RFCs say (missing PRI, RFC 3339 times in 3164 headers, `-` for missing fields). On top of it
//! this module adds: bytes that are not UTF-8 (the header is read from the valid prefix, the
//! body offset still points into the original bytes), the year of an RFC 3164 time (the
//! current one, or the previous one for a December message read in January), and a rule for
//! what is *not* syslog: a line with neither a PRI nor a time has no header.

use chrono::{DateTime, Datelike, FixedOffset, Local};
use serde::Serialize;
use syslog_loose::{IncompleteDate, Message, ProcId, Protocol, Variant};

use crate::time::{Digits, rfc3339};

/// Which header layout a message had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// BSD syslog: no version, a time without a year, `TAG[PID]:`.
    Rfc3164,
    /// IETF syslog, with its version number (1 today).
    Rfc5424 { version: u32 },
}

/// One RFC 5424 structured-data element: `[id name="value" ...]`, values unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SdElement {
    pub id: String,
    pub(crate) params: Vec<(String, String)>,
}

/// What a syslog header said. Missing fields (absent, or `-` in RFC 5424) are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogHeader {
    pub format: Format,
    /// Facility code, 0 (kern) to 23 (local7).
    pub facility: Option<u8>,
    /// Severity code, 0 (emerg) to 7 (debug).
    pub severity: Option<u8>,
    /// The message's own time, RFC 3339 (`Z` for UTC).
    pub timestamp: Option<String>,
    pub hostname: Option<String>,
    pub appname: Option<String>,
    pub(crate) procid: Option<String>,
    pub msgid: Option<String>,
    pub(crate) structured_data: Vec<SdElement>,
    /// Where the free-form message starts in the bytes given to [`parse`].
    pub body_offset: usize,
}

impl SyslogHeader {
    #[cfg(test)]
    /// The facility's conventional name (`auth`, `local0`, ...).
    pub(crate) fn facility_name(&self) -> Option<&'static str> {
        const NAMES: [&str; 24] = [
            "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
            "authpriv", "ftp", "ntp", "audit", "alert", "clockd", "local0", "local1", "local2",
            "local3", "local4", "local5", "local6", "local7",
        ];
        self.facility
            .and_then(|f| NAMES.get(usize::from(f)).copied())
    }

    #[cfg(test)]
    /// The severity's conventional name (`err`, `info`, ...).
    pub(crate) fn severity_name(&self) -> Option<&'static str> {
        const NAMES: [&str; 8] = [
            "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        ];
        self.severity
            .and_then(|s| NAMES.get(usize::from(s)).copied())
    }

    /// Structured data as `{ "sd-id": { "param": "value" } }`, or `None` when there is none.
    /// A parameter repeated inside one element keeps its last value.
    pub fn structured_data_json(&self) -> Option<serde_json::Value> {
        if self.structured_data.is_empty() {
            return None;
        }
        let mut elements = serde_json::Map::new();
        for sd in &self.structured_data {
            let params = sd
                .params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            elements.insert(sd.id.clone(), serde_json::Value::Object(params));
        }
        Some(serde_json::Value::Object(elements))
    }

    /// The header as the alert's `log.syslog.*` / `host.*` / `process.*` fields.
    pub fn to_alert_fields(&self) -> SyslogFields {
        SyslogFields {
            hostname: self.hostname.clone(),
            appname: self.appname.clone(),
            procid: self.procid.clone(),
            msgid: self.msgid.clone(),
            facility: self.facility,
            severity: self.severity,
            timestamp: self.timestamp.clone(),
            structured_data: self.structured_data_json(),
        }
    }
}

/// What a line's syslog header says, in the shape of the ECS `log.syslog.*`, `host.*` and
/// `process.*` fields an alert carries (the alert module writes them; decoding knows no alert).
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

/// Parses the syslog header at the start of `line` (a trailing line feed is allowed). RFC 3164
/// times are read in the local time zone, in the current year. `None` when the line has no
/// syslog header.
pub fn parse(line: &[u8]) -> Option<SyslogHeader> {
    parse_at(line, Local::now().fixed_offset())
}

/// [`parse`], shaped for an alert: the `worker::HeaderDecoder` of the daemon.
pub(crate) fn alert_fields(line: &[u8]) -> Option<SyslogFields> {
    parse(line).map(|h| h.to_alert_fields())
}

/// [`parse`], with "now" given: RFC 3164 times (which have no year and no zone) are read in
/// `now`'s offset, in `now`'s year, or the year before for a December message in January.
pub fn parse_at(line: &[u8], now: DateTime<FixedOffset>) -> Option<SyslogHeader> {
    parse_with_year(line, now, move |month| {
        if now.month() == 1 && month == 12 {
            now.year() - 1
        } else {
            now.year()
        }
    })
}

/// [`parse`] for a line of a log file last written at `modified` (`iocd scan`): an RFC 3164
/// time is read in `modified`'s offset and dated in the year before `modified` at the latest,
/// in that year when its month is not after `modified`'s month, else in the year before (a
/// file written in March 2026 holding `Dec 30` lines has them from December 2025).
pub(crate) fn parse_in_file(line: &[u8], modified: DateTime<FixedOffset>) -> Option<SyslogHeader> {
    parse_with_year(line, modified, move |month| {
        if month > modified.month() {
            modified.year() - 1
        } else {
            modified.year()
        }
    })
}

/// The header of `line`; an RFC 3164 time of month `m` is in year `year(m)`, at `zone`'s
/// offset.
fn parse_with_year(
    line: &[u8],
    zone: DateTime<FixedOffset>,
    year: impl Fn(u32) -> i32 + Copy,
) -> Option<SyslogHeader> {
    let now = zone;
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        // Headers are ASCII: read them from the valid prefix, and let the body offset (which
        // points into `line`) cover the rest.
        Err(e) => std::str::from_utf8(&line[..e.valid_up_to()]).ok()?,
    };
    let year = move |(month, ..): IncompleteDate| year(month);
    let msg: Message<&str> = syslog_loose::parse_message_with_year_exact_tz(
        text,
        year,
        Some(*now.offset()),
        Variant::Either,
    )
    .ok()?;
    if msg.facility.is_none() && msg.severity.is_none() && msg.timestamp.is_none() {
        return None;
    }
    // `msg.msg` is a slice of `text`, which is a prefix of `line`.
    let body_offset = (msg.msg.as_ptr() as usize)
        .checked_sub(text.as_ptr() as usize)
        .filter(|&o| o <= text.len())
        .unwrap_or(text.len());
    let mut body_offset = body_offset;
    let offset_in = |s: &str| s.as_ptr() as usize - text.as_ptr() as usize;
    // syslog_loose reads a `-` right after an RFC 3164 tag as empty structured data (which
    // RFC 3164 does not have), so `app: -x` would lose its dash. Give it back.
    if msg.protocol == Protocol::RFC3164 && msg.structured_data.is_empty() {
        let header_end = [msg.hostname, msg.appname]
            .into_iter()
            .flatten()
            .map(|s| offset_in(s) + s.len())
            .max();
        let head = text[..body_offset].trim_end_matches(' ');
        if let Some(end) = header_end
            && head.ends_with('-')
            && head.len() > end
        {
            body_offset = head.len() - 1;
        }
    }
    let (mut hostname, mut appname) = (msg.hostname, msg.appname);
    // `Mmm dd hh:mm:ss WORD: msg` has a tag and no host (a kernel line in a local file, say):
    // a host name is never followed by a colon.
    if let (Protocol::RFC3164, Some(word), None) = (&msg.protocol, hostname, appname) {
        let end = offset_in(word) + word.len();
        if text.as_bytes().get(end) == Some(&b':') {
            (hostname, appname) = (None, Some(word));
        }
    }
    let owned = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    Some(SyslogHeader {
        format: match msg.protocol {
            Protocol::RFC3164 => Format::Rfc3164,
            Protocol::RFC5424(version) => Format::Rfc5424 { version },
        },
        facility: msg.facility.map(|f| f as u8),
        severity: msg.severity.map(|s| s as u8),
        timestamp: msg.timestamp.map(|t| rfc3339(&t, Digits::Auto)),
        hostname: owned(hostname),
        appname: owned(appname),
        procid: msg.procid.as_ref().map(|p| match p {
            ProcId::PID(pid) => pid.to_string(),
            ProcId::Name(name) => (*name).to_owned(),
        }),
        msgid: owned(msg.msgid),
        structured_data: msg
            .structured_data
            .iter()
            .map(|sd| SdElement {
                id: sd.id.to_owned(),
                params: sd.params().map(|(k, v)| ((*k).to_owned(), v)).collect(),
            })
            .collect(),
        body_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2025-06-15 12:00:00 UTC: RFC 3164 times land in 2025, in UTC.
    fn june() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2025, 6, 15, 12, 0, 0)
            .unwrap()
    }

    fn body<'a>(line: &'a [u8], h: &SyslogHeader) -> &'a [u8] {
        &line[h.body_offset..]
    }

    struct Case {
        line: &'static str,
        format: Format,
        facility: Option<u8>,
        severity: Option<u8>,
        timestamp: Option<&'static str>,
        host: Option<&'static str>,
        app: Option<&'static str>,
        procid: Option<&'static str>,
        msgid: Option<&'static str>,
        body: &'static str,
    }

    /// Lines as real senders write them (shapes taken from the samples in
    /// ../shared/data/logs and from util-linux `logger`).
    #[test]
    fn table() {
        let cases = [
            // rsyslog file format: RFC 3164 without PRI.
            Case {
                line: "Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2",
                format: Format::Rfc3164,
                facility: None,
                severity: None,
                timestamp: Some("2025-03-27T13:08:09Z"),
                host: Some("ip-10-77-20-248"),
                app: Some("sshd"),
                procid: Some("1361"),
                msgid: None,
                body: "Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2",
            },
            // `logger --rfc3164`: PRI, tag without pid.
            Case {
                line: "<13>Jun  3 09:01:02 web01 alice: hello from 10.1.2.3\n",
                format: Format::Rfc3164,
                facility: Some(1),
                severity: Some(5),
                timestamp: Some("2025-06-03T09:01:02Z"),
                host: Some("web01"),
                app: Some("alice"),
                procid: None,
                msgid: None,
                body: "hello from 10.1.2.3\n",
            },
            // Program without a pid, body with colons.
            Case {
                line: "Mar 27 13:08:09 ip-10-77-20-248 systemd: pam_unix(systemd-user:session): session opened",
                format: Format::Rfc3164,
                facility: None,
                severity: None,
                timestamp: Some("2025-03-27T13:08:09Z"),
                host: Some("ip-10-77-20-248"),
                app: Some("systemd"),
                procid: None,
                msgid: None,
                body: "pam_unix(systemd-user:session): session opened",
            },
            // A body that starts with dashes.
            Case {
                line: "<13>Nov 22 21:17:51 vm iocdtest: --tcp - message",
                format: Format::Rfc3164,
                facility: Some(1),
                severity: Some(5),
                timestamp: Some("2025-11-22T21:17:51Z"),
                host: Some("vm"),
                app: Some("iocdtest"),
                procid: None,
                msgid: None,
                body: "--tcp - message",
            },
            Case {
                line: "Nov 22 21:17:51 vm sshd[12]: - x",
                format: Format::Rfc3164,
                facility: None,
                severity: None,
                timestamp: Some("2025-11-22T21:17:51Z"),
                host: Some("vm"),
                app: Some("sshd"),
                procid: Some("12"),
                msgid: None,
                body: "- x",
            },
            // A tag and no host.
            Case {
                line: "Nov 18 08:30:20 kernel: [997.390602] sda2: rw=0, want=65",
                format: Format::Rfc3164,
                facility: None,
                severity: None,
                timestamp: Some("2025-11-18T08:30:20Z"),
                host: None,
                app: Some("kernel"),
                procid: None,
                msgid: None,
                body: "[997.390602] sda2: rw=0, want=65",
            },
            // pfSense filterlog, RFC 5424 with microseconds and no structured data.
            Case {
                line: "<134>1 2025-11-06T11:32:42.868451+00:00 firewall.lan filterlog 92653 - - 7,,,1000000102,vtnet0.5,match,block,in,4,0x0,,64,19008,0,DF,6,tcp,60,192.168.5.6,192.168.1.100,42970,80",
                format: Format::Rfc5424 { version: 1 },
                facility: Some(16),
                severity: Some(6),
                timestamp: Some("2025-11-06T11:32:42.868451Z"),
                host: Some("firewall.lan"),
                app: Some("filterlog"),
                procid: Some("92653"),
                msgid: None,
                body: "7,,,1000000102,vtnet0.5,match,block,in,4,0x0,,64,19008,0,DF,6,tcp,60,192.168.5.6,192.168.1.100,42970,80",
            },
            // rsyslog RFC 5424 with a msgid and a non-UTC offset.
            Case {
                line: "<15>1 2021-03-06T04:07:38.251122+02:00 hostname log_tag - 123 -  this is debug",
                format: Format::Rfc5424 { version: 1 },
                facility: Some(1),
                severity: Some(7),
                timestamp: Some("2021-03-06T04:07:38.251122+02:00"),
                host: Some("hostname"),
                app: Some("log_tag"),
                procid: None,
                msgid: Some("123"),
                body: "this is debug",
            },
        ];
        for c in cases {
            let line = c.line.as_bytes();
            let h = parse_at(line, june()).unwrap_or_else(|| panic!("no header: {}", c.line));
            assert_eq!(h.format, c.format, "{}", c.line);
            assert_eq!(h.facility, c.facility, "{}", c.line);
            assert_eq!(h.severity, c.severity, "{}", c.line);
            assert_eq!(h.timestamp.as_deref(), c.timestamp, "{}", c.line);
            assert_eq!(h.hostname.as_deref(), c.host, "{}", c.line);
            assert_eq!(h.appname.as_deref(), c.app, "{}", c.line);
            assert_eq!(h.procid.as_deref(), c.procid, "{}", c.line);
            assert_eq!(h.msgid.as_deref(), c.msgid, "{}", c.line);
            assert_eq!(body(line, &h), c.body.as_bytes(), "{}", c.line);
        }
    }

    #[test]
    fn structured_data_is_unescaped_and_shaped_for_alerts() {
        let line = br#"<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId="1"][origin ip="10.0.0.1" software="x \"q\" \]"] Invalid user tutu from 1.2.3.4 port 33166"#;
        let h = parse_at(line, june()).unwrap();
        assert_eq!(h.facility_name(), Some("auth"));
        assert_eq!(h.severity_name(), Some("info"));
        assert_eq!(
            h.structured_data,
            vec![
                SdElement {
                    id: "meta".into(),
                    params: vec![("sequenceId".into(), "1".into())],
                },
                SdElement {
                    id: "origin".into(),
                    params: vec![
                        ("ip".into(), "10.0.0.1".into()),
                        ("software".into(), "x \"q\" ]".into()),
                    ],
                },
            ]
        );
        assert_eq!(body(line, &h), b"Invalid user tutu from 1.2.3.4 port 33166");
        let fields = h.to_alert_fields();
        assert_eq!(fields.hostname.as_deref(), Some("OPNsense.localdomain"));
        assert_eq!(fields.facility, Some(4));
        let sd = fields.structured_data.unwrap();
        assert_eq!(sd["meta"]["sequenceId"], "1");
        assert_eq!(sd["origin"]["software"], "x \"q\" ]");
    }

    #[test]
    fn december_message_read_in_january_is_last_year() {
        let now = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 1, 1, 0, 5, 0)
            .unwrap();
        let h = parse_at(b"<13>Dec 31 23:59:58 h app: x", now).unwrap();
        assert_eq!(h.timestamp.as_deref(), Some("2025-12-31T23:59:58Z"));
        let h = parse_at(b"<13>Jan  1 00:04:00 h app: x", now).unwrap();
        assert_eq!(h.timestamp.as_deref(), Some("2026-01-01T00:04:00Z"));
    }

    #[test]
    fn not_syslog() {
        for line in [
            &b""[..],
            b"\n",
            b"hello world",
            b"with another line",
            b"%ASA-2-106001: Inbound TCP connection denied from 111.93.241.59/54322",
            b"{\"event_type\":\"alert\",\"src_ip\":\"10.0.0.1\"}",
            b"date=2016-06-15 time=10:42:31 devname=Device_Name",
        ] {
            assert_eq!(
                parse_at(line, june()),
                None,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn invalid_utf8_in_the_body_keeps_the_header_and_the_offset() {
        let line = b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - bad \xff\xfe bytes";
        let h = parse_at(line, june()).unwrap();
        assert_eq!(h.hostname.as_deref(), Some("mymachine"));
        assert_eq!(h.appname.as_deref(), Some("su"));
        assert_eq!(h.msgid.as_deref(), Some("ID47"));
        assert_eq!(body(line, &h), b"bad \xff\xfe bytes");
    }

    /// Every syslog line of the real samples parses, and agrees with a naive reading of the
    /// same line: host and program are the 4th and 5th words of an RFC 3164 line, the 3rd and
    /// 4th of an RFC 5424 one, and the body is what follows the header.
    #[test]
    fn real_samples() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/logs");
        if !root.is_dir() {
            println!("skipped: ../shared/data not found");
            return;
        }
        #[derive(Clone, Copy, PartialEq)]
        enum Kind {
            Rfc3164,
            Rfc5424,
            NotSyslog,
        }
        let files = [
            ("syslog/linux_auth.log", Kind::Rfc3164),
            ("vendor_samples_plaso/syslog", Kind::Rfc3164),
            ("vendor_samples_crowdsec/bind9-syslog.log", Kind::Rfc3164),
            ("vendor_samples_wazuh/sshd.log", Kind::Rfc3164),
            (
                "vendor_samples_crowdsec/pfsense-rfc5424-filterlog.log",
                Kind::Rfc5424,
            ),
            ("vendor_samples_crowdsec/opnsense-sshd.log", Kind::Rfc5424),
            (
                "vendor_samples_plaso/syslog_rsyslog_SyslogProtocol23Format",
                Kind::Rfc5424,
            ),
            ("vendor_samples_crowdsec/windows-bf.log", Kind::NotSyslog),
            (
                "vendor_samples_crowdsec/suricata-logs-evelog.log",
                Kind::NotSyslog,
            ),
        ];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mut checked = 0;
        for (name, kind) in files {
            let path = root.join(name);
            let Ok(data) = std::fs::read(&path) else {
                eprintln!("skipped: {} not found", path.display());
                continue;
            };
            for raw in data.split(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(raw);
                let words: Vec<&str> = text.split_whitespace().collect();
                let looks_syslog = match kind {
                    Kind::Rfc5424 => text.starts_with('<'),
                    Kind::Rfc3164 => {
                        words.len() >= 5
                            && MONTHS.contains(&words[0])
                            && words[2].len() == 8
                            && words[2].as_bytes()[2] == b':'
                    }
                    Kind::NotSyslog => false,
                };
                let h = parse_at(raw, june());
                if !looks_syslog {
                    if kind != Kind::Rfc3164 {
                        assert_eq!(h, None, "{name}: {text}");
                        checked += 1;
                    }
                    continue;
                }
                let h = h.unwrap_or_else(|| panic!("{name}: no header: {text}"));
                let rfc5424 = kind == Kind::Rfc5424;
                let (host, tag) = if rfc5424 {
                    (Some(words[2]), words[3])
                } else if words[3].ends_with(':') {
                    (None, words[3])
                } else {
                    (Some(words[3]), words[4])
                };
                assert_eq!(h.hostname.as_deref(), host, "{name}: {text}");
                let app = tag.split(['[', ':']).next().unwrap();
                assert_eq!(h.appname.as_deref(), Some(app), "{name}: {text}");
                assert!(h.timestamp.is_some(), "{name}: {text}");
                let body = String::from_utf8_lossy(&raw[h.body_offset..]);
                assert!(
                    !body.starts_with(' ') && text.ends_with(&*body),
                    "{name}: body {body:?} of {text}"
                );
                if rfc5424 {
                    assert!(matches!(h.format, Format::Rfc5424 { version: 1 }));
                } else {
                    // The header ends with the tag, `TAG[PID]:` or a bare `TAG`.
                    let header = text[..text.len() - body.len()].trim_end();
                    assert!(
                        header.ends_with(':') || header.ends_with(tag),
                        "{name}: body {body:?} of {text}"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} sample lines checked");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_bytes(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Some(h) = parse_at(&line, june()) {
                proptest::prop_assert!(h.body_offset <= line.len());
            }
        }

        /// Near-misses of real headers: the hard cases for a parser are almost-valid ones.
        #[test]
        fn never_panics_on_header_like_text(
            pri in "<[0-9]{0,4}>?",
            version in "[0-9]{0,3}",
            ts in "(([A-Z][a-z]{2} [ 0-9]{1,2} [0-9:]{0,9})|([0-9T:.+Z-]{0,34})|-)",
            host in "[ -~]{0,12}",
            rest in "[ -~\\[\\]\"\\\\=]{0,60}",
        ) {
            let line = format!("{pri}{version} {ts} {host} {rest}");
            if let Some(h) = parse_at(line.as_bytes(), june()) {
                proptest::prop_assert!(h.body_offset <= line.len());
                proptest::prop_assert!(h.facility.is_none_or(|f| f < 24));
                proptest::prop_assert!(h.severity.is_none_or(|s| s < 8));
            }
        }
    }
}
