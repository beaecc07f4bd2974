//! Allowlists: known-good values dropped from every feed at load.
//!
//! Read [`List`] (one allowlist file, parsed) and [`Allowlists`] (all of them merged into
//! lookup tables, asked once per listing by [`Allowlists::check`]). Two formats:
//!
//! * **plain**: one value per line, as a plain feed. An address or network drops every
//!   address and network inside it; a domain drops itself, its subdomains and e-mail addresses
//!   on them (`domain-exact:` only itself); a URL, hash, e-mail or string drops exactly itself.
//!   A plain domain does not drop URLs: a malicious file on a known-good host is still
//!   malicious.
//! * **MISP warninglists** (JSON with `type` and `list`): `cidr` (addresses and networks),
//!   `string` (the canonical value, exactly), `hostname` (the host and its subdomains; a leading
//!   `.` is ignored), `substring` (case-insensitive, anywhere in the canonical value) and
//!   `regex`. Each list applies only to the indicator types its `matching_attributes` name
//!   (`ip-dst` -> addresses and networks, `domain`/`hostname` -> domains, `url` -> URLs, and so
//!   on); a list without them applies to every type. As in MISP, a `hostname` list that names
//!   `url` drops URLs on its hosts.
//!
//! Lookups are hash probes (one per prefix length present for networks, one per label for
//! hosts), plus one Aho-Corasick pass for substrings and the regexes: cheap enough to run on
//! every listing at every compile.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use super::feed::{hint_for_type, limits, panic_boundary, plain_value};
use super::parse_indicator;
use iocd_engine::{IocKind, Pattern};

/// A set of indicator kinds, one bit per [`IocKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Kinds(u16);

impl Kinds {
    pub const ALL: Kinds = Kinds(u16::MAX);
    const IP: Kinds = Kinds(bit(IocKind::Ipv4) | bit(IocKind::Ipv6) | bit(IocKind::Cidr));

    pub fn of(k: IocKind) -> Kinds {
        Kinds(bit(k))
    }
    pub fn contains(self, k: IocKind) -> bool {
        self.0 & bit(k) != 0
    }
    fn with(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }
}

const fn bit(k: IocKind) -> u16 {
    1 << k as u16
}

/// One allowlist entry.
#[derive(Clone, Debug)]
enum Entry {
    /// The canonical text of an indicator.
    Exact(String),
    /// A host name: itself and its subdomains.
    Host(String),
    Net(IpNet),
    /// Lower-case.
    Substring(String),
    Regex(Regex),
}

/// One allowlist file, parsed.
#[derive(Clone, Debug)]
pub struct List {
    pub name: String,
    pub location: String,
    entries: Vec<(Entry, Kinds)>,
    /// Entries that could not be read as values of the list's type.
    pub rejected: u64,
    /// A few of the rejected entries, for the report.
    pub rejected_examples: Vec<String>,
}

impl List {
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn reject(&mut self, v: &str) {
        self.rejected += 1;
        if self.rejected_examples.len() < 5 {
            let mut end = v.len().min(limits::MAX_REJECTED_VALUE_BYTES);
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            self.rejected_examples.push(v[..end].to_owned());
        }
    }

