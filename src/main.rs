//! The `iocd` command line: `scan` (retro-hunt over files or stdin) and `iocs` (load, stats,
//! lookup). Exit status follows grep: 0 something matched, 1 nothing matched, 2 error.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use iocd::IocSet;
use iocd::ioc::{LoadReport, load_plain_files, parse_indicator, refang};
use iocd::matcher::{IocKind, Scratch};
use iocd::scan::{Output, ScanOptions, ScanStats, scan_reader};

#[derive(Parser)]
#[command(
    name = "iocd",
    version,
    about = "Match logs against threat-intelligence indicators"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Retro-hunt: print one ECS JSON alert per log line that matches an indicator.
    Scan(ScanArgs),
    /// Load indicator files and report on them.
    #[command(subcommand)]
    Iocs(IocsCmd),
}

#[derive(Args)]
struct Feeds {
    /// Indicator file (plain list, one indicator per line, type inferred). Repeat for more
    /// feeds; the same indicator in several files is one indicator with several sources.
    #[arg(long = "iocs", short = 'i', value_name = "FILE", required = true)]
    iocs: Vec<PathBuf>,
    /// Print every rejected feed line, not only the first 10.
    #[arg(long)]
    all_rejected: bool,
}

#[derive(Args)]
struct ScanArgs {
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

#[derive(Subcommand)]
enum IocsCmd {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Scan(a) => scan(a),
        Cmd::Iocs(IocsCmd::Stats {
            files,
            all_rejected,
        }) => stats(&files, all_rejected),
        Cmd::Iocs(IocsCmd::Lookup { value, feeds }) => lookup(&value, &feeds),
    };
    match result {
        Ok(true) => ExitCode::from(0),
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // A closed pipe (`iocd scan ... | head`) is the reader's choice, not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::from(0);
            }
            eprintln!("iocd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(feeds: &[PathBuf], all_rejected: bool) -> Result<(IocSet, LoadReport)> {
    let (set, report) = load_plain_files(feeds)?;
    print_rejected(&report, all_rejected);
    Ok((set, report))
}

fn print_rejected(report: &LoadReport, all: bool) {
    const SHOWN: usize = 10;
    let n = report.rejected.len();
    for r in report.rejected.iter().take(if all { n } else { SHOWN }) {
        eprintln!("iocd: warning: skipped {r}");
    }
    if !all && n > SHOWN {
        eprintln!(
            "iocd: warning: {} more lines skipped (see `iocd iocs stats --all-rejected`)",
            n - SHOWN
        );
    }
}

fn scan(a: ScanArgs) -> Result<bool> {
    let (set, _) = load(&a.feeds.iocs, a.feeds.all_rejected)?;
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
