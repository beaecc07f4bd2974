//! Every feed in ../shared/data/feeds loads, its records counted and spot-checked against the
//! source file by means independent of the parsers (line counts, JSON walks, XML element
//! counts). Skipped, with a message, when ../shared/data is not there.

use iocd_testkit::shared_data;

use std::path::Path;
use std::time::SystemTime;

use iocd::config::{AllowlistConfig, FeedConfig};
use iocd::ioc::feed::{self, FeedFormat, ParseOptions, Parsed};
use iocd::ioc::{Catalog, LoadReport, parse_indicator};
use iocd_engine::{IocKind, IocSet};
use serde_json::Value;

fn feed(name: &str, path: &Path, extra: &str) -> FeedConfig {
    toml::from_str(&format!(
        "name = {name:?}\npath = {:?}\n{extra}",
        path.display().to_string()
    ))
    .unwrap()
}

fn load(feeds: &[FeedConfig], allow: &[AllowlistConfig]) -> (IocSet, LoadReport) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Catalog::new(feeds, allow);
    rt.block_on(c.refresh_all());
    c.compile(SystemTime::now())
}

fn parse(path: &Path) -> Parsed {
    let opts = ParseOptions {
        to_ids_only: true,
        ..ParseOptions::default()
    };
    feed::parse_path(FeedFormat::Auto, path, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn has(set: &IocSet, v: &str) -> bool {
    set.find(&parse_indicator(v).unwrap()).is_some()
}

/// Lines a plain list holds a value on: not blank, not a comment (`#`, `!`, `//`, `;`).
fn plain_records(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim_start())
        .map(|l| {
            l.strip_prefix("- ")
                .or_else(|| l.strip_prefix("* "))
                .or_else(|| l.strip_prefix("\u{2022} "))
                .unwrap_or(l)
                .trim()
        })
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with('#')
                || l.starts_with('!')
                || l.starts_with("//")
                || l.starts_with(';')
                || *l == "||")
        })
        .count() as u64
}

#[test]
fn every_feed_loads_and_every_record_is_accounted_for() {
    let Some(d) = shared_data::dir() else { return };
    let files = shared_data::files_under(&d.join("feeds"));
    assert!(files.len() >= 70, "{} feed files", files.len());
    println!(
        "{:<56} {:<8} {:>8} {:>7} {:>7} {:>7}",
        "file", "format", "loaded", "merged", "rejected", "skipped"
    );
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let (set, r) = load(&[feed(&name, &p, "")], &[]);
        let f = &r.feeds[0];
        let skipped: u64 = f.skipped.values().sum();
        println!(
            "{name:<56} {:<8} {:>8} {:>7} {:>7} {:>7} {:?}",
            f.format, f.accepted, f.merged, f.rejected, skipped, f.rejected_by
        );
        if name == "asn_drop.json" {
            // ASN records are not an indicator type iocd matches: a clear error, no crash.
            let e = f.error.as_deref().unwrap();
            assert!(
                e.contains("asn_drop.json") && e.contains("neither a STIX"),
                "{e}"
            );
            assert!(set.is_empty());
            continue;
        }
        assert!(f.error.is_none(), "{name}: {:?}", f.error);
        assert_eq!(f.inactive, 0, "{name}: no TTL, nothing expires");
        assert!(
            set.len() as u64 >= f.accepted - f.merged,
            "{name}: every distinct listing is in the set"
        );
        if f.format == "plain" {
            assert_eq!(
                f.accepted + f.rejected,
                plain_records(&p),
                "{name}: one listing or one rejection per record line"
            );
        }
        for rej in r.rejected.iter().filter(|r| r.line > 0) {
            assert!(rej.to_string().contains(&format!("{name}:{}", rej.line)));
        }
    }
}

