//! Alert formats other than ECS: OCSF Detection Finding and ArcSight CEF, chosen per sink
//! with `alert_format`.
//!
//! The ECS JSON that the matcher threads make stays the source of truth; [`render`] converts
//! it. Conversion parses the ECS alert into a `serde_json::Value` and maps fields: alerts are
//! rare next to log lines, so a parse per alert and per format is cheap, and it keeps one
//! alert model. The sender renders each format once per alert, whatever the number of sinks
//! that want it (`SinkSender::send_blocking`).
//!
//! Both mappings read only what is there: a field the alert lacks (no decoded
//! `source.ip`, no `iocd.score` before scoring) is left out, never invented, and an alert that
//! is not even JSON still renders (with the fields every alert has: time, product, severity).
//!
//! # OCSF
//!
//! A Detection Finding (`class_uid` 2004, `category_uid` 2, `activity_id` 1 Create, so
//! `type_uid` 200401) of OCSF schema [`OCSF_VERSION`]: `time` in epoch milliseconds,
//! `severity_id` from `iocd.priority`, `finding_info` (`uid`, `title`, `desc`, `types`,
//! `analytic` from the ECS `rule.*`; `uid` and `metadata.uid` are the alert's `event.id`), one observable per matched indicator (`type_id` by indicator kind: 2 IP address,
//! 12 subnet, 1 host name, 6 URL string, 8 hash, 5 e-mail address, 99 other) and per decoded
//! address, `evidences` with the decoded endpoints, URL, DNS query, file hash and the device
//! that logged, `raw_data` with the original line, `metadata.product` naming iocd, and
//! `unmapped.iocd` with iocd's own block (score, its components, priority, provenance).
//! Objects get the attributes OCSF requires of them even when the log does not say
//! (`device.type_id`, `file.name`, `file.type_id`: 0 Unknown, name `unknown`).
//!
//! Triage's own alerts have no matched line: a roll-up or flood report names its indicator
//! in `iocd.indicator` (its kind parsed from it), which fills the title, the observables
//! and CEF's `cs1`/`cs2` like a match; a roll-up's count and time span become OCSF `count`,
//! `start_time`, `end_time` and CEF `cnt`, `start`, `end`; the title says which kind of
//! alert it is (a flood summary: how many indicators scanned), and the ECS `message` is the
//! OCSF `message` (CEF `msg` when there is no original line).
//!
//! # CEF
//!
//! One line: `CEF:0|iocd|iocd|<version>|<rule.id>|<name>|<severity 0-10>|<extension>` (the
//! signature id is the ECS `rule.id`, `iocd.match.ipv4`, `iocd.rollup`...; `ioc-<kind>` for an
//! alert without one), the
//! header escaped (`\|`, `\\`), extension values escaped (`\=`, `\\`, `\n`, `\r`), standard keys
//! where the alert has the field (`rt src spt dst dpt shost dhost request fileHash act
//! deviceDirection dvchost externalId msg`) and labelled custom ones (`cs1` indicator, `cs2`
//! indicator type, `cs3` feeds, `cs4` matched field, `cs5` priority, `cn1` score). `msg` (the
//! original line) is cut at 1023 characters, the length ArcSight keeps. CEF is a line format:
//! HTTP sinks refuse it at validation.

use serde_json::{Map, Value, json};

use crate::config::AlertFormat;

/// The OCSF schema version the OCSF format follows.
pub const OCSF_VERSION: &str = "1.3.0";

