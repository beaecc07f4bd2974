//! A loop over `IocSet::scan` for profilers and quick A/B runs of engine changes.
//!
//! `cargo run --release -p iocd-testkit --bin scan-profile -- [INDICATORS] [MIB] [ROUNDS]`
//! (defaults: 1000000 64 5). Builds the generated set and corpus of `benches/engine.rs`,
//! scans the corpus ROUNDS times on one thread and prints each round's MiB/s and the median.
//! Run it under `perf record -g` or `valgrind --tool=callgrind` to see where a scan goes;
//! the criterion bench (`cargo bench --bench engine`) is the figure to report.
//!
//! `KINDS=ipv4,cidr` (names as `iocd iocs stats` prints them) keeps only those kinds of the
//! generated set, to see what one family of the scan costs. `KERNEL=avx2|sse2|portable` picks
//! the byte-class kernel (default: the best this CPU has).

use std::time::Instant;

use iocd::ioc::SetBuilder;
use iocd::{IocSet, Kernel, Scratch};
use iocd_testkit::corpus::{self, CorpusSpec};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments are numbers"))
        .collect();
    let indicators = args.first().copied().unwrap_or(1_000_000) as usize;
    let mib = args.get(1).copied().unwrap_or(64);
    let rounds = args.get(2).copied().unwrap_or(5).max(1);
    let spec = CorpusSpec {
        seed: 1,
        indicators,
        target_bytes: mib << 20,
    };
    let set_spec = corpus::indicators(&spec);
    let mut hay = Vec::with_capacity((mib << 20) as usize + 4096);
    corpus::write_corpus(&spec, &set_spec, &mut hay).expect("corpus in memory");
    let kinds = std::env::var("KINDS").ok();
    let plain: String = match &kinds {
        None => set_spec.plain_list().to_owned(),
        Some(k) => {
            let keep: Vec<&str> = k.split(',').collect();
            set_spec
                .plain_list()
                .lines()
                .filter(|l| {
                    // The value without its inline comment, as the plain-list loader cuts it.
                    let value = l.split(" #").next().unwrap_or(l).trim();
                    iocd::ioc::parse_indicator(value)
                        .is_ok_and(|p| keep.contains(&p.kind().as_str()))
                })
                .flat_map(|l| [l, "\n"])
                .collect()
        }
    };
    let mut b = SetBuilder::new();
    b.add_plain_list("bench", "iocs.txt", plain.as_bytes());
    let set: IocSet = b.build();
    drop(set_spec);
    let counts: Vec<String> = set
        .counts()
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    eprintln!("set: {}", counts.join(", "));
    let mut scratch = match std::env::var("KERNEL").ok().as_deref() {
        None => Scratch::new(),
        Some(name) => {
            let kernel = Kernel::available()
                .into_iter()
                .find(|k| k.as_str() == name)
                .unwrap_or_else(|| panic!("KERNEL={name}: not one this CPU runs"));
            Scratch::with_kernel(kernel).expect("available")
        }
    };
    eprintln!("kernel: {}", scratch.kernel().as_str());
    let mut hits = Vec::new();
    let mut rates = Vec::new();
    for round in 0..rounds {
        hits.clear();
        let t = Instant::now();
        set.scan(&hay, &mut scratch, &mut hits);
        let secs = t.elapsed().as_secs_f64();
        let rate = hay.len() as f64 / (1 << 20) as f64 / secs;
        eprintln!("round {round}: {rate:.1} MiB/s, {} hits", hits.len());
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{} indicators, {:.1} MiB: median {:.1} MiB/s",
        set.len(),
        hay.len() as f64 / (1 << 20) as f64,
        rates[rates.len() / 2]
    );
}
