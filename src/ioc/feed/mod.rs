//! Feed formats: from a feed document to [`Listing`]s, one module per format.
//!
//! Read [`parse`] first. Every format ends in the same place: a [`Listing`] is one canonical
//! [`Pattern`] (built by the same normalization as plain lists, [`parse_indicator`]), the line it
//! came from, and what the feed said about it ([`Meta`]: confidence, severity, tags, times,
//! TLP, description) plus whether the feed revoked it. A record that does not become a listing
//! is a [`Rejected`] with its file and line (or, for JSON and XML, the path of the element) and a
//! reason; records skipped by design (MISP attributes not meant for detection) are only counted.
//! A bad record never rejects the document; a document that cannot be read as its format at all
//! (broken JSON, no value column) is a [`FeedError`], and the caller keeps the previous
//! generation of that feed.
//!
//! | format | module | what becomes a listing |
//! |---|---|---|
//! | plain | `plain` | the first field of each line, type inferred |
//! | CSV | `csv` | the `value` column, typed by the `type` column when mapped, metadata columns per the mapping |
//! | Zeek intel | `zeek` | `indicator` typed by `indicator_type`, `meta.*` columns |
//! | MISP | `misp` | attributes (and object attributes) whose type maps to an indicator kind |
//! | STIX 2.1 | `stix` | comparisons of indicator patterns made only of `=`/`IN`/`ISSUBSET` joined by `OR` |
//! | OpenIOC 1.0 | `openioc` | `IndicatorItem`s whose search term maps to an indicator kind |
//!
//! Detection ([`detect`]) looks at the first bytes: `<` is OpenIOC, JSON is STIX or MISP by its
//! keys, a `#fields` header is Zeek, a header row naming a known value column is CSV, anything
//! else is a plain list.

mod csv;
mod misp;
mod openioc;
mod plain;
mod stix;
mod zeek;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::config::feeds::{ColumnRef, CsvMapping};
pub(crate) use plain::plain_value;

pub use crate::config::feeds::FeedFormat;
use crate::ioc::{Reason, Rejected, https_of, https_twin, parse_indicator};
use crate::matcher::{IocKind, Meta, Pattern, Tlp};

/// One feed's listing of one indicator.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    pub pattern: Pattern,
    /// 1-based line in the document; 0 when the format has no meaningful lines (JSON).
    pub line: u32,
    /// What the feed said beyond listing it; `None` for a bare listing.
    pub meta: Option<Box<Meta>>,
    /// The feed withdrew it (STIX `revoked`, MISP `deleted`): kept for the report, never matched.
    pub revoked: bool,
    /// The HTTPS twin of a URL listed without a scheme: matched, not counted as a listing.
    pub twin: bool,
}

/// What parsing one feed document gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub listings: Vec<Listing>,
    pub rejected: Vec<Rejected>,
    /// Records skipped by design, by reason code: counted, not listed one by one.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The format the document was read as (never `Auto`).
    pub format: FeedFormat,
}

impl Parsed {
    fn new(format: FeedFormat) -> Parsed {
        Parsed {
            format,
            ..Parsed::default()
        }
    }

    /// Listings that count (twins excluded).
    pub fn count(&self) -> usize {
        self.listings.iter().filter(|l| !l.twin).count()
    }

    pub(crate) fn skip(&mut self, code: &'static str) {
        *self.skipped.entry(code).or_insert(0) += 1;
    }

    /// Records a listing of `value` read with `hint`, or rejects it.
    pub(crate) fn add_value(
        &mut self,
        src: &Src<'_>,
        value: &str,
        hint: Hint,
        meta: Option<&Meta>,
        revoked: bool,
    ) {
        match typed(value, hint) {
            Ok((pattern, twin)) => self.push(src.line, pattern, twin, meta, revoked),
            Err(reason) => self.reject(src, value, reason),
        }
    }

