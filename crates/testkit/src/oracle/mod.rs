//! A naive oracle for the matching contract (the table in `iocd_engine`'s docs).
//!
//! The engine finds candidates from anchors (`memchr` for `.` and `:`, `memmem` for `://`,
//! every 16th byte for hex) and looks each token up in hash tables. This oracle does none of
//! that: it enumerates every maximal run of each byte class in the buffer, normalizes each run
//! the obvious way (std's `Ipv4Addr`/`Ipv6Addr` parsers, `ipnet`'s `contains`, ASCII
//! lower-casing, `idna` for non-ASCII names, the shared `canonical_url`), and compares it with
//! every indicator by a linear scan. Free strings are found by trying every window. It is slow
//! on purpose: it is meant to be obviously right, not fast.
//!
//! Both sides report `(start, end, label)` triples, sorted and deduped, where the label is the
//! indicator's canonical text with its type and mode (see [`label`]), so a test compares the two
//! with `assert_eq!`.
//!
//! # How this oracle reads the contract where the table is not explicit
//!
//! * **Dots at either end of a dotted run** are punctuation and dropped, leading as well as
//!   trailing (the table only says "trailing"): `...1.2.3.4` and the cookie domain `.evil.com`
//!   match. A SOC analyst reads a leading dot as punctuation, never as part of an address.
//! * **A "dotted run"** is a maximal run of `[A-Za-z0-9._-]` and bytes >= 0x80 that contains
//!   an ASCII `.`. A name written only with IDN full stops (`evil。com`) is not a dotted run.
//! * **Runs of digits, dots, `-` and `_` only** are split at the dashes for IPv4 (as the table
//!   says); the whole run is still a dotted run for domains and e-mail, because the domain row
//!   has no exception for it (a name such as `1-2.3-4` is a valid indicator).
//! * **IPv6 runs**: trailing dots are dropped, and a single `:` at either end (one that is not
//!   half of a `::`) is punctuation (`addr 2001:db8::1: refused`, `ip=:2001:db8::1`). "Not
//!   touching a letter or digit" is checked on the run before that trimming, and means an ASCII
//!   letter or digit. Leading dots are *not* dropped here (`...2001:db8::1` is no address), as
//!   in the engine; unlike IPv4, where they are. An open question, not a considered choice.
//! * **URL start**: the scheme is the maximal run of scheme bytes (`[A-Za-z0-9+.-]`) before
//!   `://`, less any leading non-letters (a scheme starts with a letter). Every `://` starts a
//!   candidate, so a URL nested in another one's query (`?u=http://evil.com/x`) is a URL too:
//!   open redirects are the classic place an analyst expects to see one.
//! * **URL end**: "white space" is read as any byte <= 0x20 or 0x7f; bytes >= 0x80 belong to the
//!   URL. "Trailing punctuation" is read as `.,;:!?` at the end, and a closing `)` or `]` at the
//!   end when the URL holds no opening one (so a Wikipedia-style `.../Foo_(bar)` keeps its
//!   parenthesis), dropped repeatedly.
//! * **URL prefix mode** "starts with it" is read at the canonical text, with one condition the
//!   table leaves out: the log URL's authority (`user@host:port`) is the indicator's. With
//!   http(s) this always holds (the canonical form has a `/` after the authority), but a scheme
//!   without a default path would otherwise let `tcp://1.1.1.1` match `tcp://1.1.1.10`.
//! * **Hash neighbours**: "no letter or digit on either side" means ASCII letters and digits.
//! * **E-mail**: the domain is the whole dotted run that starts right after the `@` (a run that
//!   starts with a dot has no e-mail); the local part is compared as written (case-sensitive),
//!   the domain lower-cased (and punycoded), as the table says.
#![allow(dead_code)]

pub mod synth;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use iocd::ioc::SetBuilder;
use iocd::{IocSet, Scratch};
use iocd_engine::{Compiler, IocId, Kernel, Pattern, SourceRef, canonical_url};
use ipnet::IpNet;

