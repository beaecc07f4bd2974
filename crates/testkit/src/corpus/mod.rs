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
//!
//! Layout: this file holds the spec, the kinds, the indicator set and the truth types and
//! [`write_corpus`]; `index` is the set's index (so background tokens never match),
//! `vocab` the vocabularies and the word and token generators, `draw` [`indicators`] and
//! the messy forms, `generator` the line generator `Gen` (state, primitive emitters,
//! timestamps, slots, format choice), `net_formats` and `host_formats` its log formats,
//! `plant` the planted hits and traps; [`flood`] is a separate scenario.

pub mod flood;

mod draw;
mod generator;
mod host_formats;
mod index;
mod net_formats;
mod plant;
#[cfg(test)]
mod tests;
mod vocab;

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use rand::Rng;

pub use draw::indicators;
pub use generator::format_names;

use generator::{FORMATS, Gen};
use index::Index;

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
