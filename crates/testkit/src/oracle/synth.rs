//! Indicator sets and log lines derived from a byte string, for the property tests and the
//! fuzzer alike.
//!
//! Everything is drawn from small pools (a few octets, a few labels, a few hex units) so that
//! indicators collide with each other and with the traps around them: an address with one
//! more digit, a name with one more label, a hash with one more hex digit. Lines concatenate
//! indicators in the textual forms logs use (upper case, other IPv6 spellings, subdomains,
//! ports, brackets, quotes, defanged feed text), traps, separator bytes and raw input bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use iocd::ioc::parse_indicator;
use iocd_engine::Pattern;
use ipnet::IpNet;

/// A byte source that never runs dry: past the end it yields zeros.
pub struct Src<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Src<'a> {
    pub fn new(bytes: &'a [u8]) -> Src<'a> {
        Src { bytes, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// True with probability `k`/8.
    pub fn chance(&mut self, k: u8) -> bool {
        self.byte() % 8 < k
    }
}

const OCTETS: [&str; 10] = ["1", "2", "3", "4", "10", "11", "0", "255", "25", "45"];
const GROUPS: [u16; 8] = [0, 0, 1, 0xdb8, 0x2001, 0xffff, 0xa, 0xfe80];
const V4_LENS: [u8; 7] = [0, 8, 16, 24, 30, 31, 32];
const V6_LENS: [u8; 8] = [0, 16, 32, 48, 64, 96, 127, 128];
const LABELS: [&str; 12] = [
    "evil",
    "a",
    "b",
    "com",
    "co",
    "xn--bcher-kva",
    "bücher",
    "x-y",
    "1",
    "2-3",
    "évil",
    "EVIL",
];
const TLDS: [&str; 7] = ["com", "co", "au", "net", "COM", "2-3", "xn--p1ai"];
const SCHEMES: [&str; 6] = ["http", "https", "HTTP", "ftp", "hxxp", "tcp"];
const PORTS: [&str; 5] = ["", "", ":80", ":443", ":8080"];
const PATHS: [&str; 12] = [
    "", "/", "/x", "/x/", "/x/a.php", "/a%41", "/%7Ex", "/x?u=1", "/a(b)", "/é", "/x#f", "/X",
];
const HEX_UNITS: [&str; 5] = ["abcd", "0000", "ab01", "dead", "DEAD"];
const LOCALS: [&str; 7] = ["a", "evil", "a.b", "x+y", "A", "e_v", "b-c"];
const STR_BYTES: &[u8] = b"aAb.:/ -\t1";

pub fn ipv4(src: &mut Src) -> Ipv4Addr {
    let o: Vec<u8> = (0..4).map(|_| src.pick(&OCTETS).parse().unwrap()).collect();
    Ipv4Addr::new(o[0], o[1], o[2], o[3])
}

pub fn ipv6(src: &mut Src) -> Ipv6Addr {
    let g: Vec<u16> = (0..8).map(|_| src.pick(&GROUPS)).collect();
    Ipv6Addr::new(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}

pub fn domain(src: &mut Src) -> String {
    let n = 1 + src.below(3);
    let mut labels: Vec<&str> = (0..n).map(|_| src.pick(&LABELS)).collect();
    labels.push(src.pick(&TLDS));
    labels.join(".")
}

fn host(src: &mut Src) -> String {
    match src.below(6) {
        0 => ipv4(src).to_string(),
        1 => format!("[{}]", ipv6(src)),
        _ => domain(src),
    }
}

fn hex(src: &mut Src, len: usize) -> String {
    let unit = src.pick(&HEX_UNITS);
    unit.repeat(len / 4 + 1)[..len].to_owned()
}

/// The text of one indicator as a feed might list it (possibly invalid, possibly defanged).
pub fn raw_indicator(src: &mut Src) -> String {
    match src.below(11) {
        0 | 1 => {
            let ip = ipv4(src).to_string();
            match src.below(8) {
                0 => ip.replacen('.', "[.]", 1),
                1 => format!("{ip}:443"),
                _ => ip,
            }
        }
        2 => {
            let ip = ipv6(src);
            match src.below(4) {
                0 => full_v6(&ip),
                1 => format!("[{ip}]:443"),
                _ => ip.to_string(),
            }
        }
        3 => {
            if src.chance(4) {
                format!("{}/{}", ipv4(src), src.pick(&V4_LENS))
            } else {
                format!("{}/{}", ipv6(src), src.pick(&V6_LENS))
            }
        }
        4 | 5 => {
            let d = domain(src);
            let d = match src.below(8) {
                0 => d.replace('.', "[.]"),
                1 => format!("{d}."),
                2 => d.to_uppercase(),
                _ => d,
            };
            if src.chance(2) {
                format!("domain-exact:{d}")
            } else {
                d
            }
        }
        6 => {
            let u = format!(
                "{}://{}{}{}",
                src.pick(&SCHEMES),
                host(src),
                src.pick(&PORTS),
                src.pick(&PATHS)
            );
            if src.chance(2) {
                format!("url-prefix:{u}")
            } else {
                u
            }
        }
        7 => {
            let len = src.pick(&[32, 40, 64, 32, 33]);
            hex(src, len)
        }
        8 => format!("{}@{}", src.pick(&LOCALS), domain(src)),
        9 => {
            let n = 2 + src.below(3);
            let text: String = (0..n).map(|_| src.pick(STR_BYTES) as char).collect();
            if src.chance(4) {
                format!("string:{text}")
            } else {
                format!("istring:{text}")
            }
        }
        _ => {
            let n = src.below(24);
            let b: Vec<u8> = (0..n).map(|_| src.byte()).collect();
            String::from_utf8_lossy(&b).into_owned()
        }
    }
}

/// Up to `n` distinct indicators that parse.
pub fn indicators(src: &mut Src, n: usize) -> Vec<Pattern> {
    let mut out: Vec<Pattern> = Vec::new();
    for _ in 0..n {
        if let Ok(p) = parse_indicator(&raw_indicator(src))
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

pub fn full_v6(ip: &Ipv6Addr) -> String {
    ip.segments()
        .iter()
        .map(|g| format!("{g:04x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bare_v6(ip: &Ipv6Addr) -> String {
    ip.segments()
        .iter()
        .map(|g| format!("{g:X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn render_v4(src: &mut Src, ip: Ipv4Addr, out: &mut String) {
    let o = ip.octets();
    let s = ip.to_string();
    let t = match src.below(12) {
        0 => format!("{s}:443"),
        1 => format!("[{s}]"),
        2 => format!("\"{s}\""),
        3 => format!("1{s}"),
        4 => format!("{s}.5"),
        5 => format!("{s}0"),
        6 => format!("0{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
        7 => format!("::ffff:{s}"),
        8 => format!("{s}-{s}"),
        9 => format!("v{s}"),
        10 => format!("{s}."),
        _ => s,
    };
    out.push_str(&t);
}

fn render_v6(src: &mut Src, ip: Ipv6Addr, out: &mut String) {
    let s = ip.to_string();
    let t = match src.below(12) {
        0 => full_v6(&ip),
        1 => s.to_uppercase(),
        2 => format!("[{s}]:443"),
        3 => bare_v6(&ip),
        4 => match ip.to_ipv4_mapped() {
            Some(v4) => format!("::FFFF:{v4}"),
            None => s,
        },
        5 => format!("{s}:1"),
        6 => format!("x{s}"),
        7 => format!("{s}:"),
        8 => format!("{s}."),
        9 => format!(":{s}"),
        10 => format!("{s}%eth0"),
        _ => s,
    };
    out.push_str(&t);
}

/// One spelling of `p` as a log would show it, or a near miss of it.
pub fn render(src: &mut Src, p: &Pattern, out: &mut String) {
    match p {
        Pattern::Ipv4(a) => render_v4(src, *a, out),
        Pattern::Ipv6(a) => render_v6(src, *a, out),
        Pattern::Cidr(IpNet::V4(n)) => {
            let host_bits = !u32::from(n.netmask());
            let base = u32::from(n.network());
            let a = match src.below(4) {
                0 => base,
                1 => base | (host_bits & u32::from_be_bytes([src.byte(), 0, 0, src.byte()])),
                2 => (base | host_bits).wrapping_add(1),
                _ => base | (host_bits & u32::from_be_bytes([0, 0, 0, src.byte()])),
            };
            render_v4(src, Ipv4Addr::from(a), out);
        }
        Pattern::Cidr(IpNet::V6(n)) => {
            let host_bits = !u128::from(n.netmask());
            let base = u128::from(n.network());
            let a = match src.below(3) {
                0 => base,
                1 => (base | host_bits).wrapping_add(1),
                _ => base | (host_bits & u128::from(src.byte())),
            };
            render_v6(src, Ipv6Addr::from(a), out);
        }
        Pattern::Domain { name, .. } => {
            let t = match src.below(13) {
                0 => name.to_uppercase(),
                1 => format!("www.{name}"),
                2 => format!("{name}."),
                3 => format!(".{name}"),
                4 => format!("not{name}"),
                5 => format!("{name}.au"),
                6 => format!("{name}munity"),
                7 => idna::domain_to_unicode(name).0,
                8 => format!("user@{name}"),
                9 => format!("a.b.{}", name.to_uppercase()),
                10 => name.replace('.', "-"),
                _ => name.clone(),
            };
            out.push_str(&t);
        }
        Pattern::Url { url, .. } => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
            let slash = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(slash);
            let t = match src.below(14) {
                0 => format!(
                    "{}://{}{path}",
                    scheme.to_uppercase(),
                    authority.to_uppercase()
                ),
                1 if !authority.contains(':') && scheme == "http" => {
                    format!("{scheme}://{authority}:80{path}")
                }
                2 => format!("{url}#top"),
                3 => format!("{url}."),
                4 => format!("({url})"),
                5 => format!("{url}5"),
                6 => format!("{scheme}://{authority}{}", path.trim_end_matches('/')),
                7 => format!("x{url}"),
                8 => format!("http://good.com/?u={url}"),
                9 => match path.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
                    Some((i, c)) => format!(
                        "{scheme}://{authority}{}%{:02x}{}",
                        &path[..i],
                        c as u32,
                        &path[i + 1..]
                    ),
                    None => url.clone(),
                },
                10 => format!("{url}/more"),
                11 => format!("\"{url}\""),
                _ => url.clone(),
            };
            out.push_str(&t);
        }
        Pattern::Md5(_) | Pattern::Sha1(_) | Pattern::Sha256(_) => {
            let h = p.to_string();
            let t = match src.below(9) {
                0 => h.to_uppercase(),
                1 => format!("0{h}"),
                2 => format!("{h}a"),
                3 => format!("x{h}"),
                4 => format!("0x{h}"),
                5 => format!("{h}{h}"),
                6 => h[1..].to_owned(),
                _ => h,
            };
            out.push_str(&t);
        }
        Pattern::Email(e) => {
            let (local, dom) = e.split_once('@').unwrap();
            let t = match src.below(9) {
                0 => format!("{local}@{}", dom.to_uppercase()),
                1 => format!("x{e}"),
                2 => format!("{e}.au"),
                3 => format!("<{e}>"),
                4 => format!("mailto:{e}"),
                5 => format!("{}@{dom}", local.to_uppercase()),
                6 => format!("{local}@sub.{dom}"),
                _ => e.clone(),
            };
            out.push_str(&t);
        }
        Pattern::String { text, .. } => {
            let t = match src.below(5) {
                0 => text
                    .chars()
                    .map(|c| {
                        if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect(),
                1 => format!("{text}{text}"),
                2 => text[..text.len() - text.chars().last().map_or(0, char::len_utf8)].to_owned(),
                _ => text.clone(),
            };
            out.push_str(&t);
        }
    }
}

const SEPS: [&str; 34] = [
    " ", " ", "\t", "\"", "'", "=", ":", ",", "[", "]", "/", "@", "\r", "\n", "\r\n", "é", ".",
    "-", "_", "(", ")", "<", ">", "x", "1", "a", "::", "%", "#", "?", "://", "\0", "。", ";",
];

/// A log buffer (usually one line, sometimes several) built from `src`, spelling indicators
/// of `pats` and others.
pub fn line(src: &mut Src, pats: &[Pattern]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    while !src.is_empty() && out.len() < 512 {
        let mut piece = String::new();
        match src.below(10) {
            0..=2 if !pats.is_empty() => {
                let p = &pats[src.below(pats.len())];
                render(src, p, &mut piece);
            }
            3 => {
                let raw = raw_indicator(src);
                match parse_indicator(&raw) {
                    Ok(p) if src.chance(6) => render(src, &p, &mut piece),
                    _ => piece = raw,
                }
            }
            4..=6 => piece.push_str(src.pick(&SEPS)),
            7 => piece.push_str(&src.pick(&SEPS).repeat(2)),
            _ => {
                out.push(src.byte());
                continue;
            }
        }
        out.extend_from_slice(piece.as_bytes());
    }
    out
}

/// One whole case from one byte string: the indicator set, then the line.
pub fn case(bytes: &[u8]) -> (Vec<Pattern>, Vec<u8>) {
    let mut src = Src::new(bytes);
    let n = 1 + src.below(8);
    let pats = indicators(&mut src, n);
    let line = line(&mut src, &pats);
    (pats, line)
}
