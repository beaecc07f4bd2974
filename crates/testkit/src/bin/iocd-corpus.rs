//! `iocd-corpus`: writes a deterministic synthetic benchmark corpus.
//!
//! ```text
//! iocd-corpus --seed 1 --indicators 1000000 --size-mb 1000 --out DIR
//! ```
//!
//! DIR gets:
//! * `corpus.log`: the log lines;
//! * `iocs.txt`: the indicator set as a plain list (about 2% of lines in messy feed forms);
//! * `literals.txt`: one canonical literal per line, no CIDRs (for `grep -F -f`, `rg -F -f`);
//! * `cidrs.txt`: IPv4 addresses and IPv4 CIDRs (for `grepcidr -f`);
//! * `truth.tsv`: `line<TAB>indicator<TAB>token-as-written`, one row per planted true hit;
//! * `traps.tsv`: `line<TAB>trap-token<TAB>indicator`, one row per trap line.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use iocd_testkit::corpus::{self, CorpusSpec, Kind};

#[derive(Parser, Debug)]
#[command(
    name = "iocd-corpus",
    about = "Write a deterministic synthetic log corpus with planted indicator hits and traps"
)]
struct Args {
    /// Seed of every random choice: the same arguments give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of indicators in the set.
    #[arg(long, default_value_t = 100_000)]
    indicators: usize,
    /// Size of corpus.log in MB (10^6 bytes); fractions allowed.
    #[arg(long, default_value_t = 100.0)]
    size_mb: f64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn create(dir: &std::path::Path, name: &str) -> Result<BufWriter<File>> {
    let path = dir.join(name);
    let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.size_mb >= 0.0, "--size-mb must not be negative");
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let spec = CorpusSpec {
        seed: args.seed,
        indicators: args.indicators,
        target_bytes: (args.size_mb * 1e6) as u64,
    };

    let t0 = Instant::now();
    let set = corpus::indicators(&spec);
    fs::write(args.out.join("iocs.txt"), set.plain_list())?;
    fs::write(args.out.join("literals.txt"), set.literals())?;
    fs::write(args.out.join("cidrs.txt"), set.cidr_list())?;
    let t_set = t0.elapsed();

    let t1 = Instant::now();
    let truth = corpus::write_corpus(&spec, &set, create(&args.out, "corpus.log")?)?;
    let t_corpus = t1.elapsed();
    truth.write_hits_tsv(create(&args.out, "truth.tsv")?)?;
    truth.write_traps_tsv(create(&args.out, "traps.tsv")?)?;

    let mix: Vec<String> = Kind::ALL
        .iter()
        .filter(|&&k| set.count(k) > 0)
        .map(|&k| format!("{}={}", k.name(), set.count(k)))
        .collect();
    println!(
        "iocd-corpus: seed={} indicators={} ({}; {} messy lines) set {:.2}s; corpus {:.1} MB, {} lines ({} B/line), {} planted, {} traps in {:.2}s ({:.0} MB/s) -> {}",
        spec.seed,
        set.len(),
        mix.join(" "),
        set.messy_lines(),
        t_set.as_secs_f64(),
        truth.bytes as f64 / 1e6,
        truth.lines,
        truth.bytes / truth.lines.max(1),
        truth.hits.len(),
        truth.traps.len(),
        t_corpus.as_secs_f64(),
        truth.bytes as f64 / 1e6 / t_corpus.as_secs_f64().max(1e-9),
        args.out.display(),
    );
    Ok(())
}
