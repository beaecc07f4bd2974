//! Firewall lines whose fields are found by position or by phrase rather than by key: Cisco
//! ASA/FTD/PIX, pfSense `filterlog`, PAN-OS CSV, netfilter, MikroTik, Windows Firewall.

use std::ops::Range;

use super::super::event::{Action, Direction, Encoding, Event, Format};
use super::{find, has_word_ci, push_named, set_action, split_csv, trim};

/// The end of the white-space-delimited token starting at `i`.
fn token_end(line: &[u8], i: usize) -> usize {
    i + line[i..]
        .iter()
        .take_while(|c| !c.is_ascii_whitespace())
        .count()
}

/// The tokens (ranges) of `line[r]`, split on white space; at most `max`.
fn tokens(line: &[u8], r: Range<usize>, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = r.start;
    let end = r.end.min(line.len());
    while i < end && out.len() < max {
        while i < end && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= end {
            break;
        }
        let j = i + line[i..end]
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
        out.push(i..j);
        i = j;
    }
    out
}

fn is_ip(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

/// An ASA endpoint `[iface:]ip[/port]` (with trailing punctuation): (ip range, port range).
fn asa_endpoint(line: &[u8], r: Range<usize>) -> Option<(Range<usize>, Option<Range<usize>>)> {
    let mut end = r.end;
    while end > r.start && matches!(line[end - 1], b',' | b';' | b':' | b')' | b'.') {
        end -= 1;
    }
    let mut start = r.start;
    while start < end && matches!(line[start], b'(' | b'[') {
        start += 1;
    }
    let t = &line[start..end];
    let (addr, port) = match t.iter().rposition(|&c| c == b'/') {
        Some(s) => (start..start + s, Some(start + s + 1..end)),
        None => (start..end, None),
    };
    let ip = if is_ip(&line[addr.clone()]) {
        addr
    } else {
        let colon = line[addr.clone()].iter().position(|&c| c == b':')?;
        let a = addr.start + colon + 1..addr.end;
        if !is_ip(&line[a.clone()]) {
            return None;
        }
        a
    };
    let port = port.filter(|p| !p.is_empty() && line[p.clone()].iter().all(u8::is_ascii_digit));
    Some((ip, port))
}

fn asa_action(word: &[u8]) -> Option<Action> {
    let w = word.trim_ascii_end();
    let w = w.strip_suffix(b",").unwrap_or(w);
    for (k, a) in [
        (&b"deny"[..], Action::Denied),
        (b"denied", Action::Denied),
        (b"built", Action::Allowed),
        (b"teardown", Action::Allowed),
        (b"permitted", Action::Allowed),
        (b"accessed", Action::Allowed),
        (b"dropped", Action::Dropped),
        (b"drop", Action::Dropped),
        (b"discarded", Action::Dropped),
        (b"discard", Action::Dropped),
        (b"rejected", Action::Rejected),
        (b"shunned", Action::Blocked),
        (b"blocked", Action::Blocked),
    ] {
        if w.eq_ignore_ascii_case(k) {
            return Some(a);
        }
    }
    None
}

/// The tokens of an ASA message: white-space separated, except that a token opening with `"`,
/// `'` or `<` runs to its closing `"`, `'` or `>` (`User <a b>`, `"outside_inbound"`), so
/// that a user name or a group name is one token whatever it holds.
fn asa_tokens(line: &[u8], r: Range<usize>, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let end = r.end.min(line.len());
    let mut i = r.start;
    while i < end && out.len() < max {
        while i < end && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= end {
            break;
        }
        let close = match line[i] {
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            b'<' => Some(b'>'),
            _ => None,
        };
        let mut j = i + 1;
        if let Some(c) = close {
            while j < end && line[j] != c {
                j += 1;
            }
            j = (j + 1).min(end);
        }
        while j < end && !line[j].is_ascii_whitespace() {
            j += 1;
        }
        out.push(i..j);
        i = j;
    }
    out
}

/// Cisco ASA / FTD / PIX / FWSM: `%ASA-6-302013: Built outbound TCP connection ...`, the tag
/// at an anchor (the start of the message or of a header token), never further in the line.
pub(crate) fn asa(line: &[u8], at: usize) -> Option<Event> {
    let rest = line.get(at..)?;
    let tag = [&b"%ASA-"[..], b"%FTD-", b"%PIX-", b"%FWSM-"]
        .iter()
        .find_map(|t| rest.starts_with(t).then(|| at + t.len()))?;
    // `sev-msgid:` then the message.
    let mut m = tag;
    while m < line.len() && (line[m].is_ascii_digit() || line[m] == b'-') {
        m += 1;
    }
    if m == tag {
        return None;
    }
    if line.get(m) == Some(&b':') {
        m += 1;
    }
    let words = asa_tokens(line, m..line.len(), 256);
    let mut ev = Event::new(Format::CiscoAsa);
    ev.push(
        "event.code",
        trim(line, tag..m.saturating_sub(1).max(tag)),
        Encoding::Raw,
    );
    // The verb comes first in every ASA message; what follows may be a user name or a URL.
    ev.action = words
        .iter()
        .take(8)
        .find_map(|w| asa_action(&line[w.clone()]));
    for w in words.iter().take(4) {
        let w = &line[w.clone()];
        if w.eq_ignore_ascii_case(b"inbound") {
            ev.network_direction = Some(Direction::Inbound);
        } else if w.eq_ignore_ascii_case(b"outbound") {
            ev.network_direction = Some(Direction::Outbound);
        }
    }
    let word_is = |i: usize, k: &[u8]| words.get(i).is_some_and(|w| &line[w.clone()] == k);
    // The first usable endpoint among the two tokens after keyword `from`.
    let endpoint_after = |from: usize| {
        (from..(from + 2).min(words.len()))
            .find_map(|j| asa_endpoint(line, words[j].clone()).map(|e| (j, e)))
    };
    let built_outbound = word_is(0, b"Built") && ev.network_direction == Some(Direction::Outbound);
    let pairs: [(&[u8], &[u8]); 5] = [
        (b"src", b"dst"),
        (b"src", b"dest"),
        (b"SRC", b"DEST"),
        (b"for", b"to"),
        (b"from", b"to"),
    ];
    // Endpoints are read before an unquoted user name (`user = a from b`, `Username: a`):
    // it is what a client typed.
    let before_user = words
        .windows(2)
        .position(|w| {
            let (k, next) = (&line[w[0].clone()], &line[w[1].clone()]);
            let k = k.strip_suffix(b":").unwrap_or(k);
            (k.eq_ignore_ascii_case(b"user") || k.eq_ignore_ascii_case(b"username"))
                && (matches!(next, b"=" | b":") || line[w[0].clone()].ends_with(b":"))
        })
        .unwrap_or(words.len());
    let mut found = false;
    for (a, b) in pairs {
        let Some(i) = words[..before_user]
            .iter()
            .position(|w| &line[w.clone()] == a)
        else {
            continue;
        };
        let Some((j, src)) = endpoint_after(i + 1) else {
            continue;
        };
        let dst = words[j + 1..]
            .iter()
            .position(|w| &line[w.clone()] == b)
            .and_then(|k| endpoint_after(j + 1 + k + 1).map(|(_, e)| e));
        let (sn, dn) = if a == b"for" && built_outbound {
            (
                ("destination.ip", "destination.port"),
                ("source.ip", "source.port"),
            )
        } else {
            (
                ("source.ip", "source.port"),
                ("destination.ip", "destination.port"),
            )
        };
        for (names, e) in [(sn, Some(src)), (dn, dst)] {
            if let Some((ip, port)) = e {
                ev.push(names.0, ip, Encoding::Raw);
                if let Some(p) = port {
                    ev.push(names.1, p, Encoding::Raw);
                }
            }
        }
        found = true;
        break;
    }
    // `Accessed URL 1.2.3.4:http://...` and `Access denied URL http://... SRC a DEST b`.
    if let Some(u) = words.iter().position(|w| &line[w.clone()] == b"URL")
        && let Some(t) = words.get(u + 1)
    {
        let tok = &line[t.clone()];
        let url_at = find(tok, b"://").map(|p| {
            let scheme = tok[..p]
                .iter()
                .rposition(|c| !c.is_ascii_alphabetic())
                .map_or(0, |s| s + 1);
            t.start + scheme
        });
        if let Some(s) = url_at {
            if s > t.start + 1 && is_ip(&line[t.start..s - 1]) {
                ev.push("destination.ip", t.start..s - 1, Encoding::Raw);
            }
            ev.push("url.original", s..t.end, Encoding::Raw);
            if !found
                && let Some(first) = words.first()
                && is_ip(&line[first.clone()])
            {
                ev.push("source.ip", first.clone(), Encoding::Raw);
            }
        }
    }
    if let Some(u) = words
        .iter()
        .position(|w| line[w.clone()].eq_ignore_ascii_case(b"user"))
        && let Some(t) = words.get(u + 1)
    {
        let name = super::unquote(line, t.clone());
        let name = trim_punct(line, name);
        if !name.is_empty() && line[name.clone()] != *b"=" {
            ev.push("user.name", name, Encoding::Raw);
        }
    }
    Some(ev)
}

fn trim_punct(line: &[u8], r: Range<usize>) -> Range<usize> {
    let (mut s, mut e) = (r.start, r.end);
    while s < e && matches!(line[s], b'\'' | b'"') {
        s += 1;
    }
    while e > s && matches!(line[e - 1], b'\'' | b'"' | b',' | b':' | b'.') {
        e -= 1;
    }
    s..e
}

/// pfSense / OPNsense `filterlog`: rule,subrule,anchor,tracker,iface,reason,action,dir,ipver,...
pub(crate) fn pfsense(line: &[u8], at: usize) -> Option<Event> {
    // The program is `filterlog` (the tag of the syslog header, or of a line without one:
    // `filterlog: 5,,,...`) and its CSV is the message: `filterlog` elsewhere means nothing.
    let first = super::skip_ws(line, 0);
    if !super::tag_is(line, first, at, b"filterlog") {
        return None;
    }
    let csv = super::message_start(line, first, at);
    if !line.get(csv).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let f = split_csv(line, csv..line.len(), b',', 64);
    if f.len() < 10 {
        return None;
    }
    let get = |i: usize| f.get(i).map(|r| &line[r.clone()]);
    let action = get(6)?;
    if !matches!(action, b"pass" | b"block" | b"reject") {
        return None;
    }
    let mut ev = Event::new(Format::PfSense);
    ev.action = Some(match action {
        b"pass" => Action::Allowed,
        b"block" => Action::Blocked,
        _ => Action::Rejected,
    });
    ev.network_direction = match get(7) {
        Some(b"in") => Some(Direction::Inbound),
        Some(b"out") => Some(Direction::Outbound),
        _ => None,
    };
    ev.push("rule.id", f[0].clone(), Encoding::Raw);
    ev.push(
        "observer.ingress.interface.name",
        f[4].clone(),
        Encoding::Raw,
    );
    let (proto, src) = match get(8) {
        Some(b"4") => (16, 18),
        Some(b"6") => (12, 15),
        _ => return Some(ev),
    };
    for (i, name) in [(src, "source.ip"), (src + 1, "destination.ip")] {
        if let Some(r) = f.get(i) {
            ev.push(name, r.clone(), Encoding::Raw);
        }
    }
    if matches!(get(proto), Some(b"tcp" | b"udp" | b"TCP" | b"UDP")) {
        for (i, name) in [(src + 2, "source.port"), (src + 3, "destination.port")] {
            if let Some(r) = f.get(i) {
                ev.push(name, r.clone(), Encoding::Raw);
            }
        }
    }
    Some(ev)
}

/// PAN-OS CSV: `FUTURE,receive time,serial,TYPE,subtype,...`, TRAFFIC and THREAT by position.
pub(crate) fn panos(line: &[u8], at: usize) -> Option<Event> {
    const TYPES: [&[u8]; 9] = [
        b"TRAFFIC",
        b"THREAT",
        b"SYSTEM",
        b"CONFIG",
        b"HIPMATCH",
        b"GLOBALPROTECT",
        b"DECRYPTION",
        b"USERID",
        b"AUTHENTICATION",
    ];
    // The CSV starts at the anchor: `FUTURE_USE,YYYY/MM/DD hh:mm:ss,serial,TYPE,`.
    let start = at;
    let head = split_csv(line, start..line.len(), b',', 5);
    if head.len() < 5 || !TYPES.contains(&&line[head[3].clone()]) {
        return None;
    }
    let future_use = &line[head[0].clone()];
    let date = &line[head[1].clone()];
    let serial = &line[head[2].clone()];
    if !(!future_use.is_empty()
        && future_use.iter().all(u8::is_ascii_digit)
        && date.len() == 19
        && date[4] == b'/'
        && date[7] == b'/'
        && date[10] == b' '
        && date[..4].iter().all(u8::is_ascii_digit)
        && !serial.iter().any(u8::is_ascii_whitespace))
    {
        return None;
    }
    let f = split_csv(line, start..line.len(), b',', 128);
    let get = |i: usize| f.get(i).map(|r| &line[r.clone()]).unwrap_or_default();
    let mut ev = Event::new(Format::PanOs);
    ev.push("observer.serial_number", f[2].clone(), Encoding::Raw);
    let ty = get(3);
    if ty != b"TRAFFIC" && ty != b"THREAT" {
        return Some(ev);
    }
    let named = [
        (7, "source.ip"),
        (8, "destination.ip"),
        (9, "source.nat.ip"),
        (10, "destination.nat.ip"),
        (11, "rule.name"),
        (12, "source.user.name"),
        (13, "destination.user.name"),
        (14, "network.application"),
        (24, "source.port"),
        (25, "destination.port"),
        (26, "source.nat.port"),
        (27, "destination.nat.port"),
    ];
    for (i, n) in named {
        if let Some(r) = f.get(i) {
            ev.push(n, r.clone(), Encoding::Raw);
        }
    }
    let action = get(30);
    ev.action = Action::from_word(action).or_else(|| {
        if action.starts_with(b"block") || action == b"sinkhole" {
            Some(Action::Blocked)
        } else if action.starts_with(b"drop") {
            Some(Action::Dropped)
        } else if action.starts_with(b"reset") {
            Some(Action::Reset)
        } else {
            None
        }
    });
    if ty == b"THREAT" {
        let misc = match get(4) {
            b"url" => "url.original",
            b"file" | b"virus" | b"wildfire" => "file.name",
            _ => "panos.misc",
        };
        if let Some(r) = f.get(31) {
            ev.push(misc, r.clone(), Encoding::Raw);
        }
        if let Some(r) = f.get(32) {
            ev.push("rule.name", r.clone(), Encoding::Raw);
        }
    }
    Some(ev)
}

/// netfilter `LOG`/ufw: `PREFIX IN=eth0 OUT= SRC=... DST=... PROTO=TCP SPT=... DPT=...`.
/// The kernel writes `IN=` and `OUT=` first, after the log prefix (a few words the admin
/// chose): `IN=` must be among the first words of the message, and every key is a word of
/// the kernel's own `KEY=value` run. The first of a key wins (an ICMP error repeats the inner
/// packet's `SRC=`/`DST=` in brackets after the outer ones).
pub(crate) fn netfilter(line: &[u8], at: usize) -> Option<Event> {
    let mut words = tokens(line, at..line.len(), 256);
    // The log prefix may be glued to `IN=` (`DROP(src wan)IN=eth0`).
    let (i, glued) = words.iter().take(6).enumerate().find_map(|(n, w)| {
        let t = &line[w.clone()];
        let p = find(t, b"IN=")?;
        (p == 0 || !t[p - 1].is_ascii_alphanumeric()).then_some((n, p))
    })?;
    words[i].start += glued;
    if line[at..words[i].start].contains(&b'"')
        || !words
            .get(i + 1)
            .is_some_and(|w| line[w.clone()].starts_with(b"OUT="))
    {
        return None;
    }
    let mut ps: Vec<(Range<usize>, Range<usize>, bool)> = Vec::new();
    for w in &words[i..] {
        let t = &line[w.clone()];
        let Some(eq) = t.iter().position(|&c| c == b'=') else {
            continue;
        };
        let (k, v) = (w.start..w.start + eq, w.start + eq + 1..w.end);
        if !ps
            .iter()
            .any(|(k2, _, _)| line[k2.clone()] == line[k.clone()])
        {
            ps.push((k, v, false));
        }
    }
    let has = |key: &[u8]| ps.iter().any(|(k, _, _)| &line[k.clone()] == key);
    if !(has(b"SRC") && has(b"DST")) {
        return None;
    }
    let mut ev = Event::new(Format::Netfilter);
    let prefix = &line[at..words[i].start];
    for (w, a) in [
        (&b"drop"[..], Action::Dropped),
        (b"reject", Action::Rejected),
        (b"block", Action::Blocked),
        (b"deny", Action::Denied),
        (b"denied", Action::Denied),
        (b"accept", Action::Allowed),
        (b"allow", Action::Allowed),
    ] {
        if has_word_ci(prefix, w) {
            ev.action = Some(a);
            break;
        }
    }
    let (mut i_in, mut i_out) = (None, None);
    for (k, v, _) in &ps {
        let name = match &line[k.clone()] {
            b"SRC" => "source.ip",
            b"DST" => "destination.ip",
            b"SPT" => "source.port",
            b"DPT" => "destination.port",
            b"IN" => {
                i_in = Some(!v.is_empty());
                "observer.ingress.interface.name"
            }
            b"OUT" => {
                i_out = Some(!v.is_empty());
                "observer.egress.interface.name"
            }
            b"PROTO" => "network.transport",
            b"MAC" => "netfilter.MAC",
            _ => continue,
        };
        ev.push(name, v.clone(), Encoding::Raw);
    }
    ev.network_direction = match (i_in, i_out) {
        (Some(true), Some(false)) => Some(Direction::Inbound),
        (Some(false), Some(true)) => Some(Direction::Outbound),
        _ => None,
    };
    Some(ev)
}

/// `ip:port`, `[v6]:port` or a bare address: (ip range, port range).
fn host_port(line: &[u8], r: Range<usize>) -> Option<(Range<usize>, Option<Range<usize>>)> {
    let t = &line[r.clone()];
    if t.first() == Some(&b'[') {
        let close = t.iter().position(|&c| c == b']')?;
        let ip = r.start + 1..r.start + close;
        if !is_ip(&line[ip.clone()]) {
            return None;
        }
        let port = (t.get(close + 1) == Some(&b':')).then(|| r.start + close + 2..r.end);
        return Some((ip, port));
    }
    if is_ip(t) {
        return Some((r, None));
    }
    let colon = t.iter().rposition(|&c| c == b':')?;
    let ip = r.start..r.start + colon;
    is_ip(&line[ip.clone()]).then(|| (ip, Some(r.start + colon + 1..r.end)))
}

/// MikroTik: `PREFIX CHAIN: in:IF out:IF, ..., proto TCP (SYN), 1.2.3.4:5->6.7.8.9:10, len 40`.
/// The chain (`input:`, `forward:`, ...) followed by `in:` must be among the first words of
/// the message, and the flow is the first comma-separated part after it that is exactly
/// `address->address`.
pub(crate) fn mikrotik(line: &[u8], at: usize) -> Option<Event> {
    let words = tokens(line, at..line.len(), 8);
    let k = words.windows(2).position(|w| {
        line[w[0].clone()].ends_with(b":") && line[w[1].clone()].starts_with(b"in:")
    })?;
    if words[..=k].iter().any(|w| line[w.clone()].contains(&b'"')) {
        return None;
    }
    let in_at = words[k + 1].start;
    let mut flow = None;
    let mut i = in_at;
    while i < line.len() && flow.is_none() {
        let end = find(&line[i..], b", ").map_or(line.len(), |p| i + p);
        let seg = trim(line, i..end);
        let t = &line[seg.clone()];
        if t.contains(&b'"') {
            break;
        }
        if let Some(a) = find(t, b"->")
            && !t.iter().any(u8::is_ascii_whitespace)
        {
            let arrow = seg.start + a;
            flow = host_port(line, seg.start..arrow).zip(host_port(line, arrow + 2..seg.end));
        }
        i = end + 2;
    }
    let ((sip, sport), (dip, dport)) = flow?;
    let mut ev = Event::new(Format::Mikrotik);
    ev.push("source.ip", sip, Encoding::Raw);
    if let Some(p) = sport {
        ev.push("source.port", p, Encoding::Raw);
    }
    ev.push("destination.ip", dip, Encoding::Raw);
    if let Some(p) = dport {
        ev.push("destination.port", p, Encoding::Raw);
    }
    let prefix = &line[at..words[k].end];
    for w in [&b"drop"[..], b"reject", b"accept"] {
        if has_word_ci(prefix, w) {
            set_action(&mut ev, w);
            break;
        }
    }
    if prefix.ends_with(b"input:") {
        ev.network_direction = Some(Direction::Inbound);
    } else if prefix.ends_with(b"output:") {
        ev.network_direction = Some(Direction::Outbound);
    }
    let s = in_at + 3;
    let e = token_end(line, s);
    let e = if line[s..e].ends_with(b",") { e - 1 } else { e };
    ev.push("observer.ingress.interface.name", s..e, Encoding::Raw);
    Some(ev)
}

/// Windows Firewall `pfirewall.log` (W3C, default `#Fields`): date time action protocol src-ip
/// dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path.
pub(crate) fn windows_firewall(line: &[u8], body: usize) -> Option<Event> {
    let t = tokens(line, body..line.len(), 20);
    if t.len() < 8 {
        return None;
    }
    let w = |i: usize| &line[t[i].clone()];
    let date = w(0);
    if !(date.len() == 10
        && date[4] == b'-'
        && date[7] == b'-'
        && w(1).len() >= 8
        && w(1)[2] == b':')
    {
        return None;
    }
    let action = match w(2) {
        b"DROP" => Action::Dropped,
        b"ALLOW" | b"OPEN" | b"CLOSE" | b"OPEN-INBOUND" => Action::Allowed,
        _ => return None,
    };
    let mut ev = Event::new(Format::WindowsFirewall);
    ev.action = Some(action);
    for (i, n) in [
        (4, "source.ip"),
        (5, "destination.ip"),
        (6, "source.port"),
        (7, "destination.port"),
    ] {
        if w(i) != b"-" {
            push_named(&mut ev, line, n, t[i].clone(), Encoding::Raw);
        }
    }
    ev.network_direction = match t.get(16).map(|r| &line[r.clone()]) {
        Some(b"RECEIVE") => Some(Direction::Inbound),
        Some(b"SEND") => Some(Direction::Outbound),
        _ => None,
    };
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ev, field_of, field_of_nth};
    use super::*;

    #[test]
    fn cisco_asa() {
        let l = "%ASA-4-106023: Deny tcp src outside:198.51.100.4/2143 dst inside:10.0.0.9/139 by access-group \"outside_inbound\"";
        let e = ev(l);
        assert_eq!(e.format, Format::CiscoAsa);
        assert_eq!(field_of(&e, l, "198.51.100.4"), "source.ip");
        assert_eq!(field_of(&e, l, "2143"), "source.port");
        assert_eq!(field_of(&e, l, "10.0.0.9"), "destination.ip");
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.network_direction, None);

        // Outbound connections name the outside end first.
        let l = "Jan 1 00:00:00 asa %ASA-6-302013: Built outbound TCP connection 9 for outside:203.0.113.5/443 (203.0.113.5/443) to inside:10.1.1.2/53496 (192.0.2.1/53496)";
        let e = ev(l);
        assert_eq!(field_of(&e, l, "203.0.113.5"), "destination.ip");
        assert_eq!(field_of(&e, l, "10.1.1.2"), "source.ip");
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(e.destination_port(l.as_bytes()), Some(443));

        let l = "%ASA-2-106001: Inbound TCP connection denied from 198.51.100.59/54322 to 192.0.2.122/1433 flags SYN on interface outside";
        let e = ev(l);
        assert_eq!(field_of(&e, l, "198.51.100.59"), "source.ip");
        assert_eq!(field_of(&e, l, "192.0.2.122"), "destination.ip");
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        assert_eq!(e.action, Some(Action::Denied));

        let l = "%ASA-5-304002: Access denied URL http://bad.example/f.ico SRC 10.0.6.39 DEST 198.51.100.19 on interface inside";
        let e = ev(l);
        assert_eq!(field_of(&e, l, "bad.example"), "url.original");
        assert_eq!(field_of(&e, l, "10.0.6.39"), "source.ip");
        assert_eq!(field_of(&e, l, "198.51.100.19"), "destination.ip");
    }

    #[test]
    fn pfsense_v4_v6() {
        let l = "<134>1 2025-01-01T00:00:00+00:00 fw filterlog 1 - - 7,,,1000000102,vtnet0,match,block,in,4,0x0,,64,1,0,DF,6,tcp,60,198.51.100.6,10.0.0.100,42970,80,0,S,1,,64240,,mss";
        let e = ev(l);
        assert_eq!(e.format, Format::PfSense);
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        assert_eq!(field_of(&e, l, "198.51.100.6"), "source.ip");
        assert_eq!(field_of(&e, l, "10.0.0.100"), "destination.ip");
        assert_eq!(e.destination_port(l.as_bytes()), Some(80));
        let l = "Jan 22 18:34:00 fw filterlog: 5,,,100,em0,match,pass,out,6,0x00,0x0,64,udp,17,44,2001:db8::5,2001:db8::1:7,5353,53,44";
        let e = ev(l);
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("2001:db8::5".parse().unwrap())
        );
        assert_eq!(e.destination_port(l.as_bytes()), Some(53));
    }

    #[test]
    fn panos_traffic_threat() {
        let l = "Jan 1 00:00:00 pa 1,2024/01/01 00:00:00,0011,THREAT,url,1,2024/01/01 00:00:00,10.0.0.7,198.51.100.80,192.0.2.1,198.51.100.80,rule1,alice,,web-browsing,vsys1,trust,untrust,e1/1,e1/2,fwd,2024/01/01 00:00:00,1,1,50000,80,40000,80,0x0,tcp,block-url,\"bad.example/x.php\",Evil(1),any,high,client-to-server";
        let e = ev(l);
        assert_eq!(e.format, Format::PanOs);
        assert_eq!(field_of(&e, l, "10.0.0.7"), "source.ip");
        assert_eq!(field_of(&e, l, "198.51.100.80"), "destination.ip");
        assert_eq!(field_of(&e, l, "192.0.2.1"), "source.nat.ip");
        assert_eq!(
            field_of_nth(&e, l, "198.51.100.80", 1),
            "destination.nat.ip"
        );
        assert_eq!(field_of(&e, l, "bad.example/x.php"), "url.original");
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(e.destination_port(l.as_bytes()), Some(80));
        let l = "1,2024/01/01 00:00:00,0011,TRAFFIC,drop,1,2024/01/01 00:00:00,198.51.100.3,10.0.0.4,,,deny-all,,,not-applicable,vsys1,u,t,e1/1,,fwd,2024/01/01 00:00:00,0,1,500,500,0,0,0x0,udp,deny";
        let e = ev(l);
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(field_of(&e, l, "198.51.100.3"), "source.ip");
    }

    #[test]
    fn netfilter_prefix_and_interfaces() {
        let l = "Feb  4 23:33:37 host kernel: [UFW BLOCK] IN=eth0 OUT= MAC=aa:bb SRC=198.51.100.1 DST=10.0.0.2 LEN=40 PROTO=TCP SPT=4444 DPT=22";
        let e = ev(l);
        assert_eq!(e.format, Format::Netfilter);
        assert_eq!(e.action, Some(Action::Blocked));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        assert_eq!(field_of(&e, l, "198.51.100.1"), "source.ip");
        assert_eq!(e.destination_port(l.as_bytes()), Some(22));
        let l = "Feb  4 23:33:37 host kernel: FIREWALL_OUT IN= OUT=eth0 SRC=10.0.0.2 DST=203.0.113.225 LEN=40";
        let e = ev(l);
        assert_eq!(e.action, None);
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(field_of(&e, l, "203.0.113.225"), "destination.ip");
    }

    #[test]
    fn mikrotik_v4_v6() {
        let l = "2023-03-18T20:35:05+01:00 192.0.2.1 firewall,info drop-in input: in:ether1-WAN out:(unknown 0), connection-state:new proto UDP, 198.51.100.68:44355->192.0.2.145:53, len 65";
        let e = ev(l);
        assert_eq!(e.format, Format::Mikrotik);
        assert_eq!(field_of(&e, l, "198.51.100.68"), "source.ip");
        assert_eq!(field_of(&e, l, "192.0.2.145"), "destination.ip");
        assert_eq!(e.action, Some(Action::Dropped));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        let l = "2026-01-01T00:00:00+02:00 gw firewall,info forward: in:WAN out:LAN, proto TCP (SYN), [2001:db8::1]:40384->[2001:db8::2]:443, len 24";
        let e = ev(l);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(e.destination_port(l.as_bytes()), Some(443));
        assert_eq!(e.network_direction, None);
    }

    #[test]
    fn windows_firewall_log() {
        let l = "2024-04-11 08:05:57 DROP TCP 198.51.100.90 10.0.0.90 80 1774 576 A 1 2 3 - - - RECEIVE";
        let e = ev(l);
        assert_eq!(e.format, Format::WindowsFirewall);
        assert_eq!(e.action, Some(Action::Dropped));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        assert_eq!(field_of(&e, l, "198.51.100.90"), "source.ip");
        assert_eq!(e.destination_port(l.as_bytes()), Some(1774));
    }

    #[test]
    fn firewall_markers_only_where_the_format_starts() {
        // A tag, a program name, a type column, a key run or an arrow inside another
        // program's message: not that firewall.
        for l in [
            "Jan  1 00:00:00 web01 app: user said %ASA-4-106023: Deny tcp src outside:10.0.9.5/1 dst inside:10.0.9.6/2",
            "Jan  1 00:00:00 web01 app: x filterlog 5,,,100,em0,match,pass,out,4,0x0,,64,1,0,DF,6,tcp,60,10.0.9.5,10.0.9.6,1,2",
            "Jan  1 00:00:00 web01 app: q=1,2024/01/01 00:00:00,0011,TRAFFIC,end,1,2024/01/01 00:00:00,10.0.9.5,10.0.9.6",
            "Jan  1 00:00:00 web01 app: a b c d e f IN=eth0 OUT= SRC=10.0.9.5 DST=10.0.9.6",
            r#"Jan  1 00:00:00 web01 app: "IN=eth0 OUT= SRC=10.0.9.5 DST=10.0.9.6""#,
            "Jan  1 00:00:00 web01 app: got 10.0.9.5:1->10.0.9.6:2",
        ] {
            let e = super::super::super::event::decode(l.as_bytes(), None);
            assert!(
                e.as_ref().is_none_or(|e| !matches!(
                    e.format,
                    Format::CiscoAsa
                        | Format::PfSense
                        | Format::PanOs
                        | Format::Netfilter
                        | Format::Mikrotik
                )),
                "{l}: {e:?}"
            );
        }
        // The PAN-OS type inside a quoted value once made a CSV of fewer than three fields.
        let l = r#"a "b,2024/01/01 00:00:00,"0011,TRAFFIC,x"#;
        assert!(panos(l.as_bytes(), 0).is_none());
    }

    /// An unquoted ASA user name is what a client typed: endpoints and the verdict come from
    /// the device's words before it.
    #[test]
    fn asa_user_names_do_not_name_endpoints() {
        let l = "%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 192.0.2.10 : user = admin from 10.0.9.5 to 10.0.9.6 permitted : user IP = 198.51.100.3";
        let e = ev(l);
        assert_eq!(e.format, Format::CiscoAsa);
        assert_eq!(e.source_ip(l.as_bytes()), None);
        assert_eq!(e.action, Some(Action::Rejected));
        let l = "%ASA-6-716001: Group <g> User <deny from 10.0.9.5/1 to 10.0.9.6/2> IP <198.51.100.4> WebVPN session started.";
        let e = ev(l);
        assert_eq!(e.source_ip(l.as_bytes()), None);
        assert_eq!(e.action, None);
    }

    #[test]
    fn netfilter_first_key_wins_and_glued_prefix() {
        // An ICMP error repeats the inner packet's addresses in brackets after the outer ones.
        let l = "Feb  4 23:33:37 host kernel: DROP(src wan)IN=eth0 OUT= SRC=198.51.100.1 DST=10.0.0.2 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.0.2 DST=203.0.113.9 ] SRC=10.0.9.5";
        let e = ev(l);
        assert_eq!(e.format, Format::Netfilter);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            e.destination_ip(l.as_bytes()),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(e.action, Some(Action::Dropped));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
    }
}
