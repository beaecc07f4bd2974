//! The one way iocd writes a time: RFC 3339 ([`rfc3339`] and its forms for Unix times and
//! system times). A leaf: it knows no feature. Reading the times logs write is
//! `decode::time`'s job.

use chrono::{DateTime, TimeZone, Utc};

/// How many digits of the second an RFC 3339 text carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digits {
    /// Whole seconds: `2026-11-22T10:00:03Z`.
    Secs,
    /// Milliseconds, always three digits: `2026-11-22T10:00:03.000Z`.
    Millis,
    /// As many as the time has (none, 3, 6 or 9), in the time's own offset.
    Auto,
}

/// The one way iocd writes a time: RFC 3339, in UTC unless `t` carries an offset
/// ([`Digits::Auto`] keeps it).
pub(crate) fn rfc3339<Tz: TimeZone>(t: &DateTime<Tz>, digits: Digits) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let format = match digits {
        Digits::Secs => chrono::SecondsFormat::Secs,
        Digits::Millis => chrono::SecondsFormat::Millis,
        Digits::Auto => chrono::SecondsFormat::AutoSi,
    };
    match digits {
        Digits::Auto => t.to_rfc3339_opts(format, true),
        _ => t.with_timezone(&Utc).to_rfc3339_opts(format, true),
    }
}

/// [`rfc3339`] of a Unix time in milliseconds, clamped to what RFC 3339 can write (the epoch
/// to the end of year 9999).
pub(crate) fn rfc3339_ms(ms: i64, digits: Digits) -> String {
    const MAX_MS: i64 = 253_402_300_799_999;
    let t = DateTime::from_timestamp_millis(ms.clamp(0, MAX_MS)).unwrap_or_default();
    rfc3339(&t, digits)
}

/// [`rfc3339`] of a Unix time in seconds; `None` before the epoch or after year 9999.
pub(crate) fn rfc3339_secs(secs: i64) -> Option<String> {
    if !(0..=253_402_300_799).contains(&secs) {
        return None;
    }
    Some(rfc3339(&DateTime::from_timestamp(secs, 0)?, Digits::Secs))
}

/// [`rfc3339`] of a system time (before the epoch: the epoch).
pub(crate) fn rfc3339_system(t: std::time::SystemTime, digits: Digits) -> String {
    rfc3339(&DateTime::<Utc>::from(t.max(std::time::UNIX_EPOCH)), digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_for_every_writer() {
        assert_eq!(rfc3339_ms(0, Digits::Millis), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-5, Digits::Millis), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_ms(i64::MAX, Digits::Millis),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_ms(1_764_000_003_250, Digits::Secs),
            "2025-11-24T16:00:03Z"
        );
        assert_eq!(
            rfc3339_secs(1_764_000_003).as_deref(),
            Some("2025-11-24T16:00:03Z")
        );
        assert_eq!(rfc3339_secs(-1), None);
        assert_eq!(rfc3339_secs(253_402_300_800), None);
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:03.5+01:00").unwrap();
        assert_eq!(rfc3339(&t, Digits::Auto), "2026-11-22T10:00:03.500+01:00");
        assert_eq!(rfc3339(&t, Digits::Secs), "2026-11-22T09:00:03Z");
    }

    #[test]
    fn system_times_are_written_in_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_003_250);
        assert_eq!(
            rfc3339_system(t, Digits::Millis),
            "2025-11-24T16:00:03.250Z"
        );
        assert_eq!(rfc3339_system(t, Digits::Secs), "2025-11-24T16:00:03Z");
    }
}
