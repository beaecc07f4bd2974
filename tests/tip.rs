//! Collecting from threat-intelligence platforms (issue 16), against real peers where there
//! are any: a medallion TAXII 2.1 server (installed by `scripts/medallion.sh`), behind a TLS
//! front that requires a client certificate for the certificate case; for MISP (which cannot
//! be installed here) a local server that answers `/attributes/restSearch` as MISP's
//! documentation says (`iocd_testkit::misp_server`), whose recorded requests show what iocd
//! asked for.

use std::path::Path;
use std::time::{Duration, SystemTime};

use iocd::config::FeedConfig;
use iocd::ioc::{Catalog, LoadReport, parse_indicator};
use iocd_engine::IocSet;
use iocd_testkit::medallion::{self, Medallion, indicator};
use iocd_testkit::misp_server::{MispServer, attribute};
use serde_json::Value;

/// One `[[feeds]]` entry, written as in a configuration (`[feeds.taxii]`, ...).
fn feed(toml_text: &str) -> FeedConfig {
    let alone = toml_text.replace("[feeds.", "[");
    toml::from_str(&alone).unwrap_or_else(|e| panic!("{e}\n{alone}"))
}

use iocd_testkit::endpoint::runtime as rt;

fn refresh(rt: &tokio::runtime::Runtime, c: &mut Catalog) -> (IocSet, LoadReport) {
    rt.block_on(c.refresh_all());
    c.compile(SystemTime::now())
}

