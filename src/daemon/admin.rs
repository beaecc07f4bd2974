//! The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `/feeds`, `POST /reload`, `/feedback`.
//!
//! It runs on its own OS thread with its own single-threaded tokio runtime, so a data plane
//! that saturates the I/O runtime cannot starve a Prometheus scrape or a health check (the
//! linkerd proxy does the same). [`spawn`] binds before it returns, so a busy port fails
//! start-up with the address in the message; the server stops when the shutdown token is
//! cancelled, and [`AdminHandle::join`] waits for that.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | every metric in the Prometheus text format (`text/plain; version=0.0.4`) |
//! | `GET /healthz` | 200 `ok` while the process serves at all |
//! | `GET /readyz` | 200 once iocd runs and every feed has a generation, read or from its cache (`iocd_ready` is 1); else 503 naming the feeds still missing |
//! | `POST /reload` | rebuilds the indicator set and waits for it (up to 60 s): 200 `{"generation":N}`, 500 `{"error":...}` when the build failed (the old set stays), 503 when the daemon is stopping, 504 when the build takes longer |
//! | `GET /feeds` | per feed, as JSON: indicators (by kind), `up`, `last_refresh`, `age_seconds`, and its value so far — `hits`, `unique_hits` (on indicators no other feed lists), `alerts` (and `alerts_by_priority`), `false_positive_marks` (see `docs/FEEDS.md`) |
//! | `GET /feedback` | every false-positive mark (API and file), with its hit count, as a JSON array |
//! | `POST /feedback` | `{"indicator", "host"?, "reason", "analyst", "expires"?}` marks a false positive at once: 201 with the mark, 400 `{"error":...}` for a bad request, 500 when it cannot be saved (nothing changed) |
//! | `DELETE /feedback` | `?indicator=...&host=...` (or the same as a JSON body) removes an API mark: 200 with it, 404 when there is none |
//! | `GET /feedback/summary` | marks by origin, expired marks, suppressed hits, the most-hit marks, the feedback file's last load and its bad lines |
//!
//! Any route may also answer 401 (a token is needed: `WWW-Authenticate: Bearer`), 408 (the
//! body was too slow), 413 (the body is too large) or 503 (the connection limit is reached);
//! `POST /feedback` answers 409 when `feedback.max_marks` API marks are kept already.
//!
//! # A control plane, safe by default
//!
//! * **Who may change state.** With `admin.token` (or `token_file`) set, every request that is
//!   not a `GET` or `HEAD` (`POST /reload`, `POST` and `DELETE /feedback`) needs
//!   `Authorization: Bearer <token>`, compared in constant time; with `admin.protect_reads`
//!   the reads need it too. A refusal answers 401 and is counted and logged with the peer and
//!   path, never with what was presented. Configuration validation refuses a listen address
//!   off loopback without a token, and so does [`start`].
//! * **How much it may hold.** At most `admin.max_connections` connections are served; one
//!   more is answered 503 and closed at once, so the server's file descriptors stay far below
//!   the process's limit and intake (syslog, Kafka) never runs out of them. A connection that
//!   does not send its headers within `admin.header_timeout` is closed (hyper's own timer);
//!   a body must arrive within `admin.body_timeout` and be at most `admin.max_body_bytes`.
//!   When `accept` fails for want of descriptors or memory the listener backs off (50 ms,
//!   doubling to 1 s) instead of spinning on a connection it cannot take.
//! * **What it logs.** Refusals are logged at most once a second per reason, with the
//!   number left out since; text from a request is logged in its escaped (`Debug`) form.
//!
//! The accept loop is hand-written only to add the cap, the backoff and the peer address;
//! each connection is served by hyper's HTTP/1 connection builder.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq as _;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::{ReloadReason, ReloadRequest};
use crate::config::AdminConfig;
use crate::feedback::{Feedback, MarkRequest};
use crate::model::Shutdown;
use crate::retry::{Backoff, Delays};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::AdminMetrics;

