//! CEF: an alert as one ArcSight Common Event Format line, rendered from the typed alert
//! ([`Finding`]).
//!
//! One line: `CEF:0|iocd|iocd|<version>|<rule.id>|<name>|<severity 0-10>|<extension>` (the
//! signature id is the ECS `rule.id`, `iocd.match.ipv4`, `iocd.rollup`...), the header escaped (`\|`, `\\`), extension values escaped (`\=`, `\\`, `\n`, `\r`), standard keys
//! where the alert has the field (`rt src spt dst dpt shost dhost request fileHash act
//! deviceDirection dvchost externalId msg`) and labelled custom ones (`cs1` indicator, `cs2`
//! indicator type, `cs3` feeds, `cs4` matched field, `cs5` priority, `cs6` malware,
//! `flexString1` threat actors, `flexString2` ATT&CK technique ids, `cn1` score). `msg` (the
//! original line) is cut at 1023 characters, the length ArcSight keeps. CEF is a line format:
//! HTTP sinks refuse it at validation.

use super::finding::Finding;
use super::ocsf::{PRODUCT, VERSION};

/// `msg` longer than this is cut (ArcSight's limit for the field).
const CEF_MSG_MAX: usize = 1023;

/// CEF severity (0-10) of iocd's priority; 5, the middle, when the alert has none.
fn cef_severity(f: &Finding) -> u8 {
    match f.severity_id() {
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

/// The alert as one CEF line (no line feed).
pub fn cef(f: &Finding) -> String {
    let m = &f.matches;
    let mut ext: Vec<(&str, String)> = Vec::new();
    let mut add = |k: &'static str, val: Option<String>| {
        if let Some(val) = val.filter(|s| !s.is_empty()) {
            ext.push((k, val));
        }
    };
    add("rt", Some(f.time_ms().to_string()));
    add("externalId", Some(f.id.clone()));
    add("cat", Some("threat-indicator-match".to_owned()));
    add("src", f.source.ip.map(|i| i.to_string()));
    add("spt", f.source.port.map(|p| p.to_string()));
    add("shost", f.source.domain.clone());
    add("dst", f.destination.ip.map(|i| i.to_string()));
    add("dpt", f.destination.port.map(|p| p.to_string()));
    add(
        "dhost",
        f.destination
            .domain
            .clone()
            .or_else(|| f.url_domain.clone())
            .or_else(|| f.dns_question.clone()),
    );
    add(
        "request",
        f.url_original.clone().or_else(|| {
            m.iter()
                .find(|x| x.kind_str() == "url")
                .and_then(|x| x.atomic.clone())
        }),
    );
    add(
        "fileHash",
        m.iter()
            .find(|x| matches!(x.kind_str(), "md5" | "sha1" | "sha256"))
            .and_then(|x| x.atomic.clone()),
    );
    add("act", f.action.map(str::to_owned));
    add(
        "deviceDirection",
        f.direction.and_then(|d| match d {
            "inbound" | "ingress" => Some("0".to_owned()),
            "outbound" | "egress" => Some("1".to_owned()),
            _ => None,
        }),
    );
    add("dvchost", f.hostname.clone());
    let join = |g: &dyn Fn(&super::finding::Matched) -> Option<String>| {
        let mut parts: Vec<String> = Vec::new();
        for x in m {
            if let Some(p) = g(x)
                && !parts.contains(&p)
            {
                parts.push(p);
            }
        }
        (!parts.is_empty()).then(|| parts.join(","))
    };
    let indicators = join(&|x| Some(x.indicator.clone()));
    let kinds = join(&|x| Some(x.kind_str().to_owned()));
    let feeds = join(&|x| (!x.providers.is_empty()).then(|| x.providers.join(",")));
    let fields = join(&|x| x.field.clone());
    for (k, label_key, label, value) in [
        ("cs1", "cs1Label", "indicator", indicators),
        ("cs2", "cs2Label", "indicatorType", kinds),
        ("cs3", "cs3Label", "feeds", feeds),
        ("cs4", "cs4Label", "matchedField", fields),
        (
            "cs5",
            "cs5Label",
            "priority",
            f.priority.map(|p| p.as_str().to_owned()),
        ),
        (
            "cs6",
            "cs6Label",
            "malware",
            (!f.threat.malware.is_empty()).then(|| f.threat.malware.join(",")),
        ),
        (
            "flexString1",
            "flexString1Label",
            "threatActor",
            (!f.threat.groups.is_empty()).then(|| f.threat.groups.join(",")),
        ),
        ("flexString2", "flexString2Label", "attackTechnique", {
            let ids: Vec<&str> = f
                .threat
                .techniques
                .iter()
                .filter_map(|(id, _)| id.as_deref())
                .collect();
            (!ids.is_empty()).then(|| ids.join(","))
        }),
    ] {
        if value.is_some() {
            add(k, value);
            add(label_key, Some(label.to_owned()));
        }
    }
    if let Some(score) = f.score {
        add("cn1", Some((score.round() as i64).to_string()));
        add("cn1Label", Some("score".to_owned()));
    }
    add("cnt", f.count.map(|n| n.to_string()));
    for (t, key) in [(&f.start, "start"), (&f.end, "end")] {
        add(
            key,
            super::finding::epoch_ms(t.as_deref()).map(|ms| ms.to_string()),
        );
    }
    add(
        "msg",
        f.original
            .clone()
            .or_else(|| f.message.clone())
            .map(|s| s.chars().take(CEF_MSG_MAX).collect()),
    );

    let mut line = format!(
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        cef_escape_header(PRODUCT),
        cef_escape_header(PRODUCT),
        cef_escape_header(VERSION),
        cef_escape_header(&f.rule_id),
        cef_escape_header(&f.title()),
        cef_severity(f),
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
}
