//! Alert formats: OCSF Detection Finding and CEF rendered from the typed alert (the
//! [`Finding`] `alert::write_typed` makes beside the ECS JSON, and typed alerts with the fields
//! scoring and decoding add);
//! CEF escaping parsed back (property); per-sink formats through real file sinks; config
//! validation of `alert_format`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iocd::alert::cef::{cef, cef_escape_header, cef_escape_value, parse_cef_extension};
use iocd::alert::ocsf::{OCSF_VERSION, ocsf};
use iocd::alert::{Context, Finding, Matched, Origin, Side, SyslogFields, write_typed};
use iocd::config::{AlertFormat, Config, SinkConfig};
use iocd::ioc::SetBuilder;
use iocd::model::{AlertPriority, AlertRecord, Priority};
use iocd::sink::Sinks;
use iocd::telemetry::Metrics;
use iocd_engine::IocKind;
use iocd_engine::Scratch;
use proptest::prelude::*;
use serde_json::{Value, json};

/// An alert as the worker makes it today: two indicators, a syslog header; its ECS JSON and
/// its typed finding.
fn todays() -> (Vec<u8>, Finding) {
    let mut b = SetBuilder::new();
    b.add_plain_list("feodo", "feodo.txt", b"198.51.100.23\nevil.example\n");
    b.add_plain_list("urlhaus", "urlhaus.txt", b"http://bad.example/x.php\n");
    let set = b.build();
    let line = b"<34>1 2026-03-01T10:00:00Z fw01 filterlog - - - SRC=198.51.100.23 host=a.evil.example GET http://bad.example/x.php a|b=c\\d";
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    assert_eq!(hits.len(), 3);
    let cx = Context {
        now: "2026-03-01T10:00:01Z",
        origin: Origin {
            input: Some("syslog_tcp"),
            ..Origin::default()
        },
        syslog: Some(SyslogFields {
            hostname: Some("fw01".into()),
            timestamp: Some("2026-03-01T10:00:00Z".into()),
            ..SyslogFields::default()
        }),
        generation: Some(2),
        dataset: "iocd.stream",
        ..Context::default()
    };
    let mut out = Vec::new();
    let f = write_typed(&mut out, &set, line, &hits, &cx);
    (out, f)
}

/// What the alert looks like once decoding and scoring have added their fields.
fn scored() -> Finding {
    Finding {
        id: "5f0c2c9b1a4e4d7f8e6a3b2c1d0e9f8a".into(),
        timestamp: "2026-03-01T10:00:00.250Z".into(),
        dataset: "iocd.stream",
        rule_id: "iocd.match.ipv4".into(),
        rule_name: "Threat intelligence match: ipv4 indicator".into(),
        ruleset: "iocd",
        alert_type: Some("hit"),
        priority: Some(Priority::High),
        score: Some(81.6),
        original: Some("ALLOW TCP 10.1.2.3:51515 -> 203.0.113.9:443".into()),
        source: Side {
            ip: Some("10.1.2.3".parse().unwrap()),
            port: Some(51515),
            domain: None,
        },
        destination: Side {
            ip: Some("203.0.113.9".parse().unwrap()),
            port: Some(443),
            domain: None,
        },
        hostname: Some("fw01".into()),
        action: Some("allowed"),
        direction: Some("outbound"),
        matches: vec![Matched {
            indicator: "203.0.113.9".into(),
            kind: Some(IocKind::Ipv4),
            atomic: Some("203.0.113.9".into()),
            field: Some("destination.ip".into()),
            providers: vec!["c2".into(), "ipsum".into()],
        }],
        iocd: json!({"priority": "high", "score": 81.6,
                     "score_components": {"confidence": 30, "agreement": 20, "asset": 15}}),
        ..Finding::default()
    }
}

