//! [`IocSet::scan`]: byte classes, token extents and the per-family lookups.
//!
//! A buffer is classified 64 bytes at a time into bit masks (`classify.rs`); each family then
//! reads its anchors from the masks of a block (`.` for dotted tokens, a `:` with another one
//! near it for IPv6, `://` for URLs, an all-hex 16-byte lane for hashes), takes a token's ends
//! from the nearest class changes around the anchor, and its candidate families from the other
//! masks between those ends. A token that reaches a block's edge is walked byte by byte instead.

use std::net::Ipv6Addr;

use crate::classify::{self, Block, with_families};
use crate::index::StrIndex;
use crate::pattern::*;
use crate::set::*;
use crate::url::canonical_url;
use crate::*;

/// Bytes classified per call of the kernel (16 blocks, 896 bytes of masks on the stack).
const WINDOW: usize = 1024;

/// A maximal run of the `DOTTED` class with a dot in it, `s..e`.
#[derive(Clone, Copy)]
struct Dotted {
    s: usize,
    e: usize,
    /// It holds a letter or a byte >= 0x80: a name, not an address.
    named: bool,
    /// It holds a `-` or `_`.
    dashed: bool,
    /// Its dots, the ones at its ends included.
    dots: u32,
}

/// Which lookups a dotted token gets (the set holds indicators of that family).
#[derive(Clone, Copy)]
struct Lookups {
    v4: bool,
    domain: bool,
    email: bool,
    /// Name tokens are looked up as URL hosts (URL indicators are in the set).
    url_host: bool,
}

/// Where each family's scan stands between blocks: a token that ran past a block's end was
/// handled whole, and anchors before these positions are passed.
#[derive(Default)]
struct Cursor {
    dotted: usize,
    v6: usize,
    url: usize,
    /// End of the last run of URL bytes (see [`IocSet::url_at`]).
    url_run_end: usize,
    /// The next 16-byte lane that may start a hex run, and where the last run ended.
    hex_next: usize,
    hex_floor: usize,
}

/// Bits `i` of a block at `base` with `base + i >= pos`.
#[inline(always)]
fn at_or_after(pos: usize, base: usize) -> u64 {
    match pos.saturating_sub(base) {
        0 => !0,
        k if k >= 64 => 0,
        k => !0u64 << k,
    }
}

/// Bits below `n` (`n` at most 64).
#[inline(always)]
fn below(n: u32) -> u64 {
    if n >= 64 { !0 } else { (1u64 << n) - 1 }
}

/// The run of `class` bytes (`run`, one bit per byte of the block at `base`) around bit `at`:
/// its start and end in `hay`, and the bits of the block it covers. `None` when the run
/// reaches an edge of the block and goes on past it, to be walked byte by byte.
#[inline(always)]
fn run_around(
    hay: &[u8],
    base: usize,
    run: u64,
    at: u32,
    class: impl Fn(u8) -> bool,
) -> Option<(usize, usize, u64)> {
    let stops_below = !run & below(at);
    let stops_above = !run & (!0u64 << at);
    let s = if stops_below != 0 {
        64 - stops_below.leading_zeros()
    } else if base == 0 || !class(hay[base - 1]) {
        0
    } else {
        return None;
    };
    let e = if stops_above != 0 {
        stops_above.trailing_zeros()
    } else if hay.get(base + 64).is_none_or(|&b| !class(b)) {
        64
    } else {
        return None;
    };
    Some((base + s as usize, base + e as usize, below(e) & !below(s)))
}

