//! `iocd run` (the daemon) and `iocd validate` (check a configuration, as systemd's
//! `ExecStartPre` and `ExecReload` do before starting or reloading).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use iocd::config::Config;

#[derive(Args)]
pub struct ConfigArgs {
    /// The configuration file (TOML). See config/iocd.example.toml.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// Loads and validates the configuration, printing every problem with its key path.
fn load(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn run(a: ConfigArgs) -> Result<bool> {
    let cfg = load(&a.config)?;
    iocd::app::init_logging(&cfg);
    iocd::app::run(cfg)
}

pub fn validate(a: ConfigArgs) -> Result<bool> {
    let cfg = load(&a.config)?;
    // Feeds are read too: a configuration whose feeds cannot be loaded is not one to start.
    let (set, report) = iocd::ioc::load_config_feeds(&cfg.feeds, &cfg.allowlists)?;
    println!(
        "{}: ok: {} feeds, {} indicators, {} feed lines rejected, {} sinks",
        a.config.display(),
        cfg.feeds.len(),
        set.len(),
        report.rejected.len(),
        cfg.sinks.len()
    );
    Ok(true)
}
