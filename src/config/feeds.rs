//! Per-feed and per-allowlist settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigErrors, must_exist};
use iocd_engine::{IocKind, Tlp};

/// One indicator feed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Unique; alerts name it as the indicator's provider.
    pub name: String,
    /// What `url` is: `document` (the default: a file or an HTTP(S) document in `format`),
    /// `taxii` (a TAXII 2.1 API root or discovery URL, `[feeds.taxii]`) or `misp-api` (a MISP
    /// server, `[feeds.misp_api]`). docs/FEEDS.md, "Threat-intelligence platforms".
    #[serde(default, rename = "type")]
    pub kind: FeedKind,
    /// A local file, or a MISP feed folder (one holding `manifest.json`). Exactly one of
    /// `path` and `url`. A file is parsed again only when its modification time or size
    /// changed.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An HTTP(S) URL, fetched every `refresh` (conditionally, with retries; see `http`). A
    /// MISP feed folder is given by its `.../manifest.json`.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the last good copy of a URL feed is kept (its ETag and Last-Modified beside it, in
    /// `<cache>.meta.json`), so a restart or a failed download keeps the previous generation
    /// and an unchanged feed costs a `304`.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// `auto` (detected from the content), `plain`, `csv`, `zeek`, `misp`, `stix` or
    /// `openioc`.
    #[serde(default)]
    pub format: FeedFormat,
    /// How much this feed's word counts when scoring, relative to 1.0.
    #[serde(default = "one")]
    pub weight: f64,
    /// Confidence (0-100) of listings that do not carry their own.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Severity (0-100) of listings that do not carry their own.
    #[serde(default)]
    pub severity: Option<u8>,
    /// TLP of listings that do not carry their own.
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Keep only these indicator types (empty: all).
    #[serde(default)]
    pub types: Vec<IocKind>,
    /// Whether this feed's domains also match their subdomains.
    #[serde(default = "yes")]
    pub subdomains: bool,
    /// Listings older than this (by last seen, else first seen, else the last time the feed
    /// was read or found unchanged) are inactive: kept in memory, not matched, and counted.
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// How often to read the feed again (URL feeds: download; files are also watched). A feed
    /// whose refresh failed is tried again after at most 5 minutes.
    #[serde(default, with = "humantime_serde")]
    pub refresh: Option<Duration>,
    /// Accept private, loopback, link-local, multicast and documentation addresses and
    /// networks, and the reserved names (`.example`, `.test`, `.local`, `.localhost`, ...), from
    /// this feed. Off by default: such indicators are someone's internal network, not a threat.
    #[serde(default)]
    pub allow_private: bool,
    /// The shortest IPv4 network this feed may list; broader ones are rejected
    /// (`broad_cidr`). Spamhaus DROP, for one, lists a few /12s on purpose.
    #[serde(default = "min_prefix_v4")]
    pub min_prefix_v4: u8,
    /// The shortest IPv6 network this feed may list (Spamhaus DROPv6 lists /29s).
    #[serde(default = "min_prefix_v6")]
    pub min_prefix_v6: u8,
    /// MISP: import only attributes flagged `to_ids` (meant for detection); the others are
    /// counted as skipped (`not_to_ids`).
    #[serde(default = "yes")]
    pub to_ids_only: bool,
    /// CSV: which column holds what. Without it, columns are found by their header names
    /// (`ioc`, `indicator`, `value`, `dst_ip`, `ip`, `domain`, `host`, `url`, `sha256`,
    /// `sha1`, `md5`, ...; see docs/FEEDS.md).
    #[serde(default)]
    pub csv: Option<CsvMapping>,
    /// HTTP options of a URL feed.
    #[serde(default)]
    pub http: HttpOptions,
    /// What every indicator of the feed is part of, for feeds that list one family or actor
    /// and say so only in their name (Maltrail's `agenttesla.txt`): alerts show it as the
    /// feeds' own context is shown (docs/FEEDS.md, "Threat context").
    #[serde(default)]
    pub context: Option<FeedContext>,
    /// A TAXII 2.1 collection (`type = "taxii"`).
    #[serde(default)]
    pub taxii: Option<TaxiiConfig>,
    /// A MISP server's REST API (`type = "misp-api"`).
    #[serde(default)]
    pub misp_api: Option<MispApiConfig>,
    /// Shrink guard: a refresh that would drop more than this share (0.0-1.0) of the
    /// feed's indicators, or read none from a feed that had some, is refused like a failed
    /// refresh (the previous generation stays, a warning gives the numbers, and
    /// `iocd_feed_refresh_failures_total{reason="shrink"}` counts it). 1.0 accepts any
    /// shrink. Default: `[reload] max_shrink` (0.5). See docs/FEEDS.md, "Refresh guard".
    #[serde(default)]
    pub max_shrink: Option<f64>,
    /// A new document whose rejected records (invalid, unsupported, malformed) are more than
    /// this share (0.0-1.0) of its records is refused (reason `rejected`) and the previous
    /// generation stays. At the first load there is nothing to keep: it is loaded with a
    /// warning. 1.0 accepts any. Default: `[reload] max_rejected` (0.5); free-text feeds
    /// (reports, prose with indicators in it) need more.
    #[serde(default)]
    pub max_rejected: Option<f64>,
    /// Rejected records kept in memory for reports (`iocd iocs stats --all-rejected`), with
    /// their line and reason; the others are counted by reason only. Default:
    /// `[reload] keep_rejected` (1000).
    #[serde(default)]
    pub keep_rejected: Option<usize>,
}

