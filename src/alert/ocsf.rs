//! OCSF: an alert as an OCSF Detection Finding, rendered from the typed alert ([`Finding`]).
//!
//! The mapping reads only what is there: a field the alert lacks (no decoded `source.ip`, no
//! `iocd.score` before scoring) is left out, never invented.
//!
//! A Detection Finding (`class_uid` 2004, `category_uid` 2, `activity_id` 1 Create, so
//! `type_uid` 200401) of OCSF schema [`OCSF_VERSION`]: `time` in epoch milliseconds,
//! `severity_id` from `iocd.priority`, `finding_info` (`uid`, `title`, `desc`, `types`,
//! `analytic` from the ECS `rule.*`; `uid` and `metadata.uid` are the alert's `event.id`),
//! one observable per matched indicator (`type_id` by indicator kind: 2 IP address,
//! 12 subnet, 1 host name, 6 URL string, 8 hash, 5 e-mail address, 99 other) and per decoded
//! address, `evidences` with the decoded endpoints, URL, DNS query, file hash and the device
//! that logged, `raw_data` with the original line, `metadata.product` naming iocd, and
//! `unmapped.iocd` with iocd's own block (score, its components, priority, provenance). The
//! feeds' threat context: `malware` (classification unknown: feeds do not give one),
//! `attacks` (one per ATT&CK technique, one per tactic), threat actors and tools in
//! `unmapped.threat`, which OCSF has no place for.
//! Objects get the attributes OCSF requires of them even when the log does not say
//! (`device.type_id`, `file.name`, `file.type_id`: 0 Unknown, name `unknown`).
//!
//! Triage's own alerts have no matched line: a roll-up or flood report names its indicator
//! in `iocd.indicator` (its kind carried with it), which fills the title, the observables
//! and CEF's `cs1`/`cs2` like a match; a roll-up's count and time span become OCSF `count`,
//! `start_time`, `end_time` and CEF `cnt`, `start`, `end`; the title says which kind of
//! alert it is (a flood summary: how many indicators scanned), and the ECS `message` is the
//! OCSF `message` (CEF `msg` when there is no original line).

use serde_json::{Map, Value, json};

use super::finding::Finding;

/// The OCSF schema version the OCSF format follows.
pub const OCSF_VERSION: &str = "1.3.0";

pub(crate) const PRODUCT: &str = "iocd";
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

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

/// OCSF observable type of an indicator kind.
fn observable_type(kind: &str) -> (u8, &'static str) {
    match kind {
        "ipv4" | "ipv6" => (2, "IP Address"),
        "cidr" => (12, "Subnet"),
        "domain" => (1, "Hostname"),
        "url" => (6, "URL String"),
        "md5" | "sha1" | "sha256" => (8, "Hash"),
        "email" => (5, "Email Address"),
        _ => (99, "Other"),
    }
}

/// Puts `value` at `key` when it is `Some`.
fn put(o: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        o.insert(key.to_owned(), v.into());
    }
}