/// How long `POST /reload` waits for the new set.
const RELOAD_WAIT: Duration = Duration::from_secs(60);
/// Largest request head (request line and headers); hyper answers 431 beyond it.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a stopping server waits for the requests in progress.
const DRAIN: Duration = Duration::from_secs(5);
/// The listener's pause after `accept` failed for want of descriptors or memory: the first,
/// then doubled up to the longest while it keeps failing (each with jitter: [`crate::retry`]).
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));
/// Refusals of one reason are logged at most this often (the rest are counted into the next
/// line).
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The running admin server.
pub struct AdminHandle {
    local_addr: SocketAddr,
    thread: JoinHandle<io::Result<()>>,
}

impl AdminHandle {
    /// The address the server listens on (the real port when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits for the server to stop; it stops when the shutdown token passed to [`spawn`]
    /// is cancelled (after answering the requests in progress). An error of the server
    /// thread is logged here.
    pub fn join(self) {
        match self.thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "the admin server failed"),
            Err(_) => error!("the admin server thread panicked"),
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    reload: mpsc::Sender<ReloadRequest>,
    shutdown: Shutdown,
    /// The `/feedback` routes answer 404 without it.
    feedback: Option<Arc<Feedback>>,
    guard: Arc<Guard>,
}

/// What every request passes before its route: the token, the body's size and time.
struct Guard {
    token: Option<String>,
    protect_reads: bool,
    max_body_bytes: usize,
    body_timeout: Duration,
    metrics: AdminMetrics,
    log: Throttle,
}

/// The peer of a connection, in each of its requests' extensions.
#[derive(Clone, Copy, Debug)]
struct Peer(SocketAddr);

/// Binds `listen` and serves the admin API on a new thread until `shutdown` is cancelled,
/// with the default limits and no token. Reload requests go to `reload` with a reply
/// channel.
pub fn spawn(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    reload: mpsc::Sender<ReloadRequest>,
    shutdown: Shutdown,
) -> io::Result<AdminHandle> {
    spawn_with_feedback(listen, metrics, reload, shutdown, None)
}

/// [`spawn`], with the `/feedback` routes served from `feedback`.
pub fn spawn_with_feedback(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    reload: mpsc::Sender<ReloadRequest>,
    shutdown: Shutdown,
    feedback: Option<Arc<Feedback>>,
) -> io::Result<AdminHandle> {
    let cfg = AdminConfig {
        listen,
        ..AdminConfig::default()
    };
    start(&cfg, metrics, reload, shutdown, feedback)
}

/// Binds `cfg.listen` and serves the admin API on a new thread until `shutdown` is
/// cancelled, with the token (read now, from `token_file` if set) and the limits of `cfg`.
/// Refuses to start off loopback without a token.
pub fn start(
    cfg: &AdminConfig,
    metrics: Arc<Metrics>,
    reload: mpsc::Sender<ReloadRequest>,
    shutdown: Shutdown,
    feedback: Option<Arc<Feedback>>,
) -> io::Result<AdminHandle> {
    let token = checked_token(cfg)?;
    let (listener, local_addr) = bind(cfg.listen)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let admin_metrics = metrics.admin.clone();
    let guard = Arc::new(Guard {
        protect_reads: cfg.protect_reads && token.is_some(),
        token,
        max_body_bytes: cfg.max_body_bytes,
        body_timeout: cfg.body_timeout,
        metrics: admin_metrics.clone(),
        log: Throttle::default(),
    });
    let app = router(AppState {
        metrics,
        reload,
        shutdown: shutdown.clone(),
        feedback,
        guard: guard.clone(),
    });
    let server = Server {
        app,
        guard,
        permits: Arc::new(Semaphore::new(cfg.max_connections)),
        max_connections: cfg.max_connections,
        header_timeout: cfg.header_timeout,
        metrics: admin_metrics,
        shutdown,
    };
    let thread = std::thread::Builder::new()
        .name("iocd-admin".to_owned())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                info!(addr = %local_addr, max_connections = server.max_connections,
                    token = server.guard.token.is_some(), "admin server listening");
                server.run(listener).await;
                Ok(())
            })
        })?;
    Ok(AdminHandle { local_addr, thread })
}

