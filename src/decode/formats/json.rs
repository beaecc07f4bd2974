//! JSON objects: ECS, Suricata EVE, Zeek JSON, Windows/Sysmon events, CloudTrail, and any
//! other object.
//!
//! A small scanner walks the object once and yields every scalar as its dotted key path and
//! the raw byte range of its value (between the quotes for strings, escapes kept). serde_json
//! would parse faster but gives no offsets, and offsets are the point here. The scanner is
//! lenient: a line cut in the middle keeps the scalars read before the cut, and nesting
//! deeper than [`MAX_DEPTH`] stops the walk. The format is then chosen from the keys present,
//! and each key named in ECS by that format's table.

use std::borrow::Cow;
use std::ops::Range;

use super::super::event::{Action, Direction, Encoding, Event, Format, MAX_FIELDS};
use super::{alias, is_action_key, push_named, set_action, set_direction, skip_ws};

const MAX_DEPTH: usize = 64;

/// One scalar of the object: its dotted key path (a range of the path buffer) and its value.
struct Leaf {
    path: Range<usize>,
    value: Range<usize>,
    string: bool,
    /// Under a key its object had already: the first of a key wins.
    repeated: bool,
}

struct Scan {
    paths: Vec<u8>,
    leaves: Vec<Leaf>,
}

impl Scan {
    fn path(&self, l: &Leaf) -> &[u8] {
        &self.paths[l.path.clone()]
    }
    fn find(&self, path: &[u8]) -> Option<&Leaf> {
        self.leaves
            .iter()
            .find(|l| !l.repeated && self.path(l) == path)
    }
    fn has(&self, path: &[u8]) -> bool {
        self.find(path).is_some()
    }
}

/// End of the JSON string whose opening quote is at `i`: the index of the closing quote.
fn string_end(line: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < line.len() {
        match memchr::memchr2(b'"', b'\\', &line[j..]) {
            Some(p) if line[j + p] == b'\\' => j += p + 2,
            Some(p) => return Some(j + p),
            None => return None,
        }
    }
    None
}

