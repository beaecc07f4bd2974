//! The catalog of a daemon that runs on a compiled set file (`compiled_set` in the
//! configuration) instead of feeds: reading is mapping the file, compiling is checking it
//! again, and its one "feed" for health and readiness is the file.
//!
//! The feeds, allowlists, rails and lifecycle were applied when the file was compiled
//! (`iocd iocs compile`), so there is nothing to refresh on a schedule and nothing expires
//! here: compile the file again to take feed changes or expiries (a timer next to the feeds),
//! and the daemon maps the new file when it changes (watched like a feed file), on SIGHUP
//! and on `POST /reload`.

use std::time::Instant;

use super::*;
use crate::ioc::setfile::{self, SetBytes};
use crate::ioc::{FeedReport, feed_name};

/// The file and what was last read of it.
#[derive(Default)]
pub(super) struct CompiledFile {
    path: PathBuf,
    name: String,
    /// The bytes in use, with their provenance and when they were mapped.
    current: Option<(SetBytes, Option<setfile::Provenance>, SystemTime)>,
    /// The set checked when `current` was mapped, until a compile takes it (so that a file is
    /// checked once, and what is swapped in is what was checked).
    pending: std::sync::Mutex<Option<IocSet>>,
    last_attempt: Option<SystemTime>,
    last_success: Option<SystemTime>,
    error: Option<String>,
}

