//! Feeds never silently stop detection (issue #11): the real `iocd` binary against real files,
//! a real loopback HTTP server, real signals and the real admin server.
//!
//! * a garbage, shrunken or empty replacement of a feed is refused: the set is kept, the
//!   refusal is counted by reason and logged at WARN;
//! * a feed that cannot be loaded (a URL answering 404) makes `iocd validate` exit 2 and
//!   `/readyz` answer 503 naming it, until it arrives;
//! * a feed whose bytes changed with the same size and mtime is re-read on SIGHUP, on
//!   `POST /reload` and by the file watcher;
//! * rejected records are counted, and only the first `keep_rejected` kept.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use iocd_testkit::support;
use support::{
    assert_running, free_port, http, http_get, iocd_run, iocd_validate, signal, start_iocd,
    stop_iocd, write_config,
};

/// `n` distinct public IPv4 addresses, one per line.
fn ipv4_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("45.{}.{}.{}\n", 10 + i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

/// `n` bytes of deterministic noise (xorshift64*), line feeds included by chance.
fn garbage(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn scrape(admin: u16) -> String {
    http_get(admin, "/metrics").expect("/metrics answers")
}

/// Scrapes `/metrics` until `cond` holds; panics with the last scrape after `timeout`.
fn wait_metrics(
    child: &mut Child,
    admin: u16,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&str) -> bool,
) -> String {
    let t = Instant::now();
    loop {
        assert_running(child);
        if let Some(body) = http_get(admin, "/metrics")
            && cond(&body)
        {
            return body;
        }
        if t.elapsed() > timeout {
            let body = http_get(admin, "/metrics").unwrap_or_default();
            let feed: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("iocd_feed") || l.starts_with("iocd_ioc"))
                .collect();
            panic!("{what}: not within {timeout:?}:\n{}", feed.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A config with the feeds `feeds`, TCP syslog in, a file sink, the admin server on `admin`.
fn config(dir: &Path, admin: u16, feeds: &str, extra: &str) -> std::path::PathBuf {
    let syslog = free_port();
    write_config(
        dir,
        &format!(
            r#"
[engine]
threads = 1
{feeds}
[triage]
enabled = false
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
[[sinks]]
type = "file"
path = "alerts.jsonl"
[admin]
listen = "127.0.0.1:{admin}"
{extra}
"#
        ),
    )
}

const FILE_FEED: &str = r#"[[feeds]]
name = "test"
path = "feed.txt""#;

const NO_WATCH: &str = "[reload]\nwatch_files = false";

#[test]
fn garbage_shrunken_or_empty_replacements_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    std::fs::write(&feed, ipv4_list(1000)).unwrap();
    let admin = free_port();
    let cfg = config(dir.path(), admin, FILE_FEED, NO_WATCH);
    let mut child = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    let ind = "iocd_ioc_indicators{feed=\"test\",kind=\"ipv4\"}";
    let body = scrape(admin);
    assert_eq!(sample(&body, ind), Some(1000.0));
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"test\"}"), Some(1.0));
    assert_eq!(sample(&body, "iocd_ioc_reload_failures_total"), Some(0.0));

    // 300 kB of noise in its place, then SIGHUP (the issue: 249,994 indicators became 17).
    std::fs::write(&feed, garbage(300_000)).unwrap();
    signal(&child, "HUP");
    let failures = "iocd_feed_refresh_failures_total{feed=\"test\",reason=\"rejected\"}";
    let body = wait_metrics(&mut child, admin, Duration::from_secs(30), "garbage", |b| {
        sample(b, failures) == Some(1.0)
    });
    assert_eq!(sample(&body, ind), Some(1000.0), "the set is kept");
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"test\"}"), Some(0.0));
    assert_eq!(sample(&body, "iocd_ioc_set_generation"), Some(1.0));
    assert_eq!(sample(&body, "iocd_ioc_reload_failures_total"), Some(1.0));
    assert_eq!(
        sample(&body, "iocd_ready"),
        Some(1.0),
        "it still has a generation"
    );

    // Ten of the thousand: a 99% shrink.
    std::fs::write(&feed, ipv4_list(10)).unwrap();
    let (status, _) = http(admin, "POST", "/reload").unwrap();
    assert_eq!(status, 200);
    let body = scrape(admin);
    let shrink = "iocd_feed_refresh_failures_total{feed=\"test\",reason=\"shrink\"}";
    assert_eq!(sample(&body, shrink), Some(1.0));
    assert_eq!(sample(&body, ind), Some(1000.0));

    // Nothing at all.
    std::fs::write(&feed, "# the server had a bad day\n").unwrap();
    http(admin, "POST", "/reload").unwrap();
    let body = scrape(admin);
    let empty = "iocd_feed_refresh_failures_total{feed=\"test\",reason=\"empty\"}";
    assert_eq!(sample(&body, empty), Some(1.0));
    assert_eq!(sample(&body, ind), Some(1000.0));

    // 600 of the thousand: 40% fewer is within max_shrink (0.5), so it is taken.
    std::fs::write(&feed, ipv4_list(600)).unwrap();
    let (status, reply) = http(admin, "POST", "/reload").unwrap();
    assert_eq!(status, 200, "{reply}");
    let body = scrape(admin);
    assert_eq!(sample(&body, ind), Some(600.0));
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"test\"}"), Some(1.0));
    assert_eq!(sample(&body, "iocd_ioc_set_generation"), Some(2.0));

    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    let warns: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("refused"))
        .collect();
    assert_eq!(warns.len(), 3, "{log}");
    assert!(
        warns[0].contains("records rejected") && warns[0].contains("max_rejected 0.5"),
        "{}",
        warns[0]
    );
    assert!(
        warns[1].contains("10 indicators instead of 1000") && warns[1].contains("max_shrink 0.5"),
        "{}",
        warns[1]
    );
    assert!(
        warns[2].contains("0 indicators instead of 1000"),
        "{}",
        warns[2]
    );
    assert!(
        warns
            .iter()
            .all(|w| w.contains("the previous generation stays")),
        "{log}"
    );
}

