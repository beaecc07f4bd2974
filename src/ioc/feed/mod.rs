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
//!
//! Feed documents are written by the adversary. Every parser is bounded ([`limits`]): nesting
//! deeper than [`limits::MAX_NESTING`] is a record rejected as `too_deep` (never a stack
//! overflow, which would abort the process), values and STIX patterns past their size and count
//! limits are rejected as `too_large`, and the metadata a listing keeps is capped, so memory
//! stays proportional to the document. Whatever slips through anyway stops at the panic
//! boundary of [`parse`] and [`parse_path`]: a panic in a parser is that document's
//! [`FeedError`] (`parser panicked: ...`), logged, and the feed keeps its previous generation.

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
use std::sync::Arc;

use iocd_engine::{Context, IocKind, Meta, Pattern, Technique, Tlp};

/// The bounds every feed parser keeps, whatever the document (docs/FEEDS.md, "Limits").
pub mod limits {
    /// Nesting levels a record may have: parentheses in a STIX pattern, `Indicator` groups
    /// around an OpenIOC `IndicatorItem`. Real feeds nest a handful; a deeper record is
    /// rejected as `too_deep`. (Raw JSON nesting is capped at 128 by `serde_json` itself: the
    /// document is then not JSON.)
    pub const MAX_NESTING: usize = 64;
    /// Bytes of one indicator value. A log line longer than 1 MiB is cut by the sources, and no
    /// real indicator comes near this; a longer value is rejected as `too_large`.
    pub(crate) const MAX_VALUE_BYTES: usize = 64 * 1024;
    /// Bytes of one STIX pattern; a longer pattern is rejected as `too_large`.
    pub(crate) const MAX_PATTERN_BYTES: usize = 1024 * 1024;
    /// Comparisons in one STIX pattern (each `IN` list value counts); more is `too_large`.
    pub const MAX_COMPARISONS: usize = 4096;
    /// Tags one listing keeps (further tags are not kept; counted as `tags_over_limit`).
    pub const MAX_TAGS: usize = 32;
    /// Bytes of one tag, and of a listing's description (longer ones are cut at a character
    /// boundary; counted as `meta_truncated`).
    pub const MAX_TAG_BYTES: usize = 128;
    pub const MAX_DESCRIPTION_BYTES: usize = 1024;
    /// Names of each kind (malware, tools, actors, campaigns, techniques, tactics) one record's
    /// threat context keeps, each at most `MAX_TAG_BYTES`; more are counted as
    /// `context_over_limit`.
    pub const MAX_CONTEXT_NAMES: usize = 32;
    /// Related objects (and their users) a STIX indicator's context looks at, at most.
    pub(crate) const MAX_CONTEXT_VISITS: usize = 64;
    /// Distinct contexts of one document that are shared between its listings (past it, each
    /// listing keeps its own copy, charged to the budget).
    pub(crate) const MAX_CONTEXTS_SHARED: usize = 65_536;
    /// Metadata bytes (descriptions and tags) all the listings of one document may keep:
    /// `META_BUDGET_BASE` plus `META_BUDGET_FACTOR` times the document's size. One record's
    /// metadata is copied to each of its values (a STIX pattern's comparisons, a MISP event's
    /// attributes); past the budget, listings keep their numbers and times but not their text
    /// (counted as `meta_over_budget`), so memory stays proportional to the document.
    pub(crate) const META_BUDGET_BASE: usize = 16 * 1024 * 1024;
    pub(crate) const META_BUDGET_FACTOR: usize = 4;
    /// Bytes of a rejected value kept for the report (the rest is elided).
    pub const MAX_REJECTED_VALUE_BYTES: usize = 256;
    /// Regular expressions one allowlist may hold (each is tried on every listing of a
    /// compile); further ones are rejected entries.
    pub(crate) const MAX_ALLOWLIST_REGEXES: usize = 1024;
}

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
    /// Metadata bytes listings may still keep (see [`limits::META_BUDGET_BASE`]).
    meta_budget: usize,
    /// The threat context last charged to the budget: the listings of one record share it,
    /// and it is paid for once.
    last_context: Option<Arc<Context>>,
    /// The distinct contexts of the document so far (at most [`limits::MAX_CONTEXTS_SHARED`]),
    /// so rows that say the same family share one copy.
    contexts: std::collections::HashSet<Arc<Context>>,
}

