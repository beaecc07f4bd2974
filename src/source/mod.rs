//! Sources: where log lines come in, and where backpressure starts.
//!
//! [`spawn_all`] starts every configured source on the current tokio runtime and returns
//! [`Sources`]: the tasks and the addresses they listen on. Each source turns what it reads
//! into [`Batch`]es of whole lines and hands them to the matcher queue, a bounded crossbeam
//! channel. Read these first:
//!
//! * `syslog`: syslog over UDP, TCP and TLS, and the TCP framing (LF or RFC 6587 octet
//!   counting, detected per connection).
//! * `file`: a file followed like `tail -F`, across rotation; `stdin`: lines until EOF. Both
//!   keep the Zeek TSV header of their stream and attach it to each batch
//!   (`Batcher::track_zeek`); syslog and Kafka carry no header (their Zeek lines have lost it).
//!
//! # Batches and latency
//!
//! A source appends messages to its batch and sends the batch when it holds `batch_bytes`, or
//! as soon as its socket or file has nothing more to give right now (after each `read()` it
//! processed). Under load batches are full and cheap per line; at low rates a line waits for
//! no timer.
//!
//! # Backpressure
//!
//! Sending is `try_send` first. When the queue is full, UDP drops the batch and counts its
//! messages (`events_dropped{reason="queue_full"}`): a datagram sender cannot be slowed down.
//! Every other source waits for room, and while it waits it does not read, so the kernel's
//! socket buffers fill and TCP's flow control slows the sender: that is the backpressure. The
//! wait is a blocking `send` on the runtime's blocking pool, awaited by the source; only one
//! source waits that way at a time, the others queue on an async mutex, so a thousand stalled
//! connections hold one pool thread, not a thousand, and no runtime thread is ever blocked.
//!
//! (`block_in_place` would block in place instead, but each time it hands the runtime's core
//! to another thread, and the sources then allocate their batches from ever more threads, each
//! with its own malloc arena. Measured A/B with `scripts/load.sh` on the 2-core box, it read
//! 25-30% fewer lines per second at full rate and kept 15 MiB more resident memory after it.)
//!
//! # Shutdown
//!
//! When the [`Shutdown`] token is cancelled, sources stop reading and accepting, send what
//! they hold (a partial batch, a last line without its line feed) and end, dropping their
//! senders of the queue (stdin too, while its reading thread stays blocked on an open input);
//! [`Sources::join`] waits for that.

pub mod file;
pub mod kafka;
mod slots;
pub mod stdin;
pub mod syslog;

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::TrySendError;
use prometheus::{IntCounter, IntGauge};
use tokio::task::JoinHandle;

use crate::config::SourcesConfig;
use crate::decode::event::{ZeekHeader, ZeekStream, hash_lines};
use crate::model::{Batch, BatchSender, Shutdown, SourceKind};
use crate::telemetry::Metrics;

/// The running sources.
pub struct Sources {
    handles: Vec<JoinHandle<()>>,
    listening: Vec<Listening>,
    kafka: Option<kafka::KafkaSource>,
}

/// A bound socket of a network source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Listening {
    pub source: SourceKind,
    pub addr: SocketAddr,
}

impl fmt::Display for Listening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.source.as_str())
    }
}

impl Sources {
    /// Every bound socket (with the real port when the configuration said port 0).
    pub(crate) fn local_addrs(&self) -> &[Listening] {
        &self.listening
    }

    /// The address `source` listens on, if it is a network source that is enabled.
    pub fn local_addr(&self, source: SourceKind) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.source == source)
            .map(|l| l.addr)
    }

    /// Waits until every source has ended (after shutdown, or when the queue is gone).
    pub async fn join(self) {
        for h in self.handles {
            if let Err(e) = h.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "a source panicked");
            }
        }
    }

    /// The Kafka consumer, which outlives intake: after the sinks have flushed, the app
    /// calls [`kafka::KafkaSource::finish`] so that the last offsets are committed.
    pub(crate) fn take_kafka(&mut self) -> Option<kafka::KafkaSource> {
        self.kafka.take()
    }

    /// The Kafka consumer's partitions and positions, when there is one.
    pub(crate) fn kafka_tracker(&self) -> Option<std::sync::Arc<kafka::Tracker>> {
        self.kafka.as_ref().map(kafka::KafkaSource::tracker)
    }
}

