//! The format decoders behind [`super::event::decode`], and what they share: the dispatcher
//! (detection order), the anchors where a format may start ([`anchors`]), the `key=value`
//! alias table that names vendor keys in ECS, and small byte helpers. Each decoder takes the
//! whole line and the offset where its format must start (an anchor, or the message start
//! after a syslog header) and reports ranges of the whole line. A decoder never searches the
//! line for its marker: text after the start of the message is a field's value, possibly an
//! attacker's, and must not choose the format (docs/ALERT_QUALITY.md, "Decoders are a
//! security boundary").

pub(crate) mod cef;
pub(crate) mod firewall;
pub(crate) mod json;
pub(crate) mod kv;
pub(crate) mod web;
pub(crate) mod zeek;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

use memchr::memmem;

use super::event::{Encoding, Event};

/// A format decoder: the line and the position where its format must start (an anchor).
type Decoder = fn(&[u8], usize) -> Option<Event>;

/// At most this many header tokens are anchors (an RFC 5424 header has 7, PRI and version
/// counted as one, before its structured data).
const MAX_HEADER_ANCHORS: usize = 10;

/// Where a format may start in `line`: the message body after the syslog header (`body`), the
/// line itself (`first`), the start of each token of the syslog header up to and including the
/// first token that holds a quote (a device tag such as `CheckPoint 19710 - [action:"...` or
/// the CSV of PAN-OS, which a lenient syslog parser may read as header words), the body of
/// one nested header (a relay's header in front of the device's own), the structured data of
/// an RFC 5424 header without its PRI at the line's start, and the message of a line shaped
/// like an RFC 3164 header the syslog parser refused. Never a position
/// inside the message: text that follows the start of the body (a user agent, a URL, a quoted
/// value) cannot choose the format. See "Decoders are a security boundary" in
/// docs/ALERT_QUALITY.md.
pub(crate) fn anchors(line: &[u8], first: usize, body: usize) -> Vec<usize> {
    let mut out = vec![body];
    let push = |a: usize, out: &mut Vec<usize>| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    push(first, &mut out);
    let mut i = first;
    let mut n = 0;
    while i < body && n < MAX_HEADER_ANCHORS {
        i = skip_ws(line, i);
        if i >= body {
            break;
        }
        push(i, &mut out);
        n += 1;
        let end = i + line[i..]
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
        if line[i..end].contains(&b'"') {
            break;
        }
        i = end;
    }
    if body > first && body < line.len() {
        let nested = body_start(&line[body..]);
        if nested > 0 {
            push(skip_ws(line, body + nested), &mut out);
        }
    }
    // Only from the line's start: a message that starts with a time is not a header, and its
    // sixth word may be a client's.
    if let Some(a) = after_rfc5424_header(line, first) {
        push(a, &mut out);
    }
    if body == first
        && let Some(a) = after_loose_rfc3164_header(line, first)
    {
        push(a, &mut out);
    }
    out
}

/// Where the message would start if `line[from..]` has the shape of an RFC 3164 header that
/// the syslog parser refused (`May 00 00:00:00 HOST msg`, a date made anonymous): month name,
/// day, `hh:mm:ss`, host.
fn after_loose_rfc3164_header(line: &[u8], from: usize) -> Option<usize> {
    let w = words(line, from, 5);
    if w.len() < 5 {
        return None;
    }
    let t = |i: usize| &line[w[i].clone()];
    let month = t(0).len() == 3 && t(0).iter().all(u8::is_ascii_alphabetic);
    let day = (1..=2).contains(&t(1).len()) && t(1).iter().all(u8::is_ascii_digit);
    let time = t(2).len() == 8
        && t(2).iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        });
    let host = !t(3).iter().any(|c| matches!(c, b'"' | b'[' | b'='));
    (month && day && time && host).then(|| w[4].start)
}

