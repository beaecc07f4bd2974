//! libFuzzer target: a MISP feed folder's `manifest.json` (and the event every listed UUID
//! points at) parse without a panic. The first two bytes say where the manifest ends and the
//! event starts.
#![no_main]

mod feeds_check;

use iocd::ioc::feed::{FeedFormat, ParseOptions, fuzzing};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_at_checked(2) else {
        return;
    };
    let at = usize::from(u16::from_le_bytes([head[0], head[1]])).min(rest.len());
    let (manifest, event) = rest.split_at(at);
    match fuzzing::misp_manifest(manifest, event, &ParseOptions::default()) {
        Ok((p, bytes)) => {
            feeds_check::check_parsed(FeedFormat::Misp, manifest, &p);
            assert!(bytes >= manifest.len() as u64);
        }
        Err(e) => feeds_check::check_error(&e),
    }
});
