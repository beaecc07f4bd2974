//! Feed loading end to end on generated fixtures: the catalog's lifecycle (expiry, revocation,
//! TTL, withdrawal, failed refreshes keeping the previous generation), per-feed settings,
//! allowlists, HTTP fetching against a local server, and the `iocs` CLI on a configuration.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iocd::config::{AllowlistConfig, FeedConfig};
use iocd::ioc::catalog::Outcome;
use iocd::ioc::{Catalog, load_config_feeds, parse_indicator};
use iocd_engine::{IocSet, Tlp};

fn feed(toml: &str) -> FeedConfig {
    toml::from_str(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

fn file_feed(name: &str, path: &Path, extra: &str) -> FeedConfig {
    feed(&format!(
        "name = {name:?}\npath = {:?}\n{extra}",
        path.display().to_string()
    ))
}

fn allow(path: &Path) -> AllowlistConfig {
    toml::from_str(&format!("path = {:?}", path.display().to_string())).unwrap()
}

fn has(set: &IocSet, v: &str) -> bool {
    set.find(&parse_indicator(v).unwrap()).is_some()
}

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

const STIX: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
  {"type": "indicator", "id": "indicator--a", "pattern": "[ipv4-addr:value = '45.1.1.1']",
   "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"},
  {"type": "indicator", "id": "indicator--b", "pattern": "[domain-name:value = 'old-c2.net']",
   "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z"},
  {"type": "indicator", "id": "indicator--c", "pattern": "[url:value = 'http://gone.net/x']",
   "revoked": true}
]}"#;

#[tokio::test]
async fn expiry_is_reevaluated_without_reading_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.json");
    std::fs::write(&p, STIX).unwrap();
    let mut c = Catalog::new(&[file_feed("stix", &p, "")], &[]);
    let r = c.refresh_all().await;
    assert!(r.changed());
    // In 2020-06 the second indicator was still valid; the revoked one never is.
    let (set, rep) = c.compile(at(1_590_969_600));
    assert!(has(&set, "45.1.1.1") && has(&set, "old-c2.net"));
    assert!(!has(&set, "http://gone.net/x"));
    assert_eq!(rep.feeds[0].inactive_by.get("revoked"), Some(&1));
    // Now it has expired: same generation, compiled again.
    std::fs::remove_file(&p).unwrap();
    let (set, rep) = c.compile(SystemTime::now());
    assert!(has(&set, "45.1.1.1"));
    assert!(!has(&set, "old-c2.net"));
    assert_eq!(rep.feeds[0].inactive, 2);
    assert_eq!(rep.feeds[0].inactive_by.get("expired"), Some(&1));
    assert_eq!(rep.feeds[0].accepted, 1);
}

#[tokio::test]
async fn ttl_by_last_seen_else_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.csv");
    std::fs::write(
        &p,
        "ioc,last_seen\n45.2.2.2,2020-01-01\n45.3.3.3,\n45.4.4.4,2099-01-01\n",
    )
    .unwrap();
    let mut c = Catalog::new(&[file_feed("csv", &p, "ttl = \"30d\"")], &[]);
    c.refresh_all().await;
    let now = SystemTime::now();
    let (set, rep) = c.compile(now);
    assert!(
        !has(&set, "45.2.2.2"),
        "last seen in 2020: older than the TTL"
    );
    assert!(
        has(&set, "45.3.3.3"),
        "no time of its own: the feed was read just now"
    );
    assert!(has(&set, "45.4.4.4"));
    assert_eq!(rep.feeds[0].inactive_by.get("ttl"), Some(&1));
    // 40 days later, without a refresh, the listing without a time is stale too.
    let (set, _) = c.compile(now + Duration::from_secs(40 * 86400));
    assert!(!has(&set, "45.3.3.3"));
    assert!(has(&set, "45.4.4.4"));
}

