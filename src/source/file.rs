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

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Batcher, Closed, LineReader};
use crate::config::FileSourceConfig;
use crate::pipeline::Shutdown;

/// How often a file that has nothing new is checked again.
pub const POLL: Duration = Duration::from_millis(250);
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

impl Follower {
    fn run(&mut self, from_beginning: bool, shutdown: &Shutdown) -> Result<(), Closed> {
        self.cur = self.open(!from_beginning);
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
                self.lines.reset();
                info!(path = %self.path.display(), "file truncated, reading from its start");
            }
            Some(_) => {}
        }
        Ok(())
    }
}
