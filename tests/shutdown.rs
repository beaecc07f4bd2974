//! Shutdown with a sink that is down: the real `iocd run` binary must still exit within its
//! grace period, with triage on (roll-ups and digests are handed to the sinks at shutdown, and
//! that hand-over must not wait forever for a sink whose buffer is full).

use std::time::{Duration, Instant};

mod support;
use support::{
    TEST_FEED, assert_running, free_port, http_get, iocd_run, metric_sum, signal, stderr_of,
    wait_exit, write_config,
};

fn metric(admin: u16, name: &str) -> f64 {
    http_get(admin, "/metrics").map_or(0.0, |b| metric_sum(&b, name))
}

#[test]
fn a_dead_sink_does_not_hold_the_exit_past_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    // 200 distinct indicators, each seen from an internal host: 200 windows.
    let feed: String = (0..200)
        .map(|i| format!("203.0.113.{}\n", i % 250))
        .collect::<String>()
        + &(0..200)
            .map(|i| format!("evil{i}.example.com\n"))
            .collect::<String>();
    std::fs::write(dir.path().join("feed.txt"), feed).unwrap();
    // One indicator on one host 50 times first (one alert, then a window that counts: closing
    // it at shutdown makes a roll-up), then distinct ones that fill the dead sink's buffer.
    let log: String = std::iter::repeat_n(0, 50)
        .chain(1..200)
        .map(|i| {
            format!(
                "Nov 22 10:00:00 fw1 kernel: ACCEPT SRC=10.0.0.{} DST=203.0.113.{} DPT=443 q=evil{i}.example.com\n",
                i % 250,
                i % 250
            )
        })
        .collect();
    std::fs::write(dir.path().join("in.log"), log).unwrap();
    let (admin, dead) = (free_port(), free_port());
    let cfg = format!(
        r#"
{TEST_FEED}
[[sources.files]]
path = "in.log"
from_beginning = true
[[sinks]]
type = "http"
url = "http://127.0.0.1:{dead}/alerts"
batch_max_events = 1
buffer_max_events = 1
retry_initial_delay = "50ms"
retry_max_delay = "200ms"
[triage.dedup]
window = "1h"
[admin]
listen = "127.0.0.1:{admin}"
[shutdown]
grace = "3s"
"#
    );
    let path = write_config(dir.path(), &cfg);
    let mut child = iocd_run(&path).spawn().unwrap();
    let t = Instant::now();
    while metric(admin, "iocd_sink_retries_total") < 2.0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the sink never retried"
        );
        assert_running(&mut child);
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = Instant::now();
    signal(&child, "TERM");
    let Some(status) = wait_exit(&mut child, Duration::from_secs(15)) else {
        let _ = child.kill();
        panic!("iocd still running 15 s after SIGTERM with a 3 s grace period");
    };
    let took = stop.elapsed();
    let err = stderr_of(&mut child);
    assert!(took < Duration::from_secs(6), "exit took {took:?}:\n{err}");
    assert!(
        !status.success(),
        "alerts were not delivered: not a clean exit"
    );
    assert!(err.contains("stopped with alerts not delivered"), "{err}");
}
