//! What changed between two sets, and a set of some indicators of another: what a
//! retro-match needs (the indicators a reload added, compiled on their own).

use crate::compile::Compiler;
use crate::pattern::Table;
use crate::set::{IocId, IocSet};

impl IocSet {
    /// A stable 64-bit identity of indicator `id`: its table and canonical key, hashed with
    /// FNV-1a (fixed forever, unlike the hashers of the tables), so that identities written
    /// to disk by one version of iocd are read back by the next. Two sets hold the same
    /// indicator when its identity is the same; the chance that two of a million
    /// indicators share one is about 3e-8.
    pub fn identity(&self, id: IocId) -> u64 {
        let (t, i) = self.locate(id);
        // A tag per table, spelled out (not the enum's order, which may change).
        let tag: u8 = match t {
            Table::Ipv4 => 1,
            Table::Ipv6 => 2,
            Table::Cidr4 => 3,
            Table::Cidr6 => 4,
            Table::DomainSub => 5,
            Table::DomainExact => 6,
            Table::UrlExact => 7,
            Table::UrlPrefix => 8,
            Table::Md5 => 9,
            Table::Sha1 => 10,
            Table::Sha256 => 11,
            Table::Email => 12,
            Table::StrCs => 13,
            Table::StrCi => 14,
        };
        let mut h = Fnv::new(tag);
        match t {
            Table::Ipv4 => h.bytes(&self.ipv4.key(i).to_be_bytes()),
            Table::Ipv6 => h.bytes(&self.ipv6.key(i).to_be_bytes()),
            Table::Cidr4 => {
                let (n, l) = self.cidr4.key(i);
                h.bytes(&n.to_be_bytes());
                h.bytes(&[l]);
            }
            Table::Cidr6 => {
                let (n, l) = self.cidr6.key(i);
                h.bytes(&n.to_be_bytes());
                h.bytes(&[l]);
            }
            Table::DomainSub => h.bytes(self.domain_sub.key(i)),
            Table::DomainExact => h.bytes(self.domain_exact.key(i)),
            Table::UrlExact => h.bytes(self.url_exact.key(i)),
            Table::UrlPrefix => h.bytes(self.url_prefix.key(i)),
            Table::Md5 => h.bytes(&self.md5.key(i)),
            Table::Sha1 => h.bytes(&self.sha1.key(i)),
            Table::Sha256 => h.bytes(&self.sha256.key(i)),
            Table::Email => h.bytes(self.email.key(i)),
            Table::StrCs => h.bytes(self.str_cs.key(i)),
            Table::StrCi => h.bytes(self.str_ci.key(i)),
        }
        h.finish()
    }

    /// The set of the indicators `ids` of this set, each with every listing and everything
    /// its feeds said (feeds keep their names, weights and contexts), compiled on its own.
    ///
    /// # Panics
    /// When an id is not of this set.
    pub fn subset(&self, ids: impl IntoIterator<Item = IocId>) -> IocSet {
        let mut c = Compiler::new();
        for f in &self.feeds {
            let n = c.add_feed(&f.name, &f.location);
            c.set_feed_weight(n, f.weight);
            if let Some(cx) = &f.context {
                c.set_feed_context(n, cx.clone());
            }
        }
        for id in ids {
            let pattern = self.pattern(id);
            for s in self.sources(id) {
                match self.meta(s) {
                    Some(m) => c.add_with_meta(&pattern, *s, m.clone()),
                    None => c.add(&pattern, *s),
                };
            }
        }
        c.build()
    }
}

/// FNV-1a, 64 bits, with a final avalanche so that near keys (consecutive addresses) spread.
struct Fnv(u64);

impl Fnv {
    fn new(tag: u8) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.bytes(&[tag]);
        h
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        // The finalizer of SplitMix64.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Meta, Pattern, SourceRef};

    fn pat(text: &str) -> Pattern {
        if let Ok(n) = text.parse::<ipnet::IpNet>() {
            return Pattern::Cidr(n);
        }
        match text.parse() {
            Ok(a) => Pattern::Ipv4(a),
            Err(_) => Pattern::Domain {
                name: text.to_owned(),
                subdomains: true,
            },
        }
    }

    fn set(items: &[(&str, Option<u8>)]) -> IocSet {
        let mut c = Compiler::new();
        let f = c.add_feed("feed", "feed.txt");
        c.set_feed_weight(f, 2.0);
        for (i, (text, conf)) in items.iter().enumerate() {
            let p = pat(text);
            let src = SourceRef::plain(f, i as u32 + 1);
            match conf {
                Some(c2) => c.add_with_meta(
                    &p,
                    src,
                    Meta {
                        confidence: Some(*c2),
                        ..Meta::default()
                    },
                ),
                None => c.add(&p, src),
            };
        }
        c.build()
    }

    #[test]
    fn identities_are_stable_and_tell_kinds_apart() {
        let a = set(&[("198.51.100.7", None), ("evil.example", None)]);
        let b = set(&[("evil.example", None), ("198.51.100.7", Some(90))]);
        let ids = |s: &IocSet| {
            let mut v: Vec<u64> = (0..s.len() as u32).map(|i| s.identity(IocId(i))).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(ids(&a), ids(&b), "same indicators, same identities");
        // The value of the hash is part of the on-disk format: it must never change.
        let ip = a.find(&pat("198.51.100.7")).unwrap();
        assert_eq!(
            a.identity(ip),
            0xa03b_738b_6a1e_d874,
            "{:#x}",
            a.identity(ip)
        );
        let c = set(&[("198.51.100.8", None)]);
        assert_ne!(ids(&a)[0], ids(&c)[0]);
    }

    #[test]
    fn a_subset_keeps_listings_and_what_feeds_said() {
        let a = set(&[
            ("198.51.100.7", Some(90)),
            ("evil.example", None),
            ("203.0.113.0/24", None),
        ]);
        let ip = a.find(&pat("198.51.100.7")).unwrap();
        let net = a.find(&pat("203.0.113.0/24")).unwrap();
        let sub = a.subset([ip, net]);
        assert_eq!(sub.len(), 2);
        assert!(sub.find(&pat("evil.example")).is_none());
        let id = sub.find(&pat("198.51.100.7")).unwrap();
        let src = sub.sources(id);
        assert_eq!(src.len(), 1);
        assert_eq!(src[0].line, 1);
        assert_eq!(sub.meta(&src[0]).unwrap().confidence, Some(90));
        assert_eq!(sub.feeds()[0].weight, 2.0);
        assert_eq!(sub.identity(id), a.identity(ip));
        // It matches on its own: the CIDR covers an address of a line.
        let mut hits = Vec::new();
        sub.scan(
            b"deny 203.0.113.9 and evil.example\n",
            &mut crate::Scratch::new(),
            &mut hits,
        );
        assert_eq!(hits.len(), 1);
    }
}