/// Starts every source of `cfg`. Must be called inside a tokio runtime. Every
/// socket is bound (and the TLS certificate read) before this returns, so such errors come
/// back here, naming the address or file; a followed file that does not exist yet is not an
/// error (it is read once it appears).
pub fn spawn_all(
    cfg: &SourcesConfig,
    batch_bytes: usize,
    tx: BatchSender,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    grace: std::time::Duration,
) -> io::Result<Sources> {
    // Certificates first, so that a bad one is reported before anything listens.
    let tls = cfg
        .syslog_tls
        .as_ref()
        .map(syslog::tls_acceptor)
        .transpose()?;
    // Sources started before a later one fails to bind are stopped through this token.
    let stop = shutdown.child_token();
    let started = start(cfg, tls, batch_bytes, tx, &metrics, &stop, grace);
    if started.is_err() {
        stop.cancel();
    }
    started
}

fn start(
    cfg: &SourcesConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    batch_bytes: usize,
    tx: BatchSender,
    metrics: &Arc<Metrics>,
    shutdown: &Shutdown,
    grace: std::time::Duration,
) -> io::Result<Sources> {
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    let outlet = |source: SourceKind| Outlet::new(source, tx.clone(), metrics, turn.clone());
    let mut handles = Vec::new();
    let mut listening = Vec::new();

    if let Some(c) = &cfg.syslog_udp {
        let (h, addr) = syslog::spawn_udp(
            c,
            Batcher::new(outlet(SourceKind::SyslogUdp), batch_bytes),
            metrics,
            shutdown.clone(),
        )?;
        handles.push(h);
        listening.push(Listening {
            source: SourceKind::SyslogUdp,
            addr,
        });
    }
    if let Some(c) = &cfg.syslog_tcp {
        let (h, addr) = syslog::spawn_tcp(
            c,
            None,
            outlet(SourceKind::SyslogTcp),
            batch_bytes,
            metrics,
            shutdown.clone(),
        )?;
        handles.push(h);
        listening.push(Listening {
            source: SourceKind::SyslogTcp,
            addr,
        });
    }
    if let (Some(c), Some(acceptor)) = (&cfg.syslog_tls, tls) {
        let (h, addr) = syslog::spawn_tcp(
            &c.tcp,
            Some(acceptor),
            outlet(SourceKind::SyslogTls),
            batch_bytes,
            metrics,
            shutdown.clone(),
        )?;
        handles.push(h);
        listening.push(Listening {
            source: SourceKind::SyslogTls,
            addr,
        });
    }
    for f in &cfg.files {
        let mut b = Batcher::new(outlet(SourceKind::File), batch_bytes);
        b.set_path(Arc::from(f.path.to_string_lossy().as_ref()));
        b.track_zeek();
        handles.push(file::spawn(f, b, shutdown.clone()));
    }
    if cfg.stdin {
        let mut b = Batcher::new(outlet(SourceKind::Stdin), batch_bytes);
        b.track_zeek();
        handles.push(stdin::spawn(io::stdin(), b, shutdown.clone())?);
    }
    let mut kafka = None;
    if let Some(k) = &cfg.kafka {
        let (intake, source) = kafka::spawn(
            k,
            batch_bytes,
            tx.clone(),
            metrics.clone(),
            shutdown.clone(),
            grace,
        )?;
        handles.push(intake);
        kafka = Some(source);
    }
    Ok(Sources {
        handles,
        listening,
        kafka,
    })
}

/// The queue is gone: the pipeline is stopping, so the source stops too.
#[derive(Debug)]
pub(crate) struct Closed;