const PRODUCT: &str = "iocd";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `msg` longer than this is cut (ArcSight's limit for the field).
const CEF_MSG_MAX: usize = 1023;

/// `ecs` (one ECS alert, a JSON object) in `format`. ECS is returned as it is.
pub fn render(format: AlertFormat, ecs: &[u8]) -> Vec<u8> {
    match format {
        AlertFormat::Ecs => ecs.to_vec(),
        AlertFormat::Ocsf => serde_json::to_vec(&ocsf(&parse(ecs))).expect("a Value serializes"),
        AlertFormat::Cef => cef(&parse(ecs)).into_bytes(),
    }
}

fn parse(ecs: &[u8]) -> Value {
    serde_json::from_slice(ecs).unwrap_or(Value::Null)
}

/// A string field at a dotted path (`source.ip`), also when the alert holds it under a
/// dotted key (`{"source.ip": ...}`) or as a number.
fn text(v: &Value, path: &str) -> Option<String> {
    let found = get(v, path)?;
    match found {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let (head, rest) = path.split_once('.')?;
    get(v.get(head)?, rest)
}

fn array<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// One matched indicator, from `iocd.matches[i]` and `threat.enrichments[i]`.
struct Matched {
    indicator: String,
    kind: String,
    atomic: Option<String>,
    field: Option<String>,
    providers: Vec<String>,
}

fn matches(v: &Value) -> Vec<Matched> {
    let enrich = array(v, "threat.enrichments");
    let mut out: Vec<Matched> = array(v, "iocd.matches")
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let e = enrich.get(i);
            Some(Matched {
                indicator: text(m, "indicator")?,
                kind: text(m, "kind").unwrap_or_else(|| "unknown".into()),
                atomic: e.and_then(|e| text(e, "matched.atomic")),
                // ECS `matched.field` names only ECS fields; a format's own key is in
                // `iocd.matches[].matched_path`.
                field: e
                    .and_then(|e| text(e, "matched.field"))
                    .or_else(|| text(m, "matched_path")),
                providers: e
                    .map(|e| array(e, "indicator.provider"))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect(),
            })
        })
        .collect();
    if out.is_empty()
        && let Some(indicator) = text(v, "iocd.indicator")
    {
        // A roll-up or a flood report: triage names its indicator, not a match in a line.
        let kind = crate::ioc::parse_indicator(&indicator)
            .map_or_else(|_| "unknown".to_owned(), |p| p.kind().as_str().to_owned());
        out.push(Matched {
            indicator,
            kind,
            atomic: None,
            field: None,
            providers: array(v, "threat.indicator.provider")
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
        });
    }
    if out.is_empty() {
        // No iocd block: what ECS alone says.
        out = enrich
            .iter()
            .filter_map(|e| {
                let atomic = text(e, "matched.atomic")?;
                Some(Matched {
                    indicator: atomic.clone(),
                    kind: text(e, "indicator.type").unwrap_or_else(|| "unknown".into()),
                    atomic: Some(atomic),
                    field: text(e, "matched.field"),
                    providers: Vec::new(),
                })
            })
            .collect();
    }
    out
}

/// iocd's priority, whatever scoring calls its levels, as OCSF's severity scale:
/// 1 informational .. 5 critical, 0 unknown.
fn severity_id(v: &Value) -> u8 {
    let p = text(v, "iocd.priority")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match p.as_str() {
        "critical" | "urgent" | "p1" => 5,
        "high" | "p2" => 4,
        "medium" | "p3" => 3,
        "low" | "p4" => 2,
        "info" | "informational" | "p5" => 1,
        // ECS `event.severity`, which iocd writes on the same 1-5 scale.
        _ => get(v, "event.severity")
            .and_then(Value::as_u64)
            .filter(|n| (1..=5).contains(n))
            .map_or(0, |n| n as u8),
    }
}

fn severity_name(id: u8) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

