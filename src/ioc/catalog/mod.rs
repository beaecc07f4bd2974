//! The catalog: every configured feed's parsed listings and fetch state, and the allowlists.
//!
//! Read [`Catalog`]. Reading and compiling are two steps on purpose:
//!
//! * [`Catalog::refresh_all`] / [`Catalog::refresh_due`] / [`Catalog::refresh_files`] read
//!   feeds (files, MISP folders, HTTP(S) with conditional requests and a last-good cache) and
//!   keep each feed's parsed *generation* in memory. A feed that fails to read or parse keeps
//!   its previous generation; a feed that withdraws an indicator loses it with its new
//!   generation. A new document that would shrink a feed by more than its `max_shrink`, or
//!   whose rejected share is above `max_rejected`, is refused the same way (the refresh
//!   guard): feeds are written by someone else, and a truncated download or a garbage file
//!   must not quietly empty the set. Failed feeds are tried again with a doubling delay.
//! * Change detection: a file's stamp ([`FileStamp`]: mtime, ctime, size, inode) says when
//!   to look; a hash of its bytes says whether it really changed. [`Catalog::refresh_all`]
//!   (SIGHUP, `POST /reload`) reads every file whatever its stamp and parses only those whose
//!   bytes changed.
//! * Rejected records are counted by reason; only the first `keep_rejected` of each feed are
//!   kept with their line, so a garbage feed costs its counts, not a copy of itself.
//! * [`Catalog::compile`] turns the generations in memory into an [`IocSet`]: per-feed type
//!   filter and subdomain switch, the safety rails, the allowlists, the lifecycle (revoked,
//!   past `valid_until`, older than the feed's `ttl`), default metadata, weights. It reads
//!   nothing, so expiry is re-evaluated by compiling again, and a changed allowlist does not
//!   re-read any feed. A compile notes when a listing in its set next expires
//!   ([`Catalog::next_expiry`]); the daemon's expiry timer compiles only once that is past.
//!
//! Listings are kept in a compact form (one arena of canonical keys, see `listings.rs`): at a
//! million indicators they are the largest thing in memory after the compiled set.
//!
//! Compiling costs about what parsing a plain list costs (one hash insert per listing); parsing
//! JSON and XML formats is the expensive part, done only when a feed changed.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::feeds::{AllowlistConfig, FeedConfig};
use crate::ioc::allowlist::{Allowlists, List};
use crate::ioc::feed::{self, ParseOptions, Parsed};
use crate::ioc::fetch::{Cache, Validators};
use crate::ioc::listings::Listings;
use crate::ioc::{LoadError, LoadReport, Rejected};
use iocd_engine::IocSet;

mod compile;
mod compiled;
mod refresh;

pub use compile::{Fate, ListingFate};
use compiled::c_name;
use refresh::allowlist_files;

/// A failed feed is tried again after at most this long, even without a `refresh` interval.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);
/// The first retry of a failed feed comes this long after the failure; each further failure
/// doubles it, up to [`RETRY_AFTER_FAILURE`] (and never past the feed's `refresh`).
pub(crate) const RETRY_FIRST: Duration = Duration::from_secs(10);

/// What says, without reading it, that a file may have changed: modification and status-change
/// times (nanoseconds), size and inode. A file replaced by `rename` has a new inode; one
/// rewritten in place and given its old mtime back (`cp -p`, `rsync -t`, `touch -r`) has a
/// new ctime, which no user can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: SystemTime,
    changed: (i64, i64),
    len: u64,
    dev: u64,
    ino: u64,
}