/// A finding with only an original line and one indicator.
fn bare(original: &str, indicator: &str, kind: IocKind) -> Finding {
    Finding {
        id: "0".repeat(32),
        timestamp: "2026-03-01T10:00:00Z".into(),
        rule_id: format!("iocd.match.{}", kind.as_str()),
        rule_name: format!("Threat intelligence match: {} indicator", kind.as_str()),
        ruleset: "iocd",
        original: Some(original.into()),
        matches: vec![Matched {
            indicator: indicator.into(),
            kind: Some(kind),
            atomic: Some(indicator.into()),
            field: None,
            providers: Vec::new(),
        }],
        ..Finding::default()
    }
}

/// What OCSF requires of a Detection Finding (class 2004), and the types it gives them.
fn assert_detection_finding(o: &Value) {
    for k in [
        "activity_id",
        "category_uid",
        "class_uid",
        "severity_id",
        "time",
        "type_uid",
    ] {
        assert!(
            o[k].is_i64() || o[k].is_u64(),
            "{k} must be an integer: {o}"
        );
    }
    assert_eq!(o["class_uid"], 2004);
    assert_eq!(o["category_uid"], 2);
    assert_eq!(
        o["type_uid"].as_i64().unwrap(),
        2004 * 100 + o["activity_id"].as_i64().unwrap()
    );
    assert!([0, 1, 2, 3, 4, 5, 6, 99].contains(&o["severity_id"].as_i64().unwrap()));
    let fi = &o["finding_info"];
    assert!(fi["uid"].as_str().is_some_and(|s| !s.is_empty()), "{fi}");
    assert!(fi["title"].is_string());
    assert!(fi["types"].is_array());
    let md = &o["metadata"];
    assert_eq!(md["version"], OCSF_VERSION);
    assert_eq!(md["product"]["name"], "iocd");
    assert_eq!(md["product"]["vendor_name"], "iocd");
    assert!(md["product"]["version"].is_string());
    for ob in o["observables"].as_array().into_iter().flatten() {
        assert!(ob["name"].is_string() && ob["type_id"].is_u64(), "{ob}");
    }
}

