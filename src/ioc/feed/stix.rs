//! STIX 2.1 (and 2.0) bundles: the `indicator` objects whose pattern iocd can match.
//!
//! A STIX pattern is a small language; iocd matches single tokens, so it takes the patterns
//! that are one comparison or an `OR` of comparisons (inside one observation or across
//! observations), each comparison `=`, `IN (...)` or, for addresses, `ISSUBSET` (a CIDR), on a
//! path it knows:
//!
//! | path | kind |
//! |---|---|
//! | `ipv4-addr:value`, `ipv6-addr:value` | address or network |
//! | `network-traffic:dst_ref.value`, `network-traffic:src_ref.value` | inferred |
//! | `domain-name:value` | domain |
//! | `url:value` | URL |
//! | `email-addr:value`, `email-message:from_ref.value`, `email-message:sender_ref.value` | e-mail |
//! | `file:hashes.'SHA-256'` / `'SHA-1'` / `MD5` (any spelling), `x509-certificate:hashes.*`, `artifact:hashes.*` | hash |
//! | `file:name`, `mutex:name`, `network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'` | string |
//! | `windows-registry-key:key` | string, case-insensitive |
//!
//! Anything else (`AND`, `FOLLOWEDBY`, `NOT`, qualifiers such as `WITHIN` and `START`,
//! operators such as `MATCHES` and `LIKE`, other paths, non-STIX `pattern_type`s) is reported as
//! unsupported with the reason; in an `OR`, the comparisons iocd can match are still taken, since
//! each alone satisfies the pattern. `valid_until`, `revoked`, `confidence`, `labels`,
//! `indicator_types`, `name`/`description`, `valid_from` (first seen) and TLP markings (the
//! standard marking definitions, or `marking-definition` objects of the bundle) become metadata.
//!
//! Threat context: what an indicator `indicates` (a relationship in the bundle) — `malware`,
//! `tool`, `threat-actor`, `intrusion-set`, `campaign`, `attack-pattern` (its ATT&CK id from
//! `external_references`, its `kill_chain_phases` as tactics) — and what `uses` that malware
//! or tool (actors, intrusion sets, campaigns, attack patterns: one more hop, so an indicator
//! of APT1's malware names APT1). A `report` that lists the indicator in its `object_refs` is the report its
//! values share (`iocd.related`).

use std::collections::HashMap;

use serde_json::Value;

use super::{
    ContextBuilder, FeedError, FeedFormat, Hint, Named, Parsed, Src, add_tag, limits, parse_time,
    parse_tlp,
};
use crate::ioc::Reason;
use iocd_engine::{Meta, Tlp};

pub(crate) fn parse(location: &str, bytes: &[u8]) -> Result<Parsed, FeedError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        FeedError::new(
            location,
            format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
        )
    })?;
    let objects: Vec<&Value> = match &doc {
        Value::Object(o) => match o.get("objects") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ if o.get("type").and_then(Value::as_str) == Some("indicator") => vec![&doc],
            _ => {
                return Err(FeedError::new(
                    location,
                    "STIX JSON without an `objects` list",
                ));
            }
        },
        Value::Array(a) => a.iter().collect(),
        _ => {
            return Err(FeedError::new(
                location,
                "STIX JSON must be a bundle object",
            ));
        }
    };
    let mut markings: HashMap<String, Tlp> = standard_markings();
    for o in &objects {
        if o.get("type").and_then(Value::as_str) == Some("marking-definition") {
            let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
            let tlp = o
                .get("definition")
                .and_then(|d| d.get("tlp"))
                .and_then(Value::as_str)
                .and_then(parse_tlp)
                .or_else(|| o.get("name").and_then(Value::as_str).and_then(parse_tlp));
            if let Some(t) = tlp {
                markings.insert(id.to_owned(), t);
            }
        }
    }
    let graph = Graph::of(&objects);
    let mut out = Parsed::new(FeedFormat::Stix, bytes.len());
    for (i, o) in objects.iter().enumerate() {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let at = match o.get("id").and_then(Value::as_str) {
            Some(id) => format!("$.objects[{i}] ({id})"),
            None => format!("$.objects[{i}]"),
        };
        indicator(location, o, &at, &markings, &graph, &mut out);
    }
    Ok(out)
}

