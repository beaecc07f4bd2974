//! The set's index: lookup structures used while generating, so that background tokens
//! never match an indicator and planted ones are checked against the contract.

use foldhash::fast::FixedState;
use hashbrown::HashSet;
use std::hash::BuildHasher;

use super::vocab::{BENIGN_DOMAINS, CONST_DOMAINS};

const FP: FixedState = FixedState::with_seed(0x9e37_79b9_7f4a_7c15);

pub(super) fn fp(s: &str) -> u64 {
    FP.hash_one(s.as_bytes())
}

pub(super) fn mask4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

pub(super) fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

fn key4(ip: u32, len: u8) -> u64 {
    ((len as u64) << 32) | (ip & mask4(len)) as u64
}

/// Proper parent domains: `a.b.c` -> `b.c`, `c`.
fn parents(d: &str) -> impl Iterator<Item = &str> {
    d.match_indices('.').map(move |(i, _)| &d[i + 1..])
}

pub(super) struct Index {
    pub(super) v4: HashSet<u32>,
    c4: HashSet<u64>,
    c4_lens: Vec<u8>,
    /// One bit per /24 touched by an IPv4 CIDR.
    c4_map: Vec<u64>,
    pub(super) v6: HashSet<u128>,
    c6: HashSet<(u8, u128)>,
    c6_lens: Vec<u8>,
    /// Every domain indicator, exact or not.
    pub(super) dom_all: HashSet<u64>,
    /// Domain indicators that match subdomains.
    pub(super) dom_sub: HashSet<u64>,
    pub(super) urls: HashSet<u64>,
    /// Hosts (without port) of every URL indicator.
    pub(super) url_hosts: HashSet<u64>,
    pub(super) hashes: HashSet<u64>,
    pub(super) emails: HashSet<u64>,
    /// Domains that the templates use as they are, and every parent of them: no
    /// indicator domain may be one of these.
    pub(super) reserved: HashSet<u64>,
}

impl Index {
    pub(super) fn new() -> Self {
        let mut reserved = HashSet::new();
        for d in BENIGN_DOMAINS.iter().chain(CONST_DOMAINS) {
            reserved.insert(fp(d));
            for p in parents(d) {
                reserved.insert(fp(p));
            }
        }
        Index {
            v4: HashSet::new(),
            c4: HashSet::new(),
            c4_lens: Vec::new(),
            c4_map: vec![0; 1 << 18],
            v6: HashSet::new(),
            c6: HashSet::new(),
            c6_lens: Vec::new(),
            dom_all: HashSet::new(),
            dom_sub: HashSet::new(),
            urls: HashSet::new(),
            url_hosts: HashSet::new(),
            hashes: HashSet::new(),
            emails: HashSet::new(),
            reserved,
        }
    }

    pub(super) fn add_c4(&mut self, net: u32, len: u8) -> bool {
        if !self.c4.insert(key4(net, len)) {
            return false;
        }
        if !self.c4_lens.contains(&len) {
            self.c4_lens.push(len);
            self.c4_lens.sort_unstable();
        }
        let first = net >> 8;
        let count = if len >= 24 { 1 } else { 1u32 << (24 - len) };
        for b in first..first + count {
            self.c4_map[(b >> 6) as usize] |= 1 << (b & 63);
        }
        true
    }

    pub(super) fn add_c6(&mut self, net: u128, len: u8) -> bool {
        if !self.c6.insert((len, net & mask6(len))) {
            return false;
        }
        if !self.c6_lens.contains(&len) {
            self.c6_lens.push(len);
            self.c6_lens.sort_unstable();
        }
        true
    }

    fn in_c4(&self, ip: u32) -> bool {
        let b = ip >> 8;
        if self.c4_map[(b >> 6) as usize] & (1 << (b & 63)) == 0 {
            return false;
        }
        self.c4_lens.iter().any(|&l| self.c4.contains(&key4(ip, l)))
    }

    /// Would an IPv4 token `ip` match?
    pub(super) fn v4_hit(&self, ip: u32) -> bool {
        self.v4.contains(&ip) || self.in_c4(ip)
    }

    /// Would an IPv6 token `ip` match?
    pub(super) fn v6_hit(&self, ip: u128) -> bool {
        self.v6.contains(&ip)
            || self
                .c6_lens
                .iter()
                .any(|&l| self.c6.contains(&(l, ip & mask6(l))))
    }

    /// Would a domain token `d` (lower case) match?
    pub(super) fn domain_hit(&self, d: &str) -> bool {
        self.dom_all.contains(&fp(d)) || parents(d).any(|p| self.dom_sub.contains(&fp(p)))
    }

    /// Is `d` or any parent of it a domain indicator (exact or not)? Stricter than
    /// [`Index::domain_hit`]: used for background tokens.
    pub(super) fn domain_near(&self, d: &str) -> bool {
        self.dom_all.contains(&fp(d)) || parents(d).any(|p| self.dom_all.contains(&fp(p)))
    }
}
