//! Writing the entries of an export in its format.
//!
//! Entries come from feeds, and feeds are hostile: whatever the canonical form promises, each
//! value is checked here against what the target syntax allows before it is written (a DNS
//! name of letters, digits, `-` and `_` in an RPZ zone; an address or network in an nftables
//! or ipset file; no white space or control character in a line-oriented list) and an entry
//! that does not pass is left out and counted, never escaped into something the consumer
//! might read differently.
//!
//! Every format is deterministic: the same entries give the same bytes (the RPZ serial is
//! passed in), which is how a change is told from a rewrite.

use std::fmt::Write as _;
use std::net::IpAddr;

use base64::Engine as _;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::select::Entry;
use crate::config::export::{ExportConfig, ExportFormat, RpzAction, Vendor, is_dns_name};
use iocd_engine::Pattern;

/// A rendered export: its bytes, the entries it holds (list lines, names of a zone, set
/// elements after aggregation, intel records or dataset lines: what a consumer counts), and
/// the entries left out because the format cannot hold them safely, by reason.
#[derive(Debug, Default)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub entries: usize,
    pub skipped: Vec<(&'static str, usize)>,
}

/// Why an entry was left out at rendering.
pub mod skip {
    /// A value with white space, control or other characters the format cannot carry.
    pub(crate) const UNSAFE: &str = "unsafe";
    /// Longer than the format or the vendor allows.
    pub(crate) const TOO_LONG: &str = "too_long";
    /// A URL with a character the vendor reads as a wildcard or a token separator.
    pub(crate) const WILDCARD: &str = "wildcard";
    pub const ALL: [&str; 3] = [UNSAFE, TOO_LONG, WILDCARD];
}

