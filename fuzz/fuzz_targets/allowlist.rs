//! libFuzzer target: the allowlist parsers (MISP warninglists, plain lists) are total, count
//! every entry they do not keep, and the merged lookup tables answer any indicator. The first
//! byte picks the parser.
#![no_main]

use iocd::ioc::allowlist::{Allowlists, List};
use iocd::ioc::feed::limits;
use iocd::ioc::parse_indicator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let list = if mode & 1 == 0 {
        match List::warninglist(None, "fuzz.json", body) {
            Ok(l) => {
                // One entry or one rejection per item of `list`.
                assert!(l.len() as u64 + l.rejected <= list_items_bound(body));
                l
            }
            Err(e) => {
                assert!(!e.starts_with("parser panicked"), "{e}");
                return;
            }
        }
    } else {
        let l = List::plain("fuzz", "fuzz.txt", body);
        let lines = body.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert!(l.len() as u64 + l.rejected <= lines);
        assert!(
            l.rejected_examples
                .iter()
                .all(|e| !e.starts_with("parser panicked"))
        );
        l
    };
    assert!(l_examples_bounded(&list));
    let merged = Allowlists::build([&list]);
    for v in [
        "198.51.100.7",
        "2001:db8::1",
        "10.0.0.0/8",
        "a.example.org",
        "http://a.example.org/x",
        "x@a.example.org",
        "d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let p = parse_indicator(v).expect("a fixed, valid indicator");
        if let Some(n) = merged.check(&p) {
            assert_eq!(n, 0, "one list merged");
        }
    }
});

fn l_examples_bounded(l: &List) -> bool {
    l.rejected_examples.len() <= 5
        && l
            .rejected_examples
            .iter()
            .all(|e| e.len() <= limits::MAX_REJECTED_VALUE_BYTES + 64)
}

/// An upper bound of the items of the `list` array: the document's commas plus one.
fn list_items_bound(body: &[u8]) -> u64 {
    body.iter().filter(|b| **b == b',').count() as u64 + 1
}
