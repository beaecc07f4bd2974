//! The compiled set file: an [`IocSet`] written as flat arrays that a reader maps and uses in
//! place ([`IocSet::to_bytes`], [`IocSet::from_bytes`]).
//!
//! Layout (all integers little-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `IOCDSET\0` |
//! | 8..12 | format version ([`FORMAT_VERSION`]) |
//! | 12..16 | `0x0102_0304`, to refuse a file from a machine of the other byte order |
//! | 16..24 | length of the whole file |
//! | 24..32 | checksum of every byte after the header: XXH3-64 of the XXH3-64s of its 1 MiB chunks |
//! | 32..40 | fingerprint of the table hash function ([`hash_fingerprint`]) |
//! | 40..44 | number of sections |
//! | 44..64 | zero |
//! | 64.. | the section directory: per section its element size (u32), zero (u32), byte offset (u64) and element count (u64) |
//! | then | the sections, each at a multiple of 64 |
//!
//! The sections come in a fixed order (see `Writer` and `Reader` below, which walk the same
//! list); any change to it, to a table's layout or to the metadata encoding takes a new format
//! version. The tables' slots depend on the hash function, so a file is also refused when the
//! fingerprint of this build's hash differs from the writer's: it would be read without error
//! and find nothing.
//!
//! Reading checks the header, the checksum over every byte, and every structural invariant a
//! lookup relies on (lengths, powers of two, offsets in bounds, feed and network numbers in
//! range): a file that passes is used without copying. Lookups bound every index on top of
//! that, so even bytes that change under a mapping after the check (a file truncated or
//! rewritten in place) can make a scan find the wrong things, but never read out of bounds or
//! loop. Metadata (what feeds said about listings) is decoded on first use.

use std::fmt;
use std::sync::Arc;

use crate::arr::{Arr, Backing, Pod};
use crate::index::{Bloom, GROUP, Index, Key, Slots, StrIndex, hash_of};
use crate::lpm::{DIR_LEN, Lpm4};
use crate::pattern::{N_TABLES, Table};
use crate::set::*;

/// The file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"IOCDSET\0";
const ENDIAN: u32 = 0x0102_0304;
const HEADER: usize = 64;
const DIR_ENTRY: usize = 24;
const ALIGN: usize = 64;

/// Why a set file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Not a set file at all.
    NotASetFile,
    /// A set file of another format version.
    Version { found: u32, supported: u32 },
    /// Written on a machine of the other byte order.
    ByteOrder,
    /// Shorter (or longer) than its header says: cut off while copying, or truncated.
    Length { header: u64, actual: u64 },
    /// The bytes are not those that were written.
    Checksum { stored: u64, computed: u64 },
    /// Written by a build whose table hash differs from this one's.
    HashFunction,
    /// The checksum holds but the content breaks an invariant: a file written wrongly.
    Invalid(String),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotASetFile => f.write_str(
                "not a compiled indicator set (no IOCDSET header); write one with `iocd iocs compile`",
            ),
            FileError::Version { found, supported } => write!(
                f,
                "compiled set format version {found}, this iocd reads version {supported}: compile it again with this iocd"
            ),
            FileError::ByteOrder => {
                f.write_str("compiled set written on a machine of the other byte order")
            }
            FileError::Length { header, actual } => write!(
                f,
                "compiled set is {actual} bytes but its header says {header}: truncated or cut off while copying"
            ),
            FileError::Checksum { stored, computed } => write!(
                f,
                "compiled set checksum mismatch (stored {stored:016x}, computed {computed:016x}): the file is damaged"
            ),
            FileError::HashFunction => f.write_str(
                "compiled set was written by an iocd build with a different table hash: compile it again with this iocd",
            ),
            FileError::Invalid(why) => write!(f, "compiled set is inconsistent: {why}"),
        }
    }
}

impl std::error::Error for FileError {}

/// A fingerprint of the table hash on fixed keys of every kind: two builds that hash alike
/// agree on it.
pub fn hash_fingerprint() -> u64 {
    let mut h = 0u64;
    let mut mix = |x: u64| h = (h ^ x).rotate_left(23).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mix(hash_of(&0x0102_0304u32));
    mix(hash_of(&0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128));
    mix(hash_of(&0x0102_0304_0506u64));
    mix(hash_of(&[7u8; 16]));
    mix(hash_of(&[7u8; 17]));
    mix(hash_of(&[9u8; 20]));
    mix(hash_of(&[5u8; 32]));
    // Byte strings take different paths by length: one of each size class a name can have.
    let text: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    for n in [
        0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 300,
    ] {
        mix(hash_of(&text[..n]));
    }
    h
}

