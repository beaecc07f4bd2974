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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::allowlist::{Allowlists, List};
use super::feed::{self, FeedError, ParseOptions, Parsed};
use super::fetch::{self, Cache, Fetched, Validators};
use super::listings::Listings;
use super::rails::{self, Limits};
use super::{AllowlistReport, FeedReport, LoadError, LoadReport, Reason, Rejected};
use crate::config::feeds::{AllowlistConfig, AllowlistFormat, FeedConfig};
use crate::matcher::{Compiler, IocSet, N_TABLES, Pattern, SourceRef};

/// A failed feed is tried again after at most this long, even without a `refresh` interval.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);
/// The first retry of a failed feed comes this long after the failure; each further failure
/// doubles it, up to [`RETRY_AFTER_FAILURE`] (and never past the feed's `refresh`).
pub const RETRY_FIRST: Duration = Duration::from_secs(10);

/// What says, without reading it, that a file may have changed: modification and status-change
/// times (nanoseconds), size and inode. A file replaced by `rename` has a new inode; one
/// rewritten in place and given its old mtime back (`cp -p`, `rsync -t`, `touch -r`) has a
/// new ctime, which no user can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    modified: SystemTime,
    changed: (i64, i64),
    len: u64,
    dev: u64,
    ino: u64,
}

