//! `iocd iocs`: load indicator feeds and report on them.
//!
//! Feeds are loaded as `scan` loads them ([`super::load`]): files in any format with
//! `--iocs` (or given to `stats`), a configuration's feeds and allowlists with `--config`,
//! through the same catalog the daemon uses (rails, allowlists, lifecycle, per-feed settings).

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Result, bail};
use clap::Subcommand;
use iocd::IocSet;
use iocd::ioc::feed::{ParseOptions, misp_origins, misp_origins_in, stix_origins};
use iocd::ioc::{Fate, LoadReport, Reason, parse_indicator, refang};
use iocd_engine::{IocId, Meta, Pattern, Scratch};

use super::{Feeds, Loaded, load, print_rejected, require_indicators};

#[derive(Subcommand)]
pub enum IocsCmd {
    /// Per feed: format, loaded, merged, rejected by reason, inactive, bytes per indicator;
    /// then the set's counts by type and its memory.
    Stats {
        /// Indicator files, as with --iocs.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        feeds: Feeds,
    },
    /// Print every indicator that VALUE matches, and every source of it with what that feed
    /// said about it.
    Lookup {
        /// A value as it could stand in a log: an IP, domain, URL, hash, e-mail or text.
        /// Defanged forms are accepted.
        value: String,
        #[command(flatten)]
        feeds: Feeds,
    },
    /// Compile the feeds (--iocs, --config, with their allowlists and rails) into a set file
    /// that `scan --set`, `iocs lookup --set` and the daemon's `compiled_set` use in place:
    /// versioned, checksummed, mapped, shared between processes. The file is replaced
    /// atomically, so processes using the old one are not disturbed.
    Compile {
        /// Where to write the compiled set.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        feeds: Feeds,
    },
}

pub fn run(cmd: IocsCmd) -> Result<bool> {
    match cmd {
        IocsCmd::Compile { output, feeds } => {
            if feeds.set.is_some() {
                bail!("iocs compile reads feeds (--iocs, --config), not a compiled set");
            }
            let loaded = load(&feeds)?;
            print_rejected(&loaded.report, feeds.all_rejected);
            require_indicators(&loaded)?;
            compile(&output, &feeds, &loaded)
        }
        IocsCmd::Stats { files, mut feeds } => {
            if feeds.set.is_some() && !files.is_empty() {
                bail!("iocs stats: give either feed files or --set, not both");
            }
            feeds.iocs.splice(0..0, files);
            stats(&feeds)
        }
        IocsCmd::Lookup { value, feeds } => {
            let loaded = load(&feeds)?;
            print_rejected(&loaded.report, feeds.all_rejected);
            require_indicators(&loaded)?;
            lookup(&value, &loaded)
        }
    }
}

