//! A feed generation's listings as the catalog keeps them between compiles.
//!
//! The catalog keeps every feed's listings so that expiry and allowlist changes recompile
//! without reading a feed again. As parsed ([`Listing`]), a listing is a [`Pattern`] enum, a line,
//! an optional boxed [`Meta`] and two flags: 56 bytes, plus a heap box per domain, URL or
//! string. At a million indicators that was 66 MiB kept beside a 41 MiB compiled set, the
//! largest item in the daemon's memory (docs/PERFORMANCE.md, "Memory").
//!
//! [`Listings`] keeps the same information as the canonical key bytes of every listing back to
//! back in one arena (4 bytes for an IPv4 address, the name for a domain), a 16-byte record per
//! listing, and the metadata of the listings that have any in one vector: about 28 bytes a
//! listing for the generated 1M set. A compile decodes each listing back into a [`Pattern`] as
//! it goes: one small allocation per string-like listing, about 2% of a compile's CPU (perf
//! over 6 reloads of that set).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::feed::Listing;
use iocd_engine::{Meta, N_TABLES, Pattern, Table};

const REVOKED: u8 = 1;
const TWIN: u8 = 2;
const NO_META: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Item {
    /// End of this listing's key in the arena; it starts where the previous one ends.
    end: u32,
    line: u32,
    /// Index into `metas`, or [`NO_META`].
    meta: u32,
    tag: Table,
    flags: u8,
}

/// One stored listing, decoded.
#[derive(Debug)]
pub(crate) struct ListingRef<'a> {
    pub pattern: Pattern,
    pub line: u32,
    pub meta: Option<&'a Meta>,
    pub revoked: bool,
    pub twin: bool,
}

/// Listings in compact form; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    keys: Vec<u8>,
    items: Vec<Item>,
    metas: Vec<Meta>,
    /// Listings and key bytes per table of the compiled set, to size a compiler's tables.
    per_table: [usize; N_TABLES],
    bytes: [usize; N_TABLES],
}

fn encode(p: &Pattern, keys: &mut Vec<u8>) -> Table {
    match p {
        Pattern::Ipv4(a) => {
            keys.extend_from_slice(&a.octets());
            Table::Ipv4
        }
        Pattern::Ipv6(a) => {
            keys.extend_from_slice(&a.octets());
            Table::Ipv6
        }
        Pattern::Cidr(IpNet::V4(n)) => {
            keys.extend_from_slice(&n.network().octets());
            keys.push(n.prefix_len());
            Table::Cidr4
        }
        Pattern::Cidr(IpNet::V6(n)) => {
            keys.extend_from_slice(&n.network().octets());
            keys.push(n.prefix_len());
            Table::Cidr6
        }
        Pattern::Domain { name, subdomains } => {
            keys.extend_from_slice(name.as_bytes());
            if *subdomains {
                Table::DomainSub
            } else {
                Table::DomainExact
            }
        }
        Pattern::Url { url, prefix } => {
            keys.extend_from_slice(url.as_bytes());
            if *prefix {
                Table::UrlPrefix
            } else {
                Table::UrlExact
            }
        }
        Pattern::Md5(d) => {
            keys.extend_from_slice(d);
            Table::Md5
        }
        Pattern::Sha1(d) => {
            keys.extend_from_slice(d);
            Table::Sha1
        }
        Pattern::Sha256(d) => {
            keys.extend_from_slice(d);
            Table::Sha256
        }
        Pattern::Email(e) => {
            keys.extend_from_slice(e.as_bytes());
            Table::Email
        }
        Pattern::String {
            text,
            case_insensitive,
        } => {
            keys.extend_from_slice(text.as_bytes());
            if *case_insensitive {
                Table::StrCi
            } else {
                Table::StrCs
            }
        }
    }
}

fn key_len(p: &Pattern) -> usize {
    match p {
        Pattern::Ipv4(_) => 4,
        Pattern::Ipv6(_) => 16,
        Pattern::Cidr(IpNet::V4(_)) => 5,
        Pattern::Cidr(IpNet::V6(_)) => 17,
        Pattern::Domain { name: s, .. }
        | Pattern::Url { url: s, .. }
        | Pattern::Email(s)
        | Pattern::String { text: s, .. } => s.len(),
        Pattern::Md5(_) => 16,
        Pattern::Sha1(_) => 20,
        Pattern::Sha256(_) => 32,
    }
}

fn decode(tag: Table, k: &[u8]) -> Pattern {
    let text = || {
        std::str::from_utf8(k)
            .expect("stored from a String")
            .to_owned()
    };
    let v4 = |k: &[u8]| Ipv4Addr::from(<[u8; 4]>::try_from(&k[..4]).expect("4 bytes"));
    let v6 = |k: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(&k[..16]).expect("16 bytes"));
    match tag {
        Table::Ipv4 => Pattern::Ipv4(v4(k)),
        Table::Ipv6 => Pattern::Ipv6(v6(k)),
        Table::Cidr4 => Pattern::Cidr(IpNet::V4(
            Ipv4Net::new(v4(k), k[4]).expect("stored from a valid network"),
        )),
        Table::Cidr6 => Pattern::Cidr(IpNet::V6(
            Ipv6Net::new(v6(k), k[16]).expect("stored from a valid network"),
        )),
        Table::DomainSub | Table::DomainExact => Pattern::Domain {
            name: text(),
            subdomains: tag == Table::DomainSub,
        },
        Table::UrlExact | Table::UrlPrefix => Pattern::Url {
            url: text(),
            prefix: tag == Table::UrlPrefix,
        },
        Table::Md5 => Pattern::Md5(k.try_into().expect("16 bytes")),
        Table::Sha1 => Pattern::Sha1(k.try_into().expect("20 bytes")),
        Table::Sha256 => Pattern::Sha256(k.try_into().expect("32 bytes")),
        Table::Email => Pattern::Email(text()),
        Table::StrCs | Table::StrCi => Pattern::String {
            text: text(),
            case_insensitive: tag == Table::StrCi,
        },
    }
}