#[test]
fn plain_and_csv_feeds_spot_checked() {
    let Some(d) = shared_data::dir() else { return };
    let f = d.join("feeds");
    let cases: [(&str, &[&str], u64); 9] = [
        (
            "ipsum/ipsum.txt",
            &["77.90.185.20", "77.239.124.102"],
            120_430,
        ),
        ("ipsum/ipsum_level3.txt", &["77.90.185.20"], 14_217),
        (
            "abusech/threatfox_ioc_ips_elliotwutingfeng.txt",
            &["1.7.147.211", "1.12.42.37"],
            19_856,
        ),
        (
            "eset/eset_all_samples.sha256.txt",
            &["6b7358c4428369b60b034566b72d8e4a3a0d723d5bfcd8386babb515b337f8c4"],
            5_383,
        ),
        (
            "signature-base/c2-iocs.txt",
            &["suroot.com", "58.64.143.244"],
            1_844,
        ),
        ("spamhaus/drop.txt", &["1.10.16.0/20", "1.19.0.0/16"], 975),
        ("spamhaus/edrop.txt", &["2.56.247.0/24"], 322),
        ("maltrail/emotet.txt", &["66.210.228.178"], 10_297),
        (
            "urlhaus_filter/urlhaus-filter-ublock.txt",
            &[
                "0022a601.pphost.net",
                "http://0x0.st/8ics.py",
                "https://0x0.st/8ics.py",
            ],
            31_798,
        ),
    ];
    for (file, values, accepted) in cases {
        let (set, r) = load(&[feed(file, &f.join(file), "")], &[]);
        assert_eq!(r.feeds[0].accepted, accepted, "{file}: {:?}", r.feeds[0]);
        for v in values {
            assert!(has(&set, v), "{file}: {v}");
        }
    }
    // Spamhaus DROP lists a few networks broader than /16 on purpose: the default rail
    // rejects them, `min_prefix_v4` lets them in.
    let drop = f.join("spamhaus/drop.txt");
    let (_, r) = load(&[feed("drop", &drop, "")], &[]);
    assert_eq!(r.feeds[0].rejected_by.get("broad_cidr"), Some(&14));
    let (set, r) = load(&[feed("drop", &drop, "min_prefix_v4 = 8")], &[]);
    assert_eq!(r.feeds[0].accepted, 989);
    let v6 = f.join("spamhaus/drop_ipv6.txt");
    let (set6, _) = load(&[feed("v6", &v6, "min_prefix_v6 = 29")], &[]);
    assert!(has(&set6, "2a12:2640::/29"));
    assert_eq!(set.counts()[2], (IocKind::Cidr, 989));

    // CSV found by header names: Feodo Tracker (banner + quoted header), SSLBL (BOM, CRLF,
    // US dates), URLhaus host+path rows.
    let (set, r) = load(
        &[feed(
            "feodo",
            &f.join("abusech/feodotracker_ipblocklist.csv"),
            "",
        )],
        &[],
    );
    assert_eq!(r.feeds[0].format, "csv");
    assert_eq!(r.feeds[0].accepted, 28);
    let id = set.find(&parse_indicator("192.9.135.73").unwrap()).unwrap();
    let m = set.meta(&set.sources(id)[0]).unwrap();
    assert_eq!(m.context.as_ref().unwrap().malware, vec!["Pikabot"]);
    assert_eq!(m.first_seen, Some(1684864304), "2023-05-23 17:51:44 UTC");
    assert_eq!(set.sources(id)[0].line, 10);

    let (set, r) = load(
        &[feed(
            "sslbl",
            &f.join("abusech/sslbl_sha1_reexport.csv"),
            "",
        )],
        &[],
    );
    assert_eq!(r.feeds[0].accepted, 5_565);
    let id = set
        .find(&parse_indicator("19e664f09401bf648b6ea57719e34ad795f3b6cb").unwrap())
        .unwrap();
    let m = set.meta(&set.sources(id)[0]).unwrap();
    assert_eq!(m.tags, vec!["AsyncRAT C&C"]);
    assert_eq!(m.first_seen, Some(1703228280), "12/22/2023 6:58");

    let splunk = f.join("urlhaus_filter/urlhaus-filter-splunk-online.csv");
    let (set, r) = load(&[feed("splunk", &splunk, "")], &[]);
    let rows = std::fs::read_to_string(&splunk)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u64
        - 1;
    assert_eq!(r.feeds[0].accepted + r.feeds[0].rejected, rows);
    assert_eq!(r.feeds[0].rejected, 0, "{:?}", r.feeds[0].rejected_by);
    assert!(has(&set, "0022a601.pphost.net"));
}

