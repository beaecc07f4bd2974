//! The TCP and TLS listeners: accepting under a connection cap, per-peer limits and
//! timeouts, serving each connection through the framer, draining at shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, warn};

use crate::config::{TcpConfig, TlsConfig};
use crate::model::Shutdown;
use crate::source::slots::{Closes, Entry, Forced, Table};
use crate::source::{Batcher, Outlet};
use crate::telemetry::Metrics;

use super::framer::READ_CHUNK;
use super::*;

// ---------------------------------------------------------------------------------------------
// TCP and TLS

#[derive(Clone, Copy)]
pub(super) struct Limits {
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

pub(super) fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

pub(super) fn bind_error(source: &str, addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{source}: cannot listen on {addr}: {e}"))
}

/// Reads the certificate chain and key of a TLS source.
pub(crate) fn tls_acceptor(cfg: &TlsConfig) -> io::Result<TlsAcceptor> {
    crate::tls::acceptor(&cfg.cert, &cfg.key)
}

/// Accepts connections and serves each in its own task, at most `slots` at once. When every
/// slot is taken, the connection that has gone longest without completing a message is closed
/// to make room for the new one (if every one waits for room in the queue, the new one waits
/// for a slot). On shutdown, stops accepting and waits for every connection to send what it
/// holds.
pub(super) async fn accept_loop(
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
pub(super) struct OpenConnection(IntGauge);

impl OpenConnection {
    pub(super) fn new(gauge: &IntGauge) -> OpenConnection {
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
pub(super) const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...or for at most this long.
pub(super) const DRAIN_MAX: Duration = Duration::from_secs(2);

/// A TLS connection's socket, noting that ciphertext arrived: a record can trickle in a byte
/// at a time without a byte of plaintext coming out, and the frame timeout must see it.
pub(super) struct Watched<S> {
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
pub(super) fn raw_check(frame: Duration) -> Duration {
    (frame / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Reads one connection until it ends, breaks a limit, is evicted, or shutdown; every
/// message becomes a line of `b`. While a full queue makes `flush` wait, nothing is read and
/// no timer runs. `raw` (TLS) says ciphertext arrived since it was cleared. Returns why iocd
/// closed it, when it did so on its own.
pub(super) async fn serve_connection<S: AsyncRead + Unpin>(
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