impl Listings {
    /// Takes parsed listings over; sized exactly, so nothing is over-allocated.
    ///
    /// # Panics
    /// When the keys of one generation pass 4 GiB.
    pub(crate) fn from_parsed(listings: Vec<Listing>) -> Listings {
        let bytes: usize = listings.iter().map(|l| key_len(&l.pattern)).sum();
        let with_meta = listings.iter().filter(|l| l.meta.is_some()).count();
        let mut out = Listings {
            keys: Vec::with_capacity(bytes),
            items: Vec::with_capacity(listings.len()),
            metas: Vec::with_capacity(with_meta),
            ..Listings::default()
        };
        for l in listings {
            let at = out.keys.len();
            let tag = encode(&l.pattern, &mut out.keys);
            out.per_table[tag as usize] += 1;
            out.bytes[tag as usize] += out.keys.len() - at;
            let meta = match l.meta {
                None => NO_META,
                // A twin carries its main listing's metadata: keep it once.
                Some(m)
                    if l.twin
                        && out.items.last().is_some_and(|p| {
                            p.meta != NO_META && out.metas[p.meta as usize] == *m
                        }) =>
                {
                    out.items.last().expect("checked").meta
                }
                Some(m) => {
                    out.metas.push(*m);
                    u32::try_from(out.metas.len() - 1).expect("at most 2^32 listings")
                }
            };
            out.items.push(Item {
                end: u32::try_from(out.keys.len()).expect("listing keys over 4 GiB"),
                line: l.line,
                meta,
                tag,
                flags: if l.revoked { REVOKED } else { 0 } | if l.twin { TWIN } else { 0 },
            });
        }
        out.metas.shrink_to_fit();
        out
    }

    /// Adds this generation's listings (and their key bytes) per table to the counts.
    pub(crate) fn tally(&self, per_table: &mut [usize; N_TABLES], bytes: &mut [usize; N_TABLES]) {
        for t in 0..N_TABLES {
            per_table[t] += self.per_table[t];
            bytes[t] += self.bytes[t];
        }
    }

    /// How many listings (twins included).
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Every listing, decoded, in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ListingRef<'_>> + '_ {
        let mut start = 0usize;
        self.items.iter().map(move |it| {
            let end = it.end as usize;
            let pattern = decode(it.tag, &self.keys[start..end]);
            start = end;
            ListingRef {
                pattern,
                line: it.line,
                meta: (it.meta != NO_META).then(|| &self.metas[it.meta as usize]),
                revoked: it.flags & REVOKED != 0,
                twin: it.flags & TWIN != 0,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::parse_indicator;

    fn listing(v: &str, line: u32, meta: Option<Meta>, revoked: bool, twin: bool) -> Listing {
        Listing {
            pattern: parse_indicator(v).unwrap(),
            line,
            meta: meta.map(Box::new),
            revoked,
            twin,
        }
    }

    #[test]
    fn round_trip_of_every_kind() {
        let m = Meta {
            confidence: Some(80),
            tags: vec!["c2".into()],
            valid_until: Some(1_900_000_000),
            ..Meta::default()
        };
        let values = [
            "1.2.3.4",
            "2001:db8::1",
            "10.0.0.0/8",
            "2001:db8::/32",
            "evil.com",
            "domain-exact:login.example.com",
            "http://evil.com/a?b=1",
            "url-prefix:http://stage.example/payloads/",
            "d41d8cd98f00b204e9800998ecf8427e",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "a@evil.com",
            "string:Mozilla/4.0 (compatible; MSIE 2.0)",
            "istring:evilmutex_",
        ];
        let mut parsed: Vec<Listing> = values
            .iter()
            .enumerate()
            .map(|(i, v)| listing(v, i as u32 + 1, None, i == 3, false))
            .collect();
        parsed[4].meta = Some(Box::new(m.clone()));
        let twin = parsed.len();
        parsed.push(listing(
            "https://evil.com/a?b=1",
            7,
            Some(m.clone()),
            false,
            true,
        ));
        parsed[twin - 1].meta = Some(Box::new(m.clone()));
        let expect = parsed.clone();
        let stored = Listings::from_parsed(parsed);
        assert_eq!(
            stored.metas.len(),
            2,
            "the twin shares its main listing's metadata"
        );
        let got: Vec<ListingRef<'_>> = stored.iter().collect();
        assert_eq!(got.len(), expect.len());
        for (g, e) in got.iter().zip(&expect) {
            assert_eq!(g.pattern, e.pattern);
            assert_eq!(g.line, e.line);
            assert_eq!(g.meta, e.meta.as_deref());
            assert_eq!((g.revoked, g.twin), (e.revoked, e.twin));
        }
    }
}
