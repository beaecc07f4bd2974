//! The daemon's triage clock in event time ([`EventClock`]).
//!
//! Dedup windows, flood windows, rates and digest intervals are computed on the time a line
//! says ([`crate::decode::time::event_time`]), so that a backlog replayed at full speed gives
//! the alerts the same lines gave live. The rule, with `lateness` = `triage.max_lateness` and
//! `ahead` = `triage.max_ahead`:
//!
//! * the clock is the newest event time seen, never more than `ahead` past the wall clock (a
//!   line from the future, a sender with a wrong clock, is triaged at wall + `ahead` and
//!   cannot push windows forward beyond that);
//! * a line is triaged at its own time, but never earlier than `lateness` behind the clock:
//!   a line older than that (out of order beyond the allowance) is triaged at
//!   clock - `lateness`;
//! * a line that says no time is triaged at the clock (live: its arrival; in a backlog: the
//!   newest event before it), so it neither drags a backlog to the wall clock nor is late;
//! * before any line said a time, the clock is the wall clock;
//! * when no line has moved the clock for `lateness` of wall time (the stream went quiet),
//!   the clock runs on with the wall clock from there: it reads
//!   newest + (wall - when newest was seen - `lateness`). So an idle stream still closes its
//!   windows and sends its roll-ups and digests, `lateness` later than live lines would have.
//!   A line that arrives after the pause is triaged as above, against the advanced clock.

use std::sync::Mutex;

use prometheus::IntCounter;

use super::{Clock, SystemClock};

/// What the clock knows: the newest event time and the wall time it was seen at.
#[derive(Clone, Copy, Debug)]
struct State {
    /// `None` before any line said a time.
    newest: Option<i64>,
    seen_at_wall: i64,
}

/// Event time with a bounded allowance for disorder. See the module docs.
pub struct EventClock {
    wall: Box<dyn Clock>,
    lateness: i64,
    ahead: i64,
    state: Mutex<State>,
    /// Lines triaged later than their time (older than the allowance):
    /// `iocd_triage_late_lines_total` in the daemon.
    late: IntCounter,
}

impl EventClock {
    /// On the system clock.
    pub fn new(lateness_ms: i64, ahead_ms: i64) -> EventClock {
        EventClock::with_wall(Box::new(SystemClock), lateness_ms, ahead_ms)
    }

    /// On `wall` (tests move it by hand).
    pub(crate) fn with_wall(wall: Box<dyn Clock>, lateness_ms: i64, ahead_ms: i64) -> EventClock {
        EventClock {
            wall,
            lateness: lateness_ms.max(0),
            ahead: ahead_ms.max(0),
            state: Mutex::new(State {
                newest: None,
                seen_at_wall: 0,
            }),
            late: IntCounter::new("late_lines", "late lines").expect("a valid name"),
        }
    }

    /// Counts late lines on `counter` (the registered `iocd_triage_late_lines_total`).
    pub(crate) fn counting_late(mut self, counter: IntCounter) -> EventClock {
        self.late = counter;
        self
    }

    fn now_from(&self, s: State, wall: i64) -> i64 {
        match s.newest {
            None => wall,
            Some(n) => {
                let idle = wall
                    .saturating_sub(s.seen_at_wall)
                    .saturating_sub(self.lateness);
                n.saturating_add(idle.max(0))
            }
        }
    }

    /// The time to triage a line at, its own time `line_ms` (`None`: it says none), and the
    /// clock moved to it if it is the newest.
    pub fn observe(&self, line_ms: Option<i64>) -> i64 {
        self.observe_first(line_ms).0
    }

