//! `iocd scan`: the batch retro-hunt over files or standard input.

use std::cell::Cell;
use std::fs::{File, Metadata};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use iocd::config::AlertFormat;
use iocd::scan::{
    Counted, Globs, Input, Output, ScanOptions, ScanState, ScanStats, ScanTriage, Source,
    WalkOptions, decompressed, expand, scan_reader,
};
use iocd::triage::assets::Assets;
use iocd::triage::{Suppressed, Tally};
use iocd_engine::IocKind;

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
    /// How hits are written: `text` for people (`file:line:`, the line with its matches
    /// highlighted, the indicators with kind and feeds), `ecs` (the daemon's JSON alerts),
    /// `ocsf`, `cef`; `json` is `ecs`, and with --summary the rows as JSON lines. Default:
    /// `text` on a terminal, `ecs` otherwise (--summary: a table unless `json` or `ecs`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
    /// Colour the text output: `auto` (on a terminal, unless NO_COLOR is set), `always`,
    /// `never`.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    /// Print only the number of lines that matched (per file when there are several).
    #[arg(long, short = 'c', conflicts_with_all = ["files_with_matches", "only_matching", "summary"])]
    count: bool,
    /// Print only the names of the inputs with at least one matching line.
    #[arg(long, short = 'l', conflicts_with_all = ["only_matching", "summary"])]
    files_with_matches: bool,
    /// Print only the matched tokens, one per line, as `file:line:token`.
    #[arg(long, short = 'o', conflicts_with = "summary")]
    only_matching: bool,
    /// Instead of one output per hit, one row per indicator at the end: hit lines, files,
    /// first and last event time, distinct internal hosts, feeds.
    #[arg(long)]
    summary: bool,
    /// Alerts as the daemon would have sent them: scored, deduplicated, flood-guarded and
    /// routed by its triage (the `[triage]` of --config, else the defaults), in the time the
    /// lines say, with roll-ups and digests. Writes alerts (ecs, ocsf or cef; ecs by default).
    #[arg(long, conflicts_with_all = ["count", "files_with_matches", "only_matching", "summary"])]
    triage: bool,
    /// Print lines, bytes, hits by type and throughput to standard error at the end.
    #[arg(long)]
    stats: bool,
    /// Never draw the progress bar (drawn on standard error when it is a terminal).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Ecs,
    Ocsf,
    Cef,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

pub fn run(a: ScanArgs) -> Result<bool> {
    let globs = Globs::new(&a.globs).context("--glob")?;
    let loaded = load(&a.feeds)?;
    print_rejected(&loaded.report, a.feeds.all_rejected);
    require_indicators(&loaded)?;
    let set = loaded.set;
    let triage_cfg = loaded
        .config
        .as_ref()
        .map(|c| c.triage.clone())
        .unwrap_or_default();
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let terminal = io::stdout().is_terminal();
    let color = match a.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let output = if a.count || a.files_with_matches {
        Output::Count
    } else if a.only_matching {
        Output::OnlyMatching { color }
    } else if a.summary {
        Output::Summary
    } else {
        match a.format {
            Some(Format::Text) if a.triage => {
                bail!("--triage writes alerts: use --format ecs, ocsf or cef")
            }
            Some(Format::Text) => Output::Text { color },
            None if terminal && !a.triage => Output::Text { color },
            Some(Format::Ocsf) => Output::Alerts(AlertFormat::Ocsf),
            Some(Format::Cef) => Output::Alerts(AlertFormat::Cef),
            Some(Format::Ecs | Format::Json) | None => Output::Alerts(AlertFormat::Ecs),
        }
    };
    let opts = ScanOptions {
        threads,
        output,
        triage: a.triage,
        internal: loaded
            .config
            .as_ref()
            .map(|c| Arc::new(Assets::new(&c.triage))),
    };
    let mut state = ScanState {
        triage: a.triage.then(|| ScanTriage::new(&triage_cfg)),
        ..ScanState::default()
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
    let progress = Progress::start(&inputs, a.no_progress);
    // Like grep: each input that cannot be read is reported once, and the others are scanned.
    let mut report = |name: &str, e: &io::Error| {
        failed = true;
        progress.suspend(|| {
            let _ = writeln!(io::stderr(), "iocd: {name}: {e}");
        });
    };
    for input in &inputs {
        state.summary.next_input();
        let (name, raw, meta): (String, Box<dyn io::Read + Send>, Option<Metadata>) = match input {
            Input::Failed(path, e) => {
                report(&path.display().to_string(), e);
                progress.input_done(0, 0);
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
                        progress.input_done(0, 0);
                        continue;
                    }
                }
            }
        };
        // Progress counts the bytes read from the file, compressed or not.
        let read = Arc::new(AtomicU64::new(0));
        let raw: Box<dyn io::Read + Send> = Box::new(Counted::new(raw, read.clone()));
        let shown = if name == "-" {
            "(standard input)"
        } else {
            &name
        };
        let mut input = match decompressed(raw) {
            Ok((r, _)) => r,
            Err(e) => {
                report(shown, &e);
                progress.input_done(read.load(Ordering::Relaxed), 0);
                continue;
            }
        };
        let source = Source {
            name: &name,
            modified: meta.and_then(|m| m.modified().ok()),
        };
        let mut tick = |s: &ScanStats| progress.update(read.load(Ordering::Relaxed), s.hit_lines);
        let scanned = scan_reader(
            &set,
            &mut *input,
            &source,
            &opts,
            &mut out,
            &mut state,
            &mut tick,
        )?;
        progress.input_done(read.load(Ordering::Relaxed), scanned.stats.hit_lines);
        if let Some(e) = &scanned.input_error {
            // What was read before the error is scanned and written before the report.
            out.flush()?;
            report(shown, e);
        }
        let stats = scanned.stats;
        if a.files_with_matches {
            if stats.hit_lines > 0 {
                writeln!(out, "{shown}")?;
            }
        } else if a.count {
            if several {
                writeln!(out, "{name}:{}", stats.hit_lines)?;
            } else {
                writeln!(out, "{}", stats.hit_lines)?;
            }
        }
        total.add(&stats);
    }
    progress.finish();
    if a.summary {
        match a.format {
            Some(Format::Json | Format::Ecs) => state.summary.write_json(&set, &mut out)?,
            _ => state.summary.write_table(&set, &mut out)?,
        }
    }
    if let (Some(tr), Output::Alerts(format)) = (&mut state.triage, output) {
        // The windows and digests still open at the end of the scan.
        for o in tr.finish() {
            out.write_all(&iocd::alert::in_format(&iocd::alert::record(&o), format))?;
            out.write_all(b"\n")?;
        }
        if a.stats {
            print_triage(&tr.tally);
        }
    }
    out.flush()?;
    if a.stats {
        print_stats(&total, set.len());
    }
    // A set file truncated in place while this scan had it mapped: its lost pages read as
    // zeros, so the scan may have missed indicators. Said, and an error, never silent.
    let lost = iocd::ioc::setfile::faulted_pages();
    if lost > 0 {
        eprintln!(
            "iocd: error: the set file was truncated while this scan used it: {lost} page(s) \
             read as zeros, so indicators may have been missed; compile it again and rescan"
        );
        return Err(Reported.into());
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(total.hit_lines > 0)
}

