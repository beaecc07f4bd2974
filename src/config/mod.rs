//! Configuration: one TOML file, read into typed structs, then validated as a whole.
//!
//! Reading ([`Config::from_toml`]) rejects unknown keys and wrong types with the key's path
//! (serde stops at the first such error). Validation ([`Config::validate`]) then checks what
//! types cannot say (files that must exist, one of `path`/`url`, addresses used twice, ...)
//! and reports *every* problem at once, each with its key path, before any socket is bound.
//!
//! The doc comment of each field is the manual; `config/iocd.example.toml` lists every key
//! with its default.

pub mod feeds;
pub mod kafka;
pub mod triage;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use feeds::{AllowlistConfig, FeedConfig};
pub use kafka::{KafkaSinkConfig, KafkaSourceConfig, StartPosition};

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
}

/// False-positive marks: `POST /feedback` on the admin server, and a watched file. See
/// `crate::feedback` for the file format.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// A file of marks, one per line, reloaded when it changes (checked every
    /// `reload.watch_interval`). Bad lines are reported and skipped.
    pub file: Option<PathBuf>,
    /// Where marks made through the admin API are kept across restarts (JSON, replaced
    /// atomically). Unset: API marks last until iocd stops.
    pub state: Option<PathBuf>,
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

/// Log sources. Each one present is enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Syslog over UDP (RFC 3164 or RFC 5424, one message per datagram). Best effort: when
    /// the queue is full, datagrams are dropped and counted.
    pub syslog_udp: Option<UdpConfig>,
    /// Syslog over TCP: LF framing or RFC 6587 octet counting, detected per connection.
    /// Backpressure: when the queue is full, iocd stops reading.
    pub syslog_tcp: Option<TcpConfig>,
    /// Syslog over TCP with TLS (rustls).
    pub syslog_tls: Option<TlsConfig>,
    /// Files followed like `tail -F`, across rotation.
    #[serde(default)]
    pub files: Vec<FileSourceConfig>,
    /// Read lines from standard input until it ends.
    #[serde(default)]
    pub stdin: bool,
    /// A Kafka consumer group: one message is one line; offsets are committed only once
    /// every alert of every message up to them has been delivered by every sink.
    pub kafka: Option<KafkaSourceConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpConfig {
    pub listen: SocketAddr,
    /// Longer datagrams are truncated to this and counted.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    pub listen: SocketAddr,
    /// Longer messages are truncated to this and counted.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Connections beyond this wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection silent for this long is closed.
    #[serde(default = "default_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(flatten)]
    pub tcp: TcpConfig,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    pub path: PathBuf,
    /// Read an existing file from its start instead of its end.
    #[serde(default)]
    pub from_beginning: bool,
}

fn default_max_message() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    1024
}
fn default_idle() -> Duration {
    Duration::from_secs(300)
}

/// One alert destination. Every alert goes to every sink; a sink that cannot keep up makes
/// the pipeline wait (it never drops alerts silently).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// One alert per line on standard output.
    Stdout {
        /// `ecs` (default), `ocsf` or `cef`.
        #[serde(default)]
        alert_format: AlertFormat,
    },
    /// One alert per line appended to a file, reopened on SIGHUP or when the file is moved
    /// away.
    File {
        path: PathBuf,
        /// `ecs` (default), `ocsf` or `cef`.
        #[serde(default)]
        alert_format: AlertFormat,
    },
    /// RFC 5424 syslog messages whose body is the JSON alert.
    Syslog {
        /// `udp`, `tcp` or `tls`.
        protocol: SyslogProtocol,
        address: String,
        /// PEM CA bundle to verify a TLS server (default: the system's roots).
        #[serde(default)]
        ca: Option<PathBuf>,
        #[serde(default = "default_app_name")]
        app_name: String,
        /// `ecs` (default), `ocsf` or `cef` (the message body).
        #[serde(default)]
        alert_format: AlertFormat,
    },
    /// Alerts POSTed in batches.
    Http(HttpSinkConfig),
    /// Alerts produced to a Kafka topic (idempotent producer, `acks=all`), keyed by
    /// indicator and host.
    Kafka(KafkaSinkConfig),
}

