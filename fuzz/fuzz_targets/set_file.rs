//! libFuzzer target: reading a compiled set file (`IocSet::from_bytes`) is total, and a set
//! it accepts can be scanned and asked about its hits without a panic. A set file is bytes
//! anyone who can write the file controls: the checksum stops accidents, not a forger, so
//! every input is resealed (its checksum made to match) to reach the checks behind it.
//!
//! The input's first byte picks the mode: even, the rest is the file as it is; odd, the rest
//! is applied as (offset, byte) edits to a well-formed file of every indicator kind, so the
//! search starts from the structure instead of from noise.
#![no_main]

#[path = "../../crates/testkit/src/oracle/mod.rs"]
mod oracle;

use std::sync::{Arc, OnceLock};

use iocd::{IocSet, Scratch};

fn good_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        // A fixed set from the oracle's generator: every kind, metadata-free.
        let seed: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
        let pats = oracle::synth::indicators(&mut oracle::synth::Src::new(&seed), 400);
        oracle::compile(&pats).to_bytes(b"{\"compiled_at\":0}")
    })
}

const LINES: &[u8] = b"deny 45.10.0.7 -> 203.0.113.9 dport 443 via 2001:db8:1::5 evil.example\n\
GET http://bad.example/x.php?q=1 mal@evil.example d41d8cd98f00b204e9800998ecf8427f\n";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut f = good_file().to_vec();
        for edit in rest.chunks_exact(4) {
            let at = u32::from_le_bytes([edit[0], edit[1], edit[2], 0]) as usize % f.len();
            f[at] = edit[3];
        }
        f
    };
    iocd_engine::fuzzing_reseal(&mut file);
    let Ok(loaded) = IocSet::from_bytes(Arc::new(file)) else {
        return;
    };
    let set = loaded.set;
    let mut hits = Vec::new();
    set.scan(LINES, &mut Scratch::new(), &mut hits);
    for h in &hits {
        assert!(h.start <= h.end && h.end <= LINES.len());
        let _ = set.pattern(h.id);
        for s in set.sources(h.id) {
            assert!((s.feed as usize) < set.feeds().len());
            let _ = set.meta(s);
        }
    }
    let _ = set.counts();
    let _ = set.report_members("x");
});
