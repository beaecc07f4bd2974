//! Safety rails: indicators that are valid but would flood every log with false positives.
//!
//! A feed that lists `0.0.0.0/0`, `com`, the MD5 of the empty file or `10.0.0.0/8` is wrong, and
//! one such listing can turn every line into an alert. [`check`] rejects, whatever the feed:
//!
//! | rail | rejects | why |
//! |---|---|---|
//! | `broad_cidr` | an IPv4 network shorter than `/16`, an IPv6 network shorter than `/32` (per-feed `min_prefix_v4` / `min_prefix_v6`) | a `/15` is 131,072 addresses: nobody has verified all of them are hostile |
//! | `public_suffix` | a domain that is a public suffix (`com`, `co.uk`, `blogspot.com`, `duckdns.org`), per the Public Suffix List compiled into the `psl` crate | with subdomain matching, it matches every site under that suffix |
//! | `empty_hash` | the MD5, SHA-1 and SHA-256 of zero bytes | every empty file in every log has it |
//! | `reserved` | loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast, broadcast, unspecified, documentation and benchmarking addresses and networks, the reserved names `.example`, `.test`, `.invalid`, `.localhost`, `.local`, `.home.arpa` and `example.com/net/org`; also URLs and e-mail addresses on such hosts | they are someone's internal network or nobody's: a hit says nothing about a threat. A feed of internal indicators sets `allow_private = true` |
//! | `short_string` | a free-string indicator shorter than 6 bytes | a substring that short occurs by chance |
//!
//! The checks cost a few comparisons and, for domains, one lookup in a compiled `match`: they
//! run on every listing at every compile.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use iocd_engine::Pattern;

/// Which rail rejected an indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Rail {
    #[error("network /{0} is broader than the feed allows")]
    BroadCidr(u8),
    #[error("a public suffix, not a registrable domain")]
    PublicSuffix,
    #[error("the hash of an empty file")]
    EmptyHash,
    #[error("a private, reserved or documentation address or name")]
    Reserved,
    #[error("a free string shorter than {MIN_STRING} bytes")]
    ShortString,
}

impl Rail {
    /// A short, stable name for reports and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Rail::BroadCidr(_) => "broad_cidr",
            Rail::PublicSuffix => "public_suffix",
            Rail::EmptyHash => "empty_hash",
            Rail::Reserved => "reserved",
            Rail::ShortString => "short_string",
        }
    }
}

/// Free strings shorter than this are rejected.
pub(crate) const MIN_STRING: usize = 6;
/// Default shortest IPv4 and IPv6 prefixes a feed may list (the configuration's defaults).
pub use crate::config::feeds::{MIN_PREFIX_V4, MIN_PREFIX_V6};

/// What a feed is allowed to list.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
    pub allow_private: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_prefix_v4: MIN_PREFIX_V4,
            min_prefix_v6: MIN_PREFIX_V6,
            allow_private: false,
        }
    }
}

const EMPTY_MD5: [u8; 16] = hex16("d41d8cd98f00b204e9800998ecf8427e");
const EMPTY_SHA1: [u8; 20] = hex20("da39a3ee5e6b4b0d3255bfef95601890afd80709");
const EMPTY_SHA256: [u8; 32] =
    hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("lower-case hex"),
    }
}

macro_rules! hex_fn {
    ($name:ident, $n:expr) => {
        const fn $name(s: &str) -> [u8; $n] {
            let b = s.as_bytes();
            let mut out = [0u8; $n];
            let mut i = 0;
            while i < $n {
                out[i] = nib(b[2 * i]) << 4 | nib(b[2 * i + 1]);
                i += 1;
            }
            out
        }
    };
}
hex_fn!(hex16, 16);
hex_fn!(hex20, 20);
hex_fn!(hex32, 32);

/// IPv4 networks no indicator may fall inside (RFC 6890 special-purpose registry, the parts
/// that are not globally routable, plus multicast and the reserved class E).
const RESERVED_V4: [(Ipv4Addr, u8); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
    (Ipv4Addr::new(255, 255, 255, 255), 32),
];

/// IPv6 networks no indicator may fall inside. IPv4-mapped addresses are checked as IPv4.
const RESERVED_V6: [(Ipv6Addr, u8); 9] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

/// Special-use names (RFC 2606, RFC 6761, RFC 6762, RFC 8375): the name or any name under it.
const RESERVED_NAMES: [&str; 9] = [
    "example",
    "test",
    "invalid",
    "localhost",
    "local",
    "home.arpa",
    "example.com",
    "example.net",
    "example.org",
];

fn v4_reserved(net: Ipv4Net) -> bool {
    RESERVED_V4.iter().any(|&(a, len)| {
        Ipv4Net::new(a, len)
            .is_ok_and(|r| r.contains(&net.network()) && r.prefix_len() <= net.prefix_len())
    })
}

fn v6_reserved(net: Ipv6Net) -> bool {
    if let Some(v4) = net.network().to_ipv4_mapped() {
        let len = net.prefix_len().saturating_sub(96);
        return Ipv4Net::new(v4, len).is_ok_and(v4_reserved);
    }
    RESERVED_V6.iter().any(|&(a, len)| {
        Ipv6Net::new(a, len)
            .is_ok_and(|r| r.contains(&net.network()) && r.prefix_len() <= net.prefix_len())
    })
}

/// Whether an address or network lies inside a private, reserved or special-use range.
pub(crate) fn reserved_net(net: IpNet) -> bool {
    match net {
        IpNet::V4(n) => v4_reserved(n),
        IpNet::V6(n) => v6_reserved(n),
    }
}