/// The first `n` white-space separated tokens of `line` from `from`.
fn words(line: &[u8], from: usize, n: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = from;
    while out.len() < n {
        i = skip_ws(line, i);
        if i >= line.len() {
            break;
        }
        let e = i + line[i..]
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
        out.push(i..e);
        i = e;
    }
    out
}

/// Where the structured data would start if `line[from..]` is an RFC 5424 header that the
/// syslog parser did not take (`1 TIMESTAMP HOST APP PROCID MSGID [SD]`, without its PRI, as
/// Check Point writes it to files, or without its version too, as Junos is relayed inside
/// another header): the token after MSGID.
pub(crate) fn after_rfc5424_header(line: &[u8], from: usize) -> Option<usize> {
    let w = words(line, from, 7);
    let is_version = |t: &[u8]| t == b"1" || (t.starts_with(b"<") && t.ends_with(b">1"));
    let skip = usize::from(w.first().is_some_and(|t| is_version(&line[t.clone()])));
    let ts = &line[w.get(skip)?.clone()];
    let is_time =
        ts.len() >= 19 && ts[..4].iter().all(u8::is_ascii_digit) && ts[4] == b'-' && ts[10] == b'T';
    (is_time && w.len() > skip + 5).then(|| w[skip + 5].start)
}

/// Where the message starts: `body` after a syslog header, else, for a line whose header the
/// syslog parser did not read (`2020-03-24 08:38:42.344447-0700 host sshd[1]: msg`), after
/// the first of its first five words that ends with `:`, else the line's start.
pub(crate) fn message_start(line: &[u8], first: usize, body: usize) -> usize {
    if body > first {
        return body;
    }
    let w = words(line, first, 5);
    w.iter()
        .take_while(|t| !line[(*t).clone()].contains(&b'"'))
        .find(|t| line[(*t).clone()].ends_with(b":"))
        .map_or(body, |t| skip_ws(line, t.end))
}

/// The detection order of the module docs of [`super::event`].
pub(crate) fn decode(line: &[u8], zeek: Option<&zeek::ZeekHeader>) -> Option<Event> {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let line = &line[..end];
    if line.trim_ascii().is_empty() {
        return None;
    }
    let keep = |ev: Option<Event>| ev.filter(|e| !e.fields.is_empty());
    if let Some(h) = zeek
        && let Some(ev) = keep(zeek::decode_tsv(line, h))
    {
        return Some(ev);
    }
    let first = skip_ws(line, 0);
    if line.get(first) == Some(&b'{') {
        return keep(json::decode(line, first));
    }
    let body = structured_data_end(line, first, body_start(line));
    let b = skip_ws(line, body);
    if line.get(b) == Some(&b'{')
        && let Some(ev) = keep(json::decode(line, b))
    {
        return Some(ev);
    }
    // Formats with a marker or a header of their own: tried only where a format may start.
    let marked: [Decoder; 6] = [
        cef::decode_cef,
        cef::decode_leef,
        firewall::asa,
        firewall::pfsense,
        firewall::panos,
        kv::checkpoint,
    ];
    let anchors = anchors(line, first, b);
    if let Some(ev) = anchors
        .iter()
        .find_map(|&s| marked.iter().find_map(|d| keep(d(line, s))))
    {
        return Some(ev);
    }
    // Formats read by position or by their first keys. What looked like a syslog header may
    // be the line's own first columns (an ELB log starts with an RFC 3339 time and a name):
    // they get a second try from the start.
    let positional: [Decoder; 5] = [
        firewall::netfilter,
        firewall::mikrotik,
        firewall::windows_firewall,
        web::squid,
        web::access_log,
    ];
    let starts = if b > first { vec![b, first] } else { vec![b] };
    if let Some(ev) = starts
        .iter()
        .find_map(|&s| positional.iter().find_map(|d| keep(d(line, s))))
    {
        return Some(ev);
    }
    // Structured data that names something (Junos) is the event; structured data that only
    // carries the sender's bookkeeping (`[meta sequenceId="1"]`) goes with the message's own
    // fields when the message decodes.
    let sd = keep(kv::structured_data(line, first, b));
    if let Some(sd) = &sd
        && sd.fields.iter().any(|f| !f.name.starts_with("sd."))
    {
        return sd.clone().into();
    }
    // sshd names itself in the header: its message (with the user name a client chose) is
    // never read as key=value.
    let rest: [Decoder; 2] = if web::is_sshd(line, first, b) {
        [web::sshd, kv::key_value]
    } else {
        [kv::key_value, web::sshd]
    };
    match (rest.iter().find_map(|d| keep(d(line, b))), sd) {
        (Some(mut ev), Some(sd)) => {
            for f in sd.fields {
                ev.push(f.name, f.value, f.encoding);
            }
            Some(ev)
        }
        (ev, sd) => ev.or(sd),
    }
}

