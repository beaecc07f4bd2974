//! Compiled set files (issue #19): `iocd iocs compile` writes one, `scan --set`, `iocs lookup
//! --set` and the daemon's `compiled_set` use it in place, by mapping it. The real binary,
//! real files, real signals:
//!
//! * a set read from its file finds exactly what the feeds it was compiled from find, on the
//!   real logs and feeds of `../shared/data` (skipped, and said, when absent);
//! * a file of another version, with a bad checksum, cut short, or not a set file at all is
//!   refused with an error that says which, never misread;
//! * a daemon maps the file, is ready, alerts; a new file renamed over it is mapped without a
//!   restart; two daemons share the file's pages;
//! * a file truncated in place under a running daemon does not crash it: the lost pages are
//!   counted, `/readyz` says the set is damaged, and a good file brings it back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use iocd_testkit::support::{
    KillOnDrop, file_sink_admin, free_port, http_get, iocd_run, read_alerts, send_tcp, start_iocd,
    stop_iocd, syslog_line, write_config,
};
use iocd_testkit::{iocd_bin, shared_data};

fn iocd(args: &[&str]) -> Output {
    Command::new(iocd_bin()).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` distinct public IPv4 addresses, one per line.
fn ipv4_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("45.{}.{}.{}\n", 10 + i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

/// Compiles `feed` (a file in `dir`) to `out`.
fn compile(dir: &Path, feed: &str, out: &Path) {
    let o = iocd(&[
        "iocs",
        "compile",
        "-i",
        dir.join(feed).to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "compile: {}", stderr(&o));
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
}

#[test]
fn a_compiled_set_finds_what_its_feeds_find_on_real_data() {
    let Some(data) = shared_data::dir() else {
        eprintln!("skipped: ../shared/data is not there");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.iocd");
    let feeds = [
        "feeds/ipsum/ipsum.txt",
        "feeds/abusech/feodotracker_ipblocklist.csv",
        "feeds/abusech/sslbl_sha1_reexport.csv",
        "feeds/abusech/threatfox_ioc_ips_elliotwutingfeng.txt",
        "feeds/urlhaus_filter",
    ];
    let mut args: Vec<String> = vec!["iocs".into(), "compile".into()];
    for f in feeds {
        let p = data.join(f);
        if !p.exists() {
            eprintln!("skipped: {} is not there", p.display());
            return;
        }
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                args.extend(["-i".into(), e.path().display().to_string()]);
            }
        } else {
            args.extend(["-i".into(), p.display().to_string()]);
        }
    }
    args.extend(["-o".into(), set.display().to_string()]);
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = iocd(&args_ref);
    assert!(o.status.success(), "{}", stderr(&o));
    let logs = data.join("logs").display().to_string();
    // The same scan, from the feeds and from the file: the same alerts, line for line.
    let mut from_feeds: Vec<&str> = args_ref[2..args_ref.len() - 2].to_vec();
    from_feeds.splice(0..0, ["scan", "--format", "json"]);
    from_feeds.push(&logs);
    let a = iocd(&from_feeds);
    let set_s = set.display().to_string();
    let b = iocd(&["scan", "--format", "json", "--set", &set_s, &logs]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    let lines = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                // When the alert was made (and, for lines without a time of their own, the
                // time of the scan) differs between two runs; nothing else may.
                v.as_object_mut().unwrap().remove("event");
                v.as_object_mut().unwrap().remove("@timestamp");
                v
            })
            .collect()
    };
    let (la, lb) = (lines(&a), lines(&b));
    assert!(la.len() > 100, "{} alerts", la.len());
    assert_eq!(la.len(), lb.len());
    if let Some(i) = (0..la.len()).find(|&i| la[i] != lb[i]) {
        panic!("alert {i} differs:\n  feeds {}\n  file  {}", la[i], lb[i]);
    }
    // The file holds where each indicator came from.
    let stats = iocd(&["iocs", "stats", "--set", &set_s]);
    let out = String::from_utf8_lossy(&stats.stdout);
    assert!(out.contains("ipsum") && out.contains("compiled"), "{out}");
}

#[test]
fn damaged_or_foreign_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), ipv4_list(3000)).unwrap();
    let good = dir.path().join("good.iocd");
    compile(dir.path(), "feed.txt", &good);
    let bytes = std::fs::read(&good).unwrap();
    let scan = |p: &Path| {
        let log = dir.path().join("log.txt");
        std::fs::write(&log, "deny 45.10.0.7\n").unwrap();
        iocd(&["scan", "--set", p.to_str().unwrap(), log.to_str().unwrap()])
    };
    let ok = scan(&good);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "version",
            {
                let mut v = bytes.clone();
                v[8] = 9;
                v
            },
            "format version 9",
        ),
        (
            "checksum",
            {
                let mut v = bytes.clone();
                let at = v.len() / 2;
                v[at] ^= 1;
                v
            },
            "checksum mismatch",
        ),
        (
            "truncated",
            bytes[..bytes.len() - 4096].to_vec(),
            "truncated",
        ),
        (
            "plain",
            b"45.10.0.7\n".to_vec(),
            "not a compiled indicator set",
        ),
        ("empty", Vec::new(), "not a compiled indicator set"),
    ];
    for (name, content, says) in cases {
        let p = dir.path().join(format!("{name}.iocd"));
        std::fs::write(&p, content).unwrap();
        let o = scan(&p);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&p.display().to_string()),
            "{name}: names the file"
        );
        assert!(
            o.stdout.is_empty(),
            "{name}: nothing matched from a refused file"
        );
    }
    // Given as a feed, the file is recognised and the right option named.
    let o = iocd(&["scan", "-i", good.to_str().unwrap(), "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--set"), "{}", stderr(&o));
    // `iocs lookup --set` answers from the file, with the feed and line of the listing.
    let o = iocd(&[
        "iocs",
        "lookup",
        "--set",
        good.to_str().unwrap(),
        "45.10.0.7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("feed.txt:8"), "{out}");
}

fn daemon_config(dir: &Path, set: &Path, syslog: u16, admin: u16) -> PathBuf {
    let cfg = format!(
        r#"compiled_set = "{set}"
[reload]
watch_interval = "200ms"
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
{sinks}"#,
        set = set.display(),
        sinks = file_sink_admin(admin, "10s"),
    );
    let sub = dir.join(format!("d{admin}"));
    std::fs::create_dir_all(&sub).unwrap();
    write_config(&sub, &cfg)
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(admin: u16, name: &str) -> f64 {
    iocd_testkit::support::metric_sum(&http_get(admin, "/metrics").unwrap_or_default(), name)
}

/// Kilobytes of the mapping of `file` in process `pid` that are shared with another process
/// (`Shared_Clean` in smaps).
fn shared_kb(pid: u32, file: &Path) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let name = file.display().to_string();
    let mut inside = false;
    let mut kb = 0;
    for l in smaps.lines() {
        if l.contains(" /") || l.ends_with(']') || l.split_whitespace().count() == 5 {
            // A mapping's header line: address range, perms, offset, dev, inode[, path].
            if l.split_whitespace().next().is_some_and(|a| a.contains('-')) {
                inside = l.ends_with(&name);
                continue;
            }
        }
        if inside && let Some(v) = l.strip_prefix("Shared_Clean:") {
            kb += v
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0);
        }
    }
    kb
}

#[test]
fn daemons_map_the_file_share_it_and_survive_its_truncation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), ipv4_list(60_000)).unwrap();
    let set = dir.path().join("set.iocd");
    compile(dir.path(), "feed.txt", &set);

    let (s1, a1, s2, a2) = (free_port(), free_port(), free_port(), free_port());
    let c1 = daemon_config(dir.path(), &set, s1, a1);
    let c2 = daemon_config(dir.path(), &set, s2, a2);
    let o = iocd(&["validate", "--config", c1.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("60000 indicators"));
    let mut d1 = KillOnDrop(start_iocd(&mut iocd_run(&c1), a1, "/readyz"));
    let d2 = KillOnDrop(start_iocd(&mut iocd_run(&c2), a2, "/readyz"));
    let alerts1 = c1.parent().unwrap().join("alerts.jsonl");

    // It matches from the file.
    send_tcp(
        s1,
        &[syslog_line(
            "2026-12-04T10:00:00Z",
            "fw1",
            "deny 45.10.0.7 dport 22",
        )],
    );
    wait_for("the first alert", Duration::from_secs(10), || {
        read_alerts(&alerts1).len() == 1
    });
    assert_eq!(metric(a1, "iocd_ioc_indicators"), 60_000.0);
    let per = metric(a1, "iocd_ioc_bytes_per_indicator");
    // The /24 map (2 MiB) is most of a 60k set; what counts is that the mapped tables count.
    assert!(per > 10.0, "bytes per indicator {per}");

    // Both daemons read the same page cache pages.
    let shared = shared_kb(d1.0.id(), &set);
    assert!(shared > 500, "{shared} kB of the set shared");
    assert!(shared_kb(d2.0.id(), &set) > 500);
    drop(d2);

    // A new file renamed over it (what `iocs compile` does) is mapped without a restart.
    std::fs::write(
        dir.path().join("feed2.txt"),
        ipv4_list(60_000) + "91.198.174.192\n",
    )
    .unwrap();
    compile(dir.path(), "feed2.txt", &set);
    wait_for("the new set", Duration::from_secs(10), || {
        metric(a1, "iocd_ioc_indicators") == 60_001.0
    });
    send_tcp(
        s1,
        &[syslog_line(
            "2026-12-04T10:00:01Z",
            "fw1",
            "deny 91.198.174.192",
        )],
    );
    wait_for("an alert from the new set", Duration::from_secs(10), || {
        read_alerts(&alerts1).len() == 2
    });

    // SIGHUP with the file unchanged: read again, found the same, and the mapping in use
    // (the one the truncation below must be noticed on) is kept.
    let unchanged = |admin: u16| -> f64 {
        http_get(admin, "/metrics")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("iocd_feed_fetches_total") && l.contains("not_modified"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = unchanged(a1);
    iocd_testkit::support::signal(&d1.0, "HUP");
    wait_for("the SIGHUP read", Duration::from_secs(10), || {
        unchanged(a1) > before
    });

    // Truncated in place under the running daemon: lookups touch the missing pages.
    let len = std::fs::metadata(&set).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&set).unwrap();
    f.set_len(8192).unwrap();
    drop(f);
    let lines: Vec<String> = (0..2000)
        .map(|i| {
            syslog_line(
                "2026-12-04T10:00:02Z",
                "fw1",
                &format!("deny 45.{}.{}.{}", 10 + i % 2, (i * 7) % 256, i % 256),
            )
        })
        .collect();
    send_tcp(s1, &lines);
    wait_for("the lost pages counted", Duration::from_secs(15), || {
        metric(a1, "iocd_set_file_faulted_pages_total") > 0.0
    });
    iocd_testkit::support::assert_running(&mut d1.0);
    wait_for("readiness to say so", Duration::from_secs(10), || {
        http_get(a1, "/readyz").is_none()
    });
    assert!(metric(a1, "iocd_feed_up") == 0.0);
    assert!(len > 8192);

    // A good file again: mapped, swapped in, ready, matching.
    let generation = metric(a1, "iocd_ioc_set_generation");
    compile(dir.path(), "feed2.txt", &set);
    wait_for("ready again", Duration::from_secs(10), || {
        http_get(a1, "/readyz").is_some() && metric(a1, "iocd_ioc_set_generation") > generation
    });
    // Another host: the same host and indicator again would be a duplicate.
    send_tcp(
        s1,
        &[syslog_line(
            "2026-12-04T10:00:03Z",
            "fw9",
            "deny 91.198.174.192",
        )],
    );
    let end = Instant::now() + Duration::from_secs(10);
    let fw9 = |a: &serde_json::Value| a.to_string().contains("fw9");
    while !read_alerts(&alerts1).iter().any(fw9) {
        if Instant::now() > end {
            let (_, log) = stop_iocd(&mut d1.0, Duration::from_secs(20));
            let all = read_alerts(&alerts1);
            panic!(
                "no alert after the repair; {} alerts, last {:?}; iocd logged:\n{log}",
                all.len(),
                all.last()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, log) = stop_iocd(&mut d1.0, Duration::from_secs(20));
    assert!(status.success(), "{log}");
    assert!(log.contains("truncated under its mapping"), "{log}");
}

/// `iocd scan --set` reading standard input while its set file is truncated in place: it does
/// not crash, and it does not exit as if all was well: status 2, and it says why.
#[test]
fn a_scan_whose_set_file_is_truncated_under_it_says_so() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), ipv4_list(60_000)).unwrap();
    let set = dir.path().join("set.iocd");
    compile(dir.path(), "feed.txt", &set);
    let mut scan = Command::new(iocd_bin())
        .args(["scan", "--count", "--set", set.to_str().unwrap(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = scan.stdin.take().unwrap();
    let lines = |from: usize| -> String {
        (from..from + 3000)
            .map(|i| format!("deny 45.{}.{}.{}\n", 10 + i % 2, (i * 7) % 256, i % 256))
            .collect()
    };
    stdin.write_all(lines(0).as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&set)
        .unwrap()
        .set_len(8192)
        .unwrap();
    // Enough lines after the cut for the reader to hand them to the matcher in new batches.
    for k in 1..40 {
        stdin.write_all(lines(k * 3000).as_bytes()).unwrap();
    }
    drop(stdin);
    let out = scan.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("truncated while this scan used it"), "{err}");
}