#[test]
fn ocsf_from_todays_alert() {
    let o = ocsf(&todays().1);
    assert_detection_finding(&o);
    assert_eq!(o["time"], 1_772_359_200_000i64, "@timestamp in epoch ms");
    assert_eq!(o["severity_id"], 0, "no priority before scoring: Unknown");
    assert!(
        o["raw_data"]
            .as_str()
            .unwrap()
            .starts_with("<34>1 2026-03-01T10:00:00Z fw01")
    );
    let obs = o["observables"].as_array().unwrap();
    let typed: Vec<(u64, &str)> = obs
        .iter()
        .map(|x| (x["type_id"].as_u64().unwrap(), x["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        typed,
        [
            (2, "198.51.100.23"),
            (1, "evil.example"),
            (6, "http://bad.example/x.php")
        ]
    );
    let ev = &o["evidences"][0];
    assert_eq!(ev["url"]["url_string"], "http://bad.example/x.php");
    assert_eq!(ev["device"]["hostname"], "fw01");
    assert_eq!(ev["data"]["matched"][1], "a.evil.example");
    assert!(ev.get("src_endpoint").is_none(), "not decoded: absent");
    assert!(
        o["finding_info"]["desc"]
            .as_str()
            .unwrap()
            .contains("listed by feodo")
    );
    assert_eq!(o["unmapped"]["iocd"]["generation"], 2);
    assert!(o.get("action_id").is_none());
}

#[test]
fn ocsf_uses_scoring_and_decoded_fields() {
    let o = ocsf(&scored());
    assert_detection_finding(&o);
    assert_eq!(o["time"], 1_772_359_200_250i64);
    assert_eq!(
        (o["severity_id"].clone(), o["severity"].clone()),
        (json!(4), json!("High"))
    );
    assert_eq!(o["action_id"], 1);
    let ev = &o["evidences"][0];
    assert_eq!(ev["src_endpoint"], json!({"ip": "10.1.2.3", "port": 51515}));
    assert_eq!(
        ev["dst_endpoint"],
        json!({"ip": "203.0.113.9", "port": 443})
    );
    assert_eq!(o["observables"][0]["name"], "destination.ip");
    assert_eq!(o["unmapped"]["iocd"]["score_components"]["asset"], 15);
    // The alert's `event.id`: what a SIEM deduplicates replays by.
    assert_eq!(o["finding_info"]["uid"], scored().id.as_str());
    assert_eq!(o["metadata"]["uid"], scored().id.as_str());
}

#[test]
fn rule_and_a_non_ecs_matched_path_reach_ocsf_and_cef() {
    let mut v = scored();
    // The token was in a key of the log's own (`matched_path`): ECS's `matched.field` is
    // absent, the formats still say where it was.
    v.matches[0].field = Some("json.DestIp".into());
    let o = ocsf(&v);
    assert_detection_finding(&o);
    assert_eq!(o["observables"][0]["name"], "json.DestIp");
    assert!(
        o["finding_info"]["desc"]
            .as_str()
            .unwrap()
            .contains("in json.DestIp")
    );
    let a = &o["finding_info"]["analytic"];
    assert_eq!(
        (
            a["uid"].as_str(),
            a["name"].as_str(),
            a["category"].as_str()
        ),
        (
            Some("iocd.match.ipv4"),
            Some("Threat intelligence match: ipv4 indicator"),
            Some("iocd")
        )
    );
    let (h, ext) = split_cef(&cef(&v));
    assert_eq!(h[4], "iocd.match.ipv4");
    assert_eq!(ext_map(&ext)["cs4"], "json.DestIp");
    // Without a priority (triage off): unknown, the middle of CEF's scale.
    v.priority = None;
    assert_eq!(ocsf(&v)["severity_id"], 0);
    assert_eq!(split_cef(&cef(&v)).0[6], "5");
}

/// Splits a CEF line into its 7 header fields and the extension, honouring `\|`.
fn split_cef(line: &str) -> (Vec<String>, String) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while fields.len() < 7 {
        match chars.next() {
            Some('\\') => {
                let c = chars.next().expect("escape at the end");
                cur.push(c);
            }
            Some('|') => fields.push(std::mem::take(&mut cur)),
            Some(c) => cur.push(c),
            None => panic!("short CEF header: {line}"),
        }
    }
    (fields, chars.collect())
}

fn ext_map(ext: &str) -> std::collections::HashMap<String, String> {
    parse_cef_extension(ext).into_iter().collect()
}

#[test]
fn cef_from_todays_alert() {
    let line = cef(&todays().1);
    assert!(!line.contains('\n'));
    let (h, ext) = split_cef(&line);
    assert_eq!(&h[..3], ["CEF:0", "iocd", "iocd"]);
    assert_eq!(
        h[4], "iocd.match.ipv4",
        "the signature id is the ECS rule.id"
    );
    assert_eq!(
        h[5],
        "Threat indicator match: 198.51.100.23 (ipv4) and 2 more"
    );
    assert_eq!(h[6], "5", "no priority: the middle severity");
    let e = ext_map(&ext);
    assert_eq!(e["rt"], "1772359200000");
    assert_eq!(e["cs1Label"], "indicator");
    assert_eq!(
        e["cs1"],
        "198.51.100.23,evil.example,http://bad.example/x.php"
    );
    assert_eq!(e["cs2"], "ipv4,domain,url");
    assert_eq!(e["cs3"], "feodo,urlhaus");
    assert_eq!(e["request"], "http://bad.example/x.php");
    assert_eq!(e["dvchost"], "fw01");
    assert!(e["msg"].ends_with("a|b=c\\d"), "{}", e["msg"]);
    for absent in ["src", "dst", "act", "cn1", "cs5", "fileHash"] {
        assert!(!e.contains_key(absent), "{absent} in {line}");
    }
}

#[test]
fn cef_uses_scoring_and_decoded_fields() {
    let line = cef(&scored());
    let (h, ext) = split_cef(&line);
    assert_eq!(h[6], "8");
    let e = ext_map(&ext);
    assert_eq!(e["src"], "10.1.2.3");
    assert_eq!(e["spt"], "51515");
    assert_eq!(e["dst"], "203.0.113.9");
    assert_eq!(e["dpt"], "443");
    assert_eq!(e["act"], "allowed");
    assert_eq!(e["deviceDirection"], "1");
    assert_eq!((e["cn1"].as_str(), e["cn1Label"].as_str()), ("82", "score"));
    assert_eq!(
        (e["cs4"].as_str(), e["cs5"].as_str()),
        ("destination.ip", "high")
    );
    assert_eq!(e["rt"], "1772359200250");
}

#[test]
fn cef_msg_is_cut_and_hashes_fill_file_hash() {
    let long = "x".repeat(5000);
    let mut v = bare(&long, "d41d8cd98f00b204e9800998ecf8427e", IocKind::Md5);
    v.matches[0].atomic = Some("D41D8CD98F00B204E9800998ECF8427E".into());
    let e = ext_map(&split_cef(&cef(&v)).1);
    assert_eq!(e["msg"].chars().count(), 1023);
    assert_eq!(e["fileHash"], "D41D8CD98F00B204E9800998ECF8427E");
    let o = ocsf(&v);
    assert_eq!(o["evidences"][0]["file"]["hashes"][0]["algorithm_id"], 1);
    assert_eq!(o["observables"][0]["type_id"], 8);
}

proptest! {
    /// Whatever the values hold, parsing the extension back gives them.
    #[test]
    fn cef_extension_round_trips(values in prop::collection::vec(".{0,40}|[ =\\\\\\n\\r|a-z]{0,20}", 1..8)) {
        let ext: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("cs{i}={}", cef_escape_value(v)))
            .collect();
        let line = ext.join(" ");
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let parsed = parse_cef_extension(&line);
        prop_assert_eq!(parsed.len(), values.len());
        for (i, ((k, v), want)) in parsed.iter().zip(&values).enumerate() {
            prop_assert_eq!(k, &format!("cs{i}"));
            prop_assert_eq!(v, want);
        }
    }

    /// A whole alert: its original line comes back in `msg`, and the header keeps 7 fields
    /// whatever the indicator holds.
    #[test]
    fn cef_alert_round_trips(original in "[ -~\\n\\r\\t]{1,200}", indicator in "[ -~]{1,30}") {
        let v = bare(&original, &indicator, IocKind::String);
        let line = cef(&v);
        prop_assert!(!line.contains('\n'));
        let (h, ext) = split_cef(&line);
        prop_assert_eq!(&h[5], &format!("Threat indicator match: {} (string)", indicator.replace(['\r', '\n'], " ")));
        let e = ext_map(&ext);
        prop_assert_eq!(&e["msg"], &original);
        prop_assert_eq!(&e["cs1"], &indicator);
    }
}

