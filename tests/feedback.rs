//! Feedback and sightings over real HTTP: false-positive marks through the admin API
//! (defanged input, persistence across a restart, listing, summary, removal, errors), and
//! MISP sightings POSTed to a local axum server that records every request and fails on
//! demand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use iocd::config::SightingsConfig;
use iocd::daemon::admin::{self, AdminHandle};
use iocd::feedback::Feedback;
use iocd::model::Shutdown;
use iocd::sightings::{Exporter, Sightings};
use iocd::telemetry::Metrics;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use iocd_testkit::support;
use support::free_port;

fn runtime() -> Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Admin {
    rt: Runtime,
    handle: AdminHandle,
    shutdown: Shutdown,
    client: reqwest::Client,
}

impl Admin {
    fn start(feedback: Arc<Feedback>) -> Admin {
        let rt = runtime();
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let shutdown = Shutdown::new();
        let handle = admin::spawn_with_feedback(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            tx,
            shutdown.clone(),
            Some(feedback),
        )
        .unwrap();
        Admin {
            rt,
            handle,
            shutdown,
            client: reqwest::Client::new(),
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.handle.local_addr());
        self.rt.block_on(async {
            let mut req = self.client.request(method, url);
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    fn stop(self) {
        self.shutdown.cancel();
        self.handle.join();
    }
}

#[test]
fn marks_through_the_admin_api_take_effect_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("feedback.json");
    let metrics = Metrics::new();
    let fb = Arc::new(Feedback::new(&metrics, Some(state.clone())));
    let admin = Admin::start(fb.clone());
    use reqwest::Method;

    let (status, mark) = admin.call(
        Method::POST,
        "/feedback",
        Some(
            json!({"indicator": "hxxp://CDN[.]example/x", "reason": "shared CDN",
                    "analyst": "alice", "expires": "30d"}),
        ),
    );
    assert_eq!(status, 201, "{mark}");
    assert_eq!(mark["indicator"], "http://cdn.example/x");
    assert_eq!(mark["origin"], "api");
    assert!(mark["expires"].is_string());
    let (status, _) = admin.call(
        Method::POST,
        "/feedback",
        Some(
            json!({"indicator": "198.51.100.7", "host": "10.1.2.3", "reason": "our scanner",
                    "analyst": "bob"}),
        ),
    );
    assert_eq!(status, 201);

    // In effect at once, for the matcher threads.
    assert!(fb.verdict("http://cdn.example/x", Some("any")).is_some());
    assert!(fb.verdict("198.51.100.7", Some("10.1.2.3")).is_some());
    assert!(fb.verdict("198.51.100.7", Some("10.9.9.9")).is_none());
    assert!(
        metrics
            .render()
            .contains("iocd_feedback_suppressed_hits_total 2")
    );

    let (status, list) = admin.call(Method::GET, "/feedback", None);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["hits"], 1);
    let (_, summary) = admin.call(Method::GET, "/feedback/summary", None);
    assert_eq!(summary["active"]["api"], 2);
    assert_eq!(summary["suppressed_hits"], 2);
    assert_eq!(summary["top"].as_array().unwrap().len(), 2);

    // Bad requests say why and change nothing.
    for body in [
        json!({"indicator": "1.2.3.999", "reason": "r", "analyst": "a"}),
        json!({"indicator": "1.2.3.4", "reason": "", "analyst": "a"}),
        json!({"indicator": "1.2.3.4", "reason": "r", "analyst": "a", "expires": "someday"}),
        json!({"indicator": "1.2.3.4", "reason": "r", "analyst": "a", "colour": "red"}),
    ] {
        let (status, err) = admin.call(Method::POST, "/feedback", Some(body));
        assert_eq!(status, 400, "{err}");
        assert!(err["error"].is_string());
    }

    // Removal by query string, in any form of the indicator; a second time: 404.
    let (status, gone) = admin.call(
        Method::DELETE,
        "/feedback?indicator=198.51.100%5B.%5D7&host=10.1.2.3",
        None,
    );
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["host"], "10.1.2.3");
    let (status, _) = admin.call(
        Method::DELETE,
        "/feedback",
        Some(json!({"indicator": "198.51.100.7", "host": "10.1.2.3"})),
    );
    assert_eq!(status, 404);
    assert!(fb.verdict("198.51.100.7", Some("10.1.2.3")).is_none());
    admin.stop();

