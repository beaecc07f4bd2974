//! HTTP out: alerts POSTed in batches, in one of three shapes.
//!
//! * `json`: a JSON array of alerts (`application/json`), for webhooks.
//! * `splunk_hec`: one `{"time":T,"event":{alert},"index":I}` envelope per alert, the
//!   envelopes concatenated (HEC's batch form), `Authorization: Splunk <token>`.
//! * `elasticsearch`: `_bulk` NDJSON, a `{"create":{"_index":I,"_id":ID}}` line before each
//!   alert, `ID` being the alert's `event.id` (OCSF: `metadata.uid`). `create` with a stable
//!   `_id` makes a replay idempotent: Elasticsearch answers 409 for a document it already
//!   has, which counts as delivered. Elasticsearch answers 200 even when some documents
//!   failed, so the per-item statuses are read: failed items that may succeed later (429,
//!   5xx) are sent again; items refused for good (a mapping conflict) go to the dead-letter
//!   file.
//!
//! A batch goes out when it has `batch_max_events` alerts or its first alert has waited
//! `batch_timeout`. One batch is in flight at a time, so alerts arrive in order. What the
//! endpoint answers decides what happens to the batch ([`Class`]); peers' status codes are
//! hostile input, and no answer loses an alert:
//!
//! * 2xx: delivered.
//! * connection errors, timeouts, 408, 429, 5xx: sent again after a backoff (exponential,
//!   with jitter, and at least as long as a `Retry-After` asks, up to [`RETRY_AFTER_MAX`]).
//! * 401, 403, 407, a redirect (not followed: a redirected POST loses its body), and any
//!   other answer that says the URL or credentials are wrong (404, 405, ...): the sink is
//!   held, as if down. Its alerts wait, `iocd_sink_up` is 0, an ERROR log says what to fix
//!   (again every [`HELD_COMPLAINT_EVERY`] while it lasts), and the batch is sent again with
//!   the same backoff until the endpoint takes it.
//! * 413: the batch is split in halves, and those again, down to single alerts; later
//!   batches are kept to the size that got through (growing back after a run of successes).
//! * 400, 422: something in the batch is refused; it is split the same way to find which
//!   alert. An alert refused on its own (or alone too large) goes to the dead-letter file.
//!
//! While the batch waits, the queue holds it and the alerts behind it, up to
//! `buffer_max_events`; then the pipeline waits: backpressure, as for any sink that is down.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntGauge;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::{error, info, warn};

use super::dead_letter::DeadLetter;
use super::{Queue, SinkCtx, SinkErrorKind};
use crate::config::{HttpFormat, HttpSinkConfig};
use crate::model::AlertRecord;
use crate::retry::{Backoff, Delays};

/// How much of an error response goes into the log and the dead-letter file.
const SNIPPET_BYTES: usize = 300;
/// The longest `Retry-After` honoured: a peer must not park the sink for a day.
pub(super) const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);
/// How often a held sink says again, at ERROR, that it is held.
pub(super) const HELD_COMPLAINT_EVERY: Duration = Duration::from_secs(60);
/// Accepted requests in a row after which a batch size cut by a 413 doubles again.
const GROW_AFTER: u32 = 16;

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
    dead: DeadLetter,
}

/// What an HTTP status means for the batch that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Success,
    /// Worth the same request again later.
    Retry,
    /// Nothing will get through until the configuration is fixed: hold the alerts.
    Held(Held),
    /// 413: the body is too large.
    TooLarge,
    /// 400, 422: the endpoint refuses something in the body.
    Refused,
}

/// Why a sink is held, and so what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Unauthorized,
    Redirect,
    WrongUrl,
}

impl Held {
    fn fix(self) -> &'static str {
        match self {
            Held::Unauthorized => {
                "the endpoint refuses iocd's credentials: fix the sink's `token` (or the \
                 account's rights on the index); alerts are held until it accepts them"
            }
            Held::Redirect => {
                "the endpoint redirects, and a POST is not followed: set the sink's `url` \
                 to the location it names; alerts are held until then"
            }
            Held::WrongUrl => {
                "the endpoint does not take alerts at this URL: check the sink's `url` and \
                 `format`; alerts are held until it accepts them"
            }
        }
    }
}

