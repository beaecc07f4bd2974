//! Threat context from every real feed format in ../shared/data/feeds that carries it (issue
//! 15, item 4): Feodo Tracker's `malware` column, ESET's MISP events (threat-actor and ATT&CK
//! galaxies), the OASIS STIX 2.1 examples (`indicates` relationships to malware, actors,
//! campaigns and attack patterns; reports). What each listing should carry is worked out here
//! from the documents by a walk of their own, not by the parsers. The end-to-end case runs
//! `iocd scan` on ESET's Lazarus 3CX event and checks the alert's ECS threat fields and
//! `iocd.related`. Skipped, with a message, when ../shared/data is not there.

use iocd_testkit::shared_data;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use iocd::ioc::feed::{self, FeedFormat, ParseOptions, Parsed, limits};
use serde_json::Value;

fn parse(path: &Path) -> Parsed {
    parse_with(path, true)
}

/// `to_ids_only: false` reads the attributes of MISP events that flag none for detection
/// (ESET's OceanLotus event), as `to_ids_only = false` in a feed's configuration does.
fn parse_with(path: &Path, to_ids_only: bool) -> Parsed {
    let opts = ParseOptions {
        to_ids_only,
        ..ParseOptions::default()
    };
    feed::parse_path(FeedFormat::Auto, path, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// The first alert of `iocd <args>` (a scan), which must succeed.
fn first_alert(args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().expect("one alert")).unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn feodo_malware_column_is_the_listings_malware() {
    let Some(d) = shared_data::dir() else { return };
    let path = d.join("feeds/abusech/feodotracker_ipblocklist.csv");
    // The rows by hand: `"first_seen","ip","port","status","last_online","malware"`.
    let text = std::fs::read_to_string(&path).unwrap();
    let want: HashMap<String, String> = text
        .lines()
        .filter(|l| l.starts_with("\"20"))
        .map(|l| {
            let cells: Vec<&str> = l.split(',').map(|c| c.trim_matches('"')).collect();
            (cells[1].to_owned(), cells[5].to_owned())
        })
        .collect();
    assert!(want.len() > 10, "{} rows", want.len());
    let p = parse(&path);
    assert_eq!(p.count(), want.len());
    for l in &p.listings {
        let ip = l.pattern.to_string();
        let cx = l.meta.as_ref().and_then(|m| m.context.as_ref());
        assert_eq!(
            cx.map(|c| c.malware.clone()),
            Some(vec![want[&ip].clone()]),
            "{ip}"
        );
    }
}

/// The galaxy tags of a MISP event, by hand: (threat actors, ATT&CK technique ids).
fn galaxy_tags(ev: &Value) -> (Vec<String>, Vec<String>) {
    let (mut actors, mut techniques) = (Vec::new(), Vec::new());
    for t in ev["Tag"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or_default();
        let value = |prefix: &str| {
            name.strip_prefix(prefix)
                .map(|v| v.trim_matches('"').to_owned())
        };
        if let Some(v) = value("misp-galaxy:threat-actor=") {
            actors.push(v);
        } else if let Some(v) = value("misp-galaxy:mitre-attack-pattern=") {
            let id = v.rsplit(" - ").next().unwrap().to_owned();
            if !techniques.contains(&id) {
                techniques.push(id);
            }
        }
    }
    (actors, techniques)
}

#[test]
fn eset_misp_events_carry_their_actors_techniques_and_event() {
    let Some(d) = shared_data::dir() else { return };
    let mut with_actor = 0;
    let mut with_techniques = 0;
    for f in shared_data::files_under(&d.join("feeds/eset/misp_events")) {
        let doc = json(&f);
        let ev = &doc["response"][0]["Event"];
        let (actors, techniques) = galaxy_tags(ev);
        let uuid = ev["uuid"].as_str().unwrap();
        let p = parse_with(&f, false);
        assert!(p.count() > 0, "{}", f.display());
        let kept = techniques.len().min(limits::MAX_CONTEXT_NAMES);
        for l in &p.listings {
            let cx = l
                .meta
                .as_ref()
                .and_then(|m| m.context.clone())
                .unwrap_or_else(|| panic!("{}: {} has no context", f.display(), l.pattern));
            assert_eq!(cx.report.as_deref(), Some(&*format!("misp-event:{uuid}")));
            assert_eq!(cx.groups, actors, "{}", f.display());
            let ids: Vec<&str> = cx
                .techniques
                .iter()
                .filter_map(|t| t.id.as_deref())
                .collect();
            assert_eq!(ids, techniques[..kept], "{}", f.display());
            // The galaxy tags are context, not tags.
            let tags = &l.meta.as_ref().unwrap().tags;
            assert!(
                !tags
                    .iter()
                    .any(|t| t.starts_with("misp-galaxy:threat-actor")),
                "{tags:?}"
            );
        }
        with_actor += usize::from(!actors.is_empty());
        with_techniques += usize::from(!techniques.is_empty());
        if techniques.len() > limits::MAX_CONTEXT_NAMES {
            assert_eq!(p.skipped.get("context_over_limit"), Some(&1));
        }
    }
    // APT32 (OceanLotus) and Lazarus; the 3CX and Mozi events name ATT&CK techniques.
    assert!(
        with_actor >= 2 && with_techniques >= 2,
        "{with_actor} {with_techniques}"
    );
}

/// What each indicator of a STIX bundle `indicates`, by hand: (malware, campaigns, groups,
/// attack-pattern names), with the actors, campaigns and attack patterns that use the malware.
fn stix_expectations(doc: &Value) -> HashMap<String, [BTreeSet<String>; 4]> {
    let objects = doc["objects"].as_array().unwrap();
    let by_id: HashMap<&str, &Value> = objects
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), o))
        .collect();
    let rels: Vec<(&str, &str, &str)> = objects
        .iter()
        .filter(|o| o["type"] == "relationship")
        .map(|o| {
            (
                o["source_ref"].as_str().unwrap(),
                o["relationship_type"].as_str().unwrap(),
                o["target_ref"].as_str().unwrap(),
            )
        })
        .collect();
    let mut out = HashMap::new();
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        let id = o["id"].as_str().unwrap();
        let mut e: [BTreeSet<String>; 4] = Default::default();
        for (_, _, t) in rels
            .iter()
            .filter(|(s, r, _)| *s == id && *r == "indicates")
        {
            let Some(target) = by_id.get(t) else { continue };
            let name = target["name"].as_str().unwrap_or_default().to_owned();
            match target["type"].as_str().unwrap() {
                "malware" => {
                    e[0].insert(name);
                    for (user, _, _) in rels.iter().filter(|(_, r, x)| *r == "uses" && x == t) {
                        let u = by_id[user];
                        let n = u["name"].as_str().unwrap().to_owned();
                        match u["type"].as_str().unwrap() {
                            "threat-actor" | "intrusion-set" => e[2].insert(n),
                            "campaign" => e[1].insert(n),
                            "attack-pattern" => e[3].insert(n),
                            _ => false,
                        };
                    }
                }
                "campaign" => {
                    e[1].insert(name);
                }
                "threat-actor" | "intrusion-set" => {
                    e[2].insert(name);
                }
                "attack-pattern" => {
                    e[3].insert(name);
                }
                _ => {}
            }
        }
        out.insert(id.to_owned(), e);
    }
    out
}

