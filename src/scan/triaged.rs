//! `--triage`: the daemon's triage (score, deduplication, flood guard, routing, digests)
//! over a scan, in event time.
//!
//! The writer hands each hit line to [`Triage::assess`] in input order, the triage clock set
//! to the time the line says, so windows open and close as they would have when the lines
//! were live: a retro-hunt gives the alerts the daemon would have sent. The clock never goes
//! back (a line older than the newest seen is triaged at the newest time: the bounded
//! disorder of live intake, without the bound); a line without a time is triaged at the
//! current clock, and before any line had one, at the time of the scan. Roll-ups and digests
//! come out as the clock passes their time ([`Triage::tick`], once per second of event time
//! at most) and at the end ([`ScanTriage::finish`]).

use std::sync::Arc;

use crate::config::triage::TriageConfig;
use crate::telemetry::metrics::TriageMetrics;
use crate::triage::{Clock, ManualClock, Outgoing, SystemClock, Tally, Triage};

/// Triage state across the inputs of one scan.
pub struct ScanTriage {
    cfg: TriageConfig,
    /// Made at the first hit line, with the clock at its time (windows and digest schedules
    /// start there, not at the epoch).
    triage: Option<Triage>,
    clock: Arc<ManualClock>,
    /// What triage did (hits looked at, suppressed by reason, alerts by type and priority).
    pub tally: Tally,
    last_tick: i64,
}

/// The one "sink" of a scan, for routing: its `[triage.routing]` applies.
const SINK: &str = "scan";

impl ScanTriage {
    /// Triage as `cfg` says (the `[triage]` of `--config`, or the defaults).
    pub fn new(cfg: &TriageConfig) -> ScanTriage {
        ScanTriage {
            cfg: cfg.clone(),
            triage: None,
            clock: Arc::new(ManualClock::new(0)),
            tally: Tally::default(),
            last_tick: 0,
        }
    }

    /// Moves the clock to a line's time (`None`: the line says none), never back. Returns
    /// the triage to assess the line with, and the roll-ups and digests due by now.
    pub(crate) fn advance(&mut self, line_ms: Option<i64>) -> (&Triage, &mut Tally, Vec<Outgoing>) {
        let mut due = Vec::new();
        match &self.triage {
            None => {
                let start = line_ms.unwrap_or_else(|| SystemClock.now_ms());
                self.clock.set(start);
                self.last_tick = start;
                let metrics = TriageMetrics::register(&prometheus::Registry::new());
                self.triage = Some(Triage::new(
                    &self.cfg,
                    &[SINK.to_owned()],
                    metrics,
                    self.clock.clone(),
                ));
            }
            Some(t) => {
                if let Some(ms) = line_ms
                    && ms > self.clock.now_ms()
                {
                    self.clock.set(ms);
                }
                let now = self.clock.now_ms();
                if now - self.last_tick >= 1000 {
                    self.last_tick = now;
                    due = t.tick();
                }
            }
        }
        let t = self.triage.as_ref().expect("made above");
        (t, &mut self.tally, due)
    }

    /// Everything still open (windows, digests), at the end of the scan.
    pub fn finish(&mut self) -> Vec<Outgoing> {
        self.triage.as_ref().map(Triage::drain).unwrap_or_default()
    }
}
