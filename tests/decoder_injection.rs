//! Decoders are a security boundary (issue #12, item 1): the format a line is decoded as, its
//! `source.*` and `destination.*` addresses and ports, its action and its direction feed the
//! allowlist, the dedup key and the score, so no text an attacker writes into a field (a user
//! agent, a URL or its query string, a quoted value, a JSON string) may change them.
//!
//! Every line of every sample log in `../shared/data/logs` (skipped when absent) is decoded;
//! each format's markers (`CEF:0|...|src=...`, `LEEF:2.0|...`, `{"src_ip":...}`,
//! `action=allow`, `src=`, `SRC=`, an ASA tag, a second syslog header, ...) are written into
//! its free-text fields, escaped the way the device escapes that field (JSON string, quoted
//! value, CEF value, a Zeek column, a URL), and the line is decoded again: the outcome must
//! not move. A deterministic sweep injects one marker into every line that has such a field;
//! a property test then draws random (line, field, marker, position) combinations, bounded
//! so that the suite stays fast.
//!
//! The end-to-end test runs the real daemon on the reproduction of the issue: a web log line
//! whose user agent carries a CEF header naming an allowlisted source.

use iocd_testkit::shared_data;
use iocd_testkit::support;

use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iocd::decode::event::{Action, Direction, Encoding, Event, ZeekHeader, decode};
use proptest::prelude::*;
use support::{
    TEST_FEED, file_sink_admin, free_port, http_get, iocd_run, metric_sum, read_alerts, start_iocd,
    stop_iocd, write_config,
};

/// What must not move: the format, the flow's two ends, the verdict, the direction.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    format: &'static str,
    source: (Option<IpAddr>, Option<u16>),
    destination: (Option<IpAddr>, Option<u16>),
    action: Option<Action>,
    direction: Option<Direction>,
}

fn outcome(line: &[u8], zeek: Option<&ZeekHeader>) -> Option<Outcome> {
    decode(line, zeek).map(|e| Outcome {
        format: e.format.as_str(),
        source: (e.source_ip(line), e.source_port(line)),
        destination: (e.destination_ip(line), e.destination_port(line)),
        action: e.action,
        direction: e.network_direction,
    })
}

