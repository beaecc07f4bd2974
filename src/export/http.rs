//! The export listener: every export over HTTP(S), for firewalls that pull their lists.
//!
//! Apart from the admin server on purpose: firewalls and resolvers poll it from other
//! networks, with their own credentials, while the admin server stays a loopback control
//! plane. `GET /exports/<name>` answers the version in place (what [`Published`] holds; a
//! held-back version is never served) with a strong `ETag`; `If-None-Match` with it gives
//! `304` and no body, so a firewall polling every minute costs a header. A client that
//! accepts gzip gets the body compressed once at write time. Requests need a bearer token or
//! HTTP basic credentials when configured; connections are capped and must send their headers
//! (and finish the TLS handshake) within `header_timeout`.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;
use tracing::{debug, info};

use crate::config::export::{ExportFormat, ExportListenerConfig, read_secret};
use crate::model::Shutdown;
use crate::telemetry::metrics::ExportMetrics;

/// One served version of an export.
#[derive(Debug)]
pub struct Version {
    pub body: axum::body::Bytes,
    pub gzip: axum::body::Bytes,
    /// Strong validator of `body`: a quoted hex SHA-256 prefix.
    pub etag: String,
    pub(crate) content_type: &'static str,
}

impl Version {
    pub fn new(format: ExportFormat, body: Vec<u8>) -> Version {
        let digest = ring::digest::digest(&ring::digest::SHA256, &body);
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&body);
        let gzip = gz.finish().unwrap_or_default();
        Version {
            body: body.into(),
            gzip: gzip.into(),
            etag: format!("\"{hex}\""),
            content_type: match format {
                ExportFormat::Rpz => "text/dns",
                _ => "text/plain; charset=utf-8",
            },
        }
    }
}

/// The version in place of each export, by name (`None` until the first is written).
#[derive(Debug, Default)]
pub struct Published(ArcSwap<BTreeMap<String, Option<Arc<Version>>>>);

impl Published {
    pub fn new(names: impl IntoIterator<Item = String>) -> Published {
        Published(ArcSwap::from_pointee(
            names.into_iter().map(|n| (n, None)).collect(),
        ))
    }

    /// Puts `version` in place for `name`.
    pub(crate) fn publish(&self, name: &str, version: Version) {
        let v = Arc::new(version);
        self.0.rcu(|m| {
            let mut m = (**m).clone();
            m.insert(name.to_owned(), Some(v.clone()));
            m
        });
    }

    /// `None`: no such export; `Some(None)`: nothing written yet.
    pub fn get(&self, name: &str) -> Option<Option<Arc<Version>>> {
        self.0.load().get(name).cloned()
    }
}

struct Auth {
    token: Option<String>,
    /// `user:password`, as basic authentication sends it (base64-decoded).
    basic: Option<Vec<u8>>,
}

impl Auth {
    fn required(&self) -> bool {
        self.token.is_some() || self.basic.is_some()
    }

    /// Whether the request carries one of the configured credentials, compared in constant
    /// time for a given length.
    fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.required() {
            return true;
        }
        let Some(v) = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
        else {
            return false;
        };
        let Some((scheme, given)) = v.split_at_checked(6) else {
            return false;
        };
        let given = given.trim_ascii();
        if scheme.eq_ignore_ascii_case(b"bearer")
            && let Some(t) = &self.token
        {
            return bool::from(given.ct_eq(t.as_bytes()));
        }
        if scheme.eq_ignore_ascii_case(b"basic ")
            && let Some(b) = &self.basic
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(given)
        {
            return bool::from(decoded.ct_eq(b));
        }
        false
    }
}

#[derive(Clone)]
struct AppState {
    published: Arc<Published>,
    auth: Arc<Auth>,
    metrics: ExportMetrics,
}

/// A running listener.
pub struct ListenerHandle {
    pub local_addr: SocketAddr,
}

