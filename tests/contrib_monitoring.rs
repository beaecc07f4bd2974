//! The monitoring iocd ships in `contrib/` (how to load it: `contrib/README.md`, "Monitoring"):
//!
//! * `contrib/prometheus/iocd.rules.yml` passes `promtool check rules`, its unit tests
//!   (`iocd.rules.test.yml`) pass `promtool test rules`, and every alert has a `severity`
//!   label, `summary` and `description` annotations, and a unit test case where it fires;
//! * every PromQL expression of `contrib/grafana/iocd-dashboard.json` (panel queries and the
//!   queries of its variables) parses: each is written as a recording rule, Grafana's
//!   `$__rate_interval`, `$__interval` and `$__range` replaced by literal durations, and the
//!   file checked with `promtool check rules`;
//! * every metric those rules and that dashboard use is a family iocd exports. A real
//!   `iocd run` (a feed, TCP syslog in, HTTP and file sinks out, retro-matching on) is driven
//!   through traffic (a duplicate, a cut line, an idle connection, more dedup windows than
//!   allowed, more spool than allowed), a reload that adds an indicator (a retro job), a
//!   reload that empties the feed (refused), and sinks that refuse alerts for good; its
//!   `/metrics` is scraped, and each name must be a family in that scrape
//!   (`_bucket`/`_sum`/`_count` of a histogram count as the histogram). A family with labels appears in a scrape only once
//!   a label value was used: the few that this run cannot make appear (Kafka's, above all)
//!   are listed in [`NOT_IN_THIS_SCRAPE`] with the reason, and checked against the families
//!   iocd registers (`iocd::telemetry::metrics::family_names`, what `src/telemetry/metrics.rs`
//!   and `kafka.rs` register) instead. The test prints which way each name was checked.
//!
//! promtool comes from Debian's `prometheus` package (`scripts/install-test-deps.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use iocd_testkit::endpoint::{Endpoint, reply, runtime};
use iocd_testkit::support::{
    TEST_FEED, file_sink_admin, free_port, http, http_get, iocd_run, metric_sum, sigterm_timed,
    start_iocd, write_config,
};
use serde_json::Value;

const RULES: &str = "contrib/prometheus/iocd.rules.yml";
const RULE_TESTS: &str = "contrib/prometheus/iocd.rules.test.yml";
const DASHBOARD: &str = "contrib/grafana/iocd-dashboard.json";

/// Families the rules or the dashboard use that the daemon run of
/// [`every_metric_the_rules_and_the_dashboard_use_is_exported`] cannot make appear in its
/// scrape (a family with labels is only exposed once a label value was used), and why. Each
/// is checked against the registered families instead. A family listed here that does
/// appear in the scrape fails the test: take it off the list.
const NOT_IN_THIS_SCRAPE: &[(&str, &str)] = &[
    (
        "iocd_kafka_consumer_lag_messages",
        "by topic and partition: needs a Kafka source and a broker",
    ),
    (
        "iocd_kafka_commits_total",
        "by result: needs a Kafka source and a broker",
    ),
    (
        "iocd_kafka_rebalances_total",
        "by kind: needs a Kafka consumer group",
    ),
    (
        "iocd_kafka_consumer_errors_total",
        "by librdkafka error: needs a Kafka source that hits an error",
    ),
    (
        "iocd_kafka_producer_errors_total",
        "by sink and librdkafka error: needs a Kafka sink that hits an error",
    ),
    (
        "iocd_kafka_skipped_messages_total",
        "by reason: its series are made when a Kafka source starts",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// Runs `promtool <args>` in the repository's root; panics with everything it said unless
/// it succeeds.
fn promtool(args: &[&str]) -> String {
    let promtool = which("promtool").unwrap_or_else(|| {
        panic!(
            "promtool is not installed: run scripts/install-test-deps.sh \
             (Debian package `prometheus`)"
        )
    });
    let out = Command::new(promtool)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {}: {}\n{said}",
        args.join(" "),
        out.status
    );
    said
}

/// The rule file's alerts: (name, the text of its entry), from each `- alert:` line to the
/// next rule or group.
fn alert_entries(yaml: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in yaml.lines() {
        let t = line.trim_start();
        if t.starts_with("- alert:") || t.starts_with("- record:") || t.starts_with("- name:") {
            out.extend(current.take());
            if let Some(name) = t.strip_prefix("- alert:") {
                current = Some((name.trim().to_owned(), String::new()));
            }
        }
        if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.extend(current);
    out
}

/// Every `expr:` of a rule file: inline, or a block scalar (`>-`, `|`) made of the lines
/// indented deeper than the key.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let t = line.trim_start();
        let Some(value) = t.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !value.starts_with('>') && !value.starts_with('|') {
            out.push(value.to_owned());
            continue;
        }
        let indent = line.len() - t.len();
        let mut expr = String::new();
        while i < lines.len() {
            let l = lines[i];
            let deeper = l.len() - l.trim_start().len() > indent;
            if !l.trim().is_empty() && !deeper {
                break;
            }
            expr.push_str(l.trim());
            expr.push('\n');
            i += 1;
        }
        out.push(expr);
    }
    out
}

