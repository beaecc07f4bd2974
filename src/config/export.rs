//! `[[exports]]`: named views of the current indicator set, written for the controls that
//! block (firewall lists, DNS response policy zones, nftables and ipset, sensors).
//!
//! What each export holds and how it is written is the export module's job; this module only
//! says what an operator can ask for, and refuses what cannot work before anything starts.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigErrors, FeedConfig};
use iocd_engine::IocKind;

/// One export.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Unique; letters, digits, `_` and `-`, at most 24 characters (it names the nftables and
    /// ipset sets and the metrics' `export` label).
    pub name: String,
    /// What is written: `plain` (one entry per line, for firewall external lists; see
    /// `vendor`), `rpz` (a DNS response policy zone), `nftables` (an nftables set file for
    /// `nft -f`), `ipset` (an `ipset restore` file), `zeek` (Zeek intel framework file) or
    /// `suricata` (a Suricata dataset file).
    pub format: ExportFormat,
    /// Where the export is written, replaced atomically on every change of its content.
    pub path: PathBuf,
    /// Indicator types to include (empty: every type the format can carry). A type the
    /// format cannot carry is refused.
    #[serde(default)]
    pub types: Vec<IocKind>,
    /// Keep indicators whose threat score (0-100: confidence, severity and agreeing feeds,
    /// decayed by age, as `[triage.score]` computes it, without the log's context or the
    /// asset) is at least this.
    #[serde(default)]
    pub min_score: f64,
    /// Keep indicators whose best source confidence (0-100; a source without one counts as
    /// `triage.score.default_confidence`) is at least this.
    #[serde(default)]
    pub min_confidence: u8,
    /// Keep indicators listed by at least this many feeds.
    #[serde(default = "one")]
    pub min_feeds: usize,
    /// Keep indicators listed by at least one of these feeds (empty: any feed).
    #[serde(default)]
    pub feeds: Vec<String>,
    /// Drop indicators listed by any of these feeds.
    #[serde(default)]
    pub exclude_feeds: Vec<String>,
    /// Keep indicators carrying at least one of these tags (empty: any). Tags compare
    /// without regard to case.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Drop indicators carrying any of these tags.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// At most this many indicators (0: no limit); beyond it the best-scored are kept (ties:
    /// more feeds, then the indicator's text). Firewalls limit their external lists.
    #[serde(default)]
    pub max_entries: usize,
    /// A new version with fewer than `(1 - max_shrink)` times the entries of the version in
    /// place is held back: the previous one stays, a warning is logged and
    /// `iocd_export_held_total` counts it. 0-1; 1 turns the check off.
    #[serde(default = "half")]
    pub max_shrink: f64,
    /// A new version with more than `(1 + max_grow)` times the entries of the version in
    /// place is held back the same way. At least 0; unset: no limit.
    #[serde(default)]
    pub max_grow: Option<f64>,
    /// `plain` only: whose documented list syntax to follow: `generic` (the canonical
    /// indicator, one per line), `paloalto` (PAN-OS external dynamic list), `fortinet`
    /// (FortiGate external threat feed) or `checkpoint` (Check Point network/domain feed).
    #[serde(default)]
    pub vendor: Vendor,
    /// `rpz` only: the zone's origin (its name in the resolver's configuration).
    #[serde(default = "default_zone")]
    pub zone: String,
    /// `rpz` only: what the resolver answers for a listed name: `nxdomain`, `nodata`, or
    /// `sinkhole` (the address or name in `sinkhole`).
    #[serde(default)]
    pub action: RpzAction,
    /// `rpz` only, with `action = "sinkhole"`: an IPv4 or IPv6 address (answered as A or
    /// AAAA) or a host name (answered as a CNAME to it).
    #[serde(default)]
    pub sinkhole: Option<String>,
    /// `rpz` only: TTL of the policy records and of the SOA's negative answers, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// `rpz` only: the SOA's refresh, in seconds: how often a secondary, or a resolver that
    /// downloads the zone from the export listener (Unbound's `url:`), checks for a new
    /// version. The SOA's retry is the smaller of it and 600.
    #[serde(default = "default_refresh")]
    pub refresh: u32,
    /// `nftables` only: the table's family and name; the sets are `<name>_v4` and
    /// `<name>_v6` in it.
    #[serde(default = "default_nft_family")]
    pub nft_family: String,
    #[serde(default = "default_nft_table")]
    pub nft_table: String,
}

