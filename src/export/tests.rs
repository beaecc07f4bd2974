use super::*;
use crate::ioc::parse_indicator;
use iocd_engine::{Compiler, SourceRef};

fn set_of(values: &[&str]) -> IocSet {
    let mut c = Compiler::new();
    // Documentation addresses are fine here: the rails belong to the catalog, not the set.
    let f = c.add_feed("feed", "feed");
    for (i, v) in values.iter().enumerate() {
        c.add(
            &parse_indicator(v).unwrap(),
            SourceRef::plain(f, i as u32 + 1),
        );
    }
    c.build()
}

fn cfg(dir: &std::path::Path, format: &str, extra: &str) -> ExportConfig {
    toml::from_str(&format!(
        "name = \"t\"\nformat = \"{format}\"\npath = {:?}\n{extra}",
        dir.join(format!("t.{format}")).display().to_string()
    ))
    .unwrap()
}

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn none(_: &str) -> bool {
    false
}

#[test]
fn writes_on_change_only_and_the_serial_grows() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), "rpz", "");
    let metrics = Metrics::new();
    let mut ex = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics);
    let s1 = set_of(&["evil.example", "bad.example"]);
    let o = ex.update(&s1, 0, at(2_000_000_000), &none);
    assert!(matches!(o[0], Outcome::Written { entries: 2, .. }), "{o:?}");
    let first = std::fs::read_to_string(&c.path).unwrap();
    assert!(first.contains(" 2000000000 3600 "), "{first}");
    // Same set, later: nothing written, same serial.
    assert_eq!(
        ex.update(&s1, 0, at(2_000_000_100), &none),
        [Outcome::Unchanged]
    );
    assert_eq!(std::fs::read_to_string(&c.path).unwrap(), first);
    // A change in the same second still moves the serial.
    let s2 = set_of(&["evil.example", "bad.example", "worse.example"]);
    ex.update(&s2, 0, at(2_000_000_000), &none);
    let second = std::fs::read_to_string(&c.path).unwrap();
    assert!(second.contains(" 2000000001 3600 "), "{second}");
    let m = &metrics.export;
    assert_eq!(m.writes.with_label_values(&["t"]).get(), 2);
    assert_eq!(m.entries.with_label_values(&["t"]).get(), 3);
    assert_eq!(m.bytes.with_label_values(&["t"]).get(), second.len() as i64);
    assert_eq!(m.last_change.with_label_values(&["t"]).get(), 2_000_000_000);
    // A restart reads the serial in place and keeps it increasing.
    let mut again = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics);
    again.update(&s1, 0, at(1_900_000_000), &none);
    let third = std::fs::read_to_string(&c.path).unwrap();
    assert!(third.contains(" 2000000002 3600 "), "{third}");
}

#[test]
fn the_change_guard_holds_back_and_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), "plain", "max_shrink = 0.5\nmax_grow = 1.0");
    let metrics = Metrics::new();
    let mut ex = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics);
    // Addresses that do not aggregate: one line each.
    let four = ["192.0.2.1", "192.0.2.3", "192.0.2.5", "192.0.2.7"];
    ex.update(&set_of(&four), 0, at(1), &none);
    let before = std::fs::read(&c.path).unwrap();
    // 4 -> 1: more than half gone.
    let o = ex.update(&set_of(&four[..1]), 0, at(2), &none);
    assert_eq!(
        o,
        [Outcome::Held {
            reason: held::SHRINK,
            from: 4,
            to: 1
        }]
    );
    assert_eq!(std::fs::read(&c.path).unwrap(), before);
    // The same refused version again (the next pass): still held, reported once.
    let o = ex.update(&set_of(&four[..1]), 0, at(2), &none);
    assert!(matches!(o[0], Outcome::Held { .. }), "{o:?}");
    let shrinks = metrics.export.held.with_label_values(&["t", "shrink"]);
    assert_eq!(shrinks.get(), 1);
    // 4 -> 2: exactly half is allowed.
    let o = ex.update(&set_of(&four[..2]), 0, at(3), &none);
    assert!(matches!(o[0], Outcome::Written { entries: 2, .. }), "{o:?}");
    // 2 -> 5: more than doubled.
    let five = [
        "192.0.2.1",
        "192.0.2.3",
        "192.0.2.5",
        "192.0.2.7",
        "192.0.2.9",
    ];
    let o = ex.update(&set_of(&five), 0, at(4), &none);
    assert_eq!(
        o,
        [Outcome::Held {
            reason: held::GROW,
            from: 2,
            to: 5
        }]
    );
    let held = &metrics.export.held;
    assert_eq!(held.with_label_values(&["t", "shrink"]).get(), 1);
    assert_eq!(held.with_label_values(&["t", "grow"]).get(), 1);
    assert_eq!(metrics.export.entries.with_label_values(&["t"]).get(), 2);
}

