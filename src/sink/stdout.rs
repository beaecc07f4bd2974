//! Standard output: JSON lines, for a pipe, a container log or journald.
//!
//! Writes go through the process's `Stdout` (its lock keeps lines whole if anything else
//! prints), one `write` per batch; the batching itself happens in the file sink's task, which
//! runs standard output too.

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
        write_from(&mut lock, buf, done)?;
        lock.flush()
    }
}

/// Writes `buf[*done..]`, advancing `done` with every byte that went out, so a retry after
/// an error resumes where the last attempt stopped instead of duplicating lines.
pub(super) fn write_from(w: &mut impl Write, buf: &[u8], done: &mut usize) -> io::Result<()> {
    while *done < buf.len() {
        match w.write(&buf[*done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
