use super::*;

#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.example.toml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cfg.feeds.is_empty());
    assert!(cfg.sources.syslog_udp.is_some());
}

#[test]
fn admin_limits_and_token_rules() {
    let cfg = Config::from_toml(
        "[sources]\nstdin = true\n[admin]\nlisten = \"[::]:9750\"\nprotect_reads = true\n\
         max_connections = 0\nheader_timeout = \"10ms\"\nmax_body_bytes = 10\n",
    )
    .unwrap();
    let errs = cfg.validate().unwrap_err().to_string();
    for want in [
        "admin.listen: [::]:9750 is not a loopback address",
        "admin.protect_reads: needs admin.token",
        "admin.max_connections",
        "admin.header_timeout",
        "admin.max_body_bytes",
    ] {
        assert!(errs.contains(want), "missing {want:?} in {errs}");
    }
    let ok = Config::from_toml(
        "[sources]\nstdin = true\n[admin]\nlisten = \"[::1]:9750\"\nprotect_reads = false\n",
    )
    .unwrap();
    ok.validate().unwrap();
    let token = Config::from_toml(
        "[sources]\nstdin = true\n[admin]\nlisten = \"0.0.0.0:9750\"\ntoken = \"a b c d e f g h i j\"\n",
    )
    .unwrap();
    let errs = token.validate().unwrap_err().to_string();
    assert!(errs.contains("without spaces"), "{errs}");
    assert!(!errs.contains("not a loopback"), "said once: {errs}");
}

#[test]
fn unknown_key_names_its_line() {
    let e = Config::from_toml("[engine]\nthreads = 2\nthraeds = 3\n").unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].0, "engine.thraeds");
    assert_eq!(e.line(0), Some(3));
    assert_eq!(e.0[0].1, "unknown key `thraeds`; did you mean `threads`?");
    assert!(
        e.to_string()
            .contains("engine.thraeds (line 3): unknown key `thraeds`"),
        "{e}"
    );
}

/// (path, line) of every error `Config::check` finds in `text`.
fn found(text: &str) -> Vec<(String, Option<usize>)> {
    let e = Config::check(text, Path::new("/nonexistent")).unwrap_err();
    (0..e.0.len())
        .map(|i| (e.0[i].0.clone(), e.line(i)))
        .collect()
}

const STDIN: &str = "[sources]\nstdin = true\n";

#[test]
fn reading_errors_come_together_with_semantic_ones() {
    let text = format!(
        "{STDIN}[engine]\nthraeds = 4\nbatch_bytes = \"big\"\n[reload]\nwatch_interval = \"0s\"\n\
         [shutdown]\ngrace = 5\n"
    );
    assert_eq!(
        found(&text),
        [
            ("engine.thraeds".into(), Some(4)),
            ("engine.batch_bytes".into(), Some(5)),
            ("reload.watch_interval".into(), Some(7)),
            ("shutdown.grace".into(), Some(9)),
        ]
    );
}

#[test]
fn errors_inside_sinks_and_flattened_tables_find_their_key() {
    let text = format!(
        "{STDIN}[[sinks]]\ntype = \"stdout\"\n[[sinks]]\ntype = \"http\"\nurl = \"http://x/\"\n\
         batch_max_event = 3\nrequest_timeout = \"soon\"\nretry_max_delay = 7\n\
         [[sinks]]\ntype = \"file\"\npath = \"a.log\"\nalert_format = \"leef\"\n\
         [sources.syslog_tls]\nlisten = \"127.0.0.1:6514\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         max_connections = \"many\"\n"
    );
    let e = Config::check(&text, Path::new("/nonexistent")).unwrap_err();
    let paths: Vec<&str> = e.0.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "sinks[1].batch_max_event",
        "sinks[1].request_timeout",
        "sinks[1].retry_max_delay",
        "sinks[2].alert_format",
        "sources.syslog_tls.max_connections",
        "sources.syslog_tls.cert",
    ] {
        assert!(paths.contains(&want), "missing {want} in {e}");
    }
    assert!(
        e.to_string().contains("did you mean `batch_max_events`"),
        "{e}"
    );
    assert!(e.to_string().contains("unknown value `leef`"), "{e}");
}

#[test]
fn a_missing_required_key_drops_its_table_and_later_elements_keep_their_index() {
    let text = format!(
        "{STDIN}[[feeds]]\npath = \"a.txt\"\n[[feeds]]\nname = \"b\"\npath = \"b.txt\"\n\
         [engine]\nqueue_batches = 0\n"
    );
    assert_eq!(
        found(&text),
        [
            ("feeds[0].name".into(), Some(3)),
            ("feeds[1].path".into(), Some(7)),
            ("engine.queue_batches".into(), Some(9)),
        ]
    );
}

/// Every value of the example replaced by values of other types, and every line left out
/// in turn: reading never panics, and every error has a key path.
#[test]
fn no_edit_of_the_example_makes_reading_panic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iocd.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let base = path.parent().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut edits = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some((key, _)) = l.split_once(" = ").filter(|_| !l.starts_with('#')) else {
            continue;
        };
        let variants = [
            String::new(),
            format!("{key} = \"x\""),
            format!("{key} = -1"),
            format!("{key} = \"0s\""),
            format!("{key} = [1, \"a\"]"),
            format!("{key} = {{ a = 1 }}"),
            format!("{key}x = 1"),
        ];
        for v in variants {
            let mut edited = lines.clone();
            edited[i] = &v;
            let result = Config::check(&edited.join("\n"), base);
            let typo = format!("{key}x");
            if v.starts_with(&typo) {
                // An unknown key is always named (as unknown, or as a misspelling of a
                // missing one, or by the map that holds it), unless the edit broke the
                // syntax (a multi-line array cut in half).
                let e = result.as_ref().unwrap_err();
                assert!(
                    e.0.iter().any(|(p, m)| p == "syntax"
                        || p.ends_with(&typo)
                        || m.contains(&format!("`{typo}` a misspelling"))),
                    "line {}: {e}",
                    i + 1
                );
            }
            if let Err(e) = result {
                assert!(
                    e.0.iter().all(|(p, m)| !p.is_empty() && !m.is_empty()),
                    "{e}"
                );
            }
            edits += 1;
        }
    }
    assert!(edits > 100, "{edits}");
}

#[test]
fn a_syntax_error_is_one_error_with_line_and_column() {
    let e = Config::from_toml("[engine]\nthreads = 1\n[sinks\n").unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].0, "syntax");
    assert_eq!(e.line(0), Some(3));
    assert!(e.0[0].1.contains("column 7"), "{e}");
}

#[test]
fn every_semantic_error_at_once() {
    let text = r#"
        [engine]
        batch_bytes = 10
        [sources.syslog_udp]
        listen = "127.0.0.1:5514"
        max_message_bytes = 1
        [sources.syslog_tcp]
        listen = "127.0.0.1:9750"
        [[sinks]]
        type = "http"
        url = "ftp://x"
        batch_max_events = 0
        [[sinks]]
        type = "syslog"
        protocol = "udp"
        address = "nohost"
    "#;
    let cfg = Config::from_toml(text).unwrap();
    let errs = cfg.validate().unwrap_err();
    let paths: Vec<&str> = errs.0.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "engine.batch_bytes",
        "sources.syslog_udp.max_message_bytes",
        "admin.listen",
        "sinks[0].url",
        "sinks[0].batch_max_events",
        "sinks[1].address",
    ] {
        assert!(paths.contains(&want), "missing {want} in {errs}");
    }
    assert!(
        errs.to_string()
            .starts_with(&format!("{} errors in configuration:", errs.0.len()))
    );
}