#[derive(Default)]
struct Skips(Vec<(&'static str, usize)>);

impl Skips {
    fn add(&mut self, reason: &'static str) {
        match self.0.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.0.push((reason, 1)),
        }
    }
}

/// Renders `entries` (best first) as `cfg`'s format. `serial` is the RPZ's SOA serial.
pub fn render(cfg: &ExportConfig, entries: &[Entry], serial: u32) -> Rendered {
    let mut skips = Skips::default();
    let (bytes, n) = match cfg.format {
        ExportFormat::Plain => plain(cfg.vendor, entries, &mut skips),
        ExportFormat::Rpz => rpz(cfg, entries, serial, &mut skips),
        ExportFormat::Nftables => nftables(cfg, entries),
        ExportFormat::Ipset => ipset(cfg, entries),
        ExportFormat::Zeek => zeek(cfg, entries, &mut skips),
        ExportFormat::Suricata => suricata(entries, &mut skips),
    };
    Rendered {
        bytes: bytes.into_bytes(),
        entries: n,
        skipped: skips.0,
    }
}

/// Addresses and networks of `entries`, as networks, with adjacent and covered ones merged
/// (`ipnet`'s aggregation): the fewest networks that cover exactly the same addresses.
pub fn aggregate(entries: &[Entry]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for e in entries {
        match &e.pattern {
            Pattern::Ipv4(a) => v4.push(Ipv4Net::from(*a)),
            Pattern::Ipv6(a) => v6.push(Ipv6Net::from(*a)),
            Pattern::Cidr(IpNet::V4(n)) => v4.push(n.trunc()),
            Pattern::Cidr(IpNet::V6(n)) => v6.push(n.trunc()),
            _ => {}
        }
    }
    (Ipv4Net::aggregate(&v4), Ipv6Net::aggregate(&v6))
}

fn is_ip(p: &Pattern) -> bool {
    matches!(p, Pattern::Ipv4(_) | Pattern::Ipv6(_) | Pattern::Cidr(_))
}

/// A network as firewalls write it: a single address without `/32` or `/128`.
fn net_text(n: IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// Printable ASCII without white space: a value that stays one token of one line.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The longest URL entry written to a vendor list: a conservative bound of iocd's own (not a
/// limit checked in each vendor's documentation), so that a feed's kilobyte-long URL is left
/// out and counted rather than risking an entry the firewall rejects.
const VENDOR_MAX_LEN: usize = 255;

fn plain(vendor: Vendor, entries: &[Entry], skips: &mut Skips) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    let (v4, v6) = aggregate(entries);
    for net in v4
        .into_iter()
        .map(IpNet::V4)
        .chain(v6.into_iter().map(IpNet::V6))
    {
        out.push_str(&net_text(net));
        out.push('\n');
        n += 1;
    }
    for e in entries.iter().filter(|e| !is_ip(&e.pattern)) {
        let lines = match (&e.pattern, vendor) {
            // PAN-OS and FortiOS domain lists: `*.name` covers the subdomains, not the name.
            (
                Pattern::Domain { name, subdomains },
                Vendor::Generic | Vendor::Paloalto | Vendor::Fortinet,
            ) => dns_lines(name, *subdomains, skips),
            // Check Point domain objects are written with a leading dot; whether they cover
            // subdomains is the object's FQDN setting, not the entry's syntax.
            (Pattern::Domain { name, .. }, Vendor::Checkpoint) => {
                if is_dns_name(name) {
                    vec![format!(".{name}")]
                } else {
                    skips.add(skip::UNSAFE);
                    vec![]
                }
            }
            (Pattern::Url { url, .. }, Vendor::Paloalto) => {
                // PAN-OS URL lists take no scheme; `*` and `^` are its wildcards, so a URL
                // that holds one would match more than the indicator.
                let bare = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .unwrap_or(url);
                vendor_url(bare, &['*', '^'], skips)
            }
            // FortiGate threat feeds take the URL with its scheme; `*` is a wildcard.
            (Pattern::Url { url, .. }, Vendor::Fortinet) => vendor_url(url, &['*'], skips),
            (p, _) => {
                let s = p.to_string();
                if is_token(&s) {
                    vec![s]
                } else {
                    skips.add(skip::UNSAFE);
                    vec![]
                }
            }
        };
        for l in lines {
            out.push_str(&l);
            out.push('\n');
            n += 1;
        }
    }
    (out, n)
}

fn dns_lines(name: &str, subdomains: bool, skips: &mut Skips) -> Vec<String> {
    if !is_dns_name(name) {
        skips.add(skip::UNSAFE);
        return vec![];
    }
    if subdomains {
        vec![name.to_owned(), format!("*.{name}")]
    } else {
        vec![name.to_owned()]
    }
}

fn vendor_url(url: &str, wild: &[char], skips: &mut Skips) -> Vec<String> {
    if !is_token(url) {
        skips.add(skip::UNSAFE);
        vec![]
    } else if url.contains(wild) {
        skips.add(skip::WILDCARD);
        vec![]
    } else if url.len() > VENDOR_MAX_LEN {
        skips.add(skip::TOO_LONG);
        vec![]
    } else {
        vec![url.to_owned()]
    }
}

/// The zone: SOA and NS at the apex, then one policy record per listed name (and one for
/// `*.name` when the indicator covers subdomains). Owner names are relative to the origin.
fn rpz(cfg: &ExportConfig, entries: &[Entry], serial: u32, skips: &mut Skips) -> (String, usize) {
    let origin = if cfg.zone.ends_with('.') {
        cfg.zone.clone()
    } else {
        format!("{}.", cfg.zone)
    };
    let ttl = cfg.ttl;
    let mut out = String::new();
    let _ = writeln!(out, "; iocd export {}: response policy zone", cfg.name);
    let _ = writeln!(out, "$ORIGIN {origin}");
    let _ = writeln!(out, "$TTL {ttl}");
    let (refresh, retry) = (cfg.refresh, cfg.refresh.min(600));
    let _ = writeln!(
        out,
        "@ IN SOA localhost. hostmaster.localhost. {serial} {refresh} {retry} 86400 {ttl}"
    );
    let _ = writeln!(out, "@ IN NS localhost.");
    let rdata = match (cfg.action, cfg.sinkhole.as_deref()) {
        (RpzAction::Nxdomain, _) => "CNAME .".to_owned(),
        (RpzAction::Nodata, _) => "CNAME *.".to_owned(),
        (RpzAction::Sinkhole, Some(s)) => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => format!("A {a}"),
            Ok(IpAddr::V6(a)) => format!("AAAA {a}"),
            Err(_) => format!("CNAME {}.", s.trim_end_matches('.')),
        },
        (RpzAction::Sinkhole, None) => "CNAME .".to_owned(),
    };
    let mut n = 0;
    for e in entries {
        let Pattern::Domain { name, subdomains } = &e.pattern else {
            continue;
        };
        // The owner name plus the origin (and `*.`) must stay a DNS name.
        if !is_dns_name(name) || name.len() + 2 + origin.len() > 253 {
            skips.add(if is_dns_name(name) {
                skip::TOO_LONG
            } else {
                skip::UNSAFE
            });
            continue;
        }
        let _ = writeln!(out, "{name} {rdata}");
        if *subdomains {
            let _ = writeln!(out, "*.{name} {rdata}");
        }
        n += 1;
    }
    (out, n)
}

