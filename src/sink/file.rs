//! JSON-lines sinks: a file, or standard output (`stdout.rs`). One alert per line: its
//! JSON and `\n`.
//!
//! The task takes every queued alert (up to a batch limit) into one buffer and writes it
//! when the queue is empty or the buffer is full, so a burst costs a few large writes and a
//! lone alert goes out at once. Writes are blocking calls run on tokio's blocking pool; an
//! alert counts as accepted once the kernel has its bytes.
//!
//! Rotation: before each batch the file sink compares the inode behind its path with the
//! one it has open, and reopens (creating the file) when the path was moved away, deleted
//! or replaced. SIGHUP ([`super::Sinks::reopen`]) reopens at once, even when idle, so that
//! `logrotate` can compress the old file. A failed write is retried from the first byte
//! that did not go out, after reopening the file, with backoff: a full disk makes the
//! pipeline wait, it does not lose alerts.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::stdout::{Stdout, write_from};
use super::{Queue, SinkCtx, blocking};
use crate::model::AlertRecord;
use crate::retry::Backoff;

/// At most this many alerts, or about this many bytes, per write.
const BATCH_ALERTS: usize = 1024;
const BATCH_BYTES: usize = 256 * 1024;

/// Where the lines go.
pub(super) enum Output {
    Stdout(Stdout),
    File(FileOut),
}

impl Output {
    fn write_from(&mut self, buf: &[u8], done: &mut usize) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.write_from(buf, done),
            Output::File(f) => f.write_from(buf, done),
        }
    }

    /// Reopens a file's path; standard output has nothing to reopen.
    fn reopen(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(_) => Ok(()),
            Output::File(f) => f.reopen(),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Stdout(_) => f.write_str("JSON lines to standard output"),
            Output::File(o) => write!(f, "JSON lines to {}", o.path.display()),
        }
    }
}

/// An append-only file, and the identity (device, inode) of what is open.
pub(super) struct FileOut {
    path: PathBuf,
    open: Option<(File, (u64, u64))>,
}

impl FileOut {
    pub(super) fn open(path: &Path) -> io::Result<FileOut> {
        Ok(FileOut {
            path: path.to_owned(),
            open: Some(open_append(path)?),
        })
    }

    fn reopen(&mut self) -> io::Result<()> {
        // Close first: if opening fails, the next write tries again rather than writing to
        // a file that was rotated away.
        self.open = None;
        self.open = Some(open_append(&self.path)?);
        Ok(())
    }

    /// Whether the path still names the open file.
    fn is_current(&self) -> bool {
        match (&self.open, std::fs::metadata(&self.path)) {
            (Some((_, id)), Ok(m)) => (m.dev(), m.ino()) == *id,
            _ => false,
        }
    }

    fn write_from(&mut self, buf: &[u8], done: &mut usize) -> io::Result<()> {
        // Only between batches: a line that was partly written is finished in the same file.
        if self.open.is_none() || (*done == 0 && !self.is_current()) {
            let was_open = self.open.is_some();
            self.reopen()?;
            if was_open {
                info!(path = %self.path.display(), "alert file was moved or deleted: reopened");
            }
        }
        let (file, _) = self.open.as_mut().expect("opened above");
        write_from(file, buf, done)
    }
}

fn open_append(path: &Path) -> io::Result<(File, (u64, u64))> {
    // Alerts name internal hosts and users: not for every local account to read.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    let m = file.metadata()?;
    terminate_partial_line(&mut file, path, m.len())?;
    Ok((file, (m.dev(), m.ino())))
}

/// A file whose last line has no newline (iocd was killed in the middle of a write) gets
/// one, so the next alert starts a line of its own instead of being glued to half an alert.
/// The partial line is terminated rather than cut: a shipper tailing the file (Filebeat,
/// Fluent Bit, Vector) takes a file that shrinks for a new one and reads it again from the
/// start. The SIEM sees one line that does not parse, and the log says why.
fn terminate_partial_line(file: &mut File, path: &Path, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    File::open(path)?.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
        warn!(
            path = %path.display(),
            "the alert file ended in a partial line (an interrupted write): terminated it so \
             the next alert starts its own line"
        );
    }
    Ok(())
}

