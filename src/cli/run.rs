//! `iocd run` (the daemon) and `iocd validate` (check a configuration, as systemd's
//! `ExecStartPre` and `ExecReload` do before starting or reloading).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use iocd::config::Config;

/// Where `run` and `validate` look without `--config`: where the package installs it and the
/// systemd unit points.
pub const DEFAULT_CONFIG: &str = "/etc/iocd/iocd.toml";

#[derive(Args)]
pub struct ConfigArgs {
    /// The configuration file (TOML). See config/iocd.example.toml.
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// `iocd validate`'s arguments.
#[derive(Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A feed that cannot be loaded (and has no cached copy) is a warning, not an error: the
    /// daemon starts without it, retries it, and `/readyz` says it is missing. For systemd's
    /// ExecStartPre and ExecReload, so that a feed server that is down neither keeps iocd
    /// from starting nor blocks a reload (which also reopens file sinks).
    #[arg(long)]
    pub allow_missing_feeds: bool,
}

/// Loads and validates the configuration, printing every problem with its key path.
fn load(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn run(a: ConfigArgs) -> Result<bool> {
    let cfg = load(&a.config)?;
    iocd::daemon::init_logging(&cfg);
    Ok(iocd::daemon::run(cfg)?)
}

/// Exit 0 when the configuration is valid and every feed loads (a feed that loads no
/// indicator is a warning); an error (exit 2) when a feed cannot be loaded and has no cache:
/// the daemon would start without it and not be ready (a warning with
/// `--allow-missing-feeds`).
pub fn validate(v: ValidateArgs) -> Result<bool> {
    let a = v.config;
    let cfg = load(&a.config)?;
    // The flood guard's shared-infrastructure lists, parsed as the daemon will parse them.
    for (i, p) in cfg.triage.flood.shared_infrastructure.iter().enumerate() {
        iocd::ioc::allowlist::List::load(p)
            .map_err(|e| anyhow::anyhow!("triage.flood.shared_infrastructure[{i}]: {e}"))?;
    }
    if let Some(path) = &cfg.compiled_set {
        // The file is mapped and checked as the daemon will.
        let opened = iocd::ioc::setfile::open(path)?;
        if opened.set.is_empty() {
            eprintln!(
                "iocd: warning: compiled set {} holds no indicator",
                path.display()
            );
        }
        println!(
            "{}: ok: compiled set {} ({} indicators, {} bytes, compiled {}), {} sinks",
            a.config.display(),
            path.display(),
            opened.set.len(),
            opened.bytes.len(),
            opened.provenance.as_ref().map_or_else(
                || "at an unknown time".to_owned(),
                |p| chrono::DateTime::from_timestamp(p.compiled_at, 0)
                    .map_or_else(|| p.compiled_at.to_string(), |d| d.to_rfc3339())
            ),
            cfg.sinks.len()
        );
        return Ok(true);
    }
    // Feeds are read too: a configuration whose feeds cannot be loaded is not one to start.
    let (set, report) = iocd::ioc::load_config_feeds(&cfg.feeds, &cfg.allowlists)?;
    let mut missing = Vec::new();
    for f in &report.feeds {
        let error = f.error.as_deref().unwrap_or("unknown error");
        if f.loaded_at.is_none() {
            let level = if v.allow_missing_feeds {
                "warning"
            } else {
                "error"
            };
            eprintln!("iocd: {level}: feed {}: cannot be loaded: {error}", f.name);
            missing.push(f.name.as_str());
        } else if let Some(e) = &f.error {
            eprintln!(
                "iocd: warning: feed {}: {e} (the cached copy is used)",
                f.name
            );
        }
        if f.loaded_at.is_some() && f.accepted == 0 {
            eprintln!(
                "iocd: warning: feed {} ({}) loads no indicator",
                f.name, f.location
            );
        }
        let records = f.accepted + f.rejected + f.inactive;
        let max = cfg
            .feeds
            .iter()
            .find(|c| c.name == f.name)
            .map_or(1.0, |c| c.max_rejected());
        if records > 0 && f.rejected as f64 / records as f64 > max {
            eprintln!(
                "iocd: warning: feed {}: {} of {records} records rejected (max_rejected {max}): \
                 a refresh like it would be refused",
                f.name, f.rejected
            );
        }
    }
    for l in report.allowlists.iter().filter(|l| l.error.is_some()) {
        eprintln!(
            "iocd: warning: allowlist {}: {}",
            l.name,
            l.error.as_deref().unwrap_or_default()
        );
    }
    if !missing.is_empty() && !v.allow_missing_feeds {
        anyhow::bail!(
            "{}: {} of {} feeds cannot be loaded and have no cached copy: {}",
            a.config.display(),
            missing.len(),
            cfg.feeds.len(),
            missing.join(", ")
        );
    }
    let not_loaded = if missing.is_empty() {
        String::new()
    } else {
        format!(" ({} not loaded: {})", missing.len(), missing.join(", "))
    };
    println!(
        "{}: ok: {} feeds{not_loaded}, {} indicators, {} feed lines rejected, {} sinks",
        a.config.display(),
        cfg.feeds.len(),
        set.len(),
        report.rejected_count(),
        cfg.sinks.len()
    );
    Ok(true)
}