#[test]
fn header_escaping() {
    assert_eq!(cef_escape_header(r"a|b\c"), r"a\|b\\c");
    assert_eq!(cef_escape_value("k=v\\\n"), "k\\=v\\\\\\n");
}

#[test]
fn cef_on_http_sinks_is_refused_with_its_key_path() {
    let text = r#"
        [sources.syslog_udp]
        listen = "127.0.0.1:0"
        [admin]
        enabled = false
        [[sinks]]
        type = "stdout"
        alert_format = "cef"
        [[sinks]]
        type = "http"
        url = "http://127.0.0.1:1/"
        alert_format = "cef"
        [[sinks]]
        type = "http"
        url = "http://127.0.0.1:1/"
        alert_format = "ocsf"
    "#;
    let cfg = Config::from_toml(text).unwrap();
    assert_eq!(cfg.sinks[0].alert_format(), AlertFormat::Cef);
    assert_eq!(cfg.sinks[2].alert_format(), AlertFormat::Ocsf);
    let errs = cfg.validate().unwrap_err();
    let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["sinks[1].alert_format"], "{errs}");
    let e =
        Config::from_toml("[[sinks]]\ntype = \"stdout\"\nalert_format = \"leef\"\n").unwrap_err();
    assert!(e.to_string().contains("leef"), "{e}");
}

