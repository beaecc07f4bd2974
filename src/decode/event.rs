//! Which field of a log line an indicator hit, and what the line says happened.
//!
//! The engine reports a hit as a byte range of the raw line. For the rare line that hits,
//! [`decode`] finds the line's format and reads its fields as byte ranges of that same raw line,
//! named in the Elastic Common Schema: the alert's `matched.field` is then
//! [`Event::field_at`]`(hit)`, and the values an alert fills (`source.*`, `destination.*`,
//! `url.*`, `dns.*`, `user.*`) come from the same [`Event`] ([`Event::source_ip`],
//! [`Event::url`], ...). Read [`decode`], [`Event`] and [`Field`] first.
//!
//! # Design
//!
//! * **Ranges, not copies.** A [`Field`] is a name and a byte range of the value *as written*
//!   (for a JSON string: between the quotes, escapes and all; for a CEF value: with its `\=`
//!   escapes). Finding the field of a hit is an interval test, with no unescaping and no
//!   re-serialisation, and the ranges are the same ones the engine's hits are in. When a value
//!   is needed as text, [`Event::text`] undoes the escaping the field's [`Encoding`] names.
//! * **Total.** Every decoder takes arbitrary bytes: it never panics, never reads out of
//!   bounds, and allocates at most in proportion to the line (a field list capped at
//!   [`MAX_FIELDS`], JSON nesting capped at 64). A line in no known format is `None`; a line
//!   that breaks half-way (a truncated JSON object, say) keeps the fields read before the break.
//!   Every range is inside the line and starts and ends next to an ASCII delimiter, so it falls
//!   on character boundaries of a UTF-8 line.
//! * **Cheap detection, in order, only where a format starts.** A Zeek TSV line (when the
//!   caller has the stream's [`ZeekHeader`] and the line has exactly its column count) — JSON
//!   (the line or the message starts with `{`) — then, at an *anchor* (the message start
//!   after the syslog header, the line start, a token of the syslog header, the message of a
//!   nested header): CEF (`CEF:`), LEEF (`LEEF:`), Cisco (`%ASA-`, `%FTD-`, `%PIX-`,
//!   `%FWSM-`), pfSense (program `filterlog`), PAN-OS CSV (`n,YYYY/MM/DD hh:mm:ss,serial,TYPE,`),
//!   Check Point (`[action:"..."; ...]`) — then, from the message or line start: netfilter
//!   (`IN=`/`OUT=` among the first words), MikroTik (`CHAIN: in:`), Windows Firewall, squid,
//!   web access logs (by the shape of their first columns) — RFC 5424 structured data where
//!   the header puts it (Junos `RT_FLOW`) — sshd (program `sshd`) and `key=value` logs
//!   (FortiGate, SonicWall, Sophos, others; keys at the top level only). The syslog header,
//!   when there is one, is read first with [`super::syslog::parse_at`].
//! * **Decoders are a security boundary.** The format, `source.*`, `destination.*`, the
//!   action and the direction feed the allowlist, the dedup key and the score, and a log line
//!   carries an attacker's text (a user agent, a URL, a user name): a marker inside a field's
//!   value never chooses the format or those fields, and the first of a repeated key wins (a
//!   later one is located under the format's prefix, `cef.src`, `json.src_ip`). The rule per
//!   decoder is in docs/ALERT_QUALITY.md, "Decoders are a security boundary";
//!   `tests/decoder_injection.rs` checks it on every sample line.
//! * **What the log says, not what we infer.** [`Event::action`] is set only when the line
//!   names one (`action=deny`, `block,in`, `Deny tcp`, `[UFW BLOCK]`, `alert.action`,
//!   CloudTrail `errorCode`); [`Event::network_direction`] only when the line states it
//!   (pfSense `in`/`out`, ASA `Built inbound`, FortiGate `direction=`, Windows 5156
//!   `%%14592`, netfilter `IN=`/`OUT=`). Direction from addresses is the caller's: [`direction`].
//!
//! # Field names
//!
//! | ECS name | from |
//! |---|---|
//! | `source.ip` / `source.port` | EVE `src_ip`/`src_port`; Zeek `id.orig_h`/`id.orig_p`, files `tx_hosts`; Windows `SourceIp`, `SourceAddress`, `IpAddress`; CloudTrail `sourceIPAddress`; CEF `src`/`spt`/`c6a2`; LEEF `src`/`srcPort`; kv `srcip`, `src`, `src_ip`, `source-address`, `remip`; netfilter `SRC`/`SPT`; pfSense, PAN-OS, ASA, MikroTik, Windows Firewall positions; access log client; generic JSON `ClientIP`, `ClientHost`, `remote_addr` |
//! | `destination.ip` / `destination.port` | EVE `dest_ip`/`dest_port`; Zeek `id.resp_h`/`id.resp_p`, files `rx_hosts`; Windows `DestinationIp`, `DestAddress`; CEF `dst`/`dpt`/`c6a3`; kv `dstip`, `dst`, `dst_ip`, `destination-address`; Check Point `service` (port); netfilter `DST`/`DPT`; positions as above; generic JSON `OriginIP`, `ServerIP` |
//! | `source.nat.ip` / `destination.nat.ip` | PAN-OS `natsrc`/`natdst`; Check Point `xlatesrc`/`xlatedst`; FortiGate `transip`; Junos `nat-source-address` |
//! | `source.domain` / `destination.domain` | CEF `shost`/`dhost`; Windows `SourceHostname`/`DestinationHostname` (an address there is reported as `*.ip`) |
//! | `dns.question.name` / `dns.answers.data` | EVE `dns.rrname`, `dns.query[].rrname` / `dns.rdata`, `dns.answers[].rdata`; Zeek `query` / `answers`; Windows `QueryName` / `QueryResults`; kv `qname` |
//! | `url.domain` | EVE `http.hostname`; Zeek `host`; FortiGate `hostname`; generic JSON `ClientRequestHost`, `RequestHost` |
//! | `url.original` / `url.path` | EVE `http.url`; Zeek `uri`; CEF `request`; LEEF/kv `url`; PAN-OS THREAT url misc; squid URL; access-log request target (`url.original`) |
//! | `url.full` | ECS only (passed through) |
//! | `http.request.referrer` | Zeek `referrer`; EVE `http.http_refer`; access log; CEF `requestContext` |
//! | `user_agent.original` | EVE `http.http_user_agent`; Zeek `user_agent`; CloudTrail `userAgent`; CEF `requestClientApplication`; access log |
//! | `tls.client.server_name` | EVE `tls.sni`; Zeek `server_name` |
//! | `tls.server.subject` / `tls.server.issuer` / `tls.client.ja3` | EVE `tls.subject`/`tls.issuerdn`/`tls.ja3.hash`; Zeek `subject`/`issuer`/`ja3` |
//! | `file.hash.md5` / `sha1` / `sha256` | EVE `fileinfo.*`; Zeek `md5`/`sha1`/`sha256`; Windows `Hashes` (each `ALG=hex` is its own field; `process.hash.*` for process events); CEF `fileHash` (by length) |
//! | `file.name` / `file.path` | EVE `fileinfo.filename`; Zeek `filename`; CEF `fname`/`filePath`; Windows `TargetFilename`, `ImageLoaded` |
//! | `process.executable` / `process.command_line` / `process.parent.*` | Windows `Image`, `Application`, `CommandLine`, `ParentImage`, `ParentCommandLine` |
//! | `email.from.address` / `email.to.address` | Zeek `mailfrom`/`rcptto`; EVE `email.from`/`email.to`; kv `from`/`to` holding an `@` |
//! | `user.name` | `user`, `username`, `suser` (CEF: `source.user.name`), `usrName`, `srcuser`, `user_name`, CloudTrail `userIdentity.userName`, sshd `for USER` |
//! | `rule.name` | EVE `alert.signature`; FortiGate `attack`; CEF header name; PAN-OS THREAT name; Zeek notice `note` |
//! | `message` | CEF/kv `msg`, Check Point `msg` |
//! | `observer.hostname` / `observer.ip` | EVE `host`; CEF `dvchost`/`dvc`; Check Point `origin` |
//! | `event.action` | CloudTrail `eventName`, CEF `act`, kv `action` |
//!
//! A key with no ECS name keeps its own, under its format: `json.<dotted.path>`,
//! `cef.<key>` (`cef.<csNLabel>` for custom strings), `kv.<key>`, `sd.<sd-id>.<key>`,
//! `zeek.<column>`, `leef.<key>`, `checkpoint.<key>`. The hit is still located; it is only not
//! named in ECS.

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;

