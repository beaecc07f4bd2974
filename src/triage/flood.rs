//! The flood guard: an indicator that suddenly hits many distinct internal hosts. Which kind
//! of flood it is comes from the hits of its window ([`Seen`]): mostly inbound and blocked is
//! a scan stopped at the edge ([`FloodClass::Scan`]), mostly outbound and allowed is many of
//! our hosts reaching it ([`FloodClass::Outbound`]: an outbreak, or shared infrastructure such
//! as a CDN address in a C2 feed, which triage tells apart), anything else is
//! [`FloodClass::Other`]. The guard declares the flood once, with its class, and keeps saying
//! so for `hold`; what to do about it is triage's.
//!
//! Time is passed in with every hit (`now`, in milliseconds): the arrival clock today, the
//! event's own time once lines carry it.
//!
//! Distinct hosts are counted per indicator in a fixed window with bounded memory: an exact
//! set of host hashes up to [`EXACT`] hosts (at most 512 bytes), then a HyperLogLog sketch of
//! 256 one-byte registers (about 6.5% standard error), so a threshold of thousands of hosts
//! costs no more than one of fifty. Indicators are tracked in a sharded table ([`Shards`]) with a bound
//! and FIFO eviction that is counted; a flooding indicator, or one gathering hosts in its
//! window, gets a second chance so that a burst of new indicators cannot end a hold early.

use super::shards::{Shard, Shards};

/// Hosts counted exactly before switching to the sketch: enough that the default threshold
/// (50) is exact. A sketch's estimate near a threshold of fifty is off by about two hosts
/// either way, so an indicator would be declared a flood at 47 hosts, or not at 52.
pub(crate) const EXACT: usize = 64;
const SHARDS: usize = 32;
const REGISTERS: usize = 256;

/// Distinct host hashes: exact while small, then a HyperLogLog.
#[derive(Clone, Debug)]
pub(crate) enum HostSet {
    Exact(Vec<u64>),
    Sketch(Box<[u8; REGISTERS]>),
}

impl Default for HostSet {
    fn default() -> Self {
        HostSet::Exact(Vec::new())
    }
}

impl HostSet {
    pub fn insert(&mut self, h: u64) {
        match self {
            HostSet::Exact(v) => {
                if v.contains(&h) {
                    return;
                }
                if v.len() < EXACT {
                    v.push(h);
                    return;
                }
                let mut regs = Box::new([0u8; REGISTERS]);
                for &x in v.iter() {
                    hll_add(&mut regs, x);
                }
                hll_add(&mut regs, h);
                *self = HostSet::Sketch(regs);
            }
            HostSet::Sketch(regs) => hll_add(regs, h),
        }
    }

    /// Distinct hosts (exact below [`EXACT`], estimated above).
    pub fn count(&self) -> u64 {
        match self {
            HostSet::Exact(v) => v.len() as u64,
            HostSet::Sketch(regs) => hll_estimate(regs),
        }
    }
}

fn mix(h: u64) -> u64 {
    // The hashes come from one hasher; mix again so register choice and rank are independent.
    let mut x = h ^ (h >> 33);
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn hll_add(regs: &mut [u8; REGISTERS], h: u64) {
    let x = mix(h);
    let idx = (x >> 56) as usize;
    let rest = x << 8;
    let rank = (rest.leading_zeros().min(56) + 1) as u8;
    if rank > regs[idx] {
        regs[idx] = rank;
    }
}

fn hll_estimate(regs: &[u8; REGISTERS]) -> u64 {
    let m = REGISTERS as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = regs.iter().map(|&r| 2f64.powi(-(r as i32))).sum();
    let raw = alpha * m * m / sum;
    let zeros = regs.iter().filter(|&&r| r == 0).count();
    let e = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    e.round() as u64
}

/// What a hit says happened, as the flood guard counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// From outside to one of ours, stopped by the device.
    InboundBlocked,
    /// From one of ours to the indicator, let through.
    OutboundAllowed,
    /// Anything else (other directions or verdicts, or unknown).
    Other,
}

