//! MISP JSON: one event (`{"Event": ...}`), API responses (`{"response": [{"Event": ...}]}`
//! and attribute searches `{"response": {"Attribute": [...]}}`), and MISP feed folders
//! (`manifest.json` beside one `<uuid>.json` per event).
//!
//! Every attribute of an event and of its objects is a candidate. Attributes not flagged
//! `to_ids` are skipped when the feed says `to_ids_only` (the default), and `deleted` ones are
//! listed as revoked. The type decides the kind: `ip-src`/`ip-dst` (and `|port`), `domain`,
//! `hostname`, `domain|ip` (both halves), `url`, `md5`/`sha1`/`sha256`, `filename|<hash>` and
//! `malware-sample` (the hash), `imphash`, `authentihash`, `x509-fingerprint-*`,
//! `ja3-fingerprint-md5`, `email*`, and the free strings `filename`, `mutex`, `user-agent`,
//! `regkey` (`regkey|value`: the key), `named pipe`. Other types (`text`, `link`, `ssdeep`,
//! `yara`, ...) are not indicators iocd can match: reported as unsupported when flagged
//! `to_ids`.
//!
//! Metadata: tags of the event and the attribute (a `tlp:*` tag sets the TLP; MISP
//! `confidence-level` and `admiralty-scale:information-credibility` tags set the confidence),
//! the event's `threat_level_id` (1 high, 2 medium, 3 low) sets the severity, `first_seen` /
//! `last_seen` of the attribute (else its `timestamp` as last seen), and the attribute's
//! comment or the event's `info` as description (an attribute search result: the `info` of
//! the `Event` beside the attribute), and the best `decay_score` (`includeDecayScore`) as the
//! confidence.
//!
//! Threat context: galaxy clusters, from `misp-galaxy:<galaxy>="<value>"` tags and from the
//! `Galaxy` lists of the event and the attribute: threat actors and intrusion sets, malware
//! families (`mitre-malware`, `malpedia`, `ransomware`, `rat`, `banker`, `botnet`, ...), tools,
//! ATT&CK attack patterns (`Name - T1059.004`, their kill-chain phases as tactics). A galaxy
//! tag iocd understands goes to the context, not to the tags. The event's UUID is the report
//! its attributes share (`iocd.related`).

use std::path::Path;

use serde_json::Value;

use super::{
    ContextBuilder, FeedError, FeedFormat, Hint, Named, ParseOptions, Parsed, Src, add_tag,
    bound_meta, parse_time, parse_tlp, split_technique,
};
use crate::ioc::Reason;
use iocd_engine::Meta;

pub(crate) fn parse(
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Parsed, FeedError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        FeedError::new(
            location,
            format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
        )
    })?;
    let mut out = Parsed::new(FeedFormat::Misp, bytes.len());
    let mut events = 0;
    let mut walk = |ev: &Value, at: String, out: &mut Parsed| {
        events += 1;
        event(location, ev, &at, opts, out);
    };
    match &doc {
        Value::Object(o) if o.contains_key("Event") => {
            walk(&o["Event"], "$.Event".into(), &mut out)
        }
        Value::Object(o) if o.contains_key("response") => match &o["response"] {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.get("Event") {
                        Some(ev) => walk(ev, format!("$.response[{i}].Event"), &mut out),
                        None => out.reject(
                            &Src {
                                location,
                                line: 0,
                                at: Some(&format!("$.response[{i}]")),
                            },
                            item.get("uuid").and_then(Value::as_str).unwrap_or_default(),
                            Reason::Malformed(
                                item.get("error")
                                    .and_then(Value::as_str)
                                    .unwrap_or("a response item without Event")
                                    .to_owned(),
                            ),
                        ),
                    }
                }
            }
            Value::Object(r) if r.contains_key("Attribute") => {
                walk(&o["response"], "$.response".into(), &mut out);
            }
            _ => {
                return Err(FeedError::new(
                    location,
                    "MISP `response` is neither a list of events nor an attribute search result",
                ));
            }
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item.get("Event") {
                    Some(ev) => walk(ev, format!("$[{i}].Event"), &mut out),
                    None => out.reject(
                        &Src {
                            location,
                            line: 0,
                            at: Some(&format!("$[{i}]")),
                        },
                        "",
                        Reason::Malformed("a list item without Event".into()),
                    ),
                }
            }
        }
        Value::Object(o) if o.values().any(|v| v.get("info").is_some()) => {
            return Err(FeedError::new(
                location,
                "a MISP feed manifest: point `path` at the feed's folder instead",
            ));
        }
        _ => {
            return Err(FeedError::new(
                location,
                "JSON without a MISP `Event` or `response` key",
            ));
        }
    }
    Ok(out)
}