    /// A plain allowlist: one value per line, plain-feed syntax.
    ///
    /// Each line is read behind a panic boundary: a line whose parsing panics is a rejected
    /// entry (`parser panicked: ...`, logged), the other lines still count.
    pub fn plain(name: &str, location: &str, text: &[u8]) -> List {
        let mut list = List {
            name: name.to_owned(),
            location: location.to_owned(),
            entries: Vec::new(),
            rejected: 0,
            rejected_examples: Vec::new(),
        };
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        for raw in text.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(raw);
            let Some(v) = plain_value(line.trim_end_matches('\r')) else {
                continue;
            };
            if v.len() > limits::MAX_VALUE_BYTES {
                list.reject(&format!("a value of {} bytes", v.len()));
                continue;
            }
            let parsed = panic_boundary(location, || parse_indicator(v));
            let parsed = match parsed {
                Ok(p) => p,
                Err(panic) => {
                    list.reject(&format!("parser panicked: {panic}: {v}"));
                    continue;
                }
            };
            match parsed {
                Ok(p) => {
                    let e = match &p {
                        Pattern::Ipv4(a) => (Entry::Net(IpNet::from(IpAddr::V4(*a))), Kinds::IP),
                        Pattern::Ipv6(a) => (Entry::Net(IpNet::from(IpAddr::V6(*a))), Kinds::IP),
                        Pattern::Cidr(n) => (Entry::Net(*n), Kinds::IP),
                        Pattern::Domain {
                            name,
                            subdomains: true,
                        } => (
                            Entry::Host(name.clone()),
                            Kinds::of(IocKind::Domain).with(Kinds::of(IocKind::Email)),
                        ),
                        p => (Entry::Exact(p.to_string()), Kinds::of(p.kind())),
                    };
                    list.entries.push(e);
                }
                Err(_) => list.reject(v),
            }
        }
        list
    }

    /// A MISP warninglist (JSON). `name` overrides the list's own name.
    ///
    /// A panic while parsing is caught and returned as the error (`parser panicked: ...`,
    /// logged): the caller keeps the previous version of the list.
    /// Reads one list file: a MISP warninglist when it ends in `.json`, else a plain list.
    /// The error names the file.
    pub fn load(path: &std::path::Path) -> Result<List, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let location = path.display().to_string();
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            List::warninglist(None, &location, &bytes).map_err(|e| format!("{location}: {e}"))
        } else {
            let name = path
                .file_stem()
                .map_or_else(|| location.clone(), |s| s.to_string_lossy().into_owned());
            Ok(List::plain(&name, &location, &bytes))
        }
    }

    pub fn warninglist(name: Option<&str>, location: &str, bytes: &[u8]) -> Result<List, String> {
        panic_boundary(location, || {
            Self::warninglist_unguarded(name, location, bytes)
        })
        .unwrap_or_else(|msg| Err(format!("parser panicked: {msg}")))
    }

    fn warninglist_unguarded(
        name: Option<&str>,
        location: &str,
        bytes: &[u8],
    ) -> Result<List, String> {
        #[cfg(test)]
        super::feed::test_panic::maybe_panic();
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("not JSON (line {}, column {}): {e}", e.line(), e.column()))?;
        let kind = doc
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a MISP warninglist needs a `type`")?;
        let items = doc
            .get("list")
            .and_then(Value::as_array)
            .ok_or("a MISP warninglist needs a `list`")?;
        let kinds = match doc.get("matching_attributes").and_then(Value::as_array) {
            Some(attrs) if !attrs.is_empty() => attrs
                .iter()
                .filter_map(Value::as_str)
                .fold(Kinds::default(), |acc, a| acc.with(kinds_of_attribute(a))),
            _ => Kinds::ALL,
        };
        let name = name
            .map(str::to_owned)
            .or_else(|| doc.get("name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| location.to_owned());
        let mut list = List {
            name,
            location: location.to_owned(),
            entries: Vec::with_capacity(items.len()),
            rejected: 0,
            rejected_examples: Vec::new(),
        };
        let mut regexes = 0usize;
        for item in items {
            let Some(v) = item.as_str().map(str::trim).filter(|v| !v.is_empty()) else {
                list.reject(&item.to_string());
                continue;
            };
            if v.len() > limits::MAX_VALUE_BYTES {
                list.reject(&format!("a value of {} bytes", v.len()));
                continue;
            }
            let entry = match kind {
                "cidr" => parse_net(v).map(Entry::Net),
                "string" => Some(Entry::Exact(match parse_indicator(v) {
                    Ok(p) => p.to_string(),
                    Err(_) => v.to_lowercase(),
                })),
                "hostname" => {
                    let h = v.trim_start_matches('.');
                    match parse_indicator(h) {
                        Ok(Pattern::Domain { name, .. }) => Some(Entry::Host(name)),
                        Ok(Pattern::Ipv4(a)) => Some(Entry::Net(IpNet::from(IpAddr::V4(a)))),
                        Ok(Pattern::Ipv6(a)) => Some(Entry::Net(IpNet::from(IpAddr::V6(a)))),
                        _ => None,
                    }
                }
                "substring" => Some(Entry::Substring(v.to_lowercase())),
                // Each regex is tried on every listing at every compile: a list may hold only
                // so many.
                "regex" if regexes >= limits::MAX_ALLOWLIST_REGEXES => None,
                "regex" => {
                    regexes += 1;
                    regex(v).map(Entry::Regex)
                }
                other => return Err(format!("unknown warninglist type {other:?}")),
            };
            match entry {
                Some(e) => list.entries.push((e, kinds)),
                None => list.reject(v),
            }
        }
        Ok(list)
    }
}