/// Default share of a feed's indicators a refresh may drop (`max_shrink`).
pub(crate) const DEFAULT_MAX_SHRINK: f64 = 0.5;
/// Default share of a document's records that may be rejected (`max_rejected`).
pub(crate) const DEFAULT_MAX_REJECTED: f64 = 0.5;
/// Default number of rejected records kept per feed (`keep_rejected`).
pub(crate) const DEFAULT_KEEP_REJECTED: usize = 1000;

impl FeedConfig {
    /// A file (or MISP feed folder) feed named on the command line (`iocd scan --iocs FILE`):
    /// format detected, every other key at its default, as a `[[feeds]]` table with only
    /// `name` and `path` would be.
    pub fn file(name: &str, path: PathBuf) -> FeedConfig {
        FeedConfig {
            name: name.to_owned(),
            path: Some(path),
            url: None,
            cache: None,
            format: FeedFormat::Auto,
            weight: one(),
            confidence: None,
            severity: None,
            tlp: None,
            types: Vec::new(),
            subdomains: yes(),
            ttl: None,
            refresh: None,
            allow_private: false,
            min_prefix_v4: min_prefix_v4(),
            min_prefix_v6: min_prefix_v6(),
            to_ids_only: yes(),
            csv: None,
            http: HttpOptions::default(),
            kind: FeedKind::Document,
            context: None,
            taxii: None,
            misp_api: None,
            max_shrink: None,
            max_rejected: None,
            keep_rejected: None,
        }
    }

    /// `max_shrink`, or its default.
    pub fn max_shrink(&self) -> f64 {
        self.max_shrink.unwrap_or(DEFAULT_MAX_SHRINK)
    }
    /// `max_rejected`, or its default.
    pub fn max_rejected(&self) -> f64 {
        self.max_rejected.unwrap_or(DEFAULT_MAX_REJECTED)
    }
    /// `keep_rejected`, or its default.
    pub fn keep_rejected(&self) -> usize {
        self.keep_rejected.unwrap_or(DEFAULT_KEEP_REJECTED)
    }
}

