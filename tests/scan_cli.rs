//! End to end, `iocd scan` and `iocd iocs` as an analyst runs them on a retro-hunt (issue 14):
//! any feed format the daemon reads, rails and allowlists, a set that loads nothing, missing
//! inputs, compressed inputs and directories. Real feeds and logs come from `../shared/data`
//! (skipped, with a message, when it is absent); the rest is generated here.

#[allow(dead_code)]
use iocd_testkit::shared_data;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn iocd(args: &[&str]) -> Output {
    iocd_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn iocd_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("iocd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn alerts(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every feed format the daemon reads, given to `scan -i` and `iocs lookup -i` as it is: the
/// value it lists is found in a log line and looked up, and the alert names the feed.
#[test]
fn every_real_feed_format_works_with_scan_and_lookup() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let feeds = data.join("feeds");
    let dir = tempfile::tempdir().unwrap();
    // Zeek intel is the one format without a real file in ../shared/data.
    let zeek = write(
        dir.path(),
        "intel.dat",
        "#fields\tindicator\tindicator_type\tmeta.source\n\
         45.61.136.7\tIntel::ADDR\tcase-42\n",
    );
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            feeds.join("eset/misp_events/glupteba_glupteba.misp-event.json"),
            "5.101.6.132",
            "misp",
        ),
        (
            feeds.join("misp_feed_format/pymisp_tests_57c4445b-c548-4654-af0b-4be3950d210f.json"),
            "0749bae92ca336a02c83d126e04ec628",
            "misp",
        ),
        (
            feeds.join("stix21_oasis_examples/apt1.json"),
            "hugesoft.org",
            "stix",
        ),
        (
            feeds.join("abusech/feodotracker_ipblocklist.csv"),
            "192.9.135.73",
            "csv",
        ),
        (
            feeds.join("openioc_fireeye/APT28_0ff58bf9-1c07-42f6-b135-b18c139f631a.ioc"),
            "kavkazcentr.info",
            "openioc",
        ),
        (feeds.join("maltrail/emotet.txt"), "66.210.228.178", "plain"),
        (zeek, "45.61.136.7", "zeek"),
    ];
    for (feed, value, format) in &cases {
        let log = write(
            dir.path(),
            "hunt.log",
            &format!(
                "Mar 29 10:42:45 fw1 kernel: nothing here 8.8.4.4\n\
                 Mar 29 10:42:46 fw1 proxy: client 10.1.2.3 fetched {value} ok\n"
            ),
        );
        let out = iocd(&["scan", "-i", s(feed), s(&log)]);
        assert_eq!(out.status.code(), Some(0), "{feed:?}: {}", stderr(&out));
        let got = alerts(&out);
        assert_eq!(got.len(), 1, "{feed:?}");
        assert_eq!(got[0]["iocd"]["source"]["line"], 2);
        let name = shared_feed_name(feed);
        assert_eq!(
            got[0]["threat"]["enrichments"][0]["indicator"]["provider"][0], name,
            "{feed:?}"
        );
        let out = iocd(&["iocs", "lookup", value, "-i", s(feed)]);
        assert_eq!(out.status.code(), Some(0), "{feed:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("\t{value}\n")),
            "{}",
            stdout(&out)
        );
        assert!(
            stdout(&out).contains(&format!("feed {name} (")),
            "{}",
            stdout(&out)
        );
        let out = iocd(&["iocs", "stats", s(feed)]);
        let row = stdout(&out);
        let row = row.lines().nth(1).unwrap_or_default();
        assert!(
            row.split_whitespace().nth(1) == Some(format),
            "{feed:?} read as {format}: {row}"
        );
    }
}

