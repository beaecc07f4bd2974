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
//! | `GET /readyz` | 200 once iocd runs and every feed has a generation, read or from its cache (`iocd_ready` is 1); else 503 naming the feeds still missing |
//! | `POST /reload` | rebuilds the indicator set and waits for it (up to 60 s): 200 `{"generation":N}`, 500 `{"error":...}` when the build failed (the old set stays), 503 when the daemon is stopping, 504 when the build takes longer |
//! | `GET /feedback` | every false-positive mark (API and file), with its hit count, as a JSON array |
//! | `POST /feedback` | `{"indicator", "host"?, "reason", "analyst", "expires"?}` marks a false positive at once: 201 with the mark, 400 `{"error":...}` for a bad request, 500 when it cannot be saved (nothing changed) |
//! | `DELETE /feedback` | `?indicator=...&host=...` (or the same as a JSON body) removes an API mark: 200 with it, 404 when there is none |
//! | `GET /feedback/summary` | marks by origin, expired marks, suppressed hits, the most-hit marks, the feedback file's last load and its bad lines |
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

use crate::feedback::{Feedback, MarkRequest};
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
    /// The `/feedback` routes answer 404 without it.
    feedback: Option<Arc<Feedback>>,
}

/// Binds `listen` and serves the admin API on a new thread until `shutdown` is cancelled.
/// Reload requests go to `reload` with a reply channel.
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
        feedback,
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
        .route(
            "/feedback",
            get(feedback_list)
                .post(feedback_add)
                .delete(feedback_remove),
        )
        .route("/feedback/summary", get(feedback_summary))
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

async fn feedback_add(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let Some(f) = s.feedback.clone() else {
        return no_feedback();
    };
    let req: MarkRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("the body is not a mark: {e}")),
    };
    // Saving syncs a small file to disk: off this thread's only runtime worker.
    match tokio::task::spawn_blocking(move || f.add(req)).await {
        Ok(Ok(mark)) => json(StatusCode::CREATED, serde_json::json!(mark.view())),
        Ok(Err(e)) if e.is_bad_request() => bad_request(e),
        Ok(Err(e)) => {
            error!(error = %e, "feedback mark not saved");
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
        Ok(Err(e)) if e.is_bad_request() => bad_request(e),
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
