//! Downloading URL feeds: conditional requests, timeouts, retries with backoff, a size cap,
//! and the last good copy on disk.
//!
//! [`fetch`] sends `If-None-Match` / `If-Modified-Since` when it has the validators of the copy
//! in use, so an unchanged feed costs one `304`. Connection errors, timeouts, `5xx`, `408` and
//! `429` are retried `retries` times, the delay doubling from `retry_delay` (up to 5 minutes,
//! each wait with jitter: [`crate::retry`]); other statuses fail at once. A body (after gzip decoding) larger than `max_bytes` fails the download: a feed
//! that suddenly grows a hundredfold is broken, not richer. [`Cache`] keeps the last copy that
//! parsed, with its validators, so a restart while the server is down still has the feed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use crate::config::feeds::HttpOptions;
use crate::retry::Backoff;

/// What a server said identifies a copy: sent back to ask "has it changed?".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The result of a download.
#[derive(Debug)]
pub enum Fetched {
    /// `304`: the copy in use is current.
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

/// Why a download failed (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("body larger than max_bytes ({0} bytes)")]
    TooLarge(u64),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Transport(String),
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Invalid(String),
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Status(s) => *s >= 500 || *s == 408 || *s == 429,
            FetchError::Timeout | FetchError::Transport(_) => true,
            FetchError::TooLarge(_) | FetchError::Client(_) | FetchError::Invalid(_) => false,
        }
    }
}

/// An HTTP client for feeds (rustls with the ring provider, gzip).
pub fn client() -> Result<reqwest::Client, FetchError> {
    builder()
        .build()
        .map_err(|e| FetchError::Client(error_chain(&e)))
}

fn builder() -> reqwest::ClientBuilder {
    // Another part of the process may have installed it first: either way one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION")))
        .gzip(true)
}

/// A client of its own for a feed whose `[feeds.http]` names a private CA or a client
/// certificate; `None` when it names neither (the shared [`client`] will do). Errors name the
/// file.
pub fn tls_client(opts: &HttpOptions) -> Result<Option<reqwest::Client>, FetchError> {
    if opts.ca_file.is_none() && opts.client_cert.is_none() {
        return Ok(None);
    }
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| FetchError::Client(format!("{}: {e}", p.display())))
    };
    let mut b = builder();
    if let Some(ca) = &opts.ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
            .map_err(|e| FetchError::Client(format!("{}: {}", ca.display(), error_chain(&e))))?;
        if certs.is_empty() {
            return Err(FetchError::Client(format!(
                "{}: no PEM certificate",
                ca.display()
            )));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&opts.client_cert, &opts.client_key) {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            FetchError::Client(format!(
                "{} and {}: {}",
                cert.display(),
                key.display(),
                error_chain(&e)
            ))
        })?;
        b = b.identity(id);
    }
    b.build()
        .map(Some)
        .map_err(|e| FetchError::Client(error_chain(&e)))
}

