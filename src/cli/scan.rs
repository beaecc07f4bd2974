//! `iocd scan`: the batch retro-hunt over files or standard input.

use std::fs::{File, Metadata};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use iocd::matcher::IocKind;
use iocd::scan::{
    Globs, Input, Output, ScanOptions, ScanStats, Source, WalkOptions, decompressed, expand,
    scan_reader,
};

use super::{Feeds, Reported, load, print_rejected, require_indicators};

#[derive(Args)]
pub struct ScanArgs {
    #[command(flatten)]
    feeds: Feeds,
    /// Log files or folders to scan; standard input when none is given or for `-`. Folders are
    /// walked recursively in name order; gzip, zstd, bzip2 and xz files (and standard input)
    /// are decompressed as they are read, recognised by their first bytes.
    #[arg(value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// In folders, scan only the files whose path (relative to the folder) or name matches
    /// this glob; `!GLOB` leaves matching files out. Repeatable. Files named on the command
    /// line are always scanned.
    #[arg(long = "glob", short = 'g', value_name = "GLOB")]
    globs: Vec<String>,
    /// In folders, also scan hidden files and folders (names starting with `.`).
    #[arg(long)]
    hidden: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j')]
    threads: Option<usize>,
    /// Print only the number of lines that matched (per file when there are several).
    #[arg(long, short = 'c')]
    count: bool,
    /// Print lines, bytes, hits by type and throughput to standard error at the end.
    #[arg(long)]
    stats: bool,
    /// Never draw a progress bar (one is drawn on a terminal for inputs over 64 MiB).
    #[arg(long)]
    no_progress: bool,
}

pub fn run(a: ScanArgs) -> Result<bool> {
    let globs = Globs::new(&a.globs).context("--glob")?;
    let loaded = load(&a.feeds)?;
    print_rejected(&loaded.report, a.feeds.all_rejected);
    require_indicators(&loaded)?;
    let set = loaded.set;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = ScanOptions {
        threads,
        output: if a.count {
            Output::Count
        } else {
            Output::Alerts
        },
    };
    let walk = WalkOptions {
        hidden: a.hidden,
        globs,
    };
    let inputs = expand(&a.logs, &walk);
    let several = inputs.len() > 1;
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut total = ScanStats::default();
    let mut failed = false;
    // Like grep: each input that cannot be read is reported once, and the others are scanned.
    let mut report = |name: &str, e: &io::Error| {
        failed = true;
        let _ = writeln!(io::stderr(), "iocd: {name}: {e}");
    };
    for input in &inputs {
        let (name, raw, meta): (String, Box<dyn io::Read + Send>, Option<Metadata>) = match input {
            Input::Failed(path, e) => {
                report(&path.display().to_string(), e);
                continue;
            }
            Input::Stdin => ("-".to_owned(), Box::new(io::stdin()), None),
            Input::File(path) => {
                let name = path.display().to_string();
                match File::open(path) {
                    Ok(f) => {
                        let meta = f.metadata().ok();
                        (name, Box::new(f), meta)
                    }
                    Err(e) => {
                        report(&name, &e);
                        continue;
                    }
                }
            }
        };
        let shown = if name == "-" {
            "(standard input)"
        } else {
            &name
        };
        let mut input = match decompressed(raw) {
            Ok((r, _)) => r,
            Err(e) => {
                report(shown, &e);
                continue;
            }
        };
        let size = meta.as_ref().map(Metadata::len);
        let source = Source {
            name: &name,
            modified: meta.and_then(|m| m.modified().ok()),
        };
        let bar = progress_bar(size, a.no_progress, &name);
        let mut tick = |done: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let scanned = scan_reader(&set, &mut *input, &source, &opts, &mut out, &mut tick)?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if let Some(e) = &scanned.input_error {
            // What was read before the error is scanned and written before the report.
            out.flush()?;
            report(shown, e);
        }
        let stats = scanned.stats;
        if a.count {
            if several {
                writeln!(out, "{name}:{}", stats.hit_lines)?;
            } else {
                writeln!(out, "{}", stats.hit_lines)?;
            }
        }
        total.add(&stats);
    }
    out.flush()?;
    if a.stats {
        print_stats(&total, set.len());
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(total.hit_lines > 0)
}

fn progress_bar(size: Option<u64>, disabled: bool, name: &str) -> Option<indicatif::ProgressBar> {
    let size = size?;
    if disabled || size < 64 << 20 || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(name.to_owned());
    Some(bar)
}

fn print_stats(s: &ScanStats, indicators: usize) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "indicators  {indicators}");
    let _ = writeln!(e, "lines       {}", s.lines);
    let _ = writeln!(e, "bytes       {}", s.bytes);
    let _ = writeln!(e, "hit lines   {}", s.hit_lines);
    let _ = writeln!(e, "hits        {}", s.hits());
    for (k, n) in IocKind::ALL.iter().zip(s.hits_by_kind) {
        if n > 0 {
            let _ = writeln!(e, "  {:<9} {n}", k.as_str());
        }
    }
    let _ = writeln!(e, "seconds     {:.3}", s.elapsed.as_secs_f64());
    let _ = writeln!(e, "MB/s        {:.1}", s.mb_per_s());
}
