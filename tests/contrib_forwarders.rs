//! The shipper configurations in contrib/forwarders/ and the Elasticsearch index template in
//! contrib/elasticsearch/.
//!
//! * rsyslog and syslog-ng, checked by the real programs: `rsyslogd -N1` and
//!   `syslog-ng --syntax-only` accept a configuration that includes the contrib file (its
//!   placeholders replaced) and refuse one with a misspelled option; a real rsyslogd forwards
//!   a log file through the contrib file to a running `iocd run`, whose alerts name exactly the
//!   lines that hold an indicator, and keeps the lines it read before iocd listened until iocd
//!   does; what rsyslogd sends on the wire is RFC 5424 with RFC 6587 octet counting.
//! * Fluent Bit, Vector and Filebeat cannot be installed on the test machines (no Debian
//!   package): their files are parsed (Vector's with `toml`, Fluent Bit's classic format and
//!   Filebeat's YAML by a structural check, as no YAML parser is a dependency) and must send
//!   the line to the host, port and topic their placeholders name.
//! * Every file names the iocd.toml source section it pairs with; that section, its
//!   placeholders replaced, passes `iocd validate`.
//! * The template maps every field path of the golden alerts (tests/golden/*.ecs.jsonl) with a
//!   type their values fit, and every ECS field of src/alert/ecs/fields.rs with that field's
//!   ECS type.
//!
//! rsyslogd and syslog-ng must be installed (`./scripts/install-test-deps.sh` does it; it
//! unpacks syslog-ng into ~/.cache/iocd-tools, as Debian's package conflicts with rsyslog);
//! tests that need them fail with that advice when they are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use iocd_testkit::support;
use serde_json::Value;
use support::{
    TEST_FEED, file_sink_admin, free_port, iocd_run, iocd_validate, read_alerts, signal,
    start_iocd, stop_iocd, wait_exit, write_config,
};

/// How long the forwarded lines may take to become alerts: rsyslog retries a connection it
/// could not make every 10 s (`action.resumeInterval`).
const FORWARD_WAIT: Duration = Duration::from_secs(90);

/// The placeholders the syslog files use, and what the tests put in their place.
const IOCD_HOST: &str = "IOCD_HOST";
const IOCD_PORT: &str = "IOCD_PORT";

/// The line that introduces each file's iocd.toml section (comment lines indented by three).
const PAIRS_WITH: &str = "# Pairs with this iocd.toml source section:";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of `contrib/<rel>`.
fn contrib(rel: &str) -> String {
    let path = repo().join("contrib").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with IOCD_HOST and IOCD_PORT replaced by loopback and `port`.
fn targeting(text: &str, port: u16) -> String {
    text.replace(IOCD_HOST, "127.0.0.1")
        .replace(IOCD_PORT, &port.to_string())
}

/// The iocd.toml lines a contrib file says it pairs with: the comment lines after
/// [`PAIRS_WITH`], without their `#   `.
fn pairing(rel: &str, text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(PAIRS_WITH));
    assert!(
        lines.next().is_some(),
        "contrib/{rel} has no `{PAIRS_WITH}` comment naming its iocd source"
    );
    let section: Vec<&str> = lines.map_while(|l| l.strip_prefix("#   ")).collect();
    assert!(
        !section.is_empty(),
        "contrib/{rel}: no `#   ` lines after `{PAIRS_WITH}`"
    );
    section.join("\n") + "\n"
}

/// The path of the program `name`: on PATH, in /usr/sbin or /sbin (not on every user's PATH),
/// or in the tools folder where install-test-deps.sh unpacks syslog-ng. Panics with the advice
/// to run that script when it is nowhere.
fn tool(name: &str) -> PathBuf {
    let tools = std::env::var_os("IOCD_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/iocd-tools")));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .chain(tools.map(|t| t.join("bin")))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run ./scripts/install-test-deps.sh, which installs \
                 it (rsyslog from apt-get; syslog-ng unpacked into ~/.cache/iocd-tools/bin)"
            )
        })
}