/// Gives feeds without their own `max_shrink`, `max_rejected` or `keep_rejected` the
/// `[reload]` defaults.
pub(super) fn inherit_guard(feeds: &mut [FeedConfig], reload: &super::ReloadConfig) {
    for f in feeds {
        f.max_shrink.get_or_insert(reload.max_shrink);
        f.max_rejected.get_or_insert(reload.max_rejected);
        f.keep_rejected.get_or_insert(reload.keep_rejected);
    }
}

/// The most rejected records a feed may keep (`keep_rejected`).
pub(crate) const MAX_KEEP_REJECTED: usize = 1_000_000;

/// Checks a `max_shrink`, a `max_rejected` and a `keep_rejected` at `at`.
pub(super) fn validate_guard(
    at: &str,
    shrink: f64,
    rejected: f64,
    keep: usize,
    errs: &mut ConfigErrors,
) {
    for (key, v) in [("max_shrink", shrink), ("max_rejected", rejected)] {
        if !(0.0..=1.0).contains(&v) {
            errs.push(format!("{at}.{key}"), "must be between 0.0 and 1.0");
        }
    }
    if keep > MAX_KEEP_REJECTED {
        errs.push(
            format!("{at}.keep_rejected"),
            format!("must be at most {MAX_KEEP_REJECTED}"),
        );
    }
}

/// A TAXII or MISP API feed: its table, a URL, and a `cache` for its state.
fn validate_platform(f: &FeedConfig, at: &str, errs: &mut ConfigErrors) {
    let (name, table) = match f.kind {
        FeedKind::Document => {
            for (key, set) in [
                ("taxii", f.taxii.is_some()),
                ("misp_api", f.misp_api.is_some()),
            ] {
                if set {
                    errs.push(
                        format!("{at}.{key}"),
                        format!(
                            "only a feed of `type = \"{}\"` has it",
                            key.replace('_', "-")
                        ),
                    );
                }
            }
            return;
        }
        FeedKind::Taxii => ("taxii", f.taxii.is_some()),
        FeedKind::MispApi => ("misp_api", f.misp_api.is_some()),
    };
    if !table {
        errs.push(format!("{at}.{name}"), "is required by the feed's `type`");
    }
    if f.url.is_none() || f.path.is_some() {
        errs.push(
            format!("{at}.url"),
            "a TAXII or MISP API feed has a `url` (and no `path`)",
        );
    }
    if f.cache.is_none() {
        errs.push(
            format!("{at}.cache"),
            "is required: the collection's state and listings are kept there, so a restart \
             does not download the collection again",
        );
    }
    if f.format != FeedFormat::Auto {
        errs.push(format!("{at}.format"), "is decided by the feed's `type`");
    }
    if let Some(t) = &f.taxii {
        if t.collection.trim().is_empty() {
            errs.push(format!("{at}.taxii.collection"), "must not be empty");
        }
        if t.limit == 0 || t.max_pages == 0 {
            errs.push(
                format!("{at}.taxii"),
                "`limit` and `max_pages` must be at least 1",
            );
        }
        if t.username.is_some() != t.password_file.is_some() {
            errs.push(
                format!("{at}.taxii"),
                "`username` and `password_file` go together",
            );
        }
        for (key, p) in [
            ("password_file", &t.password_file),
            ("token_file", &t.token_file),
        ] {
            if let Some(p) = p {
                must_exist(p, &format!("{at}.taxii.{key}"), errs);
            }
        }
    }
    if let Some(m) = &f.misp_api {
        must_exist(&m.key_file, &format!("{at}.misp_api.key_file"), errs);
        if m.limit == 0 || m.max_pages == 0 {
            errs.push(
                format!("{at}.misp_api"),
                "`limit` and `max_pages` must be at least 1",
            );
        }
        if m.full_resync.is_zero() {
            errs.push(
                format!("{at}.misp_api.full_resync"),
                "must be longer than 0s",
            );
        }
    }
}

/// Default shortest IPv4 prefix a feed may list.
pub const MIN_PREFIX_V4: u8 = 16;
/// Default shortest IPv6 prefix a feed may list.
pub const MIN_PREFIX_V6: u8 = 32;

