//! Indicators from feeds: parse, normalize, merge with provenance, compile.
//!
//! Read [`catalog::Catalog`] first: it holds every configured feed's parsed listings, fetch
//! state and the allowlists, refreshes feeds (files and HTTP) on their schedule, and compiles
//! them into one [`IocSet`] with [`catalog::Catalog::compile`]. Compiling applies the
//! per-feed settings, the safety [`rails`], the [`allowlist`]s and the lifecycle (expiry,
//! revocation, TTL) to the listings kept in memory, so expiry is re-evaluated without reading
//! a feed again.
//!
//! Underneath, [`feed`] turns a document of any supported format into listings, each a
//! canonical [`Pattern`](iocd_engine::Pattern) (from [`parse_indicator`]: refang, case, IDNA, canonical IPs and URLs,
//! hash type by length) plus the feed's metadata. The engine's [`Compiler`] merges the same
//! indicator from many feeds into one indicator with one source per feed. A record that does not
//! become an indicator is a [`Rejected`] with its file and line (or JSON/XML path) and a
//! [`Reason`]; it never rejects the feed.
//!
//! [`SetBuilder`] is the small synchronous path for plain lists (`--iocs FILE`).

pub mod allowlist;
pub mod catalog;
pub mod feed;
pub mod fetch;
mod listings;
mod normalize;
pub mod rails;
pub mod setfile;
pub mod tip;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use catalog::{Catalog, Fate, ListingFate, RefreshReport, load_config_feeds};
pub(crate) use normalize::https_of;
pub use normalize::{Reject, https_twin, parse_indicator, refang};
pub use rails::Rail;

use iocd_engine::{Compiler, IocKind, IocSet, SourceRef};

/// Why a feed record is not (an active) part of the set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The value is not a valid indicator.
    #[error("{0}")]
    Invalid(#[from] Reject),
    /// The feed said one type and the value is another.
    #[error("declared {declared} but the value is a {found}")]
    TypeMismatch {
        declared: &'static str,
        found: IocKind,
    },
    /// A valid record of something iocd cannot match (a STIX pattern with AND, a MISP
    /// `ssdeep`, an OpenIOC registry value, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The record itself is broken (a CSV row too short, an attribute without a value).
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The record nests deeper than a parser allows (a STIX pattern's parentheses, OpenIOC
    /// `Indicator` groups): `limit` levels, see `feed::limits`.
    #[error("nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// The record is over a size or count limit of its parser (a value longer than any log
    /// line iocd reads, a STIX pattern with too many comparisons); says which, see
    /// `feed::limits`.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A safety rail rejected the indicator.
    #[error("{0}")]
    Rail(#[from] Rail),
    /// An allowlist (named) holds the indicator.
    #[error("on allowlist {0}")]
    Allowlisted(String),
}

impl Reason {
    /// A short, stable name for reports and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Invalid(r) => r.code(),
            Reason::TypeMismatch { .. } => "type_mismatch",
            Reason::Unsupported(_) => "unsupported",
            Reason::Malformed(_) => "malformed",
            Reason::TooDeep { .. } => "too_deep",
            Reason::TooLarge(_) => "too_large",
            Reason::Rail(r) => r.code(),
            Reason::Allowlisted(_) => "allowlisted",
        }
    }
}

/// A feed record that did not become an indicator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The feed's location (path or URL).
    pub location: String,
    /// 1-based line number; 0 when the format has no lines (see `at`).
    pub line: u32,
    /// Where in a JSON document the record is (`$.response[0].Event.Attribute[3]`).
    pub at: Option<String>,
    /// The value as it was in the feed (the canonical indicator for rails and allowlists).
    pub value: String,
    pub reason: Reason,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(at) = &self.at {
            write!(f, ": at {at}")?;
        }
        write!(f, ": {}: {:?}", self.reason, self.value)
    }
}

