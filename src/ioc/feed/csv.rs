//! CSV feeds: a column mapping from config, or columns found by their header names.
//!
//! abuse.ch and others open their CSV with a `#` banner; some (URLhaus, ThreatFox) put the
//! header itself in the banner's last line (`# id,dateadded,url,...`), others (Feodo Tracker)
//! after it as a quoted row. Both are found: the first non-comment row is the header when it
//! names a known column (or the mapping names columns), else the last comment line is.

use super::{
    ContextBuilder, FeedError, FeedFormat, Hint, Named, Parsed, Src, hint_for_type, parse_score,
    parse_time, parse_tlp,
};
use crate::config::feeds::{ColumnRef, CsvMapping};
use crate::ioc::{Reason, parse_indicator};
use iocd_engine::Meta;

/// Header names that hold the indicator, best first.
const VALUE_NAMES: &[&str] = &[
    "ioc",
    "ioc_value",
    "indicator",
    "value",
    "observable",
    "url",
    "dst_ip",
    "ip",
    "ip_address",
    "ipaddress",
    "ip_addr",
    "address",
    "domain",
    "hostname",
    "host",
    "fqdn",
    "sha256",
    "sha256_hash",
    "sha1",
    "sha1_hash",
    "md5",
    "md5_hash",
    "hash",
    "email",
];
const TYPE_NAMES: &[&str] = &["ioc_type", "indicator_type", "type", "kind"];
const CONFIDENCE_NAMES: &[&str] = &["confidence", "confidence_level", "score"];
const SEVERITY_NAMES: &[&str] = &["severity", "threat_level"];
const TAGS_NAMES: &[&str] = &["tags", "tag", "threat", "listingreason", "category"];
/// ThreatFox has both `malware` (a Malpedia id, `win.cobalt_strike`) and `malware_printable`
/// (`Cobalt Strike`): the printable name first.
const MALWARE_NAMES: &[&str] = &["malware_printable", "malware_family", "malware", "family"];
const ACTOR_NAMES: &[&str] = &["threat_actor", "actor", "intrusion_set"];
const FIRST_NAMES: &[&str] = &[
    "first_seen",
    "first_seen_utc",
    "firstseen",
    "dateadded",
    "date_added",
    "listingdate",
    "created",
];
const LAST_NAMES: &[&str] = &[
    "last_seen",
    "last_seen_utc",
    "lastseen",
    "last_online",
    "updated",
    "modified",
];
const UNTIL_NAMES: &[&str] = &["valid_until", "expires", "expiration", "valid_to"];
const TLP_NAMES: &[&str] = &["tlp"];
const DESC_NAMES: &[&str] = &["description", "comment", "desc", "message", "info"];
const PATH_NAMES: &[&str] = &["path"];

/// Whether the first non-comment row of `text`, or the last `#` line before it, is a header
/// naming a known value column.
pub(crate) fn has_known_header(text: &str) -> bool {
    let mut last_comment = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            last_comment = Some(c);
            continue;
        }
        return names_value(t) || last_comment.is_some_and(names_value);
    }
    false
}

