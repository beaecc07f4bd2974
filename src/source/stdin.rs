//! Standard input: lines until it ends.
//!
//! A read from stdin can block forever (an interactive terminal, a pipe whose writer is
//! idle) and cannot be cancelled, so it runs on its own thread, not on the runtime's blocking
//! pool, which would make the runtime wait for it at exit. The thread owns only the input:
//! the line reader and the batcher (which holds a sender of the matcher queue) sit behind a
//! gate, and the thread takes the gate to process each chunk it read. On shutdown the
//! source's task takes the gate once, sends the last partial line and drops the batcher, so
//! the queue's sender is gone at once even while the thread stays blocked in `read`; what the
//! thread reads after that is dropped. (When the thread kept the sender, matcher threads
//! waited for the queue to close until the grace period ran out.)

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tracing::warn;

use super::{Batcher, LineReader};
use crate::model::Shutdown;

/// What the reading thread hands its chunks to; `None` once the source has ended.
type Gate = Arc<Mutex<Option<(LineReader, Batcher)>>>;

/// Reads `input` (stdin in the daemon) line by line into batches until it ends or shutdown.
pub(crate) fn spawn<R: Read + Send + 'static>(
    input: R,
    b: Batcher,
    shutdown: Shutdown,
) -> io::Result<JoinHandle<()>> {
    let gate: Gate = Arc::new(Mutex::new(Some((LineReader::new(), b))));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let reader_gate = gate.clone();
    std::thread::Builder::new()
        .name("iocd-stdin".into())
        .spawn(move || {
            read_all(input, &reader_gate);
            drop(done_tx);
        })?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = done_rx => {}
            _ = shutdown.cancelled() => {
                let _ = tokio::task::spawn_blocking(move || {
                    if let Some((mut lines, mut b)) = lock(&gate).take() {
                        let _ = lines.finish(&mut b);
                    }
                })
                .await;
            }
        }
    }))
}

fn lock(gate: &Gate) -> std::sync::MutexGuard<'_, Option<(LineReader, Batcher)>> {
    gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_all(mut input: impl Read, gate: &Gate) {
    let mut chunk = vec![0u8; super::READ_CHUNK];
    loop {
        let read = loop {
            match input.read(&mut chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let mut state = lock(gate);
        // `None`: intake stopped while this read was blocked; what it got is not sent.
        let Some((lines, b)) = state.as_mut() else {
            return;
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                // One read of a slice no longer than a read chunk takes all of it.
                let filled = lines.fill(&mut &chunk[..n], b.outlet());
                debug_assert_eq!(filled.ok(), Some(n));
                if lines.drain(b).is_err() {
                    state.take();
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot read standard input");
                break;
            }
        }
    }
    if let Some((mut lines, mut b)) = lock(gate).take() {
        let _ = lines.finish(&mut b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;
    use crate::source::testing;
    use std::io::Write;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_until_eof() {
        let (b, rx, metrics) = testing::batcher(SourceKind::Stdin, 64 * 1024, 16);
        let (reader, mut writer) = io::pipe().unwrap();
        let h = spawn(reader, b, Shutdown::new()).unwrap();
        writer.write_all(b"one\ntw").unwrap();
        let first = tokio::task::spawn_blocking({
            let rx = rx.clone();
            move || rx.recv_timeout(Duration::from_secs(5)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            first.buf, b"one\n",
            "a line is sent without waiting for more"
        );
        writer.write_all(b"o\r\nthree").unwrap();
        drop(writer);
        h.await.unwrap();
        let rest: Vec<u8> = rx.try_iter().flat_map(|b| b.buf).collect();
        assert_eq!(rest, b"two\nthree\n");
        assert_eq!(metrics.events_in.with_label_values(&["stdin"]).get(), 3);
        assert_eq!(metrics.bytes_in.with_label_values(&["stdin"]).get(), 14);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_does_not_wait_for_a_silent_stdin() {
        let (b, rx, _m) = testing::batcher(SourceKind::Stdin, 64 * 1024, 16);
        let (reader, mut writer) = io::pipe().unwrap();
        let shutdown = Shutdown::new();
        let h = spawn(reader, b, shutdown.clone()).unwrap();
        writer.write_all(b"before\n").unwrap();
        let got = tokio::task::spawn_blocking({
            let rx = rx.clone();
            move || rx.recv_timeout(Duration::from_secs(5)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(got.buf, b"before\n");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(2), h)
            .await
            .expect("the source ends although stdin stays open")
            .unwrap();
        writer.write_all(b"after\n").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err(), "nothing is read after shutdown");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_releases_the_queue_while_stdin_stays_open() {
        let (b, rx, metrics) = testing::batcher(SourceKind::Stdin, 64 * 1024, 16);
        let (reader, mut writer) = io::pipe().unwrap();
        let shutdown = Shutdown::new();
        let h = spawn(reader, b, shutdown.clone()).unwrap();
        writer.write_all(b"whole\npartial").unwrap();
        let got = tokio::task::spawn_blocking({
            let rx = rx.clone();
            move || rx.recv_timeout(Duration::from_secs(5)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(got.buf, b"whole\n");
        // The partial line is in the reader before shutdown.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while metrics.bytes_in.with_label_values(&["stdin"]).get() < 13 {
            assert!(
                std::time::Instant::now() < deadline,
                "partial line not read"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(2), h)
            .await
            .expect("the source ends although stdin stays open")
            .unwrap();
        // The last line is sent, then the queue is closed: the matcher threads can finish
        // while the writer still holds stdin open.
        let rest = tokio::task::spawn_blocking(move || {
            let first = rx.recv_timeout(Duration::from_secs(5)).map(|b| b.buf);
            (first, rx.recv_timeout(Duration::from_secs(5)))
        })
        .await
        .unwrap();
        assert_eq!(rest.0.unwrap(), b"partial\n");
        assert_eq!(
            rest.1.unwrap_err(),
            crossbeam_channel::RecvTimeoutError::Disconnected,
            "no sender of the queue is left"
        );
        writer.write_all(b"after\n").unwrap();
    }
}
