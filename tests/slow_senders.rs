//! Slow senders against the real `iocd run` binary over loopback TCP: connections that
//! trickle bytes hold every slot, yet a new sender's line is alerted within the frame timeout;
//! the slow ones are closed and counted; one address cannot take more than its share.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iocd_testkit::support;
use support::{
    TEST_FEED, assert_running, file_sink_admin, free_port, http_get, iocd_run, metric_sum,
    read_alerts, start_iocd, stop_iocd, write_config,
};

/// What the frame timeout is in these tests.
const FRAME: Duration = Duration::from_secs(2);
/// Allowance for a loaded machine on top of the timeouts.
const SLACK: Duration = Duration::from_secs(6);

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    syslog: SocketAddr,
    admin: u16,
}

impl Daemon {
    /// `iocd run` with TCP syslog (`tcp` extra keys), a file sink, and one indicator,
    /// 198.51.100.7. Its log goes to `iocd.log`.
    fn start(tcp: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.txt"), "198.51.100.7\n").unwrap();
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
{tcp}
{sink}
"#,
            sink = file_sink_admin(admin, "10s"),
        );
        let path = write_config(dir.path(), &cfg);
        let log = std::fs::File::create(dir.path().join("iocd.log")).unwrap();
        let child = start_iocd(
            iocd_run(&path)
                .current_dir(dir.path())
                .stderr(Stdio::from(log)),
            admin,
            "/readyz",
        );
        Daemon {
            child,
            dir,
            syslog: format!("127.0.0.1:{syslog}").parse().unwrap(),
            admin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn metric(&self, name: &str) -> f64 {
        http_get(self.admin, "/metrics").map_or(-1.0, |b| metric_sum(&b, name))
    }

    /// Waits until `name` (a full sample name with labels, or a family) reaches `at_least`.
    fn wait_metric(&mut self, name: &str, at_least: f64, within: Duration) {
        let t = Instant::now();
        loop {
            let v = self.metric(name);
            if v >= at_least {
                return;
            }
            assert_running(&mut self.child);
            assert!(
                t.elapsed() < within,
                "{name} is {v}, not {at_least}, after {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The alerts whose original line contains `text`, waiting up to `within` for one.
    fn wait_alert(&self, text: &str, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < within {
            let alerts = read_alerts(&self.path("alerts.jsonl"));
            if alerts.iter().any(|a| {
                a["event"]["original"]
                    .as_str()
                    .is_some_and(|o| o.contains(text))
            }) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("iocd.log")).unwrap_or_default()
    }

    fn stop(mut self) -> String {
        let (status, _) = stop_iocd(&mut self.child, Duration::from_secs(30));
        let log = self.log();
        assert!(status.success(), "exit {status}:\n{log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sender that writes `each` every `every` on its own connection and never completes
/// a message; until iocd closes it (then `closed_after` is set), `stop` is set, or 60 s.
struct Slow {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<Duration>>,
}

impl Slow {
    fn start(addr: SocketAddr, each: &'static [u8], every: Duration) -> Slow {
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = TcpStream::connect(addr).unwrap();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let t = Instant::now();
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            while !flag.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(60) {
                if s.write_all(each).is_err() {
                    return Some(t.elapsed());
                }
                // iocd never writes: a read that returns is its close (EOF or reset).
                match s.read(&mut [0u8; 1]) {
                    Ok(_) => return Some(t.elapsed()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return Some(t.elapsed()),
                }
                std::thread::sleep(every);
            }
            None
        });
        Slow { stop, thread }
    }

    /// Whether it has seen iocd close the connection, waiting up to `within` for it.
    fn closed_within(&self, within: Duration) -> bool {
        let t = Instant::now();
        while !self.thread.is_finished() && t.elapsed() < within {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.thread.is_finished()
    }

    /// How long after it started iocd closed it; `None` when it was still open.
    fn finish(self) -> Option<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn send_line(addr: SocketAddr, line: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s
}

/// Every slot held by senders that only ever send blank lines (never a message, never an
/// incomplete one: no frame timeout applies, and the idle timeout is a minute): a new
/// sender's line is still alerted within the frame timeout, because the connection that has
/// gone longest without a message is closed to make room for it.
#[test]
fn slots_held_by_slow_senders_do_not_block_a_new_sender() {
    let mut d = Daemon::start(
        "max_connections = 4\nmax_connections_per_peer = 16\nframe_timeout = \"2s\"\n\
         idle_timeout = \"60s\"",
    );
    let slow: Vec<Slow> = (0..4)
        .map(|_| Slow::start(d.syslog, b"\n", Duration::from_millis(200)))
        .collect();
    d.wait_metric("iocd_source_connections{source=\"syslog_tcp\"}", 4.0, SLACK);

    let line = "<13>Nov 22 10:00:00 fw1 kernel: DROP SRC=10.1.1.1 DST=198.51.100.7 new sender\n";
    let _sender = send_line(d.syslog, line);
    let took = d
        .wait_alert("new sender", FRAME + SLACK)
        .unwrap_or_else(|| panic!("no alert within {:?}:\n{}", FRAME + SLACK, d.log()));
    eprintln!("the new sender's line was alerted after {took:?}");
    d.wait_metric(
        "iocd_source_closed_connections_total{reason=\"evicted\",source=\"syslog_tcp\"}",
        1.0,
        SLACK,
    );

    // A second new sender, util-linux `logger --tcp`, makes room the same way.
    let port = d.syslog.port().to_string();
    let logger = std::process::Command::new("logger")
        .args(["--tcp", "-n", "127.0.0.1", "-P", &port, "-t", "fw1"])
        .arg("DROP SRC=10.1.1.2 DST=198.51.100.7 second")
        .output()
        .expect("util-linux `logger` runs (scripts/install-test-deps.sh installs it)");
    assert!(logger.status.success(), "{logger:?}");
    assert!(
        d.wait_alert("second", FRAME + SLACK).is_some(),
        "{}",
        d.log()
    );
    d.wait_metric(
        "iocd_source_closed_connections_total{reason=\"evicted\",source=\"syslog_tcp\"}",
        2.0,
        SLACK,
    );
    let t = Instant::now();
    while slow
        .iter()
        .filter(|s| s.closed_within(Duration::ZERO))
        .count()
        < 2
    {
        assert!(t.elapsed() < SLACK, "the slow senders see no close");
        std::thread::sleep(Duration::from_millis(20));
    }
    let closed: Vec<Option<Duration>> = slow.into_iter().map(Slow::finish).collect();
    let evicted = closed.iter().filter(|c| c.is_some()).count();
    assert!(evicted >= 2, "slow senders closed: {closed:?}");
    let log = d.stop();
    assert!(
        log.contains("connection closed by iocd") && log.contains("reason=\"evicted\""),
        "each forced close is logged with its reason:\n{log}"
    );
    assert!(log.contains("peer=127.0.0.1:"), "and its peer:\n{log}");
}

/// Senders that trickle a message a byte at a time are closed once the message is
/// `frame_timeout` old, and counted; what they sent is kept as a line.
#[test]
fn a_message_that_never_ends_is_cut_off_at_the_frame_timeout() {
    let mut d = Daemon::start(
        "max_connections = 4\nmax_connections_per_peer = 16\nframe_timeout = \"2s\"\n\
         idle_timeout = \"60s\"",
    );
    let slow: Vec<Slow> = (0..4)
        .map(|_| Slow::start(d.syslog, b"x", Duration::from_millis(200)))
        .collect();
    d.wait_metric(
        "iocd_source_closed_connections_total{reason=\"frame_timeout\",source=\"syslog_tcp\"}",
        4.0,
        FRAME + SLACK,
    );
    for s in slow {
        assert!(s.closed_within(SLACK), "iocd closed the trickling sender");
        let after = s.finish().expect("closed");
        assert!(
            after >= FRAME - Duration::from_millis(300) && after < FRAME + SLACK,
            "closed after {after:?}"
        );
    }
    // Intake still works.
    let _s = send_line(
        d.syslog,
        "<13>Nov 22 10:00:00 fw1 kernel: DROP SRC=10.1.1.1 DST=198.51.100.7 after\n",
    );
    assert!(d.wait_alert("after", SLACK).is_some(), "{}", d.log());
    d.stop();
}

/// A connection bound to `local` (an address of the loopback network) to `to`.
fn connect_from(local: &str, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    s.bind(&local.into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// Whether iocd closes `s` (EOF or reset) within `within`.
fn closed_by_iocd(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    match s.read(&mut [0u8; 16]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn one_address_gets_at_most_its_share_of_connections() {
    let mut d = Daemon::start("max_connections = 16\nmax_connections_per_peer = 2");
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| connect_from("127.0.0.1", d.syslog))
        .collect();
    d.wait_metric("iocd_source_connections{source=\"syslog_tcp\"}", 2.0, SLACK);
    let mut third = connect_from("127.0.0.1", d.syslog);
    assert!(
        closed_by_iocd(&mut third, SLACK),
        "a third connection from the same address is closed at once"
    );
    d.wait_metric(
        "iocd_source_closed_connections_total{reason=\"peer_limit\",source=\"syslog_tcp\"}",
        1.0,
        SLACK,
    );
    // The two it has are served; another address is not limited by them.
    held[0]
        .write_all(b"<13>Nov 22 10:00:00 fw1 kernel: DROP DST=198.51.100.7 held\n")
        .unwrap();
    let mut other = connect_from("127.0.0.2", d.syslog);
    other
        .write_all(b"<13>Nov 22 10:00:00 fw2 kernel: DROP DST=198.51.100.7 other\n")
        .unwrap();
    assert!(d.wait_alert("held", SLACK).is_some(), "{}", d.log());
    assert!(d.wait_alert("other", SLACK).is_some(), "{}", d.log());
    assert!(
        !closed_by_iocd(&mut held[1], Duration::from_millis(200)),
        "the first two stay open"
    );
    // Once one of its connections ends, the address may open another.
    drop(held.remove(1));
    let t = Instant::now();
    let fourth = loop {
        let mut s = connect_from("127.0.0.1", d.syslog);
        if !closed_by_iocd(&mut s, Duration::from_millis(300)) {
            break s;
        }
        assert!(
            t.elapsed() < SLACK,
            "the slot of a closed connection is not given back"
        );
    };
    drop(fourth);
    assert_eq!(
        d.metric("iocd_source_closed_connections_total"),
        d.metric(
            "iocd_source_closed_connections_total{reason=\"peer_limit\",source=\"syslog_tcp\"}"
        ),
        "nothing else was closed"
    );
    let log = d.stop();
    assert!(log.contains("reason=\"peer_limit\""), "{log}");
}
