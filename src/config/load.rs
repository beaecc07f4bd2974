//! Reading the TOML text so that every problem comes out at once, with its key path and line.
//!
//! serde stops at the first unknown key or wrong type. So the text is parsed once into a
//! spanned table ([`DeTable`]); a syntax error ends there (one error, with its line and
//! column: nothing more can be said). Then the table is deserialized into [`Config`]; each
//! time that fails, the error is pinned to the key it is about (found by its span, or, inside
//! the parts serde buffers — tagged sinks, flattened tables — by the value the message quotes
//! and by trying the table without each candidate key), recorded with its key path and line,
//! and that key is taken out of the table before the next round. A required key that is
//! missing takes its whole table out (an array element is dropped; the paths of later elements
//! are told with their indices in the file). The rounds are bounded.
//!
//! What comes out is the typed [`Config`] of what was right, for [`Config::validate`] to check
//! the rest, and the errors so far.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::{Config, ConfigErrors};

/// Deserialization rounds before giving up on a text that has still more errors.
const MAX_ROUNDS: usize = 200;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// `sinks[0].batch_max_events`, `sources.kafka.options."linger.ms"`.
pub(super) fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                let bare = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if bare {
                    s.push_str(k);
                } else {
                    s.push_str(&format!("{k:?}"));
                }
            }
        }
    }
    s
}

/// The steps of a key path as [`path_string`] writes it; `None` if it is not one.
pub(super) fn parse_path(s: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                let end = s[i..].find(']')? + i;
                out.push(Seg::Index(s[i + 1..end].parse().ok()?));
                i = end + 1;
            }
            b'"' => {
                let end = s[i + 1..].find('"')? + i + 1;
                out.push(Seg::Key(s[i + 1..end].to_owned()));
                i = end + 1;
            }
            _ => {
                let end = s[i..].find(['.', '[']).map_or(s.len(), |e| e + i);
                out.push(Seg::Key(s[i..end].to_owned()));
                i = end;
            }
        }
    }
    Some(out)
}

/// The 1-based line of byte `offset` of `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn column_of(text: &str, offset: usize) -> usize {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |p| p + 1);
    text[start..offset.min(text.len())].chars().count() + 1
}

/// The parsed text, for the lines of key paths.
pub(super) struct Doc<'i> {
    text: &'i str,
    root: Spanned<DeTable<'i>>,
}

impl Doc<'_> {
    /// The line where `path` is written: the key itself, else the nearest enclosing table
    /// that is (a default value that is wrong has no line of its own).
    pub(super) fn line(&self, path: &str) -> Option<usize> {
        let segs = parse_path(path)?;
        (1..=segs.len())
            .rev()
            .find_map(|n| find(self.root.get_ref(), &segs[..n]))
            .map(|(span, _)| line_of(self.text, span.start))
    }
}

/// What reading the text gave: the config of what was right (none after a syntax error or
/// too many rounds), the errors, and the parsed text.
pub(super) struct Read<'i> {
    pub config: Option<Config>,
    pub errors: ConfigErrors,
    pub doc: Option<Doc<'i>>,
    /// Tables taken out because a required key was missing or wrong (indices as in the file).
    pub dropped: Vec<Vec<Seg>>,
    shifts: Shifts,
}

/// Array elements taken out: (the array's path, the element's index in the file).
#[derive(Default)]
struct Shifts(Vec<(Vec<Seg>, usize)>);

impl Shifts {
    /// `path`, with each index as it is in the file.
    fn original(&self, path: &[Seg]) -> Vec<Seg> {
        let mut out = path.to_vec();
        for (p, seg) in path.iter().enumerate() {
            if let Seg::Index(i) = seg {
                out[p] = Seg::Index(self.index_in_file(&path[..p], *i));
            }
        }
        out
    }

    fn index_in_file(&self, array: &[Seg], i: usize) -> usize {
        let mut gone: Vec<usize> = self
            .0
            .iter()
            .filter(|(a, _)| a == array)
            .map(|&(_, j)| j)
            .collect();
        gone.sort_unstable();
        gone.into_iter()
            .fold(i, |at, j| if j <= at { at + 1 } else { at })
    }

    /// Notes that the element at `path` (as the table is now) is taken out.
    fn record(&mut self, path: &[Seg]) {
        if let Some((Seg::Index(i), array)) = path.split_last() {
            let in_file = self.index_in_file(array, *i);
            self.0.push((array.to_vec(), in_file));
        }
    }
}

