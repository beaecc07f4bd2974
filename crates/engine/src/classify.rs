//! Byte classes of a buffer, 64 bytes at a time, as bit masks.
//!
//! Every byte of a scanned buffer is classified once, into the few classes the token scans
//! need ([`Block`]). The scans then find tokens with bit arithmetic on those masks: a token's
//! ends are the nearest class changes around an anchor, its candidate families come from the
//! other masks between its ends. Nothing branches per byte; the scans branch once per token
//! (a dotted token with three dots is one step, not three).
//!
//! Four kernels compute the same masks ([`Kernel`]):
//!
//! * **AVX2**: the class of a byte is the AND of two 16-entry tables, one indexed by its low
//!   nibble and one by its high nibble, looked up 32 bytes at a time with `vpshufb` (the
//!   technique of simdjson's structural classification and of Teddy's nibble masks). Eight
//!   classes fit in the eight bits of a table entry; `/` and bytes >= 0x80 come from a compare
//!   and from the sign bit.
//! * **AVX-512BW**: the same lookups on 64 bytes at once, and each class mask comes straight
//!   out of one byte test into a mask register (`vptestmb`), with no `vpmovmskb` per half.
//! * **SSE2** (every x86-64 CPU): range compares on 16 bytes at a time.
//! * **Portable**: a 256-entry table per byte and a multiplication per class and 8 bytes to
//!   gather the bits, for other CPUs.
//!
//! [`Kernel::best`] picks the fastest one the CPU has, at run time.
//!
//! A kernel is compiled once per combination of the token families a set needs (`FAM`, a
//! const generic: [`DOTTED`], [`V6`], [`URL`], [`HEX`]) and computes only the masks those
//! read: a set of hashes alone pays for the hex mask, not for all seven.

/// The classes of the 64 bytes of one block: bit `i` of each mask is byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    /// The `DOTTED` class of `scan.rs`: letters, digits, `.`, `-`, `_` and bytes >= 0x80.
    pub word: u64,
    /// Letters and bytes >= 0x80: a word token with one is a name, not an address.
    pub named: u64,
    /// `-` and `_`.
    pub dash: u64,
    pub dot: u64,
    pub colon: u64,
    /// `0-9a-fA-F`.
    pub hex: u64,
    pub slash: u64,
}

/// The token families of a scan, as bits of the `FAM` parameter of [`Kernel::classify`].
pub(crate) const DOTTED: u8 = 1;
pub(crate) const V6: u8 = 2;
pub(crate) const URL: u8 = 4;
pub(crate) const HEX: u8 = 8;

// The masks of a `Block`, as bits.
const M_WORD: u8 = 1;
const M_NAMED: u8 = 2;
const M_DASH: u8 = 4;
const M_DOT: u8 = 8;
const M_COLON: u8 = 16;
const M_HEX: u8 = 32;
const M_SLASH: u8 = 64;

/// Which masks the families `fam` read.
#[inline(always)]
const fn needs(fam: u8) -> u8 {
    let mut n = 0;
    if fam & DOTTED != 0 {
        n |= M_WORD | M_NAMED | M_DASH | M_DOT;
    }
    if fam & V6 != 0 {
        n |= M_HEX | M_COLON | M_DOT;
    }
    if fam & URL != 0 {
        n |= M_COLON | M_SLASH;
    }
    if fam & HEX != 0 {
        n |= M_HEX;
    }
    n
}

/// Whether the families `fam` read the mask `m` (constant for each instance of a kernel).
#[inline(always)]
const fn reads(fam: u8, m: u8) -> bool {
    needs(fam) & m != 0
}

