//! Sinks against real endpoints on loopback: an axum HTTP server that fails and recovers,
//! syslog listeners over TCP, UDP and TLS (rcgen certificates), files renamed under the
//! sink, standard output of a child process. Alerts are sent from plain threads, as the
//! matcher threads do.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iocd::config::{AlertFormat, HttpFormat, SinkConfig, SyslogProtocol};
use iocd::model::{AlertPriority, AlertRecord, Priority};
use iocd::sink::Sinks;
use iocd::telemetry::Metrics;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::runtime::Runtime;

use endpoint::{Endpoint, http_cfg, runtime, wait_within};
use iocd_testkit::endpoint;
use iocd_testkit::support;
use support::free_port;

const TIME: i64 = 1_700_000_000;

fn alert(n: usize) -> AlertRecord {
    alert_with(n, "none")
}

fn alert_with(n: usize, priority: &'static str) -> AlertRecord {
    AlertRecord {
        json: json!({"n": n, "message": format!("alert {n}")})
            .to_string()
            .into_bytes()
            .into(),
        time: TIME + n as i64,
        priority: Priority::from_label(priority)
            .map_or(AlertPriority::Untriaged, AlertPriority::Level),
        key: std::sync::Arc::from("k"),
        receipt: None,
        formats: None,
    }
}

fn n_of(v: &Value) -> usize {
    v["n"].as_u64().expect("an alert has n") as usize
}

/// Polls `cond` until it holds; fails the test with `what` after 10 s.
fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_within(Duration::from_secs(10), what, cond);
}

fn out(m: &Metrics, sink: &str, priority: &str) -> u64 {
    m.alerts_out.with_label_values(&[sink, priority]).get()
}
fn errors(m: &Metrics, sink: &str) -> u64 {
    m.sink_errors.with_label_values(&[sink]).get()
}
fn retries(m: &Metrics, sink: &str) -> u64 {
    m.sink_retries.with_label_values(&[sink]).get()
}
fn dropped(m: &Metrics, sink: &str, reason: &str) -> u64 {
    m.sink_dropped.with_label_values(&[sink, reason]).get()
}
fn buffered(m: &Metrics, sink: &str) -> i64 {
    m.sink_buffered.with_label_values(&[sink]).get()
}