/// One source's end of the matcher queue, with its metrics.
#[derive(Clone)]
pub(crate) struct Outlet {
    source: SourceKind,
    tx: BatchSender,
    /// Serializes the tasks that wait for room in the queue (see the module docs).
    turn: Arc<tokio::sync::Mutex<()>>,
    pub(crate) events_in: IntCounter,
    pub(crate) bytes_in: IntCounter,
    pub(crate) parse_errors: IntCounter,
    pub(crate) truncated: IntCounter,
    pub(crate) queue_full: IntCounter,
    pub(crate) connections: IntGauge,
    queue_depth: IntGauge,
}

impl Outlet {
    fn new(
        source: SourceKind,
        tx: BatchSender,
        m: &Metrics,
        turn: Arc<tokio::sync::Mutex<()>>,
    ) -> Outlet {
        let name = source.as_str();
        Outlet {
            source,
            tx,
            turn,
            events_in: m.events_in.with_label_values(&[name]),
            bytes_in: m.bytes_in.with_label_values(&[name]),
            parse_errors: m.parse_errors.with_label_values(&[name]),
            truncated: m.events_dropped.with_label_values(&[name, "truncated"]),
            queue_full: m.events_dropped.with_label_values(&[name, "queue_full"]),
            connections: m.connections.with_label_values(&[name]),
            queue_depth: m.queue_depth.clone(),
        }
    }

    /// Only UDP may drop; everything else waits for room.
    fn drops_when_full(&self) -> bool {
        self.source == SourceKind::SyslogUdp
    }

    /// Sends from a tokio task. When the queue is full: drops and counts (UDP), or waits
    /// without reading, which is the backpressure.
    async fn send(&self, batch: Batch, lines: u64) -> Result<(), Closed> {
        let batch = match self.tx.try_send(batch) {
            Ok(()) => return self.sent(),
            Err(TrySendError::Disconnected(_)) => return Err(Closed),
            Err(TrySendError::Full(batch)) => batch,
        };
        if self.drops_when_full() {
            self.queue_full.inc_by(lines);
            return Ok(());
        }
        let _turn = self.turn.lock().await;
        let batch = match self.tx.try_send(batch) {
            Ok(()) => return self.sent(),
            Err(TrySendError::Disconnected(_)) => return Err(Closed),
            Err(TrySendError::Full(batch)) => batch,
        };
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(batch).map_err(|_| Closed))
            .await
            .map_err(|_| Closed)??;
        self.sent()
    }

    /// Sends from a plain thread (files, stdin): waits for room.
    fn send_blocking(&self, batch: Batch) -> Result<(), Closed> {
        self.tx.send(batch).map_err(|_| Closed)?;
        self.sent()
    }

    fn sent(&self) -> Result<(), Closed> {
        self.queue_depth.set(self.tx.len() as i64);
        Ok(())
    }
}

/// The batch a source is filling.
///
/// A source that carries Zeek TSV logs with their header (a file, stdin: one stream each)
/// turns on [`Batcher::track_zeek`]: every line starting with `#` then goes through a
/// [`ZeekStream`], each batch carries the header in effect ([`Batch::zeek`]), and a header
/// change seals the batch first, so that each line is decoded with its own header.
pub(crate) struct Batcher {
    out: Outlet,
    batch: Batch,
    lines: u64,
    limit: usize,
    path: Option<Arc<str>>,
    zeek: Option<ZeekStream>,
    /// Batches sealed by a header change, sent (before `batch`) by the next flush.
    sealed: Vec<(Batch, u64)>,
    /// While a [`LineReader`] frames its buffer: the buffer's address and length and the
    /// stream offset of its first byte. The framer hands over slices of that buffer, so a
    /// slice's address says where in the stream its bytes were (`Batch::offsets`).
    stream: Option<(usize, usize, u64)>,
}

impl Batcher {
    pub(crate) fn new(out: Outlet, limit: usize) -> Batcher {
        let batch = Batch::new(out.source);
        Batcher {
            out,
            batch,
            lines: 0,
            limit: limit.max(1),
            path: None,
            zeek: None,
            sealed: Vec::new(),
            stream: None,
        }
    }

