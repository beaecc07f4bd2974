//! The Elastic Common Schema fields iocd writes or names, with their ECS types: what decides
//! whether a decoded field may be an alert's `matched.field` ([`is_field`]), and what the
//! tests check every alert against ([`check`]).
//!
//! The table is a transcription of the ECS reference (8.x) for the field sets an alert uses
//! (`event`, `rule`, `threat`, `source`/`destination`, `url`, `dns`, `log.syslog`, ...) and for
//! the fields the decoders name (`tls.client.ja3`, `observer.ingress.interface.name`, ...).
//! It is not all of ECS: a field the decoders start to name must be added here to reach
//! `matched.field`; until then it goes to `iocd.matches[].matched_path`, which is never wrong.

use serde_json::Value;

/// The ECS data types, as far as a JSON document can tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcsType {
    /// `keyword`, `wildcard`, `match_only_text`, `constant_keyword`: a string.
    Keyword,
    /// `long`: an integer.
    Long,
    /// `float`, `scaled_float`: a number.
    Float,
    /// `date`: an RFC 3339 string.
    Date,
    /// `ip`: an IPv4 or IPv6 address string.
    Ip,
    /// `flattened`: an object of any shape.
    Flattened,
}

use EcsType::{Date, Flattened, Float, Ip, Keyword, Long};

