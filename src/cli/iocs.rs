//! `iocd iocs`: load indicator feeds and report on them.
//!
//! With `--iocs FILE` (or files given to `stats`), plain lists as `scan` reads them; with
//! `--config FILE`, every feed and allowlist of a configuration, in every format, through the
//! same catalog the daemon uses (rails, allowlists, lifecycle, per-feed settings).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use iocd::IocSet;
use iocd::config::Config;
use iocd::ioc::{Catalog, LoadReport, load_plain_files, parse_indicator, refang};
use iocd::matcher::{Meta, Scratch};

use super::{load, print_rejected};

#[derive(Subcommand)]
pub enum IocsCmd {
    /// Per feed: loaded, merged, rejected by reason, inactive, bytes per indicator; then the
    /// set's counts by type and its memory.
    Stats {
        /// Plain-list indicator files.
        #[arg(required_unless_present = "config", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Every feed and allowlist of this configuration file instead.
        #[arg(long, value_name = "FILE", conflicts_with = "files")]
        config: Option<PathBuf>,
        /// Print every rejected record kept (with `--config`, the first `keep_rejected` of
        /// each feed; the others are counted by reason).
        #[arg(long)]
        all_rejected: bool,
    },
    /// Print every indicator that VALUE matches, and every source of it with what that feed
    /// said about it.
    Lookup {
        /// A value as it could stand in a log: an IP, domain, URL, hash, e-mail or text.
        /// Defanged forms are accepted.
        value: String,
        #[command(flatten)]
        feeds: LookupFeeds,
    },
}

#[derive(Args)]
pub struct LookupFeeds {
    /// Plain-list indicator file. Repeat for more feeds.
    #[arg(
        long = "iocs",
        short = 'i',
        value_name = "FILE",
        required_unless_present = "config"
    )]
    iocs: Vec<PathBuf>,
    /// Every feed and allowlist of this configuration file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "iocs")]
    config: Option<PathBuf>,
    /// Print every rejected feed record, not only the first 10.
    #[arg(long)]
    all_rejected: bool,
}

pub fn run(cmd: IocsCmd) -> Result<bool> {
    match cmd {
        IocsCmd::Stats {
            files,
            config: None,
            all_rejected,
        } => stats_plain(&files, all_rejected),
        IocsCmd::Stats {
            config: Some(cfg),
            all_rejected,
            ..
        } => stats_config(&cfg, all_rejected),
        IocsCmd::Lookup { value, feeds } => {
            let set = match &feeds.config {
                Some(cfg) => {
                    let (_, _, set, report) = load_catalog(cfg)?;
                    print_rejected(&report, feeds.all_rejected);
                    print_feed_errors(&report);
                    set
                }
                None => load(&feeds.iocs, feeds.all_rejected)?.0,
            };
            lookup(&value, &set)
        }
    }
}

/// Reads a configuration for its feeds and allowlists only: problems in other sections (a
/// missing source, a sink) do not stop a report on the feeds.
fn feeds_config(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut cfg = Config::from_toml(&text).map_err(anyhow::Error::new)?;
    cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    if let Err(errs) = cfg.validate() {
        let mine: Vec<String> = errs
            .0
            .iter()
            .filter(|(at, _)| at.starts_with("feeds") || at.starts_with("allowlists"))
            .map(|(at, msg)| format!("\n  {at}: {msg}"))
            .collect();
        if !mine.is_empty() {
            bail!("{}:{}", path.display(), mine.concat());
        }
    }
    Ok(cfg)
}

/// How long loading took: reading and parsing the feeds and allowlists, then compiling.
struct Took {
    read: std::time::Duration,
    compile: std::time::Duration,
}