/// Reads a MISP feed folder: `manifest.json` names the events, each in `<uuid>.json`.
pub(crate) fn parse_folder(dir: &Path, opts: &ParseOptions) -> Result<(Parsed, u64), FeedError> {
    let location = dir.display().to_string();
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read(&manifest_path).map_err(|e| {
        FeedError::new(
            &location,
            format!("not a MISP feed folder: cannot read manifest.json: {e}"),
        )
    })?;
    parse_manifest(dir, &text, opts, |file| std::fs::read(file))
}

/// [`parse_folder`] once the manifest is read: `read` reads one event file.
pub(crate) fn parse_manifest(
    dir: &Path,
    text: &[u8],
    opts: &ParseOptions,
    read: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(Parsed, u64), FeedError> {
    let manifest_path = dir.join("manifest.json");
    let manifest: Value = serde_json::from_slice(text).map_err(|e| {
        FeedError::new(
            &manifest_path.display().to_string(),
            format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
        )
    })?;
    let Value::Object(entries) = manifest else {
        return Err(FeedError::new(
            &manifest_path.display().to_string(),
            "manifest.json is not an object of event UUIDs",
        ));
    };
    let mut out = Parsed::new(FeedFormat::Misp, 0);
    let mut bytes = text.len() as u64;
    let mut uuids: Vec<&String> = entries.keys().collect();
    uuids.sort();
    for uuid in uuids {
        let file = dir.join(format!("{uuid}.json"));
        let loc = file.display().to_string();
        let safe = !uuid.is_empty() && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        let read = if safe {
            read(&file).map_err(|e| format!("cannot read: {e}"))
        } else {
            Err("not an event UUID".to_owned())
        };
        match read.and_then(|b| {
            bytes += b.len() as u64;
            parse(&loc, &b, opts).map_err(|e| e.message)
        }) {
            Ok(p) => {
                out.listings.extend(p.listings);
                out.rejected.extend(p.rejected);
                for (k, n) in p.skipped {
                    *out.skipped.entry(k).or_insert(0) += n;
                }
            }
            Err(e) => out.reject(
                &Src {
                    location: &loc,
                    line: 0,
                    at: None,
                },
                uuid,
                Reason::Malformed(format!("event listed in manifest.json: {e}")),
            ),
        }
    }
    Ok((out, bytes))
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

fn tag_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| str_of(t.get("name")).or_else(|| str_of(Some(t))))
                .collect()
        })
        .unwrap_or_default()
}

/// What a galaxy (`threat-actor`, `mitre-attack-pattern`, ...) holds, for the threat context;
/// `None` for galaxies that are not about the threat (sectors, countries, ...).
enum GalaxyKind {
    Named(Named),
    Technique,
}

fn galaxy_kind(galaxy: &str) -> Option<GalaxyKind> {
    let g = galaxy.to_ascii_lowercase();
    Some(if g.contains("attack-pattern") {
        GalaxyKind::Technique
    } else if g.contains("intrusion-set")
        || g.contains("threat-actor")
        || g.contains("activity-group")
    {
        GalaxyKind::Named(Named::Group)
    } else if g.contains("tool") {
        GalaxyKind::Named(Named::Tool)
    } else if g.contains("malware")
        || matches!(
            g.as_str(),
            "malpedia"
                | "ransomware"
                | "rat"
                | "banker"
                | "botnet"
                | "stealer"
                | "backdoor"
                | "android"
                | "exploit-kit"
        )
    {
        GalaxyKind::Named(Named::Malware)
    } else {
        return None;
    })
}

/// Adds the cluster `value` of `galaxy` to `cx`; false when the galaxy is not about the threat.
fn add_cluster(cx: &mut ContextBuilder, galaxy: &str, value: &str) -> bool {
    match galaxy_kind(galaxy) {
        Some(GalaxyKind::Named(kind)) => cx.add(kind, value),
        Some(GalaxyKind::Technique) => {
            let (name, id) = split_technique(value);
            cx.technique(id, name);
        }
        None => return false,
    }
    true
}

