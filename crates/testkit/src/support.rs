//! Small helpers the end-to-end tests that run `iocd run` share: a free loopback port, requests
//! to the admin server (plain TCP, no `curl` needed), metric sums from its text, starting and
//! stopping the daemon, and reading the alerts it wrote.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Config lines for the one feed `feed.txt` beside the config, test indicators (documentation
/// and private ranges, which feeds reject by default) allowed, and feed files not watched.
pub const TEST_FEED: &str = r#"[[feeds]]
name = "test"
path = "feed.txt"
allow_private = true
[reload]
watch_files = false"#;

/// Config lines: one file sink writing `alerts.jsonl` (beside the config), the admin server
/// on `127.0.0.1:<admin>`, and a shutdown grace period of `grace` (`"20s"`). It defines the
/// `[admin]` and `[shutdown]` tables: a config that uses it sets no other keys of theirs.
pub fn file_sink_admin(admin: u16, grace: &str) -> String {
    format!(
        "[[sinks]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n[shutdown]\ngrace = \"{grace}\"\n"
    )
}

/// An RFC 5424 syslog line (ended by a line feed) from `host` at `ts` saying `text`.
pub fn syslog_line(ts: &str, host: &str, text: &str) -> String {
    format!("<14>1 {ts} {host} fw - - - {text}\n")
}

/// Sends `lines` (each ended by its line feed) over one TCP connection to a loopback port.
pub fn send_tcp(port: u16, lines: &[String]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for l in lines {
        s.write_all(l.as_bytes()).unwrap();
    }
    s.flush().unwrap();
}

/// A loopback port nothing listens on right now, for a server a test starts next.
///
/// It is drawn below Linux's ephemeral range (32768-60999): a port the kernel hands out
/// for `bind(:0)` is also one it may hand to any outgoing connection (another test's client,
/// a broker's) before the server binds it, which made tests fail with "address in use". Each
/// process draws from its own sequence (seeded by its id and the clock), and a port is only
/// returned after binding it for both TCP and UDP succeeded.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const LOW: u64 = 20_000;
    const SPAN: u64 = 12_000;
    let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into());
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut x = seed ^ n.wrapping_mul(0xd6e8_feb8_6659_fd93);
        x ^= x >> 32;
        x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
        x ^= x >> 29;
        let port = (LOW + x % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 request with an empty body to `127.0.0.1:port`: (status, body).
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_request(
        loopback(port),
        method,
        path,
        &[],
        "",
        Duration::from_secs(60),
    )
}

/// The body of `GET path` on `127.0.0.1:port` when it answers 200; `None` otherwise.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    match http_request(
        loopback(port),
        "GET",
        path,
        &[],
        "",
        Duration::from_secs(10),
    ) {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One HTTP/1.1 request to `addr` with `headers` and `body`, the connection closed after
/// it: (status, body). Connecting and each read time out after `timeout`; a body that is
/// not UTF-8 comes back with replacement characters.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// The sum of every sample of the family `name` (any labels) in a Prometheus text body.
pub fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Writes `text` to `iocd.toml` in `dir`; its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("iocd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// What `iocd validate --config <config>` exits with and prints.
pub fn iocd_validate(config: &Path) -> Output {
    Command::new(crate::iocd_bin())
        .args(["validate", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

/// `iocd run --config <config>` with stdin and stdout closed and stderr piped (read it with
/// [`stderr_of`]); add environment or a working folder before spawning.
pub fn iocd_run(config: &Path) -> Command {
    let mut cmd = Command::new(crate::iocd_bin());
    cmd.args(["run", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `iocd run --config <config>` the way a config it should refuse is tried: its exit
/// status (`None` if it still ran after `timeout`: then it is killed) and everything it
/// logged.
pub fn iocd_run_to_exit(config: &Path, timeout: Duration) -> (Option<ExitStatus>, String) {
    let mut child = iocd_run(config).spawn().expect("iocd starts");
    let status = wait_exit(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    (status, stderr_of(&mut child))
}

/// Spawns `cmd` (an [`iocd_run`]) and waits until `GET ready_path` on the admin port answers
/// 200. Panics with the daemon's stderr if it exits first, and kills it if it is not ready
/// within 30 s.
pub fn start_iocd(cmd: &mut Command, admin: u16, ready_path: &str) -> Child {
    let mut child = cmd.spawn().expect("iocd starts");
    let t = Instant::now();
    while http_get(admin, ready_path).is_none() {
        assert_running(&mut child);
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("iocd not ready after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Panics with the exit status and everything iocd logged if it has exited.
pub fn assert_running(child: &mut Child) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!("iocd exited with {status}:\n{}", stderr_of(child));
    }
}

/// Everything the child wrote to its piped stderr until it closed it (empty once taken).
pub fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// Sends `SIG<sig>` (`TERM`, `HUP`, ...) to the child with `kill`.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// The child's exit status once it exits, `None` if it still runs after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if t.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then the exit status and how long iocd took to exit after it. If it is still
/// running after `timeout`, kills it and panics, saying `what` (the situation, e.g. `"with
/// stdin open"`).
pub fn sigterm_timed(child: &mut Child, timeout: Duration, what: &str) -> (ExitStatus, Duration) {
    let stop = Instant::now();
    signal(child, "TERM");
    let Some(status) = wait_exit(child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("iocd still running {timeout:?} after SIGTERM {what}");
    };
    (status, stop.elapsed())
}

/// SIGTERM, then the exit status and everything iocd logged; kills it and panics if it has
/// not exited within `timeout`.
pub fn stop_iocd(child: &mut Child, timeout: Duration) -> (ExitStatus, String) {
    let (status, _) = sigterm_timed(child, timeout, "(stop_iocd)");
    (status, stderr_of(child))
}

/// The alerts in a JSON-lines file sink; none when the file does not exist yet.
pub fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("alerts are JSON lines"))
        .collect()
}

/// A running `iocd` that is killed when the guard is dropped: a failing assertion (a panic)
/// must not leave daemons behind. Stop it normally with [`stop_iocd`] on `.0`.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