/// The stamp of a regular file (`None`: missing, unreadable, or not a file).
pub(crate) fn file_stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    m.is_file().then(|| FileStamp {
        modified: m.modified().unwrap_or(UNIX_EPOCH),
        changed: (m.ctime(), m.ctime_nsec()),
        len: m.len(),
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// A cheap hash of a file's bytes (foldhash, fixed seed), to tell a changed file from one
/// whose stamp moved with the same content. Not a defence against a feed author: one who can
/// write the feed does not need a collision to change it.
fn content_hash(bytes: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x10cd).hash_one(bytes)
}

/// Why a refresh failed, as the `reason` label of `iocd_feed_refresh_failures_total`.
pub mod reason {
    /// The file could not be read, or the download failed.
    pub(crate) const FETCH: &str = "fetch";
    /// The document cannot be read as its format at all.
    pub(crate) const PARSE: &str = "parse";
    /// The new document would drop more than `max_shrink` of the feed's indicators.
    pub(crate) const SHRINK: &str = "shrink";
    /// The new document has no indicator, and the feed had some.
    pub(crate) const EMPTY: &str = "empty";
    /// More than `max_rejected` of the document's records were rejected.
    pub(crate) const REJECTED: &str = "rejected";
    /// Every reason, for the metric's documentation and tests.
    pub const ALL: [&str; 5] = [FETCH, PARSE, SHRINK, EMPTY, REJECTED];
}

/// One feed's parsed document(s) in use.
#[derive(Debug)]
struct Generation {
    /// Compact: these stay in memory for as long as the feed is configured.
    listings: Listings,
    /// Listings that count (HTTPS twins of schemeless URLs excluded): what the guard compares.
    count: u64,
    /// The first `keep_rejected` rejected records.
    rejected: Vec<Rejected>,
    /// Every rejected record, counted by reason.
    rejected_by: BTreeMap<&'static str, u64>,
    skipped: std::collections::BTreeMap<&'static str, u64>,
    format: feed::FeedFormat,
    bytes: u64,
    /// When it was read, or last found unchanged (same file, or a `304`).
    loaded_at: SystemTime,
}

#[derive(Debug)]
struct FeedState {
    cfg: FeedConfig,
    opts: ParseOptions,
    generation: Option<Generation>,
    last_attempt: Option<SystemTime>,
    error: Option<String>,
    validators: Validators,
    /// Stamp of a file feed when last read: unchanged files are not read again, except by
    /// [`Catalog::refresh_all`].
    stamp: Option<FileStamp>,
    /// Hash of the bytes of the file generation in memory: a file read again with the same
    /// bytes is not parsed again.
    digest: Option<u64>,
    /// Failed refreshes in a row (0 after a success): the retry delay doubles with each.
    failures: u32,
    /// When a refresh last succeeded (read, or found unchanged).
    last_success: Option<SystemTime>,
    /// A TAXII or MISP API feed's collection state (kept in its `cache` file).
    tip: Option<std::sync::Arc<crate::ioc::tip::Store>>,
    /// The feed's own HTTP client (a private CA, a client certificate), or why it could not
    /// be built; `None`: the shared one.
    client: Option<Result<reqwest::Client, String>>,
}

impl FeedState {
    fn location(&self) -> String {
        match (&self.cfg.path, &self.cfg.url) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        }
    }

    fn due_at(&self) -> Option<SystemTime> {
        let Some(last) = self.last_attempt else {
            return Some(UNIX_EPOCH);
        };
        let every = match (self.cfg.refresh, self.failures > 0) {
            (Some(r), false) => r,
            (Some(r), true) => r.min(self.retry_delay()),
            (None, true) => self.retry_delay(),
            (None, false) => return None,
        };
        Some(last + every)
    }

    /// After `failures` failed refreshes in a row: 10 s, 20 s, 40 s, ... up to 5 minutes.
    fn retry_delay(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        RETRY_FIRST
            .saturating_mul(1 << doublings)
            .min(RETRY_AFTER_FAILURE)
    }
}

#[derive(Debug)]
struct AllowState {
    cfg: AllowlistConfig,
    lists: Vec<List>,
    stamps: Vec<(PathBuf, Option<FileStamp>)>,
    /// Hashes of the files' bytes, in the order of `lists`.
    digests: Vec<u64>,
    error: Option<String>,
    loaded: bool,
}

/// Per-feed parsed listings, fetch state and allowlists; compiles them into an [`IocSet`].
pub struct Catalog {
    feeds: Vec<FeedState>,
    allow: Vec<AllowState>,
    merged: Allowlists,
    client: Option<reqwest::Client>,
    /// Unix second at which a listing of the last compiled set next becomes inactive
    /// (`NEVER`: none will). Atomic because [`Catalog::compile`] takes `&self`.
    next_expiry: AtomicI64,
    /// Whether compiling applies the safety [`rails`](crate::ioc::rails) (always in the daemon; `iocd scan
    /// --no-rails` turns them off).
    rails: bool,
    /// Set for a daemon that runs on a compiled set file instead of feeds.
    compiled: Option<Box<compiled::CompiledFile>>,
}