/// The leaf fields (dotted paths) and their types. `threat.enrichments` is an array of
/// objects (`nested`); its leaves are listed by their path without an index.
const FIELDS: &[(&str, EcsType)] = &[
    ("@timestamp", Date),
    ("message", Keyword),
    ("tags", Keyword),
    // event
    ("event.action", Keyword),
    ("event.category", Keyword),
    ("event.code", Keyword),
    ("event.created", Date),
    ("event.dataset", Keyword),
    ("event.duration", Long),
    ("event.end", Date),
    ("event.id", Keyword),
    ("event.kind", Keyword),
    ("event.module", Keyword),
    ("event.original", Keyword),
    ("event.outcome", Keyword),
    ("event.provider", Keyword),
    ("event.reason", Keyword),
    ("event.reference", Keyword),
    ("event.risk_score", Float),
    ("event.risk_score_norm", Float),
    ("event.severity", Long),
    ("event.start", Date),
    ("event.type", Keyword),
    // rule
    ("rule.category", Keyword),
    ("rule.description", Keyword),
    ("rule.id", Keyword),
    ("rule.name", Keyword),
    ("rule.reference", Keyword),
    ("rule.ruleset", Keyword),
    ("rule.uuid", Keyword),
    ("rule.version", Keyword),
    // host, observer, process, log
    ("host.hostname", Keyword),
    ("host.ip", Ip),
    ("host.name", Keyword),
    ("observer.egress.interface.name", Keyword),
    ("observer.hostname", Keyword),
    ("observer.ingress.interface.name", Keyword),
    ("observer.ip", Ip),
    ("observer.name", Keyword),
    ("observer.product", Keyword),
    ("observer.serial_number", Keyword),
    ("observer.type", Keyword),
    ("observer.vendor", Keyword),
    ("process.command_line", Keyword),
    ("process.executable", Keyword),
    ("process.hash.md5", Keyword),
    ("process.hash.sha1", Keyword),
    ("process.hash.sha256", Keyword),
    ("process.name", Keyword),
    ("process.parent.command_line", Keyword),
    ("process.parent.executable", Keyword),
    ("process.parent.name", Keyword),
    ("process.pe.imphash", Keyword),
    ("process.pe.original_file_name", Keyword),
    ("process.pid", Long),
    ("log.file.path", Keyword),
    ("log.level", Keyword),
    ("log.syslog.appname", Keyword),
    ("log.syslog.facility.code", Long),
    ("log.syslog.facility.name", Keyword),
    ("log.syslog.hostname", Keyword),
    ("log.syslog.msgid", Keyword),
    ("log.syslog.priority", Long),
    ("log.syslog.procid", Keyword),
    ("log.syslog.severity.code", Long),
    ("log.syslog.severity.name", Keyword),
    ("log.syslog.structured_data", Flattened),
    ("log.syslog.version", Keyword),
    // the flow
    ("client.address", Keyword),
    ("client.domain", Keyword),
    ("client.ip", Ip),
    ("client.port", Long),
    ("destination.address", Keyword),
    ("destination.bytes", Long),
    ("destination.domain", Keyword),
    ("destination.ip", Ip),
    ("destination.mac", Keyword),
    ("destination.nat.ip", Ip),
    ("destination.nat.port", Long),
    ("destination.port", Long),
    ("destination.registered_domain", Keyword),
    ("destination.user.name", Keyword),
    ("network.application", Keyword),
    ("network.bytes", Long),
    ("network.direction", Keyword),
    ("network.protocol", Keyword),
    ("network.transport", Keyword),
    ("network.type", Keyword),
    ("related.hash", Keyword),
    ("related.hosts", Keyword),
    ("related.ip", Ip),
    ("related.user", Keyword),
    ("server.address", Keyword),
    ("server.domain", Keyword),
    ("server.ip", Ip),
    ("server.port", Long),
    ("source.address", Keyword),
    ("source.bytes", Long),
    ("source.domain", Keyword),
    ("source.ip", Ip),
    ("source.mac", Keyword),
    ("source.nat.ip", Ip),
    ("source.nat.port", Long),
    ("source.port", Long),
    ("source.registered_domain", Keyword),
    ("source.user.name", Keyword),
    // application layer
    ("dns.answers.data", Keyword),
    ("dns.answers.name", Keyword),
    ("dns.answers.type", Keyword),
    ("dns.question.name", Keyword),
    ("dns.question.type", Keyword),
    ("dns.response_code", Keyword),
    ("email.from.address", Keyword),
    ("email.sender.address", Keyword),
    ("email.subject", Keyword),
    ("email.to.address", Keyword),
    ("http.request.method", Keyword),
    ("http.request.referrer", Keyword),
    ("http.response.status_code", Long),
    ("http.version", Keyword),
    ("tls.client.ja3", Keyword),
    ("tls.client.server_name", Keyword),
    ("tls.server.hash.md5", Keyword),
    ("tls.server.hash.sha1", Keyword),
    ("tls.server.hash.sha256", Keyword),
    ("tls.server.issuer", Keyword),
    ("tls.server.ja3s", Keyword),
    ("tls.server.subject", Keyword),
    ("url.domain", Keyword),
    ("url.full", Keyword),
    ("url.original", Keyword),
    ("url.path", Keyword),
    ("url.port", Long),
    ("url.query", Keyword),
    ("url.registered_domain", Keyword),
    ("url.scheme", Keyword),
    ("user.domain", Keyword),
    ("user.email", Keyword),
    ("user.id", Keyword),
    ("user.name", Keyword),
    ("user.target.name", Keyword),
    ("user_agent.original", Keyword),
    // files, registry, errors, cloud
    ("cloud.account.id", Keyword),
    ("cloud.provider", Keyword),
    ("cloud.region", Keyword),
    ("dll.name", Keyword),
    ("dll.path", Keyword),
    ("error.code", Keyword),
    ("error.message", Keyword),
    ("file.hash.md5", Keyword),
    ("file.hash.sha1", Keyword),
    ("file.hash.sha256", Keyword),
    ("file.hash.sha512", Keyword),
    ("file.name", Keyword),
    ("file.path", Keyword),
    ("file.pe.imphash", Keyword),
    ("file.pe.original_file_name", Keyword),
    ("file.size", Long),
    ("registry.data.strings", Keyword),
    ("registry.key", Keyword),
    ("registry.path", Keyword),
    ("registry.value", Keyword),
    // threat
    ("threat.enrichments.indicator.confidence", Keyword),
    ("threat.enrichments.indicator.description", Keyword),
    ("threat.enrichments.indicator.email.address", Keyword),
    ("threat.enrichments.indicator.file.hash.md5", Keyword),
    ("threat.enrichments.indicator.file.hash.sha1", Keyword),
    ("threat.enrichments.indicator.file.hash.sha256", Keyword),
    ("threat.enrichments.indicator.first_seen", Date),
    ("threat.enrichments.indicator.ip", Ip),
    ("threat.enrichments.indicator.last_seen", Date),
    ("threat.enrichments.indicator.marking.tlp", Keyword),
    ("threat.enrichments.indicator.modified_at", Date),
    ("threat.enrichments.indicator.name", Keyword),
    ("threat.enrichments.indicator.port", Long),
    ("threat.enrichments.indicator.provider", Keyword),
    ("threat.enrichments.indicator.reference", Keyword),
    ("threat.enrichments.indicator.sightings", Long),
    ("threat.enrichments.indicator.type", Keyword),
    ("threat.enrichments.indicator.url.domain", Keyword),
    ("threat.enrichments.indicator.url.full", Keyword),
    ("threat.enrichments.indicator.url.original", Keyword),
    ("threat.enrichments.matched.atomic", Keyword),
    ("threat.enrichments.matched.field", Keyword),
    ("threat.enrichments.matched.id", Keyword),
    ("threat.enrichments.matched.index", Keyword),
    ("threat.enrichments.matched.occurred", Date),
    ("threat.enrichments.matched.type", Keyword),
    ("threat.feed.dashboard_id", Keyword),
    ("threat.feed.description", Keyword),
    ("threat.feed.name", Keyword),
    ("threat.feed.reference", Keyword),
    ("threat.framework", Keyword),
    ("threat.group.alias", Keyword),
    ("threat.group.id", Keyword),
    ("threat.group.name", Keyword),
    ("threat.group.reference", Keyword),
    ("threat.indicator.confidence", Keyword),
    ("threat.indicator.description", Keyword),
    ("threat.indicator.first_seen", Date),
    ("threat.indicator.ip", Ip),
    ("threat.indicator.last_seen", Date),
    ("threat.indicator.marking.tlp", Keyword),
    ("threat.indicator.name", Keyword),
    ("threat.indicator.provider", Keyword),
    ("threat.indicator.reference", Keyword),
    ("threat.indicator.type", Keyword),
    ("threat.software.alias", Keyword),
    ("threat.software.id", Keyword),
    ("threat.software.name", Keyword),
    ("threat.software.platforms", Keyword),
    ("threat.software.reference", Keyword),
    ("threat.software.type", Keyword),
    ("threat.tactic.id", Keyword),
    ("threat.tactic.name", Keyword),
    ("threat.tactic.reference", Keyword),
    ("threat.technique.id", Keyword),
    ("threat.technique.name", Keyword),
    ("threat.technique.reference", Keyword),
    ("threat.technique.subtechnique.id", Keyword),
    ("threat.technique.subtechnique.name", Keyword),
];