/// The indicator kinds a MISP attribute type names (`domain|ip` names two).
fn kinds_of_attribute(a: &str) -> Kinds {
    use super::feed::Hint;
    let mut k = Kinds::default();
    for part in a.split('|') {
        k = k.with(match hint_for_type(part) {
            Some(Hint::Ip) => Kinds::IP,
            Some(Hint::Domain) => Kinds::of(IocKind::Domain),
            Some(Hint::Url) => Kinds::of(IocKind::Url),
            Some(Hint::Md5) => Kinds::of(IocKind::Md5),
            Some(Hint::Sha1) => Kinds::of(IocKind::Sha1),
            Some(Hint::Sha256) => Kinds::of(IocKind::Sha256),
            Some(Hint::Hash) => Kinds::of(IocKind::Md5)
                .with(Kinds::of(IocKind::Sha1))
                .with(Kinds::of(IocKind::Sha256)),
            Some(Hint::Email) => Kinds::of(IocKind::Email),
            Some(Hint::Str { .. }) => Kinds::of(IocKind::String),
            Some(Hint::Any) => Kinds::ALL,
            None => Kinds::default(),
        });
    }
    k
}

fn parse_net(v: &str) -> Option<IpNet> {
    if let Ok(n) = v.parse::<IpNet>() {
        return Some(n.trunc());
    }
    v.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A warninglist regex, bare or PCRE-style `/.../flags`.
fn regex(v: &str) -> Option<Regex> {
    let (body, ci) = match v.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
        Some((body, flags)) if flags.bytes().all(|b| b.is_ascii_alphabetic()) => {
            (body, flags.contains('i'))
        }
        _ => (v, false),
    };
    regex::RegexBuilder::new(body)
        .case_insensitive(ci)
        .size_limit(1 << 20)
        .build()
        .ok()
}

/// Every allowlist, merged into lookup tables.
#[derive(Default)]
pub struct Allowlists {
    names: Vec<String>,
    /// Canonical text -> (list, kinds).
    exact: HashMap<Box<str>, Vec<(u16, Kinds)>>,
    hosts: HashMap<Box<str>, Vec<(u16, Kinds)>>,
    nets4: HashMap<(u32, u8), Vec<(u16, Kinds)>>,
    lens4: Vec<u8>,
    nets6: HashMap<(u128, u8), Vec<(u16, Kinds)>>,
    lens6: Vec<u8>,
    substrings: Option<AhoCorasick>,
    substring_owners: Vec<(u16, Kinds)>,
    regexes: Vec<(Regex, u16, Kinds)>,
}

impl std::fmt::Debug for Allowlists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allowlists")
            .field("lists", &self.names)
            .finish_non_exhaustive()
    }
}