/// nftables identifiers take letters, digits and `_`: an export name's `-` becomes `_`.
pub(crate) fn nft_set_name(export: &str, v6: bool) -> String {
    format!(
        "{}_{}",
        export.replace('-', "_"),
        if v6 { "v6" } else { "v4" }
    )
}

/// One `nft -f` transaction: create the table and both sets if missing, flush them, add the
/// elements. Loading it again replaces the sets' contents, atomically.
fn nftables(cfg: &ExportConfig, entries: &[Entry]) -> (String, usize) {
    let (v4, v6) = aggregate(entries);
    let (fam, table) = (&cfg.nft_family, &cfg.nft_table);
    let (s4, s6) = (
        nft_set_name(&cfg.name, false),
        nft_set_name(&cfg.name, true),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# iocd export {}: load with nft -f (replaces the sets' elements)",
        cfg.name
    );
    let _ = writeln!(out, "table {fam} {table} {{");
    let _ = writeln!(
        out,
        "\tset {s4} {{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}}"
    );
    let _ = writeln!(
        out,
        "\tset {s6} {{\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}}"
    );
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "flush set {fam} {table} {s4}");
    let _ = writeln!(out, "flush set {fam} {table} {s6}");
    let n = v4.len() + v6.len();
    let mut add = |set: &str, nets: Vec<String>| {
        for chunk in nets.chunks(512) {
            let _ = writeln!(
                out,
                "add element {fam} {table} {set} {{ {} }}",
                chunk.join(", ")
            );
        }
    };
    add(
        &s4,
        v4.into_iter().map(|n| net_text(IpNet::V4(n))).collect(),
    );
    add(
        &s6,
        v6.into_iter().map(|n| net_text(IpNet::V6(n))).collect(),
    );
    (out, n)
}

/// An `ipset restore` file: fills temporary sets, swaps them with the live ones (created if
/// missing) and destroys the old contents, so a firewall rule never sees a half-filled set.
fn ipset(cfg: &ExportConfig, entries: &[Entry]) -> (String, usize) {
    let (v4, v6) = aggregate(entries);
    let n = v4.len() + v6.len();
    let mut out = String::new();
    for (family, suffix, nets) in [
        (
            "inet",
            "v4",
            v4.into_iter()
                .map(|n| net_text(IpNet::V4(n)))
                .collect::<Vec<_>>(),
        ),
        (
            "inet6",
            "v6",
            v6.into_iter().map(|n| net_text(IpNet::V6(n))).collect(),
        ),
    ] {
        let live = format!("{}_{suffix}", cfg.name);
        let tmp = format!("{live}_t");
        let max = nets.len().max(65_536);
        let _ = writeln!(
            out,
            "create {live} hash:net family {family} maxelem {max} -exist"
        );
        let _ = writeln!(
            out,
            "create {tmp} hash:net family {family} maxelem {max} -exist"
        );
        let _ = writeln!(out, "flush {tmp}");
        for net in nets {
            let _ = writeln!(out, "add {tmp} {net}");
        }
        let _ = writeln!(out, "swap {tmp} {live}");
        let _ = writeln!(out, "destroy {tmp}");
    }
    (out, n)
}

