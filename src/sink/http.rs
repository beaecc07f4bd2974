//! HTTP out: alerts POSTed in batches, in one of three shapes.
//!
//! * `json`: a JSON array of alerts (`application/json`), for webhooks.
//! * `splunk_hec`: one `{"time":T,"event":{alert},"index":I}` envelope per alert, the
//!   envelopes concatenated (HEC's batch form), `Authorization: Splunk <token>`.
//! * `elasticsearch`: `_bulk` NDJSON, a `{"create":{"_index":I}}` line before each alert
//!   (`create` works for indices and data streams alike). Elasticsearch answers 200 even
//!   when some documents failed, so the per-item statuses are read: failed items that may
//!   succeed later (429, 5xx) are sent again, alone; items refused for good (a mapping
//!   conflict) are logged, counted and dropped.
//!
//! A batch goes out when it has `batch_max_events` alerts or its first alert has waited
//! `batch_timeout`. One batch is in flight at a time, so alerts arrive in order. Connection
//! errors, timeouts, 429 and 5xx are retried with exponential backoff (at least as long as
//! a `Retry-After` asks, up to `retry_max_delay`) until they succeed or shutdown's deadline
//! stops the sink; meanwhile alerts wait in the queue, whose bound is `buffer_max_events`,
//! and then the pipeline waits. Any other answer (4xx, a redirect) means the URL, token,
//! index or format is wrong: retrying cannot help, so the batch is dropped, and logged and
//! counted as such.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::{error, warn};

use super::{Backoff, Queue, SinkCtx, SinkErrorKind};
use crate::config::{HttpFormat, HttpSinkConfig};
use crate::pipeline::AlertRecord;

/// How much of an error response goes into the log.
const SNIPPET_BYTES: usize = 300;

pub(super) struct HttpSink {
    client: reqwest::Client,
    url: Url,
    format: HttpFormat,
    auth: Option<HeaderValue>,
    /// The index as a JSON string, ready to paste into envelopes.
    index: Option<String>,
    batch_max: usize,
    batch_timeout: Duration,
    retry_initial: Duration,
    retry_max: Duration,
}