/// One match: bytes `start..end` of the buffer matched the indicator with this label.
pub type Found = (usize, usize, String);

/// The canonical text of an indicator, prefixed with its type and mode, so that `evil.com`
/// with and without subdomains, or a URL in exact and prefix mode, are told apart.
pub fn label(p: &Pattern) -> String {
    let tag = match p {
        Pattern::Domain {
            subdomains: false, ..
        } => "domain-exact",
        Pattern::Url { prefix: true, .. } => "url-prefix",
        Pattern::String {
            case_insensitive: true,
            ..
        } => "istring",
        other => other.kind().as_str(),
    };
    format!("{tag}:{p}")
}

/// What the engine finds in `hay`, in the oracle's terms. Scans with every byte-class kernel
/// this CPU has (AVX-512BW, AVX2, SSE2, portable) and panics unless they all find the same.
pub fn engine(set: &IocSet, hay: &[u8]) -> Vec<Found> {
    // The default kernel (`Scratch::new`) is one of these.
    let mut hits = Vec::new();
    for (k, kernel) in Kernel::available().into_iter().enumerate() {
        let mut scratch = Scratch::with_kernel(kernel).expect("an available kernel");
        let mut found = Vec::new();
        set.scan(hay, &mut scratch, &mut found);
        if k == 0 {
            hits = found;
        } else {
            assert_eq!(
                found,
                hits,
                "the {} kernel finds otherwise than the portable one",
                kernel.as_str()
            );
        }
    }
    let mut out: Vec<Found> = hits
        .iter()
        .map(|h| (h.start, h.end, label(&set.pattern(h.id))))
        .collect();
    let n = out.len();
    out.sort();
    out.dedup();
    assert_eq!(n, out.len(), "the engine reported a hit twice");
    out
}

/// The fuzz property: the case that `bytes` spells (see [`synth::case`]) must be found alike
/// by the engine and the oracle, and by the engine whether the buffer is scanned whole or line
/// by line. Panics with the details otherwise.
pub fn check(bytes: &[u8]) {
    let (pats, line) = synth::case(bytes);
    let set = compile(&pats);
    let pats = kept(&set, pats);
    let got = engine(&set, &line);
    let want = Oracle::new(pats.iter().cloned()).scan(&line);
    if got != want {
        panic!(
            "engine and oracle disagree\n  indicators {:?}\n  line {:?}\n  engine {got:?}\n  oracle {want:?}",
            pats.iter().map(label).collect::<Vec<_>>(),
            String::from_utf8_lossy(&line),
        );
    }
    // The same set written to a compiled set file and read back finds the same.
    let back = IocSet::from_bytes(std::sync::Arc::new(set.to_bytes(b"")))
        .expect("a written set reads back")
        .set;
    assert_eq!(
        engine(&back, &line),
        got,
        "the set read back from its file differs"
    );
    let mut each = Vec::new();
    let mut off = 0;
    for part in line.split(|&b| b == b'\n') {
        each.extend(
            engine(&set, part)
                .into_iter()
                .map(|(s, e, l)| (s + off, e + off, l)),
        );
        off += part.len() + 1;
    }
    assert_eq!(
        got, each,
        "scanning line by line differs from scanning the buffer"
    );
}

/// `pats` less what a set rightly leaves out (a string with a line break can never match, so
/// the compiler skips it); panics if `set` dropped anything else.
pub fn kept(set: &IocSet, pats: Vec<Pattern>) -> Vec<Pattern> {
    let (kept, dropped): (Vec<_>, Vec<_>) = pats.into_iter().partition(|p| set.find(p).is_some());
    for p in &dropped {
        assert!(
            matches!(p, Pattern::String { text, .. } if text.contains(['\r', '\n'])),
            "the set lost indicator {}",
            label(p)
        );
    }
    kept
}

