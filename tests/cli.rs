//! End to end: the real `iocd` binary on the shipped example feed and sample log.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn iocd(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iocd"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("iocd runs");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn alerts(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

const FEED: &str = "config/feeds/example.txt";
const LOG: &str = "config/sample.log";

#[test]
fn sample_log_hits_exactly_the_planted_lines() {
    let out = iocd(&["scan", "--no-rails", "--iocs", FEED, LOG], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<(u64, Vec<String>)> = alerts(&out)
        .iter()
        .map(|a| {
            let line = a["iocd"]["source"]["line"].as_u64().unwrap();
            let inds = a["iocd"]["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["indicator"].as_str().unwrap().to_owned())
                .collect();
            (line, inds)
        })
        .collect();
    let want: Vec<(u64, Vec<&str>)> = vec![
        (1, vec!["198.51.100.23"]),
        (3, vec!["203.0.113.128/25"]),
        (4, vec!["192.0.2.66"]),
        (5, vec!["c2.evil.example"]),
        (7, vec!["http://dropper.example/x/a.php"]),
        (
            9,
            vec![
                "http://stage.example/payloads/",
                "Mozilla/4.0 (compatible; MSIE 2.0; Windows NT)",
            ],
        ),
        (10, vec!["3395856ce81f2b7382dee72602f798b642f14140"]),
        (
            11,
            vec!["275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"],
        ),
        (12, vec!["billing@invoice-update.example"]),
        (14, vec!["2001:db8:bad::1"]),
        (15, vec!["evilmutex_"]),
        (16, vec!["login.phish.example"]),
    ];
    let want: Vec<(u64, Vec<String>)> = want
        .into_iter()
        .map(|(l, v)| (l, v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(got, want);
    // The bad feed line is reported with its file and line, and did not stop the load.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config/feeds/example.txt:30: invalid domain name"),
        "{err}"
    );
}

#[test]
fn alert_carries_ecs_fields_and_origin() {
    let out = iocd(&["scan", "--no-rails", "--iocs", FEED, LOG], None);
    let a = &alerts(&out)[0];
    // A detection: ECS keeps `enrichment` for indicator documents.
    assert_eq!(a["event"]["kind"], "alert");
    assert_eq!(a["rule"]["id"], "iocd.match.ipv4");
    assert_eq!(a["threat"]["feed"]["name"][0], "example");
    for al in alerts(&out) {
        assert_eq!(iocd::alert::ecs::check(&al), Vec::<String>::new(), "{al}");
    }
    assert!(
        a["event"]["original"]
            .as_str()
            .unwrap()
            .contains("DST=198.51.100.23")
    );
    let e = &a["threat"]["enrichments"][0];
    assert_eq!(e["indicator"]["type"], "ipv4-addr");
    assert_eq!(e["indicator"]["ip"], "198.51.100.23");
    assert_eq!(e["indicator"]["provider"][0], "example");
    assert_eq!(e["matched"]["atomic"], "198.51.100.23");
    assert_eq!(a["iocd"]["source"]["file"], LOG);
    assert_eq!(a["iocd"]["matches"][0]["sources"][0]["line"], 5);
    // The hit line was decoded, as the daemon does: where the indicator was, and the flow.
    assert_eq!(e["matched"]["field"], "destination.ip");
    assert_eq!(a["destination"]["ip"], "198.51.100.23");
    assert!(a["source"]["ip"].is_string(), "{a}");
    assert!(a["iocd"]["decoded_as"].is_string(), "{a}");
}

/// A Zeek DNS log as Zeek writes it: the column names only in its `#fields` header.
fn zeek_dns(fields: &[&str], rows: &[&[&str]]) -> String {
    let mut s = String::from("#separator \\x09\n#set_separator\t,\n#path\tdns\n");
    s += &format!(
        "#open\t2024-05-01-10-00-00\n#fields\t{}\n",
        fields.join("\t")
    );
    s += &format!("#types\t{}\n", vec!["string"; fields.len()].join("\t"));
    for r in rows {
        s += &r.join("\t");
        s.push('\n');
    }
    s + "#close\t2024-05-01-11-00-00\n"
}

#[test]
fn scan_decodes_zeek_tsv_with_each_files_header() {
    let dir = tempfile::tempdir().unwrap();
    let a = zeek_dns(
        &[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "query",
            "answers",
        ],
        &[
            &[
                "1.0",
                "C1",
                "10.1.1.5",
                "5353",
                "10.1.1.1",
                "53",
                "x.example",
                "-",
            ],
            &[
                "2.0",
                "C2",
                "10.1.1.5",
                "5354",
                "10.1.1.1",
                "53",
                "a.c2.evil.example",
                "192.0.2.9",
            ],
        ],
    );
    // Another file, other column order: names come from this file's header, not the last one.
    let b = zeek_dns(
        &[
            "query",
            "answers",
            "ts",
            "id.resp_h",
            "id.orig_h",
            "uid",
            "id.orig_p",
            "id.resp_p",
        ],
        &[&[
            "c2.evil.example",
            "192.0.2.66",
            "3.0",
            "10.1.1.1",
            "10.1.1.6",
            "C3",
            "1",
            "53",
        ]],
    );
    let (pa, pb) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&pa, &a).unwrap();
    std::fs::write(&pb, &b).unwrap();
    let out = iocd(
        &[
            "scan",
            "--no-rails",
            "-i",
            FEED,
            pa.to_str().unwrap(),
            pb.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = alerts(&out);
    assert_eq!(got.len(), 2, "{got:?}");
    for (al, orig) in got.iter().zip(["10.1.1.5", "10.1.1.6"]) {
        assert_eq!(al["iocd"]["decoded_as"], "zeek_tsv");
        let fields: Vec<&str> = al["threat"]["enrichments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["matched"]["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"dns.question.name"), "{al}");
        assert_eq!(al["source"]["ip"], orig);
        assert_eq!(al["destination"]["ip"], "10.1.1.1");
        assert_eq!(al["destination"]["port"], 53);
    }
    assert_eq!(got[0]["dns"]["question"]["name"], "a.c2.evil.example");
    assert_eq!(got[1]["dns"]["question"]["name"], "c2.evil.example");
    assert_eq!(
        got[1]["threat"]["enrichments"][1]["matched"]["field"],
        "dns.answers.data"
    );
    // The same stream on standard input, the two files one after the other.
    let out = iocd(
        &["scan", "--no-rails", "-i", FEED],
        Some(format!("{a}{b}").as_bytes()),
    );
    let piped = alerts(&out);
    assert_eq!(piped.len(), 2);
    for (p, f) in piped.iter().zip(&got) {
        assert_eq!(p["threat"], f["threat"]);
        assert_eq!(p["source"], f["source"]);
    }
}

#[test]
fn stdin_count_and_exit_status_like_grep() {
    let out = iocd(
        &["scan", "--no-rails", "-i", FEED, "--count"],
        Some(b"a 198.51.100.23\nb\nc 192.0.2.66\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let out = iocd(
        &["scan", "--no-rails", "-i", FEED, "-"],
        Some(b"nothing here 198.51.100.24\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let out = iocd(&["scan", "-i", "no/such/feed.txt", LOG], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/feed.txt"));
    let out = iocd(&["scan", "--no-rails", "-i", FEED, "no/such.log"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn count_per_file_and_stats() {
    let out = iocd(
        &[
            "scan",
            "--no-rails",
            "-i",
            FEED,
            "--count",
            "--stats",
            LOG,
            LOG,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![format!("{LOG}:12"), format!("{LOG}:12")]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lines       32"), "{err}");
    assert!(err.contains("hit lines   24"), "{err}");
    assert!(err.contains("MB/s"), "{err}");
}

#[test]
fn iocs_lookup_and_stats() {
    let out = iocd(
        &[
            "iocs",
            "lookup",
            "x.c2.evil[.]example",
            "-i",
            FEED,
            "--no-rails",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("domain\tc2.evil.example\n"), "{s}");
    assert!(s.contains("feed example (config/feeds/example.txt:"), "{s}");
    let out = iocd(
        &[
            "iocs",
            "lookup",
            "203.0.113.128/25",
            "-i",
            FEED,
            "--no-rails",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cidr\t203.0.113.128/25"));
    let out = iocd(
        &[
            "iocs",
            "lookup",
            "notc2.evil.example",
            "-i",
            FEED,
            "--no-rails",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));

    let out = iocd(&["iocs", "stats", "--no-rails", FEED], None);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "indicators        17",
        "  url             2",
        "rejected          1",
        "  invalid_domain  1",
        "bytes/indicator",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    assert!(Path::new(FEED).exists());
}

/// The conventions of a packaged daemon: `--version` names the commit and the build date,
/// completions for the shells a package installs, a man page `man` renders, `run` and
/// `validate` read `/etc/iocd/iocd.toml` without `--config`, and `/metrics` says the build
/// (`iocd_build_info`) beside the standard `process_*` families.
#[test]
fn version_completions_manpage_and_build_info() {
    let v = iocd(&["--version"], None);
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success());
    assert!(
        text.starts_with(&format!("iocd {} (commit ", env!("CARGO_PKG_VERSION")))
            && text.contains(", built 20"),
        "{text}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = iocd(&["completions", shell], None);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("iocd") && script.contains("scan") && script.len() > 1000,
            "{shell}: {script}"
        );
    }
    let man = iocd(&["manpage"], None);
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH iocd 1"));
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("iocd.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("man is installed");
    let rendered_text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(
        rendered_text.contains("threat") && rendered_text.contains("validate"),
        "{rendered_text}"
    );
    // Without --config: the packaged path.
    let out = iocd(&["validate"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    if !Path::new("/etc/iocd/iocd.toml").exists() {
        assert_eq!(out.status.code(), Some(2));
        assert!(err.contains("/etc/iocd/iocd.toml"), "{err}");
    }
    let m = iocd::telemetry::Metrics::new().render();
    let commit = iocd::COMMIT;
    assert!(
        m.contains(&format!(
            "iocd_build_info{{commit=\"{commit}\",simd=\"{}\",version=\"{}\"}} 1",
            iocd::Kernel::best().as_str(),
            env!("CARGO_PKG_VERSION")
        )),
        "{m}"
    );
    for f in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(m.contains(&format!("# TYPE {f} ")), "{f} missing");
    }
}