/// Where in a STIX document the listings of `wanted` come from, for people: `indicator--...
/// "name"`, one per indicator whose pattern lists it (`iocd iocs lookup`; listings keep no
/// JSON paths, so the document is read again).
pub fn origins(location: &str, bytes: &[u8], wanted: &iocd_engine::Pattern) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let objects: Vec<&Value> = match &doc {
        Value::Object(o) => match o.get("objects") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => vec![&doc],
        },
        Value::Array(a) => a.iter().collect(),
        _ => return Vec::new(),
    };
    let (markings, graph) = (HashMap::new(), Graph::of(&[]));
    let mut out = Vec::new();
    for o in objects {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let mut scratch = Parsed::new(FeedFormat::Stix, 0);
        indicator(location, o, "", &markings, &graph, &mut scratch);
        if !scratch.listings.iter().any(|l| l.pattern == *wanted) {
            continue;
        }
        let id = o.get("id").and_then(Value::as_str).unwrap_or("indicator");
        out.push(match o.get("name").and_then(Value::as_str) {
            Some(name) => format!("{id} {name:?}"),
            None => id.to_owned(),
        });
    }
    out
}

/// The bundle's objects by id and the relationships the threat context follows.
struct Graph<'a> {
    by_id: HashMap<&'a str, &'a Value>,
    /// Indicator id to the ids it `indicates`.
    indicates: HashMap<&'a str, Vec<&'a str>>,
    /// Object id to the objects that `use` it (actors, campaigns, attack patterns, ...).
    used_by: HashMap<&'a str, Vec<&'a str>>,
    /// Object id to the first `report` that lists it.
    report_of: HashMap<&'a str, &'a str>,
}

impl<'a> Graph<'a> {
    fn of(objects: &[&'a Value]) -> Graph<'a> {
        let mut g = Graph {
            by_id: HashMap::new(),
            indicates: HashMap::new(),
            used_by: HashMap::new(),
            report_of: HashMap::new(),
        };
        let str_at = |o: &'a Value, k: &str| o.get(k).and_then(Value::as_str);
        for o in objects {
            let Some(id) = str_at(o, "id") else { continue };
            g.by_id.insert(id, o);
            match str_at(o, "type") {
                Some("relationship") => {
                    let (Some(from), Some(to)) = (str_at(o, "source_ref"), str_at(o, "target_ref"))
                    else {
                        continue;
                    };
                    match str_at(o, "relationship_type") {
                        Some("indicates") => g.indicates.entry(from).or_default().push(to),
                        Some("uses") => g.used_by.entry(to).or_default().push(from),
                        _ => {}
                    }
                }
                Some("report") => {
                    for r in o
                        .get("object_refs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        g.report_of.entry(r).or_insert(id);
                    }
                }
                _ => {}
            }
        }
        g
    }

    /// The threat context of indicator `o` (with id `id`).
    fn context(&self, id: &str, o: &Value, cx: &mut ContextBuilder) {
        kill_chain(o, cx);
        // Objects looked at per indicator are bounded: a bundle where every indicator points at
        // a malware that a million actors use costs each indicator `MAX_CONTEXT_VISITS`.
        let mut visits = 0usize;
        for target in self.indicates.get(id).into_iter().flatten() {
            let Some(t) = self.by_id.get(target) else {
                continue;
            };
            named(t, cx);
            // Who uses what the indicator indicates: one hop, not the whole graph.
            if matches!(
                t.get("type").and_then(Value::as_str),
                Some("malware" | "tool")
            ) {
                for user in self.used_by.get(target).into_iter().flatten() {
                    if let Some(u) = self.by_id.get(user) {
                        named(u, cx);
                    }
                    visits += 1;
                    if visits >= limits::MAX_CONTEXT_VISITS {
                        return self.report(id, cx);
                    }
                }
            }
            visits += 1;
            if visits >= limits::MAX_CONTEXT_VISITS {
                break;
            }
        }
        self.report(id, cx);
    }

    fn report(&self, id: &str, cx: &mut ContextBuilder) {
        if let Some(r) = self.report_of.get(id) {
            cx.report(r);
        }
    }
}

/// An object an indicator points at, by its type, into `cx`.
fn named(o: &Value, cx: &mut ContextBuilder) {
    let Some(name) = o.get("name").and_then(Value::as_str) else {
        return;
    };
    let kind = match o.get("type").and_then(Value::as_str) {
        Some("malware") => Named::Malware,
        Some("tool") => Named::Tool,
        Some("threat-actor" | "intrusion-set") => Named::Group,
        Some("campaign") => Named::Campaign,
        Some("attack-pattern") => {
            let id = o
                .get("external_references")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| {
                    r.get("source_name")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with("mitre"))
                })
                .and_then(|r| r.get("external_id"))
                .and_then(Value::as_str);
            cx.technique(id, Some(name));
            kill_chain(o, cx);
            return;
        }
        _ => return,
    };
    cx.add(kind, name);
}

/// The `kill_chain_phases` of `o` (an indicator or attack pattern) as tactics.
fn kill_chain(o: &Value, cx: &mut ContextBuilder) {
    for p in o
        .get("kill_chain_phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(phase) = p.get("phase_name").and_then(Value::as_str) {
            cx.add(Named::Tactic, phase);
        }
    }
}