    /// Records a URL given as host and path without a scheme: the HTTP URL, and its HTTPS twin.
    pub(crate) fn add_host_path(&mut self, src: &Src<'_>, host_path: &str, meta: Option<&Meta>) {
        match typed(&format!("http://{host_path}"), Hint::Url) {
            Ok((pattern, _)) => {
                // The path may hold a URL of its own (`/web/2022/https://...`): the host and
                // path had no scheme, so the twin is due whatever the path says.
                let twin = https_of(&pattern);
                self.push(src.line, pattern, twin, meta, false);
            }
            Err(reason) => self.reject(src, host_path, reason),
        }
    }

    /// One listing, and the HTTPS twin of a scheme-less URL (matched, not counted).
    fn push(
        &mut self,
        line: u32,
        pattern: Pattern,
        twin: Option<Pattern>,
        meta: Option<&Meta>,
        revoked: bool,
    ) {
        let meta = meta
            .filter(|m| **m != Meta::default())
            .map(|m| Box::new(m.clone()));
        self.listings.push(Listing {
            pattern,
            line,
            meta: meta.clone(),
            revoked,
            twin: false,
        });
        if let Some(t) = twin {
            self.listings.push(Listing {
                pattern: t,
                line,
                meta,
                revoked,
                twin: true,
            });
        }
    }

    pub(crate) fn reject(&mut self, src: &Src<'_>, value: &str, reason: Reason) {
        self.rejected.push(Rejected {
            location: src.location.to_owned(),
            line: src.line,
            at: src.at.map(str::to_owned),
            value: value.to_owned(),
            reason,
        });
    }
}

/// Where a record is: the feed, its line, or its path inside a JSON or XML document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Src<'a> {
    pub location: &'a str,
    pub line: u32,
    pub at: Option<&'a str>,
}

/// A feed document that cannot be read as its format at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct FeedError {
    pub location: String,
    pub message: String,
}

impl FeedError {
    pub(crate) fn new(location: &str, message: impl Into<String>) -> FeedError {
        FeedError {
            location: location.to_owned(),
            message: message.into(),
        }
    }
}

/// How to read a feed beyond its bytes.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// Column mapping for CSV (config `[feeds.csv]`); header names are guessed without one.
    pub csv: Option<CsvMapping>,
    /// MISP: import only attributes flagged `to_ids`.
    pub to_ids_only: bool,
}

/// Parses one feed document.
pub fn parse(
    format: FeedFormat,
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Parsed, FeedError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let format = match format {
        FeedFormat::Auto => detect(location, bytes, opts)?,
        f => f,
    };
    match format {
        FeedFormat::Auto | FeedFormat::Plain => Ok(plain::parse(location, bytes)),
        FeedFormat::Csv => csv::parse(location, bytes, opts.csv.as_ref()),
        FeedFormat::Zeek => zeek::parse(location, bytes),
        FeedFormat::Misp => misp::parse(location, bytes, opts),
        FeedFormat::Stix => stix::parse(location, bytes),
        FeedFormat::Openioc => openioc::parse(location, bytes),
    }
}

/// Reads a feed from a local path: a file, or a MISP feed folder (one with `manifest.json`).
pub fn parse_path(
    format: FeedFormat,
    path: &Path,
    opts: &ParseOptions,
) -> Result<(Parsed, u64), FeedError> {
    let location = path.display().to_string();
    if path.is_dir() {
        if !matches!(format, FeedFormat::Auto | FeedFormat::Misp) {
            return Err(FeedError::new(
                &location,
                "is a folder: only MISP feed folders (with manifest.json) can be read",
            ));
        }
        return misp::parse_folder(path, opts);
    }
    let bytes =
        std::fs::read(path).map_err(|e| FeedError::new(&location, format!("cannot read: {e}")))?;
    let n = bytes.len() as u64;
    Ok((parse(format, &location, &bytes, opts)?, n))
}