/// The `n` of every alert in JSON-array bodies, in order.
fn array_ns(bodies: &[Vec<u8>]) -> Vec<usize> {
    bodies
        .iter()
        .flat_map(|b| {
            let v: Vec<Value> = serde_json::from_slice(b).expect("a JSON array");
            v.iter().map(n_of).collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// HTTP

#[test]
fn http_outage_then_recovery_delivers_each_alert_once_in_order() {
    let rt = runtime();
    // The first four requests fail as an overloaded server does; then it recovers.
    let (ep, url) = Endpoint::start(&rt, |i, _| {
        if i < 4 {
            (503, "busy".into())
        } else {
            (200, "{}".into())
        }
    });
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.token = Some("s3cret".into());
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    for n in 0..23 {
        tx.send_blocking(alert_with(n, if n % 2 == 0 { "high" } else { "low" }));
    }
    wait_for("23 accepted alerts", || {
        out(&metrics, "http0", "high") + out(&metrics, "http0", "low") == 23
    });
    assert_eq!(out(&metrics, "http0", "high"), 12);
    assert_eq!(out(&metrics, "http0", "low"), 11);
    assert_eq!(array_ns(&ep.bodies(200)), (0..23).collect::<Vec<_>>());
    assert_eq!(ep.bodies(503).len(), 4);
    assert_eq!(retries(&metrics, "http0"), 4);
    assert_eq!(errors(&metrics, "http0"), 4);
    assert_eq!(buffered(&metrics, "http0"), 0);
    {
        let r = ep.requests();
        assert_eq!(r[0].headers["content-type"], "application/json");
        assert_eq!(r[0].headers["authorization"], "Bearer s3cret");
        assert!(
            r.iter()
                .all(|r| array_ns(std::slice::from_ref(&r.body)).len() <= 5)
        );
    }
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert!(!report.timed_out);
    let h = metrics.sink_latency.with_label_values(&["http0"]);
    assert_eq!(h.get_sample_count(), 4 + ep.bodies(200).len() as u64);
}

#[test]
fn http_400_for_one_alert_without_a_dead_letter_file_is_logged_and_counted() {
    let rt = runtime();
    let (ep, url) = Endpoint::start(&rt, |i, _| {
        if i == 0 {
            (400, r#"{"text":"Invalid data format","code":6}"#.into())
        } else {
            (200, "{}".into())
        }
    });
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[SinkConfig::Http(http_cfg(url, HttpFormat::Json))],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    let tx = sinks.sender();
    tx.send_blocking(alert(0));
    wait_for("the 400 to be counted", || errors(&metrics, "http0") == 1);
    tx.send_blocking(alert(1));
    wait_for("alert 1 accepted", || out(&metrics, "http0", "none") == 1);
    assert_eq!(array_ns(&ep.bodies(400)), [0]);
    assert_eq!(array_ns(&ep.bodies(200)), [1]);
    assert_eq!(retries(&metrics, "http0"), 0, "a 4xx is not retried");
    assert_eq!(dropped(&metrics, "http0", "refused"), 1);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.sinks[0].rejected, 1);
}

#[test]
fn http_full_buffer_blocks_the_sender_until_the_endpoint_recovers() {
    let rt = runtime();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let up2 = up.clone();
    let (ep, url) = Endpoint::start(&rt, move |_, _| {
        if up2.load(Ordering::SeqCst) {
            (200, "{}".into())
        } else {
            (503, "down".into())
        }
    });
    let mut cfg = http_cfg(url, HttpFormat::Json);
    cfg.batch_max_events = 2;
    cfg.buffer_max_events = 4;
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let producer = std::thread::spawn(move || {
        for n in 0..10 {
            tx.send_blocking(alert(n));
            sent2.fetch_add(1, Ordering::SeqCst);
        }
    });
    wait_for("a full buffer", || {
        buffered(&metrics, "http0") == 4 && sent.load(Ordering::SeqCst) == 4
    });
    wait_for("some retries", || retries(&metrics, "http0") >= 3);
    // The endpoint is still down: the sender must still be stuck on the fifth alert.
    assert_eq!(sent.load(Ordering::SeqCst), 4);
    assert!(!producer.is_finished());
    assert_eq!(out(&metrics, "http0", "none"), 0);

    up.store(true, Ordering::SeqCst);
    producer.join().unwrap();
    wait_for("all 10 accepted", || out(&metrics, "http0", "none") == 10);
    assert_eq!(array_ns(&ep.bodies(200)), (0..10).collect::<Vec<_>>());
    assert_eq!(buffered(&metrics, "http0"), 0);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn splunk_hec_envelopes() {
    let rt = runtime();
    let (ep, url) = Endpoint::start(&rt, |_, _| (200, r#"{"text":"Success","code":0}"#.into()));
    let mut cfg = http_cfg(url, HttpFormat::SplunkHec);
    cfg.token = Some("hec-token".into());
    cfg.index = Some("security".into());
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    for n in 0..3 {
        tx.send_blocking(alert(n));
    }
    wait_for("3 accepted", || out(&metrics, "http0", "none") == 3);
    let r = ep.requests();
    assert_eq!(r[0].headers["authorization"], "Splunk hec-token");
    let mut events = Vec::new();
    for req in r.iter() {
        // HEC's batch form: envelopes one after the other, not an array.
        assert_eq!(req.body.first(), Some(&b'{'));
        for v in serde_json::Deserializer::from_slice(&req.body).into_iter::<Value>() {
            events.push(v.unwrap());
        }
    }
    assert_eq!(events.len(), 3);
    for (n, e) in events.iter().enumerate() {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event", "index", "time"]);
        assert_eq!(e["time"], TIME + n as i64);
        assert_eq!(e["index"], "security");
        let want: Value = serde_json::from_slice(&alert(n).json).unwrap();
        assert_eq!(e["event"], want);
    }
}

#[test]
fn elasticsearch_bulk_retries_only_the_failed_items() {
    let rt = runtime();
    // First answer: Elasticsearch's 200 with per-item failures. Alert 1 hits a full write
    // queue (429) and alert 4 a node failure (503): both worth another try. Alert 3 does not
    // fit the mapping (400): that never works.
    let (ep, url) = Endpoint::start(&rt, |i, _| {
        if i == 0 {
            let item = |status: u16| {
                let mut r = json!({"_index": "alerts", "status": status});
                if status >= 300 {
                    r["error"] = json!({"type": "some_exception", "reason": "item failed"});
                }
                json!({ "create": r })
            };
            let items: Vec<Value> = [201, 429, 201, 400, 503].into_iter().map(item).collect();
            (
                200,
                json!({"took": 3, "errors": true, "items": items}).to_string(),
            )
        } else {
            (
                200,
                json!({"took": 1, "errors": false, "items": []}).to_string(),
            )
        }
    });
    let mut cfg = http_cfg(url, HttpFormat::Elasticsearch);
    cfg.index = Some("alerts".into());
    cfg.batch_timeout = Duration::from_secs(2);
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    for n in 0..5 {
        tx.send_blocking(alert(n));
    }
    wait_for("4 accepted", || out(&metrics, "http0", "none") == 4);
    let r = ep.requests();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].headers["content-type"], "application/x-ndjson");
    let docs = |body: &[u8]| -> Vec<usize> {
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.ends_with('\n'), "NDJSON ends with a newline");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() % 2, 0);
        lines
            .chunks(2)
            .map(|pair| {
                assert_eq!(pair[0], json!({"create": {"_index": "alerts"}}));
                n_of(&pair[1])
            })
            .collect()
    };
    assert_eq!(docs(&r[0].body), [0, 1, 2, 3, 4]);
    assert_eq!(docs(&r[1].body), [1, 4]);
    drop(r);
    assert_eq!(retries(&metrics, "http0"), 1);
    // One for the item refused for good, one for the items sent again.
    assert_eq!(errors(&metrics, "http0"), 2);
    // No dead-letter file: logged in full and counted.
    assert_eq!(dropped(&metrics, "http0", "item_error"), 1);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.sinks[0].rejected, 1);
}

#[test]
fn shutdown_reports_what_a_dead_endpoint_kept() {
    let rt = runtime();
    // A port with nothing behind it.
    let port = free_port();
    let metrics = Arc::new(Metrics::new());
    let cfg = http_cfg(format!("http://127.0.0.1:{port}/in"), HttpFormat::Json);
    let sinks = Sinks::start(&[SinkConfig::Http(cfg)], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    for n in 0..3 {
        tx.send_blocking(alert(n));
    }
    wait_for("connection errors", || errors(&metrics, "http0") >= 2);
    let started = Instant::now();
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline holds"
    );
    assert_eq!(report.undelivered, 3);
    assert!(report.timed_out);
    assert_eq!(report.sinks[0].name, "http0");
    assert_eq!(report.sinks[0].undelivered, 3);
    assert_eq!(out(&metrics, "http0", "none"), 0);
    // A late matcher thread does not hang on a sink that is gone.
    tx.send_blocking(alert(9));
}

// ---------------------------------------------------------------------------------------
// Syslog

/// Reads one octet-counted frame (`LEN SP MSG`, RFC 6587 §3.4.1); None at a clean EOF.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<String> {
    let mut len = 0usize;
    let mut digits = 0;
    loop {
        let b = match r.read_u8().await {
            Ok(b) => b,
            Err(_) if digits == 0 => return None,
            Err(e) => panic!("stream ended inside a frame header: {e}"),
        };
        match b {
            b'0'..=b'9' => {
                assert!(digits > 0 || b != b'0', "MSG-LEN has no leading zero");
                len = len * 10 + usize::from(b - b'0');
                digits += 1;
            }
            b' ' if digits > 0 => break,
            _ => panic!("bad octet-counting header byte {b:#x}"),
        }
    }
    let mut msg = vec![0; len];
    r.read_exact(&mut msg).await.unwrap();
    Some(String::from_utf8(msg).unwrap())
}

