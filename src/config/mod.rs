//! Configuration: one TOML file, read into typed structs, then validated as a whole.
//!
//! Reading ([`Config::from_toml`], see `load`) reports every unknown key (with the valid keys
//! closest to it), wrong type and missing key, each with its key path and line; validation
//! ([`Config::validate`]) then checks what types cannot say (files that must exist, one of
//! `path`/`url`, addresses used twice, every number and duration within the range iocd can
//! run with, ...). [`Config::load`] reports both kinds together, before any socket is bound:
//! a configuration that passes cannot make `iocd run` panic.
//!
//! The doc comment of each field is the manual; `config/iocd.example.toml` lists every key
//! with its default.

pub mod export;
pub mod feeds;
pub mod kafka;
mod load;
pub mod retro;
pub mod triage;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use export::ExportConfig;
pub use feeds::{AllowlistConfig, FeedConfig};
pub use kafka::{KafkaSinkConfig, KafkaSourceConfig, StartPosition};

mod admin;
mod sinks;
mod sources;
mod validate;
pub use admin::*;
pub use sinks::*;
pub use sources::*;
pub(crate) use validate::*;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub engine: EngineConfig,
    /// Indicator feeds. Each is one source of indicators; the same indicator in several
    /// feeds is one indicator with one source per feed.
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    /// Known-good values dropped from every feed at load.
    #[serde(default)]
    pub allowlists: Vec<AllowlistConfig>,
    /// A compiled set file (`iocd iocs compile -o FILE`) to match with instead of feeds: the
    /// daemon maps it (a million indicators ready in milliseconds, pages shared with every
    /// process that maps it) and maps it again when it changes, on SIGHUP and on
    /// `POST /reload`. Its feeds, allowlists, rails and expiries were applied when it was
    /// compiled, so `feeds` and `allowlists` must be empty; compile it again to take feed
    /// changes and expiries.
    #[serde(default)]
    pub compiled_set: Option<PathBuf>,
    #[serde(default)]
    pub reload: ReloadConfig,
    #[serde(default)]
    pub sources: SourcesConfig,
    /// Where alerts go. Default: one stdout sink.
    #[serde(default = "default_sinks")]
    pub sinks: Vec<SinkConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Analysts' false-positive marks (admin API and a watched file).
    #[serde(default)]
    pub feedback: FeedbackConfig,
    /// Hits exported as MISP sightings.
    #[serde(default)]
    pub sightings: SightingsConfig,
    /// How hits become alerts: score and priority, assets, match-time allowlists,
    /// deduplication, flood guard, routing by priority and digests.
    #[serde(default)]
    pub triage: triage::TriageConfig,
    /// Views of the current set written for firewalls, resolvers and sensors (see
    /// the export module).
    #[serde(default)]
    pub exports: Vec<ExportConfig>,
    /// Serves the exports over HTTP(S) for firewalls that pull their lists (off when absent).
    #[serde(default)]
    pub export_listener: Option<export::ExportListenerConfig>,
    /// Retro-matching of the indicators each reload adds against recent history.
    #[serde(default)]
    pub retro: retro::RetroConfig,
}

/// False-positive marks: `POST /feedback` on the admin server, and a watched file. See
/// the feedback module for the file format.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// A file of marks, one per line, reloaded when it changes (checked every
    /// `reload.watch_interval`). Bad lines are reported and skipped.
    pub file: Option<PathBuf>,
    /// Where marks made through the admin API are kept across restarts (JSON, replaced
    /// atomically). Unset: API marks last until iocd stops.
    pub state: Option<PathBuf>,
    /// Marks kept from each place: an API mark beyond it is refused (409) until one is
    /// removed; a file with more marks is refused whole (its previous marks stay). Each
    /// refusal is logged and counted (`iocd_feedback_refused_total`).
    pub(crate) max_marks: usize,
    /// Largest feedback file read; a larger one is refused whole, its previous marks stay.
    pub(crate) max_file_bytes: u64,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            file: None,
            state: None,
            max_marks: 10_000,
            max_file_bytes: 4 << 20,
        }
    }
}

