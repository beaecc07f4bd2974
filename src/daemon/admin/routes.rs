//! What the admin server answers: the guard every request passes (token, head and body
//! limits), then metrics, health, readiness, feeds, reload and the feedback API.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use subtle::ConstantTimeEq as _;
use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::daemon::{ReloadReason, ReloadRequest};
use crate::feedback::MarkRequest;

use super::*;

/// Checks the token, then reads the body within its limits, before the route sees the
/// request.
pub(super) async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
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
    pub(super) fn check_token(&self, req: &Request, peer: &str, path: &str) -> Option<Response> {
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
    pub(super) async fn read_body(
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
pub(super) fn bearer_matches(headers: &header::HeaderMap, token: &str) -> bool {
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

pub(super) fn router(state: AppState) -> Router {
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
        .route("/retro", get(retro))
        // Unknown routes pass the guard too: no probing around the token.
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `GET /retro`: the retro job running (its progress), the last one, the indicators seen.
pub(super) async fn retro(State(s): State<AppState>) -> Response {
    let body = match &s.retro {
        Some(p) => {
            let p = p.lock().unwrap_or_else(|e| e.into_inner()).clone();
            serde_json::to_vec(&p).expect("serializable")
        }
        None => br#"{"enabled":false}"#.to_vec(),
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        s.metrics.render(),
    )
        .into_response()
}

pub(super) async fn feeds(State(s): State<AppState>) -> Response {
    json(StatusCode::OK, s.metrics.feeds_report())
}

pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when `iocd_ready` is 1; else 503 saying what is missing (the feeds without a
/// generation by name, or that the daemon is still starting).
pub(super) async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
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

pub(super) async fn reload(State(s): State<AppState>) -> Response {
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

pub(super) fn no_feedback() -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"error": "feedback is not enabled on this server"}),
    )
}

pub(super) fn bad_request(msg: impl std::fmt::Display) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": msg.to_string()}),
    )
}

pub(super) async fn feedback_list(State(s): State<AppState>) -> Response {
    let Some(f) = &s.feedback else {
        return no_feedback();
    };
    let marks: Vec<_> = f.list().iter().map(|m| m.view()).collect();
    json(StatusCode::OK, serde_json::json!(marks))
}

pub(super) async fn feedback_summary(State(s): State<AppState>) -> Response {
    let Some(f) = &s.feedback else {
        return no_feedback();
    };
    json(StatusCode::OK, serde_json::json!(f.summary()))
}

/// Logs a refused feedback request (counted by `Feedback`), at most once a second.
pub(super) fn log_bad_feedback(s: &AppState, peer: Option<axum::Extension<Peer>>, msg: &str) {
    if let Some(skipped) = s.guard.log.allow("feedback_refused") {
        let peer = peer.map(|p| p.0.0.to_string());
        warn!(peer = ?peer.as_deref().unwrap_or("unknown"), error = ?msg, skipped,
            "admin server: feedback request refused");
    }
}

pub(super) async fn feedback_add(
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
pub(super) struct MarkTarget {
    pub(super) indicator: String,
    #[serde(default)]
    pub(super) host: Option<String>,
}

pub(super) async fn feedback_remove(
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

pub(super) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut text = body.to_string();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}