fn split_header(line: &str, delim: u8) -> Vec<String> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delim)
        .flexible(true)
        .from_reader(line.trim().as_bytes());
    r.records()
        .next()
        .and_then(Result::ok)
        .map(|rec| rec.iter().map(|f| f.trim().to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

fn names_value(line: &str) -> bool {
    let names = split_header(line, b',');
    names.len() >= 2 && names.iter().any(|n| VALUE_NAMES.contains(&n.as_str()))
}

/// Column indexes (0-based) of every field.
#[derive(Debug, Default)]
struct Columns {
    value: usize,
    kind: Option<usize>,
    path: Option<usize>,
    confidence: Option<usize>,
    severity: Option<usize>,
    tags: Option<usize>,
    malware: Option<usize>,
    threat_actor: Option<usize>,
    first_seen: Option<usize>,
    last_seen: Option<usize>,
    valid_until: Option<usize>,
    tlp: Option<usize>,
    description: Option<usize>,
}

fn resolve(
    c: &Option<ColumnRef>,
    key: &str,
    header: Option<&[String]>,
    guess: &[&str],
) -> Result<Option<usize>, String> {
    match c {
        Some(ColumnRef::Index(i)) if *i >= 1 => Ok(Some(i - 1)),
        Some(ColumnRef::Index(_)) => Err(format!("csv.{key}: columns are numbered from 1")),
        Some(ColumnRef::Name(n)) => {
            let Some(h) = header else {
                return Err(format!("csv.{key}: no header row to find column {n:?} in"));
            };
            let want = n.trim().to_ascii_lowercase();
            h.iter().position(|x| *x == want).map(Some).ok_or_else(|| {
                format!("csv.{key}: no column named {n:?} (header: {})", h.join(","))
            })
        }
        None => Ok(header.and_then(|h| guess.iter().find_map(|g| h.iter().position(|x| x == g)))),
    }
}

fn columns(m: &CsvMapping, header: Option<&[String]>) -> Result<Columns, String> {
    let value = resolve(&m.value, "value", header, VALUE_NAMES)?.ok_or_else(|| match header {
        Some(h) => format!("no value column: set `csv.value` (header: {})", h.join(",")),
        None => "no header row: set `csv.value` to the value column's number".to_owned(),
    })?;
    let mapped = |c: &Option<ColumnRef>, key, guess| resolve(c, key, header, guess);
    let mut cols = Columns {
        value,
        kind: mapped(&m.kind, "type", TYPE_NAMES)?,
        path: mapped(&m.path, "path", PATH_NAMES)?,
        confidence: mapped(&m.confidence, "confidence", CONFIDENCE_NAMES)?,
        severity: mapped(&m.severity, "severity", SEVERITY_NAMES)?,
        tags: mapped(&m.tags, "tags", TAGS_NAMES)?,
        malware: mapped(&m.malware, "malware", MALWARE_NAMES)?,
        threat_actor: mapped(&m.threat_actor, "threat_actor", ACTOR_NAMES)?,
        first_seen: mapped(&m.first_seen, "first_seen", FIRST_NAMES)?,
        last_seen: mapped(&m.last_seen, "last_seen", LAST_NAMES)?,
        valid_until: mapped(&m.valid_until, "valid_until", UNTIL_NAMES)?,
        tlp: mapped(&m.tlp, "tlp", TLP_NAMES)?,
        description: mapped(&m.description, "description", DESC_NAMES)?,
    };
    // A guessed metadata column must not be the value column itself (a `host` value column
    // and a `path` column are both guesses on URLhaus rows, but `type` = `ioc` would not be).
    for c in [
        &mut cols.kind,
        &mut cols.path,
        &mut cols.confidence,
        &mut cols.severity,
        &mut cols.tags,
        &mut cols.malware,
        &mut cols.threat_actor,
        &mut cols.first_seen,
        &mut cols.last_seen,
        &mut cols.valid_until,
        &mut cols.tlp,
        &mut cols.description,
    ] {
        if *c == Some(value) {
            *c = None;
        }
    }
    Ok(cols)
}

/// Parses a CSV feed.
pub(crate) fn parse(
    location: &str,
    bytes: &[u8],
    mapping: Option<&CsvMapping>,
) -> Result<Parsed, FeedError> {
    let default = CsvMapping {
        delimiter: ',',
        header: true,
        ..CsvMapping::default()
    };
    let m = mapping.unwrap_or(&default);
    let delim = u8::try_from(m.delimiter)
        .map_err(|_| FeedError::new(location, "csv.delimiter must be ASCII"))?;
    let mut out = Parsed::new(FeedFormat::Csv, bytes.len());

    // Find the first data row, remembering the last comment line before it.
    let mut offset = 0;
    let mut line_no = 1u32;
    let mut last_comment: Option<&[u8]> = None;
    while offset < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i);
        let line = &bytes[offset..end];
        let t = line.trim_ascii();
        if t.is_empty() {
        } else if let Some(c) = t.strip_prefix(b"#") {
            last_comment = Some(c);
        } else {
            break;
        }
        offset = (end + 1).min(bytes.len());
        line_no += 1;
    }
    let first_row = {
        let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i);
        String::from_utf8_lossy(&bytes[offset..end]).into_owned()
    };
    let mut data_start = offset;
    let mut data_line = line_no;
    let header: Option<Vec<String>> = if !m.header {
        None
    } else {
        let row = split_header(&first_row, delim);
        // A data row can name a column too: ThreatFox's `ioc_type` cell says `domain` or
        // `url`. A row with an indicator in it is data, whatever else it says.
        let row_names_something = (row.iter().any(|n| VALUE_NAMES.contains(&n.as_str()))
            || names_mapped(m, &row))
            && !row.iter().any(|cell| parse_indicator(cell).is_ok());
        let comment = last_comment
            .map(|c| split_header(&String::from_utf8_lossy(c), delim))
            .filter(|c| c.iter().any(|n| VALUE_NAMES.contains(&n.as_str())) || names_mapped(m, c));
        if row_names_something || comment.is_none() {
            // The first row is the header (or nothing names the columns: it still is, and
            // the mapping must say which is the value).
            data_start =
                memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i + 1);
            data_line += 1;
            Some(row)
        } else {
            comment
        }
    };
    let cols = columns(m, header.as_deref()).map_err(|e| FeedError::new(location, e))?;

    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delim)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(&bytes[data_start..]);
    let mut rec = ::csv::ByteRecord::new();
    loop {
        let line = data_line + rdr.position().line() as u32 - 1;
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e
                    .position()
                    .map_or(line, |p| data_line + p.line() as u32 - 1);
                let src = Src {
                    location,
                    line,
                    at: None,
                };
                out.reject(&src, "", Reason::Malformed(format!("CSV: {e}")));
                continue;
            }
        }
        let line = rec
            .position()
            .map_or(line, |p| data_line + p.line() as u32 - 1);
        let src = Src {
            location,
            line,
            at: None,
        };
        let field = |i: Option<usize>| -> Option<String> {
            let f = rec.get(i?)?;
            let s = String::from_utf8_lossy(f);
            let s = s.trim();
            (!s.is_empty() && s != "-" && s != "(empty)").then(|| s.to_owned())
        };
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let Some(mut value) = field(Some(cols.value)) else {
            if rec.len() <= cols.value {
                let raw = rec
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(",");
                out.reject(
                    &src,
                    &raw,
                    Reason::Malformed(format!(
                        "{} fields, the value is column {}",
                        rec.len(),
                        cols.value + 1
                    )),
                );
            } else {
                out.skip("empty_value");
            }
            continue;
        };
        let path = field(cols.path);
        let hint = match field(cols.kind) {
            None => Hint::Any,
            Some(t) => match hint_for_type(&t) {
                Some(h) => h,
                None => {
                    out.reject(
                        &src,
                        &value,
                        Reason::Unsupported(format!("indicator type {t:?}")),
                    );
                    continue;
                }
            },
        };
        let mut meta = Meta {
            confidence: field(cols.confidence).and_then(|s| parse_score(&s)),
            severity: field(cols.severity).and_then(|s| parse_score(&s)),
            first_seen: field(cols.first_seen).and_then(|s| parse_time(&s)),
            last_seen: field(cols.last_seen).and_then(|s| parse_time(&s)),
            valid_until: field(cols.valid_until).and_then(|s| parse_time(&s)),
            tlp: field(cols.tlp).and_then(|s| parse_tlp(&s)),
            description: field(cols.description),
            ..Meta::default()
        };
        if let Some(t) = field(cols.tags) {
            meta.tags = t
                .split([',', ';', '|'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let mut cx = ContextBuilder::default();
        for (col, kind) in [
            (cols.malware, Named::Malware),
            (cols.threat_actor, Named::Group),
        ] {
            for name in field(col).iter().flat_map(|f| f.split([',', ';', '|'])) {
                // ThreatFox writes `None` for an unknown family.
                if !matches!(name.trim(), "None" | "none" | "n/a" | "-" | "unknown") {
                    cx.add(kind, name);
                }
            }
        }
        meta.context = cx.finish(&mut out);
        match path {
            // The host and the path of a URL whose scheme the feed does not say.
            Some(path) if matches!(hint, Hint::Any | Hint::Url) && !value.contains("://") => {
                if !path.starts_with('/') {
                    value.push('/');
                }
                value.push_str(&path);
                out.add_host_path(&src, &value, Some(&meta));
            }
            _ => out.add_value(&src, &value, hint, Some(&meta), false),
        }
    }
    Ok(out)
}

/// Whether a header row holds a column the mapping names.
fn names_mapped(m: &CsvMapping, row: &[String]) -> bool {
    [&m.value, &m.kind].into_iter().any(
        |c| matches!(c, Some(ColumnRef::Name(n)) if row.contains(&n.trim().to_ascii_lowercase())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use iocd_engine::{IocKind, Pattern};

    #[test]
    fn abuse_ch_banner_and_quoted_header() {
        let text = "################\n# abuse.ch Feodo Tracker\n################\n\
            \"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\
            \"2023-05-23 17:51:44\",\"192.9.135.73\",\"1194\",\"online\",\"2024-04-01\",\"Pikabot\"\n\
            \"2023-05-24 01:00:00\",\"not-an-ip\",\"443\",\"online\",\"2024-04-01\",\"QakBot\"\n\
            # Number of entries: 2\n";
        let p = parse("f.csv", text.as_bytes(), None).unwrap();
        assert_eq!(p.listings.len(), 1);
        let l = &p.listings[0];
        assert_eq!(l.pattern.to_string(), "192.9.135.73");
        assert_eq!(l.line, 5);
        let m = l.meta.as_ref().unwrap();
        assert_eq!(m.first_seen, Some(1684864304));
        assert_eq!(m.last_seen, Some(1711929600));
        // The malware column is the listing's threat context, not a tag.
        assert!(m.tags.is_empty());
        assert_eq!(m.context.as_ref().unwrap().malware, vec!["Pikabot"]);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 6);
        assert_eq!(p.rejected[0].value, "not-an-ip");
    }

    #[test]
    fn threatfox_printable_malware_and_actor_columns_are_context() {
        let text = "# \"first_seen_utc\",\"ioc_id\",\"ioc_value\",\"ioc_type\",\"threat_type\",\"fk_malware\",\"malware_alias\",\"malware_printable\",\"tags\"\n\
            \"2024-01-01 00:00:00\",\"1\",\"evil.example\",\"domain\",\"botnet_cc\",\"win.cobalt_strike\",\"\",\"Cobalt Strike\",\"c2,cs\"\n\
            \"2024-01-01 00:00:00\",\"2\",\"worse.example\",\"domain\",\"botnet_cc\",\"unknown\",\"\",\"None\",\"\"\n\
            \"2024-01-01 00:00:00\",\"3\",\"third.example\",\"domain\",\"botnet_cc\",\"win.cobalt_strike\",\"\",\"Cobalt Strike\",\"c2,cs\"\n";
        let p = parse("tf.csv", text.as_bytes(), None).unwrap();
        assert_eq!(p.listings.len(), 3);
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.tags, vec!["c2", "cs"]);
        let cx = m.context.as_ref().unwrap();
        assert_eq!(cx.malware, vec!["Cobalt Strike"]);
        // `None` is ThreatFox's word for no family: no context.
        assert!(p.listings[1].meta.as_ref().unwrap().context.is_none());
        // Rows naming the same family share one copy.
        let third = p.context(2);
        assert!(std::sync::Arc::ptr_eq(cx, &third));

        let text = "ip,actor\n203.0.113.9,APT28|Sofacy\n";
        let p = parse("a.csv", text.as_bytes(), None).unwrap();
        let cx = p.context(0);
        assert_eq!(cx.groups, vec!["APT28", "Sofacy"]);
        // Mapped by name in the configuration.
        let m = CsvMapping {
            value: Some(ColumnRef::Index(1)),
            malware: Some(ColumnRef::Name("fam".into())),
            header: true,
            delimiter: ',',
            ..CsvMapping::default()
        };
        let p = parse("m.csv", b"v,fam\n203.0.113.10,Emotet\n", Some(&m)).unwrap();
        let cx = p.context(0);
        assert_eq!(cx.malware, vec!["Emotet"]);
    }

    #[test]
    fn header_in_last_comment_line() {
        let text = "# URLhaus\n# id,dateadded,url,url_status,threat,tags\n\
            \"1\",\"2024-01-01 00:00:00\",\"http://evil.com/a.exe\",\"online\",\"malware_download\",\"exe,Mozi\"\n";
        let p = parse("u.csv", text.as_bytes(), None).unwrap();
        assert_eq!(p.listings.len(), 1);
        assert_eq!(p.listings[0].pattern.to_string(), "http://evil.com/a.exe");
        assert_eq!(p.listings[0].line, 3);
        assert_eq!(
            p.listings[0].meta.as_ref().unwrap().tags,
            vec!["exe", "Mozi"]
        );
    }

    #[test]
    fn mapping_by_name_and_index_with_types() {
        let text = "ioc;kind;conf;sev;fam;until\n\
            1.2.3.4:80;ip:port;90;high;a|b;2030-01-01\n\
            evil.com;md5_hash;50;low;;\n\
            Global\\Mtx01;mutex;;;;\n\
            x;weird;;;;\n";
        let m = CsvMapping {
            value: Some(ColumnRef::Name("IOC".into())),
            kind: Some(ColumnRef::Index(2)),
            confidence: Some(ColumnRef::Name("conf".into())),
            severity: Some(ColumnRef::Index(4)),
            tags: Some(ColumnRef::Name("fam".into())),
            valid_until: Some(ColumnRef::Index(6)),
            delimiter: ';',
            header: true,
            ..CsvMapping::default()
        };
        let p = parse("m.csv", text.as_bytes(), Some(&m)).unwrap();
        assert_eq!(p.listings.len(), 2);
        let a = &p.listings[0];
        assert_eq!(a.pattern, Pattern::Ipv4("1.2.3.4".parse().unwrap()));
        let meta = a.meta.as_ref().unwrap();
        assert_eq!((meta.confidence, meta.severity), (Some(90), Some(75)));
        assert_eq!(meta.tags, vec!["a", "b"]);
        assert_eq!(meta.valid_until, Some(1893456000));
        assert_eq!(p.listings[1].pattern.kind(), IocKind::String);
        let reasons: Vec<_> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.code()))
            .collect();
        assert_eq!(reasons, vec![(3, "type_mismatch"), (5, "unsupported")]);
    }

    #[test]
    fn host_and_path_columns() {
        let text = "\"host\",\"path\",\"message\",\"updated\"\n\
            \"evil.com\",\"\",\"bad\",\"2025-07-19T12:11:28Z\"\n\
            \"1.2.3.4\",\"/x/a.sh\",\"bad\",\"2025-07-19T12:11:28Z\"\n\
            \"web.archive.org\",\"/web/2022/https://evil.com/a.pdf\",\"bad\",\"\"\n";
        let p = parse("s.csv", text.as_bytes(), None).unwrap();
        let got: Vec<String> = p.listings.iter().map(|l| l.pattern.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "evil.com",
                "http://1.2.3.4/x/a.sh",
                "https://1.2.3.4/x/a.sh",
                "http://web.archive.org/web/2022/https://evil.com/a.pdf",
                "https://web.archive.org/web/2022/https://evil.com/a.pdf",
            ]
        );
        assert_eq!(p.count(), 3);
        assert_eq!(
            p.listings[0].meta.as_ref().unwrap().description.as_deref(),
            Some("bad")
        );
    }

    #[test]
    fn no_value_column_is_a_feed_error() {
        let e = parse("n.csv", b"a,b\n1,2\n", None).unwrap_err();
        assert!(e.message.contains("no value column"), "{e}");
        let m = CsvMapping {
            value: Some(ColumnRef::Index(3)),
            header: false,
            delimiter: ',',
            ..CsvMapping::default()
        };
        let p = parse("n.csv", b"a,b,1.2.3.4\nc,d\n", Some(&m)).unwrap();
        assert_eq!(p.listings.len(), 1);
        assert_eq!(p.rejected[0].line, 2);
        assert_eq!(p.rejected[0].reason.code(), "malformed");
    }
}
