//! Compact exact-lookup tables.
//!
//! Every exact indicator type is a dense array of keys plus a hash table of `u32` positions into
//! that array. The position is the indicator's local index, so the table costs 4 bytes a slot
//! (plus one control byte) on top of the key itself, and the key is stored once: there is no
//! separate id-to-key map. Strings live in one arena (`StrIndex`), so a million domains are a
//! million spans into one allocation, not a million heap boxes.
//!
//! Hashing is foldhash with a fixed seed: fast, and deterministic so that two builds of the same
//! feeds compare byte for byte. Hash-flooding is not a concern here: keys come from feeds the
//! operator chose, and an attacker who controls log lines only controls lookups, not the table.

use std::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;
use hashbrown::HashTable;

const SEED: u64 = 0x10cd_10cd_5eed_0001;

#[inline]
fn hash_of<K: Hash + ?Sized>(key: &K) -> u64 {
    FixedState::with_seed(SEED).hash_one(key)
}

/// A set of fixed-size keys (IPs, networks, digests) with their dense positions.
#[derive(Debug, Default)]
pub(crate) struct Index<K> {
    keys: Vec<K>,
    table: HashTable<u32>,
}

impl<K: Hash + Eq + Copy> Index<K> {
    /// Inserts `key` unless present; returns its position and whether it is new.
    pub(crate) fn insert(&mut self, key: K) -> (u32, bool) {
        let h = hash_of(&key);
        if let Some(&i) = self.table.find(h, |&i| self.keys[i as usize] == key) {
            return (i, false);
        }
        let i = u32::try_from(self.keys.len()).expect("more than 2^32 indicators");
        self.keys.push(key);
        let keys = &self.keys;
        self.table
            .insert_unique(h, i, |&j| hash_of(&keys[j as usize]));
        (i, true)
    }

    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        let h = hash_of(key);
        self.table
            .find(h, |&i| self.keys[i as usize] == *key)
            .copied()
    }

    pub(crate) fn key(&self, i: u32) -> K {
        self.keys[i as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn shrink(&mut self) {
        self.keys.shrink_to_fit();
        let keys = &self.keys;
        self.table.shrink_to_fit(|&j| hash_of(&keys[j as usize]));
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<K>() + self.table.allocation_size()
    }
}

/// A set of byte strings kept in one arena.
#[derive(Debug, Default)]
pub(crate) struct StrIndex {
    arena: Vec<u8>,
    /// `ends[i]` is the end of string `i` in `arena`; it starts where string `i - 1` ends.
    ends: Vec<u32>,
    table: HashTable<u32>,
}

impl StrIndex {
    fn span(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    pub(crate) fn insert(&mut self, key: &[u8]) -> (u32, bool) {
        let h = hash_of(key);
        if let Some(&i) = self.table.find(h, |&i| self.span(i) == key) {
            return (i, false);
        }
        let i = u32::try_from(self.ends.len()).expect("more than 2^32 indicators");
        self.arena.extend_from_slice(key);
        self.ends
            .push(u32::try_from(self.arena.len()).expect("string arena over 4 GiB"));
        let (arena, ends) = (&self.arena, &self.ends);
        self.table.insert_unique(h, i, |&j| {
            let j = j as usize;
            let s = if j == 0 { 0 } else { ends[j - 1] as usize };
            hash_of(&arena[s..ends[j] as usize])
        });
        (i, true)
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        if self.ends.is_empty() {
            return None;
        }
        let h = hash_of(key);
        self.table.find(h, |&i| self.span(i) == key).copied()
    }

    pub(crate) fn key(&self, i: u32) -> &[u8] {
        self.span(i)
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn shrink(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
        let (arena, ends) = (&self.arena, &self.ends);
        self.table.shrink_to_fit(|&j| {
            let j = j as usize;
            let s = if j == 0 { 0 } else { ends[j - 1] as usize };
            hash_of(&arena[s..ends[j] as usize])
        });
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.ends.capacity() * 4 + self.table.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_dedups_and_finds() {
        let mut ix = Index::default();
        assert_eq!(ix.insert(7u32), (0, true));
        assert_eq!(ix.insert(9u32), (1, true));
        assert_eq!(ix.insert(7u32), (0, false));
        assert_eq!(ix.get(&9), Some(1));
        assert_eq!(ix.get(&8), None);
        ix.shrink();
        assert_eq!(ix.get(&7), Some(0));
        assert_eq!(ix.key(1), 9);
    }

    #[test]
    fn str_index_dedups_and_finds() {
        let mut ix = StrIndex::default();
        assert_eq!(ix.insert(b"evil.com"), (0, true));
        assert_eq!(ix.insert(b""), (1, true));
        assert_eq!(ix.insert(b"a.evil.com"), (2, true));
        assert_eq!(ix.insert(b"evil.com"), (0, false));
        assert_eq!(ix.get(b"a.evil.com"), Some(2));
        assert_eq!(ix.get(b""), Some(1));
        assert_eq!(ix.get(b"evil.co"), None);
        ix.shrink();
        assert_eq!(ix.key(2), b"a.evil.com");
        assert_eq!(ix.len(), 3);
    }
}
