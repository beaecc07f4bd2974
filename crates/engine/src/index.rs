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

use crate::arr::{Arr, Pod};

const SEED: u64 = 0x10cd_10cd_5eed_0001;

#[inline]
pub(crate) fn hash_of<K: Hash + ?Sized>(key: &K) -> u64 {
    FixedState::with_seed(SEED).hash_one(key)
}

/// An open-addressing table of `u32` positions, linear probing: one control byte a slot (0:
/// empty; else `0x80 |` the hash's top 7 bits) and the position. Two flat arrays, so a compiled
/// set file can hold it as it is.
///
/// A lookup reads the control bytes eight at a time (one `u64`, compared with the tag by SWAR
/// arithmetic) and compares keys only where the tag matches, until a group holds an empty
/// slot: a miss usually costs one load, as in hashbrown, whose SIMD groups this replaced. The
/// control array has [`GROUP`] more bytes than slots, a copy of its first ones, so that a group
/// starting near the end reads the start. Every probe is bounded by the table's size, so no
/// content of a file (checked or not) can make a lookup loop or index out of bounds.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    pub(crate) ctrl: Arr<u8>,
    pub(crate) pos: Arr<u32>,
}

/// Control bytes read at once.
pub(crate) const GROUP: usize = 8;
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

impl Slots {
    #[inline]
    fn tag(h: u64) -> u8 {
        0x80 | (h >> 57) as u8
    }

    /// Slots for `n` keys: a power of two with the load at most 2/3.
    fn capacity_for(n: usize) -> usize {
        (n + n / 2 + 1).next_power_of_two().max(GROUP)
    }

    #[inline]
    pub(crate) fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let (ctrl, pos): (&[u8], &[u32]) = (&self.ctrl, &self.pos);
        let cap = pos.len();
        if cap == 0 || ctrl.len() != cap + GROUP {
            return None;
        }
        let mask = cap - 1;
        let tags = u64::from(Slots::tag(h)) * LO;
        let mut i = h as usize & mask;
        for _ in 0..=cap / GROUP {
            let g = ctrl.get(i..i + GROUP)?;
            let g = u64::from_le_bytes(g.try_into().expect("a group"));
            // Bytes equal to the tag (a borrow may flag a byte above a match too: the key
            // comparison settles it).
            let x = g ^ tags;
            let mut m = x.wrapping_sub(LO) & !x & HI;
            while m != 0 {
                let slot = (i + m.trailing_zeros() as usize / 8) & mask;
                let p = pos[slot];
                if eq(p) {
                    return Some(p);
                }
                m &= m - 1;
            }
            // An empty slot in the group: the key would have been placed before it.
            if g.wrapping_sub(LO) & !g & HI != 0 {
                return None;
            }
            i = (i + GROUP) & mask;
        }
        None
    }

    /// Puts position `p` of hash `h` in the first free slot of its run (the table has room).
    fn place(ctrl: &mut [u8], pos: &mut [u32], h: u64, p: u32) {
        let cap = pos.len();
        let mask = cap - 1;
        let mut i = h as usize & mask;
        while ctrl[i] != 0 {
            i = (i + 1) & mask;
        }
        ctrl[i] = Slots::tag(h);
        if i < GROUP {
            ctrl[cap + i] = Slots::tag(h);
        }
        pos[i] = p;
    }

    /// Rebuilds the table for `n` positions `0..n` with room for `room` keys.
    fn rebuild(&mut self, n: usize, room: usize, hash: impl Fn(u32) -> u64) {
        let cap = Slots::capacity_for(room.max(n));
        let mut ctrl = vec![0u8; cap + GROUP];
        let mut pos = vec![0u32; cap];
        for p in 0..n as u32 {
            Slots::place(&mut ctrl, &mut pos, hash(p), p);
        }
        self.ctrl = ctrl.into();
        self.pos = pos.into();
    }

    /// Adds position `p` (= the number of keys before it) of hash `h`, growing first if the
    /// load would pass 2/3.
    fn insert(&mut self, h: u64, p: u32, hash: impl Fn(u32) -> u64) {
        let n = p as usize + 1;
        if n + n / 2 >= self.pos.len() {
            self.rebuild(p as usize, n * 2, hash);
        }
        let (mut ctrl, mut pos) = (self.ctrl.vec_mut(), self.pos.vec_mut());
        Slots::place(&mut ctrl, &mut pos, h, p);
    }

    /// Slots (not control bytes).
    pub(crate) fn capacity(&self) -> usize {
        self.pos.len()
    }

    fn heap_bytes(&self) -> usize {
        self.ctrl.heap_bytes() + self.pos.heap_bytes()
    }
}