    /// [`EventClock::observe`], and whether this was the first line that said a time (the
    /// clock left the wall clock for event time: schedules start there).
    pub(crate) fn observe_first(&self, line_ms: Option<i64>) -> (i64, bool) {
        let wall = self.wall.now_ms();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now_from(*s, wall);
        let Some(t) = line_ms else {
            return (now, false);
        };
        let t = t.min(wall.saturating_add(self.ahead));
        let first = s.newest.is_none();
        if first || t > now {
            *s = State {
                newest: Some(t),
                seen_at_wall: wall,
            };
            return (t, first);
        }
        let floor = now.saturating_sub(self.lateness);
        if t < floor {
            self.late.inc();
            return (floor, false);
        }
        (t, false)
    }

    #[cfg(test)]
    /// Lines triaged at clock - `lateness` rather than at their own, older, time.
    pub(crate) fn late_lines(&self) -> u64 {
        self.late.get()
    }
}

impl Clock for EventClock {
    fn now_ms(&self) -> i64 {
        let wall = self.wall.now_ms();
        let s = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.now_from(s, wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::ManualClock;
    use std::sync::Arc;

    struct Shared(Arc<ManualClock>);
    impl Clock for Shared {
        fn now_ms(&self) -> i64 {
            self.0.now_ms()
        }
    }

    const WALL: i64 = 1_800_000_000_000;

    fn clock() -> (Arc<ManualClock>, EventClock) {
        let wall = Arc::new(ManualClock::new(WALL));
        let c = EventClock::with_wall(Box::new(Shared(wall.clone())), 10_000, 60_000);
        (wall, c)
    }

    #[test]
    fn wall_clock_until_a_line_says_a_time_then_the_newest_event() {
        let (_, c) = clock();
        assert_eq!(c.now_ms(), WALL);
        assert_eq!(c.observe(None), WALL);
        // A backlog from an hour ago: the clock goes back to it once, then follows it.
        let old = WALL - 3_600_000;
        assert_eq!(c.observe_first(Some(old)), (old, true));
        assert_eq!(c.observe_first(Some(old + 1)), (old + 1, false));
        assert_eq!(c.now_ms(), old + 1);
        assert_eq!(c.observe(Some(old + 5_000)), old + 5_000);
        assert_eq!(c.now_ms(), old + 5_000);
        // No time: triaged at the clock, which does not move.
        assert_eq!(c.observe(None), old + 5_000);
        assert_eq!(c.now_ms(), old + 5_000);
    }

    #[test]
    fn disorder_within_the_allowance_keeps_its_time_beyond_it_is_clamped() {
        let (_, c) = clock();
        let t = WALL - 100_000;
        c.observe(Some(t));
        // 9 s late: within 10 s, triaged at its own time; the clock stays.
        assert_eq!(c.observe(Some(t - 9_000)), t - 9_000);
        assert_eq!(c.now_ms(), t);
        assert_eq!(c.late_lines(), 0);
        // 30 s late: triaged at clock - 10 s.
        assert_eq!(c.observe(Some(t - 30_000)), t - 10_000);
        assert_eq!(c.late_lines(), 1);
        assert_eq!(c.now_ms(), t);
    }

    #[test]
    fn a_line_from_the_future_moves_the_clock_at_most_max_ahead_past_the_wall() {
        let (_, c) = clock();
        assert_eq!(c.observe(Some(WALL + 3_600_000)), WALL + 60_000);
        assert_eq!(c.now_ms(), WALL + 60_000);
    }

    #[test]
    fn a_quiet_stream_runs_on_with_the_wall_clock_after_the_allowance() {
        let (wall, c) = clock();
        let t = WALL - 3_600_000;
        c.observe(Some(t));
        wall.set(WALL + 10_000);
        assert_eq!(c.now_ms(), t, "quiet for the allowance: not yet");
        wall.set(WALL + 25_000);
        assert_eq!(c.now_ms(), t + 15_000);
        // A line older than the advanced clock minus the allowance is late.
        assert_eq!(c.observe(Some(t + 1_000)), t + 5_000);
        // A newer one moves it and the idle time starts again.
        assert_eq!(c.observe(Some(t + 20_000)), t + 20_000);
        assert_eq!(c.now_ms(), t + 20_000);
    }
}
