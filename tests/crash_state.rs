//! End to end: what a SIGKILL leaves of iocd's state files is repaired at the next start.
//! A leftover temporary file of an atomic write is removed (logged and counted); a sightings
//! file whose last line was cut mid-write is repaired, so that new records are never glued
//! to the broken one.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    TEST_FEED, assert_running, free_port, http_get, iocd_run, metric_sum, start_iocd, stop_iocd,
    write_config,
};

/// The complete lines of the sightings file (the ones ending with a newline).
fn complete_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// `log` without its terminal colour sequences (`ESC [ ... m`).
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut rest = log;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = rest.find('m').map_or("", |m| &rest[m + 1..]);
    }
    out.push_str(rest);
    out
}

/// Sends a log line that hits the test indicator, over syslog TCP.
fn send_hit(port: u16, n: u32) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    writeln!(
        s,
        "<134>fw{n}: DROP SRC=10.1.1.{n} DST=198.51.100.23 PROTO=TCP"
    )
    .unwrap();
}

/// Waits until the sightings file holds more than `than` complete lines.
fn wait_sightings(child: &mut Child, path: &Path, than: usize) {
    let t = Instant::now();
    while complete_lines(path) <= than {
        assert_running(child);
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no new sightings line after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn leftovers_of_a_killed_daemon_are_cleaned_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "198.51.100.23\n").unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"{TEST_FEED}
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
[[sinks]]
type = "file"
path = "alerts.jsonl"
[admin]
listen = "127.0.0.1:{admin}"
[feedback]
state = "feedback.json"
[sightings]
file = "sightings.jsonl"
interval = "1s"
"#
        ),
    );
    let sightings = dir.path().join("sightings.jsonl");

    let mut first = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    send_hit(syslog, 1);
    wait_sightings(&mut first, &sightings, 0);
    first.kill().unwrap();
    first.wait().unwrap();

    // What a kill in the middle of a save and of an append leaves behind.
    let leftover = dir.path().join(".feedback.json.tmp12345");
    std::fs::write(&leftover, "[{\"indicator\": \"half").unwrap();
    let partial = br#"{"value":"198.51.100.23","type":"0","sou"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&sightings)
        .unwrap()
        .write_all(partial)
        .unwrap();
    let before = complete_lines(&sightings);
    // Not ours: kept.
    let other = dir.path().join(".feedback.json.bak");
    std::fs::write(&other, "keep").unwrap();

    let mut second = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    assert!(
        !leftover.exists(),
        "the leftover temporary file is still there"
    );
    assert!(other.exists(), "a file that is not iocd's was removed");
    let metrics = http_get(admin, "/metrics").unwrap();
    assert_eq!(
        metric_sum(&metrics, "iocd_state_temp_files_removed_total"),
        1.0
    );
    assert_eq!(
        metric_sum(&metrics, "iocd_state_partial_line_bytes_cut_total"),
        partial.len() as f64
    );
    send_hit(syslog, 2);
    wait_sightings(&mut second, &sightings, before);
    let (status, log) = stop_iocd(&mut second, Duration::from_secs(60));
    assert!(status.success(), "{log}");
    let log = plain(&log);

    assert!(
        log.contains("removed a temporary file an interrupted write left behind")
            && log.contains(".feedback.json.tmp12345"),
        "{log}"
    );
    assert!(
        log.contains("cut a partial last line")
            && log.contains(&format!("bytes={}", partial.len())),
        "{log}"
    );
    let text = std::fs::read_to_string(&sightings).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in\n{text}")))
        .collect();
    assert!(lines.len() >= 2, "{text}");
    assert!(
        lines
            .iter()
            .all(|l| l["value"] == "198.51.100.23" && l["count"].as_u64() >= Some(1)),
        "{text}"
    );
}
