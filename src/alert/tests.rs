//! The alert on a line: its ECS shape, its id, its decoded and triage fields.
use super::*;
use crate::decode::event::Direction;
use crate::ioc::SetBuilder;
use crate::triage::score::Component;
use iocd_engine::Scratch;
use iocd_engine::Tlp;

#[test]
fn alert_is_ecs_shaped() {
    let mut b = SetBuilder::new();
    b.add_plain_list("feodo", "feodo.txt", b"1.2.3.4\nevil.com\n");
    b.add_plain_list("ipsum", "ipsum.txt", b"# x\n1.2.3.4\n");
    let set = b.build();
    let line = b"SRC=1.2.3.4 host=a.evil.com \xff";
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    let mut out = Vec::new();
    let cx = Context {
        now: "2026-01-01T00:00:00Z",
        origin: Origin {
            file: Some("fw.log"),
            line: Some(7),
            ..Origin::default()
        },
        dataset: "iocd.scan",
        ..Context::default()
    };
    write_alert(&mut out, &set, line, &hits, &cx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["@timestamp"], "2026-01-01T00:00:00Z");
    let mut inds = ["1.2.3.4", "evil.com"];
    assert_eq!(
        v["event"]["id"],
        event_id(&cx.origin, line, &mut inds, "match"),
        "scan alerts: file and line number"
    );
    assert!(v.get("host").is_none() && v.get("log").is_none());
    assert_eq!(
        v["event"]["original"],
        "SRC=1.2.3.4 host=a.evil.com \u{fffd}"
    );
    let e = &v["threat"]["enrichments"];
    assert_eq!(e[0]["indicator"]["type"], "ipv4-addr");
    assert_eq!(e[0]["indicator"]["ip"], "1.2.3.4");
    assert_eq!(
        e[0]["indicator"]["provider"],
        serde_json::json!(["feodo", "ipsum"])
    );
    assert_eq!(e[0]["matched"]["atomic"], "1.2.3.4");
    assert_eq!(e[1]["indicator"]["url"]["domain"], "evil.com");
    assert_eq!(e[1]["matched"]["atomic"], "a.evil.com");
    assert_eq!(v["iocd"]["source"]["line"], 7);
    assert_eq!(
        v["iocd"]["matches"][0]["sources"][1]["location"],
        "ipsum.txt"
    );
    assert_eq!(v["iocd"]["matches"][0]["sources"][1]["line"], 2);
    assert_eq!(v["iocd"]["matches"][1]["kind"], "domain");
    // A detection (ECS reserves `enrichment` for indicator documents); a retro-hunt
    // has no score, so no severity or risk score.
    assert_eq!(v["event"]["kind"], "alert");
    assert!(v["event"].get("severity").is_none() && v["event"].get("risk_score").is_none());
    assert_eq!(v["rule"]["id"], "iocd.match.ipv4");
    assert_eq!(
        v["rule"]["name"],
        "Threat intelligence match: ipv4 indicator"
    );
    assert_eq!(v["rule"]["ruleset"], "iocd");
    assert_eq!(
        v["threat"]["feed"]["name"],
        serde_json::json!(["feodo", "ipsum"])
    );
    assert!(v["threat"].get("indicator").is_none(), "no TLP given");
    assert_eq!(ecs::check(&v), Vec::<String>::new());
}