const NEVER: i64 = i64::MAX;

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("feeds", &self.feeds.len())
            .field("allowlists", &self.allow.len())
            .finish_non_exhaustive()
    }
}

/// What one refresh did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    pub feeds: Vec<FeedRefresh>,
    pub allowlists: Vec<AllowlistRefresh>,
}

impl RefreshReport {
    /// Whether a feed or allowlist in memory changed: compile again.
    pub fn changed(&self) -> bool {
        self.feeds.iter().any(|f| f.changed) || self.allowlists.iter().any(|a| a.updated)
    }

    /// Every failure: (feed or allowlist name, error).
    pub fn failures(&self) -> Vec<(&str, &str)> {
        let feeds = self
            .feeds
            .iter()
            .filter_map(|f| Some((f.name.as_str(), f.error.as_deref()?)));
        let lists = self
            .allowlists
            .iter()
            .filter_map(|a| Some((a.name.as_str(), a.error.as_deref()?)));
        feeds.chain(lists).collect()
    }
}

/// What refreshing one feed did.
#[derive(Debug)]
pub struct FeedRefresh {
    pub name: String,
    pub outcome: Outcome,
    /// Why the read failed (with `Failed`, or with `Updated { from_cache: true }`).
    pub error: Option<String>,
    /// With `error`: its [`reason`] code (`fetch`, `parse`, `shrink`, `empty`, `rejected`).
    pub reason: Option<&'static str>,
    /// The read or download itself: `ok` (a document was read), `not_modified` (same file
    /// or bytes, or a `304`), `error` (it could not be read or downloaded).
    pub fetch: &'static str,
    /// Whether the set must be compiled again for this feed: a new generation, or an
    /// unchanged one whose `ttl` runs from the time it was last found current.
    pub changed: bool,
    pub took: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new generation is in memory.
    Updated {
        listings: usize,
        rejected: usize,
        bytes: u64,
        /// Read from the last-good cache because the download failed or it was current.
        from_cache: bool,
    },
    /// The file or URL has not changed since the generation in memory.
    Unchanged,
    /// Nothing new; the previous generation (if `kept_previous`) is still in use.
    Failed { kept_previous: bool },
}

/// What refreshing one allowlist did.
#[derive(Debug)]
pub struct AllowlistRefresh {
    pub name: String,
    pub updated: bool,
    pub error: Option<String>,
}

