//! The fuzz property without libFuzzer: random inputs from a seeded generator, for machines
//! where cargo-fuzz cannot build. No coverage guidance, so it finds less per second, but it
//! needs nothing but a stable toolchain.
//!
//! Usage: `engine_vs_oracle_loop [SECONDS] [SEED]`. A failing input is written to
//! `artifacts/engine_vs_oracle/loop-crash-SEED-N` (replay it with cargo-fuzz, or with
//! `engine_vs_oracle_loop --replay FILE`).

#[path = "../../crates/testkit/src/oracle/mod.rs"]
mod oracle;

use std::panic;
use std::time::{Duration, Instant};

/// xorshift64*: enough randomness for input generation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--replay") {
        for path in &args[1..] {
            let data = std::fs::read(path).expect("read input");
            oracle::check(&data);
            println!("{path}: ok");
        }
        return;
    }
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut execs: u64 = 0;
    let mut data = Vec::new();
    while Instant::now() < deadline {
        for _ in 0..256 {
            let len = (rng.next() % 384) as usize;
            data.clear();
            data.extend((0..len).map(|_| rng.next() as u8));
            let input = data.clone();
            if panic::catch_unwind(|| oracle::check(&input)).is_err() {
                let dir = std::path::Path::new("artifacts/engine_vs_oracle");
                std::fs::create_dir_all(dir).expect("artifacts dir");
                let path = dir.join(format!("loop-crash-{seed}-{execs}"));
                std::fs::write(&path, &data).expect("write crash input");
                eprintln!(
                    "engine and oracle disagree; input saved to {}",
                    path.display()
                );
                std::process::exit(1);
            }
            execs += 1;
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "engine_vs_oracle_loop: {execs} execs in {t:.0} s ({:.0}/s), seed {seed}, no disagreement",
        execs as f64 / t
    );
}
