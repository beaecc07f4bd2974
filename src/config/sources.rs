//! `[sources]`: the syslog listeners (UDP, TCP, TLS), files and standard input.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::kafka::KafkaSourceConfig;

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

pub(super) fn default_max_message() -> usize {
    64 * 1024
}
pub(super) fn default_max_connections() -> usize {
    1024
}
pub(super) fn default_idle() -> Duration {
    Duration::from_secs(300)
}
pub(super) fn default_max_connections_per_peer() -> usize {
    64
}
pub(super) fn default_frame_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
