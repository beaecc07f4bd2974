//! What a retro alert says beside a live one (`iocd.retro`): which job found it, when iocd got
//! the indicator, when the feeds say it was first seen, and how long before either the line
//! happened.

use serde::Serialize;

use crate::time::{Digits, rfc3339_ms};
use iocd_engine::{Hit, IocSet};

/// `iocd.retro` of a retro alert.
#[derive(Clone, Debug, Serialize)]
pub struct RetroFields {
    /// The retro job (a number counting up across restarts).
    pub job: u64,
    /// When iocd got the indicator (the reload that added it), RFC 3339.
    pub indicator_added: String,
    /// The earliest first-seen date the feeds give the alert's indicators, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator_first_seen: Option<String>,
    /// How long before the indicator was published (its first-seen date, else when iocd got
    /// it) the line happened, in seconds; negative when it happened after.
    pub lead_seconds: i64,
}

impl RetroFields {
    /// For a line that happened at `at_ms` (ms since the epoch) with `hits` on indicators
    /// of `set` that job `job` got at `added_at` (Unix seconds).
    pub fn new(job: u64, added_at: i64, at_ms: i64, set: &IocSet, hits: &[Hit]) -> RetroFields {
        let first_seen = hits
            .iter()
            .flat_map(|h| set.sources(h.id))
            .filter_map(|s| set.meta(s).and_then(|m| m.first_seen))
            .min();
        let published = first_seen.unwrap_or(added_at);
        RetroFields {
            job,
            indicator_added: rfc3339_ms(added_at.saturating_mul(1000), Digits::Auto),
            indicator_first_seen: first_seen
                .map(|s| rfc3339_ms(s.saturating_mul(1000), Digits::Auto)),
            lead_seconds: published.saturating_sub(at_ms.div_euclid(1000)),
        }
    }
}