/// A key of an [`Index`], kept in the table as plain data.
pub(crate) trait Key: Copy + Eq {
    type Raw: Pod + Eq + Hash;
    fn raw(self) -> Self::Raw;
    fn from_raw(r: Self::Raw) -> Self;
}

macro_rules! plain_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            type Raw = $t;
            #[inline]
            fn raw(self) -> $t {
                self
            }
            #[inline]
            fn from_raw(r: $t) -> $t {
                r
            }
        }
    )*};
}
plain_key!(u32, u128, [u8; 16], [u8; 20], [u8; 32]);

/// An IPv4 network: address and prefix length in one `u64`.
impl Key for (u32, u8) {
    type Raw = u64;
    #[inline]
    fn raw(self) -> u64 {
        u64::from(self.0) << 8 | u64::from(self.1)
    }
    #[inline]
    fn from_raw(r: u64) -> (u32, u8) {
        ((r >> 8) as u32, r as u8)
    }
}

/// An IPv6 network: address (big-endian bytes) and prefix length.
impl Key for (u128, u8) {
    type Raw = [u8; 17];
    #[inline]
    fn raw(self) -> [u8; 17] {
        let mut r = [0u8; 17];
        r[..16].copy_from_slice(&self.0.to_be_bytes());
        r[16] = self.1;
        r
    }
    #[inline]
    fn from_raw(r: [u8; 17]) -> (u128, u8) {
        let mut a = [0u8; 16];
        a.copy_from_slice(&r[..16]);
        (u128::from_be_bytes(a), r[16])
    }
}

/// A set of fixed-size keys (IPs, networks, digests) with their dense positions.
#[derive(Debug, Default)]
pub(crate) struct Index<K: Key> {
    pub(crate) keys: Arr<K::Raw>,
    pub(crate) table: Slots,
}

