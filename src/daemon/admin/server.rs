//! The admin listener: accepting under a connection cap, pausing (with the shared backoff) when
//! file descriptors run out, and serving each connection with its time limits.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::model::Shutdown;
use crate::retry::{Backoff, Delays};
use crate::telemetry::metrics::AdminMetrics;

use super::*;

/// The accept loop and what each connection shares.
pub(super) struct Server {
    pub(super) app: Router,
    pub(super) guard: Arc<Guard>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) max_connections: usize,
    pub(super) header_timeout: Duration,
    pub(super) metrics: AdminMetrics,
    pub(super) shutdown: Shutdown,
}

impl Server {
    pub(super) async fn run(self, listener: tokio::net::TcpListener) {
        let mut backoff = Backoff::new(ACCEPT_BACKOFF.0, ACCEPT_BACKOFF.1).delays();
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(a) => {
                    backoff.reset();
                    a
                }
                Err(e) => {
                    let Some(pause) = self.accept_failed(&e, &mut backoff) else {
                        continue;
                    };
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.refuse_busy(stream, peer);
                continue;
            };
            let conn = Connection {
                app: self.app.clone(),
                guard: self.guard.clone(),
                header_timeout: self.header_timeout,
                shutdown: self.shutdown.clone(),
            };
            tokio::spawn(async move {
                conn.serve(stream, peer).await;
                drop(permit);
            });
        }
        // Every connection holds a permit until it ends: all of them back = all done.
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN, self.permits.acquire_many(all))
            .await
            .is_err()
        {
            warn!(
                waited_s = DRAIN.as_secs(),
                "admin server: connections still open at shutdown were dropped"
            );
        }
    }

    /// Counts and logs a failed `accept`; the pause before the next one when it failed for
    /// want of file descriptors or memory (the connection stays in the backlog, so the
    /// listener is ready again at once: without a pause the loop would spin).
    pub(super) fn accept_failed(&self, e: &io::Error, backoff: &mut Delays) -> Option<Duration> {
        let errors = &self.metrics.accept_errors;
        if !fd_exhausted(e) {
            // One connection's trouble (reset before it was accepted, ...).
            errors.with_label_values(&["other"]).inc();
            debug!(error = %e, "admin server: accept failed");
            return None;
        }
        let pause = backoff.next_delay();
        errors.with_label_values(&["fd_exhausted"]).inc();
        if let Some(skipped) = self.guard.log.allow("accept") {
            warn!(error = %e, pause_ms = pause.as_millis() as u64, skipped,
                "admin server: accept failed for want of file descriptors or memory; pausing");
        }
        Some(pause)
    }

    /// Answers 503 without waiting for the request and closes: the cap is full.
    pub(super) fn refuse_busy(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
            Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\nadmin server is busy\n";
        // One try: the socket's buffer is empty, so this writes it all or the peer is gone.
        let _ = stream.try_write(BUSY);
        drop(stream);
        self.metrics
            .refused_connections
            .with_label_values(&["over_capacity"])
            .inc();
        if let Some(skipped) = self.guard.log.allow("over_capacity") {
            warn!(peer = %peer, max_connections = self.max_connections, skipped,
                "admin server: connection refused, at its connection limit");
        }
    }
}

/// Whether `accept` failed for want of descriptors or kernel memory (the listener should
/// pause) rather than because of the one connection.
pub(super) fn fd_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// One accepted connection.
pub(super) struct Connection {
    pub(super) app: Router,
    pub(super) guard: Arc<Guard>,
    pub(super) header_timeout: Duration,
    pub(super) shutdown: Shutdown,
}

impl Connection {
    pub(super) async fn serve(self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let metrics = &self.guard.metrics;
        metrics.connections.inc();
        let app = self.app;
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = served.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            req.extensions_mut().insert(Peer(peer));
            let mut app = app.clone();
            async move {
                let req: hyper::Request<hyper::body::Incoming> = req;
                tower_service::Service::call(&mut app, req).await
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = self.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        metrics.connections.dec();
        let Err(e) = result else { return };
        let requests = served.load(std::sync::atomic::Ordering::Relaxed);
        let reason = if e.is_timeout() && requests > 0 {
            // A kept-alive connection that sent no next request in time (Prometheus
            // between scrapes): closed, not refused.
            debug!(peer = %peer, requests, "idle admin connection closed");
            return;
        } else if e.is_timeout() {
            "header_timeout"
        } else if e.is_parse_too_large() {
            "headers_too_large"
        } else if e.is_parse() {
            "malformed"
        } else {
            // The peer went away (reset, closed mid-request): nothing was refused.
            debug!(peer = %peer, error = %e, "admin connection ended with an error");
            return;
        };
        metrics
            .refused_connections
            .with_label_values(&[reason])
            .inc();
        if let Some(skipped) = self.guard.log.allow(reason) {
            warn!(peer = %peer, reason, skipped, "admin server: connection closed without a request");
        }
    }
}

/// At most one log line per reason per [`LOG_EVERY`]; how many were left out goes in the
/// next one. A flood of refusals is counted in full by the metrics, not logged line by line.
#[derive(Default)]
pub(super) struct Throttle {
    pub(super) last: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl Throttle {
    /// `Some(left_out)` when a line for `reason` may be logged now.
    pub(super) fn allow(&self, reason: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.get_mut(reason) {
            Some((at, skipped)) if now.duration_since(*at) < LOG_EVERY => {
                *skipped += 1;
                None
            }
            Some((at, skipped)) => {
                *at = now;
                Some(std::mem::take(skipped))
            }
            None => {
                last.insert(reason, (now, 0));
                Some(0)
            }
        }
    }
}
