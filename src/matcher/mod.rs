//! The matching engine: an immutable compiled indicator set and a per-thread scratch.
//!
//! Read [`IocSet`] first, then [`Scratch`] and [`Hit`]. An `IocSet` is built once by a
//! [`Compiler`] (off the hot path), then shared read-only by every worker thread; each thread
//! owns a `Scratch` with the few buffers a scan needs, so the steady state allocates nothing per
//! line. The engine knows nothing of tokio, metrics, feeds or alerts.
//!
//! # The contract
//!
//! Matching is token-bounded: an indicator matches a whole token, never a piece of one.
//!
//! | type | a log token matches when |
//! |---|---|
//! | IPv4 | a maximal run of `[A-Za-z0-9._-]` and bytes >= 0x80, with trailing dots dropped, is a dotted quad with no leading zeros (`01.2.3.4` is not an address) equal to it. A run of digits, dots and `-`/`_` only is split at the dashes first, so `1.2.3.4-1.2.3.9` holds two addresses. `1.2.3.4.5`, `v1.2.3.4` and `11.2.3.4` are not `1.2.3.4`. |
//! | IPv6 | a maximal run of hex digits, `:` and `.` with at least two colons, not touching a letter or digit, parses to the same 128-bit address (any textual form). |
//! | CIDR | an IPv4 or IPv6 token as above lies inside it; of several CIDRs, only the longest prefix is reported. An exact-address indicator is reported beside it. |
//! | domain | the dotted run (lower-cased, IDN to punycode, trailing dots dropped) equals it, or, when the indicator allows subdomains, ends with `.` + it. `notevil.com`, `evil.com.au` and `evil.community` are not `evil.com`. |
//! | URL | a run starting with `scheme://` and ending at white space, a quote, `<>\`\\|^{}` or trailing punctuation has the same [`canonical_url`] (exact mode) or starts with it (prefix mode). |
//! | md5, sha1, sha256 | a run of exactly 32, 40 or 64 hex digits, any case, with no letter or digit on either side, has the same digest. |
//! | e-mail | `local@domain`, where the local part is a maximal run of `[A-Za-z0-9._%+-]` right before the `@` and the domain is a dotted run as above; the domain part is compared lower-cased. |
//! | string | a substring, case-sensitive or ASCII-case-insensitive per indicator (Aho-Corasick). |
//!
//! A line feed or carriage return is never part of a token, so scanning a buffer of many lines
//! finds exactly what scanning each line alone finds (with offsets moved).
//!
//! # How a scan finds candidates
//!
//! Scanning every byte through an automaton of millions of literals is what `grep -F` does, and
//! it is measured to be 10-40x slower than the alternative taken here: find *anchors* with SIMD
//! searches, expand each anchor to its token, and look the token up by type in a hash table.
//! Every `.` anchors a dotted token (IPv4, domains, e-mail) and every `:` with another colon
//! within five bytes an IPv6 candidate, both read from 64-byte SIMD masks (`anchors.rs`); a dotted
//! token's ends come from classifying the 16 bytes on each side of its dot at once.
//! `memmem("://")` anchors URLs, and a hex run of 32 or more always covers two consecutive
//! multiples of 16, so sampling every 16th byte anchors hashes. IPv4 networks are found in a
//! longest-prefix table (`lpm.rs`). Each family runs only when the set holds an
//! indicator of that family. Free strings are the one place for Aho-Corasick, and it only ever
//! sees the (small) set of free strings.

mod anchors;
mod index;
mod lpm;
mod url;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use memchr::memmem;

use anchors::Anchors;
use index::{Index, StrIndex};
use lpm::Lpm4;
pub use url::canonical_url;

/// The type of an indicator, as users name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IocKind {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
    String,
}

impl IocKind {
    /// Every kind, in report order.
    pub const ALL: [IocKind; 10] = [
        IocKind::Ipv4,
        IocKind::Ipv6,
        IocKind::Cidr,
        IocKind::Domain,
        IocKind::Url,
        IocKind::Md5,
        IocKind::Sha1,
        IocKind::Sha256,
        IocKind::Email,
        IocKind::String,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Ipv4 => "ipv4",
            IocKind::Ipv6 => "ipv6",
            IocKind::Cidr => "cidr",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Md5 => "md5",
            IocKind::Sha1 => "sha1",
            IocKind::Sha256 => "sha256",
            IocKind::Email => "email",
            IocKind::String => "string",
        }
    }
}

impl fmt::Display for IocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator in canonical form. Building one from feed text (refanging, type inference,
/// validation) is the `ioc` module's job; the engine takes it as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A network with its host bits cleared.
    Cidr(IpNet),
    /// Lower-case ASCII (IDN already in punycode), no trailing dot.
    Domain {
        name: String,
        subdomains: bool,
    },
    /// As [`canonical_url`] returns it.
    Url {
        url: String,
        prefix: bool,
    },
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
    /// `local@domain` with the domain lower-cased.
    Email(String),
    /// Never empty, never holds a line break. Lower-cased when `case_insensitive`.
    String {
        text: String,
        case_insensitive: bool,
    },
}

impl Pattern {
    pub fn kind(&self) -> IocKind {
        match self {
            Pattern::Ipv4(_) => IocKind::Ipv4,
            Pattern::Ipv6(_) => IocKind::Ipv6,
            Pattern::Cidr(_) => IocKind::Cidr,
            Pattern::Domain { .. } => IocKind::Domain,
            Pattern::Url { .. } => IocKind::Url,
            Pattern::Md5(_) => IocKind::Md5,
            Pattern::Sha1(_) => IocKind::Sha1,
            Pattern::Sha256(_) => IocKind::Sha256,
            Pattern::Email(_) => IocKind::Email,
            Pattern::String { .. } => IocKind::String,
        }
    }

