//! The records that flow through the daemon, and the channels between stages.
//!
//! ```text
//! sources (tokio) --Batch--> [bounded crossbeam] --> matcher threads --AlertRecord--> sinks (tokio)
//! ```
//!
//! A [`Batch`] is a run of whole log lines separated by `\n` (a syslog message with a line
//! break inside is flattened to one line by its source), plus where each part came from. An
//! [`AlertRecord`] is one alert, already serialized, shared by every sink.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Which configured source read a batch. Also the `source` label of metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    SyslogUdp,
    SyslogTcp,
    SyslogTls,
    File,
    Stdin,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::SyslogUdp => "syslog_udp",
            SourceKind::SyslogTcp => "syslog_tcp",
            SourceKind::SyslogTls => "syslog_tls",
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
        }
    }

    /// Whether lines from this source are syslog messages (header parsed on hit).
    pub fn is_syslog(self) -> bool {
        matches!(
            self,
            SourceKind::SyslogUdp | SourceKind::SyslogTcp | SourceKind::SyslogTls
        )
    }
}

/// Lines from one source, ready for a matcher.
#[derive(Debug)]
pub struct Batch {
    pub source: SourceKind,
    /// Whole lines, each ended by `\n`.
    pub buf: Vec<u8>,
    /// Who sent which bytes: `(end, peer)` pairs in order; the bytes before `end` (and after
    /// the previous pair's end) came from `peer`. Empty for files and stdin.
    pub peers: Vec<(usize, SocketAddr)>,
    /// The file a `File` batch was read from.
    pub path: Option<Arc<str>>,
    /// When the first line of the batch was read (for the latency histogram).
    pub received: Instant,
}

impl Batch {
    pub fn new(source: SourceKind) -> Batch {
        Batch {
            source,
            buf: Vec::new(),
            peers: Vec::new(),
            path: None,
            received: Instant::now(),
        }
    }

    /// Appends one line (a line feed is added) from `peer`. Line breaks inside `line` become
    /// spaces so the line stays one line.
    pub fn push_line(&mut self, line: &[u8], peer: Option<SocketAddr>) {
        if self.buf.is_empty() {
            self.received = Instant::now();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(line);
        for b in &mut self.buf[start..] {
            if *b == b'\n' {
                *b = b' ';
            }
        }
        self.buf.push(b'\n');
        self.sent_by(peer);
    }

    /// Appends lines that are already whole and each ended by `\n` (a source's fast path for
    /// a run of LF-framed messages), from `peer`.
    pub fn push_lines(&mut self, lines: &[u8], peer: Option<SocketAddr>) {
        debug_assert_eq!(lines.last(), Some(&b'\n'));
        if self.buf.is_empty() {
            self.received = Instant::now();
        }
        self.buf.extend_from_slice(lines);
        self.sent_by(peer);
    }

    /// Records that the bytes up to the end came from `peer`.
    fn sent_by(&mut self, peer: Option<SocketAddr>) {
        if let Some(p) = peer {
            match self.peers.last_mut() {
                Some((end, last)) if *last == p => *end = self.buf.len(),
                _ => self.peers.push((self.buf.len(), p)),
            }
        }
    }

    /// The peer that sent the byte at `offset`.
    pub fn peer_at(&self, offset: usize) -> Option<SocketAddr> {
        let i = self.peers.partition_point(|(end, _)| *end <= offset);
        self.peers.get(i).map(|(_, p)| *p)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// One alert, serialized once (a JSON object, no trailing newline), shared by every sink.
#[derive(Clone, Debug)]
pub struct AlertRecord {
    pub json: Arc<[u8]>,
    /// Unix seconds of the alert.
    pub time: i64,
    /// Priority label for metrics and routing (`none` until scoring exists).
    pub priority: &'static str,
}

/// Why the indicator set is being rebuilt (the `reason` of logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadReason {
    Signal,
    Admin,
    FileChanged,
    FeedRefresh,
    Expiry,
}

/// Answer to a reload request: the new set's generation, or why the build failed (the old
/// set stays).
pub type ReloadResult = Result<u64, String>;

/// A request to rebuild the indicator set, sent to the control plane.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reason: ReloadReason,
    /// Where to send the outcome, if the requester waits for it.
    pub reply: Option<tokio::sync::oneshot::Sender<ReloadResult>>,
}

/// Stops sources and background tasks; see `app` for the shutdown order.
pub use tokio_util::sync::CancellationToken as Shutdown;

/// Sender side of the queue into the matchers.
pub type BatchSender = crossbeam_channel::Sender<Batch>;
pub type BatchReceiver = crossbeam_channel::Receiver<Batch>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_peers() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut batch = Batch::new(SourceKind::SyslogUdp);
        batch.push_line(b"one\ntwo", Some(a));
        batch.push_line(b"three", Some(a));
        batch.push_line(b"four", Some(b));
        assert_eq!(batch.buf, b"one two\nthree\nfour\n");
        assert_eq!(batch.peers.len(), 2);
        assert_eq!(batch.peer_at(0), Some(a));
        assert_eq!(batch.peer_at(13), Some(a));
        assert_eq!(batch.peer_at(14), Some(b));
        assert_eq!(batch.peer_at(100), None);
        batch.push_lines(b"five\nsix\n", Some(b));
        batch.push_lines(b"seven\n", Some(a));
        assert_eq!(batch.buf, b"one two\nthree\nfour\nfive\nsix\nseven\n");
        assert_eq!(batch.peers.len(), 3);
        assert_eq!(batch.peer_at(27), Some(b));
        assert_eq!(batch.peer_at(28), Some(a));
    }
}
