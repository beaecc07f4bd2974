//! A file followed like `tail -F`: through rotation, truncation, and absence.
//!
//! The follower polls (every [`POLL`]) instead of asking the kernel for change events: one
//! `stat` a quarter of a second is nothing, and polling behaves the same on every file system
//! (NFS, overlayfs, bind mounts) where inotify does not. Each round it reads what the open file
//! has, then compares the path with the open file:
//!
//! * the path names another file (rename + create, the default of logrotate): read the old
//!   file to its end, then follow the new one from its start;
//! * the file is shorter than what was read (copytruncate): start again at 0;
//! * the path is gone: keep the old file open and wait for a new one.
//!
//! A last line without its line feed waits for it; it is sent alone only when the file is
//! replaced or at shutdown. Reading blocks, so the follower is a blocking task, and when the
//! queue is full it simply waits, which stops the reading.
//!
//! Lines appended to the old file after the new one was picked up are not read (the writer
//! should have reopened by then; `tail -F` makes the same bet).
//!
//! # Zeek TSV
//!
//! A Zeek ASCII log names its columns once, in the `#fields` line at its top. The batcher keeps
//! the header of the file being followed (see `Batcher::track_zeek`) and every batch carries
//! it, so a hit in a Zeek line is decoded with the right column names. A replaced file starts
//! with no header (its own comes with its first lines); a truncated one keeps it (a writer
//! that goes on after copytruncate writes no other). A file followed from its end has its
//! leading `#` lines read once when it is opened: its header was written long before the
//! lines the follower will read.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Batcher, Closed, LineReader};
use crate::config::FileSourceConfig;
use crate::model::Shutdown;

/// How often a file that has nothing new is checked again.
pub(crate) const POLL: Duration = Duration::from_millis(250);
/// Read at most this much before checking for rotation and shutdown again.
const ROUND_BYTES: u64 = 16 << 20;

pub(crate) fn spawn(cfg: &FileSourceConfig, b: Batcher, shutdown: Shutdown) -> JoinHandle<()> {
    let mut f = Follower {
        path: cfg.path.clone(),
        b,
        lines: LineReader::new(),
        cur: None,
        complaint: None,
    };
    let from_beginning = cfg.from_beginning;
    tokio::task::spawn_blocking(move || {
        // Closed: the queue is gone, the pipeline is stopping.
        let _ = f.run(from_beginning, &shutdown);
    })
}

struct OpenFile {
    file: File,
    /// (device, inode): which file this is, whatever its name now.
    id: (u64, u64),
    /// Bytes of it read so far (or skipped, when starting at its end).
    pos: u64,
}

struct Follower {
    path: PathBuf,
    b: Batcher,
    lines: LineReader,
    cur: Option<OpenFile>,
    /// The last error reported, so that a lasting one is logged once.
    complaint: Option<String>,
}

/// Longest header read from the top of a file followed from its end.
const HEADER_BYTES: usize = 64 << 10;

/// Feeds the `#` lines at the top of `file` (a Zeek log's header) to the batcher, without
/// moving the file's position; lines are not sent, they were written before we came.
fn read_header(file: &File, b: &mut Batcher) {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; HEADER_BYTES];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let mut rest = &buf[..n];
    while rest.first() == Some(&b'#') {
        let Some(end) = memchr::memchr(b'\n', rest) else {
            break;
        };
        b.read_header_line(&rest[..=end]);
        rest = &rest[end + 1..];
    }
}

impl Follower {
    fn run(&mut self, from_beginning: bool, shutdown: &Shutdown) -> Result<(), Closed> {
        self.cur = self.open(!from_beginning);
        if let Some(cur) = &self.cur
            && cur.pos > 0
        {
            read_header(&cur.file, &mut self.b);
        }
        if self.cur.is_none() {
            info!(path = %self.path.display(), "waiting for the file to appear");
        }
        while !shutdown.is_cancelled() {
            let got = self.read_available(shutdown)?;
            self.check_path(shutdown)?;
            if got == 0 {
                std::thread::sleep(POLL);
            }
        }
        self.lines.finish(&mut self.b)
    }