/// The format of a document, from its first bytes (and its name, for CSV and OpenIOC).
pub fn detect(location: &str, bytes: &[u8], opts: &ParseOptions) -> Result<FeedFormat, FeedError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let lower = location.to_ascii_lowercase();
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(FeedFormat::Plain);
    };
    match bytes[first] {
        b'<' => return Ok(FeedFormat::Openioc),
        b'{' | b'[' => {
            // Peek at the first kilobytes for the keys that tell the JSON formats apart.
            let head = &bytes[first..bytes.len().min(first + 64 * 1024)];
            let head = String::from_utf8_lossy(head);
            let has = |k: &str| head.contains(&format!("\"{k}\""));
            if has("objects") || head.contains("\"bundle\"") || head.contains("\"spec_version\"") {
                return Ok(FeedFormat::Stix);
            }
            if has("Event") || has("response") || has("Attribute") {
                return Ok(FeedFormat::Misp);
            }
            return Err(FeedError::new(
                location,
                "JSON that is neither a STIX 2.1 bundle nor MISP (no \"objects\", \"Event\" or \"response\" key); set `format` if it is one",
            ));
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(&bytes[first..bytes.len().min(first + 16 * 1024)]);
    for line in text.lines().take(16) {
        if line.starts_with("#fields") && line.contains("indicator") {
            return Ok(FeedFormat::Zeek);
        }
    }
    if lower.ends_with(".ioc") {
        return Ok(FeedFormat::Openioc);
    }
    if opts.csv.is_some() || csv::has_known_header(&text) {
        return Ok(FeedFormat::Csv);
    }
    Ok(FeedFormat::Plain)
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Auto => "auto",
            FeedFormat::Plain => "plain",
            FeedFormat::Csv => "csv",
            FeedFormat::Zeek => "zeek",
            FeedFormat::Misp => "misp",
            FeedFormat::Stix => "stix",
            FeedFormat::Openioc => "openioc",
        }
    }
}

/// What a format said a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Infer the type, as for plain lists.
    Any,
    /// An IPv4 or IPv6 address or network.
    Ip,
    Domain,
    /// A URL; a bare host or address is taken too (URL columns often hold them).
    Url,
    /// md5, sha1 or sha256 by length.
    Hash,
    Md5,
    Sha1,
    Sha256,
    Email,
    /// A free string (file name, mutex, user agent, registry key), taken verbatim.
    Str {
        ci: bool,
    },
}

impl Hint {
    fn allows(self, k: IocKind) -> bool {
        use IocKind as K;
        match self {
            Hint::Any => true,
            Hint::Ip => matches!(k, K::Ipv4 | K::Ipv6 | K::Cidr),
            Hint::Domain => k == K::Domain,
            Hint::Url => matches!(k, K::Url | K::Domain | K::Ipv4 | K::Ipv6),
            Hint::Hash => matches!(k, K::Md5 | K::Sha1 | K::Sha256),
            Hint::Md5 => k == K::Md5,
            Hint::Sha1 => k == K::Sha1,
            Hint::Sha256 => k == K::Sha256,
            Hint::Email => k == K::Email,
            Hint::Str { .. } => k == K::String,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hint::Any => "any",
            Hint::Ip => "an IP address",
            Hint::Domain => "a domain",
            Hint::Url => "a URL",
            Hint::Hash => "a hash",
            Hint::Md5 => "an md5",
            Hint::Sha1 => "a sha1",
            Hint::Sha256 => "a sha256",
            Hint::Email => "an e-mail address",
            Hint::Str { .. } => "a string",
        }
    }
}

