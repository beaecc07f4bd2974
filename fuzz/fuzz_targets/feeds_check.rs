//! The properties the feed-parser fuzz targets check (one libFuzzer binary per parser, see
//! fuzz/Cargo.toml): a parser takes any bytes without panicking or overflowing its stack, and
//! what it returns keeps the documented limits (`iocd::ioc::feed::limits`).
//!
//! A panic inside `feed::parse` is caught by its panic boundary and returned as an error
//! (`parser panicked: ...`): that error is a finding too, so it is turned back into a panic
//! here. (libfuzzer-sys's panic hook already aborts on any panic, caught or not.)

#![allow(dead_code)] // each target uses its own subset

use iocd::ioc::feed::{self, FeedError, FeedFormat, ParseOptions, Parsed, limits};

/// A feed error that is a parser bug, not a verdict on the document.
pub fn check_error(e: &FeedError) {
    assert!(
        !e.message.starts_with("parser panicked"),
        "the parser panicked: {e}"
    );
}

/// Parses `data` as `format` and checks the result.
pub fn check_feed(format: FeedFormat, data: &[u8]) {
    let opts = ParseOptions {
        // MISP: every attribute, so the attribute path is fuzzed whatever `to_ids` says.
        to_ids_only: false,
        ..ParseOptions::default()
    };
    match feed::parse(format, "fuzz", data, &opts) {
        Ok(p) => check_parsed(format, data, &p),
        Err(e) => check_error(&e),
    }
}

/// What every parse result keeps, whatever the document.
pub fn check_parsed(format: FeedFormat, data: &[u8], p: &Parsed) {
    assert_ne!(p.format, FeedFormat::Auto, "the format read is named");
    if format != FeedFormat::Auto {
        assert_eq!(p.format, format);
    }
    // A twin follows the listing it is the twin of.
    let mut prev_main = false;
    for l in &p.listings {
        assert!(!l.twin || prev_main, "a twin without its main listing");
        prev_main = !l.twin;
        if let Some(m) = &l.meta {
            assert!(m.tags.len() <= limits::MAX_TAGS, "{} tags", m.tags.len());
            assert!(m.tags.iter().all(|t| t.len() <= limits::MAX_TAG_BYTES));
            assert!(
                m.description
                    .as_ref()
                    .is_none_or(|d| d.len() <= limits::MAX_DESCRIPTION_BYTES)
            );
            assert!(m.confidence.is_none_or(|c| c <= 100));
            if let Some(cx) = &m.context {
                for names in [&cx.malware, &cx.tools, &cx.groups, &cx.campaigns, &cx.tactics] {
                    assert!(names.len() <= limits::MAX_CONTEXT_NAMES, "{} names", names.len());
                    assert!(names.iter().all(|n| !n.is_empty() && n.len() <= limits::MAX_TAG_BYTES));
                }
                assert!(cx.techniques.len() <= limits::MAX_CONTEXT_NAMES);
                assert!(cx.techniques.iter().all(|t| t.id.is_some() || t.name.is_some()));
                assert!(cx.report.as_ref().is_none_or(|r| r.len() <= limits::MAX_TAG_BYTES));
            }
        }
    }
    for r in &p.rejected {
        // The kept value is cut at MAX_REJECTED_VALUE_BYTES, plus "... (N bytes)".
        assert!(
            r.value.len() <= limits::MAX_REJECTED_VALUE_BYTES + 32,
            "a rejected value of {} bytes kept",
            r.value.len()
        );
        assert!(!r.reason.code().is_empty());
    }
    // Line-based formats: every line number is a line of the document, and no line gives more
    // than one counted listing or rejection (a CSV row may span lines, a MISP attribute two).
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    if matches!(p.format, FeedFormat::Plain | FeedFormat::Zeek | FeedFormat::Csv) {
        for l in &p.listings {
            assert!(l.line >= 1 && u64::from(l.line) <= lines, "line {}", l.line);
        }
        for r in &p.rejected {
            assert!(r.line >= 1 && u64::from(r.line) <= lines, "line {}", r.line);
        }
    }
    if p.format == FeedFormat::Plain {
        assert!(
            (p.count() + p.rejected.len()) as u64 <= lines,
            "{} listings and {} rejections from {lines} lines",
            p.count(),
            p.rejected.len()
        );
    }
    if p.format == FeedFormat::Openioc {
        // One listing or rejection per IndicatorItem at most.
        let items = data
            .windows(b"IndicatorItem".len())
            .filter(|w| *w == b"IndicatorItem")
            .count();
        assert!(p.count() + p.rejected.len() <= items);
    }
}
