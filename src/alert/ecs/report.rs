//! Triage's own alerts in ECS: roll-ups, flood reports, flood summaries and digests, from
//! the typed values triage returns ([`Report`]), with the [`Finding`] the other formats
//! render from.
//!
//! These documents are JSON objects with their keys in alphabetical order (what iocd has
//! always written for them, and what their `event.id` digests), so they are built as
//! `serde_json::Value`s, whose maps keep keys sorted.

use serde_json::{Value, json};

use crate::model::{Priority, RULESET};
use crate::time::{Digits, rfc3339_ms};
use crate::triage::report::{DigestReport, FloodReport, Report, RollupReport, SummaryReport};
use crate::triage::{FloodVerdict, Outgoing};

use super::super::finding::{Finding, Matched, ThreatNames};

fn ms(t: i64) -> String {
    rfc3339_ms(t, Digits::Millis)
}

/// `o` in ECS (a JSON object, no line feed), and as a [`Finding`].
pub(crate) fn report(o: &Outgoing) -> (Vec<u8>, Finding) {
    let stamp = ms(o.at_ms);
    let (mut v, mut f) = match &o.report {
        Report::Rollup(r) => rollup(r),
        Report::Flood(r) => flood(r),
        Report::FloodSummary(r) => summary(r, &stamp),
        Report::Digest(r) => digest(r, &stamp),
    };
    // `event.id`: a digest of everything but `@timestamp`, the time it was made.
    let kind = o.report.alert_type().as_str();
    let content = serde_json::to_vec(&v).expect("serializing to memory cannot fail");
    let id = crate::model::content_id(kind, &content);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("@timestamp".into(), stamp.clone().into());
        if let Some(e) = obj.get_mut("event").and_then(|e| e.as_object_mut()) {
            e.insert("id".into(), id.clone().into());
        }
    }
    f.id = id;
    f.timestamp = stamp;
    f.alert_type = Some(kind);
    f.ruleset = RULESET;
    f.iocd = v["iocd"].clone();
    let json = serde_json::to_vec(&v).expect("serializing to memory cannot fail");
    (json, f)
}

fn rollup(r: &RollupReport) -> (Value, Finding) {
    let w = &r.window;
    let host = w.host.as_deref();
    let (first, last) = (ms(w.first_seen), ms(w.last_seen));
    let message = format!(
        "{} more hit(s) of {} on {} ({}) after its alert, {} to {}",
        w.suppressed,
        w.indicator,
        host.unwrap_or("an unknown host"),
        w.direction,
        first,
        last
    );
    let (rule_id, rule_name) = (
        "iocd.rollup",
        "Threat intelligence match roll-up: more hits after an alert",
    );
    let v = json!({
        "event": {
            "kind": "alert",
            "category": ["threat"],
            "type": ["indicator"],
            "dataset": "iocd.rollup",
            "start": first,
            "end": last,
            "severity": w.priority.severity(),
            "risk_score": w.score,
        },
        "rule": {"id": rule_id, "name": rule_name, "ruleset": RULESET},
        "message": message,
        "network": {"direction": w.direction},
        "iocd": {
            "alert_type": "rollup",
            "priority": w.priority.as_str(),
            "score": w.score,
            "indicator": &*w.indicator,
            // The name hit alerts use, so that a roll-up joins the alert it follows.
            "internal_host": host,
            "dedup": {
                "count": w.suppressed,
                "first_seen": first,
                "last_seen": last,
                "window_seconds": r.window_secs,
            },
        },
    });
    // The indicator's threat context, as its hit alert had it.
    let threat = w
        .context
        .as_deref()
        .map(ThreatNames::of)
        .unwrap_or_default();
    let mut v = v;
    let mut t = serde_json::Map::new();
    threat.to_ecs(&mut t);
    if !t.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        o.insert("threat".into(), Value::Object(t));
    }
    let f = Finding {
        threat,
        dataset: "iocd.rollup",
        rule_id: rule_id.into(),
        rule_name: rule_name.into(),
        priority: Some(w.priority),
        score: Some(w.score),
        count: Some(w.suppressed),
        start: Some(first),
        end: Some(last),
        message: Some(message),
        direction: Some(w.direction).filter(|d| !d.is_empty()),
        matches: vec![Matched {
            indicator: w.indicator.to_string(),
            kind: Some(w.kind),
            atomic: None,
            field: None,
            providers: Vec::new(),
        }],
        ..Finding::default()
    };
    (v, f)
}

