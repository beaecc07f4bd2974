//! From a feed's text to a canonical [`Pattern`]: refang, infer the type, validate, normalize.
//!
//! Feeds are messy. An indicator may be defanged (`hxxp://`, `evil[.]com`, `1.2.3[.]4`,
//! `a[@]b.com`), carry a port, upper case, a trailing dot, or an IDN name; or it may be
//! something no log can match. [`parse_indicator`] turns what it can into the canonical form the
//! engine matches on, and says why it rejects the rest.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use ipnet::IpNet;

use iocd_engine::{Pattern, canonical_url};

/// Why a feed value was not turned into an indicator.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Reject {
    #[error("not a recognizable indicator")]
    Unrecognized,
    #[error("invalid URL")]
    InvalidUrl,
    #[error("invalid IP address or network")]
    InvalidIp,
    #[error("hex string of {0} digits is not an md5, sha1 or sha256")]
    HashLength(usize),
    #[error("invalid e-mail address")]
    InvalidEmail,
    #[error("invalid domain name")]
    InvalidDomain,
    #[error("empty string indicator")]
    EmptyString,
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("a URL path without a host")]
    PathOnly,
    #[error("a string indicator with a line break (log lines have none)")]
    LineBreak,
}

impl Reject {
    /// A short, stable name for reports and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reject::Unrecognized => "unrecognized",
            Reject::InvalidUrl => "invalid_url",
            Reject::InvalidIp => "invalid_ip",
            Reject::HashLength(_) => "hash_length",
            Reject::InvalidEmail => "invalid_email",
            Reject::InvalidDomain => "invalid_domain",
            Reject::EmptyString => "empty_string",
            Reject::NotUtf8 => "not_utf8",
            Reject::PathOnly => "path_only",
            Reject::LineBreak => "line_break",
        }
    }
}

/// Undoes the usual ways feeds defang indicators so nobody clicks them.
pub fn refang(s: &str) -> Cow<'_, str> {
    const SWAPS: [(&str, &str); 16] = [
        ("[://]", "://"),
        ("[:]//", "://"),
        ("[:]", ":"),
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("{dot}", "."),
        ("\\.", "."),
        ("[@]", "@"),
        ("(@)", "@"),
        ("{@}", "@"),
        ("[at]", "@"),
        ("(at)", "@"),
        ("[/]", "/"),
    ];
    // Only a scheme is defanged this way; `hxxp` inside a path is data.
    const SCHEMES: [(&str, &str); 3] = [("hxxp", "http"), ("hxtp", "http"), ("fxp", "ftp")];
    let scheme = SCHEMES.iter().find(|(from, _)| {
        s.get(..from.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(from))
    });
    if scheme.is_none() && !s.bytes().any(|b| matches!(b, b'[' | b'(' | b'{' | b'\\')) {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_owned();
    if let Some((from, to)) = scheme {
        out.replace_range(..from.len(), to);
    }
    for (from, to) in SWAPS {
        if out.to_ascii_lowercase().contains(from) {
            out = replace_ignore_case(&out, from, to);
        }
    }
    Cow::Owned(out)
}

fn replace_ignore_case(s: &str, from: &str, to: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(from) {
        out.push_str(&s[last..i]);
        out.push_str(to);
        last = i + from.len();
    }
    out.push_str(&s[last..]);
    out
}

/// Parses one feed value (already cut out of its line) into a canonical pattern.
///
/// The value may carry a type prefix: `string:` (case-sensitive substring), `istring:`
/// (case-insensitive substring), `domain-exact:` (a domain whose subdomains must not match) or
/// `url-prefix:` (a URL that matches every URL starting with it). Without one, the type is
/// inferred: URL (has `://`), CIDR, IPv4 or IPv6 (with an optional port, IPv6 in brackets), hash
/// (32, 40 or 64 hex digits), e-mail (has `@`), else domain.
pub fn parse_indicator(raw: &str) -> Result<Pattern, Reject> {
    if let Some(rest) = strip_prefix_ci(raw, "string:") {
        return string_pattern(rest, false);
    }
    if let Some(rest) = strip_prefix_ci(raw, "istring:") {
        return string_pattern(rest, true);
    }
    if let Some(rest) = strip_prefix_ci(raw, "domain-exact:") {
        let name = domain(&refang(rest.trim()))?;
        return Ok(Pattern::Domain {
            name,
            subdomains: false,
        });
    }
    if let Some(rest) = strip_prefix_ci(raw, "url-prefix:") {
        let url = canonical_url(&refang(rest.trim())).ok_or(Reject::InvalidUrl)?;
        return Ok(Pattern::Url { url, prefix: true });
    }
    let v = refang(raw.trim());
    let v = v.trim();
    if v.is_empty() {
        return Err(Reject::Unrecognized);
    }
    if v.contains("://") {
        let url = canonical_url(v).ok_or(Reject::InvalidUrl)?;
        return Ok(Pattern::Url { url, prefix: false });
    }
    // Before the IP test: `/44376` is a path, not a broken network.
    if v.starts_with('/') {
        return Err(Reject::PathOnly);
    }
    if let Some(p) = ip_pattern(v)? {
        return Ok(p);
    }
    if let Some((host, _)) = v.split_once('/') {
        // `host/path` without a scheme, as maltrail and others list malware URLs. It stands
        // for the HTTP URL; `https_twin` gives the HTTPS one.
        let host_ok = domain(strip_port_text(host)).is_ok()
            || iocd_engine::parse_ipv4(strip_port_text(host).as_bytes()).is_some();
        if !host_ok {
            return Err(Reject::InvalidUrl);
        }
        let url = canonical_url(&format!("http://{v}")).ok_or(Reject::InvalidUrl)?;
        return Ok(Pattern::Url { url, prefix: false });
    }
    if v.bytes().all(|b| b.is_ascii_hexdigit()) && v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return hash_pattern(v);
    }
    if v.len() >= 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hash_pattern(v);
    }
    if let Some((local, dom)) = v.rsplit_once('@') {
        let local_ok = !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
            && !local.starts_with('.');
        if !local_ok {
            return Err(Reject::InvalidEmail);
        }
        let d = domain(dom).map_err(|_| Reject::InvalidEmail)?;
        return Ok(Pattern::Email(format!("{local}@{d}")));
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Digits and dots that are not a valid dotted quad: an IP with a typo, not a name.
        return Err(Reject::InvalidIp);
    }
    let name = domain(v)?;
    Ok(Pattern::Domain {
        name,
        subdomains: true,
    })
}

