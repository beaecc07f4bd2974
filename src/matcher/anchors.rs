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