fn min_prefix_v4() -> u8 {
    MIN_PREFIX_V4
}
fn min_prefix_v6() -> u8 {
    MIN_PREFIX_V6
}

/// A CSV column: its header name (`"dst_ip"`) or its 1-based position (`2`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

/// Which CSV column holds what (`[feeds.csv]`). Every key is optional; unmapped metadata is
/// left unset, and an unmapped `value` is found by header name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// The indicator.
    #[serde(default)]
    pub value: Option<ColumnRef>,
    /// The indicator's type (`ip`, `ip:port`, `domain`, `url`, `md5`, `sha256_hash`,
    /// `email`, `filename`, MISP and Zeek type names, ...). Unmapped: inferred from the value.
    #[serde(default, rename = "type")]
    pub kind: Option<ColumnRef>,
    /// A URL path appended to `value` when not empty (URLhaus-style `host,path` rows).
    #[serde(default)]
    pub path: Option<ColumnRef>,
    /// 0-100, a fraction, or `high`/`medium`/`low`.
    #[serde(default)]
    pub confidence: Option<ColumnRef>,
    /// 0-100 or `critical`/`high`/`medium`/`low`/`info`.
    #[serde(default)]
    pub severity: Option<ColumnRef>,
    /// Tags, split on `,`, `;` and `|`.
    #[serde(default)]
    pub tags: Option<ColumnRef>,
    /// Malware families (Feodo's `malware`, ThreatFox's `malware_printable`), split like tags:
    /// the alert's `threat.software.name`.
    #[serde(default)]
    pub malware: Option<ColumnRef>,
    /// Threat actors, split like tags: the alert's `threat.group.name`.
    #[serde(default)]
    pub threat_actor: Option<ColumnRef>,
    /// Times: Unix seconds, RFC 3339, `YYYY-MM-DD[ HH:MM:SS]` or `M/D/YYYY H:MM`, UTC.
    #[serde(default)]
    pub first_seen: Option<ColumnRef>,
    #[serde(default)]
    pub last_seen: Option<ColumnRef>,
    /// After this time the listing is inactive.
    #[serde(default)]
    pub valid_until: Option<ColumnRef>,
    #[serde(default)]
    pub tlp: Option<ColumnRef>,
    #[serde(default)]
    pub description: Option<ColumnRef>,
    /// Field separator, one ASCII character.
    #[serde(default = "comma")]
    pub delimiter: char,
    /// Whether the first row (after `#` comment lines) names the columns. When no row does,
    /// a last `# name,name,...` comment line (abuse.ch style) is taken as the header.
    #[serde(default = "yes")]
    pub header: bool,
}

fn comma() -> char {
    ','
}

/// HTTP options of a URL feed (`[feeds.http]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOptions {
    /// Whole request, connect to last byte.
    #[serde(default = "http_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// A larger (decompressed) body fails the download and keeps the previous generation.
    #[serde(default = "http_max_bytes")]
    pub max_bytes: u64,
    /// Further tries after a connection error, a timeout, a 5xx, 408 or 429.
    #[serde(default = "http_retries")]
    pub retries: u32,
    /// Delay before the first retry; it doubles at each retry.
    #[serde(default = "http_retry_delay", with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Extra request headers, e.g. `{ Authorization = "..." }` for a MISP server.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// PEM certificates of a private CA the server's certificate is checked against (in
    /// addition to the system's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, for servers that require one
    /// (ISACs, CISA AIS). Both or neither.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: http_timeout(),
            max_bytes: http_max_bytes(),
            retries: http_retries(),
            retry_delay: http_retry_delay(),
            headers: Default::default(),
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

fn http_timeout() -> Duration {
    Duration::from_secs(60)
}
fn http_max_bytes() -> u64 {
    256 << 20
}
fn http_retries() -> u32 {
    3
}
fn http_retry_delay() -> Duration {
    Duration::from_secs(2)
}