#[test]
fn stix_examples_carry_what_their_indicators_indicate() {
    let Some(d) = shared_data::dir() else { return };
    let dir = d.join("feeds/stix21_oasis_examples");
    let mut checked = 0;
    let mut kinds = [0usize; 4];
    for f in shared_data::files_under(&dir) {
        let doc = json(&f);
        let want = stix_expectations(&doc);
        let p = parse(&f);
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
        for l in &p.listings {
            // Which indicator a listing is from: the bundle's pattern that names its value.
            let value = l.pattern.to_string();
            let from: Vec<&Value> = doc["objects"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| {
                    o["type"] == "indicator"
                        && o["pattern"]
                            .as_str()
                            .is_some_and(|p| p.to_ascii_lowercase().contains(&value))
                })
                .collect();
            if from.len() != 1 {
                continue;
            }
            let e = &want[from[0]["id"].as_str().unwrap()];
            let cx = l.meta.as_ref().and_then(|m| m.context.clone());
            let got: [BTreeSet<String>; 4] = match &cx {
                Some(c) => [
                    set(&c.malware),
                    set(&c.campaigns),
                    set(&c.groups),
                    c.techniques.iter().filter_map(|t| t.name.clone()).collect(),
                ],
                None => Default::default(),
            };
            assert_eq!(&got, e, "{}: {value}", f.display());
            for (k, s) in e.iter().enumerate() {
                kinds[k] += usize::from(!s.is_empty());
            }
            checked += 1;
        }
    }
    // apt1 (malware, APT1 by `uses`), poisonivy (campaigns), the campaign and e-mail
    // examples (attack pattern).
    assert!(checked >= 20, "{checked} listings checked");
    assert!(kinds.iter().all(|k| *k > 0), "{kinds:?}");
}