/// The token `cfg` sets (read now, from `token_file` if set); an error off loopback
/// without one.
fn checked_token(cfg: &AdminConfig) -> io::Result<Option<String>> {
    let listen = cfg.listen;
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let token = cfg
        .load_token()
        .map_err(|(at, msg)| invalid(format!("{at}: {msg}")))?;
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(invalid(format!(
            "{listen} is not loopback and no admin token is set: anyone who reaches it could \
             suppress alerts"
        )));
    }
    if let Some(path) = &cfg.token_file {
        warn_if_group_readable(path);
    }
    Ok(token)
}

/// Binds `listen`, non-blocking (for tokio); the error names the address.
fn bind(listen: SocketAddr) -> io::Result<(std::net::TcpListener, SocketAddr)> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"));
    let listener = std::net::TcpListener::bind(listen).map_err(named)?;
    listener.set_nonblocking(true).map_err(named)?;
    let local_addr = listener.local_addr().map_err(named)?;
    Ok((listener, local_addr))
}

/// Logs a warning when the token file's group may read it (other users are refused by
/// validation).
fn warn_if_group_readable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o060 != 0 {
            warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777),
                "the admin token file is readable or writable by its group: make sure only iocd's group is");
        }
    }
}

/// Raises the soft limit on open files to the hard limit, so that a burst of connections
/// (syslog TCP, admin) meets the limit the administrator set rather than the default soft
/// one (often 1024). Logs the result; a failure is logged and changes nothing.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        warn!(error = %io::Error::last_os_error(), "cannot read the open-files limit");
        return;
    }
    let before = lim.rlim_cur;
    if before >= lim.rlim_max {
        info!(
            soft = before,
            hard = lim.rlim_max,
            "open-files limit already at its hard limit"
        );
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        warn!(error = %io::Error::last_os_error(), soft = before, hard = lim.rlim_max,
            "cannot raise the open-files limit");
    } else {
        info!(
            from = before,
            to = lim.rlim_max,
            "open-files limit raised to the hard limit"
        );
    }
}

/// The accept loop and what each connection shares.
struct Server {
    app: Router,
    guard: Arc<Guard>,
    permits: Arc<Semaphore>,
    max_connections: usize,
    header_timeout: Duration,
    metrics: AdminMetrics,
    shutdown: Shutdown,
}

