use super::*;

fn req(indicator: &str, host: Option<&str>) -> MarkRequest {
    MarkRequest {
        indicator: indicator.into(),
        host: host.map(Into::into),
        reason: "cdn".into(),
        analyst: "alice".into(),
        expires: None,
    }
}

#[test]
fn defanged_marks_match_canonical_indicators() {
    let f = Feedback::default();
    f.add(req("hxxp://EVIL[.]com/", None)).unwrap();
    f.add(req("evil.example/x", None)).unwrap();
    assert!(f.verdict("http://evil.com/", None).is_some());
    assert!(f.verdict("http://evil.example/x", Some("h")).is_some());
    assert!(
        f.verdict("https://evil.example/x", None).is_some(),
        "https twin"
    );
    assert!(f.verdict("http://evil.com/y", None).is_none());
    assert_eq!(f.suppressed.get(), 3);
}

#[test]
fn host_marks_apply_to_that_host_only() {
    let f = Feedback::default();
    f.add(req("198.51.100.7", Some("10.1.2.3"))).unwrap();
    f.add(req("evil.com", Some("WS01.corp."))).unwrap();
    assert!(f.verdict("198.51.100.7", Some("10.1.2.3")).is_some());
    assert!(f.verdict("198.51.100.7", Some("10.1.2.4")).is_none());
    assert!(f.verdict("198.51.100.7", None).is_none());
    assert!(f.verdict("evil.com", Some("ws01.CORP")).is_some());
    let m = f.verdict("evil.com", Some("ws01.corp")).unwrap();
    assert_eq!(m.hits(), 2);
    assert_eq!(m.host.as_deref(), Some("ws01.corp"));
}

#[test]
fn expired_marks_do_not_apply() {
    let f = Feedback::default();
    let mut r = req("1.2.3.4", None);
    r.expires = Some("2000-01-01T00:00:00Z".into());
    f.add(r).unwrap();
    assert!(f.verdict("1.2.3.4", None).is_none());
    let mut r = req("1.2.3.5", None);
    r.expires = Some("1h".into());
    let m = f.add(r).unwrap();
    assert!(m.expires.unwrap() > Utc::now());
    assert!(f.verdict("1.2.3.5", None).is_some());
    assert_eq!(f.summary().expired, 1);
}

#[test]
fn bad_requests_are_refused() {
    let f = Feedback::default();
    assert!(matches!(
        f.add(req("1.2.3.999", None)),
        Err(FeedbackError::Indicator { .. })
    ));
    assert!(matches!(
        f.add(req("1.2.3.4", Some("a b"))),
        Err(FeedbackError::Host(_))
    ));
    let mut r = req("1.2.3.4", None);
    r.reason = " ".into();
    assert!(matches!(f.add(r), Err(FeedbackError::Empty("reason"))));
    let mut r = req("1.2.3.4", None);
    r.expires = Some("soon".into());
    assert!(matches!(f.add(r), Err(FeedbackError::Expires(_))));
    assert!(f.list().is_empty());
}

