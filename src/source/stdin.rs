//! Standard input: lines until it ends.
//!
//! A read from stdin can block forever (an interactive terminal, a pipe whose writer is
//! idle) and cannot be cancelled, so it runs on its own thread, not on the runtime's blocking
//! pool, which would make the runtime wait for it at exit. The thread processes each chunk
//! while holding a gate; on shutdown, the source's task takes the gate once: after that the
//! thread is either finished or blocked in `read`, and whatever it reads later is dropped, so
//! nothing reaches the queue after the source has ended.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tracing::warn;

use super::{Batcher, LineReader};
use crate::pipeline::Shutdown;

/// Reads `input` (stdin in the daemon) line by line into batches until it ends or shutdown.
pub(crate) fn spawn<R: Read + Send + 'static>(
    input: R,
    b: Batcher,
    shutdown: Shutdown,
) -> io::Result<JoinHandle<()>> {
    let gate = Arc::new(Mutex::new(()));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let reader_gate = gate.clone();
    let reader_shutdown = shutdown.clone();
    std::thread::Builder::new()
        .name("iocd-stdin".into())
        .spawn(move || {
            read_all(input, b, &reader_gate, &reader_shutdown);
            drop(done_tx);
        })?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = done_rx => {}
            _ = shutdown.cancelled() => {
                let _ = tokio::task::spawn_blocking(move || drop(gate.lock())).await;
            }
        }
    }))
}

fn read_all(mut input: impl Read, mut b: Batcher, gate: &Mutex<()>, shutdown: &Shutdown) {
    let mut lines = LineReader::new();
    loop {
        let read = lines.fill(&mut input, b.outlet());
        let _processing = gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if shutdown.is_cancelled() {
            // Read after intake stopped.
            return;
        }
        match read {
            Ok(0) => break,
            Ok(_) => {
                if lines.drain(&mut b).is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot read standard input");
                break;
            }
        }
    }
    let _ = lines.finish(&mut b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::SourceKind;
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
}
