use super::index::fp;
use super::vocab::{ioc_v6, ipv6_variant, strict_v4};
use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::net::Ipv6Addr;

fn spec(seed: u64) -> CorpusSpec {
    CorpusSpec {
        seed,
        indicators: 5_000,
        target_bytes: 3 << 20,
    }
}

fn generate(seed: u64) -> (IndicatorSet, Vec<u8>, Truth) {
    let s = spec(seed);
    let set = indicators(&s);
    let mut buf = Vec::new();
    let truth = write_corpus(&s, &set, &mut buf).unwrap();
    (set, buf, truth)
}

#[test]
fn same_seed_same_bytes() {
    let (a_set, a, a_truth) = generate(7);
    let (b_set, b, b_truth) = generate(7);
    assert_eq!(a_set.plain_list(), b_set.plain_list());
    assert_eq!(a, b);
    assert_eq!(a_truth.hits, b_truth.hits);
    assert_eq!(a_truth.traps, b_truth.traps);
    let (c_set, c, _) = generate(8);
    assert_ne!(a_set.plain_list(), c_set.plain_list());
    assert_ne!(a, c);
}

#[test]
fn set_has_the_mix() {
    let set = indicators(&spec(1));
    assert_eq!(set.len(), 5_000);
    for k in Kind::ALL {
        assert!(set.count(k) > 0, "no {k:?}");
    }
    assert!(set.ipv4.len() * 100 / set.len() >= 45);
    let lines: Vec<&str> = set
        .plain_list()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.len(), 5_000);
    assert!(set.messy_lines() > 30 && set.messy_lines() < 250);
    assert!(lines.iter().any(|l| l.contains("[.]")));
    assert!(lines.iter().any(|l| l.contains(" # ")));
    assert!(lines.iter().any(|l| l.starts_with("domain-exact:")));
    assert!(lines.iter().any(|l| l.starts_with("url-prefix:")));
    assert!(lines.iter().any(|l| l.starts_with("istring:")));
    for ip in &set.ipv4 {
        assert!(!ip.is_private() && !ip.is_loopback());
    }
    assert!(set.literals().lines().count() == 5_000 - set.cidr4.len() - set.cidr6.len());
    assert!(!set.cidr_list().contains(':'));
}

#[test]
fn truth_is_recorded_and_written() {
    let (_, buf, truth) = generate(3);
    let text = std::str::from_utf8(&buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, truth.lines);
    assert_eq!(buf.len() as u64, truth.bytes);
    let n = truth.lines as usize;
    // ~0.5% each
    assert!(
        truth.hits.len() > n / 400 && truth.hits.len() < n / 100,
        "{}",
        truth.hits.len()
    );
    assert!(truth.traps.len() > n / 400 && truth.traps.len() < n / 100);
    for h in &truth.hits {
        assert!(lines[h.line as usize - 1].contains(&h.token), "{h:?}");
    }
    for t in &truth.traps {
        assert!(lines[t.line as usize - 1].contains(&t.token), "{t:?}");
        assert!(
            t.token.to_ascii_lowercase().contains(&t.indicator),
            "trap must contain its indicator: {t:?}"
        );
    }
    let kinds: std::collections::BTreeSet<Kind> = truth.hits.iter().map(|h| h.kind).collect();
    assert!(kinds.len() >= 10, "{kinds:?}");
    let mut hit_lines: Vec<u64> = truth.hits.iter().map(|h| h.line).collect();
    hit_lines.extend(truth.traps.iter().map(|t| t.line));
    let len = hit_lines.len();
    hit_lines.sort_unstable();
    hit_lines.dedup();
    assert_eq!(hit_lines.len(), len, "one planted token per line");
}

#[test]
fn every_format_is_there_and_lines_are_realistic() {
    let (_, buf, truth) = generate(5);
    for (name, count) in &truth.formats {
        assert!(*count > truth.lines / 40, "{name}: {count}");
    }
    let avg = truth.bytes / truth.lines;
    assert!((230..=320).contains(&avg), "average line {avg} bytes");
    assert!(!buf.contains(&b'\r'));
    assert!(std::str::from_utf8(&buf).is_ok());
}

