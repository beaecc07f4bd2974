//! Triage as a whole, on decoded lines, with a clock moved by hand.

use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;

use super::*;
use crate::config::triage::TriageConfig;
use crate::decode::event::Direction;
use crate::telemetry::metrics::TriageMetrics;
use iocd_engine::IocSet;
use iocd_engine::{Compiler, Meta, Pattern, Scratch, SourceRef};

const T0: i64 = 1_800_000_000_000;

struct Fixture {
    t: Triage,
    clock: Arc<ManualClock>,
    set: IocSet,
    metrics: TriageMetrics,
    registry: Registry,
}

fn set() -> IocSet {
    let mut c = Compiler::new();
    let c2 = c.add_feed("c2", "c2.csv");
    let scan = c.add_feed("scanners", "scanners.txt");
    let meta = Meta {
        confidence: Some(90),
        severity: Some(90),
        context: Some(Arc::new(iocd_engine::Context {
            malware: vec!["Pikabot".into()],
            groups: vec!["TA577".into()],
            ..iocd_engine::Context::default()
        })),
        ..Meta::default()
    };
    for ip in ["203.0.113.9", "198.51.100.77"] {
        let p = Pattern::Ipv4(ip.parse().unwrap());
        c.add_with_meta(&p, SourceRef::plain(c2, 1), meta.clone());
    }
    c.add_with_meta(
        &Pattern::Domain {
            name: "evil.example".into(),
            subdomains: true,
        },
        SourceRef::plain(c2, 3),
        meta,
    );
    for ip in ["192.0.2.66", "203.0.113.9"] {
        let p = Pattern::Ipv4(ip.parse().unwrap());
        c.add_with_meta(
            &p,
            SourceRef::plain(scan, 1),
            Meta {
                confidence: Some(30),
                severity: Some(30),
                ..Meta::default()
            },
        );
    }
    c.build()
}

fn fixture(toml_text: &str, sinks: &[&str]) -> Fixture {
    fixture_with(toml_text, sinks, &[])
}

/// A fixture whose flood guard knows these shared-infrastructure lists.
fn fixture_with(
    toml_text: &str,
    sinks: &[&str],
    shared: &[crate::ioc::allowlist::List],
) -> Fixture {
    let cfg: TriageConfig = toml::from_str(toml_text).unwrap();
    let sinks: Vec<String> = sinks.iter().map(|s| s.to_string()).collect();
    let mut errs = crate::config::ConfigErrors::default();
    cfg.validate(&sinks, &mut errs);
    assert!(errs.is_empty(), "{errs}");
    let registry = Registry::new();
    let metrics = TriageMetrics::register(&registry);
    let clock = Arc::new(ManualClock::new(T0));
    let t = Triage::new(&cfg, &sinks, metrics.clone(), clock.clone())
        .with_shared_infrastructure(shared);
    Fixture {
        t,
        clock,
        set: set(),
        metrics,
        registry,
    }
}

impl Fixture {
    fn assess(&self, line: &str) -> Assessment {
        self.assess_host(line, None)
    }

    fn assess_host(&self, line: &str, hostname: Option<&str>) -> Assessment {
        let line = line.as_bytes();
        let mut hits = Vec::new();
        self.set.scan(line, &mut Scratch::new(), &mut hits);
        assert!(
            !hits.is_empty(),
            "no hit in {}",
            String::from_utf8_lossy(line)
        );
        let ev = crate::decode::event::decode(line, None);
        let facts = LineFacts::new(ev.as_ref(), line, |ip| self.t.assets().is_internal(ip));
        let mut tally = Tally::default();
        let a = self.t.assess(
            &LineHits {
                set: &self.set,
                generation: 1,
                event: ev.as_ref(),
                facts: &facts,
                hostname,
                hits: &hits,
            },
            &mut tally,
        );
        self.t.flush(&mut tally);
        a
    }

    fn metric(&self, name: &str) -> u64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == name.split('{').next().unwrap())
            .flat_map(|f| f.get_metric().to_vec())
            .filter(|m| {
                let want = name.split_once('{').map(|(_, l)| l.trim_end_matches('}'));
                want.is_none_or(|w| {
                    w.split(',').all(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        m.get_label()
                            .iter()
                            .any(|l| l.name() == k && l.value() == v.trim_matches('"'))
                    })
                })
            })
            .map(|m| (m.get_counter().value() + m.get_gauge().value()) as u64)
            .sum()
    }
}

