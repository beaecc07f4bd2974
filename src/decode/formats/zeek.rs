//! Zeek ASCII (TSV) logs. Their columns are named only by the `#fields` line at the top of the
//! file, which the stream has long passed when a line hits, so the caller keeps a
//! [`ZeekHeader`] per stream, feeds it every `#` line ([`ZeekHeader::update`]) and passes it
//! to [`decode`](super::super::event::decode). A line is read as Zeek only when it has exactly
//! the header's number of columns; without a header a Zeek line is not decoded (a tab-separated
//! line with no names says nothing reliable about which column is which).

use std::borrow::Cow;

use super::super::event::{Encoding, Event, Format};
use super::json::{local_orig_resp, zeek_name};
use super::set_direction;

const MAX_COLUMNS: usize = 512;

/// What a Zeek log's header says: separators, the log's path (`conn`, `dns`, ...) and the
/// column names. Build one per stream with [`ZeekHeader::update`] on each `#` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeekHeader {
    separator: u8,
    set_separator: u8,
    unset: Vec<u8>,
    empty: Vec<u8>,
    path: Option<String>,
    fields: Vec<String>,
    names: Vec<Cow<'static, str>>,
}

impl Default for ZeekHeader {
    fn default() -> Self {
        ZeekHeader {
            separator: b'\t',
            set_separator: b',',
            unset: b"-".to_vec(),
            empty: b"(empty)".to_vec(),
            path: None,
            fields: Vec::new(),
            names: Vec::new(),
        }
    }
}

/// `\x09` -> tab; a single plain character stands for itself.
fn unescape_sep(v: &[u8]) -> Option<u8> {
    match v {
        [c] => Some(*c),
        [b'\\', b'x', h, l] => u8::from_str_radix(std::str::from_utf8(&[*h, *l]).ok()?, 16).ok(),
        _ => None,
    }
}

impl ZeekHeader {
    /// An empty header (tab separator, no columns yet).
    pub fn new() -> ZeekHeader {
        ZeekHeader::default()
    }

    /// A header read from the `#` lines among `lines` (the first lines of a log file).
    /// `None` when there is no `#fields` line.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<ZeekHeader> {
        let mut h = ZeekHeader::new();
        for l in lines {
            h.update(l);
        }
        h.is_complete().then_some(h)
    }

    /// Reads one line of the stream: a header line (`#separator`, `#set_separator`,
    /// `#unset_field`, `#empty_field`, `#path`, `#fields`) updates the header and returns
    /// `true`; `#fields` replaces the columns (a new file in the same stream). Other `#` lines
    /// (`#types`, `#open`, `#close`) return `true` and change nothing; data lines return
    /// `false`.
    pub fn update(&mut self, line: &[u8]) -> bool {
        let mut line = line;
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if line.first() != Some(&b'#') {
            return false;
        }
        if let Some(v) = line.strip_prefix(b"#separator ") {
            if let Some(s) = unescape_sep(v.trim_ascii()) {
                self.separator = s;
            }
            return true;
        }
        let sep = self.separator;
        let mut parts = line.split(|&c| c == sep);
        let key = parts.next().unwrap_or_default();
        let value = || line.get(key.len() + 1..).unwrap_or_default();
        match key {
            b"#set_separator" => {
                if let Some(s) = unescape_sep(value()) {
                    self.set_separator = s;
                }
            }
            b"#unset_field" => self.unset = value().iter().take(32).copied().collect(),
            b"#empty_field" => self.empty = value().iter().take(32).copied().collect(),
            b"#path" => {
                self.path =
                    Some(String::from_utf8_lossy(&value()[..value().len().min(64)]).into_owned())
            }
            b"#fields" => {
                self.fields = parts
                    .take(MAX_COLUMNS)
                    .map(|f| String::from_utf8_lossy(&f[..f.len().min(128)]).into_owned())
                    .collect();
                self.names = self
                    .fields
                    .iter()
                    .map(|f| match zeek_name(f.as_bytes()) {
                        Some(n) => Cow::Borrowed(n),
                        None => Cow::Owned(format!("zeek.{f}")),
                    })
                    .collect();
            }
            _ => {}
        }
        true
    }

    /// The header as `#` lines (each ended by `\n`) that [`ZeekHeader::from_lines`] reads
    /// back into the same header: how the retro spool keeps it beside the lines it governs.
    pub fn to_lines(&self) -> Vec<u8> {
        let sep = self.separator;
        let mut out = format!("#separator \\x{sep:02x}\n").into_bytes();
        let mut line = |key: &[u8], values: &[&[u8]]| {
            out.extend_from_slice(key);
            for v in values {
                out.push(sep);
                out.extend_from_slice(v);
            }
            out.push(b'\n');
        };
        line(b"#set_separator", &[&[self.set_separator]]);
        line(b"#unset_field", &[&self.unset]);
        line(b"#empty_field", &[&self.empty]);
        if let Some(p) = &self.path {
            line(b"#path", &[p.as_bytes()]);
        }
        let fields: Vec<&[u8]> = self.fields.iter().map(|f| f.as_bytes()).collect();
        line(b"#fields", &fields);
        out
    }

    /// Whether a `#fields` line has been read.
    pub fn is_complete(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The column names of `#fields`.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The log's `#path` (`conn`, `dns`, `http`, ...).
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The column separator (`#separator`, a tab by default).
    pub fn separator(&self) -> u8 {
        self.separator
    }
}