/// The file's checksum: XXH3-64 over the XXH3-64s of its 1 MiB chunks after the header
/// (little-endian) followed by the header with the checksum field zeroed, so that checking a
/// big file runs on every core: a million indicators are about 47 MB, 5 ms
/// of one core at the SSE2 speed of XXH3.
fn checksum(bytes: &[u8], header: &[u8; HEADER]) -> u64 {
    const CHUNK: usize = 1 << 20;
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let n = bytes.len().div_ceil(CHUNK);
    let mut sums = vec![0u64; n];
    let fill = |sums: &mut [u64], first: usize| {
        for (k, s) in sums.iter_mut().enumerate() {
            let at = (first + k) * CHUNK;
            *s = xxhash_rust::xxh3::xxh3_64(&bytes[at..(at + CHUNK).min(bytes.len())]);
        }
    };
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    let per = n.div_ceil(threads.max(1)).max(8);
    if n <= per {
        fill(&mut sums, 0);
    } else {
        std::thread::scope(|scope| {
            let mut parts = sums.chunks_mut(per).enumerate();
            let first = parts.next();
            for (i, part) in parts {
                scope.spawn(move || fill(part, i * per));
            }
            if let Some((_, part)) = first {
                fill(part, 0);
            }
        });
    }
    let mut le = Vec::with_capacity(n * 8 + HEADER);
    for s in &sums {
        le.extend_from_slice(&s.to_le_bytes());
    }
    le.extend_from_slice(header);
    xxhash_rust::xxh3::xxh3_64(&le)
}

/// The file's header as the checksum covers it: every byte but the checksum's own.
fn header_for_checksum(file: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h.copy_from_slice(&file[..HEADER]);
    h[24..32].fill(0);
    h
}

/// Sets the checksum of a set file's `bytes` to match their content, as a forger would: for
/// the fuzz target and tests that must reach the checks behind the checksum. Not for use
/// elsewhere.
#[doc(hidden)]
pub fn fuzzing_reseal(bytes: &mut [u8]) {
    if bytes.len() >= HEADER {
        let sum = checksum(&bytes[HEADER..], &header_for_checksum(bytes));
        bytes[24..32].copy_from_slice(&sum.to_le_bytes());
    }
}

/// A set read from a file, with the note its writer stored beside it.
pub struct SetFile {
    pub set: IocSet,
    /// What [`IocSet::to_bytes`] was given as `note` (the CLI stores where the set came from).
    pub note: Vec<u8>,
}

struct Writer {
    sections: Vec<(u32, Vec<u8>, u64)>,
}

impl Writer {
    fn arr<T: Pod>(&mut self, a: &[T]) {
        // SAFETY: `T` is plain data without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), std::mem::size_of_val(a))
        };
        self.sections.push((
            std::mem::size_of::<T>() as u32,
            bytes.to_vec(),
            a.len() as u64,
        ));
    }

    fn index<K: Key>(&mut self, ix: &Index<K>) {
        self.arr(&ix.keys);
        self.slots(&ix.table);
    }

    fn slots(&mut self, t: &Slots) {
        self.arr(&t.ctrl);
        self.arr(&t.pos);
    }

    fn strs(&mut self, ix: &StrIndex) {
        self.arr(&ix.arena);
        self.arr(&ix.ends);
        self.slots(&ix.table);
        let empty: &[u64] = &[];
        self.arr(ix.bloom.as_ref().map_or(empty, |b| &b.words));
    }

    fn finish(self) -> Vec<u8> {
        let dir_end = HEADER + self.sections.len() * DIR_ENTRY;
        let mut at = dir_end.next_multiple_of(ALIGN);
        let mut dir = Vec::with_capacity(self.sections.len() * DIR_ENTRY);
        for (elem, bytes, count) in &self.sections {
            dir.extend_from_slice(&elem.to_le_bytes());
            dir.extend_from_slice(&0u32.to_le_bytes());
            dir.extend_from_slice(&(at as u64).to_le_bytes());
            dir.extend_from_slice(&count.to_le_bytes());
            at = (at + bytes.len()).next_multiple_of(ALIGN);
        }
        let mut out = vec![0u8; HEADER];
        out.extend_from_slice(&dir);
        for (_, bytes, _) in &self.sections {
            out.resize(out.len().next_multiple_of(ALIGN), 0);
            out.extend_from_slice(bytes);
        }
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        let len = out.len() as u64;
        out[0..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&ENDIAN.to_le_bytes());
        out[16..24].copy_from_slice(&len.to_le_bytes());
        out[32..40].copy_from_slice(&hash_fingerprint().to_le_bytes());
        out[40..44].copy_from_slice(&(self.sections.len() as u32).to_le_bytes());
        let sum = checksum(&out[HEADER..], &header_for_checksum(&out));
        out[24..32].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

struct Reader<'a> {
    keep: &'a Arc<dyn Backing>,
    dir: &'a [u8],
    next: usize,
    mapped: usize,
}