/// Writes `loaded`'s set to `output` with its provenance, and says what it wrote.
fn compile(output: &Path, feeds: &Feeds, loaded: &Loaded) -> Result<bool> {
    use iocd::ioc::setfile::{self, Provenance, ProvenanceFeed};
    let mut prov = Provenance::now(feeds.config.as_deref());
    prov.feeds = loaded
        .report
        .feeds
        .iter()
        .map(|f| ProvenanceFeed {
            name: f.name.clone(),
            location: f.location.clone(),
            format: f.format.to_owned(),
            accepted: f.accepted,
            rejected: f.rejected,
        })
        .collect();
    prov.allowlists = loaded
        .report
        .allowlists
        .iter()
        .map(|a| a.location.clone())
        .collect();
    prov.rejected = loaded.report.rejected_count();
    let t = std::time::Instant::now();
    let bytes = setfile::write(output, &loaded.set, &prov)
        .map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
    eprintln!(
        "iocd: wrote {} indicators from {} feeds to {} ({bytes} bytes; read {:.3} s, compile {:.3} s, write {:.3} s)",
        loaded.set.len(),
        prov.feeds.len(),
        output.display(),
        loaded.read.as_secs_f64(),
        loaded.compile.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// Every rejected feed line, one per line.
fn write_rejected(out: &mut impl Write, report: &LoadReport) -> io::Result<()> {
    for r in &report.rejected {
        writeln!(out, "rejected  {r}")?;
    }
    Ok(())
}

fn stats(feeds: &Feeds) -> Result<bool> {
    let loaded = load(feeds)?;
    let Loaded {
        catalog,
        set,
        report,
        ..
    } = &loaded;
    let now = SystemTime::now();
    let mut out = io::stdout().lock();
    if feeds.all_rejected {
        write_rejected(&mut out, report)?;
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
    totals(&mut out, set, report, loaded.read + loaded.compile)?;
    writeln!(out, "  read+parse      {:.3} s", loaded.read.as_secs_f64())?;
    writeln!(
        out,
        "  compile         {:.3} s",
        loaded.compile.as_secs_f64()
    )?;
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
    drop(out);
    if failed > 0 {
        bail!("{failed} feed(s) or allowlist(s) could not be read");
    }
    require_indicators(&loaded)?;
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
    let mapped = set.mapped_bytes();
    let bytes = set.heap_bytes() + mapped;
    if mapped > 0 {
        writeln!(
            out,
            "memory            {bytes} bytes ({mapped} mapped from the set file, shared)"
        )?;
    } else {
        writeln!(out, "memory            {bytes} bytes")?;
    }
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

/// The indicators of `set` that `value` matches: as tokens of it, or as the indicator it is
/// (a network `10.0.0.0/8` is no token of itself).
fn matching(set: &IocSet, value: &str) -> Vec<IocId> {
    let mut hits = Vec::new();
    set.scan(value.as_bytes(), &mut Scratch::new(), &mut hits);
    let mut ids: Vec<_> = hits.iter().map(|h| h.id).collect();
    if let Some(id) = parse_indicator(value).ok().and_then(|p| set.find(&p)) {
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Prints what VALUE matches, with every source, then every listing a feed has of what it
/// would match that compiling removed, and why. Matches: whether something active matched.
fn lookup(value: &str, loaded: &Loaded) -> Result<bool> {
    let value = refang(value.trim());
    let set = &loaded.set;
    let ids = matching(set, &value);
    let mut out = io::stdout().lock();
    for id in &ids {
        let pattern = set.pattern(*id);
        writeln!(out, "{}\t{}", set.kind(*id), pattern)?;
        for s in set.sources(*id) {
            let f = &set.feeds()[s.feed as usize];
            let at = place(loaded, &f.name, &f.location, s.line, &pattern);
            write!(out, "\tfeed {} ({at})", f.name)?;
            if f.weight != 1.0 {
                write!(out, " weight={}", f.weight)?;
            }
            if let Some(m) = set.meta(s) {
                write!(out, "{}", describe(m))?;
            }
            writeln!(out)?;
        }
    }
    // What the feeds list that the value would match, before settings, rails, allowlists and
    // expiry: each listing the compile removed is reported with who listed it and what
    // removed it.
    let listed = loaded.catalog.compile_listed();
    let wanted: HashSet<Pattern> = matching(&listed, &value)
        .into_iter()
        .map(|id| listed.pattern(id))
        .collect();
    let fates = loaded
        .catalog
        .fates(SystemTime::now(), &|p| wanted.contains(p));
    for f in fates.iter().filter(|f| f.fate != Fate::Matched) {
        writeln!(
            out,
            "removed\t{}\t{}\tfeed {} ({}): {}",
            f.pattern.kind(),
            f.pattern,
            f.feed,
            place(loaded, &f.feed, &f.location, f.line, &f.pattern),
            why(&f.fate)
        )?;
    }
    if ids.is_empty() && wanted.is_empty() {
        drop(out);
        eprintln!("iocd: {value}: no feed lists it");
    }
    Ok(!ids.is_empty())
}

/// Where feed `feed` lists `pattern`: `location:line`, or for a MISP or STIX document (which
/// have no lines) the event and attribute, or the indicator objects, that list it. A TAXII or
/// MISP API feed's document is in its state file.
fn place(loaded: &Loaded, feed: &str, location: &str, line: u32, pattern: &Pattern) -> String {
    use iocd::config::feeds::FeedKind;
    let format = loaded
        .report
        .feeds
        .iter()
        .find(|f| f.name == feed)
        .map_or("", |f| f.format);
    if line != 0 || !matches!(format, "misp" | "stix") {
        return format!("{location}:{line}");
    }
    let cfg = loaded
        .config
        .as_ref()
        .and_then(|c| c.feeds.iter().find(|f| f.name == feed));
    let opts = ParseOptions {
        to_ids_only: cfg.is_none_or(|f| f.to_ids_only),
        ..ParseOptions::default()
    };
    // A platform feed: the collection is in its state file.
    let collected = cfg
        .filter(|f| f.kind != FeedKind::Document)
        .and_then(|f| f.cache.as_deref())
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<iocd::ioc::tip::State>(&b).ok())
        .map(|state| {
            let none = iocd::ioc::tip::Delta::default();
            if format == "stix" {
                iocd::ioc::tip::stix_bundle(&state, &none)
            } else {
                iocd::ioc::tip::misp_attributes(&state, &none)
            }
        });
    let origins = match (format, collected) {
        ("stix", Some(doc)) => stix_origins(location, &doc, pattern),
        ("stix", None) => std::fs::read(location)
            .map(|b| stix_origins(location, &b, pattern))
            .unwrap_or_default(),
        (_, Some(doc)) => misp_origins_in(location, &doc, &opts, pattern),
        (_, None) => misp_origins(Path::new(location), &opts, pattern),
    };
    if origins.is_empty() {
        return format!("{location}:{line}");
    }
    format!("{location}: {}", origins.join("; "))
}

/// Why a listing is not in the set, for people.
fn why(fate: &Fate) -> String {
    let time = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0).map_or_else(
            || t.to_string(),
            |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    match fate {
        Fate::Matched => "matched".to_owned(),
        Fate::TypeFilter(types) => {
            let kinds: Vec<&str> = types.iter().map(|k| k.as_str()).collect();
            format!("type filter: the feed keeps only {}", kinds.join(", "))
        }
        Fate::Dropped(r @ Reason::Rail(_)) => {
            format!("safety rail {}: {r} (--no-rails keeps it)", r.code())
        }
        Fate::Dropped(r) => r.to_string(),
        Fate::Inactive { why, until } => match (*why, until) {
            ("revoked", _) => "revoked by the feed".to_owned(),
            ("expired", Some(t)) => format!("expired: valid until {}", time(*t)),
            ("ttl", Some(t)) => format!("past the feed's ttl since {}", time(*t)),
            (w, _) => format!("inactive: {w}"),
        },
    }
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
    if let Some(cx) = &m.context {
        for (key, names) in [
            ("malware", &cx.malware),
            ("tools", &cx.tools),
            ("groups", &cx.groups),
            ("campaigns", &cx.campaigns),
            ("tactics", &cx.tactics),
        ] {
            if !names.is_empty() {
                s.push_str(&format!(" {key}={:?}", names.join(",")));
            }
        }
        if !cx.techniques.is_empty() {
            let t: Vec<String> = cx
                .techniques
                .iter()
                .map(|t| match (&t.id, &t.name) {
                    (Some(id), Some(name)) => format!("{id} {name}"),
                    (id, name) => id.clone().or_else(|| name.clone()).unwrap_or_default(),
                })
                .collect();
            s.push_str(&format!(" techniques={:?}", t.join(",")));
        }
        if let Some(r) = &cx.report {
            s.push_str(&format!(" report={r}"));
        }
    }
    s
}
