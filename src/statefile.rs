//! iocd's own state files, and what a crash (SIGKILL, power loss) may leave of them.
//!
//! Files iocd replaces (the feedback marks, a URL feed's cached copy and its validators) are
//! written whole through a temporary file beside them, `.<name>.tmp<pid>`, then renamed over
//! the old one ([`write_atomic`]): a crash leaves the old file or the new one, and at worst
//! the temporary file. At start, [`remove_leftovers`] removes those, and only those: the
//! exact pattern of iocd's own temporary names for a state file the configuration names.
//!
//! Files iocd appends to (sightings JSON lines) get whole lines in one write, but a crash in
//! the middle of a write can still leave half a line; [`repair_partial_line`] cuts it before
//! the next append, so that a new record is never glued to a broken one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

fn dir_and_name(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "state".to_owned(), |n| n.to_string_lossy().into_owned());
    (dir, name)
}

/// The temporary file an atomic write of `path` goes through: `.<name>.tmp<pid>` beside it.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let (dir, name) = dir_and_name(path);
    dir.join(format!(".{name}.tmp{}", std::process::id()))
}

/// Writes `bytes` to [`temp_path`], syncs it and renames it over `path`, then syncs the
/// folder: a crash leaves the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir_and_name(path).0) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `file_name` is a temporary file of an atomic write of the state file `name`:
/// `.<name>.tmp<pid>`, or `<name>.tmp` (what the feed cache used before).
fn is_leftover(file_name: &str, name: &str) -> bool {
    if file_name == format!("{name}.tmp") {
        return true;
    }
    file_name
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes what killed processes left of atomic writes of each of `state` (see
/// `is_leftover`), logging each file (WARN); returns the files removed. Call it at start,
/// before anything writes these files.
pub(crate) fn remove_leftovers(state: &[PathBuf]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for path in state {
        let (dir, name) = dir_and_name(path);
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if !is_leftover(file_name, &name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let leftover = entry.path();
            match std::fs::remove_file(&leftover) {
                Ok(()) => {
                    warn!(path = %leftover.display(), state = %path.display(),
                        "removed a temporary file an interrupted write left behind");
                    removed.push(leftover);
                }
                Err(e) => warn!(path = %leftover.display(), error = %e,
                    "cannot remove a temporary file an interrupted write left behind"),
            }
        }
    }
    removed
}

/// Cuts a partial last line (one without its newline) from the file at `path`, so that what
/// is appended next starts a line of its own; returns how many bytes were cut (0 when the
/// file ends with a newline, is empty or does not exist). Logs a WARN with the byte count.
pub(crate) fn repair_partial_line(path: &Path) -> io::Result<u64> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(0);
    }
    // Back from the end, a block at a time, to the last newline.
    const BLOCK: u64 = 64 * 1024;
    let mut end = len;
    let mut keep = 0;
    let mut buf = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    f.set_len(keep)?;
    f.sync_all()?;
    let cut = len - keep;
    warn!(path = %path.display(), bytes = cut,
        "cut a partial last line an interrupted write left behind");
    Ok(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_temporary_names_are_leftovers() {
        for (f, yes) in [
            (".feedback.json.tmp12345", true),
            (".feedback.json.tmp1", true),
            ("feedback.json.tmp", true),
            (".feedback.json.tmp", false),
            (".feedback.json.tmpx1", false),
            (".feedback.json.bak.tmp1", false),
            ("feedback.json", false),
            (".other.json.tmp12", false),
        ] {
            assert_eq!(is_leftover(f, "feedback.json"), yes, "{f}");
        }
    }

    #[test]
    fn leftovers_are_removed_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("feedback.json");
        for f in [
            "feedback.json",
            ".feedback.json.tmp999",
            ".feedback.json.tmp42",
            "notes.tmp1",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let mut removed = remove_leftovers(std::slice::from_ref(&state));
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.path().join(".feedback.json.tmp42"),
                dir.path().join(".feedback.json.tmp999")
            ]
        );
        assert!(state.exists() && dir.path().join("notes.tmp1").exists());
        write_atomic(&state, b"new").unwrap();
        assert_eq!(std::fs::read(&state).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_partial_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        assert_eq!(repair_partial_line(&p).unwrap(), 0);
        std::fs::write(&p, "{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(repair_partial_line(&p).unwrap(), 5);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n");
        assert_eq!(repair_partial_line(&p).unwrap(), 0);
        // No newline at all, longer than a block: all of it goes.
        std::fs::write(&p, "x".repeat(200_000)).unwrap();
        assert_eq!(repair_partial_line(&p).unwrap(), 200_000);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    }
}
