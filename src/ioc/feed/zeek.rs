//! Zeek intel files: tab-separated, columns named by a `#fields` line.
//!
//! `indicator` and `indicator_type` (`Intel::ADDR`, `Intel::SUBNET`, `Intel::DOMAIN`,
//! `Intel::URL`, `Intel::EMAIL`, `Intel::FILE_HASH`, `Intel::CERT_HASH`, `Intel::SOFTWARE`,
//! `Intel::FILE_NAME`, `Intel::USER_NAME`) are required; `meta.*` columns give the metadata:
//! `meta.source` (a tag), `meta.desc` and `meta.url` (the description), `meta.confidence` /
//! `meta.cif_confidence`, `meta.severity`, `meta.tags` / `meta.cif_tags`, `meta.first_seen` /
//! `meta.cif_firstseen`, `meta.last_seen` / `meta.cif_lastseen`, `meta.valid_until`,
//! `meta.tlp`. `-` is an unset field, `(empty)` an empty one.

use std::collections::HashMap;

use super::{
    FeedError, FeedFormat, Parsed, Src, hint_for_type, parse_score, parse_time, parse_tlp,
};
use crate::ioc::Reason;
use iocd_engine::Meta;

pub(crate) fn parse(location: &str, bytes: &[u8]) -> Result<Parsed, FeedError> {
    let mut out = Parsed::new(FeedFormat::Zeek, bytes.len());
    // Column of each field name (its first occurrence), found once per `#fields` line: a row
    // asks for ~15 names, so a header of 100,000 names must not be scanned for each.
    let mut fields: Option<HashMap<String, usize>> = None;
    let mut sep = "\t".to_owned();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let src = Src {
            location,
            line,
            at: None,
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        if text.trim().is_empty() {
            continue;
        }
        if let Some(rest) = text.strip_prefix("#separator") {
            let s = rest.trim();
            sep = match s
                .strip_prefix("\\x")
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => (b as char).to_string(),
                None if !s.is_empty() => s.to_owned(),
                None => "\t".to_owned(),
            };
            continue;
        }
        if let Some(rest) = text.strip_prefix("#fields") {
            let names: Vec<String> = rest
                .trim_start_matches([' ', '\t'])
                .split(sep.as_str())
                .map(|s| s.trim().to_owned())
                .collect();
            if !names.iter().any(|n| n == "indicator") {
                return Err(FeedError::new(
                    location,
                    format!("line {line}: #fields has no `indicator` column"),
                ));
            }
            let mut index = HashMap::with_capacity(names.len());
            for (i, n) in names.into_iter().enumerate() {
                index.entry(n).or_insert(i);
            }
            fields = Some(index);
            continue;
        }
        if text.starts_with('#') {
            continue;
        }
        let Some(names) = &fields else {
            return Err(FeedError::new(
                location,
                format!("line {line}: a record before the #fields header"),
            ));
        };
        let cols: Vec<&str> = text.split(sep.as_str()).collect();
        let get = |name: &str| -> Option<String> {
            let i = *names.get(name)?;
            let v = cols.get(i)?.trim();
            (!v.is_empty() && v != "-" && v != "(empty)").then(|| v.to_owned())
        };
        let Some(value) = get("indicator") else {
            out.reject(
                &src,
                &text,
                Reason::Malformed(format!("{} fields and no indicator", cols.len())),
            );
            continue;
        };
        let Some(kind) = get("indicator_type") else {
            out.reject(&src, &value, Reason::Malformed("no indicator_type".into()));
            continue;
        };
        let Some(hint) = hint_for_type(&kind) else {
            out.reject(
                &src,
                &value,
                Reason::Unsupported(format!("indicator type {kind}")),
            );
            continue;
        };
        let mut meta = Meta {
            severity: get("meta.severity").and_then(|s| parse_score(&s)),
            first_seen: get("meta.first_seen")
                .or_else(|| get("meta.cif_firstseen"))
                .and_then(|s| parse_time(&s)),
            last_seen: get("meta.last_seen")
                .or_else(|| get("meta.cif_lastseen"))
                .and_then(|s| parse_time(&s)),
            valid_until: get("meta.valid_until").and_then(|s| parse_time(&s)),
            tlp: get("meta.tlp").and_then(|s| parse_tlp(&s)),
            ..Meta::default()
        };
        meta.confidence = match (get("meta.confidence"), get("meta.cif_confidence")) {
            (Some(c), _) => parse_score(&c),
            // CIF writes confidence 0-10.
            (None, Some(c)) => c
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=10.0).contains(v))
                .map(|v| (v * 10.0).round() as u8),
            (None, None) => None,
        };
        meta.description = match (get("meta.desc"), get("meta.url")) {
            (Some(d), Some(u)) => Some(format!("{d} ({u})")),
            (d, u) => d.or(u),
        };
        if let Some(s) = get("meta.source") {
            meta.tags.push(s);
        }
        for t in [get("meta.tags"), get("meta.cif_tags")]
            .into_iter()
            .flatten()
        {
            meta.tags.extend(
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
        out.add_value(&src, &value, hint, Some(&meta), false);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_engine::Pattern;

    #[test]
    fn a_wide_header_is_indexed_once() {
        // 50,000 field names, then 100,000 one-byte rows: scanning the header for each field a
        // row asks for was 5 billion comparisons (minutes); indexed once, a blink.
        let mut text = String::from("#fields");
        for i in 0..50_000 {
            text.push_str(&format!("\tx{i}"));
        }
        text.push_str("\tindicator\tindicator_type\n");
        text.push_str(&"x\n".repeat(100_000));
        let t = std::time::Instant::now();
        let p = parse("w.intel", text.as_bytes()).unwrap();
        assert_eq!(p.rejected.len(), 100_000);
        assert_eq!(p.rejected[0].reason.code(), "malformed");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn intel_file() {
        let text = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\tmeta.cif_confidence\n\
            1.2.3.4\tIntel::ADDR\tfeedx\tC2 server\t-\t8.5\n\
            evil.com\tIntel::DOMAIN\tfeedx\t-\thttp://ref/1\t-\n\
            evil.com/a.php\tIntel::URL\tfeedx\t-\t-\t-\n\
            abc\tIntel::PUBKEY_HASH\tfeedx\t-\t-\t-\n\
            d41d8cd98f00b204e9800998ecf8427e\tIntel::ADDR\tfeedx\t-\t-\t-\n\
            \tIntel::ADDR\n";
        let p = parse("i.intel", text.as_bytes()).unwrap();
        let got: Vec<(String, u32)> = p
            .listings
            .iter()
            .filter(|l| !l.twin)
            .map(|l| (l.pattern.to_string(), l.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("1.2.3.4".into(), 2),
                ("evil.com".into(), 3),
                ("http://evil.com/a.php".into(), 4)
            ]
        );
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.confidence, Some(85));
        assert_eq!(m.tags, vec!["feedx"]);
        assert_eq!(m.description.as_deref(), Some("C2 server"));
        assert!(matches!(p.listings[1].pattern, Pattern::Domain { .. }));
        let rej: Vec<_> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.code()))
            .collect();
        assert_eq!(
            rej,
            vec![(5, "unsupported"), (6, "type_mismatch"), (7, "malformed")]
        );
    }

    #[test]
    fn record_before_header_is_a_feed_error() {
        assert!(parse("i", b"1.2.3.4\tIntel::ADDR\n").is_err());
    }
}