/// `[feeds.context]`: names every indicator of the feed goes with.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedContext {
    #[serde(default)]
    pub malware: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    /// Threat actors.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub campaigns: Vec<String>,
    /// ATT&CK technique ids (`T1071.001`).
    #[serde(default)]
    pub techniques: Vec<String>,
}

impl FeedContext {
    /// As the engine keeps it.
    pub fn to_engine(&self) -> iocd_engine::Context {
        iocd_engine::Context {
            malware: self.malware.clone(),
            tools: self.tools.clone(),
            groups: self.groups.clone(),
            campaigns: self.campaigns.clone(),
            techniques: self
                .techniques
                .iter()
                .map(|id| iocd_engine::Technique {
                    id: Some(id.clone()),
                    name: None,
                })
                .collect(),
            ..iocd_engine::Context::default()
        }
    }
}

/// What a feed's `url` is (`type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// A file or an HTTP(S) document in the feed's `format`.
    #[default]
    Document,
    /// A TAXII 2.1 collection.
    Taxii,
    /// A MISP server's `/attributes/restSearch`.
    MispApi,
}

/// `[feeds.taxii]`: which collection, and how to ask for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiConfig {
    /// The collection's id, or its title.
    pub collection: String,
    /// `match[type]`: the STIX object types to fetch. Default: all, so that relationships,
    /// malware, actors and reports give the indicators their threat context.
    #[serde(default)]
    pub types: Vec<String>,
    /// Objects per page (`limit`).
    #[serde(default = "taxii_limit")]
    pub limit: u32,
    /// Pages one poll reads at most; a poll that stops there keeps what it read and the next
    /// one goes on from there (a first sync of a large collection spans several polls).
    #[serde(default = "taxii_max_pages")]
    pub max_pages: u32,
    /// Objects the collection may hold in all; a poll that would grow it past this fails
    /// (the state stays as it was) instead of growing memory without bound.
    #[serde(default = "max_objects")]
    pub max_objects: usize,
    /// HTTP basic authentication: the user, and a file holding the password.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A file holding a token sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

fn taxii_limit() -> u32 {
    1000
}
fn max_objects() -> usize {
    5_000_000
}
fn taxii_max_pages() -> u32 {
    1000
}

/// `[feeds.misp_api]`: how to ask a MISP server for attributes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispApiConfig {
    /// A file holding the API key (sent as `Authorization`).
    pub key_file: PathBuf,
    /// Attributes per page (`limit`).
    #[serde(default = "misp_limit")]
    pub limit: u32,
    /// Pages one pull reads at most (a larger result fails the pull).
    #[serde(default = "taxii_max_pages")]
    pub max_pages: u32,
    /// Attributes kept in all; a pull that would keep more fails (the state stays).
    #[serde(default = "max_objects")]
    pub max_objects: usize,
    /// How often the whole result is read again, so that attributes deleted or no longer
    /// matching the filters leave the set; between, pulls ask only for what changed since the
    /// last one (`timestamp`).
    #[serde(default = "misp_full_resync", with = "humantime_serde")]
    pub full_resync: Duration,
    /// `restSearch` filters.
    #[serde(default)]
    pub filters: MispFilters,
}

fn misp_limit() -> u32 {
    5000
}
fn misp_full_resync() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// `[feeds.misp_api.filters]`: what `/attributes/restSearch` is asked for.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispFilters {
    /// Attribute types (`ip-dst`, `domain`, ...); empty: all.
    #[serde(default)]
    pub types: Vec<String>,
    /// Tags: plain names are OR-ed, `+name` must all be present (AND), `!name` excludes.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only attributes flagged for detection.
    #[serde(default = "yes")]
    pub to_ids: bool,
    /// Only attributes of published events.
    #[serde(default = "yes")]
    pub published: bool,
    /// Leave out attributes on the server's warninglists.
    #[serde(default = "yes")]
    pub enforce_warninglist: bool,
    /// Ask for the decay score (the listing's confidence when present).
    #[serde(default)]
    pub include_decay_score: bool,
    /// How far back a full pull reaches (`last`, e.g. `"90d"`); empty: everything.
    #[serde(default, with = "humantime_serde")]
    pub last: Option<Duration>,
}