/// The row of feed `name` in `iocd iocs stats --config conf`, split on blanks: what another
/// iocd process makes of the feed.
fn stats_row(conf: &Path, name: &str) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["iocs", "stats", "--config"])
        .arg(conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row {name} in\n{stdout}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn has(set: &IocSet, v: &str) -> bool {
    set.find(&parse_indicator(v).unwrap()).is_some()
}

fn ip(i: usize) -> String {
    format!("45.61.{}.{}", 136 + i / 200, 1 + i % 200)
}

fn id(i: usize) -> String {
    format!("indicator--{i:08x}-7d2e-4b6a-9c1f-3a5e8d0b2c4f")
}

fn taxii_feed(
    dir: &Path,
    url: &str,
    collection: &str,
    password_file: &Path,
    extra: &str,
) -> FeedConfig {
    feed(&format!(
        "name = \"taxii\"\ntype = \"taxii\"\nurl = \"{url}\"\ncache = \"{}\"\n{extra}\n\
         [feeds.taxii]\ncollection = \"{collection}\"\nlimit = 10\nusername = \"admin\"\n\
         password_file = \"{}\"\n",
        dir.join("taxii.state.json").display(),
        password_file.display()
    ))
}

#[test]
fn taxii_collection_pages_polls_incrementally_revokes_and_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let m = Medallion::start(dir.path(), 10, "admin", "Password0");
    // 25 indicators in one producer request: one date_added for all, pages of 10.
    let first: Vec<Value> = (0..25)
        .map(|i| indicator(&id(i), &ip(i), "2024-01-01T00:00:00.000Z", false))
        .collect();
    m.add(&first);
    let pw = dir.path().join("password");
    std::fs::write(&pw, "Password0\n").unwrap();
    let cfg = taxii_feed(dir.path(), &m.discovery(), medallion::TITLE, &pw, "");
    let rt = rt();

    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None, "{}", m.log());
    assert_eq!(report.feeds[0].format, "stix");
    assert_eq!(report.feeds[0].accepted, 25);
    assert!((0..25).all(|i| has(&set, &ip(i))));
    let reqs = m.object_requests();
    assert_eq!(reqs.len(), 3, "25 objects in pages of 10: {reqs:#?}");
    assert!(
        !reqs[0].contains("next=") && !reqs[0].contains("added_after="),
        "{reqs:#?}"
    );
    assert!(
        reqs[1].contains("next=") && reqs[2].contains("next="),
        "{reqs:#?}"
    );

    // Between two polls: three new indicators, and a new version of one that revokes it.
    std::thread::sleep(Duration::from_millis(20));
    let mut more: Vec<Value> = (25..28)
        .map(|i| indicator(&id(i), &ip(i), "2024-01-02T00:00:00.000Z", false))
        .collect();
    more.push(indicator(&id(3), &ip(3), "2024-02-01T00:00:00.000Z", true));
    m.add(&more);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None, "{}", m.log());
    let reqs = m.object_requests();
    assert_eq!(reqs.len(), 4, "one page of what is new: {reqs:#?}");
    assert!(reqs[3].contains("added_after="), "{}", reqs[3]);
    assert!((25..28).all(|i| has(&set, &ip(i))));
    assert!(!has(&set, &ip(3)), "the revoked indicator is not matched");
    assert_eq!(report.feeds[0].accepted, 27);

    // Nothing new: a poll that changes nothing is unchanged (medallion's added_after is
    // exclusive; an inclusive server's repeats would merge to nothing too).
    let (_, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert_eq!(m.object_requests().len(), 5);

    // A restart resumes from the saved state: the first request asks only for what was added
    // after the saved cursor, and the set is whole.
    drop(c);
    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    let reqs = m.object_requests();
    assert_eq!(reqs.len(), 6, "{reqs:#?}");
    assert!(
        reqs[5].contains("added_after="),
        "resumed, not downloaded again: {}",
        reqs[5]
    );
    assert_eq!(report.feeds[0].accepted, 27);
    assert!(has(&set, &ip(0)) && has(&set, &ip(27)) && !has(&set, &ip(3)));

    // Another iocd process (`iocs stats --config`) resumes from the same state file too.
    let conf = dir.path().join("iocd.toml");
    let text = format!(
        "[[feeds]]\nname = \"taxii\"\ntype = \"taxii\"\nurl = \"{}\"\ncache = \"{}\"\n\
         [feeds.taxii]\ncollection = \"{}\"\nlimit = 10\nusername = \"admin\"\npassword_file = \"{}\"\n",
        m.discovery(),
        dir.path().join("taxii.state.json").display(),
        medallion::TITLE,
        pw.display()
    );
    std::fs::write(&conf, text).unwrap();
    assert_eq!(&stats_row(&conf, "taxii")[1..3], ["stix", "27"]);
    let reqs = m.object_requests();
    assert_eq!(reqs.len(), 7, "{reqs:#?}");
    assert!(reqs[6].contains("added_after="), "{}", reqs[6]);
    // `iocs lookup` names the STIX indicator that lists a value, from the saved collection.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["iocs", "lookup", &ip(27), "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{} \"C2 {}\"", id(27), ip(27))),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server goes away: the poll fails and the collection in use stays.
    let mut restarted = c;

    // The collection by id works as by title; a wrong password is refused with the status.
    let by_id = taxii_feed(dir.path(), &m.api_root(), medallion::COLLECTION, &pw, "");
    let mut c = Catalog::new(&[by_id], &[]);
    let (_, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert_eq!(report.feeds[0].accepted, 27);
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "nope").unwrap();
    std::fs::remove_file(dir.path().join("taxii.state.json")).unwrap();
    let wrong = taxii_feed(dir.path(), &m.discovery(), medallion::TITLE, &bad, "");
    let mut c = Catalog::new(&[wrong], &[]);
    let (set, report) = refresh(&rt, &mut c);
    let err = report.feeds[0].error.clone().unwrap_or_default();
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!has(&set, &ip(0)));

    drop(m);
    let (set, report) = refresh(&rt, &mut restarted);
    assert!(report.feeds[0].error.is_some());
    assert!(
        has(&set, &ip(0)) && has(&set, &ip(27)),
        "the previous generation stays"
    );
}

/// A TAXII server with the quirks of some real ones: `added_after` inclusive, `more` without
/// `next`, several objects per `date_added`. Objects are (date_added, object).
struct Quirky {
    objects: Vec<(String, Value)>,
    requests: std::sync::Mutex<Vec<String>>,
    /// The `Authorization` header of each request.
    auth: std::sync::Mutex<Vec<String>>,
}