const C2_OUT_ALLOWED: &str = "Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.0.0.5 DST=203.0.113.9 PROTO=TCP SPT=50000 DPT=443";
const SCAN_IN_BLOCKED: &str = "Jan  1 00:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.66 DST=10.0.0.5 PROTO=TCP SPT=50000 DPT=22";

/// The alert, which must be valid ECS: a detection (`event.kind: alert`) with its numeric
/// `event.severity` and a `rule`. (Triage renders nothing; its tests look at the ECS the alert
/// module renders of what it returns.)
fn json(o: &Outgoing) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&crate::alert::record(o).json).unwrap();
    assert_eq!(crate::alert::ecs::check(&v), Vec::<String>::new(), "{v}");
    assert_eq!(v["event"]["kind"], "alert", "{v}");
    assert_eq!(
        v["event"]["severity"].as_u64(),
        Priority::from_label(v["iocd"]["priority"].as_str().unwrap())
            .map(|p| u64::from(p.severity())),
        "{v}"
    );
    assert_eq!(v["rule"]["ruleset"], "iocd", "{v}");
    assert_eq!(
        v["rule"]["id"],
        format!("iocd.{}", v["iocd"]["alert_type"].as_str().unwrap()),
        "{v}"
    );
    v
}

#[test]
fn allowed_outbound_c2_is_critical_and_explained() {
    let f = fixture("", &["stdout0"]);
    let a = f.assess(C2_OUT_ALLOWED);
    let v = a.verdict.expect("an alert");
    assert_eq!(v.alert_type, AlertType::Hit);
    assert_eq!(v.direction, Direction::Outbound);
    assert_eq!(v.host.as_deref(), Some("10.0.0.5"));
    let p = v.primary();
    assert_eq!(p.field.as_deref(), Some("destination.ip"));
    assert!(v.priority >= Priority::High, "{:?}", p.score);
    let total: f64 = p.score.components.iter().map(|c| c.contribution).sum();
    assert!((total - p.score.value).abs() < 1e-9);
    let ctx = p
        .score
        .components
        .iter()
        .find(|c| c.name == "context")
        .unwrap();
    assert_eq!(ctx.input, score::Input::Label("outbound/allowed".into()));
    assert_eq!(&*v.key(), "203.0.113.9|10.0.0.5");
    assert!(v.immediate);
    let scan = f.assess(SCAN_IN_BLOCKED).verdict.expect("an alert");
    assert_eq!(scan.direction, Direction::Inbound);
    assert_eq!(scan.priority, Priority::Info, "{:?}", scan.primary().score);
    assert_eq!(f.metric("iocd_triage_hits_total"), 2);
    assert_eq!(
        f.metric("iocd_triage_alerts_total{priority=\"info\",type=\"hit\"}"),
        1
    );
}

#[test]
fn one_alert_per_window_then_a_rollup_with_count_first_and_last_seen() {
    let f = fixture("[dedup]\nwindow = \"10m\"\n", &["stdout0"]);
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_some());
    for _ in 0..4 {
        f.clock.advance(Duration::from_secs(60));
        let a = f.assess(C2_OUT_ALLOWED);
        assert!(a.verdict.is_none() && a.extra.is_empty());
    }
    // Same indicator and host, other direction: its own window.
    let other = "Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT=443 DPT=50000";
    assert!(f.assess(other).verdict.is_some());
    assert_eq!(
        f.metric("iocd_triage_suppressed_hits_total{reason=\"duplicate\"}"),
        4
    );
    assert_eq!(
        f.metric("iocd_triage_dedup_entries"),
        0,
        "published on tick"
    );
    assert!(f.t.tick().is_empty(), "windows still open");
    assert_eq!(f.metric("iocd_triage_dedup_entries"), 2);
    f.clock.advance(Duration::from_secs(6 * 60));
    let out = f.t.tick();
    assert_eq!(out.len(), 1, "only the window with more hits rolls up");
    let r = json(&out[0]);
    assert_eq!(r["iocd"]["alert_type"], "rollup");
    assert_eq!(r["event"]["risk_score"], r["iocd"]["score"]);
    assert_eq!(r["iocd"]["dedup"]["count"], 4);
    assert_eq!(r["iocd"]["indicator"], "203.0.113.9");
    assert_eq!(r["iocd"]["internal_host"], "10.0.0.5");
    assert_eq!(r["iocd"]["dedup"]["first_seen"], "2027-01-15T08:00:00.000Z");
    assert_eq!(r["iocd"]["dedup"]["last_seen"], "2027-01-15T08:04:00.000Z");
    // The roll-up names what the indicator is, as its hit alert did.
    assert_eq!(
        r["threat"]["software"]["name"],
        serde_json::json!(["Pikabot"])
    );
    assert_eq!(
        r["threat"]["software"]["type"],
        serde_json::json!(["Malware"])
    );
    assert_eq!(r["threat"]["group"]["name"], serde_json::json!(["TA577"]));
    assert_eq!(
        out[0].priority.label(),
        r["iocd"]["priority"].as_str().unwrap()
    );
    assert_eq!(out[0].sink, None);
    assert!(f.t.tick().is_empty());
    // The window closed: the next hit alerts again.
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_some());
}