/// An engine set holding exactly `pats`, all listed by one feed.
pub fn compile(pats: &[Pattern]) -> IocSet {
    let source = any_source();
    let mut c = Compiler::new();
    c.add_feed("oracle", "oracle");
    for p in pats {
        c.add(p, source);
    }
    c.build()
}

/// A listing by feed 0. Taken from a loaded set rather than written as a literal, so these
/// tests do not care which fields `SourceRef` has.
fn any_source() -> SourceRef {
    let mut b = SetBuilder::new();
    b.add_plain_list("oracle", "oracle", b"192.0.2.1\n");
    let set = b.build();
    set.sources(IocId(0))[0]
}

/// Every indicator of `set`.
pub fn patterns_of(set: &IocSet) -> Vec<Pattern> {
    (0..set.len() as u32)
        .map(|i| set.pattern(IocId(i)))
        .collect()
}

/// The oracle: a plain list of indicators.
///
/// It keeps the indicators in plain lists, one per family of tokens, and compares a token with
/// every indicator of its family.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    pats: Vec<Pattern>,
    ips: Vec<Pattern>,
    names: Vec<Pattern>,
    emails: Vec<Pattern>,
    urls: Vec<Pattern>,
    hashes: Vec<Pattern>,
    strings: Vec<Pattern>,
}