impl Reader<'_> {
    fn arr<T: Pod>(&mut self, what: &str) -> Result<Arr<T>, FileError> {
        let e = self
            .dir
            .get(self.next * DIR_ENTRY..(self.next + 1) * DIR_ENTRY)
            .ok_or_else(|| FileError::Invalid(format!("section {what} is missing")))?;
        self.next += 1;
        let u32_at = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().expect("8 bytes"));
        let elem = u32_at(0) as usize;
        if elem != std::mem::size_of::<T>() {
            return Err(FileError::Invalid(format!(
                "section {what} has {elem}-byte elements, expected {}",
                std::mem::size_of::<T>()
            )));
        }
        let offset = usize::try_from(u64_at(8))
            .map_err(|_| FileError::Invalid(format!("section {what}: offset too large")))?;
        let count = usize::try_from(u64_at(16))
            .map_err(|_| FileError::Invalid(format!("section {what}: length too large")))?;
        let a = Arr::view(self.keep, offset, count)
            .map_err(|e| FileError::Invalid(format!("section {what}: {e}")))?;
        self.mapped += a.len() * std::mem::size_of::<T>();
        Ok(a)
    }

    fn slots(&mut self, what: &str) -> Result<Slots, FileError> {
        let ctrl: Arr<u8> = self.arr(what)?;
        let pos: Arr<u32> = self.arr(what)?;
        let sized = ctrl.is_empty() && pos.is_empty()
            || pos.len().is_power_of_two() && ctrl.len() == pos.len() + GROUP;
        if !sized {
            return Err(FileError::Invalid(format!(
                "{what}: hash table of {} control bytes and {} slots",
                ctrl.len(),
                pos.len()
            )));
        }
        Ok(Slots { ctrl, pos })
    }

    fn index<K: Key>(&mut self, what: &str, n: usize) -> Result<Index<K>, FileError> {
        let keys: Arr<K::Raw> = self.arr(what)?;
        let table = self.slots(what)?;
        if keys.len() != n {
            return Err(FileError::Invalid(format!(
                "{what}: {} keys for {n} indicators",
                keys.len()
            )));
        }
        if n > 0 && table.capacity() <= n {
            return Err(FileError::Invalid(format!("{what}: hash table too small")));
        }
        Ok(Index { keys, table })
    }

    fn strs(&mut self, what: &str, n: usize) -> Result<StrIndex, FileError> {
        let arena: Arr<u8> = self.arr(what)?;
        let ends: Arr<u32> = self.arr(what)?;
        let table = self.slots(what)?;
        let words: Arr<u64> = self.arr(what)?;
        if ends.len() != n {
            return Err(FileError::Invalid(format!(
                "{what}: {} strings for {n} indicators",
                ends.len()
            )));
        }
        if n > 0 && table.capacity() <= n {
            return Err(FileError::Invalid(format!("{what}: hash table too small")));
        }
        if !(words.is_empty() || words.len().is_power_of_two()) {
            return Err(FileError::Invalid(format!("{what}: filter size")));
        }
        let bloom = (!words.is_empty()).then_some(Bloom { words });
        Ok(StrIndex {
            arena,
            ends,
            table,
            bloom,
        })
    }
}

impl IocSet {
    /// Every listing's metadata, decoded on first use for a set read from a file.
    pub(crate) fn metas(&self) -> &[Meta] {
        self.metas.get_or_init(|| decode_metas(&self.meta_blob))
    }