    /// Which table of a set holds this pattern, and under which key.
    pub(crate) fn table(&self) -> Table {
        match self {
            Pattern::Ipv4(_) => Table::Ipv4,
            Pattern::Ipv6(_) => Table::Ipv6,
            Pattern::Cidr(IpNet::V4(_)) => Table::Cidr4,
            Pattern::Cidr(IpNet::V6(_)) => Table::Cidr6,
            Pattern::Domain {
                subdomains: true, ..
            } => Table::DomainSub,
            Pattern::Domain {
                subdomains: false, ..
            } => Table::DomainExact,
            Pattern::Url { prefix: false, .. } => Table::UrlExact,
            Pattern::Url { prefix: true, .. } => Table::UrlPrefix,
            Pattern::Md5(_) => Table::Md5,
            Pattern::Sha1(_) => Table::Sha1,
            Pattern::Sha256(_) => Table::Sha256,
            Pattern::Email(_) => Table::Email,
            Pattern::String {
                case_insensitive: false,
                ..
            } => Table::StrCs,
            Pattern::String {
                case_insensitive: true,
                ..
            } => Table::StrCi,
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// The canonical text of the indicator.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Ipv4(a) => write!(f, "{a}"),
            Pattern::Ipv6(a) => write!(f, "{a}"),
            Pattern::Cidr(n) => write!(f, "{n}"),
            Pattern::Domain { name, .. } => f.write_str(name),
            Pattern::Url { url, .. } => f.write_str(url),
            Pattern::Md5(d) => write_hex(f, d),
            Pattern::Sha1(d) => write_hex(f, d),
            Pattern::Sha256(d) => write_hex(f, d),
            Pattern::Email(e) => f.write_str(e),
            Pattern::String { text, .. } => f.write_str(text),
        }
    }
}

/// The tables of a set, in the order their indicators are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Table {
    Ipv4,
    Ipv6,
    Cidr4,
    Cidr6,
    DomainSub,
    DomainExact,
    UrlExact,
    UrlPrefix,
    Md5,
    Sha1,
    Sha256,
    Email,
    StrCs,
    StrCi,
}

pub(crate) const N_TABLES: usize = 14;

/// Sets with fewer IPv4 indicators than this (and no IPv4 network) keep their table in cache
/// anyway, and skip the 2 MiB /24 map.
const V4_MAP_MIN: usize = 16 * 1024;
const TABLES: [Table; N_TABLES] = [
    Table::Ipv4,
    Table::Ipv6,
    Table::Cidr4,
    Table::Cidr6,
    Table::DomainSub,
    Table::DomainExact,
    Table::UrlExact,
    Table::UrlPrefix,
    Table::Md5,
    Table::Sha1,
    Table::Sha256,
    Table::Email,
    Table::StrCs,
    Table::StrCi,
];

/// The number of an indicator inside one [`IocSet`]. Numbers are dense, from 0 to `len() - 1`,
/// and mean nothing across two sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IocId(pub u32);

impl IocId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One indicator found in a scanned buffer: the bytes `start..end` of the buffer (the whole
/// token, e.g. `a.b.evil.com` for the domain `evil.com`) matched indicator `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub id: IocId,
}

/// A feed that contributed indicators to a set.
#[derive(Clone, Debug, PartialEq)]
pub struct Feed {
    /// The name alerts show as the indicator's provider.
    pub name: String,
    /// Where it was read from (a path or URL).
    pub location: String,
    /// How much the feed's word counts when scoring, relative to 1.0 (config `weight`).
    pub weight: f64,
}

/// One feed's listing of an indicator: which feed, on which line (1-based; 0 when the format
/// has no lines), and what the feed said about it ([`IocSet::meta`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceRef {
    pub feed: u16,
    pub line: u32,
    /// Index into the set's listing metadata, or [`SourceRef::NO_META`].
    pub meta: u32,
}

impl SourceRef {
    /// The listing carries nothing beyond the feed's defaults (plain lists).
    pub const NO_META: u32 = u32::MAX;

    /// A listing without metadata of its own.
    pub fn plain(feed: u16, line: u32) -> SourceRef {
        SourceRef {
            feed,
            line,
            meta: SourceRef::NO_META,
        }
    }
}

/// Traffic Light Protocol marking of a listing.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    Red,
}

/// What one feed said about one indicator, beyond listing it. Times are Unix seconds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Meta {
    /// 0-100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// 0 (informational) to 100 (critical).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Per-thread buffers for [`IocSet::scan`]. Create one per thread and reuse it; it grows to the
/// longest token seen and then stops allocating.
#[derive(Debug, Default)]
pub struct Scratch {
    name: Vec<u8>,
    email: Vec<u8>,
    /// Name tokens of the last [`IocSet::scan`] that are the host of some URL indicator.
    url_hosts: Vec<std::ops::Range<usize>>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// The name tokens of the last [`IocSet::scan`] (byte ranges of its input) that are the
    /// host of some URL indicator, in input order. A line whose decoded fields split a URL
    /// into host and path (Zeek `http.log`, Suricata EVE `http`, ECS `url.domain` +
    /// `url.path`) has one; only those lines are worth decoding to put the URL back together
    /// (`alert::split_url_hits`). A URL written whole has one too (its host), which
    /// [`IocSet::scan`] has matched already.
    pub fn url_host_tokens(&self) -> &[std::ops::Range<usize>] {
        &self.url_hosts
    }
}

