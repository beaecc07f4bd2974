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
pub mod triage;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use export::ExportConfig;
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
    /// Views of the current set written for firewalls, resolvers and sensors (see
    /// `crate::export`).
    #[serde(default)]
    pub exports: Vec<ExportConfig>,
    /// Serves the exports over HTTP(S) for firewalls that pull their lists (off when absent).
    #[serde(default)]
    pub export_listener: Option<export::ExportListenerConfig>,
}

/// False-positive marks: `POST /feedback` on the admin server, and a watched file. See
/// `crate::feedback` for the file format.
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
    pub max_marks: usize,
    /// Largest feedback file read; a larger one is refused whole, its previous marks stay.
    pub max_file_bytes: u64,
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
    /// The socket's receive buffer (`SO_RCVBUF`), where datagrams wait while iocd is busy; a
    /// burst that overflows it is dropped by the kernel. Unset: the kernel's default
    /// (`net.core.rmem_default`, often 208 KiB). The kernel grants at most
    /// `net.core.rmem_max` (raise that sysctl for more) and books twice the size asked for;
    /// the size granted is logged at start-up and exported as
    /// `iocd_source_receive_buffer_bytes`. Datagrams the kernel dropped on this socket are
    /// counted as `iocd_source_dropped_events_total{reason="kernel"}`.
    pub receive_buffer_bytes: Option<usize>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    pub listen: SocketAddr,
    /// Longer messages are truncated to this and counted.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Connections served at once. When every slot is taken and a new connection arrives,
    /// the connection that has gone longest without completing a message is closed to make
    /// room (one that waits for room in the matcher queue is never chosen), so senders that
    /// trickle bytes cannot hold intake; when none can be closed, the new one waits.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections served at once from one IP address; more are closed at once. Bounds what
    /// one host can take of `max_connections`.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: usize,
    /// A connection that completes no message for this long is closed (whatever it sends:
    /// blank lines or a message that never ends do not keep it open).
    #[serde(default = "default_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte arrived, or the connection
    /// is closed (what it sent of the message is kept as a line). Time spent waiting for
    /// room in the matcher queue does not count. Over TLS, a message's first encrypted byte
    /// is noticed up to a quarter of this (at most 1 s) late.
    #[serde(default = "default_frame_timeout", with = "humantime_serde")]
    pub frame_timeout: Duration,
    /// The TLS handshake must be done this long after the connection was accepted (TLS
    /// only).
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
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
fn default_max_connections_per_peer() -> usize {
    64
}
fn default_frame_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One alert destination. Every alert goes to every sink; a sink that cannot keep up makes
/// the pipeline wait (it never drops alerts silently).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// One alert per line on standard output.
    Stdout {
        /// The sink's name in `[triage.routing.sinks.<name>]`, metric labels, logs and
        /// dead-letter lines (letters, digits, `_`, `-`; at most 64). Default: its kind and
        /// position (`stdout0`, `file1`), which shift when sinks are reordered.
        #[serde(default)]
        name: Option<String>,
        /// `ecs` (default), `ocsf` or `cef`.
        #[serde(default)]
        alert_format: AlertFormat,
    },
    /// One alert per line appended to a file, reopened on SIGHUP or when the file is moved
    /// away.
    File {
        /// The sink's name in `[triage.routing.sinks.<name>]`, metric labels, logs and
        /// dead-letter lines (letters, digits, `_`, `-`; at most 64). Default: its kind and
        /// position (`stdout0`, `file1`), which shift when sinks are reordered.
        #[serde(default)]
        name: Option<String>,
        path: PathBuf,
        /// `ecs` (default), `ocsf` or `cef`.
        #[serde(default)]
        alert_format: AlertFormat,
    },
    /// RFC 5424 syslog messages whose body is the JSON alert.
    Syslog {
        /// The sink's name in `[triage.routing.sinks.<name>]`, metric labels, logs and
        /// dead-letter lines (letters, digits, `_`, `-`; at most 64). Default: its kind and
        /// position (`stdout0`, `file1`), which shift when sinks are reordered.
        #[serde(default)]
        name: Option<String>,
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
        /// JSON-lines file for alerts this sink can never send (over UDP, one too large for a
        /// datagram); as `dead_letter` on HTTP sinks.
        #[serde(default)]
        dead_letter: Option<PathBuf>,
        #[serde(default = "default_dead_letter_max_bytes")]
        dead_letter_max_bytes: u64,
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

/// Every sink's name, in configuration order: its `name` when it has one, else its kind and
/// position (`stdout0`, `file1`, ...). Metric labels, logs, dead-letter lines and
/// `[triage.routing.sinks]` use it.
pub fn sink_names(sinks: &[SinkConfig]) -> Vec<String> {
    sinks
        .iter()
        .enumerate()
        .map(|(i, c)| match c.name() {
            Some(n) => n.to_owned(),
            None => format!("{}{i}", c.kind_name()),
        })
        .collect()
}

impl SinkConfig {
    /// The sink's kind, as its default name starts (`stdout`, `file`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            SinkConfig::Stdout { .. } => "stdout",
            SinkConfig::File { .. } => "file",
            SinkConfig::Syslog { .. } => "syslog",
            SinkConfig::Http(_) => "http",
            SinkConfig::Kafka(_) => "kafka",
        }
    }

    /// The format this sink writes alerts in.
    pub fn alert_format(&self) -> AlertFormat {
        match self {
            SinkConfig::Stdout { alert_format, .. }
            | SinkConfig::File { alert_format, .. }
            | SinkConfig::Syslog { alert_format, .. } => *alert_format,
            SinkConfig::Http(h) => h.alert_format,
            SinkConfig::Kafka(k) => k.alert_format,
        }
    }
}

