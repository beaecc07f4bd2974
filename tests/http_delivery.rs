//! Nothing refused is lost: the HTTP sink against local endpoints that refuse in every way
//! a real one does (401, 403, 408, 429 with `Retry-After`, 503, 413, 400, a redirect), an
//! Elasticsearch `_bulk` stand-in, and the daemon's `event.id` across a replay.
//!
//! Elasticsearch is not available here: [`EsStandIn`] answers as the `_bulk` API documents
//! it: one result per action in order, `errors: true` when any failed, `201` for a created
//! document, `409 version_conflict_engine_exception` for a `create` of an `_id` it already
//! has, and `400 mapper_parsing_exception` for a document that does not fit the mapping.
//!
//! The first tests drive [`Sinks`] in-process from plain threads, as the matcher threads do;
//! the last ones start the real `iocd` binary (file source in, HTTP or file sinks out) and
//! read its `/metrics` and its log.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iocd::config::{HttpFormat, SinkConfig};
use iocd::model::{AlertPriority, AlertRecord, Receipt};
use iocd::sink::Sinks;
use iocd::telemetry::Metrics;
use serde_json::{Value, json};

use endpoint::{Endpoint, Reply, array, http_cfg, reply, runtime, wait_within};
use iocd_testkit::endpoint;
use iocd_testkit::support;
use support::{
    TEST_FEED, free_port, http_get, iocd_run, metric_sum, read_alerts, start_iocd, stop_iocd,
    write_config,
};

/// Alert `n`, with `event.id` `id-n`.
fn alert(n: usize) -> AlertRecord {
    AlertRecord {
        json: json!({"event": {"id": format!("id-{n}")}, "n": n})
            .to_string()
            .into_bytes()
            .into(),
        time: 1_700_000_000 + n as i64,
        priority: AlertPriority::Untriaged,
        key: Arc::from("k"),
        receipt: None,
        formats: None,
    }
}

/// Polls `cond` until it holds; fails the test with `what` after 20 s.
fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_within(Duration::from_secs(20), what, cond);
}

fn delivered(m: &Metrics) -> u64 {
    m.alerts_out.with_label_values(&["http0", "none"]).get()
}
fn up(m: &Metrics) -> i64 {
    m.sink_up.with_label_values(&["http0"]).get()
}
fn dead_letters(m: &Metrics, reason: &str) -> u64 {
    m.sink_dead_letters
        .with_label_values(&["http0", reason])
        .get()
}
fn dropped(m: &Metrics, reason: &str) -> u64 {
    m.sink_dropped.with_label_values(&["http0", reason]).get()
}

/// A receipt whose settling is seen, and how many times it fired.
fn receipt() -> (Receipt, Arc<AtomicUsize>) {
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    (
        Receipt::new(move || {
            f.fetch_add(1, Ordering::SeqCst);
        }),
        fired,
    )
}

fn ns(alerts: &[Value]) -> Vec<usize> {
    alerts
        .iter()
        .map(|a| a["n"].as_u64().unwrap() as usize)
        .collect()
}

fn dead_letter_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letters are JSON lines"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// In-process