async fn quirky_get(
    axum::extract::State(q): axum::extract::State<std::sync::Arc<Quirky>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    q.auth.lock().unwrap().push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    );
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    q.requests.lock().unwrap().push(format!("{path}?{query}"));
    let json = |v: Value| {
        (
            [("content-type", "application/taxii+json;version=2.1")],
            v.to_string(),
        )
            .into_response()
    };
    if path == "/root/" {
        return json(
            serde_json::json!({"title": "quirky", "versions": [iocd::ioc::tip::taxii::MEDIA_TYPE]}),
        );
    }
    if path == "/root/collections/" {
        return json(
            serde_json::json!({"collections": [{"id": "c1", "title": "all", "can_read": true}]}),
        );
    }
    let arg = |k: &str| {
        query.split('&').find_map(|kv| {
            let (a, b) = kv.split_once('=')?;
            (a == k).then(|| b.replace("%3A", ":"))
        })
    };
    let limit: usize = arg("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let after = arg("added_after");
    let newer: Vec<&(String, Value)> = q
        .objects
        .iter()
        // Inclusive, as some servers are.
        .filter(|(t, _)| after.as_ref().is_none_or(|a| t.as_str() >= a.as_str()))
        .collect();
    let page: Vec<&(String, Value)> = newer.iter().take(limit).copied().collect();
    let more = newer.len() > page.len();
    let mut resp = json(serde_json::json!({
        "more": more,
        "objects": page.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(),
    }));
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let h = resp.headers_mut();
        h.insert("x-taxii-date-added-first", first.0.parse().unwrap());
        h.insert("x-taxii-date-added-last", last.0.parse().unwrap());
    }
    resp
}

fn quirky(
    rt: &tokio::runtime::Runtime,
    objects: Vec<(String, Value)>,
) -> (std::sync::Arc<Quirky>, String) {
    let q = std::sync::Arc::new(Quirky {
        objects,
        requests: std::sync::Mutex::new(Vec::new()),
        auth: std::sync::Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(quirky_get)
        .with_state(q.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/root/", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    (q, url)
}

#[test]
fn taxii_servers_with_inclusive_added_after_and_no_next_neither_loop_nor_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    // 25 objects, three per timestamp: a page of 10 always ends inside a group.
    let objects: Vec<(String, Value)> = (0..25)
        .map(|i| {
            (
                format!("2024-03-01T00:00:{:02}.000000Z", i / 3),
                indicator(&id(i), &ip(i), "2024-01-01T00:00:00.000Z", false),
            )
        })
        .collect();
    let (q, url) = quirky(&rt, objects);
    let pw = dir.path().join("password");
    std::fs::write(&pw, "x").unwrap();
    let cfg = taxii_feed(dir.path(), &url, "all", &pw, "");
    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert_eq!(report.feeds[0].accepted, 25, "every object once");
    assert!((0..25).all(|i| has(&set, &ip(i))));
    let pages: Vec<String> = q
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("/objects/"))
        .cloned()
        .collect();
    assert!(
        pages.len() <= 4,
        "paged by added_after, no loop: {pages:#?}"
    );
    // The next poll gets the newest objects again (inclusive): nothing changes.
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert_eq!(report.feeds[0].accepted, 25);
    assert!(has(&set, &ip(24)));

    // More objects on one timestamp than a page holds, and no `next`: the poll stops (with a
    // warning) instead of asking for the same page for ever.
    let dir = tempfile::tempdir().unwrap();
    let same: Vec<(String, Value)> = (0..12)
        .map(|i| {
            (
                "2024-03-01T00:00:00.000000Z".to_owned(),
                indicator(&id(i), &ip(i), "2024-01-01T00:00:00.000Z", false),
            )
        })
        .collect();
    let (q, url) = quirky(&rt, same);
    let cfg = taxii_feed(dir.path(), &url, "all", &pw, "");
    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (_, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].accepted, 10);
    let n = q.requests.lock().unwrap().len();
    assert!(n <= 5, "{n} requests");

    // A collection past `max_objects` fails the poll: memory does not grow without bound.
    let dir = tempfile::tempdir().unwrap();
    let cfg = feed(&format!(
        "name = \"t\"\ntype = \"taxii\"\nurl = \"{url}\"\ncache = \"{}\"\n\
         [feeds.taxii]\ncollection = \"all\"\nmax_objects = 5\n",
        dir.path().join("s.json").display()
    ));
    let mut c = Catalog::new(&[cfg], &[]);
    let (set, report) = refresh(&rt, &mut c);
    let err = report.feeds[0].error.clone().unwrap_or_default();
    assert!(err.contains("max_objects (5)"), "{err}");
    assert!(!has(&set, &ip(0)));
    assert!(
        !dir.path().join("s.json").exists(),
        "no state was committed"
    );
}

