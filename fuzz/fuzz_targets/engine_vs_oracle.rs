//! libFuzzer target: the input spells an indicator set and a log buffer (see
//! `crates/testkit/src/oracle/synth.rs`); the engine must find exactly what the naive oracle finds.
#![no_main]

#[path = "../../crates/testkit/src/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oracle::check(data);
});
