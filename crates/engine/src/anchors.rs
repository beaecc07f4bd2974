//! Positions of one byte in a buffer, found 64 bytes at a time.
//!
//! The dotted and IPv6 scans visit every `.` and `:` of a buffer, about nine of each in a log
//! line of the generated corpus, and skip to the end of each token. A `memchr` call per anchor
//! pays its set-up (length checks, alignment, a first vector load) every time; here one pass
//! of four SSE2 compares turns 64 bytes into a bit mask, and the next anchor is a
//! `trailing_zeros` while the mask lasts.

/// The positions of `byte` in `hay`, from any position on (see [`Anchors::next_from`]).
pub(crate) struct Anchors<'a> {
    hay: &'a [u8],
    byte: u8,
    /// When non-zero, only anchors with another anchor at most this many bytes away (see
    /// [`Anchors::paired`]).
    near: u32,
    /// Start of the 64-byte block `mask` covers (a multiple of 64).
    block: usize,
    /// Bit `i`: `hay[block + i] == byte`, for the positions not yet passed.
    mask: u64,
}

impl<'a> Anchors<'a> {
    pub(crate) fn new(hay: &'a [u8], byte: u8) -> Anchors<'a> {
        Anchors::with_near(hay, byte, 0)
    }

    /// Only the anchors that have another one at most `near` bytes before or after them (and,
    /// to stay exact without looking across blocks, every anchor within `near` bytes of a
    /// 64-byte block's edge). The IPv6 scan takes colons this way: an address has at least
    /// two, and a group holds at most four hex digits, so two of its colons are at most five
    /// bytes apart, while most colons in logs stand alone (`"key":`, `host:port`).
    pub(crate) fn paired(hay: &'a [u8], byte: u8, near: u32) -> Anchors<'a> {
        debug_assert!((1..32).contains(&near));
        Anchors::with_near(hay, byte, near)
    }

    fn with_near(hay: &'a [u8], byte: u8, near: u32) -> Anchors<'a> {
        let mut a = Anchors {
            hay,
            byte,
            near,
            block: 0,
            mask: 0,
        };
        a.mask = a.block_mask(0);
        a
    }

    /// The first position at or after `pos` holding the byte. Positions must not go back.
    #[inline]
    pub(crate) fn next_from(&mut self, pos: usize) -> Option<usize> {
        if pos >= self.block + 64 {
            self.block = pos & !63;
            if self.block >= self.hay.len() {
                self.mask = 0;
                return None;
            }
            self.mask = self.block_mask(self.block);
        }
        // A position before `block` is in blocks already passed without an anchor left.
        self.mask &= !0u64 << pos.saturating_sub(self.block);
        while self.mask == 0 {
            self.block += 64;
            if self.block >= self.hay.len() {
                return None;
            }
            self.mask = self.block_mask(self.block);
        }
        Some(self.block + self.mask.trailing_zeros() as usize)
    }

    #[inline]
    fn block_mask(&self, at: usize) -> u64 {
        let m = self.raw_mask(at);
        if self.near == 0 || m == 0 {
            return m;
        }
        let mut close = 0u64;
        for d in 1..=self.near {
            close |= (m >> d) | (m << d);
        }
        let edge = (1u64 << self.near) - 1;
        m & (close | edge | edge << (64 - self.near))
    }

    #[inline]
    fn raw_mask(&self, at: usize) -> u64 {
        match self.hay.get(at..at + 64) {
            Some(b) => eq_mask64(b.try_into().expect("64 bytes"), self.byte),
            None => {
                let rest = self.hay.get(at..).unwrap_or(&[]);
                rest.iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == self.byte)
                    .fold(0, |m, (i, _)| m | 1 << i)
            }
        }
    }
}

/// The token around the `.` at `dot`: its start and end, and whether it holds a letter or a
/// byte >= 0x80 (`named`) and a `-` or `_` (`dashed`). A token is a run of letters, digits,
/// `.`, `-`, `_` and bytes >= 0x80 (the `DOTTED` class of `mod.rs`).
///
/// Classifies the 16 bytes on each side of the dot at once, so the usual token (an address, a
/// host name) costs no loop and no mispredicted loop exit. `None` when that is not enough to
/// tell: the dot is within 16 bytes of either end of `hay`, or the token runs 16 bytes or more
/// past it on a side; the caller then walks byte by byte.
#[inline]
pub(crate) fn dotted_extent(hay: &[u8], dot: usize) -> Option<(usize, usize, bool, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        if dot < 16 || dot + 17 > hay.len() {
            return None;
        }
        let left: &[u8; 16] = hay[dot - 16..dot].try_into().expect("16 bytes");
        let right: &[u8; 16] = hay[dot + 1..dot + 17].try_into().expect("16 bytes");
        let (lt, ln, ld) = token_classes(left);
        let (rt, rn, rd) = token_classes(right);
        let (lstop, rstop) = (!lt, !rt);
        if lstop == 0 || rstop == 0 {
            return None;
        }
        // Token bytes right before the dot (from bit 15 down) and right after it (from bit 0).
        let l_len = lstop.leading_zeros();
        let r_len = rstop.trailing_zeros();
        let lmask = if l_len == 0 { 0 } else { !0u16 << (16 - l_len) };
        let rmask = (1u16 << r_len) - 1;
        let named = (ln & lmask) | (rn & rmask) != 0;
        let dashed = (ld & lmask) | (rd & rmask) != 0;
        Some((
            dot - l_len as usize,
            dot + 1 + r_len as usize,
            named,
            dashed,
        ))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (hay, dot);
        None
    }
}

/// For 16 bytes: (token bytes, letters or bytes >= 0x80, `-` or `_`), one bit per byte.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn token_classes(block: &[u8; 16]) -> (u16, u16, u16) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the load is unaligned and reads exactly the
    // 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let set = |b: u8| _mm_set1_epi8(b as i8);
        // Signed compares: bytes >= 0x80 are negative and fall outside both ASCII ranges.
        let within = |x: __m128i, lo: u8, hi: u8| {
            _mm_and_si128(
                _mm_cmpgt_epi8(x, set(lo - 1)),
                _mm_cmplt_epi8(x, set(hi + 1)),
            )
        };
        let digit = within(v, b'0', b'9');
        // Setting 0x20 maps A-Z to a-z and nothing else into a-z.
        let alpha = within(_mm_or_si128(v, set(0x20)), b'a', b'z');
        let dot = _mm_cmpeq_epi8(v, set(b'.'));
        let dash = _mm_or_si128(_mm_cmpeq_epi8(v, set(b'-')), _mm_cmpeq_epi8(v, set(b'_')));
        let high = _mm_movemask_epi8(v) as u16;
        let mask = |x: __m128i| _mm_movemask_epi8(x) as u16;
        let tok = mask(_mm_or_si128(
            _mm_or_si128(digit, alpha),
            _mm_or_si128(dot, dash),
        )) | high;
        (tok, mask(alpha) | high, mask(dash))
    }
}

