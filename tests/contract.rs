//! The matching contract as a table: the case files `tests/cases/*.txt` give indicators, log
//! lines and, for each line, exactly what must be found. Every line runs through the engine
//! and through the naive oracle (`crates/testkit/src/oracle`), and both must equal the annotation.
//!
//! # Case file format
//!
//! One directive per line; `#` starts a comment line; blank lines are ignored.
//!
//! ```text
//! case: NAME              starts a case (indicators do not carry over between cases)
//! ioc: TEXT               an indicator, as `parse_indicator` reads it (must parse)
//! feed: TEXT              one line of a plain-list feed; a case's feed lines form one feed
//! rejects: N              how many feed lines the loader must reject (default 0)
//! log: TEXT               a log buffer, usually one line
//! hit: TOKEN | INDICATOR  expected: the bytes TOKEN of the log matched INDICATOR (its
//!                         canonical text); `| INDICATOR` may be left out when the case has
//!                         a single indicator
//! none                    expected: nothing at all
//! ```
//!
//! Every `log:` is followed by its `hit:` lines or by `none`. `TEXT` and `TOKEN` take escapes:
//! `\t`, `\r`, `\n`, `\0`, `\s` (a space, for trailing ones), `\\` and `\xNN`; any other
//! backslash stays as it is (so the defanged `evil\.com` needs no escaping).

use iocd_testkit::oracle;

use std::fmt::Write as _;
use std::path::Path;

use iocd::ioc::{SetBuilder, parse_indicator};
use iocd_engine::Pattern;
use oracle::{Oracle, compile, patterns_of};

#[derive(Debug, Default)]
struct Case {
    name: String,
    at: String,
    iocs: Vec<(String, String)>,
    feed: Vec<u8>,
    rejects: usize,
    logs: Vec<Log>,
}

#[derive(Debug)]
struct Log {
    at: String,
    text: Vec<u8>,
    /// (token, indicator text or `None` for "the case's only indicator").
    hits: Vec<(Vec<u8>, Option<String>)>,
    annotated: bool,
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let esc = match b[i + 1] {
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'n' => Some(b'\n'),
                b'0' => Some(0),
                b's' => Some(b' '),
                b'\\' => Some(b'\\'),
                b'x' if i + 3 < b.len() => std::str::from_utf8(&b[i + 2..i + 4])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .inspect(|_| i += 2),
                _ => None,
            };
            if let Some(v) = esc {
                out.push(v);
                i += 2;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn parse_file(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut cases: Vec<Case> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = format!("{file}:{}", n + 1);
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(':') {
            Some((k, v)) if !k.contains(' ') => (k, v.strip_prefix(' ').unwrap_or(v)),
            _ => (line.trim(), ""),
        };
        if key == "case" {
            cases.push(Case {
                name: value.to_owned(),
                at: at.clone(),
                ..Case::default()
            });
            continue;
        }
        let case = cases
            .last_mut()
            .unwrap_or_else(|| panic!("{at}: `{key}` before any `case:`"));
        match key {
            "ioc" => case.iocs.push((at, value.to_owned())),
            "feed" => {
                case.feed.extend(unescape(value));
                case.feed.push(b'\n');
            }
            "rejects" => case.rejects = value.trim().parse().expect("rejects: N"),
            "log" => case.logs.push(Log {
                at,
                text: unescape(value),
                hits: Vec::new(),
                annotated: false,
            }),
            "hit" | "none" => {
                let log = case
                    .logs
                    .last_mut()
                    .unwrap_or_else(|| panic!("{at}: `{key}` before any `log:`"));
                log.annotated = true;
                if key == "hit" {
                    let (tok, ind) = match value.split_once(" | ") {
                        Some((t, i)) => (t, Some(show(&unescape(i.trim())))),
                        None => (value, None),
                    };
                    log.hits.push((unescape(tok), ind));
                }
            }
            other => panic!("{at}: unknown directive `{other}`"),
        }
    }
    for c in &cases {
        for l in &c.logs {
            assert!(l.annotated, "{}: log without `hit:` or `none`", l.at);
        }
    }
    cases
}

type Pairs = Vec<(String, String)>;

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs one case; returns its failures as text.
fn run_case(case: &Case) -> String {
    let mut failures = String::new();
    let mut pats: Vec<Pattern> = Vec::new();
    for (at, raw) in &case.iocs {
        match parse_indicator(raw) {
            Ok(p) => pats.push(p),
            Err(e) => {
                let _ = writeln!(failures, "{at}: indicator {raw:?} does not parse: {e}");
            }
        }
    }
    if !case.feed.is_empty() {
        let mut b = SetBuilder::new();
        let rejected = b.add_plain_list(&case.name, "case-feed", &case.feed);
        if rejected.len() != case.rejects {
            let _ = writeln!(
                failures,
                "{}: [{}] feed: {} lines rejected, expected {}: {:?}",
                case.at,
                case.name,
                rejected.len(),
                case.rejects,
                rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>()
            );
        }
        pats.extend(patterns_of(&b.build()));
    }
    let set = compile(&pats);
    let patterns = patterns_of(&set);
    let only = (patterns.len() == 1).then(|| patterns[0].to_string());
    let oracle = Oracle::new(patterns.iter().cloned());
    for log in &case.logs {
        let hay = &log.text;
        let mut want: Pairs = Vec::new();
        for (tok, ind) in &log.hits {
            let ind = match (ind, &only) {
                (Some(i), _) => i.clone(),
                (None, Some(o)) => o.clone(),
                (None, None) => {
                    let _ = writeln!(
                        failures,
                        "{}: `hit:` needs `| INDICATOR`: the case has {} indicators",
                        log.at,
                        patterns.len()
                    );
                    continue;
                }
            };
            want.push((show(tok), ind));
        }
        want.sort();
        let mut hits = Vec::new();
        set.scan(hay, &mut iocd::Scratch::new(), &mut hits);
        let mut engine: Pairs = hits
            .iter()
            .map(|h| (show(&hay[h.start..h.end]), set.pattern(h.id).to_string()))
            .collect();
        engine.sort();
        let mut naive: Pairs = oracle
            .scan(hay)
            .into_iter()
            .map(|(s, e, label)| {
                let text = label.split_once(':').map_or(label.as_str(), |(_, t)| t);
                (show(&hay[s..e]), text.to_owned())
            })
            .collect();
        naive.sort();
        for (who, got) in [("engine", &engine), ("oracle", &naive)] {
            if *got != want {
                let _ = writeln!(
                    failures,
                    "{}: [{}] {who} on {:?}\n    found    {got:?}\n    expected {want:?}",
                    log.at,
                    case.name,
                    show(hay)
                );
            }
        }
    }
    failures
}

#[test]
fn case_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let (mut n_cases, mut n_logs) = (0, 0);
    let mut failures = String::new();
    for f in &files {
        let cases = parse_file(f);
        assert!(!cases.is_empty(), "{}: no cases", f.display());
        for c in &cases {
            n_cases += 1;
            n_logs += c.logs.len();
            failures.push_str(&run_case(c));
        }
    }
    println!(
        "{} files, {n_cases} cases, {n_logs} annotated log lines",
        files.len()
    );
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn unescape_rules() {
    assert_eq!(unescape(r"a\tb\r\n\\\x41\s\0"), b"a\tb\r\n\\A \0");
    assert_eq!(unescape(r"evil\.com"), b"evil\\.com");
    assert_eq!(unescape(r"\xC3\xA9"), "é".as_bytes());
    assert_eq!(unescape(r"end\"), b"end\\");
}