/// MISP sightings: every hit a sighting (type 0), hits marked false positive type 1,
/// aggregated per indicator and type and flushed every `interval`. Enabled when `file` or
/// `misp_url` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SightingsConfig {
    /// JSON lines, one per indicator and type per interval, with count and first/last time.
    pub file: Option<PathBuf>,
    /// Base URL of a MISP server; sightings are POSTed to `<misp_url>/sightings/add`.
    pub misp_url: Option<String>,
    /// MISP API key (sent as `Authorization`). Prefer `api_key_file`.
    pub api_key: Option<String>,
    /// A file holding the MISP API key.
    pub api_key_file: Option<PathBuf>,
    /// The `source` of every sighting.
    pub source: String,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Verify the MISP server's certificate (system roots).
    pub verify_tls: bool,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First delay between immediate retries of a failed request (doubles, 3 retries); what
    /// still fails waits for the next interval.
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Indicator-and-type entries held while waiting to be sent (per output, and for the
    /// interval being aggregated); beyond it the oldest are dropped and counted.
    pub max_pending: usize,
}

impl Default for SightingsConfig {
    fn default() -> Self {
        SightingsConfig {
            file: None,
            misp_url: None,
            api_key: None,
            api_key_file: None,
            source: "iocd".to_owned(),
            interval: Duration::from_secs(60),
            verify_tls: true,
            request_timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(1),
            max_pending: 100_000,
        }
    }
}

impl SightingsConfig {
    /// Whether any output is configured.
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.misp_url.is_some()
    }
}

/// The matching threads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Matcher threads; 0 means one per core.
    pub threads: usize,
    /// A batch is handed to a matcher once it holds this many bytes of lines (or when its
    /// source has nothing more to read right now).
    pub batch_bytes: usize,
    /// Batches that may wait for a matcher. When the queue is full, sources stop reading
    /// (TCP) or drop and count (UDP).
    pub queue_batches: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threads: 0,
            batch_bytes: 64 * 1024,
            queue_batches: 64,
        }
    }
}

/// When the indicator set is rebuilt besides SIGHUP and `POST /reload`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Rebuild when a feed or allowlist file changes (checked every `watch_interval`).
    pub watch_files: bool,
    #[serde(with = "humantime_serde")]
    pub watch_interval: Duration,
    /// How often indicator expiry (`valid_until`, feed TTL) is re-evaluated without reading
    /// the feeds again.
    #[serde(with = "humantime_serde")]
    pub expiry_interval: Duration,
    /// Default of every feed's `max_shrink`: a refresh that would drop more than this share
    /// of a feed's indicators (or leave none of them) is refused and the previous generation
    /// stays. 1.0 accepts any shrink.
    pub max_shrink: f64,
    /// Default of every feed's `max_rejected`: a document whose rejected records are more
    /// than this share of its records is refused when the feed has a generation to keep
    /// (at the first load, a warning).
    pub max_rejected: f64,
    /// Default of every feed's `keep_rejected`: rejected records kept per feed, with file,
    /// line and reason, for reports; the others are only counted by reason.
    pub keep_rejected: usize,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            watch_files: true,
            watch_interval: Duration::from_secs(5),
            expiry_interval: Duration::from_secs(60),
            max_shrink: feeds::DEFAULT_MAX_SHRINK,
            max_rejected: feeds::DEFAULT_MAX_REJECTED,
            keep_rejected: feeds::DEFAULT_KEEP_REJECTED,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM/SIGINT: stop intake, drain queues, flush sinks; exit after at most this
    /// long. A second signal exits at once.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace: Duration::from_secs(10),
        }
    }
}

/// iocd's own log, on standard error.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a tracing filter directive.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Every problem found in a configuration, each with its key path (and, once read from a
/// file, the line it is on: see [`ConfigErrors::line`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<(String, String)>, Vec<Option<usize>>);

impl ConfigErrors {
    pub fn push(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.0.push((path.into(), msg.into()));
    }
    /// [`ConfigErrors::push`] with the 1-based line of the file the problem is on.
    pub(crate) fn push_at_line(
        &mut self,
        path: impl Into<String>,
        line: Option<usize>,
        msg: impl Into<String>,
    ) {
        self.1.resize(self.0.len(), None);
        self.0.push((path.into(), msg.into()));
        self.1.push(line);
    }
    /// In the order of the file; problems without a line last.
    fn sort_by_line(&mut self) {
        self.1.resize(self.0.len(), None);
        let mut both: Vec<_> = self.0.drain(..).zip(self.1.drain(..)).collect();
        both.sort_by_key(|(_, line)| line.unwrap_or(usize::MAX));
        (self.0, self.1) = both.into_iter().unzip();
    }

