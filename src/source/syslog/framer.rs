//! Syslog framing over a byte stream: RFC 6587 octet counting and LF framing, detected per
//! message, with the size and time limits a slow or hostile sender meets.

use std::net::SocketAddr;
use std::ops::Range;

use crate::source::Batcher;

/// An octet count longer than this is not a length (4 GB messages do not exist).
pub(super) const MAX_LEN_DIGITS: usize = 10;
/// Bytes asked of the socket per read.
pub(super) const READ_CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Nothing but line ends seen yet.
    Detect,
    Lines,
    Octets,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    Nothing,
    /// The rest of a cut octet-counted message.
    Bytes(u64),
    /// The rest of a cut line, through its line feed.
    Line,
}

/// One message found by the framer, relative to the buffer it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Framed {
    pub msg: Range<usize>,
    /// Longer than the limit (or, at the end of a stream, shorter than announced): cut.
    pub cut: bool,
    /// Came after an octet-counting header that did not parse.
    pub bad: bool,
}

/// What [`Framer::next`] found at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// No complete message: read more.
    More,
    /// Drop this many bytes.
    Skip(usize),
    /// A message; consume `.1` bytes.
    Msg(Framed, usize),
}

/// Splits a syslog byte stream into messages; see the module docs.
#[derive(Debug)]
pub(crate) struct Framer {
    max: usize,
    pub(super) mode: Mode,
    skip: Skip,
    /// Messages framed by [`frame_some`] so far.
    framed: u64,
}

impl Framer {
    /// For a TCP connection: LF or octet counting, decided on its first bytes.
    pub(crate) fn detect(max: usize) -> Framer {
        Framer {
            max: max.max(1),
            mode: Mode::Detect,
            skip: Skip::Nothing,
            framed: 0,
        }
    }

    /// Lines only (files, stdin).
    pub(crate) fn lines(max: usize) -> Framer {
        Framer {
            mode: Mode::Lines,
            ..Framer::detect(max)
        }
    }

    /// Messages [`frame_some`] has framed with this framer.
    pub(crate) fn messages(&self) -> u64 {
        self.framed
    }

    /// Whether the framer is inside a message it is skipping the rest of (it was cut): the
    /// message has not ended although no byte of it is left unconsumed.
    pub(crate) fn in_message(&self) -> bool {
        self.skip != Skip::Nothing
    }

    /// A run of plain lines at the start of `buf` that needs no per-message work: its
    /// length and how many lines it holds. Plain means: LF framing, nothing being skipped, no
    /// `\r`, no empty line, and (by taking at most `max` bytes) no line over the limit. At
    /// most `room` bytes. The caller then copies the run in one go.
    pub(crate) fn plain_run(&self, buf: &[u8], room: usize) -> Option<(usize, u64)> {
        if self.mode != Mode::Lines || self.skip != Skip::Nothing {
            return None;
        }
        let window = &buf[..buf.len().min(self.max).min(room)];
        let run = &window[..memchr::memrchr(b'\n', window)? + 1];
        if run[0] == b'\n'
            || memchr::memchr(b'\r', run).is_some()
            || memchr::memmem::find(run, b"\n\n").is_some()
        {
            return None;
        }
        Some((run.len(), memchr::memchr_iter(b'\n', run).count() as u64))
    }