pub use super::formats::zeek::ZeekHeader;

/// At most this many fields are kept per line; decoding stops adding fields past it.
pub(crate) const MAX_FIELDS: usize = 1024;

/// The format a line was decoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JSON in the Elastic Common Schema (`source.ip`, `url.full`, ... nested or dotted).
    Ecs,
    /// Suricata `eve.json`.
    SuricataEve,
    /// Zeek logs written as JSON.
    ZeekJson,
    /// Zeek ASCII logs, read with the stream's [`ZeekHeader`].
    ZeekTsv,
    /// Windows event logs as JSON (NXLog/Winlogbeat flattened, Wazuh `win.eventdata`), Sysmon.
    WindowsEvent,
    /// AWS CloudTrail records.
    CloudTrail,
    /// Any other JSON object.
    Json,
    /// ArcSight Common Event Format, with or without a syslog header.
    Cef,
    /// IBM QRadar Log Event Extended Format 1.0 and 2.0.
    Leef,
    /// FortiGate `key=value`.
    Fortigate,
    /// SonicWall `key=value`.
    SonicWall,
    /// Sophos XG / SFOS `key=value`.
    Sophos,
    /// Check Point syslog (`[action:"Drop"; src:"..."; ...]`).
    CheckPoint,
    /// Juniper Junos structured data (`RT_FLOW`, `RT_IDS`).
    Junos,
    /// RFC 5424 structured data (`[id key="value"]`) of another sender.
    SyslogSd,
    /// Other `key=value` logs.
    KeyValue,
    /// Linux netfilter (`iptables -j LOG`, ufw).
    Netfilter,
    /// pfSense / OPNsense `filterlog` CSV.
    PfSense,
    /// Cisco ASA, FTD, PIX, FWSM.
    CiscoAsa,
    /// Palo Alto Networks PAN-OS CSV (TRAFFIC, THREAT, ...).
    PanOs,
    /// MikroTik RouterOS firewall.
    Mikrotik,
    /// Windows Firewall `pfirewall.log`.
    WindowsFirewall,
    /// squid native `access.log`.
    Squid,
    /// Apache/nginx common or combined access log.
    AccessLog,
    /// OpenSSH (`... from IP port N`).
    Sshd,
}