    /// The set as a compiled set file (see the module's documentation), with `note` (at most
    /// a few KiB of the caller's own: where the set came from) stored beside it.
    pub fn to_bytes(&self, note: &[u8]) -> Vec<u8> {
        let mut w = Writer {
            sections: Vec::new(),
        };
        let mut scalars: Vec<u64> = self.base.iter().map(|&b| u64::from(b)).collect();
        scalars.push(self.sub_min_labels as u64);
        scalars.push(u64::from(self.url_v4_hosts));
        w.arr(&scalars);
        w.arr(note);
        w.index(&self.ipv4);
        w.index(&self.ipv6);
        w.index(&self.cidr4);
        w.index(&self.cidr6);
        w.index(&self.md5);
        w.index(&self.sha1);
        w.index(&self.sha256);
        for ix in self.str_tables() {
            w.strs(ix);
        }
        w.strs(&self.url_hosts);
        w.arr(&self.lpm4.starts);
        w.arr(&self.lpm4.owners);
        w.arr(&self.lpm4.dir);
        w.arr(&self.v4_map);
        w.arr(&self.cidr6_lens);
        w.arr(&self.url_prefix_lens);
        w.arr(&self.url_v4);
        w.arr(&self.url_v4_filter);
        w.arr(&self.url_host_filter);
        w.arr(&self.src_start);
        w.arr(&self.sources);
        w.arr(&encode_feeds(&self.feeds));
        let metas = if self.metas.get().is_some() || self.meta_blob.is_empty() {
            encode_metas(self.metas())
        } else {
            self.meta_blob.to_vec()
        };
        w.arr(&metas);
        w.finish()
    }

    /// The string tables in file order (`url_hosts` is written after them).
    fn str_tables(&self) -> [&StrIndex; 7] {
        [
            &self.domain_sub,
            &self.domain_exact,
            &self.url_exact,
            &self.url_prefix,
            &self.email,
            &self.str_cs,
            &self.str_ci,
        ]
    }