impl Parsed {
    /// The result of parsing a document of `len` bytes.
    fn new(format: FeedFormat, len: usize) -> Parsed {
        Parsed {
            format,
            meta_budget: limits::META_BUDGET_BASE
                .saturating_add(len.saturating_mul(limits::META_BUDGET_FACTOR)),
            ..Parsed::default()
        }
    }

    /// Listings that count (twins excluded).
    pub fn count(&self) -> usize {
        self.listings.iter().filter(|l| !l.twin).count()
    }

    /// One shared copy of `cx` for every listing of the document that has the same context.
    fn intern(&mut self, cx: Context) -> Arc<Context> {
        if let Some(c) = self.contexts.get(&cx) {
            return Arc::clone(c);
        }
        let c = Arc::new(cx);
        if self.contexts.len() < limits::MAX_CONTEXTS_SHARED {
            self.contexts.insert(Arc::clone(&c));
        }
        c
    }

    /// The threat context of listing `i` (tests).
    #[cfg(test)]
    pub(crate) fn context(&self, i: usize) -> Arc<Context> {
        self.listings[i]
            .meta
            .as_ref()
            .and_then(|m| m.context.clone())
            .unwrap_or_else(|| panic!("listing {i} has no context"))
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
            .map(|m| Box::new(self.keep_meta(m)));
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

    /// The copy of `m` a listing keeps: capped ([`limits::MAX_TAGS`], ...), and without its
    /// text once the document's metadata budget is spent.
    fn keep_meta(&mut self, m: &Meta) -> Meta {
        let text = m
            .description
            .as_ref()
            .map_or(0, |d| d.len().min(limits::MAX_DESCRIPTION_BYTES))
            + m.tags
                .iter()
                .take(limits::MAX_TAGS)
                .map(|t| t.len().min(limits::MAX_TAG_BYTES) + 24)
                .sum::<usize>();
        // Field by field (no `..`): a field added to `Meta` must be decided on here.
        let mut kept = Meta {
            confidence: m.confidence,
            severity: m.severity,
            tags: Vec::new(),
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            valid_until: m.valid_until,
            tlp: m.tlp,
            description: None,
            context: None,
        };
        let shared = match (&m.context, &self.last_context) {
            (Some(c), Some(last)) => Arc::ptr_eq(c, last),
            _ => false,
        };
        let context = if shared {
            0
        } else {
            m.context.as_ref().map_or(0, |c| c.text_bytes())
        };
        if text + context > self.meta_budget {
            if m.description.is_some() || !m.tags.is_empty() || m.context.is_some() {
                self.skip("meta_over_budget");
            }
            return kept;
        }
        self.meta_budget -= text + context;
        if let Some(c) = &m.context {
            self.last_context = Some(Arc::clone(c));
            kept.context = Some(Arc::clone(c));
        }
        // Only the kept prefixes are copied: a huge description shared by many values is
        // never copied whole.
        kept.description = m
            .description
            .as_deref()
            .map(|d| cut(d, limits::MAX_DESCRIPTION_BYTES).to_owned());
        kept.tags = m
            .tags
            .iter()
            .take(limits::MAX_TAGS)
            .map(|t| cut(t, limits::MAX_TAG_BYTES).to_owned())
            .collect();
        let truncated = m.tags.len() > limits::MAX_TAGS
            || m.tags
                .iter()
                .take(limits::MAX_TAGS)
                .any(|t| t.len() > limits::MAX_TAG_BYTES)
            || m.description
                .as_ref()
                .is_some_and(|d| d.len() > limits::MAX_DESCRIPTION_BYTES);
        if truncated {
            self.skip("meta_truncated");
        }
        kept
    }

    pub(crate) fn reject(&mut self, src: &Src<'_>, value: &str, reason: Reason) {
        self.rejected.push(Rejected {
            location: src.location.to_owned(),
            line: src.line,
            at: src.at.map(str::to_owned),
            value: shown_value(value),
            reason,
        });
    }
}

/// A rejected value as the report keeps it: at most [`limits::MAX_REJECTED_VALUE_BYTES`]
/// (cut at a character boundary), with the size of what was left out.
fn shown_value(value: &str) -> String {
    if value.len() <= limits::MAX_REJECTED_VALUE_BYTES {
        return value.to_owned();
    }
    let head = cut(value, limits::MAX_REJECTED_VALUE_BYTES);
    format!("{head}... ({} bytes)", value.len())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Caps `meta` at [`limits::MAX_TAGS`] tags of [`limits::MAX_TAG_BYTES`] and a description of
/// [`limits::MAX_DESCRIPTION_BYTES`]; whether anything was cut or left out.
pub(crate) fn bound_meta(meta: &mut Meta) -> bool {
    let mut cut_any = false;
    if meta.tags.len() > limits::MAX_TAGS {
        meta.tags.truncate(limits::MAX_TAGS);
        cut_any = true;
    }
    for t in &mut meta.tags {
        if t.len() > limits::MAX_TAG_BYTES {
            t.truncate(cut(t, limits::MAX_TAG_BYTES).len());
            cut_any = true;
        }
    }
    if let Some(d) = &mut meta.description
        && d.len() > limits::MAX_DESCRIPTION_BYTES
    {
        d.truncate(cut(d, limits::MAX_DESCRIPTION_BYTES).len());
        cut_any = true;
    }
    cut_any
}

/// Adds `tag` to `meta` unless it is there already or the listing has [`limits::MAX_TAGS`];
/// false when it was left out for the limit (the caller counts it once per record). The
/// duplicate check is over at most `MAX_TAGS` tags: a record with a million tags costs a
/// million short scans, not a million squared.
pub(crate) fn add_tag(meta: &mut Meta, tag: &str) -> bool {
    if meta.tags.iter().any(|t| t == tag) {
        return true;
    }
    if meta.tags.len() >= limits::MAX_TAGS {
        return false;
    }
    meta.tags.push(cut(tag, limits::MAX_TAG_BYTES).to_owned());
    true
}

/// A record's threat context as a parser gathers it: each kind capped at
/// [`limits::MAX_CONTEXT_NAMES`] names of [`limits::MAX_TAG_BYTES`], duplicates dropped (names
/// compared without regard to case). [`ContextBuilder::finish`] gives what the record's
/// listings share.
#[derive(Debug, Default)]
pub(crate) struct ContextBuilder {
    ctx: Context,
    /// Some name was left out for the limit.
    over: bool,
}

/// Kinds of names a [`ContextBuilder`] takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Named {
    Malware,
    Tool,
    Group,
    Campaign,
    Tactic,
}

impl ContextBuilder {
    pub(crate) fn add(&mut self, kind: Named, name: &str) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let list = match kind {
            Named::Malware => &mut self.ctx.malware,
            Named::Tool => &mut self.ctx.tools,
            Named::Group => &mut self.ctx.groups,
            Named::Campaign => &mut self.ctx.campaigns,
            Named::Tactic => &mut self.ctx.tactics,
        };
        if list.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return;
        }
        if list.len() >= limits::MAX_CONTEXT_NAMES {
            self.over = true;
            return;
        }
        list.push(cut(name, limits::MAX_TAG_BYTES).to_owned());
    }

    /// An ATT&CK technique by id (`T1071.001`), name, or both.
    pub(crate) fn technique(&mut self, id: Option<&str>, name: Option<&str>) {
        let clean = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| cut(s, limits::MAX_TAG_BYTES).to_owned())
        };
        let t = Technique {
            id: clean(id),
            name: clean(name),
        };
        if (t.id.is_none() && t.name.is_none()) || self.ctx.techniques.contains(&t) {
            return;
        }
        if self.ctx.techniques.len() >= limits::MAX_CONTEXT_NAMES {
            self.over = true;
            return;
        }
        self.ctx.techniques.push(t);
    }

    /// Nothing gathered yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.ctx.is_empty()
    }

    pub(crate) fn report(&mut self, id: &str) {
        if !id.is_empty() {
            self.ctx.report = Some(cut(id, limits::MAX_TAG_BYTES).to_owned());
        }
    }

    /// Merges `other` into this one (an attribute's own galaxies into its event's).
    pub(crate) fn extend(&mut self, other: &Context) {
        for (kind, list) in [
            (Named::Malware, &other.malware),
            (Named::Tool, &other.tools),
            (Named::Group, &other.groups),
            (Named::Campaign, &other.campaigns),
            (Named::Tactic, &other.tactics),
        ] {
            for n in list {
                self.add(kind, n);
            }
        }
        for t in &other.techniques {
            self.technique(t.id.as_deref(), t.name.as_deref());
        }
        if self.ctx.report.is_none() {
            self.ctx.report.clone_from(&other.report);
        }
    }

    /// The context the record's listings share (`None` when it is empty); counts
    /// `context_over_limit` once when names were left out.
    pub(crate) fn finish(self, out: &mut Parsed) -> Option<Arc<Context>> {
        if self.over {
            out.skip("context_over_limit");
        }
        (!self.ctx.is_empty()).then(|| out.intern(self.ctx))
    }
}

