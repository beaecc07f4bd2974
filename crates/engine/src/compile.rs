//! [`Compiler`]: canonical patterns in, an [`IocSet`] out.

use aho_corasick::AhoCorasick;
use ipnet::IpNet;

use crate::arr::Arr;
use crate::index::{Index, StrIndex};
use crate::lpm::Lpm4;
use crate::pattern::*;
use crate::set::*;
use crate::*;

/// Sets with fewer IPv4 indicators than this (and no IPv4 network) keep their table in cache
/// anyway, and skip the 2 MiB /24 map.
pub(crate) const V4_MAP_MIN: usize = 16 * 1024;

/// One listing as the compiler keeps it until [`Compiler::build`]: the indicator's table and
/// local index packed in one `u32` (4 + 28 bits) beside the source, 16 bytes where a tuple
/// took 20. At a million listings the vector is the compile's biggest scratch, alive while the
/// old set still serves and the new one is complete, so it sets the reload's memory peak.
#[derive(Clone, Copy)]
pub(crate) struct Listed {
    pub(crate) at: u32,
    pub(crate) source: SourceRef,
}

const _: () = assert!(std::mem::size_of::<Listed>() == 16 && N_TABLES <= 16);

impl Listed {
    const LOCAL_BITS: u32 = 28;

    pub(crate) fn new(t: Table, local: u32, source: SourceRef) -> Listed {
        assert!(
            local < 1 << Listed::LOCAL_BITS,
            "more than 2^28 indicators of one type"
        );
        Listed {
            at: (t as u32) << Listed::LOCAL_BITS | local,
            source,
        }
    }

    pub(crate) fn table(self) -> usize {
        (self.at >> Listed::LOCAL_BITS) as usize
    }

    pub(crate) fn local(self) -> u32 {
        self.at & ((1 << Listed::LOCAL_BITS) - 1)
    }
}

impl IocSet {
    /// The empty set: matches nothing.
    pub fn empty() -> IocSet {
        Compiler::new().build()
    }
}

/// Builds an [`IocSet`] from canonical patterns, merging duplicates and keeping every source.
pub struct Compiler {
    pub(crate) set: IocSet,
    /// Every listing; grouped into `set.sources` at build.
    pub(crate) listings: Vec<Listed>,
    /// Listing metadata, moved into the set at build.
    pub(crate) metas: Vec<Meta>,
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
                v4_map: Arr::default(),
                cidr6: Index::default(),
                cidr6_lens: Arr::default(),
                domain_sub: StrIndex::default(),
                sub_min_labels: 1,
                domain_exact: StrIndex::default(),
                url_exact: StrIndex::default(),
                url_prefix: StrIndex::default(),
                url_prefix_lens: Arr::default(),
                url_hosts: StrIndex::default(),
                url_v4_hosts: false,
                url_v4: Arr::default(),
                url_v4_filter: vec![0u64; 1024].into(),
                url_host_filter: Arr::default(),
                url_host_hashes: Vec::new(),
                md5: Index::default(),
                sha1: Index::default(),
                sha256: Index::default(),
                email: StrIndex::default(),
                str_cs: StrIndex::default(),
                str_ci: StrIndex::default(),
                strings: None,
                base: [0; N_TABLES + 1],
                src_start: Arr::default(),
                sources: Arr::default(),
                metas: std::sync::OnceLock::new(),
                meta_blob: Arr::default(),
                reports: Default::default(),
                feeds: Vec::new(),
                mapped_bytes: 0,
            },
            listings: Vec::new(),
            metas: Vec::new(),
        }
    }

    /// Makes room for `listings` more listings, `per_table[t]` of them (with `bytes[t]` bytes
    /// of keys) in table `t`: a hint from counts the caller has, so the tables are allocated
    /// once instead of growing by doubling (each step a copy beside the old table). Tables still
    /// grow past it; [`Compiler::build`] gives unused room back.
    pub fn reserve(
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
            context: None,
        });
        n
    }

    /// Gives a feed registered with [`Compiler::add_feed`] a threat context of its own: what
    /// every one of its indicators is part of.
    pub fn set_feed_context(&mut self, feed: u16, context: std::sync::Arc<crate::Context>) {
        self.set.feeds[feed as usize].context = Some(context);
    }

    /// Sets the scoring weight of a feed registered with [`Compiler::add_feed`] (default 1.0).
    pub fn set_feed_weight(&mut self, feed: u16, weight: f64) {
        self.set.feeds[feed as usize].weight = weight;
    }

    /// Adds one listing of `pattern` with what the feed said about it (`source.meta` is
    /// replaced). See [`Compiler::add`].
    pub fn add_with_meta(&mut self, pattern: &Pattern, mut source: SourceRef, meta: Meta) -> bool {
        source.meta = u32::try_from(self.metas.len()).expect("at most 2^32 listings");
        self.metas.push(meta);
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
                    s.url_v4.vec_mut().push(ip);
                    s.url_v4_filter.vec_mut()[v4_slot(ip) / 64] |= 1 << (v4_slot(ip) % 64);
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
        s.src_start = start.into();
        s.sources = sources.into();
        s.metas = std::sync::OnceLock::from(std::mem::take(&mut self.metas));

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
        s.cidr6_lens = l6.into();
        let mut lu: Vec<u32> = (0..s.url_prefix.len() as u32)
            .map(|i| s.url_prefix.key(i).len() as u32)
            .collect();
        lu.sort_unstable();
        lu.dedup();
        s.url_prefix_lens = lu.into();

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
            s.v4_map = map.into_vec().into();
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
        s.url_host_filter = host_filter(&std::mem::take(&mut s.url_host_hashes))
            .into_vec()
            .into();
        {
            let mut v4 = s.url_v4.vec_mut();
            v4.sort_unstable();
            v4.dedup();
            v4.shrink_to_fit();
        }
        s.md5.shrink();
        s.sha1.shrink();
        s.sha256.shrink();
        s.email.shrink();
        s.str_cs.shrink();
        s.str_ci.shrink();
        self.set
    }
}