    /// Reads a set from a compiled set file's bytes, using its tables in place: `backing`
    /// (a memory map, or a `Vec<u8>`) stays alive as long as the set.
    ///
    /// # Errors
    /// A file that is not a set file, of another format version or byte order, whose length or
    /// checksum does not match its header, written with another table hash, or inconsistent.
    pub fn from_bytes(backing: Arc<dyn Backing>) -> Result<SetFile, FileError> {
        let bytes = backing.bytes();
        if bytes.len() < HEADER || &bytes[0..8] != MAGIC {
            return Err(FileError::NotASetFile);
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(FileError::Version {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if u32_at(12) != ENDIAN {
            return Err(FileError::ByteOrder);
        }
        let len = u64_at(16);
        if len != bytes.len() as u64 {
            return Err(FileError::Length {
                header: len,
                actual: bytes.len() as u64,
            });
        }
        let stored = u64_at(24);
        let computed = checksum(&bytes[HEADER..], &header_for_checksum(bytes));
        if stored != computed {
            return Err(FileError::Checksum { stored, computed });
        }
        if u64_at(32) != hash_fingerprint() {
            return Err(FileError::HashFunction);
        }
        let n_sections = u32_at(40) as usize;
        let dir = bytes
            .get(HEADER..HEADER + n_sections * DIR_ENTRY)
            .ok_or_else(|| FileError::Invalid("section directory runs past the end".into()))?;
        let mut r = Reader {
            keep: &backing,
            dir,
            next: 0,
            mapped: 0,
        };
        let (mut set, note) = read_set(&mut r)?;
        set.mapped_bytes = r.mapped;
        if r.next != n_sections {
            return Err(FileError::Invalid(format!(
                "{n_sections} sections, this version has {}",
                r.next
            )));
        }
        Ok(SetFile {
            note: note.to_vec(),
            set,
        })
    }
}

fn invalid(why: impl Into<String>) -> FileError {
    FileError::Invalid(why.into())
}

fn read_set(r: &mut Reader<'_>) -> Result<(IocSet, Arr<u8>), FileError> {
    let scalars: Arr<u64> = r.arr("scalars")?;
    if scalars.len() != N_TABLES + 3 {
        return Err(invalid(format!("{} scalars", scalars.len())));
    }
    let mut base = [0u32; N_TABLES + 1];
    for (b, &v) in base.iter_mut().zip(scalars.iter()) {
        *b = u32::try_from(v).map_err(|_| invalid("table base over 2^32"))?;
    }
    if base.windows(2).any(|w| w[0] > w[1]) || base[0] != 0 {
        return Err(invalid("table bases out of order"));
    }
    let n = |t: Table| (base[t as usize + 1] - base[t as usize]) as usize;
    let sub_min_labels = usize::try_from(scalars[N_TABLES + 1])
        .unwrap_or(usize::MAX)
        .max(1);
    let url_v4_hosts = scalars[N_TABLES + 2] != 0;
    let note: Arr<u8> = r.arr("note")?;

    let ipv4 = r.index("ipv4", n(Table::Ipv4))?;
    let ipv6 = r.index("ipv6", n(Table::Ipv6))?;
    let cidr4: Index<(u32, u8)> = r.index("cidr4", n(Table::Cidr4))?;
    let cidr6: Index<(u128, u8)> = r.index("cidr6", n(Table::Cidr6))?;
    // A network is a prefix length in range and no host bits: `pattern` and the prefix
    // lookups rely on it.
    for i in 0..cidr4.len() as u32 {
        let (net, len) = cidr4.key(i);
        if len > 32 || (len < 32 && net & (u32::MAX >> len) != 0) {
            return Err(invalid(format!(
                "IPv4 network {i} has length {len} or host bits"
            )));
        }
    }
    for i in 0..cidr6.len() as u32 {
        let (net, len) = cidr6.key(i);
        if len > 128 || (len < 128 && net & (u128::MAX >> len) != 0) {
            return Err(invalid(format!(
                "IPv6 network {i} has length {len} or host bits"
            )));
        }
    }
    let md5 = r.index("md5", n(Table::Md5))?;
    let sha1 = r.index("sha1", n(Table::Sha1))?;
    let sha256 = r.index("sha256", n(Table::Sha256))?;
    let domain_sub = r.strs("domain_sub", n(Table::DomainSub))?;
    let domain_exact = r.strs("domain_exact", n(Table::DomainExact))?;
    let url_exact = r.strs("url_exact", n(Table::UrlExact))?;
    let url_prefix = r.strs("url_prefix", n(Table::UrlPrefix))?;
    let email = r.strs("email", n(Table::Email))?;
    let str_cs = r.strs("str_cs", n(Table::StrCs))?;
    let str_ci = r.strs("str_ci", n(Table::StrCi))?;
    // The hosts of URL indicators are not indicators: their count is the `ends` section's.
    let url_hosts_n = r
        .dir
        .get((r.next + 1) * DIR_ENTRY..(r.next + 2) * DIR_ENTRY)
        .map(|e| u64::from_le_bytes(e[16..24].try_into().expect("8 bytes")))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid("section url_hosts is missing"))?;
    let url_hosts = r.strs("url_hosts", url_hosts_n)?;

    let lpm4 = Lpm4 {
        starts: r.arr("lpm starts")?,
        owners: r.arr("lpm owners")?,
        dir: r.arr("lpm directory")?,
    };
    if lpm4.starts.len() != lpm4.owners.len()
        || !(lpm4.dir.len() == DIR_LEN || lpm4.starts.is_empty() && lpm4.dir.is_empty())
    {
        return Err(invalid("network table lengths"));
    }
    if let Some(&o) = lpm4
        .owners
        .iter()
        .find(|&&o| o != u32::MAX && o as usize >= cidr4.len())
    {
        return Err(invalid(format!("network table names network {o}")));
    }
    let v4_map: Arr<u64> = r.arr("v4 map")?;
    if !(v4_map.is_empty() || v4_map.len() == (1 << 24) / 64) {
        return Err(invalid("v4 map length"));
    }
    let cidr6_lens: Arr<u8> = r.arr("cidr6 lengths")?;
    if cidr6_lens.iter().any(|&l| l > 128) {
        return Err(invalid("IPv6 prefix length over 128"));
    }
    let url_prefix_lens = r.arr("url prefix lengths")?;
    let url_v4 = r.arr("url v4 hosts")?;
    let url_v4_filter: Arr<u64> = r.arr("url v4 filter")?;
    if url_v4_filter.len() != 1024 {
        return Err(invalid("url v4 filter length"));
    }
    let url_host_filter: Arr<u64> = r.arr("url host filter")?;
    if !(url_host_filter.is_empty() || url_host_filter.len().is_power_of_two()) {
        return Err(invalid("url host filter length"));
    }
    let src_start: Arr<u32> = r.arr("source starts")?;
    let sources: Arr<SourceRef> = r.arr("sources")?;
    let total = base[N_TABLES] as usize;
    if src_start.len() != total + 1 {
        return Err(invalid(format!(
            "{} source starts for {total} indicators",
            src_start.len()
        )));
    }
    if src_start.windows(2).any(|w| w[0] > w[1])
        || src_start
            .last()
            .is_some_and(|&e| e as usize != sources.len())
    {
        return Err(invalid("source starts out of order"));
    }
    let feeds_blob: Arr<u8> = r.arr("feeds")?;
    let feeds = decode_feeds(&feeds_blob).ok_or_else(|| invalid("feeds"))?;
    if let Some(s) = sources.iter().find(|s| s.feed as usize >= feeds.len()) {
        return Err(invalid(format!("a listing names feed {}", s.feed)));
    }
    let meta_blob: Arr<u8> = r.arr("metadata")?;

    let strings = crate::compile::try_build_strings(&str_cs, &str_ci)
        .map_err(|e| invalid(format!("free strings: {e}")))?;
    let set = IocSet {
        ipv4,
        ipv6,
        cidr4,
        lpm4,
        v4_map,
        cidr6,
        cidr6_lens,
        domain_sub,
        sub_min_labels,
        domain_exact,
        url_exact,
        url_prefix,
        url_prefix_lens,
        url_hosts,
        url_v4_hosts,
        url_v4,
        url_v4_filter,
        url_host_filter,
        url_host_hashes: Vec::new(),
        md5,
        sha1,
        sha256,
        email,
        str_cs,
        str_ci,
        strings,
        base,
        src_start,
        sources,
        metas: std::sync::OnceLock::new(),
        meta_blob,
        reports: std::sync::OnceLock::new(),
        feeds,
        mapped_bytes: 0,
    };
    Ok((set, note))
}

// The metadata encoding: varint lengths and counts, strings as length + UTF-8, optional
// values behind a presence bit. Threat contexts are shared between listings (`Arc`), so they
// are written once in a table and referred to by number.

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_strs(out: &mut Vec<u8>, v: &[String]) {
    put_varint(out, v.len() as u64);
    for s in v {
        put_str(out, s);
    }
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn put_context(out: &mut Vec<u8>, c: &Context) {
    put_strs(out, &c.malware);
    put_strs(out, &c.tools);
    put_strs(out, &c.groups);
    put_strs(out, &c.campaigns);
    put_varint(out, c.techniques.len() as u64);
    for t in &c.techniques {
        put_opt_str(out, t.id.as_deref());
        put_opt_str(out, t.name.as_deref());
    }
    put_strs(out, &c.tactics);
    put_opt_str(out, c.report.as_deref());
}

/// Bounds-checked reading of the encoding: every read is `None` past the end.
struct Bytes<'a> {
    b: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&x, rest) = self.b.split_first()?;
        self.b = rest;
        Some(x)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (x, rest) = self.b.split_at(n);
        self.b = rest;
        Some(x)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items of at least one byte each: never more than the bytes left.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.b.len()).then_some(n)
    }

    fn str(&mut self) -> Option<String> {
        let n = self.count()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn strs(&mut self) -> Option<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.str()).collect()
    }

    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn context(&mut self) -> Option<Context> {
        let malware = self.strs()?;
        let tools = self.strs()?;
        let groups = self.strs()?;
        let campaigns = self.strs()?;
        let n = self.count()?;
        let techniques = (0..n)
            .map(|_| {
                Some(Technique {
                    id: self.opt_str()?,
                    name: self.opt_str()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Context {
            malware,
            tools,
            groups,
            campaigns,
            techniques,
            tactics: self.strs()?,
            report: self.opt_str()?,
        })
    }
}

fn encode_feeds(feeds: &[Feed]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, feeds.len() as u64);
    for f in feeds {
        put_str(&mut out, &f.name);
        put_str(&mut out, &f.location);
        out.extend_from_slice(&f.weight.to_le_bytes());
        match &f.context {
            Some(c) => {
                out.push(1);
                put_context(&mut out, c);
            }
            None => out.push(0),
        }
    }
    out
}

fn decode_feeds(b: &[u8]) -> Option<Vec<Feed>> {
    let mut r = Bytes { b };
    let n = r.count()?;
    let feeds = (0..n)
        .map(|_| {
            let name = r.str()?;
            let location = r.str()?;
            let weight = f64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let context = match r.u8()? {
                0 => None,
                1 => Some(Arc::new(r.context()?)),
                _ => return None,
            };
            Some(Feed {
                name,
                location,
                weight,
                context,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    r.b.is_empty().then_some(feeds)
}

const TLPS: [Tlp; 5] = [
    Tlp::Clear,
    Tlp::Green,
    Tlp::Amber,
    Tlp::AmberStrict,
    Tlp::Red,
];

pub(crate) fn encode_metas(metas: &[Meta]) -> Vec<u8> {
    if metas.is_empty() {
        return Vec::new();
    }
    // Contexts by the address of their `Arc`: listings of one record share one.
    let mut ctx_of: hashbrown::HashMap<*const Context, u64> = hashbrown::HashMap::new();
    let mut contexts = Vec::new();
    let mut body = Vec::new();
    put_varint(&mut body, metas.len() as u64);
    for m in metas {
        let present = [
            m.confidence.is_some(),
            m.severity.is_some(),
            m.first_seen.is_some(),
            m.last_seen.is_some(),
            m.valid_until.is_some(),
            m.tlp.is_some(),
            m.description.is_some(),
            m.context.is_some(),
        ];
        let flags = present
            .iter()
            .enumerate()
            .fold(0u8, |f, (bit, &on)| f | u8::from(on) << bit);
        body.push(flags);
        body.extend(m.confidence);
        body.extend(m.severity);
        for t in [m.first_seen, m.last_seen, m.valid_until]
            .into_iter()
            .flatten()
        {
            body.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(t) = m.tlp {
            body.push(TLPS.iter().position(|&x| x == t).expect("every TLP") as u8);
        }
        if let Some(d) = &m.description {
            put_str(&mut body, d);
        }
        if let Some(c) = &m.context {
            let n = ctx_of.len() as u64;
            let k = *ctx_of.entry(Arc::as_ptr(c)).or_insert_with(|| {
                put_context(&mut contexts, c);
                n
            });
            put_varint(&mut body, k);
        }
        put_strs(&mut body, &m.tags);
    }
    let mut out = Vec::with_capacity(contexts.len() + body.len() + 10);
    put_varint(&mut out, ctx_of.len() as u64);
    out.extend_from_slice(&contexts);
    out.extend_from_slice(&body);
    out
}

/// The metadata of a file; none if it does not decode (bytes changed under a mapping after
/// the file was checked: scanning goes on without metadata rather than failing).
pub(crate) fn decode_metas(b: &[u8]) -> Vec<Meta> {
    fn go(b: &[u8]) -> Option<Vec<Meta>> {
        if b.is_empty() {
            return Some(Vec::new());
        }
        let mut r = Bytes { b };
        let nc = r.count()?;
        let contexts = (0..nc)
            .map(|_| r.context().map(Arc::new))
            .collect::<Option<Vec<_>>>()?;
        let n = r.count()?;
        // Each meta takes a byte at least; a `Meta` is ~100: grow as they decode.
        let mut metas = Vec::new();
        for _ in 0..n {
            let flags = r.u8()?;
            let on = |bit: u8| flags & (1 << bit) != 0;
            let mut m = Meta::default();
            if on(0) {
                m.confidence = Some(r.u8()?);
            }
            if on(1) {
                m.severity = Some(r.u8()?);
            }
            if on(2) {
                m.first_seen = Some(r.i64()?);
            }
            if on(3) {
                m.last_seen = Some(r.i64()?);
            }
            if on(4) {
                m.valid_until = Some(r.i64()?);
            }
            if on(5) {
                m.tlp = Some(*TLPS.get(r.u8()? as usize)?);
            }
            if on(6) {
                m.description = Some(r.str()?);
            }
            if on(7) {
                let k = usize::try_from(r.varint()?).ok()?;
                m.context = Some(Arc::clone(contexts.get(k)?));
            }
            m.tags = r.strs()?;
            metas.push(m);
        }
        r.b.is_empty().then_some(metas)
    }
    go(b).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