/// What one request achieved.
enum Outcome {
    Accepted,
    /// Worth trying again: connection error, timeout, 429, 5xx.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Never going to work as configured.
    Refused {
        status: Option<StatusCode>,
        reason: String,
    },
    /// Elasticsearch: one fate per alert, in batch order.
    Items {
        fates: Vec<Fate>,
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Accepted,
    Retry,
    Refused,
}

impl HttpSink {
    pub(super) fn new(cfg: &HttpSinkConfig) -> Result<HttpSink, SinkErrorKind> {
        let url = Url::parse(&cfg.url)
            .map_err(|e| SinkErrorKind::HttpClient(format!("{:?}: {e}", cfg.url)))?;
        // reqwest is built without a bundled crypto provider: use the process's (ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION")))
            // A redirected POST turns into a GET without its body: say so instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SinkErrorKind::HttpClient(error_chain(&e)))?;
        let auth = match &cfg.token {
            None => None,
            Some(token) => {
                let scheme = match cfg.format {
                    HttpFormat::SplunkHec => "Splunk",
                    HttpFormat::Json | HttpFormat::Elasticsearch => "Bearer",
                };
                let mut v = HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| {
                    SinkErrorKind::HttpClient("the token holds characters a header cannot".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(HttpSink {
            client,
            url,
            format: cfg.format,
            auth,
            index: cfg
                .index
                .as_ref()
                .map(|i| serde_json::to_string(i).expect("a string serializes")),
            batch_max: cfg.batch_max_events.max(1),
            batch_timeout: cfg.batch_timeout,
            retry_initial: cfg.retry_initial_delay,
            retry_max: cfg.retry_max_delay,
        })
    }

    fn content_type(&self) -> &'static str {
        match self.format {
            HttpFormat::Json | HttpFormat::SplunkHec => "application/json",
            HttpFormat::Elasticsearch => "application/x-ndjson",
        }
    }

    fn encode(&self, batch: &[AlertRecord], out: &mut Vec<u8>) {
        match self.format {
            HttpFormat::Json => {
                out.push(b'[');
                for (i, a) in batch.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&a.json);
                }
                out.push(b']');
            }
            HttpFormat::SplunkHec => {
                for a in batch {
                    out.extend_from_slice(format!("{{\"time\":{},\"event\":", a.time).as_bytes());
                    out.extend_from_slice(&a.json);
                    if let Some(index) = &self.index {
                        out.extend_from_slice(b",\"index\":");
                        out.extend_from_slice(index.as_bytes());
                    }
                    out.extend_from_slice(b"}\n");
                }
            }
            HttpFormat::Elasticsearch => {
                let action = match &self.index {
                    Some(index) => format!("{{\"create\":{{\"_index\":{index}}}}}\n"),
                    // The URL names the index (`/alerts/_bulk`).
                    None => "{\"create\":{}}\n".to_owned(),
                };
                for a in batch {
                    out.extend_from_slice(action.as_bytes());
                    out.extend_from_slice(&a.json);
                    out.push(b'\n');
                }
            }
        }
    }

    /// Waits for the next batch (see the module docs) and moves it into `batch`. False
    /// once the queue is closed and empty.
    async fn gather(&self, queue: &Queue, batch: &mut Vec<AlertRecord>) -> bool {
        while queue.pending() == 0 {
            if queue.is_closed() {
                return false;
            }
            queue.wait().await;
        }
        let deadline = tokio::time::Instant::now() + self.batch_timeout;
        while queue.pending() < self.batch_max && !queue.is_closed() {
            if tokio::time::timeout_at(deadline, queue.wait())
                .await
                .is_err()
            {
                break;
            }
        }
        queue.take(self.batch_max, batch);
        true
    }

    /// Sends `batch` until every alert in it was accepted or refused for good.
    async fn deliver(&self, queue: &Queue, ctx: &SinkCtx, batch: &mut Vec<AlertRecord>) {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
        let mut first = true;
        while !batch.is_empty() {
            if !first {
                ctx.retries.inc();
            }
            first = false;
            let mut body = Vec::with_capacity(batch.iter().map(|a| a.json.len() + 48).sum());
            self.encode(batch, &mut body);
            let started = Instant::now();
            let outcome = self.attempt(body, batch.len()).await;
            ctx.latency.observe(started.elapsed().as_secs_f64());
            let wait = match outcome {
                Outcome::Accepted => {
                    ctx.delivered(batch.iter());
                    queue.release(batch.len());
                    batch.clear();
                    None
                }
                Outcome::Retry { reason, after } => {
                    ctx.errors.inc();
                    let delay = backoff
                        .next_delay()
                        .max(after.unwrap_or_default().min(self.retry_max));
                    warn!(
                        sink = %ctx.name, error = %reason, alerts = batch.len(),
                        held = queue.held(), retry_in = ?delay,
                        "HTTP delivery failed; holding the alerts and retrying"
                    );
                    Some(delay)
                }
                Outcome::Refused { status, reason } => {
                    ctx.errors.inc();
                    error!(
                        sink = %ctx.name, status = status.map(|s| s.as_u16()), error = %reason,
                        dropped = batch.len(),
                        "the HTTP endpoint refused the batch: a configuration problem (URL, token, \
                         index or format); retrying cannot help, so these alerts are dropped"
                    );
                    ctx.drop_alerts(queue, batch.iter(), "refused");
                    batch.clear();
                    None
                }
                Outcome::Items { fates, reason } => {
                    ctx.errors.inc();
                    let (mut accepted, mut retry, mut refused) =
                        (Vec::new(), Vec::new(), Vec::new());
                    for (a, fate) in batch.drain(..).zip(fates) {
                        match fate {
                            Fate::Accepted => accepted.push(a),
                            Fate::Retry => retry.push(a),
                            Fate::Refused => refused.push(a),
                        }
                    }
                    ctx.delivered(&accepted);
                    queue.release(accepted.len());
                    if !refused.is_empty() {
                        error!(
                            sink = %ctx.name, error = %reason, dropped = refused.len(),
                            "Elasticsearch refused some alerts for good (mapping or index \
                             problem); they are dropped"
                        );
                        ctx.drop_alerts(queue, &refused, "refused");
                    }
                    *batch = retry;
                    (!batch.is_empty()).then(|| {
                        let delay = backoff.next_delay();
                        warn!(
                            sink = %ctx.name, error = %reason, alerts = batch.len(), retry_in = ?delay,
                            "Elasticsearch could not take some alerts now; retrying them"
                        );
                        delay
                    })
                }
            };
            if let Some(delay) = wait {
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn attempt(&self, body: Vec<u8>, n: usize) -> Outcome {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, self.content_type())
            .body(body);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: error_chain(&e),
                    after: None,
                };
            }
        };
        let status = resp.status();
        if status.is_success() {
            return match self.format {
                HttpFormat::Elasticsearch => bulk_outcome(resp, n).await,
                HttpFormat::Json | HttpFormat::SplunkHec => Outcome::Accepted,
            };
        }
        let after = retry_after(resp.headers());
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let text = snippet(resp).await;
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Outcome::Retry {
                reason: format!("HTTP {status}: {text}"),
                after,
            }
        } else if let Some(to) = location.filter(|_| status.is_redirection()) {
            Outcome::Refused {
                status: Some(status),
                reason: format!("redirected to {to}: configure that URL"),
            }
        } else {
            Outcome::Refused {
                status: Some(status),
                reason: format!("HTTP {status}: {text}"),
            }
        }
    }
}

