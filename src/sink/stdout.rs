//! Standard output: JSON lines, for a pipe, a container log or journald.
//!
//! Writes go through the process's `Stdout` (its lock keeps lines whole if anything else
//! prints), one `write` per batch; the batching itself happens in `file::run`.

use std::io::{self, Write};

pub(super) struct Stdout {
    out: io::Stdout,
}

impl Stdout {
    pub(super) fn new() -> Stdout {
        Stdout { out: io::stdout() }
    }

    /// Writes `buf[*done..]`, advancing `done` as bytes go out, then flushes.
    pub(super) fn write_from(&mut self, buf: &[u8], done: &mut usize) -> io::Result<()> {
        let mut lock = self.out.lock();
        super::file::write_from(&mut lock, buf, done)?;
        lock.flush()
    }
}