    // A restart reads the state file back.
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved.as_array().unwrap().len(), 1);
    let again = Feedback::new(&Metrics::new(), Some(state));
    assert!(again.verdict("http://cdn.example/x", None).is_some());
    assert_eq!(again.list()[0].analyst, "alice");
}

#[test]
fn without_feedback_the_routes_answer_404() {
    let rt = runtime();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let shutdown = Shutdown::new();
    let h = admin::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Metrics::new()),
        tx,
        shutdown.clone(),
    )
    .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("http://{}/feedback", h.local_addr()))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 404);
    shutdown.cancel();
    h.join();
}

/// A stand-in MISP: records (authorization, body) of every `/sightings/add` and answers the
/// next status from `script` (200 once it is empty).
#[derive(Clone, Default)]
struct Misp {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

async fn sightings_add(State(m): State<Misp>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    m.seen
        .lock()
        .unwrap()
        .push((auth, serde_json::from_slice(&body).unwrap()));
    let next = {
        let mut s = m.script.lock().unwrap();
        if s.is_empty() { 200 } else { s.remove(0) }
    };
    StatusCode::from_u16(next).unwrap()
}

fn start_misp(rt: &Runtime, misp: Misp) -> SocketAddr {
    let app = axum::Router::new()
        .route("/misp/sightings/add", axum::routing::post(sightings_add))
        .with_state(misp);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn config(misp: Option<SocketAddr>, file: Option<std::path::PathBuf>) -> SightingsConfig {
    SightingsConfig {
        misp_url: misp.map(|a| format!("http://{a}/misp/")),
        api_key: Some("secret-key".into()),
        file,
        source: "iocd-test".into(),
        retry_delay: Duration::from_millis(10),
        request_timeout: Duration::from_secs(2),
        ..SightingsConfig::default()
    }
}

#[test]
fn sightings_go_to_misp_and_the_file_aggregated() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let misp = Misp::default();
    // The first request fails twice with 503: retried within the flush.
    misp.script.lock().unwrap().extend([503, 503]);
    let addr = start_misp(&rt, misp.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sightings.jsonl");
    let metrics = Metrics::new();
    let mut exporter = Exporter::new(&config(Some(addr), Some(file.clone())), &metrics).unwrap();
    let s = Sightings::new(&metrics, 1000);
    s.record("198.51.100.23", false, 1_700_000_000);
    s.record("198.51.100.23", false, 1_700_000_030);
    s.record("evil.example", false, 1_700_000_010);
    s.record("cdn.example", true, 1_700_000_020);
    rt.block_on(exporter.flush(&s));

    let seen = misp.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        4,
        "two failures, then one request per type: {seen:?}"
    );
    for (auth, _) in &seen {
        assert_eq!(auth, "secret-key");
    }
    assert_eq!(
        seen[2].1,
        json!({"values": ["198.51.100.23", "evil.example"], "type": "0",
               "source": "iocd-test", "timestamp": 1_700_000_030})
    );
    assert_eq!(
        seen[3].1,
        json!({"values": ["cdn.example"], "type": "1", "source": "iocd-test",
               "timestamp": 1_700_000_020})
    );
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["value"], "198.51.100.23");
    assert_eq!(lines[0]["count"], 2);
    assert_eq!(lines[0]["first_seen"], "2023-11-14T22:13:20Z");
    assert_eq!(lines[0]["last_seen"], "2023-11-14T22:13:50Z");
    assert_eq!(lines[2]["type"], "1");
    let text = metrics.render();
    assert!(text.contains("iocd_sightings_retries_total 2"), "{text}");
    assert!(
        text.contains("iocd_sightings_sent_total{output=\"misp\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("iocd_sightings_sent_total{output=\"file\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("iocd_sightings_recorded_total{type=\"0\"} 3"),
        "{text}"
    );

    // Refused for good (400): dropped and counted, not retried.
    misp.script.lock().unwrap().push(400);
    s.record("bad.example", false, 1_700_000_100);
    rt.block_on(exporter.flush(&s));
    assert_eq!(misp.seen.lock().unwrap().len(), 5);
    assert!(
        metrics
            .render()
            .contains("iocd_sightings_dropped_total{reason=\"refused\"} 1")
    );
}

#[test]
fn sightings_wait_for_misp_to_come_back() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Nothing listens here yet.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let metrics = Metrics::new();
    let mut exporter = Exporter::new(&config(Some(addr), None), &metrics).unwrap();
    let s = Sightings::new(&metrics, 1000);
    s.record("198.51.100.23", false, 100);
    rt.block_on(exporter.flush(&s));
    assert!(
        metrics
            .render()
            .contains("iocd_sightings_errors_total{output=\"misp\"} 1")
    );
    // Same indicator again while MISP is down: one entry, its count summed; then MISP is up.
    s.record("198.51.100.23", false, 200);
    let misp = Misp::default();
    let app = axum::Router::new()
        .route("/misp/sightings/add", axum::routing::post(sightings_add))
        .with_state(misp.clone());
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    rt.block_on(exporter.flush(&s));
    let seen = misp.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1["values"], json!(["198.51.100.23"]));
    assert_eq!(seen[0].1["timestamp"], 200);
}