fn scan(line: &[u8], start: usize) -> Scan {
    #[derive(Clone, Copy)]
    enum Ctx {
        /// Path length, index of the object in `keys`' first column, under a repeated key.
        Obj(usize, usize, bool),
        Arr(usize, bool),
    }
    let mut out = Scan {
        paths: Vec::new(),
        leaves: Vec::new(),
    };
    let mut path: Vec<u8> = Vec::new();
    let mut stack: Vec<Ctx> = Vec::new();
    // The keys read so far, with the object they belong to (bounded by MAX_FIELDS keys).
    let mut keys: Vec<(usize, Range<usize>)> = Vec::new();
    let mut objects = 1;
    let mut i = start;
    if line.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    stack.push(Ctx::Obj(0, 0, false));
    while let Some(&top) = stack.last() {
        if out.leaves.len() >= MAX_FIELDS {
            break;
        }
        i = skip_ws(line, i);
        while line.get(i) == Some(&b',') {
            i = skip_ws(line, i + 1);
        }
        let repeated = match top {
            Ctx::Obj(base, obj, under) => {
                match line.get(i) {
                    Some(b'}') => {
                        stack.pop();
                        i += 1;
                        continue;
                    }
                    Some(b'"') => {}
                    _ => break,
                }
                let Some(k_end) = string_end(line, i) else {
                    break;
                };
                path.truncate(base);
                if base > 0 {
                    path.push(b'.');
                }
                path.extend_from_slice(&line[i + 1..k_end]);
                let key = i + 1..k_end;
                let again = keys
                    .iter()
                    .any(|(o, k)| *o == obj && line[k.clone()] == line[key.clone()]);
                if keys.len() < MAX_FIELDS {
                    keys.push((obj, key));
                }
                i = skip_ws(line, k_end + 1);
                if line.get(i) != Some(&b':') {
                    break;
                }
                i = skip_ws(line, i + 1);
                under || again
            }
            Ctx::Arr(base, under) => {
                if line.get(i) == Some(&b']') {
                    stack.pop();
                    i += 1;
                    continue;
                }
                path.truncate(base);
                under
            }
        };
        let leaf = |out: &mut Scan, path: &[u8], value: Range<usize>, string: bool| {
            let p = out.paths.len();
            out.paths.extend_from_slice(path);
            out.leaves.push(Leaf {
                path: p..out.paths.len(),
                value,
                string,
                repeated,
            });
        };
        match line.get(i) {
            Some(b'"') => {
                let Some(end) = string_end(line, i) else {
                    break;
                };
                leaf(&mut out, &path, i + 1..end, true);
                i = end + 1;
            }
            Some(b'{') | Some(b'[') => {
                if stack.len() >= MAX_DEPTH {
                    break;
                }
                stack.push(if line[i] == b'{' {
                    objects += 1;
                    Ctx::Obj(path.len(), objects - 1, repeated)
                } else {
                    Ctx::Arr(path.len(), repeated)
                });
                i += 1;
            }
            Some(_) => {
                let j = i + line[i..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
                    .unwrap_or(line.len() - i);
                if j == i {
                    break;
                }
                leaf(&mut out, &path, i..j, false);
                i = j;
            }
            None => break,
        }
    }
    out
}

/// Which JSON dialect an object is, from the keys it has.
fn format_of(s: &Scan) -> Format {
    let any = |ps: &[&[u8]]| ps.iter().any(|p| s.has(p));
    if s.has(b"event_type") && any(&[b"src_ip", b"dest_ip", b"flow_id", b"timestamp"]) {
        Format::SuricataEve
    } else if any(&[b"id.orig_h", b"id.resp_h"]) || (s.has(b"uid") && s.has(b"ts")) {
        Format::ZeekJson
    } else if s.leaves.iter().any(|l| {
        let p = s.path(l);
        p.starts_with(b"win.eventdata.")
            || p.starts_with(b"win.system.")
            || p.starts_with(b"winlog.")
            || p.starts_with(b"Event.EventData.")
    }) || (any(&[b"EventID", b"EventId"])
        && any(&[b"Channel", b"SourceName", b"ProviderGuid"]))
    {
        Format::WindowsEvent
    } else if (s.has(b"eventSource") && s.has(b"eventName"))
        || s.has(b"sourceIPAddress")
        || s.has(b"CloudTrailEvent")
    {
        Format::CloudTrail
    } else if any(&[
        b"ecs.version",
        b"source.ip",
        b"destination.ip",
        b"url.full",
        b"url.original",
        b"dns.question.name",
        b"event.action",
        b"event.category",
        b"network.direction",
    ]) {
        Format::Ecs
    } else {
        Format::Json
    }
}

/// ECS names of Suricata EVE paths.
fn suricata(path: &[u8]) -> Option<&'static str> {
    Some(match path {
        b"src_ip" => "source.ip",
        b"src_port" => "source.port",
        b"dest_ip" => "destination.ip",
        b"dest_port" => "destination.port",
        b"dns.rrname" | b"dns.query.rrname" | b"dns.queries.rrname" => "dns.question.name",
        b"dns.rdata" | b"dns.answers.rdata" | b"dns.grouped.A" | b"dns.grouped.AAAA"
        | b"dns.grouped.CNAME" => "dns.answers.data",
        b"http.hostname" => "url.domain",
        b"http.url" => "url.original",
        b"http.http_user_agent" => "user_agent.original",
        b"http.http_refer" => "http.request.referrer",
        b"tls.sni" => "tls.client.server_name",
        b"tls.subject" => "tls.server.subject",
        b"tls.issuerdn" => "tls.server.issuer",
        b"tls.ja3.hash" => "tls.client.ja3",
        b"tls.ja3s.hash" => "tls.server.ja3s",
        b"tls.fingerprint" => "tls.server.hash.sha1",
        b"fileinfo.sha256" => "file.hash.sha256",
        b"fileinfo.md5" => "file.hash.md5",
        b"fileinfo.sha1" => "file.hash.sha1",
        b"fileinfo.filename" => "file.name",
        b"alert.signature" => "rule.name",
        b"alert.category" => "rule.category",
        b"email.from" | b"smtp.mail_from" => "email.from.address",
        b"email.to" | b"smtp.rcpt_to" => "email.to.address",
        b"host" => "observer.hostname",
        b"in_iface" => "observer.ingress.interface.name",
        b"payload_printable" => "event.original",
        _ => return None,
    })
}