/// The stamp of a regular file (`None`: missing, unreadable, or not a file).
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
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
    pub const FETCH: &str = "fetch";
    /// The document cannot be read as its format at all.
    pub const PARSE: &str = "parse";
    /// The new document would drop more than `max_shrink` of the feed's indicators.
    pub const SHRINK: &str = "shrink";
    /// The new document has no indicator, and the feed had some.
    pub const EMPTY: &str = "empty";
    /// More than `max_rejected` of the document's records were rejected.
    pub const REJECTED: &str = "rejected";
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
    /// Whether compiling applies the safety [`rails`] (always in the daemon; `iocd scan
    /// --no-rails` turns them off).
    rails: bool,
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
        to_cache: Option<(Cache, String, Vec<u8>)>,
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
    pub last_success: Option<SystemTime>,
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
        }
    }

    /// Turns the safety [`rails`] on (the default) or off for the next compiles: off, a feed's
    /// `0.0.0.0/0`, `com` or `istring:e` is matched as listed. For `--no-rails` only.
    pub fn set_rails(&mut self, on: bool) {
        self.rails = on;
    }

    /// Reads every feed file and allowlist whatever its stamp (parsing only those whose bytes
    /// changed) and fetches every URL feed. A feed that fails, or whose new document the
    /// refresh guard refuses, keeps its previous generation; the report says which and why.
    pub async fn refresh_all(&mut self) -> RefreshReport {
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
    pub async fn refresh_files(&mut self, now: SystemTime) -> RefreshReport {
        let files: Vec<usize> = (0..self.feeds.len())
            .filter(|&i| self.feeds[i].cfg.path.is_some())
            .collect();
        self.refresh(&files, now, false).await
    }

    /// Per feed, in configuration order: whether its last refresh succeeded, when one last
    /// did, and when its generation was read.
    pub fn health(&self) -> Vec<FeedHealth> {
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
    pub fn missing_feeds(&self) -> Vec<&str> {
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

    /// Refreshes the feeds `which`; `force`: read files even when their stamp did not move.
    async fn refresh(&mut self, which: &[usize], now: SystemTime, force: bool) -> RefreshReport {
        let mut report = RefreshReport::default();
        let allowlists = self.start_allowlists(force);
        if which.iter().any(|&i| self.feeds[i].cfg.url.is_some()) && self.client.is_none() {
            match fetch::client() {
                Ok(c) => self.client = Some(c),
                Err(e) => tracing::error!(error = %e, "no HTTP client for URL feeds"),
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for &i in which {
            let f = &self.feeds[i];
            let job = Job {
                index: i,
                path: f.cfg.path.clone(),
                url: f.cfg.url.clone(),
                cache: f.cfg.cache.clone().map(|path| Cache { path }),
                format: f.cfg.format,
                opts: f.opts.clone(),
                http: f.cfg.http.clone(),
                validators: (f.generation.is_some() && !f.validators.is_empty())
                    .then(|| f.validators.clone()),
                stamp: f.generation.as_ref().and(f.stamp),
                digest: f.generation.as_ref().and(f.digest),
                force,
                keep_rejected: f.cfg.keep_rejected(),
                client: self.client.clone(),
            };
            set.spawn(async move {
                let t = std::time::Instant::now();
                let i = job.index;
                (i, job.run().await, t.elapsed())
            });
        }
        let mut results = Vec::with_capacity(which.len());
        while let Some(r) = set.join_next().await {
            match r {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "feed refresh task failed"),
            }
        }
        results.sort_by_key(|r| r.0);
        report.allowlists = self.finish_allowlists(allowlists).await;
        for (i, result, took) in results {
            let f = &mut self.feeds[i];
            f.last_attempt = Some(now);
            let mut changed = false;
            let (outcome, fetch, failure) = match result {
                JobResult::Unchanged { stamp } => {
                    if stamp.is_some() {
                        f.stamp = stamp;
                    }
                    // The feed still lists everything it listed: for a TTL, that is news.
                    if let Some(g) = &mut f.generation {
                        g.loaded_at = now;
                        changed = f.cfg.ttl.is_some();
                    }
                    (Outcome::Unchanged, "not_modified", None)
                }
                JobResult::Loaded {
                    read,
                    bytes,
                    validators,
                    stamp,
                    digest,
                    from_cache,
                    failure,
                    to_cache,
                } => {
                    let count = read.parsed.count() as u64;
                    let previous = f.generation.as_ref().map(|g| g.count);
                    match guard(&f.cfg, previous, count, read.rejected_total) {
                        Some(refused) => {
                            // The stamp and digest stay those of the generation in memory:
                            // the refused document is read (and refused) again next time.
                            let fetch = if failure.is_some() { "error" } else { "ok" };
                            (
                                Outcome::Failed {
                                    kept_previous: f.generation.is_some(),
                                },
                                fetch,
                                Some(refused),
                            )
                        }
                        None => {
                            if previous.is_none()
                                && let Some(why) =
                                    too_many_rejected(&f.cfg, count, read.rejected_total)
                            {
                                tracing::warn!(
                                    feed = %f.cfg.name,
                                    "first load: {why}; loaded, as there is no previous \
                                     generation to keep, but a refresh like it would be refused \
                                     (raise this feed's max_rejected if that is its normal)"
                                );
                            }
                            let outcome = Outcome::Updated {
                                listings: count as usize,
                                rejected: read.rejected_total as usize,
                                bytes,
                                from_cache,
                            };
                            let Read {
                                parsed,
                                rejected_by,
                                ..
                            } = *read;
                            // The previous generation goes before the new listings are packed.
                            f.generation = None;
                            f.generation = Some(Generation {
                                listings: Listings::from_parsed(parsed.listings),
                                count,
                                rejected: parsed.rejected,
                                rejected_by,
                                skipped: parsed.skipped,
                                format: parsed.format,
                                bytes,
                                loaded_at: now,
                            });
                            if let Some((c, u, body)) = to_cache {
                                // Only a document the guard accepted becomes the last good copy.
                                let v = validators.clone();
                                let written =
                                    tokio::task::spawn_blocking(move || c.write(&u, &body, &v))
                                        .await;
                                if let Ok(Err(e)) = written {
                                    tracing::warn!(feed = %f.cfg.name, error = ?e, "cannot write the feed cache");
                                }
                            }
                            f.validators = validators;
                            f.stamp = stamp;
                            f.digest = digest;
                            changed = true;
                            let fetch = if failure.is_some() { "error" } else { "ok" };
                            (outcome, fetch, failure)
                        }
                    }
                }
                JobResult::Failed { reason, error } => {
                    let fetch = if reason == reason::FETCH {
                        "error"
                    } else {
                        "ok"
                    };
                    (
                        Outcome::Failed {
                            kept_previous: f.generation.is_some(),
                        },
                        fetch,
                        Some((reason, error)),
                    )
                }
            };
            match &failure {
                None => {
                    f.error = None;
                    f.failures = 0;
                    f.last_success = Some(now);
                }
                Some((code, e)) => {
                    f.error = Some(e.clone());
                    f.failures = f.failures.saturating_add(1);
                    let retry = f.due_at().and_then(|t| t.duration_since(now).ok());
                    let kept = match (&outcome, f.generation.is_some()) {
                        (Outcome::Updated { .. }, _) => "using the cached copy",
                        (_, true) => "the previous generation stays",
                        (_, false) => "no generation yet: the set lacks this feed",
                    };
                    tracing::warn!(
                        feed = %f.cfg.name,
                        reason = code,
                        error = ?e,
                        retry_in = ?retry,
                        "feed refresh failed; {kept}"
                    );
                }
            }
            let (reason, error) = match failure {
                Some((r, e)) => (Some(r), Some(e)),
                None => (None, None),
            };
            report.feeds.push(FeedRefresh {
                name: f.cfg.name.clone(),
                outcome,
                error,
                reason,
                fetch,
                changed,
                took,
            });
        }
        report
    }

    /// Starts reading the allowlists whose files changed (or that never loaded; all of them
    /// when `force`), one task per file, so they are read beside the feeds.
    fn start_allowlists(&self, force: bool) -> Vec<PendingAllowlist> {
        let mut out = Vec::new();
        for (i, a) in self.allow.iter().enumerate() {
            let single = !a.cfg.path.is_dir();
            let files: Vec<PathBuf> = if single {
                vec![a.cfg.path.clone()]
            } else {
                allowlist_files(&a.cfg.path)
            };
            let stamps: Vec<(PathBuf, Option<FileStamp>)> =
                files.iter().map(|p| (p.clone(), file_stamp(p))).collect();
            if a.loaded && stamps == a.stamps && !force {
                continue;
            }
            let tasks = files
                .into_iter()
                .map(|p| {
                    let cfg = a.cfg.clone();
                    tokio::task::spawn_blocking(move || read_allowlist_file(&cfg, single, &p))
                })
                .collect();
            out.push(PendingAllowlist {
                index: i,
                stamps,
                tasks,
            });
        }
        out
    }

    async fn finish_allowlists(&mut self, pending: Vec<PendingAllowlist>) -> Vec<AllowlistRefresh> {
        let mut out = Vec::new();
        let mut changed = false;
        for p in pending {
            let mut read: Result<Vec<(List, u64)>, String> = if p.tasks.is_empty() {
                Err(format!(
                    "{}: no allowlist files",
                    self.allow[p.index].cfg.path.display()
                ))
            } else {
                Ok(Vec::new())
            };
            for t in p.tasks {
                let r = t
                    .await
                    .unwrap_or_else(|e| Err(format!("reader task failed: {e}")));
                read = match (read, r) {
                    (Ok(mut lists), Ok(l)) => {
                        lists.push(l);
                        Ok(lists)
                    }
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                };
            }
            let a = &mut self.allow[p.index];
            let name = a
                .cfg
                .name
                .clone()
                .unwrap_or_else(|| super::feed_name(&a.cfg.path));
            match read {
                Ok(read) if a.loaded && read.iter().map(|r| r.1).eq(a.digests.iter().copied()) => {
                    // Read again (forced, or the stamps moved) with the same bytes.
                    a.stamps = p.stamps;
                    a.error = None;
                    out.push(AllowlistRefresh {
                        name,
                        updated: false,
                        error: None,
                    });
                }
                Ok(read) => {
                    (a.lists, a.digests) = read.into_iter().unzip();
                    a.stamps = p.stamps;
                    a.loaded = true;
                    a.error = None;
                    changed = true;
                    out.push(AllowlistRefresh {
                        name,
                        updated: true,
                        error: None,
                    });
                }
                Err(e) => {
                    tracing::warn!(allowlist = %name, error = ?e, "allowlist not read");
                    a.error = Some(e.clone());
                    out.push(AllowlistRefresh {
                        name,
                        updated: false,
                        error: Some(e),
                    });
                }
            }
        }
        if changed {
            self.merged = Allowlists::build(self.allow.iter().flat_map(|a| a.lists.iter()));
        }
        out
    }

    /// Compiles the generations in memory into a set, as of `now`, and notes when a listing in
    /// it next expires ([`Catalog::next_expiry`]).
    pub fn compile(&self, now: SystemTime) -> (IocSet, LoadReport) {
        let (set, report, next) = self.compile_feeds(now, None, None);
        self.next_expiry.store(next, Ordering::Relaxed);
        (set, report)
    }

    /// Compiles one feed alone (for per-feed memory figures).
    pub fn compile_one(&self, feed: usize, now: SystemTime) -> IocSet {
        self.compile_feeds(now, Some(feed), None).0
    }

    /// Every listing of every feed as listed, before the feeds' settings, the rails, the
    /// allowlists and the lifecycle: what feeds say, to find what a value would have matched
    /// (`iocd iocs lookup`). Costs a compile.
    pub fn compile_listed(&self) -> IocSet {
        let mut c = Compiler::new();
        for f in &self.feeds {
            let feed_no = c.add_feed(&f.cfg.name, &f.location());
            if let Some(g) = &f.generation {
                for l in g.listings.iter() {
                    c.add(&l.pattern, SourceRef::plain(feed_no, l.line));
                }
            }
        }
        c.build()
    }

    /// What compiling at `now` does with each listing whose pattern (as listed) `wanted`
    /// selects: matched, or why not (type filter, rail, allowlist, revoked, expired, ttl), with
    /// the feed and line that listed it. In configuration order.
    pub fn fates(&self, now: SystemTime, wanted: &dyn Fn(&Pattern) -> bool) -> Vec<ListingFate> {
        let mut out = Vec::new();
        let mut note = |feed: &FeedState, line: u32, listed: &Pattern, fate: Fate| {
            if wanted(listed) {
                out.push(ListingFate {
                    feed: feed.cfg.name.clone(),
                    location: feed.location(),
                    line,
                    pattern: listed.clone(),
                    fate,
                });
            }
        };
        self.compile_feeds(now, None, Some(&mut note));
        out
    }

    /// When a listing of the last compiled set next becomes inactive: the earliest
    /// `valid_until` or feed `ttl` end among the listings in it. `None` when none ever does
    /// (or nothing was compiled yet). Until then, compiling again gives the same set.
    pub fn next_expiry(&self) -> Option<SystemTime> {
        let s = self.next_expiry.load(Ordering::Relaxed);
        (s != NEVER).then(|| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64))
    }

    /// Whether an expiry pass at `now` has something to remove from the last compiled set.
    /// Reads and refreshes change the set too; they compile on their own.
    pub fn expiry_due(&self, now: SystemTime) -> bool {
        self.next_expiry().is_some_and(|t| t <= now)
    }

    /// The set, the report and the Unix second of the next expiry (`NEVER` for none).
    fn compile_feeds(
        &self,
        now: SystemTime,
        only: Option<usize>,
        mut observe: Option<&mut Observer<'_>>,
    ) -> (IocSet, LoadReport, i64) {
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut next_expiry = NEVER;
        let mut c = Compiler::new();
        // Sized once from the counts at hand: no table grows by copies during the compile.
        let (mut per_table, mut bytes) = ([0; N_TABLES], [0; N_TABLES]);
        let mut listings = 0;
        for (i, f) in self.feeds.iter().enumerate() {
            if let Some(g) = f
                .generation
                .as_ref()
                .filter(|_| only.is_none_or(|o| o == i))
            {
                g.listings.tally(&mut per_table, &mut bytes);
                listings += g.listings.len();
            }
        }
        c.reserve(listings, &per_table, &bytes);
        let mut report = LoadReport::default();
        let lists: Vec<&List> = self.allow.iter().flat_map(|a| a.lists.iter()).collect();
        let mut dropped = vec![0u64; lists.len()];
        for (i, f) in self.feeds.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let location = f.location();
            let feed_no = c.add_feed(&f.cfg.name, &location);
            c.set_feed_weight(feed_no, f.cfg.weight);
            let mut fr = FeedReport {
                name: f.cfg.name.clone(),
                location: location.clone(),
                error: f.error.clone(),
                ..FeedReport::default()
            };
            let Some(g) = &f.generation else {
                report.feeds.push(fr);
                continue;
            };
            fr.format = g.format.as_str();
            fr.bytes = g.bytes;
            fr.loaded_at = Some(g.loaded_at);
            fr.skipped = g.skipped.clone();
            fr.rejected_by = g.rejected_by.clone();
            // At most `keep_rejected` records per feed in the report: the parser's first,
            // then the first the rails and allowlists drop below.
            let mut room = f.cfg.keep_rejected().saturating_sub(g.rejected.len());
            report.rejected.extend(g.rejected.iter().cloned());
            let limits = Limits {
                min_prefix_v4: f.cfg.min_prefix_v4,
                min_prefix_v6: f.cfg.min_prefix_v6,
                allow_private: f.cfg.allow_private,
            };
            let loaded_s = g
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let ttl = f.cfg.ttl.map(|t| t.as_secs() as i64);
            let defaults =
                f.cfg.confidence.is_some() || f.cfg.severity.is_some() || f.cfg.tlp.is_some();
            let mut main_added = false;
            // When the main listing last added stops being active: its twin shares it.
            let mut main_until = NEVER;
            for l in g.listings.iter() {
                if l.twin {
                    // The HTTPS twin of a schemeless URL follows its main listing, and shares
                    // its fate.
                    if main_added {
                        c.add(&l.pattern, SourceRef::plain(feed_no, l.line));
                        next_expiry = next_expiry.min(main_until);
                    }
                    continue;
                }
                main_added = false;
                let mut note = |fate: Fate| {
                    if let Some(o) = observe.as_deref_mut() {
                        o(f, l.line, &l.pattern, fate);
                    }
                };
                let kind = l.pattern.kind();
                if !f.cfg.types.is_empty() && !f.cfg.types.contains(&kind) {
                    *fr.skipped.entry("type_filter").or_insert(0) += 1;
                    note(Fate::TypeFilter(f.cfg.types.clone()));
                    continue;
                }
                let pattern = adjust(&l.pattern, &f.cfg);
                let railed = if self.rails {
                    rails::check(&pattern, &limits)
                } else {
                    Ok(())
                };
                let drop = match railed {
                    Err(rail) => Some(Reason::Rail(rail)),
                    Ok(()) => self.merged.check(&pattern).map(|n| {
                        dropped[n] += 1;
                        Reason::Allowlisted(lists[n].name.clone())
                    }),
                };
                if let Some(reason) = drop {
                    note(Fate::Dropped(reason.clone()));
                    *fr.rejected_by.entry(reason.code()).or_insert(0) += 1;
                    if room > 0 {
                        room -= 1;
                        report.rejected.push(Rejected {
                            location: location.clone(),
                            line: l.line,
                            at: None,
                            value: pattern.to_string(),
                            reason,
                        });
                    }
                    continue;
                }
                let meta = l.meta;
                let until = meta.and_then(|m| m.valid_until);
                // Past its TTL once `seen + ttl < now`, that is from the second after.
                let ttl_end = ttl.map(|ttl| {
                    let seen = meta
                        .and_then(|m| m.last_seen.or(m.first_seen))
                        .unwrap_or(loaded_s);
                    seen.saturating_add(ttl).saturating_add(1)
                });
                let inactive = if l.revoked {
                    Some("revoked")
                } else if until.is_some_and(|t| t <= now_s) {
                    Some("expired")
                } else if ttl_end.is_some_and(|t| t <= now_s) {
                    Some("ttl")
                } else {
                    None
                };
                if let Some(why) = inactive {
                    note(Fate::Inactive {
                        why,
                        until: match why {
                            "expired" => until,
                            "ttl" => ttl_end.map(|t| t - 1),
                            _ => None,
                        },
                    });
                    fr.inactive += 1;
                    *fr.inactive_by.entry(why).or_insert(0) += 1;
                    continue;
                }
                let src = SourceRef::plain(feed_no, l.line);
                let new = if meta.is_some() || defaults {
                    let mut m = meta.cloned().unwrap_or_default();
                    m.confidence = m.confidence.or(f.cfg.confidence);
                    m.severity = m.severity.or(f.cfg.severity);
                    m.tlp = m.tlp.or(f.cfg.tlp);
                    c.add_with_meta(&pattern, src, m)
                } else {
                    c.add(&pattern, src)
                };
                note(Fate::Matched);
                main_added = true;
                main_until = until.unwrap_or(NEVER).min(ttl_end.unwrap_or(NEVER));
                next_expiry = next_expiry.min(main_until);
                fr.accepted += 1;
                if !new {
                    fr.merged += 1;
                }
            }
            fr.rejected = fr.rejected_by.values().sum();
            report.listings += fr.accepted + fr.rejected + fr.inactive;
            report.merged += fr.merged;
            report.feeds.push(fr);
        }
        let mut k = 0;
        for a in &self.allow {
            if a.lists.is_empty() {
                report.allowlists.push(AllowlistReport {
                    name: a
                        .cfg
                        .name
                        .clone()
                        .unwrap_or_else(|| super::feed_name(&a.cfg.path)),
                    location: a.cfg.path.display().to_string(),
                    error: a.error.clone(),
                    ..AllowlistReport::default()
                });
            }
            for l in &a.lists {
                report.allowlists.push(AllowlistReport {
                    name: l.name.clone(),
                    location: l.location.clone(),
                    entries: l.len() as u64,
                    rejected: l.rejected,
                    dropped: dropped[k],
                    error: a.error.clone(),
                });
                k += 1;
            }
        }
        (c.build(), report, next_expiry)
    }

    /// Names of the feeds, in configuration order.
    pub fn feed_names(&self) -> Vec<&str> {
        self.feeds.iter().map(|f| f.cfg.name.as_str()).collect()
    }
}

/// Called by a compile for each listing (not HTTPS twins) with its feed, line, pattern as
/// listed, and what became of it.
type Observer<'a> = dyn FnMut(&FeedState, u32, &Pattern, Fate) + 'a;

/// What a compile did with one listing ([`Catalog::fates`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// It is in the set: it matches.
    Matched,
    /// The feed keeps only these indicator types (`types`).
    TypeFilter(Vec<crate::matcher::IocKind>),
    /// A safety rail or an allowlist dropped it.
    Dropped(Reason),
    /// Kept but not matched: `revoked` by the feed, `expired` (past its `valid_until`), or
    /// past the feed's `ttl`; `until`: when it stopped being active (Unix seconds).
    Inactive {
        why: &'static str,
        until: Option<i64>,
    },
}