#[test]
fn taxii_bearer_token_and_type_filter_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let objects = vec![(
        "2024-03-01T00:00:00.000000Z".to_owned(),
        indicator(&id(1), &ip(1), "2024-01-01T00:00:00.000Z", false),
    )];
    let (q, url) = quirky(&rt, objects);
    let token = dir.path().join("token");
    std::fs::write(&token, "opencti-token-42\n").unwrap();
    let cfg = feed(&format!(
        "name = \"t\"\ntype = \"taxii\"\nurl = \"{url}\"\ncache = \"{}\"\n\
         [feeds.taxii]\ncollection = \"all\"\ntoken_file = \"{}\"\ntypes = [\"indicator\", \"relationship\"]\n",
        dir.path().join("s.json").display(),
        token.display()
    ));
    let mut c = Catalog::new(&[cfg], &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert!(has(&set, &ip(1)));
    let auth = q.auth.lock().unwrap().clone();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "Bearer opencti-token-42"),
        "{auth:?}"
    );
    let reqs = q.requests.lock().unwrap().clone();
    let objects = reqs.iter().find(|r| r.contains("/objects/")).unwrap();
    assert!(
        objects.contains("match%5Btype%5D=indicator%2Crelationship"),
        "{objects}"
    );
}

#[test]
fn taxii_with_a_client_certificate_and_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let m = Medallion::start(dir.path(), 100, "admin", "Password0");
    m.add(&[indicator(&id(1), &ip(1), "2024-01-01T00:00:00.000Z", false)]);
    let pki = iocd_testkit::pki::mutual(dir.path());
    let port = iocd_testkit::pki::mutual_tls_proxy(&pki, m.port);
    let pw = dir.path().join("password");
    std::fs::write(&pw, "Password0").unwrap();
    let url = format!("https://127.0.0.1:{port}/api1/");
    let rt = rt();
    let tls = format!(
        "[feeds.http]\nretries = 0\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    // `taxii_feed` puts the extra text before `[feeds.taxii]`: a table of its own is fine.
    let with = taxii_feed(dir.path(), &url, medallion::TITLE, &pw, &tls);
    let mut c = Catalog::new(&[with], &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None, "{}", m.log());
    assert!(has(&set, &ip(1)));

    // Without the client certificate the server refuses the handshake.
    let only_ca = format!(
        "[feeds.http]\nretries = 0\nca_file = \"{}\"\n",
        pki.ca.display()
    );
    std::fs::remove_file(dir.path().join("taxii.state.json")).unwrap();
    let without = taxii_feed(dir.path(), &url, medallion::TITLE, &pw, &only_ca);
    let mut c = Catalog::new(&[without], &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert!(report.feeds[0].error.is_some());
    assert!(!has(&set, &ip(1)));
}

fn misp_feed(dir: &Path, url: &str, extra: &str) -> FeedConfig {
    feed(&misp_feed_text(dir, url, extra))
}

fn misp_feed_text(dir: &Path, url: &str, extra: &str) -> String {
    let key = dir.join("misp.key");
    std::fs::write(&key, "secret-key-123\n").unwrap();
    format!(
        "name = \"misp\"\ntype = \"misp-api\"\nurl = \"{url}\"\ncache = \"{}\"\n\
         [feeds.misp_api]\nkey_file = \"{}\"\nlimit = 2\n{extra}",
        dir.join("misp.state.json").display(),
        key.display()
    )
}

#[test]
fn misp_rest_pages_filters_pulls_incrementally_and_sees_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let ev = "5f2a3c1e-7b4d-4e8a-9c6f-1d2e3f4a5b6c";
    let mut attrs: Vec<Value> = (0..5)
        .map(|i| {
            attribute(
                &format!("a-{i}"),
                "ip-dst",
                &ip(i),
                1_700_000_000,
                ev,
                "Pikabot C2 wave",
            )
        })
        .collect();
    attrs[0]["decay_score"] = serde_json::json!([{"score": 61.7, "decayed": false}]);
    let (srv, url) = MispServer::start(&rt, "secret-key-123", attrs);
    let cfg = misp_feed(
        dir.path(),
        &url,
        "[feeds.misp_api.filters]\ntypes = [\"ip-dst\", \"domain\"]\ntags = [\"tlp:green\", \"tlp:clear\", \"+malware\", \"!false-positive\"]\ninclude_decay_score = true\n",
    );
    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert_eq!(report.feeds[0].accepted, 5);
    assert!((0..5).all(|i| has(&set, &ip(i))));
    // Pages of 2 until a short one: 3 requests, each with the filters MISP understands.
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    for (n, r) in reqs.iter().enumerate() {
        assert_eq!(r["returnFormat"], "json");
        assert_eq!(r["page"], n as u64 + 1);
        assert_eq!(r["limit"], 2);
        assert_eq!(r["type"], serde_json::json!(["ip-dst", "domain"]));
        assert_eq!(
            r["tags"],
            serde_json::json!({"OR": ["tlp:green", "tlp:clear"], "AND": ["malware"], "NOT": ["false-positive"]})
        );
        assert_eq!(r["to_ids"], 1);
        assert_eq!(r["published"], true);
        assert_eq!(r["enforceWarninglist"], true);
        assert_eq!(r["includeDecayScore"], true);
        assert!(r.get("timestamp").is_none(), "a first pull is full");
    }
    // The attribute's event info, TLP and decay score are its metadata.
    let id = set.find(&parse_indicator(&ip(0)).unwrap()).unwrap();
    let meta = set.meta(&set.sources(id)[0]).unwrap();
    assert_eq!(meta.description.as_deref(), Some("Pikabot C2 wave"));
    assert_eq!(meta.confidence, Some(62));
    assert_eq!(meta.tlp, Some(iocd_engine::Tlp::Green));
    assert_eq!(
        meta.context
            .as_ref()
            .and_then(|c| c.report.clone())
            .as_deref(),
        Some(&*format!("misp-event:{ev}"))
    );

    // Later: one attribute deleted, one added. The next pull asks only for what changed.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    {
        let mut a = srv.attributes.lock().unwrap();
        a[1]["deleted"] = Value::Bool(true);
        a[1]["timestamp"] = Value::String((now + 5).to_string());
        a.push(attribute(
            "a-9",
            "ip-dst",
            &ip(9),
            now + 5,
            ev,
            "Pikabot C2 wave",
        ));
    }
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    let reqs = srv.requests();
    let last = &reqs[reqs.len() - 1];
    assert!(last["timestamp"].as_i64().is_some(), "{last}");
    assert_eq!(last["deleted"], serde_json::json!([0, 1]));
    // The two changes fill a page of 2: a second, empty page ends the pull.
    assert_eq!(reqs.len(), 5, "{reqs:#?}");
    assert_eq!(reqs[3]["timestamp"], last["timestamp"]);
    assert!(has(&set, &ip(9)) && !has(&set, &ip(1)) && has(&set, &ip(0)));
    assert_eq!(report.feeds[0].accepted, 5);

    // Pulls that find nothing leave the cursor and the state file alone: both ask from the
    // same time.
    let state_file = dir.path().join("misp.state.json");
    let saved = std::fs::read_to_string(&state_file).unwrap();
    for _ in 0..2 {
        // A second apart: a cursor that moved would say so.
        std::thread::sleep(Duration::from_millis(1100));
        let (_, report) = refresh(&rt, &mut c);
        assert_eq!(report.feeds[0].error, None);
    }
    let reqs = srv.requests();
    let (a, b) = (&reqs[reqs.len() - 2], &reqs[reqs.len() - 1]);
    assert_eq!(a["timestamp"], b["timestamp"], "{a} {b}");
    assert!(
        std::fs::read_to_string(&state_file).unwrap() == saved,
        "no write without news"
    );

    // A restart keeps the pulled attributes and goes on incrementally.
    drop(c);
    let mut c = Catalog::new(std::slice::from_ref(&cfg), &[]);
    let (set, report) = refresh(&rt, &mut c);
    assert_eq!(report.feeds[0].error, None);
    assert!(has(&set, &ip(9)) && !has(&set, &ip(1)));
    let reqs = srv.requests();
    assert!(reqs[reqs.len() - 1]["timestamp"].as_i64().is_some());

    // Past `full_resync`, a pull is full again: no `timestamp`, and what the server no longer
    // returns leaves (here: the deleted attribute is not returned at all).
    let resync = misp_feed(dir.path(), &url, "full_resync = \"1s\"\n");
    let mut c2 = Catalog::new(std::slice::from_ref(&resync), &[]);
    std::thread::sleep(Duration::from_millis(1100));
    let before = srv.requests().len();
    let (set, report) = refresh(&rt, &mut c2);
    assert_eq!(report.feeds[0].error, None);
    let reqs = srv.requests();
    assert!(
        reqs[before..].iter().all(|r| r.get("timestamp").is_none()),
        "{:#?}",
        &reqs[before..]
    );
    assert!(has(&set, &ip(9)) && !has(&set, &ip(1)));
    assert_eq!(report.feeds[0].accepted, 5);

    // An ordinary feed to the CLI: `iocs stats --config` reads it (incrementally, from the
    // saved state) and counts it like any other.
    let conf = dir.path().join("iocd.toml");
    std::fs::write(
        &conf,
        format!("[[feeds]]\n{}", misp_feed_text(dir.path(), &url, "")),
    )
    .unwrap();
    assert_eq!(&stats_row(&conf, "misp")[1..3], ["misp", "5"]);

    // `iocs lookup` names the event and attribute that list a value, from the saved state.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["iocs", "lookup", &ip(9), "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "event {ev} \"Pikabot C2 wave\", attribute a-9 (ip-dst)"
        )),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong key is refused with MISP's status.
    std::fs::remove_file(dir.path().join("misp.state.json")).unwrap();
    let bad = misp_feed(dir.path(), &url, "");
    std::fs::write(dir.path().join("misp.key"), "wrong").unwrap();
    let mut c = Catalog::new(&[bad], &[]);
    let (_, report) = refresh(&rt, &mut c);
    let err = report.feeds[0].error.clone().unwrap_or_default();
    assert!(err.contains("HTTP 403"), "{err}");
}

#[test]
fn platform_feeds_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("iocd.toml");
    std::fs::write(
        &cfg,
        "[[feeds]]\nname = \"t\"\ntype = \"taxii\"\nurl = \"https://ti.example/taxii2/\"\n\n\
         [[feeds]]\nname = \"m\"\ntype = \"misp-api\"\nurl = \"https://misp.example\"\n\
         cache = \"m.json\"\n[feeds.misp_api]\nkey_file = \"missing.key\"\n\n\
         [[feeds]]\nname = \"d\"\npath = \"iocd.toml\"\n[feeds.taxii]\ncollection = \"x\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["validate", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "feeds[0].taxii",
        "feeds[0].cache",
        "feeds[1].misp_api.key_file",
        "feeds[2].taxii",
    ] {
        assert!(err.contains(want), "{want} in:\n{err}");
    }
}
