//! The decode fuzz property without libFuzzer: lines from a seeded generator (random bytes,
//! and mutations of the lines in the corpus directory when there is one). No coverage
//! guidance; it needs nothing but a stable toolchain.
//!
//! Usage: `decode_loop [SECONDS] [SEED]`, or `decode_loop --replay FILE...`. A failing input
//! is written to `artifacts/decode/loop-crash-SEED-N`.

mod decode_check;

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

const DELIMS: &[u8] = b"\"\\{}[]|=:,; \t\n%#-/";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--replay") {
        for path in &args[1..] {
            decode_check::check(&std::fs::read(path).expect("read input"));
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
    let seeds: Vec<Vec<u8>> = std::fs::read_dir("corpus/decode")
        .map(|d| {
            d.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut execs: u64 = 0;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let mut data: Vec<u8> = if seeds.is_empty() || rng.next() % 4 == 0 {
                let len = (rng.next() % 512) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                seeds[(rng.next() % seeds.len() as u64) as usize].clone()
            };
            for _ in 0..rng.next() % 8 {
                let at = (rng.next() as usize) % (data.len() + 1);
                match rng.next() % 4 {
                    0 => data.insert(at, DELIMS[(rng.next() as usize) % DELIMS.len()]),
                    1 if at < data.len() => {
                        data.remove(at);
                    }
                    2 if at < data.len() => data[at] = rng.next() as u8,
                    _ => data.truncate(at.max(1)),
                }
            }
            let input = data.clone();
            if panic::catch_unwind(|| decode_check::check(&input)).is_err() {
                let dir = std::path::Path::new("artifacts/decode");
                std::fs::create_dir_all(dir).expect("artifacts dir");
                let path = dir.join(format!("loop-crash-{seed}-{execs}"));
                std::fs::write(&path, &data).expect("write crash input");
                eprintln!("decode_loop: failing input written to {}", path.display());
                std::process::exit(1);
            }
            execs += 1;
        }
    }
    println!("decode_loop: {execs} inputs in {secs}s, seed {seed}, no failure");
}