impl<K: Key> Index<K> {
    /// Inserts `key` unless present; returns its position and whether it is new.
    pub(crate) fn insert(&mut self, key: K) -> (u32, bool) {
        let raw = key.raw();
        let h = hash_of(&raw);
        if let Some(i) = self
            .table
            .find(h, |i| self.keys.get(i as usize) == Some(&raw))
        {
            return (i, false);
        }
        let i = u32::try_from(self.keys.len()).expect("more than 2^32 indicators");
        self.keys.vec_mut().push(raw);
        let keys = &self.keys;
        self.table.insert(h, i, |j| hash_of(&keys[j as usize]));
        (i, true)
    }

    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        let raw = key.raw();
        let h = hash_of(&raw);
        self.table
            .find(h, |i| self.keys.get(i as usize) == Some(&raw))
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.keys.vec_mut().reserve_exact(n);
        let len = self.keys.len();
        let keys = &self.keys;
        self.table
            .rebuild(len, len + n, |j| hash_of(&keys[j as usize]));
    }

    pub(crate) fn key(&self, i: u32) -> K {
        K::from_raw(self.keys[i as usize])
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn shrink(&mut self) {
        self.keys.vec_mut().shrink_to_fit();
        let keys = &self.keys;
        self.table
            .rebuild(keys.len(), keys.len(), |j| hash_of(&keys[j as usize]));
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes() + self.table.heap_bytes()
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
    pub(crate) words: Arr<u64>,
}

impl Bloom {
    /// About 16 bits per key (one false positive in a few hundred), capped at 4 MiB.
    pub(crate) fn with_keys(n: usize) -> Bloom {
        let words = (n * 16 / 64).next_power_of_two().clamp(1024, 1 << 19);
        Bloom {
            words: vec![0; words].into(),
        }
    }

    #[inline]
    fn bits(h: u64) -> u64 {
        // The table uses the low bits (slot) and the top 7 (tag); take bits from the middle.
        (1u64 << ((h >> 32) & 63)) | (1u64 << ((h >> 38) & 63))
    }

    #[inline]
    fn word(&self, h: u64) -> usize {
        // The length is a power of two (checked when a file is read).
        ((h >> 44) as usize ^ (h as usize >> 12)) & (self.words.len().wrapping_sub(1))
    }

    pub(crate) fn insert(&mut self, h: u64) {
        let w = self.word(h);
        self.words.vec_mut()[w] |= Bloom::bits(h);
    }

    #[inline]
    pub(crate) fn may_contain(&self, h: u64) -> bool {
        let b = Bloom::bits(h);
        self.words.get(self.word(h)).is_none_or(|&w| w & b == b)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.heap_bytes()
    }
}

/// Below this many keys a table's control bytes stay in cache and a filter only adds work.
const BLOOM_MIN_KEYS: usize = 16 * 1024;

/// A set of byte strings kept in one arena.
#[derive(Debug, Default)]
pub(crate) struct StrIndex {
    pub(crate) arena: Arr<u8>,
    /// `ends[i]` is the end of string `i` in `arena`; it starts where string `i - 1` ends.
    pub(crate) ends: Arr<u32>,
    pub(crate) table: Slots,
    /// Built by `shrink` for big tables.
    pub(crate) bloom: Option<Bloom>,
}

/// String `i` of an arena; empty for a span a damaged file would put out of bounds.
#[inline]
fn span_of<'a>(arena: &'a [u8], ends: &[u32], i: u32) -> &'a [u8] {
    let i = i as usize;
    let start = if i == 0 {
        0
    } else {
        ends.get(i - 1).map_or(0, |&e| e as usize)
    };
    let end = ends.get(i).map_or(0, |&e| e as usize);
    arena.get(start..end).unwrap_or_default()
}

impl StrIndex {
    #[inline]
    fn span(&self, i: u32) -> &[u8] {
        span_of(&self.arena, &self.ends, i)
    }

    pub(crate) fn insert(&mut self, key: &[u8]) -> (u32, bool) {
        let h = hash_of(key);
        if let Some(i) = self.table.find(h, |i| self.span(i) == key) {
            return (i, false);
        }
        let i = u32::try_from(self.ends.len()).expect("more than 2^32 indicators");
        self.arena.vec_mut().extend_from_slice(key);
        let end = u32::try_from(self.arena.len()).expect("string arena over 4 GiB");
        self.ends.vec_mut().push(end);
        let (arena, ends) = (&self.arena, &self.ends);
        self.table
            .insert(h, i, |j| hash_of(span_of(arena, ends, j)));
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
        self.table
            .find(h, |i| (i as usize) < self.ends.len() && self.span(i) == key)
    }

    /// Room for `n` more strings of `bytes` bytes in all.
    pub(crate) fn reserve(&mut self, n: usize, bytes: usize) {
        self.arena.vec_mut().reserve_exact(bytes);
        self.ends.vec_mut().reserve_exact(n);
        let len = self.ends.len();
        let (arena, ends) = (&self.arena, &self.ends);
        self.table
            .rebuild(len, len + n, |j| hash_of(span_of(arena, ends, j)));
    }

    pub(crate) fn key(&self, i: u32) -> &[u8] {
        self.span(i)
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn shrink(&mut self) {
        self.arena.vec_mut().shrink_to_fit();
        self.ends.vec_mut().shrink_to_fit();
        let len = self.ends.len();
        let (arena, ends) = (&self.arena, &self.ends);
        self.table
            .rebuild(len, len, |j| hash_of(span_of(arena, ends, j)));
        self.bloom = (self.len() >= BLOOM_MIN_KEYS).then(|| {
            let mut b = Bloom::with_keys(self.len());
            for i in 0..self.len() as u32 {
                b.insert(hash_of(self.span(i)));
            }
            b
        });
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.heap_bytes()
            + self.ends.heap_bytes()
            + self.table.heap_bytes()
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