/// The marking definitions STIX 2.1 defines for TLP 1.0.
fn standard_markings() -> HashMap<String, Tlp> {
    [
        (
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            Tlp::Clear,
        ),
        (
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            Tlp::Green,
        ),
        (
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            Tlp::Amber,
        ),
        (
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            Tlp::Red,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn indicator(
    location: &str,
    o: &Value,
    at: &str,
    markings: &HashMap<String, Tlp>,
    graph: &Graph<'_>,
    out: &mut Parsed,
) {
    let src = Src {
        location,
        line: 0,
        at: Some(at),
    };
    let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
        out.reject(
            &src,
            "",
            Reason::Malformed("indicator without a pattern".into()),
        );
        return;
    };
    let ptype = o
        .get("pattern_type")
        .and_then(Value::as_str)
        .unwrap_or("stix");
    if ptype != "stix" {
        out.reject(
            &src,
            pattern,
            Reason::Unsupported(format!("pattern_type {ptype}")),
        );
        return;
    }
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let mut meta = Meta {
        confidence: o
            .get("confidence")
            .and_then(Value::as_u64)
            .filter(|c| *c <= 100)
            .map(|c| c as u8),
        first_seen: s("valid_from").and_then(parse_time),
        valid_until: s("valid_until").and_then(parse_time),
        description: match (s("name"), s("description")) {
            (Some(n), Some(d)) => Some(format!("{n}: {d}")),
            (n, d) => n.or(d).map(str::to_owned),
        },
        ..Meta::default()
    };
    let mut all_tags = true;
    for key in ["labels", "indicator_types"] {
        if let Some(a) = o.get(key).and_then(Value::as_array) {
            for t in a.iter().filter_map(Value::as_str) {
                all_tags &= add_tag(&mut meta, t);
            }
        }
    }
    if !all_tags {
        out.skip("tags_over_limit");
    }
    if let Some(refs) = o.get("object_marking_refs").and_then(Value::as_array) {
        meta.tlp = refs
            .iter()
            .filter_map(Value::as_str)
            .find_map(|r| markings.get(r).copied());
    }
    let mut cx = ContextBuilder::default();
    graph.context(s("id").unwrap_or_default(), o, &mut cx);
    meta.context = cx.finish(out);
    let revoked = o.get("revoked").and_then(Value::as_bool).unwrap_or(false);
    match parse_pattern(pattern) {
        Err(why) => out.reject(&src, pattern, why),
        Ok(comparisons) => {
            for c in comparisons {
                match c {
                    Ok((hint, value)) => out.add_value(&src, &value, hint, Some(&meta), revoked),
                    Err((text, why)) => out.reject(&src, &text, Reason::Unsupported(why)),
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Op(String),
    Word(String),
    Str(String),
    /// A literal other than a plain string (number, `t'...'`, `h'...'`, `b'...'`, boolean).
    Other(String),
}

fn lex(p: &str) -> Result<Vec<Tok>, String> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let quoted = |i: &mut usize| -> Result<String, String> {
        // b[*i] is the opening quote.
        let mut s = String::new();
        *i += 1;
        let start = *i;
        let mut chars = p[start..].char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e)) => s.push(e),
                    None => break,
                },
                '\'' => {
                    *i = start + k + 1;
                    return Ok(s);
                }
                c => s.push(c),
            }
        }
        Err("a string literal is not closed".to_owned())
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            b']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => out.push(Tok::Str(quoted(&mut i)?)),
            b'=' | b'!' | b'<' | b'>' => {
                let two = p.get(i..i + 2).unwrap_or("");
                let op = if matches!(two, "!=" | "<=" | ">=") {
                    two
                } else {
                    &p[i..i + 1]
                };
                if op == "!" {
                    return Err("a stray `!`".into());
                }
                out.push(Tok::Op(op.to_owned()));
                i += op.len();
            }
            _ if (c == b't' || c == b'h' || c == b'b') && b.get(i + 1) == Some(&b'\'') => {
                i += 1;
                let s = quoted(&mut i)?;
                out.push(Tok::Other(format!("{}'{s}'", c as char)));
            }
            _ if c.is_ascii_digit()
                || c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Tok::Other(p[start..i].to_owned()));
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                // A keyword or an object path; a path may hold quoted keys and list indexes:
                // file:hashes.'SHA-256', email-message:to_refs[*].value
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b'\'' if b[i - 1] == b'.' => {
                            quoted(&mut i)?;
                        }
                        b'[' if b
                            .get(i + 1)
                            .is_some_and(|n| *n == b'*' || n.is_ascii_digit()) =>
                        {
                            while i < b.len() && b[i] != b']' {
                                i += 1;
                            }
                            i += 1;
                        }
                        x if x.is_ascii_alphanumeric()
                            || matches!(x, b'_' | b'-' | b':' | b'.') =>
                        {
                            i += 1
                        }
                        _ => break,
                    }
                }
                out.push(Tok::Word(p[start..i.min(b.len())].to_owned()));
            }
            _ => return Err(format!("unexpected {:?}", c as char)),
        }
    }
    Ok(out)
}