impl IocSet {
    /// Appends to `hits` every indicator found in `hay`, sorted by position then id.
    ///
    /// `hay` may be one line or a buffer of many: no token spans a line break. Hits already in
    /// `hits` are left alone.
    pub fn scan(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
        let first = hits.len();
        scratch.url_hosts.clear();
        let want = Lookups {
            v4: self.table_len(Table::Ipv4) + self.table_len(Table::Cidr4) > 0,
            domain: self.table_len(Table::DomainSub) + self.table_len(Table::DomainExact) > 0,
            email: self.table_len(Table::Email) > 0,
            url_host: self.url_hosts.len() > 0,
        };
        let bit = |yes: bool, b: u8| if yes { b } else { 0 };
        let fam = bit(
            want.v4 || want.domain || want.email || want.url_host,
            classify::DOTTED,
        ) | bit(
            self.table_len(Table::Ipv6) + self.table_len(Table::Cidr6) > 0,
            classify::V6,
        ) | bit(want.url_host, classify::URL)
            | bit(
                self.table_len(Table::Md5)
                    + self.table_len(Table::Sha1)
                    + self.table_len(Table::Sha256)
                    > 0,
                classify::HEX,
            );
        if fam != 0 {
            with_families!(fam, F => self.scan_blocks::<F>(hay, &want, scratch, hits));
        }
        if let Some(search) = &self.strings {
            self.scan_strings(search, hay, hits);
        }
        let new = &mut hits[first..];
        if new.len() > 1 {
            new.sort_unstable();
            let mut kept = first;
            for i in first..hits.len() {
                if kept == first || hits[kept - 1] != hits[i] {
                    hits[kept] = hits[i];
                    kept += 1;
                }
            }
            hits.truncate(kept);
        }
    }

    /// Every family but free strings, block by block.
    ///
    /// `FAM` holds the families the set needs as `classify::DOTTED`, `V6`, `URL` and `HEX`;
    /// the kernel computes only the masks those read, and the loop has only their calls.
    fn scan_blocks<const FAM: u8>(
        &self,
        hay: &[u8],
        want: &Lookups,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let mut blocks = [Block::default(); WINDOW / 64];
        let mut at = Cursor::default();
        for (w, window) in hay.chunks(WINDOW).enumerate() {
            let n = window.len().div_ceil(64);
            scratch.kernel.classify::<FAM>(window, &mut blocks[..n]);
            for (k, blk) in blocks[..n].iter().enumerate() {
                let base = w * WINDOW + k * 64;
                if FAM & classify::DOTTED != 0 {
                    self.dotted_block(hay, base, blk, want, &mut at, scratch, hits);
                }
                if FAM & classify::V6 != 0 {
                    self.v6_block(hay, base, blk, &mut at, hits);
                }
                if FAM & classify::URL != 0 {
                    self.url_block(hay, base, blk, &mut at, scratch, hits);
                }
                if FAM & classify::HEX != 0 {
                    self.hex_block(hay, base, blk, &mut at, hits);
                }
            }
        }
    }

    /// Free strings. Pattern numbers are those of [`string_patterns`]: case-sensitive strings
    /// first, then case-insensitive ones (stored lower-cased).
    pub(crate) fn scan_strings(&self, search: &StringSearch, hay: &[u8], hits: &mut Vec<Hit>) {
        let n_cs = self.table_len(Table::StrCs) as u32;
        let id = |p: u32| {
            if p < n_cs {
                self.id(Table::StrCs, p)
            } else {
                self.id(Table::StrCi, p - n_cs)
            }
        };
        let text = |p: u32| {
            if p < n_cs {
                self.str_cs.key(p)
            } else {
                self.str_ci.key(p - n_cs)
            }
        };
        match search {
            StringSearch::Anchors { searcher, owners } => {
                let mut pos = 0;
                while let Some(m) = searcher.find_in(hay, aho_corasick::Span::from(pos..hay.len()))
                {
                    // Anchors all have the same length and are distinct, so at most one
                    // starts at a position: moving one byte on finds every occurrence.
                    pos = m.start() + 1;
                    for &(p, offset) in &owners[m.pattern().as_usize()] {
                        let Some(start) = m.start().checked_sub(offset as usize) else {
                            continue;
                        };
                        let t = text(p);
                        let Some(got) = hay.get(start..start + t.len()) else {
                            continue;
                        };
                        let same = if p < n_cs {
                            got == t
                        } else {
                            got.eq_ignore_ascii_case(t)
                        };
                        if same {
                            hits.push(Hit {
                                start,
                                end: start + t.len(),
                                id: id(p),
                            });
                        }
                    }
                    if pos >= hay.len() {
                        break;
                    }
                }
            }
            StringSearch::Automaton(ac) => {
                for m in ac.find_overlapping_iter(hay) {
                    let p = m.pattern().as_u32();
                    if p < n_cs && &hay[m.start()..m.end()] != text(p) {
                        continue;
                    }
                    hits.push(Hit {
                        start: m.start(),
                        end: m.end(),
                        id: id(p),
                    });
                }
            }
        }
    }

