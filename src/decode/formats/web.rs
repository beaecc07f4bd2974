//! Web and authentication logs: Apache/nginx access logs (common and combined), AWS
//! ALB/ELB access logs, squid's native `access.log`, and OpenSSH's `from IP port N`.

use std::ops::Range;

use super::super::event::{Action, Encoding, Event, Format};
use super::{find, push_named};

fn is_ip(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

/// The next white-space-delimited token at or after `i`.
fn next_token(line: &[u8], mut i: usize) -> Option<Range<usize>> {
    while i < line.len() && line[i] == b' ' {
        i += 1;
    }
    let j = i + line[i..].iter().take_while(|&&c| c != b' ').count();
    (j > i).then_some(i..j)
}

/// The quoted string starting at `i` (which must be `"`): the range inside the quotes.
fn quoted(line: &[u8], i: usize) -> Option<Range<usize>> {
    if line.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < line.len() && line[j] != b'"' {
        j += if line[j] == b'\\' { 2 } else { 1 };
    }
    (j < line.len()).then_some(i + 1..j)
}

/// `client ident user [time] "METHOD target PROTO" status bytes ["referrer" "agent"]`.
pub(crate) fn access_log(line: &[u8], body: usize) -> Option<Event> {
    if let Some(ev) = elb(line, body) {
        return Some(ev);
    }
    let client = next_token(line, body)?;
    if !is_ip(&line[client.clone()]) {
        return None;
    }
    let ident = next_token(line, client.end)?;
    let user = next_token(line, ident.end)?;
    let open = user.end + 1;
    if line.get(open) != Some(&b'[') {
        return None;
    }
    let close = open + line[open..].iter().position(|&c| c == b']')?;
    let req = quoted(line, close + 2)?;
    let mut ev = Event::new(Format::AccessLog);
    ev.push("source.ip", client, Encoding::Raw);
    if &line[user.clone()] != b"-" {
        ev.push("user.name", user, Encoding::Raw);
    }
    let method = next_token(line, req.start).filter(|m| m.end <= req.end);
    if let Some(m) = method {
        ev.push("http.request.method", m.clone(), Encoding::Raw);
        let t_end = m.end
            + 1
            + line[(m.end + 1).min(req.end)..req.end]
                .iter()
                .take_while(|&&c| c != b' ')
                .count();
        ev.push(
            "url.original",
            (m.end + 1).min(t_end)..t_end,
            Encoding::Quoted,
        );
    }
    let status = next_token(line, req.end + 1);
    if let Some(s) = &status {
        ev.push("http.response.status_code", s.clone(), Encoding::Raw);
    }
    let bytes = status.and_then(|s| next_token(line, s.end));
    if let Some(b) = bytes
        && let Some(referrer) = quoted(line, b.end + 1)
    {
        if &line[referrer.clone()] != b"-" {
            ev.push("http.request.referrer", referrer.clone(), Encoding::Quoted);
        }
        if let Some(agent) = quoted(line, referrer.end + 2) {
            ev.push("user_agent.original", agent, Encoding::Quoted);
        }
    }
    Some(ev)
}

/// AWS ALB (`type time elb client:port target:port ... "request" "agent" ...`) and classic
/// ELB (the same without the type).
fn elb(line: &[u8], body: usize) -> Option<Event> {
    let first = next_token(line, body)?;
    let t = &line[first.clone()];
    let time = if matches!(t, b"http" | b"https" | b"h2" | b"ws" | b"wss" | b"grpcs") {
        next_token(line, first.end)?
    } else if t.len() >= 20 && t[..4].iter().all(u8::is_ascii_digit) && t[10] == b'T' {
        first
    } else {
        return None;
    };
    let elb = next_token(line, time.end)?;
    let client = next_token(line, elb.end)?;
    let target = next_token(line, client.end)?;
    let mut ev = Event::new(Format::AccessLog);
    push_named(&mut ev, line, "source.ip", client.clone(), Encoding::Raw);
    if ev
        .get("source.ip")
        .is_none_or(|f| !is_ip(&line[f.value.clone()]))
    {
        return None;
    }
    push_named(&mut ev, line, "destination.ip", target, Encoding::Raw);
    let q = client.end + line[client.end..].iter().position(|&c| c == b'"')?;
    let req = quoted(line, q)?;
    let mut parts = line[req.clone()].splitn(3, |&c| c == b' ');
    let method = parts.next().unwrap_or_default();
    ev.push(
        "http.request.method",
        req.start..req.start + method.len(),
        Encoding::Raw,
    );
    if let Some(url) = parts.next() {
        let s = req.start + method.len() + 1;
        ev.push("url.original", s..s + url.len(), Encoding::Raw);
    }
    if let Some(agent) = quoted(line, req.end + 2) {
        ev.push("user_agent.original", agent, Encoding::Quoted);
    }
    Some(ev)
}

/// squid: `time elapsed client CODE/status bytes method URL user HIERARCHY/peer type`.
pub(crate) fn squid(line: &[u8], body: usize) -> Option<Event> {
    let time = next_token(line, body)?;
    let t = &line[time.clone()];
    if !(t.contains(&b'.') && t.iter().all(|c| c.is_ascii_digit() || *c == b'.')) {
        return None;
    }
    let elapsed = next_token(line, time.end)?;
    let client = next_token(line, elapsed.end)?;
    let code = next_token(line, client.end)?;
    let c = &line[code.clone()];
    let slash = c.iter().position(|&b| b == b'/')?;
    if !is_ip(&line[client.clone()])
        || !c[..slash]
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'_')
    {
        return None;
    }
    let mut ev = Event::new(Format::Squid);
    ev.push("source.ip", client, Encoding::Raw);
    let result = &c[..slash];
    ev.action = Some(if find(result, b"DENIED").is_some() {
        Action::Denied
    } else {
        Action::Allowed
    });
    let bytes = next_token(line, code.end)?;
    let method = next_token(line, bytes.end)?;
    ev.push("http.request.method", method.clone(), Encoding::Raw);
    let url = next_token(line, method.end)?;
    ev.push("url.original", url.clone(), Encoding::Raw);
    if let Some(user) = next_token(line, url.end) {
        if &line[user.clone()] != b"-" {
            ev.push("user.name", user.clone(), Encoding::Raw);
        }
        if let Some(h) = next_token(line, user.end)
            && let Some(s) = line[h.clone()].iter().position(|&b| b == b'/')
        {
            let peer = h.start + s + 1..h.end;
            if is_ip(&line[peer.clone()]) {
                ev.push("destination.ip", peer, Encoding::Raw);
            }
        }
    }
    Some(ev)
}

