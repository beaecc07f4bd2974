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

    pub(crate) fn reserve(&mut self, n: usize) {
        self.keys.reserve_exact(n);
        let keys = &self.keys;
        self.table.reserve(n, |&j| hash_of(&keys[j as usize]));
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

/// A blocked Bloom filter: one `u64` word per lookup, two bits in it.
///
/// It sits in front of a big string table so that the usual lookup, a miss, touches one word of
/// a filter that fits in L2 instead of the table's control bytes and keys, which at a million
/// indicators are spread over several MiB of L3 (measured in docs/PERFORMANCE.md). It reuses the
/// table's hash, so a lookup still hashes its key once.
#[derive(Debug, Default)]
pub(crate) struct Bloom {
    words: Vec<u64>,
    mask: usize,
}

impl Bloom {
    /// About 16 bits per key (one false positive in a few hundred), capped at 4 MiB.
    pub(crate) fn with_keys(n: usize) -> Bloom {
        let words = (n * 16 / 64).next_power_of_two().clamp(1024, 1 << 19);
        Bloom {
            words: vec![0; words],
            mask: words - 1,
        }
    }

    #[inline]
    fn bits(h: u64) -> u64 {
        // hashbrown uses the low bits (bucket) and the top 7 (tag); take bits from the middle.
        (1u64 << ((h >> 32) & 63)) | (1u64 << ((h >> 38) & 63))
    }

    #[inline]
    fn word(&self, h: u64) -> usize {
        ((h >> 44) as usize ^ (h as usize >> 12)) & self.mask
    }

    pub(crate) fn insert(&mut self, h: u64) {
        let w = self.word(h);
        self.words[w] |= Bloom::bits(h);
    }

    #[inline]
    pub(crate) fn may_contain(&self, h: u64) -> bool {
        let b = Bloom::bits(h);
        self.words[self.word(h)] & b == b
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// Below this many keys a table's control bytes stay in cache and a filter only adds work.
const BLOOM_MIN_KEYS: usize = 16 * 1024;

/// A set of byte strings kept in one arena.
#[derive(Debug, Default)]
pub(crate) struct StrIndex {
    arena: Vec<u8>,
    /// `ends[i]` is the end of string `i` in `arena`; it starts where string `i - 1` ends.
    ends: Vec<u32>,
    table: HashTable<u32>,
    /// Built by `shrink` for big tables.
    bloom: Option<Bloom>,
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
        self.get_hashed(hash_of(key), key)
    }

    /// The hash [`StrIndex::get_hashed`] takes: the same for every table, so a key looked up
    /// in two tables is hashed once.
    #[inline]
    pub(crate) fn hash(key: &[u8]) -> u64 {
        hash_of(key)
    }

    /// [`StrIndex::get`] with the key's [`StrIndex::hash`] already computed.
    #[inline]
    pub(crate) fn get_hashed(&self, h: u64, key: &[u8]) -> Option<u32> {
        if self.ends.is_empty() {
            return None;
        }
        if let Some(b) = &self.bloom
            && !b.may_contain(h)
        {
            return None;
        }
        self.table.find(h, |&i| self.span(i) == key).copied()
    }

    /// Room for `n` more strings of `bytes` bytes in all.
    pub(crate) fn reserve(&mut self, n: usize, bytes: usize) {
        self.arena.reserve_exact(bytes);
        self.ends.reserve_exact(n);
        let (arena, ends) = (&self.arena, &self.ends);
        self.table.reserve(n, |&j| {
            let j = j as usize;
            let s = if j == 0 { 0 } else { ends[j - 1] as usize };
            hash_of(&arena[s..ends[j] as usize])
        });
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
        self.bloom = (self.len() >= BLOOM_MIN_KEYS).then(|| {
            let mut b = Bloom::with_keys(self.len());
            for i in 0..self.len() as u32 {
                b.insert(hash_of(self.span(i)));
            }
            b
        });
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.ends.capacity() * 4
            + self.table.allocation_size()
            + self.bloom.as_ref().map_or(0, Bloom::heap_bytes)
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
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let mut ix = StrIndex::default();
        let keys: Vec<String> = (0..BLOOM_MIN_KEYS * 2)
            .map(|i| format!("d{i}.example"))
            .collect();
        for k in &keys {
            ix.insert(k.as_bytes());
        }
        ix.shrink();
        assert!(ix.bloom.is_some());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(ix.get(k.as_bytes()), Some(i as u32));
        }
        let b = ix.bloom.as_ref().unwrap();
        let fp = (0..100_000)
            .filter(|i| b.may_contain(hash_of(format!("x{i}.example").as_bytes())))
            .count();
        assert!(fp < 2_000, "{fp} false positives in 100k");
    }

    #[test]
    fn reserved_tables_grow_past_the_hint_and_shrink_back() {
        let mut ix = Index::default();
        ix.reserve(4);
        let mut sx = StrIndex::default();
        sx.reserve(1000, 10);
        for i in 0..100u32 {
            assert_eq!(ix.insert(i * 7), (i, true));
            assert_eq!(sx.insert(format!("d{i}.example").as_bytes()), (i, true));
        }
        ix.shrink();
        sx.shrink();
        assert!(sx.table.capacity() < 1000, "unused room given back");
        for i in 0..100u32 {
            assert_eq!(ix.get(&(i * 7)), Some(i));
            assert_eq!(sx.get(format!("d{i}.example").as_bytes()), Some(i));
        }
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