#[test]
fn scan_alert_on_a_real_misp_event_names_actor_and_related_indicators() {
    let Some(d) = shared_data::dir() else { return };
    let event = d.join("feeds/eset/misp_events/nukesped_lazarus_lazarus_3cx.json");
    let p = parse(&event);
    let hash = p
        .listings
        .iter()
        .map(|l| l.pattern.to_string())
        .find(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("a SHA-256 the event flags for detection");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("dns.log");
    std::fs::write(
        &log,
        format!("Jan  5 10:00:00 ws7 edr[12]: process created sha256={hash} user=alice\n"),
    )
    .unwrap();
    let alert = first_alert(&[
        "scan".as_ref(),
        "-i".as_ref(),
        event.as_os_str(),
        log.as_os_str(),
    ]);
    assert_eq!(
        alert["threat"]["group"]["name"],
        serde_json::json!(["Lazarus Group"])
    );
    let techniques = alert["threat"]["technique"]["id"].as_array().unwrap();
    assert!(
        techniques.iter().any(|t| t == "T1071.001"),
        "{techniques:?}"
    );
    let related = alert["iocd"]["related"].as_array().expect("related");
    assert_eq!(related.len(), 10, "{related:?}");
    for r in related {
        assert_ne!(r["indicator"], hash.as_str());
        assert_eq!(
            r["report"],
            "misp-event:72f7a401-5a65-4977-8f43-4c34dda37b2f"
        );
        // Every related indicator is one the event lists.
        let v = r["indicator"].as_str().unwrap();
        assert!(p.listings.iter().any(|l| l.pattern.to_string() == v), "{v}");
    }
    assert_eq!(iocd::alert::ecs::check(&alert), Vec::<String>::new());
}

#[test]
fn a_per_family_list_gets_its_family_from_feed_context() {
    let Some(d) = shared_data::dir() else { return };
    // Maltrail's agenttesla.txt names its family only in its file name and comments.
    let list = d.join("feeds/maltrail/agenttesla.txt");
    let p = parse(&list);
    let value = p
        .listings
        .iter()
        .map(|l| l.pattern.to_string())
        .find(|v| !v.contains('/') && v.parse::<std::net::IpAddr>().is_err())
        .expect("a domain in the list");
    assert!(
        p.listings.iter().all(|l| l.meta.is_none()),
        "a plain list says nothing itself"
    );
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("iocd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[feeds]]\nname = \"maltrail-agenttesla\"\npath = {:?}\n\
             [feeds.context]\nmalware = [\"AgentTesla\"]\ntechniques = [\"T1071.003\"]\n",
            list.display().to_string()
        ),
    )
    .unwrap();
    let log = tmp.path().join("dns.log");
    std::fs::write(
        &log,
        format!("Jan  5 10:00:00 gw named[12]: client 10.1.2.3#5353: query: {value} IN A\n"),
    )
    .unwrap();
    let alert = first_alert(&[
        "scan".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        log.as_os_str(),
    ]);
    assert_eq!(
        alert["threat"]["software"]["name"],
        serde_json::json!(["AgentTesla"])
    );
    assert_eq!(
        alert["threat"]["technique"]["id"],
        serde_json::json!(["T1071.003"])
    );
    assert_eq!(iocd::alert::ecs::check(&alert), Vec::<String>::new());
}