fn load_catalog(path: &Path) -> Result<(Catalog, Took, IocSet, LoadReport)> {
    let cfg = feeds_config(path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let mut catalog = Catalog::new(&cfg.feeds, &cfg.allowlists);
    rt.block_on(catalog.refresh_all());
    let read = t.elapsed();
    let t = Instant::now();
    let (set, report) = catalog.compile(SystemTime::now());
    let took = Took {
        read,
        compile: t.elapsed(),
    };
    Ok((catalog, took, set, report))
}

fn print_feed_errors(report: &LoadReport) {
    for f in &report.feeds {
        if let Some(e) = &f.error {
            eprintln!("iocd: warning: feed {}: {e}", f.name);
        }
    }
    for a in &report.allowlists {
        if let Some(e) = &a.error {
            eprintln!("iocd: warning: allowlist {}: {e}", a.name);
        }
    }
}

/// Every rejected feed line, one per line.
fn write_rejected(out: &mut impl Write, report: &LoadReport) -> io::Result<()> {
    for r in &report.rejected {
        writeln!(out, "rejected  {r}")?;
    }
    Ok(())
}

fn stats_plain(files: &[PathBuf], all_rejected: bool) -> Result<bool> {
    let t = Instant::now();
    let (set, report) = load_plain_files(files)?;
    let took = t.elapsed();
    let mut out = io::stdout().lock();
    if all_rejected {
        write_rejected(&mut out, &report)?;
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
    totals(&mut out, &set, &report, took)?;
    Ok(true)
}

fn stats_config(path: &Path, all_rejected: bool) -> Result<bool> {
    let (catalog, took, set, report) = load_catalog(path)?;
    let now = SystemTime::now();
    let mut out = io::stdout().lock();
    if all_rejected {
        write_rejected(&mut out, &report)?;
    }
    writeln!(
        out,
        "{:<24} {:<8} {:>9} {:>9} {:>9} {:>9} {:>10}  location",
        "feed", "format", "loaded", "merged", "rejected", "inactive", "bytes/ind"
    )?;
    for (i, f) in report.feeds.iter().enumerate() {
        // Memory of the feed's indicators compiled alone: what this feed costs by itself.
        let alone = catalog.compile_one(i, now);
        let per = if alone.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1}", alone.heap_bytes() as f64 / alone.len() as f64)
        };
        writeln!(
            out,
            "{:<24} {:<8} {:>9} {:>9} {:>9} {:>9} {:>10}  {}",
            f.name,
            if f.format.is_empty() { "-" } else { f.format },
            f.accepted,
            f.merged,
            f.rejected,
            f.inactive,
            per,
            f.location
        )?;
        let list = |m: &BTreeMap<&str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !f.rejected_by.is_empty() {
            writeln!(out, "    rejected: {}", list(&f.rejected_by))?;
        }
        if !f.inactive_by.is_empty() {
            writeln!(out, "    inactive: {}", list(&f.inactive_by))?;
        }
        if !f.skipped.is_empty() {
            writeln!(out, "    skipped:  {}", list(&f.skipped))?;
        }
        if let Some(e) = &f.error {
            writeln!(out, "    error:    {e}")?;
        }
    }
    if !report.allowlists.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<32} {:>9} {:>9} {:>9}  location",
            "allowlist", "entries", "unread", "dropped"
        )?;
        for a in &report.allowlists {
            writeln!(
                out,
                "{:<32} {:>9} {:>9} {:>9}  {}",
                a.name, a.entries, a.rejected, a.dropped, a.location
            )?;
            if let Some(e) = &a.error {
                writeln!(out, "    error:    {e}")?;
            }
        }
    }
    totals(&mut out, &set, &report, took.read + took.compile)?;
    writeln!(out, "  read+parse      {:.3} s", took.read.as_secs_f64())?;
    writeln!(out, "  compile         {:.3} s", took.compile.as_secs_f64())?;
    let failed = report
        .feeds
        .iter()
        .filter(|f| f.loaded_at.is_none())
        .count()
        + report
            .allowlists
            .iter()
            .filter(|a| a.error.is_some())
            .count();
    if failed > 0 {
        drop(out);
        print_feed_errors(&report);
        bail!("{failed} feed(s) or allowlist(s) could not be read");
    }
    Ok(true)
}

fn totals(
    out: &mut impl Write,
    set: &IocSet,
    report: &LoadReport,
    took: std::time::Duration,
) -> Result<()> {
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
    writeln!(out, "rejected          {}", report.rejected_count())?;
    for (reason, n) in report.rejected_by() {
        writeln!(out, "  {reason:<15} {n}")?;
    }
    let inactive: u64 = report.feeds.iter().map(|f| f.inactive).sum();
    if inactive > 0 {
        writeln!(out, "inactive          {inactive}")?;
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
    Ok(())
}

fn lookup(value: &str, set: &IocSet) -> Result<bool> {
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
            write!(out, "\tfeed {} ({}:{})", f.name, f.location, s.line)?;
            if f.weight != 1.0 {
                write!(out, " weight={}", f.weight)?;
            }
            if let Some(m) = set.meta(s) {
                write!(out, "{}", describe(m))?;
            }
            writeln!(out)?;
        }
    }
    Ok(!ids.is_empty())
}

/// What a feed said about a listing, as ` key=value` pairs.
fn describe(m: &Meta) -> String {
    let time = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0).map_or_else(
            || t.to_string(),
            |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    let mut s = String::new();
    if let Some(c) = m.confidence {
        s.push_str(&format!(" confidence={c}"));
    }
    if let Some(v) = m.severity {
        s.push_str(&format!(" severity={v}"));
    }
    if let Some(t) = m.tlp {
        let name = serde_json::to_value(t)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        s.push_str(&format!(" tlp={name}"));
    }
    if let Some(t) = m.first_seen {
        s.push_str(&format!(" first_seen={}", time(t)));
    }
    if let Some(t) = m.last_seen {
        s.push_str(&format!(" last_seen={}", time(t)));
    }
    if let Some(t) = m.valid_until {
        s.push_str(&format!(" valid_until={}", time(t)));
    }
    if !m.tags.is_empty() {
        s.push_str(&format!(" tags={:?}", m.tags.join(",")));
    }
    if let Some(d) = &m.description {
        s.push_str(&format!(" description={d:?}"));
    }
    s
}