#[test]
fn misp_events_spot_checked() {
    let Some(d) = shared_data::dir() else { return };
    let mut events = shared_data::files_under(&d.join("feeds/eset/misp_events"));
    events.push(
        d.join("feeds/misp_feed_format/pymisp_tests_57c4445b-c548-4654-af0b-4be3950d210f.json"),
    );
    for p in events {
        let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let evs: Vec<&Value> = match doc.get("response") {
            Some(Value::Array(a)) => a.iter().map(|i| &i["Event"]).collect(),
            _ => vec![&doc["Event"]],
        };
        let mut attrs = Vec::new();
        for ev in evs {
            attrs.extend(ev["Attribute"].as_array().into_iter().flatten());
            for o in ev["Object"].as_array().into_iter().flatten() {
                attrs.extend(o["Attribute"].as_array().into_iter().flatten());
            }
        }
        let to_ids: Vec<&&Value> = attrs.iter().filter(|a| a["to_ids"] == true).collect();
        let parts: usize = to_ids
            .iter()
            .map(|a| if a["type"] == "domain|ip" { 2 } else { 1 })
            .sum();
        let parsed = parse(&p);
        assert_eq!(
            parsed.skipped.get("not_to_ids").copied().unwrap_or(0) as usize,
            attrs.len() - to_ids.len(),
            "{}",
            p.display()
        );
        assert_eq!(
            parsed.count() + parsed.rejected.len(),
            parts,
            "{}: every to_ids attribute part is a listing or a rejection",
            p.display()
        );
        // Every ip-dst / domain / md5 / sha256 attribute flagged to_ids is there, by value.
        let listed: std::collections::HashSet<String> = parsed
            .listings
            .iter()
            .map(|l| l.pattern.to_string())
            .collect();
        for a in &to_ids {
            let t = a["type"].as_str().unwrap();
            if ["ip-dst", "domain", "md5", "sha1", "sha256"].contains(&t) {
                let v = a["value"].as_str().unwrap();
                let canon = parse_indicator(v).unwrap().to_string();
                assert!(listed.contains(&canon), "{}: {t} {v}", p.display());
            }
        }
    }
    let glupteba = d.join("feeds/eset/misp_events/glupteba_glupteba.misp-event.json");
    let (set, r) = load(&[feed("glupteba", &glupteba, "")], &[]);
    assert!(has(&set, "5.101.6.132"));
    assert!(
        has(&set, "1645ad8468a2fb54763c0ebeb766dfd8c643f3db"),
        "filename|sha1"
    );
    assert_eq!(r.feeds[0].accepted, 325);
    let pymisp =
        d.join("feeds/misp_feed_format/pymisp_tests_57c4445b-c548-4654-af0b-4be3950d210f.json");
    let (set, _) = load(&[feed("xorist", &pymisp, "")], &[]);
    let sha = (0..set.len() as u32)
        .map(iocd::IocId)
        .find(|&i| set.kind(i) == IocKind::Sha256)
        .unwrap();
    let m = set.meta(&set.sources(sha)[0]).unwrap();
    assert_eq!(m.tlp, Some(iocd_engine::Tlp::Clear), "event tag tlp:white");
    assert!(
        m.tags.iter().any(|t| t.contains("Ransomware")),
        "{:?}",
        m.tags
    );
}

#[test]
fn stix_bundles_spot_checked() {
    let Some(d) = shared_data::dir() else { return };
    let dir = d.join("feeds/stix21_oasis_examples");
    for p in shared_data::files_under(&dir) {
        let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let indicators: Vec<&Value> = doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == "indicator")
            .collect();
        let parsed = parse(&p);
        // Each indicator gave listings, or one rejection for the whole pattern, or per-part
        // rejections: none is silently dropped.
        for (i, o) in indicators.iter().enumerate() {
            let id = o["id"].as_str().unwrap();
            let rejected = parsed
                .rejected
                .iter()
                .any(|r| r.at.as_deref().is_some_and(|a| a.contains(id)));
            let pattern = o["pattern"].as_str().unwrap();
            let listed = pattern.split('\'').skip(1).step_by(2).any(|v| {
                let canon = parse_indicator(v).map(|p| p.to_string());
                parsed.listings.iter().any(|l| {
                    let t = l.pattern.to_string();
                    t == v || canon.as_ref().is_ok_and(|c| *c == t)
                })
            });
            assert!(
                rejected || listed,
                "{} indicator {i} ({pattern}) neither listed nor reported",
                p.display()
            );
        }
    }
    let (set, r) = load(&[feed("poisonivy", &dir.join("poisonivy.json"), "")], &[]);
    // 40 IPv4 and 25 domain comparisons and 2 file names; one domain value is broken in the
    // source ("domain autuo.xicp.net").
    let f = &r.feeds[0];
    assert_eq!((f.accepted, f.rejected), (66, 1), "{f:?}");
    assert!(r.rejected[0].to_string().contains("domain autuo.xicp.net"));
    // 18 distinct addresses (computed from the file by hand).
    assert_eq!(set.counts()[0], (IocKind::Ipv4, 18));
    let (set, r) = load(
        &[feed("apt1", &dir.join("apt1.json"), "min_prefix_v4 = 15")],
        &[],
    );
    assert!(has(&set, "223.166.0.0/15") && has(&set, "hugesoft.org"));
    assert!(has(&set, "001dd76872d80801692ff942308c64e6"));
    let unsupported: Vec<String> = r
        .rejected
        .iter()
        .filter(|r| r.reason.code() == "unsupported")
        .map(|r| r.to_string())
        .collect();
    assert_eq!(unsupported.len(), 2, "the two x509 patterns with AND");
    assert!(unsupported[0].contains("comparisons joined by AND"));
}

