//! `--format text` and `-o`: hit lines for people, as grep shows them.
//!
//! `file:line:` then the line with each match highlighted, then, after a tab, what matched:
//! `kind indicator [feed, feed]` per indicator. Log lines are written by an adversary and
//! this goes to a terminal: control characters in them (an escape sequence could rewrite the
//! screen or the window title) are shown as `\xNN`, never sent as they are; tabs stay.

use std::fmt::Write as _;

use iocd_engine::{Hit, IocSet};

const FILE: &str = "\x1b[35m";
const NUMBER: &str = "\x1b[32m";
const SEP: &str = "\x1b[36m";
const MATCH: &str = "\x1b[1;31m";
const NOTE: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// `s` with control characters made visible, for a terminal.
pub(crate) fn shown(s: &str) -> String {
    Shown(s.as_bytes()).to_string()
}

/// Writes the `file:line:` prefix.
fn prefix(out: &mut String, name: &str, line_no: u64, color: bool) {
    if color {
        let _ = write!(
            out,
            "{FILE}{}{RESET}{SEP}:{RESET}{NUMBER}{line_no}{RESET}{SEP}:{RESET}",
            Shown(name.as_bytes())
        );
    } else {
        let _ = write!(out, "{}:{line_no}:", Shown(name.as_bytes()));
    }
}

/// Bytes as text with control characters (but tab) made visible, and invalid UTF-8 replaced.
struct Shown<'a>(&'a [u8]);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if (c.is_control() && c != '\t') || c == '\u{7f}' {
                    // C0, DEL and C1 controls: `\x1b`, `\u{9b}`.
                    if (c as u32) < 0x100 {
                        write!(f, "\\x{:02x}", c as u32)?;
                    } else {
                        write!(f, "\\u{{{:x}}}", c as u32)?;
                    }
                } else {
                    f.write_char(c)?;
                }
            }
            if !chunk.invalid().is_empty() {
                f.write_char('\u{fffd}')?;
            }
        }
        Ok(())
    }
}

/// One hit line: prefix, the line with its matches highlighted, and what matched.
pub(crate) fn line(
    out: &mut String,
    set: &IocSet,
    name: &str,
    line_no: u64,
    text: &[u8],
    hits: &[Hit],
    color: bool,
) {
    prefix(out, name, line_no, color);
    // Several indicators can match one token (an address and its network): highlight the union.
    let mut spans: Vec<(usize, usize)> = hits.iter().map(|h| (h.start, h.end)).collect();
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut at = 0;
    for (s, e) in merged {
        let _ = write!(out, "{}", Shown(&text[at..s]));
        if color {
            let _ = write!(out, "{MATCH}{}{RESET}", Shown(&text[s..e]));
        } else {
            let _ = write!(out, "{}", Shown(&text[s..e]));
        }
        at = e;
    }
    let _ = write!(out, "{}", Shown(&text[at..]));
    out.push('\t');
    if color {
        out.push_str(NOTE);
    }
    let mut ids: Vec<_> = hits.iter().map(|h| h.id).collect();
    ids.dedup();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let feeds: Vec<&str> = set
            .sources(*id)
            .iter()
            .map(|s| set.feeds()[s.feed as usize].name.as_str())
            .collect();
        let _ = write!(
            out,
            "{} {} [{}]",
            set.kind(*id),
            Shown(set.pattern(*id).to_string().as_bytes()),
            Shown(feeds.join(", ").as_bytes())
        );
    }
    if color {
        out.push_str(RESET);
    }
    out.push('\n');
}

/// `-o`: each matched token on its own line, `file:line:token`.
pub(crate) fn only_matching(
    out: &mut String,
    name: &str,
    line_no: u64,
    text: &[u8],
    hits: &[Hit],
    color: bool,
) {
    for h in hits {
        prefix(out, name, line_no, color);
        let token = Shown(&text[h.start..h.end]);
        if color {
            let _ = writeln!(out, "{MATCH}{token}{RESET}");
        } else {
            let _ = writeln!(out, "{token}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::SetBuilder;
    use iocd_engine::Scratch;

    fn render(text: &[u8], color: bool) -> String {
        let mut b = SetBuilder::new();
        b.add_plain_list(
            "c2",
            "c2.txt",
            b"45.61.136.7\n45.61.136.0/24\nevil.example\n",
        );
        b.add_plain_list("ipsum", "ipsum.txt", b"45.61.136.7\n");
        let set = b.build();
        let mut hits = Vec::new();
        set.scan(text, &mut Scratch::new(), &mut hits);
        let mut out = String::new();
        line(&mut out, &set, "fw.log", 7, text, &hits, color);
        out
    }

    #[test]
    fn plain_and_coloured() {
        let l = b"conn 45.61.136.7:443 to a.evil.example ok";
        assert_eq!(
            render(l, false),
            "fw.log:7:conn 45.61.136.7:443 to a.evil.example ok\t\
             ipv4 45.61.136.7 [c2, ipsum]; cidr 45.61.136.0/24 [c2]; domain evil.example [c2]\n"
        );
        let c = render(l, true);
        assert!(
            c.starts_with(
                "\x1b[35mfw.log\x1b[0m\x1b[36m:\x1b[0m\x1b[32m7\x1b[0m\x1b[36m:\x1b[0mconn \
                 \x1b[1;31m45.61.136.7\x1b[0m:443 to \x1b[1;31ma.evil.example\x1b[0m ok\t\x1b[33m"
            ),
            "{c:?}"
        );
        assert!(c.ends_with("\x1b[0m\n"));
    }

    #[test]
    fn control_characters_of_a_line_never_reach_the_terminal() {
        let l = b"\x1b]0;owned\x07 45.61.136.7 \x1b[2J\xff\tend\xc2\x9b";
        let out = render(l, false);
        assert!(!out.contains('\x1b') && !out.contains('\x07') && !out.contains('\u{9b}'));
        assert!(
            out.starts_with("fw.log:7:\\x1b]0;owned\\x07 45.61.136.7 \\x1b[2J\u{fffd}\tend\\x9b\t"),
            "{out:?}"
        );
    }

    #[test]
    fn only_the_tokens() {
        let mut b = SetBuilder::new();
        b.add_plain_list("c2", "c2.txt", b"45.61.136.7\nevil.example\n");
        let set = b.build();
        let text = b"a 45.61.136.7 b x.evil.example";
        let mut hits = Vec::new();
        set.scan(text, &mut Scratch::new(), &mut hits);
        let mut out = String::new();
        only_matching(&mut out, "-", 3, text, &hits, false);
        assert_eq!(out, "-:3:45.61.136.7\n-:3:x.evil.example\n");
    }
}