/// The alert names of the unit tests that expect at least one alert (`exp_alerts:` followed
/// by a list, not `exp_alerts: []`).
fn alerts_tested_firing(tests: &str) -> BTreeSet<String> {
    let mut name = None;
    let mut firing = BTreeSet::new();
    for line in tests.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("alertname:") {
            name = Some(n.trim().to_owned());
        } else if line == "exp_alerts:" {
            firing.extend(name.clone());
        }
    }
    firing
}

/// The dashboard's PromQL, with where each comes from: every `expr` (panel queries), and the
/// first argument of each variable's `label_values(...)` query.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, place: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) => {
                let place = o
                    .get("title")
                    .and_then(Value::as_str)
                    .map_or_else(|| place.to_owned(), |t| format!("panel {t:?}"));
                for (k, v) in o {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push((place.clone(), e.clone())),
                        ("templating", _) => {}
                        _ => walk(v, &place, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, place, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, "dashboard", &mut out);
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        let q = var["definition"].as_str().unwrap_or_default();
        if var["type"] != "query" {
            continue;
        }
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.rsplit_once(','))
            .map(|(e, _)| e.trim().to_owned())
            .unwrap_or_else(|| panic!("variable {name}: not a label_values(expr, label): {q}"));
        assert_eq!(
            var["query"]["query"].as_str(),
            Some(q),
            "variable {name}: its query and definition differ"
        );
        out.push((format!("variable {name:?}"), inner));
    }
    out
}

/// Every `datasource` object of the dashboard.
fn data_sources<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "datasource" {
                    out.push(v);
                } else {
                    data_sources(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| data_sources(v, out)),
        _ => {}
    }
}

/// PromQL from a Grafana query: its interval variables as literal durations. Template
/// variables (`$job`, `$instance`) only appear inside label matchers' strings, where any
/// text parses.
fn promql(expr: &str) -> String {
    let mut e = expr.to_owned();
    for (var, literal) in [
        ("$__rate_interval", "5m"),
        ("${__rate_interval}", "5m"),
        ("$__interval", "1m"),
        ("${__interval}", "1m"),
        ("$__range", "1h"),
        ("${__range}", "1h"),
    ] {
        e = e.replace(var, literal);
    }
    assert!(
        !e.contains("$__"),
        "a Grafana variable this test does not replace: {expr}"
    );
    e
}

/// The `iocd_*` metric names a PromQL expression selects (string literals skipped, so label
/// values do not count).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut quote = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                code.push(' ');
            }
            None if matches!(c, '"' | '\'' | '`') => {
                quote = Some(c);
                code.push(' ');
            }
            None => code.push(c),
        }
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    code.split(|c: char| !ident(c))
        .filter(|w| w.starts_with("iocd_"))
        .map(str::to_owned)
        .collect()
}

/// The families of a scrape and their types, from its `# TYPE` lines.
fn exposed_families(body: &str) -> BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_owned(), t.trim().to_owned()))
        .collect()
}

