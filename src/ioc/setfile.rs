//! Compiled set files on disk: written whole and atomically by `iocd iocs compile`, read by
//! mapping them (`iocd scan --set`, `iocd iocs lookup --set`, the daemon's `compiled_set`).
//!
//! The format and its checks are the engine's ([`IocSet::from_bytes`]); this module does the
//! I/O. A mapped file is shared: every process that maps the same file uses the same page
//! cache pages, and loading a million indicators is a checksum pass over the file, not a
//! parse.
//!
//! # A file changed under a mapping
//!
//! `iocd iocs compile` never rewrites a file in place: it writes a temporary file beside it
//! and renames it over the old one, so a process that mapped the old file keeps the old inode
//! and reads it to the end. Something else may still truncate the file in place (`cp` over
//! it, `truncate`, a full disk while copying): the pages past the new end are then gone, and
//! touching them raises SIGBUS, which kills a process by default. iocd installs a SIGBUS
//! handler ([`guard`]) that, for an address inside a mapped set file, maps a page of zeros
//! over the missing page and lets the read go on; every such page is counted
//! ([`faulted_pages`]), the daemon logs it and counts it (`iocd_set_file_faulted_pages_total`), and
//! the next reload maps the file anew. The engine bounds every index it reads, so zeros (or
//! any bytes) give wrong answers at worst, never a crash. Addresses outside mapped set files
//! go to the handler that was there before (Rust's own, for stack overflows) or to the default
//! action.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use iocd_engine::{Backing, FileError, IocSet, SetFile};
use serde::{Deserialize, Serialize};

/// What `iocd iocs compile` stores beside the set: where it came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// Unix seconds.
    pub compiled_at: i64,
    /// `iocd --version` of the compiler.
    pub compiled_by: String,
    /// The configuration whose feeds and allowlists were compiled, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Feeds: name, location, indicators accepted.
    #[serde(default)]
    pub feeds: Vec<ProvenanceFeed>,
    /// Allowlists applied: name and location.
    #[serde(default)]
    pub allowlists: Vec<String>,
    /// Records rejected while compiling (invalid, rails, allowlists).
    #[serde(default)]
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProvenanceFeed {
    pub name: String,
    pub location: String,
    pub format: String,
    pub accepted: u64,
    pub rejected: u64,
}

/// Why a set file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SetFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Format { path: PathBuf, source: FileError },
}

/// A set read from a file, with what is known of the file.
pub struct Opened {
    pub set: IocSet,
    pub provenance: Option<Provenance>,
    /// The bytes the set uses: keep them to read the set again ([`SetBytes::reopen`]).
    pub bytes: SetBytes,
    /// Opening, mapping and checking it.
    pub took: Duration,
}

/// A read-only shared mapping of a set file, registered with the SIGBUS [`guard`] while it
/// lives.
struct Mapped {
    map: memmap2::Mmap,
    slot: usize,
}

impl Backing for Mapped {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        guard::unregister(self.slot);
    }
}

/// The bytes of an opened set file: a shared mapping, or a private copy.
#[derive(Clone)]
pub struct SetBytes {
    backing: Arc<dyn Backing>,
    slot: Option<usize>,
    /// The slot's fault count when mapped (see [`SetBytes::damaged_pages`]).
    faults_at_open: u64,
    /// (device, inode, mtime in ns) of the file when it was opened.
    pub stamp: (u64, u64, i128),
}

impl SetBytes {
    /// Bytes of the file.
    pub fn len(&self) -> u64 {
        self.backing.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the tables are used from a shared mapping (else from a private copy).
    pub fn mapped(&self) -> bool {
        self.slot.is_some()
    }

    /// Pages of this mapping that went missing under it (the file was truncated in place)
    /// and read as zeros since: a set that lost pages can miss what it should find.
    pub fn damaged_pages(&self) -> u64 {
        self.slot.map_or(0, |s| {
            guard::slot_faults(s).saturating_sub(self.faults_at_open)
        })
    }

    /// The checksum the file's header holds: two files with the same one hold the same set.
    pub fn checksum(&self) -> u64 {
        self.backing
            .bytes()
            .get(24..32)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// The set again from the same bytes, checked again (a checksum pass: milliseconds).
    pub fn reopen(&self) -> Result<IocSet, FileError> {
        IocSet::from_bytes(Arc::clone(&self.backing)).map(|f| f.set)
    }
}

/// Opens `path` and uses it in place (see the module's documentation). A file on a
/// filesystem that cannot be mapped (some FUSE and network filesystems) is read into memory
/// instead; so is one when every guard slot is taken (64 sets mapped at once).
pub fn open(path: &Path) -> Result<Opened, SetFileError> {
    let t = Instant::now();
    let io = |source| SetFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(io::Error::other("not a regular file")));
    }
    let stamp = file_stamp(&meta);
    // SAFETY: the mapping is read-only and shared; the file changing under it is handled as
    // the module documentation says (renames keep the old inode; truncation is caught by the
    // SIGBUS guard, and the engine bounds every read).
    let mapped = guard::install()
        .then(|| unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok())
        .flatten()
        .and_then(|map| {
            let slot = guard::register(map.as_ptr() as usize, map.len())?;
            Some(Mapped { map, slot })
        });
    let bytes = match mapped {
        Some(m) => SetBytes {
            slot: Some(m.slot),
            faults_at_open: guard::slot_faults(m.slot),
            backing: Arc::new(m),
            stamp,
        },
        None => SetBytes {
            backing: Arc::new(std::fs::read(path).map_err(io)?),
            slot: None,
            faults_at_open: 0,
            stamp,
        },
    };
    let SetFile { set, note, .. } =
        IocSet::from_bytes(Arc::clone(&bytes.backing)).map_err(|source| SetFileError::Format {
            path: path.to_owned(),
            source,
        })?;
    Ok(Opened {
        set,
        provenance: serde_json::from_slice(&note).ok(),
        bytes,
        took: t.elapsed(),
    })
}