/// Whether the line's program is sshd (the tag of its syslog header).
pub(crate) fn is_sshd(line: &[u8], first: usize, body: usize) -> bool {
    super::tag_is(line, first, body, b"sshd")
}

/// OpenSSH: `Failed password for [invalid user] NAME from IP port N ssh2`, `Accepted ...`,
/// `Invalid user NAME from IP port N`. The program must be sshd (its syslog tag); the user
/// name is the client's choice and may hold anything, ` from 10.0.9.5` included, so the
/// address is read after the *last* ` from ` followed by an address, and the verdict from
/// the words sshd starts its message with.
pub(crate) fn sshd(line: &[u8], body: usize) -> Option<Event> {
    let first = super::skip_ws(line, 0);
    if !is_sshd(line, first, body) {
        return None;
    }
    let mut body = super::message_start(line, first, body);
    // rsyslog folds repeats: `message repeated 5 times: [ Failed password for ...]`.
    if line[body..].starts_with(b"message repeated ")
        && let Some(p) = find(&line[body..], b": [")
    {
        body = super::skip_ws(line, body + p + 3);
    }
    // Solaris puts the message id first: `[ID 800047 auth.notice] Failed none for root ...`.
    if line[body..].starts_with(b"[ID ")
        && let Some(p) = line[body..].iter().position(|&c| c == b']')
    {
        body = super::skip_ws(line, body + p + 1);
    }
    let msg_all = line.get(body..)?;
    let (from, ip) = memchr::memmem::rfind_iter(msg_all, b" from ").find_map(|p| {
        let from = body + p;
        let ip = next_token(line, from + 6)?;
        is_ip(&line[ip.clone()]).then_some((from, ip))
    })?;
    let mut ev = Event::new(Format::Sshd);
    ev.push("source.ip", ip.clone(), Encoding::Raw);
    if line[ip.end..].starts_with(b" port ")
        && let Some(p) = next_token(line, ip.end + 6)
    {
        ev.push("source.port", p, Encoding::Raw);
    }
    // The user name is the word before ` from`, after `user` or `for`.
    let head = &line[body..from];
    let user_start = head.iter().rposition(|&c| c == b' ').map(|p| body + p + 1);
    if let Some(s) = user_start {
        let before = &line[body..s.saturating_sub(1).max(body)];
        if before.ends_with(b" user")
            || before.ends_with(b" for")
            || before.ends_with(b"Invalid user")
        {
            ev.push("user.name", s..from, Encoding::Raw);
        }
    }
    let msg = &line[body..from];
    ev.action = if msg.starts_with(b"Accepted ") {
        Some(Action::Allowed)
    } else if msg.starts_with(b"Failed ")
        || msg.starts_with(b"Invalid user ")
        || msg.starts_with(b"pam_unix(sshd:auth): authentication failure")
        || (msg.starts_with(b"User ") && find(&line[from..], b" not allowed").is_some())
    {
        Some(Action::Denied)
    } else {
        None
    };
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ev, field_of};
    use super::*;

    #[test]
    fn combined_access_log() {
        let l = r#"198.51.100.16 - frank [10/Oct/2024:13:55:36 -0700] "GET /x/evil.php?u=http://bad.example/ HTTP/1.1" 200 2326 "http://ref.example/start" "Mozilla/5.0 (compatible; Bad/1.0)""#;
        let e = ev(l);
        assert_eq!(e.format, Format::AccessLog);
        assert_eq!(field_of(&e, l, "198.51.100.16"), "source.ip");
        assert_eq!(field_of(&e, l, "bad.example"), "url.original");
        assert_eq!(field_of(&e, l, "ref.example"), "http.request.referrer");
        assert_eq!(field_of(&e, l, "Bad/1.0"), "user_agent.original");
        assert_eq!(e.user_name(l.as_bytes()).as_deref(), Some("frank"));
        assert_eq!(e.action, None);
        // Common log format: no referrer, no agent.
        let l = r#"10.0.0.5 - - [1/Apr/2014:00:00:01 -0500] "POST /wp-login.php HTTP/1.1" 403 181"#;
        let e = ev(l);
        assert_eq!(e.url(l.as_bytes()).as_deref(), Some("/wp-login.php"));
        assert_eq!(e.user_name(l.as_bytes()), None);
    }

    #[test]
    fn elb_log() {
        let l = r#"https 2024-01-11T16:55:20.356586Z app/web/jf29 198.51.100.10:44325 10.0.1.123:32869 0.013 0.164 0.000 200 200 391 107999 "GET https://www.example.com:443/a HTTP/1.1" "curl/8.0" ECDHE TLSv1.2"#;
        let e = ev(l);
        assert_eq!(field_of(&e, l, "198.51.100.10"), "source.ip");
        assert_eq!(field_of(&e, l, "44325"), "source.port");
        assert_eq!(field_of(&e, l, "10.0.1.123"), "destination.ip");
        assert_eq!(field_of(&e, l, "www.example.com"), "url.original");
        assert_eq!(e.user_agent(l.as_bytes()).as_deref(), Some("curl/8.0"));
    }

    #[test]
    fn squid_log() {
        let l = "1140701230.827    781 192.168.1.210 TCP_DENIED/407 1785 GET http://bad.example/x bob NONE/- text/html";
        let e = ev(l);
        assert_eq!(e.format, Format::Squid);
        assert_eq!(e.action, Some(Action::Denied));
        assert_eq!(field_of(&e, l, "bad.example"), "url.original");
        assert_eq!(e.user_name(l.as_bytes()).as_deref(), Some("bob"));
        let l = "1140701230.827 5 10.0.0.2 TCP_MISS/200 1785 CONNECT bad.example:443 - HIER_DIRECT/198.51.100.9 -";
        let e = ev(l);
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(field_of(&e, l, "198.51.100.9"), "destination.ip");
    }

    #[test]
    fn sshd_lines() {
        let l = "Mar 27 13:08:09 host sshd[1361]: Failed password for invalid user admin from 198.51.100.41 port 54259 ssh2";
        let e = ev(l);
        assert_eq!(e.format, Format::Sshd);
        assert_eq!(field_of(&e, l, "198.51.100.41"), "source.ip");
        assert_eq!(e.user_name(l.as_bytes()).as_deref(), Some("admin"));
        assert_eq!(e.source_port(l.as_bytes()), Some(54259));
        assert_eq!(e.action, Some(Action::Denied));
        let l = "Mar 27 13:08:09 host sshd[1361]: Accepted publickey for ubuntu from 198.51.100.41 port 54259 ssh2";
        let e = ev(l);
        assert_eq!(e.action, Some(Action::Allowed));
        assert_eq!(e.user_name(l.as_bytes()).as_deref(), Some("ubuntu"));
        // With RFC 5424 structured data: both are kept.
        let l = r#"<38>1 2022-01-19T14:23:55+00:00 fw.local sshd 44255 - [meta sequenceId="1"] Invalid user tutu from 192.0.2.4 port 33166"#;
        let e = ev(l);
        assert_eq!(e.format, Format::Sshd);
        assert_eq!(e.user_name(l.as_bytes()).as_deref(), Some("tutu"));
        assert_eq!(
            e.value(l.as_bytes(), "sd.meta.sequenceId").as_deref(),
            Some("1")
        );
    }

    /// The user name sshd logs is the client's choice: it may hold ` from ADDR port N`, a
    /// verdict word or `key=value` pairs.
    #[test]
    fn sshd_user_names_are_text() {
        let l = "Mar 27 13:08:09 host sshd[1361]: Failed password for invalid user x from 10.0.9.5 port 1 ssh2 from 198.51.100.41 port 54259 ssh2";
        let e = ev(l);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("198.51.100.41".parse().unwrap())
        );
        assert_eq!(e.action, Some(Action::Denied));
        let l =
            "Mar 27 13:08:09 host sshd[1361]: Invalid user Accepted from 198.51.100.41 port 54259";
        assert_eq!(ev(l).action, Some(Action::Denied));
        let l = "Mar 27 13:08:09 host sshd[1361]: Invalid user a=1 b=2 src=10.0.9.5 action=allow from 198.51.100.41 port 54259";
        let e = ev(l);
        assert_eq!(e.format, Format::Sshd);
        assert_eq!(
            e.source_ip(l.as_bytes()),
            Some("198.51.100.41".parse().unwrap())
        );
        assert_eq!(e.action, Some(Action::Denied));
        // Another program that mentions sshd is not sshd.
        let l = "Mar 27 13:08:09 host app[1]: restarting sshd: Accepted from 10.0.9.5 port 1";
        assert!(sshd(l.as_bytes(), 34).is_none());
        // A header the syslog parser does not read (a space between date and time).
        let l = "2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for user from 172.18.1.100 port 43042 ssh2";
        let e = ev(l);
        assert_eq!(e.format, Format::Sshd);
        assert_eq!(e.action, Some(Action::Denied));
    }
}
