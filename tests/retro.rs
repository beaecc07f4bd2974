//! Retro-matching end to end, with real processes: `iocd run` with a syslog TCP source and a
//! file sink, lines that flow before an indicator is published, a feed that gains it, the
//! reload, and the `retro` alerts on exactly the earlier lines, once; a restart in the middle
//! of a job; a corrupt spool segment. (The Kafka history is in `tests/kafka.rs`.)

use std::path::Path;
use std::time::{Duration, Instant};

use iocd_testkit::support::{
    TEST_FEED, file_sink_admin, free_port, http_get, iocd_run, metric_sum, read_alerts, signal,
    start_iocd, stop_iocd, write_config,
};
use serde_json::Value;

const LATE: &str = "203.0.113.77";

/// A daemon killed when dropped: a failing assertion leaves none behind.
use iocd_testkit::support::KillOnDrop as Running;

fn config(dir: &Path, syslog: u16, admin: u16, retro: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("feed.txt"), "198.51.100.1\n").unwrap();
    let cfg = format!(
        r#"{TEST_FEED}
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
{sinks}
[retro]
enabled = true
dir = "retro"
lookback = "1h"
segment_max_age = "1s"
{retro}
"#,
        sinks = file_sink_admin(admin, "20s"),
    );
    write_config(dir, &cfg)
}

use iocd_testkit::support::{send_tcp as send, syslog_line as line};