impl Format {
    /// Stable lower-case name, for alerts and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ecs => "ecs",
            Format::SuricataEve => "suricata_eve",
            Format::ZeekJson => "zeek_json",
            Format::ZeekTsv => "zeek_tsv",
            Format::WindowsEvent => "windows_event",
            Format::CloudTrail => "cloudtrail",
            Format::Json => "json",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Fortigate => "fortigate",
            Format::SonicWall => "sonicwall",
            Format::Sophos => "sophos",
            Format::CheckPoint => "checkpoint",
            Format::Junos => "junos",
            Format::SyslogSd => "syslog_sd",
            Format::KeyValue => "kv",
            Format::Netfilter => "netfilter",
            Format::PfSense => "pfsense",
            Format::CiscoAsa => "cisco_asa",
            Format::PanOs => "panos",
            Format::Mikrotik => "mikrotik",
            Format::WindowsFirewall => "windows_firewall",
            Format::Squid => "squid",
            Format::AccessLog => "access_log",
            Format::Sshd => "sshd",
        }
    }
}

/// What the device did with the traffic or request, when the line says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Accepted, permitted, passed, built (a connection the device let through).
    Allowed,
    /// Blocked (the device's own word; IPS blocks, `block` rules).
    Blocked,
    /// Denied by policy (ACL deny, `AccessDenied`, failed authentication).
    Denied,
    /// Dropped or discarded silently.
    Dropped,
    /// Rejected with an answer to the sender (ICMP unreachable, `reject` rules).
    Rejected,
    /// Reset by the device (PAN-OS `reset-both`, FortiGate IPS `reset`).
    Reset,
}

impl Action {
    /// `allowed`, `blocked`, `denied`, `dropped`, `rejected`, `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Blocked => "blocked",
            Action::Denied => "denied",
            Action::Dropped => "dropped",
            Action::Rejected => "rejected",
            Action::Reset => "reset",
        }
    }

    /// Whether the traffic was stopped: everything but [`Action::Allowed`].
    pub(crate) fn is_blocked(self) -> bool {
        self != Action::Allowed
    }

    /// The action a vendor's word names (`accept`, `deny`, `drop`, `reset-both`,
    /// `TCP_DENIED`, ...), case-insensitively; `None` for words that name no verdict.
    pub(crate) fn from_word(word: &[u8]) -> Option<Action> {
        let w = word.trim_ascii();
        if w.len() > 24 {
            return None;
        }
        let mut buf = [0u8; 24];
        let lower = &mut buf[..w.len()];
        lower.copy_from_slice(w);
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"accept" | b"accepted" | b"allow" | b"allowed" | b"permit" | b"permitted"
            | b"pass" | b"passed" | b"built" | b"open" | b"close" | b"timeout" | b"client-rst"
            | b"server-rst" | b"success" | b"succeeded" | b"alert" | b"alerted" | b"forward"
            | b"forwarded" | b"encrypt" | b"decrypt" | b"monitor" | b"monitored" | b"detect"
            | b"detected" | b"log" | b"tcp_miss" | b"tcp_hit" | b"tcp_mem_hit"
            | b"tcp_refresh_hit" | b"tcp_tunnel" => Action::Allowed,
            b"block" | b"blocked" | b"blocking" | b"prevent" | b"prevented" | b"quarantine"
            | b"quarantined" | b"sinkhole" => Action::Blocked,
            b"deny" | b"denied" | b"tcp_denied" | b"udp_denied" | b"accessdenied"
            | b"unauthorized" | b"forbidden" | b"failed" | b"failure" => Action::Denied,
            b"drop" | b"dropped" | b"discard" | b"discarded" | b"drop-session" | b"drop-packet"
            | b"drop-all-packets" => Action::Dropped,
            b"reject" | b"rejected" | b"refused" | b"refuse" => Action::Rejected,
            b"reset" | b"reset-both" | b"reset-client" | b"reset-server" | b"rst" => Action::Reset,
            _ => return None,
        })
    }
}