/// ECS names of Zeek columns (JSON keys and TSV `#fields` alike).
pub(crate) fn zeek_name(col: &[u8]) -> Option<&'static str> {
    Some(match col {
        b"id.orig_h" | b"tx_hosts" | b"src" | b"orig_h" => "source.ip",
        b"id.orig_p" | b"src_p" => "source.port",
        b"id.resp_h" | b"rx_hosts" | b"dst" | b"resp_h" => "destination.ip",
        b"id.resp_p" | b"dst_p" | b"p" => "destination.port",
        b"query" => "dns.question.name",
        b"answers" => "dns.answers.data",
        b"host" => "url.domain",
        b"uri" => "url.original",
        b"referrer" => "http.request.referrer",
        b"user_agent" => "user_agent.original",
        b"server_name" => "tls.client.server_name",
        b"subject" | b"certificate.subject" => "tls.server.subject",
        b"issuer" | b"certificate.issuer" => "tls.server.issuer",
        b"ja3" => "tls.client.ja3",
        b"ja3s" => "tls.server.ja3s",
        b"md5" => "file.hash.md5",
        b"sha1" => "file.hash.sha1",
        b"sha256" => "file.hash.sha256",
        b"filename" => "file.name",
        b"mailfrom" | b"from" => "email.from.address",
        b"rcptto" | b"to" => "email.to.address",
        b"note" => "rule.name",
        b"msg" => "message",
        b"username" | b"user" => "user.name",
        b"seen.indicator" => "threat.indicator.name",
        _ => return None,
    })
}

/// ECS names of Windows event data keys (last path component, any case).
fn windows(key: &[u8], process_event: bool) -> Option<&'static str> {
    let mut buf = [0u8; 32];
    if key.len() > buf.len() {
        return None;
    }
    let k = &mut buf[..key.len()];
    k.copy_from_slice(key);
    k.make_ascii_lowercase();
    Some(match &*k {
        b"sourceip" | b"sourceaddress" | b"ipaddress" | b"clientaddress" => "source.ip",
        b"destinationip" | b"destaddress" | b"destinationaddress" => "destination.ip",
        b"sourceport" | b"ipport" => "source.port",
        b"destinationport" | b"destport" => "destination.port",
        b"sourcehostname" | b"workstationname" => "source.domain",
        b"destinationhostname" => "destination.domain",
        b"queryname" => "dns.question.name",
        b"queryresults" => "dns.answers.data",
        b"image" | b"application" | b"newprocessname" => "process.executable",
        b"commandline" => "process.command_line",
        b"parentimage" | b"parentprocessname" => "process.parent.executable",
        b"parentcommandline" => "process.parent.command_line",
        b"imageloaded" | b"targetfilename" => "file.path",
        b"originalfilename" => "process.pe.original_file_name",
        b"targetobject" => "registry.path",
        b"user" | b"subjectusername" => "user.name",
        b"targetusername" => "user.target.name",
        b"hostname" | b"computer" => "host.name",
        b"md5" if !process_event => "file.hash.md5",
        b"sha1" if !process_event => "file.hash.sha1",
        b"sha256" if !process_event => "file.hash.sha256",
        b"md5" => "process.hash.md5",
        b"sha1" => "process.hash.sha1",
        b"sha256" => "process.hash.sha256",
        _ => return None,
    })
}

fn last_component(path: &[u8]) -> &[u8] {
    path.rsplit(|&c| c == b'.').next().unwrap_or(path)
}