/// Checks an RFC 5424 message from iocd and returns its body.
fn check_5424<'a>(msg: &'a str, pri: u8, app: &str, n: usize) -> &'a str {
    let rest = msg
        .strip_prefix(&format!("<{pri}>1 "))
        .unwrap_or_else(|| panic!("PRI and VERSION in {msg:?}"));
    let f: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(f.len(), 7, "{msg:?}");
    let ts = chrono::DateTime::parse_from_rfc3339(f[0]).expect("an RFC 3339 timestamp");
    assert_eq!(ts.timestamp(), TIME + n as i64);
    assert!(f[0].ends_with('Z'), "UTC timestamp: {}", f[0]);
    assert!(!f[1].is_empty() && f[1].len() <= 255 && f[1].bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(f[2], app);
    assert_eq!(&f[3..6], ["-", "-", "-"], "PROCID MSGID SD: {msg:?}");
    let body = f[6];
    assert_eq!(body.as_bytes(), &*alert(n).json);
    body
}

fn syslog_cfg(protocol: SyslogProtocol, address: String, ca: Option<&Path>) -> SinkConfig {
    SinkConfig::Syslog {
        name: None,
        protocol,
        address,
        ca: ca.map(Path::to_owned),
        app_name: "iocd-test".into(),
        alert_format: AlertFormat::Ecs,
        dead_letter: None,
        dead_letter_max_bytes: 1 << 20,
    }
}