impl StringSearch {
    pub(crate) fn memory_usage(&self) -> usize {
        match self {
            StringSearch::Anchors { searcher, owners } => {
                searcher.memory_usage()
                    + owners.iter().map(|o| o.capacity() * 8 + 24).sum::<usize>()
            }
            StringSearch::Automaton(ac) => ac.memory_usage(),
        }
    }
}

pub(crate) const ANCHOR: usize = 4;
/// Teddy's limit on patterns (anchors with their case variants).
pub(crate) const MAX_ANCHORS: usize = 64;

pub(crate) fn build_strings(cs: &StrIndex, ci: &StrIndex) -> Option<StringSearch> {
    try_build_strings(cs, ci).expect("free-string automaton builds")
}

/// [`build_strings`], or why the automaton cannot be built (too big: only a set read from a
/// forged file gets there, since compiling builds the same automaton).
pub(crate) fn try_build_strings(
    cs: &StrIndex,
    ci: &StrIndex,
) -> Result<Option<StringSearch>, aho_corasick::BuildError> {
    let pats = string_patterns(cs, ci);
    if pats.is_empty() {
        return Ok(None);
    }
    if let Some(a) = build_anchors(&pats) {
        return Ok(Some(a));
    }
    // A DFA is the fastest automaton and its size is fine for the few thousand strings this
    // table is for; past that, let the crate choose (it picks a leaner automaton).
    let kind = (pats.len() <= 5_000).then_some(aho_corasick::AhoCorasickKind::DFA);
    Ok(Some(StringSearch::Automaton(
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(kind)
            .build(pats.iter().map(|p| p.1))?,
    )))
}