impl std::fmt::Debug for CompiledFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledFile")
            .field("path", &self.path)
            .field("loaded", &self.current.is_some())
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A catalog that serves the compiled set file at `path`; nothing is read until a
    /// refresh.
    pub fn compiled(path: &Path) -> Catalog {
        let mut c = Catalog::new(&[], &[]);
        c.compiled = Some(Box::new(CompiledFile {
            path: path.to_owned(),
            name: feed_name(path),
            ..CompiledFile::default()
        }));
        c
    }

    /// Maps the file again when `always` or when it changed since it was mapped (or the
    /// mapping lost pages); a file that cannot be used leaves the one in use.
    pub(super) fn refresh_compiled(&mut self, always: bool) -> RefreshReport {
        let Some(c) = self.compiled.as_deref_mut() else {
            return RefreshReport::default();
        };
        let t = Instant::now();
        let now = SystemTime::now();
        let stamp = std::fs::metadata(&c.path)
            .ok()
            .map(|m| setfile::file_stamp(&m));
        let current = c.current.as_ref().map(|(b, _, _)| b);
        let same = current.is_some_and(|b| Some(b.stamp) == stamp && b.damaged_pages() == 0);
        let mut refresh = FeedRefresh {
            name: c.name.clone(),
            outcome: Outcome::Unchanged,
            error: None,
            reason: None,
            fetch: "not_modified",
            changed: false,
            took: Duration::ZERO,
        };
        if !same || always {
            c.last_attempt = Some(now);
            match setfile::open(&c.path) {
                // Read again on request (SIGHUP, `POST /reload`) and the same set: keep the
                // mapping in use, whose pages are the ones the guard watches.
                Ok(opened)
                    if same && current.is_some_and(|b| b.checksum() == opened.bytes.checksum()) =>
                {
                    refresh.fetch = "not_modified";
                    c.last_success = Some(now);
                    c.error = None;
                }
                Ok(opened) => {
                    refresh.fetch = "ok";
                    refresh.changed = !same;
                    refresh.outcome = Outcome::Updated {
                        listings: opened.set.len(),
                        rejected: 0,
                        bytes: opened.bytes.len(),
                        from_cache: false,
                    };
                    tracing::info!(
                        file = %c.path.display(),
                        indicators = opened.set.len(),
                        bytes = opened.bytes.len(),
                        mapped = opened.bytes.mapped(),
                        seconds = opened.took.as_secs_f64(),
                        "compiled set file read"
                    );
                    c.current = Some((opened.bytes, opened.provenance, now));
                    *c.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(opened.set);
                    c.last_success = Some(now);
                    c.error = None;
                }
                Err(e) => {
                    let kept = c.current.is_some();
                    let (reason, fetch) = match &e {
                        setfile::SetFileError::Io { .. } => (reason::FETCH, "error"),
                        setfile::SetFileError::Format { .. } => (reason::PARSE, "ok"),
                    };
                    tracing::error!(
                        error = %e,
                        kept_previous = kept,
                        "the compiled set file cannot be used; {}",
                        if kept {
                            "the set mapped before stays in use"
                        } else {
                            "no indicators are loaded until it can"
                        }
                    );
                    refresh.outcome = Outcome::Failed {
                        kept_previous: kept,
                    };
                    refresh.error = Some(e.to_string());
                    refresh.reason = Some(reason);
                    refresh.fetch = fetch;
                    c.error = Some(e.to_string());
                }
            }
        }
        if let Some((b, _, _)) = &c.current
            && b.damaged_pages() > 0
        {
            let e = format!(
                "{}: the file was truncated under its mapping: {} page(s) of the set in use read as zeros, so it can miss indicators; compile and replace it (iocd iocs compile writes a new file and renames it)",
                c.path.display(),
                b.damaged_pages()
            );
            tracing::error!("{e}");
            c.error = Some(e);
        }
        refresh.took = t.elapsed();
        RefreshReport {
            feeds: vec![refresh],
            allowlists: Vec::new(),
        }
    }

    /// The set of the file in use, checked again; the empty set before the first map.
    pub(super) fn compile_compiled(&self, c: &CompiledFile) -> (IocSet, LoadReport) {
        let mut report = LoadReport::default();
        let Some((bytes, prov, at)) = &c.current else {
            report.feeds.push(FeedReport {
                name: c.name.clone(),
                location: c.path.display().to_string(),
                error: c.error.clone(),
                ..FeedReport::default()
            });
            return (IocSet::empty(), report);
        };
        let pending = c.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        let set = match pending {
            Some(set) => set,
            // Taken by an earlier compile: the same bytes, checked again.
            None => bytes.reopen().unwrap_or_else(|e| {
                // The bytes changed under the mapping since they were checked (the file was
                // rewritten in place). The caller keeps the set in use when a compile panics
                // (counted, logged): better than swapping in a set that is wrong.
                panic!(
                    "{}: the compiled set file changed under its mapping: {e}",
                    c.path.display()
                )
            }),
        };
        let accepted = set.len() as u64;
        report.listings = accepted;
        report.feeds.push(FeedReport {
            name: c.name.clone(),
            location: c.path.display().to_string(),
            format: "compiled",
            accepted,
            rejected: prov.as_ref().map_or(0, |p| p.rejected),
            bytes: bytes.len(),
            loaded_at: Some(*at),
            error: c.error.clone(),
            ..FeedReport::default()
        });
        (set, report)
    }

    pub(super) fn compiled_health(c: &CompiledFile) -> FeedHealth {
        FeedHealth {
            name: c.name.clone(),
            up: c.last_attempt.map(|_| c.error.is_none()),
            last_success: c.last_success,
            loaded_at: c.current.as_ref().map(|(_, _, at)| *at),
        }
    }

    /// Whether the file in use lost pages (then the daemon is not ready: it may miss hits).
    pub(super) fn compiled_missing(c: &CompiledFile) -> bool {
        c.current
            .as_ref()
            .is_none_or(|(b, _, _)| b.damaged_pages() > 0)
    }

    pub(super) fn compiled_file(&self) -> Option<&CompiledFile> {
        self.compiled.as_deref()
    }

    pub(super) fn compiled_path(c: &CompiledFile) -> PathBuf {
        c.path.clone()
    }

    /// The compiled set's provenance (what `iocd iocs compile` wrote), if one is mapped.
    pub fn compiled_provenance(&self) -> Option<&setfile::Provenance> {
        self.compiled
            .as_deref()
            .and_then(|c| c.current.as_ref())
            .and_then(|(_, p, _)| p.as_ref())
    }
}

/// The file's feed name.
pub(super) fn c_name(c: &CompiledFile) -> &str {
    &c.name
}