#[test]
fn a_higher_priority_in_the_window_escalates() {
    let f = fixture("", &["stdout0"]);
    let blocked = "Jan  1 00:00:00 gw kernel: [UFW BLOCK] IN= OUT=eth0 SRC=10.0.0.5 DST=203.0.113.9 PROTO=TCP SPT=50000 DPT=443";
    let first = f.assess(blocked).verdict.unwrap();
    assert!(f.assess(blocked).verdict.is_none());
    let v = f.assess(C2_OUT_ALLOWED).verdict.unwrap();
    assert!(v.priority > first.priority);
    assert_eq!(v.alert_type, AlertType::Escalation);
    assert_eq!(v.escalated_from, Some((first.priority, 1)));
}

#[test]
fn allowlisted_hits_are_counted_never_alerted() {
    let f = fixture(
        "[allow]\nnetworks = [\"10.9.0.0/16\"]\nindicators = [\"198.51.100.77\"]\nhostnames = [\"scanner01\"]\n",
        &["stdout0"],
    );
    let own_scanner = "Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.9.1.2 DST=203.0.113.9 PROTO=TCP SPT=50000 DPT=443";
    assert!(f.assess(own_scanner).verdict.is_none());
    let known_good = "Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.0.0.5 DST=198.51.100.77 PROTO=TCP SPT=50000 DPT=443";
    assert!(f.assess(known_good).verdict.is_none());
    assert!(
        f.assess_host("probe to 203.0.113.9", Some("scanner01"))
            .verdict
            .is_none()
    );
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_some());
    assert_eq!(
        f.metric("iocd_triage_suppressed_hits_total{reason=\"allowlist\"}"),
        3
    );
}

#[test]
fn false_positive_marks_suppress_per_host() {
    let cfg: TriageConfig = TriageConfig::default();
    let registry = Registry::new();
    let fb = Arc::new(crate::feedback::Feedback::default());
    fb.add(crate::feedback::MarkRequest {
        indicator: "203.0.113.9".into(),
        host: Some("10.0.0.5".into()),
        reason: "lab box".into(),
        analyst: "alice".into(),
        expires: None,
    })
    .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let t = Triage::new(
        &cfg,
        &["stdout0".into()],
        TriageMetrics::register(&registry),
        clock,
    )
    .with_feedback(fb);
    let f = Fixture {
        t,
        clock: Arc::new(ManualClock::new(T0)),
        set: set(),
        metrics: TriageMetrics::register(&Registry::new()),
        registry,
    };
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_none());
    let other_host = C2_OUT_ALLOWED.replace("10.0.0.5", "10.0.0.6");
    assert!(f.assess(&other_host).verdict.is_some());
    assert_eq!(
        f.metric("iocd_triage_suppressed_hits_total{reason=\"false_positive\"}"),
        1
    );
    let _ = &f.metrics;
}

/// The `flood` term of a verdict's primary hit.
fn flood_term(v: &Verdict) -> &crate::triage::score::Component {
    v.primary()
        .score
        .components
        .iter()
        .find(|c| c.name == "flood")
        .unwrap_or_else(|| panic!("no flood term: {v:?}"))
}

