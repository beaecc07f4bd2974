//! The one canonical form of a URL, shared by indicators and log tokens.
//!
//! A URL indicator and a URL seen in a log match when their canonical forms are equal (exact
//! mode) or when the indicator's is a prefix of the log's (prefix mode). Both sides go through
//! [`canonical_url`], so the rules can only ever disagree with themselves:
//!
//! * WHATWG parsing (the `url` crate): scheme and host lower case, IDN hosts to punycode,
//!   default ports dropped, an empty path becomes `/`, dot segments resolved, IPv4 hosts in
//!   canonical dotted form;
//! * a trailing dot on the host is dropped (`evil.com.` is `evil.com`);
//! * the fragment is dropped: it never leaves the client, so it is not part of what was fetched;
//! * percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, and every other
//!   percent escape gets upper-case hex, as RFC 3986 section 6.2.2 recommends.
//!
//! Parsing allocates, so the scanner calls this only for URLs whose host is the host of some URL
//! indicator (see `IocSet::scan_urls`).

/// Returns the canonical form of `raw`, or `None` when it is not an absolute URL with a host.
pub fn canonical_url(raw: &str) -> Option<String> {
    let mut u = ::url::Url::parse(raw).ok()?;
    let host = u.host_str()?;
    if host.is_empty() {
        return None;
    }
    if host.ends_with('.') && host.len() > 1 {
        let trimmed = host.trim_end_matches('.').to_owned();
        u.set_host(Some(&trimmed)).ok()?;
    }
    u.set_fragment(None);
    Some(normalize_percent(u.as_str()))
}

/// The host of a canonical URL (as `canonical_url` returns it), lower case, IPv6 in brackets.
pub(crate) fn canonical_host(canonical: &str) -> Option<&str> {
    let rest = &canonical[canonical.find("://")? + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(strip_port(host_port))
}

/// Strips `:port` from `host:port`, leaving a bracketed IPv6 host whole.
pub(crate) fn strip_port(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port.find(']').map_or(host_port, |i| &host_port[..=i]);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn normalize_percent(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            let v = h * 16 + l;
            if is_unreserved(v) {
                out.push(v);
            } else {
                out.push(b'%');
                out.push(b[i + 1].to_ascii_uppercase());
                out.push(b[i + 2].to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII bytes were rewritten, and only into ASCII: the result is still UTF-8.
    String::from_utf8(out).expect("percent normalization keeps UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("http://evil.com/x/a.php", "http://evil.com/x/a.php"),
            ("HTTP://EVIL.COM/x/a.php", "http://evil.com/x/a.php"),
            ("http://evil.com:80/x/a.php", "http://evil.com/x/a.php"),
            ("https://evil.com:443/", "https://evil.com/"),
            ("https://evil.com:8443/", "https://evil.com:8443/"),
            ("http://evil.com", "http://evil.com/"),
            ("http://evil.com./x", "http://evil.com/x"),
            (
                "http://evil.com/%7Euser/%41%2f",
                "http://evil.com/~user/A%2F",
            ),
            ("http://evil.com/a#frag", "http://evil.com/a"),
            ("http://evil.com/a/../b", "http://evil.com/b"),
            ("http://bücher.de/", "http://xn--bcher-kva.de/"),
            ("http://[2001:DB8::1]:80/", "http://[2001:db8::1]/"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_url(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(canonical_url("not a url"), None);
        assert_eq!(canonical_url("mailto:a@b.com"), None);
    }

    #[test]
    fn host_of_canonical() {
        assert_eq!(
            canonical_host("http://u:p@evil.com:8080/x"),
            Some("evil.com")
        );
        assert_eq!(
            canonical_host("http://[2001:db8::1]:8080/"),
            Some("[2001:db8::1]")
        );
        assert_eq!(canonical_host("http://evil.com?q"), Some("evil.com"));
    }

    #[test]
    fn percent_at_end_is_kept() {
        assert_eq!(normalize_percent("/a%4"), "/a%4");
        assert_eq!(normalize_percent("/a%"), "/a%");
        assert_eq!(normalize_percent("/a%41"), "/aA");
    }
}