#[test]
fn false_positive_marks_leave_the_export_and_failures_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), "plain", "");
    let metrics = Metrics::new();
    let mut ex = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics);
    let s = set_of(&["evil.example", "cdn.example"]);
    let marked = |v: &str| v == "cdn.example";
    ex.update(&s, 0, at(1), &marked);
    assert_eq!(
        std::fs::read_to_string(&c.path).unwrap(),
        "evil.example\n*.evil.example\n"
    );
    // The folder is gone: the write fails, is counted, and nothing else changes.
    let gone = cfg(&dir.path().join("missing"), "plain", "");
    let mut ex = Exports::new(&[gone], &ScoreConfig::default(), &metrics);
    let o = ex.update(&s, 0, at(1), &none);
    assert!(matches!(o[0], Outcome::Failed(_)), "{o:?}");
    assert_eq!(metrics.export.errors.with_label_values(&["t"]).get(), 1);
}

#[test]
fn unsafe_entries_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(
        dir.path(),
        "plain",
        "vendor = \"paloalto\"\ntypes = [\"url\"]",
    );
    let metrics = Metrics::new();
    let mut ex = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics);
    let s = set_of(&["http://evil.example/a*b", "http://evil.example/ok"]);
    ex.update(&s, 0, at(1), &none);
    assert_eq!(
        std::fs::read_to_string(&c.path).unwrap(),
        "evil.example/ok\n"
    );
    let skipped = &metrics.export.skipped;
    assert_eq!(skipped.with_label_values(&["t", "wildcard"]).get(), 1);
}

#[test]
fn the_guard_holds_across_a_restart_and_the_listener_serves_the_file_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), "plain", "");
    let metrics = Metrics::new();
    let four = ["192.0.2.1", "192.0.2.3", "192.0.2.5", "192.0.2.7"];
    Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics).update(
        &set_of(&four),
        0,
        at(1),
        &none,
    );
    let before = std::fs::read(&c.path).unwrap();
    // A restart where a feed could not be loaded: one address left. The file a previous run
    // left is what the firewalls have, so the guard holds the shrink.
    let metrics = Metrics::new();
    let published = Arc::new(http::Published::new(["t".to_owned()]));
    let mut ex = Exports::new(std::slice::from_ref(&c), &ScoreConfig::default(), &metrics)
        .publish_to(published.clone());
    assert_eq!(metrics.export.entries.with_label_values(&["t"]).get(), 4);
    let served = published.get("t").unwrap().unwrap();
    assert_eq!(&served.body[..], &before[..]);
    let o = ex.update(&set_of(&four[..1]), 0, at(2), &none);
    assert!(
        matches!(o[0], Outcome::Held { from: 4, to: 1, .. }),
        "{o:?}"
    );
    assert_eq!(std::fs::read(&c.path).unwrap(), before);
    // The feed is back: written, and served.
    let o = ex.update(&set_of(&four[..3]), 0, at(3), &none);
    assert!(matches!(o[0], Outcome::Written { entries: 3, .. }), "{o:?}");
    let served = published.get("t").unwrap().unwrap();
    assert_eq!(&served.body[..], b"192.0.2.1\n192.0.2.3\n192.0.2.5\n");
}