/// ECS `network.direction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
    External,
    #[default]
    Unknown,
}

impl Direction {
    /// `inbound`, `outbound`, `internal`, `external`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
            Direction::Unknown => "unknown",
        }
    }

    /// The direction a vendor's word names (`in`, `inbound`, `incoming`, `ingress`, `%%14592`,
    /// `0` for CEF `deviceDirection`, and their outbound twins), case-insensitively.
    pub(crate) fn from_word(word: &[u8]) -> Option<Direction> {
        let w = word.trim_ascii();
        if w.len() > 16 {
            return None;
        }
        let mut buf = [0u8; 16];
        let lower = &mut buf[..w.len()];
        lower.copy_from_slice(w);
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"in" | b"inbound" | b"incoming" | b"ingress" | b"receive" | b"%%14592"
            | b"client-to-server" => Direction::Inbound,
            b"out" | b"outbound" | b"outgoing" | b"egress" | b"send" | b"%%14593" => {
                Direction::Outbound
            }
            b"internal" | b"local" => Direction::Internal,
            b"external" => Direction::External,
            _ => return None,
        })
    }
}

/// ECS `network.direction` of a flow, from its two ends and the caller's idea of "internal":
/// internal to internal is `internal`, internal to external `outbound`, external to internal
/// `inbound`, external to external `external`; a missing end is `unknown`.
pub fn direction(
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    internal: impl Fn(IpAddr) -> bool,
) -> Direction {
    match (src, dst) {
        (Some(s), Some(d)) => match (internal(s), internal(d)) {
            (true, true) => Direction::Internal,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::External,
        },
        _ => Direction::Unknown,
    }
}

/// A default "internal": RFC 1918, loopback, link-local, carrier-grade NAT (RFC 6598); for
/// IPv6 loopback, unique-local (`fc00::/7`), link-local (`fe80::/10`) and IPv4-mapped internal
/// addresses. Multicast and broadcast are not hosts, so not internal.
pub fn is_private_default(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_default(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// How a field's raw value is escaped in the line; [`Event::text`] undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As is.
    Raw,
    /// The inside of a JSON string (`\"`, `\\`, `\uXXXX`, ...).
    Json,
    /// A CEF extension value (`\=`, `\\`, `\n`, `\r`) or header field (`\|`).
    Cef,
    /// The inside of a quoted value with backslash escapes (`\"`, `\\`, `\]`).
    Quoted,
}

/// One decoded field: its ECS name and where its raw value is in the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// ECS name (`source.ip`), or the format's own key under its prefix (`json.ClientIP`).
    pub name: Cow<'static, str>,
    /// The value as written in the line, without its quotes.
    pub value: Range<usize>,
    /// How [`Field::value`] is escaped.
    pub encoding: Encoding,
}

/// A decoded line: its format, its fields and what it says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub format: Format,
    /// In line order for most formats; never more than [`MAX_FIELDS`].
    pub fields: Vec<Field>,
    /// What the device did, when the line says.
    pub action: Option<Action>,
    /// The direction the line itself states (not inferred from addresses: see [`direction`]).
    pub network_direction: Option<Direction>,
}

/// The Zeek header in effect along one stream of lines (a followed file, stdin, one input of
/// `iocd scan`), shared by the batches or chunks it is attached to.
///
/// Feed it the lines that start with `#` ([`ZeekStream::update`]); every other line leaves
/// it alone, so a caller only looks at a line's first byte. A new `Arc` is made only when a
/// header line really changes the header (`#open`, `#close` and `#types` do not), so batches
/// of one file share one header, and [`std::sync::Arc::ptr_eq`] tells whether it changed.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZeekStream {
    header: ZeekHeader,
    current: Option<std::sync::Arc<ZeekHeader>>,
}

impl ZeekStream {
    pub fn new() -> ZeekStream {
        ZeekStream::default()
    }

