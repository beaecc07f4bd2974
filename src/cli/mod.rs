//! The subcommands of the `iocd` binary, one file each. Each returns `Ok(true)` when
//! something matched (exit 0), `Ok(false)` when nothing did (exit 1); errors exit 2.
//!
//! Every command loads indicators the same way, through the daemon's [`Catalog`] ([`load`]):
//! `--iocs FILE` in any feed format (detected as the daemon detects it), `--allowlist FILE`,
//! `--config FILE` for a configuration's feeds and allowlists, the safety rails on unless
//! `--no-rails`. A set without a single indicator is an error that says why ([`require_indicators`]).

pub mod iocs;
pub mod run;
pub mod scan;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use iocd::IocSet;
use iocd::config::Config;
use iocd::config::feeds::{AllowlistConfig, FeedConfig};
use iocd::ioc::{Catalog, FeedReport, LoadReport, feed_name};

#[derive(Args)]
pub struct Feeds {
    /// Indicator feed, in any format the daemon reads (plain list, CSV, Zeek intel, MISP event
    /// or feed folder, STIX 2.1 bundle, OpenIOC), detected from its content. Repeat for more
    /// feeds; the same indicator in several feeds is one indicator with several sources.
    #[arg(long = "iocs", short = 'i', value_name = "FILE")]
    pub iocs: Vec<PathBuf>,
    /// Known-good values dropped from every feed: a plain list, a MISP warninglist (JSON), or a
    /// folder of them. Repeatable.
    #[arg(long = "allowlist", value_name = "FILE")]
    pub allowlists: Vec<PathBuf>,
    /// Also every feed and allowlist of this daemon configuration, with its per-feed settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A compiled set file (`iocd iocs compile -o FILE`), used in place by mapping it: no
    /// parsing, a million indicators ready in milliseconds. Its feeds, allowlists and rails
    /// were applied when it was compiled, so it goes alone: not with --iocs, --config,
    /// --allowlist or --no-rails.
    #[arg(long = "set", value_name = "FILE", conflicts_with_all = ["iocs", "config", "allowlists", "no_rails"])]
    pub set: Option<PathBuf>,
    /// Keep what the safety rails reject (`0.0.0.0/0`, `com`, private and documentation
    /// addresses, the empty-file hashes, strings under 6 bytes): match feeds as listed.
    #[arg(long)]
    pub no_rails: bool,
    /// Print every rejected feed record, not only the first 10.
    #[arg(long)]
    pub all_rejected: bool,
}

/// An exit with status 2 and nothing more to say: what failed was reported as it happened
/// (`iocd: PATH: reason`, once per input, as grep does).
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("some inputs could not be read")
    }
}

impl std::error::Error for Reported {}

/// Indicators loaded for a command, with what loading them did.
pub struct Loaded {
    pub set: IocSet,
    pub report: LoadReport,
    pub catalog: Catalog,
    /// The `--config` read, if any.
    pub config: Option<Config>,
    /// Reading and parsing the feeds and allowlists; compiling.
    pub read: Duration,
    pub compile: Duration,
}