/// Three file sinks (ECS, CEF, OCSF) get the same alert, each in its format.
#[test]
fn each_sink_writes_its_format() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    let cfgs: Vec<SinkConfig> = [
        ("ecs.jsonl", AlertFormat::Ecs),
        ("cef.log", AlertFormat::Cef),
        ("ocsf.jsonl", AlertFormat::Ocsf),
        ("cef2.log", AlertFormat::Cef),
    ]
    .iter()
    .map(|(n, f)| SinkConfig::File {
        name: None,
        path: path(n),
        alert_format: *f,
    })
    .collect();
    let metrics = Arc::new(Metrics::new());
    let sinks = Sinks::start(&cfgs, metrics, rt.handle()).unwrap();
    let (ecs, finding) = todays();
    let sender = sinks.sender();
    let json: Arc<[u8]> = ecs.clone().into();
    std::thread::spawn(move || {
        sender.send_blocking(AlertRecord {
            json,
            time: 0,
            priority: AlertPriority::Untriaged,
            key: Arc::from("k"),
            receipt: None,
            formats: Some(Arc::new(finding)),
        })
    })
    .join()
    .unwrap();
    let report = rt.block_on(sinks.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(report.undelivered, 0);
    let read = |n: &str| std::fs::read_to_string(path(n)).unwrap();
    assert_eq!(read("ecs.jsonl").as_bytes(), [&ecs[..], b"\n"].concat());
    let c = read("cef.log");
    assert!(c.starts_with("CEF:0|iocd|iocd|") && c.ends_with('\n') && c.lines().count() == 1);
    assert_eq!(c, read("cef2.log"));
    let o: Value = serde_json::from_str(read("ocsf.jsonl").trim_end()).unwrap();
    assert_detection_finding(&o);
}

/// Triage's own alerts (roll-up, flood report, digest), made by the real triage code: each
/// in ECS, and its record (which renders the other formats).
fn triage_alerts() -> Vec<(Value, AlertRecord)> {
    use iocd::config::triage::TriageConfig;
    use iocd::triage::{LineFacts, LineHits, ManualClock, Tally, Triage};
    let cfg: TriageConfig =
        toml::from_str("[flood]\nhosts = 3\n[routing.sinks.stdout0]\nmin_priority = \"low\"\n")
            .unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let registry = prometheus::Registry::new();
    let t = Triage::new(
        &cfg,
        &["stdout0".to_owned()],
        iocd::telemetry::metrics::TriageMetrics::register(&registry),
        clock.clone(),
    )
    // Many hosts reaching a CDN address: shared infrastructure, reported and demoted.
    .with_shared_infrastructure(&[iocd::ioc::allowlist::List::plain(
        "cdn",
        "cdn.txt",
        b"203.0.113.0/24\n",
    )]);
    let mut b = SetBuilder::new();
    b.add_plain_list("c2", "c2.txt", b"203.0.113.9\n");
    b.add_plain_list("scanners", "scanners.txt", b"198.51.100.9\n");
    let set = b.build();
    let mut out = Vec::new();
    let mut tally = Tally::default();
    let mut lines: Vec<String> = ["10.0.0.5", "10.0.0.5", "10.0.0.6", "10.0.0.7"]
        .iter()
        .map(|host| {
            format!(
                "[UFW ALLOW] IN= OUT=eth0 SRC={host} DST=203.0.113.9 PROTO=TCP SPT=40000 DPT=443"
            )
        })
        .collect();
    // A scanner blocked at the edge on 3 hosts: in the flood summary.
    for h in 1..=3 {
        lines.push(format!(
            "[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.9 DST=10.0.1.{h} PROTO=TCP SPT=40000 DPT=22"
        ));
    }
    for line in &lines {
        let line = line.as_bytes();
        let mut hits = Vec::new();
        set.scan(line, &mut Scratch::new(), &mut hits);
        let ev = iocd::decode::event::decode(line, None);
        let facts = LineFacts::new(ev.as_ref(), line, |ip| t.assets().is_internal(ip));
        let a = t.assess(
            &LineHits {
                set: &set,
                generation: 1,
                event: ev.as_ref(),
                facts: &facts,
                hostname: None,
                hits: &hits,
            },
            &mut tally,
        );
        out.extend(a.extra);
    }
    out.extend(t.drain());
    out.iter()
        .map(|o| {
            let r = iocd::alert::record(o);
            (serde_json::from_slice(&r.json).unwrap(), r)
        })
        .collect()
}