/// What an attacker writes: each format's header or keys, naming 10.0.9.5 and 10.0.9.6.
const MARKERS: &[&str] = &[
    "CEF:0|Evil|Inject|1|100|x|10|src=10.0.9.5 dst=10.0.9.6 spt=1 dpt=2 act=allowed deviceDirection=1",
    "Mozilla/5.0 CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed",
    "CEF: 0|a|b|c|d|e|f|src=10.0.9.5",
    "0|a|b|c|d|e|f|src=10.0.9.5 act=allowed",
    "LEEF:2.0|Evil|Inject|1|100|^|src=10.0.9.5^dst=10.0.9.6^action=allow^direction=outbound",
    "LEEF:1.0|Evil|Inject|1|100|src=10.0.9.5\tdst=10.0.9.6\taction=allow",
    r#"{"src_ip":"10.0.9.5","dest_ip":"10.0.9.6","event_type":"alert","alert":{"action":"allowed"}}"#,
    r#"{"source":{"ip":"10.0.9.5"},"event":{"action":"allowed"},"network":{"direction":"outbound"}}"#,
    "action=allow src=10.0.9.5 dst=10.0.9.6 direction=outbound",
    "action=allow",
    "src=10.0.9.5",
    ",src=10.0.9.5,",
    ";src=10.0.9.5;action=accept",
    "SRC=10.0.9.5",
    "IN=eth0 OUT= SRC=10.0.9.5 DST=10.0.9.6 PROTO=TCP SPT=1 DPT=2",
    "[UFW ALLOW] IN= OUT=eth0 SRC=10.0.9.5 DST=10.0.9.6",
    "srcip=10.0.9.5 dstip=10.0.9.6 action=accept devid=FGT1 logid=0000000013 direction=outgoing",
    "%ASA-6-302013: Built outbound TCP connection 1 for outside:10.0.9.6/443 (10.0.9.6/443) to inside:10.0.9.5/1 (10.0.9.5/1)",
    "%ASA-4-106023: Deny tcp src outside:10.0.9.5/1 dst inside:10.0.9.6/2",
    "filterlog: 5,,,100,em0,match,pass,out,4,0x0,,64,1,0,DF,6,tcp,60,10.0.9.5,10.0.9.6,1,2",
    "1,2024/01/01 00:00:00,0011,TRAFFIC,end,1,2024/01/01 00:00:00,10.0.9.5,10.0.9.6,,,r,,,web,v,t,u,e1,e2,f,2024/01/01 00:00:00,1,1,5,80,0,0,0x0,tcp,allow",
    ",TRAFFIC,",
    "input: in:ether1 out:(unknown 0), proto TCP, 10.0.9.5:1->10.0.9.6:2, len 40",
    "10.0.9.5:1->10.0.9.6:2",
    r#"[action:"Accept"; ifdir:"outbound"; src:"10.0.9.5"; dst:"10.0.9.6"]"#,
    r#"CheckPoint 1 - [action:"Accept"; src:"10.0.9.5"]"#,
    r#"RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.39 source-address="10.0.9.5" destination-address="10.0.9.6"]"#,
    r#"[x src="10.0.9.5" action="allow"]"#,
    "sshd[1]: Accepted password for root from 10.0.9.5 port 1 ssh2",
    " from 10.0.9.5 port 1 ssh2",
    r#"<134>1 2024-01-01T00:00:00Z h sshd 1 - [x src="10.0.9.5"] Accepted password for root from 10.0.9.5 port 1 ssh2"#,
    "Jan  1 00:00:00 fw1 CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed",
    "2024-04-11 08:05:57 ALLOW TCP 10.0.9.5 10.0.9.6 1 2 40 - - - - - - - SEND",
    r#"10.0.9.5 - - [10/Oct/2024:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "x""#,
    "\" src=10.0.9.5 \"",
    "\\\" action=allow \\\"",
];

/// Field names whose value legitimately decides the outcome (the address and verdict fields
/// themselves, and the keys the formats read their verdict, direction or dialect from).
/// Everything else that is a string is free text an attacker may choose.
fn decides_outcome(name: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "source.",
        "destination.",
        "event.",
        "network.",
        "observer.",
        "error.",
        "rule.",
    ];
    if PREFIXES.iter().any(|p| name.starts_with(p)) {
        return true;
    }
    let last: String = name
        .rsplit('.')
        .next()
        .unwrap_or(name)
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "action",
        "act",
        "status",
        "utmaction",
        "disposition",
        "fwaction",
        "logsubtype",
        "verdict",
        "wafaction",
        "outcome",
        "direction",
        "devicedirection",
        "ifdir",
        "conndirection",
        "dir",
        "unifidirection",
        "eventtype",
        "eventid",
        "consolelogin",
        "initiated",
        "localorig",
        "localresp",
        "device",
        "logcomponent",
        "type",
        "subtype",
    ]
    .contains(&last.as_str())
}

/// Whether a field's value is text a client or a remote party chose.
fn is_free_text(ev: &Event, f: &iocd::decode::event::Field) -> bool {
    if decides_outcome(&f.name) {
        return false;
    }
    // The device's own event text: a CEF header's name and a SonicWall message (one text per
    // message id) are where those formats state their verdict.
    let format = ev.format.as_str();
    if f.name == "message" && (format == "sonicwall" || format == "cef") {
        return false;
    }
    match f.encoding {
        Encoding::Json | Encoding::Quoted | Encoding::Cef => true,
        // Unquoted: only URLs and the names a client sends (a Zeek column, a squid or ELB URL).
        Encoding::Raw => {
            f.name.starts_with("url.")
                || f.name == "user_agent.original"
                || f.name == "http.request.referrer"
                || (ev.format.as_str() == "zeek_tsv" && f.name == "dns.question.name")
        }
    }
}

