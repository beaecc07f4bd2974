//! The spool: the raw lines of the syslog, file and stdin sources, kept for `lookback` so that
//! an indicator published late can be looked for in them (Kafka sources need none: the topic
//! is the history).
//!
//! Matcher threads hand each batch they are done with to [`Spool::offer`], which never
//! waits: a full queue drops the batch from the spool (counted, logged), never from
//! matching. One writer thread compresses and writes.
//!
//! # Format
//!
//! A folder of segment files, numbered in order: `<seq>.open` while written, then renamed
//! `<seq>-<first>-<last>.seg` (Unix seconds of its first and last batch) once closed and
//! fsynced. A segment is the 8-byte magic `IOCDSPL1`, then blocks:
//!
//! | bytes | what |
//! |---|---|
//! | 4 | `BLK1` |
//! | 4 | compressed length `c` (little endian, like every number here) |
//! | 4 | uncompressed length |
//! | 4 | CRC-32 of the `c` bytes |
//! | 8 + 8 | arrival of the first and of the last batch, ns since the epoch |
//! | c | zstd of the block's batches |
//!
//! A batch is: its source (1 byte), arrival (8), the lines (4 + n), the peers (4, then per
//! peer 4 for its end and 1 + n for the address as text), the path (2 + n, `0xffff`: none),
//! the stream offsets (4, then 4 + 8 each), the Zeek header (4 + n: its `#` lines, 0: none).
//!
//! A crash loses at most the block being filled (a second of lines); the open segment is
//! closed at the next start up to its last whole block. A block that fails its checksum or
//! does not decode ends the reading of its segment: counted as corrupt and logged, the
//! segments after it are read.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use tracing::{info, warn};

use crate::decode::event::ZeekHeader;
use crate::model::{Batch, SourceKind};
use crate::telemetry::metrics::RetroMetrics;

const MAGIC: &[u8; 8] = b"IOCDSPL1";
const BLOCK_MAGIC: &[u8; 4] = b"BLK1";
const BLOCK_HEADER: usize = 32;
/// A block is cut when its batches reach this (uncompressed), or after [`BLOCK_AGE`].
const BLOCK_BYTES: usize = 1 << 20;
const BLOCK_AGE: Duration = Duration::from_secs(1);
/// Largest block read back: anything larger is corrupt, never allocated.
const MAX_BLOCK: usize = 64 << 20;

/// Where and how much to keep.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_max_bytes: u64,
    pub segment_max_age: Duration,
    pub lookback: Duration,
    pub level: i32,
}

/// A closed segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
    /// Unix seconds of its first and last batch.
    pub first: i64,
    pub last: i64,
}

/// The closed segments of `dir`, oldest first.
pub fn segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        let mut parts = stem.split('-');
        let (Some(seq), Some(first), Some(last), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(seq), Ok(first), Ok(last)) = (seq.parse(), first.parse(), last.parse()) else {
            continue;
        };
        v.push(Segment {
            seq,
            path: e.path(),
            bytes: e.metadata()?.len(),
            first,
            last,
        });
    }
    v.sort_by_key(|s| s.seq);
    Ok(v)
}

/// The intake side: hands batches to the writer thread.
pub struct Spool {
    dir: PathBuf,
    tx: Sender<Msg>,
    metrics: RetroMetrics,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Drops since the last warning, and when it was (warnings at most every 10 s).
    warned: std::sync::Mutex<(u64, Option<Instant>)>,
}

enum Msg {
    Batch(Batch),
    /// Close the open segment; answer with the last closed segment's number.
    Seal(Sender<Option<u64>>),
    Stop,
}