/// One progress bar over every input of a scan, on standard error when it is a terminal:
/// bytes read of the total (files as they are on disk, compressed or not), inputs done of
/// the total, hit lines so far, rate and ETA; with standard input among the inputs (no total
/// size), bytes and rate only.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    inputs: usize,
    done: Cell<usize>,
    /// Bytes read of the inputs done.
    bytes: Cell<u64>,
    /// Hit lines of the inputs done.
    hits: Cell<u64>,
}

impl Progress {
    fn start(inputs: &[Input], disabled: bool) -> Progress {
        let mut p = Progress {
            bar: None,
            inputs: inputs.len(),
            done: Cell::new(0),
            bytes: Cell::new(0),
            hits: Cell::new(0),
        };
        if disabled || !io::stderr().is_terminal() {
            return p;
        }
        let total: Option<u64> = inputs
            .iter()
            .map(|i| match i {
                Input::Stdin => None,
                Input::File(path) => Some(std::fs::metadata(path).map_or(0, |m| m.len())),
                Input::Failed(..) => Some(0),
            })
            .sum();
        let (bar, template) = match total {
            Some(n) => (
                indicatif::ProgressBar::new(n),
                "[{bar:20}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            ),
            None => (
                indicatif::ProgressBar::new_spinner(),
                "{spinner} {bytes} {binary_bytes_per_sec} {msg}",
            ),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        p.bar = Some(bar);
        p.update(0, 0);
        p
    }

    /// The current input has read `read` bytes and found `hits` hit lines.
    fn update(&self, read: u64, hits: u64) {
        if let Some(b) = &self.bar {
            b.set_position(self.bytes.get() + read);
            b.set_message(format!(
                "{}/{} files, {} hit lines",
                self.done.get(),
                self.inputs,
                self.hits.get() + hits
            ));
        }
    }

    /// An input is done: it read `read` bytes and found `hits` hit lines.
    fn input_done(&self, read: u64, hits: u64) {
        self.bytes.set(self.bytes.get() + read);
        self.hits.set(self.hits.get() + hits);
        self.done.set(self.done.get() + 1);
        self.update(0, 0);
    }

    /// Runs `f` (which writes to standard error) with the bar out of the way.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
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

/// What triage did, to standard error with --stats.
fn print_triage(t: &Tally) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "triage hits {}", t.hits);
    let _ = writeln!(e, "  lines     {}", t.lines);
    for (reason, n) in Suppressed::ALL.iter().zip(t.suppressed) {
        if n > 0 {
            let _ = writeln!(e, "  {:<9} {n} (suppressed)", reason.as_str());
        }
    }
    let alerts: u64 = t.alerts.iter().flatten().sum();
    let _ = writeln!(e, "  alerted   {alerts} lines");
}
