//! Deduplication windows: one alert per key (indicator, internal host, direction) per window;
//! later hits are counted and reported by one roll-up when the window closes.
//!
//! State is split over [`SHARDS`] mutexes by key hash ([`Shards`]), so matcher threads only
//! meet when they touch the same shard, and each lock is held for one hash-map operation.
//! Memory is bounded:
//! each shard holds at most `max_entries / SHARDS` windows. Every window has the same length,
//! so a shard's insertion order is also its closing order: a queue of keys gives both the
//! sweep at window close and the eviction when full (the window closest to closing is closed
//! early, its roll-up sent, and the eviction counted) in O(1) per entry.

use std::sync::Arc;

use super::shards::Shards;
use crate::config::triage::Priority;
use iocd_engine::IocKind;

/// Shards of the window table.
pub(crate) const SHARDS: usize = 64;

/// What an alert's window remembers.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub indicator: Arc<str>,
    /// The indicator's kind.
    pub kind: IocKind,
    pub host: Option<Arc<str>>,
    pub direction: &'static str,
    /// The priority and score of the latest alert of the window.
    pub priority: Priority,
    pub score: f64,
    /// Milliseconds since the Unix epoch.
    pub first_seen: i64,
    pub last_seen: i64,
    pub closes: i64,
    /// Hits (lines) after the window's last alert, not alerted.
    pub suppressed: u64,
    /// What the feeds say the indicator is part of (its roll-up carries it).
    pub context: Option<Arc<iocd_engine::Context>>,
}

/// What a new window is about: the indicator, its kind, the host, the direction and the
/// indicator's threat context.
pub(crate) type Described = (
    Arc<str>,
    IocKind,
    Option<Arc<str>>,
    &'static str,
    Option<Arc<iocd_engine::Context>>,
);

/// A window closed with hits that were not alerted: the roll-up to send.
pub(crate) type Rollup = Window;

/// What one hit did to its window.
#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    /// A new window: alert. `closed` is the roll-up of a window this one replaced or evicted.
    New { closed: Option<Rollup> },
    /// Inside an open window, at a priority already alerted: counted.
    Duplicate,
    /// Inside an open window, at a higher priority than alerted: alert again.
    Escalated { from: Priority, suppressed: u64 },
}

/// The window table. Shared by every matcher thread.
pub(crate) struct Dedup {
    windows: Shards<Window>,
    window_ms: i64,
}

/// Counts a caller adds to its metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    pub evicted: u64,
}

impl Dedup {
    /// `window_ms` of 0 turns deduplication off (every hit is `New`).
    pub fn new(window_ms: i64, max_entries: usize) -> Dedup {
        Dedup {
            windows: Shards::new(SHARDS, max_entries),
            window_ms,
        }
    }

    /// One hit of `key` at `now` (ms) at `priority`; `make` builds the window's description
    /// (called only when a window opens).
    pub fn see(
        &self,
        key: u64,
        now: i64,
        priority: Priority,
        score: f64,
        effects: &mut Effects,
        make: impl FnOnce() -> Described,
    ) -> Seen {
        if self.window_ms <= 0 {
            return Seen::New { closed: None };
        }
        let mut sh = self.windows.lock(key);
        let mut closed = None;
        if let Some(w) = sh.get_mut(key) {
            if now < w.closes {
                w.last_seen = w.last_seen.max(now);
                if priority > w.priority {
                    let from = w.priority;
                    let suppressed = w.suppressed;
                    w.priority = priority;
                    w.score = score;
                    w.suppressed = 0;
                    return Seen::Escalated { from, suppressed };
                }
                w.suppressed += 1;
                return Seen::Duplicate;
            }
            // Closed but not swept yet: its roll-up goes out now, a new window opens.
            let old = sh.remove(key).expect("present");
            closed = (old.suppressed > 0).then_some(old);
        } else if sh.len() >= self.windows.per_shard() {
            effects.evicted += 1;
            if let Some(old) = sh.pop_oldest() {
                closed = (old.suppressed > 0).then_some(old);
            }
        }
        let (indicator, kind, host, direction, context) = make();
        sh.insert(
            key,
            Window {
                indicator,
                kind,
                host,
                direction,
                priority,
                score,
                first_seen: now,
                last_seen: now,
                closes: now.saturating_add(self.window_ms),
                suppressed: 0,
                context,
            },
        );
        Seen::New { closed }
    }

    /// Closes every window whose time is up; returns the roll-ups (windows with hits that
    /// were not alerted).
    pub fn sweep(&self, now: i64) -> Vec<Rollup> {
        let mut out = Vec::new();
        for mut sh in self.windows.each() {
            while let Some(w) = sh.pop_oldest_if(|w| w.closes <= now) {
                if w.suppressed > 0 {
                    out.push(w);
                }
            }
        }
        out
    }