/// What kind of flood an indicator is: what most hits of the window that declared it said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FloodClass {
    /// More than half inbound and blocked: a scan stopped at the edge.
    Scan,
    /// More than half outbound and allowed: many of our hosts reached it.
    Outbound,
    /// Neither.
    Other,
}

impl FloodClass {}

/// What a hit of an indicator means for the flood guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flood {
    /// Not flooding.
    Normal,
    /// This hit made the indicator a flood of `hosts` distinct hosts: decide and report now.
    Started { hosts: u64, class: FloodClass },
    /// Flooding since earlier (decided and reported already).
    Flooding { hosts: u64, class: FloodClass },
}

struct Entry {
    window_start: i64,
    hosts: HostSet,
    /// Hits of the window: inbound and blocked, outbound and allowed, all.
    inbound_blocked: u32,
    outbound_allowed: u32,
    hits: u32,
    /// Flooding until this time (ms), or 0.
    until: i64,
    /// Distinct hosts when the flood was declared.
    flood_hosts: u64,
    class: FloodClass,
}

/// Per-indicator distinct-host counters. Shared by every matcher thread.
pub(crate) struct FloodGuard {
    indicators: Shards<Entry>,
    threshold: u64,
    window_ms: i64,
    hold_ms: i64,
}

impl FloodGuard {
    pub fn new(threshold: u32, window_ms: i64, hold_ms: i64, max_indicators: usize) -> FloodGuard {
        FloodGuard {
            indicators: Shards::new(SHARDS, max_indicators),
            threshold: threshold.max(2) as u64,
            window_ms: window_ms.max(1),
            hold_ms,
        }
    }

    /// A hit of `indicator` (its hash) on `host` (its hash) at `now` (ms), which says `seen`.
    /// `evicted` counts indicators forgotten to make room.
    pub fn see(&self, indicator: u64, host: u64, seen: Seen, now: i64, evicted: &mut u64) -> Flood {
        let mut sh = self.indicators.lock(indicator);
        if !sh.contains(indicator) {
            if sh.len() >= self.indicators.per_shard() {
                self.evict_one(&mut sh, now);
                *evicted += 1;
            }
            sh.insert(
                indicator,
                Entry {
                    window_start: now,
                    hosts: HostSet::default(),
                    inbound_blocked: 0,
                    outbound_allowed: 0,
                    hits: 0,
                    until: 0,
                    flood_hosts: 0,
                    class: FloodClass::Other,
                },
            );
        }
        let e = sh.get_mut(indicator).expect("inserted");
        if e.until > now {
            return Flood::Flooding {
                hosts: e.flood_hosts,
                class: e.class,
            };
        }
        if now.saturating_sub(e.window_start) >= self.window_ms {
            e.window_start = now;
            e.hosts = HostSet::default();
            (e.inbound_blocked, e.outbound_allowed, e.hits) = (0, 0, 0);
        }
        e.hosts.insert(host);
        e.hits = e.hits.saturating_add(1);
        match seen {
            Seen::InboundBlocked => e.inbound_blocked = e.inbound_blocked.saturating_add(1),
            Seen::OutboundAllowed => e.outbound_allowed = e.outbound_allowed.saturating_add(1),
            Seen::Other => {}
        }
        let n = e.hosts.count();
        if n >= self.threshold {
            let most = |k: u32| u64::from(k) * 2 > u64::from(e.hits);
            e.class = if most(e.inbound_blocked) {
                FloodClass::Scan
            } else if most(e.outbound_allowed) {
                FloodClass::Outbound
            } else {
                FloodClass::Other
            };
            e.until = now.saturating_add(self.hold_ms);
            e.flood_hosts = n;
            e.hosts = HostSet::default();
            (e.inbound_blocked, e.outbound_allowed, e.hits) = (0, 0, 0);
            return Flood::Started {
                hosts: n,
                class: e.class,
            };
        }
        Flood::Normal
    }