/// How a sink writes each alert (`alert_format` on every sink).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    /// Elastic Common Schema JSON, as iocd makes it.
    #[default]
    Ecs,
    /// OCSF Detection Finding (class 2004) JSON.
    Ocsf,
    /// ArcSight Common Event Format, one line per alert (not for HTTP sinks).
    Cef,
}

impl SinkConfig {
    /// The format this sink writes alerts in.
    pub fn alert_format(&self) -> AlertFormat {
        match self {
            SinkConfig::Stdout { alert_format }
            | SinkConfig::File { alert_format, .. }
            | SinkConfig::Syslog { alert_format, .. } => *alert_format,
            SinkConfig::Http(h) => h.alert_format,
            SinkConfig::Kafka(k) => k.alert_format,
        }
    }
}

impl AlertFormat {
    pub const ALL: [AlertFormat; 3] = [AlertFormat::Ecs, AlertFormat::Ocsf, AlertFormat::Cef];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertFormat::Ecs => "ecs",
            AlertFormat::Ocsf => "ocsf",
            AlertFormat::Cef => "cef",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    Udp,
    Tcp,
    Tls,
}

fn default_app_name() -> String {
    "iocd".to_owned()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    pub url: String,
    /// `json` (a JSON array per batch), `splunk_hec` (HEC event envelopes) or
    /// `elasticsearch` (`_bulk` NDJSON).
    #[serde(default)]
    pub format: HttpFormat,
    /// Sent as `Authorization: Splunk <token>` for HEC, `Bearer <token>` otherwise.
    #[serde(default)]
    pub token: Option<String>,
    /// Elasticsearch index or Splunk index.
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First retry delay; it doubles up to `retry_max_delay`. Retries go on until the sink
    /// answers (or shutdown's grace period ends).
    #[serde(default = "default_retry_initial", with = "humantime_serde")]
    pub retry_initial_delay: Duration,
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// Alerts held while the endpoint is down; when full, the pipeline waits.
    #[serde(default = "default_buffer_events")]
    pub buffer_max_events: usize,
    /// `ecs` (default) or `ocsf`: what each alert in the body is (`format` is the envelope).
    #[serde(default)]
    pub alert_format: AlertFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpFormat {
    #[default]
    Json,
    SplunkHec,
    Elasticsearch,
}

fn default_batch_events() -> usize {
    500
}
fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retry_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(30)
}
fn default_buffer_events() -> usize {
    10_000
}

fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::Stdout {
        alert_format: AlertFormat::Ecs,
    }]
}

/// The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `POST /reload`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub enabled: bool,
    /// Loopback by default: the admin API can trigger reloads.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: "127.0.0.1:9750".parse().expect("valid address"),
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

/// Every problem found in a configuration, each with its key path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<(String, String)>);

