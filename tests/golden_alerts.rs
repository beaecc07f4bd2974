//! Golden alerts: the exact bytes of the alerts iocd makes (ECS, OCSF, CEF) for the
//! alert-quality scenarios, so that a change to the alert model that changes a byte fails.
//!
//! Each scenario is run in-process the way the daemon's matcher threads run a line (decode,
//! triage, render), on a clock moved by hand: 100 ms per line, a tick every 10 lines, the
//! windows and digests drained at the end. Every alert triage makes is kept (as the archive
//! sink would get it): hits, escalations, roll-ups, flood reports, flood summaries, digests.
//!
//! * `flood`: the generated flood scenario (`iocd::corpus::flood`, `tests/flood_scenario.rs`;
//!   no shared data needed).
//! * `quality`: the alert-quality scenario of `tests/alert_quality.rs` (real feeds, the
//!   planted lines and the first lines of every real log), when `../shared/data` is there.
//! * `plain`: lines alerted without triage, as `iocd scan` and a daemon with triage off do.
//!
//! `tests/golden/<scenario>.{ecs.jsonl,ocsf.jsonl,cef.log}` hold a subset of the alerts in
//! full (of each alert type the first 10, then one in 500, to keep the files small);
//! `tests/golden/<scenario>.sha256` the SHA-256 of every alert of each format, so that a
//! byte changed in an alert left out fails too.
//!
//! Regenerate after an intended change with `IOCD_BLESS=1 cargo test --test golden_alerts`
//! (and say in the commit which bytes changed and why).

use iocd_testkit::shared_data;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset};
use iocd::alert::{Context, DecodedLine, Origin, TriageFields, write_typed};
use iocd::config::Config;
use iocd::ioc::Catalog;
use iocd::model::Formats;
use iocd::triage::{LineHits, ManualClock, Outgoing, Tally, Triage};
use iocd_engine::{Hit, IocSet, Scratch};
use iocd_testkit::corpus::flood::{FloodSpec, flood_scenario};
use iocd_testkit::scenario::{
    QUALITY_ALLOW_AND_ASSETS, Routing, flood_feeds, list_values, quality_feeds,
    warninglist_networks,
};

