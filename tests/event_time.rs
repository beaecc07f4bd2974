//! Issue 15 item 2: triage in event time. One scenario goes through the real daemon twice:
//! live (each line sent at its own time, the scenario's spacing) and replayed (every line
//! at once, as a backlog after an outage). In event time both give the same alerts.

use iocd_testkit::support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::{free_port, iocd_run, read_alerts, start_iocd, stop_iocd, write_config};

const C2: &str = "203.0.113.7";
const OTHER: &str = "198.51.100.9";

/// (ms after the start, internal host, indicator): windows of 2 s, digests every 3 s.
const SCENARIO: &[(u64, &str, &str)] = &[
    (0, "10.0.0.5", C2),
    (400, "10.0.0.5", C2),
    (900, "10.0.0.5", C2),
    (1200, "10.0.0.6", C2),
    // 10.0.0.5's first window (0-2 s) is closed: a new hit, and a roll-up of 2.
    (2600, "10.0.0.5", C2),
    (3100, "10.0.0.6", OTHER),
    (3500, "10.0.0.6", OTHER),
    (4200, "10.0.0.5", C2),
    (5400, "10.0.0.7", OTHER),
    (6800, "10.0.0.5", C2),
    (7000, "10.0.0.6", OTHER),
    (7300, "10.0.0.6", OTHER),
];

/// The netfilter line of one scenario event, its syslog header dated `at`.
fn line(at: SystemTime, host: &str, indicator: &str, n: usize) -> String {
    let ts = humantime::format_rfc3339_millis(at);
    format!(
        "<134>1 {ts} fw01 kernel - - - [UFW ALLOW] IN= OUT=eth0 SRC={host} DST={indicator} \
         LEN=60 TTL=64 ID={n} DF PROTO=TCP SPT={} DPT=443 WINDOW=64240 SYN URGP=0\n",
        40000 + n
    )
}

fn config(dir: &Path, syslog: u16, admin: u16, time: &str) -> String {
    std::fs::write(dir.join("feed.txt"), format!("{C2}\n{OTHER}\n")).unwrap();
    format!(
        r#"
[engine]
# One matcher thread: lines are triaged in the order they come (with more, two batches of a
# backlog may be triaged at once, within the allowance for disorder).
threads = 1
[[feeds]]
name = "c2"
path = "feed.txt"
allow_private = true
confidence = 90
severity = 90
[reload]
watch_files = false
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
[[sinks]]
name = "all"
type = "file"
path = "all.jsonl"
[[sinks]]
name = "soc"
type = "file"
path = "soc.jsonl"
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "20s"
[log]
level = "warn"
[triage]
time = "{time}"
max_lateness = "5s"
[triage.dedup]
window = "2s"
[triage.routing]
digest_interval = "3s"
[triage.routing.sinks.all]
min_priority = "info"
[triage.routing.sinks.soc]
min_priority = "critical"
"#
    )
}

/// Runs the daemon in `time` and hands it the scenario: `replay: None` live (each line dated
/// and sent at its offset), `Some(lines)` those lines all at once. Stops it: the alerts of
/// (all, soc), and the lines sent.
fn run(time: &str, replay: Option<&[String]>) -> (Vec<Value>, Vec<Value>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = write_config(dir.path(), &config(dir.path(), syslog, admin, time));
    let mut child = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    let mut tcp = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
    let mut sent = Vec::new();
    match replay {
        None => {
            let (start, t0) = (SystemTime::now(), Instant::now());
            for (n, &(ms, host, ioc)) in SCENARIO.iter().enumerate() {
                let offset = Duration::from_millis(ms);
                if let Some(wait) = offset.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
                let text = line(start + offset, host, ioc, n);
                tcp.write_all(text.as_bytes()).unwrap();
                tcp.flush().unwrap();
                sent.push(text);
            }
        }
        Some(lines) => {
            tcp.write_all(lines.concat().as_bytes()).unwrap();
            sent = lines.to_vec();
        }
    }
    drop(tcp);
    // Every line matched before the stop (the stop drains what is queued anyway).
    let t = Instant::now();
    while support::http_get(admin, "/metrics")
        .map(|m| support::metric_sum(&m, "iocd_triage_hits_total"))
        .unwrap_or(0.0)
        < SCENARIO.len() as f64
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "lines not all matched"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    (
        read_alerts(&dir.path().join("all.jsonl")),
        read_alerts(&dir.path().join("soc.jsonl")),
        sent,
    )
}