/// ECS paths kept as they are when an ECS document names them.
fn is_ecs_path(path: &[u8]) -> bool {
    const ROOTS: [&[u8]; 22] = [
        b"source.",
        b"destination.",
        b"client.",
        b"server.",
        b"url.",
        b"dns.",
        b"tls.",
        b"file.",
        b"email.",
        b"user_agent.",
        b"user.",
        b"host.",
        b"process.",
        b"http.",
        b"network.",
        b"observer.",
        b"rule.",
        b"threat.",
        b"registry.",
        b"dll.",
        b"related.",
        b"event.",
    ];
    path == b"message" || ROOTS.iter().any(|r| path.starts_with(r))
}

pub(crate) fn decode(line: &[u8], start: usize) -> Option<Event> {
    let s = scan(line, start);
    if s.leaves.is_empty() {
        return None;
    }
    let format = format_of(&s);
    let mut ev = Event::new(format);
    let process_event = format == Format::WindowsEvent
        && s.leaves.iter().any(|l| {
            let k = last_component(s.path(l));
            k.eq_ignore_ascii_case(b"commandline") || k.eq_ignore_ascii_case(b"parentimage")
        });
    for l in &s.leaves {
        let path = s.path(l);
        let v = &line[l.value.clone()];
        let enc = if l.string {
            Encoding::Json
        } else {
            Encoding::Raw
        };
        if l.repeated {
            // First wins: a key its object had already is located, never read as the
            // event's own (JSON leaves duplicate keys undefined; some loggers append).
            let mut name = String::with_capacity(path.len() + 5);
            name.push_str("json.");
            name.push_str(&String::from_utf8_lossy(path));
            ev.push(Cow::Owned(name), l.value.clone(), enc);
            continue;
        }
        let name: Option<&'static str> = match format {
            Format::SuricataEve => suricata(path),
            Format::ZeekJson => zeek_name(path),
            Format::WindowsEvent => {
                let key = last_component(path);
                if key.eq_ignore_ascii_case(b"hashes") {
                    push_hashes(&mut ev, line, l.value.clone(), process_event);
                    continue;
                }
                windows(key, process_event)
            }
            Format::CloudTrail => match path {
                b"sourceIPAddress" => Some(if looks_ip(v) {
                    "source.ip"
                } else {
                    "source.domain"
                }),
                b"userAgent" => Some("user_agent.original"),
                b"eventName" | b"EventName" => Some("event.action"),
                b"eventSource" | b"EventSource" => Some("event.provider"),
                b"userIdentity.userName" | b"Username" => Some("user.name"),
                b"userIdentity.arn" => Some("user.id"),
                b"errorMessage" => Some("error.message"),
                b"errorCode" => Some("error.code"),
                b"awsRegion" => Some("cloud.region"),
                _ => None,
            },
            Format::Ecs => {
                if is_ecs_path(path) {
                    let name = String::from_utf8_lossy(path).into_owned();
                    ev.push(Cow::Owned(name), l.value.clone(), enc);
                    continue;
                }
                None
            }
            _ => alias(last_component(path)).filter(|&n| n != "event.action"),
        };
        match name {
            Some(n) => push_named(&mut ev, line, n, l.value.clone(), enc),
            None => {
                let mut name = String::with_capacity(path.len() + 5);
                name.push_str("json.");
                name.push_str(&String::from_utf8_lossy(path));
                ev.push(Cow::Owned(name), l.value.clone(), enc);
            }
        }
    }
    verdict(&mut ev, &s, line, format);
    Some(ev)
}