#[test]
fn syslog_tcp_octet_counted_and_reconnects_after_the_server_drops() {
    let rt = runtime();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, got_rx) = std::sync::mpsc::channel::<(usize, String)>();
    // Connection 1 takes three messages and hangs up; connection 2 takes the rest.
    rt.spawn(async move {
        for conn in 0.. {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut taken = 0;
            while let Some(m) = read_frame(&mut s).await {
                got_tx.send((conn, m)).unwrap();
                taken += 1;
                if conn == 0 && taken == 3 {
                    break;
                }
            }
        }
    });
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[syslog_cfg(SyslogProtocol::Tcp, addr.to_string(), None)],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    let tx = sinks.sender();
    for n in 0..3 {
        tx.send_blocking(alert_with(n, "high"));
    }
    let recv = || got_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for n in 0..3 {
        let (conn, m) = recv();
        assert_eq!(conn, 0);
        // facility auth (4) * 8 + severity err (3) for a high-priority alert
        check_5424(&m, 35, "iocd-test", n);
    }
    wait_for("the dropped connection to be noticed", || {
        errors(&metrics, "syslog0") >= 1
    });
    for n in 3..5 {
        tx.send_blocking(alert(n));
    }
    for n in 3..5 {
        let (conn, m) = recv();
        assert_eq!(conn, 1, "sent on a new connection");
        check_5424(&m, 36, "iocd-test", n);
    }
    wait_for("5 accepted", || {
        out(&metrics, "syslog0", "high") + out(&metrics, "syslog0", "none") == 5
    });
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn syslog_tcp_server_down_at_start_holds_alerts_until_it_comes() {
    let rt = runtime();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[syslog_cfg(SyslogProtocol::Tcp, addr.to_string(), None)],
        metrics.clone(),
        rt.handle(),
    )
    .expect("a server that is down is not a start-up error");
    let tx = sinks.sender();
    tx.send_blocking(alert(0));
    wait_for("connect retries", || retries(&metrics, "syslog0") >= 2);
    assert_eq!(buffered(&metrics, "syslog0"), 1);
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
    let m = rt.block_on(async {
        let (mut s, _) = listener.accept().await.unwrap();
        read_frame(&mut s).await.unwrap()
    });
    check_5424(&m, 36, "iocd-test", 0);
    wait_for("accepted", || out(&metrics, "syslog0", "none") == 1);
    assert_eq!(buffered(&metrics, "syslog0"), 0);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn syslog_udp_one_datagram_per_alert() {
    let rt = runtime();
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[syslog_cfg(
            SyslogProtocol::Udp,
            server.local_addr().unwrap().to_string(),
            None,
        )],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    let tx = sinks.sender();
    for n in 0..3 {
        tx.send_blocking(alert_with(n, "critical"));
    }
    let mut buf = vec![0u8; 65_536];
    for n in 0..3 {
        let len = server.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..len]).unwrap();
        // crit (2): no framing, the datagram is the message
        check_5424(m, 34, "iocd-test", n);
    }
    wait_for("3 accepted", || out(&metrics, "syslog0", "critical") == 3);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

