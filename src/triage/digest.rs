//! Digests: alerts below a sink's `min_priority` are not sent to it one by one but folded into
//! a summary sent every `digest_interval`: counts by priority, the indicators and hosts with
//! the most hits.
//!
//! Memory is bounded: the top lists are Space-Saving counters (Metwally et al.) of a fixed
//! size — when full, a new name replaces the one with the fewest hits and inherits its count,
//! which keeps every name with more than `hits / capacity` hits and overestimates by at most
//! the inherited count (reported as `error`).

use hashbrown::HashMap;
use serde::Serialize;

use crate::config::triage::Priority;

/// A bounded heavy-hitters counter.
#[derive(Clone, Debug)]
pub(crate) struct TopK {
    cap: usize,
    /// name -> (count, overestimate)
    counts: HashMap<String, (u64, u64)>,
}

/// One line of a digest's top list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Top {
    pub name: String,
    pub hits: u64,
    /// How much `hits` may overstate (0 when exact).
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TopK {
    pub fn new(cap: usize) -> TopK {
        TopK {
            cap: cap.max(1),
            counts: HashMap::new(),
        }
    }

    pub fn add(&mut self, name: &str, n: u64) {
        if let Some(c) = self.counts.get_mut(name) {
            c.0 += n;
            return;
        }
        if self.counts.len() < self.cap {
            self.counts.insert(name.to_owned(), (n, 0));
            return;
        }
        // The least counted goes; of equals, the last by name (`top` keeps the first by
        // name): which one must not depend on the hash map's order, or two runs of the same
        // input would give two digests.
        let (min_name, &(min, _)) = self
            .counts
            .iter()
            .min_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
            .expect("full, so not empty");
        let min_name = min_name.clone();
        self.counts.remove(&min_name);
        self.counts.insert(name.to_owned(), (min + n, min));
    }

    /// The `k` names with the most hits, most first (ties by name).
    pub fn top(&self, k: usize) -> Vec<Top> {
        let mut v: Vec<Top> = self
            .counts
            .iter()
            .map(|(name, &(hits, error))| Top {
                name: name.clone(),
                hits,
                error,
            })
            .collect();
        v.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.name.cmp(&b.name)));
        v.truncate(k);
        v
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.counts.len()
    }
}

/// Alerts and hits of one priority in a digest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub alerts: u64,
    pub hits: u64,
}

/// What one sink's digest has gathered since its last one.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    /// Milliseconds since the epoch.
    pub since: i64,
    pub(crate) by_priority: [Counts; 5],
    pub indicators: TopK,
    pub hosts: TopK,
}

impl Digest {
    pub fn new(since: i64, top: usize) -> Digest {
        let cap = (top * 8).max(64);
        Digest {
            since,
            by_priority: [Counts::default(); 5],
            indicators: TopK::new(cap),
            hosts: TopK::new(cap),
        }
    }

    /// One alert (or roll-up of `hits` hits) folded in.
    pub fn add(&mut self, priority: Priority, indicator: &str, host: Option<&str>, hits: u64) {
        let c = &mut self.by_priority[priority.index()];
        c.alerts += 1;
        c.hits += hits;
        self.indicators.add(indicator, hits);
        self.hosts.add(host.unwrap_or("-"), hits);
    }

    pub fn is_empty(&self) -> bool {
        self.by_priority.iter().all(|c| c.alerts == 0)
    }

    #[cfg(test)]
    pub fn alerts(&self) -> u64 {
        self.by_priority.iter().map(|c| c.alerts).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_exact_until_full_then_bounded() {
        let mut t = TopK::new(3);
        t.add("a", 5);
        t.add("b", 2);
        t.add("a", 1);
        t.add("c", 1);
        assert_eq!(
            t.top(2),
            vec![
                Top {
                    name: "a".into(),
                    hits: 6,
                    error: 0
                },
                Top {
                    name: "b".into(),
                    hits: 2,
                    error: 0
                }
            ]
        );
        // Full: "d" replaces the smallest ("c", 1) and inherits its count as error.
        t.add("d", 1);
        assert_eq!(t.len(), 3);
        let d = t.top(3).into_iter().find(|x| x.name == "d").unwrap();
        assert_eq!((d.hits, d.error), (2, 1));
        // A name with more than total/capacity hits is never lost.
        for i in 0..1000 {
            t.add(&format!("n{i}"), 1);
            t.add("a", 1);
        }
        assert_eq!(t.len(), 3);
        let top = &t.top(1)[0];
        assert_eq!(
            (top.name.as_str(), top.error),
            ("a", 0),
            "a heavy hitter survives"
        );
    }

    #[test]
    fn digest_counts_by_priority() {
        let mut d = Digest::new(0, 10);
        assert!(d.is_empty());
        d.add(Priority::Low, "1.2.3.4", Some("10.0.0.1"), 1);
        d.add(Priority::Low, "1.2.3.4", None, 4);
        d.add(Priority::Info, "evil.com", Some("10.0.0.1"), 1);
        assert_eq!(d.alerts(), 3);
        assert_eq!(
            d.by_priority[Priority::Low.index()],
            Counts { alerts: 2, hits: 5 }
        );
        assert_eq!(d.indicators.top(1)[0].name, "1.2.3.4");
        assert_eq!(d.hosts.top(1)[0].name, "-");
    }
}
