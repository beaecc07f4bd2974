//! The sharded map behind triage's per-key state (deduplication windows, flood counters):
//! entries keyed by a 64-bit hash, split over a fixed number of mutexes by the hash's top
//! bits, so that matcher threads only meet when they touch the same shard, and each lock is
//! held for one map operation. Each shard keeps its keys in insertion order (a queue of
//! `(key, seq)`, entries whose seq no longer matches being stale), which gives the oldest
//! entry in O(1): what closes first, what is evicted first when the shard is full.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::HashMap;

/// The shards of one table.
pub(crate) struct Shards<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    /// Right shift that leaves the bits picking a shard.
    shift: u32,
    per_shard: usize,
}

impl<V> Shards<V> {
    /// `count` shards (a power of two) holding `max_entries` entries in all (at least one
    /// each).
    pub fn new(count: usize, max_entries: usize) -> Shards<V> {
        assert!(count.is_power_of_two() && count > 1, "shards: {count}");
        Shards {
            shards: (0..count).map(|_| Mutex::new(Shard::new())).collect(),
            shift: 64 - count.trailing_zeros(),
            per_shard: max_entries.div_ceil(count).max(1),
        }
    }

    /// The most entries one shard holds.
    pub(crate) fn per_shard(&self) -> usize {
        self.per_shard
    }

    /// The shard of `key`, locked. The top bits pick it; its map hashes the whole key again.
    pub fn lock(&self, key: u64) -> MutexGuard<'_, Shard<V>> {
        self.shards[(key >> self.shift) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every shard, each locked in turn.
    pub fn each(&self) -> impl Iterator<Item = MutexGuard<'_, Shard<V>>> {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Entries in all shards.
    pub fn len(&self) -> usize {
        self.each().map(|s| s.len()).sum()
    }
}

/// One shard: its entries, and their keys in insertion order.
pub(crate) struct Shard<V> {
    map: HashMap<u64, Slot<V>>,
    /// (key, seq) in insertion order; entries whose seq no longer matches are stale.
    order: VecDeque<(u64, u64)>,
    seq: u64,
}

struct Slot<V> {
    seq: u64,
    value: V,
}

impl<V> Shard<V> {
    fn new() -> Shard<V> {
        Shard {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn contains(&self, key: u64) -> bool {
        self.map.contains_key(&key)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        self.map.get_mut(&key).map(|s| &mut s.value)
    }

    /// Puts `value` at `key`, the newest entry.
    pub fn insert(&mut self, key: u64, value: V) {
        self.seq += 1;
        let seq = self.seq;
        self.order.push_back((key, seq));
        self.map.insert(key, Slot { seq, value });
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        self.map.remove(&key).map(|s| s.value)
    }

    /// Pops stale queue heads.
    fn trim(&mut self) {
        while let Some(&(k, seq)) = self.order.front() {
            if self.map.get(&k).is_some_and(|e| e.seq == seq) {
                return;
            }
            self.order.pop_front();
        }
    }

    /// Removes the oldest entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<V> {
        self.pop_oldest_if(|_| true)
    }

    /// Removes the oldest entry if `due` says so (the entries after it are not looked at).
    pub(crate) fn pop_oldest_if(&mut self, due: impl FnOnce(&V) -> bool) -> Option<V> {
        self.trim();
        let &(k, _) = self.order.front()?;
        if !due(&self.map[&k].value) {
            return None;
        }
        self.order.pop_front();
        let v = self.map.remove(&k).map(|s| s.value);
        if self.map.is_empty() {
            self.order.clear();
        }
        v
    }

    /// Removes the oldest entry `spare` does not spare: a spared entry goes to the back of
    /// the queue, once; after as many second chances as there were entries, the oldest goes
    /// whatever `spare` says.
    pub(crate) fn evict(&mut self, mut spare: impl FnMut(&V) -> bool) -> Option<V> {
        let mut second_chances = self.map.len();
        while let Some((k, seq)) = self.order.pop_front() {
            let Some(slot) = self.map.get_mut(&k).filter(|s| s.seq == seq) else {
                continue;
            };
            if spare(&slot.value) && second_chances > 0 {
                second_chances -= 1;
                self.seq += 1;
                slot.seq = self.seq;
                self.order.push_back((k, self.seq));
                continue;
            }
            return self.map.remove(&k).map(|s| s.value);
        }
        None
    }

    /// Removes every entry, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = V> + '_ {
        std::iter::from_fn(move || self.pop_oldest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pick_shards_by_their_top_bits_and_order_is_kept() {
        let s: Shards<&str> = Shards::new(64, 128);
        assert_eq!(s.per_shard(), 2);
        let (a, b) = (5u64 << 58 | 1, 5u64 << 58 | 2);
        s.lock(a).insert(a, "a");
        s.lock(b).insert(b, "b");
        assert_eq!(s.lock(a).len(), 2, "one shard");
        assert_eq!(s.len(), 2);
        // Re-inserting a key makes its old queue entry stale.
        s.lock(a).insert(a, "a2");
        let mut sh = s.lock(a);
        assert_eq!(sh.pop_oldest_if(|v| *v == "x"), None);
        assert_eq!(sh.pop_oldest(), Some("b"));
        assert_eq!(sh.pop_oldest(), Some("a2"));
        assert!(sh.len() == 0 && sh.order.is_empty());
    }

    #[test]
    fn eviction_spares_once_then_takes_the_oldest() {
        let s: Shards<u32> = Shards::new(2, 8);
        let mut sh = s.lock(0);
        for k in 0..3 {
            sh.insert(k, k as u32);
        }
        // 0 is spared and goes to the back: 1 goes.
        assert_eq!(sh.evict(|v| *v == 0), Some(1));
        // Every one spared: after a full round, the oldest (2) goes anyway.
        assert_eq!(sh.evict(|_| true), Some(2));
        assert_eq!(sh.drain().collect::<Vec<_>>(), [0]);
    }
}