/// A CDN address in a C2 feed: many of our hosts reach it, outbound and allowed, and a
/// shared-infrastructure list holds its network. Reported once, demoted, one window.
#[test]
fn a_flood_of_shared_infrastructure_is_reported_once_and_demoted() {
    let cdn = crate::ioc::allowlist::List::plain("cdn-ranges", "cdn.txt", b"203.0.113.0/24\n");
    let f = fixture_with(
        "[flood]\nhosts = 10\nwindow = \"1m\"\nhold = \"1h\"\n",
        &["stdout0"],
        &[cdn],
    );
    let mut floods = 0;
    let mut verdicts = Vec::new();
    for h in 1..=30 {
        let line = C2_OUT_ALLOWED.replace("10.0.0.5", &format!("10.0.1.{h}"));
        let a = f.assess(&line);
        for o in &a.extra {
            let v = json(o);
            assert_eq!(v["iocd"]["alert_type"], "flood");
            assert_eq!(v["iocd"]["flood"]["hosts"], 10);
            assert_eq!(v["iocd"]["flood"]["verdict"], "shared_infrastructure");
            assert_eq!(v["iocd"]["flood"]["shared_infrastructure"], "cdn-ranges");
            assert_eq!(v["iocd"]["flood"]["demoted_to"], "info");
            assert_eq!(v["event"]["severity"], 4, "reported at high");
            assert_eq!(
                v["threat"]["feed"]["name"],
                serde_json::json!(["c2", "scanners"])
            );
            assert_eq!(o.priority.label(), "high");
            floods += 1;
        }
        verdicts.push(a.verdict);
    }
    assert_eq!(floods, 1, "reported once");
    assert!(
        verdicts[..9]
            .iter()
            .all(|v| v.as_ref().unwrap().priority >= Priority::High)
    );
    // The hit that made the flood is demoted, and explained.
    let v = verdicts[9].as_ref().unwrap();
    assert_eq!(v.priority, Priority::Info);
    let term = flood_term(v);
    assert!(term.contribution < 0.0);
    assert!(
        term.note
            .as_deref()
            .unwrap()
            .contains("shared-infrastructure list cdn-ranges"),
        "{term:?}"
    );
    assert_eq!(v.flood_hosts, Some(10));
    assert_eq!(v.flood_verdict, Some("shared_infrastructure"));
    // Later hosts share the flood's window: counted, not alerted one by one.
    assert!(verdicts[10..].iter().all(Option::is_none));
    assert_eq!(f.metric("iocd_triage_floods_total"), 1);
    let r = f.t.drain();
    let flood_window = r
        .iter()
        .map(json)
        .find(|v| v["iocd"]["dedup"]["count"] == 20)
        .expect("the flood's roll-up");
    assert_eq!(flood_window["iocd"]["internal_host"], "(many hosts: flood)");
    // Another indicator is not affected.
    let other = C2_OUT_ALLOWED.replace("203.0.113.9", "198.51.100.77");
    assert!(f.assess(&other).verdict.unwrap().priority >= Priority::High);
}

/// The same traffic with no list naming the address: many of our hosts calling out to a C2
/// address that the firewall lets through is a possible outbreak. Escalated, never demoted,
/// one alert per host, one report.
#[test]
fn many_hosts_reaching_c2_outbound_and_allowed_is_a_possible_outbreak() {
    let cdn = crate::ioc::allowlist::List::plain("cdn-ranges", "cdn.txt", b"192.0.2.0/24\n");
    let f = fixture_with(
        "[flood]\nhosts = 10\nwindow = \"1m\"\nhold = \"1h\"\n",
        &["stdout0"],
        &[cdn],
    );
    let mut reports = Vec::new();
    let mut verdicts = Vec::new();
    for h in 1..=30 {
        let line = C2_OUT_ALLOWED.replace("10.0.0.5", &format!("10.0.1.{h}"));
        let a = f.assess(&line);
        reports.extend(a.extra.iter().map(json));
        verdicts.push(a.verdict.expect("every host alerts"));
    }
    assert_eq!(reports.len(), 1, "reported once: {reports:?}");
    let r = &reports[0];
    assert_eq!(r["iocd"]["flood"]["verdict"], "possible_outbreak");
    assert_eq!(r["iocd"]["flood"]["raised_to"], "critical");
    // What the C2 feed says it is: on the outbreak report too.
    assert_eq!(
        r["threat"]["software"]["name"],
        serde_json::json!(["Pikabot"])
    );
    assert_eq!(r["threat"]["group"]["name"], serde_json::json!(["TA577"]));
    assert_eq!(r["iocd"]["priority"], "critical");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("possible outbreak")
    );
    for (i, v) in verdicts.iter().enumerate() {
        assert_eq!(v.priority, Priority::Critical, "host {i}");
        assert_eq!(v.alert_type, AlertType::Hit, "a window per host");
    }
    for v in &verdicts[9..] {
        let term = flood_term(v);
        assert!(term.contribution >= 0.0, "{term:?}");
        assert!(term.note.as_deref().unwrap().contains("possible outbreak"));
        assert_eq!(v.flood_verdict, Some("possible_outbreak"));
    }
    // Below the floor it is raised: a low-confidence listing, the same flood.
    let g = fixture(
        "[flood]\nhosts = 3\n[priority]\ncritical = 99.0\n",
        &["stdout0"],
    );
    let mut last = None;
    for h in 1..=3 {
        let line = C2_OUT_ALLOWED.replace("10.0.0.5", &format!("10.0.2.{h}"));
        last = g.assess(&line).verdict;
    }
    let v = last.unwrap();
    assert_eq!(v.priority, Priority::Critical, "{v:?}");
    assert!(flood_term(&v).contribution > 0.0);
}