/// A `misp-galaxy:<galaxy>="<value>"` tag that is about the threat, into `cx`.
fn galaxy_tag(cx: &mut ContextBuilder, tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("misp-galaxy:") else {
        return false;
    };
    let Some((galaxy, value)) = rest.split_once('=') else {
        return false;
    };
    add_cluster(cx, galaxy, value.trim().trim_matches('"'))
}

/// The clusters of a `Galaxy` list (of an event or an attribute), into `cx`: each cluster's
/// value, and for attack patterns the ATT&CK id (`meta.external_id`) and kill-chain phases
/// (`meta.kill_chain`, `mitre-attack:enterprise-attack:execution`) as tactics.
fn galaxies(cx: &mut ContextBuilder, v: Option<&Value>) {
    for g in v.and_then(Value::as_array).into_iter().flatten() {
        let gtype = str_of(g.get("type")).unwrap_or_default();
        for c in g
            .get("GalaxyCluster")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(value) = str_of(c.get("value")) else {
                continue;
            };
            let galaxy = str_of(c.get("type")).unwrap_or_else(|| gtype.clone());
            if matches!(galaxy_kind(&galaxy), Some(GalaxyKind::Technique)) {
                let meta = c.get("meta");
                let (name, id) = split_technique(&value);
                let external = meta
                    .and_then(|m| m.get("external_id"))
                    .and_then(|e| e.as_array().and_then(|a| a.first()).or(Some(e)))
                    .and_then(Value::as_str);
                cx.technique(id.or(external), name);
                for phase in meta
                    .and_then(|m| m.get("kill_chain"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if let Some(tactic) = phase.rsplit(':').next() {
                        cx.add(Named::Tactic, tactic);
                    }
                }
            } else {
                add_cluster(cx, &galaxy, &value);
            }
        }
    }
}

/// What MISP tags say about TLP and confidence, and the threat context of galaxy tags (into
/// `cx`, not the tags). False when some tags were not kept ([`super::limits::MAX_TAGS`]); they
/// still set TLP and confidence.
fn apply_tags(meta: &mut Meta, cx: &mut ContextBuilder, tags: &[String]) -> bool {
    let mut all = true;
    for t in tags {
        if galaxy_tag(cx, t) {
            continue;
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("tlp:") {
            if let Some(tlp) = parse_tlp(&lower) {
                meta.tlp = Some(tlp);
            }
        } else if let Some(level) = lower
            .strip_prefix("misp:confidence-level=")
            .or_else(|| lower.strip_prefix("confidence-level:confidence="))
        {
            let c = match level.trim_matches('"') {
                "completely-confident" => Some(100),
                "usually-confident" => Some(75),
                "fairly-confident" => Some(50),
                "rarely-confident" => Some(25),
                "unconfident" => Some(0),
                _ => None,
            };
            meta.confidence = c.or(meta.confidence);
        } else if let Some(level) = lower.strip_prefix("admiralty-scale:information-credibility=") {
            let c = match level.trim_matches('"') {
                "1" => Some(100),
                "2" => Some(80),
                "3" => Some(60),
                "4" => Some(40),
                "5" => Some(20),
                _ => None,
            };
            meta.confidence = c.or(meta.confidence);
        }
        all &= add_tag(meta, t);
    }
    all
}

/// Where in a MISP document the listings of `wanted` come from, for people: `event UUID
/// "info", attribute UUID (type)`, one per attribute that lists it (`iocd iocs lookup`; the
/// catalog keeps no JSON paths, so the document is read again).
pub fn origins(
    location: &str,
    bytes: &[u8],
    opts: &ParseOptions,
    wanted: &iocd_engine::Pattern,
) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut events: Vec<&Value> = Vec::new();
    match &doc {
        Value::Object(o) if o.contains_key("Event") => events.push(&o["Event"]),
        Value::Object(o) => match o.get("response") {
            Some(Value::Array(items)) => events.extend(items.iter().filter_map(|i| i.get("Event"))),
            Some(r @ Value::Object(_)) => events.push(r),
            _ => {}
        },
        Value::Array(items) => events.extend(items.iter().filter_map(|i| i.get("Event"))),
        _ => {}
    }
    let mut out = Vec::new();
    for ev in events {
        for (a, at, _) in attributes(ev, "$") {
            let mut scratch = Parsed::new(FeedFormat::Misp, 0);
            attribute(location, a, &at, &Meta::default(), opts, &mut scratch);
            if !scratch.listings.iter().any(|l| l.pattern == *wanted) {
                continue;
            }
            // An attribute search result carries its event beside it.
            let event = a.get("Event").unwrap_or(ev);
            let mut who = String::from("event");
            for v in [str_of(event.get("uuid")), str_of(a.get("event_id"))]
                .into_iter()
                .flatten()
                .take(1)
            {
                who.push_str(&format!(" {v}"));
            }
            if let Some(info) = str_of(event.get("info")) {
                who.push_str(&format!(" {info:?}"));
            }
            who.push_str(", attribute");
            if let Some(u) = str_of(a.get("uuid")) {
                who.push_str(&format!(" {u}"));
            }
            if let Some(t) = str_of(a.get("type")) {
                who.push_str(&format!(" ({t})"));
            }
            out.push(who);
        }
    }
    out
}