/// Binds `cfg.listen` now (so a busy port fails the start) and serves on the current tokio
/// runtime until `shutdown`.
pub fn start(
    cfg: &ExportListenerConfig,
    published: Arc<Published>,
    metrics: ExportMetrics,
    shutdown: Shutdown,
) -> io::Result<ListenerHandle> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let token = cfg
        .token_file
        .as_deref()
        .map(read_secret)
        .transpose()
        .map_err(|e| invalid(format!("export_listener.token_file: {e}")))?;
    let basic = match (&cfg.basic_user, &cfg.basic_password_file) {
        (Some(u), Some(p)) => {
            let pw = read_secret(p)
                .map_err(|e| invalid(format!("export_listener.basic_password_file: {e}")))?;
            Some(format!("{u}:{pw}").into_bytes())
        }
        _ => None,
    };
    let auth = Arc::new(Auth { token, basic });
    if !auth.required() && !cfg.listen.ip().is_loopback() {
        return Err(invalid(format!(
            "export listener: {} is not loopback and no credentials are set",
            cfg.listen
        )));
    }
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(crate::tls::acceptor(c, k)?),
        _ => None,
    };
    let listener = std::net::TcpListener::bind(cfg.listen).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("export listener: cannot listen on {}: {e}", cfg.listen),
        )
    })?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/exports/{name}", get(serve_export))
        .with_state(AppState {
            published,
            auth: auth.clone(),
            metrics,
        });
    info!(addr = %local_addr, tls = tls.is_some(), authenticated = auth.required(),
        "export listener listening");
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let header_timeout = cfg.header_timeout;
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        debug!(error = %e, "export listener: accept failed");
                        // EMFILE and the like leave the connection in the backlog.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                debug!(%peer, "export listener: at its connection limit, closed");
                continue;
            };
            let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => serve_conn(s, app, header_timeout, shutdown).await,
                            Ok(Err(e)) => {
                                debug!(%peer, error = %e, "export listener: TLS handshake failed")
                            }
                            Err(_) => debug!(%peer, "export listener: TLS handshake timed out"),
                        }
                    }
                    None => serve_conn(stream, app, header_timeout, shutdown).await,
                }
                drop(permit);
            });
        }
    });
    Ok(ListenerHandle { local_addr })
}

async fn serve_conn<S>(
    stream: S,
    app: Router,
    header_timeout: std::time::Duration,
    shutdown: Shutdown,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "export connection ended with an error");
    }
}

/// Whether the `If-None-Match` header names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    == Some(0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

async fn serve_export(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = s.published.get(&name);
    // Only configured names become label values.
    let label = if found.is_some() {
        name.as_str()
    } else {
        "unknown"
    };
    let count = |status: StatusCode| {
        s.metrics
            .requests
            .with_label_values(&[label, status.as_str()])
            .inc();
    };
    if !s.auth.allows(&headers) {
        count(StatusCode::UNAUTHORIZED);
        // Counted by status; not logged at WARN, or a scanner would fill the log.
        debug!(
            export = label,
            "export listener: request without valid credentials"
        );
        let mut r = (StatusCode::UNAUTHORIZED, "credentials needed\n").into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"iocd exports\", Bearer"),
        );
        return r;
    }
    let Some(found) = found else {
        count(StatusCode::NOT_FOUND);
        return (StatusCode::NOT_FOUND, "no such export\n").into_response();
    };
    let Some(v) = found else {
        count(StatusCode::SERVICE_UNAVAILABLE);
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, "not written yet\n").into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    };
    let etag = HeaderValue::from_str(&v.etag).expect("hex in quotes is a header value");
    if not_modified(&headers, &v.etag) {
        count(StatusCode::NOT_MODIFIED);
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, etag);
        return r;
    }
    let gzip = accepts_gzip(&headers);
    let body = if gzip { v.gzip.clone() } else { v.body.clone() };
    count(StatusCode::OK);
    s.metrics
        .sent_bytes
        .with_label_values(&[label])
        .inc_by(body.len() as u64);
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(v.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn conditional_and_encoding_headers() {
        let e = "\"abc\"";
        assert!(not_modified(&headers(&[("if-none-match", "\"abc\"")]), e));
        assert!(not_modified(
            &headers(&[("if-none-match", "\"x\", W/\"abc\"")]),
            e
        ));
        assert!(not_modified(&headers(&[("if-none-match", "*")]), e));
        assert!(!not_modified(&headers(&[("if-none-match", "\"abcd\"")]), e));
        assert!(!not_modified(&headers(&[]), e));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "deflate, GZIP"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0.5")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
    }

    #[test]
    fn credentials() {
        let auth = Auth {
            token: Some("0123456789abcdef".into()),
            basic: Some(b"fw:password-password".to_vec()),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode("fw:password-password");
        assert!(auth.allows(&headers(&[("authorization", "Bearer 0123456789abcdef")])));
        assert!(auth.allows(&headers(&[("authorization", &format!("Basic {b64}"))])));
        assert!(!auth.allows(&headers(&[("authorization", "Bearer 0123456789abcdeX")])));
        assert!(!auth.allows(&headers(&[("authorization", "Basic Znc6bm8=")])));
        assert!(!auth.allows(&headers(&[])));
        let open = Auth {
            token: None,
            basic: None,
        };
        assert!(open.allows(&headers(&[])));
    }
}
