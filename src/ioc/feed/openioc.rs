//! OpenIOC 1.0 XML (Mandiant/FireEye `.ioc` files).
//!
//! An OpenIOC file is a boolean tree of `IndicatorItem`s, each a condition on a search term
//! (`FileItem/Md5sum is ...`). iocd takes the items whose search term is an indicator it can
//! match:
//!
//! | search term | kind |
//! |---|---|
//! | `FileItem/Md5sum`, `FileItem/Sha1sum`, `FileItem/Sha256sum` | hash |
//! | `DnsEntryItem/RecordName`, `DnsEntryItem/Host`, `Network/DNS`, `UrlHistoryItem/HostName` | domain |
//! | `PortItem/remoteIP`, `Network/IP` | address |
//! | `Network/URI`, `UrlHistoryItem/URL` | URL (a bare path is rejected: no host) |
//! | `Email/From`, `Email/To` | e-mail |
//! | `Network/UserAgent`, `ProcessItem/HandleList/Handle/Name` (mutexes) | string |
//! | `FileItem/FileName`, `FileItem/FullPath`, `ProcessItem/name`, `RegistryItem/Path`, `RegistryItem/KeyPath` | string, case-insensitive |
//!
//! Conditions `is` and `contains` are taken (for a domain, `contains` is read as the domain and
//! its subdomains). Negated conditions, other search terms, and free strings inside an `AND`
//! group (which alone would match far more than the group) are reported as unsupported; hashes,
//! addresses, domains, URLs and e-mail addresses are taken inside `AND` groups too, since each
//! names one artefact. The `short_description` becomes the description, `authored_date` the
//! first-seen time, and `links` (threat group, category) the tags.

use quick_xml::XmlVersion;
use quick_xml::events::Event;

use super::{
    FeedError, FeedFormat, Hint, Parsed, Src, add_tag, bound_meta, limits, line_at, parse_time,
};
use crate::ioc::Reason;
use iocd_engine::Meta;

#[derive(Default)]
struct Item {
    line: u32,
    /// `Indicator` groups around it, when more than [`limits::MAX_NESTING`].
    too_deep: bool,
    condition: String,
    negate: bool,
    search: String,
    content: String,
    in_content: bool,
}

#[derive(PartialEq)]
enum Capture {
    Description,
    Authored,
    Link,
}

fn search_hint(search: &str) -> Option<Hint> {
    Some(match search {
        "FileItem/Md5sum" => Hint::Md5,
        "FileItem/Sha1sum" => Hint::Sha1,
        "FileItem/Sha256sum" => Hint::Sha256,
        "DnsEntryItem/RecordName"
        | "DnsEntryItem/Host"
        | "Network/DNS"
        | "UrlHistoryItem/HostName" => Hint::Domain,
        "PortItem/remoteIP" | "Network/IP" => Hint::Ip,
        "Network/URI" | "UrlHistoryItem/URL" => Hint::Url,
        "Email/From" | "Email/To" => Hint::Email,
        "Network/UserAgent" | "ProcessItem/HandleList/Handle/Name" => Hint::Str { ci: false },
        "FileItem/FileName"
        | "FileItem/FullPath"
        | "ProcessItem/name"
        | "RegistryItem/Path"
        | "RegistryItem/KeyPath" => Hint::Str { ci: true },
        _ => return None,
    })
}