#[tokio::test]
async fn withdrawn_indicators_go_and_unchanged_files_are_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("list.txt");
    std::fs::write(&p, "45.5.5.5\nevil-one.com\n").unwrap();
    let mut c = Catalog::new(&[file_feed("plain", &p, "")], &[]);
    c.refresh_all().await;
    assert!(has(&c.compile(SystemTime::now()).0, "evil-one.com"));
    let r = c.refresh_all().await;
    assert_eq!(r.feeds[0].outcome, Outcome::Unchanged);
    assert!(!r.changed());
    // A new generation without evil-one.com (longer, so the change shows even within one
    // second of mtime resolution).
    std::fs::write(&p, "45.5.5.5\nevil-two.com\n# more\n").unwrap();
    let r = c.refresh_all().await;
    assert!(matches!(
        r.feeds[0].outcome,
        Outcome::Updated { listings: 2, .. }
    ));
    let (set, _) = c.compile(SystemTime::now());
    assert!(has(&set, "evil-two.com"));
    assert!(!has(&set, "evil-one.com"));
    assert_eq!(
        c.watched_files(),
        vec![p.clone()],
        "the feed file is what to watch"
    );
}

#[tokio::test]
async fn a_broken_generation_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("e.json");
    std::fs::write(
        &p,
        r#"{"Event": {"Attribute": [{"type": "domain", "value": "misp-c2.net", "to_ids": true}]}}"#,
    )
    .unwrap();
    let missing = dir.path().join("never-there.txt");
    let feeds = [
        file_feed("misp", &p, ""),
        file_feed("missing", &missing, ""),
    ];
    let mut c = Catalog::new(&feeds, &[]);
    let r = c.refresh_all().await;
    assert_eq!(
        r.feeds[1].outcome,
        Outcome::Failed {
            kept_previous: false
        }
    );
    assert!(
        r.failures()[0].1.contains("never-there.txt"),
        "{:?}",
        r.failures()
    );
    std::fs::write(&p, r#"{"Event": {"Attribute": [{"type": "dom"#).unwrap();
    let r = c.refresh_all().await;
    assert_eq!(
        r.feeds[0].outcome,
        Outcome::Failed {
            kept_previous: true
        }
    );
    let err = r.feeds[0].error.as_deref().unwrap();
    assert!(err.contains("e.json") && err.contains("line 1"), "{err}");
    let (set, rep) = c.compile(SystemTime::now());
    assert!(has(&set, "misp-c2.net"), "previous generation still in use");
    assert!(rep.feeds[0].error.is_some());
    assert!(rep.feeds[1].loaded_at.is_none() && rep.feeds[1].error.is_some());
}

#[test]
fn blocking_loader_reports_an_unreadable_feed_per_feed() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.txt");
    std::fs::write(&ok, "45.11.11.11\n").unwrap();
    let feeds = [
        file_feed("ok", &ok, ""),
        file_feed("missing", &dir.path().join("never-there.txt"), ""),
    ];
    let (set, rep) = load_config_feeds(&feeds, &[]).unwrap();
    assert!(has(&set, "45.11.11.11"));
    assert!(rep.feeds[0].error.is_none());
    assert!(
        rep.feeds[1]
            .error
            .as_deref()
            .unwrap()
            .contains("cannot read")
    );
}

