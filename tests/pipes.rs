//! The one-shot commands behind real shell pipes, and the daemon's log on a terminal or not.
//!
//! `iocd scan` and `iocd iocs` end like grep when their reader goes away: killed by SIGPIPE,
//! silently (a shell reports 141), never a panic (101). Each case writes far more than a pipe
//! holds (64 KiB), so iocd is still writing when `head` exits, whatever the timing.

use std::path::Path;
use std::process::{Command, Output};

/// 128 + SIGPIPE, as bash reports a process that SIGPIPE killed.
const KILLED_BY_SIGPIPE: &str = "141";

/// Runs `script` in bash in `dir`, with `$IOCD` the binary; (stdout, stderr).
fn bash(dir: &Path, script: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("IOCD", env!("CARGO_BIN_EXE_iocd"))
        .output()
        .unwrap()
}

/// A feed with one IP, `bad` lines it rejects, and a log of `lines` lines that all match. The
/// IP is a documentation address: the commands take `--no-rails` (issue 14 turned the rails on
/// for `--iocs`).
fn files(dir: &Path, bad: usize, lines: usize) {
    let mut feed = String::from("198.51.100.7\n");
    for i in 0..bad {
        // Long enough that the first 1000 rejections kept per feed (what `--all-rejected`
        // prints) overflow a pipe's buffer: iocd is still writing when `head` goes.
        feed.push_str(&format!("{}-not-an-indicator-{i}!!\n", "x".repeat(200)));
    }
    std::fs::write(dir.join("feed.txt"), feed).unwrap();
    let log: String = (0..lines)
        .map(|i| {
            format!(
                "Nov 22 10:00:00 fw1 kernel: ACCEPT SRC=10.0.0.{} DST=198.51.100.7 DPT=443 n={i}\n",
                i % 250
            )
        })
        .collect();
    std::fs::write(dir.join("log.txt"), log).unwrap();
}

/// Runs `pipeline` under `set -o pipefail` and returns iocd's exit status (as the shell
/// reports it), the status of the whole pipeline, what reached the end of the pipe, and what
/// was written to the terminal's standard error.
fn through_pipe(dir: &Path, pipeline: &str) -> (String, String, String, String) {
    let out = bash(
        dir,
        &format!("set -o pipefail\n{pipeline} > head.txt; echo \"${{PIPESTATUS[0]}} $?\""),
    );
    let status = String::from_utf8(out.stdout).unwrap();
    let (iocd, all) = status.trim().split_once(' ').unwrap();
    let head = std::fs::read_to_string(dir.join("head.txt")).unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (iocd.to_owned(), all.to_owned(), head, err)
}

#[test]
fn scan_into_a_closed_pipe_ends_quietly_like_grep() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path(), 0, 20_000);
    let (iocd, all, head, err) = through_pipe(
        dir.path(),
        "\"$IOCD\" scan --no-rails -i feed.txt log.txt | head -1",
    );
    assert_eq!(iocd, KILLED_BY_SIGPIPE, "stderr: {err}");
    assert_eq!(all, KILLED_BY_SIGPIPE, "pipefail reports it");
    assert!(err.is_empty(), "nothing on stderr: {err}");
    let first: serde_json::Value = serde_json::from_str(head.trim()).unwrap();
    assert_eq!(
        first["threat"]["enrichments"][0]["matched"]["atomic"],
        "198.51.100.7"
    );
}

/// Standard error into the pipe as well, with warnings about rejected feed lines written
/// before the alerts: the panic (exit 101) came from one of those `eprintln!`s.
#[test]
fn scan_with_stderr_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path(), 30, 20_000);
    let (iocd, _, head, err) = through_pipe(
        dir.path(),
        "\"$IOCD\" scan --no-rails --all-rejected -i feed.txt log.txt 2>&1 | head -1",
    );
    assert_eq!(iocd, KILLED_BY_SIGPIPE, "head: {head} stderr: {err}");
    assert!(head.starts_with("iocd: warning: skipped"), "{head}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn iocs_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path(), 20_000, 0);
    let (iocd, _, head, err) = through_pipe(
        dir.path(),
        "\"$IOCD\" iocs stats --no-rails --all-rejected feed.txt 2>&1 | head -1",
    );
    assert_eq!(iocd, KILLED_BY_SIGPIPE, "head: {head} stderr: {err}");
    assert!(err.is_empty(), "{err}");
    // And the status is still grep's when nobody closes the pipe.
    let (iocd, _, head, _) = through_pipe(
        dir.path(),
        "\"$IOCD\" scan --no-rails -c -i feed.txt feed.txt 2>/dev/null | cat",
    );
    assert_eq!((iocd.as_str(), head.trim()), ("0", "1"));
}

/// A daemon log line through a pseudo-terminal (util-linux `script`): coloured on a terminal,
/// plain when `NO_COLOR` is set. (Off a terminal it is plain: tests/shutdown.rs.)
#[test]
fn log_colours_only_on_a_terminal_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.txt"), "198.51.100.7\n").unwrap();
    // The port is taken: iocd logs that the set loaded, then fails to listen and exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("iocd.toml"),
        format!(
            "[[feeds]]\nname = \"t\"\npath = \"feed.txt\"\nallow_private = true\n\
             [reload]\nwatch_files = false\n[admin]\nenabled = false\n\
             [sources.syslog_tcp]\nlisten = \"127.0.0.1:{port}\"\n[[sinks]]\ntype = \"stdout\"\n"
        ),
    )
    .unwrap();
    let on_tty = |no_color: Option<&str>| -> String {
        let mut cmd = Command::new("script");
        cmd.args([
            "-q",
            "-e",
            "-c",
            "\"$IOCD\" run --config iocd.toml",
            "/dev/null",
        ])
        .current_dir(dir.path())
        .env("IOCD", env!("CARGO_BIN_EXE_iocd"))
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("util-linux `script` runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("indicator set loaded"), "{text}");
        text
    };
    assert!(on_tty(None).contains('\x1b'), "colours on a terminal");
    assert!(!on_tty(Some("1")).contains('\x1b'), "NO_COLOR=1: none");
    assert!(
        on_tty(Some("")).contains('\x1b'),
        "an empty NO_COLOR is unset"
    );
    drop(taken);
}
