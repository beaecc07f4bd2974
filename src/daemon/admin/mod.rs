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

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tracing::{error, info, warn};

use super::ReloadRequest;
use crate::config::AdminConfig;
use crate::feedback::Feedback;
use crate::model::Shutdown;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::AdminMetrics;

mod routes;
mod server;
use routes::router;
use server::{Server, Throttle};

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
    /// What `GET /retro` shows.
    retro: Option<Arc<std::sync::Mutex<super::retro::Progress>>>,
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
    start(&cfg, metrics, reload, shutdown, feedback, None)
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
    retro: Option<Arc<std::sync::Mutex<super::retro::Progress>>>,
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
        retro,
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
pub(crate) fn raise_open_files_limit() {
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
