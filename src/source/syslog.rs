//! Syslog over UDP, TCP and TLS, and the framing of a syslog byte stream.
//!
//! UDP carries one message per datagram. A TCP stream carries messages framed one of two
//! ways (RFC 6587), and senders do not announce which:
//!
//! * non-transparent framing: each message ends with a line feed (`\r\n` tolerated);
//! * octet counting: `MSG-LEN SP MSG`, as `logger --octet-count` and rsyslog's `omfwd` with
//!   `TCP_Framing="octet-counted"` send it.
//!
//! `Framer` tells them apart on the first bytes of a connection: a digit, more digits, then a
//! space means octet counting; anything else means line feeds. (rsyslog makes the same test
//! on every frame; deciding once per connection keeps an LF-framed line that happens to start
//! with `404 ` from being read as a length.) It is a check-then-parse framer in the style of mini-redis: `Framer::next` looks at what has
//! been read so far and answers "a message here", "skip these bytes" or "read more", without
//! copying. Every message is bounded by `max_message_bytes`: a longer one is cut there, counted
//! (`events_dropped{reason="truncated"}`), and its rest skipped (to the next line feed, or by the
//! announced length) so the stream stays in step. An octet-counting header that does not parse
//! is counted as a parse error, and the bytes up to the next line feed are taken as one message,
//! so a sender that mixes framings loses nothing.
//!
//! Each TCP connection is one task; a semaphore caps how many are served at once. Senders are
//! hostile, and a slow one must not hold intake: a message must be complete within
//! `frame_timeout` of its first byte, a TLS handshake within `handshake_timeout`, and a
//! connection that completes no message for `idle_timeout` is closed (bytes alone, blank lines
//! say, do not keep it open). When every slot is taken and a new connection arrives, the
//! connection that has gone longest without completing a message is closed to make room
//! (`super::slots::Table`); one that waits for room in the matcher queue is never chosen, since iocd holds it
//! up, not its sender. One address gets at most `max_connections_per_peer`. Every such close is
//! counted (`iocd_source_closed_connections_total{reason}`) and logged with the peer.
//! A message becomes one line of a batch, with the sender's address; what a closed connection
//! had sent of an incomplete message is kept as a line too.
//!
//! UDP cannot push back: datagrams that arrive while the socket's receive buffer
//! (`receive_buffer_bytes`) is full are dropped by the kernel, which counts them per socket;
//! `KernelDrops` reads that count into `iocd_source_dropped_events_total{reason="kernel"}`.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

use super::slots::{Closes, Entry, Forced, Table};
use super::{Batcher, Outlet};
use crate::config::{TcpConfig, TlsConfig, UdpConfig};
use crate::pipeline::Shutdown;
use crate::telemetry::Metrics;

/// An octet count longer than this is not a length (4 GB messages do not exist).
const MAX_LEN_DIGITS: usize = 10;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing but line ends seen yet.
    Detect,
    Lines,
    Octets,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of a cut octet-counted message.
    Bytes(u64),
    /// The rest of a cut line, through its line feed.
    Line,
}

/// One message found by the framer, relative to the buffer it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Framed {
    pub msg: Range<usize>,
    /// Longer than the limit (or, at the end of a stream, shorter than announced): cut.
    pub cut: bool,
    /// Came after an octet-counting header that did not parse.
    pub bad: bool,
}

/// What [`Framer::next`] found at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// No complete message: read more.
    More,
    /// Drop this many bytes.
    Skip(usize),
    /// A message; consume `.1` bytes.
    Msg(Framed, usize),
}

/// Splits a syslog byte stream into messages; see the module docs.
#[derive(Debug)]
pub(crate) struct Framer {
    max: usize,
    mode: Mode,
    skip: Skip,
    /// Messages framed by [`frame_some`] so far.
    framed: u64,
}

impl Framer {
    /// For a TCP connection: LF or octet counting, decided on its first bytes.
    pub(crate) fn detect(max: usize) -> Framer {
        Framer {
            max: max.max(1),
            mode: Mode::Detect,
            skip: Skip::Nothing,
            framed: 0,
        }
    }

    /// Lines only (files, stdin).
    pub(crate) fn lines(max: usize) -> Framer {
        Framer {
            mode: Mode::Lines,
            ..Framer::detect(max)
        }
    }

    /// Messages [`frame_some`] has framed with this framer.
    pub(crate) fn messages(&self) -> u64 {
        self.framed
    }

    /// Whether the framer is inside a message it is skipping the rest of (it was cut): the
    /// message has not ended although no byte of it is left unconsumed.
    pub(crate) fn in_message(&self) -> bool {
        self.skip != Skip::Nothing
    }

