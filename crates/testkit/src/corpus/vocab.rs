//! Word material: the vocabularies (top-level domains, benign and template domains, names,
//! path words, user agents, host names, signatures, address blocks) and the word, token,
//! domain, path and address generators drawn from them.

use rand::Rng;
use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::ops::Range;

use super::index::mask4;

const CONS: &[u8] = b"bcdfghjklmnprstvwz";
const VOWS: &[u8] = b"aeiou";

/// Top-level domains of indicators, with weights.
pub(super) const IOC_TLDS: &[(&str, u32)] = &[
    ("com", 34),
    ("net", 10),
    ("org", 5),
    ("ru", 6),
    ("info", 5),
    ("xyz", 6),
    ("top", 6),
    ("io", 3),
    ("cn", 4),
    ("biz", 3),
    ("online", 3),
    ("site", 3),
    ("club", 2),
    ("shop", 2),
    ("de", 2),
    ("br", 1),
    ("in", 1),
    ("co.uk", 1),
    ("com.br", 1),
    ("su", 1),
];

pub(super) const BG_TLDS: &[(&str, u32)] = &[
    ("com", 40),
    ("net", 12),
    ("org", 8),
    ("io", 5),
    ("de", 5),
    ("co.uk", 3),
    ("fr", 3),
    ("nl", 3),
    ("cloud", 2),
    ("app", 2),
    ("ru", 2),
    ("info", 2),
];

pub(super) const SUB_LABELS: &[&str] = &[
    "www", "mail", "login", "secure", "cdn", "update", "api", "portal", "account", "verify", "m",
    "app", "static", "dl", "files", "auth", "my", "panel", "admin", "cloud",
];

/// Well-known domains that background lines use as they are.
pub(super) const BENIGN_DOMAINS: &[&str] = &[
    "www.google.com",
    "google.com",
    "www.microsoft.com",
    "login.microsoftonline.com",
    "update.microsoft.com",
    "ctldl.windowsupdate.com",
    "www.bing.com",
    "outlook.office365.com",
    "graph.microsoft.com",
    "www.youtube.com",
    "i.ytimg.com",
    "www.facebook.com",
    "static.xx.fbcdn.net",
    "www.amazon.com",
    "s3.amazonaws.com",
    "d3c3cq33003psk.cloudfront.net",
    "github.com",
    "api.github.com",
    "raw.githubusercontent.com",
    "en.wikipedia.org",
    "cdn.jsdelivr.net",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "www.gstatic.com",
    "ocsp.digicert.com",
    "crl3.digicert.com",
    "ocsp.pki.goog",
    "time.windows.com",
    "settings-win.data.microsoft.com",
    "www.apple.com",
    "gateway.icloud.com",
    "api.twitter.com",
    "slack.com",
    "zoom.us",
    "www.linkedin.com",
    "ajax.googleapis.com",
    "www.googletagmanager.com",
    "connect.facebook.net",
    "pool.ntp.org",
    "security.ubuntu.com",
    "deb.debian.org",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "static.crates.io",
    "dns.msftncsi.com",
    "www.msftconnecttest.com",
    "teams.microsoft.com",
    "www.office.com",
    "api.stripe.com",
    "www.dropbox.com",
    "docs.google.com",
    "mail.google.com",
    "accounts.google.com",
    "clients4.google.com",
    "gmail-smtp-in.l.google.com",
    "mx1.hotmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com",
];

/// Domains written literally by the templates (never an indicator or a parent of one).
pub(super) const CONST_DOMAINS: &[&str] = &[
    "corp.local",
    "www.northwind-traders.com",
    "northwind-traders.com",
    "mx1.northwind-traders.com",
    "letsencrypt.org",
];