    /// The line of the `i`th problem, when known.
    pub fn line(&self, i: usize) -> Option<usize> {
        self.1.get(i).copied().flatten()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} error{} in configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, (path, msg)) in self.0.iter().enumerate() {
            match self.line(i) {
                Some(line) => write!(f, "\n  {path} (line {line}): {msg}")?,
                None => write!(f, "\n  {path}: {msg}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Every sink's name, in configuration order (see [`sink_names`]).
    pub fn sink_names(&self) -> Vec<String> {
        sink_names(&self.sinks)
    }

    /// Reads a configuration file, resolves relative paths against the file's folder, and
    /// validates it: every problem at once, reading and semantic ones together, each with its
    /// key path and line.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut errs = ConfigErrors::default();
            errs.push(path.display().to_string(), format!("cannot read: {e}"));
            errs
        })?;
        Config::check(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// [`Config::load`] of `text`, relative paths resolved against `base`.
    fn check(text: &str, base: &Path) -> Result<Config, ConfigErrors> {
        let mut read = load::read(text);
        let mut errs = std::mem::take(&mut read.errors);
        let Some(mut cfg) = read.config.take() else {
            errs.sort_by_line();
            return Err(errs);
        };
        cfg.resolve_paths(base);
        if let Err(found) = cfg.validate() {
            for (i, (path, msg)) in found.0.iter().enumerate() {
                if read.hides(path) {
                    continue;
                }
                let path = read.path_in_file(path);
                let line = found
                    .line(i)
                    .or_else(|| read.doc.as_ref().and_then(|d| d.line(&path)));
                errs.push_at_line(path, line, msg.clone());
            }
        }
        if errs.is_empty() {
            return Ok(cfg);
        }
        errs.sort_by_line();
        Err(errs)
    }

    /// Parses TOML text (no semantic checks): a syntax error, or every unknown key, wrong
    /// type and missing key, each with its key path and line.
    pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
        let read = load::read(text);
        match read.config {
            Some(cfg) if read.errors.is_empty() => Ok(cfg),
            _ => Err(read.errors),
        }
    }

    /// Makes relative paths relative to `base` (the config file's folder), so that a unit
    /// file or a test can run iocd from any working directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        // Also resolved against their context: feeds without their own refresh-guard keys
        // take the `[reload]` defaults.
        feeds::inherit_guard(&mut self.feeds, &self.reload);
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for f in &mut self.feeds {
            if let Some(p) = &mut f.path {
                fix(p);
            }
            if let Some(p) = &mut f.cache {
                fix(p);
            }
        }
        for a in &mut self.allowlists {
            fix(&mut a.path);
        }
        if let Some(p) = &mut self.compiled_set {
            fix(p);
        }
        for p in &mut self.triage.flood.shared_infrastructure {
            fix(p);
        }
        for e in &mut self.exports {
            fix(&mut e.path);
        }
        if let Some(l) = &mut self.export_listener {
            for p in [
                &mut l.token_file,
                &mut l.basic_password_file,
                &mut l.tls_cert,
                &mut l.tls_key,
            ]
            .into_iter()
            .flatten()
            {
                fix(p);
            }
        }
        for p in [
            &mut self.feedback.file,
            &mut self.feedback.state,
            &mut self.sightings.file,
            &mut self.sightings.api_key_file,
            &mut self.admin.token_file,
            &mut self.retro.dir,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        if let Some(t) = &mut self.sources.syslog_tls {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        for f in &mut self.sources.files {
            fix(&mut f.path);
        }
        for s in &mut self.sinks {
            match s {
                SinkConfig::File { path, .. } => fix(path),
                SinkConfig::Syslog {
                    ca, dead_letter, ..
                } => {
                    for p in [ca, dead_letter].into_iter().flatten() {
                        fix(p);
                    }
                }
                SinkConfig::Http(h) => {
                    if let Some(p) = &mut h.dead_letter {
                        fix(p);
                    }
                }
                SinkConfig::Kafka(k) => {
                    if let Some(p) = &mut k.dead_letter {
                        fix(p);
                    }
                }
                SinkConfig::Stdout { .. } => {}
            }
        }
    }

    /// Matcher threads to start.
    pub fn threads(&self) -> usize {
        match self.engine.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests;