/// An immutable, compiled set of indicators.
///
/// Build it with a [`Compiler`] (or `ioc::SetBuilder`, which parses feeds into one), share it
/// with `Arc`, and call [`IocSet::scan`] from any number of threads.
pub struct IocSet {
    ipv4: Index<u32>,
    ipv6: Index<u128>,
    /// Keyed by (network, prefix length).
    cidr4: Index<(u32, u8)>,
    /// The longest network of `cidr4` holding an address.
    lpm4: Lpm4,
    /// One bit per /24: set when an IPv4 indicator or IPv4 CIDR covers part of it. Most
    /// address tokens in logs are not indicators; this 2 MiB map (built for big sets only)
    /// turns their lookups into one L2 read instead of misses into the tables.
    v4_map: Option<Box<[u64]>>,
    cidr6: Index<(u128, u8)>,
    cidr6_lens: Vec<u8>,
    domain_sub: StrIndex,
    /// The fewest labels of a `domain_sub` key (`evil.com`: 2).
    sub_min_labels: usize,
    domain_exact: StrIndex,
    url_exact: StrIndex,
    url_prefix: StrIndex,
    /// Distinct lengths of prefix-mode URLs, ascending.
    url_prefix_lens: Vec<u32>,
    /// Hosts of every URL indicator: a URL token is canonicalized only when its host is here.
    url_hosts: StrIndex,
    /// Some URL indicator has an IPv4 host: address tokens are looked up in `url_v4` too.
    url_v4_hosts: bool,
    /// The IPv4 hosts of URL indicators, sorted, and a 64 Ki-bit filter of them
    /// ([`v4_slot`]).
    url_v4: Vec<u32>,
    url_v4_filter: Box<[u64]>,
    /// One bit per value of the high bits of a name's hash, set for the hosts of URL
    /// indicators: most name tokens are no such host, and this small map (at most 1 MiB,
    /// about 32 bits per host) answers that in one read instead of a probe into `url_hosts`.
    url_host_filter: Box<[u64]>,
    /// Hashes of the hosts of `url_hosts`, while compiling (empty after).
    url_host_hashes: Vec<u64>,
    md5: Index<[u8; 16]>,
    sha1: Index<[u8; 20]>,
    sha256: Index<[u8; 32]>,
    email: StrIndex,
    str_cs: StrIndex,
    str_ci: StrIndex,
    /// How free strings are found; see [`StringSearch`].
    strings: Option<StringSearch>,
    url_finder: memmem::Finder<'static>,
    /// `base[t]` is the id of table `t`'s first indicator; `base[N_TABLES]` is the set's size.
    base: [u32; N_TABLES + 1],
    /// Sources of indicator `i` are `sources[src_start[i]..src_start[i + 1]]`.
    src_start: Vec<u32>,
    sources: Vec<SourceRef>,
    metas: Vec<Meta>,
    feeds: Vec<Feed>,
}

impl fmt::Debug for IocSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IocSet")
            .field("len", &self.len())
            .field("feeds", &self.feeds.len())
            .finish_non_exhaustive()
    }
}

impl IocSet {
    /// The empty set: matches nothing.
    pub fn empty() -> IocSet {
        Compiler::new().build()
    }

