//! Plain lists: one indicator per line, its type inferred.

use super::{FeedFormat, Hint, Parsed, Src};
use crate::ioc::{Reason, Reject};

/// Lists larger than this are parsed by one thread per core, each on a run of whole lines.
const PARALLEL_BYTES: usize = 1 << 20;

/// Parses a plain list. See [`crate::ioc::SetBuilder::add_plain_list`] for the line syntax.
///
/// Parsing (refanging, inference, validation) is most of the cost of loading a big list, and
/// lines are independent: a big list is cut at line feeds into one part per core, the parts
/// are parsed side by side and their results joined in order, so the output is the same as
/// one pass's.
pub(crate) fn parse(location: &str, bytes: &[u8]) -> Parsed {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get());
    if text.len() < PARALLEL_BYTES || parts < 2 {
        return parse_lines(location, text, 1);
    }
    // Cut points: just after a line feed near each 1/parts of the text.
    let mut cuts = vec![0];
    for k in 1..parts {
        let near = text.len() * k / parts;
        let cut = memchr::memchr(b'\n', &text[near..]).map_or(text.len(), |i| near + i + 1);
        if cut > *cuts.last().expect("starts with 0") && cut < text.len() {
            cuts.push(cut);
        }
    }
    cuts.push(text.len());
    // The first line number of each part.
    let mut first = vec![1u32];
    for w in cuts.windows(2).take(cuts.len() - 2) {
        let lines = memchr::memchr_iter(b'\n', &text[w[0]..w[1]]).count() as u32;
        first.push(first.last().expect("starts with 1") + lines);
    }
    let parsed: Vec<Parsed> = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .zip(&first)
            .map(|(w, &line)| scope.spawn(move || parse_lines(location, &text[w[0]..w[1]], line)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a plain-list parser thread panicked"))
            .collect()
    });
    let mut out = Parsed::new(FeedFormat::Plain, text.len());
    for p in parsed {
        out.listings.extend(p.listings);
        out.rejected.extend(p.rejected);
        for (k, v) in p.skipped {
            *out.skipped.entry(k).or_default() += v;
        }
    }
    out
}

/// Parses whole lines, the first of which is line `first_line` of the document.
fn parse_lines(location: &str, text: &[u8], first_line: u32) -> Parsed {
    let mut out = Parsed::new(FeedFormat::Plain, text.len());
    // Valid UTF-8 as a whole (the usual case) is checked once, not line by line.
    let whole = std::str::from_utf8(text).ok();
    let mut start = 0;
    let mut line = first_line;
    // `<=`: like splitting at line feeds, text ending in one yields a last empty line.
    while start <= text.len() {
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let raw = &text[start..end];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let src = Src {
            location,
            line,
            at: None,
        };
        let s = match whole {
            Some(w) => Some(&w[start..start + raw.len()]),
            None => std::str::from_utf8(raw).ok(),
        };
        match s {
            Some(s) => {
                if let Some(value) = plain_value(s) {
                    out.add_value(&src, value, Hint::Any, None, false);
                }
            }
            None => out.reject(
                &src,
                &String::from_utf8_lossy(raw),
                Reason::Invalid(Reject::NotUtf8),
            ),
        }
        line = line.saturating_add(1);
        start = end + 1;
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
    let first = &t[..memchr::memchr2(b' ', b'\t', t.as_bytes()).unwrap_or(t.len())];
    if memchr::memmem::find(first.as_bytes(), b"://").is_some() {
        return Some(first);
    }
    let end = memchr::memchr2(b';', b',', first.as_bytes()).unwrap_or(first.len());
    Some(&first[..end]).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_parse_equals_one_pass() {
        let mut text = String::from("\u{feff}# big list\r\n");
        for i in 0..120_000u32 {
            match i % 7 {
                0 => text.push_str(&format!(
                    "{}.{}.{}.{}\r\n",
                    1 + i % 200,
                    i % 251,
                    i % 13,
                    1 + i % 250
                )),
                1 => text.push_str(&format!("d{i}.example.com # c\n")),
                2 => text.push_str("not_an_indicator\n"),
                3 => text.push_str(&format!("hxxp://h{i}[.]example.org/p?{i}\n")),
                4 => text.push('\n'),
                5 => text.push_str(&format!("{:032x}\n", i as u128 * 7919)),
                _ => text.push_str(&format!("- e{i}[.]example.net\n")),
            }
        }
        text.push_str("last.example.com");
        assert!(text.len() > PARALLEL_BYTES);
        let body = text.as_bytes().strip_prefix(b"\xEF\xBB\xBF").unwrap();
        let one = parse_lines("f", body, 1);
        let many = parse("f", text.as_bytes());
        let key = |p: &Parsed| {
            (
                p.listings
                    .iter()
                    .map(|l| (l.line, l.pattern.to_string(), l.twin))
                    .collect::<Vec<_>>(),
                p.rejected
                    .iter()
                    .map(|r| (r.line, r.value.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(key(&one), key(&many));
        assert_eq!(many.rejected.len(), 120_000 / 7 + 1);
        assert_eq!(many.listings.last().unwrap().line, 120_002);
    }

    #[test]
    fn a_bad_byte_rejects_its_line_only() {
        let p = parse("f", b"1.2.3.4\n\xff\xfe\n5.6.7.8");
        assert_eq!(p.listings.len(), 2);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 2);
        assert_eq!(p.listings[1].line, 3);
    }

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
