//! Kafka source and sink settings.
//!
//! iocd sets the librdkafka options its delivery promise rests on (manual offset store,
//! idempotent producer, `acks=all`, no local message timeout); `options` passes anything else
//! straight to librdkafka (`security.protocol`, `ssl.*`, `sasl.*`, `fetch.*`, `linger.ms`,
//! ...). Options that would break the promise are refused at validation, by name.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigErrors;

/// `[sources.kafka]`: a consumer group over topics.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// The consumer group. Instances with the same group share the partitions.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Topics to read. A name starting with `^` is a regular expression (librdkafka's
    /// subscription syntax), e.g. `^firewall-.*`.
    pub topics: Vec<String>,
    /// Where a partition without a committed offset starts: `earliest` or `latest`.
    #[serde(default)]
    pub start: StartPosition,
    /// How often done offsets are committed (`auto.commit.interval.ms`). Offsets are also
    /// committed on partition revoke and on shutdown.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Longer messages are cut to this many bytes (and counted).
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// On a rebalance, how long to wait for alerts of revoked partitions to be delivered
    /// before giving those partitions up; what is not done by then is read again by the
    /// partition's next owner (duplicates, never loss).
    #[serde(default = "default_revoke_timeout", with = "humantime_serde")]
    pub revoke_timeout: Duration,
    /// Any other librdkafka consumer option, e.g. `"security.protocol" = "ssl"`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    #[default]
    Earliest,
    Latest,
}

impl StartPosition {
    pub fn as_str(self) -> &'static str {
        match self {
            StartPosition::Earliest => "earliest",
            StartPosition::Latest => "latest",
        }
    }
}

/// `[[sinks]] type = "kafka"`: alerts to a topic.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// The sink's name (see `name` on any sink). Default: `kafka` and its position.
    #[serde(default)]
    pub name: Option<String>,
    /// `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    /// Alerts held while the brokers do not acknowledge them; when full, the pipeline waits.
    #[serde(default = "default_buffer")]
    pub buffer_max_events: usize,
    /// Any other librdkafka producer option, e.g. `"compression.type" = "zstd"`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `ecs` (default), `ocsf` or `cef`: the message value.
    #[serde(default)]
    pub alert_format: super::AlertFormat,
    /// JSON-lines file for alerts the cluster refuses for good (a record over
    /// `message.max.bytes`); as `dead_letter` on HTTP sinks.
    #[serde(default)]
    pub dead_letter: Option<std::path::PathBuf>,
    #[serde(default = "super::default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
}

fn default_group() -> String {
    "iocd".to_owned()
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_message() -> usize {
    64 * 1024
}
fn default_revoke_timeout() -> Duration {
    Duration::from_secs(10)
}
/// The longest Kafka message iocd reads whole (`max_message_bytes`).
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 << 20;

fn default_buffer() -> usize {
    10_000
}

/// Consumer options iocd owns: changing them would commit offsets of messages whose alerts
/// were not delivered, or commit nothing.
pub(crate) const CONSUMER_RESERVED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.commit.interval.ms",
    "auto.offset.reset",
];

/// Producer options iocd owns: the idempotent, fully acknowledged producer that never gives
/// up on an alert by itself.
pub(crate) const PRODUCER_RESERVED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "transactional.id",
];