impl Oracle {
    pub fn new(pats: impl IntoIterator<Item = Pattern>) -> Oracle {
        let mut v: Vec<Pattern> = Vec::new();
        for p in pats {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        let of = |f: fn(&Pattern) -> bool| v.iter().filter(|p| f(p)).cloned().collect();
        Oracle {
            ips: of(|p| matches!(p, Pattern::Ipv4(_) | Pattern::Ipv6(_) | Pattern::Cidr(_))),
            names: of(|p| matches!(p, Pattern::Domain { .. })),
            emails: of(|p| matches!(p, Pattern::Email(_))),
            urls: of(|p| matches!(p, Pattern::Url { .. })),
            hashes: of(|p| matches!(p, Pattern::Md5(_) | Pattern::Sha1(_) | Pattern::Sha256(_))),
            strings: of(|p| matches!(p, Pattern::String { .. })),
            pats: v,
        }
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.pats
    }

    /// Every match in `hay` (one line or many), sorted and deduped.
    pub fn scan(&self, hay: &[u8]) -> Vec<Found> {
        let mut out = Vec::new();
        self.dotted(hay, &mut out);
        self.ipv6(hay, &mut out);
        self.urls(hay, &mut out);
        self.hashes(hay, &mut out);
        self.strings(hay, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// IPv4, IPv4 in CIDR, domains, e-mail.
    fn dotted(&self, hay: &[u8], out: &mut Vec<Found>) {
        for (s, e) in runs(hay, is_dotted) {
            if !hay[s..e].contains(&b'.') {
                continue;
            }
            let (ts, te) = trim_dots(hay, s, e);
            if ts == te {
                continue;
            }
            let tok = &hay[ts..te];
            if tok
                .iter()
                .all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
            {
                let mut ps = ts;
                for k in ts..=te {
                    if k == te || matches!(hay[k], b'-' | b'_') {
                        let (a, b) = trim_dots(hay, ps, k);
                        if let Some(ip) = ipv4(&hay[a..b]) {
                            self.ip(IpAddrLike::V4(ip), a, b, out);
                        }
                        ps = k + 1;
                    }
                }
            }
            let Some(name) = host_name(tok) else {
                continue;
            };
            for p in &self.names {
                if let Pattern::Domain {
                    name: n,
                    subdomains,
                } = p
                {
                    let sub = *subdomains
                        && name.len() > n.len()
                        && name.ends_with(n.as_str())
                        && name.as_bytes()[name.len() - n.len() - 1] == b'.';
                    if name == *n || sub {
                        out.push((ts, te, label(p)));
                    }
                }
            }
            // E-mail: the run must start right after an `@`, with no dot trimmed off its start.
            if ts == s && s > 0 && hay[s - 1] == b'@' {
                let at = s - 1;
                let mut ls = at;
                while ls > 0 && is_local(hay[ls - 1]) {
                    ls -= 1;
                }
                if ls < at {
                    let local = std::str::from_utf8(&hay[ls..at]).expect("local part is ASCII");
                    let addr = format!("{local}@{name}");
                    for p in &self.emails {
                        if matches!(p, Pattern::Email(e) if *e == addr) {
                            out.push((ls, te, label(p)));
                        }
                    }
                }
            }
        }
    }

    /// An address token at `s..e`: exact indicators, and the longest CIDR holding it.
    fn ip(&self, ip: IpAddrLike, s: usize, e: usize, out: &mut Vec<Found>) {
        let mut best: Option<&Pattern> = None;
        for p in &self.ips {
            match (p, ip) {
                (Pattern::Ipv4(a), IpAddrLike::V4(b)) if *a == b => {
                    out.push((s, e, label(p)));
                }
                (Pattern::Ipv6(a), IpAddrLike::V6(b)) if *a == b => {
                    out.push((s, e, label(p)));
                }
                (Pattern::Cidr(IpNet::V4(n)), IpAddrLike::V4(b)) if n.contains(&b) => {
                    best = longer(best, p);
                }
                (Pattern::Cidr(IpNet::V6(n)), IpAddrLike::V6(b)) if n.contains(&b) => {
                    best = longer(best, p);
                }
                _ => {}
            }
        }
        if let Some(p) = best {
            out.push((s, e, label(p)));
        }
    }

    fn ipv6(&self, hay: &[u8], out: &mut Vec<Found>) {
        let is_v6 = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
        for (s, e) in runs(hay, is_v6) {
            if !hay[s..e].contains(&b':') {
                continue;
            }
            let touches = |i: Option<&u8>| i.is_some_and(|b| b.is_ascii_alphanumeric());
            if touches(s.checked_sub(1).and_then(|i| hay.get(i))) || touches(hay.get(e)) {
                continue;
            }
            let (mut ts, mut te) = (s, e);
            while te > ts && hay[te - 1] == b'.' {
                te -= 1;
            }
            let tok = &hay[ts..te];
            if tok.ends_with(b":") && !tok.ends_with(b"::") {
                te -= 1;
            }
            let tok = &hay[ts..te];
            if tok.starts_with(b":") && !tok.starts_with(b"::") {
                ts += 1;
            }
            let tok = &hay[ts..te];
            if tok.iter().filter(|&&b| b == b':').count() < 2 {
                continue;
            }
            let Some(ip) = std::str::from_utf8(tok)
                .ok()
                .and_then(|t| Ipv6Addr::from_str(t).ok())
            else {
                continue;
            };
            self.ip(IpAddrLike::V6(ip), ts, te, out);
        }
    }

    fn urls(&self, hay: &[u8], out: &mut Vec<Found>) {
        if self.urls.is_empty() {
            return;
        }
        for c in 0..hay.len().saturating_sub(2) {
            if &hay[c..c + 3] != b"://" {
                continue;
            }
            let mut s = c;
            while s > 0 && (hay[s - 1].is_ascii_alphanumeric() || b"+.-".contains(&hay[s - 1])) {
                s -= 1;
            }
            while s < c && !hay[s].is_ascii_alphabetic() {
                s += 1;
            }
            if s == c {
                continue;
            }
            let mut e = c + 3;
            while e < hay.len() && !url_stop(hay[e]) {
                e += 1;
            }
            while e > s {
                let last = hay[e - 1];
                let body = &hay[s..e - 1];
                let trailing = match last {
                    b'.' | b',' | b';' | b':' | b'!' | b'?' => true,
                    b')' => !body.contains(&b'('),
                    b']' => !body.contains(&b'['),
                    _ => false,
                };
                if !trailing {
                    break;
                }
                e -= 1;
            }
            let Some(canon) = std::str::from_utf8(&hay[s..e]).ok().and_then(canonical_url) else {
                continue;
            };
            for p in &self.urls {
                if let Pattern::Url { url, prefix } = p {
                    let prefixed = *prefix
                        && canon.starts_with(url.as_str())
                        && authority(&canon) == authority(url);
                    if canon == *url || prefixed {
                        out.push((s, e, label(p)));
                    }
                }
            }
        }
    }

    fn hashes(&self, hay: &[u8], out: &mut Vec<Found>) {
        for (s, e) in runs(hay, |b| b.is_ascii_hexdigit()) {
            if !matches!(e - s, 32 | 40 | 64) {
                continue;
            }
            let alnum = |i: Option<&u8>| i.is_some_and(|b| b.is_ascii_alphanumeric());
            if alnum(s.checked_sub(1).and_then(|i| hay.get(i))) || alnum(hay.get(e)) {
                continue;
            }
            let digest: Vec<u8> = hay[s..e]
                .chunks(2)
                .map(|pair| {
                    u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex pair")
                })
                .collect();
            for p in &self.hashes {
                let d: &[u8] = match p {
                    Pattern::Md5(d) => d,
                    Pattern::Sha1(d) => d,
                    Pattern::Sha256(d) => d,
                    _ => continue,
                };
                if d == digest.as_slice() {
                    out.push((s, e, label(p)));
                }
            }
        }
    }

    fn strings(&self, hay: &[u8], out: &mut Vec<Found>) {
        for p in &self.strings {
            let Pattern::String {
                text,
                case_insensitive,
            } = p
            else {
                continue;
            };
            let needle = text.as_bytes();
            if needle.is_empty() || needle.len() > hay.len() {
                continue;
            }
            for (i, w) in hay.windows(needle.len()).enumerate() {
                let eq = if *case_insensitive {
                    w.eq_ignore_ascii_case(needle)
                } else {
                    w == needle
                };
                if eq {
                    out.push((i, i + needle.len(), label(p)));
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum IpAddrLike {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

fn longer<'a>(best: Option<&'a Pattern>, p: &'a Pattern) -> Option<&'a Pattern> {
    let len = |p: &Pattern| match p {
        Pattern::Cidr(n) => n.prefix_len(),
        _ => unreachable!(),
    };
    match best {
        Some(b) if len(b) >= len(p) => Some(b),
        _ => Some(p),
    }
}

/// Every maximal run of bytes in the class, as `(start, end)`.
pub fn runs(hay: &[u8], class: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hay.len() {
        if !class(hay[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < hay.len() && class(hay[i]) {
            i += 1;
        }
        out.push((s, i));
    }
    out
}

fn is_dotted(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || b >= 0x80
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn url_stop(b: u8) -> bool {
    b <= 0x20 || b == 0x7f || b"\"'<>`\\|^{}".contains(&b)
}

/// The `user@host:port` part of a canonical URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn trim_dots(hay: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && hay[s] == b'.' {
        s += 1;
    }
    while e > s && hay[e - 1] == b'.' {
        e -= 1;
    }
    (s, e)
}

/// A dotted quad in plain decimal with no leading zeros.
fn ipv4(tok: &[u8]) -> Option<Ipv4Addr> {
    let s = std::str::from_utf8(tok).ok()?;
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')))
    {
        return None;
    }
    Ipv4Addr::from_str(s).ok()
}

/// A dotted token as a host name: ASCII lower-cased, or a Unicode name through IDNA.
fn host_name(tok: &[u8]) -> Option<String> {
    if tok.is_ascii() {
        return Some(String::from_utf8(tok.to_ascii_lowercase()).unwrap());
    }
    let s = std::str::from_utf8(tok).ok()?;
    idna::domain_to_ascii(s).ok()
}