#[test]
fn openioc_files_spot_checked() {
    let Some(d) = shared_data::dir() else { return };
    let dir = d.join("feeds/openioc_fireeye");
    let mut total = 0;
    for p in shared_data::files_under(&dir) {
        let text = std::fs::read_to_string(&p).unwrap();
        let items = text.matches("<IndicatorItem").count();
        let parsed = parse(&p);
        assert_eq!(
            parsed.count() + parsed.rejected.len(),
            items,
            "{}: one listing or one rejection per IndicatorItem",
            p.display()
        );
        total += parsed.count();
        // Every md5 item is listed, with the line of its IndicatorItem.
        for (n, line) in text.lines().enumerate() {
            if line.contains("search=\"FileItem/Md5sum\"") {
                let content = text.lines().nth(n + 1).unwrap();
                let v = content
                    .split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap();
                let want = parse_indicator(v).unwrap();
                let l = parsed
                    .listings
                    .iter()
                    .find(|l| l.pattern == want)
                    .unwrap_or_else(|| panic!("{}: md5 {v}", p.display()));
                assert_eq!(l.line as usize, n, "{}: {v}", p.display());
            }
        }
    }
    assert!(total > 600, "{total}");
    let apt3 = dir.join("APT3_62f65dae-9475-44b0-a9eb-c1baebbd9885.ioc");
    let (set, _) = load(&[feed("apt3", &apt3, "")], &[]);
    assert!(has(&set, "report.perrydale.com") && has(&set, "107.20.255.57"));
}

#[test]
fn all_feeds_with_warninglists() {
    let Some(d) = shared_data::dir() else { return };
    let feeds: Vec<FeedConfig> = shared_data::files_under(&d.join("feeds"))
        .iter()
        .enumerate()
        .map(|(i, p)| feed(&format!("f{i}"), p, ""))
        .collect();
    let allow: AllowlistConfig = toml::from_str(&format!(
        "path = {:?}",
        d.join("allowlists/misp-warninglists").display().to_string()
    ))
    .unwrap();
    let t = std::time::Instant::now();
    let (set, r) = load(&feeds, &[allow]);
    println!(
        "all feeds + warninglists: {} indicators in {:?}",
        set.len(),
        t.elapsed()
    );
    assert_eq!(r.allowlists.len(), 41);
    assert!(r.allowlists.iter().all(|a| a.error.is_none()));
    let by_name = |n: &str| r.allowlists.iter().find(|a| a.name.contains(n)).unwrap();
    assert_eq!(by_name("IPv4 public DNS").entries, 62_745);
    assert!(by_name("IPv4 public DNS").dropped > 0);
    // ThreatFox lists 5.189.147.128 (line 550), which the public DNS warninglist holds.
    assert!(!has(&set, "5.189.147.128"));
    assert!(r.rejected.iter().any(|x| {
        x.value == "5.189.147.128"
            && x.line == 550
            && x.location
                .ends_with("threatfox_ioc_ips_elliotwutingfeng.txt")
            && x.reason.to_string() == "on allowlist List of known IPv4 public DNS resolvers"
    }));
    let allowlisted: u64 = r
        .feeds
        .iter()
        .map(|f| f.rejected_by.get("allowlisted").copied().unwrap_or(0))
        .sum();
    let dropped: u64 = r.allowlists.iter().map(|a| a.dropped).sum();
    assert_eq!(
        allowlisted, dropped,
        "every drop is counted once, by its list"
    );
    assert!(set.len() > 200_000);
}