pub(crate) fn parse(location: &str, bytes: &[u8]) -> Result<Parsed, FeedError> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut out = Parsed::new(FeedFormat::Openioc, bytes.len());
    let mut meta = Meta::default();
    // The open `Indicator` groups (true: AND), and how many of them are AND groups: kept as
    // a count so an item asks in O(1), however deep the nesting.
    let mut ands: Vec<bool> = Vec::new();
    let mut n_ands = 0usize;
    let mut all_tags = true;
    // Lines counted from the last item on, not from the start of the document for each item.
    let (mut counted_to, mut counted_line) = (0usize, 1u32);
    let mut item: Option<Item> = None;
    let mut capture: Option<(Capture, String)> = None;
    let mut items: Vec<(Item, bool)> = Vec::new();
    let mut saw_ioc = false;
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| -> String {
        e.try_get_attribute(name)
            .ok()
            .flatten()
            .and_then(|a| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .unwrap_or_default()
    };
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| {
            let at = reader.error_position() as usize;
            FeedError::new(
                location,
                format!("XML error at line {}: {e}", line_at(text.as_bytes(), at)),
            )
        })?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = e.local_name();
                match name.as_ref() {
                    "ioc" | "OpenIOC" => saw_ioc = true,
                    "Indicator" if !empty => {
                        let and = attr(e, "operator").eq_ignore_ascii_case("AND");
                        n_ands += usize::from(and);
                        ands.push(and);
                    }
                    "IndicatorItem" => {
                        item = Some(Item {
                            line: {
                                let upto = pos.clamp(counted_to, text.len());
                                let n =
                                    memchr::memchr_iter(b'\n', &text.as_bytes()[counted_to..upto])
                                        .count();
                                counted_line = counted_line
                                    .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                                counted_to = upto;
                                counted_line
                            },
                            too_deep: ands.len() > limits::MAX_NESTING,
                            condition: attr(e, "condition"),
                            negate: attr(e, "negate") == "true",
                            ..Item::default()
                        });
                    }
                    "Context" => {
                        if let Some(it) = &mut item {
                            it.search = attr(e, "search");
                        }
                    }
                    "Content" if !empty => {
                        if let Some(it) = &mut item {
                            it.in_content = true;
                        }
                    }
                    "short_description" if !empty => {
                        capture = Some((Capture::Description, String::new()))
                    }
                    "authored_date" if !empty => capture = Some((Capture::Authored, String::new())),
                    "link" if !empty => {
                        let rel = attr(e, "rel");
                        if rel != "license" && rel != "report" {
                            capture = Some((Capture::Link, String::new()));
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => push_text(&mut item, &mut capture, &t.xml10_content()),
            Event::CData(t) => push_text(&mut item, &mut capture, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .unwrap_or_default()
                        .to_owned(),
                };
                push_text(&mut item, &mut capture, &s);
            }
            Event::End(e) => match e.local_name().as_ref() {
                "Indicator" if ands.pop() == Some(true) => n_ands -= 1,
                "Content" => {
                    if let Some(it) = &mut item {
                        it.in_content = false;
                    }
                }
                "IndicatorItem" => {
                    if let Some(it) = item.take() {
                        items.push((it, n_ands > 0));
                    }
                }
                "short_description" | "authored_date" | "link" => {
                    if let Some((c, s)) = capture.take() {
                        let s = s.trim().to_owned();
                        match c {
                            Capture::Description if !s.is_empty() => meta.description = Some(s),
                            Capture::Authored => meta.first_seen = parse_time(&s),
                            Capture::Link if !s.is_empty() => all_tags &= add_tag(&mut meta, &s),
                            _ => {}
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_ioc {
        return Err(FeedError::new(
            location,
            "XML without an OpenIOC <ioc> root",
        ));
    }
    // The document's metadata is copied to each item: capped once here.
    if !all_tags {
        out.skip("tags_over_limit");
    }
    if bound_meta(&mut meta) {
        out.skip("meta_truncated");
    }
    for (it, under_and) in items {
        let src = Src {
            location,
            line: it.line,
            at: None,
        };
        let value = it.content.trim();
        if it.too_deep {
            out.reject(
                &src,
                value,
                Reason::TooDeep {
                    limit: limits::MAX_NESTING,
                },
            );
            continue;
        }
        let Some(hint) = search_hint(&it.search) else {
            out.reject(
                &src,
                value,
                Reason::Unsupported(format!("search term {}", it.search)),
            );
            continue;
        };
        let cond = it.condition.to_ascii_lowercase();
        if it.negate || !matches!(cond.as_str(), "is" | "contains") {
            let c = if it.negate {
                format!("not {cond}")
            } else {
                cond
            };
            out.reject(&src, value, Reason::Unsupported(format!("condition {c}")));
            continue;
        }
        if under_and && matches!(hint, Hint::Str { .. }) {
            out.reject(
                &src,
                value,
                Reason::Unsupported(format!("{} inside an AND group", it.search)),
            );
            continue;
        }
        out.add_value(&src, value, hint, Some(&meta), false);
    }
    Ok(out)
}

fn push_text(item: &mut Option<Item>, capture: &mut Option<(Capture, String)>, s: &str) {
    if let Some(it) = item.as_mut().filter(|it| it.in_content) {
        it.content.push_str(s);
    } else if let Some((_, buf)) = capture {
        buf.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IOC: &str = r#"<?xml version="1.0" encoding="us-ascii"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="x">
  <short_description>TEST &amp; IOC</short_description>
  <authored_date>2015-07-10T21:17:05Z</authored_date>
  <links><link rel="threatgroup">APT3</link><link rel="license">Apache 2.0</link></links>
  <definition>
    <Indicator operator="OR">
      <IndicatorItem condition="is">
        <Context document="FileItem" search="FileItem/Md5sum" type="mir"/>
        <Content type="md5">44D88612FEA8A8F36DE82E1278ABB02F</Content>
      </IndicatorItem>
      <IndicatorItem condition="contains">
        <Context document="DnsEntryItem" search="DnsEntryItem/RecordName" type="mir"/>
        <Content type="string">report.perrydale.com</Content>
      </IndicatorItem>
      <IndicatorItem condition="is">
        <Context document="FileItem" search="FileItem/SizeInBytes" type="mir"/>
        <Content type="int">1234</Content>
      </IndicatorItem>
      <Indicator operator="AND">
        <IndicatorItem condition="contains">
          <Context document="FileItem" search="FileItem/FileName" type="mir"/>
          <Content type="string">svchost_update.exe</Content>
        </IndicatorItem>
        <IndicatorItem condition="is">
          <Context document="PortItem" search="PortItem/remoteIP" type="mir"/>
          <Content type="IP">107.20.255.57</Content>
        </IndicatorItem>
      </Indicator>
      <IndicatorItem condition="containsnot">
        <Context document="FileItem" search="FileItem/FullPath" type="mir"/>
        <Content type="string">C:\Windows\</Content>
      </IndicatorItem>
      <IndicatorItem condition="is">
        <Context document="ProcessItem" search="ProcessItem/HandleList/Handle/Name" type="mir"/>
        <Content type="string">Global\EvilMtx</Content>
      </IndicatorItem>
    </Indicator>
  </definition>
</ioc>
"#;

    /// Each listing's indicator and line.
    fn listed(p: &Parsed) -> Vec<(String, u32)> {
        p.listings
            .iter()
            .map(|l| (l.pattern.to_string(), l.line))
            .collect()
    }

    #[test]
    fn items_lines_and_metadata() {
        let p = parse("t.ioc", IOC.as_bytes()).unwrap();
        let got = listed(&p);
        assert_eq!(
            got,
            vec![
                ("44d88612fea8a8f36de82e1278abb02f".into(), 8),
                ("report.perrydale.com".into(), 12),
                ("107.20.255.57".into(), 25),
                ("Global\\EvilMtx".into(), 34),
            ]
        );
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.description.as_deref(), Some("TEST & IOC"));
        assert_eq!(m.tags, vec!["APT3"]);
        assert_eq!(m.first_seen, Some(1436563025));
        let rej: Vec<(u32, String)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.to_string()))
            .collect();
        assert_eq!(
            rej,
            vec![
                (16, "unsupported: search term FileItem/SizeInBytes".into()),
                (
                    21,
                    "unsupported: FileItem/FileName inside an AND group".into()
                ),
                (30, "unsupported: condition containsnot".into()),
            ]
        );
    }

    fn item(search: &str, value: &str) -> String {
        format!(
            "<IndicatorItem condition=\"is\"><Context search=\"{search}\"/><Content>{value}</Content></IndicatorItem>\n"
        )
    }

    #[test]
    fn deeply_nested_indicator_items_are_rejected() {
        for depth in [limits::MAX_NESTING + 1, 5_000, 100_000] {
            let mut doc = String::from("<ioc><definition>\n");
            doc.push_str(&item("PortItem/remoteIP", "203.0.113.5"));
            for i in 0..depth {
                let op = if i % 2 == 0 { "OR" } else { "AND" };
                doc.push_str(&format!("<Indicator operator=\"{op}\">"));
            }
            doc.push('\n');
            doc.push_str(&item("PortItem/remoteIP", "198.51.100.9"));
            doc.push_str(&"</Indicator>".repeat(depth));
            doc.push('\n');
            // After the deep group closes, an item is shallow again and taken.
            doc.push_str(&item("FileItem/Md5sum", "44d88612fea8a8f36de82e1278abb02f"));
            doc.push_str("</definition></ioc>\n");
            let p = parse("deep.ioc", doc.as_bytes()).unwrap();
            let got = listed(&p);
            assert_eq!(
                got,
                [
                    ("203.0.113.5".to_owned(), 2),
                    ("44d88612fea8a8f36de82e1278abb02f".to_owned(), 6)
                ],
                "depth {depth}"
            );
            assert_eq!(p.rejected.len(), 1);
            assert_eq!(
                p.rejected[0].reason,
                Reason::TooDeep {
                    limit: limits::MAX_NESTING
                }
            );
            assert_eq!(
                (p.rejected[0].line, p.rejected[0].value.as_str()),
                (4, "198.51.100.9")
            );
        }
        // At the limit it is still taken.
        let n = limits::MAX_NESTING;
        let doc = format!(
            "<ioc>{}{}{}</ioc>",
            "<Indicator operator=\"OR\">".repeat(n),
            item("PortItem/remoteIP", "198.51.100.9"),
            "</Indicator>".repeat(n)
        );
        let p = parse("n.ioc", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 1);
        assert!(p.rejected.is_empty());
    }

    #[test]
    fn many_links_and_items_stay_linear_and_capped() {
        // Every item shares the document's metadata: 20,000 links are kept as 32 tags.
        let mut doc = String::from("<ioc><links>");
        for i in 0..20_000 {
            doc.push_str(&format!("<link rel=\"x\">group-{i}</link>"));
        }
        doc.push_str("</links><definition><Indicator operator=\"OR\">\n");
        for i in 0..20_000 {
            doc.push_str(&item(
                "PortItem/remoteIP",
                &format!("198.51.{}.{}", i / 250, 1 + i % 250),
            ));
        }
        doc.push_str("</Indicator></definition></ioc>");
        let p = parse("many.ioc", doc.as_bytes()).unwrap();
        assert_eq!(p.listings.len(), 20_000);
        assert_eq!(p.listings[19_999].line, 20_001);
        let m = p.listings[0].meta.as_ref().unwrap();
        assert_eq!(m.tags.len(), limits::MAX_TAGS);
        assert_eq!(p.skipped.get("tags_over_limit"), Some(&1));
    }

    #[test]
    fn broken_xml_names_its_line() {
        let e = parse("b.ioc", b"<ioc>\n<definition>\n</ioc>\n").unwrap_err();
        assert!(e.message.contains("line 3"), "{e}");
        assert!(parse("n.ioc", b"<html></html>").is_err());
    }
}