/// Where the message starts after a syslog header (RFC 3164 or 5424), or 0. The year and
/// zone of the header do not matter here, so "now" is fixed: decoding stays pure.
pub(crate) fn body_start(line: &[u8]) -> usize {
    let Some(&c) = line.first() else { return 0 };
    if !(c == b'<' || c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return 0;
    }
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0)
        .unwrap_or_default()
        .fixed_offset();
    super::syslog::parse_at(line, now)
        .map(|h| h.body_offset.min(line.len()))
        .unwrap_or(0)
}

/// Where the structured data of the header ends, read here rather than trusted to the syslog
/// parser: from the first header token that opens with `[`, each element runs to its `]`
/// outside quoted values (a `]` or a `"` escaped with `\` inside a value, or a value the sender
/// did not escape at all, as Check Point writes them, never ends it early), elements follow
/// each other, and the message starts after the last. `body` when the header has none.
fn structured_data_end(line: &[u8], first: usize, body: usize) -> usize {
    let mut i = first;
    let open = loop {
        i = skip_ws(line, i);
        if i >= body {
            return body;
        }
        if line[i] == b'[' {
            break i;
        }
        i += line[i..]
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
    };
    let mut i = open;
    while line.get(i) == Some(&b'[') {
        let mut j = i + 1;
        let mut quoted = false;
        while j < line.len() {
            match line[j] {
                b'\\' => j += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            j += 1;
        }
        if j >= line.len() {
            return line.len();
        }
        i = j + 1;
    }
    i
}

/// Whether the token of the syslog header just before `body` (or, without a header, the first
/// token of the line) is the program `tag` (`tag`, `tag:`, `tag[pid]`, `tag[pid]:`).
pub(crate) fn tag_is(line: &[u8], first: usize, body: usize, tag: &[u8]) -> bool {
    let body = message_start(line, first, body);
    let head = &line[first.min(body)..body];
    let words = head
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        // Structured data is not the tag.
        .take_while(|w| !w.starts_with(b"[") && !w.contains(&b'"'));
    words.into_iter().any(|w| {
        let w = w.strip_suffix(b":").unwrap_or(w);
        let w = match w.iter().position(|&c| c == b'[') {
            Some(p) if w.ends_with(b"]") => &w[..p],
            _ => w,
        };
        w == tag
    })
}

/// Undoes a field's escaping (see [`Encoding`]).
pub(crate) fn unescape(raw: &[u8], enc: Encoding) -> Cow<'_, str> {
    if !raw.contains(&b'\\') || enc == Encoding::Raw {
        return String::from_utf8_lossy(raw);
    }
    match enc {
        Encoding::Raw => String::from_utf8_lossy(raw),
        Encoding::Json => {
            let mut quoted = Vec::with_capacity(raw.len() + 2);
            quoted.push(b'"');
            quoted.extend_from_slice(raw);
            quoted.push(b'"');
            match serde_json::from_slice::<String>(&quoted) {
                Ok(s) => Cow::Owned(s),
                Err(_) => String::from_utf8_lossy(raw),
            }
        }
        Encoding::Cef | Encoding::Quoted => {
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\\' && i + 1 < raw.len() {
                    let next = raw[i + 1];
                    match (enc, next) {
                        (Encoding::Cef, b'n') => out.push(b'\n'),
                        (Encoding::Cef, b'r') => out.push(b'\r'),
                        (Encoding::Cef, b'=' | b'\\' | b'|') | (Encoding::Quoted, _) => {
                            out.push(next)
                        }
                        _ => out.extend_from_slice(&raw[i..i + 2]),
                    }
                    i += 2;
                } else {
                    out.push(raw[i]);
                    i += 1;
                }
            }
            Cow::Owned(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// An address as logs write it: bare, in quotes, in brackets (`[2001:db8::1]:443`), with a
/// port (`1.2.3.4:443`, `1.2.3.4/443`), a zone (`fe80::1%eth0`) or a trailing interface
/// (`1.2.3.4:4507:WAN`).
pub(crate) fn parse_ip_lenient(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if s.len() > 80 {
        return None;
    }
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let v4_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if v4_end >= 7
        && let Ok(v4) = s[..v4_end].parse::<Ipv4Addr>()
    {
        return Some(IpAddr::V4(v4));
    }
    let v6_end = s
        .find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        .unwrap_or(s.len());
    s[..v6_end].parse().ok()
}

/// The ECS name of a vendor's `key=value` key (also used for the last component of generic
/// JSON keys), matched case-insensitively with `_`, `-` and `.` ignored: `srcip`, `src_ip`,
/// `source-address` and `SourceAddress` all name `source.ip`. Request headers a client sets
/// (`X-Forwarded-For`, `X-Real-IP`) name nothing: a client would choose `source.ip`.
pub(crate) fn alias(key: &[u8]) -> Option<&'static str> {
    let mut buf = [0u8; 40];
    let mut n = 0;
    for &c in key {
        if matches!(c, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        if n == buf.len() {
            return None;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
    }
    Some(match &buf[..n] {
        b"src" | b"srcip" | b"sourceip" | b"srcaddr" | b"sourceaddress" | b"sourceaddr"
        | b"srcipaddr" | b"clientip" | b"clienthost" | b"clientaddr" | b"clientaddress"
        | b"remip" | b"remoteaddr" | b"remoteip" | b"cip" | b"srcv6" | b"srcipv6"
        | b"ipaddress" | b"sourceipaddress" | b"callerip" | b"identsrc" | b"c6a2" | b"rhost" => {
            "source.ip"
        }
        b"dst"
        | b"dstip"
        | b"destip"
        | b"destinationip"
        | b"dstaddr"
        | b"destinationaddress"
        | b"destaddr"
        | b"destaddress"
        | b"serverip"
        | b"originip"
        | b"dstv6"
        | b"dstipv6"
        | b"c6a3" => "destination.ip",
        b"spt" | b"srcport" | b"sport" | b"sourceport" | b"clientport" | b"ipport" => "source.port",
        b"dpt" | b"dstport" | b"dport" | b"destinationport" | b"destport" => "destination.port",
        b"transip"
        | b"natsrc"
        | b"xlatesrc"
        | b"natsourceaddress"
        | b"transrcip"
        | b"srcpostnat"
        | b"sourcetranslatedaddress" => "source.nat.ip",
        b"natdst"
        | b"xlatedst"
        | b"natdestinationaddress"
        | b"trandstip"
        | b"dstpostnat"
        | b"destinationtranslatedaddress" => "destination.nat.ip",
        b"shost" | b"srchost" | b"sourcehostname" | b"srchostname" | b"srcname" => "source.domain",
        b"dhost" | b"dsthost" | b"destinationhostname" | b"dsthostname" | b"dstname" => {
            "destination.domain"
        }
        b"hostname" | b"clientrequesthost" | b"requesthost" | b"httphost" | b"urlhostname"
        | b"urldomain" => "url.domain",
        b"url" | b"uri" | b"request" | b"requesturi" | b"clientrequesturi" | b"requesturl"
        | b"fullurl" => "url.original",
        b"requestpath" | b"urlpath" => "url.path",
        b"useragent"
        | b"agent"
        | b"httpuseragent"
        | b"requestclientapplication"
        | b"clientrequestuseragent"
        | b"requestuseragent"
        | b"requestuseragentheader" => "user_agent.original",
        b"referer"
        | b"referrer"
        | b"httprefer"
        | b"httpreferer"
        | b"clientrequestreferer"
        | b"requestreferer"
        | b"requestcontext" => "http.request.referrer",
        b"qname" | b"query" | b"queryname" | b"rrname" | b"dnsquery" | b"questionname" => {
            "dns.question.name"
        }
        b"user" | b"username" | b"usrname" | b"srcuser" | b"usr" | b"xauthuser"
        | b"clientusername" | b"srcusername" => "user.name",
        b"md5" | b"filemd5" => "file.hash.md5",
        b"sha1" | b"filesha1" => "file.hash.sha1",
        b"sha256" | b"filesha256" => "file.hash.sha256",
        b"fname" | b"filename" => "file.name",
        b"filepath" => "file.path",
        b"msg" | b"message" => "message",
        b"attack" | b"signature" | b"rulename" | b"attackname" | b"threatname" | b"virus" => {
            "rule.name"
        }
        b"mailfrom" | b"sender" => "email.from.address",
        b"rcptto" | b"recipient" => "email.to.address",
        b"smac" | b"srcmac" | b"sourcemac" => "source.mac",
        b"dmac" | b"dstmac" | b"destinationmac" => "destination.mac",
        b"dvc" | b"deviceip" | b"origin" => "observer.ip",
        b"dvchost" | b"devname" | b"devicename" => "observer.hostname",
        b"action" | b"act" => "event.action",
        _ => return None,
    })
}

/// Whether a key names the verdict (`action`, `status`, ...), read with [`super::event::Action::from_word`].
pub(crate) fn is_action_key(key: &[u8]) -> bool {
    let k = key.trim_ascii();
    [
        &b"action"[..],
        b"act",
        b"status",
        b"utmaction",
        b"disposition",
        b"fw_action",
        b"log_subtype",
        b"verdict",
        b"wafaction",
        b"outcome",
    ]
    .iter()
    .any(|a| k.eq_ignore_ascii_case(a))
}

/// Whether a key names the direction (`direction`, `ifdir`, `deviceDirection`, ...).
pub(crate) fn is_direction_key(key: &[u8]) -> bool {
    let k = key.trim_ascii();
    [
        &b"direction"[..],
        b"devicedirection",
        b"ifdir",
        b"conn_direction",
        b"dir",
        b"unifidirection",
    ]
    .iter()
    .any(|a| k.eq_ignore_ascii_case(a))
}

/// Pushes a field under `name`, after two corrections that depend on the value: a host name
/// field holding an address is reported as the matching `.ip` field, and `from`/`to` keys are
/// e-mail only when they hold an `@`. An address field written `1.2.3.4:443[:iface]` becomes
/// an address field and a port field.
pub(crate) fn push_named(
    ev: &mut Event,
    line: &[u8],
    name: &'static str,
    r: Range<usize>,
    enc: Encoding,
) {
    let v = &line[r.clone()];
    let name = match name {
        "source.domain" if looks_ip(v) => "source.ip",
        "destination.domain" if looks_ip(v) => "destination.ip",
        n => n,
    };
    if let Some(port_name) = match name {
        "source.ip" => Some("source.port"),
        "destination.ip" => Some("destination.port"),
        _ => None,
    } {
        // `a.b.c.d:port...`: split the address from its port.
        let ip_end = v
            .iter()
            .position(|c| !(c.is_ascii_digit() || *c == b'.'))
            .unwrap_or(v.len());
        if ip_end < v.len()
            && v[ip_end] == b':'
            && std::str::from_utf8(&v[..ip_end]).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok())
        {
            ev.push(name, r.start..r.start + ip_end, enc);
            let p = r.start + ip_end + 1;
            let p_end = p + line[p..r.end]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            ev.push(port_name, p..p_end, enc);
            return;
        }
    }
    ev.push(name, r, enc);
}

fn looks_ip(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok_and(|s| s.trim().parse::<IpAddr>().is_ok())
}

/// Sets the event's action from a verdict word, unless one is set already.
pub(crate) fn set_action(ev: &mut Event, word: &[u8]) {
    if ev.action.is_none() {
        ev.action = super::event::Action::from_word(word);
    }
}

/// Sets the event's direction from a direction word, unless one is set already.
pub(crate) fn set_direction(ev: &mut Event, word: &[u8]) {
    if ev.network_direction.is_none() {
        ev.network_direction = super::event::Direction::from_word(word);
    }
}

pub(crate) fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && line[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `r` without leading and trailing ASCII white space.
pub(crate) fn trim(line: &[u8], r: Range<usize>) -> Range<usize> {
    let (mut s, mut e) = (r.start.min(line.len()), r.end.min(line.len()));
    while s < e && line[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && line[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    s..e
}

/// `r` without one pair of surrounding double quotes.
pub(crate) fn unquote(line: &[u8], r: Range<usize>) -> Range<usize> {
    if r.len() >= 2 && line[r.start] == b'"' && line[r.end - 1] == b'"' {
        r.start + 1..r.end - 1
    } else {
        r
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memmem::find(hay, needle)
}

/// Case-insensitive search of an ASCII word that is not part of a longer alphanumeric run.
pub(crate) fn has_word_ci(hay: &[u8], word: &[u8]) -> bool {
    if word.is_empty() || hay.len() < word.len() {
        return false;
    }
    (0..=hay.len() - word.len()).any(|i| {
        hay[i..i + word.len()].eq_ignore_ascii_case(word)
            && (i == 0 || !hay[i - 1].is_ascii_alphanumeric())
            && hay
                .get(i + word.len())
                .is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// The ranges of the fields of `line[r]` split on `sep`, CSV-style: a field that starts with a
/// double quote runs to the closing quote (`""` inside is a quote), and its range excludes the
/// quotes. At most `max` fields.
pub(crate) fn split_csv(line: &[u8], r: Range<usize>, sep: u8, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = r.start;
    let end = r.end.min(line.len());
    while i <= end && out.len() < max {
        if i < end && line[i] == b'"' {
            let mut j = i + 1;
            while j < end {
                if line[j] == b'"' {
                    if j + 1 < end && line[j + 1] == b'"' {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            out.push(i + 1..j.min(end));
            // Skip to the separator after the closing quote.
            let mut k = (j + 1).min(end);
            while k < end && line[k] != sep {
                k += 1;
            }
            i = k + 1;
        } else {
            let j = line[i..end]
                .iter()
                .position(|&c| c == sep)
                .map_or(end, |p| i + p);
            out.push(i..j);
            i = j + 1;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::super::event::{Event, decode};

    /// Decodes `line` and returns the event, failing the test when nothing decodes.
    pub fn ev(line: &str) -> Event {
        decode(line.as_bytes(), None).unwrap_or_else(|| panic!("not decoded: {line}"))
    }

    /// The name of the field that holds the first occurrence of `needle` in `line`.
    pub(crate) fn field_of(ev: &Event, line: &str, needle: &str) -> String {
        let at = line
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {line}"));
        ev.field_at(at..at + needle.len())
            .unwrap_or_else(|| panic!("no field for {needle:?} in {line}: {ev:?}"))
            .name
            .to_string()
    }

    /// A combined access-log line from 198.51.100.16 whose user agent is `ua`, its quotes and
    /// backslashes escaped as Apache escapes them.
    pub(crate) fn web_line(ua: &str) -> String {
        let ua = ua.replace('\\', "\\\\").replace('"', "\\\"");
        format!(
            r#"198.51.100.16 - - [10/Oct/2024:13:55:36 -0700] "GET /x?q=1 HTTP/1.1" 200 2326 "http://c2.evil.example/" "{ua}""#
        )
    }

    /// What a line says: format, source and destination addresses, action, direction.
    pub fn facts(
        line: &str,
    ) -> (
        &'static str,
        Option<std::net::IpAddr>,
        Option<std::net::IpAddr>,
        Option<super::super::event::Action>,
        Option<super::super::event::Direction>,
    ) {
        let e = ev(line);
        let l = line.as_bytes();
        (
            e.format.as_str(),
            e.source_ip(l),
            e.destination_ip(l),
            e.action,
            e.network_direction,
        )
    }

    /// `Some(address)`, for comparisons with [`facts`].
    pub fn ip(s: &str) -> Option<std::net::IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Same as [`field_of`], for the n-th occurrence (0-based).
    pub(crate) fn field_of_nth(ev: &Event, line: &str, needle: &str, n: usize) -> String {
        let at = line
            .match_indices(needle)
            .nth(n)
            .unwrap_or_else(|| panic!("{needle:?} #{n} not in {line}"))
            .0;
        ev.field_at(at..at + needle.len())
            .unwrap_or_else(|| panic!("no field for {needle:?} in {line}: {ev:?}"))
            .name
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::{Format, decode};
    use super::*;

    #[test]
    fn lenient_addresses() {
        for (s, ip) in [
            ("1.2.3.4", "1.2.3.4"),
            ("\"1.2.3.4\"", "1.2.3.4"),
            ("1.2.3.4:443", "1.2.3.4"),
            ("1.2.3.4/443", "1.2.3.4"),
            ("67.101.200.27:4507:WAN", "67.101.200.27"),
            ("10.12.14.9::X0-V500", "10.12.14.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("fe80::1%eth0", "fe80::1"),
            ("0:0:0:0:0:0:0:1", "::1"),
        ] {
            assert_eq!(parse_ip_lenient(s), Some(ip.parse().unwrap()), "{s}");
        }
        for s in ["", "-", "N/A", "example.com", "1.2.3", "999.1.1.1"] {
            assert_eq!(parse_ip_lenient(s), None, "{s}");
        }
    }

    #[test]
    fn aliases() {
        assert_eq!(alias(b"src_ip"), Some("source.ip"));
        assert_eq!(alias(b"SourceAddress"), Some("source.ip"));
        assert_eq!(alias(b"destination-address"), Some("destination.ip"));
        assert_eq!(alias(b"ClientRequestHost"), Some("url.domain"));
        assert_eq!(alias(b"nonsense"), None);
        // A header the client writes is not the source.
        assert_eq!(alias(b"X-Forwarded-For"), None);
        assert_eq!(alias(b"request_X-Real-Ip"), None);
        assert_eq!(alias(&[b'a'; 100]), None);
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(br"a\=b\\c\nd", Encoding::Cef), "a=b\\c\nd");
        assert_eq!(
            unescape(br#"C:\\x \"q\" \u00e9"#, Encoding::Json),
            "C:\\x \"q\" \u{e9}"
        );
        assert_eq!(unescape(br#"x \"y\" \]"#, Encoding::Quoted), "x \"y\" ]");
        // Broken JSON escapes come back as written.
        assert_eq!(unescape(br"bad \u12", Encoding::Json), "bad \\u12");
    }

    #[test]
    fn csv_split() {
        let line = br#"a,"b,c",,"d""e",f"#;
        let f = split_csv(line, 0..line.len(), b',', 100);
        let got: Vec<&[u8]> = f.iter().map(|r| &line[r.clone()]).collect();
        assert_eq!(got, [&b"a"[..], b"b,c", b"", br#"d""e"#, b"f"]);
        assert_eq!(split_csv(line, 0..line.len(), b',', 2).len(), 2);
    }

    #[test]
    fn words() {
        assert!(has_word_ci(b"SFW2-INext-DROP-DEFLT IN=", b"drop"));
        assert!(!has_word_ci(b"DROPPED", b"drop"));
        assert!(!has_word_ci(b"x", b"drop"));
    }

    use super::testutil::{facts, ip, web_line};

    /// The issue's reproduction: a CEF header in a user agent does not make the line CEF.
    #[test]
    fn a_user_agent_cannot_choose_the_format() {
        let l = web_line("Mozilla/5.0 CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed");
        assert_eq!(
            facts(&l),
            ("access_log", ip("198.51.100.16"), None, None, None),
            "{l}"
        );
        for ua in [
            "x LEEF:2.0|a|b|c|d|^|src=10.0.9.5^action=allow",
            "x %ASA-6-302013: Built outbound TCP connection 1 for outside:10.0.9.5/1 to inside:10.0.9.6/2",
            "x filterlog: 5,,,100,em0,match,pass,out,4,0x0,,64,1,0,DF,6,tcp,60,10.0.9.5,10.0.9.6,1,2",
            "1,2024/01/01 00:00:00,0011,TRAFFIC,end,1,2024/01/01 00:00:00,10.0.9.5,10.0.9.6",
            "IN=eth0 OUT= SRC=10.0.9.5 DST=10.0.9.6",
            "input: in:ether1 out:x, proto TCP, 10.0.9.5:1->10.0.9.6:2, len 40",
            r#"[action:"Accept"; src:"10.0.9.5"]"#,
            r#"[junos@2636.1 source-address="10.0.9.5"] RT_FLOW_SESSION_CREATE"#,
        ] {
            let l = web_line(ua);
            assert_eq!(
                facts(&l),
                ("access_log", ip("198.51.100.16"), None, None, None),
                "{l}"
            );
        }
    }

    /// A message that holds a second syslog header is still the first sender's message.
    #[test]
    fn a_header_inside_a_message_is_text() {
        let l = "<13>Jan  1 00:00:00 web01 app: login failed for <13>Jan  1 00:00:00 fw1 CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed";
        assert!(
            decode(l.as_bytes(), None).is_none_or(|e| e.format != Format::Cef),
            "{l}"
        );
        // RFC 5424 structured data holding `]` and a CEF header inside a quoted value: the
        // message starts after the element, not inside it.
        let l = r#"<134>1 2024-01-01T00:00:00Z h app 1 - [x ua="a\] CEF:0|a|b|c|d|e|f|src=10.0.9.5"] hello"#;
        assert!(
            decode(l.as_bytes(), None).is_none_or(|e| e.format != Format::Cef),
            "{l}"
        );
        // The device's own header after the sender's is still read.
        let l = "<134>Feb  1 10:00:00 fw1 CEF:0|Acme|Gate|1|100|x|7|src=192.0.2.1 dst=10.0.0.2";
        assert_eq!(facts(l).1, ip("192.0.2.1"));
    }

    #[test]
    fn anchors_stop_at_the_message() {
        let l = b"Jan  1 00:00:00 host sshd[1]: Invalid user CEF:0|a|b|c|d|e|f|src=10.0.9.5 from 1.2.3.4 port 22";
        let body = body_start(l);
        let a = anchors(l, 0, skip_ws(l, body));
        assert!(a.iter().all(|&p| p <= body), "{a:?} past {body}");
        assert!(a.contains(&0) && a.contains(&body));
    }
}