    /// A run of plain lines at the start of `buf` that needs no per-message work: its
    /// length and how many lines it holds. Plain means: LF framing, nothing being skipped, no
    /// `\r`, no empty line, and (by taking at most `max` bytes) no line over the limit. At
    /// most `room` bytes. The caller then copies the run in one go.
    pub(crate) fn plain_run(&self, buf: &[u8], room: usize) -> Option<(usize, u64)> {
        if self.mode != Mode::Lines || self.skip != Skip::Nothing {
            return None;
        }
        let window = &buf[..buf.len().min(self.max).min(room)];
        let run = &window[..memchr::memrchr(b'\n', window)? + 1];
        if run[0] == b'\n'
            || memchr::memchr(b'\r', run).is_some()
            || memchr::memmem::find(run, b"\n\n").is_some()
        {
            return None;
        }
        Some((run.len(), memchr::memchr_iter(b'\n', run).count() as u64))
    }

    /// What is at the start of `buf`, the unconsumed bytes of the stream.
    pub(crate) fn next(&mut self, buf: &[u8]) -> Step {
        if buf.is_empty() {
            return Step::More;
        }
        match self.skip {
            Skip::Nothing => {}
            Skip::Bytes(n) => {
                let k = n.min(buf.len() as u64);
                self.skip = if k == n {
                    Skip::Nothing
                } else {
                    Skip::Bytes(n - k)
                };
                return Step::Skip(k as usize);
            }
            Skip::Line => {
                return match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        self.skip = Skip::Nothing;
                        Step::Skip(i + 1)
                    }
                    None => Step::Skip(buf.len()),
                };
            }
        }
        if self.mode == Mode::Detect {
            let blank = line_ends(buf);
            if blank > 0 {
                return Step::Skip(blank);
            }
            let digits = digits(buf);
            if digits == buf.len() && digits <= MAX_LEN_DIGITS {
                return Step::More;
            }
            self.mode = if (1..=MAX_LEN_DIGITS).contains(&digits) && buf[digits] == b' ' {
                Mode::Octets
            } else {
                Mode::Lines
            };
        }
        match self.mode {
            Mode::Octets => self.octets(buf),
            _ => self.line(buf, false),
        }
    }

    fn line(&mut self, buf: &[u8], bad: bool) -> Step {
        // A message of exactly `max` bytes may still end with `\r\n`.
        let window = &buf[..buf.len().min(self.max + 2)];
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                let end = if i > 0 && buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                if end == 0 {
                    return Step::Skip(i + 1);
                }
                let framed = Framed {
                    msg: 0..end.min(self.max),
                    cut: end > self.max,
                    bad,
                };
                Step::Msg(framed, i + 1)
            }
            None if buf.len() >= self.max + 2 => {
                self.skip = Skip::Line;
                let framed = Framed {
                    msg: 0..self.max,
                    cut: true,
                    bad,
                };
                Step::Msg(framed, self.max)
            }
            None => Step::More,
        }
    }

    fn octets(&mut self, buf: &[u8]) -> Step {
        // Some senders end each frame with a line feed as well.
        let blank = line_ends(buf);
        if blank > 0 {
            return Step::Skip(blank);
        }
        let Some((len, start)) = (match octet_header(buf) {
            Header::Incomplete => return Step::More,
            Header::Bad => None,
            Header::Len(len, start) => Some((len, start)),
        }) else {
            return self.line(buf, true);
        };
        let have = (buf.len() - start) as u64;
        if len > self.max as u64 {
            if have < self.max as u64 {
                return Step::More;
            }
            self.skip = Skip::Bytes(len - self.max as u64);
            let framed = Framed {
                msg: start..start + self.max,
                cut: true,
                bad: false,
            };
            return Step::Msg(framed, start + self.max);
        }
        if have < len {
            return Step::More;
        }
        let used = start + len as usize;
        let mut end = used;
        while end > start && matches!(buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end == start {
            return Step::Skip(used);
        }
        let framed = Framed {
            msg: start..end,
            cut: false,
            bad: false,
        };
        Step::Msg(framed, used)
    }

    /// The stream ended (or is being dropped) with `buf` unconsumed, after [`Framer::next`]
    /// asked for more: what is left is one last, incomplete message.
    pub(crate) fn finish(&mut self, buf: &[u8]) -> Option<Framed> {
        let skip = std::mem::replace(&mut self.skip, Skip::Nothing);
        if skip != Skip::Nothing {
            return None;
        }
        let start = line_ends(buf);
        let rest = &buf[start..];
        if rest.is_empty() {
            return None;
        }
        let (from, cut, bad) = match (self.mode, octet_header(rest)) {
            (Mode::Octets, Header::Len(_, body)) => (start + body, true, false),
            (Mode::Octets, _) => (start, false, true),
            _ => (start, false, false),
        };
        let mut end = buf.len();
        while end > from && matches!(buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end == from {
            return None;
        }
        let cut = cut || end - from > self.max;
        Some(Framed {
            msg: from..end.min(from + self.max),
            cut,
            bad,
        })
    }
}

enum Header {
    Incomplete,
    Bad,
    /// Announced length, and where the message starts.
    Len(u64, usize),
}

fn octet_header(buf: &[u8]) -> Header {
    let n = digits(buf);
    if n == buf.len() && n <= MAX_LEN_DIGITS {
        return Header::Incomplete;
    }
    if n == 0 || n > MAX_LEN_DIGITS || buf[n] != b' ' {
        return Header::Bad;
    }
    let len = buf[..n]
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Header::Len(len, n + 1)
}

fn digits(buf: &[u8]) -> usize {
    buf.iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count()
}

fn line_ends(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .count()
}

/// Frames messages from `buf` into `b` until `buf` holds no complete message or the batch is
/// full (the caller sends it and calls again). Returns the bytes consumed.
pub(crate) fn frame_some(
    framer: &mut Framer,
    buf: &[u8],
    peer: Option<SocketAddr>,
    b: &mut Batcher,
) -> usize {
    let mut used = 0;
    while !b.is_full() {
        if let Some((n, lines)) = framer.plain_run(&buf[used..], b.room()) {
            b.push_lines(&buf[used..used + n], lines, peer);
            framer.framed += lines;
            used += n;
            continue;
        }
        match framer.next(&buf[used..]) {
            Step::More => break,
            Step::Skip(n) => used += n,
            Step::Msg(f, n) => {
                push(b, &buf[used..], &f, peer);
                framer.framed += 1;
                used += n;
            }
        }
    }
    used
}

/// The last, incomplete message of a stream that ends with `buf` unconsumed.
pub(crate) fn finish_into(
    framer: &mut Framer,
    buf: &[u8],
    peer: Option<SocketAddr>,
    b: &mut Batcher,
) {
    if let Some(f) = framer.finish(buf) {
        push(b, buf, &f, peer);
    }
}

fn push(b: &mut Batcher, buf: &[u8], f: &Framed, peer: Option<SocketAddr>) {
    if f.cut {
        b.outlet().truncated.inc();
    }
    if f.bad {
        b.outlet().parse_errors.inc();
    }
    b.push(&buf[f.msg.clone()], peer);
}

// ---------------------------------------------------------------------------------------------
// UDP

pub(crate) fn spawn_udp(
    cfg: &UdpConfig,
    b: Batcher,
    metrics: &Metrics,
    shutdown: Shutdown,
) -> io::Result<(JoinHandle<()>, SocketAddr)> {
    let name = b.outlet().source.as_str();
    let sock = bind_udp(cfg).map_err(|e| bind_error("syslog_udp", cfg.listen, e))?;
    // What the kernel granted: on Linux twice what was asked (its bookkeeping), at most twice
    // net.core.rmem_max; less than twice means it was capped.
    let granted = sock.recv_buffer_size()?;
    metrics
        .receive_buffer
        .with_label_values(&[name])
        .set(granted as i64);
    match cfg.receive_buffer_bytes {
        Some(asked) if granted < asked.saturating_mul(2) => warn!(
            source = "syslog_udp",
            asked,
            granted,
            "receive buffer smaller than asked: the kernel caps it at net.core.rmem_max"
        ),
        _ => info!(source = "syslog_udp", bytes = granted, "receive buffer"),
    }
    let sock: std::net::UdpSocket = sock.into();
    let drops = KernelDrops::new(
        &sock,
        metrics.events_dropped.with_label_values(&[name, "kernel"]),
    );
    if drops.is_none() {
        warn!(
            source = "syslog_udp",
            "cannot find the socket in /proc/net/udp: datagrams the kernel drops are not counted"
        );
    }
    let sock = UdpSocket::from_std(sock)?;
    let addr = sock.local_addr()?;
    let max = cfg.max_message_bytes.max(1);
    Ok((tokio::spawn(serve_udp(sock, max, b, drops, shutdown)), addr))
}

fn bind_udp(cfg: &UdpConfig) -> io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(cfg.listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Some(n) = cfg.receive_buffer_bytes {
        sock.set_recv_buffer_size(n)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&cfg.listen.into())?;
    Ok(sock)
}

/// How often the kernel's drop count of the UDP socket is read.
const KERNEL_DROPS_EVERY: Duration = Duration::from_secs(1);

/// Datagrams the kernel dropped on one socket because its receive buffer was full: the
/// socket's `sk_drops`, which Linux shows in the `drops` column of `/proc/net/udp` (or
/// `udp6`) on the line of the socket's inode. Read every [`KERNEL_DROPS_EVERY`] and once more
/// at the end; each increase is added to `iocd_source_dropped_events_total{reason="kernel"}`
/// and logged. (`SO_RXQ_OVFL` gives the same counter, but only with the next datagram that
/// arrives: drops at the end of a burst would wait for the next one.)
struct KernelDrops {
    table: &'static str,
    inode: u64,
    seen: u32,
    counter: IntCounter,
}

impl KernelDrops {
    /// `None` when the socket is not in the table (not Linux, /proc not mounted).
    fn new(sock: &std::net::UdpSocket, counter: IntCounter) -> Option<KernelDrops> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let table = if sock.local_addr().ok()?.is_ipv4() {
            "/proc/self/net/udp"
        } else {
            "/proc/self/net/udp6"
        };
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", sock.as_raw_fd()))
            .ok()?
            .ino();
        let seen = socket_drops(&std::fs::read_to_string(table).ok()?, inode)?;
        Some(KernelDrops {
            table,
            inode,
            seen,
            counter,
        })
    }

    /// Counts the drops since the last read.
    fn poll(&mut self) {
        let Some(now) = std::fs::read_to_string(self.table)
            .ok()
            .and_then(|t| socket_drops(&t, self.inode))
        else {
            return;
        };
        // The kernel's counter is 32 bits and wraps.
        let new = now.wrapping_sub(self.seen);
        self.seen = now;
        if new > 0 {
            self.counter.inc_by(u64::from(new));
            warn!(
                source = "syslog_udp",
                dropped = new,
                "the kernel dropped datagrams: the receive buffer was full (raise \
                 receive_buffer_bytes, or add matcher threads)"
            );
        }
    }
}

