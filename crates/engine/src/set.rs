//! The compiled set and what a scan returns: [`IocSet`], [`IocId`], [`Hit`], the sources and
//! their metadata, and the per-thread [`Scratch`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use aho_corasick::AhoCorasick;

use crate::arr::{Arr, Pod};
use crate::index::{Index, StrIndex};
use crate::lpm::Lpm4;
use crate::pattern::*;

/// The number of an indicator inside one [`IocSet`]. Numbers are dense, from 0 to `len() - 1`,
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
    /// What every indicator of the feed is part of (a per-family list: config `context`).
    pub context: Option<std::sync::Arc<Context>>,
}

/// One feed's listing of an indicator: which feed, on which line (1-based; 0 when the format
/// has no lines), and what the feed said about it ([`IocSet::meta`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C)]
pub struct SourceRef {
    /// A feed number from [`Compiler::add_feed`](crate::Compiler::add_feed) (below 65,536).
    pub feed: u32,
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
            feed: u32::from(feed),
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
    /// What the feed says the indicator is part of (malware, actor, campaign, ATT&CK), shared
    /// by the listings of one record: a MISP event's attributes, a STIX indicator's values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<std::sync::Arc<Context>>,
}

/// The threat context a feed gives an indicator: what analysts pivot on ("which malware uses
/// this address, which actor, which other indicators go with it"). Names only, bounded by the
/// feed parsers; empty lists are the norm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Context {
    /// Malware families (Feodo's `malware` column, STIX `malware`, MISP malware galaxies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malware: Vec<String>,
    /// Tools (STIX `tool`, MISP tool galaxies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Threat actors and intrusion sets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Campaigns (ECS has no field for them: alerts show them as tags).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<String>,
    /// ATT&CK techniques.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<Technique>,
    /// ATT&CK tactics (kill-chain phase names: `command-and-control`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    /// The report the listing came from (a MISP event's UUID, a STIX `report`'s id): the
    /// other indicators of the same report are [`IocSet::report_members`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl Context {
    /// Nothing in it.
    pub fn is_empty(&self) -> bool {
        *self == Context::default()
    }

    /// Bytes of text it holds (for the feed parsers' metadata budget).
    pub fn text_bytes(&self) -> usize {
        let names = |v: &[String]| v.iter().map(|s| s.len() + 24).sum::<usize>();
        names(&self.malware)
            + names(&self.tools)
            + names(&self.groups)
            + names(&self.campaigns)
            + names(&self.tactics)
            + self
                .techniques
                .iter()
                .map(|t| {
                    t.id.as_ref().map_or(0, String::len)
                        + t.name.as_ref().map_or(0, String::len)
                        + 48
                })
                .sum::<usize>()
            + self.report.as_ref().map_or(0, String::len)
    }
}

/// An ATT&CK technique as a feed names it: its id (`T1071.001`), its name, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Technique {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Per-thread buffers for [`IocSet::scan`]. Create one per thread and reuse it; it grows to the
/// longest token seen and then stops allocating.
#[derive(Debug)]
pub struct Scratch {
    /// How bytes are classified: the fastest kernel this CPU has, unless chosen.
    pub(crate) kernel: crate::Kernel,
    pub(crate) name: Vec<u8>,
    pub(crate) email: Vec<u8>,
    /// Name tokens of the last [`IocSet::scan`] that are the host of some URL indicator.
    pub(crate) url_hosts: Vec<std::ops::Range<usize>>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            kernel: crate::Kernel::best(),
            name: Vec::new(),
            email: Vec::new(),
            url_hosts: Vec::new(),
        }
    }
}

impl Scratch {
    /// A scratch that classifies bytes with the fastest kernel this CPU has.
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// A scratch that classifies bytes with `kernel` (every kernel finds the same; tests and
    /// benchmarks run each), or `None` when this CPU cannot run it.
    pub fn with_kernel(kernel: crate::Kernel) -> Option<Scratch> {
        kernel.is_available().then(|| Scratch {
            kernel,
            ..Scratch::default()
        })
    }