/// A few hundred scanners would be a few hundred reports: scans stopped at the edge go into
/// one periodic flood summary instead, at info, and their alerts are demoted.
#[test]
fn scans_stopped_at_the_edge_are_one_periodic_summary() {
    let f = fixture(
        "[flood]\nhosts = 10\nwindow = \"1m\"\nhold = \"1h\"\n[routing]\ndigest_interval = \"1m\"\n",
        &["stdout0"],
    );
    let mut verdicts = Vec::new();
    for scanner in ["192.0.2.66", "198.51.100.77"] {
        for h in 1..=30 {
            let line = SCAN_IN_BLOCKED
                .replace("192.0.2.66", scanner)
                .replace("DST=10.0.0.5", &format!("DST=10.0.3.{h}"));
            let a = f.assess(&line);
            assert!(
                a.extra
                    .iter()
                    .all(|o| json(o)["iocd"]["alert_type"] != "flood"),
                "no report per scanner"
            );
            verdicts.push(a.verdict);
        }
    }
    assert_eq!(f.metric("iocd_triage_floods_total"), 2);
    let declared = verdicts[9].as_ref().unwrap();
    assert_eq!(declared.priority, Priority::Info);
    assert_eq!(declared.flood_verdict, Some("scan"));
    assert!(
        flood_term(declared)
            .note
            .as_deref()
            .unwrap()
            .contains("inbound and blocked")
    );
    assert!(verdicts[10..30].iter().all(Option::is_none), "one window");
    f.clock.advance(Duration::from_secs(61));
    let out = f.t.tick();
    let sums: Vec<serde_json::Value> = out
        .iter()
        .map(json)
        .filter(|v| v["iocd"]["alert_type"] == "flood_summary")
        .collect();
    assert_eq!(sums.len(), 1, "{out:?}");
    let s = &sums[0];
    assert_eq!(s["iocd"]["priority"], "info");
    assert_eq!(s["event"]["severity"], 1);
    let fs = &s["iocd"]["flood_summary"];
    assert_eq!(fs["indicators"], 2);
    // Hits since each was declared: the 10th host's to the 30th.
    assert_eq!(fs["hits"], 42);
    let top = fs["top_indicators"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    for t in top {
        assert_eq!(
            (t["hits"].as_u64(), t["hosts"].as_u64()),
            (Some(21), Some(21))
        );
    }
    assert_eq!(
        f.metric("iocd_triage_alerts_total{priority=\"info\",type=\"flood_summary\"}"),
        1
    );
    // Nothing more to summarise: no empty summary.
    f.clock.advance(Duration::from_secs(61));
    assert!(
        f.t.tick()
            .iter()
            .all(|o| json(o)["iocd"]["alert_type"] != "flood_summary")
    );
}

#[test]
fn dedup_state_is_bounded_and_evictions_counted() {
    let f = fixture(
        "[dedup]\nmax_entries = 64\n[flood]\nenabled = false\n",
        &["stdout0"],
    );
    for h in 0..2000 {
        let line = C2_OUT_ALLOWED.replace("10.0.0.5", &format!("10.{}.{}.1", h / 250, h % 250));
        assert!(f.assess(&line).verdict.is_some());
    }
    f.t.publish();
    assert!(f.metric("iocd_triage_dedup_entries") <= 64);
    assert!(f.metric("iocd_triage_evictions_total{table=\"dedup\"}") >= 2000 - 64);
}

#[test]
fn routing_folds_low_priorities_into_a_periodic_digest() {
    let f = fixture(
        "[routing.sinks.file1]\nmin_priority = \"high\"\ndigest_interval = \"5m\"\n",
        &["stdout0", "file1"],
    );
    let level = AlertPriority::Level;
    assert!(
        f.t.wants(0, level(Priority::Info))
            && f.t.wants(1, level(Priority::High))
            && !f.t.wants(1, level(Priority::Medium))
    );
    assert!(
        f.t.wants(1, AlertPriority::Untriaged) && f.t.wants(1, AlertPriority::Digest),
        "alerts without a level go everywhere"
    );
    let scan = f.assess(SCAN_IN_BLOCKED).verdict.unwrap();
    assert!(scan.immediate, "stdout0 takes everything");
    let c2 = f.assess(C2_OUT_ALLOWED).verdict.unwrap();
    assert!(c2.immediate);
    assert_eq!(
        f.metric("iocd_triage_digested_alerts_total{sink=\"file1\"}"),
        1
    );
    f.clock.advance(Duration::from_secs(299));
    assert!(f.t.tick().is_empty());
    f.clock.advance(Duration::from_secs(1));
    let out = f.t.tick();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sink, Some(1));
    assert_eq!(out[0].priority.label(), "digest");
    let d = json(&out[0]);
    assert_eq!(d["iocd"]["alert_type"], "digest");
    assert_eq!(d["iocd"]["sink"], "file1");
    assert_eq!(d["iocd"]["by_priority"]["info"]["alerts"], 1);
    assert_eq!(d["iocd"]["top_indicators"][0]["name"], "192.0.2.66");
    assert_eq!(d["iocd"]["top_hosts"][0]["name"], "10.0.0.5");
    // Nothing new: no empty digest.
    f.clock.advance(Duration::from_secs(300));
    assert!(f.t.tick().is_empty());
}

