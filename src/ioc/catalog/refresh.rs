//! Reading feeds and allowlists into the catalog: files, folders and HTTP(S), each read or
//! fetched, parsed off the async threads and checked by the refresh guard.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::feeds::{AllowlistConfig, AllowlistFormat};
use crate::ioc::allowlist::{Allowlists, List};
use crate::ioc::feed::{self, FeedError, ParseOptions};
use crate::ioc::fetch::{self, Cache, Fetched, Validators};
use crate::ioc::listings::Listings;

use super::*;

impl Catalog {
    /// Refreshes the feeds `which`; `force`: read files even when their stamp did not move.
    pub(super) async fn refresh(
        &mut self,
        which: &[usize],
        now: SystemTime,
        force: bool,
    ) -> RefreshReport {
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
            let client = match &f.client {
                Some(Ok(c)) => Some(Ok(c.clone())),
                Some(Err(e)) => Some(Err(e.clone())),
                None => self.client.clone().map(Ok),
            };
            let job = Job {
                index: i,
                name: f.cfg.name.clone(),
                kind: f.cfg.kind,
                taxii: f.cfg.taxii.clone(),
                misp_api: f.cfg.misp_api.clone(),
                tip: f.tip.clone(),
                has_generation: f.generation.is_some(),
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
                client,
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
                    commit,
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
                            if let Some(crate::ioc::tip::Commit {
                                store,
                                source,
                                delta,
                            }) = commit.map(|c| *c)
                            {
                                // Only a collection the guard accepted moves the cursor.
                                let written = tokio::task::spawn_blocking(move || {
                                    store.commit(&source, delta)
                                })
                                .await;
                                if let Ok(Err(e)) = written {
                                    tracing::warn!(feed = %f.cfg.name, error = ?e, "cannot write the feed's state");
                                }
                            }
                            if let Some((c, u, body)) = to_cache.map(|b| *b) {
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
    pub(super) fn start_allowlists(&self, force: bool) -> Vec<PendingAllowlist> {
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

    pub(super) async fn finish_allowlists(
        &mut self,
        pending: Vec<PendingAllowlist>,
    ) -> Vec<AllowlistRefresh> {
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
                .unwrap_or_else(|| crate::ioc::feed_name(&a.cfg.path));
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
}

pub(super) fn allowlist_files(dir: &Path) -> Vec<PathBuf> {
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
pub(super) fn read_allowlist_file(
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
                .unwrap_or_else(|| crate::ioc::feed_name(p)),
            &location,
            &bytes,
        )),
    }
    .map(|l| (l, digest))
    .map_err(|e| format!("{location}: {e}"))
}

/// Allowlist files being read.
pub(super) struct PendingAllowlist {
    index: usize,
    stamps: Vec<(PathBuf, Option<FileStamp>)>,
    tasks: Vec<tokio::task::JoinHandle<Result<(List, u64), String>>>,
}

/// One feed's refresh, with everything it needs owned so it can run as a task.
pub(super) struct Job {
    index: usize,
    name: String,
    kind: crate::config::feeds::FeedKind,
    taxii: Option<crate::config::feeds::TaxiiConfig>,
    misp_api: Option<crate::config::feeds::MispApiConfig>,
    tip: Option<std::sync::Arc<crate::ioc::tip::Store>>,
    /// The feed has a generation in memory.
    has_generation: bool,
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
    /// The HTTP client for URL feeds (the feed's own, or the shared one), or why the feed's
    /// own could not be built.
    client: Option<Result<reqwest::Client, String>>,
}

impl Job {
    pub(super) async fn run(self) -> JobResult {
        if self.kind != crate::config::feeds::FeedKind::Document {
            return self.run_platform().await;
        }
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

    pub(super) async fn run_path(self, path: PathBuf) -> JobResult {
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
                commit: None,
            },
            Ok(Err((reason, error))) => JobResult::Failed { reason, error },
            Err(e) => JobResult::Failed {
                reason: reason::PARSE,
                error: format!("parser task failed: {e}"),
            },
        }
    }

    /// The HTTP client, or the failed result that says why there is none (boxed: the
    /// result is large and the failure rare).
    fn http_client(&self, url: &str) -> Result<&reqwest::Client, Box<JobResult>> {
        let error = match &self.client {
            Some(Ok(c)) => return Ok(c),
            Some(Err(e)) => format!("{url}: {e}"),
            None => format!("{url}: no HTTP client"),
        };
        Err(Box::new(JobResult::Failed {
            reason: reason::FETCH,
            error,
        }))
    }

    /// A TAXII collection or a MISP server: poll from the saved cursor, merge, and hand the
    /// whole collection to the parser; the new state is committed if the guard accepts it.
    async fn run_platform(self) -> JobResult {
        use crate::config::feeds::FeedKind;
        use crate::ioc::tip;
        let url = self.url.clone().unwrap_or_default();
        let client = match self.http_client(&url) {
            Ok(c) => c,
            Err(failed) => return *failed,
        };
        let Some(store) = self.tip.clone() else {
            return JobResult::Failed {
                reason: reason::FETCH,
                error: format!("{url}: no `cache` to keep the collection's state in"),
            };
        };
        enum Platform<'a> {
            Taxii(&'a crate::config::feeds::TaxiiConfig),
            Misp(&'a crate::config::feeds::MispApiConfig),
        }
        let (platform, source, format) = match (self.kind, &self.taxii, &self.misp_api) {
            (FeedKind::Taxii, Some(t), _) => (
                Platform::Taxii(t),
                tip::taxii::source(&url, t),
                feed::FeedFormat::Stix,
            ),
            (FeedKind::MispApi, _, Some(m)) => (
                Platform::Misp(m),
                tip::misp::source(&url, m),
                feed::FeedFormat::Misp,
            ),
            _ => {
                return JobResult::Failed {
                    reason: reason::FETCH,
                    error: format!("{url}: the feed's `type` table is missing"),
                };
            }
        };
        let (s2, st) = (source.clone(), store.clone());
        let state = match tokio::task::spawn_blocking(move || st.load(&s2)).await {
            Ok(s) => s,
            Err(e) => {
                return JobResult::Failed {
                    reason: reason::FETCH,
                    error: format!("{url}: reading the state failed: {e}"),
                };
            }
        };
        let polled = match platform {
            Platform::Taxii(t) => tip::taxii::poll(client, &self.http, &url, t, &state).await,
            Platform::Misp(m) => {
                let now = SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                tip::misp::poll(client, &self.http, &url, m, &state, now).await
            }
        };
        let (delta, failure) = match polled {
            Ok((p, delta)) => {
                tracing::info!(
                    feed = %self.name,
                    requests = p.requests,
                    received = p.received,
                    changed = p.changed,
                    removed = p.removed,
                    truncated = p.truncated,
                    kept = state.len_with(&delta),
                    "platform poll"
                );
                (Some((p, delta)), None)
            }
            Err(e) => (None, Some((reason::FETCH, format!("{url}: {e}")))),
        };
        let nothing_new = delta
            .as_ref()
            .is_some_and(|(p, _)| p.changed == 0 && p.removed == 0);
        if self.has_generation && (nothing_new || failure.is_some()) {
            if let Some((_, d)) = delta
                && (d.cursor.is_some() || d.last_full.is_some())
            {
                // The cursor moved without news (a full MISP pull's time): keep it.
                drop(state);
                let written = tokio::task::spawn_blocking(move || store.commit(&source, d)).await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(feed = %self.name, error = ?e, "cannot write the feed's state");
                }
            }
            return match failure {
                None => JobResult::Unchanged { stamp: None },
                Some((reason, error)) => JobResult::Failed { reason, error },
            };
        }
        // Without a generation in memory, a failed poll still has the saved collection.
        if let Some((reason, error)) = &failure
            && state.objects.is_empty()
        {
            return JobResult::Failed {
                reason,
                error: error.clone(),
            };
        }
        let delta = delta.map(|(_, d)| d).unwrap_or_default();
        let (opts, keep) = (self.opts.clone(), self.keep_rejected);
        let at = url.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let bytes = match format {
                feed::FeedFormat::Stix => tip::stix_bundle(&state, &delta),
                _ => tip::misp_attributes(&state, &delta),
            };
            // The poll's hold on the state ends here: the commit can apply in place.
            drop(state);
            let n = bytes.len() as u64;
            feed::parse(format, &at, &bytes, &opts).map(|p| (Read::bounded(p, keep), n, delta))
        })
        .await;
        match parsed {
            Ok(Ok((read, n, delta))) => JobResult::Loaded {
                read,
                bytes: n,
                validators: Validators::default(),
                stamp: None,
                digest: None,
                from_cache: failure.is_some(),
                failure,
                to_cache: None,
                commit: Some(Box::new(tip::Commit {
                    store,
                    source,
                    delta,
                })),
            },
            Ok(Err(e)) => JobResult::Failed {
                reason: reason::PARSE,
                error: e.to_string(),
            },
            Err(e) => JobResult::Failed {
                reason: reason::PARSE,
                error: format!("parser task failed: {e}"),
            },
        }
    }

    pub(super) async fn run_url(self, url: String) -> JobResult {
        let client = match self.http_client(&url) {
            Ok(c) => c,
            Err(failed) => return *failed,
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
                        commit: None,
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
                        commit: None,
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
                    to_cache: self
                        .cache
                        .clone()
                        .map(|c| Box::new((c, url.clone(), bytes))),
                    commit: None,
                },
                Err(e) => from_cache(cached, reason::PARSE, e.to_string()).await,
            },
            Err(e) => from_cache(cached, reason::FETCH, format!("{url}: {e}")).await,
        }
    }
}