/// The `drops` column of the line of socket `inode` in the text of `/proc/net/udp{,6}`.
fn socket_drops(table: &str, inode: u64) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        if fields.len() < 13 || fields[9].parse::<u64>().ok()? != inode {
            return None;
        }
        fields[12].parse().ok()
    })
}

async fn serve_udp(
    sock: UdpSocket,
    max: usize,
    mut b: Batcher,
    mut drops: Option<KernelDrops>,
    shutdown: Shutdown,
) {
    // One byte more than the limit shows that a datagram was longer (the kernel cuts the
    // rest); no datagram is longer than 64 KiB.
    let mut buf = vec![0u8; max.saturating_add(1).min(1 << 16)];
    let mut tick = tokio::time::interval(KERNEL_DROPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let got = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Some(d) = &mut drops {
                    d.poll();
                }
                continue;
            }
            got = sock.recv_from(&mut buf) => got,
        };
        match got {
            Ok((n, peer)) => datagram(&buf[..n], max, peer, &mut b),
            Err(e) => warn!(source = "syslog_udp", error = %e, "receive failed"),
        }
        // Take what else is ready now, then send: full batches under load, no wait otherwise.
        while !b.is_full() {
            match sock.try_recv_from(&mut buf) {
                Ok((n, peer)) => datagram(&buf[..n], max, peer, &mut b),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    warn!(source = "syslog_udp", error = %e, "receive failed");
                    break;
                }
            }
        }
        if b.flush().await.is_err() {
            break;
        }
    }
    let _ = b.flush().await;
    if let Some(d) = &mut drops {
        d.poll();
    }
}