    /// How many distinct indicators the set holds.
    pub fn len(&self) -> usize {
        self.base[N_TABLES] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn table_len(&self, t: Table) -> usize {
        (self.base[t as usize + 1] - self.base[t as usize]) as usize
    }

    fn locate(&self, id: IocId) -> (Table, u32) {
        assert!(id.0 < self.base[N_TABLES], "IocId {} out of range", id.0);
        // The first table whose range ends after `id`; empty tables are skipped by `>`.
        let t = TABLES
            .iter()
            .position(|&t| self.base[t as usize + 1] > id.0)
            .expect("id is in range");
        (TABLES[t], id.0 - self.base[t])
    }

    #[inline]
    fn id(&self, t: Table, local: u32) -> IocId {
        IocId(self.base[t as usize] + local)
    }

    /// The indicator `id` stands for.
    pub fn pattern(&self, id: IocId) -> Pattern {
        let (t, i) = self.locate(id);
        let text = |ix: &StrIndex| String::from_utf8_lossy(ix.key(i)).into_owned();
        match t {
            Table::Ipv4 => Pattern::Ipv4(Ipv4Addr::from(self.ipv4.key(i))),
            Table::Ipv6 => Pattern::Ipv6(Ipv6Addr::from(self.ipv6.key(i))),
            Table::Cidr4 => {
                let (net, len) = self.cidr4.key(i);
                let net = ipnet::Ipv4Net::new(Ipv4Addr::from(net), len).expect("valid prefix");
                Pattern::Cidr(IpNet::V4(net))
            }
            Table::Cidr6 => {
                let (net, len) = self.cidr6.key(i);
                let net = ipnet::Ipv6Net::new(Ipv6Addr::from(net), len).expect("valid prefix");
                Pattern::Cidr(IpNet::V6(net))
            }
            Table::DomainSub => Pattern::Domain {
                name: text(&self.domain_sub),
                subdomains: true,
            },
            Table::DomainExact => Pattern::Domain {
                name: text(&self.domain_exact),
                subdomains: false,
            },
            Table::UrlExact => Pattern::Url {
                url: text(&self.url_exact),
                prefix: false,
            },
            Table::UrlPrefix => Pattern::Url {
                url: text(&self.url_prefix),
                prefix: true,
            },
            Table::Md5 => Pattern::Md5(self.md5.key(i)),
            Table::Sha1 => Pattern::Sha1(self.sha1.key(i)),
            Table::Sha256 => Pattern::Sha256(self.sha256.key(i)),
            Table::Email => Pattern::Email(text(&self.email)),
            Table::StrCs => Pattern::String {
                text: text(&self.str_cs),
                case_insensitive: false,
            },
            Table::StrCi => Pattern::String {
                text: text(&self.str_ci),
                case_insensitive: true,
            },
        }
    }

    /// The kind of indicator `id`.
    pub fn kind(&self, id: IocId) -> IocKind {
        self.pattern_kind(self.locate(id).0)
    }

    fn pattern_kind(&self, t: Table) -> IocKind {
        match t {
            Table::Ipv4 => IocKind::Ipv4,
            Table::Ipv6 => IocKind::Ipv6,
            Table::Cidr4 | Table::Cidr6 => IocKind::Cidr,
            Table::DomainSub | Table::DomainExact => IocKind::Domain,
            Table::UrlExact | Table::UrlPrefix => IocKind::Url,
            Table::Md5 => IocKind::Md5,
            Table::Sha1 => IocKind::Sha1,
            Table::Sha256 => IocKind::Sha256,
            Table::Email => IocKind::Email,
            Table::StrCs | Table::StrCi => IocKind::String,
        }
    }

    /// The id of `pattern` if the set holds exactly that indicator.
    pub fn find(&self, pattern: &Pattern) -> Option<IocId> {
        let t = pattern.table();
        let local = match pattern {
            Pattern::Ipv4(a) => self.ipv4.get(&u32::from(*a)),
            Pattern::Ipv6(a) => self.ipv6.get(&u128::from(*a)),
            Pattern::Cidr(IpNet::V4(n)) => {
                self.cidr4.get(&(u32::from(n.network()), n.prefix_len()))
            }
            Pattern::Cidr(IpNet::V6(n)) => {
                self.cidr6.get(&(u128::from(n.network()), n.prefix_len()))
            }
            Pattern::Domain { name, subdomains } => {
                let ix = if *subdomains {
                    &self.domain_sub
                } else {
                    &self.domain_exact
                };
                ix.get(name.as_bytes())
            }
            Pattern::Url { url, prefix } => {
                let ix = if *prefix {
                    &self.url_prefix
                } else {
                    &self.url_exact
                };
                ix.get(url.as_bytes())
            }
            Pattern::Md5(d) => self.md5.get(d),
            Pattern::Sha1(d) => self.sha1.get(d),
            Pattern::Sha256(d) => self.sha256.get(d),
            Pattern::Email(e) => self.email.get(e.as_bytes()),
            Pattern::String {
                text,
                case_insensitive,
            } => {
                let ix = if *case_insensitive {
                    &self.str_ci
                } else {
                    &self.str_cs
                };
                ix.get(text.as_bytes())
            }
        }?;
        Some(self.id(t, local))
    }

    /// Every feed's listing of indicator `id`, ordered by feed.
    pub fn sources(&self, id: IocId) -> &[SourceRef] {
        let i = id.index();
        &self.sources[self.src_start[i] as usize..self.src_start[i + 1] as usize]
    }

    /// What the feed said about this listing, if it said anything beyond listing it.
    pub fn meta(&self, source: &SourceRef) -> Option<&Meta> {
        self.metas.get(source.meta as usize)
    }

    /// The feeds the set was built from; `SourceRef::feed` indexes this.
    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// How many indicators of each kind the set holds.
    pub fn counts(&self) -> Vec<(IocKind, usize)> {
        IocKind::ALL
            .iter()
            .map(|&k| {
                let n = TABLES
                    .iter()
                    .filter(|&&t| self.pattern_kind(t) == k)
                    .map(|&t| self.table_len(t))
                    .sum();
                (k, n)
            })
            .collect()
    }

    /// Heap memory held by the set: tables, keys, provenance and automata.
    pub fn heap_bytes(&self) -> usize {
        self.ipv4.heap_bytes()
            + self.v4_map.as_ref().map_or(0, |m| m.len() * 8)
            + self.ipv6.heap_bytes()
            + self.cidr4.heap_bytes()
            + self.lpm4.heap_bytes()
            + self.cidr6.heap_bytes()
            + self.domain_sub.heap_bytes()
            + self.domain_exact.heap_bytes()
            + self.url_exact.heap_bytes()
            + self.url_prefix.heap_bytes()
            + self.url_hosts.heap_bytes()
            + self.url_host_filter.len() * 8
            + self.url_v4.capacity() * 4
            + self.url_v4_filter.len() * 8
            + self.md5.heap_bytes()
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self.email.heap_bytes()
            + self.str_cs.heap_bytes()
            + self.str_ci.heap_bytes()
            + self.strings.as_ref().map_or(0, StringSearch::memory_usage)
            + self.src_start.capacity() * 4
            + self.sources.capacity() * std::mem::size_of::<SourceRef>()
            + self.metas.capacity() * std::mem::size_of::<Meta>()
            + self
                .feeds
                .iter()
                .map(|f| f.name.capacity() + f.location.capacity())
                .sum::<usize>()
    }

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
    fn scan_strings(&self, search: &StringSearch, hay: &[u8], hits: &mut Vec<Hit>) {
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
    fn scan_dotted(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
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
    fn lookup_v4(&self, hay: &[u8], s: usize, e: usize, hits: &mut Vec<Hit>) -> Option<u32> {
        let ip = parse_ipv4(&hay[s..e])?;
        if let Some(map) = &self.v4_map {
            let slash24 = (ip >> 8) as usize;
            if map[slash24 / 64] & (1 << (slash24 % 64)) == 0 {
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
        if let Some(i) = self.lpm4.get(ip) {
            hits.push(Hit {
                start: s,
                end: e,
                id: self.id(Table::Cidr4, i),
            });
        }
        Some(ip)
    }

    fn lookup_domain(&self, name: &[u8], h: u64, s: usize, e: usize, hits: &mut Vec<Hit>) {
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
    fn scan_ipv6(&self, hay: &[u8], hits: &mut Vec<Hit>) {
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
            for &len in &self.cidr6_lens {
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
    fn scan_urls(&self, hay: &[u8], scratch: &mut Scratch, hits: &mut Vec<Hit>) {
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
            for &len in &self.url_prefix_lens {
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
    fn scan_hex(&self, hay: &[u8], hits: &mut Vec<Hit>) {
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
fn dotted_walk(hay: &[u8], dot: usize) -> (usize, usize, u8) {
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
fn trim_url_end(url: &[u8]) -> usize {
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
fn authority_end(canonical: &str) -> usize {
    let Some(k) = canonical.find("://") else {
        return 0;
    };
    canonical[k + 3..]
        .find(['/', '?', '#'])
        .map_or(canonical.len(), |i| k + 3 + i)
}

/// Writes the lookup form of a dotted token into `out`: lower-case ASCII, IDN to punycode.
/// False when the token is not a name at all.
fn domain_name(tok: &[u8], out: &mut Vec<u8>) -> bool {
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

/// A dotted quad with no leading zeros, or `None`.
#[inline]
pub(crate) fn parse_ipv4(b: &[u8]) -> Option<u32> {
    let mut ip: u32 = 0;
    let mut parts = 0;
    let mut i = 0;
    while i <= b.len() {
        let start = i;
        let mut v: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            v = v * 10 + u32::from(b[i] - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let n = i - start;
        if n == 0 || v > 255 || (n > 1 && b[start] == b'0') {
            return None;
        }
        ip = (ip << 8) | v;
        parts += 1;
        if i == b.len() {
            break;
        }
        if b[i] != b'.' || parts == 4 {
            return None;
        }
        i += 1;
    }
    (parts == 4).then_some(ip)
}

fn decode_hex<const N: usize>(run: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (hex_digit(run[2 * k]) << 4) | hex_digit(run[2 * k + 1]);
    }
    out
}

#[inline]
fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

// Byte classes, one table lookup per byte.
const DIGIT: u8 = 1;
const HEXALPHA: u8 = 2;
const ALPHA: u8 = 4;
const DOT: u8 = 8;
const DASH: u8 = 16;
const HIGH: u8 = 32;
/// Extra bytes allowed in an e-mail local part (`+` and `%`), beside letters, digits, `.-_`.
const LOCALX: u8 = 64;
/// Bytes that may be part of a URL token.
const URL: u8 = 128;
const DOTTED: u8 = DIGIT | ALPHA | DOT | DASH | HIGH;
const LOCAL: u8 = DIGIT | ALPHA | DOT | DASH | LOCALX;

static CLASSES: [u8; 256] = build_classes();

const fn build_classes() -> [u8; 256] {
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
fn class(b: u8) -> u8 {
    CLASSES[b as usize]
}

#[inline(always)]
fn is_hex(b: u8) -> bool {
    class(b) & (DIGIT | HEXALPHA) != 0
}

/// True when all 16 bytes are ASCII hex digits.
#[inline(always)]
fn all_hex16(block: &[u8]) -> bool {
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
fn is_scheme(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')
}

#[inline(always)]
fn is_v6(b: u8) -> bool {
    is_hex(b) || b == b':' || b == b'.'
}

/// One listing as the compiler keeps it until [`Compiler::build`]: the indicator's table and
/// local index packed in one `u32` (4 + 28 bits) beside the source, 16 bytes where a tuple
/// took 20. At a million listings the vector is the compile's biggest scratch, alive while the
/// old set still serves and the new one is complete, so it sets the reload's memory peak.
#[derive(Clone, Copy)]
struct Listed {
    at: u32,
    source: SourceRef,
}

const _: () = assert!(std::mem::size_of::<Listed>() == 16 && N_TABLES <= 16);

impl Listed {
    const LOCAL_BITS: u32 = 28;

    fn new(t: Table, local: u32, source: SourceRef) -> Listed {
        assert!(
            local < 1 << Listed::LOCAL_BITS,
            "more than 2^28 indicators of one type"
        );
        Listed {
            at: (t as u32) << Listed::LOCAL_BITS | local,
            source,
        }
    }

    fn table(self) -> usize {
        (self.at >> Listed::LOCAL_BITS) as usize
    }

    fn local(self) -> u32 {
        self.at & ((1 << Listed::LOCAL_BITS) - 1)
    }
}

/// Builds an [`IocSet`] from canonical patterns, merging duplicates and keeping every source.
pub struct Compiler {
    set: IocSet,
    /// Every listing; grouped into `set.sources` at build.
    listings: Vec<Listed>,
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler::new()
    }
}

impl Compiler {
    pub fn new() -> Compiler {
        Compiler {
            set: IocSet {
                ipv4: Index::default(),
                ipv6: Index::default(),
                cidr4: Index::default(),
                lpm4: Lpm4::default(),
                v4_map: None,
                cidr6: Index::default(),
                cidr6_lens: Vec::new(),
                domain_sub: StrIndex::default(),
                sub_min_labels: 1,
                domain_exact: StrIndex::default(),
                url_exact: StrIndex::default(),
                url_prefix: StrIndex::default(),
                url_prefix_lens: Vec::new(),
                url_hosts: StrIndex::default(),
                url_v4_hosts: false,
                url_v4: Vec::new(),
                url_v4_filter: vec![0u64; 1024].into_boxed_slice(),
                url_host_filter: Box::default(),
                url_host_hashes: Vec::new(),
                md5: Index::default(),
                sha1: Index::default(),
                sha256: Index::default(),
                email: StrIndex::default(),
                str_cs: StrIndex::default(),
                str_ci: StrIndex::default(),
                strings: None,
                url_finder: memmem::Finder::new(b"://").into_owned(),
                base: [0; N_TABLES + 1],
                src_start: Vec::new(),
                sources: Vec::new(),
                metas: Vec::new(),
                feeds: Vec::new(),
            },
            listings: Vec::new(),
        }
    }

    /// Makes room for `listings` more listings, `per_table[t]` of them (with `bytes[t]` bytes
    /// of keys) in table `t`: a hint from counts the caller has, so the tables are allocated
    /// once instead of growing by doubling (each step a copy beside the old table). Tables still
    /// grow past it; [`Compiler::build`] gives unused room back.
    pub(crate) fn reserve(
        &mut self,
        listings: usize,
        per_table: &[usize; N_TABLES],
        bytes: &[usize; N_TABLES],
    ) {
        self.listings.reserve_exact(listings);
        let s = &mut self.set;
        for t in TABLES {
            let (n, b) = (per_table[t as usize], bytes[t as usize]);
            if n == 0 {
                continue;
            }
            match t {
                Table::Ipv4 => s.ipv4.reserve(n),
                Table::Ipv6 => s.ipv6.reserve(n),
                Table::Cidr4 => s.cidr4.reserve(n),
                Table::Cidr6 => s.cidr6.reserve(n),
                Table::DomainSub => s.domain_sub.reserve(n, b),
                Table::DomainExact => s.domain_exact.reserve(n, b),
                Table::UrlExact => s.url_exact.reserve(n, b),
                Table::UrlPrefix => s.url_prefix.reserve(n, b),
                Table::Md5 => s.md5.reserve(n),
                Table::Sha1 => s.sha1.reserve(n),
                Table::Sha256 => s.sha256.reserve(n),
                Table::Email => s.email.reserve(n, b),
                Table::StrCs => s.str_cs.reserve(n, b),
                Table::StrCi => s.str_ci.reserve(n, b),
            }
        }
    }

    /// Registers a feed; its number goes into the [`SourceRef`]s of its indicators.
    ///
    /// # Panics
    /// Past 65,536 feeds.
    pub fn add_feed(&mut self, name: &str, location: &str) -> u16 {
        let n = u16::try_from(self.set.feeds.len()).expect("at most 65536 feeds");
        self.set.feeds.push(Feed {
            name: name.to_owned(),
            location: location.to_owned(),
            weight: 1.0,
        });
        n
    }

    /// Sets the scoring weight of a feed registered with [`Compiler::add_feed`] (default 1.0).
    pub fn set_feed_weight(&mut self, feed: u16, weight: f64) {
        self.set.feeds[feed as usize].weight = weight;
    }

    /// Adds one listing of `pattern` with what the feed said about it (`source.meta` is
    /// replaced). See [`Compiler::add`].
    pub fn add_with_meta(&mut self, pattern: &Pattern, mut source: SourceRef, meta: Meta) -> bool {
        source.meta = u32::try_from(self.set.metas.len()).expect("at most 2^32 listings");
        self.set.metas.push(meta);
        self.add(pattern, source)
    }

    /// Adds one listing of `pattern`. Returns false when the set already had the pattern (the
    /// source is still recorded) and also when the pattern cannot be matched (an empty string,
    /// or one with a line break: those are skipped).
    pub fn add(&mut self, pattern: &Pattern, source: SourceRef) -> bool {
        let s = &mut self.set;
        let (local, new) = match pattern {
            Pattern::Ipv4(a) => s.ipv4.insert(u32::from(*a)),
            Pattern::Ipv6(a) => s.ipv6.insert(u128::from(*a)),
            Pattern::Cidr(IpNet::V4(n)) => s.cidr4.insert((u32::from(n.network()), n.prefix_len())),
            Pattern::Cidr(IpNet::V6(n)) => {
                s.cidr6.insert((u128::from(n.network()), n.prefix_len()))
            }
            Pattern::Domain { name, subdomains } => {
                let ix = if *subdomains {
                    &mut s.domain_sub
                } else {
                    &mut s.domain_exact
                };
                ix.insert(name.as_bytes())
            }
            Pattern::Url { url: u, prefix } => {
                let Some(host) = url::canonical_host(u) else {
                    return false;
                };
                s.url_hosts.insert(host.as_bytes());
                s.url_host_hashes.push(StrIndex::hash(host.as_bytes()));
                if let Some(ip) = parse_ipv4(host.as_bytes()) {
                    s.url_v4_hosts = true;
                    s.url_v4.push(ip);
                    s.url_v4_filter[v4_slot(ip) / 64] |= 1 << (v4_slot(ip) % 64);
                }
                // The scan looks raw hosts up lower-cased; a scheme without special parsing
                // keeps the host's case in canonical form (`tcp://EVIL.com/`).
                if host.bytes().any(|b| b.is_ascii_uppercase()) {
                    let lower = host.to_ascii_lowercase();
                    s.url_host_hashes.push(StrIndex::hash(lower.as_bytes()));
                    s.url_hosts.insert(lower.as_bytes());
                }
                let ix = if *prefix {
                    &mut s.url_prefix
                } else {
                    &mut s.url_exact
                };
                ix.insert(u.as_bytes())
            }
            Pattern::Md5(d) => s.md5.insert(*d),
            Pattern::Sha1(d) => s.sha1.insert(*d),
            Pattern::Sha256(d) => s.sha256.insert(*d),
            Pattern::Email(e) => s.email.insert(e.as_bytes()),
            Pattern::String {
                text,
                case_insensitive,
            } => {
                if text.is_empty() || text.contains(['\n', '\r']) {
                    return false;
                }
                let ix = if *case_insensitive {
                    &mut s.str_ci
                } else {
                    &mut s.str_cs
                };
                ix.insert(text.as_bytes())
            }
        };
        self.listings
            .push(Listed::new(pattern.table(), local, source));
        new
    }

    /// Compiles the set: numbers the indicators, groups their sources, builds the automata.
    pub fn build(mut self) -> IocSet {
        let s = &mut self.set;
        let lens = [
            s.ipv4.len(),
            s.ipv6.len(),
            s.cidr4.len(),
            s.cidr6.len(),
            s.domain_sub.len(),
            s.domain_exact.len(),
            s.url_exact.len(),
            s.url_prefix.len(),
            s.md5.len(),
            s.sha1.len(),
            s.sha256.len(),
            s.email.len(),
            s.str_cs.len(),
            s.str_ci.len(),
        ];
        let mut acc = 0u32;
        for (t, n) in lens.iter().enumerate() {
            s.base[t] = acc;
            acc = acc
                .checked_add(u32::try_from(*n).expect("table size"))
                .expect("more than 2^32 indicators");
        }
        s.base[N_TABLES] = acc;

        // Sources grouped by indicator with a counting sort: ids are dense and known, so each
        // listing goes straight to its slot (no comparison sort of a million tuples, and no
        // second listing-sized vector at the compile's peak).
        let base = s.base;
        let n = acc as usize;
        let listed = std::mem::take(&mut self.listings);
        let id_of = |l: Listed| (base[l.table()] + l.local()) as usize;
        let mut start = vec![0u32; n + 1];
        for &l in &listed {
            start[id_of(l) + 1] += 1;
        }
        for i in 1..=n {
            start[i] += start[i - 1];
        }
        let mut sources = vec![SourceRef::plain(0, 0); listed.len()];
        for &l in &listed {
            let slot = &mut start[id_of(l)];
            sources[*slot as usize] = l.source;
            *slot += 1;
        }
        drop(listed);
        // Now `start[id]` is where indicator `id`'s listings end. One source per feed and
        // indicator: the first line that listed it; `start[id]` becomes where its sources begin.
        let (mut w, mut begin) = (0usize, 0usize);
        for slot in start.iter_mut().take(n) {
            let end = *slot as usize;
            if end - begin > 1 {
                sources[begin..end].sort_unstable();
            }
            *slot = w as u32;
            let mut last_feed = None;
            for k in begin..end {
                let src = sources[k];
                if last_feed != Some(src.feed) {
                    sources[w] = src;
                    w += 1;
                    last_feed = Some(src.feed);
                }
            }
            begin = end;
        }
        start[n] = w as u32;
        sources.truncate(w);
        sources.shrink_to_fit();
        s.src_start = start;
        s.sources = sources;

        s.sub_min_labels = (0..s.domain_sub.len() as u32)
            .map(|i| 1 + memchr::memchr_iter(b'.', s.domain_sub.key(i)).count())
            .min()
            .unwrap_or(1);
        s.lpm4 = Lpm4::build((0..s.cidr4.len() as u32).map(|i| {
            let (net, len) = s.cidr4.key(i);
            (net, len, i)
        }));
        let mut l6: Vec<u8> = (0..s.cidr6.len() as u32)
            .map(|i| s.cidr6.key(i).1)
            .collect();
        l6.sort_unstable_by(|a, b| b.cmp(a));
        l6.dedup();
        s.cidr6_lens = l6;
        let mut lu: Vec<u32> = (0..s.url_prefix.len() as u32)
            .map(|i| s.url_prefix.key(i).len() as u32)
            .collect();
        lu.sort_unstable();
        lu.dedup();
        s.url_prefix_lens = lu;

        // Networks are probed once per prefix length present, so any network makes the map
        // pay for itself; exact addresses only in big sets.
        if s.cidr4.len() > 0 || s.ipv4.len() >= V4_MAP_MIN {
            let mut map = vec![0u64; (1 << 24) / 64].into_boxed_slice();
            let mut mark = |first: u32, count: u32| {
                for k in first..first + count {
                    map[k as usize / 64] |= 1 << (k % 64);
                }
            };
            for i in 0..s.ipv4.len() as u32 {
                mark(s.ipv4.key(i) >> 8, 1);
            }
            for i in 0..s.cidr4.len() as u32 {
                let (net, len) = s.cidr4.key(i);
                mark(net >> 8, if len >= 24 { 1 } else { 1 << (24 - len) });
            }
            s.v4_map = Some(map);
        }

        s.strings = build_strings(&s.str_cs, &s.str_ci);

        s.ipv4.shrink();
        s.ipv6.shrink();
        s.cidr4.shrink();
        s.cidr6.shrink();
        s.domain_sub.shrink();
        s.domain_exact.shrink();
        s.url_exact.shrink();
        s.url_prefix.shrink();
        s.url_hosts.shrink();
        s.url_host_filter = host_filter(&std::mem::take(&mut s.url_host_hashes));
        s.url_v4.sort_unstable();
        s.url_v4.dedup();
        s.url_v4.shrink_to_fit();
        s.md5.shrink();
        s.sha1.shrink();
        s.sha256.shrink();
        s.email.shrink();
        s.str_cs.shrink();
        s.str_ci.shrink();
        self.set
    }
}

/// How an [`IocSet`] finds free strings.
///
/// Aho-Corasick over the strings themselves is measured at 0.3-0.4 GB/s on web and proxy logs:
/// user-agent strings start with `Mozilla/`, which keeps the automaton busy in every web line.
/// For a few dozen strings there is a faster way, measured at 2.1 GB/s on the same corpus:
/// pick in each string its rarest 4-byte window (no letters in case-insensitive strings where
/// possible, since each letter doubles the case variants), find those windows with the SIMD
/// Teddy searcher, and compare the whole string around each one.
enum StringSearch {
    /// Teddy over anchors; `owners[k]` lists (pattern, offset of the anchor in it) for anchor
    /// `k`.
    Anchors {
        searcher: aho_corasick::packed::Searcher,
        owners: Vec<Vec<(u32, u32)>>,
    },
    /// One ASCII-case-insensitive automaton over every string; case-sensitive ones are checked
    /// byte for byte on a match.
    Automaton(AhoCorasick),
}

impl StringSearch {
    fn memory_usage(&self) -> usize {
        match self {
            StringSearch::Anchors { searcher, owners } => {
                searcher.memory_usage()
                    + owners.iter().map(|o| o.capacity() * 8 + 24).sum::<usize>()
            }
            StringSearch::Automaton(ac) => ac.memory_usage(),
        }
    }
}

/// Every free string: case-sensitive ones, then case-insensitive ones (lower-cased).
fn string_patterns<'a>(cs: &'a StrIndex, ci: &'a StrIndex) -> Vec<(bool, &'a [u8])> {
    (0..cs.len() as u32)
        .map(|i| (false, cs.key(i)))
        .chain((0..ci.len() as u32).map(|i| (true, ci.key(i))))
        .collect()
}

const ANCHOR: usize = 4;
/// Teddy's limit on patterns (anchors with their case variants).
const MAX_ANCHORS: usize = 64;

fn build_strings(cs: &StrIndex, ci: &StrIndex) -> Option<StringSearch> {
    let pats = string_patterns(cs, ci);
    if pats.is_empty() {
        return None;
    }
    if let Some(a) = build_anchors(&pats) {
        return Some(a);
    }
    // A DFA is the fastest automaton and its size is fine for the few thousand strings this
    // table is for; past that, let the crate choose (it picks a leaner automaton).
    let kind = (pats.len() <= 5_000).then_some(aho_corasick::AhoCorasickKind::DFA);
    Some(StringSearch::Automaton(
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(kind)
            .build(pats.iter().map(|p| p.1))
            .expect("free-string automaton builds"),
    ))
}

/// The anchored Teddy search, when every string is long enough and the anchors with their case
/// variants fit in Teddy (and the CPU has the SIMD it needs).
fn build_anchors(pats: &[(bool, &[u8])]) -> Option<StringSearch> {
    if pats.iter().any(|p| p.1.len() < ANCHOR) {
        return None;
    }
    // How common a byte is in log text, roughly: rarer bytes make rarer anchors.
    let commonness = |b: u8| -> u32 {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => 30,
            b' ' | b'.' | b'/' | b'=' | b':' | b'-' | b'"' | b',' | b';' | b'(' | b')' => 40,
            b'A'..=b'Z' => 15,
            _ => 5,
        }
    };
    let mut anchors: Vec<Vec<u8>> = Vec::new();
    let mut owners: Vec<Vec<(u32, u32)>> = Vec::new();
    for (p, &(ci, text)) in pats.iter().enumerate() {
        let cost = |i: usize| -> u32 {
            text[i..i + ANCHOR]
                .iter()
                .map(|&b| {
                    commonness(b)
                        + if ci && b.is_ascii_alphabetic() {
                            1000
                        } else {
                            0
                        }
                })
                .sum()
        };
        let at = (0..=text.len() - ANCHOR)
            .min_by_key(|&i| cost(i))
            .expect("long enough");
        let window = &text[at..at + ANCHOR];
        let letters: Vec<usize> = if ci {
            (0..ANCHOR)
                .filter(|&i| window[i].is_ascii_alphabetic())
                .collect()
        } else {
            Vec::new()
        };
        for mask in 0..(1u32 << letters.len()) {
            let mut v = window.to_vec();
            for (bit, &i) in letters.iter().enumerate() {
                v[i] = if mask & (1 << bit) != 0 {
                    v[i].to_ascii_uppercase()
                } else {
                    v[i].to_ascii_lowercase()
                };
            }
            let owner = (p as u32, at as u32);
            match anchors.iter().position(|a| *a == v) {
                Some(k) => owners[k].push(owner),
                None => {
                    anchors.push(v);
                    owners.push(vec![owner]);
                }
            }
            if anchors.len() > MAX_ANCHORS {
                return None;
            }
        }
    }
    let mut b = aho_corasick::packed::Config::new()
        .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
        .builder();
    for a in &anchors {
        b.add(a);
    }
    Some(StringSearch::Anchors {
        searcher: b.build()?,
        owners,
    })
}

/// The bit of an address in [`IocSet`]'s `url_v4_filter` (65,536 bits).
#[inline]
fn v4_slot(ip: u32) -> usize {
    ((ip ^ (ip >> 16)) & 0xffff) as usize
}

/// The map of [`IocSet::url_host_filter`] for these name hashes: a power of two of bits, about
/// 32 per hash, between 2^12 and 2^23 (1 MiB); bit `h >> (64 - k)` set for each.
fn host_filter(hashes: &[u64]) -> Box<[u64]> {
    if hashes.is_empty() {
        return Box::default();
    }
    let bits = (hashes.len() * 32)
        .next_power_of_two()
        .clamp(1 << 12, 1 << 23);
    let mut map = vec![0u64; bits / 64].into_boxed_slice();
    let shift = 64 - bits.trailing_zeros();
    for &h in hashes {
        let b = (h >> shift) as usize;
        map[b / 64] |= 1 << (b % 64);
    }
    map
}

/// Whether hash `h` may be in `map` ([`host_filter`]); always false for an empty map.
#[inline]
fn in_filter(map: &[u64], h: u64) -> bool {
    if map.is_empty() {
        return false;
    }
    let bits = map.len() * 64;
    let b = (h >> (64 - bits.trailing_zeros())) as usize;
    map[b / 64] & (1 << (b % 64)) != 0
}

#[cfg(test)]
mod tests;