impl Spool {
    /// Opens the spool in `cfg.dir` (made if missing), closes a segment a crash left open,
    /// and starts the writer thread.
    pub fn open(cfg: SpoolConfig, queue: usize, metrics: RetroMetrics) -> io::Result<Spool> {
        fs::create_dir_all(&cfg.dir)?;
        let next = recover(&cfg.dir, &metrics)?;
        let dir = cfg.dir.clone();
        let (tx, rx) = bounded(queue);
        let mut w = Writer {
            cfg,
            open: None,
            next,
            block: Vec::with_capacity(BLOCK_BYTES + (64 << 10)),
            block_span: None,
            block_started: Instant::now(),
            metrics: metrics.clone(),
        };
        w.enforce_bounds();
        let thread = std::thread::Builder::new()
            .name("iocd-spool".into())
            .spawn(move || {
                // Matching comes first: on a saturated machine the spool writer gets the CPU
                // the matchers leave, and what it cannot take is dropped from the spool and
                // counted, never waited for.
                super::nice_this_thread(10);
                w.run(rx)
            })?;
        Ok(Spool {
            dir,
            tx,
            metrics,
            thread: std::sync::Mutex::new(Some(thread)),
            warned: std::sync::Mutex::new((0, None)),
        })
    }

    /// The spool's folder.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Takes a batch a matcher is done with. Never waits: when the writer is behind, the
    /// batch is not spooled (counted and logged).
    pub fn offer(&self, batch: Batch) {
        match self.tx.try_send(Msg::Batch(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => {
                // Lines are counted only when dropped: a batch handed over costs no scan.
                let lines = match &m {
                    Msg::Batch(b) => memchr::memchr_iter(b'\n', &b.buf).count() as u64,
                    _ => 0,
                };
                self.metrics.spool_dropped.inc_by(lines);
                let mut w = self.warned.lock().unwrap_or_else(|e| e.into_inner());
                w.0 += lines;
                if w.1.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    warn!(
                        lines = w.0,
                        "retro spool writer is behind: lines not spooled (they were matched \
                         live; a late indicator will not be looked for in them)"
                    );
                    *w = (0, Some(Instant::now()));
                }
            }
        }
    }

    /// Closes the open segment, so that every line spooled before now is in a closed
    /// segment; the last closed segment's number (`None`: none yet).
    pub fn seal(&self) -> Option<u64> {
        let (tx, rx) = bounded(1);
        // Waits for room: a seal must not be lost (the writer drains fast).
        self.tx.send(Msg::Seal(tx)).ok()?;
        rx.recv().ok().flatten()
    }

    /// Stops the writer after it wrote everything queued (the open segment is closed).
    pub fn close(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// Makes every `<seq>.open` segment closed: its whole blocks are kept. Returns the next
/// segment number.
fn recover(dir: &Path, metrics: &RetroMetrics) -> io::Result<u64> {
    let mut next = segments(dir)?.last().map_or(0, |s| s.seq + 1);
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".open"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let path = e.path();
        let mut bytes = Vec::new();
        File::open(&path)?.read_to_end(&mut bytes)?;
        let (whole, span) = whole_blocks(&bytes);
        match span {
            Some((first, last)) => {
                let f = fs::OpenOptions::new().write(true).open(&path)?;
                f.set_len(whole as u64)?;
                f.sync_all()?;
                let to = dir.join(closed_name(seq, first, last));
                fs::rename(&path, &to)?;
                warn!(
                    segment = %to.display(),
                    kept_bytes = whole,
                    lost_bytes = bytes.len() - whole,
                    "retro spool: closed a segment left open by a crash"
                );
                if whole < bytes.len() {
                    metrics.spool_corrupt.inc();
                }
            }
            None => {
                fs::remove_file(&path)?;
            }
        }
        next = next.max(seq + 1);
    }
    Ok(next)
}

/// How many leading bytes of a segment are whole, checksummed blocks, and the arrival span
/// (ns) they cover.
fn whole_blocks(bytes: &[u8]) -> (usize, Option<(u64, u64)>) {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return (0, None);
    }
    let mut at = MAGIC.len();
    let mut span: Option<(u64, u64)> = None;
    while let Ok(Some(h)) = BlockHeader::read(&bytes[at..]) {
        let body = &bytes[at + BLOCK_HEADER..at + BLOCK_HEADER + h.clen];
        if crc32fast::hash(body) != h.crc {
            break;
        }
        span = Some(span.map_or((h.first, h.last), |(f, _)| (f, h.last)));
        at += BLOCK_HEADER + h.clen;
    }
    (at, span)
}