pub(super) const FIRST_NAMES: &[&str] = &[
    "john", "mary", "ahmed", "li", "olga", "pierre", "sofia", "raj", "anna", "kenji", "lucas",
    "emma", "noah", "mia", "omar", "ines", "jan", "eva", "paul", "sara",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "smith", "garcia", "muller", "rossi", "kim", "nguyen", "khan", "silva", "novak", "dubois",
    "jensen", "tanaka", "cohen", "ivanova", "brown", "lopez", "weber", "moreau", "berg", "ali",
];
const PATH_WORDS: &[&str] = &[
    "images",
    "static",
    "js",
    "css",
    "assets",
    "api",
    "v1",
    "v2",
    "wp-content",
    "uploads",
    "plugins",
    "themes",
    "download",
    "files",
    "docs",
    "admin",
    "login",
    "account",
    "cart",
    "search",
    "news",
    "blog",
    "media",
    "public",
    "update",
    "cdn",
    "includes",
    "modules",
    "gate",
    "panel",
];
pub(super) const FILE_EXTS: &[&str] = &[
    "php", "html", "js", "css", "png", "jpg", "gif", "exe", "zip", "bin", "doc", "dll", "ps1",
    "json", "aspx", "jsp",
];
pub(super) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.64 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Microsoft-CryptoAPI/10.0",
    "Wget/1.21.4",
    "Go-http-client/1.1",
];
pub(super) const FW_HOSTS: &[&str] = &["fw01", "edge-fw-02", "gw-dc1", "fw-branch7"];
pub(super) const ASA_HOSTS: &[&str] = &["asa-edge01", "ASA5516-DC", "fw-asa-02"];
pub(super) const WIN_HOSTS: &[&str] = &[
    "WKS-0042.corp.local",
    "WKS-0117.corp.local",
    "LAPTOP-7QK2.corp.local",
    "SRV-FILE01.corp.local",
    "SRV-SQL02.corp.local",
    "DC01.corp.local",
];
pub(super) const WIN_USERS: &[&str] = &[
    r#"CORP\\jdoe"#,
    r#"CORP\\msmith"#,
    r#"CORP\\svc_backup"#,
    r#"NT AUTHORITY\\SYSTEM"#,
    r#"CORP\\akhan"#,
];
pub(super) const ET_SIGS: &[(&str, &str)] = &[
    ("ET DROP Dshield Block Listed Source group 1", "Misc Attack"),
    (
        "ET CINS Active Threat Intelligence Poor Reputation IP group 42",
        "Misc Attack",
    ),
    (
        "ET SCAN Potential SSH Scan OUTBOUND",
        "Attempted Information Leak",
    ),
    (
        "ET POLICY curl User-Agent Outbound",
        "Attempted Information Leak",
    ),
    (
        "ET MALWARE Possible Windows executable sent when remote host claims to send html content",
        "A Network Trojan was detected",
    ),
    (
        "ET COMPROMISED Known Compromised or Hostile Host Traffic group 17",
        "Misc Attack",
    ),
    (
        "ET SCAN Suspicious inbound to mySQL port 3306",
        "Potentially Bad Traffic",
    ),
];
pub(super) const COUNTRIES: &[&str] = &[
    "United States",
    "Germany",
    "Netherlands",
    "Russian Federation",
    "China",
    "France",
    "Brazil",
    "Singapore",
    "United Kingdom",
];

/// Popular public IPv4 ranges that background lines favour.
pub(super) const POPULAR4: &[(u32, u8)] = &[
    (0x0808_0800, 24), // 8.8.8.0/24
    (0x0101_0100, 24), // 1.1.1.0/24
    (0x8efa_0000, 15), // 142.250.0.0/15
    (0x0d6b_0000, 16), // 13.107.0.0/16
    (0x3460_0000, 12), // 52.96.0.0/12
    (0x6810_0000, 13), // 104.16.0.0/13
    (0x9765_0000, 16), // 151.101.0.0/16
    (0x11fd_0000, 16), // 17.253.0.0/16
    (0x14be_8000, 18), // 20.190.128.0/18
    (0x1700_0000, 12), // 23.0.0.0/12
    (0xb92c_0000, 16), // 185.44.0.0/16
];

/// Reserved and private IPv4 ranges: never used for indicators.
const RESERVED4: &[(u32, u8)] = &[
    (0x0000_0000, 8),
    (0x0a00_0000, 8),
    (0x6440_0000, 10),
    (0x7f00_0000, 8),
    (0xa9fe_0000, 16),
    (0xac10_0000, 12),
    (0xc000_0000, 24),
    (0xc000_0200, 24),
    (0xc0a8_0000, 16),
    (0xc612_0000, 15),
    (0xc633_6400, 24),
    (0xcb00_7100, 24),
    (0xe000_0000, 3),
];