/// What a refresh job brings back.
enum JobResult {
    /// Same file stamp, same bytes, or a `304`; a new stamp to remember when the stamp moved
    /// but the bytes did not.
    Unchanged {
        stamp: Option<FileStamp>,
    },
    Loaded {
        read: Box<Read>,
        bytes: u64,
        validators: Validators,
        stamp: Option<FileStamp>,
        digest: Option<u64>,
        from_cache: bool,
        /// The download failed (reason, error) and this is the cached copy.
        failure: Option<(&'static str, String)>,
        /// A downloaded body for the last-good cache, written once the guard accepts it.
        to_cache: Option<Box<(Cache, String, Vec<u8>)>>,
        /// A TAXII or MISP API feed's new state, committed once the guard accepts it.
        commit: Option<Box<crate::ioc::tip::Commit>>,
    },
    Failed {
        reason: &'static str,
        error: String,
    },
}

/// A parsed document with its rejected records bounded.
struct Read {
    parsed: Parsed,
    rejected_by: BTreeMap<&'static str, u64>,
    rejected_total: u64,
}

impl Read {
    /// Counts every rejected record by reason and keeps the first `keep`.
    fn bounded(mut parsed: Parsed, keep: usize) -> Box<Read> {
        let mut rejected_by = BTreeMap::new();
        for r in &parsed.rejected {
            *rejected_by.entry(r.reason.code()).or_insert(0) += 1;
        }
        let rejected_total = parsed.rejected.len() as u64;
        if parsed.rejected.len() > keep {
            parsed.rejected.truncate(keep);
            parsed.rejected.shrink_to_fit();
        }
        Box::new(Read {
            parsed,
            rejected_by,
            rejected_total,
        })
    }
}

/// "N of M records rejected (x%, max_rejected y)" when a document's rejected share is above
/// the feed's `max_rejected`.
fn too_many_rejected(cfg: &FeedConfig, indicators: u64, rejected: u64) -> Option<String> {
    let records = indicators + rejected;
    let share = if records == 0 {
        0.0
    } else {
        rejected as f64 / records as f64
    };
    (share > cfg.max_rejected()).then(|| {
        format!(
            "{rejected} of {records} records rejected ({:.1}%, max_rejected {})",
            share * 100.0,
            cfg.max_rejected()
        )
    })
}

/// Why the refresh guard refuses a new document of feed `cfg` (reason, message), if it does.
/// `previous`: indicators of the generation in memory. Without one there is nothing to keep
/// instead, and nothing is refused (the caller warns about a high rejected share).
fn guard(
    cfg: &FeedConfig,
    previous: Option<u64>,
    indicators: u64,
    rejected: u64,
) -> Option<(&'static str, String)> {
    previous?;
    if let Some(why) = too_many_rejected(cfg, indicators, rejected) {
        return Some((reason::REJECTED, format!("refused: {why}")));
    }
    let prev = previous.filter(|&p| p > 0)?;
    let shrink = prev.saturating_sub(indicators) as f64 / prev as f64;
    if shrink > cfg.max_shrink() {
        let (code, what) = if indicators == 0 {
            (reason::EMPTY, "no indicators")
        } else {
            (reason::SHRINK, "a shrink")
        };
        return Some((
            code,
            format!(
                "refused: {what}: {indicators} indicators instead of {prev} \
                 ({:.1}% fewer, max_shrink {})",
                shrink * 100.0,
                cfg.max_shrink()
            ),
        ));
    }
    None
}

/// What the health metrics and readiness say about one feed.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedHealth {
    pub name: String,
    /// Whether its last refresh succeeded; `None` before the first.
    pub up: Option<bool>,
    /// When a refresh last succeeded.
    pub(crate) last_success: Option<SystemTime>,
    /// When the generation in use was read or last found current; `None`: no generation.
    pub loaded_at: Option<SystemTime>,
}

impl Catalog {
    /// A catalog of these feeds and allowlists; nothing is read until a refresh.
    pub fn new(feeds: &[FeedConfig], allowlists: &[AllowlistConfig]) -> Catalog {
        Catalog {
            feeds: feeds
                .iter()
                .map(|cfg| FeedState {
                    opts: ParseOptions {
                        csv: cfg.csv.clone(),
                        to_ids_only: cfg.to_ids_only,
                    },
                    cfg: cfg.clone(),
                    generation: None,
                    last_attempt: None,
                    error: None,
                    validators: Validators::default(),
                    stamp: None,
                    digest: None,
                    failures: 0,
                    last_success: None,
                    tip: (cfg.kind != crate::config::feeds::FeedKind::Document)
                        .then_some(cfg.cache.as_deref())
                        .flatten()
                        .map(|p| std::sync::Arc::new(crate::ioc::tip::Store::new(p))),
                    client: crate::ioc::fetch::tls_client(&cfg.http)
                        .map_err(|e| e.to_string())
                        .transpose(),
                })
                .collect(),
            allow: allowlists
                .iter()
                .map(|cfg| AllowState {
                    cfg: cfg.clone(),
                    lists: Vec::new(),
                    stamps: Vec::new(),
                    digests: Vec::new(),
                    error: None,
                    loaded: false,
                })
                .collect(),
            merged: Allowlists::default(),
            client: None,
            next_expiry: AtomicI64::new(NEVER),
            rails: true,
            compiled: None,
        }
    }

    /// Turns the safety [`rails`](crate::ioc::rails) on (the default) or off for the next compiles: off, a feed's
    /// `0.0.0.0/0`, `com` or `istring:e` is matched as listed. For `--no-rails` only.
    pub fn set_rails(&mut self, on: bool) {
        self.rails = on;
    }