fn classify(status: StatusCode) -> Class {
    match status.as_u16() {
        200..=299 => Class::Success,
        408 | 429 | 500..=599 => Class::Retry,
        401 | 403 | 407 => Class::Held(Held::Unauthorized),
        300..=399 => Class::Held(Held::Redirect),
        413 => Class::TooLarge,
        400 | 422 => Class::Refused,
        // 404, 405, 410, 415, ... and anything odd: the URL or format is wrong.
        _ => Class::Held(Held::WrongUrl),
    }
}

/// What one request achieved.
enum Outcome {
    Accepted,
    /// Connection error, timeout, 408, 429, 5xx.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Held {
        why: Held,
        status: StatusCode,
        reason: String,
        after: Option<Duration>,
    },
    /// 413, 400, 422 for the batch as a whole.
    Refused {
        too_large: bool,
        status: StatusCode,
        reason: String,
    },
    /// Elasticsearch: one fate per alert, in batch order.
    Items {
        fates: Vec<Fate>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    Accepted,
    /// 409 to a `create`: Elasticsearch has this `_id` already (a replay). Delivered.
    Duplicate,
    Retry(String),
    Refused {
        status: u16,
        reason: String,
    },
}

/// What the sink's task keeps between batches.
struct State {
    up: IntGauge,
    /// Since when the endpoint has not taken a batch (down or held), and when that was last
    /// logged at ERROR.
    failing_since: Option<Instant>,
    complained: Option<Instant>,
    /// Largest batch to gather: `batch_max`, less after a 413.
    limit: usize,
    accepted_in_a_row: u32,
}

impl State {
    fn up(&mut self, ctx: &SinkCtx) {
        self.up.set(1);
        if let Some(since) = self.failing_since.take() {
            info!(
                sink = %ctx.name, after = ?since.elapsed(),
                "the HTTP endpoint accepts alerts again"
            );
        }
        self.complained = None;
    }

    fn down(&mut self) {
        self.up.set(0);
        self.failing_since.get_or_insert_with(Instant::now);
    }

    /// Whether a held sink should say so at ERROR now.
    fn complain(&mut self) -> bool {
        let now = Instant::now();
        match self.complained {
            Some(t) if now.duration_since(t) < HELD_COMPLAINT_EVERY => false,
            _ => {
                self.complained = Some(now);
                true
            }
        }
    }
}