pub(super) fn overlaps_reserved(net: u32, len: u8) -> bool {
    let (lo, hi) = (net, net | !mask4(len));
    RESERVED4.iter().any(|&(rn, rl)| {
        let (rlo, rhi) = (rn, rn | !mask4(rl));
        lo <= rhi && rlo <= hi
    })
}

fn weighted<'a, R: Rng>(rng: &mut R, items: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|x| x.1).sum();
    let mut r = rng.gen_range(0..total);
    for &(s, w) in items {
        if r < w {
            return s;
        }
        r -= w;
    }
    items[0].0
}

pub(super) fn pick<'a, R: Rng, T: ?Sized>(rng: &mut R, items: &[&'a T]) -> &'a T {
    items[rng.gen_range(0..items.len())]
}

pub(super) fn push_word<R: Rng>(rng: &mut R, out: &mut String, syllables: usize) {
    for _ in 0..syllables {
        out.push(CONS[rng.gen_range(0..CONS.len())] as char);
        out.push(VOWS[rng.gen_range(0..VOWS.len())] as char);
        if rng.gen_ratio(1, 4) {
            out.push(CONS[rng.gen_range(0..CONS.len())] as char);
        }
    }
}

pub(super) fn push_words<R: Rng>(rng: &mut R, out: &mut String, syllables: Range<usize>) {
    let n = rng.gen_range(syllables);
    push_word(rng, out, n);
}

pub(super) fn push_alnum<R: Rng>(rng: &mut R, out: &mut String, n: usize) {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for _ in 0..n {
        out.push(A[rng.gen_range(0..A.len())] as char);
    }
}

pub(super) fn push_hex<R: Rng>(rng: &mut R, out: &mut String, n: usize) {
    const H: &[u8] = b"0123456789abcdef";
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng.r#gen();
        }
        out.push(H[(bits & 15) as usize] as char);
        bits >>= 4;
    }
}

/// A domain name: optional subdomain labels, a base word, a TLD.
pub(super) fn gen_domain<R: Rng>(
    rng: &mut R,
    out: &mut String,
    tlds: &[(&str, u32)],
    sub_pct: u32,
) {
    out.clear();
    if rng.gen_range(0..100) < sub_pct {
        if rng.gen_ratio(2, 3) {
            out.push_str(pick(rng, SUB_LABELS));
        } else {
            push_word(rng, out, 2);
        }
        out.push('.');
    }
    match rng.gen_range(0..10) {
        0 => {
            // DGA-looking
            let n = rng.gen_range(10..18);
            for _ in 0..n {
                out.push((b'a' + rng.gen_range(0..26)) as char);
            }
        }
        1 | 2 => {
            push_words(rng, out, 1..3);
            out.push('-');
            push_words(rng, out, 2..4);
        }
        _ => {
            push_words(rng, out, 2..5);
            if rng.gen_ratio(1, 10) {
                let _ = write!(out, "{}", rng.gen_range(1..100));
            }
        }
    }
    out.push('.');
    out.push_str(weighted(rng, tlds));
}