/// A response: its status (a success, or `304`), headers and body.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends the request `make` builds (again for each try), with `opts`' timeout, headers,
/// retries and body cap. Statuses other than success and `304` are errors.
pub(crate) async fn request(
    client: &reqwest::Client,
    opts: &HttpOptions,
    what: &str,
    make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<Response, FetchError> {
    use backon::Retryable as _;
    let backoff = Backoff::new(opts.retry_delay, RETRY_MAX).times(opts.retries as usize);
    (|| async {
        let mut req = make(client).timeout(opts.timeout);
        for (k, v) in &opts.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        send(req, opts.max_bytes).await
    })
    .retry(backoff.builder())
    .when(FetchError::retryable)
    .notify(|e, wait| tracing::debug!(what, error = %e, ?wait, "request failed, retrying"))
    .await
}

/// One try: the response, its body read up to `max_bytes`.
async fn send(req: reqwest::RequestBuilder, max_bytes: u64) -> Result<Response, FetchError> {
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Transport(error_chain(&e))
        }
    };
    let mut resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Response {
            status,
            headers: resp.headers().clone(),
            body: Vec::new(),
        });
    }
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    // Content-Length is of the encoded body; the cap is on what we keep, checked as it grows.
    if resp
        .content_length()
        .is_some_and(|n| n > max_bytes && resp.headers().get("content-encoding").is_none())
    {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers: resp.headers().clone(),
        body,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// The longest wait between two tries of a download.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Downloads `url`, conditionally when `validators` are given, with retries.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    opts: &HttpOptions,
    validators: Option<&Validators>,
) -> Result<Fetched, FetchError> {
    let resp = request(client, opts, url, |c| {
        let mut req = c.get(url);
        if let Some(v) = validators {
            if let Some(e) = &v.etag {
                req = req.header(IF_NONE_MATCH, e.as_str());
            }
            if let Some(m) = &v.last_modified {
                req = req.header(IF_MODIFIED_SINCE, m.as_str());
            }
        }
        req
    })
    .await?;
    if resp.status == StatusCode::NOT_MODIFIED {
        return if validators.is_some() {
            Ok(Fetched::NotModified)
        } else {
            Err(FetchError::Status(304))
        };
    }
    let header = |name| {
        resp.headers
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let validators = Validators {
        etag: header(ETAG),
        last_modified: header(LAST_MODIFIED),
    };
    Ok(Fetched::Body {
        bytes: resp.body,
        validators,
    })
}

/// For a MISP feed folder served over HTTP (`<base>manifest.json` beside `<base><uuid>.json`):
/// downloads every event the manifest lists and returns them as one MISP API response
/// (`{"response": [{"Event": ...}, ...]}`), which is also what the cache keeps. An event that
/// is not JSON stands as `{"uuid": ..., "error": ...}` and is reported when parsed; an event
/// that cannot be downloaded fails the refresh (the previous generation stays).
pub(crate) async fn misp_feed(
    client: &reqwest::Client,
    base: &str,
    manifest: &[u8],
    opts: &HttpOptions,
) -> Result<Vec<u8>, FetchError> {
    let m: serde_json::Value = serde_json::from_slice(manifest)
        .map_err(|e| FetchError::Invalid(format!("{base}manifest.json is not JSON: {e}")))?;
    let Some(entries) = m.as_object() else {
        return Err(FetchError::Invalid(format!(
            "{base}manifest.json is not an object of event UUIDs"
        )));
    };
    let mut uuids: Vec<&String> = entries.keys().collect();
    uuids.sort();
    let mut events = Vec::with_capacity(uuids.len());
    let mut total = 0u64;
    for uuid in uuids {
        if uuid.is_empty() || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            events.push(serde_json::json!({"uuid": uuid, "error": "not an event UUID"}));
            continue;
        }
        let url = format!("{base}{uuid}.json");
        let bytes = match fetch(client, &url, opts, None).await? {
            Fetched::Body { bytes, .. } => bytes,
            Fetched::NotModified => unreachable!("no validators were sent"),
        };
        total += bytes.len() as u64;
        if total > opts.max_bytes {
            return Err(FetchError::TooLarge(opts.max_bytes));
        }
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(ev) if ev.get("Event").is_some() => events.push(ev),
            Ok(_) => {
                events.push(serde_json::json!({"uuid": uuid, "error": format!("{url}: no Event")}))
            }
            Err(e) => events
                .push(serde_json::json!({"uuid": uuid, "error": format!("{url}: not JSON: {e}")})),
        }
    }
    Ok(serde_json::to_vec(&serde_json::json!({ "response": events })).expect("serializable"))
}

/// The base URL of a MISP feed folder, when `url` names one: it ends with `manifest.json`,
/// or the feed is `format = "misp"` and the URL ends with `/`.
pub(crate) fn misp_folder_base(
    url: &str,
    format: crate::config::feeds::FeedFormat,
) -> Option<String> {
    use crate::config::feeds::FeedFormat;
    if let Some(base) = url
        .strip_suffix("manifest.json")
        .filter(|b| b.ends_with('/'))
    {
        return matches!(format, FeedFormat::Auto | FeedFormat::Misp).then(|| base.to_owned());
    }
    (format == FeedFormat::Misp && url.ends_with('/')).then(|| url.to_owned())
}

/// The last good copy of a URL feed: the body at `path`, its validators at `path.meta.json`.
#[derive(Clone, Debug)]
pub(crate) struct Cache {
    pub path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct CacheMeta {
    url: String,
    #[serde(flatten)]
    validators: Validators,
}

impl Cache {
    pub(crate) fn meta_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".meta.json");
        PathBuf::from(p)
    }

    /// The cached body and its validators, if a copy of `url` is there.
    pub fn read(&self, url: &str) -> Option<(Vec<u8>, Validators)> {
        let bytes = std::fs::read(&self.path).ok()?;
        let validators = std::fs::read(self.meta_path())
            .ok()
            .and_then(|m| serde_json::from_slice::<CacheMeta>(&m).ok())
            .filter(|m| m.url == url)
            .map(|m| m.validators)
            .unwrap_or_default();
        Some((bytes, validators))
    }

    /// Stores a copy that parsed, atomically (a crash leaves the old copy or the new one).
    pub fn write(&self, url: &str, bytes: &[u8], validators: &Validators) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        write_atomic(&self.path, bytes)?;
        let meta = CacheMeta {
            url: url.to_owned(),
            validators: validators.clone(),
        };
        write_atomic(
            &self.meta_path(),
            &serde_json::to_vec_pretty(&meta).expect("serializable"),
        )
    }
}

/// Through `crate::statefile`, whose temporary names a start after a crash cleans up.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::statefile::write_atomic(path, bytes)
}