#[test]
fn only_digest_sinks_means_no_immediate_alert() {
    let f = fixture("[routing]\nmin_priority = \"critical\"\n", &["file0"]);
    let v = f.assess(SCAN_IN_BLOCKED).verdict.unwrap();
    assert!(!v.immediate);
    let out = f.t.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(json(&out[0])["iocd"]["hits"], 1);
}

#[test]
fn drain_closes_every_window() {
    let f = fixture("", &["stdout0"]);
    f.assess(C2_OUT_ALLOWED);
    f.assess(C2_OUT_ALLOWED);
    f.assess(C2_OUT_ALLOWED);
    let out = f.t.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(json(&out[0])["iocd"]["dedup"]["count"], 2);
    assert!(f.t.drain().is_empty());
}

#[test]
fn dns_question_is_outbound_from_the_client() {
    let f = fixture("", &["stdout0"]);
    let line = r#"{"timestamp":"2026-01-01T00:00:00.000000+0000","event_type":"dns","src_ip":"10.0.0.7","src_port":53001,"dest_ip":"10.0.0.53","dest_port":53,"proto":"UDP","dns":{"type":"query","id":1,"rrname":"cdn.evil.example","rrtype":"A"}}"#;
    let v = f.assess(line).verdict.unwrap();
    assert_eq!(v.primary().field.as_deref(), Some("dns.question.name"));
    assert_eq!(v.direction, Direction::Outbound);
    assert_eq!(v.host.as_deref(), Some("10.0.0.7"));
    assert!(v.priority >= Priority::High, "{:?}", v.primary().score);
}

#[test]
fn a_new_generation_resets_the_age_of_undated_listings() {
    let f = fixture("", &["stdout0"]);
    let age = |f: &Fixture, generation: u64| {
        let line = SCAN_IN_BLOCKED.as_bytes();
        let mut hits = Vec::new();
        f.set.scan(line, &mut Scratch::new(), &mut hits);
        let facts = LineFacts::new(None, line, |ip| f.t.assets().is_internal(ip));
        let mut tally = Tally::default();
        let v =
            f.t.assess(
                &LineHits {
                    set: &f.set,
                    generation,
                    event: None,
                    facts: &facts,
                    hostname: None,
                    hits: &hits,
                },
                &mut tally,
            )
            .verdict;
        v.map(|v| {
            v.primary()
                .score
                .components
                .iter()
                .find(|c| c.name == "age")
                .unwrap()
                .input
                .clone()
        })
    };
    assert_eq!(age(&f, 1), Some(score::Input::Number(0.0)));
    f.clock.advance(Duration::from_secs(10 * 86_400));
    // Suppressed as a duplicate? No: the window is an hour, ten days passed.
    assert_eq!(age(&f, 1), Some(score::Input::Number(10.0)));
    f.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(age(&f, 2), Some(score::Input::Number(0.0)));
}