/// An event's attributes and those of its objects: (attribute, JSON path, in a deleted
/// object).
fn attributes<'a>(ev: &'a Value, at: &str) -> Vec<(&'a Value, String, bool)> {
    let mut out = Vec::new();
    if let Some(attrs) = ev.get("Attribute").and_then(Value::as_array) {
        for (i, a) in attrs.iter().enumerate() {
            out.push((a, format!("{at}.Attribute[{i}]"), false));
        }
    }
    if let Some(objs) = ev.get("Object").and_then(Value::as_array) {
        for (j, o) in objs.iter().enumerate() {
            let deleted = flag(o.get("deleted"));
            if let Some(attrs) = o.get("Attribute").and_then(Value::as_array) {
                for (i, a) in attrs.iter().enumerate() {
                    out.push((a, format!("{at}.Object[{j}].Attribute[{i}]"), deleted));
                }
            }
        }
    }
    out
}

fn event(location: &str, ev: &Value, at: &str, opts: &ParseOptions, out: &mut Parsed) {
    let mut base = Meta {
        severity: match str_of(ev.get("threat_level_id")).as_deref() {
            Some("1") => Some(80),
            Some("2") => Some(50),
            Some("3") => Some(20),
            _ => None,
        },
        description: str_of(ev.get("info")),
        ..Meta::default()
    };
    // The event's metadata is copied to each of its attributes: capped once here.
    let mut cx = ContextBuilder::default();
    if !apply_tags(&mut base, &mut cx, &tag_names(ev.get("Tag"))) {
        out.skip("tags_over_limit");
    }
    galaxies(&mut cx, ev.get("Galaxy"));
    if let Some(id) = str_of(ev.get("uuid")).or_else(|| str_of(ev.get("id"))) {
        cx.report(&format!("misp-event:{id}"));
    }
    base.context = cx.finish(out);
    if bound_meta(&mut base) {
        out.skip("meta_truncated");
    }
    for (a, at, deleted) in attributes(ev, at) {
        if deleted {
            let mut a = a.clone();
            a["deleted"] = Value::Bool(true);
            attribute(location, &a, &at, &base, opts, out);
        } else {
            attribute(location, a, &at, &base, opts, out);
        }
    }
}