#[test]
fn the_alerting_rules_pass_promtool_and_each_has_a_firing_test() {
    let said = promtool(&["check", "rules", RULES]);
    assert!(said.contains("SUCCESS"), "promtool check rules:\n{said}");
    let said = promtool(&["test", "rules", RULE_TESTS]);
    assert!(said.contains("SUCCESS"), "promtool test rules:\n{said}");

    let rules = read(RULES);
    let alerts = alert_entries(&rules);
    assert!(alerts.len() >= 15, "too few alerts found: {alerts:?}");
    for (name, entry) in &alerts {
        let severity = entry
            .lines()
            .find_map(|l| l.trim().strip_prefix("severity:"))
            .map(str::trim);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: severity must be critical, warning or info, is {severity:?}:\n{entry}"
        );
        for key in ["summary:", "description:"] {
            assert!(
                entry.lines().any(|l| l.trim().starts_with(key)),
                "{name}: no {key} annotation:\n{entry}"
            );
        }
    }
    let names: BTreeSet<String> = alerts.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names.len(), alerts.len(), "an alert name used twice");
    let firing = alerts_tested_firing(&read(RULE_TESTS));
    let untested: Vec<&String> = names.difference(&firing).collect();
    assert!(
        untested.is_empty(),
        "alerts without a unit test case where they fire (add one to {RULE_TESTS}): \
         {untested:?}"
    );
    let unknown: Vec<&String> = firing.difference(&names).collect();
    assert!(
        unknown.is_empty(),
        "tests of alerts {RULES} lacks: {unknown:?}"
    );
}

#[test]
fn every_dashboard_expression_parses() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is JSON");
    // Importable with any Prometheus: the data source is an input, used everywhere.
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let schema = dashboard["schemaVersion"].as_u64().unwrap_or(0);
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let mut sources = Vec::new();
    data_sources(&dashboard, &mut sources);
    assert!(sources.len() >= 40, "too few data sources found");
    for ds in sources {
        assert!(
            ds["uid"] == "${DS_PROMETHEUS}" || ds["uid"] == "-- Grafana --",
            "a data source other than the DS_PROMETHEUS input: {ds}"
        );
    }

    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 40, "too few expressions found: {exprs:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard.rules.yml");
    let mut yaml = String::from("groups:\n  - name: iocd-dashboard\n    rules:\n");
    for (i, (place, expr)) in exprs.iter().enumerate() {
        yaml.push_str(&format!(
            "      # {place}\n      - record: dashboard:expr_{i}\n        expr: {}\n",
            serde_json::to_string(&promql(expr)).unwrap()
        ));
    }
    std::fs::write(&path, &yaml).unwrap();
    let said = promtool(&["check", "rules", path.to_str().unwrap()]);
    assert!(
        said.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "promtool check rules on the dashboard's expressions:\n{said}\n{yaml}"
    );
}

use iocd_testkit::support::{send_tcp as send, syslog_line as line};

/// The daemon under test, and the file its log goes to (a pipe nobody reads would fill up
/// with the refused alerts it logs in full, and block it).
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    /// A failing assertion anywhere leaves no daemon behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Stops iocd and panics with `what` and everything it logged.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("{what}\niocd's log:\n{log}");
    }
}

