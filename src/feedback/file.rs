//! The feedback file (`[feedback] path`): one verdict per line, read with its line numbers,
//! and the state file the marks are kept in.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::*;

/// The whole of `path`, or `None` when it is longer than `max` bytes (read no further).
pub(super) fn read_at_most(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`:
/// a crash leaves the old file or the new one, never half of one.
/// The temporary name is `crate::statefile`'s, so that a start after a crash removes what
/// this left behind.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::statefile::write_atomic(path, bytes)
}

pub(super) fn load_state(path: &Path) -> Result<Vec<Arc<Mark>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let views: Vec<MarkView> = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(views.len());
    for v in views {
        let created = parse_time(&v.created).ok_or_else(|| format!("bad time {:?}", v.created))?;
        let m = make_mark(
            &v.indicator,
            v.host.as_deref(),
            v.expires.as_deref(),
            &v.reason,
            &v.analyst,
            created,
            MarkOrigin::Api,
        )
        .map_err(|e| e.to_string())?;
        m.hits.store(v.hits, Ordering::Relaxed);
        out.push(Arc::new(m));
    }
    Ok(out)
}

/// The indicators of `set` whose canonical text is `text` (a mark's indicator): the text
/// alone does not say whether a domain was listed with its subdomains, a URL as a prefix or a
/// string case-insensitively, so each form is looked up.
pub(super) fn listed(set: &crate::IocSet, text: &str) -> Vec<crate::IocId> {
    use iocd_engine::Pattern;
    let mut candidates: Vec<Pattern> = Vec::with_capacity(4);
    match crate::ioc::parse_indicator(text) {
        Ok(Pattern::Domain { name, .. }) => {
            for subdomains in [true, false] {
                candidates.push(Pattern::Domain {
                    name: name.clone(),
                    subdomains,
                });
            }
        }
        Ok(Pattern::Url { url, .. }) => {
            for prefix in [false, true] {
                candidates.push(Pattern::Url {
                    url: url.clone(),
                    prefix,
                });
            }
        }
        Ok(p) => candidates.push(p),
        Err(_) => {}
    }
    for case_insensitive in [false, true] {
        candidates.push(Pattern::String {
            text: text.to_owned(),
            case_insensitive,
        });
    }
    let mut ids: Vec<crate::IocId> = candidates
        .iter()
        .filter_map(|p| set.find(p))
        .filter(|&id| set.pattern(id).to_string() == text)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The canonical text of an indicator, and of its `https://` twin for a scheme-less URL.
pub fn canonical_indicator(raw: &str) -> Result<(String, Option<String>), FeedbackError> {
    check_text("indicator", raw, MAX_INDICATOR_BYTES)?;
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(FeedbackError::Empty("indicator"));
    }
    let p = crate::ioc::parse_indicator(raw).map_err(|e| FeedbackError::Indicator {
        value: raw.to_owned(),
        reason: e.to_string(),
    })?;
    let twin = crate::ioc::https_twin(raw, &p).map(|t| t.to_string());
    Ok((p.to_string(), twin))
}

/// An IP address in its canonical text (an IPv4-mapped IPv6 address as its IPv4 address), or
/// a lower-case host name without a trailing dot.
/// `None` for an empty value or one with characters no host name has.
pub fn canonical_host(raw: &str) -> Option<String> {
    let h = raw.trim();
    let bare = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        // A dual-stack log writes an IPv4 client as `::ffff:10.1.2.3`: the same host.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        return Some(ip.to_string());
    }
    let name = h.trim_end_matches('.');
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then(|| name.to_ascii_lowercase())
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339, or a duration after `now`.
pub(super) fn parse_expires(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FeedbackError> {
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    humantime::parse_duration(s.trim())
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| FeedbackError::Expires(s.to_owned()))
}

pub(super) fn make_mark(
    indicator: &str,
    host: Option<&str>,
    expires: Option<&str>,
    reason: &str,
    analyst: &str,
    created: DateTime<Utc>,
    origin: MarkOrigin,
) -> Result<Mark, FeedbackError> {
    check_text("reason", reason, MAX_REASON_BYTES)?;
    check_text("analyst", analyst, MAX_ANALYST_BYTES)?;
    if let Some(e) = expires {
        check_text("expires", e, MAX_EXPIRES_BYTES)?;
    }
    let (indicator, twin) = canonical_indicator(indicator)?;
    let host = match host.filter(|h| !h.trim().is_empty()) {
        Some(h) => {
            check_text("host", h, MAX_HOST_BYTES)?;
            Some(canonical_host(h).ok_or_else(|| FeedbackError::Host(h.to_owned()))?)
        }
        None => None,
    };
    let expires_spec = expires
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    let expires = match &expires_spec {
        Some(e) => Some(parse_expires(e, created)?),
        None => None,
    };
    Ok(Mark {
        indicator,
        twin,
        host,
        reason: reason.to_owned(),
        analyst: analyst.to_owned(),
        created,
        expires,
        origin,
        expires_spec,
        hits: AtomicU64::new(0),
        last_hit: AtomicI64::new(0),
    })
}

/// Parses the feedback file format (see the module docs). `now` is the creation time of
/// every mark and the start of relative expiries.
pub(super) fn parse_file(text: &str, now: DateTime<Utc>) -> (Vec<Mark>, Vec<LineError>) {
    let mut marks: Vec<Mark> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (fields, reason) = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(at) => (&line[..at], line[at + 2..].trim()),
            None => (line, ""),
        };
        let mut parts = fields.split_whitespace();
        let indicator = parts.next().unwrap_or_default();
        let (mut host, mut expires, mut analyst) = (None, None, None);
        let mut bad = None;
        for p in parts {
            match p.split_once('=') {
                Some(("host", v)) => host = Some(v),
                Some(("expires", v)) => expires = Some(v),
                Some(("analyst", v)) => analyst = Some(v),
                _ => {
                    bad = Some(format!(
                        "unexpected {p:?}: after the indicator only host=, expires=, analyst= and \"# reason\""
                    ));
                    break;
                }
            }
        }
        let made = match bad {
            Some(reason) => Err(reason),
            None => make_mark(
                indicator,
                host,
                expires,
                reason,
                analyst.unwrap_or("feedback file"),
                now,
                MarkOrigin::File,
            )
            .map_err(|e| e.to_string()),
        };
        match made {
            Ok(m) => {
                // The same target twice: the later line wins, as when editing a list.
                marks.retain(|o| !o.same_target(&m.indicator, m.host.as_deref()));
                marks.push(m);
            }
            Err(reason) => errors.push(LineError {
                line: line_no,
                reason,
            }),
        }
    }
    (marks, errors)
}

/// For the fuzz target only (fuzz/fuzz_targets/feedback_file.rs): parses feedback-file bytes
/// as [`Feedback::load_file`] does, and returns how many marks it gave and the line numbers of
/// the lines it reported.
#[cfg(feature = "fuzzing")]
pub fn parse_feedback_file(bytes: &[u8]) -> (usize, Vec<usize>) {
    let (marks, errors) = parse_file(&String::from_utf8_lossy(bytes), Utc::now());
    (marks.len(), errors.iter().map(|e| e.line).collect())
}
