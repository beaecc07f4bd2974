//! `iocd scan`: the batch retro-hunt over files or standard input.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use iocd::matcher::IocKind;
use iocd::scan::{Output, ScanOptions, ScanStats, scan_reader};

use super::{Feeds, load, print_rejected, require_indicators};

#[derive(Args)]
pub struct ScanArgs {
    #[command(flatten)]
    feeds: Feeds,
    /// Log files to scan; standard input when none is given or for `-`.
    #[arg(value_name = "LOG")]
    logs: Vec<PathBuf>,
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
    let logs = if a.logs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.logs.clone()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut total = ScanStats::default();
    for path in &logs {
        let name = path.display().to_string();
        let (mut input, size): (Box<dyn io::Read + Send>, Option<u64>) = if name == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let f = File::open(path).with_context(|| format!("cannot open {name}"))?;
            let size = f.metadata().ok().map(|m| m.len());
            (Box::new(f), size)
        };
        let bar = progress_bar(size, a.no_progress, &name);
        let mut tick = |done: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let stats = scan_reader(&set, &mut *input, &name, &opts, &mut out, &mut tick)
            .with_context(|| format!("while scanning {name}"))?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if a.count {
            if logs.len() > 1 {
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