fn one() -> usize {
    1
}
fn half() -> f64 {
    0.5
}
fn default_zone() -> String {
    "rpz.iocd.".to_owned()
}
fn default_ttl() -> u32 {
    300
}
fn default_refresh() -> u32 {
    3600
}
fn default_nft_family() -> String {
    "inet".to_owned()
}
fn default_nft_table() -> String {
    "iocd".to_owned()
}

/// How an export is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Plain,
    Rpz,
    Nftables,
    Ipset,
    Zeek,
    Suricata,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Plain => "plain",
            ExportFormat::Rpz => "rpz",
            ExportFormat::Nftables => "nftables",
            ExportFormat::Ipset => "ipset",
            ExportFormat::Zeek => "zeek",
            ExportFormat::Suricata => "suricata",
        }
    }

    /// The indicator types the format can carry.
    pub fn kinds(self, vendor: Vendor) -> &'static [IocKind] {
        use IocKind::*;
        match (self, vendor) {
            (ExportFormat::Plain, Vendor::Generic) => &[
                Ipv4, Ipv6, Cidr, Domain, Url, Md5, Sha1, Sha256, Email, String,
            ],
            (ExportFormat::Plain, Vendor::Checkpoint) => &[Ipv4, Ipv6, Cidr, Domain],
            (ExportFormat::Plain, _) => &[Ipv4, Ipv6, Cidr, Domain, Url],
            (ExportFormat::Rpz, _) => &[Domain],
            (ExportFormat::Nftables | ExportFormat::Ipset, _) => &[Ipv4, Ipv6, Cidr],
            (ExportFormat::Zeek, _) => &[Ipv4, Ipv6, Cidr, Domain, Url, Md5, Sha1, Sha256, Email],
            (ExportFormat::Suricata, _) => &[Ipv4, Ipv6, Domain, Url, Md5, Sha256],
        }
    }
}

/// Whose list syntax a `plain` export follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    #[default]
    Generic,
    Paloalto,
    Fortinet,
    Checkpoint,
}

/// What a response policy zone answers for a listed name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpzAction {
    /// "No such domain" (`CNAME .`).
    #[default]
    Nxdomain,
    /// The name exists, with no data of the type asked (`CNAME *.`).
    Nodata,
    /// The sinkhole's address, or a CNAME to the sinkhole's name.
    Sinkhole,
}

/// The longest export name: `<name>_v6` must fit ipset's 31-character set names.
pub(crate) const MAX_NAME_LEN: usize = 24;

impl ExportConfig {
    /// The types this export includes: `types`, or every type its format carries.
    pub fn kinds(&self) -> Vec<IocKind> {
        if self.types.is_empty() {
            self.format.kinds(self.vendor).to_vec()
        } else {
            self.types.clone()
        }
    }
}

