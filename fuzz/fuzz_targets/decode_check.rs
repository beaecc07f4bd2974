//! The property both decode fuzz binaries check: `iocd::decode::event::decode` takes any bytes
//! without panicking, and every field range it reports is inside the line, non-empty and (for
//! a UTF-8 line) on character boundaries; no accessor panics on the result.
//!
//! The first byte of the input chooses whether a Zeek header (a DNS log's) is passed along,
//! so the Zeek TSV path is fuzzed too; the rest is the line.

use iocd::decode::event::{ZeekHeader, decode};

pub fn check(data: &[u8]) {
    let Some((&mode, line)) = data.split_first() else {
        return;
    };
    let header = ZeekHeader::from_lines(
        [
            &b"#separator \\x09"[..],
            b"#set_separator\t,",
            b"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tanswers\tlocal_orig\tlocal_resp",
        ],
    );
    let zeek = if mode & 1 == 1 { header.as_ref() } else { None };
    let Some(ev) = decode(line, zeek) else {
        return;
    };
    let text = std::str::from_utf8(line).ok();
    for f in &ev.fields {
        assert!(
            f.value.start < f.value.end && f.value.end <= line.len(),
            "range {:?} outside a line of {} bytes",
            f.value,
            line.len()
        );
        if let Some(t) = text {
            assert!(
                t.is_char_boundary(f.value.start) && t.is_char_boundary(f.value.end),
                "range {:?} splits a character",
                f.value
            );
        }
        let _ = ev.text(line, f);
        assert!(ev.field_at(f.value.clone()).is_some());
    }
    let _ = (
        ev.source_ip(line),
        ev.destination_ip(line),
        ev.source_port(line),
    );
    let _ = (ev.destination_port(line), ev.url(line), ev.user_name(line));
    let _ = (
        ev.destination_domain(line),
        ev.dns_question(line),
        ev.user_agent(line),
    );
}
