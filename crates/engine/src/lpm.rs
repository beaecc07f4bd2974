//! Longest-prefix match over IPv4 networks.
//!
//! Networks are either nested or disjoint, so together they cut the address space into
//! intervals, each owned by the longest network that covers it (or by none). The table keeps
//! the intervals' starts in order with their owners, and a directory with one entry per /16
//! that says which intervals start inside it. A lookup reads the directory, searches the few
//! starts of its /16 (usually none to three), and reads one owner: a fixed two or three memory
//! reads, whatever the prefix lengths in the set.
//!
//! It replaced one hash probe per distinct prefix length present (18 with the generated set),
//! which cost more than all the other IPv4 work together for addresses near listed networks.

/// No network covers the interval.
const NONE: u32 = u32::MAX;

use crate::arr::Arr;

#[derive(Debug, Default)]
pub(crate) struct Lpm4 {
    /// Start of each interval, ascending; an interval runs until the next one starts.
    pub(crate) starts: Arr<u32>,
    /// The network owning each interval (its index in the set's CIDR table), or [`NONE`].
    pub(crate) owners: Arr<u32>,
    /// `dir[k]` is the number of intervals that start before `k << 16`; 65,537 entries.
    pub(crate) dir: Arr<u32>,
}

/// Entries of [`Lpm4::dir`].
pub(crate) const DIR_LEN: usize = (1 << 16) + 1;

impl Lpm4 {
    /// The table of `nets`: (network address, prefix length, index). Networks must be distinct
    /// and have no host bits set.
    pub(crate) fn build(nets: impl IntoIterator<Item = (u32, u8, u32)>) -> Lpm4 {
        // (first address, last address, prefix length, index), outer networks first.
        let mut v: Vec<(u32, u32, u8, u32)> = nets
            .into_iter()
            .map(|(net, len, id)| {
                // The host bits: all 32 for /0, none for /32.
                let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                (net, net | host, len, id)
            })
            .collect();
        v.sort_unstable_by_key(|&(start, _, len, _)| (start, len));
        let mut t = Build::default();
        // Networks that hold the current address, outermost first: (last address, index).
        let mut open: Vec<(u32, u32)> = Vec::new();
        for &(start, last, _, id) in &v {
            // Close every network that ended before this one starts; its parent resumes.
            while let Some(&(end, _)) = open.last() {
                if end >= start {
                    break;
                }
                open.pop();
                t.begin(end + 1, open.last().map_or(NONE, |&(_, p)| p));
            }
            t.begin(start, id);
            open.push((last, id));
        }
        while let Some((end, _)) = open.pop() {
            if end == u32::MAX {
                // Its parents end there too: nothing follows.
                continue;
            }
            t.begin(end + 1, open.last().map_or(NONE, |&(_, p)| p));
        }
        if t.starts.is_empty() {
            // No network: `get` answers without the directory, and a set without networks
            // does not carry its 256 KiB.
            return Lpm4::default();
        }
        t.starts.shrink_to_fit();
        t.owners.shrink_to_fit();
        let mut dir = Vec::with_capacity(DIR_LEN);
        let mut i = 0;
        for k in 0..=(1u64 << 16) {
            while i < t.starts.len() && u64::from(t.starts[i]) < k << 16 {
                i += 1;
            }
            dir.push(i as u32);
        }
        Lpm4 {
            starts: t.starts.into(),
            owners: t.owners.into(),
            dir: dir.into(),
        }
    }
}

/// The intervals while [`Lpm4::build`] works.
#[derive(Default)]
struct Build {
    starts: Vec<u32>,
    owners: Vec<u32>,
}

impl Build {
    /// Starts an interval at `at` owned by `owner`. A later interval at the same address
    /// replaces the earlier one (a network starting where its parent does, or a parent
    /// resuming where a child starts).
    fn begin(&mut self, at: u32, owner: u32) {
        if self.starts.last() == Some(&at) {
            *self.owners.last_mut().expect("same length") = owner;
        } else if self.owners.last() != Some(&owner) {
            self.starts.push(at);
            self.owners.push(owner);
        }
    }
}

