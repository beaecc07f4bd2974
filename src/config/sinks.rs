//! `[[sinks]]`: where alerts go (stdout, file, syslog, HTTP, Kafka), their names and formats.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::kafka::KafkaSinkConfig;

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
    pub(crate) fn kind_name(&self) -> &'static str {
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
pub(crate) const MAX_SINK_NAME: usize = 64;

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

pub(super) fn default_app_name() -> String {
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

pub(super) fn default_batch_events() -> usize {
    500
}
pub(super) fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
pub(super) fn default_retry_initial() -> Duration {
    Duration::from_millis(500)
}
pub(super) fn default_retry_max() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn default_buffer_events() -> usize {
    10_000
}
pub(crate) fn default_dead_letter_max_bytes() -> u64 {
    100 << 20
}

pub(super) fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::Stdout {
        name: None,
        alert_format: AlertFormat::Ecs,
    }]
}