/// A TLS syslog server on 127.0.0.1 that forwards each frame; the sink is pointed at
/// `localhost:PORT`, so the name checked is `localhost`.
fn tls_server(rt: &Runtime) -> (u16, std::sync::mpsc::Receiver<String>, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca_pem, chain, key) = iocd_testkit::pki::ca_and_localhost();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                while let Some(m) = read_frame(&mut s).await {
                    if tx.send(m).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx, ca_pem)
}

#[test]
fn syslog_tls_with_a_configured_ca() {
    let rt = runtime();
    let (port, rx, ca_pem) = tls_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[syslog_cfg(
            SyslogProtocol::Tls,
            format!("localhost:{port}"),
            Some(&ca),
        )],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    let tx = sinks.sender();
    for n in 0..4 {
        tx.send_blocking(alert_with(n, "medium"));
    }
    for n in 0..4 {
        let m = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        check_5424(&m, 36, "iocd-test", n);
    }
    wait_for("4 accepted", || out(&metrics, "syslog0", "medium") == 4);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
}

#[test]
fn syslog_tls_refuses_a_server_the_ca_did_not_sign() {
    let rt = runtime();
    let (port, rx, _right_ca) = tls_server(&rt);
    let (other_ca, _, _) = iocd_testkit::pki::ca_and_localhost();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other-ca.pem");
    std::fs::write(&ca, other_ca).unwrap();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[syslog_cfg(
            SyslogProtocol::Tls,
            format!("localhost:{port}"),
            Some(&ca),
        )],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    sinks.sender().send_blocking(alert(0));
    wait_for("handshake failures", || errors(&metrics, "syslog0") >= 2);
    assert!(
        rx.try_recv().is_err(),
        "nothing reaches an unverified server"
    );
    assert_eq!(buffered(&metrics, "syslog0"), 1, "the alert is held");
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_millis(200)));
    assert_eq!(report.undelivered, 1);
}