/// One comparison that can (Ok) or cannot (Err: its text and why) become a listing.
type Comparison = Result<(Hint, String), (String, String)>;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Parentheses open around the current position (at most [`limits::MAX_NESTING`]).
    depth: usize,
    /// Comparisons so far (at most [`limits::MAX_COMPARISONS`]).
    comparisons: usize,
}

/// Why a pattern is not taken: unsupported (with what), too deep or too large.
fn unsupported(why: impl Into<String>) -> Reason {
    Reason::Unsupported(why.into())
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// One more level of parentheses; refused past [`limits::MAX_NESTING`], so the
    /// recursion (two frames a level) stays far from the end of the stack.
    fn open(&mut self) -> Result<(), Reason> {
        self.depth += 1;
        if self.depth > limits::MAX_NESTING {
            return Err(Reason::TooDeep {
                limit: limits::MAX_NESTING,
            });
        }
        Ok(())
    }

    /// observation-expression: terms joined by OR (AND / FOLLOWEDBY are unsupported).
    fn observations(&mut self, out: &mut Vec<Comparison>) -> Result<(), Reason> {
        self.observation(out)?;
        loop {
            match self.keyword().as_deref() {
                Some("OR") => {
                    self.pos += 1;
                    self.observation(out)?;
                }
                Some(k @ ("AND" | "FOLLOWEDBY")) => {
                    return Err(unsupported(format!("observations joined by {k}")));
                }
                Some(k @ ("WITHIN" | "REPEATS" | "START" | "STOP")) => {
                    return Err(unsupported(format!("qualifier {k}")));
                }
                _ => return Ok(()),
            }
        }
    }

    fn observation(&mut self, out: &mut Vec<Comparison>) -> Result<(), Reason> {
        match self.next() {
            Some(Tok::LBracket) => {
                self.comparisons(out)?;
                match self.next() {
                    Some(Tok::RBracket) => Ok(()),
                    _ => Err(unsupported("`]` expected")),
                }
            }
            Some(Tok::LParen) => {
                self.open()?;
                self.observations(out)?;
                self.depth -= 1;
                match self.next() {
                    Some(Tok::RParen) => Ok(()),
                    _ => Err(unsupported("`)` expected")),
                }
            }
            _ => Err(unsupported("`[` expected")),
        }
    }

    /// comparison-expression: comparisons joined by OR (AND is unsupported).
    fn comparisons(&mut self, out: &mut Vec<Comparison>) -> Result<(), Reason> {
        self.comparison(out)?;
        loop {
            match self.keyword().as_deref() {
                Some("OR") => {
                    self.pos += 1;
                    self.comparison(out)?;
                }
                Some("AND") => return Err(unsupported("comparisons joined by AND")),
                _ => return Ok(()),
            }
        }
    }

    fn comparison(&mut self, out: &mut Vec<Comparison>) -> Result<(), Reason> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.open()?;
            self.comparisons(out)?;
            self.depth -= 1;
            return match self.next() {
                Some(Tok::RParen) => Ok(()),
                _ => Err(unsupported("`)` expected")),
            };
        }
        let path = match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => return Err(unsupported("NOT")),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("EXISTS") => {
                return Err(unsupported("EXISTS"));
            }
            Some(Tok::Word(w)) if w.contains(':') => w,
            _ => return Err(unsupported("an object path expected")),
        };
        let op = match self.next() {
            Some(Tok::Op(o)) => o,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => return Err(unsupported("NOT")),
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            _ => return Err(unsupported(format!("an operator expected after {path}"))),
        };
        let mut values = Vec::new();
        let mut literal = |t: Option<Tok>| -> Result<(), String> {
            match t {
                Some(Tok::Str(s)) => {
                    values.push(Ok(s));
                    Ok(())
                }
                Some(Tok::Other(s)) => {
                    values.push(Err(s));
                    Ok(())
                }
                Some(Tok::Word(w)) if w == "true" || w == "false" => {
                    values.push(Err(w));
                    Ok(())
                }
                _ => Err(format!("a value expected after {path} {op}")),
            }
        };
        if op == "IN" {
            if self.next() != Some(Tok::LParen) {
                return Err(unsupported("`(` expected after IN"));
            }
            loop {
                literal(self.next()).map_err(unsupported)?;
                match self.next() {
                    Some(Tok::Comma) => continue,
                    Some(Tok::RParen) => break,
                    _ => return Err(unsupported("`,` or `)` expected in IN list")),
                }
            }
        } else {
            literal(self.next()).map_err(unsupported)?;
        }
        self.comparisons += values.len();
        if self.comparisons > limits::MAX_COMPARISONS {
            return Err(Reason::TooLarge(format!(
                "a pattern with more than {} comparisons",
                limits::MAX_COMPARISONS
            )));
        }
        let hint = path_hint(&path);
        for v in values {
            let text = match &v {
                Ok(s) => format!("{path} {op} '{s}'"),
                Err(s) => format!("{path} {op} {s}"),
            };
            let c = match (hint, op.as_str(), v) {
                (None, _, _) => Err((text, format!("object path {path}"))),
                (Some(_), "=" | "IN", Ok(s)) => Ok((hint.expect("some"), s)),
                (Some(Hint::Ip), "ISSUBSET", Ok(s)) => Ok((Hint::Ip, s)),
                (Some(_), "=" | "IN" | "ISSUBSET", Err(lit)) => {
                    Err((text, format!("a non-string value {lit}")))
                }
                (Some(_), op, _) => Err((text, format!("operator {op}"))),
            };
            out.push(c);
        }
        Ok(())
    }
}