#[test]
fn control_characters_and_long_fields_are_refused_and_counted() {
    let m = Metrics::new();
    let f = Feedback::new(&m, None);
    for (field, value) in [
        ("reason", "ok\n2026-01-01T00:00:00Z INFO forged line"),
        ("reason", "red \u{1b}[31m text"),
        ("reason", "trailing line feed\n"),
        ("analyst", "al\rice"),
        ("reason", "bidi \u{202e}txt.exe"),
    ] {
        let mut r = req("1.2.3.4", None);
        match field {
            "reason" => r.reason = value.into(),
            _ => r.analyst = value.into(),
        }
        let e = f.add(r).unwrap_err();
        assert!(matches!(e, FeedbackError::Control { .. }), "{value:?}: {e}");
        assert!(e.is_bad_request());
        assert!(!e.to_string().contains('\n') && !e.to_string().contains('\u{1b}'));
    }
    let mut r = req("1.2.3.4", None);
    r.reason = "x".repeat(MAX_REASON_BYTES + 1);
    let e = f.add(r).unwrap_err();
    assert!(
        matches!(
            e,
            FeedbackError::TooLong {
                field: "reason",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().len() < 200,
        "the error does not echo the field"
    );
    let e = f
        .add(req(
            &format!("{}.com", "a".repeat(MAX_INDICATOR_BYTES)),
            None,
        ))
        .unwrap_err();
    assert!(
        matches!(
            e,
            FeedbackError::TooLong {
                field: "indicator",
                ..
            }
        ),
        "{e}"
    );
    let e = f.add(req("1.2.3.4", Some("ws01\u{1b}"))).unwrap_err();
    assert!(
        matches!(e, FeedbackError::Control { field: "host", .. }),
        "{e}"
    );
    assert!(f.list().is_empty());
    assert!(
        m.render()
            .contains("iocd_feedback_refused_total{origin=\"api\",reason=\"invalid\"} 8"),
        "{}",
        m.render()
    );
}

#[test]
fn api_marks_stop_at_the_limit_but_replacing_one_is_fine() {
    let m = Metrics::new();
    let f = Feedback::new(&m, None).with_limits(2, 1 << 20);
    f.add(req("1.2.3.4", None)).unwrap();
    f.add(req("1.2.3.5", None)).unwrap();
    let e = f.add(req("1.2.3.6", None)).unwrap_err();
    assert!(e.is_over_limit(), "{e}");
    f.add(req("1.2.3.5", None)).expect("same target: replaced");
    assert_eq!(f.list().len(), 2);
    f.remove("1.2.3.4", None).unwrap().unwrap();
    f.add(req("1.2.3.6", None)).unwrap();
    assert!(
        m.render()
            .contains("iocd_feedback_refused_total{origin=\"api\",reason=\"too_many_marks\"} 1")
    );
}

#[test]
fn an_over_limit_file_is_refused_whole_and_the_old_marks_stay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fp.txt");
    let m = Metrics::new();
    let f = Feedback::new(&m, None).with_limits(3, 1024);
    std::fs::write(&path, "a.example\nb.example\n").unwrap();
    assert_eq!(f.load_file(&path).marks, 2);
    // Four marks: one too many.
    std::fs::write(&path, "c.example\nd.example\ne.example\nf.example\n").unwrap();
    let r = f.load_file(&path);
    assert!(
        r.unreadable.as_deref().unwrap().contains("max_marks"),
        "{r:?}"
    );
    assert!(f.verdict("a.example", None).is_some());
    assert!(f.verdict("c.example", None).is_none());
    // Too many bytes, even if few marks.
    std::fs::write(&path, format!("g.example # {}\n", "x".repeat(2000))).unwrap();
    let r = f.load_file(&path);
    assert!(
        r.unreadable.as_deref().unwrap().contains("max_file_bytes"),
        "{r:?}"
    );
    assert!(f.verdict("b.example", None).is_some());
    // A line with an escape is one bad line, the rest loads.
    std::fs::write(&path, "h.example # a \u{1b}[2J b\ni.example\n").unwrap();
    let r = f.load_file(&path);
    assert_eq!((r.marks, r.errors.len()), (1, 1), "{r:?}");
    assert!(f.verdict("i.example", None).is_some());
    let text = m.render();
    for reason in ["too_many_marks", "too_large"] {
        assert!(
            text.contains(&format!(
                "iocd_feedback_refused_total{{origin=\"file\",reason=\"{reason}\"}} 1"
            )),
            "{text}"
        );
    }
}

#[test]
fn file_format_reports_bad_lines_by_number() {
    let now = Utc::now();
    let text = "\u{feff}# comment\n\
        cdn.example.net   # shared CDN\n\
        \n\
        198.51.100.7 host=10.1.2.3 analyst=bob expires=30d # scanner\n\
        1.2.3.999\n\
        evil.com color=red\n\
        EVIL.COM # again, later wins\n";
    let (marks, errors) = parse_file(text, now);
    assert_eq!(marks.len(), 3, "{marks:?}");
    assert_eq!(marks[0].indicator, "cdn.example.net");
    assert_eq!(marks[0].reason, "shared CDN");
    assert_eq!(marks[1].host.as_deref(), Some("10.1.2.3"));
    assert_eq!(marks[1].analyst, "bob");
    assert!(marks[1].expires.unwrap() > now + chrono::Duration::days(29));
    assert_eq!(marks[2].reason, "again, later wins");
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [5, 6]);
}

#[test]
fn state_survives_a_restart_and_bad_state_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedback.json");
    let m = Metrics::new();
    let f = Feedback::new(&m, Some(path.clone()));
    f.add(req("evil.com", None)).unwrap();
    f.add(req("1.2.3.4", Some("10.0.0.1"))).unwrap();
    f.verdict("evil.com", None).unwrap();
    assert_eq!(
        f.remove("EVIL[.]com", None).unwrap().unwrap().indicator,
        "evil.com"
    );
    assert!(f.remove("evil.com", None).unwrap().is_none());
    drop(f);
    let m = Metrics::new();
    let f = Feedback::new(&m, Some(path.clone()));
    assert_eq!(f.list().len(), 1);
    assert!(f.verdict("1.2.3.4", Some("10.0.0.1")).is_some());
    assert!(m.render().contains("iocd_feedback_marks{origin=\"api\"} 1"));
    drop(f);

    std::fs::write(&path, b"not json").unwrap();
    let f = Feedback::new(&Metrics::new(), Some(path.clone()));
    assert!(f.list().is_empty());
    assert!(path.with_extension("bad").exists());
}