/// An OCSF endpoint from one end of the flow.
fn endpoint(s: &super::finding::Side) -> Option<Value> {
    let mut o = Map::new();
    put(&mut o, "ip", s.ip.map(|i| i.to_string()));
    put(&mut o, "port", s.port.map(u64::from));
    put(&mut o, "hostname", s.domain.clone());
    (!o.is_empty()).then_some(Value::Object(o))
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

/// The alert as an OCSF Detection Finding.
pub fn ocsf(f: &Finding) -> Value {
    let m = &f.matches;
    let sev = f.severity_id();
    let uid = f.id.clone();
    let title = f.title();

    let mut observables: Vec<Value> = m
        .iter()
        .map(|x| {
            let (type_id, type_name) = observable_type(x.kind_str());
            json!({
                "name": x.field.as_deref().unwrap_or("indicator"),
                "type_id": type_id,
                "type": type_name,
                "value": x.indicator,
            })
        })
        .collect();
    for (ip, name) in [
        (f.source.ip, "evidences[0].src_endpoint.ip"),
        (f.destination.ip, "evidences[0].dst_endpoint.ip"),
    ] {
        if let Some(ip) = ip {
            observables.push(
                json!({"name": name, "type_id": 2, "type": "IP Address", "value": ip.to_string()}),
            );
        }
    }

    let mut evidence = Map::new();
    put(&mut evidence, "src_endpoint", endpoint(&f.source));
    put(&mut evidence, "dst_endpoint", endpoint(&f.destination));
    let url = f.url_original.clone().or_else(|| {
        m.iter()
            .find(|x| x.kind_str() == "url")
            .and_then(|x| x.atomic.clone())
    });
    put(&mut evidence, "url", url.map(|u| json!({"url_string": u})));
    put(
        &mut evidence,
        "query",
        f.dns_question.as_ref().map(|h| json!({"hostname": h})),
    );
    let hashes: Vec<Value> = [
        ("md5", 1, "MD5"),
        ("sha1", 2, "SHA-1"),
        ("sha256", 3, "SHA-256"),
    ]
    .iter()
    .filter_map(|(k, id, name)| {
        let value = m
            .iter()
            .find(|x| x.kind_str() == *k)
            .and_then(|x| x.atomic.clone())?;
        Some(json!({"algorithm_id": id, "algorithm": name, "value": value}))
    })
    .collect();
    if !hashes.is_empty() {
        // `name` and `type_id` are required of a file; a log that gives only a hash names
        // neither, so both say unknown.
        let mut file = Map::new();
        file.insert("name".into(), "unknown".into());
        file.insert("type_id".into(), 0.into());
        file.insert("type".into(), "Unknown".into());
        file.insert("hashes".into(), Value::Array(hashes));
        evidence.insert("file".into(), Value::Object(file));
    }
    // `type_id` is required of a device (0: Unknown, a syslog header does not say).
    put(
        &mut evidence,
        "device",
        f.hostname
            .as_ref()
            .map(|h| json!({"hostname": h, "type_id": 0, "type": "Unknown"})),
    );
    let atomics: Vec<&str> = m.iter().filter_map(|x| x.atomic.as_deref()).collect();
    evidence.insert(
        "data".into(),
        json!({"matched": atomics, "indicators": m.iter().map(|x| &x.indicator).collect::<Vec<_>>()}),
    );

    let mut desc = String::new();
    for x in m {
        if !desc.is_empty() {
            desc.push_str("; ");
        }
        desc.push_str(&format!("{} {}", x.kind_str(), x.indicator));
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
    for x in m {
        let t = Value::from(x.kind_str());
        if !types.contains(&t) {
            types.push(t);
        }
    }
    finding_info.insert("types".into(), Value::Array(types));
    // The ECS `rule.*`: the rule a SIEM keys on.
    let mut analytic = Map::new();
    analytic.insert("name".into(), f.rule_name.clone().into());
    analytic.insert("uid".into(), f.rule_id.clone().into());
    analytic.insert("category".into(), f.ruleset.into());
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
    metadata.insert("uid".into(), uid.into());
    metadata.insert("original_time".into(), f.timestamp.clone().into());
    metadata.insert("log_name".into(), f.dataset.into());

    let mut out = Map::new();
    out.insert("activity_id".into(), 1.into());
    out.insert("activity_name".into(), "Create".into());
    out.insert("category_uid".into(), 2.into());
    out.insert("category_name".into(), "Findings".into());
    out.insert("class_uid".into(), 2004.into());
    out.insert("class_name".into(), "Detection Finding".into());
    out.insert("type_uid".into(), 200_401.into());
    out.insert("type_name".into(), "Detection Finding: Create".into());
    out.insert("time".into(), f.time_ms().into());
    out.insert("severity_id".into(), sev.into());
    out.insert("severity".into(), severity_name(sev).into());
    out.insert("status_id".into(), 1.into());
    out.insert("status".into(), "New".into());
    out.insert("message".into(), f.message.clone().unwrap_or(title).into());
    if let Some(n) = f.count {
        out.insert("count".into(), n.into());
    }
    for (t, ocsf) in [(&f.start, "start_time"), (&f.end, "end_time")] {
        if let Some(ms) = super::finding::epoch_ms(t.as_deref()) {
            out.insert(ocsf.into(), ms.into());
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
    put(&mut out, "raw_data", f.original.clone());
    if let Some((id, name)) = f.action.and_then(action) {
        out.insert("action_id".into(), id.into());
        out.insert("action".into(), name.into());
    }
    let t = &f.threat;
    if !t.malware.is_empty() {
        // OCSF requires a classification of each malware: the feeds do not give one (0).
        let malware: Vec<Value> = t
            .malware
            .iter()
            .map(
                |n| json!({ "name": n, "classification_ids": [0], "classifications": ["Unknown"] }),
            )
            .collect();
        out.insert("malware".into(), Value::Array(malware));
    }
    // One attack per technique and one per tactic: the feeds do not say which tactic a
    // technique served.
    let mut attacks: Vec<Value> = Vec::new();
    for (id, name) in &t.techniques {
        let mut technique = Map::new();
        put(&mut technique, "uid", id.clone());
        put(&mut technique, "name", name.clone());
        attacks.push(json!({ "technique": technique }));
    }
    for name in &t.tactics {
        attacks.push(json!({ "tactic": { "name": name } }));
    }
    if !attacks.is_empty() {
        out.insert("attacks".into(), Value::Array(attacks));
    }
    let mut unmapped = Map::new();
    if !f.iocd.is_null() {
        unmapped.insert("iocd".into(), f.iocd.clone());
    }
    // OCSF 1.3 has no place for threat actors or tools on a finding.
    if !t.groups.is_empty() || !t.tools.is_empty() {
        unmapped.insert(
            "threat".into(),
            json!({ "groups": t.groups, "tools": t.tools }),
        );
    }
    if !unmapped.is_empty() {
        out.insert("unmapped".into(), Value::Object(unmapped));
    }
    Value::Object(out)
}