/// A slow reference matcher for the contract, good enough for generated lines: does
/// `line` contain a token that matches an indicator of `set`?
fn reference_hits(set: &IndicatorSet, line: &str) -> Vec<String> {
    let idx = &set.idx;
    let mut hits = Vec::new();
    let split = |keep: fn(char) -> bool| {
        line.split(move |c: char| !keep(c))
            .filter(|t| !t.is_empty())
    };
    for tok in split(|c| c.is_ascii_digit() || c == '.') {
        if strict_v4(tok).is_some_and(|ip| idx.v4_hit(ip)) {
            hits.push(format!("ipv4 {tok}"));
        }
    }
    for tok in split(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
        if tok.contains(':')
            && let Ok(ip) = tok.parse::<Ipv6Addr>()
            && idx.v6_hit(ip.into())
        {
            hits.push(format!("ipv6 {tok}"));
        }
    }
    for tok in split(|c| c.is_ascii_hexdigit()) {
        if matches!(tok.len(), 32 | 40 | 64) && idx.hashes.contains(&fp(&tok.to_ascii_lowercase()))
        {
            hits.push(format!("hash {tok}"));
        }
    }
    for tok in split(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_') {
        let d = tok.trim_end_matches('.').to_ascii_lowercase();
        if d.contains('.') && idx.domain_hit(&d) {
            hits.push(format!("domain {tok}"));
        }
    }
    for tok in split(|c| c.is_ascii_alphanumeric() || ".-_+@".contains(c)) {
        if let Some((l, d)) = tok.split_once('@') {
            let e = format!("{l}@{}", d.to_ascii_lowercase());
            if idx.emails.contains(&fp(&e)) {
                hits.push(format!("email {tok}"));
            }
        }
    }
    let lower = line.to_ascii_lowercase();
    for (i, _) in lower.match_indices("://") {
        let start = lower[..i]
            .rfind(|c: char| !c.is_ascii_alphabetic())
            .map_or(0, |j| j + 1);
        let end = line[i..]
            .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .map_or(line.len(), |j| i + j);
        let raw = &line[start..end];
        let (scheme, rest) = raw.split_once("://").unwrap();
        let scheme = scheme.to_ascii_lowercase();
        let cut = rest.find('/').unwrap_or(rest.len());
        let mut host = rest[..cut].to_ascii_lowercase();
        for dflt in [":80", ":443"] {
            if host.ends_with(dflt) && (dflt == ":80") == (scheme == "http") {
                host.truncate(host.len() - dflt.len());
            }
        }
        let mut path = String::new();
        let p = &rest[cut..];
        let mut k = 0;
        while k < p.len() {
            if p.as_bytes()[k] == b'%'
                && k + 3 <= p.len()
                && let Ok(v) = u8::from_str_radix(&p[k + 1..k + 3], 16)
                && (v.is_ascii_alphanumeric() || b"-._~".contains(&v))
            {
                path.push(v as char);
                k += 3;
                continue;
            }
            path.push(p.as_bytes()[k] as char);
            k += 1;
        }
        let url = format!("{scheme}://{host}{path}");
        if idx.urls.contains(&fp(&url)) && set.urls.contains(&url) {
            hits.push(format!("url {raw}"));
        }
        if set.url_prefixes.iter().any(|u| url.starts_with(u.as_str())) {
            hits.push(format!("url-prefix {raw}"));
        }
    }
    for s in &set.strings {
        if line.contains(s.as_str()) {
            hits.push(format!("string {s}"));
        }
    }
    for s in &set.istrings {
        if lower.contains(&s.to_ascii_lowercase()) {
            hits.push(format!("istring {s}"));
        }
    }
    hits
}

#[test]
fn only_planted_lines_match() {
    for seed in [9, 10] {
        let (set, buf, truth) = generate(seed);
        let text = std::str::from_utf8(&buf).unwrap();
        let planted: std::collections::HashMap<u64, &TrueHit> =
            truth.hits.iter().map(|h| (h.line, h)).collect();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let hits = reference_hits(&set, line);
            match planted.get(&line_no) {
                Some(h) => assert!(
                    !hits.is_empty(),
                    "planted line {line_no} does not match: {h:?}\n{line}"
                ),
                None => assert!(hits.is_empty(), "line {line_no} matches {hits:?}:\n{line}"),
            }
        }
    }
}

#[test]
fn ipv6_variants_parse_to_the_same_address() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..2000 {
        let ip = ioc_v6(&mut rng);
        let v = ipv6_variant(&mut rng, ip);
        assert_eq!(v.parse::<Ipv6Addr>().map(u128::from), Ok(ip), "{v}");
    }
}
