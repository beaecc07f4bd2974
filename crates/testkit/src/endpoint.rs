//! What the sink tests share: a scriptable HTTP endpoint on loopback that records every
//! request it answers, a runtime for it, an HTTP sink config with test-sized timings, and a
//! poll-until helper, for the test files that drive sinks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use iocd::config::{AlertFormat, HttpFormat, HttpSinkConfig};
use serde_json::Value;
use tokio::runtime::Runtime;

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `cond` every 10 ms until it holds; fails the test with `what` after `within`.
pub fn wait_within(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An HTTP sink to `url` with small batches and fast retries.
pub fn http_cfg(url: String, format: HttpFormat) -> HttpSinkConfig {
    HttpSinkConfig {
        name: None,
        url,
        format,
        token: None,
        index: None,
        batch_max_events: 5,
        batch_timeout: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        retry_initial_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(40),
        buffer_max_events: 100,
        alert_format: AlertFormat::Ecs,
        dead_letter: None,
        dead_letter_max_bytes: 1 << 20,
    }
}

/// One request the endpoint answered.
#[derive(Clone)]
pub struct Request {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub status: u16,
    pub at: Instant,
}

/// What the endpoint answers.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// `status` with an empty body and no headers.
pub fn reply(status: u16) -> Reply {
    Reply {
        status,
        body: String::new(),
        headers: Vec::new(),
    }
}

impl From<(u16, String)> for Reply {
    fn from((status, body): (u16, String)) -> Reply {
        Reply {
            body,
            ..reply(status)
        }
    }
}

type Respond = dyn Fn(usize, &[u8]) -> Reply + Send + Sync;

pub struct Endpoint {
    requests: Mutex<Vec<Request>>,
    respond: Box<Respond>,
}

impl Endpoint {
    /// Serves `POST /in` on 127.0.0.1:0; `respond(i, body)` answers the i-th request (from 0).
    /// Returns the endpoint and its URL.
    pub fn start<R: Into<Reply>>(
        rt: &Runtime,
        respond: impl Fn(usize, &[u8]) -> R + Send + Sync + 'static,
    ) -> (Arc<Endpoint>, String) {
        let ep = Arc::new(Endpoint {
            requests: Mutex::new(Vec::new()),
            respond: Box::new(move |i, body| respond(i, body).into()),
        });
        let app = axum::Router::new()
            .route("/in", axum::routing::post(handle))
            .with_state(ep.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await });
        (ep, url)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Bodies of the requests that were answered with `status`.
    pub fn bodies(&self, status: u16) -> Vec<Vec<u8>> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == status)
            .map(|r| r.body)
            .collect()
    }

    /// The alerts of the requests answered 2xx, in order (JSON-array bodies).
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| array(&r.body))
            .collect()
    }
}

async fn handle(
    State(ep): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let mut requests = ep.requests.lock().unwrap();
    let r = (ep.respond)(requests.len(), &body);
    requests.push(Request {
        headers,
        body: body.to_vec(),
        status: r.status,
        at: Instant::now(),
    });
    let mut headers = HeaderMap::new();
    for (k, v) in r.headers {
        headers.insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    (StatusCode::from_u16(r.status).unwrap(), headers, r.body)
}

/// A JSON-array body's alerts.
pub fn array(body: &[u8]) -> Vec<Value> {
    serde_json::from_slice(body).expect("a JSON array")
}