impl Allowlists {
    /// Merges lists; [`Allowlists::check`] names a list by its position here.
    pub fn build<'a>(lists: impl IntoIterator<Item = &'a List>) -> Allowlists {
        let mut a = Allowlists::default();
        let mut subs = Vec::new();
        let mut lens4 = HashSet::new();
        let mut lens6 = HashSet::new();
        for list in lists {
            let n = u16::try_from(a.names.len()).unwrap_or(u16::MAX);
            a.names.push(list.name.clone());
            for (e, k) in &list.entries {
                let owner = (n, *k);
                match e {
                    Entry::Exact(s) => a.exact.entry(s.as_str().into()).or_default().push(owner),
                    Entry::Host(s) => a.hosts.entry(s.as_str().into()).or_default().push(owner),
                    Entry::Net(IpNet::V4(net)) => {
                        lens4.insert(net.prefix_len());
                        a.nets4
                            .entry((u32::from(net.network()), net.prefix_len()))
                            .or_default()
                            .push(owner);
                    }
                    Entry::Net(IpNet::V6(net)) => {
                        lens6.insert(net.prefix_len());
                        a.nets6
                            .entry((u128::from(net.network()), net.prefix_len()))
                            .or_default()
                            .push(owner);
                    }
                    Entry::Substring(s) => {
                        subs.push(s.clone());
                        a.substring_owners.push(owner);
                    }
                    Entry::Regex(r) => a.regexes.push((r.clone(), n, *k)),
                }
            }
        }
        a.lens4 = lens4.into_iter().collect();
        a.lens4.sort_unstable();
        a.lens6 = lens6.into_iter().collect();
        a.lens6.sort_unstable();
        if !subs.is_empty() {
            a.substrings = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&subs)
                .ok();
        }
        a
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The position (in [`Allowlists::build`] order) of a list holding `p`, if any does.
    pub fn check(&self, p: &Pattern) -> Option<usize> {
        let kind = p.kind();
        let pick = |owners: Option<&Vec<(u16, Kinds)>>| {
            owners?
                .iter()
                .find(|(_, k)| k.contains(kind))
                .map(|(n, _)| *n as usize)
        };
        match p {
            Pattern::Ipv4(a) => return self.net4(u32::from(*a), 32, kind),
            Pattern::Ipv6(a) => return self.net6(u128::from(*a), 128, kind),
            Pattern::Cidr(IpNet::V4(n)) => {
                return self.net4(u32::from(n.network()), n.prefix_len(), kind);
            }
            Pattern::Cidr(IpNet::V6(n)) => {
                return self.net6(u128::from(n.network()), n.prefix_len(), kind);
            }
            _ => {}
        }
        let text = p.to_string();
        if let Some(n) = pick(self.exact.get(text.as_str())) {
            return Some(n);
        }
        let host: Option<String> = match p {
            Pattern::Domain { name, .. } => Some(name.clone()),
            Pattern::Email(e) => e.rsplit_once('@').map(|(_, d)| d.to_owned()),
            Pattern::Url { url, .. } => url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase)),
            _ => None,
        };
        if let Some(h) = host {
            if let Ok(ip) = h.trim_matches(['[', ']']).parse::<IpAddr>() {
                let found = match ip {
                    IpAddr::V4(a) => self.net4(u32::from(a), 32, kind),
                    IpAddr::V6(a) => self.net6(u128::from(a), 128, kind),
                };
                if found.is_some() {
                    return found;
                }
            } else {
                let mut rest = h.as_str();
                loop {
                    if let Some(n) = pick(self.hosts.get(rest)) {
                        return Some(n);
                    }
                    match rest.split_once('.') {
                        Some((_, parent)) => rest = parent,
                        None => break,
                    }
                }
            }
        }
        if let Some(ac) = &self.substrings {
            for m in ac.find_overlapping_iter(&text) {
                let (n, k) = self.substring_owners[m.pattern().as_usize()];
                if k.contains(kind) {
                    return Some(n as usize);
                }
            }
        }
        self.regexes
            .iter()
            .find(|(r, _, k)| k.contains(kind) && r.is_match(&text))
            .map(|(_, n, _)| *n as usize)
    }

    fn net4(&self, addr: u32, len: u8, kind: IocKind) -> Option<usize> {
        for &l in self.lens4.iter().take_while(|&&l| l <= len) {
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            let owner = self
                .nets4
                .get(&(addr & mask, l))
                .and_then(|owners| owners.iter().find(|(_, k)| k.contains(kind)));
            if let Some((n, _)) = owner {
                return Some(*n as usize);
            }
        }
        None
    }

    fn net6(&self, addr: u128, len: u8, kind: IocKind) -> Option<usize> {
        for &l in self.lens6.iter().take_while(|&&l| l <= len) {
            let mask = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            let owner = self
                .nets6
                .get(&(addr & mask, l))
                .and_then(|owners| owners.iter().find(|(_, k)| k.contains(kind)));
            if let Some((n, _)) = owner {
                return Some(*n as usize);
            }
        }
        None
    }

    /// The name of the list at `n`.
    pub fn name(&self, n: usize) -> &str {
        &self.names[n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Pattern {
        parse_indicator(v).unwrap()
    }

    #[test]
    fn plain_list_semantics() {
        let l = List::plain(
            "allow",
            "allow.txt",
            b"# known good\n8.8.8.0/24\ngoogle.com\ndomain-exact:exact.org\n/path/only\nhttp://ok.com/x\n",
        );
        assert_eq!((l.len(), l.rejected), (4, 1));
        let a = Allowlists::build([&l]);
        let held = |v: &str| a.check(&p(v)).map(|n| a.name(n).to_owned());
        assert_eq!(held("8.8.8.8").as_deref(), Some("allow"));
        assert_eq!(held("8.8.8.0/25").as_deref(), Some("allow"));
        assert_eq!(held("8.8.0.0/16"), None, "a broader network is not inside");
        assert_eq!(held("mail.google.com").as_deref(), Some("allow"));
        assert_eq!(held("x@google.com").as_deref(), Some("allow"));
        assert_eq!(held("http://google.com/malware.exe"), None);
        assert_eq!(held("notgoogle.com"), None);
        assert_eq!(held("exact.org").as_deref(), Some("allow"));
        assert_eq!(held("www.exact.org"), None);
        assert_eq!(held("http://ok.com/x").as_deref(), Some("allow"));
    }

    #[test]
    fn warninglist_types_and_matching_attributes() {
        let cidr =
            br#"{"name": "dns", "type": "cidr", "matching_attributes": ["ip-dst", "domain|ip"],
            "list": ["1.1.1.1", "2001:DB8::/32", "FE80::/10", "bogus"]}"#;
        let string =
            br#"{"name": "top", "type": "string", "matching_attributes": ["hostname", "domain"],
            "list": ["Example-Top.com", "D41D8CD98F00B204E9800998ECF8427E"]}"#;
        let host =
            br#"{"name": "dyn", "type": "hostname", "matching_attributes": ["domain", "url"],
            "list": [".duckdns.org", "no-ip.com"]}"#;
        let sub = br#"{"name": "sandbox", "type": "substring", "list": ["Analyze.Intezer"]}"#;
        let re = br#"{"name": "re", "type": "regex", "matching_attributes": ["md5"], "list": ["/^0{32}$/i", "["]}"#;
        let lists: Vec<List> = [&cidr[..], string, host, sub, re]
            .iter()
            .map(|b| List::warninglist(None, "w.json", b).unwrap())
            .collect();
        assert_eq!(lists[0].rejected, 1);
        assert_eq!(lists[4].rejected, 1);
        let a = Allowlists::build(&lists);
        let held = |v: &str| a.check(&p(v)).map(|n| a.name(n).to_owned());
        assert_eq!(held("1.1.1.1").as_deref(), Some("dns"));
        assert_eq!(held("2001:db8::5").as_deref(), Some("dns"));
        assert_eq!(held("fe80::1").as_deref(), Some("dns"));
        assert_eq!(held("1.1.1.2"), None);
        assert_eq!(held("example-top.com").as_deref(), Some("top"));
        assert_eq!(held("www.example-top.com"), None, "string lists are exact");
        assert_eq!(
            held("d41d8cd98f00b204e9800998ecf8427e"),
            None,
            "matching_attributes say domains only"
        );
        assert_eq!(held("x.duckdns.org").as_deref(), Some("dyn"));
        assert_eq!(held("http://a.no-ip.com/x").as_deref(), Some("dyn"));
        assert_eq!(held("a@no-ip.com"), None, "dyn does not name e-mail");
        assert_eq!(
            held("http://analyze.intezer.com/r").as_deref(),
            Some("sandbox")
        );
        assert_eq!(
            held("00000000000000000000000000000000").as_deref(),
            Some("re")
        );
        assert!(List::warninglist(None, "w", b"{\"list\": []}").is_err());
        assert!(List::warninglist(None, "w", b"{\"type\": \"x\", \"list\": [\"a\"]}").is_err());
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    #[test]
    fn a_panic_in_the_warninglist_parser_is_its_error() {
        let w = br#"{"name": "x", "type": "cidr", "list": ["198.51.100.0/24"]}"#;
        crate::ioc::feed::test_panic::arm("injected warninglist bug");
        assert_eq!(
            List::warninglist(None, "w.json", w).unwrap_err(),
            "parser panicked: injected warninglist bug"
        );
        assert_eq!(List::warninglist(None, "w.json", w).unwrap().len(), 1);
    }

    #[test]
    fn warninglist_limits() {
        // Nested past serde_json's recursion limit: an error, not a stack overflow.
        let deep = format!(
            r#"{{"type": "string", "list": [{}{}]}}"#,
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        let e = List::warninglist(None, "d.json", deep.as_bytes()).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
        // Regexes past the cap are rejected entries, counted.
        let n = limits::MAX_ALLOWLIST_REGEXES + 10;
        let res: Vec<String> = (0..n).map(|i| format!("\"^x{i}$\"")).collect();
        let doc = format!(r#"{{"type": "regex", "list": [{}]}}"#, res.join(","));
        let l = List::warninglist(None, "r.json", doc.as_bytes()).unwrap();
        assert_eq!((l.len(), l.rejected), (limits::MAX_ALLOWLIST_REGEXES, 10));
        // An oversized value is rejected; the example kept for the report is bounded.
        let big = format!(
            r#"{{"type": "string", "list": ["{}", "ok.example.org"]}}"#,
            "a".repeat(limits::MAX_VALUE_BYTES + 1)
        );
        let l = List::warninglist(None, "b.json", big.as_bytes()).unwrap();
        assert_eq!((l.len(), l.rejected), (1, 1));
        assert_eq!(l.rejected_examples, ["a value of 65537 bytes"]);
        let plain = format!(
            "{}\nok.example.org\n",
            "b".repeat(limits::MAX_VALUE_BYTES + 1)
        );
        let l = List::plain("p", "p.txt", plain.as_bytes());
        assert_eq!((l.len(), l.rejected), (1, 1));
    }
}