/// A DNS name as zone files and resolvers take it: labels of letters, digits, `-` and `_`,
/// 1-63 bytes each, at most 253 bytes, an optional trailing dot.
pub(crate) fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_ident(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks `[[exports]]`: every problem with its key path.
pub fn validate(exports: &[ExportConfig], feeds: &[FeedConfig], errs: &mut ConfigErrors) {
    let mut names: Vec<&str> = Vec::new();
    let mut paths: Vec<&PathBuf> = Vec::new();
    for (i, e) in exports.iter().enumerate() {
        let at = format!("exports[{i}]");
        if !is_ident(&e.name, MAX_NAME_LEN) || !e.name.as_bytes()[0].is_ascii_alphabetic() {
            errs.push(
                format!("{at}.name"),
                format!(
                    "{:?}: a letter, then letters, digits, '_' and '-', at most {MAX_NAME_LEN} \
                     characters",
                    e.name
                ),
            );
        } else if names.contains(&e.name.as_str()) {
            errs.push(format!("{at}.name"), format!("{:?} is used twice", e.name));
        }
        names.push(&e.name);
        if paths.contains(&&e.path) {
            errs.push(
                format!("{at}.path"),
                format!("{} is written by another export", e.path.display()),
            );
        }
        paths.push(&e.path);
        match e.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) if !dir.is_dir() => errs.push(
                format!("{at}.path"),
                format!("folder {} does not exist", dir.display()),
            ),
            _ => {}
        }
        if e.path.file_name().is_none() {
            errs.push(format!("{at}.path"), "must name a file");
        }
        let carried = e.format.kinds(e.vendor);
        for k in &e.types {
            if !carried.contains(k) {
                let names: Vec<&str> = carried.iter().map(|k| k.as_str()).collect();
                errs.push(
                    format!("{at}.types"),
                    format!(
                        "{} cannot be written as {}{}: it carries {}",
                        k,
                        e.format.as_str(),
                        match e.format {
                            ExportFormat::Plain => format!(" for vendor {:?}", e.vendor),
                            _ => String::new(),
                        },
                        names.join(", ")
                    ),
                );
            }
        }
        if e.format == ExportFormat::Suricata {
            // A dataset has one type: one group of indicator types per export.
            let kinds = e.kinds();
            let group = |k: &IocKind| match k {
                IocKind::Ipv4 | IocKind::Ipv6 => 0,
                IocKind::Domain | IocKind::Url => 1,
                IocKind::Md5 => 2,
                _ => 3,
            };
            if kinds.iter().any(|k| group(k) != group(&kinds[0])) {
                errs.push(
                    format!("{at}.types"),
                    "a Suricata dataset has one type: set types to addresses (ipv4, ipv6), \
                     names (domain, url), md5 or sha256",
                );
            }
        }
        if e.format == ExportFormat::Plain && e.vendor != Vendor::Generic {
            // A firewall's external list holds one type: addresses, domains or URLs.
            let group = |k: &IocKind| match k {
                IocKind::Ipv4 | IocKind::Ipv6 | IocKind::Cidr => 0,
                IocKind::Domain => 1,
                _ => 2,
            };
            let kinds = e.kinds();
            if e.types.is_empty() || kinds.iter().any(|k| group(k) != group(&kinds[0])) {
                errs.push(
                    format!("{at}.types"),
                    "a firewall list holds one type: set types to addresses (ipv4, ipv6, \
                     cidr), domain, or url",
                );
            }
        }
        if e.vendor != Vendor::Generic && e.format != ExportFormat::Plain {
            errs.push(format!("{at}.vendor"), "only for format = \"plain\"");
        }
        if !(0.0..=100.0).contains(&e.min_score) {
            errs.push(format!("{at}.min_score"), "must be between 0 and 100");
        }
        if e.min_confidence > 100 {
            errs.push(format!("{at}.min_confidence"), "must be between 0 and 100");
        }
        if e.min_feeds == 0 || e.min_feeds > u16::MAX as usize {
            errs.push(format!("{at}.min_feeds"), "must be between 1 and 65535");
        }
        for (list, key) in [(&e.feeds, "feeds"), (&e.exclude_feeds, "exclude_feeds")] {
            for f in list {
                if !feeds.iter().any(|c| &c.name == f) {
                    errs.push(format!("{at}.{key}"), format!("no feed is named {f:?}"));
                }
            }
        }
        if !(0.0..=1.0).contains(&e.max_shrink) {
            errs.push(format!("{at}.max_shrink"), "must be between 0 and 1");
        }
        if let Some(g) = e.max_grow
            && !(g >= 0.0 && g.is_finite())
        {
            errs.push(format!("{at}.max_grow"), "must be 0 or more");
        }
        if e.max_entries > super::MAX_BUFFER_EVENTS {
            errs.push(
                format!("{at}.max_entries"),
                format!("must be at most {}", super::MAX_BUFFER_EVENTS),
            );
        }
        if e.format == ExportFormat::Rpz {
            if !is_dns_name(&e.zone) {
                errs.push(
                    format!("{at}.zone"),
                    format!("{:?} is not a DNS name", e.zone),
                );
            }
            if e.ttl == 0 || e.ttl > 604_800 {
                errs.push(format!("{at}.ttl"), "must be between 1 and 604800 seconds");
            }
            if e.refresh == 0 || e.refresh > 604_800 {
                errs.push(
                    format!("{at}.refresh"),
                    "must be between 1 and 604800 seconds",
                );
            }
            match (e.action, e.sinkhole.as_deref()) {
                (RpzAction::Sinkhole, None) => errs.push(
                    format!("{at}.sinkhole"),
                    "action = \"sinkhole\" needs the sinkhole's address or host name",
                ),
                (RpzAction::Sinkhole, Some(s))
                    if s.parse::<IpAddr>().is_err() && !is_dns_name(s) =>
                {
                    errs.push(
                        format!("{at}.sinkhole"),
                        format!("{s:?} is neither an IP address nor a host name"),
                    )
                }
                (RpzAction::Nxdomain | RpzAction::Nodata, Some(_)) => {
                    errs.push(format!("{at}.sinkhole"), "only with action = \"sinkhole\"")
                }
                _ => {}
            }
        }
        if e.format == ExportFormat::Nftables {
            if !matches!(
                e.nft_family.as_str(),
                "inet" | "ip" | "ip6" | "bridge" | "netdev"
            ) {
                errs.push(
                    format!("{at}.nft_family"),
                    "must be inet, ip, ip6, bridge or netdev",
                );
            }
            if !is_ident(&e.nft_table, 64)
                || e.nft_table.contains('-')
                || !e.nft_table.as_bytes()[0].is_ascii_alphabetic()
            {
                errs.push(
                    format!("{at}.nft_table"),
                    "a letter, then letters, digits and '_', at most 64 characters",
                );
            }
        }
    }
}