fn path_hint(path: &str) -> Option<Hint> {
    let p = path.to_ascii_lowercase();
    let hash = |key: &str| -> Option<Hint> {
        let k: String = key
            .trim_matches('\'')
            .chars()
            .filter(|c| *c != '-')
            .collect();
        match k.as_str() {
            "md5" => Some(Hint::Md5),
            "sha1" => Some(Hint::Sha1),
            "sha256" => Some(Hint::Sha256),
            _ => None,
        }
    };
    for prefix in [
        "file:hashes.",
        "x509-certificate:hashes.",
        "artifact:hashes.",
    ] {
        if let Some(k) = p.strip_prefix(prefix) {
            return hash(k);
        }
    }
    Some(match p.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" => Hint::Ip,
        "network-traffic:dst_ref.value" | "network-traffic:src_ref.value" => Hint::Any,
        "domain-name:value" => Hint::Domain,
        "url:value" => Hint::Url,
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            Hint::Email
        }
        "file:name" | "mutex:name" => Hint::Str { ci: false },
        "network-traffic:extensions.'http-request-ext'.request_header.'user-agent'" => {
            Hint::Str { ci: false }
        }
        "windows-registry-key:key" => Hint::Str { ci: true },
        _ => return None,
    })
}

/// The comparisons of a pattern, or why the whole pattern is not taken (unsupported, nested
/// deeper than [`limits::MAX_NESTING`], or over [`limits::MAX_PATTERN_BYTES`] or
/// [`limits::MAX_COMPARISONS`]).
pub(crate) fn parse_pattern(p: &str) -> Result<Vec<Comparison>, Reason> {
    if p.len() > limits::MAX_PATTERN_BYTES {
        return Err(Reason::TooLarge(format!(
            "a pattern of {} bytes (limit {})",
            p.len(),
            limits::MAX_PATTERN_BYTES
        )));
    }
    let toks = lex(p).map_err(unsupported)?;
    let mut parser = Parser {
        toks,
        pos: 0,
        depth: 0,
        comparisons: 0,
    };
    let mut out = Vec::new();
    parser.observations(&mut out)?;
    if parser.pos < parser.toks.len() {
        return Err(unsupported(match parser.keyword() {
            Some(k) => format!("qualifier or operator {k} after the observations"),
            None => "text after the pattern".into(),
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Result<Vec<Result<String, String>>, String> {
        parse_pattern(p)
            .map(|v| {
                v.into_iter()
                    .map(|c| c.map(|(_, s)| s).map_err(|(_, why)| why))
                    .collect()
            })
            .map_err(|r| match r {
                Reason::Unsupported(why) => why,
                other => other.to_string(),
            })
    }

    #[test]
    fn patterns() {
        assert_eq!(
            comps("[ipv4-addr:value = '198.51.100.1/32']"),
            Ok(vec![Ok("198.51.100.1/32".into())])
        );
        assert_eq!(
            comps("[domain-name:value = 'a.com' OR ipv4-addr:value = '1.2.3.4']"),
            Ok(vec![Ok("a.com".into()), Ok("1.2.3.4".into())])
        );
        assert_eq!(
            comps("[file:hashes.'SHA-256' = 'aa'] OR [file:hashes.MD5 = 'bb']"),
            Ok(vec![Ok("aa".into()), Ok("bb".into())])
        );
        assert_eq!(
            comps("[ipv4-addr:value ISSUBSET '10.0.0.0/8']"),
            Ok(vec![Ok("10.0.0.0/8".into())])
        );
        assert_eq!(
            comps("[url:value IN ('http://a.com/x', 'http://b.com/y')]"),
            Ok(vec![
                Ok("http://a.com/x".into()),
                Ok("http://b.com/y".into())
            ])
        );
        assert!(comps("[file:name = 'it''s']").is_err());
        assert_eq!(
            comps("[file:name = 'a\\'b.exe']"),
            Ok(vec![Ok("a'b.exe".into())])
        );
        assert_eq!(
            comps("[x509-certificate:issuer = 'CN=x' OR domain-name:value = 'a.com']"),
            Ok(vec![
                Err("object path x509-certificate:issuer".into()),
                Ok("a.com".into())
            ])
        );
        assert_eq!(
            comps("[email-message:subject MATCHES '^Invoice']"),
            Ok(vec![Err("object path email-message:subject".into())])
        );
        assert_eq!(
            comps("[url:value MATCHES '^http']"),
            Ok(vec![Err("operator MATCHES".into())])
        );
        assert_eq!(
            comps("[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'a.com']"),
            Err("comparisons joined by AND".into())
        );
        assert_eq!(
            comps("[a:b = 'x'] FOLLOWEDBY [c:d = 'y']"),
            Err("observations joined by FOLLOWEDBY".into())
        );
        assert_eq!(
            comps("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS"),
            Err("qualifier WITHIN".into())
        );
        assert_eq!(
            comps("[NOT ipv4-addr:value = '1.2.3.4']"),
            Err("NOT".into())
        );
        assert!(comps("[ipv4-addr:value = '1.2.3.4'").is_err());
        assert_eq!(
            comps("[file:size = 25]"),
            Ok(vec![Err("object path file:size".into())])
        );
        assert_eq!(
            comps("[file:name = 25]"),
            Ok(vec![Err("a non-string value 25".into())])
        );
    }

    /// A bundle of a good indicator and one whose pattern nests `depth` parentheses.
    fn deep_bundle(depth: usize, inner: &str) -> String {
        let pattern = format!("{}{}{}", "(".repeat(depth), inner, ")".repeat(depth));
        format!(
            r#"{{"type": "bundle", "objects": [
              {{"type": "indicator", "id": "indicator--deep", "pattern": "{pattern}"}},
              {{"type": "indicator", "id": "indicator--good", "pattern": "[ipv4-addr:value = '203.0.113.77']"}}
            ]}}"#
        )
    }

    #[test]
    fn deeply_nested_patterns_are_rejected_not_a_stack_overflow() {
        // 5,000 deep aborted the process with a stack overflow before the depth bound (the
        // pattern alone is ~10 KB); 100,000 deep is far past any stack.
        for depth in [5_000, 100_000] {
            for inner in [
                "[ipv4-addr:value = '198.51.100.1']",
                // Parentheses inside one observation take the other recursive path.
                "",
            ] {
                let doc = if inner.is_empty() {
                    let p = format!(
                        "[{}ipv4-addr:value = '198.51.100.1'{}]",
                        "(".repeat(depth),
                        ")".repeat(depth)
                    );
                    format!(
                        r#"{{"type": "bundle", "objects": [
                          {{"type": "indicator", "id": "indicator--deep", "pattern": "{p}"}},
                          {{"type": "indicator", "id": "indicator--good", "pattern": "[ipv4-addr:value = '203.0.113.77']"}}
                        ]}}"#
                    )
                } else {
                    deep_bundle(depth, inner)
                };
                let p = crate::ioc::feed::parse(
                    FeedFormat::Stix,
                    "deep.json",
                    doc.as_bytes(),
                    &Default::default(),
                )
                .unwrap();
                let got: Vec<String> = p.listings.iter().map(|l| l.pattern.to_string()).collect();
                assert_eq!(got, ["203.0.113.77"], "depth {depth}");
                assert_eq!(p.rejected.len(), 1);
                let r = &p.rejected[0];
                assert_eq!(
                    r.reason,
                    Reason::TooDeep {
                        limit: limits::MAX_NESTING
                    }
                );
                assert_eq!(r.reason.code(), "too_deep");
                assert_eq!(r.at.as_deref(), Some("$.objects[0] (indicator--deep)"));
                // The report keeps a bounded piece of the value, with its size.
                assert!(r.value.len() < 400, "{}", r.value.len());
                assert!(r.value.ends_with(" bytes)"), "{}", r.value);
            }
        }
    }

    #[test]
    fn nesting_up_to_the_limit_is_taken() {
        let n = limits::MAX_NESTING;
        let ok = format!(
            "{}[ipv4-addr:value = '198.51.100.1']{}",
            "(".repeat(n),
            ")".repeat(n)
        );
        assert_eq!(comps(&ok), Ok(vec![Ok("198.51.100.1".into())]));
        let over = format!("({ok})");
        assert_eq!(comps(&over), Err(format!("nested deeper than {n} levels")));
        let inner = format!(
            "[{}ipv4-addr:value = '198.51.100.1'{}]",
            "(".repeat(n),
            ")".repeat(n)
        );
        assert_eq!(comps(&inner), Ok(vec![Ok("198.51.100.1".into())]));
        let inner_over = format!(
            "[{}ipv4-addr:value = '198.51.100.1'{}]",
            "(".repeat(n + 1),
            ")".repeat(n + 1)
        );
        assert!(matches!(
            parse_pattern(&inner_over),
            Err(Reason::TooDeep { .. })
        ));
    }

    #[test]
    fn patterns_over_the_count_and_size_limits_are_too_large() {
        let term = "ipv4-addr:value = '198.51.100.1'";
        let at_limit = vec![term; limits::MAX_COMPARISONS].join(" OR ");
        assert_eq!(
            parse_pattern(&format!("[{at_limit}]")).unwrap().len(),
            limits::MAX_COMPARISONS
        );
        let over = format!("[{at_limit} OR {term}]");
        let e = parse_pattern(&over).unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert!(e.to_string().contains("more than 4096 comparisons"), "{e}");
        // IN list values count too.
        let list = vec!["'198.51.100.1'"; limits::MAX_COMPARISONS + 1].join(",");
        let e = parse_pattern(&format!("[ipv4-addr:value IN ({list})]")).unwrap_err();
        assert_eq!(e.code(), "too_large");
        // A million OR terms: refused by size before it is even lexed.
        let million = format!("[{}]", vec![term; 1_000_000].join(" OR "));
        let e = parse_pattern(&million).unwrap_err();
        assert_eq!(e.code(), "too_large");
        assert!(e.to_string().contains("bytes (limit 1048576)"), "{e}");
    }

    #[test]
    fn metadata_shared_by_many_comparisons_is_capped() {
        let labels: Vec<String> = (0..10_000).map(|i| format!("\"label-{i}\"")).collect();
        let doc = format!(
            r#"{{"type": "bundle", "objects": [{{"type": "indicator", "id": "indicator--1",
              "name": "{}", "labels": [{}],
              "pattern": "[domain-name:value = 'a.example.org' OR domain-name:value = 'b.example.org']"}}]}}"#,
            "n".repeat(100_000),
            labels.join(",")
        );
        let p = parse("m.json", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 2);
        for l in &p.listings {
            let m = l.meta.as_ref().unwrap();
            assert_eq!(m.tags.len(), limits::MAX_TAGS);
            assert_eq!(m.tags[0], "label-0");
            assert_eq!(
                m.description.as_ref().unwrap().len(),
                limits::MAX_DESCRIPTION_BYTES
            );
        }
        assert_eq!(p.skipped.get("tags_over_limit"), Some(&1));
        assert_eq!(p.skipped.get("meta_truncated"), Some(&2));
    }

    #[test]
    fn json_nested_past_serde_json_limit_is_a_feed_error() {
        let doc = format!(
            r#"{{"type": "bundle", "objects": [{}{}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = parse("j.json", doc.as_bytes()).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e}");
    }

    #[test]
    fn indicates_relationships_give_threat_context_and_reports() {
        let doc = r#"{"type": "bundle", "id": "bundle--2", "objects": [
          {"type": "indicator", "id": "indicator--a", "pattern": "[ipv4-addr:value = '203.0.113.1' OR ipv4-addr:value = '203.0.113.2']",
           "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}]},
          {"type": "indicator", "id": "indicator--b", "pattern": "[domain-name:value = 'lonely.example']"},
          {"type": "malware", "id": "malware--p", "name": "Poison Ivy", "is_family": true},
          {"type": "threat-actor", "id": "threat-actor--1", "name": "APT1"},
          {"type": "intrusion-set", "id": "intrusion-set--1", "name": "Comment Crew"},
          {"type": "campaign", "id": "campaign--1", "name": "Nitro"},
          {"type": "tool", "id": "tool--1", "name": "gsecdump"},
          {"type": "attack-pattern", "id": "attack-pattern--1", "name": "Spearphishing Attachment",
           "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"},
                                   {"source_name": "mitre-attack", "external_id": "T1566.001"}],
           "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]},
          {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "malware--p"},
          {"type": "relationship", "id": "relationship--2", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "campaign--1"},
          {"type": "relationship", "id": "relationship--3", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "attack-pattern--1"},
          {"type": "relationship", "id": "relationship--4", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "tool--1"},
          {"type": "relationship", "id": "relationship--5", "relationship_type": "uses", "source_ref": "threat-actor--1", "target_ref": "malware--p"},
          {"type": "relationship", "id": "relationship--6", "relationship_type": "uses", "source_ref": "intrusion-set--1", "target_ref": "tool--1"},
          {"type": "relationship", "id": "relationship--7", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "malware--missing"},
          {"type": "report", "id": "report--r", "name": "APT1 report", "object_refs": ["indicator--a", "malware--p"]}
        ]}"#;
        let p = parse("b.json", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 3);
        let cx = p.context(0);
        assert_eq!(cx.malware, vec!["Poison Ivy"]);
        assert_eq!(cx.tools, vec!["gsecdump"]);
        assert_eq!(cx.groups, vec!["APT1", "Comment Crew"]);
        assert_eq!(cx.campaigns, vec!["Nitro"]);
        assert_eq!(
            cx.techniques,
            vec![iocd_engine::Technique {
                id: Some("T1566.001".into()),
                name: Some("Spearphishing Attachment".into())
            }]
        );
        assert_eq!(cx.tactics, vec!["command-and-control", "initial-access"]);
        assert_eq!(cx.report.as_deref(), Some("report--r"));
        // Both values of the pattern share the record's context.
        let second = p.context(1);
        assert!(std::sync::Arc::ptr_eq(&cx, &second));
        // An indicator nothing points from has none.
        assert!(
            p.listings[2]
                .meta
                .as_ref()
                .is_none_or(|m| m.context.is_none())
        );
    }

    #[test]
    fn context_of_a_hostile_graph_is_bounded() {
        // Every indicator indicates one malware that thousands of actors use: each indicator
        // looks at a bounded number of them and keeps at most MAX_CONTEXT_NAMES.
        let mut objects =
            vec![r#"{"type": "malware", "id": "malware--m", "name": "M"}"#.to_owned()];
        for i in 0..3000 {
            objects.push(format!(
                r#"{{"type": "threat-actor", "id": "threat-actor--{i}", "name": "actor {i}"}}"#
            ));
            objects.push(format!(r#"{{"type": "relationship", "relationship_type": "uses", "id": "relationship--u{i}", "source_ref": "threat-actor--{i}", "target_ref": "malware--m"}}"#));
        }
        for i in 0..200 {
            objects.push(format!(r#"{{"type": "indicator", "id": "indicator--{i}", "pattern": "[ipv4-addr:value = '198.51.100.{}']"}}"#, i % 250));
            objects.push(format!(r#"{{"type": "relationship", "relationship_type": "indicates", "id": "relationship--i{i}", "source_ref": "indicator--{i}", "target_ref": "malware--m"}}"#));
        }
        let doc = format!(
            r#"{{"type": "bundle", "id": "bundle--h", "objects": [{}]}}"#,
            objects.join(",")
        );
        let p = parse("h.json", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 200);
        let cx = p.context(0);
        assert_eq!(cx.malware, vec!["M"]);
        assert_eq!(cx.groups.len(), limits::MAX_CONTEXT_NAMES);
        assert_eq!(p.skipped.get("context_over_limit"), Some(&200));
    }

    #[test]
    fn bundle_metadata_lifecycle_and_reports() {
        let doc = r#"{"type": "bundle", "id": "bundle--1", "objects": [
          {"type": "marking-definition", "id": "marking-definition--x", "definition_type": "tlp", "name": "TLP:AMBER", "definition": {"tlp": "amber"}},
          {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '203.0.114.7']",
           "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z",
           "confidence": 80, "indicator_types": ["malicious-activity"], "name": "C2",
           "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]},
          {"type": "indicator", "id": "indicator--2", "pattern": "[domain-name:value = 'evil.com']",
           "revoked": true, "object_marking_refs": ["marking-definition--x"]},
          {"type": "indicator", "id": "indicator--3", "pattern": "alert tcp any any", "pattern_type": "snort"},
          {"type": "indicator", "id": "indicator--4", "pattern": "[a:b = 'x'] AND [c:d = 'y']"},
          {"type": "malware", "id": "malware--1", "name": "x"}
        ]}"#;
        let p = parse("b.json", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 2);
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.confidence, Some(80));
        assert_eq!(m.first_seen, Some(1577836800));
        assert_eq!(m.valid_until, Some(1609459200));
        assert_eq!(m.tlp, Some(Tlp::Green));
        assert_eq!(m.tags, vec!["malicious-activity"]);
        assert_eq!(m.description.as_deref(), Some("C2"));
        assert!(p.listings[1].revoked);
        assert_eq!(p.listings[1].meta.as_ref().unwrap().tlp, Some(Tlp::Amber));
        let rej: Vec<String> = p.rejected.iter().map(|r| r.to_string()).collect();
        assert_eq!(rej.len(), 2);
        assert!(
            rej[0].contains("$.objects[3] (indicator--3)") && rej[0].contains("pattern_type snort"),
            "{}",
            rej[0]
        );
        assert!(rej[1].contains("observations joined by AND"), "{}", rej[1]);
    }
}