impl SinkConfig {
    /// The name the configuration gives this sink, if any (see [`sink_names`] for the name
    /// it goes by).
    pub fn name(&self) -> Option<&str> {
        match self {
            SinkConfig::Stdout { name, .. }
            | SinkConfig::File { name, .. }
            | SinkConfig::Syslog { name, .. } => name.as_deref(),
            SinkConfig::Http(h) => h.name.as_deref(),
            SinkConfig::Kafka(k) => k.name.as_deref(),
        }
    }
}

impl SinkConfig {
    /// The dead-letter file of a sink that has one, and its size bound.
    pub fn dead_letter(&self) -> (Option<&Path>, u64) {
        match self {
            SinkConfig::Syslog {
                dead_letter,
                dead_letter_max_bytes,
                ..
            } => (dead_letter.as_deref(), *dead_letter_max_bytes),
            SinkConfig::Http(h) => (h.dead_letter.as_deref(), h.dead_letter_max_bytes),
            SinkConfig::Kafka(k) => (k.dead_letter.as_deref(), k.dead_letter_max_bytes),
            SinkConfig::Stdout { .. } | SinkConfig::File { .. } => (None, 0),
        }
    }
}

/// The longest sink name.
pub const MAX_SINK_NAME: usize = 64;

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
    /// The sink's name (see `name` on any sink). Default: `http` and its position.
    #[serde(default)]
    pub name: Option<String>,
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
    /// First retry delay; it doubles up to `retry_max_delay`, each delay drawn between half
    /// and all of it (jitter), and never shorter than a `Retry-After` the endpoint sent (up to
    /// 5 minutes). Retries go on until the sink answers (or shutdown's grace period ends):
    /// connection errors, timeouts, 408, 429 and 5xx are retried; so are 401, 403 (wrong
    /// token), redirects and other answers that say the URL is wrong (404, 405, ...), which
    /// also mark the sink down (`iocd_sink_up` 0) and log an error saying what to fix. A 413
    /// splits the batch in halves, down to single alerts. An alert refused on its own (400,
    /// 422, or 413 for it alone; an Elasticsearch per-item error) goes to `dead_letter`.
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
    /// A file (JSON lines, appended) for alerts the endpoint refuses for good: each line has
    /// `time`, `sink`, `status`, `reason` and the `alert` as it was sent. Unset (the
    /// default), or once the file holds `dead_letter_max_bytes`, such an alert is logged in
    /// full at ERROR instead; either way it is counted
    /// (`iocd_sink_dead_letters_total` / `iocd_sink_dropped_alerts_total`) and then settled
    /// (a Kafka offset behind it may be committed), so that one bad alert cannot hold its
    /// partition back forever.
    #[serde(default)]
    pub dead_letter: Option<PathBuf>,
    /// Size bound of `dead_letter`, in bytes (default 100 MiB). iocd never truncates or
    /// rotates it: move it away and the next refused alert starts a new one.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
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
pub(crate) fn default_dead_letter_max_bytes() -> u64 {
    100 << 20
}

fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::Stdout {
        name: None,
        alert_format: AlertFormat::Ecs,
    }]
}

/// The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `GET /feeds`, `POST /reload`,
/// `/feedback`.
///
/// It is a control plane: `POST /reload` makes iocd work and `POST /feedback` suppresses
/// alerts. Loopback by default; anywhere else it needs a token. Its connections are capped
/// and timed out so that it can never take the file descriptors intake needs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub enabled: bool,
    /// Loopback by default. Any other address needs `token` or `token_file`: whoever
    /// reaches the port could otherwise suppress alerts (`POST /feedback`).
    pub listen: SocketAddr,
    /// Bearer token for the requests that change state (`POST /reload`, `POST` and
    /// `DELETE /feedback`): they need `Authorization: Bearer <token>`, else 401. At least
    /// 16 characters, printable ASCII without spaces. Prefer `token_file`: a configuration
    /// file is often readable by every user.
    pub token: Option<String>,
    /// A file holding the token (surrounding white space ignored), read at start. Refused
    /// when other users may read it; readable by its group is logged as a warning.
    pub token_file: Option<PathBuf>,
    /// Ask for the token on the read-only routes too (`/metrics`, `/healthz`, `/readyz`,
    /// `GET /feedback`, `GET /feedback/summary`). Off by default, as Prometheus and health
    /// checks expect. Needs `token` or `token_file`.
    pub protect_reads: bool,
    /// Connections served at once. Beyond it a connection is answered 503 and closed at
    /// once (counted in `iocd_admin_refused_connections_total`), so the admin server stays
    /// far below the process's file-descriptor limit. At most 1024.
    pub max_connections: usize,
    /// A connection must send a request's complete headers within this long after it opens
    /// or after its previous response; else it is closed (and counted).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this long after its headers; else 408.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Largest request body accepted; a larger one is refused with 413.
    pub max_body_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: "127.0.0.1:9750".parse().expect("valid address"),
            token: None,
            token_file: None,
            protect_reads: false,
            max_connections: 32,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Shortest admin token accepted.
const MIN_TOKEN_LEN: usize = 16;

impl AdminConfig {
    /// The token from `token` or `token_file` (read now), checked; `None` when neither is
    /// set. `Err` says what is wrong and which key to fix.
    pub fn load_token(&self) -> Result<Option<String>, (&'static str, String)> {
        let (token, at) = match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "admin.token_file",
                    "set token or token_file, not both".into(),
                ));
            }
            (Some(t), None) => (t.trim().to_owned(), "admin.token"),
            (None, Some(path)) => {
                check_secret_file(path).map_err(|e| ("admin.token_file", e))?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    (
                        "admin.token_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                (text.trim().to_owned(), "admin.token_file")
            }
            (None, None) => return Ok(None),
        };
        if token.len() < MIN_TOKEN_LEN {
            return Err((
                at,
                format!("the token must have at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                at,
                "the token must be printable ASCII without spaces (it goes in an HTTP header)"
                    .into(),
            ));
        }
        Ok(Some(token))
    }
}

