//! The admin server over real HTTP: every route, reloads answered by a stand-in control
//! loop, shutdown, and `promtool check metrics` on what `/metrics` serves.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use iocd::daemon::admin::{self, AdminHandle};
use iocd::daemon::{ReloadError, ReloadReason, ReloadRequest};
use iocd::model::Shutdown;
use iocd::telemetry::Metrics;
use reqwest::StatusCode;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

struct Admin {
    rt: Runtime,
    handle: AdminHandle,
    metrics: Arc<Metrics>,
    reload_rx: Option<mpsc::Receiver<ReloadRequest>>,
    shutdown: Shutdown,
    client: reqwest::Client,
}

impl Admin {
    fn start() -> Admin {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The test's runtime (client, stand-in control loop) is not the admin server's.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = mpsc::channel(4);
        let shutdown = Shutdown::new();
        let handle = admin::spawn(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            tx,
            shutdown.clone(),
        )
        .unwrap();
        Admin {
            rt,
            handle,
            metrics,
            reload_rx: Some(rx),
            shutdown,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.local_addr())
    }

    /// (status, content type, body)
    fn call(&self, method: reqwest::Method, path: &str) -> (StatusCode, String, String) {
        self.rt.block_on(async {
            let r = self
                .client
                .request(method, self.url(path))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, ctype, r.text().await.unwrap())
        })
    }

    fn get(&self, path: &str) -> (StatusCode, String, String) {
        self.call(reqwest::Method::GET, path)
    }

    fn post(&self, path: &str) -> (StatusCode, String, String) {
        self.call(reqwest::Method::POST, path)
    }
}

#[test]
fn health_and_readiness() {
    let a = Admin::start();
    assert_eq!(
        a.get("/healthz"),
        (
            StatusCode::OK,
            "text/plain; charset=utf-8".into(),
            "ok\n".into()
        )
    );
    let (status, _, body) = a.get("/readyz");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("not ready"), "{body}");
    a.metrics.ready.set(1);
    let (status, _, body) = a.get("/readyz");
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));
    assert_eq!(a.get("/nowhere").0, StatusCode::NOT_FOUND);
}

#[test]
fn metrics_in_the_prometheus_text_format() {
    let a = Admin::start();
    a.metrics.ready.set(1);
    a.metrics
        .alerts_out
        .with_label_values(&["http1", "high"])
        .inc_by(5);
    let (status, ctype, body) = a.get("/metrics");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/plain; version=0.0.4");
    assert!(body.contains("\niocd_ready 1\n"), "{body}");
    assert!(
        body.contains("iocd_sink_alerts_total{priority=\"high\",sink=\"http1\"} 5"),
        "{body}"
    );
    assert_eq!(
        a.post("/metrics").0,
        StatusCode::METHOD_NOT_ALLOWED,
        "read-only"
    );
}

#[test]
fn reload_answers_with_the_generation_or_the_error() {
    let mut a = Admin::start();
    let mut rx = a.reload_rx.take().unwrap();
    // A stand-in control loop: the first build works, the second fails.
    let control = a.rt.spawn(async move {
        let mut outcomes = vec![Err(ReloadError::BuildFailed), Ok(7)];
        while let Some(req) = rx.recv().await {
            assert_eq!(req.reason, ReloadReason::Admin);
            let outcome = outcomes.pop().expect("two reloads");
            req.reply.unwrap().send(outcome).unwrap();
        }
    });
    let (status, ctype, body) = a.post("/reload");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"generation": 7})
    );
    let (status, _, body) = a.post("/reload");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"error": "building the indicator set failed; the current set stays"})
    );
    let (status, _, _) = a.get("/reload");
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    control.abort();
}

#[test]
fn reload_without_a_control_loop_is_unavailable() {
    let mut a = Admin::start();
    drop(a.reload_rx.take());
    let (status, _, body) = a.post("/reload");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("stopping"), "{body}");
}

#[test]
fn shutdown_stops_the_server_and_join_returns() {
    let a = Admin::start();
    let addr = a.handle.local_addr();
    assert_eq!(a.get("/healthz").0, StatusCode::OK);
    a.shutdown.cancel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        a.handle.join();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("join returns after shutdown");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens on {addr} any more"
    );
}

