//! Shutdown of the real `iocd run` binary. With a sink that is down it must still exit within
//! its grace period, with triage on (roll-ups and digests are handed to the sinks at shutdown,
//! and that hand-over must not wait forever for a sink whose buffer is full); with stdin as a
//! source that stays open, it must not wait for stdin at all; during a reload whose feed waits
//! to retry, it must not wait for the retries.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    TEST_FEED, assert_running, file_sink_admin, free_port, http_get, iocd_run, metric_sum,
    read_alerts, signal, sigterm_timed, start_iocd, stderr_of, write_config,
};

fn metric(admin: u16, name: &str) -> f64 {
    http_get(admin, "/metrics").map_or(0.0, |b| metric_sum(&b, name))
}

#[test]
fn a_dead_sink_does_not_hold_the_exit_past_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    // 200 distinct indicators, each seen from an internal host: 200 windows.
    let feed: String = (0..200)
        .map(|i| format!("203.0.113.{}\n", i % 250))
        .collect::<String>()
        + &(0..200)
            .map(|i| format!("evil{i}.example.com\n"))
            .collect::<String>();
    std::fs::write(dir.path().join("feed.txt"), feed).unwrap();
    // One indicator on one host 50 times first (one alert, then a window that counts: closing
    // it at shutdown makes a roll-up), then distinct ones that fill the dead sink's buffer.
    let log: String = std::iter::repeat_n(0, 50)
        .chain(1..200)
        .map(|i| {
            format!(
                "Nov 22 10:00:00 fw1 kernel: ACCEPT SRC=10.0.0.{} DST=203.0.113.{} DPT=443 q=evil{i}.example.com\n",
                i % 250,
                i % 250
            )
        })
        .collect();
    std::fs::write(dir.path().join("in.log"), log).unwrap();
    let (admin, dead) = (free_port(), free_port());
    let cfg = format!(
        r#"
{TEST_FEED}
[[sources.files]]
path = "in.log"
from_beginning = true
[[sinks]]
type = "http"
url = "http://127.0.0.1:{dead}/alerts"
batch_max_events = 1
buffer_max_events = 1
retry_initial_delay = "50ms"
retry_max_delay = "200ms"
[triage.dedup]
window = "1h"
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "3s"
"#
    );
    let path = write_config(dir.path(), &cfg);
    let mut child = iocd_run(&path).spawn().unwrap();
    let t = Instant::now();
    while metric(admin, "iocd_sink_retries_total") < 2.0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the sink never retried"
        );
        assert_running(&mut child);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, took) = sigterm_timed(
        &mut child,
        Duration::from_secs(15),
        "with a 3 s grace period",
    );
    let err = stderr_of(&mut child);
    assert!(took < Duration::from_secs(6), "exit took {took:?}:\n{err}");
    assert!(
        !status.success(),
        "alerts were not delivered: not a clean exit"
    );
    assert!(err.contains("stopped with alerts not delivered"), "{err}");
}

/// `[sources] stdin = true` and whoever feeds stdin keeps it open: SIGTERM stops reading it at
/// once, the line already read is alerted, and iocd exits 0 well within its grace period
/// (it used to wait for the whole grace, matcher threads "did not drain", exit 1). Its log,
/// written to a file, carries no colour codes.
#[test]
fn sigterm_with_stdin_still_open_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "198.51.100.7\n").unwrap();
    let admin = free_port();
    let cfg = format!(
        r#"
{TEST_FEED}
[triage]
enabled = false
[sources]
stdin = true
{sink}
"#,
        sink = file_sink_admin(admin, "20s"),
    );
    let path = write_config(dir.path(), &cfg);
    let log_path = dir.path().join("iocd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = iocd_run(&path);
    cmd.current_dir(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::from(log))
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    let mut child = start_iocd(&mut cmd, admin, "/readyz");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"Nov 22 10:00:00 fw1 kernel: DROP SRC=10.0.0.1 DST=198.51.100.7 held open\n")
        .unwrap();
    let alerts = dir.path().join("alerts.jsonl");
    let t = Instant::now();
    while read_alerts(&alerts).is_empty() {
        assert_running(&mut child);
        assert!(t.elapsed() < Duration::from_secs(30), "no alert");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (status, took) = sigterm_timed(&mut child, Duration::from_secs(30), "with stdin open");
    drop(stdin);
    let log = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(took < Duration::from_secs(8), "exit took {took:?}:\n{text}");
    assert!(!text.contains("did not drain"), "{text}");
    assert!(text.contains("stopped cleanly"), "{text}");
    assert!(
        !log.contains(&0x1b),
        "no ANSI escape in a log that is not a terminal:\n{text}"
    );
    assert_eq!(read_alerts(&alerts).len(), 1);
}

/// A feed server that answers its first request with one indicator and every later one with
/// `503`; the number of requests so far.
fn feed_then_503() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let reply: &[u8] = if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n45.1.1.1\r\n\n"
            } else {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = s.write_all(reply);
        }
    });
    (port, seen)
}

/// SIGTERM while a reload waits to retry a feed that answers `503` (20 s between tries): the
/// reload is abandoned and iocd exits at once, not after the feed's retries.
#[test]
fn sigterm_interrupts_a_reload_waiting_to_retry_a_feed() {
    let dir = tempfile::tempdir().unwrap();
    let (feed, requests) = feed_then_503();
    let admin = free_port();
    let cfg = format!(
        r#"
[[feeds]]
name = "url"
url = "http://127.0.0.1:{feed}/feed.txt"
[feeds.http]
retries = 5
retry_delay = "20s"
[reload]
watch_files = false
[sources.syslog_udp]
listen = "127.0.0.1:{}"
{sink}
"#,
        free_port(),
        sink = file_sink_admin(admin, "3s"),
    );
    let path = write_config(dir.path(), &cfg);
    let mut child = start_iocd(&mut iocd_run(&path), admin, "/readyz");
    signal(&child, "HUP");
    let t = Instant::now();
    while requests.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no reload after SIGHUP"
        );
        assert_running(&mut child);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The download failed once; its retry waits 10 to 20 s.
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = sigterm_timed(&mut child, Duration::from_secs(15), "during a reload");
    let err = stderr_of(&mut child);
    assert!(took < Duration::from_secs(4), "exit took {took:?}:\n{err}");
    assert!(status.success(), "{err}");
    assert!(err.contains("the reload is abandoned"), "{err}");
}
