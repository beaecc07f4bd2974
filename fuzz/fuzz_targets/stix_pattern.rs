//! libFuzzer target: the STIX pattern grammar alone is total, bounded in depth and in
//! comparisons (`feed::limits`).
#![no_main]

use iocd::ioc::Reason;
use iocd::ioc::feed::{fuzzing, limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(pattern) = std::str::from_utf8(data) else {
        return;
    };
    match fuzzing::stix_pattern(pattern) {
        Ok(n) => {
            assert!(n >= 1, "a pattern that parses has a comparison");
            assert!(n <= limits::MAX_COMPARISONS);
            // Every comparison takes at least `a:b=''` (6 bytes) or an IN list value.
            assert!(n <= pattern.len() / 2);
        }
        Err(Reason::TooDeep { limit }) => {
            assert_eq!(limit, limits::MAX_NESTING);
            let open = pattern.bytes().filter(|b| *b == b'(').count();
            assert!(open > limits::MAX_NESTING, "too deep with {open} parentheses");
        }
        Err(Reason::TooLarge(_) | Reason::Unsupported(_)) => {}
        Err(other) => panic!("unexpected reason {other:?}"),
    }
});
