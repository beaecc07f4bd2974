//! Engine benchmarks on a generated corpus (see `iocd_testkit::corpus`).
//!
//! * `scan/10k`, `scan/100k`, `scan/1M`: `IocSet::scan` over ~64 MiB of mixed log lines
//!   with a mixed indicator set of that size; throughput in bytes. `scan/10k/avx2`,
//!   `scan/10k/sse2`, `scan/10k/portable` (and the same for 1M): the same scan with each
//!   byte-class kernel the CPU has.
//! * `build/1M`: `SetBuilder::add_plain_list` + `build` of the 1M plain list.
//!
//! Before timing, every scan case is checked against the planted truth: every planted
//! line has a hit, no trap line has one, and the lines with hits are exactly the planted
//! lines. A wrong engine fails the bench instead of reporting a speed.
//!
//! `cargo bench --bench engine` (about 1.5 minutes after the build on 2 cores);
//! `cargo bench --bench engine -- scan/100k` for one case.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use iocd::ioc::SetBuilder;
use iocd::{Hit, IocSet, Kernel, Scratch};
use iocd_testkit::corpus::{self, CorpusSpec, Truth};

const CORPUS_BYTES: u64 = 64 << 20;
const SEED: u64 = 1;
const SIZES: [(&str, usize); 3] = [("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000)];

fn build(plain: &str) -> IocSet {
    let mut b = SetBuilder::new();
    let rejected = b.add_plain_list("bench", "iocs.txt", plain.as_bytes());
    assert!(
        rejected.is_empty(),
        "the loader rejected {} generated lines, first: {:?}",
        rejected.len(),
        rejected.first()
    );
    b.build()
}

/// 1-based line number of every hit, from the offsets of the line starts.
fn hit_lines(hay: &[u8], hits: &[Hit]) -> BTreeSet<u64> {
    let mut starts = vec![0usize];
    starts.extend(
        hay.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    hits.iter()
        .map(|h| match starts.binary_search(&h.start) {
            Ok(i) => i as u64 + 1,
            Err(i) => i as u64,
        })
        .collect()
}

/// Scans once and checks the hits against the planted truth.
fn check(label: &str, set: &IocSet, hay: &[u8], truth: &Truth) {
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    set.scan(hay, &mut scratch, &mut hits);
    let got = hit_lines(hay, &hits);
    let want: BTreeSet<u64> = truth.hits.iter().map(|h| h.line).collect();
    let lines: Vec<&[u8]> = hay.split(|&b| b == b'\n').collect();
    let show = |n: u64| String::from_utf8_lossy(lines[n as usize - 1]).into_owned();
    let missed: Vec<_> = truth
        .hits
        .iter()
        .filter(|h| !got.contains(&h.line))
        .collect();
    assert!(
        missed.is_empty(),
        "{label}: {} planted lines without a hit, first: {:?}\n{}",
        missed.len(),
        missed[0],
        show(missed[0].line)
    );
    let trapped: Vec<_> = truth
        .traps
        .iter()
        .filter(|t| got.contains(&t.line))
        .collect();
    assert!(
        trapped.is_empty(),
        "{label}: {} trap lines reported, first: {:?}\n{}",
        trapped.len(),
        trapped[0],
        show(trapped[0].line)
    );
    let extra: Vec<u64> = got.difference(&want).copied().collect();
    assert!(
        extra.is_empty(),
        "{label}: {} lines reported that hold no planted indicator, first: line {}\n{}",
        extra.len(),
        extra[0],
        show(extra[0])
    );
    assert_eq!(got.len(), truth.hits.len());
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    // One iteration scans 64 MiB (0.1-1 s): flat sampling, ten samples.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(12));
    for (label, n) in SIZES {
        let spec = CorpusSpec {
            seed: SEED,
            indicators: n,
            target_bytes: CORPUS_BYTES,
        };
        let t = Instant::now();
        let indicators = corpus::indicators(&spec);
        let mut hay = Vec::with_capacity(CORPUS_BYTES as usize + 4096);
        let truth = corpus::write_corpus(&spec, &indicators, &mut hay).unwrap();
        let set = build(indicators.plain_list());
        drop(indicators);
        check(label, &set, &hay, &truth);
        eprintln!(
            "scan/{label}: {} indicators, {:.1} MiB, {} lines, {} planted and {} trap lines checked ({:.1}s to prepare)",
            set.len(),
            hay.len() as f64 / (1 << 20) as f64,
            truth.lines,
            truth.hits.len(),
            truth.traps.len(),
            t.elapsed().as_secs_f64()
        );
        group.throughput(Throughput::Bytes(hay.len() as u64));
        group.bench_function(label, |b| {
            let mut scratch = Scratch::new();
            let mut hits = Vec::new();
            b.iter(|| {
                hits.clear();
                set.scan(black_box(&hay), &mut scratch, &mut hits);
                hits.len()
            })
        });
        // Each byte-class kernel this CPU has (the plain case above uses the best one).
        if n != 100_000 {
            for kernel in Kernel::available() {
                group.bench_function(format!("{label}/{}", kernel.as_str()), |b| {
                    let mut scratch = Scratch::with_kernel(kernel).expect("available");
                    let mut hits = Vec::new();
                    b.iter(|| {
                        hits.clear();
                        set.scan(black_box(&hay), &mut scratch, &mut hits);
                        hits.len()
                    })
                });
            }
        }
    }
    group.finish();
}

fn build_1m(c: &mut Criterion) {
    let spec = CorpusSpec {
        seed: SEED,
        indicators: 1_000_000,
        target_bytes: 0,
    };
    let indicators = corpus::indicators(&spec);
    let plain = indicators.plain_list().to_owned();
    drop(indicators);
    let mut group = c.benchmark_group("build");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(1_000_000));
    group.bench_function("1M", |b| b.iter(|| build(black_box(&plain)).len()));
    group.finish();

    // The same set as a compiled set file (`iocd iocs compile`), read back from bytes in
    // memory: the header, the checksum of every byte, the structural checks and the views
    // (what mapping a file adds is its page faults, measured with `iocd iocs stats --set`).
    let bytes: std::sync::Arc<dyn iocd_engine::Backing> =
        std::sync::Arc::new(build(&plain).to_bytes(b""));
    let mut group = c.benchmark_group("load");
    group
        .sample_size(50)
        .throughput(Throughput::Elements(1_000_000));
    group.bench_function("1M", |b| {
        b.iter(|| {
            IocSet::from_bytes(std::sync::Arc::clone(black_box(&bytes)))
                .expect("reads back")
                .set
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, scan, build_1m);
criterion_main!(benches);