/// The hint for each part of a MISP attribute value, by type. `None`: not an indicator type.
fn parts(kind: &str) -> Option<&'static [Option<Hint>]> {
    const IP: &[Option<Hint>] = &[Some(Hint::Ip)];
    const IP_PORT: &[Option<Hint>] = &[Some(Hint::Ip), None];
    const DOMAIN: &[Option<Hint>] = &[Some(Hint::Domain)];
    const DOMAIN_PORT: &[Option<Hint>] = &[Some(Hint::Domain), None];
    const DOMAIN_IP: &[Option<Hint>] = &[Some(Hint::Domain), Some(Hint::Ip)];
    const URL: &[Option<Hint>] = &[Some(Hint::Url)];
    const MD5: &[Option<Hint>] = &[Some(Hint::Md5)];
    const SHA1: &[Option<Hint>] = &[Some(Hint::Sha1)];
    const SHA256: &[Option<Hint>] = &[Some(Hint::Sha256)];
    const NAME_MD5: &[Option<Hint>] = &[None, Some(Hint::Md5)];
    const NAME_SHA1: &[Option<Hint>] = &[None, Some(Hint::Sha1)];
    const NAME_SHA256: &[Option<Hint>] = &[None, Some(Hint::Sha256)];
    const NAME_HASH: &[Option<Hint>] = &[None, Some(Hint::Hash)];
    const EMAIL: &[Option<Hint>] = &[Some(Hint::Email)];
    const STR: &[Option<Hint>] = &[Some(Hint::Str { ci: false })];
    const ISTR: &[Option<Hint>] = &[Some(Hint::Str { ci: true })];
    const ISTR_VALUE: &[Option<Hint>] = &[Some(Hint::Str { ci: true }), None];
    Some(match kind {
        "ip-src" | "ip-dst" => IP,
        "ip-src|port" | "ip-dst|port" => IP_PORT,
        "domain" | "hostname" => DOMAIN,
        "hostname|port" => DOMAIN_PORT,
        "domain|ip" => DOMAIN_IP,
        "url" => URL,
        "md5" | "imphash" | "ja3-fingerprint-md5" | "x509-fingerprint-md5" => MD5,
        "sha1" | "x509-fingerprint-sha1" => SHA1,
        "sha256" | "authentihash" | "x509-fingerprint-sha256" => SHA256,
        "filename|md5" | "malware-sample" => NAME_MD5,
        "filename|sha1" => NAME_SHA1,
        "filename|sha256" => NAME_SHA256,
        "filename|imphash" => NAME_HASH,
        "email" | "email-src" | "email-dst" | "email-reply-to" | "whois-registrant-email" => EMAIL,
        "filename" | "mutex" | "user-agent" | "named pipe" => STR,
        "regkey" => ISTR,
        "regkey|value" => ISTR_VALUE,
        _ => return None,
    })
}