    /// Reads every feed file and allowlist whatever its stamp (parsing only those whose bytes
    /// changed) and fetches every URL feed. A feed that fails, or whose new document the
    /// refresh guard refuses, keeps its previous generation; the report says which and why.
    pub async fn refresh_all(&mut self) -> RefreshReport {
        if self.compiled.is_some() {
            return self.refresh_compiled(true);
        }
        let now = SystemTime::now();
        let all: Vec<usize> = (0..self.feeds.len()).collect();
        self.refresh(&all, now, true).await
    }

    /// Like [`Catalog::refresh_all`], for the feeds whose `refresh` interval has elapsed at
    /// `now` (and those never read, and failed ones after their retry delay: 10 s doubling
    /// up to [`RETRY_AFTER_FAILURE`]); files and allowlists whose stamp did not move are not
    /// read.
    pub async fn refresh_due(&mut self, now: SystemTime) -> RefreshReport {
        let due: Vec<usize> = (0..self.feeds.len())
            .filter(|&i| self.feeds[i].due_at().is_some_and(|t| t <= now))
            .collect();
        self.refresh(&due, now, false).await
    }

    /// For a changed file: reads the feed files and allowlists whose stamp moved (URL feeds
    /// are left to their schedule).
    pub(crate) async fn refresh_files(&mut self, now: SystemTime) -> RefreshReport {
        if self.compiled.is_some() {
            return self.refresh_compiled(false);
        }
        let files: Vec<usize> = (0..self.feeds.len())
            .filter(|&i| self.feeds[i].cfg.path.is_some())
            .collect();
        self.refresh(&files, now, false).await
    }

    /// Per feed, in configuration order: whether its last refresh succeeded, when one last
    /// did, and when its generation was read.
    pub fn health(&self) -> Vec<FeedHealth> {
        if let Some(c) = self.compiled_file() {
            return vec![Catalog::compiled_health(c)];
        }
        self.feeds
            .iter()
            .map(|f| FeedHealth {
                name: f.cfg.name.clone(),
                up: f.last_attempt.map(|_| f.error.is_none()),
                last_success: f.last_success,
                loaded_at: f.generation.as_ref().map(|g| g.loaded_at),
            })
            .collect()
    }

    /// Feeds that have no generation yet (neither read nor from their cache): until they
    /// have one, the set lacks them and the daemon is not ready.
    pub(crate) fn missing_feeds(&self) -> Vec<&str> {
        if let Some(c) = self.compiled_file() {
            return Catalog::compiled_missing(c)
                .then_some(c_name(c))
                .into_iter()
                .collect();
        }
        self.feeds
            .iter()
            .filter(|f| f.generation.is_none())
            .map(|f| f.cfg.name.as_str())
            .collect()
    }

    /// When [`Catalog::refresh_due`] next has something to do.
    pub fn next_refresh(&self) -> Option<SystemTime> {
        self.feeds.iter().filter_map(FeedState::due_at).min()
    }

    /// Feed and allowlist files (and folders), for change detection. URL feeds have none.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        if let Some(c) = self.compiled_file() {
            out.push(Catalog::compiled_path(c));
        }
        for f in &self.feeds {
            if let Some(p) = &f.cfg.path {
                if p.is_dir() {
                    out.push(p.join("manifest.json"));
                }
                out.push(p.clone());
            }
        }
        for a in &self.allow {
            if a.cfg.path.is_dir() {
                out.extend(allowlist_files(&a.cfg.path));
            }
            out.push(a.cfg.path.clone());
        }
        out
    }
}

/// Loads every feed and allowlist of a configuration once, blocking (for the CLI).
///
/// A feed or allowlist that cannot be read at all is reported in its [`FeedReport::error`](crate::ioc::FeedReport::error)
/// (and [`AllowlistReport::error`](crate::ioc::AllowlistReport::error)), not as an error: the other feeds still load. It runs its
/// own current-thread runtime, so it must not be called from inside an async task (use
/// [`Catalog`] there).
pub fn load_config_feeds(
    feeds: &[FeedConfig],
    allowlists: &[AllowlistConfig],
) -> Result<(IocSet, LoadReport), LoadError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let mut catalog = Catalog::new(feeds, allowlists);
    rt.block_on(catalog.refresh_all());
    Ok(catalog.compile(SystemTime::now()))
}