fn metrics(admin: u16) -> String {
    http_get(admin, "/metrics").unwrap_or_default()
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn retro_alerts(path: &Path) -> Vec<Value> {
    read_alerts(path)
        .into_iter()
        .filter(|a| a["iocd"]["alert_type"] == "retro")
        .collect()
}

/// The story of the issue: hosts reach 203.0.113.77 before any feed lists it; the feed
/// gains it; the reload finds exactly those earlier lines, once, as `retro` alerts at their
/// own times; later lines alert live; a reload with nothing new and a restart alert
/// nothing again.
#[test]
fn an_indicator_published_late_finds_the_hosts_that_reached_it_first() {
    let d = tempfile::tempdir().unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = config(d.path(), syslog, admin, "");
    let alerts = d.path().join("alerts.jsonl");
    let mut iocd = Running(start_iocd(&mut iocd_run(&cfg), admin, "/readyz"));
    // Before: three hosts reach the address nobody lists yet, among lines without hits, and
    // one line hits the indicator the feed already has (a live alert).
    let mut early = Vec::new();
    for i in 0..300 {
        early.push(line(
            &format!("2026-12-01T10:{:02}:{:02}Z", i / 60, i % 60),
            &format!("web-{}", i % 7),
            &format!(
                "action=allow src=10.0.0.{} dst=192.0.2.{} dport=443",
                i % 250,
                i % 200
            ),
        ));
    }
    for (k, host) in ["ws-1", "ws-2", "ws-3"].iter().enumerate() {
        early.insert(
            50 + k * 80,
            line(
                &format!("2026-12-01T09:0{k}:00Z"),
                host,
                &format!("action=allow src=10.1.0.{k} dst={LATE} dport=443"),
            ),
        );
    }
    early.push(line(
        "2026-12-01T11:00:00Z",
        "web-9",
        "dst=198.51.100.1 dport=80",
    ));
    send(syslog, &early);
    wait_for("the lines spooled", Duration::from_secs(20), || {
        let m = metrics(admin);
        metric_sum(&m, "iocd_source_events_total") >= early.len() as f64
            && metric_sum(&m, "iocd_retro_spool_written_bytes_total") > 0.0
    });
    assert_eq!(retro_alerts(&alerts).len(), 0);
    let status: Value = serde_json::from_str(&http_get(admin, "/retro").unwrap()).unwrap();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["state"], "idle");
    assert_eq!(
        status["known_indicators"], 1,
        "the first set is the baseline: {status}"
    );

    // The feed publishes the address; the reload starts a job.
    std::fs::write(d.path().join("feed.txt"), format!("198.51.100.1\n{LATE}\n")).unwrap();
    signal(&iocd, "HUP");
    wait_for("the retro job", Duration::from_secs(30), || {
        metric_sum(&metrics(admin), "iocd_retro_jobs_total") >= 1.0
    });
    wait_for("its alerts", Duration::from_secs(10), || {
        retro_alerts(&alerts).len() >= 3
    });
    let got = retro_alerts(&alerts);
    assert_eq!(got.len(), 3, "exactly the three earlier lines: {got:#?}");
    let mut hosts: Vec<&str> = got
        .iter()
        .map(|a| a["host"]["hostname"].as_str().unwrap())
        .collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["ws-1", "ws-2", "ws-3"]);
    for a in &got {
        let host = a["host"]["hostname"].as_str().unwrap();
        let k: usize = host[3..].parse::<usize>().unwrap() - 1;
        assert_eq!(a["event"]["kind"], "alert");
        assert_eq!(a["event"]["dataset"], "iocd.retro");
        // The line's own time, not the reload's.
        assert_eq!(
            a["@timestamp"],
            format!("2026-12-01T09:0{k}:00.000Z"),
            "{a}"
        );
        assert_eq!(a["threat"]["enrichments"][0]["matched"]["atomic"], LATE);
        assert_eq!(a["iocd"]["source"]["input"], "syslog_tcp");
        assert!(a["iocd"]["priority"].is_string(), "triaged: {a}");
        // The feed gives no first-seen date: the lead is to when iocd got the indicator,
        // days after the line.
        let lead = a["iocd"]["retro"]["lead_seconds"].as_i64().unwrap();
        assert!(lead > 86_400, "{a}");
        assert!(a["iocd"]["retro"]["indicator_added"].is_string());
    }
    let m = metrics(admin);
    assert_eq!(metric_sum(&m, "iocd_retro_jobs_total"), 1.0, "{m}");
    assert_eq!(metric_sum(&m, "iocd_retro_hits_total"), 3.0);
    assert_eq!(metric_sum(&m, "iocd_retro_indicators_checked_total"), 1.0);
    assert!(metric_sum(&m, "iocd_retro_scanned_bytes_total") > 10_000.0);
    assert!(metric_sum(&m, "iocd_retro_scanned_messages_total") >= early.len() as f64);
    assert_eq!(metric_sum(&m, "iocd_retro_job_duration_seconds_count"), 1.0);
    assert_eq!(metric_sum(&m, "iocd_retro_job_running"), 0.0);
    assert_eq!(metric_sum(&m, "iocd_retro_indicators_pending"), 0.0);
    assert!(metric_sum(&m, "iocd_retro_spool_segments_closed_total") >= 1.0);
    assert!(metric_sum(&m, "iocd_retro_spool_segments") >= 1.0);
    assert!(metric_sum(&m, "iocd_retro_spool_bytes") > 0.0);
    // The range covered: when the lines arrived (now), not what they say.
    let from = metric_sum(&m, "iocd_retro_covered_from_timestamp_seconds");
    let to = metric_sum(&m, "iocd_retro_covered_to_timestamp_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    assert!(
        from > now - 300.0 && from <= to && to <= now + 1.0,
        "{from} {to}"
    );
    let status: Value = serde_json::from_str(&http_get(admin, "/retro").unwrap()).unwrap();
    assert_eq!(status["last_job"]["alerts"], 3, "{status}");
    assert_eq!(status["last_job"]["indicators"], 1);
    assert_eq!(status["known_indicators"], 2);

    // After the reload, the address alerts live, not as retro.
    send(
        syslog,
        &[line(
            "2026-12-04T10:00:00Z",
            "ws-4",
            &format!("dst={LATE} dport=443"),
        )],
    );
    wait_for("the live alert", Duration::from_secs(10), || {
        read_alerts(&alerts)
            .iter()
            .any(|a| a["host"]["hostname"] == "ws-4")
    });
    let live: Vec<Value> = read_alerts(&alerts)
        .into_iter()
        .filter(|a| a["host"]["hostname"] == "ws-4")
        .collect();
    assert_eq!(live[0]["iocd"]["alert_type"], "hit");
    // A reload that adds nothing starts no job.
    signal(&iocd, "HUP");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(metric_sum(&metrics(admin), "iocd_retro_jobs_total"), 1.0);
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(log.contains("retro: job done"), "{log}");

    // A restart: the indicators seen are remembered; nothing is looked for again.
    let mut iocd = Running(start_iocd(&mut iocd_run(&cfg), admin, "/readyz"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(metric_sum(&metrics(admin), "iocd_retro_jobs_total"), 0.0);
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert_eq!(retro_alerts(&alerts).len(), 3, "nothing alerted twice");
}

/// A job is stopped by SIGTERM in the middle (a slow CPU share keeps it running) and resumed
/// by the next start; a spool segment corrupted on disk is skipped and counted. Every
/// earlier host alerts exactly once across both runs, except the ones of the corrupt segment.
#[test]
fn a_job_resumes_after_a_restart_and_skips_a_corrupt_segment() {
    let d = tempfile::tempdir().unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = config(
        d.path(),
        syslog,
        admin,
        "max_cpu_share = 0.01\nsegment_max_bytes = 4096\nspool_max_bytes = 1073741824",
    );
    let alerts = d.path().join("alerts.jsonl");
    let mut iocd = Running(start_iocd(&mut iocd_run(&cfg), admin, "/readyz"));
    // Eight rounds, each its own segment (a second apart): 1,500 noise lines and one line
    // to the late address from a host of its own.
    for round in 0..8 {
        let mut lines: Vec<String> = (0..1500)
            .map(|i| {
                line(
                    "2026-12-01T10:00:00Z",
                    &format!("web-{i}"),
                    &format!(
                        "action=allow src=10.0.{round}.{} dst=192.0.2.{} id={i:08x}{round}",
                        i % 250,
                        i % 200
                    ),
                )
            })
            .collect();
        lines.push(line(
            &format!("2026-12-01T09:00:0{round}Z"),
            &format!("ws-{round}"),
            &format!("dst={LATE} dport=443"),
        ));
        send(syslog, &lines);
        std::thread::sleep(Duration::from_millis(1500));
    }
    let spool = d.path().join("retro/spool");
    wait_for("eight segments", Duration::from_secs(20), || {
        std::fs::read_dir(&spool)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count()
            >= 8
    });
    // Corrupt the segment of round 0: flip bytes in its last block.
    let mut segs: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let first = &segs[0];
    let mut bytes = std::fs::read(first).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 40..n - 30] {
        *b ^= 0xa5;
    }
    std::fs::write(first, &bytes).unwrap();

    std::fs::write(d.path().join("feed.txt"), format!("198.51.100.1\n{LATE}\n")).unwrap();
    signal(&iocd, "HUP");
    // Stop it once the job has alerted on some hosts but not all.
    wait_for("the job in the middle", Duration::from_secs(60), || {
        let n = retro_alerts(&alerts).len();
        (1..7).contains(&n)
    });
    // Round 0's segment, read first, was found corrupt and skipped.
    let m = metrics(admin);
    assert_eq!(
        metric_sum(&m, "iocd_retro_spool_corrupt_segments_total"),
        1.0,
        "{m}"
    );
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(log.contains("job stopped by shutdown"), "{log}");
    let before = retro_alerts(&alerts).len();
    assert!(before < 7, "stopped in the middle: {before}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(d.path().join("retro/state.json")).unwrap()).unwrap();
    assert!(state["job"].is_object(), "the job is saved: {state}");

    let cfg_fast = config(
        d.path(),
        syslog,
        admin,
        "max_cpu_share = 1.0\nsegment_max_bytes = 4096\nspool_max_bytes = 1073741824",
    );
    // (the feed file was rewritten by `config`: publish the address again)
    std::fs::write(d.path().join("feed.txt"), format!("198.51.100.1\n{LATE}\n")).unwrap();
    let mut iocd = Running(start_iocd(&mut iocd_run(&cfg_fast), admin, "/readyz"));
    wait_for("the resumed job", Duration::from_secs(60), || {
        metric_sum(&metrics(admin), "iocd_retro_jobs_total") >= 1.0
    });
    let (status, log) = stop_iocd(&mut iocd, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(log.contains("resuming the job"), "{log}");
    let got = retro_alerts(&alerts);
    let mut hosts: Vec<String> = got
        .iter()
        .map(|a| a["host"]["hostname"].as_str().unwrap().to_owned())
        .collect();
    hosts.sort_unstable();
    let want: Vec<String> = (1..8).map(|r| format!("ws-{r}")).collect();
    assert_eq!(hosts, want, "each host once, round 0's segment corrupt");
}