/// An ATT&CK technique id (`T1059`, `T1059.004`) at the end of a name such as MISP's galaxy
/// cluster values (`Unix Shell - T1059.004`): the name before it and the id.
pub(crate) fn split_technique(value: &str) -> (Option<&str>, Option<&str>) {
    let is_id = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 5
            && b[0] == b'T'
            && b[1..5].iter().all(u8::is_ascii_digit)
            && (b.len() == 5
                || (b.len() == 9 && b[5] == b'.' && b[6..].iter().all(u8::is_ascii_digit)))
    };
    let value = value.trim();
    if is_id(value) {
        return (None, Some(value));
    }
    match value.rsplit_once(" - ") {
        Some((name, id)) if is_id(id.trim()) => (Some(name.trim()), Some(id.trim())),
        _ => (Some(value), None),
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
///
/// A panic anywhere in the parser is caught here and returned as this document's
/// [`FeedError`] (`parser panicked: ...`), logged: one feed's refresh fails, never the process.
pub fn parse(
    format: FeedFormat,
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Parsed, FeedError> {
    let parsed = catch_panic(location, || parse_unguarded(format, location, bytes, opts))?;
    log_limits(location, &parsed);
    Ok(parsed)
}

/// Records over a parser limit are hostile or broken documents: one warning per document
/// says how many and shows the first (each record is also in the report, and counted).
fn log_limits(location: &str, parsed: &Parsed) {
    let over = |code: &'static str| {
        parsed
            .rejected
            .iter()
            .filter(move |r| r.reason.code() == code)
    };
    let (too_deep, too_large) = (over("too_deep").count(), over("too_large").count());
    if too_deep + too_large == 0 {
        return;
    }
    let first = over("too_deep")
        .chain(over("too_large"))
        .next()
        .map(ToString::to_string)
        .unwrap_or_default();
    tracing::warn!(
        location,
        too_deep,
        too_large,
        first = %first,
        "feed records over a parser limit rejected"
    );
}

fn parse_unguarded(
    format: FeedFormat,
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Parsed, FeedError> {
    #[cfg(test)]
    test_panic::maybe_panic();
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
///
/// Behind the same panic boundary as [`parse`].
pub fn parse_path(
    format: FeedFormat,
    path: &Path,
    opts: &ParseOptions,
) -> Result<(Parsed, u64), FeedError> {
    let location = path.display().to_string();
    catch_panic(&location, || {
        if path.is_dir() {
            if !matches!(format, FeedFormat::Auto | FeedFormat::Misp) {
                return Err(FeedError::new(
                    &location,
                    "is a folder: only MISP feed folders (with manifest.json) can be read",
                ));
            }
            return misp::parse_folder(path, opts);
        }
        let bytes = std::fs::read(path)
            .map_err(|e| FeedError::new(&location, format!("cannot read: {e}")))?;
        let n = bytes.len() as u64;
        Ok((parse_unguarded(format, &location, &bytes, opts)?, n))
    })
    .inspect(|(parsed, _)| log_limits(&location, parsed))
}

/// Where in a MISP document or feed folder the listings of `wanted` come from: `event UUID
/// "info", attribute UUID (type)` per attribute (for `iocd iocs lookup`, which would
/// otherwise say `file.json:0`). Empty when the path is not a readable MISP document.
pub fn misp_origins(path: &Path, opts: &ParseOptions, wanted: &Pattern) -> Vec<String> {
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "json")
                            && p.file_name().is_some_and(|n| n != "manifest.json")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let location = f.display().to_string();
        if let Ok(bytes) = std::fs::read(&f) {
            out.extend(misp_origins_in(&location, &bytes, opts, wanted));
        }
    }
    out
}

/// The STIX indicators of the document at `path` (or in memory: `bytes`) that list `wanted`
/// (`iocd iocs lookup`): `indicator--... "name"` each.
pub fn stix_origins(location: &str, bytes: &[u8], wanted: &Pattern) -> Vec<String> {
    panic_boundary(location, || stix::origins(location, bytes, wanted)).unwrap_or_default()
}

/// [`misp_origins`] of a MISP document already in memory (a MISP API feed's attributes).
pub fn misp_origins_in(
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
    wanted: &Pattern,
) -> Vec<String> {
    panic_boundary(location, || misp::origins(location, bytes, opts, wanted)).unwrap_or_default()
}

/// For the fuzz targets only (fuzz/fuzz_targets/): entry points to parsers that [`parse`]
/// reaches only through a document or a folder. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The STIX pattern grammar alone: how many comparisons a pattern gave (taken or not), or
    /// why the whole pattern was not taken.
    pub fn stix_pattern(pattern: &str) -> Result<usize, Reason> {
        stix::parse_pattern(pattern).map(|c| c.len())
    }

    /// A MISP feed folder whose `manifest.json` is `manifest` and whose every event file holds
    /// `event`, behind the same panic boundary as [`parse_path`].
    pub fn misp_manifest(
        manifest: &[u8],
        event: &[u8],
        opts: &ParseOptions,
    ) -> Result<(Parsed, u64), FeedError> {
        let dir = Path::new("/feed");
        catch_panic("/feed", || {
            misp::parse_manifest(dir, manifest, opts, |_| Ok(event.to_vec()))
        })
    }
}

