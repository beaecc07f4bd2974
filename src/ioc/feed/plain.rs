//! Plain lists: one indicator per line, its type inferred.

use super::{FeedFormat, Hint, Parsed, Src};
use crate::ioc::{Reason, Reject};

/// Parses a plain list. See [`crate::ioc::SetBuilder::add_plain_list`] for the line syntax.
pub(crate) fn parse(location: &str, bytes: &[u8]) -> Parsed {
    let mut out = Parsed::new(FeedFormat::Plain);
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let src = Src {
            location,
            line: u32::try_from(n + 1).unwrap_or(u32::MAX),
            at: None,
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(s) = std::str::from_utf8(raw) else {
            out.reject(
                &src,
                &String::from_utf8_lossy(raw),
                Reason::Invalid(Reject::NotUtf8),
            );
            continue;
        };
        if let Some(value) = plain_value(s) {
            out.add_value(&src, value, Hint::Any, None, false);
        }
    }
    out
}

/// The indicator on a plain-list line, or `None` for blank and comment lines.
pub(crate) fn plain_value(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.is_empty()
        || t.starts_with('#')
        || t.starts_with('!')
        || t.starts_with("//")
        || t.starts_with(';')
    {
        return None;
    }
    // A bullet, as lists copied from threat reports have them: `- evil[.]com`, `* 1.2.3.4`.
    let t = match t.strip_prefix(['-', '*', '+', '\u{2022}']) {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => t,
    };
    if t.is_empty() {
        return None;
    }
    // An adblock network rule (`||host/path^$options`, as uBlock lists write URLhaus): the
    // host and path it blocks.
    if let Some(rule) = t.strip_prefix("||") {
        let end = rule.find(['^', '$', ' ', '\t']).unwrap_or(rule.len());
        return Some(&rule[..end]).filter(|v| !v.is_empty());
    }
    let has_prefix = |p: &str| t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if has_prefix("string:") || has_prefix("istring:") {
        return Some(t.trim_end());
    }
    let first = t.split([' ', '\t']).next().unwrap_or(t);
    if first.contains("://") {
        return Some(first);
    }
    Some(first.split([';', ',']).next().unwrap_or(first)).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let cases = [
            ("1.2.3.4  # c", Some("1.2.3.4")),
            ("1.2.3.4\t10", Some("1.2.3.4")),
            ("hash;desc", Some("hash")),
            ("103.29.68.0/22,linode", Some("103.29.68.0/22")),
            ("http://a.com/x?a=1,b=2 # c", Some("http://a.com/x?a=1,b=2")),
            ("||evil.com/x/a.exe^$all", Some("evil.com/x/a.exe")),
            ("||evil.com^", Some("evil.com")),
            ("||^", None),
            (
                "- hxxps://evil[.]org/x.php",
                Some("hxxps://evil[.]org/x.php"),
            ),
            ("\u{2022} evil[.]org", Some("evil[.]org")),
            ("-", Some("-")),
            ("- ", None),
            ("-evil.com", Some("-evil.com")),
            ("! comment", None),
            ("   ", None),
        ];
        for (line, want) in cases {
            assert_eq!(plain_value(line), want, "{line}");
        }
    }
}
