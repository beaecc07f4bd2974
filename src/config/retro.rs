//! `[retro]`: retro-matching. After every reload, the indicators the new set has and the
//! previous one did not are matched against the history of the last `lookback`: the Kafka
//! topics themselves, and for syslog, file and stdin sources a local spool of their lines.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigErrors;

/// Retro-matching (off by default). See the `daemon::retro` module.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetroConfig {
    pub enabled: bool,
    /// How far back an added indicator is looked for.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// Where the spool (`spool/`), the set of indicators already checked and the progress of
    /// the current job are kept. Needed when `enabled`.
    pub dir: Option<PathBuf>,
    /// The spool's size on disk (compressed): past it, the oldest segments are deleted.
    pub spool_max_bytes: u64,
    /// A segment is closed (fsynced, and readable by a job) when its compressed size
    /// reaches this, or when it is `segment_max_age` old: a crash loses at most the lines
    /// of the segment still open.
    pub segment_max_bytes: u64,
    #[serde(with = "humantime_serde")]
    pub segment_max_age: Duration,
    /// The share of one core a job may use (0.01 to 1): it sleeps in between so that live
    /// matching keeps the rest.
    pub max_cpu_share: f64,
    /// Batches of lines waiting for the spool writer; past it a batch is not spooled
    /// (counted in `iocd_retro_spool_dropped_total`, logged): intake never waits for the
    /// spool.
    pub spool_queue: usize,
    /// zstd level of the spool (1 fast .. 19 small). 1 by default: the spool writer runs
    /// beside the matchers, and level 3 cost twice its CPU for a spool about 10% smaller.
    pub spool_level: i32,
}

impl Default for RetroConfig {
    fn default() -> Self {
        RetroConfig {
            enabled: false,
            lookback: Duration::from_secs(7 * 86_400),
            dir: None,
            spool_max_bytes: 10 << 30,
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(60),
            max_cpu_share: 0.5,
            spool_queue: 256,
            spool_level: 1,
        }
    }
}

impl RetroConfig {
    pub(super) fn validate(&self, errs: &mut ConfigErrors) {
        if !self.enabled {
            return;
        }
        match &self.dir {
            None => errs.push(
                "retro.dir",
                "needed when retro is enabled (where the spool and the retro state are kept)",
            ),
            Some(d) if d.exists() && !d.is_dir() => {
                errs.push("retro.dir", format!("{} is not a folder", d.display()))
            }
            Some(d) => {
                if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.is_dir()
                {
                    errs.push(
                        "retro.dir",
                        format!("folder {} does not exist", parent.display()),
                    );
                }
            }
        }
        if self.lookback < Duration::from_secs(60) {
            errs.push("retro.lookback", "must be at least 1m");
        }
        if !(0.01..=1.0).contains(&self.max_cpu_share) {
            errs.push("retro.max_cpu_share", "must be between 0.01 and 1");
        }
        if self.segment_max_bytes < 4096 {
            errs.push("retro.segment_max_bytes", "must be at least 4096");
        }
        if self.spool_max_bytes < 2 * self.segment_max_bytes {
            errs.push(
                "retro.spool_max_bytes",
                "must be at least twice segment_max_bytes",
            );
        }
        if self.segment_max_age < Duration::from_secs(1) {
            errs.push("retro.segment_max_age", "must be at least 1s");
        }
        if self.spool_queue == 0 {
            errs.push("retro.spool_queue", "must be at least 1");
        }
        if !(1..=19).contains(&self.spool_level) {
            errs.push("retro.spool_level", "must be between 1 and 19");
        }
    }
}
