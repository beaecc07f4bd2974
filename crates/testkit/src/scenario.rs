//! What the scenario tests share (`tests/alert_quality.rs`, `tests/flood_scenario.rs`,
//! `tests/golden_alerts.rs`): the SOC and archive sinks and the triage they configure, the
//! flood scenario's feeds, and the alert-quality scenario's feeds, CDN lists, allowlist and
//! assets, with readers for the list and warning-list files of `../shared/data`.

use std::fmt::Write as _;
use std::path::Path;

use ipnet::IpNet;

/// The alert-quality scenario's feeds as a SOC would configure them: (name, path under
/// `feeds/`, confidence, severity). Broad lists (hosting ranges, research scanners,
/// aggregated blocklists) get low trust.
pub const QUALITY_FEEDS: &[(&str, &str, u8, u8)] = &[
    ("ipsum", "ipsum/ipsum.txt", 30, 30),
    (
        "threatfox",
        "abusech/threatfox_ioc_ips_elliotwutingfeng.txt",
        80,
        80,
    ),
    ("feodo", "abusech/feodotracker_ipblocklist.csv", 90, 90),
    ("maltrail-cobaltstrike", "maltrail/cobaltstrike.txt", 70, 80),
    ("maltrail-emotet", "maltrail/emotet.txt", 70, 80),
    ("maltrail-qakbot", "maltrail/qakbot.txt", 70, 80),
    ("maltrail-asyncrat", "maltrail/asyncrat.txt", 70, 80),
    ("maltrail-mass-scanner", "maltrail/mass_scanner.txt", 20, 10),
    ("maltrail-worst-asns", "maltrail/worst_asns.txt", 10, 20),
    (
        "urlhaus-domains",
        "urlhaus_filter/urlhaus-filter-domains.txt",
        70,
        70,
    ),
    ("spamhaus-drop", "spamhaus/drop.txt", 60, 50),
    ("spamhaus-edrop", "spamhaus/edrop.txt", 60, 50),
    ("signature-base-c2", "signature-base/c2-iocs.txt", 70, 80),
];

/// The `[[feeds]]` tables of [`QUALITY_FEEDS`], their paths under `feeds` (the shared data's
/// `feeds/` folder).
pub fn quality_feeds(feeds: &Path) -> String {
    let mut text = String::new();
    for (name, path, conf, sev) in QUALITY_FEEDS {
        let _ = writeln!(
            text,
            "[[feeds]]\nname = \"{name}\"\npath = {:?}\nconfidence = {conf}\nseverity = {sev}\n",
            feeds.join(path).display().to_string()
        );
    }
    text
}

/// The MISP warning lists (under `allowlists/misp-warninglists`) of CDN ranges: many hosts
/// reaching an address in them is shared infrastructure, not an outbreak.
pub const CDN_WARNINGLISTS: [&str; 3] = ["cloudflare.json", "akamai.json", "fastly.json"];

/// The alert-quality scenario's own vulnerability scanner (allowlisted) and its asset groups:
/// finance servers and workstations.
pub const QUALITY_ALLOW_AND_ASSETS: &str = r#"
[triage.allow]
# our vulnerability scanner
networks = ["10.20.99.5"]

[[triage.assets]]
name = "finance-servers"
networks = ["10.20.30.0/24"]
criticality = 80
[[triage.assets]]
name = "workstations"
networks = ["10.20.40.0/24", "10.30.0.0/16"]
criticality = 40
"#;

/// The flood scenario's two feeds: the C2 list, trusted (confidence and severity 90), and the
/// scanner list (40 and 30); `c2` and `scanners` are their paths.
pub fn flood_feeds(c2: &str, scanners: &str) -> String {
    format!(
        "[[feeds]]\nname = \"c2\"\npath = {c2:?}\nconfidence = 90\nseverity = 90\n\
         [[feeds]]\nname = \"scanners\"\npath = {scanners:?}\nconfidence = 40\nseverity = 30\n"
    )
}

/// The sinks and triage of the scenarios: the sink `soc` takes high and critical alerts at
/// once and the rest in a digest, the sink `archive` every alert triage makes; repeats are
/// rolled up within the dedup window, and a flood is as many internal hosts within 10 min.
pub struct Routing {
    /// File sinks `soc.jsonl` and `archive.jsonl` (beside the config); stdout sinks if false.
    pub files: bool,
    /// `triage.routing.digest_interval`, e.g. `"1h"`.
    pub digest_interval: &'static str,
    /// `triage.dedup.window`.
    pub dedup_window: &'static str,
    /// `triage.flood.hosts`.
    pub flood_hosts: u32,
    /// `triage.flood.shared_infrastructure`: paths of lists.
    pub shared_infrastructure: Vec<String>,
    /// `triage.time`, when not the default (`"event"`).
    pub time: Option<&'static str>,
}

impl Routing {
    /// The alert-quality scenario's: digests and the dedup window of an hour, a flood at 20
    /// hosts, the [`CDN_WARNINGLISTS`] in `warninglists` (the shared data's
    /// `allowlists/misp-warninglists`) as shared infrastructure. On the arrival clock: the
    /// scenario reads 71 real log files of different years at once, the shape the one event
    /// clock of all sources is not for (docs/ALERT_QUALITY.md, "Event time in the daemon").
    pub fn alert_quality(files: bool, warninglists: &Path) -> Routing {
        Routing {
            time: Some("arrival"),
            files,
            digest_interval: "1h",
            dedup_window: "1h",
            flood_hosts: 20,
            shared_infrastructure: CDN_WARNINGLISTS
                .iter()
                .map(|f| warninglists.join(f).display().to_string())
                .collect(),
        }
    }

    /// The config text: the `[[sinks]]`, `[triage.routing]`, `[triage.dedup]` and
    /// `[triage.flood]` tables.
    pub fn toml(&self) -> String {
        let sink = |name: &str| {
            if self.files {
                format!("[[sinks]]\nname = \"{name}\"\ntype = \"file\"\npath = \"{name}.jsonl\"\n")
            } else {
                format!("[[sinks]]\nname = \"{name}\"\ntype = \"stdout\"\n")
            }
        };
        let shared: Vec<String> = self
            .shared_infrastructure
            .iter()
            .map(|p| format!("{p:?}"))
            .collect();
        let time = self
            .time
            .map(|t| format!("[triage]\ntime = \"{t}\"\n"))
            .unwrap_or_default();
        format!(
            "# The SOC queue: high and critical at once, the rest in a digest.\n{}\
             # The archive: every alert triage makes, at once.\n{}\n{time}\
             [triage.routing]\nmin_priority = \"info\"\ndigest_interval = \"{}\"\n\
             [triage.routing.sinks.soc]\nmin_priority = \"high\"\n\n\
             [triage.dedup]\nwindow = \"{}\"\n\n\
             [triage.flood]\nhosts = {}\nwindow = \"10m\"\nshared_infrastructure = [{}]\n",
            sink("soc"),
            sink("archive"),
            self.digest_interval,
            self.dedup_window,
            self.flood_hosts,
            shared.join(", ")
        )
    }
}

/// The values of a list file: the first field (up to `#`, a space, a tab or a comma) of
/// every line, trimmed, except empty ones and `!` lines.
pub fn list_values(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(['#', ' ', '\t', ',']).next().unwrap_or("").trim())
        .filter(|v| !v.is_empty() && !v.starts_with('!'))
        .map(str::to_owned)
        .collect()
}

/// The networks a MISP warning list (JSON, its `list`) holds.
pub fn warninglist_networks(path: &Path) -> Vec<IpNet> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str()?.parse().ok())
        .collect()
}