fn looks_ip(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

/// Sysmon's `Hashes` (`SHA1=..,MD5=..,SHA256=..,IMPHASH=..`): each hash is its own field.
fn push_hashes(ev: &mut Event, line: &[u8], r: Range<usize>, process_event: bool) {
    let mut i = r.start;
    while i < r.end {
        let end = line[i..r.end]
            .iter()
            .position(|&c| c == b',')
            .map_or(r.end, |p| i + p);
        if let Some(eq) = line[i..end].iter().position(|&c| c == b'=') {
            let alg = &line[i..i + eq];
            let v = i + eq + 1..end;
            let name = if alg.eq_ignore_ascii_case(b"imphash") {
                Some(if process_event {
                    "process.pe.imphash"
                } else {
                    "file.pe.imphash"
                })
            } else {
                windows(alg, process_event)
            };
            match name {
                Some(n) => ev.push(n, v, Encoding::Json),
                None => ev.push("json.Hashes", v, Encoding::Json),
            }
        }
        i = end + 1;
    }
}

/// Action and direction, from the keys each dialect uses for them.
fn verdict(ev: &mut Event, s: &Scan, line: &[u8], format: Format) {
    let val = |p: &[u8]| s.find(p).map(|l| &line[l.value.clone()]);
    match format {
        Format::SuricataEve => {
            if let Some(a) = val(b"alert.action") {
                set_action(ev, a);
            }
            if val(b"event_type") == Some(b"drop") {
                ev.action = Some(Action::Dropped);
            }
        }
        Format::ZeekJson => {
            if let Some(d) = val(b"direction") {
                set_direction(ev, d);
            }
            local_orig_resp(ev, val(b"local_orig"), val(b"local_resp"));
        }
        Format::WindowsEvent => {
            let mut id = None;
            for l in s.leaves.iter().filter(|l| !l.repeated) {
                let p = s.path(l);
                let k = last_component(p);
                let v = &line[l.value.clone()];
                if k.eq_ignore_ascii_case(b"eventid") {
                    id = std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse::<u32>().ok());
                } else if k == b"Direction" || k == b"direction" {
                    set_direction(ev, v);
                } else if k.eq_ignore_ascii_case(b"initiated") {
                    ev.network_direction.get_or_insert(if v == b"true" {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    });
                }
            }
            ev.action = match id {
                Some(5156) | Some(5154) | Some(4624) => Some(Action::Allowed),
                Some(5157) | Some(5155) => Some(Action::Blocked),
                Some(5152) | Some(5153) => Some(Action::Dropped),
                Some(4625) | Some(4771) => Some(Action::Denied),
                _ => None,
            };
        }
        Format::CloudTrail => {
            let code = val(b"errorCode");
            let denied_word = |c: &[u8]| {
                [&b"AccessDenied"[..], b"Unauthorized", b"Forbidden"]
                    .iter()
                    .any(|w| super::find(c, w).is_some())
            };
            let failed_login = val(b"responseElements.ConsoleLogin") == Some(b"Failure");
            ev.action = if failed_login || code.is_some_and(denied_word) {
                Some(Action::Denied)
            } else if code.is_none() && val(b"errorMessage").is_none() {
                Some(Action::Allowed)
            } else {
                None
            };
        }
        Format::Ecs => {
            if let Some(a) = val(b"event.action").or_else(|| val(b"event.type")) {
                set_action(ev, a);
            }
            if let Some(d) = val(b"network.direction") {
                set_direction(ev, d);
            }
        }
        _ => {
            for l in s.leaves.iter().filter(|l| !l.repeated) {
                let k = last_component(s.path(l));
                if is_action_key(k) {
                    set_action(ev, &line[l.value.clone()]);
                } else if super::is_direction_key(k) {
                    set_direction(ev, &line[l.value.clone()]);
                }
            }
        }
    }
}