impl HttpSink {
    pub(super) fn new(cfg: &HttpSinkConfig, dead: DeadLetter) -> Result<HttpSink, SinkErrorKind> {
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
            dead,
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
                for a in batch {
                    out.extend_from_slice(b"{\"create\":{");
                    let mut sep = "";
                    // Without an index the URL names it (`/alerts/_bulk`).
                    if let Some(index) = &self.index {
                        out.extend_from_slice(b"\"_index\":");
                        out.extend_from_slice(index.as_bytes());
                        sep = ",";
                    }
                    if let Some(id) = alert_id(&a.json) {
                        out.extend_from_slice(sep.as_bytes());
                        out.extend_from_slice(b"\"_id\":");
                        serde_json::to_writer(&mut *out, &id).expect("a string serializes");
                    }
                    out.extend_from_slice(b"}}\n");
                    out.extend_from_slice(&a.json);
                    out.push(b'\n');
                }
            }
        }
    }

    /// Waits for the next batch (see the module docs) of at most `max` alerts and moves it
    /// into `batch`. False once the queue is closed and empty.
    async fn gather(&self, queue: &Queue, max: usize, batch: &mut Vec<AlertRecord>) -> bool {
        while queue.pending() == 0 {
            if queue.is_closed() {
                return false;
            }
            queue.wait().await;
        }
        let deadline = tokio::time::Instant::now() + self.batch_timeout;
        while queue.pending() < max && !queue.is_closed() {
            if tokio::time::timeout_at(deadline, queue.wait())
                .await
                .is_err()
            {
                break;
            }
        }
        queue.take(max, batch);
        true
    }

    /// Sends `batch` until every alert in it was delivered or refused for good (and
    /// dead-lettered); meanwhile it stays held in the queue.
    async fn deliver(&self, queue: &Queue, ctx: &SinkCtx, st: &mut State, batch: Vec<AlertRecord>) {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max).delays();
        // What is still to send, in order: a 413 or a 400 splits the front part in two.
        let mut parts: VecDeque<Vec<AlertRecord>> = VecDeque::from([batch]);
        let mut first = true;
        while let Some(part) = parts.front_mut() {
            if part.is_empty() {
                parts.pop_front();
                continue;
            }
            // Every request after the batch's first carries alerts sent before.
            if !first {
                ctx.retries.inc();
            }
            first = false;
            let mut body = Vec::with_capacity(part.iter().map(|a| a.json.len() + 80).sum());
            self.encode(part, &mut body);
            let started = Instant::now();
            let outcome = self.attempt(body, part.len()).await;
            ctx.latency.observe(started.elapsed().as_secs_f64());
            let wait = match outcome {
                Outcome::Accepted => {
                    st.up(ctx);
                    if part.len() >= st.limit && st.limit < self.batch_max {
                        st.accepted_in_a_row += 1;
                        if st.accepted_in_a_row >= GROW_AFTER {
                            st.limit = (st.limit * 2).min(self.batch_max);
                            st.accepted_in_a_row = 0;
                        }
                    }
                    ctx.delivered(part.iter());
                    queue.release(part.len());
                    parts.pop_front();
                    backoff.reset();
                    None
                }
                Outcome::Retry { reason, after } => {
                    ctx.errors.inc();
                    st.down();
                    let delay = self.delay(&mut backoff, after);
                    warn!(
                        sink = %ctx.name, error = %reason, alerts = part.len(),
                        held = queue.held(), retry_in = ?delay,
                        "HTTP delivery failed; holding the alerts and retrying"
                    );
                    Some(delay)
                }
                Outcome::Held {
                    why,
                    status,
                    reason,
                    after,
                } => {
                    ctx.errors.inc();
                    st.down();
                    let delay = self.delay(&mut backoff, after);
                    if st.complain() {
                        error!(
                            sink = %ctx.name, status = status.as_u16(), error = %reason,
                            held = queue.held(), retry_in = ?delay,
                            "{}", why.fix()
                        );
                    } else {
                        warn!(
                            sink = %ctx.name, status = status.as_u16(), error = %reason,
                            held = queue.held(), retry_in = ?delay,
                            "HTTP endpoint still refuses; holding the alerts"
                        );
                    }
                    Some(delay)
                }
                Outcome::Refused {
                    too_large,
                    status,
                    reason,
                } => {
                    ctx.errors.inc();
                    st.up(ctx);
                    if part.len() > 1 {
                        let n = part.len();
                        if too_large {
                            st.limit = st.limit.min(n / 2).max(1);
                            st.accepted_in_a_row = 0;
                        }
                        let back = part.split_off(n / 2);
                        parts.insert(1, back);
                        warn!(
                            sink = %ctx.name, status = status.as_u16(), error = %reason, alerts = n,
                            "the HTTP endpoint refused the batch; sending it again in halves"
                        );
                    } else {
                        let label = if too_large { "too_large" } else { "refused" };
                        let detail = format!("HTTP {status}: {reason}");
                        for a in part.drain(..) {
                            ctx.refused(
                                queue,
                                &self.dead,
                                &a,
                                Some(status.as_u16()),
                                label,
                                &detail,
                            );
                        }
                        parts.pop_front();
                    }
                    None
                }
                Outcome::Items { fates } => {
                    st.up(ctx);
                    let mut retry = Vec::new();
                    let mut why_retry = None;
                    let mut delivered = Vec::new();
                    for (a, fate) in part.drain(..).zip(fates) {
                        match fate {
                            Fate::Accepted | Fate::Duplicate => delivered.push(a),
                            Fate::Retry(reason) => {
                                why_retry.get_or_insert(reason);
                                retry.push(a);
                            }
                            Fate::Refused { status, reason } => {
                                ctx.errors.inc();
                                ctx.refused(
                                    queue,
                                    &self.dead,
                                    &a,
                                    Some(status),
                                    "item_error",
                                    &reason,
                                );
                            }
                        }
                    }
                    ctx.delivered(&delivered);
                    queue.release(delivered.len());
                    *part = retry;
                    if part.is_empty() {
                        parts.pop_front();
                        backoff.reset();
                        None
                    } else {
                        ctx.errors.inc();
                        let delay = self.delay(&mut backoff, None);
                        warn!(
                            sink = %ctx.name, error = %why_retry.unwrap_or_default(),
                            alerts = part.len(), retry_in = ?delay,
                            "Elasticsearch could not take some alerts now; retrying them"
                        );
                        Some(delay)
                    }
                }
            };
            if let Some(delay) = wait {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// The next backoff delay, with jitter, and at least what `Retry-After` asked.
    fn delay(&self, backoff: &mut Delays, after: Option<Duration>) -> Duration {
        backoff
            .next_delay()
            .max(after.unwrap_or_default().min(RETRY_AFTER_MAX))
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
        let class = classify(status);
        if class == Class::Success {
            return match self.format {
                HttpFormat::Elasticsearch => bulk_outcome(resp, n).await,
                HttpFormat::Json | HttpFormat::SplunkHec => Outcome::Accepted,
            };
        }
        let after = retry_after(resp.headers(), std::time::SystemTime::now());
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|l| printable(&String::from_utf8_lossy(l.as_bytes())));
        let text = snippet(resp).await;
        let reason = match location {
            Some(to) if status.is_redirection() => {
                format!("HTTP {status}, Location: {to}")
            }
            _ => format!("HTTP {status}: {text}"),
        };
        match class {
            Class::Success => unreachable!("handled above"),
            Class::Retry => Outcome::Retry { reason, after },
            Class::Held(why) => Outcome::Held {
                why,
                status,
                reason,
                after,
            },
            Class::TooLarge | Class::Refused => Outcome::Refused {
                too_large: class == Class::TooLarge,
                status,
                reason: text,
            },
        }
    }
}