    /// IPv4, IPv4 CIDR, domains and e-mail: every token around a `.` of the block at `base`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dotted_block(
        &self,
        hay: &[u8],
        base: usize,
        blk: &Block,
        want: &Lookups,
        at: &mut Cursor,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let mut dots = blk.dot & at_or_after(at.dotted, base);
        while dots != 0 {
            let dot = dots.trailing_zeros();
            let token = match run_around(hay, base, blk.word, dot, |b| class(b) & DOTTED != 0) {
                Some((s, e, bits)) => Dotted {
                    s,
                    e,
                    named: blk.named & bits != 0,
                    dashed: blk.dash & bits != 0,
                    dots: (blk.dot & bits).count_ones(),
                },
                None => dotted_walk(hay, base + dot as usize),
            };
            at.dotted = token.e;
            dots &= at_or_after(token.e, base);
            self.dotted_token(hay, token, want, scratch, hits);
        }
    }

    /// A dotted token: what its masks tell of it decides which lookups it gets.
    #[inline]
    fn dotted_token(
        &self,
        hay: &[u8],
        token: Dotted,
        want: &Lookups,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let Dotted {
            s,
            e,
            named,
            dashed,
            dots,
        } = token;
        let Lookups {
            v4: want_v4,
            domain: want_domain,
            email: want_email,
            url_host: want_url_host,
        } = *want;
        // Dots at either end are punctuation, not part of the name or address.
        let (mut ts, mut te) = (s, e);
        while ts < te && hay[ts] == b'.' {
            ts += 1;
        }
        while te > ts && hay[te - 1] == b'.' {
            te -= 1;
        }
        if ts == te {
            return;
        }
        if !named {
            if want_v4 || self.url_v4_hosts {
                // A dotted quad has three dots once the end dots are dropped (`1.5`, `12.0.1`
                // and `1.2.3.4.5` are never parsed) and at most 15 bytes.
                let quad = dots as usize - (ts - s) - (e - te) == 3 && te - ts <= 15;
                if !dashed && quad {
                    let ip = if want_v4 {
                        self.lookup_v4(hay, ts, te, hits)
                    } else {
                        parse_ipv4(&hay[ts..te])
                    };
                    // The address is the host of a URL indicator: a sorted list behind a
                    // 64 Ki-bit filter, so other addresses cost one read.
                    if let Some(ip) = ip
                        && self.url_v4_hosts
                        && self.url_v4_filter[v4_slot(ip) / 64] & (1 << (v4_slot(ip) % 64)) != 0
                        && self.url_v4.binary_search(&ip).is_ok()
                    {
                        scratch.url_hosts.push(ts..te);
                    }
                } else if want_v4 && dashed {
                    let mut ps = ts;
                    for pe in (ts..te).filter(|&k| class(hay[k]) & DASH != 0).chain([te]) {
                        let (mut a, mut b) = (ps, pe);
                        while a < b && hay[a] == b'.' {
                            a += 1;
                        }
                        while b > a && hay[b - 1] == b'.' {
                            b -= 1;
                        }
                        if a < b {
                            self.lookup_v4(hay, a, b, hits);
                        }
                        ps = pe + 1;
                    }
                }
            }
            // Digits, dots and dashes still spell a name when a label has a dash (`1.2-3`
            // is a valid domain indicator); with no dash, the last label is all digits.
            if !dashed {
                return;
            }
        }
        // The domain of an e-mail address starts right after its `@`.
        let email = want_email && ts == s && s > 1 && hay[s - 1] == b'@';
        if !(want_domain || want_url_host || email) || !domain_name(&hay[ts..te], &mut scratch.name)
        {
            return;
        }
        let h = StrIndex::hash(&scratch.name);
        if want_domain {
            self.lookup_domain(&scratch.name, h, ts, te, hits);
        }
        // Is the name the host of a URL indicator? The filter first, then a probe with
        // the same hash.
        if want_url_host
            && in_filter(&self.url_host_filter, h)
            && self.url_hosts.get_hashed(h, &scratch.name).is_some()
        {
            scratch.url_hosts.push(ts..te);
        }
        if email {
            let at = s - 1;
            let mut ls = at;
            while ls > 0 && class(hay[ls - 1]) & LOCAL != 0 {
                ls -= 1;
            }
            if ls < at {
                scratch.email.clear();
                scratch.email.extend_from_slice(&hay[ls..=at]);
                scratch.email.extend_from_slice(&scratch.name);
                if let Some(i) = self.email.get(&scratch.email) {
                    hits.push(Hit {
                        start: ls,
                        end: te,
                        id: self.id(Table::Email, i),
                    });
                }
            }
        }
    }

    #[inline]
    /// Looks the address token `s..e` up; the address it is, if it is one.
    pub(crate) fn lookup_v4(
        &self,
        hay: &[u8],
        s: usize,
        e: usize,
        hits: &mut Vec<Hit>,
    ) -> Option<u32> {
        let ip = parse_ipv4(&hay[s..e])?;
        if !self.v4_map.is_empty() {
            // 2^18 words when present (checked when a file is read).
            let slash24 = (ip >> 8) as usize;
            if self.v4_map[slash24 / 64] & (1 << (slash24 % 64)) == 0 {
                return Some(ip);
            }
        }
        if let Some(i) = self.ipv4.get(&ip) {
            hits.push(Hit {
                start: s,
                end: e,
                id: self.id(Table::Ipv4, i),
            });
        }
        if let Some(i) = self.lpm4.get(ip)
            && (i as usize) < self.table_len(Table::Cidr4)
        {
            hits.push(Hit {
                start: s,
                end: e,
                id: self.id(Table::Cidr4, i),
            });
        }
        Some(ip)
    }

    pub(crate) fn lookup_domain(
        &self,
        name: &[u8],
        h: u64,
        s: usize,
        e: usize,
        hits: &mut Vec<Hit>,
    ) {
        let hit = |t: Table, i: u32| Hit {
            start: s,
            end: e,
            id: self.id(t, i),
        };
        if let Some(i) = self.domain_exact.get_hashed(h, name) {
            hits.push(hit(Table::DomainExact, i));
        }
        if let Some(i) = self.domain_sub.get_hashed(h, name) {
            hits.push(hit(Table::DomainSub, i));
        }
        if self.table_len(Table::DomainSub) == 0 {
            return;
        }
        // Parent domains, longest first, down to the fewest labels a subdomain-matching
        // indicator has: with no single-label indicator (a TLD), `com` is never looked up.
        let mut labels = 1 + memchr::memchr_iter(b'.', name).count();
        for k in memchr::memchr_iter(b'.', name) {
            labels -= 1;
            if labels < self.sub_min_labels {
                break;
            }
            if let Some(i) = self.domain_sub.get(&name[k + 1..]) {
                hits.push(hit(Table::DomainSub, i));
            }
        }
    }

    /// IPv6 and IPv6 CIDR: every run of hex digits, colons and dots around a `:` of the block
    /// at `base` that has another colon at most five bytes away.
    #[inline(always)]
    fn v6_block(&self, hay: &[u8], base: usize, blk: &Block, at: &mut Cursor, hits: &mut Vec<Hit>) {
        let colons = blk.colon;
        if colons == 0 {
            return;
        }
        // An address has two colons at least, and a group holds at most four hex digits, so
        // two of its colons are at most five bytes apart with only hex digits between them,
        // while most colons in logs stand alone (`"key":`, `host:port`) or have other bytes
        // between them and the next (`"a":"b"`). So a colon anchors a candidate only when
        // another follows within five bytes across hex digits, colons and dots; one of the top
        // five may have its partner in the next block. (The first colon of an address is
        // anchored that way; a colon of the block whose partner was in the block before is in
        // the run that block's anchor expanded.)
        let run = blk.hex | colons | blk.dot;
        let mut between = !0u64;
        let mut paired = 0;
        for d in 1..=5 {
            paired |= between & (colons >> d);
            between &= run >> d;
        }
        let mut cand = colons & (paired | !0u64 << 59) & at_or_after(at.v6, base);
        while cand != 0 {
            let k = cand.trailing_zeros();
            let (s, e) = match run_around(hay, base, run, k, is_v6) {
                Some((s, e, bits)) => {
                    // The shape test of `v6_token` before trimming, from the masks: trimming
                    // drops at most a colon at each end and never makes a `::`.
                    let n = (colons & bits).count_ones();
                    let double = colons & (colons >> 1) & bits != 0;
                    if n < 2 || !(double || (6..=9).contains(&n)) {
                        at.v6 = e;
                        cand &= at_or_after(e, base);
                        continue;
                    }
                    (s, e)
                }
                None => walk_run(hay, base + k as usize, is_v6),
            };
            at.v6 = e;
            cand &= at_or_after(e, base);
            self.v6_token(hay, s, e, hits);
        }
    }

    /// The run `s..e` of hex digits, colons and dots: the address it is, if it is one and
    /// touches no letter or digit.
    #[inline]
    fn v6_token(&self, hay: &[u8], s: usize, e: usize, hits: &mut Vec<Hit>) {
        if (s > 0 && class(hay[s - 1]) & (ALPHA | DIGIT) != 0)
            || (e < hay.len() && class(hay[e]) & (ALPHA | DIGIT) != 0)
        {
            return;
        }
        let mut tok = &hay[s..e];
        let mut ts = s;
        while tok.last() == Some(&b'.') {
            tok = &tok[..tok.len() - 1];
        }
        if tok.ends_with(b":") && !tok.ends_with(b"::") {
            tok = &tok[..tok.len() - 1];
        }
        if tok.starts_with(b":") && !tok.starts_with(b"::") {
            tok = &tok[1..];
            ts += 1;
        }
        // Cheap shape test before parsing: at least two colons, and `::`, or eight groups,
        // or seven with a dotted IPv4 tail. (A one-off `memmem` here cost more than the
        // rest of the IPv6 scan: it builds a searcher per call.)
        let (mut colons, mut double, mut dot) = (0, false, false);
        let mut prev = 0u8;
        for &b in tok {
            if b == b':' {
                colons += 1;
                double |= prev == b':';
            } else if b == b'.' {
                dot = true;
            }
            prev = b;
        }
        if colons < 2 || !(double || colons == 7 || (colons == 6 && dot)) {
            return;
        }
        let Some(ip) = std::str::from_utf8(tok)
            .ok()
            .and_then(|t| t.parse::<Ipv6Addr>().ok())
        else {
            return;
        };
        let ip = u128::from(ip);
        let te = ts + tok.len();
        if let Some(i) = self.ipv6.get(&ip) {
            hits.push(Hit {
                start: ts,
                end: te,
                id: self.id(Table::Ipv6, i),
            });
        }
        for &len in self.cidr6_lens.iter() {
            let net = if len == 0 {
                0
            } else {
                ip & (u128::MAX << (128 - len))
            };
            if let Some(i) = self.cidr6.get(&(net, len)) {
                hits.push(Hit {
                    start: ts,
                    end: te,
                    id: self.id(Table::Cidr6, i),
                });
                break;
            }
        }
    }

    /// URLs: every `scheme://` of the block at `base` (a `:` with `//` after it).
    #[inline(always)]
    fn url_block(
        &self,
        hay: &[u8],
        base: usize,
        blk: &Block,
        at: &mut Cursor,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let mut seps = blk.colon & blk.slash >> 1 & blk.slash >> 2;
        // A colon in the last two bytes has its slashes in the next block.
        for edge in [62, 63] {
            if blk.colon >> edge & 1 == 1
                && hay.get(base + edge + 1..base + edge + 3) == Some(b"//")
            {
                seps |= 1 << edge;
            }
        }
        seps &= at_or_after(at.url, base);
        while seps != 0 {
            let c = base + seps.trailing_zeros() as usize;
            at.url = c + 3;
            seps &= at_or_after(at.url, base);
            self.url_at(hay, c, &mut at.url_run_end, scratch, hits);
        }
    }

    /// The URL whose `://` is at `c`, if its host is the host of some URL indicator.
    /// `run_end` is the end of the last run of URL bytes: a `://` inside it (a URL nested in
    /// another's query, `?u=http://evil.com/x`) starts a URL of its own, which ends where that
    /// run ends.
    #[inline]
    fn url_at(
        &self,
        hay: &[u8],
        c: usize,
        run_end: &mut usize,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let mut s = c;
        while s > 0 && is_scheme(hay[s - 1]) {
            s -= 1;
        }
        // A scheme starts with a letter; `1http://` is not a URL start we trust.
        while s < c && !hay[s].is_ascii_alphabetic() {
            s += 1;
        }
        if s == c {
            return;
        }
        if c >= *run_end {
            *run_end = c + 3;
            while *run_end < hay.len() && class(hay[*run_end]) & URL != 0 {
                *run_end += 1;
            }
        }
        let e = trim_url_end(&hay[s..*run_end]) + s;
        let rest = &hay[c + 3..e];
        let auth_end = rest
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        let host_port = match memchr::memrchr(b'@', authority) {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let host = if host_port.first() == Some(&b'[') {
            match memchr::memchr(b']', host_port) {
                Some(k) => &host_port[..=k],
                None => return,
            }
        } else {
            let end = memchr::memchr(b':', host_port).unwrap_or(host_port.len());
            &host_port[..end]
        };
        // The raw host can stand for the canonical one only when canonicalization would
        // change nothing but case and trailing dots: not an IPv6 literal (`[2001:DB8:0::1]`)
        // and not a number-like IPv4 host (`0x1020304`, `16909060`, `01.02.03.04` are all
        // `1.2.3.4`); those take the slow path through `canonical_url`.
        let mut bare = host;
        while let [rest @ .., b'.'] = bare {
            bare = rest;
        }
        let last_label = bare.rsplit(|&b| b == b'.').next().unwrap_or(bare);
        let numeric =
            last_label.first().is_some_and(u8::is_ascii_digit) && parse_ipv4(bare).is_none();
        // A host of dots only (`z://./`) keeps them in canonical form.
        let plain = !numeric
            && !bare.is_empty()
            && host
                .iter()
                .all(|&b| class(b) & (ALPHA | DIGIT | DOT | DASH) != 0);
        if plain {
            scratch.name.clear();
            scratch
                .name
                .extend(host.iter().map(|b| b.to_ascii_lowercase()));
            while scratch.name.last() == Some(&b'.') {
                scratch.name.pop();
            }
            if self.url_hosts.get(&scratch.name).is_none() {
                return;
            }
        }
        let Ok(raw) = std::str::from_utf8(&hay[s..e]) else {
            return;
        };
        let Some(canon) = canonical_url(raw) else {
            return;
        };
        if !plain {
            match url::canonical_host(&canon) {
                Some(h) if self.url_hosts.get(h.as_bytes()).is_some() => {}
                _ => return,
            }
        }
        if let Some(i) = self.url_exact.get(canon.as_bytes()) {
            hits.push(Hit {
                start: s,
                end: e,
                id: self.id(Table::UrlExact, i),
            });
        }
        for &len in self.url_prefix_lens.iter() {
            let len = len as usize;
            if len > canon.len() {
                break;
            }
            // A prefix must hold the whole authority: `tcp://1.1.1.1` (a scheme with no
            // default path) is not a prefix of `tcp://1.1.1.10` or `tcp://1.1.1.1:80`.
            if len < authority_end(&canon) {
                continue;
            }
            if let Some(i) = self.url_prefix.get(&canon.as_bytes()[..len]) {
                hits.push(Hit {
                    start: s,
                    end: e,
                    id: self.id(Table::UrlPrefix, i),
                });
            }
        }
    }

    /// md5, sha1, sha256: hex runs of exactly 32, 40 or 64 digits.
    ///
    /// A run of 32 or more hex digits always covers a whole 16-byte lane aligned on a multiple
    /// of 16, so only lanes that are all hex (rare in log text) are expanded into runs.
    #[inline(always)]
    fn hex_block(
        &self,
        hay: &[u8],
        base: usize,
        blk: &Block,
        at: &mut Cursor,
        hits: &mut Vec<Hit>,
    ) {
        for lane in 0..4 {
            let i = base + 16 * lane;
            if (blk.hex >> (16 * lane)) as u16 == 0xFFFF && i >= at.hex_next {
                self.hex_run(hay, i, at, hits);
            }
        }
    }

    /// The hex run through the all-hex lane at `i`.
    #[inline]
    fn hex_run(&self, hay: &[u8], i: usize, at: &mut Cursor, hits: &mut Vec<Hit>) {
        let n = hay.len();
        let mut s = i;
        while s > at.hex_floor && is_hex(hay[s - 1]) {
            s -= 1;
        }
        let mut e = i + 16;
        while e < n && is_hex(hay[e]) {
            e += 1;
        }
        at.hex_floor = e;
        at.hex_next = (e / 16 + 1) * 16;
        let len = e - s;
        if !matches!(len, 32 | 40 | 64)
            || (s > 0 && class(hay[s - 1]) & (ALPHA | DIGIT) != 0)
            || (e < n && class(hay[e]) & (ALPHA | DIGIT) != 0)
        {
            return;
        }
        let run = &hay[s..e];
        let found = match len {
            32 => self.md5.get(&decode_hex(run)).map(|i| (Table::Md5, i)),
            40 => self.sha1.get(&decode_hex(run)).map(|i| (Table::Sha1, i)),
            _ => self
                .sha256
                .get(&decode_hex(run))
                .map(|i| (Table::Sha256, i)),
        };
        if let Some((t, k)) = found {
            hits.push(Hit {
                start: s,
                end: e,
                id: self.id(t, k),
            });
        }
    }
}