/// `[export_listener]`: serves every export over HTTP(S), apart from the admin server, for
/// firewalls that pull their lists. `GET /exports/<name>` answers the version in place with an
/// `ETag` (`If-None-Match` gives `304`) and gzip when the client accepts it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportListenerConfig {
    /// Address to listen on. Any address other than loopback needs `token_file` or
    /// `basic_user` with `basic_password_file`: exports carry the feeds' intelligence.
    pub listen: SocketAddr,
    /// A file holding a bearer token (white space around it ignored), read at start: requests
    /// need `Authorization: Bearer <token>`, else 401. At least 16 printable ASCII characters
    /// without spaces; refused when other users may read the file.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// HTTP basic authentication (what PAN-OS and FortiGate external lists send): this user
    /// name, and the password in `basic_password_file` (same rules as `token_file`). Either
    /// credential is accepted when both are set.
    #[serde(default)]
    pub basic_user: Option<String>,
    #[serde(default)]
    pub basic_password_file: Option<PathBuf>,
    /// PEM certificate chain and private key: serve HTTPS. Both or neither.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Connections served at once; beyond it a connection is closed at once. At most 1024.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection must send its request headers (and finish a TLS handshake) within this.
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub header_timeout: Duration,
}

fn default_max_connections() -> usize {
    64
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Shortest bearer token or basic-auth password accepted.
pub(crate) const MIN_SECRET_LEN: usize = 16;

/// Reads a secret file (a token or password): trimmed, at least [`MIN_SECRET_LEN`] printable
/// ASCII characters without spaces, not readable by other users.
pub(crate) fn read_secret(path: &Path) -> Result<String, String> {
    super::check_secret_file(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim().to_owned();
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "{}: at least {MIN_SECRET_LEN} characters",
            path.display()
        ));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{}: printable ASCII without spaces (it goes in an HTTP header)",
            path.display()
        ));
    }
    Ok(secret)
}

/// Checks `[export_listener]`.
pub(crate) fn validate_listener(l: &ExportListenerConfig, errs: &mut ConfigErrors) {
    let at = "export_listener";
    if let Some(p) = &l.token_file
        && let Err(e) = read_secret(p)
    {
        errs.push(format!("{at}.token_file"), e);
    }
    match (&l.basic_user, &l.basic_password_file) {
        (Some(u), Some(p)) => {
            if u.is_empty() || u.contains(':') || !u.bytes().all(|b| b.is_ascii_graphic()) {
                errs.push(
                    format!("{at}.basic_user"),
                    "printable ASCII without spaces or ':'",
                );
            }
            if let Err(e) = read_secret(p) {
                errs.push(format!("{at}.basic_password_file"), e);
            }
        }
        (Some(_), None) => errs.push(
            format!("{at}.basic_password_file"),
            "basic_user needs basic_password_file",
        ),
        (None, Some(_)) => errs.push(
            format!("{at}.basic_user"),
            "basic_password_file needs basic_user",
        ),
        (None, None) => {}
    }
    let authenticated = l.token_file.is_some() || l.basic_user.is_some();
    if !l.listen.ip().is_loopback() && !authenticated {
        errs.push(
            format!("{at}.listen"),
            format!(
                "{} is not a loopback address: set token_file or basic_user (exports carry \
                 the feeds' intelligence)",
                l.listen
            ),
        );
    }
    match (&l.tls_cert, &l.tls_key) {
        (Some(c), Some(k)) => {
            super::must_exist(c, &format!("{at}.tls_cert"), errs);
            super::must_exist(k, &format!("{at}.tls_key"), errs);
        }
        (Some(_), None) => errs.push(format!("{at}.tls_key"), "tls_cert needs tls_key"),
        (None, Some(_)) => errs.push(format!("{at}.tls_cert"), "tls_key needs tls_cert"),
        (None, None) => {}
    }
    super::count_in(
        l.max_connections,
        1,
        1024,
        &format!("{at}.max_connections"),
        errs,
    );
    super::positive(l.header_timeout, &format!("{at}.header_timeout"), errs);
}