/// One listing and what became of it.
#[derive(Clone, Debug)]
pub struct ListingFate {
    pub feed: String,
    pub location: String,
    /// 1-based line; 0 for formats without lines (JSON, XML).
    pub line: u32,
    /// As the feed lists it.
    pub pattern: Pattern,
    pub fate: Fate,
}

/// The pattern as this feed lists it: with the feed's subdomain switch applied.
fn adjust<'a>(p: &'a Pattern, cfg: &FeedConfig) -> Cow<'a, Pattern> {
    match p {
        Pattern::Domain {
            name,
            subdomains: true,
        } if !cfg.subdomains => Cow::Owned(Pattern::Domain {
            name: name.clone(),
            subdomains: false,
        }),
        p => Cow::Borrowed(p),
    }
}

fn allowlist_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension().is_some_and(|x| {
                            let x = x.to_string_lossy().to_ascii_lowercase();
                            x == "json" || x == "txt" || x == "csv"
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Reads one allowlist file, and the hash of its bytes; `single` when the configured path is
/// this file (not a folder).
fn read_allowlist_file(
    cfg: &AllowlistConfig,
    single: bool,
    p: &Path,
) -> Result<(List, u64), String> {
    let location = p.display().to_string();
    let bytes = std::fs::read(p).map_err(|e| format!("{location}: cannot read: {e}"))?;
    let digest = content_hash(&bytes);
    let json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let name = if single { cfg.name.as_deref() } else { None };
    match cfg.format {
        AllowlistFormat::MispWarninglist => List::warninglist(name, &location, &bytes),
        AllowlistFormat::Auto if json => List::warninglist(name, &location, &bytes),
        AllowlistFormat::Auto | AllowlistFormat::Plain => Ok(List::plain(
            &name
                .map(str::to_owned)
                .unwrap_or_else(|| super::feed_name(p)),
            &location,
            &bytes,
        )),
    }
    .map(|l| (l, digest))
    .map_err(|e| format!("{location}: {e}"))
}

/// Allowlist files being read.
struct PendingAllowlist {
    index: usize,
    stamps: Vec<(PathBuf, Option<FileStamp>)>,
    tasks: Vec<tokio::task::JoinHandle<Result<(List, u64), String>>>,
}

/// One feed's refresh, with everything it needs owned so it can run as a task.
struct Job {
    index: usize,
    path: Option<PathBuf>,
    url: Option<String>,
    cache: Option<Cache>,
    format: feed::FeedFormat,
    opts: ParseOptions,
    http: crate::config::feeds::HttpOptions,
    /// Validators of the generation in memory (conditional request).
    validators: Option<Validators>,
    /// Stamp of the file generation in memory.
    stamp: Option<FileStamp>,
    /// Hash of the bytes of the file generation in memory.
    digest: Option<u64>,
    /// Read the file even when its stamp has not moved.
    force: bool,
    /// Rejected records to keep.
    keep_rejected: usize,
    client: Option<reqwest::Client>,
}

impl Job {
    async fn run(self) -> JobResult {
        if let Some(path) = self.path.clone() {
            return self.run_path(path).await;
        }
        let Some(url) = self.url.clone() else {
            return JobResult::Failed {
                reason: reason::FETCH,
                error: "neither `path` nor `url`".into(),
            };
        };
        self.run_url(url).await
    }

    async fn run_path(self, path: PathBuf) -> JobResult {
        let stamp = file_stamp(&path);
        if !self.force && stamp.is_some() && stamp == self.stamp {
            return JobResult::Unchanged { stamp: None };
        }
        let (format, opts, keep, known) = (self.format, self.opts, self.keep_rejected, self.digest);
        let job = tokio::task::spawn_blocking(move || {
            if path.is_dir() {
                // A MISP feed folder: parsed whole each time (it has no single stamp).
                return feed::parse_path(format, &path, &opts)
                    .map(|(parsed, n)| Some((Read::bounded(parsed, keep), n, None)))
                    .map_err(|e| (reason::PARSE, e.to_string()));
            }
            let location = path.display().to_string();
            let bytes = std::fs::read(&path)
                .map_err(|e| (reason::FETCH, format!("{location}: cannot read: {e}")))?;
            let digest = content_hash(&bytes);
            if known == Some(digest) {
                return Ok(None);
            }
            let n = bytes.len() as u64;
            let parsed = feed::parse(format, &location, &bytes, &opts)
                .map_err(|e| (reason::PARSE, e.to_string()))?;
            drop(bytes);
            Ok(Some((Read::bounded(parsed, keep), n, Some(digest))))
        });
        match job.await {
            Ok(Ok(None)) => JobResult::Unchanged { stamp },
            Ok(Ok(Some((read, bytes, digest)))) => JobResult::Loaded {
                read,
                bytes,
                validators: Validators::default(),
                stamp,
                digest,
                from_cache: false,
                failure: None,
                to_cache: None,
            },
            Ok(Err((reason, error))) => JobResult::Failed { reason, error },
            Err(e) => JobResult::Failed {
                reason: reason::PARSE,
                error: format!("parser task failed: {e}"),
            },
        }
    }

    async fn run_url(self, url: String) -> JobResult {
        let Some(client) = &self.client else {
            return JobResult::Failed {
                reason: reason::FETCH,
                error: format!("{url}: no HTTP client"),
            };
        };
        // Without a generation in memory, the cache is the copy a 304 would refer to.
        let cached = match (&self.validators, &self.cache) {
            (None, Some(c)) => {
                let c = c.clone();
                let u = url.clone();
                tokio::task::spawn_blocking(move || c.read(&u))
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        let validators = self.validators.clone().or_else(|| {
            cached
                .as_ref()
                .map(|c| c.1.clone())
                .filter(|v| !v.is_empty())
        });
        let folder = fetch::misp_folder_base(&url, self.format);
        let target = match &folder {
            Some(base) => format!("{base}manifest.json"),
            None => url.clone(),
        };
        let mut fetched = fetch::fetch(client, &target, &self.http, validators.as_ref()).await;
        let mut format = self.format;
        if let Some(base) = &folder {
            // The manifest changed: download its events, as one MISP response document.
            format = feed::FeedFormat::Misp;
            if let Ok(Fetched::Body { bytes, validators }) = fetched {
                fetched = fetch::misp_feed(client, base, &bytes, &self.http)
                    .await
                    .map(|bytes| Fetched::Body { bytes, validators });
            }
        }
        let opts = self.opts.clone();
        let keep = self.keep_rejected;
        let parse = move |bytes: Vec<u8>, loc: String| {
            let opts = opts.clone();
            async move {
                let at = loc.clone();
                tokio::task::spawn_blocking(move || {
                    let n = bytes.len() as u64;
                    feed::parse(format, &loc, &bytes, &opts)
                        .map(|p| (Read::bounded(p, keep), n, bytes))
                })
                .await
                .unwrap_or_else(|e| Err(FeedError::new(&at, format!("parser task failed: {e}"))))
            }
        };
        // The download failed for `why`: the cached copy, if there is one and it parses.
        let (parse_ref, url_ref) = (&parse, &url);
        let from_cache = move |cached: Option<(Vec<u8>, Validators)>,
                               code: &'static str,
                               why: String| async move {
            match cached {
                None => JobResult::Failed {
                    reason: code,
                    error: why,
                },
                Some((bytes, v)) => match parse_ref(bytes, url_ref.clone()).await {
                    Ok((read, n, _)) => JobResult::Loaded {
                        read,
                        bytes: n,
                        validators: v,
                        stamp: None,
                        digest: None,
                        from_cache: true,
                        failure: Some((code, why)),
                        to_cache: None,
                    },
                    Err(e) => JobResult::Failed {
                        reason: code,
                        error: format!("{why}; the cached copy does not parse: {e}"),
                    },
                },
            }
        };
        match fetched {
            Ok(Fetched::NotModified) if self.validators.is_some() => {
                JobResult::Unchanged { stamp: None }
            }
            Ok(Fetched::NotModified) => {
                // The server says the cached copy is current.
                match from_cache(cached, reason::FETCH, String::new()).await {
                    JobResult::Loaded {
                        read,
                        bytes,
                        validators,
                        stamp,
                        digest,
                        ..
                    } => JobResult::Loaded {
                        read,
                        bytes,
                        validators,
                        stamp,
                        digest,
                        from_cache: true,
                        failure: None,
                        to_cache: None,
                    },
                    JobResult::Failed { reason, error } if error.is_empty() => JobResult::Failed {
                        reason,
                        error: format!("{url}: 304 Not Modified, and no cached copy"),
                    },
                    other => other,
                }
            }
            Ok(Fetched::Body { bytes, validators }) => match parse(bytes, url.clone()).await {
                Ok((read, n, bytes)) => JobResult::Loaded {
                    read,
                    bytes: n,
                    validators,
                    stamp: None,
                    digest: None,
                    from_cache: false,
                    failure: None,
                    to_cache: self.cache.clone().map(|c| (c, url.clone(), bytes)),
                },
                Err(e) => from_cache(cached, reason::PARSE, e.to_string()).await,
            },
            Err(e) => from_cache(cached, reason::FETCH, format!("{url}: {e}")).await,
        }
    }
}

/// Loads every feed and allowlist of a configuration once, blocking (for the CLI).
///
/// A feed or allowlist that cannot be read at all is reported in its [`FeedReport::error`]
/// (and [`AllowlistReport::error`]), not as an error: the other feeds still load. It runs its
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