#[test]
fn huge_spans_do_not_overflow_the_clock() {
    // Validation refuses spans over a year; triage itself must still not panic on them.
    let mut cfg = TriageConfig::default();
    cfg.dedup.window = Duration::from_secs(u64::MAX);
    cfg.flood.hold = Duration::from_secs(u64::MAX);
    cfg.flood.window = Duration::from_secs(u64::MAX);
    cfg.flood.hosts = 2;
    cfg.routing.digest_interval = Duration::from_secs(u64::MAX);
    let registry = Registry::new();
    let clock = Arc::new(ManualClock::new(T0));
    let t = Triage::new(
        &cfg,
        &["stdout0".to_owned()],
        TriageMetrics::register(&registry),
        clock.clone(),
    );
    let set = set();
    let mut tally = Tally::default();
    let mut extra = 0;
    for host in ["10.0.0.5", "10.0.0.5", "10.0.0.6", "10.0.0.7"] {
        let line = C2_OUT_ALLOWED.replace("10.0.0.5", host);
        let line = line.as_bytes();
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        let ev = crate::decode::event::decode(line, None);
        let facts = LineFacts::new(ev.as_ref(), line, |ip| t.assets().is_internal(ip));
        extra += t
            .assess(
                &LineHits {
                    set: &set,
                    generation: 1,
                    event: ev.as_ref(),
                    facts: &facts,
                    hostname: None,
                    hits: &hits,
                },
                &mut tally,
            )
            .extra
            .len();
    }
    assert_eq!(extra, 1, "one flood report");
    clock.advance(Duration::from_secs(3600));
    assert!(t.tick().is_empty(), "nothing closes");
    assert!(!t.drain().is_empty(), "the roll-ups at shutdown");
}

#[test]
fn a_new_indicator_beside_an_alerted_one_is_not_a_duplicate() {
    let f = fixture("[flood]\nenabled = false\n", &["stdout0"]);
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_some());
    // The same C2 address (two feeds: the line's best score) and a C2 domain never alerted.
    let both = format!("{C2_OUT_ALLOWED} host=cdn.evil.example");
    let v = f
        .assess(&both)
        .verdict
        .expect("the domain is new on this host");
    assert_eq!(v.alert_type, AlertType::Hit);
    assert_eq!(v.primary().indicator, "evil.example");
    assert_eq!(v.kept.len(), 2, "both matches are shown");
    // Now both windows are open: a duplicate, counted once per hit.
    assert!(f.assess(&both).verdict.is_none());
    assert_eq!(
        f.metric("iocd_triage_suppressed_hits_total{reason=\"duplicate\"}"),
        2
    );
    // The same indicator twice in a line is one hit of its window.
    let twice = format!("{C2_OUT_ALLOWED} note=203.0.113.9");
    assert!(f.assess(&twice).verdict.is_none());
    let counts: Vec<(String, u64)> =
        f.t.drain()
            .iter()
            .map(json)
            .map(|v| {
                (
                    v["iocd"]["indicator"].as_str().unwrap().to_owned(),
                    v["iocd"]["dedup"]["count"].as_u64().unwrap(),
                )
            })
            .collect();
    assert!(counts.contains(&("203.0.113.9".into(), 3)), "{counts:?}");
    assert!(counts.contains(&("evil.example".into(), 1)), "{counts:?}");
}