/// Whether a (lower-case, punycode) host name is a special-use name or under one.
pub(crate) fn reserved_name(name: &str) -> bool {
    RESERVED_NAMES
        .iter()
        .any(|r| name == *r || name.strip_suffix(r).is_some_and(|head| head.ends_with('.')))
}

/// Whether a (lower-case, punycode) domain is itself a public suffix (ICANN or private section
/// of the Public Suffix List), so that it names no one organization.
pub fn public_suffix(name: &str) -> bool {
    if !name.contains('.') {
        return true;
    }
    psl::suffix(name.as_bytes()).is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes())
}

fn host_reserved(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return reserved_net(IpNet::from(ip));
    }
    reserved_name(h)
}

/// Checks one indicator against every rail.
pub fn check(p: &Pattern, limits: &Limits) -> Result<(), Rail> {
    let private = |reserved: bool| {
        if reserved && !limits.allow_private {
            Err(Rail::Reserved)
        } else {
            Ok(())
        }
    };
    match p {
        Pattern::Ipv4(a) => private(v4_reserved(Ipv4Net::from(*a))),
        Pattern::Ipv6(a) => private(v6_reserved(Ipv6Net::from(*a))),
        Pattern::Cidr(net) => {
            let min = match net {
                IpNet::V4(_) => limits.min_prefix_v4,
                IpNet::V6(_) => limits.min_prefix_v6,
            };
            if net.prefix_len() < min {
                return Err(Rail::BroadCidr(net.prefix_len()));
            }
            private(reserved_net(*net))
        }
        Pattern::Domain { name, .. } => {
            private(reserved_name(name))?;
            if public_suffix(name) {
                return Err(Rail::PublicSuffix);
            }
            Ok(())
        }
        Pattern::Url { url, .. } => {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            private(host.is_some_and(|h| host_reserved(&h)))
        }
        Pattern::Email(e) => {
            let dom = e.rsplit_once('@').map_or("", |(_, d)| d);
            private(reserved_name(dom))
        }
        Pattern::Md5(d) if *d == EMPTY_MD5 => Err(Rail::EmptyHash),
        Pattern::Sha1(d) if *d == EMPTY_SHA1 => Err(Rail::EmptyHash),
        Pattern::Sha256(d) if *d == EMPTY_SHA256 => Err(Rail::EmptyHash),
        Pattern::Md5(_) | Pattern::Sha1(_) | Pattern::Sha256(_) => Ok(()),
        Pattern::String { text, .. } => {
            if text.len() < MIN_STRING {
                Err(Rail::ShortString)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::parse_indicator;

    fn rail(v: &str, limits: &Limits) -> Result<(), Rail> {
        check(&parse_indicator(v).unwrap(), limits)
    }

    #[test]
    fn table() {
        let d = Limits::default();
        let cases: [(&str, Result<(), Rail>); 31] = [
            ("8.8.8.8", Ok(())),
            ("1.2.3.0/24", Ok(())),
            ("1.2.0.0/16", Ok(())),
            ("1.2.0.0/15", Err(Rail::BroadCidr(15))),
            ("0.0.0.0/0", Err(Rail::BroadCidr(0))),
            ("2a12:2640::/32", Ok(())),
            ("2a12:2640::/29", Err(Rail::BroadCidr(29))),
            ("10.1.2.3", Err(Rail::Reserved)),
            ("172.31.0.0/16", Err(Rail::Reserved)),
            ("172.32.0.1", Ok(())),
            ("127.0.0.1", Err(Rail::Reserved)),
            ("192.0.2.66", Err(Rail::Reserved)),
            ("224.0.0.251", Err(Rail::Reserved)),
            ("255.255.255.255", Err(Rail::Reserved)),
            ("100.64.1.1", Err(Rail::Reserved)),
            ("::1", Err(Rail::Reserved)),
            ("fe80::1", Err(Rail::Reserved)),
            ("fd00::1", Err(Rail::Reserved)),
            ("2001:db8::1", Err(Rail::Reserved)),
            ("::ffff:10.0.0.1", Err(Rail::Reserved)),
            ("2606:4700::1111", Ok(())),
            ("co.uk", Err(Rail::PublicSuffix)),
            ("duckdns.org", Err(Rail::PublicSuffix)),
            ("evil.duckdns.org", Ok(())),
            ("c2.evil.example", Err(Rail::Reserved)),
            ("www.example.com", Err(Rail::Reserved)),
            ("http://10.0.0.1/x", Err(Rail::Reserved)),
            ("http://evil.com/x", Ok(())),
            ("d41d8cd98f00b204e9800998ecf8427e", Err(Rail::EmptyHash)),
            (
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                Err(Rail::EmptyHash),
            ),
            ("string:abc", Err(Rail::ShortString)),
        ];
        for (v, want) in cases {
            assert_eq!(rail(v, &d), want, "{v}");
        }
        assert_eq!(
            rail("da39a3ee5e6b4b0d3255bfef95601890afd80709", &d),
            Err(Rail::EmptyHash)
        );
    }

    #[test]
    fn per_feed_limits() {
        let loose = Limits {
            min_prefix_v4: 8,
            min_prefix_v6: 29,
            allow_private: true,
        };
        assert_eq!(rail("1.2.0.0/15", &loose), Ok(()));
        assert_eq!(rail("2a12:2640::/29", &loose), Ok(()));
        assert_eq!(rail("10.0.0.0/8", &loose), Ok(()));
        assert_eq!(rail("c2.evil.example", &loose), Ok(()));
        assert_eq!(rail("0.0.0.0/0", &loose), Err(Rail::BroadCidr(0)));
        // allow_private does not make a public suffix an indicator.
        assert_eq!(rail("com.au", &loose), Err(Rail::PublicSuffix));
    }
}