/// A block: its header and `raw` compressed at `level`.
fn block(raw: &[u8], level: i32, first: u64, last: u64) -> io::Result<Vec<u8>> {
    let body = zstd::bulk::compress(raw, level)?;
    let mut out = Vec::with_capacity(BLOCK_HEADER + body.len());
    out.extend_from_slice(BLOCK_MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// What a retro job asks of a batch read back, for each of its lines: the sender, the stream
/// offset, the Kafka message (for the fuzz target: none of it may panic).
#[doc(hidden)]
pub fn fuzzing_walk(b: &Batch) -> usize {
    let mut n = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &b.buf) {
        n += usize::from(b.peer_at(start).is_some());
        n += usize::from(b.offset_at(start).is_some());
        n += usize::from(b.message_at(start).is_some());
        start = end + 1;
    }
    n
}

/// A segment of one well-formed block holding `raw` as its batch bytes, whatever they are:
/// for the fuzz target, so that it reaches the batch decoder past the checksum.
#[doc(hidden)]
pub fn fuzzing_segment(raw: &[u8]) -> Vec<u8> {
    let mut seg = MAGIC.to_vec();
    seg.extend(block(raw, 1, 1, 2).expect("in-memory compression"));
    seg
}

fn closed_name(seq: u64, first_ns: u64, last_ns: u64) -> String {
    format!(
        "{seq:016}-{}-{}.seg",
        first_ns / 1_000_000_000,
        last_ns / 1_000_000_000
    )
}

struct BlockHeader {
    clen: usize,
    rlen: usize,
    crc: u32,
    first: u64,
    last: u64,
}

impl BlockHeader {
    /// The header at the start of `b`: `Ok(None)` at the end of the segment, `Err` when
    /// what is there is no whole block.
    fn read(b: &[u8]) -> Result<Option<BlockHeader>, &'static str> {
        if b.is_empty() {
            return Ok(None);
        }
        if b.len() < BLOCK_HEADER {
            return Err("a block header cut short");
        }
        if &b[..4] != BLOCK_MAGIC {
            return Err("no block where one should start");
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let h = BlockHeader {
            clen: u32_at(4) as usize,
            rlen: u32_at(8) as usize,
            crc: u32_at(12),
            first: u64_at(16),
            last: u64_at(24),
        };
        if h.clen > MAX_BLOCK || h.rlen > MAX_BLOCK {
            return Err("a block larger than any iocd writes");
        }
        if b.len() < BLOCK_HEADER + h.clen {
            return Err("a block cut short");
        }
        Ok(Some(h))
    }
}

struct OpenSegment {
    seq: u64,
    path: PathBuf,
    file: File,
    bytes: u64,
    opened: Instant,
    first: Option<u64>,
    last: u64,
}

struct Writer {
    cfg: SpoolConfig,
    open: Option<OpenSegment>,
    next: u64,
    /// The batches of the block being filled, encoded.
    block: Vec<u8>,
    block_span: Option<(u64, u64)>,
    block_started: Instant,
    metrics: RetroMetrics,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let wait = self.next_deadline();
            let msg = match wait {
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                None => rx
                    .recv()
                    .map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Batch(b)) => {
                    encode_batch(&mut self.block, &b);
                    let ns = b.arrival_ns;
                    if self.block_span.is_none() {
                        self.block_started = Instant::now();
                    }
                    self.block_span =
                        Some(self.block_span.map_or((ns, ns), |(f, l)| (f, l.max(ns))));
                    if self.block.len() >= BLOCK_BYTES {
                        self.flush_block();
                    }
                }
                Ok(Msg::Seal(reply)) => {
                    self.flush_block();
                    self.close_segment();
                    let _ = reply.send(self.next.checked_sub(1));
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.block_span.is_some() && self.block_started.elapsed() >= BLOCK_AGE {
                        self.flush_block();
                    }
                    if self
                        .open
                        .as_ref()
                        .is_some_and(|o| o.opened.elapsed() >= self.cfg.segment_max_age)
                    {
                        self.close_segment();
                    }
                }
                Ok(Msg::Stop) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.flush_block();
                    self.close_segment();
                    return;
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let block = self.block_span.map(|_| self.block_started + BLOCK_AGE);
        let seg = self
            .open
            .as_ref()
            .map(|o| o.opened + self.cfg.segment_max_age);
        match (block, seg) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Compresses the block and appends it to the open segment (opening one if needed).
    fn flush_block(&mut self) {
        let Some((first, last)) = self.block_span.take() else {
            return;
        };
        let raw = std::mem::take(&mut self.block);
        let result = (|| -> io::Result<()> {
            let out = block(&raw, self.cfg.level, first, last)?;
            if self.open.is_none() {
                self.open_segment()?;
            }
            let o = self.open.as_mut().expect("opened");
            o.file.write_all(&out)?;
            o.bytes += out.len() as u64;
            o.first.get_or_insert(first);
            o.last = o.last.max(last);
            self.metrics.spool_written_bytes.inc_by(raw.len() as u64);
            self.metrics.spool_bytes.add(out.len() as i64);
            Ok(())
        })();
        if let Err(e) = result {
            self.metrics.spool_errors.inc();
            warn!(error = %e, dir = %self.cfg.dir.display(), "retro spool: a block could not be written; its lines are not spooled");
        }
        self.block = raw;
        self.block.clear();
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.bytes >= self.cfg.segment_max_bytes)
        {
            self.close_segment();
        }
    }

    fn open_segment(&mut self) -> io::Result<()> {
        let seq = self.next;
        let path = self.cfg.dir.join(format!("{seq:016}.open"));
        let mut file = File::create(&path)?;
        file.write_all(MAGIC)?;
        self.next += 1;
        self.open = Some(OpenSegment {
            seq,
            path,
            file,
            bytes: MAGIC.len() as u64,
            opened: Instant::now(),
            first: None,
            last: 0,
        });
        Ok(())
    }

    /// Fsyncs and renames the open segment, then deletes what is past the bounds.
    fn close_segment(&mut self) {
        let Some(o) = self.open.take() else { return };
        let to = self
            .cfg
            .dir
            .join(closed_name(o.seq, o.first.unwrap_or(0), o.last));
        let result = o.file.sync_all().and_then(|()| fs::rename(&o.path, &to));
        match result {
            Ok(()) => {
                if let Ok(d) = File::open(&self.cfg.dir) {
                    let _ = d.sync_all();
                }
                self.metrics.spool_segments.inc();
            }
            Err(e) => {
                self.metrics.spool_errors.inc();
                warn!(error = %e, segment = %o.path.display(), "retro spool: a segment could not be closed");
            }
        }
        self.enforce_bounds();
    }

    /// Deletes closed segments older than `lookback`, then the oldest until the spool fits
    /// `max_bytes`.
    fn enforce_bounds(&mut self) {
        let Ok(segs) = segments(&self.cfg.dir) else {
            return;
        };
        let now = unix_now();
        let oldest = now - self.cfg.lookback.as_secs() as i64;
        let open_bytes = self.open.as_ref().map_or(0, |o| o.bytes);
        let mut total: u64 = segs.iter().map(|s| s.bytes).sum::<u64>() + open_bytes;
        let mut kept = 0i64;
        for s in &segs {
            let reason = if s.last < oldest {
                "age"
            } else if total > self.cfg.max_bytes {
                "size"
            } else {
                kept += 1;
                continue;
            };
            match fs::remove_file(&s.path) {
                Ok(()) => {
                    total -= s.bytes;
                    self.metrics
                        .spool_deleted
                        .with_label_values(&[reason])
                        .inc();
                    info!(segment = %s.path.display(), reason, "retro spool: segment deleted");
                }
                Err(e) => {
                    warn!(error = %e, segment = %s.path.display(), "retro spool: could not delete a segment")
                }
            }
        }
        self.metrics.spool_bytes.set(total as i64);
        self.metrics.spool_segments_kept.set(kept);
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn source_code(s: SourceKind) -> u8 {
    match s {
        SourceKind::SyslogUdp => 1,
        SourceKind::SyslogTcp => 2,
        SourceKind::SyslogTls => 3,
        SourceKind::File => 4,
        SourceKind::Stdin => 5,
        SourceKind::Kafka => 6,
    }
}

fn source_of(c: u8) -> Option<SourceKind> {
    Some(match c {
        1 => SourceKind::SyslogUdp,
        2 => SourceKind::SyslogTcp,
        3 => SourceKind::SyslogTls,
        4 => SourceKind::File,
        5 => SourceKind::Stdin,
        6 => SourceKind::Kafka,
        _ => return None,
    })
}

fn encode_batch(out: &mut Vec<u8>, b: &Batch) {
    out.push(source_code(b.source));
    out.extend_from_slice(&b.arrival_ns.to_le_bytes());
    out.extend_from_slice(&(b.buf.len() as u32).to_le_bytes());
    out.extend_from_slice(&b.buf);
    out.extend_from_slice(&(b.peers.len() as u32).to_le_bytes());
    for (end, peer) in &b.peers {
        out.extend_from_slice(&(*end as u32).to_le_bytes());
        let text = peer.to_string();
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }
    match &b.path {
        Some(p) => {
            let p = &p.as_bytes()[..p.len().min(0xfffe)];
            out.extend_from_slice(&(p.len() as u16).to_le_bytes());
            out.extend_from_slice(p);
        }
        None => out.extend_from_slice(&0xffffu16.to_le_bytes()),
    }
    out.extend_from_slice(&(b.offsets.len() as u32).to_le_bytes());
    for (start, off) in &b.offsets {
        out.extend_from_slice(&(*start as u32).to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    match &b.zeek {
        Some(z) => {
            let lines = z.to_lines();
            out.extend_from_slice(&(lines.len() as u32).to_le_bytes());
            out.extend_from_slice(&lines);
        }
        None => out.extend_from_slice(&0u32.to_le_bytes()),
    }
}

/// Reads what [`encode_batch`] wrote; `None` when the bytes are not a whole batch.
fn decode_batch(r: &mut &[u8]) -> Option<Batch> {
    fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if r.len() < n {
            return None;
        }
        let (a, b) = r.split_at(n);
        *r = b;
        Some(a)
    }
    let u8_ = |r: &mut &[u8]| take(r, 1).map(|b| b[0]);
    let u16_ = |r: &mut &[u8]| take(r, 2).map(|b| u16::from_le_bytes(b.try_into().expect("2")));
    let u32_ = |r: &mut &[u8]| take(r, 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")));
    let u64_ = |r: &mut &[u8]| take(r, 8).map(|b| u64::from_le_bytes(b.try_into().expect("8")));
    let source = source_of(u8_(r)?)?;
    let mut b = Batch::new(source);
    b.arrival_ns = u64_(r)?;
    let n = u32_(r)? as usize;
    b.buf = take(r, n)?.to_vec();
    if b.buf.last().is_some_and(|&c| c != b'\n') {
        return None;
    }
    let peers = u32_(r)? as usize;
    if peers > b.buf.len() {
        return None;
    }
    for _ in 0..peers {
        let end = u32_(r)? as usize;
        let len = u8_(r)? as usize;
        let text = std::str::from_utf8(take(r, len)?).ok()?;
        let peer: SocketAddr = text.parse().ok()?;
        // Ends in order, inside the lines: what `Batch::peer_at` assumes.
        if end > b.buf.len() || b.peers.last().is_some_and(|(e, _)| *e > end) {
            return None;
        }
        b.peers.push((end, peer));
    }
    let plen = u16_(r)?;
    if plen != 0xffff {
        let p = std::str::from_utf8(take(r, plen as usize)?).ok()?;
        b.path = Some(Arc::from(p));
    }
    let offsets = u32_(r)? as usize;
    if offsets > b.buf.len() + 1 {
        return None;
    }
    for _ in 0..offsets {
        let start = u32_(r)? as usize;
        let off = u64_(r)?;
        // Starts in order, inside the lines, and offsets no stream reaches (what
        // `Batch::offset_at` assumes: it adds to them).
        if start > b.buf.len()
            || off > 1 << 62
            || b.offsets.last().is_some_and(|(s, _)| *s >= start)
        {
            return None;
        }
        b.offsets.push((start, off));
    }
    let zlen = u32_(r)? as usize;
    if zlen > 0 {
        let lines = take(r, zlen)?;
        b.zeek = ZeekHeader::from_lines(lines.split(|&c| c == b'\n')).map(Arc::new);
    }
    Some(b)
}

/// Why a segment's reading stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is corrupt at byte {at}: {why}")]
    Corrupt {
        path: PathBuf,
        at: usize,
        why: &'static str,
    },
}

/// One block of a segment, read back.
pub struct Block {
    /// Its place in the segment (0-based).
    pub index: u32,
    /// Arrival of its first and last batch, ns.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Uncompressed bytes.
    pub bytes: usize,
    pub batches: Vec<Batch>,
}

/// Reads segment `path` from block `from` on, calling `f` for each block (blocks whose last
/// batch arrived before `since_ns` are skipped without decompressing); `f` returning false
/// stops. A corrupt block ends the reading with [`ReadError::Corrupt`] after `f` has had the
/// blocks before it.
pub fn read_segment(
    path: &Path,
    from: u32,
    since_ns: u64,
    f: impl FnMut(Block) -> bool,
) -> Result<(), ReadError> {
    let bytes = fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_blocks(&bytes, path, from, since_ns, f)
}

/// [`read_segment`] of the segment's bytes, already read from `path`.
pub fn read_blocks(
    bytes: &[u8],
    path: &Path,
    from: u32,
    since_ns: u64,
    mut f: impl FnMut(Block) -> bool,
) -> Result<(), ReadError> {
    let corrupt = |at: usize, why: &'static str| ReadError::Corrupt {
        path: path.to_owned(),
        at,
        why,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt(0, "not a spool segment (no IOCDSPL1 magic)"));
    }
    let mut at = MAGIC.len();
    let mut index = 0u32;
    let mut raw;
    loop {
        let h = match BlockHeader::read(&bytes[at..]) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(why) => return Err(corrupt(at, why)),
        };
        let body = &bytes[at + BLOCK_HEADER..at + BLOCK_HEADER + h.clen];
        if index >= from && h.last >= since_ns {
            if crc32fast::hash(body) != h.crc {
                return Err(corrupt(at, "checksum mismatch"));
            }
            raw = match zstd::bulk::decompress(body, h.rlen) {
                Ok(r) if r.len() == h.rlen => r,
                _ => return Err(corrupt(at, "a block that does not decompress")),
            };
            let mut r = raw.as_slice();
            let mut batches = Vec::new();
            while !r.is_empty() {
                match decode_batch(&mut r) {
                    Some(b) => batches.push(b),
                    None => return Err(corrupt(at, "a batch that does not decode")),
                }
            }
            let go_on = f(Block {
                index,
                first_ns: h.first,
                last_ns: h.last,
                bytes: h.rlen,
                batches,
            });
            if !go_on {
                return Ok(());
            }
        }
        at += BLOCK_HEADER + h.clen;
        index += 1;
    }
}

#[cfg(test)]
mod tests;