/// A Zeek intel framework file (tab-separated, `#fields` header). Zeek's URL indicators
/// carry no scheme; its domain indicators match the name itself only.
fn zeek(cfg: &ExportConfig, entries: &[Entry], skips: &mut Skips) -> (String, usize) {
    let mut out = String::from("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n");
    let mut n = 0;
    for e in entries {
        let (value, kind) = match &e.pattern {
            Pattern::Ipv4(a) => (a.to_string(), "Intel::ADDR"),
            Pattern::Ipv6(a) => (a.to_string(), "Intel::ADDR"),
            Pattern::Cidr(c) => (c.to_string(), "Intel::SUBNET"),
            Pattern::Domain { name, .. } => {
                if !is_dns_name(name) {
                    skips.add(skip::UNSAFE);
                    continue;
                }
                (name.clone(), "Intel::DOMAIN")
            }
            Pattern::Url { url, .. } => (
                url.strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .unwrap_or(url)
                    .to_owned(),
                "Intel::URL",
            ),
            Pattern::Md5(_) | Pattern::Sha1(_) | Pattern::Sha256(_) => {
                (e.pattern.to_string(), "Intel::FILE_HASH")
            }
            Pattern::Email(m) => (m.clone(), "Intel::EMAIL"),
            Pattern::String { .. } => continue,
        };
        if !is_token(&value) {
            skips.add(skip::UNSAFE);
            continue;
        }
        // Feed names are the operator's, but still kept to one field.
        let source: Vec<String> = e.feeds.iter().map(|f| zeek_field(f)).collect();
        let _ = writeln!(
            out,
            "{value}\t{kind}\t{}\tiocd export {} score {:.1}",
            source.join(","),
            zeek_field(&cfg.name),
            e.score
        );
        n += 1;
    }
    (out, n)
}

fn zeek_field(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() || c == ',' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if t.is_empty() || t == "-" {
        "_".to_owned()
    } else {
        t
    }
}

/// A Suricata dataset file: one value per line; names and URLs (`type string`) in base64 as
/// Suricata reads them, hashes in hex (`type md5`, `type sha256`), addresses as text
/// (`type ip`).
fn suricata(entries: &[Entry], skips: &mut Skips) -> (String, usize) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    let mut n = 0;
    for e in entries {
        let line = match &e.pattern {
            Pattern::Ipv4(_) | Pattern::Ipv6(_) | Pattern::Md5(_) | Pattern::Sha256(_) => {
                e.pattern.to_string()
            }
            Pattern::Domain { name, .. } => {
                if !is_dns_name(name) {
                    skips.add(skip::UNSAFE);
                    continue;
                }
                b64.encode(name)
            }
            Pattern::Url { url, .. } => b64.encode(url),
            _ => continue,
        };
        out.push_str(&line);
        out.push('\n');
        n += 1;
    }
    (out, n)
}

/// The entries of a file this module wrote in `format` (what [`Rendered::entries`] said when
/// it was written): how the change guard knows what a consumer has in place after a restart.
pub(crate) fn count_entries(format: ExportFormat, text: &str) -> usize {
    let lines = text.lines();
    match format {
        ExportFormat::Plain | ExportFormat::Suricata => lines.filter(|l| !l.is_empty()).count(),
        // Names, not records: `*.name` goes with `name`.
        ExportFormat::Rpz => lines
            .filter(|l| {
                !(l.is_empty()
                    || l.starts_with(';')
                    || l.starts_with('$')
                    || l.starts_with('@')
                    || l.starts_with("*."))
            })
            .count(),
        ExportFormat::Nftables => lines
            .filter_map(|l| l.strip_prefix("add element "))
            .filter_map(|l| l.split_once('{'))
            .map(|(_, e)| e.trim_end_matches(['}', ' ']).split(',').count())
            .sum(),
        ExportFormat::Ipset => lines.filter(|l| l.starts_with("add ")).count(),
        ExportFormat::Zeek => lines
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count(),
    }
}

#[cfg(test)]
mod tests;