/// Runs `$body` with the const `$f` equal to the family bits `$fam` (0 to 15): the run-time
/// families of a set, turned into the const generic the kernels and the block loop take.
macro_rules! with_families {
    ($fam:expr, $f:ident => $body:expr) => {
        match $fam & 15 {
            0 => {
                const $f: u8 = 0;
                $body
            }
            1 => {
                const $f: u8 = 1;
                $body
            }
            2 => {
                const $f: u8 = 2;
                $body
            }
            3 => {
                const $f: u8 = 3;
                $body
            }
            4 => {
                const $f: u8 = 4;
                $body
            }
            5 => {
                const $f: u8 = 5;
                $body
            }
            6 => {
                const $f: u8 = 6;
                $body
            }
            7 => {
                const $f: u8 = 7;
                $body
            }
            8 => {
                const $f: u8 = 8;
                $body
            }
            9 => {
                const $f: u8 = 9;
                $body
            }
            10 => {
                const $f: u8 = 10;
                $body
            }
            11 => {
                const $f: u8 = 11;
                $body
            }
            12 => {
                const $f: u8 = 12;
                $body
            }
            13 => {
                const $f: u8 = 13;
                $body
            }
            14 => {
                const $f: u8 = 14;
                $body
            }
            _ => {
                const $f: u8 = 15;
                $body
            }
        }
    };
}
pub(crate) use with_families;

/// How [`Block`]s are computed. All kernels give the same masks; they differ in speed only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// A table lookup per byte and word arithmetic; runs everywhere.
    Portable,
    /// 16 bytes at a time with SSE2 compares (x86-64 only).
    Sse2,
    /// 32 bytes at a time with AVX2 nibble lookups (x86-64 CPUs that have AVX2).
    Avx2,
    /// 64 bytes at a time with AVX-512BW nibble lookups, each mask straight from one
    /// byte test into a mask register (x86-64 CPUs that have AVX-512F and BW).
    Avx512,
}

impl Kernel {
    /// Every kernel this CPU can run, the portable one first.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Sse2, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// The fastest kernel this CPU can run.
    pub fn best() -> Kernel {
        if Kernel::Avx512.is_available() {
            Kernel::Avx512
        } else if Kernel::Avx2.is_available() {
            Kernel::Avx2
        } else if Kernel::Sse2.is_available() {
            Kernel::Sse2
        } else {
            Kernel::Portable
        }
    }

    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Sse2 => "sse2",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// Classifies `bytes` into `out`, one [`Block`] per 64 bytes, with the masks the families
    /// `FAM` read (the others are zero); the last block is padded with zero bytes, which are
    /// in no class. `out` must hold `bytes.len().div_ceil(64)` blocks.
    #[inline]
    pub(crate) fn classify<const FAM: u8>(self, bytes: &[u8], out: &mut [Block]) {
        assert!(out.len() >= bytes.len().div_ceil(64));
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                // The constructor of a `Scratch` with this kernel checked that the CPU has
                // AVX2 (`Kernel::is_available`), and that cannot change while it runs.
                assert!(self.is_available());
                // SAFETY: AVX2 is present (checked just above).
                unsafe { x86::classify_avx2::<FAM>(bytes, out) }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                // As for AVX2 above.
                assert!(self.is_available());
                // SAFETY: AVX-512F and BW are present (checked just above).
                unsafe { x86::classify_avx512::<FAM>(bytes, out) }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => x86::classify_sse2::<FAM>(bytes, out),
            _ => classify_portable::<FAM>(bytes, out),
        }
    }
}

/// Runs `block` over each full 64-byte block of `bytes`, then over the zero-padded tail.
#[inline(always)]
fn each_block(bytes: &[u8], out: &mut [Block], mut block: impl FnMut(&[u8; 64]) -> Block) {
    let mut chunks = bytes.chunks_exact(64);
    let mut k = 0;
    for c in chunks.by_ref() {
        out[k] = block(c.try_into().expect("64 bytes"));
        k += 1;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut pad = [0u8; 64];
        pad[..rest.len()].copy_from_slice(rest);
        out[k] = block(&pad);
    }
}

/// `m` when the classes `c` hold any of `bits`.
const fn has(c: u8, bits: u8, m: u8) -> u8 {
    if c & bits != 0 { m } else { 0 }
}