/// A data line of the stream `h` describes; `None` unless it has exactly `h`'s columns.
pub(crate) fn decode_tsv(line: &[u8], h: &ZeekHeader) -> Option<Event> {
    if !h.is_complete() || line.first() == Some(&b'#') {
        return None;
    }
    let n = memchr::memchr_iter(h.separator, line).count() + 1;
    if n != h.fields.len() {
        return None;
    }
    let mut ev = Event::new(Format::ZeekTsv);
    let (mut orig, mut resp) = (None, None);
    let mut start = 0;
    for (col, name) in h.names.iter().enumerate() {
        let end = line[start..]
            .iter()
            .position(|&c| c == h.separator)
            .map_or(line.len(), |p| start + p);
        let v = &line[start..end];
        let field = h.fields[col].as_str();
        if v != h.unset.as_slice() && v != h.empty.as_slice() {
            match field {
                "local_orig" => orig = Some(v),
                "local_resp" => resp = Some(v),
                "direction" => set_direction(&mut ev, v),
                _ => {}
            }
            if matches!(name, Cow::Borrowed(_)) && v.contains(&h.set_separator) {
                // A set or vector column: each element is its own field.
                let mut s = start;
                for part in v.split(|&c| c == h.set_separator) {
                    ev.push(name.clone(), s..s + part.len(), Encoding::Raw);
                    s += part.len() + 1;
                }
            } else {
                ev.push(name.clone(), start..end, Encoding::Raw);
            }
        }
        start = end + 1;
    }
    local_orig_resp(&mut ev, orig, resp);
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::super::event::{Direction, decode};
    use super::super::testutil::field_of;
    use super::*;

    fn header() -> ZeekHeader {
        let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2024\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tanswers\tlocal_orig\tlocal_resp\n#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tvector[string]\tbool\tbool";
        ZeekHeader::from_lines(text.lines().map(str::as_bytes)).unwrap()
    }

    #[test]
    fn header_lines() {
        let h = header();
        assert_eq!(h.path(), Some("dns"));
        assert_eq!(h.separator(), b'\t');
        assert_eq!(h.fields().len(), 10);
        assert_eq!(h.fields()[6], "query");
        let mut h2 = ZeekHeader::new();
        assert!(!h2.update(b"1.0\tx"));
        assert!(h2.update(b"#types\tx"));
        assert!(!h2.is_complete());
        assert_eq!(ZeekHeader::from_lines([&b"no header"[..]]), None);
        // Written as lines and read back, a header is the same header.
        let back = ZeekHeader::from_lines(h.to_lines().split(|&c| c == b'\n')).unwrap();
        assert_eq!(back, h);
        let mut odd = ZeekHeader::new();
        for l in [
            "#separator |",
            "#set_separator|;",
            "#unset_field|NA",
            "#fields|a|b",
        ] {
            odd.update(l.as_bytes());
        }
        let back = ZeekHeader::from_lines(odd.to_lines().split(|&c| c == b'\n')).unwrap();
        assert_eq!(back, odd);
    }

    #[test]
    fn dns_line_with_header() {
        let h = header();
        let l = "13.18\tCa\t10.0.0.116\t50814\t192.0.2.8\t53\tbad.example.com\t198.51.100.1,198.51.100.2\tT\tF";
        let e = decode(l.as_bytes(), Some(&h)).unwrap();
        assert_eq!(e.format, Format::ZeekTsv);
        assert_eq!(field_of(&e, l, "bad.example.com"), "dns.question.name");
        assert_eq!(field_of(&e, l, "10.0.0.116"), "source.ip");
        assert_eq!(field_of(&e, l, "198.51.100.2"), "dns.answers.data");
        assert_eq!(field_of(&e, l, "Ca"), "zeek.uid");
        assert_eq!(e.network_direction, Some(Direction::Outbound));
        assert_eq!(
            e.dns_question(l.as_bytes()).as_deref(),
            Some("bad.example.com")
        );
        assert_eq!(e.destination_port(l.as_bytes()), Some(53));
        // Without the header, or with another column count: not Zeek.
        assert!(decode(l.as_bytes(), None).is_none_or(|e| e.format != Format::ZeekTsv));
        assert!(decode_tsv(b"1\t2\t3", &h).is_none());
        assert!(decode_tsv(b"#close\t2024", &h).is_none());
    }
}