/// What an alert says that does not depend on when lines arrived: without the times of
/// processing (`event.created`, `@timestamp` of roll-ups and digests, digest periods), where
/// the line came from (peer port, batch arrival, the `event.id` made of them).
fn comparable(a: &Value) -> Value {
    let mut a = a.clone();
    let kind = a["iocd"]["alert_type"].as_str().unwrap_or("").to_owned();
    let o = a.as_object_mut().unwrap();
    if kind != "hit" && kind != "escalation" {
        o.remove("@timestamp");
    }
    if let Some(e) = o.get_mut("event").and_then(Value::as_object_mut) {
        e.remove("created");
        e.remove("ingested");
        e.remove("id");
        e.remove("start");
        e.remove("end");
    }
    if let Some(i) = o.get_mut("iocd").and_then(Value::as_object_mut) {
        i.remove("source");
        // Where each run's feed file was (a temporary folder of its own).
        for m in i
            .get_mut("matches")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for s in m["sources"].as_array_mut().into_iter().flatten() {
                s.as_object_mut().unwrap().remove("location");
            }
        }
    }
    a
}

fn sorted(alerts: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = alerts.iter().map(|a| comparable(a).to_string()).collect();
    v.sort();
    v
}

fn by_type(alerts: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(a["iocd"]["alert_type"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    m
}

#[test]
fn a_backlog_replayed_at_full_speed_gives_the_alerts_it_gave_live() {
    let (live_all, live_soc, lines) = run("event", None);
    assert_eq!(lines.len(), SCENARIO.len());
    // The same lines again, all at once: a backlog after an outage.
    let (replay_all, replay_soc, _) = run("event", Some(&lines));
    // Seven windows open (7 hit alerts), four close with later hits in them (4 roll-ups).
    let types = by_type(&live_all);
    assert_eq!(types.get("hit"), Some(&7), "{types:?}");
    assert_eq!(types.get("rollup"), Some(&4), "{types:?}");
    assert_eq!(sorted(&live_all), sorted(&replay_all), "sink all");
    // The soc sink (critical only) gets digests, cut at the same event times.
    assert!(
        live_soc.iter().any(|a| a["iocd"]["alert_type"] == "digest"),
        "{live_soc:?}"
    );
    assert_eq!(sorted(&live_soc), sorted(&replay_soc), "sink soc");
    // On the arrival clock the backlog collapses into one window per (indicator, host): the
    // alerts differ, which is what event time is for.
    let (arrival_all, _, _) = run("arrival", Some(&lines));
    let arrival = by_type(&arrival_all);
    assert_eq!(arrival.get("hit"), Some(&4), "{arrival:?}");
    assert_ne!(sorted(&live_all), sorted(&arrival_all));
}

/// In event time a line older than `max_lateness` (5 s here) behind the clock is triaged at
/// the clock minus the allowance, and counted: `iocd_triage_late_lines_total` says how much
/// of a stream came too late to be triaged at its own time. In arrival time it never moves.
#[test]
fn lines_later_than_the_allowance_are_counted() {
    for (time, late) in [("event", 1.0), ("arrival", 0.0)] {
        let dir = tempfile::tempdir().unwrap();
        let (syslog, admin) = (free_port(), free_port());
        let cfg = write_config(dir.path(), &config(dir.path(), syslog, admin, time));
        let mut child = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
        let now = SystemTime::now();
        let mut tcp = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
        // The newest line first, and triaged before the others are sent; then one a minute
        // older (late), then one a second older (within the 5 s allowance).
        let scrape_after = |hits: f64| {
            let t = Instant::now();
            loop {
                let m = support::http_get(admin, "/metrics").unwrap_or_default();
                if support::metric_sum(&m, "iocd_triage_hits_total") >= hits {
                    break m;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "lines not all matched"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        for (n, age) in [0u64, 60, 1].into_iter().enumerate() {
            let at = now - Duration::from_secs(age);
            tcp.write_all(line(at, "10.0.0.5", C2, n).as_bytes())
                .unwrap();
            tcp.flush().unwrap();
            if n == 0 {
                scrape_after(1.0);
            }
        }
        drop(tcp);
        let metrics = scrape_after(3.0);
        assert_eq!(
            support::metric_sum(&metrics, "iocd_triage_late_lines_total"),
            late,
            "{time}"
        );
        let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
        assert!(status.success(), "{log}");
    }
}