    /// What is at the start of `buf`, the unconsumed bytes of the stream.
    pub(crate) fn next(&mut self, buf: &[u8]) -> Step {
        if buf.is_empty() {
            return Step::More;
        }
        match self.skip {
            Skip::Nothing => {}
            Skip::Bytes(n) => {
                let k = n.min(buf.len() as u64);
                self.skip = if k == n {
                    Skip::Nothing
                } else {
                    Skip::Bytes(n - k)
                };
                return Step::Skip(k as usize);
            }
            Skip::Line => {
                return match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        self.skip = Skip::Nothing;
                        Step::Skip(i + 1)
                    }
                    None => Step::Skip(buf.len()),
                };
            }
        }
        if self.mode == Mode::Detect {
            let blank = line_ends(buf);
            if blank > 0 {
                return Step::Skip(blank);
            }
            let digits = digits(buf);
            if digits == buf.len() && digits <= MAX_LEN_DIGITS {
                return Step::More;
            }
            self.mode = if (1..=MAX_LEN_DIGITS).contains(&digits) && buf[digits] == b' ' {
                Mode::Octets
            } else {
                Mode::Lines
            };
        }
        match self.mode {
            Mode::Octets => self.octets(buf),
            _ => self.line(buf, false),
        }
    }

    pub(super) fn line(&mut self, buf: &[u8], bad: bool) -> Step {
        // A message of exactly `max` bytes may still end with `\r\n`.
        let window = &buf[..buf.len().min(self.max + 2)];
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                let end = if i > 0 && buf[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                if end == 0 {
                    return Step::Skip(i + 1);
                }
                let framed = Framed {
                    msg: 0..end.min(self.max),
                    cut: end > self.max,
                    bad,
                };
                Step::Msg(framed, i + 1)
            }
            None if buf.len() >= self.max + 2 => {
                self.skip = Skip::Line;
                let framed = Framed {
                    msg: 0..self.max,
                    cut: true,
                    bad,
                };
                Step::Msg(framed, self.max)
            }
            None => Step::More,
        }
    }

    pub(super) fn octets(&mut self, buf: &[u8]) -> Step {
        // Some senders end each frame with a line feed as well.
        let blank = line_ends(buf);
        if blank > 0 {
            return Step::Skip(blank);
        }
        let Some((len, start)) = (match octet_header(buf) {
            Header::Incomplete => return Step::More,
            Header::Bad => None,
            Header::Len(len, start) => Some((len, start)),
        }) else {
            return self.line(buf, true);
        };
        let have = (buf.len() - start) as u64;
        if len > self.max as u64 {
            if have < self.max as u64 {
                return Step::More;
            }
            self.skip = Skip::Bytes(len - self.max as u64);
            let framed = Framed {
                msg: start..start + self.max,
                cut: true,
                bad: false,
            };
            return Step::Msg(framed, start + self.max);
        }
        if have < len {
            return Step::More;
        }
        let used = start + len as usize;
        let mut end = used;
        while end > start && matches!(buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end == start {
            return Step::Skip(used);
        }
        let framed = Framed {
            msg: start..end,
            cut: false,
            bad: false,
        };
        Step::Msg(framed, used)
    }

    /// The stream ended (or is being dropped) with `buf` unconsumed, after [`Framer::next`]
    /// asked for more: what is left is one last, incomplete message.
    pub(crate) fn finish(&mut self, buf: &[u8]) -> Option<Framed> {
        let skip = std::mem::replace(&mut self.skip, Skip::Nothing);
        if skip != Skip::Nothing {
            return None;
        }
        let start = line_ends(buf);
        let rest = &buf[start..];
        if rest.is_empty() {
            return None;
        }
        let (from, cut, bad) = match (self.mode, octet_header(rest)) {
            (Mode::Octets, Header::Len(_, body)) => (start + body, true, false),
            (Mode::Octets, _) => (start, false, true),
            _ => (start, false, false),
        };
        let mut end = buf.len();
        while end > from && matches!(buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end == from {
            return None;
        }
        let cut = cut || end - from > self.max;
        Some(Framed {
            msg: from..end.min(from + self.max),
            cut,
            bad,
        })
    }
}

pub(super) enum Header {
    Incomplete,
    Bad,
    /// Announced length, and where the message starts.
    Len(u64, usize),
}

pub(super) fn octet_header(buf: &[u8]) -> Header {
    let n = digits(buf);
    if n == buf.len() && n <= MAX_LEN_DIGITS {
        return Header::Incomplete;
    }
    if n == 0 || n > MAX_LEN_DIGITS || buf[n] != b' ' {
        return Header::Bad;
    }
    let len = buf[..n]
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Header::Len(len, n + 1)
}

pub(super) fn digits(buf: &[u8]) -> usize {
    buf.iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count()
}

pub(super) fn line_ends(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .count()
}

/// Frames messages from `buf` into `b` until `buf` holds no complete message or the batch is
/// full (the caller sends it and calls again). Returns the bytes consumed.
pub(crate) fn frame_some(
    framer: &mut Framer,
    buf: &[u8],
    peer: Option<SocketAddr>,
    b: &mut Batcher,
) -> usize {
    let mut used = 0;
    while !b.is_full() {
        if let Some((n, lines)) = framer.plain_run(&buf[used..], b.room()) {
            b.push_lines(&buf[used..used + n], lines, peer);
            framer.framed += lines;
            used += n;
            continue;
        }
        match framer.next(&buf[used..]) {
            Step::More => break,
            Step::Skip(n) => used += n,
            Step::Msg(f, n) => {
                push(b, &buf[used..], &f, peer);
                framer.framed += 1;
                used += n;
            }
        }
    }
    used
}

/// The last, incomplete message of a stream that ends with `buf` unconsumed.
pub(crate) fn finish_into(
    framer: &mut Framer,
    buf: &[u8],
    peer: Option<SocketAddr>,
    b: &mut Batcher,
) {
    if let Some(f) = framer.finish(buf) {
        push(b, buf, &f, peer);
    }
}

pub(super) fn push(b: &mut Batcher, buf: &[u8], f: &Framed, peer: Option<SocketAddr>) {
    if f.cut {
        b.outlet().truncated.inc();
    }
    if f.bad {
        b.outlet().parse_errors.inc();
    }
    b.push(&buf[f.msg.clone()], peer);
}

// ---------------------------------------------------------------------------------------------
// UDP