    /// Reads one line; `true` when the header in effect changed (lines after this one are
    /// read with [`ZeekStream::current`], lines before it were not).
    pub fn update(&mut self, line: &[u8]) -> bool {
        // Only these change a header; `#open`, `#close`, `#types` and comments of other
        // formats (`#Fields:` of W3C logs) are dismissed without a copy.
        const KEYS: [&[u8]; 6] = [
            b"#separator",
            b"#set_separator",
            b"#unset_field",
            b"#empty_field",
            b"#path",
            b"#fields",
        ];
        if !KEYS.iter().any(|k| line.starts_with(k)) {
            return false;
        }
        let mut next = self.header.clone();
        next.update(line);
        if next == self.header {
            return false;
        }
        self.header = next;
        let had = self.current.is_some();
        self.current = self
            .header
            .is_complete()
            .then(|| std::sync::Arc::new(self.header.clone()));
        had || self.current.is_some()
    }

    /// The header in effect: `None` until a `#fields` line was read.
    pub fn current(&self) -> Option<&std::sync::Arc<ZeekHeader>> {
        self.current.as_ref()
    }

    /// Forgets the header (the stream's file was replaced); `true` if there was one.
    pub fn reset(&mut self) -> bool {
        self.header = ZeekHeader::new();
        self.current.take().is_some()
    }
}

/// The lines of `buf` (whole lines separated by `\n`) that start with `#`, each with its line
/// feed: what a stream feeds to [`ZeekStream::update`]. One `memmem` pass for `\n#`, so a
/// buffer without header lines costs a fraction of a scan.
pub(crate) fn hash_lines(buf: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    static NL_HASH: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n#"));
    let first = (buf.first() == Some(&b'#')).then_some(0);
    first
        .into_iter()
        .chain(NL_HASH.find_iter(buf).map(|i| i + 1))
        .map(|s| s..memchr::memchr(b'\n', &buf[s..]).map_or(buf.len(), |k| s + k + 1))
}

/// Decodes one log line (a trailing CR/LF is ignored). `zeek` is the header of the Zeek
/// stream the line came from, when the caller keeps one ([`ZeekStream`]); without it
/// a Zeek TSV line is not decoded, since its columns mean nothing without their names.
/// `None` when the line is in no known format or has no field.
pub fn decode(line: &[u8], zeek: Option<&ZeekHeader>) -> Option<Event> {
    super::formats::decode(line, zeek)
}

impl Event {
    pub(crate) fn new(format: Format) -> Event {
        Event {
            format,
            fields: Vec::new(),
            action: None,
            network_direction: None,
        }
    }

    /// Adds a field; empty values (which no hit can be inside) and fields past
    /// [`MAX_FIELDS`] are not kept.
    pub(crate) fn push(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: Range<usize>,
        encoding: Encoding,
    ) {
        if value.start < value.end && self.fields.len() < MAX_FIELDS {
            self.fields.push(Field {
                name: name.into(),
                value,
                encoding,
            });
        }
    }

    /// The field a hit at `hit` (a byte range of the line) is in: the narrowest field whose
    /// value contains the whole hit, else the one overlapping it most.
    pub fn field_at(&self, hit: Range<usize>) -> Option<&Field> {
        let inside = self
            .fields
            .iter()
            .filter(|f| f.value.start <= hit.start && hit.end <= f.value.end)
            .min_by_key(|f| f.value.len());
        inside.or_else(|| {
            self.fields
                .iter()
                .map(|f| {
                    let overlap = f
                        .value
                        .end
                        .min(hit.end)
                        .saturating_sub(f.value.start.max(hit.start));
                    (overlap, f)
                })
                .filter(|&(o, _)| o > 0)
                .max_by_key(|&(o, _)| o)
                .map(|(_, f)| f)
        })
    }