/// The masks of each byte value, as `M_*` bits: read off the byte classes of `scan.rs`, with
/// `:` and `/` beside them.
static TABLE: [u8; 256] = {
    use crate::scan::{ALPHA, DASH, DIGIT, DOT, DOTTED, HEXALPHA, HIGH, build_classes};
    let classes = build_classes();
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = classes[b];
        t[b] = has(c, DOTTED, M_WORD)
            | has(c, ALPHA | HIGH, M_NAMED)
            | has(c, DASH, M_DASH)
            | has(c, DOT, M_DOT)
            | has(c, DIGIT | HEXALPHA, M_HEX)
            | if b == b':' as usize { M_COLON } else { 0 }
            | if b == b'/' as usize { M_SLASH } else { 0 };
        b += 1;
    }
    t
};

fn classify_portable<const FAM: u8>(bytes: &[u8], out: &mut [Block]) {
    each_block(bytes, out, |block| {
        let mut m = [0u64; 7];
        for (g, eight) in block.chunks_exact(8).enumerate() {
            // The classes of eight bytes, one per byte of a word; then, per class, the class
            // bit of each byte gathered into eight bits by one multiplication (byte `j`'s bit
            // lands on bit 56 + `j`, and no other product reaches the top byte).
            let c = eight.iter().enumerate().fold(0u64, |c, (j, &b)| {
                c | u64::from(TABLE[b as usize]) << (8 * j)
            });
            for (k, mask) in m.iter_mut().enumerate() {
                if !reads(FAM, 1 << k) {
                    continue;
                }
                let bits = (c >> k) & 0x0101_0101_0101_0101;
                *mask |= (bits.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * g);
            }
        }
        Block {
            word: m[0],
            named: m[1],
            dash: m[2],
            dot: m[3],
            colon: m[4],
            hex: m[5],
            slash: m[6],
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{
        Block, M_COLON, M_DASH, M_DOT, M_HEX, M_NAMED, M_SLASH, M_WORD, each_block, reads,
    };
    use std::arch::x86_64::*;

    pub(super) fn classify_sse2<const FAM: u8>(bytes: &[u8], out: &mut [Block]) {
        each_block(bytes, out, |block| {
            let mut b = Block::default();
            for k in 0..4 {
                // SAFETY: SSE2 is part of the x86-64 baseline; the load reads 16 of the 64
                // bytes of `block`.
                let m =
                    unsafe { sse2_16::<FAM>(_mm_loadu_si128(block.as_ptr().add(16 * k).cast())) };
                let put = |mask: &mut u64, bits: i32| *mask |= u64::from(bits as u16) << (16 * k);
                put(&mut b.word, m[0]);
                put(&mut b.named, m[1]);
                put(&mut b.dash, m[2]);
                put(&mut b.dot, m[3]);
                put(&mut b.colon, m[4]);
                put(&mut b.hex, m[5]);
                put(&mut b.slash, m[6]);
            }
            b
        });
    }

    /// The seven masks of [`Block`], in its field order, for 16 bytes.
    #[inline(always)]
    unsafe fn sse2_16<const FAM: u8>(v: __m128i) -> [i32; 7] {
        // SAFETY (whole body): SSE2 register operations only.
        unsafe {
            let set = |b: u8| _mm_set1_epi8(b as i8);
            // Signed compares: bytes >= 0x80 are negative and fall outside every ASCII range.
            let within = |x: __m128i, lo: u8, hi: u8| {
                _mm_and_si128(
                    _mm_cmpgt_epi8(x, set(lo - 1)),
                    _mm_cmplt_epi8(x, set(hi + 1)),
                )
            };
            let eq = |b: u8| _mm_cmpeq_epi8(v, set(b));
            let mask = |x: __m128i| _mm_movemask_epi8(x);
            let high = _mm_movemask_epi8(v);
            let digit = within(v, b'0', b'9');
            // Setting 0x20 maps A-Z to a-z and nothing else into a-z.
            let folded = _mm_or_si128(v, set(0x20));
            let letter = within(folded, b'a', b'z');
            let dot = eq(b'.');
            let dash = _mm_or_si128(eq(b'-'), eq(b'_'));
            // Each mask only when the families read it (`FAM` is a constant).
            let r = |m: u8| reads(FAM, m);
            [
                if r(M_WORD) {
                    mask(_mm_or_si128(
                        _mm_or_si128(digit, letter),
                        _mm_or_si128(dot, dash),
                    )) | high
                } else {
                    0
                },
                if r(M_NAMED) { mask(letter) | high } else { 0 },
                if r(M_DASH) { mask(dash) } else { 0 },
                if r(M_DOT) { mask(dot) } else { 0 },
                if r(M_COLON) { mask(eq(b':')) } else { 0 },
                if r(M_HEX) {
                    mask(_mm_or_si128(digit, within(folded, b'a', b'f')))
                } else {
                    0
                },
                if r(M_SLASH) { mask(eq(b'/')) } else { 0 },
            ]
        }
    }

    // The nibble tables: the class bits of byte `b` are `LO[b & 15] & HI[b >> 4]`, each class
    // being a set of low nibbles times a set of high nibbles.
    const DIGIT: u8 = 0x01; // high 3, low 0-9
    const HEXLETTER: u8 = 0x02; // high 4 and 6, low 1-6
    const LETTER_A: u8 = 0x04; // high 4 and 6, low 1-F: A-O, a-o
    const LETTER_P: u8 = 0x08; // high 5 and 7, low 0-A: P-Z, p-z
    const MINUS: u8 = 0x10; // 0x2D
    const UNDERSCORE: u8 = 0x20; // 0x5F
    const DOT: u8 = 0x40; // 0x2E
    const COLON: u8 = 0x80; // 0x3A
    // The table bits of the masks both nibble kernels read.
    const WORD: u8 = DIGIT | LETTER_A | LETTER_P | MINUS | UNDERSCORE | DOT;
    const LETTER: u8 = LETTER_A | LETTER_P;
    const DASH: u8 = MINUS | UNDERSCORE;
    const HEX: u8 = DIGIT | HEXLETTER;

    const LO: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut l = 0;
        while l < 16 {
            let mut v = 0;
            if l <= 9 {
                v |= DIGIT;
            }
            if 1 <= l && l <= 6 {
                v |= HEXLETTER;
            }
            if l >= 1 {
                v |= LETTER_A;
            }
            if l <= 0xA {
                v |= LETTER_P;
            }
            if l == 0xD {
                v |= MINUS;
            }
            if l == 0xF {
                v |= UNDERSCORE;
            }
            if l == 0xE {
                v |= DOT;
            }
            if l == 0xA {
                v |= COLON;
            }
            t[l] = v;
            l += 1;
        }
        t
    };

    const HI: [u8; 16] = {
        let mut t = [0u8; 16];
        t[2] = MINUS | DOT;
        t[3] = DIGIT | COLON;
        t[4] = HEXLETTER | LETTER_A;
        t[5] = LETTER_P | UNDERSCORE;
        t[6] = HEXLETTER | LETTER_A;
        t[7] = LETTER_P;
        t
    };

    #[target_feature(enable = "avx2")]
    pub(super) fn classify_avx2<const FAM: u8>(bytes: &[u8], out: &mut [Block]) {
        let lo = _mm256_broadcastsi128_si256(table(&LO));
        let hi = _mm256_broadcastsi128_si256(table(&HI));
        each_block(bytes, out, |block| {
            // SAFETY: the two unaligned loads read the 64 bytes of `block`.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(block.as_ptr().cast()),
                    _mm256_loadu_si256(block.as_ptr().add(32).cast()),
                )
            };
            let (ma, mb) = (avx2_32::<FAM>(a, lo, hi), avx2_32::<FAM>(b, lo, hi));
            let join = |k: usize| u64::from(ma[k]) | u64::from(mb[k]) << 32;
            Block {
                word: join(0),
                named: join(1),
                dash: join(2),
                dot: join(3),
                colon: join(4),
                hex: join(5),
                slash: join(6),
            }
        });
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn classify_avx512<const FAM: u8>(bytes: &[u8], out: &mut [Block]) {
        let lo = _mm512_broadcast_i32x4(table(&LO));
        let hi = _mm512_broadcast_i32x4(table(&HI));
        let nib = _mm512_set1_epi8(0x0F);
        let r = |m: u8| reads(FAM, m);
        each_block(bytes, out, |block| {
            // SAFETY: the unaligned load reads the 64 bytes of `block`.
            let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
            // As in `avx2_32`, on 64 bytes: `vpshufb` looks up within each 16-byte lane,
            // and the tables are in all four.
            let l = _mm512_shuffle_epi8(lo, _mm512_and_si512(v, nib));
            let h = _mm512_shuffle_epi8(hi, _mm512_and_si512(_mm512_srli_epi16(v, 4), nib));
            let c = _mm512_and_si512(l, h);
            // Bytes with any of `bits`: one test, straight into a 64-bit mask.
            let any = |bits: u8| _mm512_test_epi8_mask(c, _mm512_set1_epi8(bits as i8));
            let high = _mm512_movepi8_mask(v);
            Block {
                word: if r(M_WORD) { any(WORD) | high } else { 0 },
                named: if r(M_NAMED) { any(LETTER) | high } else { 0 },
                dash: if r(M_DASH) { any(DASH) } else { 0 },
                dot: if r(M_DOT) { any(DOT) } else { 0 },
                colon: if r(M_COLON) { any(COLON) } else { 0 },
                hex: if r(M_HEX) { any(HEX) } else { 0 },
                slash: if r(M_SLASH) {
                    _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'/' as i8))
                } else {
                    0
                },
            }
        });
    }

    #[inline(always)]
    fn table(t: &[u8; 16]) -> __m128i {
        // SAFETY: reads the 16 bytes of `t`.
        unsafe { _mm_loadu_si128(t.as_ptr().cast()) }
    }

    /// The seven masks of [`Block`], in its field order, for 32 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn avx2_32<const FAM: u8>(v: __m256i, lo: __m256i, hi: __m256i) -> [u32; 7] {
        let nib = _mm256_set1_epi8(0x0F);
        // `vpshufb` reads an index's low four bits (and gives 0 for a set top bit): the high
        // nibble is shifted down in 16-bit lanes, then masked to four bits.
        let l = _mm256_shuffle_epi8(lo, _mm256_and_si256(v, nib));
        let h = _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
        let c = _mm256_and_si256(l, h);
        let zero = _mm256_setzero_si256();
        // Bytes with any of `bits`.
        let any = |bits: u8| {
            let none = _mm256_cmpeq_epi8(_mm256_and_si256(c, _mm256_set1_epi8(bits as i8)), zero);
            !(_mm256_movemask_epi8(none) as u32)
        };
        let high = _mm256_movemask_epi8(v) as u32;
        // Each mask only when the families read it (`FAM` is a constant).
        let r = |m: u8| reads(FAM, m);
        [
            if r(M_WORD) { any(WORD) | high } else { 0 },
            if r(M_NAMED) { any(LETTER) | high } else { 0 },
            if r(M_DASH) { any(DASH) } else { 0 },
            // One class bit moved to each byte's top bit (16-bit shifts move no bit across a
            // byte's top).
            if r(M_DOT) {
                _mm256_movemask_epi8(_mm256_slli_epi16(c, 1)) as u32
            } else {
                0
            },
            if r(M_COLON) {
                _mm256_movemask_epi8(c) as u32
            } else {
                0
            },
            if r(M_HEX) { any(HEX) } else { 0 },
            if r(M_SLASH) {
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'/' as i8))) as u32
            } else {
                0
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The masks by the definition of each class, byte by byte.
    fn naive(bytes: &[u8]) -> Vec<Block> {
        let mut out = vec![Block::default(); bytes.len().div_ceil(64)];
        for (i, &c) in bytes.iter().enumerate() {
            let b = &mut out[i / 64];
            let bit = 1u64 << (i % 64);
            let letter = c.is_ascii_alphabetic();
            let set = |m: &mut u64, yes: bool| {
                if yes {
                    *m |= bit
                }
            };
            set(
                &mut b.word,
                letter || c.is_ascii_digit() || b".-_".contains(&c) || c >= 0x80,
            );
            set(&mut b.named, letter || c >= 0x80);
            set(&mut b.dash, c == b'-' || c == b'_');
            set(&mut b.dot, c == b'.');
            set(&mut b.colon, c == b':');
            set(&mut b.hex, c.is_ascii_hexdigit());
            set(&mut b.slash, c == b'/');
        }
        out
    }

    /// The masks of every family.
    fn run(k: Kernel, bytes: &[u8]) -> Vec<Block> {
        run_for(k, bytes, DOTTED | V6 | URL | HEX)
    }

    fn run_for(k: Kernel, bytes: &[u8], fam: u8) -> Vec<Block> {
        let mut out = vec![Block::default(); bytes.len().div_ceil(64)];
        with_families!(fam, F => k.classify::<F>(bytes, &mut out));
        out
    }

    /// The masks of `b` that the families `fam` read; the others zero.
    fn only(b: &Block, fam: u8) -> Block {
        let m = |bit: u8, v: u64| if reads(fam, bit) { v } else { 0 };
        Block {
            word: m(M_WORD, b.word),
            named: m(M_NAMED, b.named),
            dash: m(M_DASH, b.dash),
            dot: m(M_DOT, b.dot),
            colon: m(M_COLON, b.colon),
            hex: m(M_HEX, b.hex),
            slash: m(M_SLASH, b.slash),
        }
    }

    #[test]
    fn every_byte_value_in_every_position() {
        // Each of the 256 values at each of the 64 offsets of a block, among other values.
        for k in Kernel::available() {
            for shift in 0..64 {
                let bytes: Vec<u8> = (0..320).map(|i| (i as u8).wrapping_add(shift)).collect();
                assert_eq!(run(k, &bytes), naive(&bytes), "{k:?}, shift {shift}");
            }
        }
    }

    #[test]
    fn the_best_kernel_is_available_and_portable_always_is() {
        assert!(Kernel::best().is_available());
        assert_eq!(Kernel::available()[0], Kernel::Portable);
        #[cfg(target_arch = "x86_64")]
        assert!(Kernel::available().contains(&Kernel::Sse2));
    }

    proptest! {
        #[test]
        fn kernels_agree_with_the_definition(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b':'), Just(b'/'), Just(b'-'), Just(b'_'), Just(b'a'), Just(b'Z'), Just(b'7'), any::<u8>()],
                0..300,
            ),
        ) {
            let want = naive(&bytes);
            for k in Kernel::available() {
                prop_assert_eq!(run(k, &bytes), want.clone(), "{:?}", k);
            }
        }

        /// For each combination of families, each kernel computes the masks they read alike
        /// and leaves the others zero.
        #[test]
        fn kernels_compute_what_the_families_read(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b':'), Just(b'/'), Just(b'-'), Just(b'a'), Just(b'9'), any::<u8>()],
                0..200,
            ),
        ) {
            let all = naive(&bytes);
            for fam in 0..16 {
                let want: Vec<Block> = all.iter().map(|b| only(b, fam)).collect();
                for k in Kernel::available() {
                    prop_assert_eq!(run_for(k, &bytes, fam), want.clone(), "{:?}, families {}", k, fam);
                }
            }
        }
    }
}