    /// Forgets one indicator: the one tracked longest, but an indicator that is flooding
    /// (demoted) or gathering hosts in its current window gets a second chance at the back
    /// of the queue. Forgetting a flooding indicator would end its hold early: its alerts
    /// would come back at full priority, one per host, until it flooded (and was reported)
    /// again, which is what a burst of new indicators (an internet scan) would cause.
    fn evict_one(&self, sh: &mut Shard<Entry>, now: i64) {
        sh.evict(|e| {
            e.until > now
                || (now.saturating_sub(e.window_start) < self.window_ms && e.hosts.count() > 1)
        });
    }

    /// Indicators tracked.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_sketch_within_error() {
        let mut s = HostSet::default();
        for i in 0..EXACT as u64 {
            s.insert(i);
            s.insert(i);
        }
        assert!(matches!(s, HostSet::Exact(_)));
        assert_eq!(s.count(), EXACT as u64);
        for n in [100u64, 1000, 10_000] {
            let mut s = HostSet::default();
            for i in 0..n {
                s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            }
            assert!(matches!(s, HostSet::Sketch(_)));
            let est = s.count() as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.2, "n {n}: estimate {est}");
        }
    }

    #[test]
    fn many_hosts_flood_once_then_demote_until_the_hold_ends() {
        let g = FloodGuard::new(5, 1000, 10_000, 100);
        let mut ev = 0;
        for h in 0..4 {
            assert_eq!(g.see(7, h, Seen::Other, 10, &mut ev), Flood::Normal);
        }
        // The same hosts again are not new.
        assert_eq!(g.see(7, 0, Seen::Other, 20, &mut ev), Flood::Normal);
        assert_eq!(
            g.see(7, 4, Seen::Other, 30, &mut ev),
            Flood::Started {
                hosts: 5,
                class: FloodClass::Other
            }
        );
        assert_eq!(
            g.see(7, 99, Seen::Other, 40, &mut ev),
            Flood::Flooding {
                hosts: 5,
                class: FloodClass::Other
            }
        );
        assert_eq!(
            g.see(7, 0, Seen::Other, 10_029, &mut ev),
            Flood::Flooding {
                hosts: 5,
                class: FloodClass::Other
            }
        );
        assert_eq!(g.see(7, 0, Seen::Other, 10_030, &mut ev), Flood::Normal);
        assert_eq!(ev, 0);
    }

    #[test]
    fn the_default_threshold_is_exact() {
        // Whatever the host hashes, the flood starts at the 50th distinct host, not before.
        for seed in 0..200u64 {
            let g = FloodGuard::new(50, 60_000, 60_000, 100);
            let mut ev = 0;
            for h in 0..49u64 {
                let host = (seed << 32 | h).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                assert_eq!(
                    g.see(1, host, Seen::Other, 0, &mut ev),
                    Flood::Normal,
                    "seed {seed}, host {h}"
                );
            }
            let last = (seed << 32 | 49).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(
                g.see(1, last, Seen::Other, 0, &mut ev),
                Flood::Started {
                    hosts: 50,
                    class: FloodClass::Other
                }
            );
        }
    }

    #[test]
    fn slow_spread_is_not_a_flood() {
        let g = FloodGuard::new(5, 1000, 10_000, 100);
        let mut ev = 0;
        // 4 new hosts per window, 10 windows: 40 hosts, never 5 in one window.
        for w in 0..10i64 {
            for h in 0..4u64 {
                assert_eq!(
                    g.see(
                        1,
                        w as u64 * 4 + h,
                        Seen::Other,
                        w * 1000 + h as i64,
                        &mut ev
                    ),
                    Flood::Normal
                );
            }
        }
    }

    #[test]
    fn a_flooding_indicator_is_not_forgotten_for_a_newcomer() {
        // 64 indicators over 32 shards: 2 per shard; small hashes all go to shard 0.
        let g = FloodGuard::new(3, 1000, 10_000, 64);
        let mut ev = 0;
        for h in 0..2 {
            assert_eq!(g.see(7, h, Seen::Other, 10, &mut ev), Flood::Normal);
        }
        assert_eq!(
            g.see(7, 2, Seen::Other, 20, &mut ev),
            Flood::Started {
                hosts: 3,
                class: FloodClass::Other
            }
        );
        assert_eq!(g.see(8, 0, Seen::Other, 30, &mut ev), Flood::Normal);
        // A burst of new indicators, each one host (a scan): the flood stays demoted.
        for i in 9..100 {
            g.see(i, 0, Seen::Other, 40, &mut ev);
        }
        assert_eq!(ev, 100 - 9);
        assert_eq!(
            g.see(7, 5, Seen::Other, 50, &mut ev),
            Flood::Flooding {
                hosts: 3,
                class: FloodClass::Other
            }
        );
        assert!(g.len() <= 64);
    }

    #[test]
    fn eviction_falls_back_to_the_oldest_when_all_are_busy() {
        let g = FloodGuard::new(2, 1000, 10_000, 32); // 1 per shard
        let mut ev = 0;
        g.see(1, 0, Seen::Other, 0, &mut ev);
        assert_eq!(
            g.see(1, 1, Seen::Other, 0, &mut ev),
            Flood::Started {
                hosts: 2,
                class: FloodClass::Other
            }
        );
        // The only entry is demoted: the newcomer still gets its place.
        assert_eq!(g.see(2, 0, Seen::Other, 1, &mut ev), Flood::Normal);
        assert_eq!((ev, g.len()), (1, 1));
        assert_eq!(
            g.see(2, 1, Seen::Other, 2, &mut ev),
            Flood::Started {
                hosts: 2,
                class: FloodClass::Other
            }
        );
    }

    #[test]
    fn tracked_indicators_are_bounded() {
        let g = FloodGuard::new(50, 1000, 1000, 64);
        let mut ev = 0;
        for i in 0..10_000u64 {
            g.see(
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                1,
                Seen::Other,
                0,
                &mut ev,
            );
        }
        assert!(g.len() <= 64, "{}", g.len());
        assert_eq!(ev, 10_000 - g.len() as u64);
    }

    #[test]
    fn the_class_is_what_most_hits_of_the_window_said() {
        let g = FloodGuard::new(4, 1000, 10_000, 100);
        let mut ev = 0;
        // A scanner: blocked inbound on every host.
        for h in 0..3 {
            assert_eq!(
                g.see(1, h, Seen::InboundBlocked, 10, &mut ev),
                Flood::Normal
            );
        }
        let scan = Flood::Started {
            hosts: 4,
            class: FloodClass::Scan,
        };
        assert_eq!(g.see(1, 3, Seen::InboundBlocked, 20, &mut ev), scan);
        // The class holds for the hold, whatever later hits say.
        assert_eq!(
            g.see(1, 9, Seen::OutboundAllowed, 30, &mut ev),
            Flood::Flooding {
                hosts: 4,
                class: FloodClass::Scan
            }
        );
        // Many hosts reaching it, let through; one blocked try does not change that.
        g.see(2, 0, Seen::OutboundAllowed, 10, &mut ev);
        g.see(2, 1, Seen::Other, 10, &mut ev);
        g.see(2, 2, Seen::OutboundAllowed, 10, &mut ev);
        assert_eq!(
            g.see(2, 3, Seen::OutboundAllowed, 10, &mut ev),
            Flood::Started {
                hosts: 4,
                class: FloodClass::Outbound
            }
        );
        // Half and half is neither.
        for (h, s) in [
            (0, Seen::InboundBlocked),
            (1, Seen::InboundBlocked),
            (2, Seen::Other),
        ] {
            g.see(3, h, s, 10, &mut ev);
        }
        assert_eq!(
            g.see(3, 3, Seen::Other, 10, &mut ev),
            Flood::Started {
                hosts: 4,
                class: FloodClass::Other
            }
        );
    }
}