/// Triage's own alerts carry an `event.id` made from their content, not from when they
/// were made: the same roll-up in a replay, closed a minute later, has the same id.
#[test]
fn rollups_get_an_event_id_from_their_content() {
    let rollup = |close_after: Duration, hits: usize| {
        let f = fixture("[dedup]\nwindow = \"10m\"\n", &["stdout0"]);
        for _ in 0..hits {
            f.assess(C2_OUT_ALLOWED);
            f.clock.advance(Duration::from_secs(60));
        }
        f.clock.advance(close_after);
        let out = f.t.tick();
        assert_eq!(out.len(), 1);
        json(&out[0])
    };
    let a = rollup(Duration::from_secs(10 * 60), 4);
    let b = rollup(Duration::from_secs(11 * 60), 4);
    assert_ne!(a["@timestamp"], b["@timestamp"]);
    let id = a["event"]["id"]
        .as_str()
        .expect("a roll-up has an event.id");
    assert_eq!(id.len(), 32);
    assert_eq!(a["event"]["id"], b["event"]["id"]);
    let mut content = a.clone();
    let o = content.as_object_mut().unwrap();
    o.remove("@timestamp");
    o.get_mut("event")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("id");
    assert_eq!(
        id,
        crate::model::content_id("rollup", &serde_json::to_vec(&content).unwrap())
    );
    // Another count is another roll-up.
    assert_ne!(
        rollup(Duration::from_secs(10 * 60), 3)["event"]["id"],
        a["event"]["id"]
    );
}

#[test]
fn feed_value_counts_hits_unique_hits_and_alerts_per_feed() {
    let f = fixture("", &["stdout0"]);
    // 203.0.113.9: listed by both feeds (no unique hit); alerted.
    let a = f.assess(C2_OUT_ALLOWED);
    let p1 = a.verdict.as_ref().unwrap().priority;
    assert_eq!(p1, Priority::Critical);
    // 192.0.2.66: only the scanner list has it.
    let a = f.assess(SCAN_IN_BLOCKED);
    let p2 = a.verdict.as_ref().unwrap().priority;
    // The same C2 line again: a hit for both feeds, a duplicate (no alert).
    assert!(f.assess(C2_OUT_ALLOWED).verdict.is_none());
    assert_eq!(f.metric("iocd_feed_hits_total{feed=\"c2\"}"), 2);
    assert_eq!(f.metric("iocd_feed_hits_total{feed=\"scanners\"}"), 3);
    assert_eq!(f.metric("iocd_feed_unique_hits_total{feed=\"c2\"}"), 0);
    assert_eq!(
        f.metric("iocd_feed_unique_hits_total{feed=\"scanners\"}"),
        1
    );
    assert_eq!(f.metric("iocd_feed_alerts_total{feed=\"c2\"}"), 1);
    assert_eq!(
        f.metric("iocd_feed_alerts_total{feed=\"c2\",priority=\"critical\"}"),
        1
    );
    assert_eq!(f.metric("iocd_feed_alerts_total{feed=\"scanners\"}"), 2);
    let at = |p: Priority| {
        f.metric(&format!(
            "iocd_feed_alerts_total{{feed=\"scanners\",priority=\"{}\"}}",
            p.as_str()
        ))
    };
    if p1 == p2 {
        assert_eq!(at(p1), 2);
    } else {
        assert_eq!((at(p1), at(p2)), (1, 1));
    }
}

#[test]
fn feed_counts_follow_a_new_set_whose_feeds_are_numbered_differently() {
    let f = fixture("[dedup]\nwindow = \"0s\"\n", &["stdout0"]);
    // The second set numbers its feeds the other way round.
    let mut c = Compiler::new();
    let scan = c.add_feed("scanners", "scanners.txt");
    let _c2 = c.add_feed("c2", "c2.csv");
    c.add(
        &Pattern::Ipv4("192.0.2.66".parse().unwrap()),
        SourceRef::plain(scan, 1),
    );
    let other = c.build();
    let line = SCAN_IN_BLOCKED.as_bytes();
    let ev = crate::decode::event::decode(line, None);
    let facts = LineFacts::new(ev.as_ref(), line, |ip| f.t.assets().is_internal(ip));
    let mut tally = Tally::default();
    for (set, generation) in [(&f.set, 1), (&other, 2)] {
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        f.t.assess(
            &LineHits {
                set,
                generation,
                event: ev.as_ref(),
                facts: &facts,
                hostname: None,
                hits: &hits,
            },
            &mut tally,
        );
    }
    f.t.flush(&mut tally);
    assert_eq!(f.metric("iocd_feed_hits_total{feed=\"scanners\"}"), 2);
    assert_eq!(
        f.metric("iocd_feed_unique_hits_total{feed=\"scanners\"}"),
        2
    );
    assert_eq!(f.metric("iocd_feed_hits_total{feed=\"c2\"}"), 0);
}