pub(super) fn ioc_v6<R: Rng>(rng: &mut R) -> u128 {
    loop {
        let g0: u16 = rng.gen_range(0x2001..=0x2c0f);
        let g1: u16 = rng.r#gen();
        if g0 == 0x2002 || (g0 == 0x2001 && g1 < 0x1000) {
            continue;
        }
        let hi = ((g0 as u128) << 112) | ((g1 as u128) << 96);
        return match rng.gen_range(0..3) {
            0 => hi | ((rng.r#gen::<u16>() as u128) << 80) | rng.gen_range(1..0x100u128),
            1 => hi | ((rng.r#gen::<u32>() as u128) << 64) | rng.gen_range(1..0x1000u128),
            _ => hi | (rng.r#gen::<u128>() & ((1u128 << 96) - 1)),
        };
    }
}

pub(super) fn cidr4_len<R: Rng>(rng: &mut R) -> u8 {
    match rng.gen_range(0..100) {
        0..=1 => rng.gen_range(12..16),
        2..=41 => 24,
        42..=76 => rng.gen_range(16..24),
        _ => rng.gen_range(25..29),
    }
}

/// A URL path (with a leading `/`), maybe a query.
pub(super) fn gen_path<R: Rng>(rng: &mut R, out: &mut String, dir_only: bool) {
    let segs = rng.gen_range(0..3);
    for _ in 0..segs {
        out.push('/');
        if rng.gen_ratio(1, 2) {
            out.push_str(pick(rng, PATH_WORDS));
        } else {
            push_words(rng, out, 1..4);
        }
    }
    out.push('/');
    if dir_only {
        return;
    }
    if rng.gen_ratio(4, 5) {
        push_words(rng, out, 1..4);
        if rng.gen_ratio(1, 5) {
            let _ = write!(out, "{}", rng.gen_range(1..1000));
        }
        out.push('.');
        out.push_str(pick(rng, FILE_EXTS));
    }
    if rng.gen_ratio(3, 20) {
        out.push('?');
        push_word(rng, out, 1);
        out.push('=');
        let _ = write!(out, "{}", rng.gen_range(1..100_000));
    }
}

pub(super) fn ipv6_text(ip: u128) -> String {
    Ipv6Addr::from(ip).to_string()
}

/// Another textual form of the same IPv6 address.
pub(super) fn ipv6_variant<R: Rng>(rng: &mut R, ip: u128) -> String {
    let segs = Ipv6Addr::from(ip).segments();
    let canonical = ipv6_text(ip);
    let mut s = String::with_capacity(40);
    match rng.gen_range(0..4) {
        0 => {
            // fully expanded
            for (i, g) in segs.iter().enumerate() {
                if i > 0 {
                    s.push(':');
                }
                let _ = write!(s, "{g:04x}");
            }
        }
        1 if canonical.bytes().any(|b| b.is_ascii_alphabetic()) => {
            s = canonical.to_ascii_uppercase();
        }
        _ => {
            // compress only part of the longest zero run (or none), pad some groups
            let (mut best, mut best_len, mut cur, mut cur_len) = (0, 0, 0, 0);
            for (i, &g) in segs.iter().enumerate() {
                if g == 0 {
                    if cur_len == 0 {
                        cur = i;
                    }
                    cur_len += 1;
                    if cur_len > best_len {
                        best = cur;
                        best_len = cur_len;
                    }
                } else {
                    cur_len = 0;
                }
            }
            let upper = rng.gen_ratio(1, 3);
            let group = |s: &mut String, g: u16, pad: bool| {
                let _ = match (pad, upper) {
                    (true, true) => write!(s, "{g:04X}"),
                    (true, false) => write!(s, "{g:04x}"),
                    (false, true) => write!(s, "{g:X}"),
                    (false, false) => write!(s, "{g:x}"),
                };
            };
            if best_len >= 2 {
                // keep the first zero group written, compress the rest of the run
                let (zs, ze) = (best + 1, best + best_len);
                for (i, &g) in segs.iter().enumerate().take(zs) {
                    if i > 0 {
                        s.push(':');
                    }
                    group(&mut s, g, rng.gen_ratio(1, 2));
                }
                s.push_str("::");
                for (i, &g) in segs.iter().enumerate().skip(ze) {
                    if i > ze {
                        s.push(':');
                    }
                    group(&mut s, g, rng.gen_ratio(1, 2));
                }
            } else {
                for (i, &g) in segs.iter().enumerate() {
                    if i > 0 {
                        s.push(':');
                    }
                    group(&mut s, g, rng.gen_ratio(1, 2));
                }
            }
        }
    }
    debug_assert_eq!(s.parse::<Ipv6Addr>().map(u128::from), Ok(ip), "{s}");
    s
}

/// A strictly written dotted quad (no leading zeros), as a number.
pub(super) fn strict_v4(s: &str) -> Option<u32> {
    let mut parts = 0;
    let mut ip = 0u32;
    for p in s.split('.') {
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        let v: u32 = p.parse().ok()?;
        if v > 255 {
            return None;
        }
        ip = (ip << 8) | v;
        parts += 1;
    }
    (parts == 4).then_some(ip)
}

/// Every maximal dotted-decimal run of `s` that is an IPv4 address.
pub(super) fn dotted_quads(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(strict_v4)
}