/// Runs a parser; a panic in it becomes the document's error, logged.
fn catch_panic<T>(
    location: &str,
    f: impl FnOnce() -> Result<T, FeedError>,
) -> Result<T, FeedError> {
    panic_boundary(location, f)
        .unwrap_or_else(|msg| Err(FeedError::new(location, format!("parser panicked: {msg}"))))
}

/// Runs `f`; a panic in it is logged with `location` and returned as its message. Parsers
/// hold no state that outlives them, so nothing is left half-updated (hence the
/// `AssertUnwindSafe`).
pub(crate) fn panic_boundary<T>(location: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_owned());
        tracing::error!(location, panic = %msg, "a feed parser panicked; this document is refused");
        msg
    })
}

/// A test-only way to make the next parse on this thread panic inside the boundary, to prove
/// the boundary holds (no real input is known to panic: the fuzzers look for one).
#[cfg(test)]
pub(crate) mod test_panic {
    use std::cell::Cell;

    thread_local! {
        static ARMED: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// The next parse on this thread panics with `msg`.
    pub(crate) fn arm(msg: &'static str) {
        ARMED.with(|a| a.set(Some(msg)));
    }

    pub(crate) fn maybe_panic() {
        if let Some(msg) = ARMED.with(|a| a.take()) {
            panic!("{msg}");
        }
    }
}

/// The format of a document, from its first bytes (and its name, for CSV and OpenIOC).
pub(crate) fn detect(
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<FeedFormat, FeedError> {
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
    if value.len() > limits::MAX_VALUE_BYTES {
        return Err(Reason::TooLarge(format!(
            "a value of {} bytes (limit {})",
            value.len(),
            limits::MAX_VALUE_BYTES
        )));
    }
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
pub(crate) fn parse_time(s: &str) -> Option<i64> {
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
pub(crate) fn parse_score(s: &str) -> Option<u8> {
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
pub(crate) fn parse_tlp(s: &str) -> Option<Tlp> {
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
    fn a_panic_in_a_parser_is_the_documents_error() {
        let o = ParseOptions::default();
        test_panic::arm("injected parser bug");
        let e = parse(FeedFormat::Auto, "p.txt", b"198.51.100.1\n", &o).unwrap_err();
        assert_eq!(e.location, "p.txt");
        assert_eq!(e.message, "parser panicked: injected parser bug");
        // The boundary left nothing behind: the next document parses.
        let p = parse(FeedFormat::Auto, "p.txt", b"198.51.100.1\n", &o).unwrap();
        assert_eq!(p.count(), 1);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "198.51.100.1\n").unwrap();
        test_panic::arm("injected again");
        let e = parse_path(FeedFormat::Auto, &path, &o).unwrap_err();
        assert_eq!(e.message, "parser panicked: injected again");
        assert_eq!(
            parse_path(FeedFormat::Auto, &path, &o).unwrap().0.count(),
            1
        );
    }

    #[test]
    fn oversized_values_and_rejected_values_are_bounded() {
        let o = ParseOptions::default();
        let big = format!(
            "{}.example.com\n198.51.100.1\n",
            "a".repeat(limits::MAX_VALUE_BYTES)
        );
        let p = parse(FeedFormat::Plain, "big.txt", big.as_bytes(), &o).unwrap();
        assert_eq!(p.count(), 1);
        assert_eq!(p.rejected.len(), 1);
        let r = &p.rejected[0];
        assert_eq!((r.line, r.reason.code()), (1, "too_large"));
        assert!(r.reason.to_string().contains("limit 65536"), "{}", r.reason);
        assert_eq!(
            r.value.len(),
            limits::MAX_REJECTED_VALUE_BYTES + "... (65548 bytes)".len()
        );
        // Cut on a character boundary.
        assert_eq!(
            shown_value(&"é".repeat(200)),
            format!("{}... (400 bytes)", "é".repeat(128))
        );
    }

    #[test]
    fn metadata_past_the_document_budget_keeps_its_numbers_not_its_text() {
        let mut p = Parsed::new(FeedFormat::Stix, 0);
        p.meta_budget = 3 * (limits::MAX_DESCRIPTION_BYTES + 10 + 24);
        let m = Meta {
            confidence: Some(70),
            tags: vec!["0123456789".into()],
            description: Some("d".repeat(5000)),
            ..Meta::default()
        };
        let src = Src {
            location: "b",
            line: 0,
            at: None,
        };
        for i in 0..5 {
            p.add_value(
                &src,
                &format!("h{i}.example.org"),
                Hint::Domain,
                Some(&m),
                false,
            );
        }
        let kept: Vec<(usize, usize, Option<u8>)> = p
            .listings
            .iter()
            .map(|l| {
                let m = l.meta.as_ref().unwrap();
                (
                    m.tags.len(),
                    m.description.as_ref().map_or(0, String::len),
                    m.confidence,
                )
            })
            .collect();
        let full = (1, limits::MAX_DESCRIPTION_BYTES, Some(70));
        assert_eq!(kept, [full, full, full, (0, 0, Some(70)), (0, 0, Some(70))]);
        assert_eq!(p.skipped.get("meta_over_budget"), Some(&2));
        assert_eq!(p.skipped.get("meta_truncated"), Some(&3));
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
