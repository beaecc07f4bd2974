//! ArcSight CEF and IBM LEEF.
//!
//! CEF: `CEF:Version|Vendor|Product|DeviceVersion|SignatureID|Name|Severity|Extension`, where
//! header fields escape `|` as `\|` and the extension is `key=value` pairs separated by
//! spaces, values holding spaces and escaping `=` as `\=`. A value ends where the next
//! ` key=` starts: an `=` counts as a pair separator only when the word before it is a key
//! that starts after a space (so `msg=lang=en` is one value). Also read: the header after a
//! syslog header, with a space after `CEF:`, and the header-less `0|Vendor|...` that some
//! senders emit. Custom fields (`cs3=...` with `cs3Label=ProxyIP`) are named by their label
//! (`cef.ProxyIP`).
//!
//! LEEF: `LEEF:1.0|Vendor|Product|Version|EventID|` then tab-separated `key=value`;
//! `LEEF:2.0|...|EventID|DELIM|` names its own delimiter (a character or its hex `x5E`,
//! `0x5E`, or `\t`). A sender that separates with spaces anyway is read like CEF.

use std::borrow::Cow;
use std::ops::Range;

use super::super::event::{Direction, Encoding, Event, Format};
use super::{
    alias, has_word_ci, is_action_key, push_named, set_action, set_direction, trim, unquote,
};