/// A loopback HTTP server answering `GET /list.txt` with 404 until `up` is set, then with
/// `body`. Runs until the test process ends.
fn feed_server(body: &'static str) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let resp = if flag.load(Ordering::SeqCst) {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = s.write_all(resp.as_bytes());
        }
    });
    (port, up)
}

#[test]
fn a_feed_that_cannot_be_loaded_fails_validate_and_readiness_until_it_arrives() {
    let (port, up) = feed_server("45.99.0.1\n45.99.0.2\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "45.1.0.1\n").unwrap();
    let admin = free_port();
    let feeds = format!(
        r#"{FILE_FEED}
[[feeds]]
name = "remote"
url = "http://127.0.0.1:{port}/list.txt"
[feeds.http]
retries = 0
timeout = "5s""#
    );
    let cfg = config(dir.path(), admin, &feeds, NO_WATCH);

    // The issue: `ok: 1 feeds, 0 indicators`, exit 0.
    let out = iocd_validate(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("feed remote: cannot be loaded") && err.contains("HTTP 404"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ok:"));
    // What systemd runs before start and reload: a warning, so that iocd starts and retries.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["validate", "--allow-missing-feeds", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: feed remote: cannot be loaded"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: 2 feeds (1 not loaded: remote)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The daemon runs, matching with what it has, and says it is not ready, and why.
    let mut child = iocd_run(&cfg).spawn().unwrap();
    wait_metrics(&mut child, admin, Duration::from_secs(30), "start", |b| {
        sample(b, "iocd_feed_up{feed=\"remote\"}").is_some()
    });
    // Readiness is set once intake runs: wait for the answer naming the feed.
    let t = Instant::now();
    let (status, text) = loop {
        let (status, text) = http(admin, "GET", "/readyz").unwrap();
        if text.contains("remote") || t.elapsed() > Duration::from_secs(30) {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("remote") && !text.contains("test"), "{text}");
    let body = scrape(admin);
    assert_eq!(sample(&body, "iocd_ready"), Some(0.0));
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"remote\"}"), Some(0.0));
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"test\"}"), Some(1.0));
    assert!(
        sample(
            &body,
            "iocd_feed_refresh_failures_total{feed=\"remote\",reason=\"fetch\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            "iocd_feed_fetches_total{feed=\"remote\",result=\"error\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        sample(&body, "iocd_ioc_indicators{feed=\"test\",kind=\"ipv4\"}"),
        Some(1.0),
        "it matches with the feeds it has"
    );
    assert_eq!(
        sample(
            &body,
            "iocd_feed_last_success_timestamp_seconds{feed=\"remote\"}"
        ),
        None
    );
    assert_eq!(
        sample(&body, "iocd_feed_generation_age_seconds{feed=\"remote\"}"),
        None
    );

    // The server comes back: the retry (10 s after the failure) brings the feed in.
    up.store(true, Ordering::SeqCst);
    let body = wait_metrics(&mut child, admin, Duration::from_secs(60), "retry", |b| {
        sample(b, "iocd_ready") == Some(1.0)
    });
    assert_eq!(http(admin, "GET", "/readyz").unwrap().0, 200);
    assert_eq!(sample(&body, "iocd_feed_up{feed=\"remote\"}"), Some(1.0));
    assert_eq!(
        sample(&body, "iocd_ioc_indicators{feed=\"remote\",kind=\"ipv4\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &body,
            "iocd_feed_fetches_total{feed=\"remote\",result=\"ok\"}"
        ),
        Some(1.0)
    );
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = sample(
        &body,
        "iocd_feed_last_success_timestamp_seconds{feed=\"remote\"}",
    )
    .expect("set once it loaded");
    assert!((now - last).abs() < 120.0, "{last} vs {now}");
    let age = sample(&body, "iocd_feed_generation_age_seconds{feed=\"remote\"}").unwrap();
    assert!((0.0..120.0).contains(&age), "{age}");

    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(log.contains("no generation yet"), "{log}");
    assert!(
        !log.contains("previous generation"),
        "no previous generation to keep:\n{log}"
    );
    // Now it loads: validate is happy again.
    let out = iocd_validate(&cfg);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_warns_on_a_feed_without_indicators() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "# nothing yet\n").unwrap();
    let cfg = config(dir.path(), free_port(), FILE_FEED, NO_WATCH);
    let out = iocd_validate(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: feed test") && err.contains("loads no indicator"),
        "{err}"
    );
    // Mostly garbage: it loads (there is nothing else to use), with a warning.
    std::fs::write(dir.path().join("feed.txt"), garbage(100_000)).unwrap();
    let out = iocd_validate(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("records rejected (max_rejected 0.5)"), "{err}");
}

/// Replaces `path` with `text` as a new inode (written beside it, renamed over it) with the
/// old modification time: what `rsync -t` of a fixed-width list does.
fn replace_keeping_mtime(path: &Path, text: &str) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&tmp, path).unwrap();
    let m = std::fs::metadata(path).unwrap();
    assert_eq!((m.modified().unwrap(), m.len()), (mtime, text.len() as u64));
}