impl Read<'_> {
    /// Whether a semantic error at `path` should be left out: it is about a table that was
    /// taken out (the "no source is enabled" of a dropped source, "no sink" of a dropped
    /// sink), or it names sinks by position (`file1`) after a sink was taken out.
    pub(super) fn hides(&self, path: &str) -> bool {
        let Some(segs) = parse_path(path) else {
            return false;
        };
        let segs = self.shifts.original(&segs);
        self.dropped.iter().any(|d| {
            d.starts_with(&segs)
                || segs.starts_with(d)
                || (d.first() == Some(&Seg::Key("sinks".into()))
                    && path.starts_with("triage.routing.sinks"))
        })
    }

    /// A path of the config read, with its indices as they are in the file.
    pub(super) fn path_in_file(&self, path: &str) -> String {
        match parse_path(path) {
            Some(segs) => path_string(&self.shifts.original(&segs)),
            None => path.to_owned(),
        }
    }
}

pub(super) fn read(text: &str) -> Read<'_> {
    let mut errors = ConfigErrors::default();
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let (line, msg) = match e.span() {
                Some(s) => (
                    Some(line_of(text, s.start)),
                    format!("column {}: {}", column_of(text, s.start), e.message()),
                ),
                None => (None, e.message().to_owned()),
            };
            errors.push_at_line("syntax", line, format!("TOML syntax: {msg}"));
            return Read {
                config: None,
                errors,
                doc: None,
                dropped: Vec::new(),
                shifts: Shifts::default(),
            };
        }
    };
    let mut doc = root.clone();
    // Keys taken out for a wrong value: their "missing field" is not news.
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut dropped = Vec::new();
    let mut shifts = Shifts::default();
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        rounds += 1;
        let err = match deserialize(&doc) {
            Ok(config) => {
                return Read {
                    config: Some(config),
                    errors,
                    doc: Some(Doc { text, root }),
                    dropped,
                    shifts,
                };
            }
            Err(e) => e,
        };
        let msg = err.message().to_owned();
        let at = err.span().and_then(|s| locate(doc.get_ref(), &s));
        let Some((at, on_table)) = at else {
            errors.push_at_line("config", None, msg);
            break;
        };
        let (at, on_table) = pin_element(&doc, at, on_table, &msg, err.span());
        let line = |segs: &[Seg], doc: &Spanned<DeTable<'_>>| {
            find(doc.get_ref(), segs).map(|(span, _)| line_of(text, span.start))
        };
        let shown = |segs: &[Seg], shifts: &Shifts| path_string(&shifts.original(segs));
        if let Some(name) = quoted_after(&msg, "unknown field ") {
            // The key itself, or a key of the buffered table the span points at.
            let key = if at.last() == Some(&Seg::Key(name.clone())) && !on_table {
                at
            } else {
                let mut p = at;
                p.push(Seg::Key(name.clone()));
                p
            };
            let mut valid = expected(&msg);
            if valid.is_empty() {
                valid = flattened_keys(&key[..key.len() - 1]);
            }
            let suggestion = did_you_mean(&name, &valid);
            errors.push_at_line(
                shown(&key, &shifts),
                line(&key, &doc),
                format!("unknown key `{name}`{suggestion}"),
            );
            if !remove(&mut doc, &key) {
                break;
            }
            continue;
        }
        if let Some(name) = quoted_after(&msg, "missing field ") {
            let table = if on_table {
                at
            } else {
                at[..at.len().saturating_sub(1)].to_vec()
            };
            let mut key = table.clone();
            key.push(Seg::Key(name.clone()));
            if !removed.contains(&key) {
                // `typex = 1` for `type`: serde never got as far as calling it unknown.
                let near: Vec<String> = find(doc.get_ref(), &table)
                    .and_then(|(_, v)| v.get_ref().as_table())
                    .map(|t| {
                        t.iter()
                            .map(|(k, _)| k.get_ref().to_string())
                            .filter(|k| {
                                did_you_mean(k, std::slice::from_ref(&name)).starts_with("; did")
                            })
                            .map(|k| format!("; is `{k}` a misspelling of it?"))
                            .collect()
                    })
                    .unwrap_or_default();
                let at_table = shown(&table, &shifts);
                let path = if table.is_empty() {
                    name.clone()
                } else {
                    shown(&key, &shifts)
                };
                errors.push_at_line(
                    path,
                    line(&table, &doc),
                    format!(
                        "missing: `{name}` is required{}{}",
                        if at_table.is_empty() {
                            String::new()
                        } else {
                            format!(" in {at_table}")
                        },
                        near.concat()
                    ),
                );
            }
            if table.is_empty() || !remove(&mut doc, &table) {
                break;
            }
            dropped.push(shifts.original(&table));
            shifts.record(&table);
            continue;
        }
        // A wrong type or value: at the key the span points at, or found inside a buffered
        // table.
        let is_leaf = !on_table || msg.starts_with("invalid type: map");
        let key = if is_leaf {
            at.clone()
        } else {
            probe(&doc, &at, &msg, err.span())
        };
        let mut text_msg = msg.clone();
        if let Some(name) = quoted_after(&msg, "unknown variant ") {
            text_msg = format!(
                "unknown value `{name}`{}",
                did_you_mean(&name, &expected(&msg))
            );
        }
        errors.push_at_line(shown(&key, &shifts), line(&key, &doc), text_msg);
        if key.is_empty() || !remove(&mut doc, &key) {
            break;
        }
        if on_table && key == at {
            // No key inside could be blamed: the whole table went.
            dropped.push(shifts.original(&key));
            shifts.record(&key);
        }
        removed.push(key);
    }
    if errors.is_empty() || rounds == MAX_ROUNDS {
        errors.push_at_line(
            "config",
            None,
            format!("stopped reading after {rounds} errors: fix these first"),
        );
    }
    Read {
        config: None,
        errors,
        doc: Some(Doc { text, root }),
        dropped,
        shifts,
    }
}