fn text_of(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// rsyslog

/// Writes an rsyslog configuration to `dir`: its own work directory (where the disk-assisted
/// queue goes), `imfile` following `log` as `webapp` (local0.info), and the contrib file, its
/// placeholders replaced by `127.0.0.1:<port>` (or `forward`, when given), by `include()`.
/// No system socket is opened. Returns the main file.
fn rsyslog_config(dir: &Path, log: &Path, port: u16, forward: Option<&str>) -> PathBuf {
    let work = dir.join("rsyslog-work");
    std::fs::create_dir_all(&work).unwrap();
    let fwd = dir.join("60-iocd.conf");
    let text = forward
        .map(str::to_owned)
        .unwrap_or_else(|| targeting(&contrib("forwarders/rsyslog/iocd.conf"), port));
    std::fs::write(&fwd, text).unwrap();
    let main = dir.join("rsyslog.conf");
    std::fs::write(
        &main,
        format!(
            r#"global(workDirectory="{work}")
module(load="imfile")
input(type="imfile" file="{log}" tag="webapp" facility="local0" severity="info")
include(file="{fwd}")
"#,
            work = work.display(),
            log = log.display(),
            fwd = fwd.display()
        ),
    )
    .unwrap();
    main
}

/// A foreground rsyslogd on its own configuration; killed when dropped.
struct Rsyslogd {
    child: Child,
    log: PathBuf,
}

impl Rsyslogd {
    fn start(dir: &Path, config: &Path) -> Rsyslogd {
        let log = dir.join("rsyslogd.out");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(tool("rsyslogd"))
            .arg("-n")
            .arg("-f")
            .arg(config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("rsyslogd starts");
        Rsyslogd { child, log }
    }

    /// What rsyslogd printed so far.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("rsyslogd exited with {status}:\n{}", self.output());
        }
    }

    /// SIGTERM, and what it printed; panics when it has not exited within 15 s.
    fn stop(mut self) -> String {
        signal(&self.child, "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(15));
        assert!(
            status.is_some(),
            "rsyslogd still running 15 s after SIGTERM:\n{}",
            self.output()
        );
        self.output()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped (a failing test leaves no daemon behind).
use iocd_testkit::support::KillOnDrop as Reaped;

/// Appends `lines` to the file at `path`, each with its line feed.
fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn rsyslog_file_has_the_queue_and_framing_iocd_needs() {
    let text = contrib("forwarders/rsyslog/iocd.conf");
    for want in [
        r#"type="omfwd""#,
        r#"target="IOCD_HOST""#,
        r#"port="IOCD_PORT""#,
        r#"protocol="tcp""#,
        r#"TCP_Framing="octet-counted""#,
        r#"queue.type="LinkedList""#,
        r#"queue.filename="#,
        r#"queue.saveOnShutdown="on""#,
        r#"queue.maxDiskSpace=""#,
        r#"action.resumeRetryCount="-1""#,
        "<%PRI%>1 ",
    ] {
        assert!(
            text.contains(want),
            "contrib/forwarders/rsyslog/iocd.conf lacks {want}"
        );
    }
}

#[test]
fn rsyslogd_accepts_the_forwarding_config() {
    let rsyslogd = tool("rsyslogd");
    let dir = tempfile::tempdir().unwrap();
    let check = |main: &Path| {
        Command::new(&rsyslogd)
            .arg("-N1")
            .arg("-f")
            .arg(main)
            .output()
            .unwrap()
    };
    let log = dir.path().join("app.log");
    let main = rsyslog_config(dir.path(), &log, 5514, None);
    let out = check(&main);
    assert!(
        out.status.success(),
        "rsyslogd -N1 refuses the config that includes contrib/forwarders/rsyslog/iocd.conf:\n{}",
        text_of(&out)
    );
    // The check reads the included file: the same file with a misspelled parameter fails.
    let broken = targeting(&contrib("forwarders/rsyslog/iocd.conf"), 5514)
        .replace("TCP_Framing=", "TCP_Framming=");
    let main = rsyslog_config(dir.path(), &log, 5514, Some(&broken));
    let out = check(&main);
    assert!(
        !out.status.success() && text_of(&out).to_lowercase().contains("tcp_framming"),
        "rsyslogd -N1 accepted a misspelled parameter in the included file:\n{}",
        text_of(&out)
    );
}

/// What [`rsyslog_to_iocd`] saw.
struct Forwarded {
    alerts: Vec<Value>,
    /// The lines written that hold an indicator.
    want: Vec<String>,
    /// How long the alerts took, and everything rsyslogd and iocd logged.
    said: String,
}

/// A log file, a real rsyslogd forwarding it through contrib/forwarders/rsyslog/iocd.conf,
/// and `iocd run` on the source section that file pairs with (triage off: one alert per line
/// with hits). Lines are written before rsyslogd starts and after iocd is up; iocd starts
/// before rsyslogd, or (`iocd_first` false) after it, once rsyslogd has found nothing
/// listening. Waits until every line with an indicator has alerted, then a second more.
fn rsyslog_to_iocd(iocd_first: bool) -> Forwarded {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("feed.txt"), "198.51.100.77\nbad-fwd.example\n").unwrap();
    let (port, admin) = (free_port(), free_port());

    // Lines with an indicator and lines without; the token-bounded look-alikes never match.
    let line = |i: usize, what: &str| format!("fwtest {i} {what}");
    let before = vec![
        line(1, "conn 10.1.2.3:51000 -> 198.51.100.77:443 allowed"),
        line(2, "conn 10.1.2.4:51001 -> 203.0.113.9:443 allowed"),
        line(3, "GET http://bad-fwd.example/payload.bin from 10.1.2.5"),
        line(4, "dns query notbad-fwd.example from 10.1.2.6"),
    ];
    let after = vec![
        line(5, "conn 10.1.2.7:51002 -> 198.51.100.77:8443 allowed"),
        line(6, "conn 10.1.2.8:51003 -> 198.51.100.770:443 allowed"),
        line(7, "dns query bad-fwd.example from 10.1.2.9"),
    ];
    let want = vec![
        before[0].clone(),
        before[2].clone(),
        after[0].clone(),
        after[2].clone(),
    ];

    let source = pairing(
        "forwarders/rsyslog/iocd.conf",
        &contrib("forwarders/rsyslog/iocd.conf"),
    )
    .replace("0.0.0.0", "127.0.0.1")
    .replace(IOCD_PORT, &port.to_string());
    let cfg = format!(
        "[engine]\nthreads = 2\n{TEST_FEED}\n# One alert per line with hits.\n[triage]\nenabled = \
         false\n{source}{sink}",
        sink = file_sink_admin(admin, "20s"),
    );
    let cfg_path = write_config(d, &cfg);
    let start = || {
        Reaped(start_iocd(
            iocd_run(&cfg_path).env("RUST_LOG", "info"),
            admin,
            "/readyz",
        ))
    };

    let log = d.join("app.log");
    append(&log, &before);
    let main = rsyslog_config(d, &log, port, None);
    let mut iocd = iocd_first.then(start);
    let mut rsyslogd = Rsyslogd::start(d, &main);
    if !iocd_first {
        // rsyslogd reads the file, cannot connect and keeps the lines in its queue.
        let t = Instant::now();
        while !rsyslogd.output().contains("cannot connect") {
            rsyslogd.assert_running();
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "rsyslogd did not try to connect:\n{}",
                rsyslogd.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        iocd = Some(start());
    }
    let mut iocd = iocd.unwrap();
    append(&log, &after);

    let alerts_path = d.join("alerts.jsonl");
    let alerted = |alerts: &[Value]| {
        want.iter().all(|l| {
            alerts.iter().any(|a| {
                a["event"]["original"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with(l.as_str())
            })
        })
    };
    let t = Instant::now();
    while !alerted(&read_alerts(&alerts_path)) && t.elapsed() < FORWARD_WAIT {
        rsyslogd.assert_running();
        support::assert_running(&mut iocd.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = t.elapsed();
    // What else would come: alerts for other lines, lines twice.
    std::thread::sleep(Duration::from_secs(1));
    let alerts = read_alerts(&alerts_path);
    let rsyslog_said = rsyslogd.stop();
    let (_, iocd_said) = stop_iocd(&mut iocd.0, Duration::from_secs(30));
    Forwarded {
        said: format!(
            "{} alert(s) after {took:?}:\n{alerts:#?}\nrsyslogd said:\n{rsyslog_said}\niocd \
             said:\n{iocd_said}",
            alerts.len()
        ),
        alerts,
        want,
    }
}

impl Forwarded {
    /// The line each alert is about, after checking that it is one with an indicator and
    /// that the alert is the RFC 5424 message rsyslog sent, as iocd's TCP source read it.
    fn lines(&self) -> Vec<&String> {
        self.alerts
            .iter()
            .map(|a| {
                let original = a["event"]["original"].as_str().unwrap_or_default();
                let line = self
                    .want
                    .iter()
                    .find(|l| original.ends_with(l.as_str()))
                    .unwrap_or_else(|| {
                        panic!("an alert on a line without indicator: {a}\n{}", self.said)
                    });
                // local0.info = 134, from the contrib template.
                assert!(
                    original.starts_with("<134>1 "),
                    "event.original is not the RFC 5424 message rsyslog sent: {original}"
                );
                assert_eq!(a["iocd"]["source"]["input"], "syslog_tcp", "{a}");
                let peer = a["iocd"]["source"]["peer"].as_str().unwrap_or_default();
                assert!(
                    peer.starts_with("127.0.0.1:"),
                    "iocd.source.peer {peer}: {a}"
                );
                assert_eq!(a["log"]["syslog"]["appname"], "webapp", "{a}");
                assert_eq!(a["log"]["syslog"]["facility"]["code"], 16, "{a}");
                assert_eq!(a["log"]["syslog"]["severity"]["code"], 6, "{a}");
                assert_eq!(iocd::alert::ecs::check(a), Vec::<String>::new(), "{a}");
                line
            })
            .collect()
    }
}

#[test]
fn rsyslogd_forwards_a_log_file_to_a_running_iocd() {
    let f = rsyslog_to_iocd(true);
    let mut got = f.lines();
    got.sort();
    let mut want: Vec<&String> = f.want.iter().collect();
    want.sort();
    assert_eq!(
        got, want,
        "one alert per line with an indicator\n{}",
        f.said
    );
}

#[test]
fn rsyslogd_queues_lines_until_iocd_listens() {
    // rsyslog sends the message it was sending when the connection failed again once it
    // reconnects (at least once), so a line may alert twice here; none may be missing.
    let f = rsyslog_to_iocd(false);
    let got: BTreeSet<&String> = f.lines().into_iter().collect();
    let want: BTreeSet<&String> = f.want.iter().collect();
    assert_eq!(
        got, want,
        "every line with an indicator alerted\n{}",
        f.said
    );
}

/// RFC 6587 octet-counted frames at the start of `buf`: each frame's body, and the bytes
/// consumed. Stops at an incomplete frame; panics on bytes that are not a frame.
fn octet_frames(buf: &[u8]) -> (Vec<String>, usize) {
    let (mut frames, mut at) = (Vec::new(), 0);
    loop {
        let rest = &buf[at..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == rest.len() {
            return (frames, at);
        }
        assert!(
            digits > 0 && rest[digits] == b' ',
            "not an octet-counted frame: {:?}",
            String::from_utf8_lossy(rest)
        );
        let len: usize = std::str::from_utf8(&rest[..digits])
            .unwrap()
            .parse()
            .unwrap();
        let body = digits + 1;
        if rest.len() < body + len {
            return (frames, at);
        }
        frames.push(String::from_utf8_lossy(&rest[body..body + len]).into_owned());
        at += body + len;
    }
}

#[test]
fn rsyslogd_sends_rfc5424_with_octet_counting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines: Vec<String> = (0..3)
        .map(|i| format!("framing test {i}: user=alice src=192.0.2.{i} msg=\"a b  c\""))
        .collect();
    let log = d.join("app.log");
    append(&log, &lines);
    let main = rsyslog_config(d, &log, port, None);
    let mut rsyslogd = Rsyslogd::start(d, &main);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                rsyslogd.assert_running();
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not connect within 30 s:\n{}",
                    rsyslogd.output()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (mut buf, mut frames) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    // rsyslogd's own start-up message comes too; wait for the three lines of the file.
    while frames
        .iter()
        .filter(|f: &&String| f.contains("framing test"))
        .count()
        < lines.len()
    {
        assert!(
            Instant::now() < deadline,
            "frames so far: {frames:#?}\nbytes: {:?}\nrsyslogd said:\n{}",
            String::from_utf8_lossy(&buf),
            rsyslogd.output()
        );
        match conn.read(&mut chunk) {
            Ok(0) => panic!("rsyslogd closed the connection; frames: {frames:#?}"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        let (more, used) = octet_frames(&buf);
        frames.extend(more);
        buf.drain(..used);
    }
    rsyslogd.stop();

    let ours: Vec<&String> = frames
        .iter()
        .filter(|f| f.contains("framing test"))
        .collect();
    assert_eq!(ours.len(), lines.len(), "each line once: {frames:#?}");
    for (frame, line) in ours.iter().zip(&lines) {
        let h = iocd::decode::syslog::parse(frame.as_bytes())
            .unwrap_or_else(|| panic!("iocd reads no syslog header in {frame:?}"));
        assert!(
            matches!(
                h.format,
                iocd::decode::syslog::Format::Rfc5424 { version: 1 }
            ),
            "not RFC 5424: {frame:?} ({h:?})"
        );
        assert_eq!(h.appname.as_deref(), Some("webapp"), "{frame:?}");
        assert_eq!((h.facility, h.severity), (Some(16), Some(6)), "{frame:?}");
        assert!(h.timestamp.is_some(), "no timestamp in {frame:?}");
        // The body is the line as written, with no line feed of its own.
        assert_eq!(&frame[h.body_offset..], line.as_str(), "{frame:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// syslog-ng

/// `syslog-ng --syntax-only` on a configuration that defines the `s_src` the contrib file
/// reads and includes `forward` (the contrib file, placeholders replaced).
fn syslog_ng_check(dir: &Path, forward: &str) -> Output {
    let syslog_ng = tool("syslog-ng");
    // `@version` must name the running syslog-ng's version, e.g. 3.38.
    let version = Command::new(&syslog_ng).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("Installer-Version: "))
        .and_then(|v| {
            let mut parts = v.trim().split('.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        })
        .unwrap_or_else(|| panic!("no Installer-Version in `syslog-ng --version`: {version}"));
    let fwd = dir.join("iocd.conf");
    std::fs::write(&fwd, forward).unwrap();
    let main = dir.join("syslog-ng.conf");
    std::fs::write(
        &main,
        format!(
            "@version: {version}\nsource s_src {{ file(\"{log}\"); }};\n@include \"{fwd}\"\n",
            log = dir.join("app.log").display(),
            fwd = fwd.display()
        ),
    )
    .unwrap();
    Command::new(&syslog_ng)
        .arg("--syntax-only")
        .arg("-f")
        .arg(&main)
        .output()
        .unwrap()
}

#[test]
fn syslog_ng_accepts_the_forwarding_config() {
    let dir = tempfile::tempdir().unwrap();
    let text = contrib("forwarders/syslog-ng/iocd.conf");
    for want in [
        "syslog(\"IOCD_HOST\"",
        "port(IOCD_PORT)",
        "transport(\"tcp\")",
        "disk-buffer(",
        "reliable(yes)",
        "source(s_src)",
        "destination(d_iocd)",
    ] {
        assert!(
            text.contains(want),
            "contrib/forwarders/syslog-ng/iocd.conf lacks {want}"
        );
    }
    let out = syslog_ng_check(dir.path(), &targeting(&text, 5514));
    assert!(
        out.status.success(),
        "syslog-ng --syntax-only refuses the config that includes \
         contrib/forwarders/syslog-ng/iocd.conf:\n{}",
        text_of(&out)
    );
    // The check reads the included file: a misspelled option fails it.
    let broken = targeting(&text, 5514).replace("reliable(yes)", "relaible(yes)");
    let out = syslog_ng_check(dir.path(), &broken);
    assert!(
        !out.status.success() && text_of(&out).contains("relaible"),
        "syslog-ng --syntax-only accepted a misspelled option in the included file:\n{}",
        text_of(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Fluent Bit, Vector, Filebeat: not installable here, so parsed and checked.

/// Fluent Bit's classic format: each `[SECTION]` with its `key value` pairs (keys lower-case,
/// as Fluent Bit reads them case-insensitively). Panics on a line that is neither blank, a
/// comment, a section header nor an indented pair inside a section.
fn fluent_bit_sections(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            assert!(
                !line.starts_with(' '),
                "line {n}: an indented section header"
            );
            sections.push((name.to_ascii_uppercase(), BTreeMap::new()));
            continue;
        }
        assert!(
            line.starts_with("    "),
            "line {n}: a key outside an indented section body: {line:?}"
        );
        let (key, value) = t
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("line {n}: a key without a value: {line:?}"));
        let (name, pairs) = sections
            .last_mut()
            .unwrap_or_else(|| panic!("line {n}: a key before any section"));
        let old = pairs.insert(key.to_ascii_lowercase(), value.trim().to_owned());
        assert!(old.is_none(), "line {n}: {key} twice in [{name}]");
    }
    sections
}

#[test]
fn fluent_bit_sends_each_line_as_rfc5424_over_tcp_to_the_placeholders() {
    // Fluent Bit is not installable here: the file is parsed, not run.
    let text = contrib("forwarders/fluent-bit/iocd.conf");
    let sections = fluent_bit_sections(&text);
    let one = |name: &str| {
        let found: Vec<&BTreeMap<String, String>> = sections
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, p)| p)
            .collect();
        assert_eq!(found.len(), 1, "one [{name}] section: {sections:#?}");
        found[0]
    };
    let (input, output) = (one("INPUT"), one("OUTPUT"));
    assert!(one("SERVICE").contains_key("storage.path"), "{sections:#?}");
    assert_eq!(input["name"], "tail");
    assert_eq!(input["storage.type"], "filesystem");
    assert_eq!(
        output["match"], input["tag"],
        "the output takes the tail's records"
    );
    let want = [
        ("name", "syslog"),
        ("host", IOCD_HOST),
        ("port", IOCD_PORT),
        ("mode", "tcp"),
        ("syslog_format", "rfc5424"),
        // The key the tail input puts each line under.
        ("syslog_message_key", "log"),
        ("retry_limit", "no_limits"),
    ];
    for (k, v) in want {
        assert_eq!(
            output.get(k).map(String::as_str),
            Some(v),
            "[OUTPUT] {k}: {output:#?}"
        );
    }
    let max: u64 = output["syslog_maxsize"].parse().unwrap();
    assert!(
        max >= 65536,
        "syslog_maxsize {max} cuts lines iocd would take"
    );
    // Every key is one the syslog output (or any output) knows: a typo is not ignored quietly.
    let known = [
        "name",
        "match",
        "match_regex",
        "host",
        "port",
        "retry_limit",
        "storage.total_limit_size",
        "tls",
        "tls.verify",
        "tls.ca_file",
        "mode",
        "syslog_format",
        "syslog_maxsize",
        "syslog_severity_key",
        "syslog_severity_preset",
        "syslog_facility_key",
        "syslog_facility_preset",
        "syslog_hostname_key",
        "syslog_hostname_preset",
        "syslog_appname_key",
        "syslog_appname_preset",
        "syslog_procid_key",
        "syslog_procid_preset",
        "syslog_msgid_key",
        "syslog_msgid_preset",
        "syslog_sd_key",
        "syslog_message_key",
        "allow_longer_sd_id",
    ];
    for k in output.keys() {
        assert!(
            known.contains(&k.as_str()),
            "[OUTPUT] has an unknown key {k}"
        );
    }
}

#[test]
fn vector_sends_each_line_over_tcp_to_the_placeholders() {
    // Vector is not installable here: the file is parsed as TOML, not run.
    let text = contrib("forwarders/vector/iocd.toml");
    let v: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("iocd.toml: {e}"));
    assert!(v.get("data_dir").is_some_and(|d| d.is_str()), "no data_dir");
    let sources = v["sources"].as_table().expect("[sources]");
    let sink = v["sinks"]["iocd"].as_table().expect("[sinks.iocd]");
    let s = |path: &[&str]| {
        let mut at = &toml::Value::Table(sink.clone());
        for p in path {
            at = at
                .get(p)
                .unwrap_or_else(|| panic!("sinks.iocd.{} missing", path.join(".")));
        }
        at.clone()
    };
    assert_eq!(s(&["type"]).as_str(), Some("socket"));
    assert_eq!(s(&["mode"]).as_str(), Some("tcp"));
    assert_eq!(
        s(&["address"]).as_str(),
        Some(format!("{IOCD_HOST}:{IOCD_PORT}").as_str())
    );
    assert_eq!(s(&["encoding", "codec"]).as_str(), Some("text"));
    assert_eq!(
        s(&["framing", "method"]).as_str(),
        Some("newline_delimited")
    );
    assert_eq!(s(&["buffer", "type"]).as_str(), Some("disk"));
    assert_eq!(s(&["buffer", "when_full"]).as_str(), Some("block"));
    // Vector's smallest disk buffer.
    let max = s(&["buffer", "max_size"]).as_integer().unwrap();
    assert!(
        max >= 268_435_488,
        "buffer.max_size {max} is below Vector's minimum"
    );
    let inputs = s(&["inputs"]);
    let inputs = inputs.as_array().unwrap();
    assert!(!inputs.is_empty());
    for i in inputs {
        let name = i.as_str().unwrap();
        assert!(
            sources.contains_key(name),
            "sinks.iocd reads {name}, which no [sources.*] defines"
        );
    }
}

/// A minimal YAML reading of a Filebeat file, enough to tell it is well formed: indentation by
/// spaces in steps of two, every line a `key: value`, a `key:` opening a deeper block or a
/// `- item`, flow sequences and quotes closed on their line. Returns each value with its
/// dotted key path (a list item is `[]`). Panics on anything else.
fn yaml_paths(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        assert!(!raw.contains('\t'), "line {n}: a tab");
        let line = strip_yaml_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let mut indent = line.len() - line.trim_start().len();
        assert!(indent.is_multiple_of(2), "line {n}: indented by {indent}");
        let mut rest = line.trim();
        while let Some(item) = rest.strip_prefix("- ") {
            stack.retain(|(i, _)| *i < indent);
            stack.push((indent, "[]".into()));
            indent += 2;
            rest = item.trim_start();
        }
        stack.retain(|(i, _)| *i < indent);
        let path = |key: &str| {
            let mut p: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            p.push(key);
            p.join(".").replace(".[]", "[]")
        };
        match rest
            .split_once(": ")
            .or_else(|| rest.strip_suffix(':').map(|k| (k, "")))
        {
            Some((key, value)) if !key.is_empty() && !key.contains(' ') => {
                let value = value.trim();
                check_yaml_scalar(n, value);
                if value.is_empty() {
                    stack.push((indent, key.to_owned()));
                } else {
                    out.push((path(key), value.to_owned()));
                }
            }
            // A scalar list item.
            _ if stack.last().is_some_and(|(_, k)| k == "[]") => {
                check_yaml_scalar(n, rest);
                out.push((path("").trim_end_matches('.').to_owned(), rest.to_owned()));
            }
            _ => panic!("line {n}: not `key: value`, `key:` or `- item`: {raw:?}"),
        }
    }
    out
}

/// `line` without a trailing ` # comment` (a `#` inside quotes stays).
fn strip_yaml_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Quotes and flow sequences of a YAML value closed where they open.
fn check_yaml_scalar(n: usize, value: &str) {
    for q in ['"', '\''] {
        if value.starts_with(q) {
            assert!(
                value.len() > 1 && value.ends_with(q),
                "line {n}: unclosed quote in {value}"
            );
        }
    }
    if value.starts_with('[') {
        assert!(value.ends_with(']'), "line {n}: unclosed [ in {value}");
    }
    assert!(!value.starts_with('{'), "line {n}: a flow mapping: {value}");
}

#[test]
fn filebeat_publishes_each_line_to_the_placeholder_topic() {
    // Filebeat is not installable here: the file is read by a structural YAML check, not run.
    let text = contrib("forwarders/filebeat/iocd.yml");
    let paths = yaml_paths(&text);
    let get = |p: &str| {
        paths
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {p} in filebeat/iocd.yml: {paths:#?}"))
    };
    assert_eq!(get("output.kafka.hosts"), "[\"IOCD_KAFKA_BROKER\"]");
    assert_eq!(get("output.kafka.topic"), "\"IOCD_KAFKA_TOPIC\"");
    // The line itself, not Filebeat's JSON event: one Kafka message is one line for iocd.
    assert_eq!(get("output.kafka.codec.format.string"), "\"%{[message]}\"");
    assert_eq!(get("output.kafka.required_acks"), "-1");
    assert_eq!(get("filebeat.inputs[].type"), "filestream");
    assert!(get("filebeat.inputs[].paths[]").starts_with('/'));
    assert!(paths.iter().any(|(k, _)| k.starts_with("queue.disk.")));
    let outputs: BTreeSet<&str> = paths
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("output."))
        .filter_map(|k| k.split('.').next())
        .collect();
    assert_eq!(outputs, ["kafka"].into(), "Filebeat takes one output");
}

#[test]
fn yaml_check_refuses_what_is_not_yaml() {
    for bad in [
        "a:\n\tb: 1\n",
        "a:\n   b: 1\n",
        "a: [1, 2\n",
        "a: \"x\n",
        "just words\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| yaml_paths(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
    assert_eq!(
        yaml_paths("a:\n  - b: 1 # c\n    c: \"#x\"\n  - /p\n"),
        [
            ("a[].b".to_owned(), "1".to_owned()),
            ("a[].c".to_owned(), "\"#x\"".to_owned()),
            ("a[]".to_owned(), "/p".to_owned()),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The iocd side of each file.

#[test]
fn each_forwarder_pairs_with_a_source_iocd_validates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "198.51.100.77\n").unwrap();
    for (rel, kind, sends_to) in [
        ("forwarders/rsyslog/iocd.conf", "syslog_tcp", IOCD_PORT),
        ("forwarders/syslog-ng/iocd.conf", "syslog_tcp", IOCD_PORT),
        ("forwarders/fluent-bit/iocd.conf", "syslog_tcp", IOCD_PORT),
        ("forwarders/vector/iocd.toml", "syslog_tcp", IOCD_PORT),
        ("forwarders/filebeat/iocd.yml", "kafka", "IOCD_KAFKA_TOPIC"),
    ] {
        let text = contrib(rel);
        assert!(
            text.starts_with("# "),
            "contrib/{rel} starts with what it does"
        );
        assert!(
            text.contains(sends_to),
            "contrib/{rel} does not use {sends_to}"
        );
        let section = pairing(rel, &text);
        assert!(
            section.starts_with(&format!("[sources.{kind}]\n")),
            "contrib/{rel} pairs with [sources.{kind}], not:\n{section}"
        );
        // The source reads where the shipper sends.
        let table: toml::Table =
            toml::from_str(&section).unwrap_or_else(|e| panic!("{rel}: {e}\n{section}"));
        let src = &table["sources"][kind];
        match kind {
            "kafka" => {
                assert_eq!(src["brokers"].as_str(), Some("IOCD_KAFKA_BROKER"), "{rel}");
                assert_eq!(src["topics"][0].as_str(), Some(sends_to), "{rel}");
            }
            _ => {
                let listen = src["listen"].as_str().unwrap();
                assert!(listen.ends_with(":IOCD_PORT"), "{rel}: listen = {listen}");
            }
        }
        let toml_text = section
            .replace(IOCD_PORT, "5514")
            .replace("IOCD_KAFKA_BROKER", "127.0.0.1:9092")
            .replace("IOCD_KAFKA_TOPIC", "logs-iocd");
        let cfg = write_config(dir.path(), &format!("{TEST_FEED}\n{toml_text}"));
        let out = iocd_validate(&cfg);
        assert!(
            out.status.success(),
            "iocd validate refuses the source section of contrib/{rel}:\n{toml_text}\n{}",
            text_of(&out)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Elasticsearch index template.

fn template() -> Value {
    let text = contrib("elasticsearch/iocd-alerts-template.json");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("contrib/elasticsearch/iocd-alerts-template.json: {e}"))
}

/// The template's mapping, by dotted path: its leaves (typed fields) and its objects.
#[derive(Default)]
struct Mapping {
    leaves: BTreeMap<String, Value>,
    objects: BTreeMap<String, Value>,
}

impl Mapping {
    fn of(template: &Value) -> Mapping {
        let mut m = Mapping::default();
        let mappings = &template["template"]["mappings"];
        m.objects.insert(String::new(), mappings.clone());
        m.walk(
            "",
            mappings["properties"]
                .as_object()
                .expect("mappings.properties"),
        );
        m
    }

    fn walk(&mut self, prefix: &str, props: &serde_json::Map<String, Value>) {
        for (k, node) in props {
            let path = format!("{prefix}{k}");
            match node.get("properties").and_then(Value::as_object) {
                Some(p) => {
                    self.objects.insert(path.clone(), node.clone());
                    self.walk(&format!("{path}."), p);
                }
                None => {
                    assert!(node["type"].is_string(), "{path}: no type");
                    self.leaves.insert(path, node.clone());
                }
            }
        }
    }

    fn leaf_type(&self, path: &str) -> Option<&str> {
        self.leaves.get(path).and_then(|n| n["type"].as_str())
    }

    /// Whether a document's `path` is taken by the mapping though not mapped itself: under a
    /// `flattened` field, or under an object whose `dynamic` (its own, else the closest
    /// enclosing object's) is `true` or `runtime`.
    fn covers_unmapped(&self, path: &str) -> bool {
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('.') {
            if self.leaf_type(parent) == Some("flattened") {
                return true;
            }
            if let Some(d) = self.objects.get(parent).and_then(|o| o.get("dynamic")) {
                return dynamic_on(d);
            }
            at = parent;
        }
        // Elasticsearch's default at the root is `true`.
        self.objects[""].get("dynamic").is_none_or(dynamic_on)
    }
}

/// Whether a `dynamic` setting indexes fields the mapping does not name.
fn dynamic_on(dynamic: &Value) -> bool {
    *dynamic == true || matches!(dynamic.as_str(), Some("true" | "runtime"))
}

/// Whether a JSON leaf `v` is a value Elasticsearch indexes into a field of type `es`.
fn fits(es: &str, v: &Value) -> bool {
    const STRINGS: [&str; 5] = [
        "keyword",
        "wildcard",
        "match_only_text",
        "text",
        "constant_keyword",
    ];
    const INTEGERS: [&str; 5] = ["long", "integer", "short", "byte", "unsigned_long"];
    const FLOATS: [&str; 4] = ["float", "double", "scaled_float", "half_float"];
    match v {
        Value::String(s) => {
            STRINGS.contains(&es)
                || (matches!(es, "date" | "date_nanos")
                    && chrono::DateTime::parse_from_rfc3339(s).is_ok())
                || (es == "ip" && s.parse::<std::net::IpAddr>().is_ok())
        }
        Value::Number(n) if n.is_f64() => FLOATS.contains(&es),
        Value::Number(_) => INTEGERS.contains(&es) || FLOATS.contains(&es),
        Value::Bool(_) => es == "boolean",
        _ => false,
    }
}

/// The ECS type of src/alert/ecs/fields.rs an Elasticsearch field type may hold.
fn es_types_of(ecs: &str) -> &'static [&'static str] {
    match ecs {
        "Keyword" => &["keyword", "wildcard", "match_only_text", "constant_keyword"],
        "Long" => &["long"],
        "Float" => &["float", "scaled_float", "double"],
        "Date" => &["date", "date_nanos"],
        "Ip" => &["ip"],
        "Flattened" => &["flattened"],
        other => panic!("an ECS type this test does not know: {other}"),
    }
}

/// Every problem the mapping has with the document `v` at `path`, each with the first document
/// (`at`) that showed it and the value there.
fn uncovered(
    m: &Mapping,
    path: &str,
    v: &Value,
    at: &str,
    problems: &mut BTreeMap<String, String>,
) {
    let mut problem = |p: String, v: &Value| {
        problems.entry(p).or_insert_with(|| format!("{at}: {v}"));
    };
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                uncovered(m, path, item, at, problems);
            }
        }
        Value::Object(o) => match m.leaf_type(path) {
            Some("flattened") => {}
            Some(t) => problem(format!("{path} is an object, mapped as {t}"), v),
            None => {
                for (k, child) in o {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    uncovered(m, &p, child, at, problems);
                }
            }
        },
        leaf => match m.leaf_type(path) {
            Some(t) if fits(t, leaf) => {}
            Some(t) => problem(format!("{path} holds values {t} does not take"), leaf),
            None if m.covers_unmapped(path) => {}
            None => problem(format!("{path} is not mapped"), leaf),
        },
    }
}

#[test]
fn elasticsearch_template_maps_every_field_of_the_golden_alerts() {
    let t = template();
    assert_eq!(t["index_patterns"], serde_json::json!(["iocd-alerts-*"]));
    let mappings = &t["template"]["mappings"];
    assert!(
        mappings.get("dynamic").is_some(),
        "the mapping says what happens to fields it does not name (dynamic)"
    );
    let m = Mapping::of(&t);
    assert_eq!(m.leaf_type("@timestamp"), Some("date"));
    assert_eq!(
        m.objects["threat.enrichments"]["type"], "nested",
        "ECS maps threat.enrichments as nested"
    );
    let known = [
        "keyword",
        "wildcard",
        "match_only_text",
        "constant_keyword",
        "long",
        "float",
        "date",
        "ip",
        "boolean",
        "flattened",
    ];
    for (path, node) in &m.leaves {
        let ty = node["type"].as_str().unwrap();
        assert!(known.contains(&ty), "{path}: unknown type {ty}");
        if ty == "keyword" && node["index"] != false {
            // A keyword longer than Lucene's term limit would make the document fail.
            assert!(
                node["ignore_above"].is_u64(),
                "{path}: keyword without ignore_above"
            );
        }
    }

    let golden = repo().join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".ecs.jsonl"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no golden ECS alerts in {}",
        golden.display()
    );
    let (mut problems, mut alerts) = (BTreeMap::new(), 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let alert: Value = serde_json::from_str(line).unwrap();
            let at = format!("{}:{}", f.file_name().unwrap().to_string_lossy(), n + 1);
            uncovered(&m, "", &alert, &at, &mut problems);
            alerts += 1;
        }
    }
    assert!(alerts > 50, "only {alerts} golden alerts read");
    assert_eq!(
        problems,
        BTreeMap::new(),
        "fields of golden alerts the template does not take (problem: first alert, value)"
    );
}

#[test]
fn elasticsearch_template_types_agree_with_the_ecs_field_table() {
    // The table iocd checks every alert against (`ecs::check`), read from its source: each
    // `("path", Type)` entry of `FIELDS`.
    let src = std::fs::read_to_string(repo().join("src/alert/ecs/fields.rs")).unwrap();
    let start = src.find("const FIELDS").expect("FIELDS in fields.rs");
    let table = &src[start..start + src[start..].find("\n];").expect("end of FIELDS")];
    let entry = regex::Regex::new(r#"\("([^"]+)",\s*(\w+)\)"#).unwrap();
    let fields: Vec<(String, String)> = entry
        .captures_iter(table)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect();
    assert_eq!(
        fields.len(),
        table.matches("(\"").count(),
        "an entry of FIELDS this test does not read"
    );
    assert!(fields.len() > 100, "only {} ECS fields read", fields.len());

    let m = Mapping::of(&template());
    let mut problems = Vec::new();
    for (path, ecs) in &fields {
        // What the code says, so the text read here is the table the alerts are checked with.
        let code = iocd::alert::ecs::field_type(path).map(|t| format!("{t:?}"));
        assert_eq!(code.as_deref(), Some(ecs.as_str()), "{path} in fields.rs");
        match m.leaf_type(path) {
            None => problems.push(format!("{path}: not mapped (ECS {ecs})")),
            Some(t) if !es_types_of(ecs).contains(&t) => {
                problems.push(format!("{path}: mapped as {t}, ECS has {ecs}"))
            }
            Some(_) => {}
        }
    }
    let ecs_paths: BTreeSet<&str> = fields.iter().map(|(p, _)| p.as_str()).collect();
    for path in m.leaves.keys() {
        if !path.starts_with("iocd.") && !ecs_paths.contains(path.as_str()) {
            problems.push(format!(
                "{path}: mapped, but not an ECS field of src/alert/ecs/fields.rs"
            ));
        }
    }
    assert_eq!(problems, Vec::<String>::new());
}
