//! The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `POST /reload`.
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
//! | `GET /readyz` | 200 once the first indicator set is loaded (`iocd_ready` is 1), else 503 |
//! | `POST /reload` | rebuilds the indicator set and waits for it (up to 60 s): 200 `{"generation":N}`, 500 `{"error":...}` when the build failed (the old set stays), 503 when the daemon is stopping, 504 when the build takes longer |
//!
//! Bound to loopback by default: `/reload` makes iocd do work, and the server has no
//! authentication of its own.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::pipeline::{ReloadReason, ReloadRequest, Shutdown};
use crate::telemetry::Metrics;

/// How long `POST /reload` waits for the new set.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

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
}

/// Binds `listen` and serves the admin API on a new thread until `shutdown` is cancelled.
/// Reload requests go to `reload` with a reply channel.
pub fn spawn(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    reload: mpsc::Sender<ReloadRequest>,
    shutdown: Shutdown,
) -> io::Result<AdminHandle> {
    let named = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("admin server: cannot listen on {listen}: {e}"),
        )
    };
    let listener = std::net::TcpListener::bind(listen).map_err(named)?;
    listener.set_nonblocking(true).map_err(named)?;
    let local_addr = listener.local_addr().map_err(named)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let app = router(AppState {
        metrics,
        reload,
        shutdown: shutdown.clone(),
    });
    let thread = std::thread::Builder::new()
        .name("iocd-admin".to_owned())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                info!(addr = %local_addr, "admin server listening");
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            })
        })?;
    Ok(AdminHandle { local_addr, thread })
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/reload", post(reload))
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        s.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.metrics.ready.get() == 1 {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no indicator set loaded yet\n",
        )
    }
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
                serde_json::json!({"error": reason}),
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

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut text = body.to_string();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}
