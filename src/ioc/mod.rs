//! Indicators from feeds: parse, normalize, merge with provenance, compile.
//!
//! Read [`SetBuilder`] first. It takes feeds one at a time, turns each value into a canonical
//! [`Pattern`] with [`parse_indicator`], and hands it to the engine's
//! [`Compiler`], which merges the same indicator from many feeds into one indicator with one
//! source per feed. A bad line is reported as a [`Rejected`] with its file and line and skipped;
//! it never rejects the feed.
//!
//! Formats: plain lists (one indicator per line, type inferred). Feed formats with per-value
//! metadata (CSV, MISP, STIX, OpenIOC, Zeek intel) plug in beside [`SetBuilder::add_plain_list`]
//! and produce the same `(Pattern, SourceRef)` listings.

mod normalize;

use std::fmt;
use std::path::{Path, PathBuf};

pub use normalize::{Reject, https_twin, parse_indicator, refang};

use crate::matcher::{Compiler, IocSet, Pattern, SourceRef};

/// A feed line that did not become an indicator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The feed's location (path) as given to the builder.
    pub location: String,
    /// 1-based line number.
    pub line: u32,
    /// The value as it was in the feed.
    pub value: String,
    pub reason: Reject,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {:?}",
            self.location, self.line, self.reason, self.value
        )
    }
}

/// What loading feeds did, beside the set itself.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Values read, one per non-comment line.
    pub listings: u64,
    /// Listings of an indicator that an earlier listing (same or another feed) already had.
    pub merged: u64,
    pub rejected: Vec<Rejected>,
    /// Per feed: (name, location, listings accepted, lines rejected).
    pub feeds: Vec<FeedReport>,
}

/// Per-feed counts in a [`LoadReport`].
#[derive(Clone, Debug, Default)]
pub struct FeedReport {
    pub name: String,
    pub location: String,
    pub accepted: u64,
    pub rejected: u64,
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
        let feed = self.compiler.add_feed(name, location);
        let mut accepted = 0;
        let mut rejected = Vec::new();
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let Ok(s) = std::str::from_utf8(raw) else {
                rejected.push(Rejected {
                    location: location.to_owned(),
                    line,
                    value: String::from_utf8_lossy(raw).into_owned(),
                    reason: Reject::NotUtf8,
                });
                continue;
            };
            let Some(value) = plain_value(s) else {
                continue;
            };
            self.report.listings += 1;
            match parse_indicator(value) {
                Ok(p) => {
                    accepted += 1;
                    let src = SourceRef::plain(feed, line);
                    if !self.compiler.add(&p, src) {
                        self.report.merged += 1;
                    }
                    if let Some(twin) = https_twin(value, &p) {
                        self.compiler.add(&twin, src);
                    }
                }
                Err(reason) => rejected.push(Rejected {
                    location: location.to_owned(),
                    line,
                    value: value.to_owned(),
                    reason,
                }),
            }
        }
        self.report.feeds.push(FeedReport {
            name: name.to_owned(),
            location: location.to_owned(),
            accepted,
            rejected: rejected.len() as u64,
        });
        self.report.rejected.extend(rejected.iter().cloned());
        rejected
    }

    /// Adds one already-canonical indicator from `feed` (a number from an earlier `add_*`).
    pub fn add_pattern(&mut self, pattern: &Pattern, source: SourceRef) {
        self.report.listings += 1;
        if !self.compiler.add(pattern, source) {
            self.report.merged += 1;
        }
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

/// The indicator on a plain-list line, or `None` for blank and comment lines.
fn plain_value(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.is_empty()
        || t.starts_with('#')
        || t.starts_with('!')
        || t.starts_with("//")
        || t.starts_with(';')
    {
        return None;
    }
    let has_prefix = |p: &str| t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if has_prefix("string:") || has_prefix("istring:") {
        return Some(t.trim_end());
    }
    let first = t.split([' ', '\t']).next().unwrap_or(t);
    if first.contains("://") {
        return Some(first);
    }
    Some(first.split([';', ',']).next().unwrap_or(first)).filter(|v| !v.is_empty())
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
    use crate::matcher::{IocKind, Scratch};

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