/// The id to give Elasticsearch: the alert's `event.id` (ECS), else `metadata.uid` (OCSF).
fn alert_id(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Alert {
        event: Option<Id>,
        metadata: Option<Uid>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Uid {
        uid: Option<String>,
    }
    let a: Alert = serde_json::from_slice(json).ok()?;
    a.event
        .and_then(|e| e.id)
        .or_else(|| a.metadata.and_then(|m| m.uid))
        .filter(|id| !id.is_empty() && id.len() <= 512)
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
    // Elasticsearch says a few hundred bytes per item; far more is not its answer.
    let max = (1 << 20) + n * 16 * 1024;
    let body = match read_at_most(resp, max).await {
        Ok((_, true)) => {
            return Outcome::Retry {
                reason: format!("a bulk response of more than {max} bytes for {n} documents"),
                after: None,
            };
        }
        Ok((b, false)) => b,
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
    let fates = parsed
        .items
        .iter()
        .map(|item| {
            let Some(item) = item.values().next() else {
                return Fate::Retry("a bulk item without a result".into());
            };
            let reason = || {
                let mut r = format!("item status {}", item.status);
                if let Some(e) = &item.error {
                    r.push_str(": ");
                    r.push_str(&e.to_string());
                }
                r.truncate(r.floor_char_boundary(SNIPPET_BYTES));
                r
            };
            match StatusCode::from_u16(item.status).map(classify) {
                Ok(Class::Success) => Fate::Accepted,
                // `create` of an `_id` Elasticsearch has: this alert was delivered before.
                _ if item.status == 409 => Fate::Duplicate,
                // An item refused for lack of rights waits like a request would.
                Ok(Class::Retry | Class::Held(_)) => Fate::Retry(reason()),
                _ => Fate::Refused {
                    status: item.status,
                    reason: reason(),
                },
            }
        })
        .collect();
    Outcome::Items { fates }
}

/// `Retry-After`: seconds, or an HTTP date (a date in the past is no wait).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`) is RFC 2822's form.
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = std::time::SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or_default())
}

/// The start of an error response, for the log: at most [`SNIPPET_BYTES`] are read (a peer
/// may send gigabytes), and control characters become spaces (a peer must not write lines
/// into our log).
async fn snippet(resp: reqwest::Response) -> String {
    let (bytes, _) = read_at_most(resp, SNIPPET_BYTES).await.unwrap_or_default();
    printable(&String::from_utf8_lossy(&bytes))
}

fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Up to `max` bytes of the body, and whether there was more (left unread).
async fn read_at_most(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
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
    let up = ctx.metrics.sink_up.with_label_values(&[ctx.name.as_str()]);
    // Up until the endpoint says otherwise.
    up.set(1);
    let mut st = State {
        up,
        failing_since: None,
        complained: None,
        limit: sink.batch_max,
        accepted_in_a_row: 0,
    };
    loop {
        let mut batch = Vec::with_capacity(st.limit);
        if !sink.gather(&queue, st.limit, &mut batch).await {
            break;
        }
        sink.deliver(&queue, &ctx, &mut st, batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertPriority;

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
        HttpSink::new(&cfg, DeadLetter::open(None, 0).unwrap()).unwrap()
    }

    fn alerts() -> Vec<AlertRecord> {
        (0..2)
            .map(|i| AlertRecord {
                json: format!("{{\"n\":{i}}}").into_bytes().into(),
                time: 100 + i,
                priority: AlertPriority::Untriaged,
                key: std::sync::Arc::from("k"),
                receipt: None,
                formats: None,
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
    fn elasticsearch_ids_from_event_id_or_metadata_uid() {
        let s = sink(HttpFormat::Elasticsearch, Some("alerts"));
        let docs = [
            r#"{"event":{"id":"abc"},"n":0}"#,
            r#"{"metadata":{"uid":"d\"f"},"n":1}"#,
            r#"{"event":{"kind":"x"},"n":2}"#,
        ];
        let batch: Vec<AlertRecord> = docs
            .iter()
            .map(|d| AlertRecord {
                json: d.as_bytes().into(),
                time: 0,
                priority: AlertPriority::Untriaged,
                key: std::sync::Arc::from("k"),
                receipt: None,
                formats: None,
            })
            .collect();
        let mut out = Vec::new();
        s.encode(&batch, &mut out);
        let want = format!(
            "{{\"create\":{{\"_index\":\"alerts\",\"_id\":\"abc\"}}}}\n{}\n\
             {{\"create\":{{\"_index\":\"alerts\",\"_id\":\"d\\\"f\"}}}}\n{}\n\
             {{\"create\":{{\"_index\":\"alerts\"}}}}\n{}\n",
            docs[0], docs[1], docs[2]
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
        let s = sink(HttpFormat::Elasticsearch, None);
        let mut out = Vec::new();
        s.encode(&batch[..1], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{{\"create\":{{\"_id\":\"abc\"}}}}\n{}\n", docs[0])
        );
    }

    #[test]
    fn status_classes() {
        let c = |n: u16| classify(StatusCode::from_u16(n).unwrap());
        for (status, want) in [
            (200, Class::Success),
            (201, Class::Success),
            (204, Class::Success),
            (408, Class::Retry),
            (429, Class::Retry),
            (500, Class::Retry),
            (503, Class::Retry),
            (599, Class::Retry),
            (401, Class::Held(Held::Unauthorized)),
            (403, Class::Held(Held::Unauthorized)),
            (407, Class::Held(Held::Unauthorized)),
            (301, Class::Held(Held::Redirect)),
            (302, Class::Held(Held::Redirect)),
            (307, Class::Held(Held::Redirect)),
            (308, Class::Held(Held::Redirect)),
            (413, Class::TooLarge),
            (400, Class::Refused),
            (422, Class::Refused),
            (404, Class::Held(Held::WrongUrl)),
            (405, Class::Held(Held::WrongUrl)),
            (409, Class::Held(Held::WrongUrl)),
            (101, Class::Held(Held::WrongUrl)),
            (600, Class::Held(Held::WrongUrl)),
            (999, Class::Held(Held::WrongUrl)),
        ] {
            assert_eq!(c(status), want, "{status}");
        }
    }

    #[test]
    fn peers_text_cannot_write_log_lines() {
        assert_eq!(
            printable(" bad\nINFO fake line\r\x1b[31m "),
            "bad INFO fake line  [31m"
        );
    }

    #[test]
    fn retry_after_seconds_or_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:00Z is 1445412480: ten seconds after `now`.
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
        let later = now + Duration::from_secs(60);
        assert_eq!(retry_after(&h, later), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