/// 401 or 403 for a while: the alerts wait (the buffer fills, then the sender is held), the
/// sink is down and nothing is settled; once the endpoint accepts, every alert arrives
/// exactly once, in order, and the sink is up again.
fn held_while_refused_then_delivered_once(status: u16) {
    let rt = runtime();
    let ok = Arc::new(AtomicBool::new(false));
    let ok2 = ok.clone();
    let (ep, url) = Endpoint::start(&rt, move |_, _| {
        if ok2.load(Ordering::SeqCst) {
            reply(200)
        } else {
            Reply {
                body: r#"{"error":"invalid token"}"#.into(),
                ..reply(status)
            }
        }
    });
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.batch_max_events = 2;
    cfg.buffer_max_events = 4;
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    let (batch_receipt, settled) = receipt();
    let holds: Vec<AlertRecord> = (0..10)
        .map(|n| AlertRecord {
            receipt: Some(batch_receipt.hold()),
            formats: None,
            ..alert(n)
        })
        .collect();
    batch_receipt.settle();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let producer = std::thread::spawn(move || {
        for a in holds {
            tx.send_blocking(a);
            sent2.fetch_add(1, Ordering::SeqCst);
        }
    });
    wait_for("a full buffer and a held sender", || {
        metrics.sink_buffered.with_label_values(&["http0"]).get() == 4
            && sent.load(Ordering::SeqCst) == 4
    });
    wait_for("several refused tries", || ep.requests().len() >= 4);
    assert_eq!(up(&metrics), 0, "refused credentials: the sink is down");
    assert_eq!(sent.load(Ordering::SeqCst), 4, "the sender is held");
    assert!(!producer.is_finished());
    assert_eq!(delivered(&metrics), 0);
    assert_eq!(
        settled.load(Ordering::SeqCst),
        0,
        "nothing settles while held"
    );
    assert_eq!(
        dropped(&metrics, "refused") + dead_letters(&metrics, "refused"),
        0
    );

    ok.store(true, Ordering::SeqCst);
    producer.join().unwrap();
    wait_for("all 10 delivered", || delivered(&metrics) == 10);
    let got = ep.accepted();
    assert_eq!(ns(&got), (0..10).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = got
        .iter()
        .map(|a| a["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10, "each event.id exactly once");
    assert_eq!(up(&metrics), 1);
    wait_for("the batch receipt", || settled.load(Ordering::SeqCst) == 1);
    let refused = ep.requests().iter().filter(|r| r.status == status).count() as u64;
    assert_eq!(
        metrics.sink_errors.with_label_values(&["http0"]).get(),
        refused
    );
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.sinks[0].rejected, 0);
}

#[test]
fn http_401_holds_the_alerts_until_the_token_works() {
    held_while_refused_then_delivered_once(401);
}

#[test]
fn http_403_holds_the_alerts_until_the_token_works() {
    held_while_refused_then_delivered_once(403);
}

#[test]
fn http_408_429_503_are_retried_and_retry_after_is_honoured() {
    let rt = runtime();
    let (ep, url) = Endpoint::start(&rt, |i, _| match i {
        0 => reply(408),
        1 => Reply {
            headers: vec![("retry-after", "1".into())],
            ..reply(429)
        },
        2 => reply(503),
        _ => reply(200),
    });
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[SinkConfig::Http(http_cfg(url, HttpFormat::Json))],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    let tx = sinks.sender();
    for n in 0..3 {
        tx.send_blocking(alert(n));
    }
    wait_for("3 delivered", || delivered(&metrics) == 3);
    let r = ep.requests();
    let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [408, 429, 503, 200]);
    assert!(r.iter().all(|r| ns(&array(&r.body)) == [0, 1, 2]));
    // The backoff is at most 40 ms here: only Retry-After makes this wait.
    let waited = r[2].at - r[1].at;
    assert!(waited >= Duration::from_millis(990), "{waited:?}");
    assert_eq!(metrics.sink_retries.with_label_values(&["http0"]).get(), 3);
    assert_eq!(metrics.sink_errors.with_label_values(&["http0"]).get(), 3);
    assert_eq!(up(&metrics), 1);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn http_413_splits_batches_until_they_fit_and_later_batches_stay_small() {
    let rt = runtime();
    // Refuses bodies of more than 3 alerts.
    let (ep, url) = Endpoint::start(&rt, |_, body| {
        if array(body).len() > 3 {
            reply(413)
        } else {
            reply(200)
        }
    });
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.batch_max_events = 10;
    cfg.batch_timeout = Duration::from_secs(1);
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    for n in 0..10 {
        tx.send_blocking(alert(n));
    }
    wait_for("10 delivered", || delivered(&metrics) == 10);
    let first = ep.requests();
    assert!(
        first.iter().any(|r| r.status == 413),
        "the 10 went as one batch first"
    );
    for n in 10..20 {
        tx.send_blocking(alert(n));
    }
    wait_for("20 delivered", || delivered(&metrics) == 20);
    let all = ep.requests();
    assert_eq!(
        ns(&ep.accepted()),
        (0..20).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(
        all.iter()
            .filter(|r| r.status == 200)
            .all(|r| array(&r.body).len() <= 3)
    );
    assert!(
        all[first.len()..].iter().all(|r| r.status == 200),
        "after a 413, batches are gathered at the size that got through"
    );
    assert_eq!(dropped(&metrics, "too_large"), 0);
    assert_eq!(dead_letters(&metrics, "too_large"), 0);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn alerts_refused_alone_go_to_the_dead_letter_file_and_settle() {
    let rt = runtime();
    // Alert 3 breaks the endpoint's schema (400); alert 6 is too large even alone (413).
    let (ep, url) = Endpoint::start(&rt, |_, body| {
        let n = ns(&array(body));
        if n.contains(&3) {
            Reply {
                body: r#"{"error":"field n: 3 is not allowed"}"#.into(),
                ..reply(400)
            }
        } else if n.contains(&6) {
            reply(413)
        } else {
            reply(200)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.batch_max_events = 8;
    cfg.batch_timeout = Duration::from_secs(1);
    cfg.dead_letter = Some(dead.clone());
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    let (batch_receipt, settled) = receipt();
    for n in 0..8 {
        tx.send_blocking(AlertRecord {
            receipt: Some(batch_receipt.hold()),
            formats: None,
            ..alert(n)
        });
    }
    batch_receipt.settle();
    wait_for("6 delivered and 2 dead letters", || {
        delivered(&metrics) == 6
            && dead_letters(&metrics, "refused") == 1
            && dead_letters(&metrics, "too_large") == 1
    });
    assert_eq!(ns(&ep.accepted()), [0, 1, 2, 4, 5, 7]);
    let lines = dead_letter_lines(&dead);
    assert_eq!(lines.len(), 2);
    let by_n: HashMap<u64, &Value> = lines
        .iter()
        .map(|l| (l["alert"]["n"].as_u64().unwrap(), l))
        .collect();
    assert_eq!(by_n[&3]["status"], 400);
    assert_eq!(by_n[&3]["sink"], "http0");
    assert!(
        by_n[&3]["reason"]
            .as_str()
            .unwrap()
            .contains("3 is not allowed"),
        "{}",
        by_n[&3]
    );
    assert_eq!(by_n[&3]["alert"]["event"]["id"], "id-3");
    assert_eq!(by_n[&6]["status"], 413);
    assert!(by_n[&6]["time"].is_string());
    wait_for("every alert settled", || {
        settled.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        dropped(&metrics, "refused") + dropped(&metrics, "too_large"),
        0
    );
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.sinks[0].rejected, 2);
}

#[test]
fn a_full_dead_letter_file_means_an_error_log_and_a_count_never_silence() {
    let rt = runtime();
    let (_ep, url) = Endpoint::start(&rt, |_, _| reply(422));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.batch_max_events = 1;
    cfg.dead_letter = Some(dead.clone());
    // Room for one line: the first alert fits, the second does not.
    cfg.dead_letter_max_bytes = 200;
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    tx.send_blocking(alert(0));
    wait_for("one dead letter", || dead_letters(&metrics, "refused") == 1);
    tx.send_blocking(alert(1));
    wait_for("one counted drop", || dropped(&metrics, "refused") == 1);
    assert_eq!(
        ns(&dead_letter_lines(&dead)
            .iter()
            .map(|l| l["alert"].clone())
            .collect::<Vec<_>>()),
        [0]
    );
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.sinks[0].rejected, 2);
}

// ---------------------------------------------------------------------------------------
// Elasticsearch `_bulk`

/// Answers `_bulk` as Elasticsearch documents it (see the module docs): documents are
/// kept by `_id`; a document whose `n` is in `unmappable` fails the mapping.
struct EsStandIn {
    docs: Mutex<HashMap<String, Value>>,
    unmappable: Vec<u64>,
    requests: AtomicUsize,
}

impl EsStandIn {
    fn bulk(&self, body: &[u8]) -> Reply {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.ends_with('\n'), "NDJSON ends with a newline");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut docs = self.docs.lock().unwrap();
        let mut items = Vec::new();
        for pair in lines.chunks(2) {
            let action = pair[0]["create"].as_object().expect("only create actions");
            let id = action["_id"].as_str().expect("an _id").to_owned();
            assert_eq!(action["_index"], "alerts");
            assert_eq!(pair[1]["event"]["id"], id, "the _id is the event.id");
            let item = if self.unmappable.contains(&pair[1]["n"].as_u64().unwrap()) {
                json!({"_index": "alerts", "_id": id, "status": 400, "error": {
                    "type": "mapper_parsing_exception",
                    "reason": "failed to parse field [n] of type [long]"}})
            } else if docs.contains_key(&id) {
                json!({"_index": "alerts", "_id": id, "status": 409, "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": format!("[{id}]: version conflict, document already exists")}})
            } else {
                docs.insert(id.clone(), pair[1].clone());
                json!({"_index": "alerts", "_id": id, "_version": 1, "result": "created", "status": 201})
            };
            items.push(json!({ "create": item }));
        }
        let errors = items
            .iter()
            .any(|i| i["create"]["status"].as_u64().unwrap() >= 300);
        Reply {
            body: json!({"took": 2, "errors": errors, "items": items}).to_string(),
            ..reply(200)
        }
    }
}

#[test]
fn elasticsearch_mapping_errors_are_dead_lettered_and_conflicts_are_delivered() {
    let rt = runtime();
    let es = Arc::new(EsStandIn {
        // A document that an earlier run delivered.
        docs: Mutex::new(HashMap::from([("id-4".to_owned(), json!({"n": 4}))])),
        unmappable: vec![2],
        requests: AtomicUsize::new(0),
    });
    let es2 = es.clone();
    let (_ep, url) = Endpoint::start(&rt, move |_, body| es2.bulk(body));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let mut cfg = http_cfg(url, HttpFormat::Elasticsearch);
    cfg.index = Some("alerts".into());
    cfg.batch_max_events = 6;
    cfg.batch_timeout = Duration::from_secs(1);
    cfg.dead_letter = Some(dead.clone());
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    let (batch_receipt, settled) = receipt();
    for n in 0..6 {
        tx.send_blocking(AlertRecord {
            receipt: Some(batch_receipt.hold()),
            formats: None,
            ..alert(n)
        });
    }
    batch_receipt.settle();
    wait_for("5 delivered (one a conflict), 1 dead letter", || {
        delivered(&metrics) == 5 && dead_letters(&metrics, "item_error") == 1
    });
    wait_for("every alert settled", || {
        settled.load(Ordering::SeqCst) == 1
    });
    assert_eq!(es.requests.load(Ordering::SeqCst), 1, "nothing to retry");
    let stored: BTreeSet<String> = es.docs.lock().unwrap().keys().cloned().collect();
    let want: BTreeSet<String> = [0, 1, 3, 4, 5].iter().map(|n| format!("id-{n}")).collect();
    assert_eq!(stored, want);
    let lines = dead_letter_lines(&dead);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["alert"]["n"], 2);
    assert_eq!(lines[0]["status"], 400);
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("mapper_parsing_exception"),
        "{}",
        lines[0]
    );

    // A replay of the same six alerts (at-least-once): nothing new is stored.
    for n in 0..6 {
        tx.send_blocking(alert(n));
    }
    wait_for("the replay delivered as conflicts", || {
        delivered(&metrics) == 10 && dead_letters(&metrics, "item_error") == 2
    });
    assert_eq!(es.docs.lock().unwrap().len(), 5, "the replay is idempotent");
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

// ---------------------------------------------------------------------------------------
// The daemon

/// `lines` log lines, each with the test indicator and a distinct number.
fn write_log(path: &Path, lines: usize) {
    let text: String = (0..lines)
        .map(|i| {
            format!(
                "Jan  1 00:00:00 fw01 kernel: SRC=10.0.0.{} DST=203.0.113.7 seq={i}\n",
                i % 200 + 1
            )
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

/// Starts `iocd run` on `dir` with the file `input` read from its start, `sinks` (config
/// lines) and an admin port; returns the child and the port.
fn start_daemon(dir: &Path, input: &Path, sinks: &str) -> (std::process::Child, u16) {
    std::fs::write(dir.join("feed.txt"), "203.0.113.7\n").unwrap();
    let admin = free_port();
    let cfg = format!(
        r#"
[engine]
threads = 2
{TEST_FEED}
# One alert per line with hits: these tests count deliveries, not triage.
[triage]
enabled = false
[[sources.files]]
path = "{}"
from_beginning = true
{sinks}
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "20s"
"#,
        input.display()
    );
    let cfg_path = write_config(dir, &cfg);
    let child = start_iocd(
        iocd_run(&cfg_path).env("RUST_LOG", "info"),
        admin,
        "/readyz",
    );
    (child, admin)
}

fn sink_up_metric(admin: u16) -> Option<f64> {
    http_get(admin, "/metrics").map(|m| metric_sum(&m, "iocd_sink_up"))
}

/// The daemon behind an endpoint that refuses (`status`, with `headers`) until told to
/// accept: `iocd_sink_up` goes 0 then 1, every alert arrives once per `event.id`, and the
/// log says what to fix. Returns the log.
fn daemon_held_then_delivers(status: u16, headers: Vec<(&'static str, String)>) -> String {
    const LINES: usize = 300;
    let rt = runtime();
    let ok = Arc::new(AtomicBool::new(false));
    let ok2 = ok.clone();
    let (ep, url) = Endpoint::start(&rt, move |_, _| {
        if ok2.load(Ordering::SeqCst) {
            reply(200)
        } else {
            Reply {
                headers: headers.clone(),
                ..reply(status)
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fw.log");
    write_log(&input, LINES);
    let (mut child, admin) = start_daemon(
        dir.path(),
        &input,
        &format!(
            "[[sinks]]\ntype = \"http\"\nurl = \"{url}\"\ntoken = \"old-token\"\n\
             batch_max_events = 50\nbatch_timeout = \"50ms\"\nbuffer_max_events = 100\n\
             retry_initial_delay = \"20ms\"\nretry_max_delay = \"200ms\"\n"
        ),
    );
    wait_for("refused requests", || ep.requests().len() >= 3);
    wait_for("iocd_sink_up 0", || sink_up_metric(admin) == Some(0.0));
    assert!(ep.accepted().is_empty());
    ok.store(true, Ordering::SeqCst);
    wait_for("every alert delivered", || ep.accepted().len() >= LINES);
    wait_for("iocd_sink_up 1", || sink_up_metric(admin) == Some(1.0));
    let (exit, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(exit.success(), "{log}");
    let got = ep.accepted();
    let ids: BTreeSet<&str> = got
        .iter()
        .map(|a| {
            a["event"]["id"]
                .as_str()
                .expect("every alert has an event.id")
        })
        .collect();
    assert_eq!(got.len(), LINES, "no duplicates");
    assert_eq!(ids.len(), LINES, "one event.id per alert");
    log
}

#[test]
fn daemon_401_then_200_delivers_every_alert_once_and_says_to_fix_the_token() {
    let log = daemon_held_then_delivers(401, Vec::new());
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("fix the sink's `token`"), "{log}");
    assert!(log.contains("accepts alerts again"), "{log}");
}

#[test]
fn daemon_302_is_held_and_logged_with_its_location() {
    let log = daemon_held_then_delivers(
        302,
        vec![("location", "https://siem.example/new-ingest".into())],
    );
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("https://siem.example/new-ingest"), "{log}");
    assert!(log.contains("a POST is not followed"), "{log}");
}

/// Runs the daemon over `input` from its start with ECS, OCSF and CEF file sinks until `n`
/// alerts are written; the three files' contents.
fn run_over(dir: &Path, input: &Path, n: usize) -> (Vec<Value>, Vec<Value>, Vec<String>) {
    let out = |f: &str| dir.join(f);
    let _ = std::fs::remove_file(out("ecs.jsonl"));
    let _ = std::fs::remove_file(out("ocsf.jsonl"));
    let _ = std::fs::remove_file(out("cef.log"));
    let sinks = format!(
        "[[sinks]]\ntype = \"file\"\npath = \"{}\"\n\
         [[sinks]]\ntype = \"file\"\npath = \"{}\"\nalert_format = \"ocsf\"\n\
         [[sinks]]\ntype = \"file\"\npath = \"{}\"\nalert_format = \"cef\"\n",
        out("ecs.jsonl").display(),
        out("ocsf.jsonl").display(),
        out("cef.log").display()
    );
    let (mut child, _admin) = start_daemon(dir, input, &sinks);
    let lines =
        |p: PathBuf| -> usize { std::fs::read_to_string(p).map_or(0, |t| t.lines().count()) };
    wait_for("every alert in every format", || {
        lines(out("ecs.jsonl")) >= n && lines(out("ocsf.jsonl")) >= n && lines(out("cef.log")) >= n
    });
    let (exit, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(exit.success(), "{log}");
    let cef = std::fs::read_to_string(out("cef.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (
        read_alerts(&out("ecs.jsonl")),
        read_alerts(&out("ocsf.jsonl")),
        cef,
    )
}

fn cef_external_id(line: &str) -> String {
    let at = line
        .find(" externalId=")
        .expect("externalId in every CEF line")
        + 12;
    line[at..].split(' ').next().unwrap().to_owned()
}

#[test]
fn event_id_is_stable_across_a_replay_and_the_same_in_ecs_ocsf_and_cef() {
    const LINES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fw.log");
    write_log(&input, LINES);
    // The same line twice at two offsets: two alerts, two ids.
    let mut text = std::fs::read_to_string(&input).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    text.push_str(&first);
    text.push('\n');
    std::fs::write(&input, text).unwrap();
    let n = LINES + 1;

    let ids = |ecs: &[Value]| -> HashMap<u64, String> {
        ecs.iter()
            .map(|a| {
                (
                    a["iocd"]["source"]["offset"]
                        .as_u64()
                        .expect("file alerts carry their offset"),
                    a["event"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (ecs1, ocsf1, cef1) = run_over(dir.path(), &input, n);
    let (ecs2, _, _) = run_over(dir.path(), &input, n);
    assert_eq!(ecs1.len(), n);
    let (run1, run2) = (ids(&ecs1), ids(&ecs2));
    assert_eq!(run1.len(), n, "one alert per offset");
    assert_eq!(run1, run2, "a replay gives every alert the same event.id");
    let distinct: BTreeSet<&String> = run1.values().collect();
    assert_eq!(distinct.len(), n, "the repeated line got its own id");
    // Each line's offset is where it starts in the file.
    let file = std::fs::read(&input).unwrap();
    for a in &ecs1 {
        let off = a["iocd"]["source"]["offset"].as_u64().unwrap() as usize;
        let original = a["event"]["original"].as_str().unwrap();
        assert!(file[off..].starts_with(original.as_bytes()), "{a}");
        assert!(off == 0 || file[off - 1] == b'\n');
    }
    let ecs_ids: BTreeSet<&str> = ecs1
        .iter()
        .map(|a| a["event"]["id"].as_str().unwrap())
        .collect();
    let ocsf_ids: BTreeSet<&str> = ocsf1
        .iter()
        .map(|o| {
            assert_eq!(o["metadata"]["uid"], o["finding_info"]["uid"]);
            o["metadata"]["uid"].as_str().unwrap()
        })
        .collect();
    let cef_ids: BTreeSet<String> = cef1.iter().map(|l| cef_external_id(l)).collect();
    assert_eq!(ecs_ids, ocsf_ids);
    assert_eq!(
        ecs_ids
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        cef_ids
    );
}

#[test]
fn dead_letter_config_defaults_and_a_missing_folder_is_named() {
    use iocd::config::Config;
    let cfg = Config::from_toml(
        "[sources]\nstdin = true\n[admin]\nenabled = false\n[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n",
    )
    .unwrap();
    let SinkConfig::Http(h) = &cfg.sinks[0] else {
        panic!("an http sink")
    };
    assert_eq!(h.dead_letter, None);
    assert_eq!(h.dead_letter_max_bytes, 100 << 20);
    cfg.validate().unwrap();
    let cfg = Config::from_toml(
        "[sources]\nstdin = true\n[admin]\nenabled = false\n[[sinks]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n\
         dead_letter = \"/nonexistent-iocd-dir/dead.jsonl\"\ndead_letter_max_bytes = 4096\n",
    )
    .unwrap();
    let errs = cfg.validate().unwrap_err().to_string();
    assert!(errs.contains("sinks[0].dead_letter"), "{errs}");
    assert!(errs.contains("/nonexistent-iocd-dir"), "{errs}");
}