fn datagram(d: &[u8], max: usize, peer: SocketAddr, b: &mut Batcher) {
    b.outlet().bytes_in.inc_by(d.len() as u64);
    let mut msg = d;
    if msg.len() > max {
        msg = &msg[..max];
        b.outlet().truncated.inc();
    }
    while let [rest @ .., b'\n' | b'\r' | 0] = msg {
        msg = rest;
    }
    if !msg.is_empty() {
        b.push(msg, Some(peer));
    }
}

// ---------------------------------------------------------------------------------------------
// TCP and TLS

#[derive(Clone, Copy)]
struct Limits {
    max_message: usize,
    idle: Duration,
    frame: Duration,
    handshake: Duration,
    per_peer: usize,
    batch_bytes: usize,
}

/// Binds `cfg.listen` and serves it (with TLS when `tls` is given).
pub(crate) fn spawn_tcp(
    cfg: &TcpConfig,
    tls: Option<TlsAcceptor>,
    out: Outlet,
    batch_bytes: usize,
    metrics: &Metrics,
    shutdown: Shutdown,
) -> io::Result<(JoinHandle<()>, SocketAddr)> {
    let name = out.source.as_str();
    let listener = bind_tcp(cfg.listen).map_err(|e| bind_error(name, cfg.listen, e))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        max_message: cfg.max_message_bytes.max(1),
        idle: cfg.idle_timeout,
        frame: cfg.frame_timeout,
        handshake: cfg.handshake_timeout,
        per_peer: cfg.max_connections_per_peer.max(1),
        batch_bytes,
    };
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let closes = Arc::new(Closes::new(name, metrics.connections_closed.clone()));
    let task = accept_loop(listener, slots, tls, out, limits, closes, shutdown);
    Ok((tokio::spawn(task), addr))
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