/// Rewrites `path` in place with `text` and gives it back its modification time (`cp -p`).
fn rewrite_keeping_mtime(path: &Path, text: &str) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut f = std::fs::File::options()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let m = std::fs::metadata(path).unwrap();
    assert_eq!((m.modified().unwrap(), m.len()), (mtime, text.len() as u64));
}

#[test]
fn same_size_same_mtime_changes_are_read_on_sighup_and_post_reload() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    std::fs::write(&feed, "45.10.0.1\n").unwrap();
    let admin = free_port();
    let cfg = config(dir.path(), admin, FILE_FEED, NO_WATCH);
    let mut child = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    let v4 = "iocd_ioc_indicators{feed=\"test\",kind=\"ipv4\"}";
    let dom = "iocd_ioc_indicators{feed=\"test\",kind=\"domain\"}";
    let same = "iocd_feed_fetches_total{feed=\"test\",result=\"not_modified\"}";
    assert_eq!(sample(&scrape(admin), v4), Some(1.0));

    // Nothing changed: SIGHUP reads the file and builds nothing.
    signal(&child, "HUP");
    let body = wait_metrics(&mut child, admin, Duration::from_secs(30), "hup", |b| {
        sample(b, same) == Some(1.0)
    });
    assert_eq!(sample(&body, "iocd_ioc_set_generation"), Some(1.0));

    // Same size, same mtime, new inode, new bytes.
    replace_keeping_mtime(&feed, "evil1.com\n");
    signal(&child, "HUP");
    let body = wait_metrics(&mut child, admin, Duration::from_secs(30), "rename", |b| {
        sample(b, dom) == Some(1.0)
    });
    assert_eq!(sample(&body, v4), None, "the address is gone");
    assert_eq!(sample(&body, "iocd_ioc_set_generation"), Some(2.0));

    // Same size, same mtime, same inode, new bytes.
    rewrite_keeping_mtime(&feed, "45.10.0.2\n");
    let (status, reply) = http(admin, "POST", "/reload").unwrap();
    assert_eq!((status, reply.trim()), (200, r#"{"generation":3}"#));
    let body = scrape(admin);
    assert_eq!(sample(&body, v4), Some(1.0));
    assert_eq!(sample(&body, dom), None);

    // And nothing changed again: the same generation.
    let (status, reply) = http(admin, "POST", "/reload").unwrap();
    assert_eq!((status, reply.trim()), (200, r#"{"generation":3}"#));
    assert_eq!(sample(&scrape(admin), same), Some(2.0));

    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
}

#[test]
fn the_file_watcher_sees_same_size_same_mtime_changes() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    std::fs::write(&feed, "45.10.0.1\n").unwrap();
    let admin = free_port();
    let cfg = config(
        dir.path(),
        admin,
        FILE_FEED,
        "[reload]\nwatch_files = true\nwatch_interval = \"100ms\"",
    );
    let mut child = start_iocd(&mut iocd_run(&cfg), admin, "/readyz");
    replace_keeping_mtime(&feed, "evil1.com\n");
    let dom = "iocd_ioc_indicators{feed=\"test\",kind=\"domain\"}";
    wait_metrics(&mut child, admin, Duration::from_secs(30), "watch", |b| {
        sample(b, dom) == Some(1.0)
    });
    rewrite_keeping_mtime(&feed, "evil2.com\n");
    wait_metrics(&mut child, admin, Duration::from_secs(30), "watch", |b| {
        sample(b, "iocd_ioc_set_generation") == Some(3.0)
    });
    let (status, log) = stop_iocd(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{log}");
}

#[test]
fn rejected_records_are_counted_and_the_first_kept() {
    // `iocd iocs stats` on a feed with 5,000 bad lines and 6,000 good ones, keep_rejected = 100.
    let dir = tempfile::tempdir().unwrap();
    let mut text = ipv4_list(6000);
    for i in 0..5000 {
        text.push_str(&format!("not an indicator {i}\n"));
    }
    std::fs::write(dir.path().join("feed.txt"), text).unwrap();
    let cfg = config(
        dir.path(),
        free_port(),
        &format!("{FILE_FEED}\nkeep_rejected = 100"),
        NO_WATCH,
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["iocs", "stats", "--all-rejected", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = stdout
        .lines()
        .filter(|l| l.starts_with("rejected  ") && l.contains("feed.txt:"))
        .count();
    assert_eq!(listed, 100, "{stdout}");
    assert!(stdout.contains("\nrejected          5000\n"), "{stdout}");
    assert!(stdout.contains("\nindicators        6000\n"), "{stdout}");
}

#[tokio::test]
async fn max_shrink_one_accepts_any_shrink() {
    use iocd::ioc::Catalog;
    use iocd::ioc::catalog::Outcome;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.txt");
    std::fs::write(&p, ipv4_list(100)).unwrap();
    let feed = |extra: &str| -> iocd::config::FeedConfig {
        toml::from_str(&format!(
            "name = \"f\"\npath = {:?}\n{extra}",
            p.display().to_string()
        ))
        .unwrap()
    };
    let mut strict = Catalog::new(&[feed("")], &[]);
    let mut loose = Catalog::new(&[feed("max_shrink = 1.0")], &[]);
    strict.refresh_all().await;
    loose.refresh_all().await;
    std::fs::write(&p, "# emptied\n").unwrap();
    let r = strict.refresh_all().await;
    assert_eq!(
        r.feeds[0].outcome,
        Outcome::Failed {
            kept_previous: true
        }
    );
    assert_eq!(r.feeds[0].reason, Some("empty"));
    assert_eq!(strict.compile(SystemTime::now()).0.len(), 100);
    let r = loose.refresh_all().await;
    assert!(matches!(
        r.feeds[0].outcome,
        Outcome::Updated { listings: 0, .. }
    ));
    assert_eq!(loose.compile(SystemTime::now()).0.len(), 0);
}

#[tokio::test]
async fn an_allowlist_changed_with_the_same_size_and_mtime_is_read_again() {
    use iocd::ioc::{Catalog, parse_indicator};
    let dir = tempfile::tempdir().unwrap();
    let (feed, allow) = (dir.path().join("f.txt"), dir.path().join("allow.txt"));
    std::fs::write(&feed, "45.1.1.1\n45.1.1.2\n").unwrap();
    std::fs::write(&allow, "45.1.1.1\n").unwrap();
    let feeds: Vec<iocd::config::FeedConfig> = vec![
        toml::from_str(&format!(
            "name = \"f\"\npath = {:?}",
            feed.display().to_string()
        ))
        .unwrap(),
    ];
    let lists: Vec<iocd::config::AllowlistConfig> =
        vec![toml::from_str(&format!("path = {:?}", allow.display().to_string())).unwrap()];
    let mut c = Catalog::new(&feeds, &lists);
    c.refresh_all().await;
    let has = |c: &Catalog, v: &str| {
        c.compile(SystemTime::now())
            .0
            .find(&parse_indicator(v).unwrap())
            .is_some()
    };
    assert!(!has(&c, "45.1.1.1") && has(&c, "45.1.1.2"));
    // Nothing changed: nothing to compile.
    assert!(!c.refresh_all().await.changed());
    rewrite_keeping_mtime(&allow, "45.1.1.2\n");
    let r = c.refresh_all().await;
    assert!(r.changed() && r.allowlists[0].updated);
    assert!(has(&c, "45.1.1.1") && !has(&c, "45.1.1.2"));
}

#[test]
fn guard_keys_out_of_range_are_refused_with_their_key_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "45.1.0.1\n").unwrap();
    let cfg = config(
        dir.path(),
        free_port(),
        &format!("{FILE_FEED}\nmax_shrink = 1.5\nkeep_rejected = 2000000"),
        "[reload]\nmax_rejected = -0.1",
    );
    let out = iocd_validate(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for key in [
        "feeds[0].max_shrink",
        "feeds[0].keep_rejected",
        "reload.max_rejected",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
}