fn flood(r: &FloodReport) -> (Value, Finding) {
    let (hosts, indicator) = (r.hosts, &r.indicator);
    let within = humantime::format_duration(r.window);
    let until = ms(r.until_ms);
    let to = |p: Option<Priority>| p.map_or("", Priority::as_str);
    let message = match &r.verdict {
        FloodVerdict::PossibleOutbreak => format!(
            "possible outbreak: {hosts} distinct internal hosts reached {indicator} within {within}, \
             outbound and allowed, and no shared-infrastructure list names it; its alerts are raised to {} until {until}",
            to(r.raised_to)
        ),
        FloodVerdict::SharedInfrastructure(list) => format!(
            "likely false positive: {indicator} hit {hosts} distinct internal hosts within {within} \
             and is shared infrastructure (in {list}); its alerts are demoted to {} until {until}",
            to(r.demoted_to)
        ),
        _ => format!(
            "likely false positive: {indicator} hit {hosts} distinct internal hosts within {within}; \
             its alerts are demoted to {} until {until}",
            to(r.demoted_to)
        ),
    };
    let mut flood = json!({
        "hosts": hosts,
        "window_seconds": r.window.as_secs(),
        "verdict": r.verdict.as_str(),
        "until": until,
    });
    if let Some(p) = r.raised_to {
        flood["raised_to"] = json!(p.as_str());
    }
    if let Some(p) = r.demoted_to {
        flood["demoted_to"] = json!(p.as_str());
    }
    if let FloodVerdict::SharedInfrastructure(list) = &r.verdict {
        flood["shared_infrastructure"] = json!(list);
    }
    let (rule_id, rule_name) = (
        "iocd.flood",
        "Indicator flood: one indicator, many internal hosts",
    );
    let p = r.priority;
    let v = json!({
        "event": {
            "kind": "alert",
            "category": ["threat"],
            "type": ["indicator"],
            "dataset": "iocd.flood",
            "severity": p.severity(),
        },
        "rule": {"id": rule_id, "name": rule_name, "ruleset": RULESET},
        "message": message,
        "threat": {"feed": {"name": &r.providers}, "indicator": {"provider": &r.providers}},
        "iocd": {
            "alert_type": "flood",
            "priority": p.as_str(),
            "indicator": indicator,
            "flood": flood,
        },
    });
    let threat = r
        .context
        .as_deref()
        .map(ThreatNames::of)
        .unwrap_or_default();
    let mut v = v;
    if let Some(t) = v.get_mut("threat").and_then(Value::as_object_mut) {
        threat.to_ecs(t);
    }
    let f = Finding {
        threat,
        dataset: "iocd.flood",
        rule_id: rule_id.into(),
        rule_name: rule_name.into(),
        priority: Some(p),
        message: Some(message),
        matches: vec![Matched {
            indicator: indicator.clone(),
            kind: Some(r.kind),
            atomic: None,
            field: None,
            providers: r.providers.clone(),
        }],
        ..Finding::default()
    };
    (v, f)
}

/// The summary, cut at `now` (RFC 3339).
fn summary(r: &SummaryReport, now: &str) -> (Value, Finding) {
    let (since, p) = (ms(r.since), r.priority);
    let shown: Vec<Value> = r
        .top
        .iter()
        .take(r.shown)
        .map(|(i, hits, hosts)| json!({"indicator": i, "hosts": hosts, "hits": hits}))
        .collect();
    let names: Vec<String> = r
        .top
        .iter()
        .take(3)
        .map(|(i, hits, hosts)| format!("{i} ({hits} hits on {hosts} hosts)"))
        .collect();
    let message = format!(
        "{} listed indicator(s) scanned many internal hosts and were blocked at the edge since {since}: {} hit(s) since each was declared a flood; top: {}",
        r.indicators,
        r.hits,
        names.join(", ")
    );
    let (rule_id, rule_name) = (
        "iocd.flood_summary",
        "Scans stopped at the edge: listed addresses flooding inbound, blocked",
    );
    let v = json!({
        "event": {
            "kind": "alert",
            "category": ["threat"],
            "type": ["indicator"],
            "dataset": "iocd.flood_summary",
            "start": since,
            "end": now,
            "severity": p.severity(),
        },
        "rule": {"id": rule_id, "name": rule_name, "ruleset": RULESET},
        "message": message,
        "iocd": {
            "alert_type": "flood_summary",
            "priority": p.as_str(),
            "flood_summary": {
                "indicators": r.indicators,
                "hits": r.hits,
                "top_indicators": shown,
                "more_indicators": r.more_indicators,
                "more_hits": r.more_hits,
                // Past the bound, the indicator count is a sketch's estimate.
                "indicators_estimated": r.more_hits > 0,
            },
        },
    });
    let f = Finding {
        dataset: "iocd.flood_summary",
        rule_id: rule_id.into(),
        rule_name: rule_name.into(),
        priority: Some(p),
        start: Some(since),
        end: Some(now.to_owned()),
        message: Some(message),
        flood_indicators: Some(r.indicators),
        ..Finding::default()
    };
    (v, f)
}

/// The digest, cut at `now` (RFC 3339).
fn digest(r: &DigestReport, now: &str) -> (Value, Finding) {
    let since = ms(r.since);
    let counts: serde_json::Map<String, Value> = Priority::ALL
        .iter()
        .rev()
        .map(|p| {
            let c = r.by_priority[p.index()];
            (
                p.as_str().to_owned(),
                json!({"alerts": c.alerts, "hits": c.hits}),
            )
        })
        .collect();
    let (alerts, hits) = (r.alerts(), r.hits());
    let message = format!(
        "iocd digest for {}: {alerts} alert(s), {hits} hit(s) below {} since {since}",
        r.sink, r.min
    );
    let (rule_id, rule_name) = (
        "iocd.digest",
        "Digest of the alerts below a sink's minimum priority",
    );
    let v = json!({
        "event": {
            "kind": "alert",
            "category": ["threat"],
            "type": ["indicator"],
            "dataset": "iocd.digest",
            "start": since,
            "end": now,
            "severity": Priority::Info.severity(),
        },
        "rule": {"id": rule_id, "name": rule_name, "ruleset": RULESET},
        "message": message,
        "iocd": {
            "alert_type": "digest",
            "priority": "info",
            "sink": r.sink,
            "alerts": alerts,
            "hits": hits,
            "by_priority": counts,
            "top_indicators": r.top_indicators,
            "top_hosts": r.top_hosts,
        },
    });
    let f = Finding {
        dataset: "iocd.digest",
        rule_id: rule_id.into(),
        rule_name: rule_name.into(),
        priority: Some(Priority::Info),
        start: Some(since),
        end: Some(now.to_owned()),
        message: Some(message),
        digest_sink: Some(r.sink.clone()),
        ..Finding::default()
    };
    (v, f)
}
