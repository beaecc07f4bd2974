//! libFuzzer target: the retro spool's segment reader (`iocd::daemon::retro::spool`) is
//! total. A segment on disk is bytes anyone with access to the folder may have changed (or a
//! crash may have cut): first byte even, the input is read as a whole segment (headers,
//! lengths, checksums); odd, the rest is wrapped as the batches of one well-formed block
//! (`fuzzing_segment`), so the batch decoder is reached past the checksum.
#![no_main]

use iocd::daemon::retro::spool::{fuzzing_segment, fuzzing_walk, read_blocks};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let seg = if mode % 2 == 0 { rest.to_vec() } else { fuzzing_segment(rest) };
    let path = std::path::Path::new("fuzz.seg");
    let mut blocks = 0usize;
    let _ = read_blocks(&seg, path, 0, 0, |b| {
        blocks += 1;
        assert!(b.bytes <= seg.len().max(1) * 64 + (64 << 20), "a block larger than allowed");
        for batch in &b.batches {
            assert!(batch.buf.is_empty() || batch.buf.ends_with(b"\n"), "whole lines");
            assert!(batch.offsets.iter().all(|(start, _)| *start <= batch.buf.len()));
            // What a job asks of a batch's places, line by line, holds for anything read back.
            let lines = batch.buf.iter().filter(|&&c| c == b'\n').count();
            assert!(fuzzing_walk(batch) <= 3 * lines);
        }
        true
    });
    assert!(blocks <= seg.len() / 32 + 1, "more blocks than bytes allow");
});