/// Loads `f`'s feeds and allowlists through the daemon's catalog.
///
/// A feed or allowlist named on the command line that cannot be read is an error (all of them
/// in one message); one from `--config` is a warning, as in the daemon, which starts without
/// it. An empty set is not an error here: see [`require_indicators`].
pub fn load(f: &Feeds) -> Result<Loaded> {
    if let Some(path) = &f.set {
        return load_set_file(path);
    }
    if f.iocs.is_empty() && f.config.is_none() {
        bail!("no indicators to load: give --iocs FILE (repeatable), --config FILE or --set FILE");
    }
    let config = f.config.as_deref().map(feeds_config).transpose()?;
    let (mut feeds, mut allowlists) = match &config {
        Some(c) => (c.feeds.clone(), c.allowlists.clone()),
        None => (Vec::new(), Vec::new()),
    };
    let from_config = feeds.len();
    let mut names: HashSet<String> = feeds.iter().map(|c| c.name.clone()).collect();
    for p in &f.iocs {
        // The file's name without its extension, unless another feed has it already.
        let mut name = feed_name(p);
        if !names.insert(name.clone()) {
            name = p.display().to_string();
            names.insert(name.clone());
        }
        feeds.push(FeedConfig::file(&name, p.clone()));
    }
    allowlists.extend(f.allowlists.iter().cloned().map(AllowlistConfig::file));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let mut catalog = Catalog::new(&feeds, &allowlists);
    catalog.set_rails(!f.no_rails);
    rt.block_on(catalog.refresh_all());
    let read = t.elapsed();
    let t = Instant::now();
    let (set, report) = catalog.compile(SystemTime::now());
    let compile = t.elapsed();

    let mut errors = Vec::new();
    for (i, fr) in report.feeds.iter().enumerate() {
        let Some(e) = &fr.error else { continue };
        if i < from_config {
            eprintln!("iocd: warning: feed {}: {e}", fr.name);
        } else {
            errors.push(e.clone());
        }
    }
    // A folder allowlist reports one entry per file: where it is tells whose it is.
    for a in &report.allowlists {
        let Some(e) = &a.error else { continue };
        let named = f
            .allowlists
            .iter()
            .any(|p| Path::new(&a.location).starts_with(p));
        if !named {
            eprintln!("iocd: warning: allowlist {}: {e}", a.name);
        } else {
            errors.push(format!("allowlist {e}"));
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n  "));
    }
    Ok(Loaded {
        set,
        report,
        catalog,
        config,
        read,
        compile,
    })
}

/// A compiled set file, mapped; its feeds as its provenance lists them.
fn load_set_file(path: &Path) -> Result<Loaded> {
    let opened = iocd::ioc::setfile::open(path)?;
    let mut report = LoadReport::default();
    let prov = opened.provenance.unwrap_or_default();
    for fe in &prov.feeds {
        report.feeds.push(FeedReport {
            name: fe.name.clone(),
            location: fe.location.clone(),
            format: "compiled",
            accepted: fe.accepted,
            rejected: fe.rejected,
            loaded_at: Some(
                SystemTime::UNIX_EPOCH + Duration::from_secs(prov.compiled_at.max(0) as u64),
            ),
            ..FeedReport::default()
        });
    }
    Ok(Loaded {
        set: opened.set,
        report,
        catalog: Catalog::new(&[], &[]),
        config: None,
        read: opened.took,
        compile: Duration::ZERO,
    })
}

/// An error, saying why feed by feed, when the set has no indicator: a scan with it could only
/// report "no match" (a silent false negative).
pub fn require_indicators(loaded: &Loaded) -> Result<()> {
    if !loaded.set.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("no indicators loaded:");
    let mut railed = false;
    for fr in &loaded.report.feeds {
        msg.push_str(&format!("\n  {}", explain_feed(fr)));
        railed |= fr.rejected_by.keys().any(|k| is_rail(k));
    }
    if loaded.report.feeds.is_empty() {
        msg.push_str(" the configuration has no feeds");
    }
    if railed {
        msg.push_str(
            "\n  (the safety rails reject private, reserved and documentation addresses and \
             names, broad networks, public suffixes, the empty-file hashes and short strings; \
             --no-rails keeps them)",
        );
    }
    bail!("{msg}")
}

fn is_rail(code: &str) -> bool {
    matches!(
        code,
        "broad_cidr" | "public_suffix" | "empty_hash" | "reserved" | "short_string"
    )
}

/// One feed's line in the "no indicators" error: what it was read as and where each record
/// went, and what the file looks like when that differs from the format it was read as.
fn explain_feed(fr: &FeedReport) -> String {
    let list = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!("{}: ", fr.location);
    if fr.loaded_at.is_none() {
        s.push_str(&format!(
            "not loaded: {}",
            fr.error.as_deref().unwrap_or("unknown error")
        ));
        return s;
    }
    s.push_str(&format!("read as {}", fr.format));
    let records = fr.accepted + fr.rejected + fr.inactive + fr.skipped.values().sum::<u64>();
    if records == 0 {
        s.push_str(", no records (empty, or only comments)");
    }
    if fr.rejected > 0 {
        s.push_str(&format!(
            ", {} rejected ({})",
            fr.rejected,
            list(&fr.rejected_by)
        ));
    }
    if fr.inactive > 0 {
        s.push_str(&format!(
            ", {} inactive ({})",
            fr.inactive,
            list(&fr.inactive_by)
        ));
    }
    if !fr.skipped.is_empty() {
        s.push_str(&format!(", skipped: {}", list(&fr.skipped)));
        if fr.skipped.contains_key("not_to_ids") {
            s.push_str(
                " (MISP attributes not flagged to_ids; a --config feed with \
                 to_ids_only = false takes them)",
            );
        }
    }
    if let Some(hint) = looks_like(Path::new(&fr.location), fr.format) {
        s.push_str(&format!("; {hint}"));
    }
    s
}

/// What a feed file looks like when that is not the format `format` it was read as.
fn looks_like(path: &Path, format: &str) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(16 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    if head.starts_with(b"IOCDSET\0") {
        return Some("it is a compiled set file: give it with --set".to_owned());
    }
    let compressed = match head.as_slice() {
        [0x1f, 0x8b, ..] => Some("gzip"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd"),
        [b'B', b'Z', b'h', ..] => Some("bzip2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some("xz"),
        _ => None,
    };
    if let Some(c) = compressed {
        return Some(format!(
            "it looks {c}-compressed: give the decompressed file"
        ));
    }
    if format != "plain" {
        return None;
    }
    let text = String::from_utf8_lossy(&head);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(50)
        .collect();
    let separated = |sep: char| lines.iter().filter(|l| l.contains(sep)).count();
    if let Some(sep) = [',', '\t', ';', '|']
        .into_iter()
        .find(|&c| !lines.is_empty() && separated(c) * 2 > lines.len())
    {
        let name = if sep == '\t' { "TSV" } else { "CSV" };
        return Some(format!(
            "it looks like {name} ({sep:?}-separated) without a header row naming the value \
             column (ioc, indicator, value, ip, domain, url, md5, sha256, ...): add one, or \
             give it in a --config with a [feeds.csv] mapping"
        ));
    }
    None
}

/// Reads a configuration for its feeds and allowlists only: problems in other sections (a
/// missing source, a sink) do not stop a command that only needs the feeds.
pub fn feeds_config(path: &Path) -> Result<Config> {
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