    /// Lines pushed until [`Batcher::end_stream`] are slices of `buf`, which starts at
    /// `offset` of the stream.
    fn begin_stream(&mut self, buf: &[u8], offset: u64) {
        self.stream = Some((buf.as_ptr() as usize, buf.len(), offset));
    }

    fn end_stream(&mut self) {
        self.stream = None;
    }

    /// Notes where in the stream `bytes`, about to be appended, were read.
    fn note_offset(&mut self, bytes: &[u8]) {
        if let Some((base, len, offset)) = self.stream {
            let at = (bytes.as_ptr() as usize).wrapping_sub(base);
            if at <= len {
                self.batch.read_at(offset + at as u64);
            }
        }
    }

    /// Keeps the Zeek header of the stream (see the type's docs).
    pub(crate) fn track_zeek(&mut self) {
        self.zeek.get_or_insert_with(ZeekStream::new);
    }

    /// Forgets the Zeek header: the stream's file was replaced by another.
    pub(crate) fn reset_zeek(&mut self) {
        if let Some(z) = &mut self.zeek
            && z.reset()
        {
            self.header_changed();
        }
    }

    /// Reads a line that is not sent (a header read ahead) into the Zeek header.
    pub(crate) fn read_header_line(&mut self, line: &[u8]) {
        self.zeek_line(line);
    }

    /// Reads `line` (ending with its `\n` or not) into the Zeek header if it is one.
    fn zeek_line(&mut self, line: &[u8]) {
        if let Some(z) = &mut self.zeek
            && z.update(line)
        {
            self.header_changed();
        }
    }

    /// Seals the lines read with the old header; the next ones go with the new one.
    fn header_changed(&mut self) {
        if let Some(sealed) = self.take() {
            self.sealed.push(sealed);
        }
        self.batch.zeek = self.current_zeek();
    }

    fn current_zeek(&self) -> Option<Arc<ZeekHeader>> {
        self.zeek.as_ref().and_then(|z| z.current().cloned())
    }

    fn set_path(&mut self, path: Arc<str>) {
        self.path = Some(path.clone());
        self.batch.path = Some(path);
    }

    pub(crate) fn outlet(&self) -> &Outlet {
        &self.out
    }

    pub(crate) fn push(&mut self, line: &[u8], peer: Option<SocketAddr>) {
        if line.first() == Some(&b'#') {
            self.zeek_line(line);
        }
        if self.batch.buf.capacity() == 0 {
            self.batch.buf.reserve(self.limit + self.limit / 8);
        }
        self.note_offset(line);
        self.batch.push_line(line, peer);
        self.lines += 1;
    }

    /// Appends `count` whole lines, each already ended by `\n`.
    pub(crate) fn push_lines(&mut self, lines: &[u8], count: u64, peer: Option<SocketAddr>) {
        if self.zeek.is_some() {
            // Header lines are rare: split the run at each, so it reaches the header first.
            let (mut done, mut counted) = (0, 0);
            for h in hash_lines(lines) {
                if h.start > done {
                    let n = memchr::memchr_iter(b'\n', &lines[done..h.start]).count() as u64;
                    self.append_lines(&lines[done..h.start], n, peer);
                    counted += n;
                }
                self.zeek_line(&lines[h.clone()]);
                self.append_lines(&lines[h.clone()], 1, peer);
                counted += 1;
                done = h.end;
            }
            if done > 0 {
                if done < lines.len() {
                    self.append_lines(&lines[done..], count.saturating_sub(counted), peer);
                }
                return;
            }
        }
        self.append_lines(lines, count, peer);
    }

    fn append_lines(&mut self, lines: &[u8], count: u64, peer: Option<SocketAddr>) {
        if self.batch.buf.capacity() == 0 {
            self.batch.buf.reserve(self.limit + self.limit / 8);
        }
        self.note_offset(lines);
        self.batch.push_lines(lines, peer);
        self.lines += count;
    }

