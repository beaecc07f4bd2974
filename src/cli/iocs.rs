//! `iocd iocs`: load indicator files and report on them.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Subcommand;
use iocd::ioc::{load_plain_files, parse_indicator, refang};
use iocd::matcher::Scratch;

use super::{Feeds, load};

#[derive(Subcommand)]
pub enum IocsCmd {
    /// Counts by type and feed, rejected lines by reason, memory per indicator.
    Stats {
        /// Indicator files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print every rejected line.
        #[arg(long)]
        all_rejected: bool,
    },
    /// Print every indicator (and every source of it) that VALUE matches.
    Lookup {
        /// A value as it could stand in a log: an IP, domain, URL, hash, e-mail or text.
        /// Defanged forms are accepted.
        value: String,
        #[command(flatten)]
        feeds: Feeds,
    },
}

pub fn run(cmd: IocsCmd) -> Result<bool> {
    match cmd {
        IocsCmd::Stats {
            files,
            all_rejected,
        } => stats(&files, all_rejected),
        IocsCmd::Lookup { value, feeds } => lookup(&value, &feeds),
    }
}

fn stats(files: &[PathBuf], all_rejected: bool) -> Result<bool> {
    let t = Instant::now();
    let (set, report) = load_plain_files(files)?;
    let took = t.elapsed();
    let mut out = io::stdout().lock();
    if all_rejected {
        for r in &report.rejected {
            writeln!(out, "rejected  {r}")?;
        }
    }
    writeln!(
        out,
        "{:<24} {:>10} {:>10}  location",
        "feed", "accepted", "rejected"
    )?;
    for f in &report.feeds {
        writeln!(
            out,
            "{:<24} {:>10} {:>10}  {}",
            f.name, f.accepted, f.rejected, f.location
        )?;
    }
    writeln!(out)?;
    writeln!(out, "indicators        {}", set.len())?;
    for (k, n) in set.counts() {
        if n > 0 {
            writeln!(out, "  {:<15} {n}", k.as_str())?;
        }
    }
    writeln!(out, "listings          {}", report.listings)?;
    writeln!(
        out,
        "merged            {} (listed by more than one line or feed)",
        report.merged
    )?;
    writeln!(out, "rejected          {}", report.rejected.len())?;
    let mut by_reason = std::collections::BTreeMap::new();
    for r in &report.rejected {
        *by_reason.entry(r.reason.code()).or_insert(0u64) += 1;
    }
    for (reason, n) in by_reason {
        writeln!(out, "  {reason:<15} {n}")?;
    }
    let bytes = set.heap_bytes();
    writeln!(out, "memory            {bytes} bytes")?;
    if !set.is_empty() {
        writeln!(
            out,
            "bytes/indicator   {:.1}",
            bytes as f64 / set.len() as f64
        )?;
    }
    writeln!(out, "load+compile      {:.3} s", took.as_secs_f64())?;
    Ok(true)
}

fn lookup(value: &str, feeds: &Feeds) -> Result<bool> {
    let (set, _) = load(&feeds.iocs, feeds.all_rejected)?;
    let value = refang(value.trim());
    let mut hits = Vec::new();
    set.scan(value.as_bytes(), &mut Scratch::new(), &mut hits);
    let mut ids: Vec<_> = hits.iter().map(|h| h.id).collect();
    // The value may be an indicator no token matches as such, e.g. a network `10.0.0.0/8`.
    if let Some(id) = parse_indicator(&value).ok().and_then(|p| set.find(&p)) {
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    let mut out = io::stdout().lock();
    for id in &ids {
        writeln!(out, "{}\t{}", set.kind(*id), set.pattern(*id))?;
        for s in set.sources(*id) {
            let f = &set.feeds()[s.feed as usize];
            writeln!(out, "\tfeed {} ({}:{})", f.name, f.location, s.line)?;
        }
    }
    Ok(!ids.is_empty())
}