/// The hint for a type name as CSV columns, Zeek and MISP write it (`ip`, `ip:port`,
/// `ip-dst|port`, `Intel::ADDR`, `domain-name`, `sha256_hash`, `filename`, ...); `None` for a
/// type iocd cannot match.
pub(crate) fn hint_for_type(name: &str) -> Option<Hint> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("intel::").unwrap_or(&n);
    let n = n.strip_suffix("_hash").unwrap_or(n);
    Some(match n {
        "" | "auto" | "any" => Hint::Any,
        "ip" | "ipv4" | "ipv6" | "ip:port" | "ip-src" | "ip-dst" | "ip-src|port"
        | "ip-dst|port" | "addr" | "ipv4-addr" | "ipv6-addr" | "cidr" | "subnet" | "network"
        | "netblock" => Hint::Ip,
        "domain" | "hostname" | "fqdn" | "host" | "domain-name" | "dns" => Hint::Domain,
        "url" | "uri" | "link" => Hint::Url,
        "md5" | "ja3" | "imphash" => Hint::Md5,
        "sha1" | "sha-1" | "cert" | "x509-fingerprint-sha1" => Hint::Sha1,
        "sha256" | "sha-256" | "authentihash" => Hint::Sha256,
        "hash" | "file" | "filehash" | "file-hash" => Hint::Hash,
        "email" | "email-addr" | "email-src" | "email-dst" | "e-mail" => Hint::Email,
        "string" | "software" | "user-agent" | "useragent" | "user_agent" | "file_name"
        | "filename" | "mutex" | "user_name" => Hint::Str { ci: false },
        "istring" | "regkey" | "registry" => Hint::Str { ci: true },
        _ => return None,
    })
}

/// Parses a value the feed typed; returns the pattern and, for a schemeless URL, its HTTPS twin.
pub(crate) fn typed(value: &str, hint: Hint) -> Result<(Pattern, Option<Pattern>), Reason> {
    let value = value.trim();
    if let Hint::Str { ci } = hint {
        let text = value.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(Reason::Invalid(crate::ioc::Reject::EmptyString));
        }
        if text.contains(['\n', '\r']) {
            return Err(Reason::Malformed("a string indicator spans lines".into()));
        }
        let text = if ci {
            text.to_lowercase()
        } else {
            text.to_owned()
        };
        return Ok((
            Pattern::String {
                text,
                case_insensitive: ci,
            },
            None,
        ));
    }
    let p = parse_indicator(value)?;
    if !hint.allows(p.kind()) {
        return Err(Reason::TypeMismatch {
            declared: hint.name(),
            found: p.kind(),
        });
    }
    let twin = https_twin(value, &p);
    Ok((p, twin))
}

/// A time as feeds write it, in Unix seconds: Unix seconds or milliseconds, RFC 3339, ISO 8601
/// without a zone (UTC), `YYYY-MM-DD HH:MM:SS` (abuse.ch), `YYYY-MM-DD`, or US `M/D/YYYY H:MM`.
pub fn parse_time(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim().trim_end_matches(" UTC").trim();
    if s.is_empty() || s == "-" {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return Some(if n > 100_000_000_000 { n / 1000 } else { n });
    }
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some(f as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp());
        }
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
        }
    }
    None
}

/// A 0-100 score: a number (`85`, `85.0`, `0.85` read as a fraction), or a word (`high`,
/// `medium`, `low`; for severity also `critical` and `info`).
pub fn parse_score(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || f < 0.0 {
            return None;
        }
        let v = if f > 0.0 && f < 1.0 { f * 100.0 } else { f };
        return (v <= 100.0).then_some(v.round() as u8);
    }
    match s.to_ascii_lowercase().as_str() {
        "critical" | "very high" => Some(100),
        "high" => Some(75),
        "medium" | "moderate" => Some(50),
        "low" => Some(25),
        "info" | "informational" | "none" => Some(0),
        _ => None,
    }
}

/// A TLP marking as feeds write it: `TLP:AMBER`, `tlp:white`, `green`, `amber+strict`.
pub fn parse_tlp(s: &str) -> Option<Tlp> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_prefix("tlp:").unwrap_or(&s).trim_matches('"');
    match s {
        "clear" | "white" => Some(Tlp::Clear),
        "green" => Some(Tlp::Green),
        "amber" => Some(Tlp::Amber),
        "amber+strict" | "amber-strict" => Some(Tlp::AmberStrict),
        "red" => Some(Tlp::Red),
        _ => None,
    }
}