/// For a URL listed without a scheme (`evil.com/x`), the HTTPS twin of the HTTP pattern that
/// [`parse_indicator`] returned: a feed that omits the scheme means either.
pub fn https_twin(raw: &str, pattern: &Pattern) -> Option<Pattern> {
    if raw.contains("://") || refang(raw).contains("://") {
        return None;
    }
    https_of(pattern)
}

/// The same URL pattern with `https://` for `http://`; `None` for anything else.
pub(crate) fn https_of(pattern: &Pattern) -> Option<Pattern> {
    let Pattern::Url { url, prefix } = pattern else {
        return None;
    };
    let rest = url.strip_prefix("http://")?;
    Some(Pattern::Url {
        url: canonical_url(&format!("https://{rest}"))?,
        prefix: *prefix,
    })
}

fn strip_port_text(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if port(p) => h,
        _ => host,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn string_pattern(text: &str, case_insensitive: bool) -> Result<Pattern, Reject> {
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return Err(Reject::EmptyString);
    }
    if text.contains(['\r', '\n']) {
        return Err(Reject::LineBreak);
    }
    let text = if case_insensitive {
        text.to_ascii_lowercase()
    } else {
        text.to_owned()
    };
    Ok(Pattern::String {
        text,
        case_insensitive,
    })
}

/// `Ok(None)` when `v` does not look like an IP at all; an error when it looks like one but is
/// not valid.
fn ip_pattern(v: &str) -> Result<Option<Pattern>, Reject> {
    // [v6]:port and [v6]
    if let Some(rest) = v.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Err(Reject::InvalidIp);
        };
        if !(after.is_empty() || port(after.strip_prefix(':').unwrap_or("x"))) {
            return Err(Reject::InvalidIp);
        }
        return inner
            .parse::<Ipv6Addr>()
            .map(|a| Some(Pattern::Ipv6(a)))
            .map_err(|_| Reject::InvalidIp);
    }
    if v.contains('/') {
        let looks_ip = v
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b":./".contains(&b));
        if !looks_ip {
            return Ok(None);
        }
        let (addr, len) = v.split_once('/').expect("has a slash");
        if addr.contains('.')
            && !addr.contains(':')
            && iocd_engine::parse_ipv4(addr.as_bytes()).is_none()
        {
            return Err(Reject::InvalidIp);
        }
        let net: IpNet = v.parse().map_err(|_| Reject::InvalidIp)?;
        let _ = len;
        let net = net.trunc();
        return Ok(Some(match net {
            IpNet::V4(n) if n.prefix_len() == 32 => Pattern::Ipv4(n.addr()),
            IpNet::V6(n) if n.prefix_len() == 128 => Pattern::Ipv6(n.addr()),
            n => Pattern::Cidr(n),
        }));
    }
    let b = v.as_bytes();
    if b.iter()
        .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b':')
        && b.contains(&b'.')
        && b.first().is_some_and(u8::is_ascii_digit)
    {
        // IPv4 with an optional :port.
        let (addr, p) = match v.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        };
        if p.is_some_and(|p| !port(p)) {
            return Err(Reject::InvalidIp);
        }
        if addr.bytes().filter(|&c| c == b'.').count() != 3 {
            return Ok(None);
        }
        return iocd_engine::parse_ipv4(addr.as_bytes())
            .map(|ip| Some(Pattern::Ipv4(ip.into())))
            .ok_or(Reject::InvalidIp);
    }
    if v.matches(':').count() >= 2 && b.iter().all(|c| c.is_ascii_hexdigit() || b":.".contains(c)) {
        return v
            .parse::<Ipv6Addr>()
            .map(|a| Some(Pattern::Ipv6(a)))
            .map_err(|_| Reject::InvalidIp);
    }
    Ok(None)
}