/// 2026-11-22T10:00:00Z: the scenarios' logs are of that day.
const T0: i64 = 1_795_341_600_000;
/// Alerts of each type kept in full: the first `FIRST`, then one in `STEP`.
const FIRST: usize = 10;
const STEP: usize = 500;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn millis(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The indicator set of `cfg`'s feeds, compiled at `T0`.
fn load_set(cfg: &Config) -> IocSet {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Catalog::new(&cfg.feeds, &cfg.allowlists);
    rt.block_on(c.refresh_all());
    let t0 = UNIX_EPOCH + Duration::from_millis(T0 as u64);
    c.compile(t0).0
}

fn triage(cfg: &Config, clock: Arc<ManualClock>) -> Triage {
    let shared: Vec<_> = cfg
        .triage
        .flood
        .shared_infrastructure
        .iter()
        .map(|p| iocd::ioc::allowlist::List::load(p).unwrap())
        .collect();
    let registry = prometheus::Registry::new();
    let metrics = iocd::telemetry::metrics::TriageMetrics::register(&registry);
    Triage::new(
        &cfg.triage,
        &iocd::config::sink_names(&cfg.sinks),
        metrics,
        clock,
    )
    .with_shared_infrastructure(&shared)
}

/// One alert as each format renders it, and what kind of alert it is.
struct Rendered {
    kind: String,
    ecs: Vec<u8>,
    ocsf: Vec<u8>,
    cef: Vec<u8>,
}

/// Runs `lines` (from the file `file`) through decoding, `triage` (or none) and rendering.
/// Lines with a syslog header are read as a syslog source would (`syslog_tcp`).
fn run(
    set: &IocSet,
    triage: Option<&Triage>,
    clock: &ManualClock,
    file: &str,
    text: &str,
) -> Vec<Rendered> {
    let mut out: Vec<Rendered> = Vec::new();
    let mut push = |ecs: &[u8], formats: &dyn Formats| {
        let v: serde_json::Value = serde_json::from_slice(ecs).unwrap();
        out.push(Rendered {
            kind: v["iocd"]["alert_type"]
                .as_str()
                .unwrap_or("match")
                .to_owned(),
            ecs: ecs.to_vec(),
            ocsf: formats.ocsf(),
            cef: formats.cef(),
        });
    };
    let push_report = |o: &Outgoing, push: &mut dyn FnMut(&[u8], &dyn Formats)| {
        let r = iocd::alert::record(o);
        push(&r.json, r.formats.as_deref().unwrap());
    };
    let utc = FixedOffset::east_opt(0).unwrap();
    let reference = DateTime::from_timestamp_millis(T0)
        .unwrap()
        .with_timezone(&utc);
    let mut scratch = Scratch::new();
    let mut tally = Tally::default();
    let mut hits: Vec<Hit> = Vec::new();
    let mut json = Vec::new();
    let mut offset = 0u64;
    for (n, line) in text.split('\n').enumerate() {
        let at = offset;
        offset += line.len() as u64 + 1;
        let line = line.as_bytes();
        clock.advance(Duration::from_millis(100));
        if let Some(t) = triage
            && n % 10 == 0
        {
            for o in t.tick() {
                push_report(&o, &mut push);
            }
        }
        hits.clear();
        set.scan(line, &mut scratch, &mut hits);
        if hits.is_empty() {
            continue;
        }
        let syslog = iocd::decode::syslog::parse_at(line, reference).map(|h| h.to_alert_fields());
        let internal = |ip| match triage {
            Some(t) => t.assets().is_internal(ip),
            None => iocd::decode::event::is_private_default(ip),
        };
        let decoded = DecodedLine::new(line, None, internal);
        let hostname = syslog.as_ref().and_then(|s| s.hostname.as_deref());
        let verdict = match triage {
            Some(t) => {
                let a = t.assess(
                    &LineHits {
                        set,
                        generation: 1,
                        event: decoded.event.as_ref(),
                        facts: &decoded.facts,
                        hostname,
                        hits: &hits,
                    },
                    &mut tally,
                );
                for o in a.extra {
                    push_report(&o, &mut push);
                }
                match a.verdict {
                    Some(v) if v.immediate => Some(v),
                    _ => continue,
                }
            }
            None => None,
        };
        let shown: Vec<Hit> = match &verdict {
            Some(v) => v.kept.iter().map(|k| k.hit).collect(),
            None => hits.clone(),
        };
        let direction = verdict
            .as_ref()
            .map_or(decoded.facts.direction, |v| v.direction);
        let fields = decoded.fields(line, &shown, direction);
        let triaged = verdict.as_ref().map(TriageFields::of);
        let now = millis(clock.0.load(std::sync::atomic::Ordering::SeqCst));
        let is_syslog = syslog.is_some();
        let cx = Context {
            now: &now,
            origin: if is_syslog {
                Origin {
                    input: Some("syslog_tcp"),
                    peer: Some("192.0.2.1:514".parse().unwrap()),
                    arrival: Some(iocd::alert::Arrival {
                        batch_ns: T0 as u64 * 1_000_000,
                        at: at as usize,
                    }),
                    ..Origin::default()
                }
            } else {
                Origin {
                    input: Some("file"),
                    file: Some(file),
                    offset: Some(at),
                    ..Origin::default()
                }
            },
            syslog,
            generation: Some(1),
            dataset: if triage.is_some() {
                "iocd.stream"
            } else {
                "iocd.scan"
            },
            line: fields.as_ref(),
            triage: triaged.as_ref(),
            // Without triage, as `iocd scan` writes it: the time the line says.
            event_time: None,
            mark_time_source: triage.is_none(),
            retro: None,
        };
        json.clear();
        let finding = write_typed(&mut json, set, line, &shown, &cx);
        push(&json, &finding);
    }
    if let Some(t) = triage {
        for o in t.drain() {
            push_report(&o, &mut push);
        }
    }
    out
}

fn sha256(parts: &[Vec<u8>]) -> String {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        h.update(p);
        h.update(b"\n");
    }
    h.finish().as_ref().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Compares (or, with `IOCD_BLESS=1`, writes) the golden files of `name`. `dir`, the folder
/// the feeds were read from (where this machine keeps them), is written `$DIR` in the files.
fn check(name: &str, dir: &Path, alerts: &[Rendered]) {
    let dir = dir.display().to_string();
    let unplace = |b: Vec<u8>| -> Vec<u8> {
        String::from_utf8(b)
            .expect("alerts are UTF-8")
            .replace(&dir, "$DIR")
            .into_bytes()
    };
    assert!(!alerts.is_empty(), "{name}: no alerts");
    type Format = (&'static str, fn(&Rendered) -> &[u8]);
    let formats: [Format; 3] = [
        ("ecs.jsonl", |a| &a.ecs),
        ("ocsf.jsonl", |a| &a.ocsf),
        ("cef.log", |a| &a.cef),
    ];
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let kept: Vec<bool> = alerts
        .iter()
        .map(|a| {
            let n = seen.entry(a.kind.as_str()).or_default();
            *n += 1;
            *n <= FIRST || (*n).is_multiple_of(STEP)
        })
        .collect();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut sums = format!("{} alerts\n", alerts.len());
    for (ext, format) in formats {
        let all: Vec<Vec<u8>> = alerts.iter().map(|a| unplace(format(a).to_vec())).collect();
        let mut subset = Vec::new();
        for (a, k) in all.iter().zip(&kept) {
            if *k {
                subset.extend_from_slice(a);
                subset.push(b'\n');
            }
        }
        let _ = writeln!(sums, "{ext} {}", sha256(&all));
        files.push((format!("{name}.{ext}"), subset));
    }
    files.push((format!("{name}.sha256"), sums.into_bytes()));
    let dir = golden_dir();
    if std::env::var_os("IOCD_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (f, bytes) in &files {
            std::fs::write(dir.join(f), bytes).unwrap();
        }
        return;
    }
    for (f, bytes) in &files {
        let want = std::fs::read(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e} (IOCD_BLESS=1 writes it)"));
        if *bytes != want {
            let (got, want) = (
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&want),
            );
            let at = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "{f} differs from the golden file at line {}:\n got: {}\nwant: {}",
                at + 1,
                got.lines().nth(at).unwrap_or("(none)"),
                want.lines().nth(at).unwrap_or("(none)")
            );
        }
    }
}

