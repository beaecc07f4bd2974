//! [`IocSet::scan`]: anchors, token extents and the per-family lookups.

use std::net::Ipv6Addr;

use crate::anchors::Anchors;
use crate::index::StrIndex;
use crate::pattern::*;
use crate::set::*;
use crate::url::canonical_url;
use crate::*;

impl IocSet {
    /// Appends to `hits` every indicator found in `hay`, sorted by position then id.
    ///
    /// `hay` may be one line or a buffer of many: no token spans a line break. Hits already in
    /// `hits` are left alone.
    pub fn scan(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
        let first = hits.len();
        scratch.url_hosts.clear();
        if self.table_len(Table::Ipv4) + self.table_len(Table::Cidr4) > 0
            || self.table_len(Table::DomainSub) + self.table_len(Table::DomainExact) > 0
            || self.table_len(Table::Email) > 0
            || self.url_hosts.len() > 0
        {
            self.scan_dotted(hay, scratch, hits);
        }
        if self.table_len(Table::Ipv6) + self.table_len(Table::Cidr6) > 0 {
            self.scan_ipv6(hay, hits);
        }
        if self.url_hosts.len() > 0 {
            self.scan_urls(hay, scratch, hits);
        }
        if self.table_len(Table::Md5) + self.table_len(Table::Sha1) + self.table_len(Table::Sha256)
            > 0
        {
            self.scan_hex(hay, hits);
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

    /// IPv4, IPv4 CIDR, domains and e-mail: every token around a `.`.
    pub(crate) fn scan_dotted(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
        let want_v4 = self.table_len(Table::Ipv4) + self.table_len(Table::Cidr4) > 0;
        let want_domain = self.table_len(Table::DomainSub) + self.table_len(Table::DomainExact) > 0;
        let want_email = self.table_len(Table::Email) > 0;
        let want_url_host = self.url_hosts.len() > 0;
        let mut dots = Anchors::new(hay, b'.');
        let mut pos = 0;
        while let Some(dot) = dots.next_from(pos) {
            let (s, e, bits) = match anchors::dotted_extent(hay, dot) {
                Some((s, e, named, dashed)) => (
                    s,
                    e,
                    DOT | if named { ALPHA } else { 0 } | if dashed { DASH } else { 0 },
                ),
                None => dotted_walk(hay, dot),
            };
            pos = e;
            // Dots at either end are punctuation, not part of the name or address.
            let (mut ts, mut te) = (s, e);
            while ts < te && hay[ts] == b'.' {
                ts += 1;
            }
            while te > ts && hay[te - 1] == b'.' {
                te -= 1;
            }
            if ts == te {
                continue;
            }
            if bits & (ALPHA | HIGH) == 0 {
                if want_v4 || self.url_v4_hosts {
                    if bits & DASH == 0 {
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
                    } else if want_v4 {
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
                if bits & DASH == 0 {
                    continue;
                }
            }
            if !(want_domain || want_email || want_url_host)
                || !domain_name(&hay[ts..te], &mut scratch.name)
            {
                continue;
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
            if want_email && ts == s && s > 1 && hay[s - 1] == b'@' {
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

    /// IPv6 and IPv6 CIDR: every run of hex digits, colons and dots around a `:`.
    pub(crate) fn scan_ipv6(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        // Only colons with another one at most five bytes away can be in an address.
        let mut colons = Anchors::paired(hay, b':', 5);
        let mut pos = 0;
        while let Some(c) = colons.next_from(pos) {
            let mut s = c;
            while s > 0 && is_v6(hay[s - 1]) {
                s -= 1;
            }
            let mut e = c + 1;
            while e < hay.len() && is_v6(hay[e]) {
                e += 1;
            }
            pos = e;
            if (s > 0 && class(hay[s - 1]) & (ALPHA | DIGIT) != 0)
                || (e < hay.len() && class(hay[e]) & (ALPHA | DIGIT) != 0)
            {
                continue;
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
                continue;
            }
            let Some(ip) = std::str::from_utf8(tok)
                .ok()
                .and_then(|t| t.parse::<Ipv6Addr>().ok())
            else {
                continue;
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
    }

    /// URLs: every `scheme://...` token whose host is the host of some URL indicator.
    pub(crate) fn scan_urls(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
        let mut pos = 0;
        // End of the last run of URL bytes: a `://` inside it (a URL nested in another's query,
        // `?u=http://evil.com/x`) starts a URL of its own, which ends where that run ends.
        let mut run_end = 0;
        while let Some(i) = self.url_finder.find(&hay[pos..]) {
            let c = pos + i;
            pos = c + 3;
            let mut s = c;
            while s > 0 && is_scheme(hay[s - 1]) {
                s -= 1;
            }
            // A scheme starts with a letter; `1http://` is not a URL start we trust.
            while s < c && !hay[s].is_ascii_alphabetic() {
                s += 1;
            }
            if s == c {
                continue;
            }
            if c >= run_end {
                run_end = c + 3;
                while run_end < hay.len() && class(hay[run_end]) & URL != 0 {
                    run_end += 1;
                }
            }
            let e = trim_url_end(&hay[s..run_end]) + s;
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
                    None => continue,
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
                    continue;
                }
            }
            let Ok(raw) = std::str::from_utf8(&hay[s..e]) else {
                continue;
            };
            let Some(canon) = canonical_url(raw) else {
                continue;
            };
            if !plain {
                match url::canonical_host(&canon) {
                    Some(h) if self.url_hosts.get(h.as_bytes()).is_some() => {}
                    _ => continue,
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
    }

    /// md5, sha1, sha256: hex runs of exactly 32, 40 or 64 digits.
    ///
    /// A run of 32 or more hex digits always covers a whole 16-byte block aligned on a multiple
    /// of 16, so only blocks that are all hex (one SIMD test per 16 bytes, rare in log text)
    /// are expanded into runs.
    pub(crate) fn scan_hex(&self, hay: &[u8], hits: &mut Vec<Hit>) {
        let n = hay.len();
        let mut i = 0;
        let mut floor = 0;
        while i + 16 <= n {
            if !all_hex16(&hay[i..i + 16]) {
                i += 16;
                continue;
            }
            let mut s = i;
            while s > floor && is_hex(hay[s - 1]) {
                s -= 1;
            }
            let mut e = i + 16;
            while e < n && is_hex(hay[e]) {
                e += 1;
            }
            floor = e;
            i = (e / 16 + 1) * 16;
            let len = e - s;
            if !matches!(len, 32 | 40 | 64)
                || (s > 0 && class(hay[s - 1]) & (ALPHA | DIGIT) != 0)
                || (e < n && class(hay[e]) & (ALPHA | DIGIT) != 0)
            {
                continue;
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
}

/// The token around the `.` at `dot` (a run of the `DOTTED` class), walked byte by byte: its
/// start, end and the classes of its bytes ORed together. [`anchors::dotted_extent`] answers
/// the same for most tokens without a loop.
pub(crate) fn dotted_walk(hay: &[u8], dot: usize) -> (usize, usize, u8) {
    let mut bits = DOT;
    let mut s = dot;
    while s > 0 {
        let c = class(hay[s - 1]);
        if c & DOTTED == 0 {
            break;
        }
        bits |= c;
        s -= 1;
    }
    let mut e = dot + 1;
    while e < hay.len() {
        let c = class(hay[e]);
        if c & DOTTED == 0 {
            break;
        }
        bits |= c;
        e += 1;
    }
    (s, e, bits)
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

/// True when all 16 bytes are ASCII hex digits.
#[inline(always)]
pub(crate) fn all_hex16(block: &[u8]) -> bool {
    debug_assert_eq!(block.len(), 16);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the load is unaligned and reads exactly
        // the 16 bytes of `block`.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            // Folding case with 0x20 maps A-F to a-f (and nothing else into a-f); digits are
            // tested unfolded, since folding would turn control bytes 0x10-0x19 into `0`-`9`.
            // Bytes >= 0x80 are negative in these signed compares, so they fail both ranges.
            let x = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let digit = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
            );
            let letter = _mm_and_si128(
                _mm_cmpgt_epi8(x, _mm_set1_epi8(b'a' as i8 - 1)),
                _mm_cmplt_epi8(x, _mm_set1_epi8(b'f' as i8 + 1)),
            );
            _mm_movemask_epi8(_mm_or_si128(digit, letter)) == 0xFFFF
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block.iter().all(|&b| is_hex(b))
    }
}

#[inline(always)]
pub(crate) fn is_scheme(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')
}

#[inline(always)]
pub(crate) fn is_v6(b: u8) -> bool {
    is_hex(b) || b == b':' || b == b'.'
}