/// Milliseconds since the epoch of the alert's `@timestamp` (else `event.created`, else now).
fn time_ms(v: &Value) -> i64 {
    ["@timestamp", "event.created"]
        .iter()
        .filter_map(|k| text(v, k))
        .find_map(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map_or_else(
            || chrono::Utc::now().timestamp_millis(),
            |t| t.timestamp_millis(),
        )
}

/// `event.id` when the alert has one, else a digest of the alert: the same alert always
/// gets the same id, two alerts practically never share one.
fn alert_id(v: &Value) -> String {
    if let Some(id) = text(v, "event.id") {
        return id;
    }
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    // Two FNV-1a passes with different offsets: 128 bits, no dependency, not a security
    // property (anyone can make an alert).
    let fnv = |mut h: u64| {
        for b in &bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// The finding's title: what kind of alert it is, and its first indicator.
fn title(v: &Value, m: &[Matched]) -> String {
    let first = m.first().map(|x| format!("{} ({})", x.indicator, x.kind));
    match text(v, "iocd.alert_type").as_deref() {
        Some("rollup") => {
            let n = get(v, "iocd.dedup.count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            match first {
                Some(f) => format!("Threat indicator match roll-up: {f}, {n} more hit(s)"),
                None => format!("Threat indicator match roll-up: {n} more hit(s)"),
            }
        }
        Some("flood") => match first {
            Some(f) => format!("Likely false positive: {f} hit many hosts"),
            None => "Likely false positive: an indicator hit many hosts".to_owned(),
        },
        Some("flood_summary") => format!(
            "Scans stopped at the edge: {} flooding indicator(s)",
            get(v, "iocd.flood_summary.indicators")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ),
        Some("digest") => match text(v, "iocd.sink") {
            Some(sink) => format!("iocd digest for {sink}"),
            None => "iocd digest".to_owned(),
        },
        _ => match_title(m),
    }
}

fn match_title(m: &[Matched]) -> String {
    match m {
        [] => "Threat indicator match".to_owned(),
        [one] => format!("Threat indicator match: {} ({})", one.indicator, one.kind),
        [first, rest @ ..] => format!(
            "Threat indicator match: {} ({}) and {} more",
            first.indicator,
            first.kind,
            rest.len()
        ),
    }
}

/// OCSF observable type of an indicator kind (iocd's kinds, or ECS indicator types).
fn observable_type(kind: &str) -> (u8, &'static str) {
    match kind {
        "ipv4" | "ipv6" | "ipv4-addr" | "ipv6-addr" => (2, "IP Address"),
        "cidr" => (12, "Subnet"),
        "domain" | "domain-name" => (1, "Hostname"),
        "url" => (6, "URL String"),
        "md5" | "sha1" | "sha256" | "file" => (8, "Hash"),
        "email" | "email-addr" => (5, "Email Address"),
        _ => (99, "Other"),
    }
}

/// Puts `value` at `key` when it is `Some`.
fn put(o: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        o.insert(key.to_owned(), v.into());
    }
}

fn port(v: &Value, path: &str) -> Option<u64> {
    text(v, path)?.parse().ok()
}

/// An OCSF endpoint from ECS `source` or `destination`.
fn endpoint(v: &Value, side: &str) -> Option<Value> {
    let mut o = Map::new();
    put(&mut o, "ip", text(v, &format!("{side}.ip")));
    put(&mut o, "port", port(v, &format!("{side}.port")));
    put(
        &mut o,
        "hostname",
        text(v, &format!("{side}.domain")).or_else(|| text(v, &format!("{side}.address"))),
    );
    (!o.is_empty()).then_some(Value::Object(o))
}

/// The ECS alert as an OCSF Detection Finding.
pub fn ocsf(v: &Value) -> Value {
    let m = matches(v);
    let sev = severity_id(v);
    let uid = alert_id(v);
    let title = title(v, &m);

    let mut observables: Vec<Value> = m
        .iter()
        .map(|x| {
            let (type_id, type_name) = observable_type(&x.kind);
            json!({
                "name": x.field.as_deref().unwrap_or("indicator"),
                "type_id": type_id,
                "type": type_name,
                "value": x.indicator,
            })
        })
        .collect();
    for (path, name) in [
        ("source.ip", "evidences[0].src_endpoint.ip"),
        ("destination.ip", "evidences[0].dst_endpoint.ip"),
    ] {
        if let Some(ip) = text(v, path) {
            observables
                .push(json!({"name": name, "type_id": 2, "type": "IP Address", "value": ip}));
        }
    }

    let mut evidence = Map::new();
    put(&mut evidence, "src_endpoint", endpoint(v, "source"));
    put(&mut evidence, "dst_endpoint", endpoint(v, "destination"));
    let url = text(v, "url.full")
        .or_else(|| text(v, "url.original"))
        .or_else(|| {
            m.iter()
                .find(|x| x.kind == "url")
                .and_then(|x| x.atomic.clone())
        });
    put(&mut evidence, "url", url.map(|u| json!({"url_string": u})));
    put(
        &mut evidence,
        "query",
        text(v, "dns.question.name").map(|h| json!({"hostname": h})),
    );
    let hashes: Vec<Value> = [
        ("md5", 1, "MD5"),
        ("sha1", 2, "SHA-1"),
        ("sha256", 3, "SHA-256"),
    ]
    .iter()
    .filter_map(|(k, id, name)| {
        let value = text(v, &format!("file.hash.{k}")).or_else(|| {
            m.iter()
                .find(|x| x.kind == *k)
                .and_then(|x| x.atomic.clone())
        })?;
        Some(json!({"algorithm_id": id, "algorithm": name, "value": value}))
    })
    .collect();
    if !hashes.is_empty() || text(v, "file.name").is_some() {
        // `name` and `type_id` are required of a file; a log that gives only a hash names
        // neither, so both say unknown.
        let mut file = Map::new();
        file.insert(
            "name".into(),
            text(v, "file.name")
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        file.insert("type_id".into(), 0.into());
        file.insert("type".into(), "Unknown".into());
        if !hashes.is_empty() {
            file.insert("hashes".into(), Value::Array(hashes));
        }
        evidence.insert("file".into(), Value::Object(file));
    }
    // `type_id` is required of a device (0: Unknown, a syslog header does not say).
    put(
        &mut evidence,
        "device",
        text(v, "host.hostname").map(|h| json!({"hostname": h, "type_id": 0, "type": "Unknown"})),
    );
    let atomics: Vec<&str> = m.iter().filter_map(|x| x.atomic.as_deref()).collect();
    evidence.insert(
        "data".into(),
        json!({"matched": atomics, "indicators": m.iter().map(|x| &x.indicator).collect::<Vec<_>>()}),
    );

    let mut desc = String::new();
    for x in &m {
        if !desc.is_empty() {
            desc.push_str("; ");
        }
        desc.push_str(&format!("{} {}", x.kind, x.indicator));
        if !x.providers.is_empty() {
            desc.push_str(&format!(" listed by {}", x.providers.join(", ")));
        }
        match (&x.atomic, &x.field) {
            (Some(a), Some(f)) => desc.push_str(&format!(" matched {a:?} in {f}")),
            (Some(a), None) => desc.push_str(&format!(" matched {a:?}")),
            _ => {}
        }
    }

    let mut finding_info = Map::new();
    finding_info.insert("uid".into(), uid.clone().into());
    finding_info.insert("title".into(), title.clone().into());
    if !desc.is_empty() {
        finding_info.insert("desc".into(), desc.into());
    }
    let mut types = vec![Value::from("Threat Intelligence Indicator Match")];
    for x in &m {
        let t = Value::from(x.kind.clone());
        if !types.contains(&t) {
            types.push(t);
        }
    }
    finding_info.insert("types".into(), Value::Array(types));
    // The ECS `rule.*`: the rule a SIEM keys on.
    let mut analytic = Map::new();
    analytic.insert(
        "name".into(),
        text(v, "rule.name")
            .unwrap_or_else(|| "iocd indicator match".into())
            .into(),
    );
    put(&mut analytic, "uid", text(v, "rule.id"));
    put(&mut analytic, "category", text(v, "rule.ruleset"));
    analytic.insert("type_id".into(), 1.into());
    analytic.insert("type".into(), "Rule".into());
    finding_info.insert("analytic".into(), Value::Object(analytic));

    let mut metadata = Map::new();
    metadata.insert(
        "product".into(),
        json!({"name": PRODUCT, "vendor_name": PRODUCT, "version": VERSION}),
    );
    metadata.insert("version".into(), OCSF_VERSION.into());
    // The alert's `event.id`: what a SIEM deduplicates replays by.
    metadata.insert("uid".into(), uid.clone().into());
    put(&mut metadata, "original_time", text(v, "@timestamp"));
    put(&mut metadata, "log_name", text(v, "event.dataset"));

    let mut out = Map::new();
    out.insert("activity_id".into(), 1.into());
    out.insert("activity_name".into(), "Create".into());
    out.insert("category_uid".into(), 2.into());
    out.insert("category_name".into(), "Findings".into());
    out.insert("class_uid".into(), 2004.into());
    out.insert("class_name".into(), "Detection Finding".into());
    out.insert("type_uid".into(), 200_401.into());
    out.insert("type_name".into(), "Detection Finding: Create".into());
    out.insert("time".into(), time_ms(v).into());
    out.insert("severity_id".into(), sev.into());
    out.insert("severity".into(), severity_name(sev).into());
    out.insert("status_id".into(), 1.into());
    out.insert("status".into(), "New".into());
    out.insert("message".into(), text(v, "message").unwrap_or(title).into());
    if let Some(n) = get(v, "iocd.dedup.count").and_then(Value::as_u64) {
        out.insert("count".into(), n.into());
    }
    for (ecs, ocsf) in [("event.start", "start_time"), ("event.end", "end_time")] {
        if let Some(t) = text(v, ecs).and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok()) {
            out.insert(ocsf.into(), t.timestamp_millis().into());
        }
    }
    out.insert("finding_info".into(), Value::Object(finding_info));
    out.insert("metadata".into(), Value::Object(metadata));
    if !observables.is_empty() {
        out.insert("observables".into(), Value::Array(observables));
    }
    out.insert(
        "evidences".into(),
        Value::Array(vec![Value::Object(evidence)]),
    );
    put(&mut out, "raw_data", text(v, "event.original"));
    if let Some((id, name)) = text(v, "event.action").and_then(|a| action(&a)) {
        out.insert("action_id".into(), id.into());
        out.insert("action".into(), name.into());
    }
    if let Some(iocd) = v.get("iocd") {
        out.insert("unmapped".into(), json!({ "iocd": iocd }));
    }
    Value::Object(out)
}

/// OCSF `action_id` of what the log says happened.
fn action(a: &str) -> Option<(u8, &'static str)> {
    match a.to_ascii_lowercase().as_str() {
        "allow" | "allowed" | "accept" | "accepted" | "pass" | "permit" | "permitted" => {
            Some((1, "Allowed"))
        }
        "deny" | "denied" | "block" | "blocked" | "drop" | "dropped" | "reject" | "rejected" => {
            Some((2, "Denied"))
        }
        _ => None,
    }
}

/// CEF severity (0-10) of iocd's priority; 5, the middle, when the alert has none.
fn cef_severity(v: &Value) -> u8 {
    match severity_id(v) {
        5 => 10,
        4 => 8,
        3 => 5,
        2 => 3,
        1 => 1,
        _ => 5,
    }
}

/// Escapes a CEF header field: `\` and `|`; line breaks become spaces (one line).
pub fn cef_escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a CEF extension value: `\`, `=` and line breaks.
pub fn cef_escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn cef_unescape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits a CEF extension (`k1=v1 k2=v2`, values escaped as [`cef_escape_value`] does) into
/// its keys and unescaped values, in order. A key is letters, digits and `_`; a value runs to
/// the space before the next key.
pub fn parse_cef_extension(ext: &str) -> Vec<(String, String)> {
    // Positions of unescaped `=`.
    let b = ext.as_bytes();
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                eqs.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    // Each `=` is preceded by its key, which starts after a space (or at the start).
    let key_start = |eq: usize| {
        let mut s = eq;
        while s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') {
            s -= 1;
        }
        s
    };
    let mut out = Vec::with_capacity(eqs.len());
    for (n, &eq) in eqs.iter().enumerate() {
        let k = key_start(eq);
        let end = match eqs.get(n + 1) {
            // The space before the next key.
            Some(&next) => key_start(next).saturating_sub(1).max(eq + 1),
            None => b.len(),
        };
        out.push((ext[k..eq].to_owned(), cef_unescape_value(&ext[eq + 1..end])));
    }
    out
}

/// The ECS alert as one CEF line (no line feed).
pub fn cef(v: &Value) -> String {
    let m = matches(v);
    let kind = m.first().map_or("unknown", |x| x.kind.as_str());
    let mut ext: Vec<(&str, String)> = Vec::new();
    let mut add = |k: &'static str, val: Option<String>| {
        if let Some(val) = val.filter(|s| !s.is_empty()) {
            ext.push((k, val));
        }
    };
    add("rt", Some(time_ms(v).to_string()));
    add("externalId", Some(alert_id(v)));
    add("cat", Some("threat-indicator-match".to_owned()));
    add("src", text(v, "source.ip"));
    add("spt", text(v, "source.port"));
    add("shost", text(v, "source.domain"));
    add("dst", text(v, "destination.ip"));
    add("dpt", text(v, "destination.port"));
    add(
        "dhost",
        text(v, "destination.domain")
            .or_else(|| text(v, "url.domain"))
            .or_else(|| text(v, "dns.question.name")),
    );
    add(
        "request",
        text(v, "url.full")
            .or_else(|| text(v, "url.original"))
            .or_else(|| {
                m.iter()
                    .find(|x| x.kind == "url")
                    .and_then(|x| x.atomic.clone())
            }),
    );
    add(
        "fileHash",
        ["sha256", "sha1", "md5"]
            .iter()
            .find_map(|k| text(v, &format!("file.hash.{k}")))
            .or_else(|| {
                m.iter()
                    .find(|x| matches!(x.kind.as_str(), "md5" | "sha1" | "sha256"))
                    .and_then(|x| x.atomic.clone())
            }),
    );
    add("act", text(v, "event.action"));
    add(
        "deviceDirection",
        text(v, "network.direction").and_then(|d| match d.as_str() {
            "inbound" | "ingress" => Some("0".to_owned()),
            "outbound" | "egress" => Some("1".to_owned()),
            _ => None,
        }),
    );
    add("dvchost", text(v, "host.hostname"));
    let join = |f: &dyn Fn(&Matched) -> Option<String>| {
        let mut parts: Vec<String> = Vec::new();
        for x in &m {
            if let Some(p) = f(x)
                && !parts.contains(&p)
            {
                parts.push(p);
            }
        }
        (!parts.is_empty()).then(|| parts.join(","))
    };
    let indicators = join(&|x| Some(x.indicator.clone()));
    let kinds = join(&|x| Some(x.kind.clone()));
    let feeds = join(&|x| (!x.providers.is_empty()).then(|| x.providers.join(",")));
    let fields = join(&|x| x.field.clone());
    for (k, label_key, label, value) in [
        ("cs1", "cs1Label", "indicator", indicators),
        ("cs2", "cs2Label", "indicatorType", kinds),
        ("cs3", "cs3Label", "feeds", feeds),
        ("cs4", "cs4Label", "matchedField", fields),
        ("cs5", "cs5Label", "priority", text(v, "iocd.priority")),
    ] {
        if value.is_some() {
            add(k, value);
            add(label_key, Some(label.to_owned()));
        }
    }
    if let Some(score) = get(v, "iocd.score").and_then(Value::as_f64) {
        add("cn1", Some((score.round() as i64).to_string()));
        add("cn1Label", Some("score".to_owned()));
    }
    add(
        "cnt",
        get(v, "iocd.dedup.count")
            .and_then(Value::as_u64)
            .map(|n| n.to_string()),
    );
    for (ecs, key) in [("event.start", "start"), ("event.end", "end")] {
        add(
            key,
            text(v, ecs)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_millis().to_string()),
        );
    }
    add(
        "msg",
        text(v, "event.original")
            .or_else(|| text(v, "message"))
            .map(|s| s.chars().take(CEF_MSG_MAX).collect()),
    );

    let mut line = format!(
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        cef_escape_header(PRODUCT),
        cef_escape_header(PRODUCT),
        cef_escape_header(VERSION),
        cef_escape_header(&text(v, "rule.id").unwrap_or_else(|| format!("ioc-{kind}"))),
        cef_escape_header(&title(v, &m)),
        cef_severity(v),
    );
    for (i, (k, val)) in ext.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(k);
        line.push('=');
        line.push_str(&cef_escape_value(val));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        let vals = [
            "a=b",
            "c\\d",
            "line\nbreak\r",
            "x y=z \\=",
            "",
            " lead",
            "trail ",
        ];
        let ext: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| format!("k{i}={}", cef_escape_value(v)))
            .collect();
        let parsed = parse_cef_extension(&ext.join(" "));
        let got: Vec<&str> = parsed.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(got, vals);
        assert_eq!(cef_escape_header("a|b\\c\nd"), "a\\|b\\\\c d");
    }

    #[test]
    fn garbage_renders_without_panicking() {
        for input in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"iocd\":7}",
            b"{\"threat\":{\"enrichments\":3}}",
        ] {
            let o: Value = serde_json::from_slice(&render(AlertFormat::Ocsf, input)).unwrap();
            assert_eq!(o["class_uid"], 2004);
            let c = String::from_utf8(render(AlertFormat::Cef, input)).unwrap();
            assert!(c.starts_with("CEF:0|iocd|iocd|"), "{c}");
        }
    }
}