/// Positions of the first `n` unescaped `|` from `start`.
fn pipes(line: &[u8], start: usize, n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut i = start;
    while i < line.len() && out.len() < n {
        match line[i] {
            b'\\' => i += 2,
            b'|' => {
                out.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// `key=value` pairs of a CEF-style extension in `line[r]`: (key range, value range).
pub(crate) fn extension(line: &[u8], r: Range<usize>) -> Vec<(Range<usize>, Range<usize>)> {
    let is_key = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'[' | b']');
    let mut keys: Vec<(usize, usize)> = Vec::new(); // (key start, '=' position)
    let mut i = r.start;
    while i < r.end {
        match line[i] {
            b'\\' => i += 2,
            b'=' => {
                let mut k = i;
                while k > r.start && is_key(line[k - 1]) {
                    k -= 1;
                }
                if k < i && (k == r.start || line[k - 1] == b' ' || line[k - 1] == b'\t') {
                    keys.push((k, i));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for (n, &(k, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(r.end, |&(next, _)| next);
        let v = trim(line, eq + 1..end.max(eq + 1));
        out.push((k..eq, unquote(line, v)));
    }
    out
}

/// Whether `key` is already among the keys of `before` (first wins: see
/// [`super::super::event`]).
fn is_repeated(line: &[u8], before: &[(Range<usize>, Range<usize>)], key: &[u8]) -> bool {
    before.iter().any(|(k, _)| &line[k.clone()] == key)
}

/// ECS names of CEF extension keys (the dictionary's own, then the shared aliases).
fn cef_name(key: &[u8]) -> Option<&'static str> {
    Some(match key {
        b"src" | b"c6a2" => "source.ip",
        b"dst" | b"c6a3" => "destination.ip",
        b"spt" => "source.port",
        b"dpt" => "destination.port",
        b"shost" => "source.domain",
        b"dhost" => "destination.domain",
        b"suser" => "source.user.name",
        b"duser" => "destination.user.name",
        b"request" => "url.original",
        b"requestClientApplication" => "user_agent.original",
        b"requestMethod" => "http.request.method",
        b"requestContext" => "http.request.referrer",
        b"fname" => "file.name",
        b"filePath" => "file.path",
        b"act" => "event.action",
        b"dvc" => "observer.ip",
        b"dvchost" => "observer.hostname",
        b"msg" => "message",
        b"app" => "network.protocol",
        b"proto" => "network.transport",
        b"outcome" => "event.outcome",
        b"sproc" => "process.name",
        b"dproc" => "process.name",
        b"sourceTranslatedAddress" => "source.nat.ip",
        b"destinationTranslatedAddress" => "destination.nat.ip",
        b"sourceDnsDomain" => "source.registered_domain",
        b"destinationDnsDomain" => "destination.registered_domain",
        b"deviceDirection" | b"cat" | b"in" | b"out" | b"rt" | b"cnt" => return None,
        _ => return alias(key).filter(|&n| n != "event.action"),
    })
}

/// A hash field named by its length: 32, 40 or 64 hex digits.
fn hash_name(v: &[u8]) -> &'static str {
    let hex = v.iter().all(u8::is_ascii_hexdigit);
    match v.len() {
        32 if hex => "file.hash.md5",
        40 if hex => "file.hash.sha1",
        64 if hex => "file.hash.sha256",
        _ => "file.hash",
    }
}

/// Where the CEF header's version starts when the format starts at `at`: `CEF:0|...`,
/// `CEF: 0|...`, or the header-less `0|Vendor|...`. Never a `CEF:` further in the line: a
/// user agent or a URL that holds one is not a CEF event.
fn cef_start(line: &[u8], at: usize) -> Option<usize> {
    let b = line.get(at..)?;
    let version = |v: &[u8]| v.len() > 2 && v[0].is_ascii_digit() && (v[1] == b'|' || v[1] == b'.');
    if let Some(rest) = b.strip_prefix(b"CEF:") {
        let sp = rest.iter().take_while(|&&c| c == b' ').count();
        return version(&rest[sp..]).then_some(at + 4 + sp);
    }
    (b.len() > 2 && b[0].is_ascii_digit() && b[1] == b'|').then_some(at)
}

pub(crate) fn decode_cef(line: &[u8], at: usize) -> Option<Event> {
    let start = cef_start(line, at)?;
    let p = pipes(line, start, 7);
    if p.len() < 7 {
        return None;
    }
    let mut ev = Event::new(Format::Cef);
    let header = |a: usize, b: usize| trim(line, a + 1..b);
    ev.push("observer.vendor", header(p[0], p[1]), Encoding::Cef);
    ev.push("observer.product", header(p[1], p[2]), Encoding::Cef);
    ev.push("event.code", header(p[3], p[4]), Encoding::Cef);
    let name = header(p[4], p[5]);
    ev.push("message", name.clone(), Encoding::Cef);
    let ext = extension(line, p[6] + 1..line.len());
    let label_of = |key: &[u8]| -> Option<Range<usize>> {
        let mut label = key.to_vec();
        label.extend_from_slice(b"Label");
        ext.iter()
            .find(|(k, _)| line[k.clone()] == label[..])
            .map(|(_, v)| v.clone())
    };
    for (n, (k, v)) in ext.iter().enumerate() {
        let key = &line[k.clone()];
        if key.ends_with(b"Label") {
            continue;
        }
        if is_repeated(line, &ext[..n], key) {
            // First wins: a key written again later (by a device that does not escape `=`
            // in a value that holds attacker text) is located, never the event's own.
            let mut name = String::from("cef.");
            name.push_str(&String::from_utf8_lossy(key));
            ev.push(Cow::Owned(name), v.clone(), Encoding::Cef);
            continue;
        }
        if key == b"deviceDirection" {
            ev.network_direction = match &line[v.clone()] {
                b"0" => Some(Direction::Inbound),
                b"1" => Some(Direction::Outbound),
                _ => None,
            };
            continue;
        }
        if key == b"act" {
            set_action(&mut ev, &line[v.clone()]);
        }
        if super::is_direction_key(key) {
            set_direction(&mut ev, &line[v.clone()]);
        }
        if key == b"fileHash" || key == b"oldFileHash" {
            ev.push(hash_name(&line[v.clone()]), v.clone(), Encoding::Cef);
            continue;
        }
        match cef_name(key) {
            Some(n) => push_named(&mut ev, line, n, v.clone(), Encoding::Cef),
            None => {
                let own = match label_of(key) {
                    Some(l) if !l.is_empty() && l.len() <= 64 => &line[l],
                    _ => key,
                };
                let mut n = String::from("cef.");
                n.push_str(&String::from_utf8_lossy(own));
                ev.push(Cow::Owned(n), v.clone(), Encoding::Cef);
            }
        }
    }
    if ev.action.is_none() {
        let name = &line[name];
        for w in [
            &b"blocked"[..],
            b"denied",
            b"dropped",
            b"rejected",
            b"block",
            b"deny",
            b"drop",
        ] {
            if has_word_ci(name, w) {
                set_action(&mut ev, w);
                break;
            }
        }
    }
    Some(ev)
}

/// The delimiter a LEEF 2.0 header names: a character, or its hex code (`x09`, `0x5E`).
fn leef_delimiter(d: &[u8]) -> Option<u8> {
    match d {
        [c] => Some(*c),
        b"\\t" => Some(b'\t'),
        _ => {
            let hex = d
                .strip_prefix(b"0x")
                .or_else(|| d.strip_prefix(b"x"))
                .or_else(|| d.strip_prefix(b"0X"))
                .or_else(|| d.strip_prefix(b"X"))?;
            u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
        }
    }
}

pub(crate) fn decode_leef(line: &[u8], at: usize) -> Option<Event> {
    let start = at + 5;
    if !line.get(at..)?.starts_with(b"LEEF:") {
        return None;
    }
    let v2 = line[start..].starts_with(b"2");
    let p = pipes(line, start, if v2 { 6 } else { 5 });
    if p.len() < 5 {
        return None;
    }
    let mut ev = Event::new(Format::Leef);
    ev.push("observer.vendor", trim(line, p[0] + 1..p[1]), Encoding::Raw);
    ev.push(
        "observer.product",
        trim(line, p[1] + 1..p[2]),
        Encoding::Raw,
    );
    ev.push("event.code", trim(line, p[3] + 1..p[4]), Encoding::Raw);
    let (delim, attrs) = if v2 && p.len() == 6 {
        (
            leef_delimiter(&line[p[4] + 1..p[5]]).unwrap_or(b'\t'),
            p[5] + 1,
        )
    } else {
        (b'\t', p[4] + 1)
    };
    let r = attrs..line.len();
    let pairs: Vec<(Range<usize>, Range<usize>)> = if line[r.clone()].contains(&delim) {
        let mut out = Vec::new();
        let mut i = r.start;
        while i < r.end {
            let end = line[i..r.end]
                .iter()
                .position(|&c| c == delim)
                .map_or(r.end, |q| i + q);
            if let Some(eq) = line[i..end].iter().position(|&c| c == b'=') {
                out.push((trim(line, i..i + eq), trim(line, i + eq + 1..end)));
            }
            i = end + 1;
        }
        out
    } else {
        extension(line, r)
    };
    for (n, (k, v)) in pairs.iter().cloned().enumerate() {
        let key = &line[k.clone()];
        if is_repeated(line, &pairs[..n], key) {
            let mut name = String::from("leef.");
            name.push_str(&String::from_utf8_lossy(key));
            ev.push(Cow::Owned(name), v, Encoding::Raw);
            continue;
        }
        if is_action_key(key) {
            set_action(&mut ev, &line[v.clone()]);
        }
        if super::is_direction_key(key) {
            set_direction(&mut ev, &line[v.clone()]);
        }
        match alias(key) {
            Some(n) => push_named(&mut ev, line, n, v, Encoding::Raw),
            None => {
                let mut n = String::from("leef.");
                n.push_str(&String::from_utf8_lossy(key));
                ev.push(Cow::Owned(n), v, Encoding::Raw);
            }
        }
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::super::event::Action;
    use super::super::testutil::{ev, field_of, field_of_nth};
    use super::*;

    #[test]
    fn cef_with_syslog_header_escapes_and_spaces() {
        let line = r"<134>Feb  1 10:00:00 fw1 CEF:0|Acme|Gate\|X|2.1|100|Blocked connection to 203.0.113.50|7|src=10.1.2.3 spt=51000 dst=203.0.113.50 dpt=443 act=blocked request=https://bad.example/a\=b c requestClientApplication=Mozilla/5.0 (X11; Linux) msg=saw 203.0.113.50 here cs1Label=Threat Feed cs1=feedA fileHash=d41d8cd98f00b204e9800998ecf8427e deviceDirection=1 duser=bob";
        let e = ev(line);
        assert_eq!(e.format, Format::Cef);
        assert_eq!(field_of(&e, line, "10.1.2.3"), "source.ip");
        assert_eq!(field_of(&e, line, "203.0.113.50"), "message");
        assert_eq!(field_of_nth(&e, line, "203.0.113.50", 1), "destination.ip");
        assert_eq!(field_of_nth(&e, line, "203.0.113.50", 2), "message");
        assert_eq!(field_of(&e, line, "bad.example"), "url.original");
        assert_eq!(field_of(&e, line, "(X11; Linux)"), "user_agent.original");
        assert_eq!(field_of(&e, line, "feedA"), "cef.Threat Feed");
        assert_eq!(
            field_of(&e, line, "d41d8cd98f00b204e9800998ecf8427e"),
            "file.hash.md5"
        );
        assert_eq!(field_of(&e, line, "Acme"), "observer.vendor");
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        let l = line.as_bytes();
        assert_eq!(e.url(l).as_deref(), Some("https://bad.example/a=b c"));
        assert_eq!(e.destination_port(l), Some(443));
        assert_eq!(e.value(l, "destination.user.name").as_deref(), Some("bob"));
        let product = e.get("observer.product").unwrap();
        assert_eq!(e.text(l, product), "Gate|X");
    }

    #[test]
    fn cef_value_with_equals_and_headerless() {
        let line = "CEF: 0|V|P|1|9|Name|3| msg=lang=en src=192.0.2.1 shost=ws1.corp.example";
        let e = ev(line);
        assert_eq!(e.value(line.as_bytes(), "message").as_deref(), Some("Name"));
        assert_eq!(field_of(&e, line, "lang=en"), "message");
        assert_eq!(field_of(&e, line, "ws1.corp"), "source.domain");
        let bare = "0|Ubq|Net|9|201|Threat Detected and Blocked|7|proto=TCP src=198.51.100.2 spt=1 dst=10.0.0.3 dpt=80";
        let e = ev(bare);
        assert_eq!(e.format, Format::Cef);
        assert_eq!(field_of(&e, bare, "198.51.100.2"), "source.ip");
        assert_eq!(e.action, Some(Action::Blocked));
        // Truncated header: not CEF.
        assert!(decode_cef(b"CEF:0|a|b|c", 0).is_none());
    }

    #[test]
    fn leef_1_and_2() {
        let v1 = "LEEF:1.0|Acme|IDS|1.0|100|src=192.0.2.7\tdst=10.0.0.9\tsrcPort=1234\tdstPort=80\tusrName=alice\turl=http://bad.example/x\taction=DENY";
        let e = ev(v1);
        assert_eq!(e.format, Format::Leef);
        assert_eq!(field_of(&e, v1, "192.0.2.7"), "source.ip");
        assert_eq!(field_of(&e, v1, "bad.example"), "url.original");
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.user_name(v1.as_bytes()).as_deref(), Some("alice"));
        assert_eq!(e.destination_port(v1.as_bytes()), Some(80));
        let v2 = "Jan  1 00:00:00 host LEEF:2.0|Acme|FW|2|7|^|src=192.0.2.8^dst=10.0.0.1^action=allow^custom=x 198.51.100.1";
        let e = ev(v2);
        assert_eq!(field_of(&e, v2, "192.0.2.8"), "source.ip");
        assert_eq!(field_of(&e, v2, "198.51.100.1"), "leef.custom");
        assert_eq!(e.action, Some(Action::Allowed));
        let hex = "LEEF:2.0|A|B|1|2|x7C|src=192.0.2.9|dst=10.0.0.1";
        assert_eq!(field_of(&ev(hex), hex, "192.0.2.9"), "source.ip");
    }

    #[test]
    fn cef_only_where_it_starts() {
        // After a device tag (F5 `ASM:`), with or without a space: still CEF.
        for l in [
            "<134>Sep 19 13:35:00 bigip ASM:CEF:0|F5|ASM|11.3.0|1|x|2| src=192.0.2.5",
            "May  4 18:23:02 bigip ASM: CEF:0|F5|ASM|14.1.2|1|x|2|src=192.0.2.5",
        ] {
            let e = ev(l);
            assert_eq!(e.format, Format::Cef, "{l}");
            assert_eq!(field_of(&e, l, "192.0.2.5"), "source.ip");
        }
        // Inside another format's quoted value: not CEF.
        let l = r#"date=2024-01-01 devid=FGT logid="1" srcip=192.0.2.7 msg="x CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed""#;
        let e = ev(l);
        assert_eq!(e.format, Format::Fortigate);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(e.action, None);
        assert!(decode_cef(l.as_bytes(), 0).is_none());
        assert!(decode_leef(b"x LEEF:1.0|a|b|c|d|src=10.0.9.5", 0).is_none());
    }

    /// First wins: a key written again in the extension (a device that does not escape `=`
    /// in a value holding a client's text) is not the event's own.
    #[test]
    fn repeated_cef_key_is_not_the_event_s() {
        let l = "CEF:0|V|P|1|9|Name|3|src=192.0.2.1 dst=- act=blocked requestClientApplication=x src=10.0.9.5 dst=10.0.9.6 act=allowed";
        let e = ev(l);
        let b = l.as_bytes();
        assert_eq!(e.source_ip(b), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(e.destination_ip(b), None);
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(field_of(&e, l, "10.0.9.5"), "cef.src");
        let l = "LEEF:1.0|A|B|1|2|src=192.0.2.7\taction=DENY\tsrc=10.0.9.5\taction=allow";
        let e = ev(l);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(e.action, Some(Action::Denied));
    }
}