    /// The kernel this scratch classifies bytes with.
    pub fn kernel(&self) -> crate::Kernel {
        self.kernel
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
/// Build it with a [`Compiler`](crate::Compiler) (or `ioc::SetBuilder`, which parses feeds into one), share it
/// with `Arc`, and call [`IocSet::scan`] from any number of threads.
pub struct IocSet {
    pub(crate) ipv4: Index<u32>,
    pub(crate) ipv6: Index<u128>,
    /// Keyed by (network, prefix length).
    pub(crate) cidr4: Index<(u32, u8)>,
    /// The longest network of `cidr4` holding an address.
    pub(crate) lpm4: Lpm4,
    /// One bit per /24: set when an IPv4 indicator or IPv4 CIDR covers part of it. Most
    /// address tokens in logs are not indicators; this 2 MiB map (built for big sets only)
    /// turns their lookups into one L2 read instead of misses into the tables.
    pub(crate) v4_map: Arr<u64>,
    pub(crate) cidr6: Index<(u128, u8)>,
    pub(crate) cidr6_lens: Arr<u8>,
    pub(crate) domain_sub: StrIndex,
    /// The fewest labels of a `domain_sub` key (`evil.com`: 2).
    pub(crate) sub_min_labels: usize,
    pub(crate) domain_exact: StrIndex,
    pub(crate) url_exact: StrIndex,
    pub(crate) url_prefix: StrIndex,
    /// Distinct lengths of prefix-mode URLs, ascending.
    pub(crate) url_prefix_lens: Arr<u32>,
    /// Hosts of every URL indicator: a URL token is canonicalized only when its host is here.
    pub(crate) url_hosts: StrIndex,
    /// Some URL indicator has an IPv4 host: address tokens are looked up in `url_v4` too.
    pub(crate) url_v4_hosts: bool,
    /// The IPv4 hosts of URL indicators, sorted, and a 64 Ki-bit filter of them
    /// ([`v4_slot`]).
    pub(crate) url_v4: Arr<u32>,
    pub(crate) url_v4_filter: Arr<u64>,
    /// One bit per value of the high bits of a name's hash, set for the hosts of URL
    /// indicators: most name tokens are no such host, and this small map (at most 1 MiB,
    /// about 32 bits per host) answers that in one read instead of a probe into `url_hosts`.
    pub(crate) url_host_filter: Arr<u64>,
    /// Hashes of the hosts of `url_hosts`, while compiling (empty after).
    pub(crate) url_host_hashes: Vec<u64>,
    pub(crate) md5: Index<[u8; 16]>,
    pub(crate) sha1: Index<[u8; 20]>,
    pub(crate) sha256: Index<[u8; 32]>,
    pub(crate) email: StrIndex,
    pub(crate) str_cs: StrIndex,
    pub(crate) str_ci: StrIndex,
    /// How free strings are found; see [`StringSearch`].
    pub(crate) strings: Option<StringSearch>,
    /// `base[t]` is the id of table `t`'s first indicator; `base[N_TABLES]` is the set's size.
    pub(crate) base: [u32; N_TABLES + 1],
    /// Sources of indicator `i` are `sources[src_start[i]..src_start[i + 1]]`.
    pub(crate) src_start: Arr<u32>,
    pub(crate) sources: Arr<SourceRef>,
    /// What feeds said about listings: decoded from `meta_blob` on first use in a set read
    /// from a file (most sets never need it: plain lists say nothing), set at build otherwise.
    pub(crate) metas: std::sync::OnceLock<Vec<Meta>>,
    pub(crate) meta_blob: Arr<u8>,
    /// The indicators of each report ([`Context::report`]), the first
    /// [`IocSet::MAX_REPORT_MEMBERS`] of each; worked out from the metadata on first use.
    pub(crate) reports: std::sync::OnceLock<Reports>,
    pub(crate) feeds: Vec<Feed>,
    /// Bytes of a compiled set file the tables use in place (0 for a set built here).
    pub(crate) mapped_bytes: usize,
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
    /// How many distinct indicators the set holds.
    pub fn len(&self) -> usize {
        self.base[N_TABLES] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn table_len(&self, t: Table) -> usize {
        (self.base[t as usize + 1] - self.base[t as usize]) as usize
    }

    pub(crate) fn locate(&self, id: IocId) -> (Table, u32) {
        assert!(id.0 < self.base[N_TABLES], "IocId {} out of range", id.0);
        // The first table whose range ends after `id`; empty tables are skipped by `>`.
        let t = TABLES
            .iter()
            .position(|&t| self.base[t as usize + 1] > id.0)
            .expect("id is in range");
        (TABLES[t], id.0 - self.base[t])
    }

    #[inline]
    pub(crate) fn id(&self, t: Table, local: u32) -> IocId {
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
                // Lengths are checked when a file is read; `min` keeps bytes changed since
                // from panicking here.
                let net = ipnet::Ipv4Net::new(Ipv4Addr::from(net), len.min(32))
                    .expect("a length of at most 32");
                Pattern::Cidr(IpNet::V4(net))
            }
            Table::Cidr6 => {
                let (net, len) = self.cidr6.key(i);
                let net = ipnet::Ipv6Net::new(Ipv6Addr::from(net), len.min(128))
                    .expect("a length of at most 128");
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

    pub(crate) fn pattern_kind(&self, t: Table) -> IocKind {
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
        let (Some(&s), Some(&e)) = (self.src_start.get(i), self.src_start.get(i + 1)) else {
            return &[];
        };
        let src = self.sources.get(s as usize..e as usize).unwrap_or_default();
        // Checked when a file is read; checked again here (a few entries) because a mapped
        // file rewritten in place (`cp` over it) changes these bytes under the set, and every
        // caller indexes `feeds()` with them.
        if src.iter().all(|r| (r.feed as usize) < self.feeds.len()) {
            src
        } else {
            &[]
        }
    }

    /// What the feed said about this listing, if it said anything beyond listing it.
    pub fn meta(&self, source: &SourceRef) -> Option<&Meta> {
        self.metas().get(source.meta as usize)
    }

    /// Indicators kept per report for [`IocSet::report_members`].
    pub const MAX_REPORT_MEMBERS: usize = 64;

    /// Indicators of the set listed by `report` (a [`Context::report`]): the first
    /// [`IocSet::MAX_REPORT_MEMBERS`] in the set's order; empty for an unknown report.
    pub fn report_members(&self, report: &str) -> &[IocId] {
        self.reports
            .get_or_init(|| reports_of(self))
            .get(report)
            .map_or(&[], Vec::as_slice)
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

    /// Bytes of a compiled set file this set's tables use in place, without copying
    /// ([`IocSet::from_bytes`]); 0 for a set compiled in this process. Add it to
    /// [`IocSet::heap_bytes`] for all the memory the set reads.
    pub fn mapped_bytes(&self) -> usize {
        self.mapped_bytes
    }

    /// Heap memory held by the set: tables, keys, provenance and automata.
    pub fn heap_bytes(&self) -> usize {
        self.ipv4.heap_bytes()
            + self.v4_map.heap_bytes()
            + self.ipv6.heap_bytes()
            + self.cidr4.heap_bytes()
            + self.lpm4.heap_bytes()
            + self.cidr6.heap_bytes()
            + self.domain_sub.heap_bytes()
            + self.domain_exact.heap_bytes()
            + self.url_exact.heap_bytes()
            + self.url_prefix.heap_bytes()
            + self.url_hosts.heap_bytes()
            + self.url_host_filter.heap_bytes()
            + self.url_v4.heap_bytes()
            + self.url_v4_filter.heap_bytes()
            + self.md5.heap_bytes()
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self.email.heap_bytes()
            + self.str_cs.heap_bytes()
            + self.str_ci.heap_bytes()
            + self.strings.as_ref().map_or(0, StringSearch::memory_usage)
            + self.src_start.heap_bytes()
            + self.sources.heap_bytes()
            + self.meta_blob.heap_bytes()
            + self
                .metas
                .get()
                .map_or(0, |m| m.capacity() * std::mem::size_of::<Meta>())
            + self
                .feeds
                .iter()
                .map(|f| f.name.capacity() + f.location.capacity())
                .sum::<usize>()
    }
}

// SAFETY: three `u32`s in C layout: no padding, every bit pattern valid.
unsafe impl Pod for SourceRef {}

/// Report name -> its first indicators ([`IocSet::report_members`]).
pub(crate) type Reports = hashbrown::HashMap<String, Vec<IocId>, foldhash::fast::RandomState>;

/// How an [`IocSet`] finds free strings.
///
/// Aho-Corasick over the strings themselves is measured at 0.3-0.4 GB/s on web and proxy logs:
/// user-agent strings start with `Mozilla/`, which keeps the automaton busy in every web line.
/// For a few dozen strings there is a faster way, measured at 2.1 GB/s on the same corpus:
/// pick in each string its rarest 4-byte window (no letters in case-insensitive strings where
/// possible, since each letter doubles the case variants), find those windows with the SIMD
/// Teddy searcher, and compare the whole string around each one.
pub(crate) enum StringSearch {
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

/// Every free string: case-sensitive ones, then case-insensitive ones (lower-cased).
pub(crate) fn string_patterns<'a>(cs: &'a StrIndex, ci: &'a StrIndex) -> Vec<(bool, &'a [u8])> {
    (0..cs.len() as u32)
        .map(|i| (false, cs.key(i)))
        .chain((0..ci.len() as u32).map(|i| (true, ci.key(i))))
        .collect()
}

/// The bit of an address in [`IocSet`]'s `url_v4_filter` (65,536 bits).
#[inline]
pub(crate) fn v4_slot(ip: u32) -> usize {
    ((ip ^ (ip >> 16)) & 0xffff) as usize
}

/// Whether hash `h` may be in `map` (`compile::host_filter`); always false for an empty map.
#[inline]
pub(crate) fn in_filter(map: &[u64], h: u64) -> bool {
    if map.is_empty() {
        return false;
    }
    let bits = map.len() * 64;
    let b = (h >> (64 - bits.trailing_zeros())) as usize;
    map[b / 64] & (1 << (b % 64)) != 0
}

/// The indicators of each report a listing names ([`Context::report`]), in id order, at most
/// [`IocSet::MAX_REPORT_MEMBERS`] each. Sources are grouped by indicator by now, so one pass
/// over them is one pass in id order.
fn reports_of(s: &IocSet) -> Reports {
    let mut reports = Reports::default();
    if !s
        .metas()
        .iter()
        .any(|m| m.context.as_ref().is_some_and(|c| c.report.is_some()))
    {
        return reports;
    }
    let n = s.src_start.len().saturating_sub(1);
    for i in 0..n {
        let id = IocId(i as u32);
        for src in s.sources(id) {
            let Some(report) = s
                .meta(src)
                .and_then(|m| m.context.as_deref())
                .and_then(|c| c.report.as_deref())
            else {
                continue;
            };
            let members = match reports.get_mut(report) {
                Some(m) => m,
                None => reports.entry(report.to_owned()).or_default(),
            };
            if members.len() < IocSet::MAX_REPORT_MEMBERS && members.last() != Some(&id) {
                members.push(id);
            }
        }
    }
    reports
}