/// What loading feeds did, beside the set itself.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Values read (listings kept plus records rejected), over all feeds.
    pub listings: u64,
    /// Listings of an indicator that an earlier listing (same or another feed) already had.
    pub merged: u64,
    /// Records dropped, with where and why: from a configuration's feeds, the first
    /// `keep_rejected` of each feed (every one is counted in [`FeedReport::rejected_by`]);
    /// from [`SetBuilder`], every one.
    pub rejected: Vec<Rejected>,
    pub feeds: Vec<FeedReport>,
    /// The allowlists applied (empty for [`SetBuilder`]).
    pub allowlists: Vec<AllowlistReport>,
}

impl LoadReport {
    /// Records rejected over all feeds, kept or only counted.
    pub fn rejected_count(&self) -> u64 {
        self.feeds.iter().map(|f| f.rejected).sum()
    }

    /// Rejected records over all feeds, by reason, kept or only counted.
    pub fn rejected_by(&self) -> BTreeMap<&'static str, u64> {
        let mut by = BTreeMap::new();
        for f in &self.feeds {
            for (reason, n) in &f.rejected_by {
                *by.entry(*reason).or_insert(0) += n;
            }
        }
        by
    }
}

/// Per-feed counts in a [`LoadReport`].
#[derive(Clone, Debug, Default)]
pub struct FeedReport {
    pub name: String,
    pub location: String,
    /// The format the feed was read as (`plain`, `csv`, ...); empty when it never loaded.
    pub format: &'static str,
    /// Listings that went into the set (active, not rejected).
    pub accepted: u64,
    /// Of those, listings of an indicator the set already had.
    pub merged: u64,
    /// Records rejected (invalid, unsupported, rails, allowlists): `rejected_by` sums to it.
    pub rejected: u64,
    pub rejected_by: BTreeMap<&'static str, u64>,
    /// Listings kept but not matched: `revoked`, `expired` (past valid_until), `ttl`.
    pub inactive: u64,
    pub inactive_by: BTreeMap<&'static str, u64>,
    /// Records skipped by design: `type_filter`, `not_to_ids`, `empty_value`.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Bytes of the feed document(s) of the generation in use.
    pub bytes: u64,
    /// When the generation in use was read, or last found unchanged.
    pub loaded_at: Option<std::time::SystemTime>,
    /// Why the last refresh failed (the previous generation, if any, is still in use).
    pub error: Option<String>,
}

/// Per-allowlist counts in a [`LoadReport`].
#[derive(Clone, Debug, Default)]
pub struct AllowlistReport {
    pub name: String,
    pub location: String,
    /// Entries loaded.
    pub entries: u64,
    /// Entries that could not be read as values of the list's type.
    pub rejected: u64,
    /// Listings it dropped at the last compile.
    pub dropped: u64,
    /// Why it could not be read (the previous version, if any, is still in use).
    pub error: Option<String>,
}

/// Error reading a feed at all (as opposed to a bad line in it).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read feed {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the feed loader: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Builds an [`IocSet`] from feeds.
pub struct SetBuilder {
    compiler: Compiler,
    report: LoadReport,
}

impl Default for SetBuilder {
    fn default() -> Self {
        SetBuilder::new()
    }
}

impl SetBuilder {
    pub fn new() -> SetBuilder {
        SetBuilder {
            compiler: Compiler::new(),
            report: LoadReport::default(),
        }
    }

    /// Adds a plain-list feed: one indicator per line, its type inferred.
    ///
    /// Skipped: a byte-order mark, blank lines, lines starting with `#`, `!`, `//` or `;`. The
    /// value is the line's first field (up to white space; for non-URLs also up to `;` or `,`),
    /// so `1.2.3.4  # comment`, `1.2.3.4<TAB>10` and `hash;description` all work. A value with a
    /// `string:`/`istring:` prefix takes the whole rest of the line. Returns the rejected lines
    /// of this feed (also kept in the report).
    pub fn add_plain_list(&mut self, name: &str, location: &str, text: &[u8]) -> Vec<Rejected> {
        let feed_no = self.compiler.add_feed(name, location);
        let parsed = feed::parse(
            feed::FeedFormat::Plain,
            location,
            text,
            &feed::ParseOptions::default(),
        )
        .expect("a plain list always parses");
        let mut accepted = 0;
        for l in &parsed.listings {
            let src = SourceRef::plain(feed_no, l.line);
            let new = self.compiler.add(&l.pattern, src);
            if !l.twin {
                accepted += 1;
                self.report.listings += 1;
                if !new {
                    self.report.merged += 1;
                }
            }
        }
        let rejected = parsed.rejected;
        self.report.listings += rejected.len() as u64;
        let mut rejected_by = BTreeMap::new();
        for r in &rejected {
            *rejected_by.entry(r.reason.code()).or_insert(0) += 1;
        }
        self.report.feeds.push(FeedReport {
            name: name.to_owned(),
            location: location.to_owned(),
            format: "plain",
            accepted,
            rejected: rejected.len() as u64,
            rejected_by,
            bytes: text.len() as u64,
            ..FeedReport::default()
        });
        self.report.rejected.extend(rejected.iter().cloned());
        rejected
    }

