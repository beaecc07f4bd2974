//! The records that flow through the daemon, and the channels between stages.
//!
//! ```text
//! sources (tokio) --Batch--> [bounded crossbeam] --> matcher threads --AlertRecord--> sinks (tokio)
//! ```
//!
//! A [`Batch`] is a run of whole log lines separated by `\n` (a syslog message with a line
//! break inside is flattened to one line by its source), plus where each part came from. An
//! [`AlertRecord`] is one alert, already serialized, shared by every sink.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::decode::event::ZeekHeader;

/// Which configured source read a batch. Also the `source` label of metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    SyslogUdp,
    SyslogTcp,
    SyslogTls,
    File,
    Stdin,
    Kafka,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::SyslogUdp => "syslog_udp",
            SourceKind::SyslogTcp => "syslog_tcp",
            SourceKind::SyslogTls => "syslog_tls",
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
            SourceKind::Kafka => "kafka",
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
    pub(crate) peers: Vec<(usize, SocketAddr)>,
    /// The file a `File` batch was read from.
    pub path: Option<Arc<str>>,
    /// The Zeek TSV header in effect for every line of the batch (files and stdin, once a
    /// `#fields` line was read): a source seals its batch before a header change, so one
    /// batch never needs two. Batches of one header share one `Arc`.
    pub zeek: Option<Arc<ZeekHeader>>,
    /// When the first line of the batch was read (for the latency histogram).
    pub received: Instant,
    /// Kafka batches: the message each line came from, one entry per line in order.
    pub messages: Vec<MessageRef>,
    /// Files and stdin: where in the stream the bytes were read, as `(start, offset)` pairs
    /// in order: the bytes of `buf` from `start` (to the next pair's start) are the stream's
    /// bytes from `offset` on, one for one. Lines the framer changed (a `\r` or an empty
    /// line dropped, a long line cut) start a new pair. Empty for other sources.
    pub offsets: Vec<(usize, u64)>,
    /// When the first line of the batch was read, in nanoseconds since the Unix epoch: with
    /// the line's place in the batch, what identifies a syslog line, which has no offset.
    pub(crate) arrival_ns: u64,
    /// Settled once every alert made from this batch has been delivered by every sink; what
    /// settling does is the source's business (Kafka: the offsets become committable).
    pub receipt: Option<Receipt>,
}

/// Where one line of a Kafka batch came from.
#[derive(Clone, Debug)]
pub struct MessageRef {
    /// Offset in `Batch::buf` just past this line's `\n`.
    pub end: usize,
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

impl Batch {
    pub fn new(source: SourceKind) -> Batch {
        Batch {
            source,
            buf: Vec::new(),
            peers: Vec::new(),
            path: None,
            zeek: None,
            received: Instant::now(),
            messages: Vec::new(),
            offsets: Vec::new(),
            arrival_ns: wall_clock_ns(),
            receipt: None,
        }
    }

    /// Records that the bytes appended next were read at `offset` of the source's stream
    /// (see [`Batch::offsets`]).
    pub(crate) fn read_at(&mut self, offset: u64) {
        let start = self.buf.len();
        if let Some(&(s, o)) = self.offsets.last()
            && o + (start - s) as u64 == offset
        {
            // Still one for one with the stream.
            return;
        }
        self.offsets.push((start, offset));
    }

    /// The stream offset of the byte at `at` of the batch (files and stdin).
    pub(crate) fn offset_at(&self, at: usize) -> Option<u64> {
        let i = self.offsets.partition_point(|(s, _)| *s <= at);
        let (s, o) = *self.offsets.get(i.checked_sub(1)?)?;
        Some(o + (at - s) as u64)
    }

    /// The batch's first line is being read now.
    fn started(&mut self) {
        self.received = Instant::now();
        self.arrival_ns = wall_clock_ns();
    }