/// The run of `class` bytes around `at`, walked byte by byte.
fn walk_run(hay: &[u8], at: usize, class: impl Fn(u8) -> bool) -> (usize, usize) {
    let mut s = at;
    while s > 0 && class(hay[s - 1]) {
        s -= 1;
    }
    let mut e = at + 1;
    while e < hay.len() && class(hay[e]) {
        e += 1;
    }
    (s, e)
}

/// The token around the `.` at `dot` (a run of the `DOTTED` class), walked byte by byte, for a
/// token that reaches past a block's edge (the masks of one block answer the same for the
/// others).
fn dotted_walk(hay: &[u8], dot: usize) -> Dotted {
    let (mut bits, mut dots) = (DOT, 1);
    let mut take = |c: u8| {
        bits |= c;
        dots += u32::from(c & DOT != 0);
    };
    let mut s = dot;
    while s > 0 && class(hay[s - 1]) & DOTTED != 0 {
        take(class(hay[s - 1]));
        s -= 1;
    }
    let mut e = dot + 1;
    while e < hay.len() && class(hay[e]) & DOTTED != 0 {
        take(class(hay[e]));
        e += 1;
    }
    Dotted {
        s,
        e,
        named: bits & (ALPHA | HIGH) != 0,
        dashed: bits & DASH != 0,
        dots,
    }
}

