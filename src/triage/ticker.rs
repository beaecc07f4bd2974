//! Time passing: windows closing, digests and flood summaries due ([`Triage::tick`]), the
//! thread that ticks ([`Ticker`]), and shutdown ([`Triage::drain`]).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::*;

impl Triage {
    /// Closes the windows whose time is up and sends the digests that are due. Called every
    /// second or so by the [`Ticker`].
    pub fn tick(&self) -> Vec<Outgoing> {
        let _one_at_a_time = self.ticking.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now_ms();
        let mut tally = Tally::default();
        let mut out: Vec<Outgoing> = self
            .dedup
            .sweep(now)
            .into_iter()
            .filter_map(|r| self.rollup(r, &mut tally))
            .collect();
        // A clock that went back past a schedule's start (the event clock, at the first line
        // of a backlog older than the daemon's start) restarts the schedule there: a digest
        // interval is one interval of the clock's time, not of the wall clock's.
        let rebase = |due: &AtomicI64, every: i64| {
            let back = now < due.load(Ordering::Acquire).saturating_sub(every);
            if back {
                due.store(now.saturating_add(every), Ordering::Release);
            }
            back
        };
        if rebase(&self.summary_next_due, self.summary_interval_ms) {
            let mut s = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
            s.since = s.since.min(now);
        }
        for r in &self.routes {
            if rebase(&r.next_due, r.interval_ms) {
                let mut d = r.digest.lock().unwrap_or_else(PoisonError::into_inner);
                d.since = d.since.min(now);
            }
        }
        if now >= self.summary_next_due.load(Ordering::Acquire) {
            self.summary_next_due.store(
                now.saturating_add(self.summary_interval_ms),
                Ordering::Release,
            );
            out.extend(self.take_summary(now, &mut tally));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if now >= r.next_due.load(Ordering::Acquire) {
                r.next_due
                    .store(now.saturating_add(r.interval_ms), Ordering::Release);
                out.extend(self.take_digest(i, now, &mut tally));
            }
        }
        self.flush(&mut tally);
        self.publish();
        out
    }

    /// Closes every window and takes every digest (shutdown, after the matchers drained).
    pub fn drain(&self) -> Vec<Outgoing> {
        let now = self.clock.now_ms();
        let mut tally = Tally::default();
        let mut out: Vec<Outgoing> = self
            .dedup
            .drain()
            .into_iter()
            .filter_map(|r| self.rollup(r, &mut tally))
            .collect();
        // The summary first: it may fold into the digests taken next.
        out.extend(self.take_summary(now, &mut tally));
        for i in 0..self.routes.len() {
            out.extend(self.take_digest(i, now, &mut tally));
        }
        self.flush(&mut tally);
        self.publish();
        out
    }

    /// Sets the gauges of the state's size.
    pub(crate) fn publish(&self) {
        self.metrics.dedup_entries.set(self.dedup.len() as i64);
        if let Some(f) = &self.flood {
            self.metrics.flood_entries.set(f.len() as i64);
        }
    }
}

/// The thread that calls [`Triage::tick`] every `period` and hands what it returns to
/// `deliver` (which may block: it is the sinks' backpressure).
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn spawn(
        triage: Arc<Triage>,
        period: Duration,
        deliver: impl Fn(Outgoing) + Send + 'static,
    ) -> std::io::Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("iocd-triage".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    std::thread::park_timeout(period);
                    if s.load(Ordering::Acquire) {
                        return;
                    }
                    for o in triage.tick() {
                        deliver(o);
                    }
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (after the tick it may be in) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