impl ConfigErrors {
    pub fn push(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.0.push((path.into(), msg.into()));
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
        for (path, msg) in &self.0 {
            write!(f, "\n  {path}: {msg}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads a configuration file, resolves relative paths against the file's folder, and
    /// validates it.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )])
        })?;
        let mut cfg = Config::from_toml(&text)?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text: unknown keys and wrong types are errors, with their key path.
    pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().to_owned();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "config".to_owned());
            ConfigErrors(vec![(at, msg)])
        })
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
        for p in [
            &mut self.feedback.file,
            &mut self.feedback.state,
            &mut self.sightings.file,
            &mut self.sightings.api_key_file,
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
                SinkConfig::Syslog { ca: Some(ca), .. } => fix(ca),
                _ => {}
            }
        }
    }

    /// Checks everything types cannot; returns every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = ConfigErrors::default();
        if self.engine.batch_bytes < 1024 {
            errs.push("engine.batch_bytes", "must be at least 1024");
        }
        if self.engine.queue_batches == 0 {
            errs.push("engine.queue_batches", "must be at least 1");
        }
        feeds::validate(&self.feeds, &self.allowlists, &mut errs);
        feeds::validate_guard(
            "reload",
            self.reload.max_shrink,
            self.reload.max_rejected,
            self.reload.keep_rejected,
            &mut errs,
        );

        let mut listeners: BTreeMap<(SocketAddr, &str), String> = BTreeMap::new();
        let mut listen =
            |addr: SocketAddr, proto: &'static str, path: &str, errs: &mut ConfigErrors| {
                if let Some(first) = listeners.insert((addr, proto), path.to_owned()) {
                    errs.push(
                        path,
                        format!("{proto} address {addr} is also used by {first}"),
                    );
                }
            };
        let s = &self.sources;
        if let Some(u) = &s.syslog_udp {
            listen(u.listen, "udp", "sources.syslog_udp.listen", &mut errs);
            check_message_size(u.max_message_bytes, "sources.syslog_udp", &mut errs);
        }
        if let Some(t) = &s.syslog_tcp {
            listen(t.listen, "tcp", "sources.syslog_tcp.listen", &mut errs);
            check_tcp(t, "sources.syslog_tcp", &mut errs);
        }
        if let Some(t) = &s.syslog_tls {
            listen(t.tcp.listen, "tcp", "sources.syslog_tls.listen", &mut errs);
            check_tcp(&t.tcp, "sources.syslog_tls", &mut errs);
            must_exist(&t.cert, "sources.syslog_tls.cert", &mut errs);
            must_exist(&t.key, "sources.syslog_tls.key", &mut errs);
        }
        if self.admin.enabled {
            listen(self.admin.listen, "tcp", "admin.listen", &mut errs);
        }
        if let Some(k) = &s.kafka {
            kafka::validate_source(k, "sources.kafka", &mut errs);
        }
        if s.syslog_udp.is_none()
            && s.syslog_tcp.is_none()
            && s.syslog_tls.is_none()
            && s.files.is_empty()
            && !s.stdin
            && s.kafka.is_none()
        {
            errs.push(
                "sources",
                "no source is enabled: iocd would have nothing to read",
            );
        }
        if self.sinks.is_empty() {
            errs.push("sinks", "no sink: alerts would have nowhere to go");
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            let at = format!("sinks[{i}]");
            match sink {
                SinkConfig::Stdout { .. } => {}
                SinkConfig::File { path, .. } => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                        && !dir.is_dir()
                    {
                        errs.push(
                            format!("{at}.path"),
                            format!("folder {} does not exist", dir.display()),
                        );
                    }
                }
                SinkConfig::Syslog { address, ca, .. } => {
                    if address
                        .rsplit_once(':')
                        .and_then(|(_, p)| p.parse::<u16>().ok())
                        .is_none()
                    {
                        errs.push(
                            format!("{at}.address"),
                            format!("{address:?} is not host:port"),
                        );
                    }
                    if let Some(ca) = ca {
                        must_exist(ca, &format!("{at}.ca"), &mut errs);
                    }
                }
                SinkConfig::Http(h) => {
                    if h.alert_format == AlertFormat::Cef {
                        errs.push(
                            format!("{at}.alert_format"),
                            "cef is one line per alert, for stdout, file, syslog and kafka \
                             sinks; use ecs or ocsf over HTTP",
                        );
                    }
                    match url::Url::parse(&h.url) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                        _ => errs.push(
                            format!("{at}.url"),
                            format!("{:?} is not an http(s) URL", h.url),
                        ),
                    }
                    if h.batch_max_events == 0 {
                        errs.push(format!("{at}.batch_max_events"), "must be at least 1");
                    }
                    if h.buffer_max_events < h.batch_max_events {
                        errs.push(
                            format!("{at}.buffer_max_events"),
                            "must be at least batch_max_events",
                        );
                    }
                    if h.retry_max_delay < h.retry_initial_delay {
                        errs.push(
                            format!("{at}.retry_max_delay"),
                            "must be at least retry_initial_delay",
                        );
                    }
                }
                SinkConfig::Kafka(k) => kafka::validate_sink(k, &at, &mut errs),
            }
        }
        validate_feedback(&self.feedback, &self.sightings, &mut errs);
        self.triage
            .validate(&crate::sink::sink_names(&self.sinks), &mut errs);
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            errs.push(
                "log.level",
                format!("{:?} is not a level or filter", self.log.level),
            );
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Matcher threads to start.
    pub fn threads(&self) -> usize {
        match self.engine.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

fn check_message_size(n: usize, at: &str, errs: &mut ConfigErrors) {
    if !(480..=16 << 20).contains(&n) {
        errs.push(
            format!("{at}.max_message_bytes"),
            "must be between 480 and 16 MiB",
        );
    }
}

fn check_tcp(t: &TcpConfig, at: &str, errs: &mut ConfigErrors) {
    check_message_size(t.max_message_bytes, at, errs);
    if t.max_connections == 0 {
        errs.push(format!("{at}.max_connections"), "must be at least 1");
    }
}

fn validate_feedback(f: &FeedbackConfig, s: &SightingsConfig, errs: &mut ConfigErrors) {
    let folder_exists = |p: &Path, at: &str, errs: &mut ConfigErrors| {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            errs.push(at, format!("folder {} does not exist", dir.display()));
        }
    };
    // The feedback file may appear later (it is watched); its folder must exist.
    if let Some(p) = &f.file {
        folder_exists(p, "feedback.file", errs);
    }
    if let Some(p) = &f.state {
        folder_exists(p, "feedback.state", errs);
    }
    if let Some(p) = &s.file {
        folder_exists(p, "sightings.file", errs);
    }
    if let Some(u) = &s.misp_url {
        match url::Url::parse(u) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => errs.push("sightings.misp_url", format!("{u:?} is not an http(s) URL")),
        }
        if s.api_key.is_none() && s.api_key_file.is_none() {
            errs.push(
                "sightings.misp_url",
                "needs api_key or api_key_file: MISP refuses requests without a key",
            );
        }
    }
    if s.api_key.is_some() && s.api_key_file.is_some() {
        errs.push(
            "sightings.api_key_file",
            "set api_key or api_key_file, not both",
        );
    }
    if let Some(p) = &s.api_key_file {
        must_exist(p, "sightings.api_key_file", errs);
    }
    if s.interval < Duration::from_secs(1) {
        errs.push("sightings.interval", "must be at least 1s");
    }
    if s.max_pending == 0 {
        errs.push("sightings.max_pending", "must be at least 1");
    }
    if s.source.trim().is_empty() {
        errs.push("sightings.source", "must not be empty");
    }
}