pub(super) fn validate_source(c: &KafkaSourceConfig, at: &str, errs: &mut ConfigErrors) {
    if c.brokers.trim().is_empty() {
        errs.push(format!("{at}.brokers"), "must name at least one broker");
    }
    if c.group_id.trim().is_empty() {
        errs.push(format!("{at}.group_id"), "must not be empty");
    }
    if c.topics.is_empty() {
        errs.push(format!("{at}.topics"), "must list at least one topic");
    }
    for (i, t) in c.topics.iter().enumerate() {
        if t.is_empty() {
            errs.push(format!("{at}.topics[{i}]"), "empty topic name");
        } else if let Some(re) = t.strip_prefix('^')
            && let Err(e) = regex::Regex::new(&format!("^{re}"))
        {
            errs.push(
                format!("{at}.topics[{i}]"),
                format!("bad regular expression: {e}"),
            );
        }
    }
    if !(256..=MAX_MESSAGE_BYTES).contains(&c.max_message_bytes) {
        errs.push(
            format!("{at}.max_message_bytes"),
            "must be between 256 and 16 MiB",
        );
    }
    if c.commit_interval.is_zero() {
        errs.push(format!("{at}.commit_interval"), "must be more than 0");
    } else {
        // librdkafka's range of `auto.commit.interval.ms`.
        super::at_most(
            c.commit_interval,
            Duration::from_secs(86_400),
            &format!("{at}.commit_interval"),
            errs,
        );
    }
    super::at_most(
        c.revoke_timeout,
        super::MAX_DURATION,
        &format!("{at}.revoke_timeout"),
        errs,
    );
    reserved(
        &c.options,
        CONSUMER_RESERVED,
        &format!("{at}.options"),
        errs,
    );
}

pub(super) fn validate_sink(c: &KafkaSinkConfig, at: &str, errs: &mut ConfigErrors) {
    if c.brokers.trim().is_empty() {
        errs.push(format!("{at}.brokers"), "must name at least one broker");
    }
    if c.topic.trim().is_empty() {
        errs.push(format!("{at}.topic"), "must not be empty");
    }
    super::count_in(
        c.buffer_max_events,
        1,
        super::MAX_BUFFER_EVENTS,
        &format!("{at}.buffer_max_events"),
        errs,
    );
    reserved(
        &c.options,
        PRODUCER_RESERVED,
        &format!("{at}.options"),
        errs,
    );
}

fn reserved(options: &BTreeMap<String, String>, owned: &[&str], at: &str, errs: &mut ConfigErrors) {
    for k in options.keys() {
        if owned.contains(&k.as_str()) {
            errs.push(
                format!("{at}.\"{k}\""),
                "set by iocd (its delivery guarantee depends on it); use the dedicated key \
                 or leave it out",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(toml_text: &str) -> KafkaSourceConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_and_reserved_options() {
        let c = source(
            r#"brokers = "127.0.0.1:9092"
               topics = ["logs", "^fw-.*"]
               options = { "security.protocol" = "ssl", "enable.auto.offset.store" = "true" }"#,
        );
        assert_eq!(c.group_id, "iocd");
        assert_eq!(c.start, StartPosition::Earliest);
        assert_eq!(c.commit_interval, Duration::from_secs(1));
        let mut errs = ConfigErrors::default();
        validate_source(&c, "sources.kafka", &mut errs);
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert_eq!(
            errs.0[0].0,
            "sources.kafka.options.\"enable.auto.offset.store\""
        );
    }

    #[test]
    fn every_source_problem_at_once() {
        let c = source(
            r#"brokers = ""
               group_id = " "
               topics = ["", "^(unclosed"]
               max_message_bytes = 10
               commit_interval = "0s""#,
        );
        let mut errs = ConfigErrors::default();
        validate_source(&c, "sources.kafka", &mut errs);
        let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sources.kafka.brokers",
                "sources.kafka.group_id",
                "sources.kafka.topics[0]",
                "sources.kafka.topics[1]",
                "sources.kafka.max_message_bytes",
                "sources.kafka.commit_interval",
            ]
        );
    }

    #[test]
    fn sink_refuses_options_that_weaken_delivery() {
        let c: KafkaSinkConfig = toml::from_str(
            r#"brokers = "b:9092"
               topic = "alerts"
               options = { "acks" = "1", "linger.ms" = "20" }"#,
        )
        .unwrap();
        let mut errs = ConfigErrors::default();
        validate_sink(&c, "sinks[1]", &mut errs);
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].0, "sinks[1].options.\"acks\"");
    }
}