#[tokio::test]
async fn per_feed_settings_rails_and_allowlists() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(
        &a,
        "45.6.6.6\n10.1.2.3\nsub.evil-a.com\n1.2.0.0/12\nco.uk\n\
         d41d8cd98f00b204e9800998ecf8427e\n8.8.8.8\ngood.example.org\ntracker.allowed.net\n",
    )
    .unwrap();
    let b = dir.path().join("b.csv");
    std::fs::write(
        &b,
        "value,confidence\n45.6.6.6,90\n3395856ce81f2b7382dee72602f798b642f14140,10\n",
    )
    .unwrap();
    let plain_allow = dir.path().join("allow.txt");
    std::fs::write(&plain_allow, "allowed.net\n").unwrap();
    let wl = dir.path().join("dns.json");
    std::fs::write(
        &wl,
        r#"{"name": "Public DNS", "type": "cidr", "matching_attributes": ["ip-dst"], "list": ["8.8.8.8"]}"#,
    )
    .unwrap();
    let feeds = [
        file_feed(
            "a",
            &a,
            "weight = 2.5\nsubdomains = false\nconfidence = 40\ntlp = \"amber\"\nmin_prefix_v4 = 12",
        ),
        file_feed("b", &b, "types = [\"ipv4\"]"),
    ];
    let mut c = Catalog::new(&feeds, &[allow(&plain_allow), allow(&wl)]);
    c.refresh_all().await;
    let (set, rep) = c.compile(SystemTime::now());
    let fa = &rep.feeds[0];
    assert_eq!(fa.accepted, 3, "{fa:?}");
    for (reason, n) in [
        ("reserved", 2),
        ("public_suffix", 1),
        ("empty_hash", 1),
        ("allowlisted", 2),
    ] {
        assert_eq!(fa.rejected_by.get(reason), Some(&n), "{reason}: {fa:?}");
    }
    assert!(has(&set, "1.2.0.0/12"), "min_prefix_v4 = 12 lets a /12 in");
    let dropped: Vec<String> = rep
        .rejected
        .iter()
        .filter(|r| r.reason.code() == "allowlisted")
        .map(|r| r.to_string())
        .collect();
    assert!(
        dropped
            .iter()
            .any(|d| d.ends_with("a.txt:7: on allowlist Public DNS: \"8.8.8.8\"")),
        "{dropped:?}"
    );
    assert_eq!(rep.allowlists.len(), 2);
    assert_eq!(rep.allowlists[1].dropped, 1);
    // subdomains = false: only the name itself.
    let mut hits = Vec::new();
    let mut scratch = iocd::Scratch::new();
    set.scan(b"x.sub.evil-a.com sub.evil-a.com", &mut scratch, &mut hits);
    assert_eq!(hits.len(), 1);
    // Feed b: the hash is filtered out by type; the IP merges with feed a's.
    assert_eq!(rep.feeds[1].skipped.get("type_filter"), Some(&1));
    assert_eq!(rep.feeds[1].merged, 1);
    let id = set.find(&parse_indicator("45.6.6.6").unwrap()).unwrap();
    let srcs = set.sources(id);
    assert_eq!(srcs.len(), 2);
    let fa_meta = set.meta(&srcs[0]).unwrap();
    assert_eq!(
        (fa_meta.confidence, fa_meta.tlp),
        (Some(40), Some(Tlp::Amber)),
        "feed defaults"
    );
    assert_eq!(set.meta(&srcs[1]).unwrap().confidence, Some(90));
    assert_eq!(set.feeds()[0].weight, 2.5);
    assert_eq!(set.feeds()[1].weight, 1.0);
    // An allowlist that changes is read again; the feeds are not.
    std::fs::write(&plain_allow, "# nothing allowed any more, and longer\n").unwrap();
    let r = c.refresh_all().await;
    assert!(r.allowlists.iter().any(|a| a.updated));
    assert!(r.feeds.iter().all(|f| f.outcome == Outcome::Unchanged));
    let (set, rep) = c.compile(SystemTime::now());
    assert!(
        has(&set, "domain-exact:tracker.allowed.net"),
        "{:?}",
        rep.rejected
    );
}

#[tokio::test]
async fn misp_feed_folder_and_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = "5b1a9a1e-0000-4000-8000-00000000000a";
    std::fs::write(
        dir.path().join("manifest.json"),
        format!(r#"{{"{uuid}": {{"info": "x"}}}}"#),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(format!("{uuid}.json")),
        r#"{"Event": {"Attribute": [{"type": "ip-dst|port", "value": "45.7.7.7|8080", "to_ids": true}]}}"#,
    )
    .unwrap();
    let mut c = Catalog::new(&[file_feed("folder", dir.path(), "refresh = \"1h\"")], &[]);
    assert_eq!(
        c.next_refresh(),
        Some(UNIX_EPOCH),
        "never read: due at once"
    );
    let t0 = SystemTime::now();
    let r = c.refresh_due(t0).await;
    assert_eq!(r.feeds.len(), 1);
    assert!(has(&c.compile(t0).0, "45.7.7.7"));
    assert_eq!(c.next_refresh(), Some(t0 + Duration::from_secs(3600)));
    assert!(
        c.refresh_due(t0 + Duration::from_secs(60))
            .await
            .feeds
            .is_empty()
    );
    assert_eq!(
        c.refresh_due(t0 + Duration::from_secs(3600))
            .await
            .feeds
            .len(),
        1
    );
    assert!(
        c.watched_files()
            .contains(&dir.path().join("manifest.json"))
    );
}