fn port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
}

fn hash_pattern(v: &str) -> Result<Pattern, Reject> {
    let mut bytes = Vec::with_capacity(v.len() / 2);
    for pair in v.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| Reject::HashLength(v.len()))?;
        bytes.push(u8::from_str_radix(s, 16).map_err(|_| Reject::HashLength(v.len()))?);
    }
    match v.len() {
        32 => Ok(Pattern::Md5(bytes.try_into().expect("16 bytes"))),
        40 => Ok(Pattern::Sha1(bytes.try_into().expect("20 bytes"))),
        64 => Ok(Pattern::Sha256(bytes.try_into().expect("32 bytes"))),
        n => Err(Reject::HashLength(n)),
    }
}

/// A valid host name: lower case, punycode, no trailing dot, at least two labels, a TLD that is
/// not all digits.
fn domain(v: &str) -> Result<String, Reject> {
    let v = v.trim_end_matches('.');
    if v.is_empty() || !v.contains('.') {
        return Err(Reject::InvalidDomain);
    }
    let ascii = if v.is_ascii() {
        v.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(v).map_err(|_| Reject::InvalidDomain)?
    };
    if ascii.len() > 253 {
        return Err(Reject::InvalidDomain);
    }
    let labels_ok = ascii.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let tld = ascii.rsplit('.').next().unwrap_or("");
    if !labels_ok || tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reject::InvalidDomain);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> String {
        parse_indicator(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .to_string()
    }

    #[test]
    fn infers_and_normalizes() {
        let cases = [
            ("1.2.3.4", "1.2.3.4"),
            ("1.2.3.4:443", "1.2.3.4"),
            ("1.2.3[.]4", "1.2.3.4"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("1.2.3.4/32", "1.2.3.4"),
            ("2001:0DB8:0:0::1", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("EVIL.COM.", "evil.com"),
            ("evil[.]com", "evil.com"),
            ("evil(.)com", "evil.com"),
            ("evil[dot]com", "evil.com"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("hxxp://evil[.]com/x/a.php", "http://evil.com/x/a.php"),
            ("hXXps[:]//EVIL.com:443/a", "https://evil.com/a"),
            (
                "D41D8CD98F00B204E9800998ECF8427E",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            ("John.Doe[@]EVIL.com", "John.Doe@evil.com"),
            (
                "string:Mozilla/4.0 (compatible; MSIE 2.0)",
                "Mozilla/4.0 (compatible; MSIE 2.0)",
            ),
            ("istring:EvilMutex", "evilmutex"),
            ("pgiso.com/wp-admin/mCQ/", "http://pgiso.com/wp-admin/mCQ/"),
            ("1.2.3.4:8080/a.sh", "http://1.2.3.4:8080/a.sh"),
        ];
        for (raw, want) in cases {
            assert_eq!(text(raw), want, "{raw}");
        }
        assert_eq!(
            parse_indicator("domain-exact:Evil.com").unwrap(),
            Pattern::Domain {
                name: "evil.com".into(),
                subdomains: false
            }
        );
        assert!(matches!(
            parse_indicator("url-prefix:http://evil.com/x/").unwrap(),
            Pattern::Url { prefix: true, .. }
        ));
    }

    #[test]
    fn rejects_with_reason() {
        let cases = [
            ("01.2.3.4", Reject::InvalidIp),
            ("256.1.1.1", Reject::InvalidIp),
            ("1.2.3.4:99999", Reject::InvalidIp),
            ("1.2.3", Reject::InvalidIp),
            ("deadbeef", Reject::HashLength(8)),
            ("localhost", Reject::InvalidDomain),
            ("a b.com", Reject::InvalidDomain),
            ("@evil.com", Reject::InvalidEmail),
            ("http://", Reject::InvalidUrl),
            ("string:", Reject::EmptyString),
            ("/guids/xian/ringin/", Reject::PathOnly),
            ("/44376", Reject::PathOnly),
            ("string:a\rb", Reject::LineBreak),
            ("not a host/x", Reject::InvalidUrl),
            ("", Reject::Unrecognized),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_indicator(raw), Err(want), "{raw}");
        }
    }

    #[test]
    fn schemeless_url_has_an_https_twin() {
        let p = parse_indicator("evil.com/x").unwrap();
        assert_eq!(
            https_twin("evil.com/x", &p).unwrap().to_string(),
            "https://evil.com/x"
        );
        let q = parse_indicator("http://evil.com/x").unwrap();
        assert_eq!(https_twin("http://evil.com/x", &q), None);
    }

    #[test]
    fn refang_leaves_plain_values_alone() {
        assert_eq!(refang("http://a.com/hxxp"), "http://a.com/hxxp");
        assert_eq!(refang("HXXP://a[.]com"), "http://a.com");
        assert_eq!(refang("a[AT]b[DOT]com"), "a@b.com");
    }
}