/// Refuses a secret file other users may read or write.
pub(crate) fn check_secret_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(format!(
            "{} can be read or written by every user (mode {:o}): chmod o-rw it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
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
    pub fn push_at_line(
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

    /// Checks everything types cannot; returns every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = ConfigErrors::default();
        let e = &self.engine;
        if e.threads > MAX_THREADS {
            errs.push(
                "engine.threads",
                format!("must be at most {MAX_THREADS} (0: one per core)"),
            );
        }
        count_in(
            e.batch_bytes,
            1024,
            MAX_BATCH_BYTES,
            "engine.batch_bytes",
            &mut errs,
        );
        count_in(
            e.queue_batches,
            1,
            65_536,
            "engine.queue_batches",
            &mut errs,
        );
        if e.batch_bytes.saturating_mul(e.queue_batches) > MAX_QUEUE_BYTES {
            errs.push(
                "engine.queue_batches",
                "times engine.batch_bytes must be at most 4 GiB (what a full queue holds)",
            );
        }
        positive(
            self.reload.watch_interval,
            "reload.watch_interval",
            &mut errs,
        );
        positive(
            self.reload.expiry_interval,
            "reload.expiry_interval",
            &mut errs,
        );
        positive(self.shutdown.grace, "shutdown.grace", &mut errs);
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
            check_udp(u, "sources.syslog_udp", &mut errs);
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
            validate_admin(&self.admin, &mut errs);
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
        let names = self.sink_names();
        for (i, sink) in self.sinks.iter().enumerate() {
            let at = format!("sinks[{i}]");
            if let Some(n) = sink.name()
                && (n.is_empty()
                    || n.len() > MAX_SINK_NAME
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                errs.push(
                    format!("{at}.name"),
                    format!(
                        "{n:?} is not a sink name: 1 to {MAX_SINK_NAME} letters, digits, '_' or '-'"
                    ),
                );
            }
            if let Some(j) = names[..i].iter().position(|other| *other == names[i]) {
                let how = if sink.name().is_some() {
                    format!("{at}.name")
                } else {
                    at.clone()
                };
                errs.push(
                    how,
                    format!(
                        "sink name {:?} is already the name of sinks[{j}]: routing and metrics would mix the two",
                        names[i]
                    ),
                );
            }
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
                        .is_none_or(|port| port == 0)
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
                    } else if h.buffer_max_events > MAX_BUFFER_EVENTS {
                        errs.push(
                            format!("{at}.buffer_max_events"),
                            format!("must be at most {MAX_BUFFER_EVENTS}"),
                        );
                    }
                    for (d, key) in [
                        (h.batch_timeout, "batch_timeout"),
                        (h.request_timeout, "request_timeout"),
                        (h.retry_initial_delay, "retry_initial_delay"),
                        (h.retry_max_delay, "retry_max_delay"),
                    ] {
                        positive(d, &format!("{at}.{key}"), &mut errs);
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
            if let Some(dir) = sink
                .dead_letter()
                .0
                .and_then(|p| p.parent())
                .filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                errs.push(
                    format!("{at}.dead_letter"),
                    format!("folder {} does not exist", dir.display()),
                );
            }
        }
        validate_feedback(&self.feedback, &self.sightings, &mut errs);
        export::validate(&self.exports, &self.feeds, &mut errs);
        if let Some(l) = &self.export_listener {
            listen(l.listen, "tcp", "export_listener.listen", &mut errs);
            export::validate_listener(l, &mut errs);
            if self.exports.is_empty() {
                errs.push("export_listener", "no [[exports]] to serve");
            }
        }
        self.triage.validate(&names, &mut errs);
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

/// The most matcher threads. More threads than cores only adds contention, and each thread
/// keeps its own scratch buffers and stack: 256 covers the largest common servers (two
/// 128-core sockets), while a slip such as `threads = 100000` is refused here instead of
/// exhausting memory or the process's thread limit at start.
pub const MAX_THREADS: usize = 256;
/// The largest batch (`engine.batch_bytes`).
pub const MAX_BATCH_BYTES: usize = 64 << 20;
/// The most bytes a full matcher queue may hold (`batch_bytes * queue_batches`).
pub const MAX_QUEUE_BYTES: usize = 4 << 30;
/// The most connections a syslog TCP/TLS source accepts at once.
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// The most alerts or entries a sink or sightings buffer may hold.
pub const MAX_BUFFER_EVENTS: usize = 10_000_000;
/// The longest interval, timeout, delay or grace period: timers add it to the clock, and a
/// year is past any sensible setting (see `triage::MAX_SPAN`).
pub const MAX_DURATION: Duration = triage::MAX_SPAN;

/// A duration timers run on: more than zero (a zero period panics in tokio, a zero timeout
/// gives up at once) and at most [`MAX_DURATION`].
pub(crate) fn positive(d: Duration, at: &str, errs: &mut ConfigErrors) {
    if d.is_zero() {
        errs.push(at, "must be longer than 0s");
    } else {
        at_most(d, MAX_DURATION, at, errs);
    }
}

pub(crate) fn at_most(d: Duration, max: Duration, at: &str, errs: &mut ConfigErrors) {
    if d > max {
        errs.push(
            at,
            format!("must be at most {}", humantime::format_duration(max)),
        );
    }
}

/// `lo <= n <= hi`.
pub(crate) fn count_in(n: usize, lo: usize, hi: usize, at: &str, errs: &mut ConfigErrors) {
    if !(lo..=hi).contains(&n) {
        errs.push(at, format!("must be between {lo} and {hi}"));
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

fn check_udp(u: &UdpConfig, at: &str, errs: &mut ConfigErrors) {
    check_message_size(u.max_message_bytes, at, errs);
    if let Some(n) = u.receive_buffer_bytes
        && !(4096..=1 << 30).contains(&n)
    {
        errs.push(
            format!("{at}.receive_buffer_bytes"),
            "must be between 4096 and 1 GiB",
        );
    }
}

fn check_tcp(t: &TcpConfig, at: &str, errs: &mut ConfigErrors) {
    check_message_size(t.max_message_bytes, at, errs);
    count_in(
        t.max_connections,
        1,
        MAX_CONNECTIONS,
        &format!("{at}.max_connections"),
        errs,
    );
    // Shorter, a sender's ordinary pause closes its connection with data still in flight.
    if t.idle_timeout < Duration::from_secs(1) {
        errs.push(format!("{at}.idle_timeout"), "must be at least 1s");
    } else {
        at_most(
            t.idle_timeout,
            MAX_DURATION,
            &format!("{at}.idle_timeout"),
            errs,
        );
    }
    count_in(
        t.max_connections_per_peer,
        1,
        MAX_CONNECTIONS,
        &format!("{at}.max_connections_per_peer"),
        errs,
    );
    for (key, d) in [
        ("frame_timeout", t.frame_timeout),
        ("handshake_timeout", t.handshake_timeout),
    ] {
        if d.is_zero() {
            errs.push(format!("{at}.{key}"), "must be more than 0");
        } else {
            at_most(d, MAX_DURATION, &format!("{at}.{key}"), errs);
        }
    }
}

fn validate_admin(a: &AdminConfig, errs: &mut ConfigErrors) {
    let token = match a.load_token() {
        Ok(t) => t.is_some(),
        Err((at, msg)) => {
            errs.push(at, msg);
            // Set, but wrong: said above; the rules below would only repeat it.
            true
        }
    };
    if !token && !a.listen.ip().is_loopback() {
        errs.push(
            "admin.listen",
            format!(
                "{} is not a loopback address and no admin.token or admin.token_file is set: \
                 anyone who reaches the port could reload iocd or suppress alerts \
                 (POST /feedback); set a token, or listen on 127.0.0.1",
                a.listen
            ),
        );
    }
    if a.protect_reads && !token {
        errs.push(
            "admin.protect_reads",
            "needs admin.token or admin.token_file",
        );
    }
    if !(1..=1024).contains(&a.max_connections) {
        errs.push("admin.max_connections", "must be between 1 and 1024");
    }
    if a.header_timeout < Duration::from_millis(100) {
        errs.push("admin.header_timeout", "must be at least 100ms");
    } else {
        at_most(a.header_timeout, MAX_DURATION, "admin.header_timeout", errs);
    }
    if a.body_timeout < Duration::from_millis(100) {
        errs.push("admin.body_timeout", "must be at least 100ms");
    } else {
        at_most(a.body_timeout, MAX_DURATION, "admin.body_timeout", errs);
    }
    if !(1024..=16 << 20).contains(&a.max_body_bytes) {
        errs.push("admin.max_body_bytes", "must be between 1024 and 16 MiB");
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
    if f.max_marks == 0 {
        errs.push("feedback.max_marks", "must be at least 1");
    }
    if f.max_file_bytes < 1024 {
        errs.push("feedback.max_file_bytes", "must be at least 1024");
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
    } else {
        at_most(s.interval, MAX_DURATION, "sightings.interval", errs);
    }
    positive(s.request_timeout, "sightings.request_timeout", errs);
    positive(s.retry_delay, "sightings.retry_delay", errs);
    count_in(
        s.max_pending,
        1,
        MAX_BUFFER_EVENTS,
        "sightings.max_pending",
        errs,
    );
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
    fn admin_limits_and_token_rules() {
        let cfg = Config::from_toml(
            "[sources]\nstdin = true\n[admin]\nlisten = \"[::]:9750\"\nprotect_reads = true\n\
             max_connections = 0\nheader_timeout = \"10ms\"\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let errs = cfg.validate().unwrap_err().to_string();
        for want in [
            "admin.listen: [::]:9750 is not a loopback address",
            "admin.protect_reads: needs admin.token",
            "admin.max_connections",
            "admin.header_timeout",
            "admin.max_body_bytes",
        ] {
            assert!(errs.contains(want), "missing {want:?} in {errs}");
        }
        let ok = Config::from_toml(
            "[sources]\nstdin = true\n[admin]\nlisten = \"[::1]:9750\"\nprotect_reads = false\n",
        )
        .unwrap();
        ok.validate().unwrap();
        let token = Config::from_toml(
            "[sources]\nstdin = true\n[admin]\nlisten = \"0.0.0.0:9750\"\ntoken = \"a b c d e f g h i j\"\n",
        )
        .unwrap();
        let errs = token.validate().unwrap_err().to_string();
        assert!(errs.contains("without spaces"), "{errs}");
        assert!(!errs.contains("not a loopback"), "said once: {errs}");
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e = Config::from_toml("[engine]\nthreads = 2\nthraeds = 3\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].0, "engine.thraeds");
        assert_eq!(e.line(0), Some(3));
        assert_eq!(e.0[0].1, "unknown key `thraeds`; did you mean `threads`?");
        assert!(
            e.to_string()
                .contains("engine.thraeds (line 3): unknown key `thraeds`"),
            "{e}"
        );
    }

    /// (path, line) of every error `Config::check` finds in `text`.
    fn found(text: &str) -> Vec<(String, Option<usize>)> {
        let e = Config::check(text, Path::new("/nonexistent")).unwrap_err();
        (0..e.0.len())
            .map(|i| (e.0[i].0.clone(), e.line(i)))
            .collect()
    }

    const STDIN: &str = "[sources]\nstdin = true\n";

    #[test]
    fn reading_errors_come_together_with_semantic_ones() {
        let text = format!(
            "{STDIN}[engine]\nthraeds = 4\nbatch_bytes = \"big\"\n[reload]\nwatch_interval = \"0s\"\n\
             [shutdown]\ngrace = 5\n"
        );
        assert_eq!(
            found(&text),
            [
                ("engine.thraeds".into(), Some(4)),
                ("engine.batch_bytes".into(), Some(5)),
                ("reload.watch_interval".into(), Some(7)),
                ("shutdown.grace".into(), Some(9)),
            ]
        );
    }

    #[test]
    fn errors_inside_sinks_and_flattened_tables_find_their_key() {
        let text = format!(
            "{STDIN}[[sinks]]\ntype = \"stdout\"\n[[sinks]]\ntype = \"http\"\nurl = \"http://x/\"\n\
             batch_max_event = 3\nrequest_timeout = \"soon\"\nretry_max_delay = 7\n\
             [[sinks]]\ntype = \"file\"\npath = \"a.log\"\nalert_format = \"leef\"\n\
             [sources.syslog_tls]\nlisten = \"127.0.0.1:6514\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
             max_connections = \"many\"\n"
        );
        let e = Config::check(&text, Path::new("/nonexistent")).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "sinks[1].batch_max_event",
            "sinks[1].request_timeout",
            "sinks[1].retry_max_delay",
            "sinks[2].alert_format",
            "sources.syslog_tls.max_connections",
            "sources.syslog_tls.cert",
        ] {
            assert!(paths.contains(&want), "missing {want} in {e}");
        }
        assert!(
            e.to_string().contains("did you mean `batch_max_events`"),
            "{e}"
        );
        assert!(e.to_string().contains("unknown value `leef`"), "{e}");
    }

    #[test]
    fn a_missing_required_key_drops_its_table_and_later_elements_keep_their_index() {
        let text = format!(
            "{STDIN}[[feeds]]\npath = \"a.txt\"\n[[feeds]]\nname = \"b\"\npath = \"b.txt\"\n\
             [engine]\nqueue_batches = 0\n"
        );
        assert_eq!(
            found(&text),
            [
                ("feeds[0].name".into(), Some(3)),
                ("feeds[1].path".into(), Some(7)),
                ("engine.queue_batches".into(), Some(9)),
            ]
        );
    }

    /// Every value of the example replaced by values of other types, and every line left out
    /// in turn: reading never panics, and every error has a key path.
    #[test]
    fn no_edit_of_the_example_makes_reading_panic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let base = path.parent().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut edits = 0;
        for (i, l) in lines.iter().enumerate() {
            let Some((key, _)) = l.split_once(" = ").filter(|_| !l.starts_with('#')) else {
                continue;
            };
            let variants = [
                String::new(),
                format!("{key} = \"x\""),
                format!("{key} = -1"),
                format!("{key} = \"0s\""),
                format!("{key} = [1, \"a\"]"),
                format!("{key} = {{ a = 1 }}"),
                format!("{key}x = 1"),
            ];
            for v in variants {
                let mut edited = lines.clone();
                edited[i] = &v;
                let result = Config::check(&edited.join("\n"), base);
                let typo = format!("{key}x");
                if v.starts_with(&typo) {
                    // An unknown key is always named (as unknown, or as a misspelling of a
                    // missing one, or by the map that holds it), unless the edit broke the
                    // syntax (a multi-line array cut in half).
                    let e = result.as_ref().unwrap_err();
                    assert!(
                        e.0.iter().any(|(p, m)| p == "syntax"
                            || p.ends_with(&typo)
                            || m.contains(&format!("`{typo}` a misspelling"))),
                        "line {}: {e}",
                        i + 1
                    );
                }
                if let Err(e) = result {
                    assert!(
                        e.0.iter().all(|(p, m)| !p.is_empty() && !m.is_empty()),
                        "{e}"
                    );
                }
                edits += 1;
            }
        }
        assert!(edits > 100, "{edits}");
    }

    #[test]
    fn a_syntax_error_is_one_error_with_line_and_column() {
        let e = Config::from_toml("[engine]\nthreads = 1\n[sinks\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].0, "syntax");
        assert_eq!(e.line(0), Some(3));
        assert!(e.0[0].1.contains("column 7"), "{e}");
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