#[test]
fn event_id_is_the_same_for_the_same_position_and_differs_otherwise() {
    let kafka = |offset| Origin {
        input: Some("kafka"),
        kafka: Some(KafkaOrigin {
            topic: "fw",
            partition: 2,
            offset,
        }),
        ..Origin::default()
    };
    let file = |path, offset| Origin {
        input: Some("file"),
        file: Some(path),
        offset: Some(offset),
        ..Origin::default()
    };
    let syslog = |batch_ns, at| Origin {
        input: Some("syslog_tcp"),
        peer: Some("127.0.0.1:5000".parse().unwrap()),
        arrival: Some(Arrival { batch_ns, at }),
        ..Origin::default()
    };
    let id = |o: &Origin<'_>, line: &[u8], inds: &[&str], t: &str| {
        event_id(o, line, &mut inds.to_vec(), t)
    };
    let base = id(&kafka(7), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit");
    assert_eq!(base.len(), 32);
    assert!(
        base.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // The same alert again (a replay), with its indicators in another order.
    assert_eq!(
        base,
        id(&kafka(7), b"x 1.2.3.4", &["evil.com", "1.2.3.4"], "hit")
    );
    // Anything that makes it another alert makes another id.
    let others = [
        id(&kafka(8), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
        id(&kafka(7), b"y 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
        id(&kafka(7), b"x 1.2.3.4", &["1.2.3.4"], "hit"),
        id(
            &kafka(7),
            b"x 1.2.3.4",
            &["1.2.3.4", "evil.com"],
            "escalation",
        ),
        id(
            &file("/a", 7),
            b"x 1.2.3.4",
            &["1.2.3.4", "evil.com"],
            "hit",
        ),
        id(
            &file("/b", 7),
            b"x 1.2.3.4",
            &["1.2.3.4", "evil.com"],
            "hit",
        ),
        id(
            &file("/a", 8),
            b"x 1.2.3.4",
            &["1.2.3.4", "evil.com"],
            "hit",
        ),
        id(&syslog(1, 0), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
        id(
            &syslog(1, 10),
            b"x 1.2.3.4",
            &["1.2.3.4", "evil.com"],
            "hit",
        ),
        id(&syslog(2, 0), b"x 1.2.3.4", &["1.2.3.4", "evil.com"], "hit"),
    ];
    let mut all: Vec<&String> = others.iter().chain([&base]).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), others.len() + 1, "{others:?}");
    // Length prefixes: moving a byte from one field to the next is another input.
    assert_ne!(
        id(&file("/a", 7), b"ab", &["c"], "hit"),
        id(&file("/a", 7), b"a", &["bc"], "hit")
    );
    assert_ne!(content_id("rollup", b"{}"), content_id("flood", b"{}"));
    assert_eq!(content_id("rollup", b"{}"), content_id("rollup", b"{}"));
}

#[test]
fn syslog_fields_and_stream_origin() {
    let mut b = SetBuilder::new();
    b.add_plain_list("f", "f.txt", b"1.2.3.4\n");
    let set = b.build();
    let line = b"<34>1 2026-11-22T10:00:00Z fw01 sshd 4242 - - from 1.2.3.4";
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    let cx = Context {
        now: "2026-11-22T10:00:01Z",
        origin: Origin {
            input: Some("syslog_tcp"),
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            ..Origin::default()
        },
        syslog: Some(SyslogFields {
            hostname: Some("fw01".into()),
            appname: Some("sshd".into()),
            procid: Some("4242".into()),
            timestamp: Some("2026-11-22T10:00:00Z".into()),
            facility: Some(4),
            severity: Some(2),
            ..SyslogFields::default()
        }),
        generation: Some(3),
        dataset: "iocd.stream",
        line: None,
        triage: None,
        ..Context::default()
    };
    let mut out = Vec::new();
    write_alert(&mut out, &set, line, &hits, &cx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["@timestamp"], "2026-11-22T10:00:00Z");
    assert_eq!(v["event"]["created"], "2026-11-22T10:00:01Z");
    assert_eq!(v["host"]["hostname"], "fw01");
    assert_eq!(v["process"]["name"], "sshd");
    assert_eq!(v["process"]["pid"], 4242);
    // ECS: `log.syslog.severity` and `.facility` are objects; no `log.syslog.timestamp`.
    assert_eq!(v["log"]["syslog"]["severity"]["code"], 2);
    assert_eq!(v["log"]["syslog"]["facility"]["code"], 4);
    assert!(v["log"]["syslog"].get("timestamp").is_none());
    assert_eq!(ecs::check(&v), Vec::<String>::new());
    assert_eq!(v["iocd"]["source"]["input"], "syslog_tcp");
    assert_eq!(v["iocd"]["source"]["peer"], "127.0.0.1:5000");
    assert_eq!(v["iocd"]["generation"], 3);
    assert_eq!(v["event"]["dataset"], "iocd.stream");
}

#[test]
fn decoded_fields_and_triage() {
    let mut b = SetBuilder::new();
    b.add_plain_list("c2", "c2.txt", b"1.2.3.4\nevil.com\n");
    let set = b.build();
    let line = b"Jan  1 00:00:00 gw kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.0.0.5 DST=1.2.3.4 PROTO=TCP SPT=50000 DPT=443";
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    let ev = crate::decode::event::decode(line, None).expect("netfilter");
    let fields = LineFields::new(&ev, line, &hits, Some(Direction::Outbound));
    let comps = vec![Component {
        name: "context",
        input: crate::triage::score::Input::Label("outbound/allowed".into()),
        contribution: 25.0,
        note: None,
    }];
    let tf = TriageFields {
        alert_type: crate::triage::AlertType::Hit,
        priority: crate::model::Priority::High,
        score: 25.0,
        score_components: &comps,
        internal_host: Some("10.0.0.5"),
        dedup: DedupFields {
            window_seconds: 3600,
            escalated_from: None,
            count_before: None,
        },
        flood_hosts: None,
        flood_verdict: None,
        primary: 0,
    };
    let cx = Context {
        now: "2026-01-01T00:00:00Z",
        dataset: "iocd.stream",
        line: Some(&fields),
        triage: Some(&tf),
        ..Context::default()
    };
    let mut out = Vec::new();
    write_alert(&mut out, &set, line, &hits, &cx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let m = &v["threat"]["enrichments"][0]["matched"];
    assert_eq!(m["field"], "destination.ip");
    assert_eq!(v["source"]["ip"], "10.0.0.5");
    assert_eq!(v["source"]["port"], 50000);
    assert_eq!(v["destination"]["ip"], "1.2.3.4");
    assert_eq!(v["destination"]["port"], 443);
    assert_eq!(v["network"]["direction"], "outbound");
    assert_eq!(v["event"]["action"], "allowed");
    assert_eq!(v["event"]["outcome"], "success");
    assert_eq!(v["iocd"]["priority"], "high");
    assert_eq!(v["iocd"]["score"], 25.0);
    assert_eq!(
        v["iocd"]["score_components"][0]["input"],
        "outbound/allowed"
    );
    assert_eq!(v["iocd"]["internal_host"], "10.0.0.5");
    assert_eq!(v["iocd"]["dedup"]["window_seconds"], 3600);
    assert_eq!(v["iocd"]["decoded_as"], "netfilter");
    assert_eq!(v["event"]["kind"], "alert");
    assert_eq!(v["event"]["severity"], 4, "high");
    assert_eq!(v["event"]["risk_score"], 25.0);
    assert_eq!(v["rule"]["id"], "iocd.match.ipv4");
    assert_eq!(v["threat"]["feed"]["name"], serde_json::json!(["c2"]));
    assert_eq!(ecs::check(&v), Vec::<String>::new());
}

#[test]
fn matched_field_names_only_ecs_fields_and_tlp_is_the_strictest() {
    use iocd_engine::{Compiler, Meta, Pattern, SourceRef};
    let mut c = Compiler::new();
    let f = c.add_feed("misp", "misp.json");
    let md5 = Pattern::Md5([0xd4; 16]);
    let meta = |tlp| Meta {
        tlp: Some(tlp),
        ..Meta::default()
    };
    c.add_with_meta(&md5, SourceRef::plain(f, 1), meta(Tlp::Green));
    let ip = Pattern::Ipv4("203.0.113.5".parse().unwrap());
    c.add_with_meta(&ip, SourceRef::plain(f, 2), meta(Tlp::Amber));
    let set = c.build();
    let hash = "D4".repeat(16);
    // Sysmon's `Hashes` with an algorithm no ECS field has: `json.Hashes`.
    let text = format!(
        r#"{{"EventID":1,"Hashes":"XYZ={hash}","DestinationIp":"203.0.113.5","Image":"C:\a.exe"}}"#
    );
    let line = text.as_bytes();
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    assert_eq!(hits.len(), 2);
    let ev = crate::decode::event::decode(line, None).expect("json");
    let fields = LineFields::new(&ev, line, &hits, None);
    let cx = Context {
        now: "2026-01-01T00:00:00Z",
        dataset: "iocd.stream",
        line: Some(&fields),
        ..Context::default()
    };
    let mut out = Vec::new();
    write_alert(&mut out, &set, line, &hits, &cx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let e = &v["threat"]["enrichments"];
    let m = &v["iocd"]["matches"];
    let by_kind = |k: &str| {
        (0..2)
            .find(|&i| m[i]["kind"] == k)
            .unwrap_or_else(|| panic!("{k}: {v}"))
    };
    let (h, i) = (by_kind("md5"), by_kind("ipv4"));
    assert!(e[h]["matched"].get("field").is_none(), "{v}");
    assert_eq!(m[h]["matched_path"], "json.Hashes", "{v}");
    assert_eq!(e[i]["matched"]["field"], "destination.ip", "{v}");
    assert!(m[i].get("matched_path").is_none(), "{v}");
    // Per indicator its own marking; the alert as a whole the strictest.
    assert_eq!(e[h]["indicator"]["marking"]["tlp"], "GREEN");
    assert_eq!(e[i]["indicator"]["marking"]["tlp"], "AMBER");
    assert_eq!(v["threat"]["indicator"]["marking"]["tlp"], "AMBER");
    assert_eq!(ecs::check(&v), Vec::<String>::new());
}

#[test]
fn threat_context_of_the_feeds_reaches_the_alert() {
    use iocd_engine::{Compiler, Context as ThreatContext, Meta, Pattern, SourceRef, Technique};
    let cx = std::sync::Arc::new(ThreatContext {
        malware: vec!["Pikabot".into()],
        tools: vec!["Cobalt Strike".into()],
        groups: vec!["TA577".into()],
        campaigns: vec!["Spring wave".into()],
        techniques: vec![Technique {
            id: Some("T1071.001".into()),
            name: Some("Web Protocols".into()),
        }],
        tactics: vec!["command-and-control".into()],
        report: Some("misp-event:e-1".into()),
    });
    let meta = Meta {
        tags: vec!["botnet_cc".into()],
        description: Some("Pikabot C2".into()),
        context: Some(cx),
        ..Meta::default()
    };
    let mut c = Compiler::new();
    let f = c.add_feed("misp", "ev.json");
    let ip = Pattern::Ipv4("203.0.113.5".parse().unwrap());
    let dom = Pattern::Domain {
        name: "pika.example".into(),
        subdomains: true,
    };
    let other = Pattern::Ipv4("198.51.100.9".parse().unwrap());
    for p in [&ip, &dom, &other] {
        c.add_with_meta(p, SourceRef::plain(f, 0), meta.clone());
    }
    let set = c.build();
    let line = b"SRC=10.0.0.5 DST=203.0.113.5";
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    assert_eq!(hits.len(), 1);
    let mut out = Vec::new();
    let acx = Context {
        now: "2026-01-01T00:00:00Z",
        dataset: "iocd.scan",
        ..Context::default()
    };
    write_alert(&mut out, &set, line, &hits, &acx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let t = &v["threat"];
    assert_eq!(
        t["software"]["name"],
        serde_json::json!(["Pikabot", "Cobalt Strike"])
    );
    assert_eq!(
        t["software"]["type"],
        serde_json::json!(["Malware", "Tool"])
    );
    assert_eq!(t["group"]["name"], serde_json::json!(["TA577"]));
    assert_eq!(t["technique"]["id"], serde_json::json!(["T1071.001"]));
    assert_eq!(t["technique"]["name"], serde_json::json!(["Web Protocols"]));
    assert_eq!(
        t["tactic"]["name"],
        serde_json::json!(["command-and-control"])
    );
    assert_eq!(
        t["enrichments"][0]["indicator"]["description"],
        "Pikabot C2"
    );
    assert_eq!(v["tags"], serde_json::json!(["botnet_cc", "Spring wave"]));
    // The other indicators of the same event, not the alert's own.
    let related: Vec<&str> = v["iocd"]["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(related.len(), 2);
    assert!(related.contains(&"pika.example") && related.contains(&"198.51.100.9"));
    assert_eq!(v["iocd"]["related"][0]["report"], "misp-event:e-1");
    assert_eq!(crate::alert::ecs::check(&v), Vec::<String>::new());

    // OCSF and CEF carry it too.
    let mut out = Vec::new();
    let finding = ecs::write_typed(&mut out, &set, line, &hits, &acx);
    let o = crate::alert::ocsf::ocsf(&finding);
    assert_eq!(o["malware"][0]["name"], "Pikabot");
    assert_eq!(
        o["malware"][0]["classification_ids"],
        serde_json::json!([0])
    );
    assert_eq!(
        o["attacks"],
        serde_json::json!([
            {"technique": {"uid": "T1071.001", "name": "Web Protocols"}},
            {"tactic": {"name": "command-and-control"}}
        ])
    );
    assert_eq!(
        o["unmapped"]["threat"]["groups"],
        serde_json::json!(["TA577"])
    );
    assert_eq!(
        o["unmapped"]["threat"]["tools"],
        serde_json::json!(["Cobalt Strike"])
    );
    assert_eq!(
        o["unmapped"]["iocd"]["related"].as_array().unwrap().len(),
        2
    );
    let c = crate::alert::cef::cef(&finding);
    for kv in [
        "cs6=Pikabot",
        "cs6Label=malware",
        "flexString1=TA577",
        "flexString1Label=threatActor",
        "flexString2=T1071.001",
    ] {
        assert!(c.contains(kv), "{kv} in {c}");
    }

    // A plain list says nothing: none of it is written.
    let mut b = SetBuilder::new();
    b.add_plain_list("plain", "p.txt", b"203.0.113.5\n");
    let set = b.build();
    let mut hits = Vec::new();
    set.scan(line, &mut Scratch::new(), &mut hits);
    let mut out = Vec::new();
    write_alert(&mut out, &set, line, &hits, &acx);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for absent in ["software", "group", "technique", "tactic"] {
        assert!(v["threat"].get(absent).is_none(), "{absent}");
    }
    assert!(v.get("tags").is_none() && v["iocd"].get("related").is_none());
}