    /// Opens the path, at its end or its start; `None` when it cannot be opened now.
    fn open(&mut self, at_end: bool) -> Option<OpenFile> {
        let opened = File::open(&self.path).and_then(|mut file| {
            let meta = file.metadata()?;
            let pos = if at_end {
                file.seek(SeekFrom::End(0))?
            } else {
                0
            };
            Ok(OpenFile {
                file,
                id: (meta.dev(), meta.ino()),
                pos,
            })
        });
        match opened {
            Ok(f) => {
                self.complaint = None;
                self.lines.set_pos(f.pos);
                Some(f)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.complain("cannot open", &e);
                None
            }
        }
    }

    fn complain(&mut self, what: &str, e: &io::Error) {
        let msg = format!("{what}: {e}");
        if self.complaint.as_deref() != Some(msg.as_str()) {
            warn!(path = %self.path.display(), error = %e, "{what}");
            self.complaint = Some(msg);
        }
    }

    /// Reads what the open file has now into batches; the bytes read.
    fn read_available(&mut self, shutdown: &Shutdown) -> Result<u64, Closed> {
        let Follower {
            b,
            lines,
            cur,
            path,
            ..
        } = self;
        let Some(cur) = cur else { return Ok(0) };
        let mut total = 0;
        while total < ROUND_BYTES && !shutdown.is_cancelled() {
            match lines.fill(&mut cur.file, b.outlet()) {
                Ok(0) => break,
                Ok(n) => {
                    cur.pos += n as u64;
                    total += n as u64;
                    lines.drain(b)?;
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "read failed");
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Notices rotation, truncation, and a file that appeared.
    fn check_path(&mut self, shutdown: &Shutdown) -> Result<(), Closed> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Moved away and not yet replaced: keep reading the old file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.complain("cannot stat", &e);
                return Ok(());
            }
        };
        let id = (meta.dev(), meta.ino());
        match &mut self.cur {
            None => {
                self.cur = self.open(false);
                if self.cur.is_some() {
                    info!(path = %self.path.display(), "file appeared");
                }
            }
            Some(cur) if cur.id != id => {
                // What was written between the last read and the rename.
                while self.read_available(shutdown)? > 0 {}
                self.lines.finish(&mut self.b)?;
                self.b.reset_zeek();
                self.cur = self.open(false);
                info!(path = %self.path.display(), "file rotated, following the new one");
            }
            Some(cur) if meta.len() < cur.pos => {
                if let Err(e) = cur.file.seek(SeekFrom::Start(0)) {
                    self.complain("cannot seek", &e);
                    return Ok(());
                }
                cur.pos = 0;
                // The half line was copied away with the rest before the cut.
                // The Zeek header stays: a writer that goes on after copytruncate writes no
                // new one, and a new writer's `#fields` replaces it anyway.
                self.lines.reset();
                info!(path = %self.path.display(), "file truncated, reading from its start");
            }
            Some(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;
    use crate::source::testing;

    #[test]
    fn a_file_followed_from_its_end_gets_the_header_at_its_top() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dns.log");
        std::fs::write(
            &path,
            "#separator \\x09\n#path\tdns\n#fields\tts\tquery\n#types\ttime\tstring\n1\ta.example\n",
        )
        .unwrap();
        let (mut b, rx, _m) = testing::batcher(SourceKind::File, 4096, 16);
        b.track_zeek();
        let file = File::open(&path).unwrap();
        read_header(&file, &mut b);
        b.push(b"2\tb.example", None);
        b.flush_blocking().unwrap();
        let got = rx.try_recv().unwrap();
        assert_eq!(got.buf, b"2\tb.example\n", "the header is read, not sent");
        let h = got.zeek.expect("the header is in effect");
        assert_eq!(h.fields(), ["ts", "query"]);
        assert_eq!(h.path(), Some("dns"));
        // A file that does not start with a header changes nothing.
        std::fs::write(&path, "x\n#fields\tquery\n").unwrap();
        let (mut b, rx, _m) = testing::batcher(SourceKind::File, 4096, 16);
        b.track_zeek();
        read_header(&File::open(&path).unwrap(), &mut b);
        b.push(b"y", None);
        b.flush_blocking().unwrap();
        assert!(rx.try_recv().unwrap().zeek.is_none());
    }
}