    /// Bytes that still fit before the batch is full.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.batch.len())
    }

    /// Whether the source should send before it adds more (the batch is full, or a header
    /// change sealed one).
    pub(crate) fn is_full(&self) -> bool {
        self.batch.len() >= self.limit || !self.sealed.is_empty()
    }

    fn take(&mut self) -> Option<(Batch, u64)> {
        if self.batch.is_empty() {
            return None;
        }
        let mut next = Batch::new(self.out.source);
        next.path = self.path.clone();
        next.zeek = self.current_zeek();
        let batch = std::mem::replace(&mut self.batch, next);
        let lines = std::mem::take(&mut self.lines);
        self.out.events_in.inc_by(lines);
        Some((batch, lines))
    }

    /// Sends the batch if it holds anything.
    pub(crate) async fn flush(&mut self) -> Result<(), Closed> {
        for (batch, lines) in std::mem::take(&mut self.sealed) {
            self.out.send(batch, lines).await?;
        }
        match self.take() {
            Some((batch, lines)) => self.out.send(batch, lines).await,
            None => Ok(()),
        }
    }

    pub(crate) fn flush_blocking(&mut self) -> Result<(), Closed> {
        for (batch, _) in std::mem::take(&mut self.sealed) {
            self.out.send_blocking(batch)?;
        }
        match self.take() {
            Some((batch, _)) => self.out.send_blocking(batch),
            None => Ok(()),
        }
    }
}

/// Longest line of a file or of stdin; longer ones are cut there (and counted).
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;
const READ_CHUNK: usize = 64 * 1024;

/// Lines from a blocking reader (a file, stdin), in two steps so that the caller can decide
/// what happens between reading and processing: [`LineReader::fill`] reads once,
/// [`LineReader::drain`] turns every complete line into the batch.
pub(crate) struct LineReader {
    framer: syslog::Framer,
    buf: Vec<u8>,
    /// The stream offset of `buf[0]`: where each line was read, for `event.id`.
    pos: u64,
}

impl LineReader {
    pub(crate) fn new() -> LineReader {
        LineReader {
            framer: syslog::Framer::lines(MAX_LINE_BYTES),
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
        }
    }

    /// The next byte read is at `pos` of the stream (a file opened at its end, or anew).
    pub(crate) fn set_pos(&mut self, pos: u64) {
        debug_assert!(self.buf.is_empty());
        self.pos = pos;
    }