/// `marker` escaped the way a device writes text into a field of that encoding.
fn escape(marker: &str, enc: Encoding, zeek: bool) -> String {
    match enc {
        Encoding::Json => {
            let s = serde_json::to_string(marker).unwrap();
            s[1..s.len() - 1].to_owned()
        }
        Encoding::Quoted => {
            let mut o = String::new();
            for c in marker.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    '\t' => o.push_str("\\t"),
                    c => o.push(c),
                }
            }
            o
        }
        Encoding::Cef => {
            let mut o = String::new();
            for c in marker.chars() {
                match c {
                    '\\' => o.push_str("\\\\"),
                    '=' => o.push_str("\\="),
                    '|' => o.push_str("\\|"),
                    '\t' => o.push(' '),
                    c => o.push(c),
                }
            }
            o
        }
        // Zeek escapes its separator; a URL percent-encodes white space and quotes.
        Encoding::Raw if zeek => marker.replace('\t', "\\x09"),
        Encoding::Raw => {
            let mut o = String::new();
            for c in marker.chars() {
                match c {
                    ' ' => o.push_str("%20"),
                    '\t' => o.push_str("%09"),
                    '"' => o.push_str("%22"),
                    c => o.push(c),
                }
            }
            o
        }
    }
}

/// One line of a sample log, with what it decodes to and where an attacker's text can go.
struct Sample {
    file: String,
    line: Vec<u8>,
    zeek: Option<ZeekHeader>,
    outcome: Outcome,
    /// Free-text fields: (value range, encoding).
    sites: Vec<(std::ops::Range<usize>, Encoding)>,
}

/// Positions inside `line[r]` where text may go: its start, its end, and after a word or URL
/// delimiter (never inside an escape sequence). In a URL with a scheme, only after the
/// authority: a client chooses the path and the query, not the scheme or the host it reached.
fn positions(line: &[u8], r: &std::ops::Range<usize>) -> Vec<usize> {
    let v = &line[r.clone()];
    let from = match v.windows(3).position(|w| w == b"://") {
        Some(p) => {
            let host = p + 3;
            r.start
                + host
                + v[host..]
                    .iter()
                    .position(|&c| c == b'/')
                    .unwrap_or(v.len() - host)
        }
        None => r.start,
    };
    let mut out = vec![from, r.end];
    for p in from + 1..r.end {
        if matches!(line[p - 1], b' ' | b'/' | b'?' | b'&' | b'=' | b';' | b',')
            && (p < 2 || line[p - 2] != b'\\')
        {
            out.push(p);
        }
    }
    out
}

/// Every decoded line of every sample log (read once per test binary).
fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let Some(data) = shared_data::dir() else {
            return Vec::new();
        };
        let logs = data.join("logs");
        let mut out = Vec::new();
        for path in shared_data::files_under(&logs) {
            let file = path
                .strip_prefix(&logs)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(&path).unwrap();
            let mut zeek = ZeekHeader::new();
            for raw in data.split(|&b| b == b'\n') {
                if raw.trim_ascii().is_empty() || zeek.update(raw) {
                    continue;
                }
                let h = zeek.is_complete().then(|| zeek.clone());
                let Some(ev) = decode(raw, h.as_ref()) else {
                    continue;
                };
                let outcome = outcome(raw, h.as_ref()).unwrap();
                let sites = ev
                    .fields
                    .iter()
                    .filter(|f| is_free_text(&ev, f))
                    .map(|f| (f.value.clone(), f.encoding))
                    .collect();
                out.push(Sample {
                    file: file.clone(),
                    line: raw.to_vec(),
                    zeek: h,
                    outcome,
                    sites,
                });
            }
        }
        out
    })
}

/// Writes `marker` into site `site` of `s` at its `pos`-th position; the injected line.
fn inject(s: &Sample, site: usize, marker: &str, pos: usize) -> Vec<u8> {
    let (r, enc) = &s.sites[site];
    let ps = positions(&s.line, r);
    let at = ps[pos % ps.len()];
    let text = escape(marker, *enc, s.zeek.is_some());
    let mut line = s.line[..at].to_vec();
    line.extend_from_slice(text.as_bytes());
    line.extend_from_slice(&s.line[at..]);
    line
}