#[test]
fn a_relative_expiry_counts_from_the_first_load_of_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fp.txt");
    let f = Feedback::default();
    std::fs::write(&path, "evil.com expires=1h\n1.2.3.4 expires=1h\n").unwrap();
    f.load_file(&path);
    let first = |f: &Feedback, ind: &str| {
        let m = f.list().into_iter().find(|m| m.indicator == ind).unwrap();
        (m.created, m.expires.unwrap())
    };
    let (created, expires) = first(&f, "evil.com");
    let (_, other) = first(&f, "1.2.3.4");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Another line is added, this one's expiry is edited: only the edited one moves.
    std::fs::write(
        &path,
        "evil.com expires=1h\n1.2.3.4 expires=2h\nnew.example\n",
    )
    .unwrap();
    f.load_file(&path);
    assert_eq!(
        first(&f, "evil.com"),
        (created, expires),
        "an edit elsewhere"
    );
    assert!(first(&f, "1.2.3.4").1 > other + chrono::Duration::minutes(59));
}

#[test]
fn file_reload_swaps_marks_and_keeps_the_old_ones_when_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fp.txt");
    let f = Feedback::default();
    std::fs::write(&path, "evil.com\nbad..name\n").unwrap();
    let r = f.load_file(&path);
    assert_eq!((r.marks, r.errors.len()), (1, 1));
    assert!(f.verdict("evil.com", None).is_some());
    std::fs::write(&path, "other.com\n").unwrap();
    f.load_file(&path);
    assert!(f.verdict("evil.com", None).is_none());
    assert!(f.verdict("other.com", None).is_some());
    std::fs::remove_file(&path).unwrap();
    let r = f.load_file(&path);
    assert!(r.unreadable.is_some());
    assert!(f.verdict("other.com", None).is_some());
    // An API mark on the same target wins over the file's.
    f.add(req("other.com", None)).unwrap();
    assert_eq!(
        f.verdict("other.com", None).unwrap().origin,
        MarkOrigin::Api
    );
}

#[test]
fn marks_are_charged_to_every_feed_that_lists_the_indicator() {
    use iocd_engine::{Compiler, Pattern, SourceRef};
    let mut c = Compiler::new();
    let a = c.add_feed("a", "a.txt");
    let b = c.add_feed("b", "b.txt");
    let quiet = c.add_feed("quiet", "q.txt");
    let ip = Pattern::Ipv4("192.0.2.7".parse().unwrap());
    c.add(&ip, SourceRef::plain(a, 1));
    c.add(&ip, SourceRef::plain(b, 4));
    // Listed twice by one feed: still one mark for it.
    c.add(&ip, SourceRef::plain(b, 9));
    let exact = Pattern::Domain {
        name: "cdn.example".into(),
        subdomains: false,
    };
    c.add(&exact, SourceRef::plain(a, 2));
    c.add(
        &Pattern::Url {
            url: "https://x.example/p".into(),
            prefix: false,
        },
        SourceRef::plain(b, 5),
    );
    c.add(
        &Pattern::Ipv4("192.0.2.99".parse().unwrap()),
        SourceRef::plain(quiet, 1),
    );
    let set = c.build();
    let f = Feedback::default();
    let before = f.changes();
    f.add(req("192.0.2.7", Some("10.0.0.1"))).unwrap();
    assert!(f.changes() > before, "a new mark is a change");
    // Listed without its subdomains: the mark's text finds it all the same.
    f.add(req("cdn[.]example", None)).unwrap();
    // A scheme-less URL marks its https:// twin, which feed b lists.
    f.add(req("x.example/p", None)).unwrap();
    // Not in the set: charged to nobody.
    f.add(req("198.51.100.1", None)).unwrap();
    let mut expired = req("192.0.2.99", None);
    expired.expires = Some("2001-01-01T00:00:00Z".into());
    let _ = f.add(expired);
    let got = f.marks_by_feed(&set, Utc::now());
    assert_eq!(
        got,
        vec![("a".into(), 2), ("b".into(), 2), ("quiet".into(), 0)]
    );
}