impl Server {
    async fn run(self, listener: tokio::net::TcpListener) {
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
    fn accept_failed(&self, e: &io::Error, backoff: &mut Delays) -> Option<Duration> {
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
    fn refuse_busy(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
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
fn fd_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// One accepted connection.
struct Connection {
    app: Router,
    guard: Arc<Guard>,
    header_timeout: Duration,
    shutdown: Shutdown,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream, peer: SocketAddr) {
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
struct Throttle {
    last: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl Throttle {
    /// `Some(left_out)` when a line for `reason` may be logged now.
    fn allow(&self, reason: &'static str) -> Option<u64> {
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

/// Checks the token, then reads the body within its limits, before the route sees the
/// request.
async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let g = &s.guard;
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let shown_peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    let path = req.uri().path().to_owned();
    if let Some(refused) = g.check_token(&req, &shown_peer, &path) {
        return refused;
    }
    let (parts, body) = req.into_parts();
    match g.read_body(&parts.headers, body, &shown_peer, &path).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refused) => refused,
    }
}

impl Guard {
    /// 401 when the request needs the token and does not carry it.
    fn check_token(&self, req: &Request, peer: &str, path: &str) -> Option<Response> {
        let token = self.token.as_ref()?;
        let reads = matches!(*req.method(), Method::GET | Method::HEAD);
        if (reads && !self.protect_reads) || bearer_matches(req.headers(), token) {
            return None;
        }
        self.metrics
            .refused_requests
            .with_label_values(&["unauthorized"])
            .inc();
        if let Some(skipped) = self.log.allow("unauthorized") {
            // The header itself is never logged: it may be a real token sent to the wrong
            // place, or a near miss.
            warn!(peer = %peer, method = %req.method(), path = ?path,
                presented = req.headers().contains_key(header::AUTHORIZATION), skipped,
                "admin server: request refused without a valid token");
        }
        let mut r = json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "this request needs the header Authorization: Bearer <admin token>"}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"iocd\""),
        );
        Some(r)
    }

    /// Reads the whole body, within `admin.max_body_bytes` and `admin.body_timeout`; else
    /// the refusal to answer.
    async fn read_body(
        &self,
        headers: &header::HeaderMap,
        body: Body,
        peer: &str,
        path: &str,
    ) -> Result<axum::body::Bytes, Response> {
        let refuse = |reason: &'static str, status: StatusCode, msg: String| {
            self.metrics
                .refused_requests
                .with_label_values(&[reason])
                .inc();
            if let Some(skipped) = self.log.allow(reason) {
                warn!(peer = %peer, path = ?path, reason, skipped, "admin server: request refused");
            }
            json(status, serde_json::json!({"error": msg}))
        };
        let max = self.max_body_bytes;
        let too_large = || {
            let msg = format!("the body is larger than {max} bytes (admin.max_body_bytes)");
            refuse("body_too_large", StatusCode::PAYLOAD_TOO_LARGE, msg)
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let read = Limited::new(body, max).collect();
        match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
            Ok(Err(e)) => Err(refuse(
                "body_error",
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )),
            Err(_) => Err(refuse(
                "body_timeout",
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} ms (admin.body_timeout)",
                    self.body_timeout.as_millis()
                ),
            )),
        }
    }
}

/// Whether `Authorization: Bearer <token>` carries `token`, compared in constant time (for
/// a given length; the token's length is not secret).
fn bearer_matches(headers: &header::HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((scheme, given)) = value.split_at_checked(7) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer ")
        && bool::from(given.trim_ascii().ct_eq(token.as_bytes()))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/feeds", get(feeds))
        .route("/reload", post(reload))
        .route(
            "/feedback",
            get(feedback_list)
                .post(feedback_add)
                .delete(feedback_remove),
        )
        .route("/feedback/summary", get(feedback_summary))
        // Unknown routes pass the guard too: no probing around the token.
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        s.metrics.render(),
    )
        .into_response()
}

async fn feeds(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, s.metrics.feeds_report())
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when `iocd_ready` is 1; else 503 saying what is missing (the feeds without a
/// generation by name, or that the daemon is still starting).
async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    if s.metrics.ready.get() == 1 {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let why = s
        .metrics
        .readiness
        .waiting_for()
        .unwrap_or_else(|| "no indicator set loaded yet".to_owned());
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {why}\n"),
    )
}

async fn reload(State(s): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    let request = ReloadRequest {
        reason: ReloadReason::Admin,
        reply: Some(tx),
    };
    let asked = async {
        s.reload.send(request).await.ok()?;
        rx.await.ok()
    };
    let stopping = || {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "iocd is stopping: no reload"}),
        )
    };
    tokio::select! {
        _ = s.shutdown.cancelled() => stopping(),
        answer = tokio::time::timeout(RELOAD_WAIT, asked) => match answer {
            Ok(Some(Ok(generation))) => {
                json(StatusCode::OK, serde_json::json!({"generation": generation}))
            }
            Ok(Some(Err(reason))) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"error": reason.to_string()}),
            ),
            // The control loop is gone: the daemon is on its way out.
            Ok(None) => stopping(),
            Err(_) => json(
                StatusCode::GATEWAY_TIMEOUT,
                serde_json::json!({
                    "error": format!(
                        "the reload did not finish within {} s; it goes on in the background",
                        RELOAD_WAIT.as_secs()
                    )
                }),
            ),
        },
    }
}

