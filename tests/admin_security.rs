//! The admin server as a control plane, end to end: the real `iocd run` binary over real
//! loopback sockets. The token guards what changes state (and the reads when asked), `iocd
//! validate` refuses an admin port off loopback without one, a flood of half-open
//! connections neither starves syslog intake nor keeps `/metrics` down for longer than the
//! header timeout, forged log lines and terminal escapes in a reason are refused, and marks
//! are bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    TEST_FEED, assert_running, free_port, http_request, iocd_validate, metric_sum, read_alerts,
    stop_iocd, write_config,
};

/// A token good enough for validation (16 characters at least).
const TOKEN: &str = "s3cret-admin-token-0123456789";
/// The one indicator of the test feed.
const BAD_IP: &str = "203.0.113.9";

/// One HTTP/1.1 request to `127.0.0.1:port` with `headers` and `body`: (status, body).
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    http_request(addr, method, path, headers, body, Duration::from_secs(30))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The status of `method path` with `body`, and the bearer token if any.
fn status(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(port, method, path, &headers, body).unwrap().0
}

/// Writes `token` to `admin.token` in `dir` with `mode`; its path.
fn token_file(dir: &Path, token: &str, mode: u32) -> PathBuf {
    let path = dir.join("admin.token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    syslog: u16,
    admin: u16,
}

impl Daemon {
    /// `iocd run` with TCP syslog in, a file sink out, the feed holding [`BAD_IP`], and
    /// `admin` added to the `[admin]` table; `extra` at the end. With `ulimit`, the daemon
    /// runs under `ulimit <ulimit>` (`-n 256`: soft and hard limits; `-S -n 100`: the soft
    /// one). Waits for `/readyz`, sending `token` when reads are protected.
    fn start(admin_extra: &str, extra: &str, ulimit: Option<&str>, token: Option<&str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.txt"), format!("{BAD_IP}\n")).unwrap();
        let (syslog, admin) = (free_port(), free_port());
        let cfg = format!(
            r#"
[engine]
threads = 1
{TEST_FEED}
[triage]
enabled = false
[sources.syslog_tcp]
listen = "127.0.0.1:{syslog}"
[[sinks]]
type = "file"
path = "alerts.jsonl"
[admin]
listen = "127.0.0.1:{admin}"
{admin_extra}
[shutdown]
grace = "10s"
{extra}
"#
        );
        let cfg_path = write_config(dir.path(), &cfg);
        let bin = env!("CARGO_BIN_EXE_iocd");
        let mut cmd = match ulimit {
            // `exec`: the child's pid is iocd's, for the signals.
            Some(limit) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit {limit} && exec \"$0\" run --config \"$1\""))
                    .arg(bin)
                    .arg(&cfg_path);
                c
            }
            None => {
                let mut c = Command::new(bin);
                c.args(["run", "--config"]).arg(&cfg_path);
                c
            }
        };
        // No colours: the log is checked for escape bytes.
        cmd.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("iocd starts");
        let t = Instant::now();
        while request(
            admin,
            "GET",
            "/readyz",
            &token
                .map(|t| vec![("Authorization", bearer(t))])
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
            "",
        )
        .map_or(true, |(s, _)| s != 200)
        {
            assert_running(&mut child);
            if t.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("iocd not ready after 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Daemon {
            child,
            dir,
            syslog,
            admin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn metrics(&self, token: Option<&str>) -> String {
        let auth = token.map(bearer);
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let (status, body) = request(self.admin, "GET", "/metrics", &headers, "").unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// SIGTERM; everything iocd logged.
    fn stop(mut self) -> String {
        let (status, log) = stop_iocd(&mut self.child, Duration::from_secs(30));
        assert!(status.success(), "iocd exited with {status}:\n{log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mark(indicator: &str, reason: &str) -> String {
    serde_json::json!({"indicator": indicator, "reason": reason, "analyst": "alice"}).to_string()
}

#[test]
fn the_token_guards_state_changes_and_reads_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = token_file(dir.path(), TOKEN, 0o600);
    let d = Daemon::start(
        &format!("token_file = {:?}", file.display().to_string()),
        "[feedback]\nstate = \"feedback.json\"",
        None,
        None,
    );
    let p = d.admin;
    let wrong = "s3cret-admin-token-0123456788";
    // State changes: refused without the token or with a wrong one, done with it.
    assert_eq!(status(p, "POST", "/reload", None, ""), 401);
    assert_eq!(status(p, "POST", "/reload", Some(wrong), ""), 401);
    assert_eq!(status(p, "POST", "/reload", Some(TOKEN), ""), 200);
    let m = mark("evil.example", "shared CDN");
    assert_eq!(status(p, "POST", "/feedback", None, &m), 401);
    assert_eq!(status(p, "POST", "/feedback", Some(wrong), &m), 401);
    assert_eq!(
        status(p, "DELETE", "/feedback?indicator=evil.example", None, ""),
        401
    );
    assert_eq!(status(p, "POST", "/feedback", Some(TOKEN), &m), 201);
    // The scheme is case-insensitive; other schemes are not a bearer token.
    let (s, _) = request(
        p,
        "POST",
        "/reload",
        &[("Authorization", &format!("bearer {TOKEN}"))],
        "",
    )
    .unwrap();
    assert_eq!(s, 200);
    let (s, _) = request(
        p,
        "POST",
        "/reload",
        &[("Authorization", &format!("Basic {TOKEN}"))],
        "",
    )
    .unwrap();
    assert_eq!(s, 401);
    // Reads stay open, as Prometheus and health checks expect.
    for path in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/feeds",
        "/feedback",
        "/feedback/summary",
    ] {
        assert_eq!(status(p, "GET", path, None, ""), 200, "{path}");
    }
    let (_, list) = request(p, "GET", "/feedback", &[], "").unwrap();
    assert!(list.contains("evil.example"), "{list}");
    let text = d.metrics(None);
    assert_eq!(
        metric_sum(&text, "iocd_admin_refused_requests_total"),
        6.0,
        "{text}"
    );
    let log = d.stop();
    assert!(
        log.contains("request refused without a valid token"),
        "{log}"
    );
    assert!(log.contains("path=\"/reload\""), "{log}");
    assert!(log.contains("peer=127.0.0.1:"), "{log}");
    assert!(
        !log.contains(wrong) && !log.contains(TOKEN),
        "no token in the log:\n{log}"
    );
}

#[test]
fn protect_reads_closes_the_reads_too() {
    let d = Daemon::start(
        &format!("token = {TOKEN:?}\nprotect_reads = true"),
        "",
        None,
        Some(TOKEN),
    );
    for path in ["/metrics", "/healthz", "/readyz", "/feeds", "/feedback"] {
        assert_eq!(status(d.admin, "GET", path, None, ""), 401, "{path}");
        assert_eq!(status(d.admin, "GET", path, Some(TOKEN), ""), 200, "{path}");
    }
    let text = d.metrics(Some(TOKEN));
    assert!(metric_sum(&text, "iocd_admin_refused_requests_total") >= 5.0);
    d.stop();
}

#[test]
fn validate_refuses_an_open_admin_port_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), format!("{BAD_IP}\n")).unwrap();
    let port = free_port();
    let config = |admin: &str| {
        write_config(
            dir.path(),
            &format!(
                "{TEST_FEED}\n[sources.syslog_tcp]\nlisten = \"127.0.0.1:{}\"\n[admin]\n{admin}\n",
                free_port()
            ),
        )
    };
    let open = format!("listen = \"0.0.0.0:{port}\"");
    let out = iocd_validate(&config(&open));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("admin.listen"), "{err}");
    assert!(err.contains("suppress alerts"), "says why: {err}");

    let file = token_file(dir.path(), TOKEN, 0o600);
    let with_file = format!("{open}\ntoken_file = \"admin.token\"");
    let out = iocd_validate(&config(&with_file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = iocd_validate(&config(&format!("{open}\ntoken = {TOKEN:?}")));
    assert!(out.status.success());

    // A token file every user may read is refused; so are a short token and both keys.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = iocd_validate(&config(&with_file));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("admin.token_file") && err.contains("o-rw"),
        "{err}"
    );
    let out = iocd_validate(&config(&format!("{open}\ntoken = \"short\"")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = iocd_validate(&config(&format!("{with_file}\ntoken = {TOKEN:?}")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
    // Loopback needs no token.
    let out = iocd_validate(&config(&format!("listen = \"127.0.0.1:{port}\"")));
    assert!(out.status.success());
}

#[test]
fn a_reason_that_would_forge_a_log_line_is_refused() {
    let d = Daemon::start("", "[feedback]\nstate = \"feedback.json\"", None, None);
    let forged = "2026-12-04T00:00:00.000000Z  INFO iocd: FORGED-LINE mark removed";
    for reason in [
        format!("cdn\n{forged}"),
        format!("cdn\r\n{forged}"),
        "cdn \u{1b}[2J\u{1b}[31mred".to_owned(),
    ] {
        let (s, body) = request(
            d.admin,
            "POST",
            "/feedback",
            &[],
            &mark("cdn.example", &reason),
        )
        .unwrap();
        assert_eq!(s, 400, "{body}");
        assert!(body.contains("control"), "a clear message: {body}");
        assert!(body.contains("reason"), "names the field: {body}");
    }
    let (s, body) = request(
        d.admin,
        "POST",
        "/feedback",
        &[],
        &serde_json::json!({"indicator": "cdn.example", "reason": "ok",
            "analyst": format!("eve\n{forged}")})
        .to_string(),
    )
    .unwrap();
    assert_eq!(s, 400, "{body}");
    let (_, list) = request(d.admin, "GET", "/feedback", &[], "").unwrap();
    assert_eq!(list.trim(), "[]");
    let text = d.metrics(None);
    assert_eq!(
        metric_sum(&text, "iocd_feedback_refused_total"),
        4.0,
        "{text}"
    );
    let log = d.stop();
    assert!(log.contains("feedback request refused"), "{log}");
    for line in log.lines() {
        assert!(!line.starts_with("2026-12-04T00:00:00"), "forged: {line}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "an escape reached the log:\n{log:?}"
    );
    assert!(!log.contains('\r'), "a carriage return reached the log");
}

#[test]
fn marks_and_bodies_are_bounded() {
    let d = Daemon::start(
        "max_body_bytes = 4096",
        "[feedback]\nstate = \"feedback.json\"\nmax_marks = 20",
        None,
        None,
    );
    let p = d.admin;
    for i in 0..20 {
        let m = mark(&format!("host{i}.example"), &"r".repeat(1000));
        assert_eq!(status(p, "POST", "/feedback", None, &m), 201, "mark {i}");
    }
    // One more is refused until one is removed; replacing one is fine.
    assert_eq!(
        status(p, "POST", "/feedback", None, &mark("one-more.example", "x")),
        409
    );
    assert_eq!(
        status(
            p,
            "POST",
            "/feedback",
            None,
            &mark("host3.example", "again")
        ),
        201
    );
    // A reason over the field limit, a body over the body limit, several marks at once.
    assert_eq!(
        status(
            p,
            "POST",
            "/feedback",
            None,
            &mark("x.example", &"r".repeat(1025))
        ),
        400
    );
    let (s, body) = request(
        p,
        "POST",
        "/feedback",
        &[],
        &mark("x.example", &"r".repeat(2 << 20)),
    )
    .unwrap_or((0, String::new()));
    // The server may answer 413 before the whole body is sent, and close.
    assert!(s == 413 || s == 0, "{s} {body}");
    let two = format!("[{},{}]", mark("a.example", "x"), mark("b.example", "y"));
    assert_eq!(status(p, "POST", "/feedback", None, &two), 400);
    let state = std::fs::metadata(d.path("feedback.json")).unwrap().len();
    assert!(state < 40_000, "state file of {state} bytes");
    let text = d.metrics(None);
    assert_eq!(
        metric_sum(&text, "iocd_admin_refused_requests_total"),
        1.0,
        "the 2 MiB body: {text}"
    );
    let (_, list) = request(p, "GET", "/feedback", &[], "").unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 20);
    d.stop();
}

/// Opens `n` connections to `port`, each sending the start of a request and never the end
/// of its headers, within `budget`; the connections still open.
fn half_open_flood(port: u16, n: usize, budget: Duration) -> Vec<TcpStream> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t = Instant::now();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        if t.elapsed() > budget {
            break;
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            held.push(s);
        }
    }
    held
}

#[test]
fn a_connection_flood_neither_stops_intake_nor_keeps_metrics_down() {
    // Under `ulimit -n 256`, 1,200 connections held by the admin server would take every
    // descriptor and syslog's accept would fail (as it did before the cap).
    let d = Daemon::start(
        "max_connections = 16\nheader_timeout = \"2s\"",
        "",
        Some("-n 256"),
        None,
    );
    let opened = Instant::now();
    let flood = half_open_flood(d.admin, 1200, Duration::from_secs(60));
    eprintln!(
        "{} connections opened in {:?}",
        flood.len(),
        opened.elapsed()
    );
    assert!(flood.len() >= 1000, "only {} connections", flood.len());
    // The admin server holds at most its cap, far below the limit of 256.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .unwrap()
        .count();
    eprintln!("iocd's open descriptors during the flood: {fds}");
    assert!(fds < 100, "{fds} descriptors open");

    // Intake goes on: a new syslog connection, a line with the indicator, an alert.
    let mut s = TcpStream::connect(("127.0.0.1", d.syslog)).unwrap();
    writeln!(s, "<134>Dec  4 00:00:00 fw1 deny src={BAD_IP} dst=10.0.0.1").unwrap();
    let t = Instant::now();
    while read_alerts(&d.path("alerts.jsonl")).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no alert during the flood"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The held connections are cut by the header timeout: /metrics answers again, with the
    // flood still open on the client side.
    let t = Instant::now();
    let text = loop {
        if let Ok((200, body)) = request(d.admin, "GET", "/metrics", &[], "") {
            break body;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "/metrics still down 30 s into the flood"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let refused = |text: &str, reason: &str| {
        metric_sum(
            &text
                .lines()
                .filter(|l| l.contains(&format!("reason=\"{reason}\"")))
                .collect::<Vec<_>>()
                .join("\n"),
            "iocd_admin_refused_connections_total",
        )
    };
    // Each flood connection was refused at once or held until the header timeout (the
    // cap frees up as the first ones time out while the flood is still being opened). The
    // first answer can come while the last held ones still wait for their timeout: scrape
    // until they are counted too.
    let mut text = text;
    let counted = |text: &str| refused(text, "over_capacity") + refused(text, "header_timeout");
    while counted(&text) < flood.len() as f64 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        if let Ok((200, body)) = request(d.admin, "GET", "/metrics", &[], "") {
            text = body;
        }
    }
    let (busy, timed_out) = (
        refused(&text, "over_capacity"),
        refused(&text, "header_timeout"),
    );
    assert!(busy + timed_out >= flood.len() as f64, "{text}");
    assert!(
        busy >= (flood.len() / 2) as f64 && timed_out >= 16.0,
        "{text}"
    );
    eprintln!(
        "flood of {} connections: {busy} refused at once, {timed_out} cut by the header \
         timeout; /metrics back {:?} after the alert",
        flood.len(),
        t.elapsed()
    );
    assert_eq!(metric_sum(&text, "iocd_admin_accept_errors_total"), 0.0);
    // The scrape's own connection at least, and never more than the cap.
    let open = metric_sum(&text, "iocd_admin_connections");
    assert!((1.0..=16.0).contains(&open), "{text}");
    drop(flood);
    let log = d.stop();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("at its connection limit"), "{log}");
    // Throttled: one line a second per reason, not one per connection.
    let lines = log.matches("at its connection limit").count();
    assert!(lines < 100, "{lines} refusal lines");
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn accept_backs_off_when_descriptors_run_out() {
    // A cap above the descriptor limit (a misconfiguration the cap normally prevents): the
    // listener meets EMFILE, with connections left in its backlog that make it ready again
    // at once. Without the pause it would spin a core until they go.
    let d = Daemon::start(
        "max_connections = 1024\nheader_timeout = \"6s\"",
        "",
        Some("-n 64"),
        None,
    );
    let flood = half_open_flood(d.admin, 200, Duration::from_secs(30));
    assert!(flood.len() >= 100, "only {} connections", flood.len());
    let pid = d.child.id();
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, wall) = (cpu_time(pid) - cpu0, t0.elapsed());
    eprintln!("while out of descriptors: {cpu:?} of CPU in {wall:?}");
    assert!(
        cpu < wall / 8,
        "the listener spins: {cpu:?} of CPU in {wall:?}"
    );
    drop(flood);
    // Once the flood is gone the server serves again, and says what happened.
    let t = Instant::now();
    let text = loop {
        if let Ok((200, body)) = request(d.admin, "GET", "/metrics", &[], "") {
            break body;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "/metrics still down");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        metric_sum(&text, "iocd_admin_accept_errors_total") >= 1.0,
        "{text}"
    );
    let log = d.stop();
    assert!(
        log.contains("accept failed for want of file descriptors"),
        "{log}"
    );
}

#[test]
fn slow_bodies_and_oversized_headers_are_refused() {
    let d = Daemon::start("body_timeout = \"1s\"", "", None, None);
    // Headers promise 100 bytes, 10 come: 408 once the body timeout has passed.
    let mut s = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    let t = Instant::now();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let waited = t.elapsed();
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(15),
        "answered after {waited:?}"
    );
    // 64 KiB of headers: hyper answers 431 and closes.
    let mut s = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let _ = s.write_all(big.as_bytes());
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    let text = d.metrics(None);
    let line = |name: &str, reason: &str| {
        text.lines()
            .any(|l| l == format!("{name}{{reason=\"{reason}\"}} 1"))
    };
    assert!(
        line("iocd_admin_refused_requests_total", "body_timeout"),
        "{text}"
    );
    assert!(
        line("iocd_admin_refused_connections_total", "headers_too_large"),
        "{text}"
    );
    d.stop();
}

/// (soft, hard) open-files limits of the process `pid`.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    (f[0].to_owned(), f[1].to_owned())
}

#[test]
fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
    let d = Daemon::start("", "", Some("-S -n 100"), None);
    let (soft, hard) = open_files_limits(d.child.id());
    assert_eq!(soft, hard, "soft limit not raised");
    assert_ne!(soft, "100");
    let log = d.stop();
    assert!(
        log.contains("open-files limit raised to the hard limit") && log.contains("from=100"),
        "{log}"
    );
}

#[test]
fn an_idle_kept_alive_connection_is_closed_but_not_counted_as_refused() {
    let d = Daemon::start("header_timeout = \"1s\"", "", None, None);
    let mut s = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let mut resp = Vec::new();
    // The answer, then EOF once the idle connection meets the header timeout.
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
    let text = d.metrics(None);
    assert_eq!(
        metric_sum(&text, "iocd_admin_refused_connections_total"),
        0.0,
        "{text}"
    );
    d.stop();
}
