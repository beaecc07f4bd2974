//! One verdict ([`Mark`]): what an analyst or a sighting said of an indicator, the request
//! that makes one, and why one is refused ([`FeedbackError`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::{Digits, rfc3339};

/// Longest indicator of a mark (a long URL fits).
pub(crate) const MAX_INDICATOR_BYTES: usize = 2048;
/// Longest host of a mark (a DNS name has at most 253 characters).
pub(crate) const MAX_HOST_BYTES: usize = 255;
/// Longest reason of a mark.
pub(crate) const MAX_REASON_BYTES: usize = 1024;
/// Longest analyst name of a mark.
pub(crate) const MAX_ANALYST_BYTES: usize = 128;
/// Longest `expires` of a mark.
pub(crate) const MAX_EXPIRES_BYTES: usize = 64;

/// Where a mark was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkOrigin {
    /// The admin API (persisted to the state file).
    Api,
    /// The watched feedback file.
    File,
}

impl MarkOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkOrigin::Api => "api",
            MarkOrigin::File => "file",
        }
    }
}

/// One analyst verdict: `indicator` (on `host`, or everywhere) is a false positive.
#[derive(Debug)]
pub struct Mark {
    /// Canonical text of the indicator (`Pattern`'s `Display`).
    pub indicator: String,
    /// For a scheme-less URL (`evil.com/x`): the `https://` form, marked too.
    pub twin: Option<String>,
    /// Canonical host (IP address or lower-case name); `None` for every host.
    pub host: Option<String>,
    pub reason: String,
    pub analyst: String,
    pub created: DateTime<Utc>,
    /// After this the mark no longer applies (it stays listed until removed).
    pub expires: Option<DateTime<Utc>>,
    pub origin: MarkOrigin,
    /// `expires` as written (`30d`), to tell an unchanged file line from an edited one.
    pub(super) expires_spec: Option<String>,
    pub(super) hits: AtomicU64,
    /// Unix seconds of the last hit this mark matched (0: none).
    pub(super) last_hit: AtomicI64,
}

impl Mark {
    /// Hits this mark has matched since it was loaded.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether the mark still applies at `now`.
    pub(crate) fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|e| e > now)
    }

    pub(super) fn same_target(&self, indicator: &str, host: Option<&str>) -> bool {
        self.indicator == indicator && self.host.as_deref() == host
    }

    /// The JSON view of the API and the state file.
    pub(crate) fn view(&self) -> MarkView {
        let last = self.last_hit.load(Ordering::Relaxed);
        MarkView {
            indicator: self.indicator.clone(),
            host: self.host.clone(),
            reason: self.reason.clone(),
            analyst: self.analyst.clone(),
            created: rfc3339(&self.created, Digits::Secs),
            expires: self.expires.map(|t| rfc3339(&t, Digits::Secs)),
            origin: self.origin,
            hits: self.hits(),
            last_hit: (last > 0)
                .then(|| DateTime::from_timestamp(last, 0).map(|t| rfc3339(&t, Digits::Secs)))
                .flatten(),
            active: self.is_active(Utc::now()),
        }
    }
}

/// A [`Mark`] as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkView {
    pub indicator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub analyst: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub origin: MarkOrigin,
    #[serde(default)]
    pub hits: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_hit: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

pub(super) fn yes() -> bool {
    true
}

/// What `POST /feedback` takes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    /// Any form a feed may list (defanged, upper case, `domain-exact:`, ...).
    pub indicator: String,
    /// An IP address or a host name; absent: every host.
    #[serde(default)]
    pub host: Option<String>,
    pub reason: String,
    pub analyst: String,
    /// RFC 3339 time, or a duration from now (`12h`, `30d`).
    #[serde(default)]
    pub expires: Option<String>,
}

/// Why a mark was not made, removed or saved.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("indicator {value:?}: {reason}")]
    Indicator { value: String, reason: String },
    #[error("host {0:?} is not an IP address or a host name")]
    Host(String),
    #[error("expires {0:?} is neither an RFC 3339 time nor a duration (30d, 12h)")]
    Expires(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{field} is {len} bytes long; at most {max} are accepted")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{field} contains the control or text-direction character {found:?} at byte {at}: a \
         mark is one line of plain text"
    )]
    Control {
        field: &'static str,
        found: char,
        at: usize,
    },
    #[error(
        "{max} API marks are kept already (feedback.max_marks): remove one \
         (DELETE /feedback) before adding another"
    )]
    TooMany { max: usize },
    #[error("cannot save the feedback state to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FeedbackError {
    /// Whether the request was at fault (400) rather than iocd (500).
    pub(crate) fn is_bad_request(&self) -> bool {
        !matches!(self, FeedbackError::Save { .. })
    }

    /// Whether the request was refused for the number of marks already kept (409) rather
    /// than for what it carried.
    pub(crate) fn is_over_limit(&self) -> bool {
        matches!(self, FeedbackError::TooMany { .. })
    }

    /// The `reason` label of `iocd_feedback_refused_total`.
    pub(super) fn metric_reason(&self) -> &'static str {
        if self.is_over_limit() {
            "too_many_marks"
        } else {
            "invalid"
        }
    }
}

/// Refuses a field longer than `max` bytes or with a character that could forge a log line
/// or drive a terminal: C0 and C1 controls (line feed, carriage return, escape, ...) and the
/// bidirectional-text overrides and isolates.
pub(super) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), FeedbackError> {
    if value.len() > max {
        return Err(FeedbackError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    match value.char_indices().find(|&(_, c)| bad(c)) {
        Some((at, found)) => Err(FeedbackError::Control { field, found, at }),
        None => Ok(()),
    }
}

/// A bad line of the feedback file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// What the last load of the feedback file found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileReport {
    pub path: Option<String>,
    pub loaded_at: Option<String>,
    pub marks: usize,
    pub errors: Vec<LineError>,
    /// Why the file could not be read at all, or was refused whole (too large, too many
    /// marks): the previous marks stayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// `GET /feedback/summary`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Marks that apply now, by origin.
    pub active: HashMap<&'static str, usize>,
    /// Marks past their expiry (listed until removed).
    pub expired: usize,
    /// Hits matched by a mark since start.
    pub suppressed_hits: u64,
    /// The marks that matched the most hits (at most 20).
    pub top: Vec<MarkView>,
    pub file: FileReport,
    /// The state file, when API marks are persisted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}