/// The task of a stdout or file sink.
pub(super) async fn run(queue: Arc<Queue>, out: Output, ctx: SinkCtx) {
    let mut out = out;
    let mut alerts: Vec<AlertRecord> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).delays();
    loop {
        if queue.take_reopen() {
            let (o, r) = blocking(out, |o| o.reopen()).await;
            out = o;
            match r {
                Ok(()) => info!(sink = %ctx.name, "reopened on request"),
                // The next write tries again, and retries until it works.
                Err(e) => {
                    ctx.errors.inc();
                    error!(sink = %ctx.name, error = %e, "cannot reopen the alert file");
                }
            }
        }
        while alerts.len() < BATCH_ALERTS && buf.len() < BATCH_BYTES {
            let from = alerts.len();
            if queue.take(BATCH_ALERTS - alerts.len(), &mut alerts) == 0 {
                break;
            }
            for a in &alerts[from..] {
                buf.extend_from_slice(&a.json);
                buf.push(b'\n');
            }
        }
        if alerts.is_empty() {
            if queue.is_closed() && queue.pending() == 0 {
                return;
            }
            queue.wait().await;
            continue;
        }
        let mut done = 0;
        loop {
            let started = Instant::now();
            let ((o, b, d), r) = blocking((out, buf, done), |(o, b, d)| o.write_from(b, d)).await;
            (out, buf, done) = (o, b, d);
            match r {
                Ok(()) => {
                    ctx.latency.observe(started.elapsed().as_secs_f64());
                    ctx.delivered(&alerts);
                    queue.release(alerts.len());
                    alerts.clear();
                    buf.clear();
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    ctx.errors.inc();
                    let delay = backoff.next_delay();
                    error!(
                        sink = %ctx.name, error = %e, alerts = alerts.len(),
                        retry_in = ?delay, "cannot write alerts; holding them and retrying"
                    );
                    tokio::time::sleep(delay).await;
                    ctx.retries.inc();
                    // A vanished file, a stale handle: start again from a fresh open.
                    if done == 0 {
                        let (o, r) = blocking(out, |o| o.reopen()).await;
                        out = o;
                        if let Err(e) = r {
                            error!(sink = %ctx.name, error = %e, "cannot reopen the alert file");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts at most `chunk` bytes per call and fails every other call.
    struct Flaky {
        got: Vec<u8>,
        chunk: usize,
        calls: usize,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.chunk);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn retried_writes_resume_without_duplicates() {
        let data = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        let mut w = Flaky {
            got: Vec::new(),
            chunk: 5,
            calls: 0,
        };
        let mut done = 0;
        let mut errors = 0;
        while let Err(e) = write_from(&mut w, data, &mut done) {
            assert_eq!(e.to_string(), "disk full");
            errors += 1;
        }
        assert_eq!(w.got, data);
        assert_eq!(done, data.len());
        assert!(errors > 0);
    }

    #[test]
    fn a_partial_last_line_is_terminated_not_glued_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let mut out = FileOut::open(&path).unwrap();
        out.write_from(b"{\"c\":3}\n", &mut 0).unwrap();
        // A complete file is left as it is.
        let mut again = FileOut::open(&path).unwrap();
        again.write_from(b"{\"d\":4}\n", &mut 0).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":\n{\"c\":3}\n{\"d\":4}\n"
        );
    }

    #[test]
    fn file_identity_follows_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let mut f = FileOut::open(&path).unwrap();
        assert!(f.is_current());
        std::fs::rename(&path, dir.path().join("alerts.json.1")).unwrap();
        assert!(!f.is_current());
        let mut done = 0;
        f.write_from(b"x\n", &mut done).unwrap();
        assert!(f.is_current());
        assert_eq!(std::fs::read(&path).unwrap(), b"x\n");
        assert_eq!(
            std::fs::read(dir.path().join("alerts.json.1")).unwrap(),
            b""
        );
    }
}
