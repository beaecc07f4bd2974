//! `key=value` logs (FortiGate, SonicWall, Sophos, Huawei and others), Check Point's
//! `[key:"value"; ...]`, and RFC 5424 structured data `[id key="value" ...]` (Junos
//! `RT_FLOW`/`RT_IDS` among others).
//!
//! Keys are named with the shared alias table ([`super::alias`]); a key it does not know keeps
//! its name under the format (`fortigate.devid`, `sd.meta.sequenceId`). A value is either
//! quoted (`"..."`, backslash escapes, the range excludes the quotes) or runs to the next white
//! space. An address written with its port (`src=1.2.3.4:4507:WAN`) gives an address field and
//! a port field.

use std::borrow::Cow;
use std::ops::Range;

use super::super::event::{Action, Encoding, Event, Format};
use super::{
    alias, find, has_word_ci, is_action_key, is_direction_key, push_named, set_action,
    set_direction,
};

const MAX_PAIRS: usize = 512;

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// `key=value` pairs from `start`: (key, value, quoted). Keys are read at the top level
/// only: a quoted string that is not a value (`msg "a=b c=d"`) is skipped whole, and a value
/// is skipped whole once read, so text inside a value or a quoted string (a user agent, a
/// URL's query string) never yields a key.
pub(crate) fn pairs(line: &[u8], start: usize) -> Vec<(Range<usize>, Range<usize>, bool)> {
    let mut out = Vec::new();
    let mut i = start;
    while i < line.len() && out.len() < MAX_PAIRS {
        if line[i] == b'"' {
            i = quoted_end(line, i) + 1;
            continue;
        }
        if line[i] != b'=' {
            i += 1;
            continue;
        }
        let mut k = i;
        while k > start && is_key_char(line[k - 1]) {
            k -= 1;
        }
        let before_ok =
            k == start || matches!(line[k - 1], b' ' | b'\t' | b',' | b'(' | b';' | b'[');
        if k == i || !before_ok {
            i += 1;
            continue;
        }
        let v = i + 1;
        if line.get(v) == Some(&b'"') {
            let end = quoted_end(line, v);
            out.push((k..i, v + 1..end, true));
            i = end + 1;
        } else {
            let mut j = v;
            while j < line.len() && !line[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut end = j;
            while end > v && matches!(line[end - 1], b',' | b';') {
                end -= 1;
            }
            out.push((k..i, v..end, false));
            i = j;
        }
    }
    out
}

/// The closing quote of the string whose opening quote is at `open` (backslash escapes
/// skipped), or the line's end.
fn quoted_end(line: &[u8], open: usize) -> usize {
    let mut j = open + 1;
    while j < line.len() && line[j] != b'"' {
        j += if line[j] == b'\\' { 2 } else { 1 };
    }
    j.min(line.len())
}

/// Whether the key of pair `n` came before, case aside: the first of a key wins.
fn repeated<V>(line: &[u8], ps: &[(Range<usize>, V)], n: usize) -> bool {
    let key = &line[ps[n].0.clone()];
    ps[..n]
        .iter()
        .any(|(k, _)| line[k.clone()].eq_ignore_ascii_case(key))
}

pub(crate) fn key_value(line: &[u8], body: usize) -> Option<Event> {
    let ps = pairs(line, body);
    if ps.len() < 3 {
        return None;
    }
    let has = |key: &[u8]| {
        ps.iter()
            .any(|(k, _, _)| line[k.clone()].eq_ignore_ascii_case(key))
    };
    let value_is = |key: &[u8], v: &[u8]| {
        ps.iter()
            .any(|(k, val, _)| &line[k.clone()] == key && line[val.clone()].starts_with(v))
    };
    let format = if value_is(b"device", b"SFW") || has(b"log_component") {
        Format::Sophos
    } else if (has(b"logid") || has(b"log_id"))
        && (has(b"devid") || has(b"devname") || has(b"device_id") || has(b"vd"))
    {
        Format::Fortigate
    } else if has(b"sn") && has(b"fw") && (has(b"m") || has(b"c")) {
        Format::SonicWall
    } else {
        Format::KeyValue
    };
    let prefix = format.as_str();
    let mut ev = Event::new(format);
    let keys: Vec<(Range<usize>, ())> = ps.iter().map(|(k, _, _)| (k.clone(), ())).collect();
    for (n, (k, v, quoted)) in ps.iter().enumerate() {
        let key = &line[k.clone()];
        let val = &line[v.clone()];
        let enc = if *quoted {
            Encoding::Quoted
        } else {
            Encoding::Raw
        };
        if repeated(line, &keys, n) {
            // First wins: a key written again (after a value the sender did not quote) is
            // located under the format, never read as the event's own.
            let mut name = String::with_capacity(prefix.len() + 1 + key.len());
            name.push_str(prefix);
            name.push('.');
            name.push_str(&String::from_utf8_lossy(key));
            ev.push(Cow::Owned(name), v.clone(), enc);
            continue;
        }
        if is_action_key(key) {
            set_action(&mut ev, val);
        } else if is_direction_key(key) {
            set_direction(&mut ev, val);
        }
        let name = match (key, val.contains(&b'@')) {
            (b"from", true) => Some("email.from.address"),
            (b"to", true) => Some("email.to.address"),
            _ => alias(key),
        };
        match name {
            Some(n) => push_named(&mut ev, line, n, v.clone(), enc),
            None => {
                let mut n = String::with_capacity(prefix.len() + 1 + key.len());
                n.push_str(prefix);
                n.push('.');
                n.push_str(&String::from_utf8_lossy(key));
                ev.push(Cow::Owned(n), v.clone(), enc);
            }
        }
    }
    // SonicWall states its verdict only in `msg`, one fixed text per message id (`m=`). Other
    // senders put what they like in a message (a URL, a user name), so it is not read there.
    if ev.action.is_none()
        && ev.format == Format::SonicWall
        && let Some((_, m, _)) = ps.iter().find(|(k, _, _)| &line[k.clone()] == b"msg")
    {
        let msg = &line[m.clone()];
        for w in [&b"dropped"[..], b"blocked", b"denied", b"rejected"] {
            if has_word_ci(msg, w) {
                set_action(&mut ev, w);
                break;
            }
        }
    }
    Some(ev)
}

/// Check Point: `[action:"Drop"; ifdir:"inbound"; src:"..."; dst:"..."; ...]`, the bracket
/// at an anchor (it follows the RFC 5424 header of `CheckPoint`), never inside the message.
/// The first of a key wins.
pub(crate) fn checkpoint(line: &[u8], at: usize) -> Option<Event> {
    let rest = line.get(at..)?;
    let first = super::skip_ws(line, 0);
    if !(rest.starts_with(b"[action:\"")
        || (rest.starts_with(b"[") && super::tag_is(line, first, at, b"CheckPoint")))
    {
        return None;
    }
    let open = at;
    let mut i = open + 1;
    let mut ev = Event::new(Format::CheckPoint);
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut n = 0;
    while i < line.len() && n < MAX_PAIRS {
        while i < line.len() && matches!(line[i], b' ' | b';') {
            i += 1;
        }
        if i >= line.len() || line[i] == b']' {
            break;
        }
        let k_start = i;
        let Some(q) = find(&line[i..], b":\"") else {
            break;
        };
        let k_end = i + q;
        if line[k_start..k_end]
            .iter()
            .any(|&c| matches!(c, b'"' | b';' | b']' | b' '))
        {
            break;
        }
        let v_start = k_end + 2;
        let mut j = v_start;
        while j < line.len() && line[j] != b'"' {
            j += if line[j] == b'\\' { 2 } else { 1 };
        }
        let v = v_start..j.min(line.len());
        i = j + 1;
        n += 1;
        let key = &line[k_start..k_end];
        let val = &line[v.clone()];
        if seen.contains(&key) {
            let mut n = String::from("checkpoint.");
            n.push_str(&String::from_utf8_lossy(key));
            ev.push(Cow::Owned(n), v, Encoding::Quoted);
            continue;
        }
        seen.push(key);
        match key {
            b"action" => set_action(&mut ev, val),
            b"ifdir" => set_direction(&mut ev, val),
            _ => {}
        }
        let name = match key {
            b"s_port" => Some("source.port"),
            b"service" if val.iter().all(u8::is_ascii_digit) => Some("destination.port"),
            b"src_user_name" | b"user" => Some("user.name"),
            b"resource" => Some("url.original"),
            b"origin" => Some("observer.ip"),
            b"action" | b"service" => None,
            _ => alias(key),
        };
        match name {
            Some(n) => push_named(&mut ev, line, n, v, Encoding::Quoted),
            None => {
                let mut n = String::from("checkpoint.");
                n.push_str(&String::from_utf8_lossy(
                    key.strip_suffix(b":").unwrap_or(key),
                ));
                ev.push(Cow::Owned(n), v, Encoding::Quoted);
            }
        }
    }
    (n >= 1).then_some(ev)
}

/// Where structured data may start: the first token of the syslog header that opens with
/// `[` (RFC 5424: after MSGID), or the token after MSGID of an RFC 5424 header the syslog
/// parser did not take. Never a `[` further in the message.
fn sd_start(line: &[u8], first: usize, body: usize) -> Option<usize> {
    let mut i = first;
    while i < body.min(line.len()) {
        i = super::skip_ws(line, i);
        if i >= body {
            break;
        }
        if line[i] == b'[' {
            return Some(i);
        }
        i += line[i..]
            .iter()
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
    }
    // Without a PRI at the line's start; or, for Junos relayed inside an RFC 3164 header, the
    // message's own `TIMESTAMP HOST APP PROCID MSGID [junos@...]` (only Junos: a message that
    // merely starts with a time may carry a client's words after it).
    super::after_rfc5424_header(line, first)
        .filter(|&a| line.get(a) == Some(&b'['))
        .or_else(|| {
            super::after_rfc5424_header(line, body).filter(|&a| line[a..].starts_with(b"[junos@"))
        })
}

/// RFC 5424 structured data `[id name="value" ...]`, several elements possibly, where the
/// header puts it ([`sd_start`]). Junos's `RT_FLOW_SESSION_DENY`/`_CREATE`/`_CLOSE` message
/// ids (before the structured data) give the action.
pub(crate) fn structured_data(line: &[u8], first: usize, body: usize) -> Option<Event> {
    let start = sd_start(line, first, body)?;
    let mut ev = Event::new(Format::SyslogSd);
    let mut junos = false;
    let mut pos = start;
    let mut params = 0;
    let mut seen: Vec<(&[u8], &[u8])> = Vec::new();
    while line.get(pos) == Some(&b'[') {
        let open = pos;
        let id_end = open
            + 1
            + line[open + 1..]
                .iter()
                .take_while(|&&c| !matches!(c, b' ' | b'=' | b']' | b'"') && c > b' ')
                .count();
        if id_end == open + 1 || line.get(id_end) != Some(&b' ') {
            break;
        }
        let id = &line[open + 1..id_end];
        let is_junos = id.starts_with(b"junos@");
        let mut i = id_end;
        let mut found = Vec::new();
        loop {
            while line.get(i) == Some(&b' ') {
                i += 1;
            }
            let n_start = i;
            while i < line.len() && !matches!(line[i], b' ' | b'=' | b']' | b'"') {
                i += 1;
            }
            if i == n_start || line.get(i) != Some(&b'=') || line.get(i + 1) != Some(&b'"') {
                break;
            }
            let name = n_start..i;
            let v_start = i + 2;
            let mut j = v_start;
            while j < line.len() && line[j] != b'"' {
                j += if line[j] == b'\\' { 2 } else { 1 };
            }
            if j >= line.len() {
                break;
            }
            found.push((name, v_start..j));
            i = j + 1;
        }
        if found.is_empty() || line.get(i) != Some(&b']') {
            break;
        }
        junos |= is_junos;
        pos = i + 1;
        for (k, v) in found {
            params += 1;
            let key = &line[k];
            let val = &line[v.clone()];
            if seen.iter().any(|&(i, k)| i == id && k == key) {
                // First wins, as everywhere.
                ev.push(Cow::Owned(sd_name(id, key, is_junos)), v, Encoding::Quoted);
                continue;
            }
            seen.push((id, key));
            if is_action_key(key) {
                set_action(&mut ev, val);
            } else if is_direction_key(key) {
                set_direction(&mut ev, val);
            }
            match alias(key) {
                Some(n) => push_named(&mut ev, line, n, v, Encoding::Quoted),
                None => ev.push(Cow::Owned(sd_name(id, key, is_junos)), v, Encoding::Quoted),
            }
        }
    }
    if params == 0 {
        return None;
    }
    if junos {
        ev.format = Format::Junos;
        let head = &line[..start];
        if has_word_ci(head, b"RT_FLOW_SESSION_DENY") {
            ev.action = Some(Action::Denied);
        } else if has_word_ci(head, b"RT_FLOW_SESSION_CREATE")
            || has_word_ci(head, b"RT_FLOW_SESSION_CLOSE")
        {
            ev.action.get_or_insert(Action::Allowed);
        }
    }
    Some(ev)
}

/// The name of a structured-data parameter with no ECS name: `junos.<key>`, `sd.<id>.<key>`.
fn sd_name(id: &[u8], key: &[u8], junos: bool) -> String {
    let mut n = String::from(if junos { "junos." } else { "sd." });
    if !junos {
        n.push_str(&String::from_utf8_lossy(id));
        n.push('.');
    }
    n.push_str(&String::from_utf8_lossy(key));
    n
}

#[cfg(test)]
mod tests {
    use super::super::super::event::Direction;
    use super::super::testutil::{ev, field_of};
    use super::*;

    #[test]
    fn fortigate() {
        let line = r#"date=2024-01-01 time=10:00:00 devname="FG-1" devid=FGT60E logid="0000000013" type="traffic" subtype="forward" srcip=10.1.1.5 srcport=50000 dstip=198.51.100.20 dstport=443 action="deny" direction=outgoing hostname="bad.example" url="/x.php" user="carol" msg="blocked 198.51.100.20""#;
        let e = ev(line);
        assert_eq!(e.format, Format::Fortigate);
        assert_eq!(field_of(&e, line, "198.51.100.20"), "destination.ip");
        assert_eq!(field_of(&e, line, "10.1.1.5"), "source.ip");
        assert_eq!(field_of(&e, line, "bad.example"), "url.domain");
        assert_eq!(field_of(&e, line, "FGT60E"), "fortigate.devid");
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(e.user_name(line.as_bytes()).as_deref(), Some("carol"));
        assert_eq!(e.destination_port(line.as_bytes()), Some(443));
    }

    #[test]
    fn sonicwall_address_with_port_and_interface() {
        let line = r#"id=firewall sn=0017C5 time="2024-01-01 10:00:00" fw=192.0.2.1 pri=5 c=64 m=36 msg="TCP connection dropped" n=1 src=198.51.100.7:4507:WAN dst=192.0.2.1:445:LAN"#;
        let e = ev(line);
        assert_eq!(e.format, Format::SonicWall);
        assert_eq!(field_of(&e, line, "198.51.100.7"), "source.ip");
        assert_eq!(field_of(&e, line, "4507"), "source.port");
        assert_eq!(
            e.source_ip(line.as_bytes()),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(e.destination_port(line.as_bytes()), Some(445));
        assert_eq!(e.action, Some(Action::Dropped));
    }

    #[test]
    fn sophos_and_generic() {
        let line = r#"device="SFW" date=2024-01-01 log_type="Firewall" log_component="Firewall Rule" status="Deny" src_ip=203.0.113.3 dst_ip=10.0.0.4 src_port=1 dst_port=22 user_name="""#;
        let e = ev(line);
        assert_eq!(e.format, Format::Sophos);
        assert_eq!(field_of(&e, line, "203.0.113.3"), "source.ip");
        assert_eq!(e.action, Some(Action::Denied));
        let generic = "foo=1 bar=2 from=a@bad.example srcip=192.0.2.5";
        let e = ev(generic);
        assert_eq!(e.format, Format::KeyValue);
        assert_eq!(field_of(&e, generic, "a@bad.example"), "email.from.address");
        assert_eq!(field_of(&e, generic, "1"), "kv.foo");
        // Two pairs are not enough to call a line key=value.
        assert!(key_value(b"a=1 b=2", 0).is_none());
    }

    #[test]
    fn checkpoint_brackets() {
        let line = r#"1 2024-01-01T00:00:00Z gw CheckPoint 1 - [action:"Drop"; ifdir:"inbound"; origin:"192.0.2.254"; src:"198.51.100.66"; dst:"10.0.0.2"; s_port:"5555"; service:"3389"; msg:"x \"q\" \]"; ike::"Main Mode"]"#;
        let e = ev(line);
        assert_eq!(e.format, Format::CheckPoint);
        assert_eq!(field_of(&e, line, "198.51.100.66"), "source.ip");
        assert_eq!(field_of(&e, line, "3389"), "destination.port");
        assert_eq!(field_of(&e, line, "Main Mode"), "checkpoint.ike");
        assert_eq!(e.action, Some(Action::Dropped));
        assert_eq!(e.network_direction, Some(Direction::Inbound));
        assert_eq!(
            e.value(line.as_bytes(), "message").as_deref(),
            Some("x \"q\" ]")
        );
    }

    #[test]
    fn junos_and_sd() {
        let line = r#"Sep 23 13:54:55 192.0.2.1 junos-flow: 2024-09-23T13:54:54.803Z srx RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.39 source-address="198.51.100.9" source-port="1080" destination-address="10.0.0.2" destination-port="8010" policy-name="deny-all"]"#;
        let e = ev(line);
        assert_eq!(e.format, Format::Junos);
        assert_eq!(field_of(&e, line, "198.51.100.9"), "source.ip");
        assert_eq!(field_of(&e, line, "deny-all"), "junos.policy-name");
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(e.destination_port(line.as_bytes()), Some(8010));
        let sd = r#"<165>1 2024-01-01T00:00:00Z h app - ID1 [ex@32473 iut="3" src="192.0.2.44"][meta seq="1"] hello"#;
        let e = ev(sd);
        assert_eq!(e.format, Format::SyslogSd);
        assert_eq!(field_of(&e, sd, "192.0.2.44"), "source.ip");
        assert_eq!(
            e.value(sd.as_bytes(), "sd.ex@32473.iut").as_deref(),
            Some("3")
        );
        assert_eq!(e.value(sd.as_bytes(), "sd.meta.seq").as_deref(), Some("1"));
    }

    use super::super::testutil::{facts, ip};

    #[test]
    fn keys_inside_quoted_strings_are_text() {
        let l = r#"srcip=192.0.2.7 dstip=10.0.0.1 proto=6 note "src=10.0.9.5 action=allow" x=1"#;
        assert_eq!(
            facts(l),
            ("kv", ip("192.0.2.7"), ip("10.0.0.1"), None, None)
        );
        // Text with pairs only inside quotes is not key=value at all.
        assert!(key_value(br#"hello "a=1 b=2 c=3 src=10.0.9.5""#, 0).is_none());
    }

    /// First wins: a key written again later (a sender that does not quote a value holding
    /// a client's text) is located but not the event's own.
    #[test]
    fn repeated_keys_first_wins() {
        let l = "date=2024-01-01 devid=FGT logid=1 srcip=192.0.2.7 action=deny url=/x?q= srcip=10.0.9.5 action=accept";
        let e = ev(l);
        assert_eq!(e.format, Format::Fortigate);
        assert_eq!(e.source_ip(l.as_bytes()), ip("192.0.2.7"));
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(field_of(&e, l, "10.0.9.5"), "fortigate.srcip");
        // Message words name the verdict only for SonicWall, whose messages are fixed texts.
        let l = r#"date=2024-01-01 devid=FGT logid=1 srcip=192.0.2.7 msg="user typed blocked""#;
        assert_eq!(ev(l).action, None);
        let l = r#"date=2024-01-01 devid=FGT logid=1 srcip=192.0.2.7 status=x status=allow"#;
        assert_eq!(ev(l).action, None);
    }

    #[test]
    fn checkpoint_and_structured_data_only_in_the_header() {
        // A message that starts with a time: its sixth word is not structured data.
        let l = r#"Jan  1 00:00:00 web01 app: 2024-01-01T00:00:00Z login failed for x [x src="10.0.9.5" action="allow"]"#;
        assert!(
            crate::decode::event::decode(l.as_bytes(), None)
                .is_none_or(|e| e.source_ip(l.as_bytes()).is_none() && e.action.is_none()),
            "{l}"
        );
        // A Check Point bracket inside another message: not Check Point.
        assert!(checkpoint(br#"x [action:"Accept"; src:"10.0.9.5"]"#, 0).is_none());
        let l = r#"1 2024-01-01T00:00:00Z gw CheckPoint 1 - [action:"Drop"; src:"198.51.100.66"; msg:"a\"; src:\"10.0.9.5"; src:"10.0.9.6"; action:"Accept"]"#;
        assert_eq!(facts(l).0, "checkpoint");
        assert_eq!(facts(l).1, ip("198.51.100.66"));
        assert_eq!(facts(l).3, Some(Action::Dropped));
        // Structured data in a message (a user name sshd logs) is text.
        let l = r#"Mar 27 13:08:09 host sshd[1361]: Invalid user [x src="10.0.9.5"] from 198.51.100.41 port 54259"#;
        assert_eq!(
            facts(l),
            (
                "sshd",
                ip("198.51.100.41"),
                None,
                Some(Action::Denied),
                None
            )
        );
        // A Junos message id in a value does not set the verdict; a repeated parameter is not
        // the event's own.
        let l = r#"Sep 23 13:54:55 192.0.2.1 junos-flow: 2024-09-23T13:54:54.803Z srx RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.39 source-address="198.51.100.9" reason="RT_FLOW_SESSION_DENY" source-address="10.0.9.5"]"#;
        let e = ev(l);
        assert_eq!(e.format, Format::Junos);
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(e.source_ip(l.as_bytes()), ip("198.51.100.9"));
        assert_eq!(field_of(&e, l, "10.0.9.5"), "junos.source-address");
    }
}
