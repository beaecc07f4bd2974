//! The periodic summary of scans stopped at the edge: what it gathers between two summaries.

use super::flood::HostSet;

/// Scanning indicators a flood summary counts exactly (each keeps its hits and a distinct-host
/// counter of at most 512 bytes: about 3 MiB at most); beyond, they are counted by a sketch
/// (about 6.5% error) and their hits summed, not named.
pub(super) const SUMMARY_INDICATORS: usize = 4096;

/// The scans stopped at the edge since the last flood summary: per indicator its hits and
/// distinct hosts, bounded; indicators beyond the bound are counted, not named.
pub(super) struct FloodSummary {
    pub(super) since: i64,
    pub(super) cap: usize,
    pub(super) by_indicator: hashbrown::HashMap<String, (u64, HostSet)>,
    pub(super) more_indicators: HostSet,
    pub(super) more_hits: u64,
    pub(super) hits: u64,
}

impl FloodSummary {
    pub(super) fn new(since: i64, cap: usize) -> FloodSummary {
        FloodSummary {
            since,
            cap: cap.max(1),
            by_indicator: hashbrown::HashMap::new(),
            more_indicators: HostSet::default(),
            more_hits: 0,
            hits: 0,
        }
    }

    pub(super) fn add(&mut self, indicator: &str, indicator_hash: u64, host: u64) {
        self.hits += 1;
        if let Some(e) = self.by_indicator.get_mut(indicator) {
            e.0 += 1;
            e.1.insert(host);
        } else if self.by_indicator.len() < self.cap {
            let mut hosts = HostSet::default();
            hosts.insert(host);
            self.by_indicator.insert(indicator.to_owned(), (1, hosts));
        } else {
            self.more_indicators.insert(indicator_hash);
            self.more_hits += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.hits == 0
    }
}
