//! The property both decode fuzz binaries check: `iocd::decode::event::decode` takes any bytes
//! without panicking, and every field range it reports is inside the line, non-empty and (for
//! a UTF-8 line) on character boundaries; no accessor panics on the result.
//!
//! The first byte of the input chooses whether a Zeek header (a DNS log's) is passed along,
//! so the Zeek TSV path is fuzzed too; the rest is the line.

use iocd::decode::event::{ZeekHeader, check_invariants};

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
    if let Err(e) = check_invariants(line, zeek) {
        panic!("{e}");
    }
}