/// The ECS type of the leaf field `path`, `None` when it is not an ECS field iocd knows.
pub fn field_type(path: &str) -> Option<EcsType> {
    FIELDS.iter().find(|(p, _)| *p == path).map(|&(_, t)| t)
}

/// Whether `name` is an ECS field (a leaf of the table): what may be a `matched.field`.
pub fn is_field(name: &str) -> bool {
    field_type(name).is_some_and(|t| t != Flattened)
}

/// Every way `alert` departs from ECS, as `path: problem` lines: a field ECS does not define
/// (outside `iocd.*`, the custom block ECS leaves to the producer), or a value whose JSON type
/// is not its field's. Empty for a valid alert.
pub fn check(alert: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match alert {
        Value::Object(o) => {
            for (k, v) in o {
                if k != "iocd" {
                    walk(k, v, &mut problems);
                }
            }
        }
        _ => problems.push("(root): not a JSON object".to_owned()),
    }
    problems
}

fn walk(path: &str, v: &Value, problems: &mut Vec<String>) {
    if let Value::Array(items) = v {
        for item in items {
            walk(path, item, problems);
        }
        return;
    }
    match (field_type(path), v) {
        (Some(Flattened), Value::Object(_)) => {}
        (Some(t), Value::Object(_)) => problems.push(format!("{path}: an object, ECS has {t:?}")),
        (None, Value::Object(o)) => {
            for (k, child) in o {
                walk(&format!("{path}.{k}"), child, problems);
            }
        }
        (None, _) => problems.push(format!("{path}: not an ECS field")),
        (Some(t), leaf) => {
            if !fits(t, leaf) {
                problems.push(format!("{path}: {leaf} is not a {t:?}"));
            }
        }
    }
}

fn fits(t: EcsType, v: &Value) -> bool {
    match (t, v) {
        (_, Value::Null) => false,
        (Keyword, Value::String(s)) => !s.is_empty(),
        (Long, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Float, Value::Number(_)) => true,
        (Date, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        (Ip, Value::String(s)) => s.parse::<std::net::IpAddr>().is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_field_once() {
        let mut names: Vec<&str> = FIELDS.iter().map(|(p, _)| *p).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a field listed twice");
    }

    #[test]
    fn check_finds_unknown_fields_and_wrong_types() {
        let ok = json!({
            "@timestamp": "2026-01-01T00:00:00Z",
            "event": {"kind": "alert", "severity": 4, "risk_score": 71.5, "category": ["threat"]},
            "source": {"ip": "10.0.0.1", "port": 443},
            "threat": {"enrichments": [{"matched": {"field": "destination.ip"}}]},
            "log": {"syslog": {"structured_data": {"x@1": {"a": "b"}}}},
            "iocd": {"anything": {"goes": 1}},
        });
        assert_eq!(check(&ok), Vec::<String>::new());
        let bad = json!({
            "event": {"kind": "alert", "severity": "high", "risk_score": "71"},
            "source": {"ip": "not-an-ip", "port": 1.5},
            "log": {"syslog": {"facility": 4}},
            "threat": {"enrichments": [{"matched": {"field": "json.Hashes", "path": "x"}}]},
        });
        let p = check(&bad);
        for want in [
            "event.severity",
            "event.risk_score",
            "source.ip",
            "source.port",
            "log.syslog.facility: not an ECS field",
            "threat.enrichments.matched.path: not an ECS field",
        ] {
            assert!(p.iter().any(|x| x.starts_with(want)), "{want}: {p:?}");
        }
        assert!(is_field("destination.ip") && !is_field("json.Hashes"));
        assert!(!is_field("log.syslog.structured_data") && !is_field("zeek.uid"));
    }
}