/// 1-based line of byte offset `pos` in `bytes`.
pub(crate) fn line_at(bytes: &[u8], pos: usize) -> u32 {
    let pos = pos.min(bytes.len());
    u32::try_from(memchr::memchr_iter(b'\n', &bytes[..pos]).count() + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let cases = [
            ("1472548231", Some(1472548231)),
            ("1472548231000", Some(1472548231)),
            ("2016-08-30T09:10:31Z", Some(1472548231)),
            ("2016-08-30T09:10:31.000Z", Some(1472548231)),
            ("2016-08-30T11:10:31+02:00", Some(1472548231)),
            ("2016-08-30 09:10:31", Some(1472548231)),
            ("2016-08-30 09:10:31 UTC", Some(1472548231)),
            ("2016-08-30T09:10:31", Some(1472548231)),
            ("2016-08-30", Some(1472515200)),
            ("8/30/2016 9:10", Some(1472548200)),
            ("-", None),
            ("yesterday", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s), want, "{s}");
        }
    }

    #[test]
    fn scores_and_tlp() {
        assert_eq!(parse_score("85"), Some(85));
        assert_eq!(parse_score("0.5"), Some(50));
        assert_eq!(parse_score("High"), Some(75));
        assert_eq!(parse_score("101"), None);
        assert_eq!(parse_score("x"), None);
        assert_eq!(parse_tlp("TLP:WHITE"), Some(Tlp::Clear));
        assert_eq!(parse_tlp("tlp:amber+strict"), Some(Tlp::AmberStrict));
        assert_eq!(parse_tlp("purple"), None);
    }

    #[test]
    fn typed_values() {
        let (p, twin) = typed("evil.com/x", Hint::Url).unwrap();
        assert_eq!(p.to_string(), "http://evil.com/x");
        assert_eq!(twin.unwrap().to_string(), "https://evil.com/x");
        assert_eq!(
            typed("evil.com", Hint::Ip),
            Err(Reason::TypeMismatch {
                declared: "an IP address",
                found: IocKind::Domain
            })
        );
        assert_eq!(
            typed("Global\\EvilMutex", Hint::Str { ci: true })
                .unwrap()
                .0,
            Pattern::String {
                text: "global\\evilmutex".into(),
                case_insensitive: true
            }
        );
        assert!(matches!(
            typed("1.2.3.0/24", Hint::Ip).unwrap().0,
            Pattern::Cidr(_)
        ));
        assert!(typed("d41d8cd98f00b204e9800998ecf8427e", Hint::Sha1).is_err());
    }

    #[test]
    fn detection() {
        let o = ParseOptions::default();
        let d = |name: &str, text: &str| detect(name, text.as_bytes(), &o).unwrap();
        assert_eq!(d("x", "1.2.3.4\n"), FeedFormat::Plain);
        assert_eq!(
            d("x", "#fields\tindicator\tindicator_type\n"),
            FeedFormat::Zeek
        );
        assert_eq!(
            d("x", "# banner\n\"first_seen_utc\",\"dst_ip\"\n"),
            FeedFormat::Csv
        );
        assert_eq!(d("x", "103.29.68.0/22,linode\n"), FeedFormat::Plain);
        assert_eq!(
            d("x", "{\"type\": \"bundle\", \"objects\": []}"),
            FeedFormat::Stix
        );
        assert_eq!(
            d("x", "{\"response\": [{\"Event\": {}}]}"),
            FeedFormat::Misp
        );
        assert_eq!(d("x", "<?xml version='1.0'?><ioc/>"), FeedFormat::Openioc);
        assert!(detect("x", b"{\"asn\": 1}\n", &o).is_err());
    }
}