fn bind_error(source: &str, addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{source}: cannot listen on {addr}: {e}"))
}

/// Reads the certificate chain and key of a TLS source.
pub(crate) fn tls_acceptor(cfg: &TlsConfig) -> io::Result<TlsAcceptor> {
    tls_acceptor_from(&cfg.cert, &cfg.key)
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key (TLS sources, the
/// export listener).
pub(crate) fn tls_acceptor_from(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> io::Result<TlsAcceptor> {
    // Only ring is compiled in; a second install (another source, a sink) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let open = |p: &std::path::Path| {
        std::fs::File::open(p)
            .map(io::BufReader::new)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    let invalid = |p: &std::path::Path, what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", p.display()),
        )
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(cert, "no PEM certificate".into()));
    }
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| invalid(key, e.to_string()))?
        .ok_or_else(|| invalid(key, "no PEM private key".into()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(cert, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections and serves each in its own task, at most `slots` at once. When every
/// slot is taken, the connection that has gone longest without completing a message is closed
/// to make room for the new one (if every one waits for room in the queue, the new one waits
/// for a slot). On shutdown, stops accepting and waits for every connection to send what it
/// holds.
async fn accept_loop(
    listener: TcpListener,
    slots: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    out: Outlet,
    limits: Limits,
    closes: Arc<Closes>,
    shutdown: Shutdown,
) {
    let source = out.source.as_str();
    let table = Arc::new(Table::new());
    let mut conns = JoinSet::new();
    'accept: loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            got = listener.accept() => match got {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    warn!(source, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let Some(entry) = table.add(peer, limits.per_peer) else {
            drop(stream);
            closes.record(peer, Forced::PeerLimit);
            continue;
        };
        let mut evicting = false;
        let permit = loop {
            if let Ok(p) = slots.clone().try_acquire_owned() {
                break p;
            }
            if !evicting {
                evicting = table.evict_oldest(entry.id);
            }
            // Without a connection to close, look again shortly: one that waited for the
            // queue may be waiting for its sender by then.
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break 'accept,
                p = slots.clone().acquire_owned() => break p.expect("the semaphore is never closed"),
                _ = tokio::time::sleep(Duration::from_millis(100)), if !evicting => {}
            }
        };
        let b = Batcher::new(out.clone(), limits.batch_bytes);
        let (tls, shutdown, closes) = (tls.clone(), shutdown.clone(), closes.clone());
        conns.spawn(async move {
            let _permit = permit;
            let _open = OpenConnection::new(&b.outlet().connections);
            let forced = match tls {
                None => serve_connection(stream, peer, b, limits, &entry, shutdown, None).await,
                Some(tls) => {
                    let raw = Arc::new(AtomicBool::new(false));
                    let stream = Watched {
                        inner: stream,
                        raw: raw.clone(),
                    };
                    let handshake = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => return,
                        _ = entry.conn.evict.cancelled() => Err(Forced::Evicted),
                        h = tokio::time::timeout(limits.handshake, tls.accept(stream)) => {
                            h.map_err(|_| Forced::Handshake)
                        }
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            raw.store(false, Ordering::Relaxed);
                            serve_connection(stream, peer, b, limits, &entry, shutdown, Some(&raw))
                                .await
                        }
                        Ok(Err(e)) => {
                            b.outlet().parse_errors.inc();
                            debug!(source, %peer, error = %e, "TLS handshake failed");
                            None
                        }
                        Err(why) => Some(why),
                    }
                }
            };
            if let Some(why) = forced {
                closes.record(peer, why);
            }
        });
    }
    drop(listener);
    while let Some(done) = conns.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            error!(source, error = %e, "a connection task panicked");
        }
    }
}

/// Counts a connection in `iocd_source_connections` while it lives.
struct OpenConnection(IntGauge);

