//! Shutdown, in order: stop intake (sources flush their partial batches and close the
//! queue) -> matcher threads drain the queue -> roll-ups and digests -> sinks drain and flush
//! -> the last sightings -> Kafka offsets. All of it within `shutdown.grace`; a second signal
//! exits at once.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use super::{Running, deliver, notify};
use crate::sightings::{Exporter, Sightings};

/// Stops what [`Running`] holds within `grace`. Returns whether every alert was delivered.
pub(super) fn stop(r: Running, grace: Duration) -> bool {
    notify(&[sd_notify::NotifyState::Stopping]);
    let deadline = Instant::now() + grace;
    exit_at_a_second_signal(&r.rt);
    info!(grace = ?grace, "stopping: intake closed, draining");
    r.shutdown.cancel();
    let mut sources = r.sources;
    let kafka = sources.take_kafka();
    r.rt.block_on(async {
        if tokio::time::timeout_at(deadline.into(), sources.join())
            .await
            .is_err()
        {
            warn!("sources did not stop within the grace period");
        }
    });
    drop(r.reload_tx);
    // The sources held the only senders of the queue: once they are gone, matcher threads
    // finish what is queued and return.
    let drained = join_before(r.workers, deadline);
    if !drained {
        warn!("matcher threads did not drain the queue within the grace period");
    }
    // The queue is drained: every batch is in the spool's hands. The retro job stops where
    // it is (the next start resumes it) and the spool closes its open segment.
    match r.retro {
        Some(retro) => {
            let left = deadline.saturating_duration_since(Instant::now());
            retro.stop(left.min(Duration::from_secs(5)))
        }
        None => {
            if let Some(s) = &r.spool {
                s.close();
            }
        }
    }
    close_triage(r.ticker, r.triage, &r.sinks, deadline);
    let report = r.rt.block_on(r.sinks.shutdown(deadline));
    // The matcher threads have stopped recording: the last sightings go out now.
    if let Some(task) = r.exporter {
        r.rt.block_on(last_sightings(task, &r.sightings, deadline));
    }
    // Offsets last: the Kafka consumer commits what the sinks delivered, then leaves the group.
    if let Some(k) = kafka
        && !k.finish(deadline + Duration::from_secs(5))
    {
        warn!("the Kafka consumer did not close in time; uncommitted messages will be read again");
    }
    if let Some(a) = r.admin {
        a.join();
    }
    r.rt.shutdown_timeout(Duration::from_millis(100));
    if report.undelivered > 0 || !drained {
        error!(
            undelivered = report.undelivered,
            "stopped with alerts not delivered"
        );
        return false;
    }
    info!("stopped cleanly");
    true
}

/// A second SIGTERM or SIGINT during shutdown ends the process at once.
fn exit_at_a_second_signal(rt: &Runtime) {
    rt.spawn(async {
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("iocd: second signal, exiting now");
            std::process::exit(130);
        }
    });
}

/// No more hits: closes every deduplication window (roll-ups) and sends the last digests.
///
/// On a thread of its own: a sink that is down with a full buffer would block the hand-over
/// past the grace period; at the deadline the sinks' queues close, which refuses (and
/// counts) what is still being handed over and ends the thread.
fn close_triage(
    ticker: Option<crate::triage::Ticker>,
    triage: Option<std::sync::Arc<crate::triage::Triage>>,
    sinks: &crate::sink::Sinks,
    deadline: Instant,
) {
    let sender = sinks.sender();
    let closing = std::thread::Builder::new()
        .name("iocd-triage-drain".into())
        .spawn(move || {
            if let Some(t) = ticker {
                t.stop();
            }
            if let Some(t) = &triage {
                for o in t.drain() {
                    deliver(&sender, Some(t), crate::alert::record(&o), o.sink);
                }
            }
        });
    match closing {
        Ok(closing) => {
            if !join_before(vec![closing], deadline) {
                warn!("roll-ups and digests not all handed to the sinks within the grace period");
            }
        }
        Err(e) => {
            error!(error = %e, "cannot start the triage drain: roll-ups and digests are lost")
        }
    }
}

/// Waits for the sightings exporter to stop and sends what it still holds, within the grace
/// period (at least 2 s: a MISP server that does not answer cannot hold the exit).
async fn last_sightings(
    mut task: tokio::task::JoinHandle<Exporter>,
    sightings: &Sightings,
    deadline: Instant,
) {
    let until = deadline.max(Instant::now() + Duration::from_secs(2));
    match tokio::time::timeout_at(until.into(), &mut task).await {
        Ok(Ok(mut e)) => {
            if tokio::time::timeout_at(until.into(), e.flush(sightings))
                .await
                .is_err()
            {
                warn!("the last sightings were not sent within the grace period");
            }
        }
        Ok(Err(e)) => error!(error = %e, "the sightings exporter failed"),
        Err(_) => {
            task.abort();
            warn!("the sightings exporter did not stop within the grace period");
        }
    }
}

/// Joins threads until `deadline`; false if some were still running then.
fn join_before(threads: Vec<std::thread::JoinHandle<()>>, deadline: Instant) -> bool {
    for t in threads {
        while !t.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.join().is_err() {
            error!("a matcher thread panicked");
        }
    }
    true
}
