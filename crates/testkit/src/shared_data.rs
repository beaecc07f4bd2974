//! The real logs, feeds and allowlists in `../shared/data`, for the tests that read them.
//! They are not part of the repository: a test that needs them says it was skipped when the
//! folder is not there.

use std::path::{Path, PathBuf};

/// `../shared/data` beside the repository, or `None` (after saying so) when it is absent.
pub fn dir() -> Option<PathBuf> {
    let d = crate::repo_root().join("../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipped: ../shared/data not found");
        None
    }
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