pub(crate) fn must_exist(p: &Path, at: &str, errs: &mut ConfigErrors) {
    if !p.exists() {
        errs.push(at, format!("{} does not exist", p.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.example.toml");
        let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.feeds.is_empty());
        assert!(cfg.sources.syslog_udp.is_some());
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e = Config::from_toml("[engine]\nthreads = 2\nthraeds = 3\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].0, "line 3");
        assert!(e.0[0].1.contains("thraeds"), "{e}");
    }

    #[test]
    fn every_semantic_error_at_once() {
        let text = r#"
            [engine]
            batch_bytes = 10
            [sources.syslog_udp]
            listen = "127.0.0.1:5514"
            max_message_bytes = 1
            [sources.syslog_tcp]
            listen = "127.0.0.1:9750"
            [[sinks]]
            type = "http"
            url = "ftp://x"
            batch_max_events = 0
            [[sinks]]
            type = "syslog"
            protocol = "udp"
            address = "nohost"
        "#;
        let cfg = Config::from_toml(text).unwrap();
        let errs = cfg.validate().unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "engine.batch_bytes",
            "sources.syslog_udp.max_message_bytes",
            "admin.listen",
            "sinks[0].url",
            "sinks[0].batch_max_events",
            "sinks[1].address",
        ] {
            assert!(paths.contains(&want), "missing {want} in {errs}");
        }
        assert!(
            errs.to_string()
                .starts_with(&format!("{} errors in configuration:", errs.0.len()))
        );
    }
}
