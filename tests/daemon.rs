//! End to end: the real `iocd run` binary, fed over real TCP syslog, alerts in a file sink,
//! reloads through the real admin server and real signals.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    TEST_FEED, file_sink_admin, free_port, http, iocd_run, iocd_validate, read_alerts, signal,
    start_iocd, stop_iocd, write_config,
};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    syslog: u16,
    admin: u16,
}

impl Daemon {
    /// Starts `iocd run` with TCP syslog in, a file sink out, and `feed` as the one feed.
    fn start(feed: &str, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.txt"), feed).unwrap();
        let (syslog, admin) = (free_port(), free_port());
        let cfg = format!(
            r#"
[engine]
threads = 2
{TEST_FEED}
# One alert per line with hits: these tests count deliveries, not triage.
[triage]
enabled = false
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
{sink}
{extra}
"#,
            sink = file_sink_admin(admin, "20s"),
        );
        let cfg_path = write_config(dir.path(), &cfg);
        let child = start_iocd(
            iocd_run(&cfg_path).env("RUST_LOG", "info"),
            admin,
            "/readyz",
        );
        Daemon {
            child,
            dir,
            syslog,
            admin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn signal(&self, sig: &str) {
        signal(&self.child, sig);
    }

    /// SIGTERM, then the exit status and everything iocd logged.
    fn stop(mut self) -> (Option<i32>, String, Vec<serde_json::Value>) {
        let (status, err) = stop_iocd(&mut self.child, Duration::from_secs(30));
        let alerts = read_alerts(&self.path("alerts.jsonl"));
        (status.code(), err, alerts)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The indicators (canonical text) an alert names.
fn matched(alert: &serde_json::Value) -> BTreeSet<String> {
    alert["iocd"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["indicator"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_for_alerts(d: &Daemon, n: usize) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let a = read_alerts(&d.path("alerts.jsonl"));
        if a.len() >= n || t.elapsed() > Duration::from_secs(20) {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hot_reload_under_load_matches_each_line_against_one_whole_set() {
    // Every line holds a common indicator (in both sets), so every line must alert exactly
    // once whatever the set; some lines also hold an A-only or a B-only indicator, which an
    // alert must name exactly when the generation that matched it was A or B.
    const LINES: usize = 30_000;
    let common = |i: usize| format!("10.{}.{}.{}", 200 + i % 50, (i / 50) % 250, 1 + i % 200);
    let a_only = |i: usize| format!("a{}.evil-a.example", i % 97);
    let b_only = |i: usize| format!("b{}.evil-b.example", i % 89);
    let mut set_a = String::from("# set A\n");
    let mut set_b = String::from("# set B\n");
    let mut seen = BTreeSet::new();
    for i in 0..LINES {
        let c = common(i);
        if seen.insert(c.clone()) {
            set_a.push_str(&format!("{c}\n"));
            set_b.push_str(&format!("{c}\n"));
        }
    }
    for k in 0..97 {
        set_a.push_str(&format!("domain-exact:a{k}.evil-a.example\n"));
    }
    for k in 0..89 {
        set_b.push_str(&format!("domain-exact:b{k}.evil-b.example\n"));
    }
    let d = Daemon::start(&set_a, "");

    let lines: Vec<String> = (0..LINES)
        .map(|i| {
            let mut l = format!("<13>Nov 22 10:00:00 host app: id={i} SRC={}", common(i));
            if i % 3 == 0 {
                l.push_str(&format!(" q={}", a_only(i)));
            }
            if i % 3 == 1 {
                l.push_str(&format!(" q={}", b_only(i)));
            }
            l
        })
        .collect();
    let port = d.syslog;
    let sender = std::thread::spawn({
        let lines = lines.clone();
        move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            for chunk in lines.chunks(500) {
                let mut buf = String::new();
                for l in chunk {
                    buf.push_str(l);
                    buf.push('\n');
                }
                s.write_all(buf.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    });

    // generation -> which set it is; generation 1 is A.
    let mut which: BTreeMap<u64, char> = BTreeMap::from([(1, 'A')]);
    let mut reloads = 0;
    while !sender.is_finished() || reloads < 22 {
        let next = if reloads % 2 == 0 { 'B' } else { 'A' };
        std::fs::write(
            d.path("feed.txt"),
            if next == 'A' { &set_a } else { &set_b },
        )
        .unwrap();
        let (status, body) = http(d.admin, "POST", "/reload").unwrap();
        assert_eq!(status, 200, "reload failed: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let generation = v["generation"].as_u64().unwrap();
        assert!(
            which.insert(generation, next).is_none(),
            "generation {generation} reused"
        );
        reloads += 1;
        std::thread::sleep(Duration::from_millis(30));
    }
    sender.join().unwrap();
    assert!(reloads >= 20);

    let alerts = wait_for_alerts(&d, LINES);
    let (code, log, alerts_after) = d.stop();
    assert_eq!(code, Some(0), "iocd log:\n{log}");
    assert!(alerts_after.len() >= alerts.len());
    let alerts = alerts_after;

    let mut per_line: BTreeMap<usize, usize> = BTreeMap::new();
    let mut gens_used = BTreeSet::new();
    for a in &alerts {
        let orig = a["event"]["original"].as_str().unwrap();
        let i: usize = orig
            .split("id=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        *per_line.entry(i).or_default() += 1;
        let g = a["iocd"]["generation"].as_u64().unwrap();
        gens_used.insert(g);
        let set = which[&g];
        let mut want = BTreeSet::from([common(i)]);
        if i.is_multiple_of(3) && set == 'A' {
            want.insert(a_only(i));
        }
        if i % 3 == 1 && set == 'B' {
            want.insert(b_only(i));
        }
        assert_eq!(
            matched(a),
            want,
            "line {i} matched by generation {g} (set {set})"
        );
    }
    let lost: Vec<usize> = (0..LINES).filter(|i| !per_line.contains_key(i)).collect();
    assert!(
        lost.is_empty(),
        "{} lines lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let twice: Vec<_> = per_line.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "lines alerted twice: {twice:?}");
    assert!(
        gens_used.len() > 2,
        "the stream saw only generations {gens_used:?}"
    );
}

#[test]
fn sigterm_drains_everything_and_exits_zero() {
    let d = Daemon::start("198.51.100.7\n", "");
    let mut s = TcpStream::connect(("127.0.0.1", d.syslog)).unwrap();
    let n = 5_000;
    for i in 0..n {
        writeln!(
            s,
            "<13>Nov 22 10:00:00 fw01 kernel: id={i} DST=198.51.100.7"
        )
        .unwrap();
    }
    s.flush().unwrap();
    drop(s);
    // Stop at once: what was sent must still come out.
    std::thread::sleep(Duration::from_millis(200));
    let (code, log, alerts) = d.stop();
    assert_eq!(code, Some(0), "iocd log:\n{log}");
    assert_eq!(alerts.len(), n, "iocd log:\n{log}");
    assert_eq!(alerts[0]["host"]["hostname"], "fw01");
    assert_eq!(alerts[0]["iocd"]["source"]["input"], "syslog_tcp");
    assert!(log.contains("stopped cleanly"), "{log}");
}

/// A Zeek DNS log's header with these columns, as Zeek writes it at the top of each file.
fn zeek_header(fields: &[&str]) -> String {
    format!(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
         #path\tdns\n#open\t2024-05-01-10-00-00\n#fields\t{}\n#types\t{}\n",
        fields.join("\t"),
        vec!["string"; fields.len()].join("\t")
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The `matched.field` of each enrichment.
fn matched_fields(alert: &serde_json::Value) -> Vec<String> {
    alert["threat"]["enrichments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["matched"]["field"]
                .as_str()
                .unwrap_or("(none)")
                .to_owned()
        })
        .collect()
}

#[test]
fn followed_zeek_tsv_file_decodes_with_its_header_across_replacement() {
    const FIRST: [&str; 6] = ["ts", "uid", "id.orig_h", "id.resp_h", "query", "answers"];
    const SECOND: [&str; 6] = ["query", "ts", "id.resp_h", "answers", "uid", "id.orig_h"];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dns.log");
    std::fs::write(
        &log,
        zeek_header(&FIRST) + "1.0\tC0\t10.1.1.5\t10.1.1.1\tquiet.example\t-\n",
    )
    .unwrap();
    // Followed from its end: the header was written long before the lines the daemon reads.
    let d = Daemon::start(
        "bad.example\n",
        &format!(
            "[[sources.files]]\npath = \"{}\"\nfrom_beginning = false\n",
            log.display()
        ),
    );
    // The follower may open the file a little after readiness: append until lines arrive.
    let t = Instant::now();
    let mut first = Vec::new();
    while first.is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no alert from the file"
        );
        append(&log, "2.0\tC1\t10.1.1.5\t10.1.1.1\tx.bad.example\t-\n");
        std::thread::sleep(Duration::from_millis(300));
        first = read_alerts(&d.path("alerts.jsonl"));
    }
    for a in &first {
        assert_eq!(a["iocd"]["source"]["input"], "file");
        assert_eq!(a["iocd"]["decoded_as"], "zeek_tsv", "{a}");
        assert_eq!(matched_fields(a), ["dns.question.name"], "{a}");
        assert_eq!(a["source"]["ip"], "10.1.1.5");
        assert_eq!(a["dns"]["question"]["name"], "x.bad.example");
    }
    let before = first.len() + 2;
    // Rotated like logrotate or Zeek itself: a new file with its own header, columns in another
    // order, moved over the old name.
    let next = dir.path().join("dns.log.new");
    std::fs::write(
        &next,
        zeek_header(&SECOND)
            + "y.bad.example\t3.0\t10.1.1.1\t-\tC2\t10.1.1.6\n\
               quiet.example\t4.0\t10.1.1.1\tbad.example\tC3\t10.1.1.7\n",
    )
    .unwrap();
    std::fs::rename(&next, &log).unwrap();
    let alerts = wait_for_alerts(&d, before);
    let (code, log_text, _) = d.stop();
    assert_eq!(code, Some(0), "iocd log:\n{log_text}");
    let rotated = &alerts[first.len()..];
    assert_eq!(rotated.len(), 2, "{rotated:?}\n{log_text}");
    assert_eq!(matched_fields(&rotated[0]), ["dns.question.name"]);
    assert_eq!(rotated[0]["source"]["ip"], "10.1.1.6");
    assert_eq!(rotated[0]["dns"]["question"]["name"], "y.bad.example");
    assert_eq!(matched_fields(&rotated[1]), ["dns.answers.data"]);
    assert_eq!(rotated[1]["source"]["ip"], "10.1.1.7");
}

#[test]
fn sighup_reloads_feeds_and_readyz_metrics_answer() {
    let d = Daemon::start("198.51.100.7\n", "");
    let (code, metrics) = http(d.admin, "GET", "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("iocd_ioc_set_generation 1"), "{metrics}");
    assert_eq!(http(d.admin, "GET", "/healthz").unwrap().0, 200);

    std::fs::write(d.path("feed.txt"), "198.51.100.7\n203.0.113.9\n").unwrap();
    d.signal("HUP");
    let t = Instant::now();
    loop {
        let (_, m) = http(d.admin, "GET", "/metrics").unwrap();
        if m.contains("iocd_ioc_set_generation 2") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no reload after SIGHUP:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut s = TcpStream::connect(("127.0.0.1", d.syslog)).unwrap();
    writeln!(s, "<13>Nov 22 10:00:00 fw01 kernel: DST=203.0.113.9").unwrap();
    drop(s);
    let alerts = wait_for_alerts(&d, 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["iocd"]["generation"], 2);
    let (code, log, _) = d.stop();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn validate_reports_every_error_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        r#"
[engine]
batch_bytes = 1
[[feeds]]
name = "x"
path = "missing.txt"
[sources.syslog_udp]
listen = "127.0.0.1:5514"
[[sinks]]
type = "http"
url = "not a url"
"#,
    )
    .unwrap();
    let out = iocd_validate(&cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "engine.batch_bytes",
        "feeds[0].path",
        "sinks[0].url",
        "3 errors in configuration",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.example.toml");
    let out = iocd_validate(&example);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok: 1 feeds, 17 indicators"));
}

/// A URL indicator matches a Zeek `http.log` line whose `host` and `uri` columns split it, in
/// the daemon as in `iocd scan` (issue 14): the URL `lyvyxor.com/login.php` of the real CTU
/// capture, 6 lines of it.
#[test]
fn url_split_across_zeek_fields_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("http.log");
    let header = "#separator \\x09\n#set_separator\t,\n#path\thttp\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\n";
    let mut body = String::from(header);
    for i in 0..6 {
        body += &format!(
            "{i}.5\tC{i}\t192.168.1.116\t4916{i}\t208.100.26.251\t80\tGET\tlyvyxor.com\t/login.php\n"
        );
        body += &format!(
            "{i}.6\tD{i}\t192.168.1.116\t4917{i}\t208.100.26.251\t80\tGET\tlyvyxor.com\t/index.php\n"
        );
    }
    std::fs::write(&log, body).unwrap();
    let d = Daemon::start(
        "lyvyxor.com/login.php\n",
        &format!(
            "[[sources.files]]\npath = \"{}\"\nfrom_beginning = true\n",
            log.display()
        ),
    );
    let alerts = wait_for_alerts(&d, 6);
    let (code, log_text, _) = d.stop();
    assert_eq!(code, Some(0), "iocd log:\n{log_text}");
    assert_eq!(alerts.len(), 6, "{alerts:?}\n{log_text}");
    for a in &alerts {
        assert_eq!(matched_fields(a), ["url.original"], "{a}");
        let e = &a["threat"]["enrichments"][0];
        assert_eq!(
            e["indicator"]["url"]["full"],
            "http://lyvyxor.com/login.php"
        );
        assert_eq!(a["url"]["domain"], "lyvyxor.com");
        assert_eq!(a["source"]["ip"], "192.168.1.116");
    }
}

/// Named sinks: routing and metric labels use the name; an unnamed sink keeps its kind and
/// position; the names survive reordering.
#[test]
fn named_sinks_route_and_label_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "198.51.100.7\n").unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let cfg = format!(
        r#"
[engine]
threads = 2
{TEST_FEED}
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
# Unnamed: goes by file0 (kind + position).
[[sinks]]
type = "file"
path = "plain.jsonl"
[[sinks]]
name = "soc"
type = "file"
path = "soc.jsonl"
[[sinks]]
name = "archive"
type = "file"
path = "archive.jsonl"
# The one line is the whole stream: on the event clock the digest would wait for
# `max_lateness` of quiet (docs/ALERT_QUALITY.md); this test is about names.
[triage]
time = "arrival"
[triage.routing]
digest_interval = "1s"
[triage.routing.sinks.soc]
min_priority = "critical"
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "20s"
"#
    );
    let cfg_path = write_config(dir.path(), &cfg);
    let out = iocd_validate(&cfg_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = start_iocd(&mut iocd_run(&cfg_path), admin, "/readyz");
    let mut s = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
    writeln!(s, "<13>Nov 22 10:00:00 fw01 kernel: id=1 DST=198.51.100.7").unwrap();
    s.flush().unwrap();
    // The hit is below critical: `soc` gets it only in its digest (every second).
    let t = Instant::now();
    while read_alerts(&dir.path().join("soc.jsonl")).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no digest for soc");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = support::http_get(admin, "/metrics").unwrap();
    let (status, err) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{err}");
    let soc = read_alerts(&dir.path().join("soc.jsonl"));
    assert!(
        soc.iter().all(|a| a["iocd"]["alert_type"] == "digest"),
        "{soc:?}"
    );
    assert_eq!(soc[0]["iocd"]["sink"], "soc");
    // Every alert, the digest included, is valid ECS.
    for a in soc
        .iter()
        .chain(&read_alerts(&dir.path().join("archive.jsonl")))
    {
        assert_eq!(iocd::alert::ecs::check(a), Vec::<String>::new(), "{a}");
        assert_eq!(a["event"]["kind"], "alert");
        assert!(
            a["event"]["severity"].is_u64() && a["rule"]["id"].is_string(),
            "{a}"
        );
    }
    assert!(soc[0]["message"].as_str().unwrap().contains("for soc"));
    for f in ["plain.jsonl", "archive.jsonl"] {
        let a = read_alerts(&dir.path().join(f));
        assert_eq!(a.len(), 1, "{f}: {a:?}");
        assert_eq!(a[0]["iocd"]["alert_type"], "hit");
    }
    let label = |family: &str, sink: &str| {
        body.lines()
            .any(|l| l.starts_with(family) && l.contains(&format!("sink=\"{sink}\"")))
    };
    assert!(label("iocd_triage_digested_alerts_total", "soc"), "{body}");
    assert!(label("iocd_sink_alerts_total", "soc"), "{body}");
    assert!(label("iocd_sink_alerts_total", "archive"), "{body}");
    assert!(label("iocd_sink_alerts_total", "file0"), "{body}");
    assert!(!label("iocd_sink_alerts_total", "file1"), "{body}");
    assert!(!label("iocd_sink_buffered_alerts", "file2"), "{body}");
}

#[test]
fn a_duplicate_sink_name_is_a_validate_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dup.toml");
    std::fs::write(
        &cfg,
        r#"
[sources]
stdin = true
[[sinks]]
name = "soc"
type = "stdout"
[[sinks]]
name = "soc"
type = "file"
path = "a.jsonl"
[[sinks]]
name = "file0"
type = "file"
path = "b.jsonl"
[[sinks]]
type = "file"
path = "c.jsonl"
[[sinks]]
name = "no spaces"
type = "stdout"
[triage.routing.sinks.soc]
min_priority = "high"
"#,
    )
    .unwrap();
    let out = iocd_validate(&cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "sinks[1].name",
        "\"soc\" is already the name of sinks[0]",
        "sinks[4].name",
        "\"no spaces\" is not a sink name",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // `file3` (the unnamed fourth sink) clashes with nothing; `file0` is free (sink 0 is named).
    assert!(
        !err.contains("sinks[2]") && !err.contains("sinks[3]"),
        "{err}"
    );
}