/// (device, inode, modification time in ns): moves when the file is replaced or rewritten.
pub fn file_stamp(meta: &std::fs::Metadata) -> (u64, u64, i128) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.dev(),
        meta.ino(),
        i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    )
}

/// Writes `set` with `provenance` to `path` atomically: a temporary file beside it, synced,
/// renamed over the old one (processes that mapped the old file keep reading it).
pub fn write(path: &Path, set: &IocSet, provenance: &Provenance) -> io::Result<u64> {
    let note = serde_json::to_vec(provenance).map_err(io::Error::other)?;
    let bytes = set.to_bytes(&note);
    crate::statefile::write_atomic(path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Pages of mapped set files that went missing under a reader (the file was truncated in
/// place) and were replaced by zeros, since the process started.
pub fn faulted_pages() -> u64 {
    guard::FAULTS.load(Ordering::Relaxed)
}

impl Provenance {
    /// The provenance of a set compiled now by this build.
    pub fn now(config: Option<&Path>) -> Provenance {
        Provenance {
            compiled_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            compiled_by: format!("iocd {}", crate::VERSION),
            config: config.map(|p| p.display().to_string()),
            ..Provenance::default()
        }
    }
}

/// The SIGBUS handler for mapped set files.
pub(crate) mod guard {
    use super::*;

    const SLOTS: usize = 64;
    /// (start, length) of each mapped set file; 0 length: free.
    static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    /// Pages replaced per slot, ever (a slot's count only grows; a new mapping in the slot
    /// starts from where it stands).
    static SLOT_FAULTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
    pub(super) static FAULTS: AtomicU64 = AtomicU64::new(0);
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The action that was installed before ours, for addresses that are not ours.
    static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

    /// Installs the handler once per process; false if it could not be (the caller then
    /// reads files into memory instead of mapping them).
    pub(crate) fn install() -> bool {
        *INSTALLED.get_or_init(|| {
            // SAFETY: sysconf and sigaction are called with valid arguments; PREVIOUS is
            // written once, here, before the handler that reads it is installed.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE);
                if page > 0 {
                    PAGE.store(page as usize, Ordering::Relaxed);
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_sigbus as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                let prev = &raw mut PREVIOUS;
                libc::sigaction(libc::SIGBUS, &new, (*prev).as_mut_ptr()) == 0
            }
        })
    }

    pub(super) fn register(start: usize, len: usize) -> Option<usize> {
        for (i, l) in LENS.iter().enumerate() {
            // Claim a free slot: length 0 -> usize::MAX (taken, not yet valid).
            if l.compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                STARTS[i].store(start, Ordering::Release);
                l.store(len.max(1), Ordering::Release);
                return Some(i);
            }
        }
        None
    }

    pub(super) fn slot_faults(slot: usize) -> u64 {
        SLOT_FAULTS[slot].load(Ordering::Relaxed)
    }

    pub(super) fn unregister(slot: usize) {
        STARTS[slot].store(0, Ordering::Release);
        LENS[slot].store(0, Ordering::Release);
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // Only atomics, mmap and the previous handler here: async-signal-safe.
        // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        // A SIGBUS sent by a process (`kill -BUS`) is no fault of ours: SI_USER and the other
        // sender codes are zero or negative.
        // SAFETY: as above.
        let from_kernel = unsafe { (*info).si_code } > 0;
        for i in (0..SLOTS).filter(|_| from_kernel) {
            let len = LENS[i].load(Ordering::Acquire);
            let start = STARTS[i].load(Ordering::Acquire);
            if len == 0 || len == usize::MAX || addr < start || addr - start >= len {
                continue;
            }
            let page_size = PAGE.load(Ordering::Relaxed);
            let page = addr & !(page_size - 1);
            // Everything from the lost page to the end of the mapping in one mapping of zeros:
            // the file lost all of it (truncation cuts the end), and one mapping per fault
            // could run the process out of mappings (`vm.max_map_count`).
            let end = (start + len).next_multiple_of(page_size);
            // SAFETY: the range lies inside a live mapping of ours (registered until the map
            // is dropped); replacing it with private zero pages keeps the range mapped, and
            // unmapping the whole range later removes these pages too.
            let p = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    end - page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                FAULTS.fetch_add(1, Ordering::Relaxed);
                SLOT_FAULTS[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // Not ours: what was there before.
        // SAFETY: PREVIOUS was written before this handler was installed.
        unsafe {
            let prev: libc::sigaction = std::ptr::read((&raw const PREVIOUS).cast());
            let h = prev.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                // Back to the default action; returning re-runs the access, which then
                // terminates the process as it would have without us.
                libc::signal(sig, libc::SIG_DFL);
            } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
                f(sig);
            }
        }
    }
}