#[test]
fn start_up_errors_name_the_sink() {
    let rt = runtime();
    let metrics = Arc::new(Metrics::new());
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/alerts.json");
    let err = Sinks::start(
        &[
            SinkConfig::Stdout {
                name: None,
                alert_format: AlertFormat::Ecs,
            },
            SinkConfig::File {
                name: None,
                path: missing_dir.clone(),
                alert_format: AlertFormat::Ecs,
            },
        ],
        metrics.clone(),
        rt.handle(),
    )
    .err()
    .expect("a file that cannot be created fails start-up");
    let msg = err.to_string();
    assert!(msg.starts_with("sinks[1] (file1): cannot open"), "{msg}");
    assert!(msg.contains(&missing_dir.display().to_string()), "{msg}");
    assert_eq!(err.sink(), "file1");

    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let err = Sinks::start(
        &[syslog_cfg(
            SyslogProtocol::Tls,
            "localhost:6514".into(),
            Some(&not_pem),
        )],
        metrics.clone(),
        rt.handle(),
    )
    .err()
    .expect("a CA file without certificates fails start-up");
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );

    let err = Sinks::start(
        &[syslog_cfg(
            SyslogProtocol::Udp,
            "no-such-host.invalid:514".into(),
            None,
        )],
        metrics,
        rt.handle(),
    )
    .err()
    .expect("an address that does not resolve fails start-up");
    assert!(err.to_string().contains("does not resolve"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Files and standard output

fn read_ns(path: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines");
    text.lines()
        .map(|l| n_of(&serde_json::from_str(l).expect("a JSON line")))
        .collect()
}

#[test]
fn file_sink_follows_rename_and_reopens_on_request() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.json");
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[SinkConfig::File {
            name: None,
            path: path.clone(),
            alert_format: AlertFormat::Ecs,
        }],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    assert!(path.exists(), "the file is created at start");
    let tx = sinks.sender();
    tx.send_blocking(alert(0));
    tx.send_blocking(alert(1));
    wait_for("2 lines", || out(&metrics, "file0", "none") == 2);
    assert_eq!(read_ns(&path), [0, 1]);

    // Rotation by rename, no signal: the next write notices the path names another file.
    let rotated1 = dir.path().join("alerts.json.1");
    std::fs::rename(&path, &rotated1).unwrap();
    tx.send_blocking(alert(2));
    wait_for("3 lines", || out(&metrics, "file0", "none") == 3);
    assert_eq!(read_ns(&rotated1), [0, 1]);
    assert_eq!(read_ns(&path), [2]);

    // Rotation then SIGHUP: the sink reopens at once, without waiting for an alert.
    let rotated2 = dir.path().join("alerts.json.2");
    std::fs::rename(&path, &rotated2).unwrap();
    sinks.reopen();
    wait_for("the file to be created again", || path.exists());
    assert_eq!(read_ns(&path), [] as [usize; 0], "reopened, empty");
    tx.send_blocking(alert(3));
    wait_for("4 lines", || out(&metrics, "file0", "none") == 4);
    assert_eq!(read_ns(&path), [3]);

    // Deleted under the sink: recreated.
    std::fs::remove_file(&path).unwrap();
    tx.send_blocking(alert(4));
    wait_for("5 lines", || out(&metrics, "file0", "none") == 5);

    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    assert_eq!(read_ns(&rotated1), [0, 1]);
    assert_eq!(read_ns(&rotated2), [2]);
    assert_eq!(read_ns(&path), [4]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o007, 0, "not readable by every account: {mode:o}");
}

#[test]
fn every_alert_goes_to_every_sink() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.json");
    let (ep, url) = Endpoint::start(&rt, |_, _| (200, "{}".into()));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(
        &[
            SinkConfig::File {
                name: None,
                path: path.clone(),
                alert_format: AlertFormat::Ecs,
            },
            SinkConfig::Http(http_cfg(url, HttpFormat::Json)),
            syslog_cfg(
                SyslogProtocol::Udp,
                udp.local_addr().unwrap().to_string(),
                None,
            ),
        ],
        metrics.clone(),
        rt.handle(),
    )
    .unwrap();
    // Two matcher threads at once.
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let tx = sinks.sender();
            std::thread::spawn(move || {
                for n in (t * 50)..(t * 50 + 50) {
                    tx.send_blocking(alert(n));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for sink in ["file0", "http1", "syslog2"] {
        wait_for(sink, || out(&metrics, sink, "none") == 100);
    }
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    let names: Vec<&str> = report.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["file0", "http1", "syslog2"]);

    let mut in_file = read_ns(&path);
    let mut in_http = array_ns(&ep.bodies(200));
    let mut in_syslog = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..100 {
        let len = udp.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..len]).unwrap();
        let body = m.split_once(" - - - ").unwrap().1;
        in_syslog.push(n_of(&serde_json::from_str(body).unwrap()));
    }
    // Each sink keeps each thread's order; the threads interleave.
    for got in [&in_file, &in_http, &in_syslog] {
        for t in 0..2 {
            let mine: Vec<usize> = got.iter().copied().filter(|n| n / 50 == t).collect();
            assert_eq!(mine, (t * 50..t * 50 + 50).collect::<Vec<_>>());
        }
    }
    for got in [&mut in_file, &mut in_http, &mut in_syslog] {
        got.sort_unstable();
        assert_eq!(*got, (0..100).collect::<Vec<_>>());
    }
}

