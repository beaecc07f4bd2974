//! Per-feed and per-allowlist settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigErrors, must_exist};
use crate::matcher::{IocKind, Tlp};

/// One indicator feed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Unique; alerts name it as the indicator's provider.
    pub name: String,
    /// A local file. Exactly one of `path` and `url`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An HTTP(S) URL, fetched every `refresh`.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the last good copy of a URL feed is kept, so a restart or a failed download
    /// keeps the previous generation.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// `auto` (detected from the content), `plain`, `csv`, `zeek`, `misp`, `stix` or
    /// `openioc`.
    #[serde(default)]
    pub format: FeedFormat,
    /// How much this feed's word counts when scoring, relative to 1.0.
    #[serde(default = "one")]
    pub weight: f64,
    /// Confidence (0-100) of listings that do not carry their own.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Severity (0-100) of listings that do not carry their own.
    #[serde(default)]
    pub severity: Option<u8>,
    /// TLP of listings that do not carry their own.
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Keep only these indicator types (empty: all).
    #[serde(default)]
    pub types: Vec<IocKind>,
    /// Whether this feed's domains also match their subdomains.
    #[serde(default = "yes")]
    pub subdomains: bool,
    /// Listings older than this (by last seen, else first seen, else load time) are inactive.
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// How often to read the feed again (URL feeds: download; files are also watched).
    #[serde(default, with = "humantime_serde")]
    pub refresh: Option<Duration>,
    /// Accept private, loopback and other reserved addresses and networks from this feed.
    #[serde(default)]
    pub allow_private: bool,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// The format of a feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedFormat {
    #[default]
    Auto,
    Plain,
    Csv,
    Zeek,
    Misp,
    Stix,
    Openioc,
}

/// A list of known-good values, dropped from every feed at load.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistConfig {
    pub path: PathBuf,
    /// `plain` (one value per line, same syntax as a plain feed) or `misp-warninglist`.
    #[serde(default)]
    pub format: AllowlistFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowlistFormat {
    #[default]
    Plain,
    MispWarninglist,
}

impl<'de> Deserialize<'de> for IocKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = IocKind::ALL.iter().map(|k| k.as_str()).collect();
                serde::de::Error::custom(format!(
                    "unknown indicator type {s:?}, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

pub(super) fn validate(
    feeds: &[FeedConfig],
    allowlists: &[AllowlistConfig],
    errs: &mut ConfigErrors,
) {
    let mut names = std::collections::BTreeSet::new();
    for (i, f) in feeds.iter().enumerate() {
        let at = format!("feeds[{i}]");
        if f.name.trim().is_empty() {
            errs.push(format!("{at}.name"), "must not be empty");
        } else if !names.insert(f.name.as_str()) {
            errs.push(
                format!("{at}.name"),
                format!("{:?} is used by another feed", f.name),
            );
        }
        match (&f.path, &f.url) {
            (Some(p), None) => must_exist(p, &format!("{at}.path"), errs),
            (None, Some(u)) => match url::Url::parse(u) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => errs.push(format!("{at}.url"), format!("{u:?} is not an http(s) URL")),
            },
            _ => errs.push(at.clone(), "needs exactly one of `path` and `url`"),
        }
        if !(f.weight.is_finite() && f.weight >= 0.0) {
            errs.push(format!("{at}.weight"), "must be a number >= 0");
        }
        for (key, v) in [("confidence", f.confidence), ("severity", f.severity)] {
            if v.is_some_and(|v| v > 100) {
                errs.push(format!("{at}.{key}"), "must be between 0 and 100");
            }
        }
    }
    for (i, a) in allowlists.iter().enumerate() {
        must_exist(&a.path, &format!("allowlists[{i}].path"), errs);
    }
}