#[test]
fn a_busy_address_is_named_in_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let err = admin::spawn(addr, Arc::new(Metrics::new()), tx, Shutdown::new())
        .err()
        .expect("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// Gives every family a sample: a vector family without one is not exposed at all, and
/// promtool can only check what it sees.
fn populate(m: &Metrics) {
    for s in ["syslog_udp", "syslog_tcp"] {
        m.events_in.with_label_values(&[s]).inc_by(10);
        m.bytes_in.with_label_values(&[s]).inc_by(1000);
        m.parse_errors.with_label_values(&[s]).inc();
        m.connections.with_label_values(&[s]).set(2);
    }
    m.events_dropped
        .with_label_values(&["syslog_udp", "queue_full"])
        .inc();
    m.queue_depth.set(3);
    m.matches.with_label_values(&["ipv4"]).inc_by(4);
    m.match_latency.observe(0.002);
    m.decode_panics.inc();
    m.alerts_out.with_label_values(&["stdout0", "high"]).inc();
    m.sink_errors.with_label_values(&["http1"]).inc();
    m.sink_retries.with_label_values(&["http1"]).inc();
    m.sink_buffered.with_label_values(&["http1"]).set(7);
    m.sink_dropped
        .with_label_values(&["http1", "refused"])
        .inc();
    m.indicators
        .with_label_values(&["feed_a", "domain"])
        .set(100);
    m.rejected.with_label_values(&["feed_a", "invalid"]).set(2);
    m.reloads.inc();
    m.reload_failures.inc();
    m.set_file_faulted_pages.inc();
    m.last_reload.set(1_700_000_000.0);
    m.reload_duration.observe(0.3);
    m.generation.set(2);
    m.bytes_per_indicator.set(96.5);
    m.feed_fetches.with_label_values(&["feed_a", "ok"]).inc();
    m.sink_latency.with_label_values(&["http1"]).observe(0.02);
    m.ready.set(1);
    m.feed_age.with_label_values(&["feed_a"]).set(60.0);
    m.feedback_marks.with_label_values(&["api"]).set(2);
    m.feedback_suppressed.inc();
    m.feedback_file_errors.set(1);
    m.feedback_refused
        .with_label_values(&["api", "invalid"])
        .inc();
    m.admin.connections.set(1);
    m.admin
        .refused_connections
        .with_label_values(&["over_capacity"])
        .inc();
    m.admin
        .refused_requests
        .with_label_values(&["unauthorized"])
        .inc();
    m.admin
        .accept_errors
        .with_label_values(&["fd_exhausted"])
        .inc();
    m.export.entries.with_label_values(&["blk"]).set(3);
    m.export.bytes.with_label_values(&["blk"]).set(40);
    m.export
        .last_change
        .with_label_values(&["blk"])
        .set(1_700_000_000);
    m.export.writes.with_label_values(&["blk"]).inc();
    m.export.held.with_label_values(&["blk", "shrink"]).inc();
    m.export.errors.with_label_values(&["blk"]).inc();
    m.export.skipped.with_label_values(&["blk", "unsafe"]).inc();
    m.export.requests.with_label_values(&["blk", "200"]).inc();
    m.export.sent_bytes.with_label_values(&["blk"]).inc_by(40);
    m.sightings_recorded.with_label_values(&["0"]).inc();
    m.sightings_pending.set(1);
    m.sightings_sent.with_label_values(&["misp"]).inc();
    m.sightings_errors.with_label_values(&["misp"]).inc();
    m.sightings_retries.inc();
    m.sightings_dropped.with_label_values(&["refused"]).inc();
    m.state_temp_files_removed.inc();
    let r = &m.retro;
    r.spool_dropped.inc();
    r.spool_corrupt.inc();
    r.spool_written_bytes.inc_by(100);
    r.spool_bytes.set(40);
    r.spool_segments.inc();
    r.spool_segments_kept.set(1);
    r.spool_deleted.with_label_values(&["age"]).inc();
    r.spool_errors.inc();
    r.jobs.with_label_values(&["done"]).inc();
    r.running.set(1);
    r.indicators_checked.inc();
    r.indicators_pending.set(2);
    r.scanned_bytes.with_label_values(&["spool"]).inc_by(100);
    r.scanned_messages.with_label_values(&["spool"]).inc();
    r.hits.inc();
    r.duration.observe(1.5);
    r.covered_from.set(1_700_000_000);
    r.covered_to.set(1_700_000_100);
    m.state_partial_line_bytes_cut.inc_by(7);
    let t = &m.triage;
    t.hits.inc_by(5);
    t.hit_lines.inc_by(4);
    t.alerts.with_label_values(&["high", "hit"]).inc();
    t.suppressed.with_label_values(&["duplicate"]).inc_by(3);
    t.digested.with_label_values(&["file1"]).inc();
    t.dedup_entries.set(1);
    t.flood_entries.set(2);
    t.evictions.with_label_values(&["dedup"]).inc();
    t.floods.inc();
    t.late_lines.inc();
    t.feed_hits.with_label_values(&["feed_a"]).inc_by(5);
    t.feed_unique_hits.with_label_values(&["feed_a"]).inc_by(2);
    t.feed_alerts
        .with_label_values(&["feed_a", "high"])
        .inc_by(3);
    m.feed_false_positive_marks
        .with_label_values(&["feed_a"])
        .set(1);
    let k = &m.kafka;
    k.consumer_lag.with_label_values(&["logs", "0"]).set(12);
    k.committed_offset
        .with_label_values(&["logs", "0"])
        .set(100);
    k.commits.with_label_values(&["ok"]).inc();
    k.rebalances.with_label_values(&["assign"]).inc();
    k.assigned_partitions.set(4);
    k.inflight_batches.set(2);
    k.skipped.with_label_values(&["empty"]).inc();
    k.revoke_abandoned.with_label_values(&["logs"]).inc();
    k.offset_gaps.with_label_values(&["logs"]).inc();
    k.client_errors
        .with_label_values(&["BrokerTransportFailure"])
        .inc();
    k.producer_errors
        .with_label_values(&["kafka0", "MessageSizeTooLarge"])
        .inc();
}

/// Every family `populate` fills, as exposed.
const FAMILIES: &[&str] = &[
    "iocd_source_events_total",
    "iocd_source_bytes_total",
    "iocd_source_parse_errors_total",
    "iocd_source_dropped_events_total",
    "iocd_source_connections",
    "iocd_pipeline_queue_depth_batches",
    "iocd_matcher_matches_total",
    "iocd_matcher_latency_seconds",
    "iocd_matcher_decode_panics_total",
    "iocd_sink_alerts_total",
    "iocd_sink_errors_total",
    "iocd_sink_retries_total",
    "iocd_sink_buffered_alerts",
    "iocd_sink_dropped_alerts_total",
    "iocd_ioc_indicators",
    "iocd_ioc_rejected_lines",
    "iocd_ioc_reloads_total",
    "iocd_ioc_reload_failures_total",
    "iocd_set_file_faulted_pages_total",
    "iocd_ioc_last_reload_timestamp_seconds",
    "iocd_ioc_reload_duration_seconds",
    "iocd_ioc_set_generation",
    "iocd_ioc_bytes_per_indicator",
    "iocd_feed_fetches_total",
    "iocd_sink_request_duration_seconds",
    "iocd_ready",
    "iocd_feed_generation_age_seconds",
    "iocd_feedback_marks",
    "iocd_feedback_suppressed_hits_total",
    "iocd_feedback_file_rejected_lines",
    "iocd_feedback_refused_total",
    "iocd_admin_connections",
    "iocd_admin_refused_connections_total",
    "iocd_admin_refused_requests_total",
    "iocd_admin_accept_errors_total",
    "iocd_export_entries",
    "iocd_export_bytes",
    "iocd_export_last_change_timestamp_seconds",
    "iocd_export_writes_total",
    "iocd_export_held_total",
    "iocd_export_errors_total",
    "iocd_export_skipped_entries_total",
    "iocd_export_requests_total",
    "iocd_export_sent_bytes_total",
    "iocd_retro_spool_dropped_lines_total",
    "iocd_retro_spool_corrupt_segments_total",
    "iocd_retro_spool_written_bytes_total",
    "iocd_retro_spool_bytes",
    "iocd_retro_spool_segments_closed_total",
    "iocd_retro_spool_segments",
    "iocd_retro_spool_deleted_segments_total",
    "iocd_retro_spool_write_errors_total",
    "iocd_retro_jobs_total",
    "iocd_retro_job_running",
    "iocd_retro_indicators_checked_total",
    "iocd_retro_indicators_pending",
    "iocd_retro_scanned_bytes_total",
    "iocd_retro_scanned_messages_total",
    "iocd_retro_hits_total",
    "iocd_retro_job_duration_seconds",
    "iocd_retro_covered_from_timestamp_seconds",
    "iocd_retro_covered_to_timestamp_seconds",
    "iocd_build_info",
    // The standard process families (prometheus crate's process collector).
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
    "iocd_sightings_recorded_total",
    "iocd_sightings_pending_entries",
    "iocd_sightings_sent_total",
    "iocd_sightings_errors_total",
    "iocd_sightings_retries_total",
    "iocd_sightings_dropped_total",
    "iocd_state_temp_files_removed_total",
    "iocd_state_partial_line_bytes_cut_total",
    "iocd_triage_hits_total",
    "iocd_triage_hit_lines_total",
    "iocd_triage_alerts_total",
    "iocd_triage_suppressed_hits_total",
    "iocd_triage_digested_alerts_total",
    "iocd_triage_dedup_entries",
    "iocd_triage_flood_entries",
    "iocd_triage_evictions_total",
    "iocd_triage_floods_total",
    "iocd_triage_late_lines_total",
    "iocd_feed_hits_total",
    "iocd_feed_unique_hits_total",
    "iocd_feed_alerts_total",
    "iocd_feed_false_positive_marks",
    "iocd_kafka_consumer_lag_messages",
    "iocd_kafka_committed_offset",
    "iocd_kafka_commits_total",
    "iocd_kafka_rebalances_total",
    "iocd_kafka_assigned_partitions",
    "iocd_kafka_inflight_batches",
    "iocd_kafka_skipped_messages_total",
    "iocd_kafka_revoke_abandoned_total",
    "iocd_kafka_offset_gap_messages_total",
    "iocd_kafka_consumer_errors_total",
    "iocd_kafka_producer_errors_total",
];

#[test]
fn feeds_answers_each_feeds_value_from_its_metrics() {
    let a = Admin::start();
    populate(&a.metrics);
    let m = &a.metrics;
    m.indicators.with_label_values(&["feed_a", "ipv4"]).set(40);
    m.indicators.with_label_values(&["feed_b", "url"]).set(7);
    m.feed_up.with_label_values(&["feed_a"]).set(1);
    m.feed_up.with_label_values(&["feed_b"]).set(0);
    m.feed_last_success
        .with_label_values(&["feed_a"])
        .set(1_700_000_000.0);
    let loaded = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 120.0;
    m.set_feed_loaded("feed_a", Some(loaded));
    let (status, ctype, body) = a.get("/feeds");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ctype, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let feeds = v["feeds"].as_array().unwrap();
    let names: Vec<&str> = feeds.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["feed_a", "feed_b"], "{body}");
    let fa = &feeds[0];
    assert_eq!(fa["indicators"], 140, "{body}");
    assert_eq!(fa["indicators_by_kind"]["domain"], 100);
    assert_eq!(fa["indicators_by_kind"]["ipv4"], 40);
    assert_eq!(fa["up"], true);
    assert_eq!(fa["last_refresh"], "2023-11-14T22:13:20Z");
    let age = fa["age_seconds"].as_f64().unwrap();
    assert!((119.0..=125.0).contains(&age), "{body}");
    assert_eq!(fa["hits"], 5);
    assert_eq!(fa["unique_hits"], 2);
    assert_eq!(fa["alerts"], 3);
    assert_eq!(fa["alerts_by_priority"]["high"], 3);
    assert_eq!(fa["alerts_by_priority"]["critical"], 0);
    assert_eq!(fa["false_positive_marks"], 1);
    let fb = &feeds[1];
    assert_eq!(
        (fb["indicators"].as_u64(), fb["up"].as_bool()),
        (Some(7), Some(false))
    );
    assert!(
        fb["last_refresh"].is_null() && fb["age_seconds"].is_null(),
        "{body}"
    );
    assert_eq!(fb["hits"], 0);
}

#[test]
fn promtool_accepts_the_metrics() {
    let a = Admin::start();
    populate(&a.metrics);
    let (status, _, body) = a.get("/metrics");
    assert_eq!(status, StatusCode::OK);
    let exposed: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for f in FAMILIES {
        assert!(exposed.contains(f), "{f} is not exposed:\n{body}");
    }
    assert_eq!(
        exposed.len(),
        FAMILIES.len(),
        "a metric family this test does not fill: add it to populate() and FAMILIES"
    );

    let promtool = which("promtool").unwrap_or_else(|| {
        panic!(
            "promtool is not installed: run scripts/install-test-deps.sh \
             (Debian package `prometheus`)"
        )
    });
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}",
        out.status
    );
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(tool))
        .find(|p| p.is_file())
}