    /// Compiles the set.
    pub fn build(self) -> IocSet {
        self.compiler.build()
    }

    /// Compiles the set and returns what loading did.
    pub fn finish(self) -> (IocSet, LoadReport) {
        (self.compiler.build(), self.report)
    }
}

/// The feed name for a file: its file name without the extension.
pub fn feed_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Loads plain-list files, one feed per file, into a set.
pub fn load_plain_files(paths: &[PathBuf]) -> Result<(IocSet, LoadReport), LoadError> {
    let mut b = SetBuilder::new();
    for path in paths {
        let text = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        b.add_plain_list(&feed_name(path), &path.display().to_string(), &text);
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_engine::{IocKind, Scratch};

    #[test]
    fn plain_list_messy_lines() {
        let text = "\u{feff}# header\r\n\
                    1.2.3.4  # inline\r\n\
                    evil[.]com\t42\n\
                    \n\
                    ! ublock style comment\n\
                    d41d8cd98f00b204e9800998ecf8427e;empty file\n\
                    not_an_indicator\n\
                    hxxp://bad.example/x?a=1,b=2\n\
                    string:Mozilla/4.0 (compatible; MSIE 2.0)  \n\
                    EVIL.COM.\n";
        let mut b = SetBuilder::new();
        let rej = b.add_plain_list("f", "f.txt", text.as_bytes());
        assert_eq!(rej.len(), 1);
        assert_eq!(rej[0].line, 7);
        assert_eq!(rej[0].value, "not_an_indicator");
        assert_eq!(
            rej[0].to_string(),
            "f.txt:7: invalid domain name: \"not_an_indicator\""
        );
        let (set, report) = b.finish();
        assert_eq!(set.len(), 5);
        assert_eq!(report.merged, 1, "EVIL.COM. is evil.com again");
        let url = parse_indicator("http://bad.example/x?a=1,b=2").unwrap();
        assert!(set.find(&url).is_some(), "a URL keeps its commas");
        let counts: Vec<_> = set.counts().into_iter().filter(|c| c.1 > 0).collect();
        assert_eq!(
            counts,
            vec![
                (IocKind::Ipv4, 1),
                (IocKind::Domain, 1),
                (IocKind::Url, 1),
                (IocKind::Md5, 1),
                (IocKind::String, 1)
            ]
        );
    }

    #[test]
    fn same_indicator_two_feeds_is_one_with_two_sources() {
        let mut b = SetBuilder::new();
        b.add_plain_list("a", "a.txt", b"# a\n1.2.3.4\n");
        b.add_plain_list("b", "b.txt", b"x.com\n1.2.3.4:80\n1.2.3.4\n");
        let (set, report) = b.finish();
        assert_eq!(set.len(), 2);
        assert_eq!(report.merged, 2);
        let id = set.find(&parse_indicator("1.2.3.4").unwrap()).unwrap();
        let src = set.sources(id);
        assert_eq!(src, &[SourceRef::plain(0, 2), SourceRef::plain(1, 2)]);
        let mut hits = Vec::new();
        set.scan(b"src=1.2.3.4:443", &mut Scratch::new(), &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(set.feeds()[src[1].feed as usize].name, "b");
    }
}