    /// Appends one line (a line feed is added) from `peer`. Line breaks inside `line` become
    /// spaces so the line stays one line.
    pub(crate) fn push_line(&mut self, line: &[u8], peer: Option<SocketAddr>) {
        if self.buf.is_empty() {
            self.started();
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
    pub(crate) fn push_lines(&mut self, lines: &[u8], peer: Option<SocketAddr>) {
        debug_assert_eq!(lines.last(), Some(&b'\n'));
        if self.buf.is_empty() {
            self.started();
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

    /// The Kafka message the byte at `offset` came from.
    pub(crate) fn message_at(&self, offset: usize) -> Option<&MessageRef> {
        let i = self.messages.partition_point(|m| m.end <= offset);
        self.messages.get(i)
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

fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Alert priority levels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// Every level, lowest first.
    pub const ALL: [Priority; 5] = [
        Priority::Info,
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Info => "info",
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// The level a label names, `None` for other labels.
    pub fn from_label(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// ECS `event.severity`: 1 (info) to 5 (critical), the scale of OCSF's `severity_id`.
    pub fn severity(self) -> u8 {
        self.index() as u8 + 1
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl serde::Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Priority, String> {
        Priority::from_label(s)
            .ok_or_else(|| format!("{s:?} is not a priority (info, low, medium, high, critical)"))
    }
}

impl<'de> serde::Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What routes an alert and labels it in metrics (`priority`): the priority triage gave it,
/// or none (triage off), or a digest (for one sink, whatever its minimum priority).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertPriority {
    /// Triage is off: every sink takes it.
    #[default]
    Untriaged,
    /// A sink's digest: for that sink only.
    Digest,
    Level(Priority),
}

impl AlertPriority {
    /// The metrics label: the priority's name, `none` or `digest`.
    pub fn label(self) -> &'static str {
        match self {
            AlertPriority::Untriaged => "none",
            AlertPriority::Digest => "digest",
            AlertPriority::Level(p) => p.as_str(),
        }
    }

    /// The priority triage gave, if any.
    pub fn level(self) -> Option<Priority> {
        match self {
            AlertPriority::Level(p) => Some(p),
            _ => None,
        }
    }
}

/// The alert formats other than ECS, rendered on demand from the typed alert a record was
/// made from (the `alert` module implements it); the model layer knows only that they exist.
pub trait Formats: Send + Sync {
    /// OCSF Detection Finding JSON.
    fn ocsf(&self) -> Vec<u8>;
    /// One CEF line, no line feed.
    fn cef(&self) -> Vec<u8>;
}

/// One alert, serialized once (a JSON object, no trailing newline), shared by every sink.
///
/// Not `Clone`: each sink gets its own copy through [`AlertRecord::for_sink`], which holds the
/// batch's [`Receipt`] once more, so that the batch is settled only when every copy is.
pub struct AlertRecord {
    /// The alert in ECS (or, once a sink's sender rendered it, in that sink's format).
    pub json: Arc<[u8]>,
    /// Unix seconds of the alert.
    pub time: i64,
    /// For routing and metrics.
    pub priority: AlertPriority,
    /// Partition key for sinks that shard (Kafka): the indicator and the host, so one
    /// indicator on one host stays in order on one partition.
    pub key: Arc<str>,
    /// The batch this alert came from, when its source waits for delivery (Kafka).
    pub receipt: Option<Receipt>,
    /// The typed alert, for the other formats; `None`: the alert exists only as `json`, and
    /// every format gets that.
    pub formats: Option<Arc<dyn Formats>>,
}

impl std::fmt::Debug for AlertRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertRecord")
            .field("json", &String::from_utf8_lossy(&self.json))
            .field("time", &self.time)
            .field("priority", &self.priority)
            .field("key", &self.key)
            .field("receipt", &self.receipt)
            .finish_non_exhaustive()
    }
}

impl AlertRecord {
    /// A copy for one more sink; the batch's receipt now waits for that sink too.
    pub(crate) fn for_sink(&self) -> AlertRecord {
        AlertRecord {
            json: self.json.clone(),
            time: self.time,
            priority: self.priority,
            key: self.key.clone(),
            receipt: self.receipt.as_ref().map(Receipt::hold),
            formats: self.formats.clone(),
        }
    }

    /// The alert in OCSF, else as it is.
    pub fn ocsf(&self) -> Vec<u8> {
        self.formats
            .as_ref()
            .map_or_else(|| self.json.to_vec(), |f| f.ocsf())
    }

    /// The alert in CEF, else as it is.
    pub fn cef(&self) -> Vec<u8> {
        self.formats
            .as_ref()
            .map_or_else(|| self.json.to_vec(), |f| f.cef())
    }

    /// This sink is done with the alert: it delivered it, or gave up on it for good (which
    /// the sink logs and counts). Settling twice counts once.
    pub fn settle(&self) {
        if let Some(r) = &self.receipt {
            r.settle();
        }
    }
}

/// A count of pending deliveries for one batch, and what to do when it reaches zero.
///
/// A batch starts with one hold (the matcher's, settled after the last alert of the batch is
/// handed to the sinks); every alert copy given to a sink adds one. A receipt that is dropped
/// without being settled (a sink stopped at shutdown with the alert still queued) never
/// settles its batch: for Kafka that offset is not committed and the message is read again,
/// which is the at-least-once promise.
#[derive(Debug)]
pub struct Receipt {
    shared: Arc<ReceiptShared>,
    settled: AtomicBool,
}

struct ReceiptShared {
    pending: AtomicUsize,
    on_settled: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for ReceiptShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptShared")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Receipt {
    /// A receipt with one hold; `on_settled` runs (once, on the thread that settles last)
    /// when every hold is settled.
    pub fn new(on_settled: impl FnOnce() + Send + 'static) -> Receipt {
        Receipt {
            shared: Arc::new(ReceiptShared {
                pending: AtomicUsize::new(1),
                on_settled: std::sync::Mutex::new(Some(Box::new(on_settled))),
            }),
            settled: AtomicBool::new(false),
        }
    }

    /// One more hold on the same batch.
    pub fn hold(&self) -> Receipt {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        Receipt {
            shared: self.shared.clone(),
            settled: AtomicBool::new(false),
        }
    }

    /// Releases this hold (once; later calls do nothing).
    pub fn settle(&self) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let f = self
                .shared
                .on_settled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(f) = f {
                f();
            }
        }
    }
}

/// One compiled indicator set and its generation (1 for the first set, +1 per swap).
pub struct Snapshot {
    pub set: iocd_engine::IocSet,
    pub generation: u64,
}

/// The current snapshot, swapped atomically by reloads (the daemon's control plane) and read
/// by the matcher threads and the exports.
pub(crate) type SharedSet = std::sync::Arc<arc_swap::ArcSwap<Snapshot>>;

/// Stops sources and background tasks; see `daemon` for the shutdown order.
pub use tokio_util::sync::CancellationToken as Shutdown;

/// Sender side of the queue into the matchers.
pub type BatchSender = crossbeam_channel::Sender<Batch>;
pub type BatchReceiver = crossbeam_channel::Receiver<Batch>;

/// A stable alert id: 128 bits of SHA-256 in hex (32 characters) over length-prefixed
/// fields, so that no two lists of fields hash the same input. SHA-256 rather than a fast
/// hash because whoever writes log lines must not be able to make two alerts share an id
/// (Elasticsearch would keep only the first).
pub(crate) struct IdHasher(ring::digest::Context);

impl IdHasher {
    pub(crate) fn new(domain: &str) -> IdHasher {
        let mut h = IdHasher(ring::digest::Context::new(&ring::digest::SHA256));
        h.field(domain.as_bytes());
        h
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut IdHasher {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub(crate) fn finish(self) -> String {
        use std::fmt::Write;
        let digest = self.0.finish();
        let mut hex = String::with_capacity(32);
        for b in &digest.as_ref()[..16] {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// The `event.id` of an alert triage makes on its own (roll-up, flood report, digest): a
/// digest of its `kind` and its content (everything but `@timestamp`, the time it was
/// made), so the same roll-up of the same window always gets the same id.
pub fn content_id(kind: &str, content: &[u8]) -> String {
    let mut h = IdHasher::new("iocd.triage.v1");
    h.field(kind.as_bytes()).field(content);
    h.finish()
}

/// The `rule.ruleset` of every iocd alert.
pub const RULESET: &str = "iocd";

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

    #[test]
    fn stream_offsets_follow_the_bytes_read() {
        let mut b = Batch::new(SourceKind::File);
        assert_eq!(b.offset_at(0), None);
        // A plain run read at 100, then a line whose `\r\n` the framer made `\n` (so
        // the next line starts one byte later in the stream than in the batch).
        b.read_at(100);
        b.push_lines(b"one\ntwo\n", None);
        b.read_at(108);
        b.push_line(b"three", None);
        b.read_at(115);
        b.push_line(b"four", None);
        assert_eq!(b.buf, b"one\ntwo\nthree\nfour\n");
        assert_eq!(
            b.offsets,
            [(0, 100), (14, 115)],
            "contiguous runs are one pair"
        );
        assert_eq!(b.offset_at(0), Some(100));
        assert_eq!(b.offset_at(4), Some(104));
        assert_eq!(b.offset_at(8), Some(108));
        assert_eq!(b.offset_at(14), Some(115));
        assert!(b.arrival_ns > 0);
    }

    #[test]
    fn receipt_settles_once_after_every_hold() {
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let r = Receipt::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        let alert = AlertRecord {
            json: Arc::from(&b"{}"[..]),
            time: 0,
            priority: AlertPriority::Untriaged,
            key: Arc::from("k"),
            receipt: Some(r.hold()),
            formats: None,
        };
        // Two sinks: one copy, and the original for the last one.
        let (a, b) = (alert.for_sink(), alert);
        a.settle();
        a.settle(); // twice counts once
        b.settle();
        assert_eq!(
            fired.load(Ordering::SeqCst),
            0,
            "the matcher's hold is still open"
        );
        r.settle();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        r.settle();
        assert_eq!(fired.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_receipt_never_settles() {
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let r = Receipt::new(move || f.store(true, Ordering::SeqCst));
        let held = r.hold();
        r.settle();
        drop(held);
        assert!(!fired.load(Ordering::SeqCst));
    }
}