    /// The first field named `name`.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Every field named `name`, in order.
    pub fn all<'e>(&'e self, name: &'e str) -> impl Iterator<Item = &'e Field> + 'e {
        self.fields.iter().filter(move |f| f.name == name)
    }

    /// A field's value as text, unescaped (invalid UTF-8 replaced). `line` is the line given
    /// to [`decode`].
    pub fn text<'l>(&self, line: &'l [u8], field: &Field) -> Cow<'l, str> {
        let raw = line.get(field.value.clone()).unwrap_or_default();
        super::formats::unescape(raw, field.encoding)
    }

    /// The text of the first field named `name` that is not empty or `-`.
    pub fn value<'l>(&self, line: &'l [u8], name: &str) -> Option<Cow<'l, str>> {
        self.all(name)
            .map(|f| self.text(line, f))
            .find(|t| !t.trim().is_empty() && t.trim() != "-")
    }

    fn ip(&self, line: &[u8], name: &str) -> Option<IpAddr> {
        self.all(name)
            .find_map(|f| super::formats::parse_ip_lenient(&self.text(line, f)))
    }

    fn port(&self, line: &[u8], name: &str) -> Option<u16> {
        self.all(name)
            .find_map(|f| self.text(line, f).trim().parse().ok())
    }

    /// `source.ip`: the first source address field that reads as an address (an address with
    /// a port, in brackets or followed by an interface, is read too).
    pub fn source_ip(&self, line: &[u8]) -> Option<IpAddr> {
        self.ip(line, "source.ip")
    }

    /// `destination.ip`, as [`Event::source_ip`].
    pub fn destination_ip(&self, line: &[u8]) -> Option<IpAddr> {
        self.ip(line, "destination.ip")
    }

    /// `source.port`.
    pub fn source_port(&self, line: &[u8]) -> Option<u16> {
        self.port(line, "source.port")
    }

    /// `destination.port`.
    pub fn destination_port(&self, line: &[u8]) -> Option<u16> {
        self.port(line, "destination.port")
    }

    /// `source.domain`: the source's host name.
    pub(crate) fn source_domain<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "source.domain")
    }

    /// `destination.domain`, else `url.domain`, else the TLS server name: the name of the
    /// host the client talked to.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn destination_domain<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "destination.domain")
            .or_else(|| self.value(line, "url.domain"))
            .or_else(|| self.value(line, "tls.client.server_name"))
    }

    /// `url.domain`.
    pub fn url_domain<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "url.domain")
    }

    /// The URL as the log wrote it: `url.full`, else `url.original`, else `url.path`.
    pub fn url<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "url.full")
            .or_else(|| self.value(line, "url.original"))
            .or_else(|| self.value(line, "url.path"))
    }

    /// `dns.question.name`.
    pub fn dns_question<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "dns.question.name")
    }

    /// `user.name`, else `source.user.name`.
    pub fn user_name<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "user.name")
            .or_else(|| self.value(line, "source.user.name"))
    }

    /// `user_agent.original`.
    pub fn user_agent<'l>(&self, line: &'l [u8]) -> Option<Cow<'l, str>> {
        self.value(line, "user_agent.original")
    }
}