impl Lpm4 {
    /// The longest network that holds `ip`. Bounds are checked, so a damaged table answers
    /// wrongly at worst, never out of bounds.
    #[inline]
    pub(crate) fn get(&self, ip: u32) -> Option<u32> {
        if self.starts.is_empty() {
            return None;
        }
        let hi = (ip >> 16) as usize;
        let (lo, up) = (*self.dir.get(hi)? as usize, *self.dir.get(hi + 1)? as usize);
        // Intervals before `lo + k` start at or below `ip`: the last of them holds it.
        let k = self.starts.get(lo..up)?.partition_point(|&s| s <= ip);
        match lo + k {
            0 => None,
            n => self.owners.get(n - 1).copied().filter(|&o| o != NONE),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.starts.heap_bytes() + self.owners.heap_bytes() + self.dir.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The longest network holding `ip`, by trying every network.
    fn naive(nets: &[(u32, u8)], ip: u32) -> Option<u32> {
        nets.iter()
            .enumerate()
            .filter(|&(_, &(net, len))| {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                ip & mask == net
            })
            .max_by_key(|&(_, &(_, len))| len)
            .map(|(i, _)| i as u32)
    }

    fn table(nets: &[(u32, u8)]) -> Lpm4 {
        Lpm4::build(
            nets.iter()
                .enumerate()
                .map(|(i, &(net, len))| (net, len, i as u32)),
        )
    }

    #[test]
    fn nested_networks_resume_their_parent() {
        let ip = |a: u8, b: u8, c: u8, d: u8| u32::from_be_bytes([a, b, c, d]);
        let nets = [
            (ip(10, 0, 0, 0), 8),
            (ip(10, 1, 0, 0), 16),
            (ip(10, 1, 2, 0), 24),
            (ip(10, 1, 2, 128), 25),
            (ip(10, 255, 255, 255), 32),
            (0, 0),
        ];
        let t = table(&nets);
        assert_eq!(t.get(ip(10, 1, 2, 200)), Some(3));
        assert_eq!(t.get(ip(10, 1, 2, 127)), Some(2));
        assert_eq!(t.get(ip(10, 1, 3, 0)), Some(1));
        assert_eq!(t.get(ip(10, 2, 0, 0)), Some(0));
        assert_eq!(t.get(ip(10, 255, 255, 255)), Some(4));
        assert_eq!(t.get(ip(11, 0, 0, 0)), Some(5));
        assert_eq!(t.get(u32::MAX), Some(5));
        assert_eq!(t.get(0), Some(5));
        assert_eq!(table(&[(ip(10, 0, 0, 0), 8)]).get(ip(11, 0, 0, 0)), None);
        assert_eq!(table(&[(u32::MAX, 32)]).get(u32::MAX), Some(0));
        assert_eq!(table(&[]).get(1), None);
        assert_eq!(table(&[]).heap_bytes(), 0);
    }

    proptest! {
        #[test]
        fn agrees_with_trying_every_network(
            raw in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..60),
            probes in proptest::collection::vec(any::<u32>(), 50),
        ) {
            // Few distinct high bits, so networks nest and probes land inside them.
            let mut nets: Vec<(u32, u8)> = raw
                .iter()
                .map(|&(a, len)| {
                    let a = a & 0xC0FF_0F0F;
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    (a & mask, len)
                })
                .collect();
            nets.sort_unstable();
            nets.dedup();
            let t = table(&nets);
            let around = nets.iter().flat_map(|&(n, _)| [n, n.wrapping_sub(1), n | 0xFF, n.wrapping_add(0x100)]);
            for ip in probes.iter().map(|p| p & 0xC0FF_0FFF).chain(around) {
                prop_assert_eq!(t.get(ip), naive(&nets, ip), "ip {:#x}", ip);
            }
        }
    }
}