/// The end of a URL token once trailing punctuation is dropped: `.,;:!?` always, and a closing
/// bracket when the URL has no opening one.
pub(crate) fn trim_url_end(url: &[u8]) -> usize {
    let mut e = url.len();
    while e > 0 {
        let b = url[e - 1];
        let drop = match b {
            b'.' | b',' | b';' | b':' | b'!' | b'?' => true,
            b')' => !url[..e - 1].contains(&b'('),
            b']' => !url[..e - 1].contains(&b'['),
            _ => false,
        };
        if !drop {
            break;
        }
        e -= 1;
    }
    e
}

/// Where the authority (`user@host:port`) of a canonical URL ends: at the first `/`, `?` or
/// `#` after `://`, or at the end.
pub(crate) fn authority_end(canonical: &str) -> usize {
    let Some(k) = canonical.find("://") else {
        return 0;
    };
    canonical[k + 3..]
        .find(['/', '?', '#'])
        .map_or(canonical.len(), |i| k + 3 + i)
}

/// Writes the lookup form of a dotted token into `out`: lower-case ASCII, IDN to punycode.
/// False when the token is not a name at all.
pub(crate) fn domain_name(tok: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if tok.is_ascii() {
        out.extend(tok.iter().map(|b| b.to_ascii_lowercase()));
        return true;
    }
    // Rare: a Unicode host name in the log. The indicator side is punycode, so convert.
    let Ok(s) = std::str::from_utf8(tok) else {
        return false;
    };
    match idna::domain_to_ascii(s) {
        Ok(a) => {
            out.extend_from_slice(a.as_bytes());
            true
        }
        Err(_) => false,
    }
}