    /// One `read()`; 0 at end of file.
    pub(crate) fn fill(&mut self, r: &mut impl Read, out: &Outlet) -> io::Result<usize> {
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let n = loop {
            match r.read(&mut self.buf[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(len + *n.as_ref().unwrap_or(&0));
        let n = n?;
        out.bytes_in.inc_by(n as u64);
        Ok(n)
    }

    /// Every complete line into `b`, sending each batch that fills, then what is left.
    pub(crate) fn drain(&mut self, b: &mut Batcher) -> Result<(), Closed> {
        let mut used = 0;
        b.begin_stream(&self.buf, self.pos);
        let sent = loop {
            used += syslog::frame_some(&mut self.framer, &self.buf[used..], None, b);
            if !b.is_full() {
                break Ok(());
            }
            if let Err(e) = b.flush_blocking() {
                break Err(e);
            }
        };
        b.end_stream();
        sent?;
        self.buf.drain(..used);
        self.pos += used as u64;
        b.flush_blocking()
    }

    /// The last line, if it has no line feed (the file ended, or was replaced).
    pub(crate) fn finish(&mut self, b: &mut Batcher) -> Result<(), Closed> {
        b.begin_stream(&self.buf, self.pos);
        syslog::finish_into(&mut self.framer, &self.buf, None, b);
        b.end_stream();
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        b.flush_blocking()
    }

    /// Forgets a partial line (the file was truncated under it); reading starts again at
    /// offset 0.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.framer = syslog::Framer::lines(MAX_LINE_BYTES);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A batcher of `source` on a fresh queue of `cap` batches.
    pub(crate) fn batcher(
        source: SourceKind,
        limit: usize,
        cap: usize,
    ) -> (Batcher, crate::model::BatchReceiver, Arc<Metrics>) {
        let (tx, rx) = crossbeam_channel::bounded(cap);
        let metrics = Arc::new(Metrics::new());
        let out = Outlet::new(source, tx, &metrics, Arc::new(tokio::sync::Mutex::new(())));
        (Batcher::new(out, limit), rx, metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn udp_drops_and_counts_when_full_others_wait() {
        let (mut udp, rx, metrics) = testing::batcher(SourceKind::SyslogUdp, 1024, 1);
        udp.push(b"a", None);
        udp.flush().await.unwrap();
        udp.push(b"b", None);
        udp.push(b"c", None);
        udp.flush().await.unwrap();
        assert_eq!(
            metrics
                .events_dropped
                .with_label_values(&["syslog_udp", "queue_full"])
                .get(),
            2
        );
        assert_eq!(
            metrics.events_in.with_label_values(&["syslog_udp"]).get(),
            3
        );
        assert_eq!(rx.recv().unwrap().buf, b"a\n");
        assert!(rx.try_recv().is_err());

        let (mut tcp, rx, metrics) = testing::batcher(SourceKind::SyslogTcp, 1024, 1);
        tcp.push(b"first", None);
        tcp.flush().await.unwrap();
        tcp.push(b"second", None);
        let waiting = tokio::spawn(async move {
            tcp.flush().await.unwrap();
            tcp
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a full queue must make TCP wait");
        assert_eq!(metrics.queue_depth.get(), 1);
        assert_eq!(rx.recv().unwrap().buf, b"first\n");
        let tcp = waiting.await.unwrap();
        assert_eq!(rx.recv().unwrap().buf, b"second\n");
        drop(rx);
        let mut tcp = tcp;
        tcp.push(b"third", None);
        assert!(
            tcp.flush().await.is_err(),
            "a closed queue stops the source"
        );
    }

    /// Feeds `data` through a line reader in reads of `step` bytes, as a follower does.
    fn read_through(b: &mut Batcher, data: &[u8], step: usize) {
        let mut lr = LineReader::new();
        for part in data.chunks(step) {
            let mut part = part;
            while lr.fill(&mut part, b.outlet()).unwrap() > 0 {
                lr.drain(b).unwrap();
            }
        }
        lr.finish(b).unwrap();
    }

    /// Every line of the batches, with the `#fields` its batch carried.
    fn lines_with_header(batches: &[Batch]) -> Vec<(String, Option<String>)> {
        batches
            .iter()
            .flat_map(|b| {
                let h = b.zeek.as_ref().map(|h| h.fields().join(","));
                String::from_utf8(b.buf.clone())
                    .unwrap()
                    .lines()
                    .map(|l| (l.to_owned(), h.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn zeek_header_in_effect_travels_with_each_batch() {
        let data = b"#separator \\x09\n#fields\tts\tquery\n#types\ttime\tstring\n\
            1\ta.example\n2\tb.example\n#close\tx\n\
            #fields\tquery\tts\n#types\tstring\ttime\nc.example\t3\n";
        let want = |n: usize| -> Vec<(String, Option<String>)> {
            let text = std::str::from_utf8(data).unwrap();
            // A header line goes with the header it makes.
            let h = |l: &str| match l {
                "#separator \\x09" => None,
                "#fields\tquery\tts" | "#types\tstring\ttime" | "c.example\t3" => {
                    Some("query,ts".to_owned())
                }
                _ => Some("ts,query".to_owned()),
            };
            assert_eq!(text.lines().count(), n);
            text.lines().map(|l| (l.to_owned(), h(l))).collect()
        };
        // Whole reads (the LF fast path, header lines inside a run) and one byte at a time
        // (each line framed alone), with batches larger and smaller than the file.
        for (step, limit) in [(4096, 4096), (1, 4096), (4096, 20), (7, 20)] {
            let (mut b, rx, metrics) = testing::batcher(SourceKind::File, limit, 64);
            b.track_zeek();
            read_through(&mut b, data, step);
            let got: Vec<Batch> = rx.try_iter().collect();
            assert_eq!(
                lines_with_header(&got),
                want(9),
                "step {step} limit {limit}"
            );
            assert_eq!(metrics.events_in.with_label_values(&["file"]).get(), 9);
            // One header, one Arc: batches of the same header share it.
            let firsts: Vec<_> = got.iter().filter_map(|b| b.zeek.clone()).collect();
            for w in firsts.windows(2) {
                assert_eq!(Arc::ptr_eq(&w[0], &w[1]), w[0].fields() == w[1].fields());
            }
        }
    }

    #[test]
    fn zeek_header_is_forgotten_when_the_file_is_replaced_and_not_kept_elsewhere() {
        let (mut b, rx, _m) = testing::batcher(SourceKind::File, 4096, 16);
        b.track_zeek();
        read_through(&mut b, b"#fields\tquery\na.example\n", 4096);
        b.reset_zeek();
        read_through(&mut b, b"b.example\n", 4096);
        let got: Vec<Batch> = rx.try_iter().collect();
        assert_eq!(
            lines_with_header(&got),
            [
                ("#fields\tquery".to_owned(), Some("query".to_owned())),
                ("a.example".to_owned(), Some("query".to_owned())),
                ("b.example".to_owned(), None),
            ]
        );
        // Syslog sources keep no header: a `#` line there is just a line.
        let (mut b, rx, _m) = testing::batcher(SourceKind::SyslogTcp, 4096, 16);
        read_through(&mut b, b"#fields\tquery\na.example\n", 4096);
        assert!(rx.try_iter().all(|b| b.zeek.is_none()));
    }

    /// Each line's stream offset, whatever the framer did to the lines before it and
    /// however the stream was cut into reads.
    #[test]
    fn every_line_knows_its_offset_in_the_stream() {
        let data = b"a 1\r\n\nbb 2\nccc 3\r\n#x\ndddd 4";
        let want: Vec<(String, u64)> = [
            ("a 1", 0),
            ("bb 2", 6),
            ("ccc 3", 11),
            ("#x", 18),
            ("dddd 4", 21),
        ]
        .iter()
        .map(|(l, o)| (l.to_string(), *o))
        .collect();
        for (step, limit) in [(4096, 4096), (1, 4096), (3, 8), (5, 4096)] {
            let (mut b, rx, _m) = testing::batcher(SourceKind::Stdin, limit, 64);
            b.track_zeek();
            let mut lr = LineReader::new();
            lr.set_pos(0);
            for part in data.chunks(step) {
                let mut part = part;
                while lr.fill(&mut part, b.outlet()).unwrap() > 0 {
                    lr.drain(&mut b).unwrap();
                }
            }
            lr.finish(&mut b).unwrap();
            let mut got = Vec::new();
            for batch in rx.try_iter() {
                let mut start = 0;
                for line in batch.buf.split_inclusive(|&c| c == b'\n') {
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    got.push((text, batch.offset_at(start).unwrap()));
                    start += line.len();
                }
            }
            assert_eq!(got, want, "step {step} limit {limit}");
        }
    }

    #[test]
    fn batches_carry_the_file_path_and_split_at_the_limit() {
        let (mut b, rx, _m) = testing::batcher(SourceKind::File, 8, 4);
        b.set_path(Arc::from("/var/log/x.log"));
        let mut lr = LineReader::new();
        let mut data: &[u8] = b"one\ntwo\nthree\nfour";
        while lr.fill(&mut data, b.outlet()).unwrap() > 0 {
            lr.drain(&mut b).unwrap();
        }
        lr.finish(&mut b).unwrap();
        let got: Vec<Batch> = rx.try_iter().collect();
        let bufs: Vec<&[u8]> = got.iter().map(|b| &b.buf[..]).collect();
        assert_eq!(bufs, [&b"one\ntwo\n"[..], b"three\n", b"four\n"]);
        let starts: Vec<Option<u64>> = got.iter().map(|b| b.offset_at(0)).collect();
        assert_eq!(starts, [Some(0), Some(8), Some(14)]);
        assert!(
            got.iter()
                .all(|b| b.path.as_deref() == Some("/var/log/x.log"))
        );
    }
}
