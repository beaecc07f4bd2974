//! The subcommands of the `iocd` binary, one file each. Each returns `Ok(true)` when
//! something matched (exit 0), `Ok(false)` when nothing did (exit 1); errors exit 2.

pub mod iocs;
pub mod run;
pub mod scan;

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use iocd::IocSet;
use iocd::ioc::{LoadReport, load_plain_files};

#[derive(Args)]
pub struct Feeds {
    /// Indicator file (plain list, one indicator per line, type inferred). Repeat for more
    /// feeds; the same indicator in several files is one indicator with several sources.
    #[arg(long = "iocs", short = 'i', value_name = "FILE", required = true)]
    pub iocs: Vec<PathBuf>,
    /// Print every rejected feed line, not only the first 10.
    #[arg(long)]
    pub all_rejected: bool,
}

pub fn load(feeds: &[PathBuf], all_rejected: bool) -> Result<(IocSet, LoadReport)> {
    let (set, report) = load_plain_files(feeds)?;
    print_rejected(&report, all_rejected);
    Ok((set, report))
}

pub fn print_rejected(report: &LoadReport, all: bool) {
    const SHOWN: usize = 10;
    let kept = report.rejected.len();
    let shown = if all { kept } else { kept.min(SHOWN) };
    for r in &report.rejected[..shown] {
        eprintln!("iocd: warning: skipped {r}");
    }
    // Counted, not all kept: a feed keeps its first `keep_rejected` records.
    let more = report.rejected_count().max(kept as u64) - shown as u64;
    if more > 0 {
        eprintln!(
            "iocd: warning: {more} more lines skipped (see `iocd iocs stats --all-rejected`)"
        );
    }
}