impl fmt::Display for HttpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.format {
            HttpFormat::Json => "JSON",
            HttpFormat::SplunkHec => "Splunk HEC",
            HttpFormat::Elasticsearch => "Elasticsearch bulk",
        };
        // No user, password or query: they may hold secrets.
        write!(
            f,
            "{format} over HTTP to {}{}",
            self.url.origin().ascii_serialization(),
            self.url.path()
        )
    }
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

async fn bulk_outcome(resp: reqwest::Response, n: usize) -> Outcome {
    let body = match resp.bytes().await {
        Ok(b) => b,
        // The request got through but the answer did not: sending again may duplicate,
        // not sending may lose. Duplicates are the lesser evil.
        Err(e) => {
            return Outcome::Retry {
                reason: format!("reading the bulk response: {}", error_chain(&e)),
                after: None,
            };
        }
    };
    let parsed: BulkResponse = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "a 2xx bulk response that is not Elasticsearch's: taken as accepted");
            return Outcome::Accepted;
        }
    };
    if !parsed.errors {
        return Outcome::Accepted;
    }
    if parsed.items.len() != n {
        return Outcome::Retry {
            reason: format!(
                "bulk response has {} items for {n} documents",
                parsed.items.len()
            ),
            after: None,
        };
    }
    let mut reason = String::new();
    let fates = parsed
        .items
        .iter()
        .map(|item| {
            let Some(item) = item.values().next() else {
                return Fate::Retry;
            };
            let fate = match item.status {
                200..=299 => Fate::Accepted,
                429 | 500..=599 => Fate::Retry,
                _ => Fate::Refused,
            };
            if fate != Fate::Accepted && reason.is_empty() {
                reason = format!(
                    "item status {}: {}",
                    item.status,
                    item.error
                        .as_ref()
                        .map_or_else(String::new, |e| e.to_string())
                );
            }
            fate
        })
        .collect();
    Outcome::Items { fates, reason }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

async fn snippet(resp: reqwest::Response) -> String {
    match resp.bytes().await {
        Ok(b) => {
            let cut = &b[..b.len().min(SNIPPET_BYTES)];
            String::from_utf8_lossy(cut).trim().to_owned()
        }
        Err(_) => String::new(),
    }
}

/// An error and its causes: reqwest's own message alone ("error sending request") hides
/// whether DNS, the connection or TLS failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The task of an HTTP sink.
pub(super) async fn run(queue: Arc<Queue>, sink: HttpSink, ctx: SinkCtx) {
    let mut batch = Vec::with_capacity(sink.batch_max);
    while sink.gather(&queue, &mut batch).await {
        sink.deliver(&queue, &ctx, &mut batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(format: HttpFormat, index: Option<&str>) -> HttpSink {
        let cfg: HttpSinkConfig = toml::from_str(&format!(
            "url = \"http://127.0.0.1:1/x\"\nformat = \"{}\"\n{}",
            match format {
                HttpFormat::Json => "json",
                HttpFormat::SplunkHec => "splunk_hec",
                HttpFormat::Elasticsearch => "elasticsearch",
            },
            index.map_or_else(String::new, |i| format!("index = '{i}'"))
        ))
        .unwrap();
        HttpSink::new(&cfg).unwrap()
    }

    fn alerts() -> Vec<AlertRecord> {
        (0..2)
            .map(|i| AlertRecord {
                json: format!("{{\"n\":{i}}}").into_bytes().into(),
                time: 100 + i,
                priority: "none",
                key: std::sync::Arc::from("k"),
                receipt: None,
            })
            .collect()
    }

    fn body(s: &HttpSink) -> String {
        let mut out = Vec::new();
        s.encode(&alerts(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn body_shapes() {
        assert_eq!(body(&sink(HttpFormat::Json, None)), r#"[{"n":0},{"n":1}]"#);
        assert_eq!(
            body(&sink(HttpFormat::SplunkHec, Some("sec"))),
            "{\"time\":100,\"event\":{\"n\":0},\"index\":\"sec\"}\n\
             {\"time\":101,\"event\":{\"n\":1},\"index\":\"sec\"}\n"
        );
        assert_eq!(
            body(&sink(HttpFormat::SplunkHec, None)),
            "{\"time\":100,\"event\":{\"n\":0}}\n{\"time\":101,\"event\":{\"n\":1}}\n"
        );
        assert_eq!(
            body(&sink(HttpFormat::Elasticsearch, Some("a\"b"))),
            "{\"create\":{\"_index\":\"a\\\"b\"}}\n{\"n\":0}\n\
             {\"create\":{\"_index\":\"a\\\"b\"}}\n{\"n\":1}\n"
        );
        assert_eq!(
            body(&sink(HttpFormat::Elasticsearch, None)),
            "{\"create\":{}}\n{\"n\":0}\n{\"create\":{}}\n{\"n\":1}\n"
        );
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