/// Run in a child process (this test binary, filtered to this test) so that what the sink
/// writes to standard output can be read.
#[test]
fn stdout_sink_writes_json_lines() {
    const CHILD: &str = "IOCD_TEST_STDOUT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let rt = runtime();
        let metrics = Arc::new(Metrics::new());
        let stdout = SinkConfig::Stdout {
            name: None,
            alert_format: AlertFormat::Ecs,
        };
        let sinks = Sinks::start(&[stdout], metrics.clone(), rt.handle()).unwrap();
        let tx = sinks.sender();
        for n in 0..3 {
            tx.send_blocking(alert(n));
        }
        let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
        assert_eq!(report.undelivered, 0);
        assert_eq!(out(&metrics, "stdout0", "none"), 3);
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stdout_sink_writes_json_lines", "--nocapture"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(child.wait().unwrap().success(), "child failed:\n{text}");
    // The test harness writes its own lines, and may start ours with `test NAME ... `.
    let alerts: Vec<String> = text
        .lines()
        .filter_map(|l| l.find("{\"").map(|i| l[i..].to_owned()))
        .collect();
    let want: Vec<String> = (0..3)
        .map(|n| String::from_utf8(alert(n).json.to_vec()).unwrap())
        .collect();
    assert_eq!(alerts, want);
}

// ---------------------------------------------------------------------------------------
// Alerts a sink can never send go to its dead-letter file, as for HTTP sinks

/// An alert whose JSON is `bytes` long, with `event.id` `big-n`.
fn big_alert(n: usize, bytes: usize) -> AlertRecord {
    let pad = "x".repeat(bytes);
    AlertRecord {
        json: json!({"event": {"id": format!("big-{n}")}, "n": n, "pad": pad})
            .to_string()
            .into_bytes()
            .into(),
        time: TIME + n as i64,
        priority: AlertPriority::Untriaged,
        key: std::sync::Arc::from("k"),
        receipt: None,
        formats: None,
    }
}

fn dead_letters_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letters are JSON lines"))
        .collect()
}

#[test]
fn syslog_udp_alert_too_large_for_a_datagram_is_dead_lettered() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut cfg = syslog_cfg(
        SyslogProtocol::Udp,
        server.local_addr().unwrap().to_string(),
        None,
    );
    if let SinkConfig::Syslog { dead_letter, .. } = &mut cfg {
        *dead_letter = Some(dead.clone());
    }
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[cfg], metrics.clone(), rt.handle()).unwrap();
    let tx = sinks.sender();
    tx.send_blocking(big_alert(0, 70_000));
    tx.send_blocking(alert(1));
    // The small one is sent; the large one is in the file, whole.
    let mut buf = vec![0u8; 65_536];
    let len = server.recv(&mut buf).unwrap();
    check_5424(
        std::str::from_utf8(&buf[..len]).unwrap(),
        36,
        "iocd-test",
        1,
    );
    wait_for("one dead letter", || {
        metrics
            .sink_dead_letters
            .with_label_values(&["syslog0", "too_large"])
            .get()
            == 1
    });
    let lines = dead_letters_of(&dead);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["sink"], "syslog0");
    assert_eq!(lines[0]["alert"]["event"]["id"], "big-0");
    assert_eq!(lines[0]["alert"]["pad"].as_str().unwrap().len(), 70_000);
    assert_eq!(dropped(&metrics, "syslog0", "too_large"), 0);
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0, "the dead-lettered alert is settled");
}

/// A record over the producer's `message.max.bytes` is refused by librdkafka before any
/// broker is asked (none runs here): it goes to the dead-letter file, not into a retry loop.
#[test]
fn kafka_record_refused_for_good_is_dead_lettered() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let cfg: SinkConfig = toml::from_str(&format!(
        "type = \"kafka\"\nbrokers = \"127.0.0.1:{}\"\ntopic = \"alerts\"\n\
         dead_letter = \"{}\"\n[options]\n\"message.max.bytes\" = \"2000\"\n",
        free_port(),
        dead.display()
    ))
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&[cfg], metrics.clone(), rt.handle()).unwrap();
    sinks.sender().send_blocking(big_alert(7, 5_000));
    wait_for("one dead letter", || {
        metrics
            .sink_dead_letters
            .with_label_values(&["kafka0", "refused"])
            .get()
            == 1
    });
    let lines = dead_letters_of(&dead);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["sink"], "kafka0");
    assert_eq!(lines[0]["alert"]["event"]["id"], "big-7");
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("refused it for good"),
        "{}",
        lines[0]
    );
    assert_eq!(buffered(&metrics, "kafka0"), 0);
}