impl OpenConnection {
    fn new(gauge: &IntGauge) -> OpenConnection {
        gauge.inc();
        OpenConnection(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// At shutdown, a connection's buffered bytes are read until it is quiet this long...
const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...or for at most this long.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// A TLS connection's socket, noting that ciphertext arrived: a record can trickle in a byte
/// at a time without a byte of plaintext coming out, and the frame timeout must see it.
struct Watched<S> {
    inner: S,
    raw: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.raw.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How often a TLS connection with no message begun looks whether ciphertext came in: at
/// most this late, a message's first byte starts its frame timeout.
fn raw_check(frame: Duration) -> Duration {
    (frame / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Reads one connection until it ends, breaks a limit, is evicted, or shutdown; every
/// message becomes a line of `b`. While a full queue makes `flush` wait, nothing is read and
/// no timer runs. `raw` (TLS) says ciphertext arrived since it was cleared. Returns why iocd
/// closed it, when it did so on its own.
async fn serve_connection<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    mut b: Batcher,
    limits: Limits,
    entry: &Entry,
    shutdown: Shutdown,
    raw: Option<&AtomicBool>,
) -> Option<Forced> {
    let source = b.outlet().source.as_str();
    let mut framer = Framer::detect(limits.max_message);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    // When the last message was completed (or the connection accepted), and when the first
    // byte of the message now incomplete arrived.
    let mut last_message = tokio::time::Instant::now();
    let mut partial_since: Option<tokio::time::Instant> = None;
    // After shutdown or eviction, what the peer already sent (in the socket's buffer) is still
    // read: it was sent before iocd closed, and TCP told the sender it arrived (closing with
    // unread bytes would also reset the connection). Reading ends once the socket has been
    // quiet for DRAIN_QUIET, or after DRAIN_MAX for a peer that keeps sending.
    let mut draining: Option<(Instant, Result<&str, Forced>)> = None;
    let why: Result<&str, Forced> = loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 2 {
            buf.reserve(READ_CHUNK);
        }
        let read = match draining {
            Some((since, why)) => {
                if since.elapsed() >= DRAIN_MAX {
                    break why;
                }
                match tokio::time::timeout(DRAIN_QUIET, stream.read_buf(&mut buf)).await {
                    Err(_) => break why,
                    Ok(r) => r,
                }
            }
            None => {
                let idle_at = last_message + limits.idle;
                let (deadline, late) = match partial_since.map(|t| t + limits.frame) {
                    Some(frame_at) if frame_at < idle_at => (frame_at, Forced::Frame),
                    _ => (idle_at, Forced::Idle),
                };
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        draining = Some((Instant::now(), Ok("shutdown")));
                        continue;
                    }
                    _ = entry.conn.evict.cancelled() => {
                        draining = Some((Instant::now(), Err(Forced::Evicted)));
                        continue;
                    }
                    _ = tokio::time::sleep_until(deadline) => break Err(late),
                    _ = tokio::time::sleep(raw_check(limits.frame)),
                        if raw.is_some() && partial_since.is_none() =>
                    {
                        if raw.is_some_and(|r| r.swap(false, Ordering::Relaxed)) {
                            // Part of a record, no plaintext yet: a message has begun.
                            partial_since = Some(tokio::time::Instant::now());
                        }
                        continue;
                    }
                    r = stream.read_buf(&mut buf) => r,
                }
            }
        };
        let eof = match read {
            Err(e) => {
                debug!(source, %peer, error = %e, "read failed");
                break Ok("read error");
            }
            Ok(0) => true,
            Ok(n) => {
                b.outlet().bytes_in.inc_by(n as u64);
                false
            }
        };
        let before = framer.messages();
        entry.conn.busy();
        let mut used = 0;
        loop {
            used += frame_some(&mut framer, &buf[used..], Some(peer), &mut b);
            if !b.is_full() {
                break;
            }
            if b.flush().await.is_err() {
                return None;
            }
        }
        buf.drain(..used);
        if eof {
            break draining.map_or(Ok("closed by peer"), |(_, why)| why);
        }
        if b.flush().await.is_err() {
            return None;
        }
        // Timers start again after a wait for the queue: the sender did not cause it.
        let now = tokio::time::Instant::now();
        let completed = framer.messages() != before;
        if completed {
            last_message = now;
        }
        entry.progress(last_message.into_std());
        let incomplete = !buf.is_empty() || framer.in_message();
        if let Some(r) = raw.filter(|_| !incomplete) {
            // The ciphertext read so far made whole messages.
            r.store(false, Ordering::Relaxed);
        }
        partial_since = match (incomplete, completed) {
            (false, _) => None,
            // What is left came after a message that ended in this read.
            (true, true) => Some(now),
            (true, false) => partial_since.or(Some(now)),
        };
    };
    finish_into(&mut framer, &buf, Some(peer), &mut b);
    let _ = b.flush().await;
    match why {
        Ok(reason) => {
            debug!(source, %peer, reason, "connection closed");
            None
        }
        Err(forced) => Some(forced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every message and skip of `input` fed in pieces of `chunk` bytes, then the end.
    fn frame(framer: &mut Framer, input: &[u8], chunk: usize) -> Vec<(Vec<u8>, bool, bool)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            let mut used = 0;
            loop {
                match framer.next(&buf[used..]) {
                    Step::More => break,
                    Step::Skip(n) => {
                        assert!(n > 0, "a skip makes progress");
                        used += n
                    }
                    Step::Msg(f, n) => {
                        assert!(n > 0 && f.msg.end <= n);
                        out.push((buf[used..][f.msg].to_vec(), f.cut, f.bad));
                        used += n;
                    }
                }
            }
            buf.drain(..used);
        }
        if let Some(f) = framer.finish(&buf) {
            out.push((buf[f.msg].to_vec(), f.cut, f.bad));
        }
        out
    }

    fn msgs(framed: &[(Vec<u8>, bool, bool)]) -> Vec<String> {
        framed
            .iter()
            .map(|(m, ..)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    #[test]
    fn lf_framing_with_crlf_and_blank_lines() {
        for chunk in [1, 2, 3, 7, 1000] {
            let mut f = Framer::detect(100);
            let got = frame(&mut f, b"<13>one\r\n\n<13>two\nthree", chunk);
            assert_eq!(msgs(&got), ["<13>one", "<13>two", "three"], "chunk {chunk}");
            assert!(got.iter().all(|(_, cut, bad)| !cut && !bad));
        }
    }

    #[test]
    fn octet_counting_detected_and_tolerant() {
        for chunk in [1, 2, 5, 1000] {
            let mut f = Framer::detect(100);
            let input = b"11 <13>one two\n9 <13>a\nb c7 <13>xyz";
            let got = frame(&mut f, input, chunk);
            assert_eq!(
                msgs(&got),
                ["<13>one two", "<13>a\nb c", "<13>xyz"],
                "chunk {chunk}"
            );
            assert_eq!(f.mode, Mode::Octets);
        }
    }

    #[test]
    fn a_digit_without_a_space_is_lf_framing() {
        let mut f = Framer::detect(100);
        let got = frame(&mut f, b"2024-01-01 x\n12 y\n", 1000);
        assert_eq!(msgs(&got), ["2024-01-01 x", "12 y"]);
        assert_eq!(f.mode, Mode::Lines);
    }

    #[test]
    fn long_lines_are_cut_then_resync() {
        for chunk in [1, 3, 1000] {
            let mut f = Framer::detect(5);
            let got = frame(&mut f, b"abcdefghij\nok\n12345\r\n123456\n", chunk);
            assert_eq!(
                got,
                [
                    (b"abcde".to_vec(), true, false),
                    (b"ok".to_vec(), false, false),
                    (b"12345".to_vec(), false, false),
                    (b"12345".to_vec(), true, false),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn long_octet_frames_are_cut_then_resync() {
        for chunk in [1, 4, 1000] {
            let mut f = Framer::detect(4);
            let got = frame(&mut f, b"10 01234567893 abc4 wxyz", chunk);
            assert_eq!(
                got,
                [
                    (b"0123".to_vec(), true, false),
                    (b"abc".to_vec(), false, false),
                    (b"wxyz".to_vec(), false, false),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_bad_octet_header_costs_one_line_and_is_counted() {
        let mut f = Framer::detect(100);
        let got = frame(&mut f, b"3 abc<13>not counted\n2 ok", 1000);
        assert_eq!(
            got,
            [
                (b"abc".to_vec(), false, false),
                (b"<13>not counted".to_vec(), false, true),
                (b"ok".to_vec(), false, false),
            ]
        );
    }

    #[test]
    fn end_of_stream_keeps_the_incomplete_message() {
        let mut f = Framer::detect(100);
        assert_eq!(
            frame(&mut f, b"20 only part", 1000),
            [(b"only part".to_vec(), true, false)]
        );
        let mut f = Framer::detect(100);
        assert_eq!(frame(&mut f, b"12", 1000), [(b"12".to_vec(), false, false)]);
        let mut f = Framer::detect(3);
        assert_eq!(frame(&mut f, b"abcd\nxy", 2).len(), 2);
    }

    #[test]
    fn plain_runs_are_whole_lines_within_the_limits() {
        let mut f = Framer::detect(10);
        assert_eq!(f.plain_run(b"ab\ncd\n", 100), None, "framing not known yet");
        assert!(matches!(f.next(b"ab\ncd\n"), Step::Msg(..)));
        assert_eq!(f.plain_run(b"ab\ncd\nef", 100), Some((6, 2)));
        assert_eq!(f.plain_run(b"ab\ncd\nef", 5), Some((3, 1)), "room");
        assert_eq!(f.plain_run(b"ab\ncdefghijkl\n", 100), Some((3, 1)), "max");
        assert_eq!(f.plain_run(b"ab\r\ncd\n", 100), None);
        assert_eq!(f.plain_run(b"ab\n\ncd\n", 100), None);
        assert_eq!(f.plain_run(b"\nab\n", 100), None);
        assert_eq!(f.plain_run(b"abc", 100), None);
    }

    #[test]
    fn kernel_drops_are_read_from_the_line_of_the_socket() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1572 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  456: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 42 2 0000000000000000 3
";
        assert_eq!(socket_drops(table, 4242), Some(17));
        assert_eq!(socket_drops(table, 42), Some(3));
        assert_eq!(socket_drops(table, 424), None);
        assert_eq!(socket_drops("", 42), None);
    }

    /// A real socket: its inode is found, and datagrams that overflow its buffer are counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kernel_drops_of_a_real_socket() {
        let sock = bind_udp(&UdpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_message_bytes: 1024,
            receive_buffer_bytes: Some(4096),
        })
        .unwrap();
        let sock: std::net::UdpSocket = sock.into();
        let metrics = Metrics::new();
        let counter = metrics
            .events_dropped
            .with_label_values(&["syslog_udp", "kernel"]);
        let mut drops = KernelDrops::new(&sock, counter.clone()).expect("socket in /proc/net/udp");
        let to = sock.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Nobody reads: once the buffer is full, every datagram is dropped.
        for _ in 0..200 {
            sender.send_to(&[b'a'; 512], to).unwrap();
        }
        drops.poll();
        let mut read = 0;
        sock.set_nonblocking(true).unwrap();
        while sock.recv_from(&mut [0u8; 1024]).is_ok() {
            read += 1;
        }
        assert!(counter.get() > 0 && read > 0, "read {read}");
        assert_eq!(counter.get() + read, 200);
        drops.poll();
        assert_eq!(counter.get() + read, 200, "counted once");
    }

    proptest! {
        /// The fast path of `frame_some` and message-by-message framing agree.
        #[test]
        fn fast_path_agrees_with_the_framer(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b'1'), Just(b' ')],
                0..300,
            ),
            max in 1usize..40,
            limit in 1usize..100,
            chunk in 1usize..50,
        ) {
            let slow = frame(&mut Framer::detect(max), &input, chunk);
            let mut want: Vec<u8> = Vec::new();
            for (m, ..) in &slow {
                want.extend(m.iter().map(|&c| if c == b'\n' { b' ' } else { c }));
                want.push(b'\n');
            }
            let (mut b, rx, metrics) = crate::source::testing::batcher(
                crate::pipeline::SourceKind::SyslogTcp, limit, 10_000);
            let mut framer = Framer::detect(max);
            let mut buf = Vec::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                let mut used = 0;
                loop {
                    used += frame_some(&mut framer, &buf[used..], None, &mut b);
                    if !b.is_full() {
                        break;
                    }
                    b.flush_blocking().unwrap();
                }
                buf.drain(..used);
            }
            finish_into(&mut framer, &buf, None, &mut b);
            b.flush_blocking().unwrap();
            let got: Vec<u8> = rx.try_iter().flat_map(|b| b.buf).collect();
            prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
            prop_assert_eq!(
                metrics.events_in.with_label_values(&["syslog_tcp"]).get(),
                slow.len() as u64
            );
        }

        /// Whatever the bytes and however they are split, the framer makes progress, keeps
        /// every message within the limit, and finds the same messages.
        #[test]
        fn framing_is_total_and_split_invariant(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'1'), Just(b'0'), any::<u8>()],
                0..400,
            ),
            max in 1usize..40,
            chunk in 1usize..50,
        ) {
            let whole = frame(&mut Framer::detect(max), &input, input.len().max(1));
            let pieces = frame(&mut Framer::detect(max), &input, chunk);
            prop_assert_eq!(&whole, &pieces);
            for (m, ..) in &whole {
                prop_assert!(!m.is_empty() && m.len() <= max);
            }
        }

        /// Lines written with any framing come back unchanged.
        #[test]
        fn messages_round_trip(
            lines in proptest::collection::vec("[ -~]{1,30}", 1..20),
            octets in any::<bool>(),
            chunk in 1usize..64,
        ) {
            let mut input = Vec::new();
            for l in &lines {
                if octets {
                    input.extend_from_slice(format!("{} {l}", l.len()).as_bytes());
                } else {
                    input.extend_from_slice(format!("{l}\n").as_bytes());
                }
            }
            let mut f = Framer::detect(64);
            let got = frame(&mut f, &input, chunk);
            // LF framing cannot carry a first line that reads as an octet count.
            let first = lines[0].as_bytes();
            let d = digits(first);
            prop_assume!(octets || !(d > 0 && first.get(d) == Some(&b' ')));
            let want = lines.clone();
            prop_assert_eq!(msgs(&got), want);
        }
    }
}