#[test]
fn flood_scenario_alerts_are_golden() {
    let sc = flood_scenario(&FloodSpec::default());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("c2.txt"), &sc.c2_feed).unwrap();
    std::fs::write(d.join("scanners.txt"), &sc.scanner_feed).unwrap();
    std::fs::write(d.join("shared.txt"), &sc.shared_list).unwrap();
    let p = |f: &str| d.join(f).display().to_string();
    let routing = Routing {
        time: None,
        files: false,
        digest_interval: "2m",
        dedup_window: "1m",
        flood_hosts: 10,
        shared_infrastructure: vec![p("shared.txt")],
    };
    let text = flood_feeds(&p("c2.txt"), &p("scanners.txt")) + &routing.toml();
    let cfg = Config::from_toml(&text).unwrap();
    let set = load_set(&cfg);
    let clock = Arc::new(ManualClock::new(T0));
    let t = triage(&cfg, clock.clone());
    let alerts = run(&set, Some(&t), &clock, "flood.log", &sc.log);
    check("flood", d, &alerts);
}

/// Lines kept from the start of each real log file.
const REAL_LINES: usize = 400;

/// The first listed value of a list file that `ok` accepts.
fn first_value(path: &Path, ok: impl Fn(&str) -> bool) -> String {
    list_values(path).into_iter().find(|v| ok(v)).unwrap()
}

/// The planted lines: a C2 call-back (netfilter), a Cobalt Strike connection (pfSense), a
/// malware domain looked up (Suricata EVE), each repeated; the own scanner (allowlisted); a
/// CDN address every workstation reaches (a flood of shared infrastructure).
fn planted(feeds: &Path, cdn: &str, in_cdn: impl Fn(&str) -> bool) -> String {
    let c2 = first_value(
        &feeds.join("abusech/threatfox_ioc_ips_elliotwutingfeng.txt"),
        |v| v.parse::<std::net::Ipv4Addr>().is_ok() && !in_cdn(v),
    );
    let cobalt = first_value(&feeds.join("maltrail/cobaltstrike.txt"), |v| {
        v.parse::<std::net::Ipv4Addr>().is_ok()
    });
    let domain = first_value(
        &feeds.join("urlhaus_filter/urlhaus-filter-domains.txt"),
        |v| v.parse::<std::net::IpAddr>().is_err() && v.contains('.') && !v.contains('/'),
    );
    let mut out = String::new();
    for i in 0..12 {
        let _ = writeln!(
            out,
            "Nov 22 10:{:02}:{:02} fw01 kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.20.30.40 DST={c2} LEN=60 TTL=64 ID={} DF PROTO=TCP SPT={} DPT=443 SYN URGP=0",
            i / 6,
            (i * 10) % 60,
            1000 + i,
            49152 + i
        );
        let _ = writeln!(
            out,
            "Nov 22 10:{:02}:{:02} pfsense filterlog: 5,,,1000000103,igb0,match,pass,out,4,0x0,,64,{},0,DF,6,tcp,60,10.20.30.42,{cobalt},{},8443,0,S,{},,64240,,mss",
            i / 6,
            (i * 10 + 3) % 60,
            30000 + i,
            50000 + i,
            1_000_000 + i
        );
        let _ = writeln!(
            out,
            r#"{{"timestamp":"2026-11-22T10:{:02}:{:02}.000000+0000","flow_id":{},"event_type":"dns","src_ip":"10.20.40.41","src_port":{},"dest_ip":"10.20.0.53","dest_port":53,"proto":"UDP","dns":{{"type":"query","id":{},"rrname":"cdn.{domain}","rrtype":"A","tx_id":0}}}}"#,
            i / 6,
            (i * 10 + 5) % 60,
            7_000_000 + i,
            53000 + i,
            100 + i
        );
    }
    let _ = writeln!(
        out,
        "Nov 22 11:00:00 fw01 kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.20.99.5 DST={c2} PROTO=TCP SPT=40000 DPT=443"
    );
    for h in 0..40 {
        let _ = writeln!(
            out,
            "Nov 22 12:00:{:02} fw01 kernel: [UFW ALLOW] IN= OUT=eth0 SRC=10.30.0.{} DST={cdn} PROTO=TCP SPT={} DPT=443",
            h % 60,
            h + 1,
            40000 + h
        );
    }
    out
}