#[test]
fn triage_alerts_keep_their_indicator_in_ocsf_and_cef() {
    let alerts = triage_alerts();
    let of = |ty: &str| {
        alerts
            .iter()
            .find(|a| a.0["iocd"]["alert_type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} in {alerts:?}"))
    };
    let ocsf = |a: &(Value, AlertRecord)| -> Value { serde_json::from_slice(&a.1.ocsf()).unwrap() };
    let cef = |a: &(Value, AlertRecord)| String::from_utf8(a.1.cef()).unwrap();
    for ty in ["rollup", "flood"] {
        let a = of(ty);
        let o = ocsf(a);
        assert_detection_finding(&o);
        let title = o["finding_info"]["title"].as_str().unwrap();
        assert!(title.contains("203.0.113.9 (ipv4)"), "{ty}: {title}");
        assert_eq!(o["observables"][0]["value"], "203.0.113.9", "{ty}: {o}");
        assert_eq!(o["observables"][0]["type_id"], 2);
        assert_eq!(o["message"], a.0["message"], "{ty}");
        let line = cef(a);
        let (_, ext) = split_cef(&line);
        let ext = ext_map(&ext);
        assert_eq!(ext["cs1"], "203.0.113.9", "{ty}: {line}");
        assert_eq!(ext["cs2"], "ipv4", "{ty}: {line}");
        assert!(line.contains(&format!("|iocd.{ty}|")), "{line}");
    }
    let r = of("rollup");
    let n = r.0["iocd"]["dedup"]["count"].as_u64().unwrap();
    assert!(n >= 1);
    let o = ocsf(r);
    assert_eq!(o["count"], n);
    assert!(o["start_time"].is_i64() && o["end_time"].is_i64(), "{o}");
    let ext = ext_map(&split_cef(&cef(r)).1);
    assert_eq!(ext["cnt"], n.to_string());
    assert!(ext.contains_key("start") && ext.contains_key("end"));
    let d = of("digest");
    let o = ocsf(d);
    assert_detection_finding(&o);
    assert_eq!(o["finding_info"]["title"], "iocd digest for stdout0");
    let f = of("flood");
    assert_eq!(f.0["iocd"]["flood"]["verdict"], "shared_infrastructure");
    let s = of("flood_summary");
    let o = ocsf(s);
    assert_detection_finding(&o);
    assert_eq!(
        o["finding_info"]["title"],
        "Scans stopped at the edge: 1 flooding indicator(s)"
    );
    assert_eq!(o["severity_id"], 1);
    assert_eq!(o["message"], s.0["message"]);
    let line = cef(s);
    assert!(line.contains("|iocd.flood_summary|"), "{line}");
    for (a, _) in &alerts {
        assert_eq!(iocd::alert::ecs::check(a), Vec::<String>::new(), "{a}");
    }
}

#[test]
fn ocsf_objects_have_their_required_attributes() {
    // OCSF requires `type_id` of a device, `name` and `type_id` of a file.
    let mut v = scored();
    v.matches.push(Matched {
        indicator: "ab".repeat(32),
        kind: Some(IocKind::Sha256),
        atomic: Some("ab".repeat(32)),
        field: None,
        providers: Vec::new(),
    });
    let o = ocsf(&v);
    let ev = &o["evidences"][0];
    assert_eq!(ev["device"]["hostname"], "fw01");
    assert!(ev["device"]["type_id"].is_u64(), "{ev}");
    assert_eq!(ev["file"]["name"], "unknown", "{ev}");
    assert!(ev["file"]["type_id"].is_u64(), "{ev}");
    assert_eq!(ev["file"]["hashes"][0]["algorithm_id"], 3);
}
