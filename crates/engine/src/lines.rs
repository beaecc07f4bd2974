//! Lines of a buffer, with the hits in each: what the daemon's workers and `iocd scan` both
//! do with one [`IocSet::scan`](crate::IocSet::scan) over a batch of many lines.

use crate::Hit;

/// Calls `f(start, end, hits)` for each line of `buf` that has hits, in order: the line is
/// `buf[start..end]` (no line feed, no trailing carriage return) and `hits` (sorted, as
/// [`IocSet::scan`](crate::IocSet::scan) returns them) have offsets relative to `start`.
pub fn for_each_hit_line(buf: &[u8], hits: &[Hit], mut f: impl FnMut(usize, usize, &[Hit])) {
    let mut line_hits = Vec::new();
    let mut i = 0;
    while i < hits.len() {
        let at = hits[i].start;
        let start = memchr::memrchr(b'\n', &buf[..at]).map_or(0, |k| k + 1);
        let mut end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |k| at + k);
        line_hits.clear();
        while i < hits.len() && hits[i].start < end {
            let h = hits[i];
            line_hits.push(Hit {
                start: h.start - start,
                end: h.end - start,
                id: h.id,
            });
            i += 1;
        }
        if end > start && buf[end - 1] == b'\r' {
            end -= 1;
        }
        f(start, end, &line_hits);
    }
}