/// Zeek's `local_orig`/`local_resp` (`T`/`F`): the site's own view of the direction.
pub(crate) fn local_orig_resp(ev: &mut Event, orig: Option<&[u8]>, resp: Option<&[u8]>) {
    let b = |v: Option<&[u8]>| match v {
        Some(b"T") | Some(b"true") => Some(true),
        Some(b"F") | Some(b"false") => Some(false),
        _ => None,
    };
    if let (Some(o), Some(r)) = (b(orig), b(resp)) {
        ev.network_direction.get_or_insert(match (o, r) {
            (true, true) => Direction::Internal,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::External,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ev, field_of, field_of_nth};
    use super::*;

    #[test]
    fn scanner_paths_and_ranges() {
        let line = br#" {"a":{"b":"x\"y","c":[1,{"d":true}]},"e" : -2.5e3 ,"f":null}"#;
        let s = scan(line, 1);
        let got: Vec<(String, String)> = s
            .leaves
            .iter()
            .map(|l| {
                (
                    String::from_utf8_lossy(s.path(l)).into_owned(),
                    String::from_utf8_lossy(&line[l.value.clone()]).into_owned(),
                )
            })
            .collect();
        let want = [
            ("a.b", r#"x\"y"#),
            ("a.c", "1"),
            ("a.c.d", "true"),
            ("e", "-2.5e3"),
            ("f", "null"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((p, v), (wp, wv)) in got.iter().zip(want) {
            assert_eq!((p.as_str(), v.as_str()), (wp, wv));
        }
    }

    #[test]
    fn truncated_object_keeps_what_came_before() {
        let line = br#"{"src_ip":"10.9.8.7","dest_ip":"192.0.2.4","event_type":"alert","alert":{"signature":"ET x"#;
        let ev = decode(line, 0).unwrap();
        assert_eq!(ev.format, Format::SuricataEve);
        assert_eq!(ev.source_ip(line), Some("10.9.8.7".parse().unwrap()));
        assert_eq!(ev.get("rule.name"), None);
    }

    #[test]
    fn deep_nesting_stops_without_overflow() {
        let mut line = String::from(r#"{"k":"1.2.3.4","#);
        for _ in 0..10_000 {
            line.push_str(r#""a":{"#);
        }
        let ev = decode(line.as_bytes(), 0).unwrap();
        assert_eq!(ev.fields[0].name, "json.k");
    }

    #[test]
    fn suricata_eve() {
        let line = r#"{"timestamp":"2024-01-02T03:04:05.000000+0000","flow_id":1,"event_type":"alert","src_ip":"203.0.113.9","src_port":4444,"dest_ip":"10.1.1.20","dest_port":445,"proto":"TCP","alert":{"action":"blocked","signature":"ET DROP Spamhaus 203.0.113.9"},"host":"sensor1"}"#;
        let e = ev(line);
        assert_eq!(e.format, Format::SuricataEve);
        assert_eq!(field_of(&e, line, "203.0.113.9"), "source.ip");
        assert_eq!(field_of_nth(&e, line, "203.0.113.9", 1), "rule.name");
        assert_eq!(field_of(&e, line, "10.1.1.20"), "destination.ip");
        assert_eq!(field_of(&e, line, "sensor1"), "observer.hostname");
        assert_eq!(e.action, Some(Action::Blocked));
        let l = line.as_bytes();
        assert_eq!(e.source_port(l), Some(4444));
        assert_eq!(e.destination_port(l), Some(445));

        let dns = r#"{"event_type":"dns","src_ip":"10.0.0.5","dest_ip":"10.0.0.1","dns":{"type":"query","rrname":"bad.example.net","rrtype":"A"}}"#;
        let e = ev(dns);
        assert_eq!(field_of(&e, dns, "bad.example.net"), "dns.question.name");
        assert_eq!(
            e.dns_question(dns.as_bytes()).as_deref(),
            Some("bad.example.net")
        );
        assert_eq!(e.action, None);

        let tls = r#"{"event_type":"tls","src_ip":"10.0.0.5","dest_ip":"198.51.100.7","tls":{"sni":"c2.example.org","ja3":{"hash":"0123456789abcdef0123456789abcdef"}}}"#;
        let e = ev(tls);
        assert_eq!(
            field_of(&e, tls, "c2.example.org"),
            "tls.client.server_name"
        );
        assert_eq!(field_of(&e, tls, "0123456789abcdef"), "tls.client.ja3");

        let http = r#"{"event_type":"http","src_ip":"10.0.0.5","dest_ip":"198.51.100.7","http":{"hostname":"evil.example","url":"/a/b.php?x=1","http_user_agent":"Bad\/1.0"}}"#;
        let e = ev(http);
        assert_eq!(field_of(&e, http, "evil.example"), "url.domain");
        assert_eq!(field_of(&e, http, "/a/b.php"), "url.original");
        assert_eq!(e.user_agent(http.as_bytes()).as_deref(), Some("Bad/1.0"));

        let file = r#"{"event_type":"fileinfo","src_ip":"1.1.1.1","dest_ip":"10.0.0.5","fileinfo":{"filename":"/x.exe","md5":"d41d8cd98f00b204e9800998ecf8427e","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}"#;
        let e = ev(file);
        assert_eq!(
            field_of(&e, file, "d41d8cd98f00b204e9800998ecf8427e"),
            "file.hash.md5"
        );
        assert_eq!(field_of(&e, file, "e3b0c442"), "file.hash.sha256");
    }

    #[test]
    fn zeek_json() {
        let line = r#"{"ts":1.5,"uid":"Cx","id.orig_h":"192.0.2.10","id.orig_p":50000,"id.resp_h":"10.0.0.22","id.resp_p":22,"auth_attempts":3,"direction":"INBOUND"}"#;
        let e = ev(line);
        assert_eq!(e.format, Format::ZeekJson);
        assert_eq!(field_of(&e, line, "192.0.2.10"), "source.ip");
        assert_eq!(field_of(&e, line, "10.0.0.22"), "destination.ip");
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        let conn = r#"{"ts":1.5,"uid":"Cy","id.orig_h":"10.0.0.1","id.resp_h":"192.0.2.1","local_orig":true,"local_resp":false}"#;
        assert_eq!(ev(conn).network_direction, Some(Direction::Outbound));
    }

    #[test]
    fn windows_sysmon() {
        let line = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\Windows\\x.exe","CommandLine":"x.exe http://bad.example/p","Hashes":"SHA1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,MD5=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB,SHA256=CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC,IMPHASH=DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD","User":"CORP\\alice"}"#;
        let e = ev(line);
        assert_eq!(e.format, Format::WindowsEvent);
        assert_eq!(
            field_of(&e, line, "http://bad.example/p"),
            "process.command_line"
        );
        assert_eq!(
            field_of(&e, line, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"),
            "process.hash.md5"
        );
        assert_eq!(field_of(&e, line, &"C".repeat(64)), "process.hash.sha256");
        assert_eq!(field_of(&e, line, "DDDDDDDDDDDDDDDD"), "process.pe.imphash");
        assert_eq!(e.user_name(line.as_bytes()).as_deref(), Some("CORP\\alice"));

        let net = r#"{"EventID":3,"SourceName":"Microsoft-Windows-Sysmon","SourceIp":"10.0.0.8","DestinationIp":"203.0.113.80","DestinationHostname":"203.0.113.80","DestinationPort":"443","Initiated":"true"}"#;
        let e = ev(net);
        assert_eq!(field_of(&e, net, "10.0.0.8"), "source.ip");
        assert_eq!(field_of(&e, net, "203.0.113.80"), "destination.ip");
        assert_eq!(field_of_nth(&e, net, "203.0.113.80", 1), "destination.ip");
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(e.destination_port(net.as_bytes()), Some(443));

        let wfp = r#"{"EventID":5157,"Channel":"Security","Direction":"%%14592","SourceAddress":"10.0.0.8","DestAddress":"198.51.100.1"}"#;
        let e = ev(wfp);
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(e.network_direction, Some(Direction::Inbound));

        let wazuh = r#"{"win":{"eventdata":{"queryName":"bad.example.com","image":"C:\\\\x.exe"},"system":{"eventID":"22"}}}"#;
        let e = ev(wazuh);
        assert_eq!(e.format, Format::WindowsEvent);
        assert_eq!(field_of(&e, wazuh, "bad.example.com"), "dns.question.name");
    }

    #[test]
    fn cloudtrail() {
        let ok = r#"{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"198.51.100.3","userAgent":"aws-cli/2.0","userIdentity":{"userName":"bob"}}"#;
        let e = ev(ok);
        assert_eq!(e.format, Format::CloudTrail);
        assert_eq!(field_of(&e, ok, "198.51.100.3"), "source.ip");
        assert_eq!(field_of(&e, ok, "aws-cli"), "user_agent.original");
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(e.user_name(ok.as_bytes()).as_deref(), Some("bob"));
        let denied = r#"{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","sourceIPAddress":"ec2.amazonaws.com","errorCode":"AccessDenied"}"#;
        let e = ev(denied);
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(field_of(&e, denied, "ec2.amazonaws.com"), "source.domain");
    }

    #[test]
    fn ecs_and_generic() {
        let line = r#"{"@timestamp":"x","source":{"ip":"10.0.0.1"},"url":{"full":"https://bad.example/x"},"event":{"action":"denied"},"network":{"direction":"outbound"}}"#;
        let e = ev(line);
        assert_eq!(e.format, Format::Ecs);
        assert_eq!(field_of(&e, line, "10.0.0.1"), "source.ip");
        assert_eq!(field_of(&e, line, "bad.example"), "url.full");
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(
            e.url(line.as_bytes()).as_deref(),
            Some("https://bad.example/x")
        );

        let generic = r#"{"ClientIP":"198.51.100.9","ClientRequestHost":"shop.example","RayID":"abc 198.51.100.9","WAFAction":"block"}"#;
        let e = ev(generic);
        assert_eq!(e.format, Format::Json);
        assert_eq!(field_of(&e, generic, "198.51.100.9"), "source.ip");
        assert_eq!(field_of_nth(&e, generic, "198.51.100.9", 1), "json.RayID");
        assert_eq!(field_of(&e, generic, "shop.example"), "url.domain");
        assert_eq!(e.action, Some(Action::Blocked));
    }

    #[test]
    fn json_in_a_string_is_a_string() {
        let l = r#"{"event_type":"http","src_ip":"192.0.2.5","dest_ip":"10.0.0.2","http":{"http_user_agent":"{\"src_ip\":\"10.0.9.5\",\"alert\":{\"action\":\"allowed\"}}"}}"#;
        let e = ev(l);
        assert_eq!(e.format, Format::SuricataEve);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("192.0.2.5".parse().unwrap())
        );
        assert_eq!(e.action, None);
    }

    /// A header the client sets is the client's text, not the source.
    #[test]
    fn forwarded_headers_are_not_the_source() {
        let l = r#"{"request_X-Forwarded-For":"10.0.9.5","request_X-Real-Ip":"10.0.9.5","RequestPath":"/x"}"#;
        assert_eq!(ev(l).source_ip(l.as_bytes()), None);
        let l = r#"{"ClientHost":"192.0.2.8","request_X-Real-Ip":"10.0.9.5"}"#;
        assert_eq!(
            ev(l).source_ip(l.as_bytes()),
            Some("192.0.2.8".parse().unwrap())
        );
    }

    /// First wins: a key its object already had (JSON leaves it undefined; some loggers append
    /// fields) is located under `json.` but is not the event's own.
    #[test]
    fn repeated_json_keys_first_wins() {
        let l = r#"{"event_type":"alert","src_ip":"192.0.2.5","dest_ip":"-","alert":{"action":"blocked"},"src_ip":"10.0.9.5","dest_ip":"10.0.9.6","alert":{"action":"allowed"}}"#;
        let e = ev(l);
        let b = l.as_bytes();
        assert_eq!(e.source_ip(b), Some("192.0.2.5".parse().unwrap()));
        assert_eq!(e.destination_ip(b), None);
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(field_of(&e, l, "10.0.9.5"), "json.src_ip");
        assert_eq!(field_of(&e, l, "10.0.9.6"), "json.dest_ip");
        // The same key in two objects of an array is not a repetition.
        let l = r#"{"event_type":"dns","src_ip":"10.0.0.5","dest_ip":"192.0.2.53","dns":{"answers":[{"rdata":"192.0.2.1"},{"rdata":"192.0.2.2"}]}}"#;
        let e = ev(l);
        assert_eq!(field_of(&e, l, "192.0.2.2"), "dns.answers.data");
        let l = r#"{"source":{"ip":"192.0.2.9"},"event":{"action":"denied"},"network":{"direction":"inbound"},"event":{"action":"allowed"},"network":{"direction":"outbound"}}"#;
        let e = ev(l);
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
    }
}
