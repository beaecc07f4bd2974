//! The one backoff every retry of iocd follows: exponential (doubling from a first delay up to
//! a longest one), with jitter, from the `backon` crate.
//!
//! Each wait is drawn between half of its nominal delay and all of it, so the nominal
//! schedule (`first`, `2 * first`, ... up to `max`) is the longest anyone waits, and many
//! iocd instances that lost the same endpoint do not all come back at the same instant.
//!
//! Who stops a waiting retry at shutdown is the caller's business: the sinks are aborted at
//! the end of the grace period, the daemon's control loop abandons a reload (feed downloads
//! and their retries) when SIGTERM or SIGINT arrives. This module knows no feature of iocd.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// A backoff policy: the first and the longest nominal delay, and how many retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    times: Option<usize>,
}

impl Backoff {
    /// `first`, doubling up to `max` (at least `first`), retrying for ever. A `first` under
    /// a millisecond counts as one.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let first = first.max(Duration::from_millis(1));
        Backoff {
            first,
            max: max.max(first),
            times: None,
        }
    }

    /// The same, giving up after `n` retries.
    pub fn times(self, n: usize) -> Backoff {
        Backoff {
            times: Some(n),
            ..self
        }
    }

    /// The policy as `backon` builds it, for [`backon::Retryable::retry`]: backon's jitter
    /// adds up to 100 % to a delay, so it starts from half of each nominal delay.
    pub fn builder(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::new()
            .with_jitter()
            .with_factor(2.0)
            .with_min_delay(self.first / 2)
            .with_max_delay(self.max / 2);
        match self.times {
            Some(n) => b.with_max_times(n),
            None => b.without_max_times(),
        }
    }

    /// The delays to wait, one per retry, for loops that also start over after a success.
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            delays: self.builder().build(),
        }
    }
}

/// The waits of a [`Backoff`], in order; `None` once its retries are used up.
#[derive(Debug)]
pub(crate) struct Delays {
    policy: Backoff,
    delays: ExponentialBackoff,
}

impl Delays {
    /// The next wait; the longest one again once the retries are used up.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next().unwrap_or(self.policy.max)
    }

    /// Starts over from the first delay (after a success).
    pub fn reset(&mut self) {
        self.delays = self.policy.builder().build();
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.delays.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_wait_is_between_half_its_nominal_delay_and_all_of_it() {
        let nominal = [100, 200, 400, 800, 1000, 1000, 1000];
        for _ in 0..50 {
            let mut d = Backoff::new(100 * MS, 1000 * MS).delays();
            for n in nominal {
                let got = d.next().unwrap();
                assert!(got >= n * MS / 2 && got <= n * MS, "{got:?} for {n} ms");
            }
        }
    }

    #[test]
    fn retries_end_after_their_number_and_start_over_after_a_reset() {
        let mut d = Backoff::new(10 * MS, 40 * MS).times(2).delays();
        assert!(d.next().is_some());
        assert!(d.next().unwrap() > 5 * MS, "doubled");
        assert_eq!(d.next(), None);
        d.reset();
        assert!(d.next().unwrap() <= 10 * MS, "the first delay again");
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let waits: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).delays())
            .map(|mut d| d.next().unwrap())
            .collect();
        assert!(waits.len() > 1, "{waits:?}");
    }
}