fn shared_feed_name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The rails are on for `-i` as in the daemon: `istring:e` would match every line, the
/// empty-file md5 every empty file, `0.0.0.0/0` every address. `--no-rails` keeps them.
#[test]
fn rails_are_on_unless_no_rails() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(
        dir.path(),
        "bad.txt",
        "0.0.0.0/0\n::/0\n127.0.0.1\nd41d8cd98f00b204e9800998ecf8427e\nistring:e\nco.uk\n\
         45.61.136.7\n",
    );
    let log = write(
        dir.path(),
        "a.log",
        "one line 127.0.0.1 d41d8cd98f00b204e9800998ecf8427e\nwell-known.com 9.9.9.9\n",
    );
    let out = iocd(&["scan", "-i", s(&feed), s(&log)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    for want in [
        "bad.txt:1: network /0 is broader than the feed allows",
        "bad.txt:3: a private, reserved or documentation address or name",
        "bad.txt:4: the hash of an empty file",
        "bad.txt:5: a free string shorter than 6 bytes",
        "bad.txt:6: a public suffix",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    let out = iocd(&["scan", "--no-rails", "-i", s(&feed), s(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(alerts(&out).len(), 2, "`e` and the others match both lines");
    let out = iocd(&["iocs", "lookup", "127.0.0.1", "-i", s(&feed)]);
    assert_eq!(out.status.code(), Some(1));
    let out = iocd(&["iocs", "lookup", "127.0.0.1", "--no-rails", "-i", s(&feed)]);
    assert_eq!(out.status.code(), Some(0));
}

/// A feed that gives no indicator is an error (exit 2) that says why, feed by feed, never
/// a silent "no match".
#[test]
fn a_set_without_indicators_is_an_error_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "a.log", "10.0.0.1 to 45.61.136.7\n");
    let doc = write(
        dir.path(),
        "doc.txt",
        "192.0.2.1\n198.51.100.0/24\nc2.example\n",
    );
    let out = iocd(&["scan", "-i", s(&doc), s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no indicators loaded"), "{err}");
    assert!(
        err.contains("doc.txt: read as plain, 3 rejected (reserved 3)"),
        "{err}"
    );
    assert!(err.contains("--no-rails keeps them"), "{err}");
    // A CSV whose header names no known column reads as a plain list of garbage: it says so.
    let csv = write(
        dir.path(),
        "export.csv",
        "\"when\",\"peer\",\"port\"\n\"2024-01-01\",\"45.61.136.7\",\"80\"\n\
         \"2024-01-02\",\"45.61.136.8\",\"443\"\n",
    );
    let out = iocd(&["scan", "-i", s(&csv), s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("export.csv: read as plain, 3 rejected"),
        "{err}"
    );
    assert!(
        err.contains("it looks like CSV (','-separated) without a header row"),
        "{err}"
    );
    // A JSON document of neither MISP nor STIX.
    let json = write(dir.path(), "x.json", "{\"asn\": 1}\n");
    let out = iocd(&["iocs", "lookup", "45.61.136.7", "-i", s(&json)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("x.json: JSON that is neither a STIX 2.1 bundle nor MISP"),
        "{}",
        stderr(&out)
    );
    // A compressed feed.
    let gz = dir.path().join("feed.txt.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(b"45.61.136.7\n").unwrap();
    e.finish().unwrap();
    let out = iocd(&["scan", "-i", s(&gz), s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("it looks gzip-compressed"),
        "{}",
        stderr(&out)
    );
    // A feed that is not there at all: its path and the reason, once.
    let out = iocd(&["scan", "-i", "no/such/feed.txt", s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("no/such/feed.txt: cannot read"), "{err}");
}

/// `--allowlist` (plain or a real MISP warninglist) drops what it holds, and `--config`
/// brings a configuration's feeds, allowlists and per-feed settings to scan and lookup.
#[test]
fn allowlists_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(
        dir.path(),
        "c2.txt",
        "45.61.136.7\nupdate-check.com\n8.8.8.8\n",
    );
    let allow = write(dir.path(), "ok.txt", "update-check.com\n");
    let log = write(
        dir.path(),
        "a.log",
        "dns query update-check.com\nconn 45.61.136.7\nresolver 8.8.8.8\n",
    );
    let out = iocd(&["scan", "-i", s(&feed), "--allowlist", s(&allow), s(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<u64> = alerts(&out)
        .iter()
        .map(|a| a["iocd"]["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3]);
    let out = iocd(&[
        "iocs",
        "lookup",
        "update-check.com",
        "-i",
        s(&feed),
        "--allowlist",
        s(&allow),
    ]);
    assert_eq!(out.status.code(), Some(1));
    if let Some(data) = shared_data::dir() {
        let wl = data.join("allowlists/misp-warninglists/public-dns-v4.json");
        let out = iocd(&["scan", "-i", s(&feed), "--allowlist", s(&wl), s(&log)]);
        let lines: Vec<u64> = alerts(&out)
            .iter()
            .map(|a| a["iocd"]["source"]["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [1, 2], "8.8.8.8 is a public resolver");
    }
    // A missing allowlist named on the command line is an error.
    let out = iocd(&[
        "scan",
        "-i",
        s(&feed),
        "--allowlist",
        "no/such.txt",
        s(&log),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such.txt"), "{}", stderr(&out));

    write(
        dir.path(),
        "iocd.toml",
        "[[feeds]]\nname = \"c2feed\"\npath = \"c2.txt\"\ntypes = [\"ipv4\"]\n\
         [[allowlists]]\npath = \"ok.txt\"\n",
    );
    let out = iocd_in(dir.path(), &["scan", "--config", "iocd.toml", "a.log"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = alerts(&out);
    assert_eq!(got.len(), 2, "the type filter keeps the addresses only");
    assert_eq!(
        got[0]["threat"]["enrichments"][0]["indicator"]["provider"][0],
        "c2feed"
    );
    let out = iocd_in(
        dir.path(),
        &["iocs", "lookup", "45.61.136.7", "--config", "iocd.toml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("feed c2feed ("));
}

/// The JSON alerts of a scan, without what differs from one input to the other (its name and
/// the time of the scan).
fn comparable(o: &Output) -> Vec<serde_json::Value> {
    let mut got = alerts(o);
    for a in &mut got {
        a["iocd"]["source"]["file"] = serde_json::Value::Null;
        a["event"]["created"] = serde_json::Value::Null;
        a["event"]["id"] = serde_json::Value::Null;
        a["@timestamp"] = serde_json::Value::Null;
    }
    got
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(data, 1).unwrap(),
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => unreachable!("{kind}"),
    }
}

/// Rotated, compressed logs are the usual retro-hunt input: a gzip, zstd, bzip2 and xz copy of
/// a real log give the same hits as the plain file, as files, in a folder and on stdin.
#[test]
fn compressed_copies_of_a_real_log_give_the_same_hits() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "ssh.txt", "34.204.227.175\n49.4.143.105\n");
    let plain = std::fs::read(data.join("logs/syslog/linux_auth.log")).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let plain_path = write(&logs, "auth.log", std::str::from_utf8(&plain).unwrap());
    let base = iocd(&["scan", "-i", s(&feed), s(&plain_path)]);
    assert_eq!(base.status.code(), Some(0), "{}", stderr(&base));
    let want = comparable(&base);
    let n = plain
        .split(|&b| b == b'\n')
        .filter(|l| {
            let l = String::from_utf8_lossy(l);
            l.contains("34.204.227.175") || l.contains("49.4.143.105")
        })
        .count();
    assert_eq!(want.len(), n);
    for (i, kind) in ["gz", "zst", "bz2", "xz"].iter().enumerate() {
        let p = logs.join(format!("auth.log.{}.{kind}", i + 1));
        std::fs::write(&p, compress(kind, &plain)).unwrap();
        let out = iocd(&["scan", "-i", s(&feed), s(&p)]);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", stderr(&out));
        assert_eq!(comparable(&out), want, "{kind}");
    }
    // The folder: every copy, in name order, each alert naming its file.
    let out = iocd(&["scan", "-i", s(&feed), "--count", s(&logs)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let counts: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    let names = [
        "auth.log",
        "auth.log.1.gz",
        "auth.log.2.zst",
        "auth.log.3.bz2",
        "auth.log.4.xz",
    ];
    let expected: Vec<String> = names
        .iter()
        .map(|f| format!("{}:{n}", logs.join(f).display()))
        .collect();
    assert_eq!(counts, expected);
    let out = iocd(&["scan", "-i", s(&feed), "--glob", "*.gz", s(&logs)]);
    let files: Vec<String> = alerts(&out)
        .iter()
        .map(|a| a["iocd"]["source"]["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.len(), n);
    assert!(
        files.iter().all(|f| f.ends_with("auth.log.1.gz")),
        "{files:?}"
    );
    // Standard input, compressed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["scan", "-i", s(&feed)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let packed = compress("zst", &plain);
    let mut pipe = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || pipe.write_all(&packed));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert_eq!(comparable(&out), want);
}

/// Errors like grep's: a missing file, a corrupt archive or an unreadable folder entry is
/// reported once (`iocd: PATH: reason`), the other inputs are scanned and written in order,
/// and the exit status is 2.
#[test]
fn a_failed_input_is_reported_once_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\n");
    let a = write(dir.path(), "a.log", "x 45.61.136.7\n");
    let b = write(dir.path(), "b.log", "y 45.61.136.7\nz\n");
    let missing = dir.path().join("gone.log");
    // A gzip stream cut half-way: its first line is scanned, then the error.
    let mut body = b"first 45.61.136.7\n".to_vec();
    body.extend((0..20_000).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37]));
    let gz = compress("gz", &body);
    let cut = dir.path().join("cut.log.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let out = iocd(&["scan", "-i", s(&feed), s(&a), s(&missing), s(&cut), s(&b)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let files: Vec<(String, u64)> = alerts(&out)
        .iter()
        .map(|al| {
            (
                al["iocd"]["source"]["file"].as_str().unwrap().to_owned(),
                al["iocd"]["source"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (s(&a).to_owned(), 1),
            (s(&cut).to_owned(), 1),
            (s(&b).to_owned(), 1)
        ]
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "iocd: {}: No such file or directory (os error 2)",
            s(&missing)
        )
    );
    assert!(
        lines[1].starts_with(&format!("iocd: {}: ", s(&cut))),
        "{err}"
    );
    // No hit in the good ones: still 2, the failure wins over "no match".
    let out = iocd(&["scan", "-i", s(&feed), s(&missing), s(&feed)]);
    assert_eq!(out.status.code(), Some(2));
    // --count lists the files that were read.
    let out = iocd(&["scan", "-i", s(&feed), "-c", s(&a), s(&missing), s(&b)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        format!("{}:1\n{}:1\n", s(&a), s(&b)),
        "{}",
        stderr(&out)
    );
}

/// `@timestamp` is the time the line says, `event.created` the time of the scan; a line that
/// says none keeps the scan's time, marked so. RFC 3164 lines are dated by the file's
/// modification time, and their header is decoded (host, program, pid) as in the daemon.
#[test]
fn timestamp_is_the_time_the_line_says() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\n");
    let log = write(
        dir.path(),
        "mixed.log",
        "Mar 29 10:42:45 ip-10-77-20-248 sshd[1291]: Failed password for root from 45.61.136.7 port 22 ssh2\n\
         Dec 31 23:59:59 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=45.61.136.7 DST=10.0.0.1 SPT=1 DPT=22\n\
         <134>1 2026-02-01T08:00:00.5+01:00 fw01 filterlog 77 - - SRC=45.61.136.7\n\
         45.61.136.7 - - [22/Nov/2025:10:00:03 +0000] \"GET /x HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n\
         {\"timestamp\":\"2021-06-06T15:59:46.457984+0200\",\"flow_id\":1,\"event_type\":\"alert\",\"src_ip\":\"45.61.136.7\",\"dest_ip\":\"10.0.0.1\"}\n\
         {\"@timestamp\":\"2020-10-23T02:36:43.128Z\",\"source\":{\"ip\":\"45.61.136.7\"}}\n\
         no time at all 45.61.136.7\n",
    );
    let zeek = write(
        dir.path(),
        "conn.log",
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.resp_h\n\
         #types\ttime\tstring\taddr\taddr\n\
         1663683561.702855\tC1\t10.0.0.5\t45.61.136.7\n",
    );
    // Written on 2026-03-30: `Mar 29` is 2026, `Dec 31` is 2025.
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_774_872_000);
    for p in [&log, &zeek] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    let before = chrono::Utc::now().timestamp();
    let out = Command::new(env!("CARGO_BIN_EXE_iocd"))
        .args(["scan", "-i", s(&feed), s(&log), s(&zeek)])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = alerts(&out);
    let times: Vec<(&str, &str)> = got
        .iter()
        .map(|a| {
            (
                a["@timestamp"].as_str().unwrap(),
                a["iocd"]["timestamp_from"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        &times[..7],
        [
            ("2026-03-29T10:42:45Z", "line"),
            ("2025-12-31T23:59:59Z", "line"),
            ("2026-02-01T08:00:00.500+01:00", "line"),
            ("2025-11-22T10:00:03Z", "line"),
            ("2021-06-06T15:59:46.457984+02:00", "line"),
            ("2020-10-23T02:36:43.128Z", "line"),
            (times[6].0, "scan"),
        ]
    );
    assert_eq!(times[7], ("2022-09-20T14:19:21.702855Z", "line"));
    // The scan's own time: in event.created beside a line's time, as @timestamp without one.
    let scan_time = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert!(scan_time(&got[6]["@timestamp"]) >= before);
    assert!(got[6]["event"]["created"].is_null());
    for a in got.iter().filter(|a| a["iocd"]["timestamp_from"] == "line") {
        assert!(scan_time(&a["event"]["created"]) >= before, "{a}");
    }
    // The syslog header, as the daemon decodes it.
    assert_eq!(got[0]["host"]["hostname"], "ip-10-77-20-248");
    assert_eq!(got[0]["process"]["name"], "sshd");
    assert_eq!(got[0]["process"]["pid"], 1291);
    assert_eq!(got[2]["host"]["hostname"], "fw01");
    assert_eq!(got[2]["log"]["syslog"]["severity"]["code"], 6);
}

/// `--format text` for people: `file:line:`, the line with the match highlighted (in colour
/// only when asked or on a terminal), then indicator, kind and feeds. `-l`, `-o`, `ocsf`,
/// `cef`.
#[test]
fn output_for_people_and_for_machines() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\nbad-updates.com\n");
    let a = write(
        dir.path(),
        "a.log",
        "quiet line\nconn from 45.61.136.7 to bad-updates.com\n",
    );
    let b = write(dir.path(), "b.log", "nothing\n");
    let c = write(dir.path(), "c.log", "x \x1b[2J 45.61.136.7\n");
    let run = |args: &[&str]| {
        let mut all = vec!["scan", "-i", s(&feed)];
        all.extend_from_slice(args);
        iocd(&all)
    };
    let out = run(&["--format", "text", s(&a), s(&b), s(&c)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}:2:conn from 45.61.136.7 to bad-updates.com\tipv4 45.61.136.7 [c2]; domain bad-updates.com [c2]\n\
             {}:1:x \\x1b[2J 45.61.136.7\tipv4 45.61.136.7 [c2]\n",
            s(&a),
            s(&c)
        )
    );
    // Not a terminal: no colour unless asked for; asked for, the matches are bold red.
    let out = run(&["--format", "text", "--color", "always", s(&a)]);
    let text = stdout(&out);
    assert!(
        text.contains("conn from \x1b[1;31m45.61.136.7\x1b[0m to \x1b[1;31mbad-updates.com\x1b[0m"),
        "{text:?}"
    );
    assert!(
        text.starts_with(&format!("\x1b[35m{}\x1b[0m", s(&a))),
        "{text:?}"
    );
    // Piped, the default is the daemon's JSON.
    let out = run(&[s(&a)]);
    assert_eq!(alerts(&out).len(), 1);
    let out = run(&["-l", s(&a), s(&b), s(&c)]);
    assert_eq!(stdout(&out), format!("{}\n{}\n", s(&a), s(&c)));
    let out = run(&["-l", s(&b)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = run(&["-o", s(&a)]);
    assert_eq!(
        stdout(&out),
        format!("{0}:2:45.61.136.7\n{0}:2:bad-updates.com\n", s(&a))
    );
    let out = run(&["--format", "ocsf", s(&a)]);
    let o: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(o["class_uid"], 2004);
    assert_eq!(o["raw_data"], "conn from 45.61.136.7 to bad-updates.com");
    let out = run(&["--format", "cef", s(&a)]);
    let cef = stdout(&out);
    assert!(cef.starts_with("CEF:0|iocd|iocd|"), "{cef}");
    assert_eq!(cef.lines().count(), 1);
}

/// `--summary`: one row per indicator over every input (hit lines, files, first and last
/// event time, distinct internal hosts, feeds), as a table or as JSON lines.
#[test]
fn summary_per_indicator() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\nbad-updates.com\n");
    let other = write(dir.path(), "ipsum.txt", "45.61.136.7\n");
    let a = write(
        dir.path(),
        "a.log",
        "{\"timestamp\":\"2026-03-01T10:00:00Z\",\"event_type\":\"flow\",\"src_ip\":\"10.0.0.5\",\"dest_ip\":\"45.61.136.7\"}\n\
         {\"timestamp\":\"2026-03-02T10:00:00Z\",\"event_type\":\"flow\",\"src_ip\":\"10.0.0.6\",\"dest_ip\":\"45.61.136.7\"}\n\
         {\"timestamp\":\"2026-03-02T11:00:00Z\",\"event_type\":\"dns\",\"src_ip\":\"10.0.0.5\",\"dest_ip\":\"10.0.0.1\",\"dns\":{\"rrname\":\"bad-updates.com\"}}\n",
    );
    let b = write(
        dir.path(),
        "b.log",
        "{\"timestamp\":\"2026-02-27T08:00:00Z\",\"event_type\":\"flow\",\"src_ip\":\"10.0.0.5\",\"dest_ip\":\"45.61.136.7\"}\n\
         untimed 45.61.136.7 45.61.136.7\n",
    );
    let out = iocd(&[
        "scan",
        "-i",
        s(&feed),
        "-i",
        s(&other),
        "--summary",
        "--format",
        "json",
        s(&a),
        s(&b),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let ip = &rows[0];
    assert_eq!(ip["indicator"], "45.61.136.7");
    assert_eq!(ip["kind"], "ipv4");
    assert_eq!(
        ip["hit_lines"], 4,
        "a line with the address twice counts once"
    );
    assert_eq!(ip["files"], 2);
    assert_eq!(ip["first_seen"], "2026-02-27T08:00:00Z");
    assert_eq!(ip["last_seen"], "2026-03-02T10:00:00Z");
    assert_eq!(ip["hosts"], 2);
    assert_eq!(
        ip["host_names"],
        serde_json::json!(["10.0.0.5", "10.0.0.6"])
    );
    assert_eq!(ip["feeds"], serde_json::json!(["c2", "ipsum"]));
    assert_eq!(rows[1]["indicator"], "bad-updates.com");
    assert_eq!(rows[1]["hit_lines"], 1);
    assert_eq!(rows[1]["host_names"], serde_json::json!(["10.0.0.5"]));
    // The protected network of a configuration's [triage]: 10.0.0.6 is no longer one of ours.
    write(
        dir.path(),
        "iocd.toml",
        "[triage]\ninternal_networks = [\"10.0.0.5/32\", \"10.0.0.1/32\"]\n",
    );
    let out = iocd_in(
        dir.path(),
        &[
            "scan",
            "--config",
            "iocd.toml",
            "-i",
            "c2.txt",
            "--summary",
            "--format",
            "json",
            "a.log",
            "b.log",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["host_names"], serde_json::json!(["10.0.0.5"]));
    let out = iocd(&["scan", "-i", s(&feed), "--summary", s(&a), s(&b)]);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("indicator"), "{table}");
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "45.61.136.7",
            "ipv4",
            "4",
            "2",
            "2026-02-27T08:00:00Z",
            "2026-03-02T10:00:00Z",
            "2",
            "c2"
        ]
    );
}

/// `--triage`: the daemon's scoring, deduplication and roll-ups, in the time the lines say: a
/// host that reaches a C2 every 5 minutes is one alert and one roll-up per hour window, not
/// one alert per line.
#[test]
fn triage_in_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\n");
    let flow = |t: &str| {
        format!(
            "{{\"timestamp\":\"{t}\",\"event_type\":\"flow\",\"src_ip\":\"10.0.0.5\",\"src_port\":5000,\"dest_ip\":\"45.61.136.7\",\"dest_port\":443,\"proto\":\"TCP\"}}\n"
        )
    };
    let mut log = String::new();
    for m in (0..50).step_by(5) {
        log += &flow(&format!("2026-03-01T10:{m:02}:00Z"));
    }
    log += &flow("2026-03-01T12:00:00Z");
    let eve = write(dir.path(), "eve.json", &log);
    let plain = iocd(&["scan", "-i", s(&feed), s(&eve)]);
    assert_eq!(alerts(&plain).len(), 11);
    let out = iocd(&["scan", "-i", s(&feed), "--triage", s(&eve)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = alerts(&out);
    let shape: Vec<(&str, &str)> = got
        .iter()
        .map(|a| {
            (
                a["@timestamp"].as_str().unwrap(),
                a["iocd"]["alert_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("2026-03-01T10:00:00Z", "hit"),
            // The window closes when the event time passes it, not when the scan ends.
            ("2026-03-01T12:00:00.000Z", "rollup"),
            ("2026-03-01T12:00:00Z", "hit"),
        ]
    );
    assert_eq!(got[0]["iocd"]["internal_host"], "10.0.0.5");
    assert!(got[0]["iocd"]["score"].as_f64().unwrap() > 0.0);
    assert!(got[0]["iocd"]["priority"].is_string());
    assert_eq!(got[1]["iocd"]["dedup"]["count"], 9);
    assert_eq!(
        got[1]["iocd"]["dedup"]["last_seen"],
        "2026-03-01T10:45:00.000Z"
    );
    // The same alerts in OCSF; text is refused (triage writes alerts).
    let out = iocd(&[
        "scan",
        "-i",
        s(&feed),
        "--triage",
        "--format",
        "ocsf",
        s(&eve),
    ]);
    assert_eq!(stdout(&out).lines().count(), 3);
    let out = iocd(&[
        "scan",
        "-i",
        s(&feed),
        "--triage",
        "--format",
        "text",
        s(&eve),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `iocs lookup` explains absence: a value a feed lists that a rail, an allowlist, a type
/// filter or expiry removed is reported with who listed it and what removed it (exit 1: it
/// would not match).
#[test]
fn lookup_says_who_listed_it_and_what_removed_it() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(data) = shared_data::dir() {
        let stix = data.join("feeds/stix21_oasis_examples/poisonivy.json");
        let ddns = data.join("allowlists/misp-warninglists/dynamic-dns.json");
        let out = iocd(&[
            "iocs",
            "lookup",
            "js001.3322.org",
            "-i",
            s(&stix),
            "--allowlist",
            s(&ddns),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!(
                // A STIX document has no lines: the indicator object that lists it.
                "removed\tdomain\tjs001.3322.org\tfeed poisonivy ({}: indicator--b2f09ce0-2db4-480f-bd2f-073ddb3a0c87 \"js001.3322.org\"): on allowlist List of known dynamic DNS domains\n",
                s(&stix)
            )
        );
        let out = iocd(&["iocs", "lookup", "js001.3322.org", "-i", s(&stix)]);
        assert_eq!(out.status.code(), Some(0));
        // A MISP source is named by its event and attribute, not `file.json:0`, whether it
        // matched or was removed.
        let misp = data.join("feeds/eset/misp_events/glupteba_glupteba.misp-event.json");
        let named = "event 5aa2e21b-79d8-4fd7-b15d-34670a016219 \"Glupteba.AY research related \
                     IoCs\", attribute 5aa2e262-8c78-484b-8d0a-2f490a016219 (ip-dst)";
        let out = iocd(&["iocs", "lookup", "5.101.6.132", "-i", s(&misp)]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains(&format!("({}: {named})", s(&misp))),
            "{}",
            stdout(&out)
        );
        let allow = write(dir.path(), "ok.txt", "5.101.6.132\n");
        let out = iocd(&[
            "iocs",
            "lookup",
            "5.101.6.132",
            "-i",
            s(&misp),
            "--allowlist",
            s(&allow),
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stdout(&out),
            format!(
                "removed\tipv4\t5.101.6.132\tfeed glupteba_glupteba.misp-event ({}: {named}): \
                 on allowlist ok\n",
                s(&misp)
            )
        );
    }
    write(
        dir.path(),
        "c2.txt",
        "10.0.0.1\nbad-updates.com\n45.61.136.7\n",
    );
    write(dir.path(), "more.txt", "bad-updates.com\n");
    write(
        dir.path(),
        "old.json",
        r#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--a","created":"2019-01-01T00:00:00Z","modified":"2019-01-01T00:00:00Z","pattern":"[domain-name:value = 'old-c2.com']","pattern_type":"stix","valid_from":"2019-01-01T00:00:00Z","valid_until":"2020-01-01T00:00:00Z"}]}"#,
    );
    write(
        dir.path(),
        "iocd.toml",
        "[[feeds]]\nname = \"ips\"\npath = \"c2.txt\"\ntypes = [\"ipv4\"]\n\
         [[feeds]]\nname = \"more\"\npath = \"more.txt\"\n\
         [[feeds]]\nname = \"old\"\npath = \"old.json\"\n",
    );
    let lookup = |v: &str| iocd_in(dir.path(), &["iocs", "lookup", v, "--config", "iocd.toml"]);
    let out = lookup("10.0.0.1");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "removed\tipv4\t10.0.0.1\tfeed ips (c2.txt:1): safety rail reserved: a private, reserved or \
         documentation address or name (--no-rails keeps it)\n"
    );
    // Listed by two feeds: matched through one, removed from the other by its type filter.
    let out = lookup("www.bad-updates.com");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "domain\tbad-updates.com");
    assert!(lines[1].starts_with("\tfeed more ("), "{text}");
    assert!(
        lines[2].starts_with("removed\tdomain\tbad-updates.com\tfeed ips (")
            && lines[2].ends_with(":2): type filter: the feed keeps only ipv4"),
        "{text}"
    );
    let out = lookup("old-c2.com");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).ends_with("): expired: valid until 2020-01-01T00:00:00Z\n"),
        "{}",
        stdout(&out)
    );
    let out = lookup("never-listed.com");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("never-listed.com: no feed lists it"));
}

/// One progress bar over every input (bytes of the total, files done, hit lines, rate, ETA),
/// on standard error when it is a terminal (`script` gives it one), never otherwise.
#[test]
fn progress_across_inputs_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "c2.txt", "45.61.136.7\n");
    let mut body = String::new();
    for i in 0..200_000 {
        body += &format!(
            "Mar 29 10:42:45 h sshd[1]: from 45.61.136.{} port 22\n",
            i % 8
        );
    }
    let a = write(dir.path(), "a.log", &body);
    let gz = dir.path().join("b.log.gz");
    std::fs::write(&gz, compress("gz", body.as_bytes())).unwrap();
    // Piped: nothing but the results.
    let out = iocd(&["scan", "-i", s(&feed), "-c", s(&a), s(&gz)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        println!("skipped the terminal half: no `script` (util-linux)");
        return;
    }
    let cmd = format!(
        "{} scan -i {} -c {} {} 2>&1",
        env!("CARGO_BIN_EXE_iocd"),
        s(&feed),
        s(&a),
        s(&gz)
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    let total = std::fs::metadata(&a).unwrap().len() + std::fs::metadata(&gz).unwrap().len();
    let n = 200_000 / 8;
    // The last state before it is cleared: both files, every hit line, the whole size.
    assert!(
        tty.contains(&format!("2/2 files, {} hit lines", 2 * n)),
        "{tty}"
    );
    assert!(tty.contains("eta"), "{tty}");
    let mib = format!("{:.2} MiB", total as f64 / 1024.0 / 1024.0);
    assert!(tty.contains(&format!("{mib}/{mib}")), "{mib} in {tty}");
}

/// URL indicators match URLs split across decoded fields of real logs: Zeek `http.log` host +
/// uri (the issue's 6 lines), Suricata EVE `http.hostname` + `http.url`.
#[test]
fn url_split_across_fields_of_real_logs() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = write(
        dir.path(),
        "urls.txt",
        "lyvyxor.com/login.php\nhttp://147.32.82.197/muieblackcat\n",
    );
    let zeek = data.join("logs/zeek/http.log");
    let out = iocd(&["scan", "-i", s(&feed), s(&zeek)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = alerts(&out);
    assert_eq!(got.len(), 6);
    for a in &got {
        let e = &a["threat"]["enrichments"][0];
        assert_eq!(
            e["indicator"]["url"]["full"],
            "http://lyvyxor.com/login.php"
        );
        assert_eq!(e["matched"]["field"], "url.original");
    }
    let out = iocd(&["scan", "-i", s(&feed), "-c", s(&zeek)]);
    assert_eq!(stdout(&out).trim(), "6");
    let eve = data.join("logs/suricata/eve_slips_test6_malicious.json");
    let out = iocd(&["scan", "-i", s(&feed), s(&eve)]);
    let got = alerts(&out);
    assert_eq!(got.len(), 2, "{}", stderr(&out));
    for a in &got {
        assert_eq!(
            a["threat"]["enrichments"][0]["indicator"]["url"]["full"],
            "http://147.32.82.197/muieblackcat"
        );
        assert_eq!(a["iocd"]["decoded_as"], "suricata_eve");
    }
}

/// Proxy logs that give the host and the path apart (FortiGate web filter: `hostname=` and a
/// path-only `url=`) match a URL indicator as the whole URL does; squid's native log has the
/// whole URL in one column.
#[test]
fn url_split_across_proxy_host_and_path_columns() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "urls.txt", "lyvyxor.com/login.php\n");
    let fortigate = "date=2026-11-22 time=10:00:04 devname=\"FGT60F\" logid=\"0317013312\" \
        type=\"utm\" subtype=\"webfilter\" eventtype=\"ftgd_allow\" srcip=10.1.2.3 \
        srcport=51001 dstip=93.184.216.34 dstport=80 service=\"HTTP\" hostname=\"lyvyxor.com\" \
        action=\"passthrough\" url=\"/login.php\" direction=\"outgoing\"";
    let other_path = fortigate.replace("url=\"/login.php\"", "url=\"/index.php\"");
    let squid = "1700000000.123    150 10.1.2.3 TCP_MISS/200 512 GET \
        http://lyvyxor.com/login.php - HIER_DIRECT/93.184.216.34 text/html";
    let log = write(
        dir.path(),
        "proxy.log",
        &format!("{fortigate}\n{other_path}\n{squid}\n"),
    );
    let out = iocd(&["scan", "-i", s(&feed), s(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = alerts(&out);
    let lines: Vec<u64> = got
        .iter()
        .map(|a| a["iocd"]["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 3], "the other path does not match: {got:?}");
    for a in &got {
        assert_eq!(
            a["threat"]["enrichments"][0]["indicator"]["url"]["full"],
            "http://lyvyxor.com/login.php"
        );
    }
}