/// A mark in any form a feed or an analyst writes matches the hits of the indicator as the
/// engine reports it (`IocSet::pattern`'s text, what triage asks `verdict` about).
#[test]
fn marks_match_what_the_engine_reports() {
    use iocd::ioc::SetBuilder;
    use iocd_engine::Scratch;
    let mut b = SetBuilder::new();
    b.add_plain_list(
        "feed",
        "feed.txt",
        b"http://evil.com/\nEVIL.example.\nbad.example/x\n2001:DB8::1\n198.51.100.0/24\nhxxps://c2[.]example/gate.php?id=1\n",
    );
    let set = b.build();
    let reported = |line: &str| -> Vec<String> {
        let mut hits = Vec::new();
        set.scan(line.as_bytes(), &mut Scratch::new(), &mut hits);
        hits.iter().map(|h| set.pattern(h.id).to_string()).collect()
    };
    for (mark, line) in [
        ("hxxp://evil[.]com/", "GET http://evil.com/ 200"),
        ("HTTP://EVIL.COM/", "GET http://evil.com/ 200"),
        ("evil[.]example", "query a.evil.example A"),
        ("EVIL.EXAMPLE.", "query evil.example A"),
        ("bad.example/x", "GET http://bad.example/x 200"),
        ("bad[.]example/x", "GET https://bad.example/x 200"),
        ("2001:db8:0::1", "SRC=2001:db8::1 DST=10.0.0.1"),
        ("198.51.100.0/24", "SRC=198.51.100.9 DST=10.0.0.1"),
        (
            "hxxps://c2[.]example/gate.php?id=1",
            "GET https://c2.example/gate.php?id=1",
        ),
    ] {
        let got = reported(line);
        assert!(!got.is_empty(), "no hit in {line}");
        let f = Feedback::default();
        f.add(iocd::feedback::MarkRequest {
            indicator: mark.into(),
            reason: "test".into(),
            analyst: "t".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(
            got.iter().any(|i| f.verdict(i, None).is_some()),
            "mark {mark:?} does not match {got:?} (line {line:?})"
        );
    }
}

/// Hosts given as IPv4-mapped IPv6 (dual-stack logs) are their IPv4 address.
#[test]
fn host_marks_match_ipv4_mapped_hosts() {
    let f = Feedback::default();
    f.add(iocd::feedback::MarkRequest {
        indicator: "198.51.100.7".into(),
        host: Some("10.1.2.3".into()),
        reason: "scanner".into(),
        analyst: "t".into(),
        ..Default::default()
    })
    .unwrap();
    assert!(f.verdict("198.51.100.7", Some("::ffff:10.1.2.3")).is_some());
    assert!(
        f.verdict("198.51.100.7", Some("[::ffff:10.1.2.3]"))
            .is_some()
    );
    let f = Feedback::default();
    f.add(iocd::feedback::MarkRequest {
        indicator: "198.51.100.7".into(),
        host: Some("::ffff:10.1.2.3".into()),
        reason: "scanner".into(),
        analyst: "t".into(),
        ..Default::default()
    })
    .unwrap();
    assert!(f.verdict("198.51.100.7", Some("10.1.2.3")).is_some());
}