fn no_feedback() -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"error": "feedback is not enabled on this server"}),
    )
}

fn bad_request(msg: impl std::fmt::Display) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": msg.to_string()}),
    )
}

async fn feedback_list(State(s): State<AppState>) -> Response {
    let Some(f) = &s.feedback else {
        return no_feedback();
    };
    let marks: Vec<_> = f.list().iter().map(|m| m.view()).collect();
    json(StatusCode::OK, serde_json::json!(marks))
}

async fn feedback_summary(State(s): State<AppState>) -> Response {
    let Some(f) = &s.feedback else {
        return no_feedback();
    };
    json(StatusCode::OK, serde_json::json!(f.summary()))
}

/// Logs a refused feedback request (counted by `Feedback`), at most once a second.
fn log_bad_feedback(s: &AppState, peer: Option<axum::Extension<Peer>>, msg: &str) {
    if let Some(skipped) = s.guard.log.allow("feedback_refused") {
        let peer = peer.map(|p| p.0.0.to_string());
        warn!(peer = ?peer.as_deref().unwrap_or("unknown"), error = ?msg, skipped,
            "admin server: feedback request refused");
    }
}

async fn feedback_add(
    State(s): State<AppState>,
    peer: Option<axum::Extension<Peer>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(f) = s.feedback.clone() else {
        return no_feedback();
    };
    let req: MarkRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("the body is not one mark: {e}");
            log_bad_feedback(&s, peer, &msg);
            return bad_request(msg);
        }
    };
    // Saving syncs a small file to disk: off this thread's only runtime worker.
    match tokio::task::spawn_blocking(move || f.add(req)).await {
        Ok(Ok(mark)) => json(StatusCode::CREATED, serde_json::json!(mark.view())),
        Ok(Err(e)) if e.is_over_limit() => {
            log_bad_feedback(&s, peer, &e.to_string());
            json(
                StatusCode::CONFLICT,
                serde_json::json!({"error": e.to_string()}),
            )
        }
        Ok(Err(e)) if e.is_bad_request() => {
            log_bad_feedback(&s, peer, &e.to_string());
            bad_request(e)
        }
        Ok(Err(e)) => {
            error!(error = ?e.to_string(), "feedback mark not saved");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"error": e.to_string()}),
            )
        }
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e.to_string()}),
        ),
    }
}

/// `indicator` and `host` from the query string, else from a JSON body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkTarget {
    indicator: String,
    #[serde(default)]
    host: Option<String>,
}

async fn feedback_remove(
    State(s): State<AppState>,
    peer: Option<axum::Extension<Peer>>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let Some(f) = s.feedback.clone() else {
        return no_feedback();
    };
    let mut target = MarkTarget {
        indicator: String::new(),
        host: None,
    };
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match &*k {
            "indicator" => target.indicator = v.into_owned(),
            "host" => target.host = Some(v.into_owned()),
            other => return bad_request(format!("unknown parameter {other:?}")),
        }
    }
    if target.indicator.is_empty() && !body.is_empty() {
        target = match serde_json::from_slice(&body) {
            Ok(t) => t,
            Err(e) => return bad_request(format!("the body is not a mark target: {e}")),
        };
    }
    if target.indicator.is_empty() {
        return bad_request("which mark? give ?indicator=... (and &host=...)");
    }
    let removed =
        tokio::task::spawn_blocking(move || f.remove(&target.indicator, target.host.as_deref()))
            .await;
    match removed {
        Ok(Ok(Some(mark))) => json(StatusCode::OK, serde_json::json!(mark.view())),
        Ok(Ok(None)) => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "no API mark on this indicator and host (file marks are removed by editing the file)"}),
        ),
        Ok(Err(e)) if e.is_bad_request() => {
            log_bad_feedback(&s, peer, &e.to_string());
            bad_request(e)
        }
        Ok(Err(e)) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e.to_string()}),
        ),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e.to_string()}),
        ),
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut text = body.to_string();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}