/// Every invariant a caller relies on, for any line: at most [`MAX_FIELDS`] fields, each range
/// non-empty, inside the line and (for a UTF-8 line) on character boundaries, `field_at` finds
/// each field, and no accessor panics. The property the proptests and the fuzz targets check.
#[cfg(any(test, feature = "fuzzing"))]
pub fn check_invariants(line: &[u8], zeek: Option<&ZeekHeader>) -> Result<(), String> {
    let Some(ev) = decode(line, zeek) else {
        return Ok(());
    };
    if ev.fields.is_empty() || ev.fields.len() > MAX_FIELDS {
        return Err(format!("{} fields", ev.fields.len()));
    }
    let text = std::str::from_utf8(line).ok();
    for f in &ev.fields {
        if !(f.value.start < f.value.end && f.value.end <= line.len()) {
            return Err(format!(
                "range {:?} outside a line of {} bytes",
                f.value,
                line.len()
            ));
        }
        if let Some(t) = text
            && !(t.is_char_boundary(f.value.start) && t.is_char_boundary(f.value.end))
        {
            return Err(format!("range {:?} splits a character", f.value));
        }
        let _ = ev.text(line, f);
        if ev.field_at(f.value.clone()).is_none() {
            return Err(format!("field_at misses {f:?}"));
        }
    }
    let _ = (
        ev.source_ip(line),
        ev.destination_ip(line),
        ev.source_port(line),
    );
    let _ = (ev.destination_port(line), ev.url(line), ev.user_name(line));
    let _ = (
        ev.destination_domain(line),
        ev.dns_question(line),
        ev.user_agent(line),
    );
    let _ = (ev.format.as_str(), ev.field_at(0..line.len()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn action_words() {
        for (w, a) in [
            ("ACCEPT", Action::Allowed),
            ("pass", Action::Allowed),
            ("client-rst", Action::Allowed),
            ("block", Action::Blocked),
            ("Deny", Action::Denied),
            ("TCP_DENIED", Action::Denied),
            ("drop", Action::Dropped),
            ("REJECT", Action::Rejected),
            ("reset-both", Action::Reset),
        ] {
            assert_eq!(Action::from_word(w.as_bytes()), Some(a), "{w}");
            assert_eq!(a.is_blocked(), a != Action::Allowed);
        }
        assert_eq!(Action::from_word(b"login"), None);
        assert_eq!(Action::from_word(&[b'x'; 100]), None);
        assert_eq!(Action::Dropped.as_str(), "dropped");
    }

    #[test]
    fn direction_from_addresses() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let d = |s, t| direction(ip(s), ip(t), is_private_default);
        assert_eq!(d("10.0.0.1", "192.168.1.1"), Direction::Internal);
        assert_eq!(d("10.0.0.1", "8.8.8.8"), Direction::Outbound);
        assert_eq!(d("8.8.8.8", "172.16.3.4"), Direction::Inbound);
        assert_eq!(d("8.8.8.8", "1.1.1.1"), Direction::External);
        assert_eq!(d("fd00::1", "2001:db8::1"), Direction::Outbound);
        assert_eq!(d("::ffff:10.1.2.3", "fe80::1"), Direction::Internal);
        assert_eq!(
            direction(None, ip("1.1.1.1"), is_private_default),
            Direction::Unknown
        );
        assert_eq!(Direction::Inbound.as_str(), "inbound");
        // The caller decides what internal means.
        let only_ten = |i: IpAddr| matches!(i, IpAddr::V4(v) if v.octets()[0] == 10);
        assert_eq!(
            direction(ip("192.168.1.1"), ip("10.0.0.1"), only_ten),
            Direction::Inbound
        );
        assert!(is_private_default(IpAddr::V4(Ipv4Addr::new(100, 64, 0, 1))));
        assert!(!is_private_default(IpAddr::V4(Ipv4Addr::new(
            100, 128, 0, 1
        ))));
        assert!(!is_private_default("224.0.0.1".parse().unwrap()));
    }

    #[test]
    fn field_at_prefers_the_narrowest_field() {
        let mut ev = Event::new(Format::Json);
        ev.push("process.command_line", 0..50, Encoding::Raw);
        ev.push("url.original", 10..30, Encoding::Raw);
        ev.push("source.ip", 60..70, Encoding::Raw);
        ev.push("empty", 5..5, Encoding::Raw);
        assert_eq!(ev.fields.len(), 3);
        assert_eq!(ev.field_at(12..20).unwrap().name, "url.original");
        assert_eq!(ev.field_at(2..8).unwrap().name, "process.command_line");
        assert_eq!(ev.field_at(62..66).unwrap().name, "source.ip");
        // Not inside any: the field overlapping most.
        assert_eq!(ev.field_at(68..75).unwrap().name, "source.ip");
        assert_eq!(ev.field_at(51..59), None);
    }

    fn check(
        line: &[u8],
        zeek: Option<&ZeekHeader>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        check_invariants(line, zeek).map_err(proptest::test_runner::TestCaseError::fail)
    }

    /// Lines of every format, written for this test, that the mutations below start from.
    const TEMPLATES: &[&str] = &[
        r#"{"event_type":"alert","src_ip":"10.0.0.1","dest_ip":"198.51.100.2","alert":{"action":"blocked","signature":"x"},"dns":{"rrname":"a.example"}}"#,
        r#"{"EventID":1,"Channel":"Sysmon","Hashes":"SHA1=AB,MD5=CD,SHA256=EF","CommandLine":"c \"q\" \u00e9"}"#,
        r#"{"eventSource":"s3","eventName":"Get","sourceIPAddress":"192.0.2.1","errorCode":"AccessDenied"}"#,
        r#"{"source":{"ip":"10.1.1.1"},"event":{"action":"deny"},"a":[1,[2,{"b":null}]]}"#,
        r"<134>Feb  1 10:00:00 fw CEF:0|A|B\|C|1|9|Blocked x|7|src=10.0.0.1 dst=192.0.2.2 msg=a\=b c cs1Label=L cs1=v fileHash=abc act=deny",
        "LEEF:2.0|A|B|1|2|^|src=192.0.2.9^dst=10.0.0.1^action=allow",
        "%ASA-6-302013: Built outbound TCP connection 9 for outside:203.0.113.5/443 (203.0.113.5/443) to inside:10.1.1.2/53496 (192.0.2.1/53496)",
        "<134>1 2025-01-01T00:00:00+00:00 fw filterlog 1 - - 7,,,100,vtnet0,match,block,in,4,0x0,,64,1,0,DF,6,tcp,60,198.51.100.6,10.0.0.100,42970,80",
        "Jan 1 00:00:00 pa 1,2024/01/01 00:00:00,0011,THREAT,url,1,2024/01/01 00:00:00,10.0.0.7,198.51.100.80,,,r,,,web,v,t,u,e1,e2,f,2024/01/01 00:00:00,1,1,5,80,0,0,0x0,tcp,alert,\"x\"",
        "Feb  4 23:33:37 host kernel: [UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.1 DST=10.0.0.2 SPT=1 DPT=22",
        "2023-03-18T20:35:05+01:00 gw firewall,info drop input: in:WAN out:(unknown 0), proto UDP, [2001:db8::1]:1->192.0.2.1:53, len 65",
        r#"1 2024-01-01T00:00:00Z gw CheckPoint 1 - [action:"Drop"; src:"198.51.100.66"; msg:"x \"q\" \]"]"#,
        "2024-04-11 08:05:57 DROP TCP 198.51.100.90 10.0.0.90 80 1774 576 A 1 2 3 - - - RECEIVE",
        "1140701230.827 781 192.168.1.210 TCP_DENIED/407 1785 GET http://bad.example/x bob NONE/- text/html",
        r#"198.51.100.16 - frank [10/Oct/2024:13:55:36 -0700] "GET /x HTTP/1.1" 200 2326 "http://r/" "UA""#,
        r#"date=2024-01-01 devid=FGT logid="1" srcip=10.1.1.5 dstip=198.51.100.20:443 action="deny" from=a@b.example"#,
        r#"Sep 23 13:54:55 h junos-flow: RT_FLOW_SESSION_DENY [junos@2636.1 source-address="198.51.100.9" x="\"]"][m a="1"]"#,
        "Mar 27 13:08:09 host sshd[1]: Failed password for invalid user admin from 198.51.100.41 port 54259 ssh2",
        "13.18\tCa\t10.0.0.116\t50814\t192.0.2.8\t53\tbad.example.com\t198.51.100.1,198.51.100.2\tT\tF",
    ];

    fn zeek_header() -> ZeekHeader {
        let text = "#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tanswers\tlocal_orig\tlocal_resp";
        ZeekHeader::from_lines(text.lines().map(str::as_bytes)).unwrap()
    }

    #[test]
    fn templates_decode() {
        let z = zeek_header();
        for t in TEMPLATES {
            assert!(decode(t.as_bytes(), Some(&z)).is_some(), "{t}");
            check(t.as_bytes(), Some(&z)).unwrap();
        }
    }

    #[test]
    fn zeek_stream_changes_only_when_the_header_does() {
        let mut z = ZeekStream::new();
        assert!(
            !z.update(b"#separator \\x09\n"),
            "no columns yet: nothing in effect"
        );
        assert!(z.current().is_none());
        assert!(!z.update(b"#open\t2024-01-01-00-00-00"));
        assert!(z.update(b"#fields\tts\tquery\n"));
        let first = z.current().unwrap().clone();
        assert_eq!(first.fields(), ["ts", "query"]);
        // Repeated or ignored header lines make no new header.
        assert!(!z.update(b"#fields\tts\tquery"));
        assert!(!z.update(b"#types\ttime\tstring"));
        assert!(!z.update(b"#close\t2024-01-01-01-00-00"));
        assert!(!z.update(b"#Fields: date time cs-uri"));
        assert!(!z.update(b"1.0\tq.example"));
        assert!(std::sync::Arc::ptr_eq(&first, z.current().unwrap()));
        assert!(z.update(b"#fields\tquery\tts\r\n"));
        assert_eq!(z.current().unwrap().fields(), ["query", "ts"]);
        assert!(z.reset());
        assert!(z.current().is_none());
        assert!(!z.reset());
    }

    #[test]
    fn hash_lines_finds_every_line_starting_with_a_hash() {
        let buf = b"#a\nx#y\n#b\r\n\n#\n#c";
        let got: Vec<&[u8]> = hash_lines(buf).map(|r| &buf[r]).collect();
        assert_eq!(got, [&b"#a\n"[..], b"#b\r\n", b"#\n", b"#c"]);
        assert_eq!(hash_lines(b"no\nheader\n").count(), 0);
        assert_eq!(hash_lines(b"").count(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn arbitrary_bytes(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            check(&line, None)?;
            check(&line, Some(&zeek_header()))?;
        }

        /// The hard inputs are the almost-valid ones: real-looking lines with bytes replaced,
        /// inserted (delimiters, quotes, escapes, multi-byte characters) or cut off.
        #[test]
        fn mutated_lines(
            t in 0..TEMPLATES.len(),
            edits in proptest::collection::vec((0usize..400, 0usize..16, 0u8..3), 0..6),
            cut in 0usize..400,
        ) {
            const BYTES: &[&str] = &["\"", "\\", "{", "}", "[", "]", "|", "=", ":", ",", " ", "\t", "é", "\u{10348}", "\n", "%"];
            let mut line = TEMPLATES[t].as_bytes().to_vec();
            for (at, b, op) in edits {
                let at = at % (line.len() + 1);
                let ins = BYTES[b].as_bytes();
                match op {
                    0 => { line.splice(at..at, ins.iter().copied()); }
                    1 if at < line.len() => { line.remove(at); }
                    _ => { line.splice(at..at, ins.iter().copied()); line.splice(at..at, ins.iter().copied()); }
                }
            }
            line.truncate(cut.max(line.len() / 2));
            check(&line, None)?;
            check(&line, Some(&zeek_header()))?;
        }
    }
}