impl Default for MispFilters {
    fn default() -> Self {
        MispFilters {
            types: Vec::new(),
            tags: Vec::new(),
            to_ids: true,
            published: true,
            enforce_warninglist: true,
            include_decay_score: false,
            last: None,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// The format of a feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedFormat {
    #[default]
    Auto,
    Plain,
    Csv,
    Zeek,
    Misp,
    Stix,
    Openioc,
}

/// A list of known-good values, dropped from every feed at load.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistConfig {
    /// A file, or a folder whose `*.json`, `*.txt` and `*.csv` files are each one allowlist
    /// (e.g. a copy of MISP warninglists).
    pub path: PathBuf,
    /// Reports name drops after it. Default: the file name without extension (for a MISP
    /// warninglist, its `name`).
    #[serde(default)]
    pub name: Option<String>,
    /// `auto` (JSON is a MISP warninglist, anything else plain), `plain` (one value per line,
    /// same syntax as a plain feed: addresses and networks drop what they contain, domains
    /// drop themselves and their subdomains) or `misp-warninglist` (types `string`,
    /// `hostname`, `cidr`, `substring`, `regex`, applied to the indicator types its
    /// `matching_attributes` name).
    #[serde(default)]
    pub format: AllowlistFormat,
}

impl AllowlistConfig {
    /// An allowlist file (or folder) named on the command line: format detected, named after
    /// the file.
    pub fn file(path: PathBuf) -> AllowlistConfig {
        AllowlistConfig {
            path,
            name: None,
            format: AllowlistFormat::Auto,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowlistFormat {
    #[default]
    Auto,
    Plain,
    MispWarninglist,
}

pub(super) fn validate(
    feeds: &[FeedConfig],
    allowlists: &[AllowlistConfig],
    errs: &mut ConfigErrors,
) {
    let mut names = std::collections::BTreeSet::new();
    for (i, f) in feeds.iter().enumerate() {
        let at = format!("feeds[{i}]");
        if f.name.trim().is_empty() {
            errs.push(format!("{at}.name"), "must not be empty");
        } else if !names.insert(f.name.as_str()) {
            errs.push(
                format!("{at}.name"),
                format!("{:?} is used by another feed", f.name),
            );
        }
        validate_platform(f, &at, errs);
        if let Some(cx) = &f.context {
            for (key, names) in [
                ("malware", &cx.malware),
                ("tools", &cx.tools),
                ("groups", &cx.groups),
                ("campaigns", &cx.campaigns),
                ("techniques", &cx.techniques),
            ] {
                if names.len() > 32 {
                    errs.push(format!("{at}.context.{key}"), "at most 32 names");
                }
                if names.iter().any(|n| n.trim().is_empty() || n.len() > 128) {
                    errs.push(
                        format!("{at}.context.{key}"),
                        "names must be 1 to 128 bytes",
                    );
                }
            }
        }
        match (&f.path, &f.url) {
            (Some(p), None) => must_exist(p, &format!("{at}.path"), errs),
            (None, Some(u)) => match url::Url::parse(u) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => errs.push(format!("{at}.url"), format!("{u:?} is not an http(s) URL")),
            },
            _ => errs.push(at.clone(), "needs exactly one of `path` and `url`"),
        }
        if !(f.weight.is_finite() && f.weight >= 0.0) {
            errs.push(format!("{at}.weight"), "must be a number >= 0");
        }
        for (key, v) in [("confidence", f.confidence), ("severity", f.severity)] {
            if v.is_some_and(|v| v > 100) {
                errs.push(format!("{at}.{key}"), "must be between 0 and 100");
            }
        }
        if f.min_prefix_v4 > 32 {
            errs.push(format!("{at}.min_prefix_v4"), "must be between 0 and 32");
        }
        if f.min_prefix_v6 > 128 {
            errs.push(format!("{at}.min_prefix_v6"), "must be between 0 and 128");
        }
        for (key, p) in [
            ("ca_file", &f.http.ca_file),
            ("client_cert", &f.http.client_cert),
            ("client_key", &f.http.client_key),
        ] {
            if let Some(p) = p {
                must_exist(p, &format!("{at}.http.{key}"), errs);
            }
        }
        if f.http.client_cert.is_some() != f.http.client_key.is_some() {
            errs.push(
                format!("{at}.http"),
                "`client_cert` and `client_key` go together",
            );
        }
        if f.cache.is_some() && f.url.is_none() {
            errs.push(format!("{at}.cache"), "only a URL feed has a cache");
        }
        if f.refresh.is_some_and(|r| r.is_zero()) {
            errs.push(format!("{at}.refresh"), "must be longer than 0s");
        }
        if f.http.timeout.is_zero() {
            errs.push(format!("{at}.http.timeout"), "must be longer than 0s");
        }
        validate_guard(
            &at,
            f.max_shrink(),
            f.max_rejected(),
            f.keep_rejected(),
            errs,
        );
        if f.http.max_bytes == 0 {
            errs.push(format!("{at}.http.max_bytes"), "must be at least 1");
        }
        check_numbers(f, &at, errs);
        if let Some(m) = &f.csv {
            if !m.delimiter.is_ascii() {
                errs.push(format!("{at}.csv.delimiter"), "must be one ASCII character");
            }
            let cols = [
                ("value", &m.value),
                ("type", &m.kind),
                ("path", &m.path),
                ("confidence", &m.confidence),
                ("severity", &m.severity),
                ("tags", &m.tags),
                ("malware", &m.malware),
                ("threat_actor", &m.threat_actor),
                ("first_seen", &m.first_seen),
                ("last_seen", &m.last_seen),
                ("valid_until", &m.valid_until),
                ("tlp", &m.tlp),
                ("description", &m.description),
            ];
            for (key, c) in cols {
                match c {
                    Some(ColumnRef::Index(0)) => {
                        errs.push(format!("{at}.csv.{key}"), "columns are numbered from 1")
                    }
                    Some(ColumnRef::Name(_)) if !m.header => errs.push(
                        format!("{at}.csv.{key}"),
                        "a column name needs `header = true`; use its number",
                    ),
                    _ => {}
                }
            }
            if !m.header && m.value.is_none() {
                errs.push(
                    format!("{at}.csv.value"),
                    "without a header row, the value column must be given by number",
                );
            }
        }
        if f.format != FeedFormat::Csv && f.format != FeedFormat::Auto && f.csv.is_some() {
            errs.push(format!("{at}.csv"), "is only for `format = \"csv\"`");
        }
    }
    for (i, a) in allowlists.iter().enumerate() {
        must_exist(&a.path, &format!("allowlists[{i}].path"), errs);
    }
}

/// Bounds of a feed's durations and counts that timers and clocks need (`refresh` is added to
/// the clock: a huge one would overflow it).
fn check_numbers(f: &FeedConfig, at: &str, errs: &mut ConfigErrors) {
    if let Some(r) = f.refresh {
        super::at_most(r, super::MAX_DURATION, &format!("{at}.refresh"), errs);
    }
    if let Some(t) = f.ttl {
        super::positive(t, &format!("{at}.ttl"), errs);
    }
    super::at_most(
        f.http.timeout,
        super::MAX_DURATION,
        &format!("{at}.http.timeout"),
        errs,
    );
    super::at_most(
        f.http.retry_delay,
        super::MAX_DURATION,
        &format!("{at}.http.retry_delay"),
        errs,
    );
    if f.http.retries > 100 {
        errs.push(format!("{at}.http.retries"), "must be at most 100");
    }
}