pub(crate) fn decode_hex<const N: usize>(run: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (hex_digit(run[2 * k]) << 4) | hex_digit(run[2 * k + 1]);
    }
    out
}

#[inline]
pub(crate) fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

// Byte classes, one table lookup per byte.
pub(crate) const DIGIT: u8 = 1;
pub(crate) const HEXALPHA: u8 = 2;
pub(crate) const ALPHA: u8 = 4;
pub(crate) const DOT: u8 = 8;
pub(crate) const DASH: u8 = 16;
pub(crate) const HIGH: u8 = 32;
/// Extra bytes allowed in an e-mail local part (`+` and `%`), beside letters, digits, `.-_`.
pub(crate) const LOCALX: u8 = 64;
/// Bytes that may be part of a URL token.
pub(crate) const URL: u8 = 128;
pub(crate) const DOTTED: u8 = DIGIT | ALPHA | DOT | DASH | HIGH;
pub(crate) const LOCAL: u8 = DIGIT | ALPHA | DOT | DASH | LOCALX;

pub(crate) static CLASSES: [u8; 256] = build_classes();

pub(crate) const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut v = 0;
        if c.is_ascii_digit() {
            v |= DIGIT;
        }
        if c.is_ascii_alphabetic() {
            v |= ALPHA;
        }
        if matches!(c, b'a'..=b'f' | b'A'..=b'F') {
            v |= HEXALPHA;
        }
        if c == b'.' {
            v |= DOT;
        }
        if c == b'-' || c == b'_' {
            v |= DASH;
        }
        if c >= 0x80 {
            v |= HIGH;
        }
        if c == b'+' || c == b'%' {
            v |= LOCALX;
        }
        if c > 0x20
            && c != 0x7f
            && !matches!(
                c,
                b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b'|' | b'^' | b'{' | b'}'
            )
        {
            v |= URL;
        }
        t[b] = v;
        b += 1;
    }
    t
}