/// Bit `i` set when `block[i] == byte`.
#[inline(always)]
fn eq_mask64(block: &[u8; 64], byte: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the four unaligned loads read exactly
        // the 64 bytes of `block`.
        unsafe {
            let needle = _mm_set1_epi8(byte as i8);
            let mut m = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
                let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, needle)) as u16;
                m |= u64::from(bits) << (16 * k);
            }
            m
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == byte)
            .fold(0, |m, (i, _)| m | 1 << i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte walk `dotted_extent` stands for.
    fn walk(hay: &[u8], dot: usize) -> (usize, usize, bool, bool) {
        let tok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || b >= 0x80;
        let mut s = dot;
        while s > 0 && tok(hay[s - 1]) {
            s -= 1;
        }
        let mut e = dot + 1;
        while e < hay.len() && tok(hay[e]) {
            e += 1;
        }
        let t = &hay[s..e];
        (
            s,
            e,
            t.iter().any(|&b| b.is_ascii_alphabetic() || b >= 0x80),
            t.iter().any(|&b| b == b'-' || b == b'_'),
        )
    }

    #[test]
    fn dotted_extent_of_usual_tokens() {
        let hay = b"xxxxxxxxxxxxxxxxxxxx src=10.1.2.3 host=a-b.Example.com \"k\":\"\xc3\xa9.fr\" yyyyyyyyyyyyyyyy";
        for (i, _) in hay.iter().enumerate().filter(|&(_, &b)| b == b'.') {
            if let Some(got) = dotted_extent(hay, i) {
                assert_eq!(got, walk(hay, i), "dot at {i}");
            }
        }
        let at = hay.iter().position(|&b| b == b'.').unwrap();
        assert_eq!(dotted_extent(hay, at), Some((25, 33, false, false)));
    }

    #[test]
    fn paired_skips_lone_anchors_away_from_block_edges() {
        // Offsets 10 (lone), 30 and 34 (4 apart), 50 (lone), 62 (edge), 64 + 20 (lone).
        let mut hay = vec![b'x'; 128];
        for i in [10, 30, 34, 50, 62, 84] {
            hay[i] = b':';
        }
        let mut a = Anchors::paired(&hay, b':', 5);
        let mut got = Vec::new();
        let mut pos = 0;
        while let Some(p) = a.next_from(pos) {
            got.push(p);
            pos = p + 1;
        }
        assert_eq!(got, [30, 34, 62]);
    }

    proptest! {
        #[test]
        fn dotted_extent_agrees_with_the_byte_walk(
            hay in proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'a'), Just(b'7'), Just(b'-'), Just(b'_'), Just(b' '), Just(0xC3u8), any::<u8>()],
                0..120,
            ),
        ) {
            for dot in (0..hay.len()).filter(|&i| hay[i] == b'.') {
                if let Some(got) = dotted_extent(&hay, dot) {
                    prop_assert_eq!(got, walk(&hay, dot), "dot at {}", dot);
                }
            }
        }

        /// Every anchor with a partner within `near` bytes is yielded (lone ones may be).
        #[test]
        fn paired_never_skips_an_anchor_with_a_partner(
            hay in proptest::collection::vec(prop_oneof![Just(b':'), Just(b'a'), Just(b'1'), any::<u8>()], 0..300),
        ) {
            let mut a = Anchors::paired(&hay, b':', 5);
            let mut got = Vec::new();
            let mut pos = 0;
            while let Some(p) = a.next_from(pos) {
                prop_assert_eq!(hay[p], b':');
                got.push(p);
                pos = p + 1;
            }
            for i in (0..hay.len()).filter(|&i| hay[i] == b':') {
                let partner = (i.saturating_sub(5)..hay.len().min(i + 6)).any(|j| j != i && hay[j] == b':');
                if partner {
                    prop_assert!(got.contains(&i), "colon at {} has a partner", i);
                }
            }
        }

        #[test]
        fn finds_what_a_byte_loop_finds(
            hay in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'a'), any::<u8>()], 0..300),
            steps in proptest::collection::vec(1usize..90, 1..20),
        ) {
            let mut a = Anchors::new(&hay, b'.');
            let mut pos = 0;
            for step in steps {
                let want = (pos..hay.len()).find(|&i| hay[i] == b'.');
                prop_assert_eq!(a.next_from(pos), want);
                pos = want.map_or(pos + step, |p| p + step.min(3));
            }
        }
    }
}