#[test]
fn alert_quality_scenario_alerts_are_golden() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let feeds = data.join("feeds");
    let wl = data.join("allowlists/misp-warninglists");
    let routing = Routing::alert_quality(false, &wl);
    let text = quality_feeds(&feeds) + &routing.toml() + QUALITY_ALLOW_AND_ASSETS;
    let cfg = Config::from_toml(&text).unwrap();
    let set = load_set(&cfg);
    // A Cloudflare address ThreatFox lists (what the alert-quality scenario floods with).
    let nets = warninglist_networks(&wl.join("cloudflare.json"));
    let in_cdn = |v: &str| {
        v.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| nets.iter().any(|n| n.contains(&ip)))
    };
    let cdn = first_value(
        &feeds.join("abusech/threatfox_ioc_ips_elliotwutingfeng.txt"),
        in_cdn,
    );
    let mut log = String::new();
    for f in shared_data::files_under(&data.join("logs")) {
        let body = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for l in body.lines().filter(|l| !l.is_empty()).take(REAL_LINES) {
            log.push_str(l);
            log.push('\n');
        }
    }
    log.push_str(&planted(&feeds, &cdn, in_cdn));
    let clock = Arc::new(ManualClock::new(T0));
    let t = triage(&cfg, clock.clone());
    let alerts = run(&set, Some(&t), &clock, "quality.log", &log);
    check("quality", &data, &alerts);

    // The same lines without triage: one alert per line with hits, as `iocd scan` writes.
    let plain: String = log.lines().take(3000).fold(String::new(), |mut s, l| {
        s.push_str(l);
        s.push('\n');
        s
    });
    let clock = ManualClock::new(T0);
    let alerts = run(&set, None, &clock, "plain.log", &plain);
    check("plain", &data, &alerts);
}

#[test]
fn golden_runs_are_deterministic() {
    // Two runs of the flood scenario give the same bytes (the golden files are worth
    // comparing): no wall clock, no hash order leaks into an alert.
    let sc = flood_scenario(&FloodSpec {
        scanners: 20,
        ..FloodSpec::default()
    });
    let text = "[triage.dedup]\nwindow = \"1m\"\n[triage.flood]\nhosts = 5\n";
    let mut runs = Vec::new();
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        std::fs::write(tmp.path().join("c2.txt"), &sc.c2_feed).unwrap();
        let feeds = format!(
            "[[feeds]]\nname = \"c2\"\npath = {:?}\n{text}",
            tmp.path().join("c2.txt").display().to_string()
        );
        let cfg = Config::from_toml(&feeds).unwrap();
        let set = load_set(&cfg);
        let clock = Arc::new(ManualClock::new(T0));
        let t = triage(&cfg, clock.clone());
        let alerts = run(&set, Some(&t), &clock, "flood.log", &sc.log);
        runs.push(alerts.into_iter().map(|a| a.ecs).collect::<Vec<_>>());
    }
    assert!(!runs[0].is_empty());
    assert!(runs[0] == runs[1], "two runs differ");
}