/// Polls `/metrics` until `cond` holds; fails after 30 s with the last scrape and iocd's log.
fn wait_metric(iocd: &mut Daemon, admin: u16, what: &str, cond: impl Fn(&str) -> bool) {
    let t = Instant::now();
    loop {
        let m = http_get(admin, "/metrics").unwrap_or_default();
        if cond(&m) {
            return;
        }
        if t.elapsed() > Duration::from_secs(30) {
            iocd.fail(&format!("timed out waiting for {what}; /metrics:\n{m}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `iocd run` through a small version of an operator's day; its `/metrics` at the end.
fn scrape_a_busy_daemon() -> String {
    const LATE: &str = "203.0.113.77";
    let rt = runtime();
    let (_siem, siem_url) = Endpoint::start(&rt, |_, _| reply(200));
    // 400 for every request: each alert is refused for good once it is sent alone.
    let (_refusing, refusing_url) = Endpoint::start(&rt, |_, _| reply(400));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("feed.txt"), "198.51.100.1\nbad value\n").unwrap();
    let (syslog, admin) = (free_port(), free_port());
    let http_sink = |name: &str, url: &str, extra: &str| {
        format!(
            "[[sinks]]\nname = \"{name}\"\ntype = \"http\"\nurl = \"{url}\"\n\
             batch_max_events = 10\nbatch_timeout = \"50ms\"\nretry_initial_delay = \"20ms\"\n\
             retry_max_delay = \"200ms\"\n{extra}"
        )
    };
    let cfg = format!(
        r#"
[engine]
threads = 1
{TEST_FEED}
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
max_message_bytes = 1024
idle_timeout = "1s"
{siem}{dead_letters}{no_dead_letters}{file_admin}
[triage.dedup]
max_entries = 1
[triage.routing.sinks.siem]
min_priority = "critical"
[retro]
enabled = true
dir = "retro"
lookback = "1h"
segment_max_age = "1s"
segment_max_bytes = 4096
spool_max_bytes = 8192
"#,
        siem = http_sink("siem", &siem_url, ""),
        dead_letters = http_sink("refusing", &refusing_url, "dead_letter = \"dead.jsonl\"\n"),
        no_dead_letters = http_sink("refusing_nodl", &refusing_url, ""),
        file_admin = file_sink_admin(admin, "20s"),
    );
    let cfg = write_config(d, &cfg);
    let log = d.join("iocd.log");
    let mut cmd = iocd_run(&cfg);
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let mut iocd = Daemon {
        child: start_iocd(&mut cmd, admin, "/readyz"),
        log,
    };

    // A connection that never sends: closed by idle_timeout.
    let idle = TcpStream::connect(("127.0.0.1", syslog)).unwrap();
    // Lines without hits that compress badly: the spool outgrows spool_max_bytes and
    // deletes segments.
    let mut x: u64 = 0x10cd;
    let filler: Vec<String> = (0..2000)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            line(
                &format!("2026-12-01T10:00:{:02}Z", i % 60),
                &format!("web-{}", i % 5),
                &format!(
                    "action=allow src=10.0.{}.{} dst=192.0.2.{} dport=443 session={x:016x}",
                    i / 250,
                    i % 250,
                    i % 250
                ),
            )
        })
        .collect();
    send(syslog, &filler);
    wait_metric(&mut iocd, admin, "spool segments deleted", |m| {
        metric_sum(m, "iocd_retro_spool_deleted_segments_total") >= 1.0
    });
    let closed = metric_sum(
        &http_get(admin, "/metrics").unwrap_or_default(),
        "iocd_retro_spool_segments_closed_total",
    );
    // Then hits: one twice (a duplicate), the same indicator from 100 more hosts (more dedup
    // windows than its 64 shards hold with max_entries = 1: evictions; and a flood), a host
    // reaching an address no feed lists yet, a line longer than max_message_bytes (cut).
    // They stay in the spool's newest segment, for the retro job below.
    let hit = line(
        "2026-12-01T10:01:00Z",
        "ws-1",
        "action=allow src=10.1.0.5 dst=198.51.100.1 dport=443",
    );
    let mut lines = vec![hit.clone(), hit];
    for i in 0..100 {
        lines.push(line(
            "2026-12-01T10:01:00Z",
            &format!("pc-{i}"),
            &format!("action=allow src=10.2.0.{i} dst=198.51.100.1 dport=443"),
        ));
    }
    lines.push(line(
        "2026-12-01T10:01:01Z",
        "ws-2",
        &format!("action=allow src=10.1.0.6 dst={LATE} dport=443"),
    ));
    lines.push(line(
        "2026-12-01T10:01:02Z",
        "ws-3",
        &format!("dst=198.51.100.1 pad={}", "x".repeat(3000)),
    ));
    send(syslog, &lines);
    wait_metric(&mut iocd, admin, "the hits matched and spooled", |m| {
        metric_sum(m, "iocd_triage_hits_total") >= 103.0
            && metric_sum(m, "iocd_triage_evictions_total") >= 1.0
            && metric_sum(m, "iocd_retro_spool_segments_closed_total") > closed
            && metric_sum(m, "iocd_retro_spool_segments") >= 1.0
    });

    // The feed publishes the address: a reload, and a retro job over the spool.
    std::fs::write(
        d.join("feed.txt"),
        format!("198.51.100.1\n{LATE}\nbad value\n"),
    )
    .unwrap();
    let (status, body) = http(admin, "POST", "/reload").unwrap();
    if status != 200 {
        iocd.fail(&format!("POST /reload: {status} {body}"));
    }
    wait_metric(&mut iocd, admin, "the retro job", |m| {
        metric_sum(m, "iocd_retro_jobs_total") >= 1.0
            && metric_sum(m, "iocd_retro_scanned_bytes_total") > 0.0
    });
    // The feed comes back empty: the refresh is refused, the previous generation stays.
    std::fs::write(d.join("feed.txt"), "").unwrap();
    let (status, body) = http(admin, "POST", "/reload").unwrap();
    wait_metric(
        &mut iocd,
        admin,
        &format!("the refused refresh (POST /reload: {status} {body})"),
        |m| metric_sum(m, "iocd_feed_refresh_failures_total") >= 1.0,
    );
    wait_metric(&mut iocd, admin, "alerts refused for good", |m| {
        metric_sum(m, "iocd_sink_dead_letters_total") >= 1.0
            && metric_sum(m, "iocd_sink_dropped_alerts_total") >= 1.0
            && metric_sum(m, "iocd_source_closed_connections_total") >= 1.0
    });
    drop(idle);
    let scrape = http_get(admin, "/metrics").expect("GET /metrics");
    let (status, _) = sigterm_timed(&mut iocd.child, Duration::from_secs(30), "(monitoring)");
    if !status.success() {
        iocd.fail(&format!("iocd exited with {status}"));
    }
    scrape
}

#[test]
fn every_metric_the_rules_and_the_dashboard_use_is_exported() {
    // Name -> where it is used.
    let mut used: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for expr in rule_exprs(&read(RULES)) {
        for n in metric_names(&expr) {
            used.entry(n).or_default().insert("rules");
        }
    }
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    for (_, expr) in dashboard_exprs(&dashboard) {
        for n in metric_names(&expr) {
            used.entry(n).or_default().insert("dashboard");
        }
    }
    assert!(used.len() >= 40, "too few metric names found: {used:?}");

    let scrape = scrape_a_busy_daemon();
    let exposed = exposed_families(&scrape);
    let registered: BTreeSet<String> = iocd::telemetry::metrics::family_names()
        .into_iter()
        .collect();
    let not_here: BTreeMap<&str, &str> = NOT_IN_THIS_SCRAPE.iter().copied().collect();

    let mut report = Vec::new();
    let mut wrong = Vec::new();
    let mut listed_used = BTreeSet::new();
    for (name, where_) in &used {
        // A histogram's series name its family with a suffix.
        let family: &str = if exposed.contains_key(name) || registered.contains(name) {
            name
        } else {
            ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| exposed.contains_key(*f) || registered.contains(*f))
                .unwrap_or(name)
        };
        if family != name && exposed.get(family).is_some_and(|t| t != "histogram") {
            wrong.push(format!("{name}: {family} is no histogram"));
        }
        let users = where_.iter().copied().collect::<Vec<_>>().join(", ");
        if exposed.contains_key(family) {
            report.push(format!("{name:<50} scrape ({users})"));
            if not_here.contains_key(family) {
                wrong.push(format!(
                    "{family} is in the scrape: take it off NOT_IN_THIS_SCRAPE"
                ));
            }
        } else if let Some(why) = not_here.get(family) {
            listed_used.insert(family);
            if registered.contains(family) {
                report.push(format!("{name:<50} registered: {why} ({users})"));
            } else {
                wrong.push(format!("{name} ({users}): iocd registers no such family"));
            }
        } else if registered.contains(family) {
            wrong.push(format!(
                "{name} ({users}): registered but not in the scrape; make the daemon run \
                 expose it, or add it to NOT_IN_THIS_SCRAPE with the reason"
            ));
        } else {
            wrong.push(format!("{name} ({users}): iocd exports no such family"));
        }
    }
    for family in not_here.keys() {
        if !listed_used.contains(family) && !exposed.contains_key(*family) {
            wrong.push(format!(
                "{family} is in NOT_IN_THIS_SCRAPE but neither the rules nor the dashboard use it"
            ));
        }
    }
    eprintln!(
        "metric names of {RULES} and {DASHBOARD}, and how each was checked:\n  {}",
        report.join("\n  ")
    );
    assert!(
        wrong.is_empty(),
        "{}\n\nexposed families: {:?}",
        wrong.join("\n"),
        exposed.keys().collect::<Vec<_>>()
    );
}