/// `Err` with the whole story when the injected line decodes differently.
fn check(s: &Sample, site: usize, marker: &str, pos: usize) -> Result<(), String> {
    let line = inject(s, site, marker, pos);
    let got = outcome(&line, s.zeek.as_ref());
    if got.as_ref() == Some(&s.outcome) {
        Ok(())
    } else {
        Err(format!(
            "[{} -> {:?}] {}: marker {marker:?} in field {:?} moved the outcome\n  line: {}\n  was:  {:?}\n  now:  {:?}\n  injected: {}",
            s.file,
            got.as_ref().map(|o| o.format),
            s.file,
            s.sites[site].0,
            String::from_utf8_lossy(&s.line),
            s.outcome,
            got,
            String::from_utf8_lossy(&line)
        ))
    }
}

/// How many failures of each (file, new format), to read a failing run at a glance.
fn summarize(failures: &[String]) {
    let mut by: std::collections::BTreeMap<&str, (usize, &str)> = std::collections::BTreeMap::new();
    for f in failures {
        let key = f.split(']').next().unwrap_or(f);
        by.entry(key).or_insert((0, f)).0 += 1;
    }
    for (k, (n, first)) in by {
        println!("  {n:6} {k}]\n{first}");
    }
}

#[test]
fn every_sample_line_keeps_its_outcome_whatever_its_fields_hold() {
    let all = samples();
    if all.is_empty() {
        return;
    }
    let mut injected = 0;
    let mut lines = 0;
    let mut failures = Vec::new();
    for (i, s) in all.iter().enumerate() {
        if s.sites.is_empty() {
            continue;
        }
        lines += 1;
        // One marker per line, rotating through markers, fields and positions.
        let marker = MARKERS[i % MARKERS.len()];
        let site = (i / MARKERS.len()) % s.sites.len();
        if let Err(e) = check(s, site, marker, i / 7) {
            failures.push(e);
        }
        injected += 1;
    }
    println!(
        "{} decoded lines, {lines} with free-text fields, {injected} injections, {} moved",
        all.len(),
        failures.len()
    );
    summarize(&failures);
    assert!(lines > 10_000, "only {lines} lines with free-text fields");
    assert!(
        failures.is_empty(),
        "{} of {injected} injections moved the outcome; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

/// Every marker, into every free-text field of one line of each file.
#[test]
fn every_marker_into_one_line_of_each_file() {
    let all = samples();
    if all.is_empty() {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let mut n = 0;
    for s in all.iter().filter(|s| !s.sites.is_empty()) {
        if !seen.insert(s.file.as_str()) {
            continue;
        }
        for (m, marker) in MARKERS.iter().enumerate() {
            for site in 0..s.sites.len() {
                // Start, end or a delimiter inside, in turn (the property test mixes them).
                n += 1;
                if let Err(e) = check(s, site, marker, m + site) {
                    failures.push(e);
                }
            }
        }
    }
    println!("{} files, {n} injections", seen.len());
    summarize(&failures);
    assert!(
        failures.is_empty(),
        "{} of {n} injections moved the outcome; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random combinations: any sample line, any of its free-text fields, any marker, any
    /// position, and markers pasted together.
    #[test]
    fn injected_markers_never_move_the_outcome(
        line in any::<prop::sample::Index>(),
        site in any::<prop::sample::Index>(),
        markers in prop::collection::vec(0..MARKERS.len(), 1..3),
        pos in 0usize..64,
    ) {
        let all: Vec<&Sample> = samples().iter().filter(|s| !s.sites.is_empty()).collect();
        if all.is_empty() {
            return Ok(());
        }
        let s = line.get(&all);
        let marker: String = markers.iter().map(|&m| MARKERS[m]).collect::<Vec<_>>().join(" ");
        let site = site.index(s.sites.len());
        if let Err(e) = check(s, site, &marker, pos) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// A real web log line (or one written like it when the samples are absent) whose referrer is
/// the indicator and whose user agent is the issue's CEF injection.
fn injected_web_line(data: Option<&Path>) -> (String, String) {
    let real = data.and_then(|d| {
        let text = std::fs::read_to_string(d.join("logs/web/apache_combined_access.log")).ok()?;
        text.lines().next().map(str::to_owned)
    });
    let base = real.unwrap_or_else(|| {
        println!("no sample web log: using a line written like it");
        r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/" "Mozilla/5.0""#.to_owned()
    });
    let client = base.split(' ').next().unwrap().to_owned();
    // combined format: ... "request" status bytes "referrer" "agent"
    let quotes: Vec<usize> = base.match_indices('"').map(|(i, _)| i).collect();
    assert!(quotes.len() >= 6, "not a combined log line: {base}");
    let line = format!(
        "{}\"http://c2.evil.example/gate.php\" \"Mozilla/5.0 CEF:0|a|b|c|d|e|f|src=10.0.9.5 act=allowed\"",
        &base[..quotes[2]]
    );
    (line, client)
}

#[test]
fn daemon_alerts_on_a_cef_injection_with_the_real_source_and_no_allowlist() {
    let data = shared_data::dir();
    let (line, client) = injected_web_line(data.as_deref());
    // The control: the allowlist does work in this configuration, on a line really from
    // 10.0.9.5.
    let control = r#"10.0.9.5 - - [17/May/2015:10:06:00 +0000] "GET / HTTP/1.1" 200 1 "http://c2.evil.example/gate.php" "curl/8.0""#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "c2.evil.example\n").unwrap();
    let log = dir.path().join("web.log");
    std::fs::write(&log, format!("{line}\n{control}\n")).unwrap();
    let admin = free_port();
    let cfg = format!(
        r#"
[engine]
threads = 2
{TEST_FEED}
[[sources.files]]
path = "{}"
from_beginning = true
{sink}
[triage.allow]
networks = ["10.0.9.5"]
"#,
        log.display(),
        sink = file_sink_admin(admin, "20s"),
    );
    let cfg_path = write_config(dir.path(), &cfg);
    let mut child = start_iocd(
        iocd_run(&cfg_path).current_dir(dir.path()),
        admin,
        "/readyz",
    );
    let allowlisted = |m: &str| {
        let lines: Vec<&str> = m
            .lines()
            .filter(|l| l.contains("reason=\"allowlist\""))
            .collect();
        metric_sum(&lines.join("\n"), "iocd_triage_suppressed_hits_total")
    };
    // Both lines matched and triaged: one alert, one allowlisted hit.
    let t = Instant::now();
    let metrics = loop {
        let m = http_get(admin, "/metrics").unwrap_or_default();
        let done = metric_sum(&m, "iocd_triage_hit_lines_total") >= 2.0
            && allowlisted(&m) >= 1.0
            && !read_alerts(&dir.path().join("alerts.jsonl")).is_empty();
        if done {
            break m;
        }
        support::assert_running(&mut child);
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no alert after 30 s; metrics:\n{}",
            m.lines()
                .filter(|l| l.starts_with("iocd_triage"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, log_text) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "iocd log:\n{log_text}");
    let alerts = read_alerts(&dir.path().join("alerts.jsonl"));
    let hits: Vec<_> = alerts
        .iter()
        .filter(|a| a["iocd"]["alert_type"] != "rollup" && a["iocd"]["alert_type"] != "digest")
        .collect();
    assert_eq!(hits.len(), 1, "{alerts:#?}");
    let a = hits[0];
    assert_eq!(a["iocd"]["decoded_as"], "access_log", "{a:#}");
    assert_eq!(a["source"]["ip"], client.as_str(), "{a:#}");
    assert_ne!(a["event"]["action"], "allowed", "{a:#}");
    let fields: Vec<&str> = a["threat"]["enrichments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["matched"]["field"].as_str())
        .collect();
    assert_eq!(fields, ["http.request.referrer"], "{a:#}");
    assert_eq!(
        allowlisted(&metrics),
        1.0,
        "only the control line (really from 10.0.9.5) is allowlisted:\n{metrics}"
    );
}