    /// Closes every window (shutdown).
    pub fn drain(&self) -> Vec<Rollup> {
        let mut out = Vec::new();
        for mut sh in self.windows.each() {
            out.extend(sh.drain().filter(|w| w.suppressed > 0));
        }
        out
    }

    /// Open windows.
    pub fn len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(i: &str) -> impl FnOnce() -> Described + '_ {
        move || {
            (
                Arc::from(i),
                IocKind::Ipv4,
                Some(Arc::from("10.0.0.1")),
                "outbound",
                None,
            )
        }
    }

    #[test]
    fn one_alert_per_window_then_a_rollup() {
        let d = Dedup::new(1000, 100);
        let mut fx = Effects::default();
        let k = 42u64 << 58 | 7;
        assert_eq!(
            d.see(k, 0, Priority::Low, 30.0, &mut fx, make("a")),
            Seen::New { closed: None }
        );
        assert_eq!(
            d.see(k, 10, Priority::Low, 30.0, &mut fx, make("a")),
            Seen::Duplicate
        );
        assert_eq!(
            d.see(k, 999, Priority::Info, 1.0, &mut fx, make("a")),
            Seen::Duplicate
        );
        assert!(d.sweep(999).is_empty(), "still open");
        let r = d.sweep(1000);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].suppressed, 2);
        assert_eq!((r[0].first_seen, r[0].last_seen), (0, 999));
        assert_eq!(&*r[0].indicator, "a");
        assert_eq!(d.len(), 0);
        // A window without later hits closes silently.
        d.see(k, 2000, Priority::Low, 30.0, &mut fx, make("a"));
        assert!(d.sweep(5000).is_empty());
        assert_eq!(fx.evicted, 0);
    }

    #[test]
    fn higher_priority_escalates_once() {
        let d = Dedup::new(1000, 100);
        let mut fx = Effects::default();
        d.see(1, 0, Priority::Low, 30.0, &mut fx, make("a"));
        d.see(1, 1, Priority::Low, 30.0, &mut fx, make("a"));
        assert_eq!(
            d.see(1, 2, Priority::High, 70.0, &mut fx, make("a")),
            Seen::Escalated {
                from: Priority::Low,
                suppressed: 1
            }
        );
        assert_eq!(
            d.see(1, 3, Priority::High, 70.0, &mut fx, make("a")),
            Seen::Duplicate
        );
        assert_eq!(
            d.see(1, 4, Priority::Medium, 50.0, &mut fx, make("a")),
            Seen::Duplicate
        );
        let r = d.drain();
        assert_eq!(r[0].priority, Priority::High);
        assert_eq!(r[0].suppressed, 2);
    }

    #[test]
    fn a_late_hit_closes_the_old_window_itself() {
        let d = Dedup::new(1000, 100);
        let mut fx = Effects::default();
        d.see(1, 0, Priority::Low, 30.0, &mut fx, make("a"));
        d.see(1, 5, Priority::Low, 30.0, &mut fx, make("a"));
        match d.see(1, 1500, Priority::Low, 30.0, &mut fx, make("a")) {
            Seen::New { closed: Some(r) } => assert_eq!(r.suppressed, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.len(), 1);
        // The stale queue entry of the first window does not close the second one early.
        assert!(d.sweep(2000).is_empty());
        assert_eq!(d.len(), 1);
        assert!(d.sweep(2500).is_empty());
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn eviction_is_bounded_and_counted() {
        // 64 shards x 1 entry each.
        let d = Dedup::new(60_000, 1);
        let mut fx = Effects::default();
        let shard0 = |i: u64| i; // top bits 0: all in shard 0
        for i in 0..10 {
            d.see(shard0(i), i as i64, Priority::Low, 30.0, &mut fx, make("x"));
            d.see(shard0(i), i as i64, Priority::Low, 30.0, &mut fx, make("x"));
        }
        assert_eq!(d.len(), 1);
        assert_eq!(fx.evicted, 9);
        // Each eviction closed a window early and handed back its roll-up.
        let r = d.drain();
        assert_eq!(r.len(), 1);
        let big = Dedup::new(60_000, 6400);
        for i in 0..100_000u64 {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            big.see(key, 0, Priority::Low, 1.0, &mut fx, make("x"));
        }
        assert!(big.len() <= 6400, "{}", big.len());
    }

    #[test]
    fn zero_window_turns_it_off() {
        let d = Dedup::new(0, 10);
        let mut fx = Effects::default();
        for _ in 0..3 {
            assert_eq!(
                d.see(1, 0, Priority::Low, 1.0, &mut fx, make("a")),
                Seen::New { closed: None }
            );
        }
        assert_eq!(d.len(), 0);
    }
}