fn attribute(
    location: &str,
    a: &Value,
    at: &str,
    base: &Meta,
    opts: &ParseOptions,
    out: &mut Parsed,
) {
    let src = Src {
        location,
        line: 0,
        at: Some(at),
    };
    let Some(kind) = str_of(a.get("type")) else {
        out.reject(
            &src,
            "",
            Reason::Malformed("attribute without a type".into()),
        );
        return;
    };
    let Some(value) = str_of(a.get("value")) else {
        out.reject(
            &src,
            "",
            Reason::Malformed(format!("{kind} attribute without a value")),
        );
        return;
    };
    if opts.to_ids_only && !flag(a.get("to_ids")) {
        out.skip("not_to_ids");
        return;
    }
    let Some(hints) = parts(&kind) else {
        out.reject(
            &src,
            &value,
            Reason::Unsupported(format!("MISP type {kind}")),
        );
        return;
    };
    let mut meta = base.clone();
    let own_tags = tag_names(a.get("Tag"));
    let mut cx = ContextBuilder::default();
    if !apply_tags(&mut meta, &mut cx, &own_tags) {
        out.skip("tags_over_limit");
    }
    galaxies(&mut cx, a.get("Galaxy"));
    // An attribute search result carries its event beside it.
    if let Some(id) = a
        .get("Event")
        .and_then(|e| str_of(e.get("uuid")).or_else(|| str_of(e.get("id"))))
        .or_else(|| str_of(a.get("event_uuid")))
    {
        cx.report(&format!("misp-event:{id}"));
    }
    if !cx.is_empty() {
        // The attribute's own galaxies beside its event's: a context of its own.
        if let Some(event) = base.context.as_deref() {
            cx.extend(event);
        }
        meta.context = cx.finish(out);
    }
    meta.first_seen = str_of(a.get("first_seen")).and_then(|s| parse_time(&s));
    meta.last_seen = str_of(a.get("last_seen"))
        .or_else(|| str_of(a.get("timestamp")))
        .and_then(|s| parse_time(&s));
    if let Some(c) = str_of(a.get("comment")) {
        meta.description = Some(c);
    } else if meta.description.is_none()
        && let Some(info) = a.get("Event").and_then(|e| str_of(e.get("info")))
    {
        // An attribute search result: its event's info, as an event's attributes have.
        meta.description = Some(info);
        if bound_meta(&mut meta) {
            out.skip("meta_truncated");
        }
    }
    // `includeDecayScore`: the best model's current score is the confidence.
    if let Some(score) = a
        .get("decay_score")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("score").and_then(Value::as_f64))
        .filter(|s| s.is_finite())
        .reduce(f64::max)
    {
        meta.confidence = Some(score.clamp(0.0, 100.0).round() as u8);
    }
    let revoked = flag(a.get("deleted"));
    let pieces: Vec<&str> = if hints.len() == 1 {
        vec![value.as_str()]
    } else {
        value.splitn(hints.len(), '|').collect()
    };
    if pieces.len() != hints.len() {
        out.reject(
            &src,
            &value,
            Reason::Malformed(format!(
                "{kind} value needs {} parts separated by |",
                hints.len()
            )),
        );
        return;
    }
    for (piece, hint) in pieces.iter().zip(hints) {
        if let Some(h) = hint {
            out.add_value(&src, piece, *h, Some(&meta), revoked);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_name_event_and_attribute() {
        let doc = br#"{"response": [{"Event": {"uuid": "e-1", "info": "Phish wave", "Attribute": [
            {"uuid": "a-1", "type": "domain", "value": "bad-updates.com", "to_ids": true}],
          "Object": [{"name": "url", "Attribute": [
            {"uuid": "a-2", "type": "hostname", "value": "bad-updates.com", "to_ids": true},
            {"uuid": "a-3", "type": "ip-dst", "value": "45.61.136.7", "to_ids": false}]}]}}]}"#;
        let wanted = crate::ioc::parse_indicator("bad-updates.com").unwrap();
        let opts = ParseOptions {
            to_ids_only: true,
            ..ParseOptions::default()
        };
        assert_eq!(
            origins("x.json", doc, &opts, &wanted),
            [
                "event e-1 \"Phish wave\", attribute a-1 (domain)",
                "event e-1 \"Phish wave\", attribute a-2 (hostname)"
            ]
        );
        // Not flagged to_ids: not a listing, so no origin.
        let ip = crate::ioc::parse_indicator("45.61.136.7").unwrap();
        assert!(origins("x.json", doc, &opts, &ip).is_empty());
        assert!(origins("x.json", b"not json", &opts, &ip).is_empty());
    }

    use super::*;
    use iocd_engine::Tlp;

    const EVENT: &str = r#"{"Event": {"info": "Xorist", "threat_level_id": "1",
        "Tag": [{"name": "tlp:green"}, {"name": "misp:confidence-level=\"usually-confident\""}],
        "Attribute": [
          {"type": "link", "value": "https://blog/x", "to_ids": false},
          {"type": "ip-dst|port", "value": "8.8.4.4|443", "to_ids": true, "timestamp": "1472540684"},
          {"type": "domain|ip", "value": "evil.com|1.2.3.4", "to_ids": true, "comment": "c2"},
          {"type": "filename|sha1", "value": "a.exe|3395856ce81f2b7382dee72602f798b642f14140", "to_ids": true},
          {"type": "ssdeep", "value": "3:abc:def", "to_ids": true},
          {"type": "ip-dst", "value": "evil.org", "to_ids": true},
          {"type": "md5", "value": "44d88612fea8a8f36de82e1278abb02f", "to_ids": true, "deleted": true,
           "Tag": [{"name": "tlp:red"}]},
          {"type": "domain", "to_ids": true}
        ],
        "Object": [{"name": "file", "Attribute": [
          {"type": "sha256", "value": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "to_ids": true,
           "first_seen": "2020-01-01T00:00:00Z"},
          {"type": "text", "value": "notes", "to_ids": false}
        ]}]}}"#;

    #[test]
    fn galaxies_give_threat_context_not_tags() {
        let doc = r#"{"Event": {"uuid": "5f0e-ev", "info": "3CX supply chain",
          "Tag": [{"name": "tlp:green"}, {"name": "ESET"},
                  {"name": "misp-galaxy:threat-actor=\"Lazarus Group\""},
                  {"name": "misp-galaxy:mitre-attack-pattern=\"Unix Shell - T1059.004\""},
                  {"name": "misp-galaxy:sector=\"Telecoms\""}],
          "Galaxy": [{"type": "mitre-attack-pattern", "GalaxyCluster": [
              {"type": "mitre-attack-pattern", "value": "Unix Shell - T1059.004",
               "meta": {"external_id": ["T1059.004"], "kill_chain": ["mitre-attack:enterprise-attack:execution"]}}]},
            {"type": "malpedia", "GalaxyCluster": [{"value": "TAXHAUL"}]}],
          "Attribute": [
            {"type": "domain", "value": "msstorageazure.com", "to_ids": true},
            {"type": "ip-dst", "value": "203.0.113.77", "to_ids": true,
             "Tag": [{"name": "misp-galaxy:mitre-tool=\"Mimikatz - S0002\""}]}
          ]}}"#;
        let p = parse(
            "e.json",
            doc.as_bytes(),
            &ParseOptions {
                to_ids_only: true,
                ..ParseOptions::default()
            },
        )
        .unwrap();
        assert_eq!(p.listings.len(), 2);
        let m = p.listings[0].meta.as_ref().unwrap();
        // Galaxy tags iocd understands are context; the others stay tags.
        assert_eq!(
            m.tags,
            vec!["tlp:green", "ESET", "misp-galaxy:sector=\"Telecoms\""]
        );
        let cx = m.context.as_ref().unwrap();
        assert_eq!(cx.groups, vec!["Lazarus Group"]);
        assert_eq!(cx.malware, vec!["TAXHAUL"]);
        assert_eq!(
            cx.techniques,
            vec![iocd_engine::Technique {
                id: Some("T1059.004".into()),
                name: Some("Unix Shell".into())
            }]
        );
        assert_eq!(cx.tactics, vec!["execution"]);
        assert_eq!(cx.report.as_deref(), Some("misp-event:5f0e-ev"));
        // The attribute's own galaxy beside its event's.
        let own = p.context(1);
        assert_eq!(own.tools, vec!["Mimikatz - S0002"]);
        assert_eq!(own.groups, vec!["Lazarus Group"]);
        assert_eq!(own.report.as_deref(), Some("misp-event:5f0e-ev"));
    }

    #[test]
    fn hostile_galaxies_are_capped() {
        // 10,000 actor tags and 10,000 attack-pattern clusters with kill chains on one event:
        // the context keeps MAX_CONTEXT_NAMES of each, shared by every attribute.
        let tags: Vec<String> = (0..10_000)
            .map(|i| format!(r#"{{"name": "misp-galaxy:threat-actor=\"actor {i}\""}}"#))
            .collect();
        let clusters: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    r#"{{"value": "P{i} - T{:04}", "meta": {{"kill_chain": ["mitre-attack:tactic-{i}"]}}}}"#,
                    1000 + i % 9000
                )
            })
            .collect();
        let attrs: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    r#"{{"type": "ip-dst", "value": "45.61.137.{}", "to_ids": true}}"#,
                    i % 250
                )
            })
            .collect();
        let doc = format!(
            r#"{{"Event": {{"uuid": "u", "Tag": [{}], "Galaxy": [{{"type": "mitre-attack-pattern", "GalaxyCluster": [{}]}}], "Attribute": [{}]}}}}"#,
            tags.join(","),
            clusters.join(","),
            attrs.join(",")
        );
        let p = parse(
            "h.json",
            doc.as_bytes(),
            &ParseOptions {
                to_ids_only: true,
                ..ParseOptions::default()
            },
        )
        .unwrap();
        assert_eq!(p.listings.len(), 200);
        let cx = p.context(0);
        let max = super::super::limits::MAX_CONTEXT_NAMES;
        assert_eq!(
            (cx.groups.len(), cx.techniques.len(), cx.tactics.len()),
            (max, max, max)
        );
        assert_eq!(p.skipped.get("context_over_limit"), Some(&1));
        // One copy for all 200 attributes.
        let last = p.context(199);
        assert!(std::sync::Arc::ptr_eq(&cx, &last));
    }

    #[test]
    fn event_attributes_objects_and_tags() {
        let opts = ParseOptions {
            to_ids_only: true,
            ..ParseOptions::default()
        };
        let p = parse("e.json", EVENT.as_bytes(), &opts).unwrap();
        let got: Vec<String> = p.listings.iter().map(|l| l.pattern.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "8.8.4.4",
                "evil.com",
                "1.2.3.4",
                "3395856ce81f2b7382dee72602f798b642f14140",
                "44d88612fea8a8f36de82e1278abb02f",
                "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            ]
        );
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.tlp, Some(Tlp::Green));
        assert_eq!(m.confidence, Some(75));
        assert_eq!(m.severity, Some(80));
        assert_eq!(m.last_seen, Some(1472540684));
        assert_eq!(m.description.as_deref(), Some("Xorist"));
        assert_eq!(
            p.listings[1].meta.as_ref().unwrap().description.as_deref(),
            Some("c2")
        );
        assert!(p.listings[4].revoked);
        assert_eq!(p.listings[4].meta.as_ref().unwrap().tlp, Some(Tlp::Red));
        assert_eq!(
            p.listings[5].meta.as_ref().unwrap().first_seen,
            Some(1577836800)
        );
        let rej: Vec<_> = p
            .rejected
            .iter()
            .map(|r| (r.at.as_deref().unwrap(), r.reason.code()))
            .collect();
        assert_eq!(
            rej,
            vec![
                ("$.Event.Attribute[4]", "unsupported"),
                ("$.Event.Attribute[5]", "type_mismatch"),
                ("$.Event.Attribute[7]", "malformed"),
            ]
        );
        assert_eq!(p.skipped.get("not_to_ids"), Some(&2));
        assert!(
            p.rejected[0]
                .to_string()
                .contains("e.json: at $.Event.Attribute[4]"),
            "{}",
            p.rejected[0]
        );
    }

    #[test]
    fn response_list_and_attribute_search() {
        let opts = ParseOptions::default();
        let doc = r#"{"response": [{"Event": {"Attribute": [{"type": "url", "value": "http://a.com/x", "to_ids": "0"}]}}, {"x": 1}]}"#;
        let p = parse("r.json", doc.as_bytes(), &opts).unwrap();
        assert_eq!(p.listings.len(), 1);
        assert_eq!(p.rejected[0].at.as_deref(), Some("$.response[1]"));
        let doc = r#"{"response": {"Attribute": [{"type": "email-src", "value": "a@evil.com", "to_ids": true}]}}"#;
        let p = parse("s.json", doc.as_bytes(), &opts).unwrap();
        assert_eq!(p.listings[0].pattern.to_string(), "a@evil.com");
        assert!(
            parse("b.json", b"{\"response\": [", &opts)
                .unwrap_err()
                .message
                .contains("line 1")
        );
    }

    #[test]
    fn event_tags_and_info_shared_by_every_attribute_are_capped() {
        let tags: Vec<String> = (0..5_000)
            .map(|i| format!(r#"{{"name": "t{i}"}}"#))
            .chain(std::iter::once(r#"{"name": "tlp:red"}"#.to_owned()))
            .collect();
        let attrs: Vec<String> = (0..2_000)
            .map(|i| {
                format!(r#"{{"type": "domain", "value": "d{i}.example.org", "to_ids": true}}"#)
            })
            .collect();
        let doc = format!(
            r#"{{"Event": {{"info": "{}", "Tag": [{}], "Attribute": [{}]}}}}"#,
            "i".repeat(50_000),
            tags.join(","),
            attrs.join(",")
        );
        let p = parse(
            "e.json",
            doc.as_bytes(),
            &ParseOptions {
                to_ids_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.listings.len(), 2_000);
        for l in &p.listings {
            let m = l.meta.as_ref().unwrap();
            assert_eq!(m.tags.len(), super::super::limits::MAX_TAGS);
            assert_eq!(
                m.tlp,
                Some(Tlp::Red),
                "a tag past the cap still sets the TLP"
            );
            assert_eq!(
                m.description.as_ref().unwrap().len(),
                super::super::limits::MAX_DESCRIPTION_BYTES
            );
        }
        assert_eq!(p.skipped.get("tags_over_limit"), Some(&1));
        assert_eq!(p.skipped.get("meta_truncated"), Some(&1));
    }

    #[test]
    fn feed_folder() {
        let dir = tempfile::tempdir().unwrap();
        let uuid = "5b1a9a1e-0000-4000-8000-000000000001";
        std::fs::write(dir.path().join("manifest.json"), format!(r#"{{"{uuid}": {{"info": "x"}}, "5b1a9a1e-0000-4000-8000-000000000002": {{"info": "gone"}}}}"#)).unwrap();
        std::fs::write(dir.path().join(format!("{uuid}.json")), EVENT).unwrap();
        let opts = ParseOptions {
            to_ids_only: true,
            ..ParseOptions::default()
        };
        let (p, bytes) = parse_folder(dir.path(), &opts).unwrap();
        assert_eq!(p.listings.len(), 6);
        assert!(bytes > EVENT.len() as u64);
        let missing: Vec<_> = p
            .rejected
            .iter()
            .filter(|r| r.value.ends_with("0002"))
            .collect();
        assert_eq!(missing.len(), 1);
        assert!(
            missing[0].to_string().contains("cannot read"),
            "{}",
            missing[0]
        );
        let e = parse("manifest.json", br#"{"u": {"info": "x"}}"#, &opts).unwrap_err();
        assert!(e.message.contains("folder"), "{e}");
    }
}
