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

use super::{FeedError, FeedFormat, Hint, Parsed, Src, line_at, parse_time};
use crate::ioc::Reason;
use crate::matcher::Meta;

#[derive(Default)]
struct Item {
    line: u32,
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
    let mut out = Parsed::new(FeedFormat::Openioc);
    let mut meta = Meta::default();
    let mut ands: Vec<bool> = Vec::new();
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
                        ands.push(attr(e, "operator").eq_ignore_ascii_case("AND"))
                    }
                    "IndicatorItem" => {
                        item = Some(Item {
                            line: line_at(text.as_bytes(), pos),
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
                "Indicator" => {
                    ands.pop();
                }
                "Content" => {
                    if let Some(it) = &mut item {
                        it.in_content = false;
                    }
                }
                "IndicatorItem" => {
                    if let Some(it) = item.take() {
                        items.push((it, ands.iter().any(|a| *a)));
                    }
                }
                "short_description" | "authored_date" | "link" => {
                    if let Some((c, s)) = capture.take() {
                        let s = s.trim().to_owned();
                        match c {
                            Capture::Description if !s.is_empty() => meta.description = Some(s),
                            Capture::Authored => meta.first_seen = parse_time(&s),
                            Capture::Link if !s.is_empty() => meta.tags.push(s),
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
    for (it, under_and) in items {
        let src = Src {
            location,
            line: it.line,
            at: None,
        };
        let value = it.content.trim();
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

    #[test]
    fn items_lines_and_metadata() {
        let p = parse("t.ioc", IOC.as_bytes()).unwrap();
        let got: Vec<(String, u32)> = p
            .listings
            .iter()
            .map(|l| (l.pattern.to_string(), l.line))
            .collect();
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

    #[test]
    fn broken_xml_names_its_line() {
        let e = parse("b.ioc", b"<ioc>\n<definition>\n</ioc>\n").unwrap_err();
        assert!(e.message.contains("line 3"), "{e}");
        assert!(parse("n.ioc", b"<html></html>").is_err());
    }
}