/// The anchored Teddy search, when every string is long enough and the anchors with their case
/// variants fit in Teddy (and the CPU has the SIMD it needs).
pub(crate) fn build_anchors(pats: &[(bool, &[u8])]) -> Option<StringSearch> {
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

/// The map of [`IocSet::url_host_filter`] for these name hashes: a power of two of bits, about
/// 32 per hash, between 2^12 and 2^23 (1 MiB); bit `h >> (64 - k)` set for each.
pub(crate) fn host_filter(hashes: &[u64]) -> Box<[u64]> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn report_members_are_the_reports_indicators() {
        let cx = std::sync::Arc::new(crate::Context {
            report: Some("misp-event:1".into()),
            ..crate::Context::default()
        });
        let meta = crate::Meta {
            context: Some(cx),
            ..crate::Meta::default()
        };
        let mut c = Compiler::new();
        let f = c.add_feed("f", "f.json");
        let g = c.add_feed("g", "g.txt");
        let a = Pattern::Ipv4("203.0.113.1".parse().unwrap());
        let b = Pattern::Domain {
            name: "evil.example".into(),
            subdomains: true,
        };
        let lone = Pattern::Ipv4("203.0.113.2".parse().unwrap());
        c.add_with_meta(&a, SourceRef::plain(f, 0), meta.clone());
        c.add_with_meta(&b, SourceRef::plain(f, 0), meta.clone());
        // The same indicator from another feed, without a report: still one member.
        c.add(&a, SourceRef::plain(g, 3));
        c.add(&lone, SourceRef::plain(g, 4));
        let set = c.build();
        let mut members: Vec<String> = set
            .report_members("misp-event:1")
            .iter()
            .map(|id| set.pattern(*id).to_string())
            .collect();
        members.sort();
        assert_eq!(members, ["203.0.113.1", "evil.example"]);
        assert!(set.report_members("misp-event:2").is_empty());
    }

    use super::*;

    /// A set of free strings, written `string:TEXT` or `istring:TEXT` (lower-cased, as the
    /// iocd crate's normalization stores case-insensitive strings).
    fn set_of(indicators: &[&str]) -> IocSet {
        let mut c = Compiler::new();
        let feed = c.add_feed("t", "t");
        for (n, raw) in indicators.iter().enumerate() {
            let p = match raw.strip_prefix("istring:") {
                Some(t) => Pattern::String {
                    text: t.to_ascii_lowercase(),
                    case_insensitive: true,
                },
                None => Pattern::String {
                    text: raw.strip_prefix("string:").expect("a string").to_owned(),
                    case_insensitive: false,
                },
            };
            c.add(&p, SourceRef::plain(feed, n as u32 + 1));
        }
        c.build()
    }

    /// The (token text, indicator text) pairs found in `line`.
    fn found(set: &IocSet, line: &str) -> Vec<(String, String)> {
        let mut hits = Vec::new();
        set.scan(line.as_bytes(), &mut Scratch::new(), &mut hits);
        hits.iter()
            .map(|h| {
                (
                    line[h.start..h.end].to_owned(),
                    set.pattern(h.id).to_string(),
                )
            })
            .collect()
    }

    /// Every occurrence of every string, found by the anchored Teddy search (few long strings),
    /// and by the automaton (a short string, or too many anchors), must be the same.
    #[test]
    fn string_search_paths_agree() {
        let line = "UA=Mozilla/4.0 (compatible; MSIE 8.0; X) mutex=Global\\EVILmutex_1 evilmutex_2 aaaaa AaAaA";
        let want: Vec<(String, String)> = vec![
            (
                "Mozilla/4.0 (compatible; MSIE 8.0; X)".into(),
                "Mozilla/4.0 (compatible; MSIE 8.0; X)".into(),
            ),
            ("EVILmutex_".into(), "evilmutex_".into()),
            ("evilmutex_".into(), "evilmutex_".into()),
            ("aaaa".into(), "aaaa".into()),
            ("aaaa".into(), "aaaa".into()),
            ("AaAa".into(), "aaaa".into()),
            ("aAaA".into(), "aaaa".into()),
        ];
        let base = [
            "string:Mozilla/4.0 (compatible; MSIE 8.0; X)",
            "istring:EvilMutex_",
            "istring:aaaa",
        ];
        let sorted = |mut v: Vec<(String, String)>| {
            v.sort();
            v
        };
        // Anchored Teddy search.
        let set = set_of(&base);
        assert!(
            matches!(set.strings, Some(StringSearch::Anchors { .. }))
                || !cfg!(target_arch = "x86_64")
        );
        assert_eq!(sorted(found(&set, line)), sorted(want.clone()));
        // A 3-byte string forces the automaton; it must find the same plus its own hits.
        let mut with_short: Vec<&str> = base.to_vec();
        with_short.push("string:X) ");
        let set = set_of(&with_short);
        assert!(matches!(set.strings, Some(StringSearch::Automaton(_))));
        let mut want2 = want.clone();
        want2.push(("X) ".into(), "X) ".into()));
        assert_eq!(sorted(found(&set, line)), sorted(want2));
        // Too many case variants for Teddy: the automaton again, same hits.
        let many: Vec<String> = (0..20).map(|i| format!("istring:zqxw{i}abcd")).collect();
        let mut with_many: Vec<&str> = base.to_vec();
        with_many.extend(many.iter().map(String::as_str));
        let set = set_of(&with_many);
        assert!(matches!(set.strings, Some(StringSearch::Automaton(_))));
        assert_eq!(sorted(found(&set, line)), sorted(want));
    }

    /// Random strings of 4-12 bytes over a small alphabet (so anchors repeat, overlap and collide
    /// across strings) and random lines: the anchored search finds exactly what the automaton
    /// finds.
    #[test]
    fn anchored_string_search_equals_automaton_on_random_input() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        const ALPHABET: &[u8] = b"aAbB; (0_";
        let mut anchored_sets = 0;
        for _ in 0..300 {
            let n = 1 + next(6) as usize;
            let lines: Vec<String> = (0..n)
                .map(|_| {
                    let len = 4 + next(9) as usize;
                    let text: String = (0..len)
                        .map(|_| ALPHABET[next(ALPHABET.len() as u64) as usize] as char)
                        .collect();
                    if next(2) == 0 {
                        format!("string:{text}")
                    } else {
                        format!("istring:{text}")
                    }
                })
                .collect();
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let mut set = set_of(&refs);
            if !matches!(set.strings, Some(StringSearch::Anchors { .. })) {
                continue;
            }
            anchored_sets += 1;
            let hay: String = (0..200)
                .map(|_| ALPHABET[next(ALPHABET.len() as u64) as usize] as char)
                .collect();
            let anchored = found(&set, &hay);
            let pats = string_patterns(&set.str_cs, &set.str_ci);
            set.strings = Some(StringSearch::Automaton(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(pats.iter().map(|p| p.1))
                    .unwrap(),
            ));
            assert_eq!(anchored, found(&set, &hay), "strings {refs:?} line {hay:?}");
        }
        assert!(
            anchored_sets > 50,
            "only {anchored_sets} sets took the anchored path"
        );
    }
}