fn deserialize(doc: &Spanned<DeTable<'_>>) -> Result<Config, toml::de::Error> {
    Config::deserialize(toml::de::Deserializer::from(doc.clone()))
}

/// The first `` `name` `` after `prefix` at the start of `msg`.
fn quoted_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// The keys of a table serde reads with `#[serde(flatten)]`, whose unknown-key message lists
/// none: a TLS source is a TCP source (its fields, asked of serde) plus its certificate.
fn flattened_keys(table: &[Seg]) -> Vec<String> {
    let tls = [Seg::Key("sources".into()), Seg::Key("syslog_tls".into())];
    if table != tls {
        return Vec::new();
    }
    let mut keys = fields_of::<super::TcpConfig>();
    keys.extend(["cert", "key"].map(String::from));
    keys
}

/// The field names a derived `Deserialize` of a struct declares.
fn fields_of<'de, T: Deserialize<'de>>() -> Vec<String> {
    struct Fields(Vec<String>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("only the field names are wanted")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = fields.iter().map(|f| (*f).to_owned()).collect();
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut f = Fields(Vec::new());
    let _ = T::deserialize(&mut f);
    f.0
}

/// The names serde lists after "expected" in an unknown field or variant message.
fn expected(msg: &str) -> Vec<String> {
    let Some((_, list)) = msg.split_once(", expected ") else {
        return Vec::new();
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `; did you mean `threads`?` with the valid names closest to `typo`, else the valid
/// names, else nothing.
pub(super) fn did_you_mean(typo: &str, valid: &[String]) -> String {
    if valid.is_empty() {
        return String::new();
    }
    let mut close: Vec<(usize, &String)> = valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(typo, v), v))
        .filter(|(d, v)| {
            *d <= (v.chars().count() / 3).max(1)
                || strsim::jaro_winkler(typo, v) >= 0.85
                || v.contains(typo) && typo.len() >= 3
        })
        .collect();
    close.sort();
    // The closest ones only: `batch_max_event` is `batch_max_events`, not `batch_timeout`.
    if let Some(&(best, _)) = close.first() {
        close.retain(|&(d, _)| d == best);
    }
    close.truncate(3);
    if close.is_empty() {
        let names: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
        return format!(" (valid: {})", names.join(", "));
    }
    let names: Vec<String> = close.iter().map(|(_, v)| format!("`{v}`")).collect();
    format!("; did you mean {}?", names.join(" or "))
}

/// The deepest key whose key or value span is `span`, and whether the span is that of a
/// table value (a table serde buffered: the error is about something inside it).
fn locate(root: &DeTable<'_>, span: &Range<usize>) -> Option<(Vec<Seg>, bool)> {
    fn walk(
        v: &DeValue<'_>,
        span: &Range<usize>,
        path: &mut Vec<Seg>,
        best: &mut Option<(Vec<Seg>, bool)>,
    ) {
        match v {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    if k.span() == *span || v.span() == *span {
                        let on_table = v.span() == *span && v.get_ref().is_table();
                        if best.as_ref().is_none_or(|(p, _)| path.len() >= p.len()) {
                            *best = Some((path.clone(), on_table));
                        }
                    }
                    walk(v.get_ref(), span, path, best);
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if v.span() == *span && best.as_ref().is_none_or(|(p, _)| path.len() >= p.len())
                    {
                        *best = Some((path.clone(), v.get_ref().is_table()));
                    }
                    walk(v.get_ref(), span, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    let mut path = Vec::new();
    // The whole document (a missing top-level key) is the root table itself.
    walk(&DeValue::Table(root.clone()), span, &mut path, &mut best);
    best
}

/// serde buffers each `[[sinks]]` table, and an error inside one carries the span of the
/// whole array (that of its first element): the element is the one whose removal changes the
/// error.
fn pin_element(
    doc: &Spanned<DeTable<'_>>,
    at: Vec<Seg>,
    on_table: bool,
    msg: &str,
    span: Option<Range<usize>>,
) -> (Vec<Seg>, bool) {
    // The span of `[[sinks]]` is that of its first element; that of `sinks = [{...}]` is
    // the array's own.
    let parent = match at.split_last() {
        Some((Seg::Index(_), parent)) => parent,
        _ => &at[..],
    };
    let Some((_, array)) = find(doc.get_ref(), parent) else {
        return (at, on_table);
    };
    let (Some(DeValue::Array(items)), true) = (Some(array.get_ref()), Some(array.span()) == span)
    else {
        return (at, on_table);
    };
    for i in 0..items.len() {
        let mut element = parent.to_vec();
        element.push(Seg::Index(i));
        let mut d = doc.clone();
        if !remove(&mut d, &element) {
            continue;
        }
        match deserialize(&d) {
            Err(e) if e.message() == msg && e.span() == span => {}
            _ => {
                let is_table = items[i].get_ref().is_table();
                return (element, is_table);
            }
        }
    }
    (at, on_table)
}

/// The span and value at `path`.
fn find<'a, 'i>(
    root: &'a DeTable<'i>,
    path: &[Seg],
) -> Option<(Range<usize>, &'a Spanned<DeValue<'i>>)> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else { return None };
    let (key, mut v) = root.get_key_value(k.as_str())?;
    let mut span = key.span();
    for seg in rest {
        let next = match (seg, v.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => {
                t.get_key_value(k.as_str()).map(|(k, v)| (k.span(), v))
            }
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i).map(|v| (v.span(), v)),
            _ => None,
        }?;
        (span, v) = next;
    }
    Some((span, v))
}

/// Takes the key or array element at `path` out; false if there is none.
fn remove(doc: &mut Spanned<DeTable<'_>>, path: &[Seg]) -> bool {
    fn in_table(t: &mut DeTable<'_>, path: &[Seg]) -> bool {
        match path {
            [Seg::Key(k)] => t.remove(k.as_str()).is_some(),
            [Seg::Key(k), rest @ ..] => match t.get_mut(k.as_str()) {
                Some(v) => in_value(v.get_mut(), rest),
                None => false,
            },
            _ => false,
        }
    }
    fn in_value(v: &mut DeValue<'_>, path: &[Seg]) -> bool {
        match (v, path) {
            (DeValue::Table(t), _) => in_table(t, path),
            (DeValue::Array(a), [Seg::Index(i)]) if *i < a.len() => {
                let mut kept = DeArray::new();
                for (j, item) in a.iter().enumerate() {
                    if j != *i {
                        kept.push(item.clone());
                    }
                }
                *a = kept;
                true
            }
            (DeValue::Array(a), [Seg::Index(i), rest @ ..]) => match a.get_mut(*i) {
                Some(item) => in_value(item.get_mut(), rest),
                None => false,
            },
            _ => false,
        }
    }
    in_table(doc.get_mut(), path)
}

/// Which key inside the buffered table at `table` the error `msg` is about: a value the
/// message quotes, else the key whose absence makes the error go away, else the table.
fn probe(
    doc: &Spanned<DeTable<'_>>,
    table: &[Seg],
    msg: &str,
    span: Option<Range<usize>>,
) -> Vec<Seg> {
    let Some((_, value)) = find(doc.get_ref(), table) else {
        return table.to_vec();
    };
    let same = |e: &toml::de::Error| e.message() == msg && e.span() == span;
    let explains = |key: &[Seg], missing_counts: bool| {
        let mut d = doc.clone();
        if !remove(&mut d, key) {
            return false;
        }
        match deserialize(&d) {
            Ok(_) => true,
            Err(e) => {
                let missing = quoted_after(e.message(), "missing field ")
                    .is_some_and(|n| key.last() == Some(&Seg::Key(n)));
                !same(&e) && (missing_counts || !missing)
            }
        }
    };
    let mut quoted = Vec::new();
    quoted_values(value.get_ref(), msg, &mut table.to_vec(), &mut quoted);
    match quoted.len() {
        0 => {}
        1 => return quoted.remove(0),
        _ => {
            return quoted
                .iter()
                .find(|k| explains(k, true))
                .unwrap_or(&quoted[0])
                .clone();
        }
    }
    if let DeValue::Table(t) = value.get_ref() {
        for (k, _) in t.iter() {
            let mut key = table.to_vec();
            key.push(Seg::Key(k.get_ref().to_string()));
            if explains(&key, false) {
                return key;
            }
        }
    }
    table.to_vec()
}

/// The keys under `v` whose value the message quotes the way serde does (`string "x"`,
/// `integer `5``, `map`, ...).
fn quoted_values(v: &DeValue<'_>, msg: &str, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    // "unknown variant `x`, expected one of `a`, `b`": only `x` is the value.
    let variant = quoted_after(msg, "unknown variant ");
    let children: Vec<(Seg, &DeValue<'_>)> = match v {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| (Seg::Key(k.get_ref().to_string()), v.get_ref()))
            .collect(),
        DeValue::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (Seg::Index(i), v.get_ref()))
            .collect(),
        _ => return,
    };
    for (seg, child) in children {
        path.push(seg);
        let quotes = match child {
            DeValue::String(s) => match &variant {
                Some(name) => s.as_ref() == name,
                None => msg.contains(&format!("{:?}", s.as_ref())),
            },
            DeValue::Integer(i) => msg.contains(&format!("`{}`", i.as_str())),
            DeValue::Float(f) => msg.contains(&format!("`{}`", f.as_str())),
            DeValue::Boolean(b) => msg.contains(&format!("boolean `{b}`")),
            DeValue::Datetime(_) => msg.contains("datetime") || msg.contains("invalid type: map"),
            DeValue::Table(_) => msg.starts_with("invalid type: map"),
            DeValue::Array(_) => msg.starts_with("invalid type: sequence"),
        };
        if quotes {
            out.push(path.clone());
        }
        quoted_values(child, msg, path, out);
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_inline_arrays_of_tables_find_their_element_and_key() {
        let r = read(
            "sinks = [{ type = \"stdout\" }, { type = \"http\", url = 5 }]\n\
             [sources]\nstdin = true\n",
        );
        let paths: Vec<&str> = r.errors.0.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["sinks[1].url"], "{}", r.errors);
    }

    #[test]
    fn unknown_keys_of_a_flattened_table_get_suggestions_too() {
        let r = read(
            "[sources.syslog_tls]\nlisten = \"127.0.0.1:6514\"\ncert = \"c\"\nkey = \"k\"\n\
             idle_timout = \"1m\"\n",
        );
        assert_eq!(r.errors.0.len(), 1, "{}", r.errors);
        assert_eq!(r.errors.0[0].0, "sources.syslog_tls.idle_timout");
        assert_eq!(
            r.errors.0[0].1,
            "unknown key `idle_timout`; did you mean `idle_timeout`?"
        );
        let keys = flattened_keys(&parse_path("sources.syslog_tls").unwrap());
        for k in [
            "listen",
            "max_message_bytes",
            "max_connections",
            "cert",
            "key",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
        }
    }

    #[test]
    fn paths_round_trip() {
        for p in [
            "engine.threads",
            "sinks[0].batch_max_events",
            "sources.kafka.options.\"enable.auto.offset.store\"",
            "triage.assets[1]",
        ] {
            assert_eq!(path_string(&parse_path(p).unwrap()), p);
        }
    }

    #[test]
    fn suggestions_are_the_closest_valid_names() {
        let valid: Vec<String> = ["threads", "batch_bytes", "queue_batches"]
            .map(String::from)
            .to_vec();
        assert_eq!(did_you_mean("thraeds", &valid), "; did you mean `threads`?");
        assert_eq!(
            did_you_mean("zzz", &valid),
            " (valid: `threads`, `batch_bytes`, `queue_batches`)"
        );
        assert_eq!(did_you_mean("x", &[]), "");
    }
}