mod http {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    #[derive(Default)]
    struct Srv {
        hits: AtomicUsize,
        conditional: AtomicUsize,
        /// Fail this many requests with 503 first.
        fail: AtomicUsize,
        body: std::sync::Mutex<String>,
    }

    async fn feed_txt(State(s): State<Arc<Srv>>, h: HeaderMap) -> Response {
        s.hits.fetch_add(1, Ordering::SeqCst);
        if s.fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let body = s.body.lock().unwrap().clone();
        let etag = format!("\"{}\"", body.len());
        if h.get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.to_str().unwrap() == etag)
        {
            s.conditional.fetch_add(1, Ordering::SeqCst);
            return StatusCode::NOT_MODIFIED.into_response();
        }
        ([(header::ETAG, etag)], body).into_response()
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "45.9.9.9\n"
    }

    async fn serve(s: Arc<Srv>) -> String {
        let app = Router::new()
            .route("/feed.txt", get(feed_txt))
            .route("/big.txt", get(|| async { "45.1.2.3\n".repeat(10_000) }))
            .route("/slow.txt", get(slow))
            .route("/gone.txt", get(|| async { StatusCode::NOT_FOUND }))
            .with_state(s);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn url_feed(name: &str, url: &str, cache: &Path, extra: &str) -> FeedConfig {
        feed(&format!(
            "name = {name:?}\nurl = {url:?}\ncache = {:?}\n{extra}\n[http]\nretry_delay = \"10ms\"\ntimeout = \"1s\"\nmax_bytes = 4096\n",
            cache.display().to_string()
        ))
    }

    #[tokio::test]
    async fn conditional_requests_retries_cap_and_cache() {
        let srv = Arc::new(Srv::default());
        *srv.body.lock().unwrap() = "45.8.8.1\nhttp-c2.net\n".to_owned();
        let base = serve(srv.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache/feed.txt");
        let feeds = [url_feed("web", &format!("{base}/feed.txt"), &cache, "")];
        let mut c = Catalog::new(&feeds, &[]);

        // First download, after two 503s.
        srv.fail.store(2, Ordering::SeqCst);
        let r = c.refresh_all().await;
        assert!(
            matches!(
                r.feeds[0].outcome,
                Outcome::Updated {
                    listings: 2,
                    from_cache: false,
                    ..
                }
            ),
            "{r:?}"
        );
        assert_eq!(srv.hits.load(Ordering::SeqCst), 3);
        assert!(has(&c.compile(SystemTime::now()).0, "http-c2.net"));
        assert_eq!(
            std::fs::read_to_string(&cache).unwrap(),
            "45.8.8.1\nhttp-c2.net\n"
        );

        // Unchanged: one conditional request answered 304.
        let r = c.refresh_all().await;
        assert_eq!(r.feeds[0].outcome, Outcome::Unchanged);
        assert_eq!(srv.conditional.load(Ordering::SeqCst), 1);

        // The feed withdraws an indicator.
        *srv.body.lock().unwrap() = "45.8.8.1\n".to_owned();
        c.refresh_all().await;
        assert!(!has(&c.compile(SystemTime::now()).0, "http-c2.net"));

        // The server fails every try: the previous generation stays.
        srv.fail.store(100, Ordering::SeqCst);
        let before = srv.hits.load(Ordering::SeqCst);
        let r = c.refresh_all().await;
        assert_eq!(
            r.feeds[0].outcome,
            Outcome::Failed {
                kept_previous: true
            }
        );
        assert_eq!(
            srv.hits.load(Ordering::SeqCst) - before,
            4,
            "one try and 3 retries"
        );
        assert!(r.feeds[0].error.as_deref().unwrap().contains("HTTP 503"));
        assert!(has(&c.compile(SystemTime::now()).0, "45.8.8.1"));

        // A restart while the server is down: the cache has the last good copy.
        let mut fresh = Catalog::new(&feeds, &[]);
        let r = fresh.refresh_all().await;
        assert!(
            matches!(
                r.feeds[0].outcome,
                Outcome::Updated {
                    from_cache: true,
                    ..
                }
            ),
            "{r:?}"
        );
        assert!(has(&fresh.compile(SystemTime::now()).0, "45.8.8.1"));

        // A restart with the server up and the feed unchanged: 304 against the cache's ETag.
        srv.fail.store(0, Ordering::SeqCst);
        let conditional = srv.conditional.load(Ordering::SeqCst);
        let mut fresh = Catalog::new(&feeds, &[]);
        let r = fresh.refresh_all().await;
        assert!(matches!(
            r.feeds[0].outcome,
            Outcome::Updated {
                from_cache: true,
                ..
            }
        ));
        assert_eq!(srv.conditional.load(Ordering::SeqCst), conditional + 1);
    }

    async fn misp_manifest(State(s): State<Arc<Srv>>, h: HeaderMap) -> Response {
        s.hits.fetch_add(1, Ordering::SeqCst);
        if h.get(header::IF_NONE_MATCH).is_some_and(|v| v == "\"m1\"") {
            s.conditional.fetch_add(1, Ordering::SeqCst);
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let m = r#"{"5b1a9a1e-0000-4000-8000-0000000000e1": {"info": "one"},
                    "5b1a9a1e-0000-4000-8000-0000000000e2": {"info": "broken"}}"#;
        ([(header::ETAG, "\"m1\"")], m).into_response()
    }

    #[tokio::test]
    async fn misp_feed_folder_over_http() {
        let srv = Arc::new(Srv::default());
        let app = Router::new()
            .route("/misp/manifest.json", get(misp_manifest))
            .route(
                "/misp/5b1a9a1e-0000-4000-8000-0000000000e1.json",
                get(|| async {
                    r#"{"Event": {"Attribute": [{"type": "domain", "value": "folder-c2.net", "to_ids": true}]}}"#
                }),
            )
            .route(
                "/misp/5b1a9a1e-0000-4000-8000-0000000000e2.json",
                get(|| async { "{not json" }),
            )
            .with_state(srv.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("misp.json");
        let feeds = [url_feed(
            "misp",
            &format!("http://{addr}/misp/manifest.json"),
            &cache,
            "",
        )];
        let mut c = Catalog::new(&feeds, &[]);
        let r = c.refresh_all().await;
        assert!(
            matches!(
                r.feeds[0].outcome,
                Outcome::Updated {
                    listings: 1,
                    rejected: 1,
                    ..
                }
            ),
            "{r:?}"
        );
        let (set, rep) = c.compile(SystemTime::now());
        assert!(has(&set, "folder-c2.net"));
        assert_eq!(rep.feeds[0].format, "misp");
        let bad = rep.rejected[0].to_string();
        assert!(
            bad.contains("0000000000e2.json: not JSON") && bad.contains("$.response[1]"),
            "{bad}"
        );
        // The manifest is unchanged: one 304, no event downloaded again.
        let hits = srv.hits.load(Ordering::SeqCst);
        let r = c.refresh_all().await;
        assert_eq!(r.feeds[0].outcome, Outcome::Unchanged);
        assert_eq!(srv.hits.load(Ordering::SeqCst), hits + 1);
        // The cache holds the events as one MISP response, and loads after a restart.
        let mut fresh = Catalog::new(&feeds, &[]);
        fresh.refresh_all().await;
        assert!(has(&fresh.compile(SystemTime::now()).0, "folder-c2.net"));
        assert!(
            std::fs::read_to_string(&cache)
                .unwrap()
                .starts_with("{\"response\":[")
        );
    }

    #[tokio::test]
    async fn size_cap_timeout_and_not_found() {
        let srv = Arc::new(Srv::default());
        let base = serve(srv).await;
        let dir = tempfile::tempdir().unwrap();
        let feeds = [
            url_feed("big", &format!("{base}/big.txt"), &dir.path().join("b"), ""),
            url_feed(
                "slow",
                &format!("{base}/slow.txt"),
                &dir.path().join("s"),
                "",
            ),
            url_feed(
                "gone",
                &format!("{base}/gone.txt"),
                &dir.path().join("g"),
                "",
            ),
        ];
        // One try for the slow one (the timeout is what is tested), two for the others.
        let feeds: Vec<FeedConfig> = feeds
            .into_iter()
            .map(|mut f| {
                f.http.retries = if f.name == "slow" { 0 } else { 1 };
                f
            })
            .collect();
        let mut c = Catalog::new(&feeds, &[]);
        let t = std::time::Instant::now();
        let r = c.refresh_all().await;
        let errors: Vec<&str> = r
            .feeds
            .iter()
            .map(|f| f.error.as_deref().unwrap())
            .collect();
        assert!(errors[0].contains("larger than max_bytes"), "{errors:?}");
        assert!(errors[1].contains("timed out"), "{errors:?}");
        assert!(errors[2].contains("HTTP 404"), "{errors:?}");
        assert!(t.elapsed() < Duration::from_secs(4), "the timeout held");
        assert!(c.compile(SystemTime::now()).0.is_empty());
    }
}

#[test]
fn cli_stats_and_lookup_with_a_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c2.csv"),
        "# banner\n\"first_seen_utc\",\"dst_ip\",\"malware\"\n\"2024-01-01 00:00:00\",\"45.10.10.10\",\"QakBot\"\n\"2024-01-01 00:00:00\",\"10.0.0.1\",\"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("more.txt"), "45.10.10.10\nbad..name\n").unwrap();
    std::fs::write(
        dir.path().join("iocd.toml"),
        "[[feeds]]\nname = \"c2\"\npath = \"c2.csv\"\nconfidence = 80\nweight = 2.0\n\
         [[feeds]]\nname = \"more\"\npath = \"more.txt\"\n\
         [[feeds]]\nname = \"asn\"\npath = \"asn.json\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("asn.json"), "{\"asn\": 1}\n").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["iocs", "stats", "--config", "iocd.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a feed did not load: {stderr}");
    assert!(
        stderr.contains("asn.json: JSON that is neither"),
        "{stderr}"
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name} in\n{stdout}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // feed format loaded merged rejected inactive bytes/ind location
    assert_eq!(&row("c2")[1..6], ["csv", "1", "0", "1", "0"]);
    assert_eq!(&row("more")[1..6], ["plain", "1", "1", "1", "0"]);
    assert!(stdout.contains("    rejected: reserved 1"), "{stdout}");
    assert!(stdout.contains("indicators        1\n"), "{stdout}");

    let out = run(&["iocs", "lookup", "45.10.10.10", "--config", "iocd.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("ipv4\t45.10.10.10\n"), "{s}");
    assert!(
        s.contains("\tfeed c2 (")
            && s.contains(
                ":3) weight=2 confidence=80 first_seen=2024-01-01T00:00:00Z malware=\"QakBot\""
            ),
        "{s}"
    );
    assert!(s.contains("\tfeed more ("), "{s}");
    let out = run(&["iocs", "lookup", "10.0.0.1", "--config", "iocd.toml"]);
    assert_eq!(out.status.code(), Some(1), "rejected by the rails");
}

#[tokio::test]
async fn the_catalog_can_live_in_a_spawned_task() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.txt");
    std::fs::write(&p, "45.12.12.12\n").unwrap();
    let mut c = Catalog::new(&[file_feed("l", &p, "refresh = \"1m\"")], &[]);
    // The daemon refreshes from its own task: the futures must be Send.
    let set = tokio::spawn(async move {
        c.refresh_all().await;
        c.refresh_due(SystemTime::now() + Duration::from_secs(61))
            .await;
        c.compile(SystemTime::now()).0
    })
    .await
    .unwrap();
    assert!(has(&set, "45.12.12.12"));
}