#[inline(always)]
pub(crate) fn class(b: u8) -> u8 {
    CLASSES[b as usize]
}

#[inline(always)]
pub(crate) fn is_hex(b: u8) -> bool {
    class(b) & (DIGIT | HEXALPHA) != 0
}

#[inline(always)]
pub(crate) fn is_scheme(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')
}

#[inline(always)]
pub(crate) fn is_v6(b: u8) -> bool {
    is_hex(b) || b == b':' || b == b'.'
}

#[cfg(test)]
mod tests {
    use crate::file::tests::pat;
    use crate::{Compiler, Hit, Kernel, Scratch, SourceRef};

    /// Every family's token at every offset of a 64-byte block, across the edge of two blocks
    /// and of two classified windows: the same hits, moved, with every kernel.
    #[test]
    fn tokens_at_every_offset_of_a_block() {
        let mut c = Compiler::new();
        let f = c.add_feed("f", "f.txt");
        for t in [
            "198.51.100.7",
            "203.0.113.0/24",
            "2001:db8::7",
            "fe80::1",
            "2001:db8:1::/48",
            "evil.example",
            "http://bad.example/x.php",
            "d41d8cd98f00b204e9800998ecf8427f",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "mal@evil.example",
        ] {
            c.add(&pat(t), SourceRef::plain(f, 0));
        }
        let set = c.build();
        let line = b"t=12:34:56 src=198.51.100.7 dst=203.0.113.9 v6=2001:db8::7 ll=fe80::1 \
            net6=2001:db8:1:0:0:0:0:5 host=a-1.b.evil.example. \
            url=http://bad.example/x.php, md5=D41D8CD98F00B204E9800998ECF8427F \
            sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
            to=mal@evil.example v=1.2.3 x=1.2.3.4.5 \"k\":\"v\"";
        let scan = |hay: &[u8], kernel: Kernel| {
            let mut hits = Vec::new();
            set.scan(
                hay,
                &mut Scratch::with_kernel(kernel).expect("available"),
                &mut hits,
            );
            hits
        };
        let want = scan(line, Kernel::Portable);
        let found: Vec<String> = want
            .iter()
            .map(|h| String::from_utf8_lossy(&line[h.start..h.end]).into_owned())
            .collect();
        assert_eq!(
            found,
            [
                "198.51.100.7",
                "203.0.113.9",
                "2001:db8::7",
                "fe80::1",
                "2001:db8:1:0:0:0:0:5",
                "a-1.b.evil.example",
                "http://bad.example/x.php",
                "D41D8CD98F00B204E9800998ECF8427F",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "mal@evil.example",
                "evil.example",
            ],
        );
        for pad in (0..140).chain(1024 - 300..1024 + 10) {
            let mut hay = vec![b' '; pad];
            hay.extend_from_slice(line);
            let moved: Vec<Hit> = want
                .iter()
                .map(|h| Hit {
                    start: h.start + pad,
                    end: h.end + pad,
                    id: h.id,
                })
                .collect();
            for kernel in Kernel::available() {
                assert_eq!(scan(&hay, kernel), moved, "{kernel:?}, {pad} bytes before");
            }
        }
    }
}
