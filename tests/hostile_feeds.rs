//! End to end: feed documents written by the adversary never take the process down.
//!
//! A STIX 2.1 indicator whose pattern nests parentheses thousands deep used to abort iocd with a
//! stack overflow: in `iocd iocs stats --config`, in `iocd validate`, and in the running daemon
//! on reload (a URL feed serving it put a `Restart=on-failure` service into a crash loop). Here
//! the real binary reads such a bundle beside a good indicator: the deep record is rejected as
//! `too_deep`, the good one is loaded, and the daemon keeps running and alerting.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    file_sink_admin, free_port, http_get, iocd_run, iocd_validate, read_alerts, signal, start_iocd,
    stop_iocd, write_config,
};

/// Parentheses around the deep pattern: ~10 KB of pattern, as in the report; 5,000 frames of
/// the old recursive parser overflowed the stack.
const DEPTH: usize = 5_000;

/// A bundle holding a pattern nested `DEPTH` deep, and a good indicator of `good`.
fn deep_bundle(good: &str) -> String {
    let deep = format!(
        "{}[ipv4-addr:value = '198.51.100.66']{}",
        "(".repeat(DEPTH),
        ")".repeat(DEPTH)
    );
    format!(
        r#"{{"type": "bundle", "id": "bundle--1", "objects": [
  {{"type": "indicator", "id": "indicator--deep", "spec_version": "2.1", "pattern_type": "stix", "pattern": "{deep}"}},
  {{"type": "indicator", "id": "indicator--good", "spec_version": "2.1", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '{good}']"}}
]}}"#
    )
}

fn good_bundle(good: &str) -> String {
    format!(
        r#"{{"type": "bundle", "id": "bundle--0", "objects": [
  {{"type": "indicator", "id": "indicator--good", "spec_version": "2.1", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '{good}']"}}
]}}"#
    )
}

/// Config lines for the STIX feed `feed.json` beside the config (documentation addresses
/// allowed), not watched.
const STIX_FEED: &str = r#"[[feeds]]
name = "stix"
path = "feed.json"
format = "stix"
allow_private = true
[reload]
watch_files = false"#;

fn iocd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn iocs_stats_and_validate_reject_the_deep_pattern_and_load_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.json"), deep_bundle("203.0.113.77")).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("[sources]\nstdin = true\n[[sinks]]\ntype = \"stdout\"\n{STIX_FEED}\n"),
    );

    let out = iocd(dir.path(), &["iocs", "stats", "--config", "iocd.toml"]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // feed format loaded merged rejected ...
    let row: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("stix "))
        .unwrap_or_else(|| panic!("no stix row in\n{stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[1..5], ["stix", "1", "0", "1"], "{stdout}");
    assert!(stdout.contains("rejected: too_deep 1"), "{stdout}");
    let out = iocd(
        dir.path(),
        &["iocs", "stats", "--config", "iocd.toml", "--all-rejected"],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("at $.objects[0] (indicator--deep): nested deeper than 64 levels"),
        "the rejection says where and why:\n{stdout}"
    );

    let out = iocd_validate(&cfg);
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("ok: 1 feeds, 1 indicators, 1 feed lines rejected, 1 sinks"),
        "{stdout}"
    );
}

#[test]
fn the_daemon_survives_a_reload_of_the_deep_pattern_and_keeps_alerting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.json"), good_bundle("203.0.113.77")).unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[engine]
threads = 2
{STIX_FEED}
[triage]
enabled = false
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
{sink}
"#,
            sink = file_sink_admin(admin, "20s"),
        ),
    );
    let mut child = start_iocd(iocd_run(&cfg).env("RUST_LOG", "info"), admin, "/readyz");
    let metrics = http_get(admin, "/metrics").unwrap();
    assert!(metrics.contains("iocd_ioc_set_generation 1"), "{metrics}");

    // The feed is replaced by the hostile bundle (and a new good indicator), then reloaded.
    std::fs::write(dir.path().join("feed.json"), deep_bundle("203.0.113.88")).unwrap();
    signal(&child, "HUP");
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (_, log) = stop_iocd_after_exit(&mut child);
            panic!("iocd exited on reload with {status}:\n{log}");
        }
        let m = http_get(admin, "/metrics").unwrap_or_default();
        if m.contains("iocd_ioc_set_generation 2")
            && m.contains(r#"iocd_ioc_rejected_lines{feed="stix",reason="too_deep"} 1"#)
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no reload with the deep pattern rejected after SIGHUP:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut s = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
    writeln!(s, "<13>Nov 22 10:00:00 fw01 kernel: DST=203.0.113.88").unwrap();
    drop(s);
    let alerts_path = dir.path().join("alerts.jsonl");
    let t = Instant::now();
    let alerts = loop {
        let a = read_alerts(&alerts_path);
        if !a.is_empty() || t.elapsed() > Duration::from_secs(60) {
            break a;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        alerts.len(),
        1,
        "the good indicator alerts after the reload"
    );
    assert_eq!(alerts[0]["iocd"]["generation"], 2);
    let matched = alerts[0]["iocd"]["matches"][0]["indicator"].as_str();
    assert_eq!(matched, Some("203.0.113.88"));

    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("too_deep") || log.contains("nested deeper"),
        "the rejection is logged:\n{log}"
    );
}

fn stop_iocd_after_exit(child: &mut std::process::Child) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    (status.code(), support::stderr_of(child))
}
