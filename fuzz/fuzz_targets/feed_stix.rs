//! libFuzzer target: `feed::parse` as Stix is total and keeps its limits (see `feeds_check.rs`).
#![no_main]

mod feeds_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    feeds_check::check_feed(iocd::ioc::feed::FeedFormat::Stix, data);
});
