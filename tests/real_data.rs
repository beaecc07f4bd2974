//! Real feeds and real logs from `../shared/data` (beside the package), when it is there.
//!
//! * Every plain-list feed loads without a crash, with at least the indicators it is known to
//!   hold, and rejects few lines, each with its line number and a reason.
//! * Every line of every file under `logs/` is scanned by the engine loaded with all those
//!   feeds, and by the naive oracle. The oracle compares each token with each indicator, so it
//!   gets a subset: every indicator the engine reported anywhere, plus a fixed random sample of
//!   others (which would expose a miss: an indicator the oracle finds and the engine does not).
//!
//! Without the folder the tests print "skipped: ../shared/data not found" and pass.

use iocd_testkit::oracle;
use iocd_testkit::shared_data;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use iocd::ioc::SetBuilder;
use iocd::{IocSet, Scratch};
use iocd_engine::{IocId, Pattern};
use oracle::{Oracle, compile, label};
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// A plain-list feed: its path under `feeds/`, the fewest indicators it must yield, and the
/// largest share of its value lines the loader may reject.
struct FeedSpec {
    path: &'static str,
    min_accepted: u64,
    max_rejected: f64,
}

const fn feed(path: &'static str, min_accepted: u64, max_rejected: f64) -> FeedSpec {
    FeedSpec {
        path,
        min_accepted,
        max_rejected,
    }
}

/// The counts are a little under what the files held when this test was written, so a feed
/// refresh does not break it but a loader that drops a feed's lines does.
const FEEDS: &[FeedSpec] = &[
    feed("ipsum/ipsum.txt", 110_000, 0.001),
    feed("spamhaus/drop.txt", 900, 0.001),
    feed("spamhaus/drop_ipv6.txt", 40, 0.001),
    feed("eset/eset_all_samples.md5.txt", 5_000, 0.001),
    feed("eset/eset_all_samples.sha1.txt", 5_000, 0.001),
    feed("eset/eset_all_samples.sha256.txt", 5_000, 0.001),
    feed("urlhaus_filter/urlhaus-filter-domains.txt", 20_000, 0.01),
    feed("signature-base/c2-iocs.txt", 1_500, 0.02),
];

/// maltrail's trail files, read as a directory (every `*.txt`): IPs, CIDRs, domains and
/// schemeless URLs, but also bare URL paths (`/zuniga.php`), which no plain list can match:
/// those are rejected and not counted against the feed.
const MALTRAIL_MAX_REJECTED: f64 = 0.02;

/// A value that is a URL path without a host: rejected by design.
fn is_path(value: &str) -> bool {
    value.starts_with('/')
}

fn feed_files(data: &Path) -> Vec<(PathBuf, u64, f64)> {
    let mut out: Vec<(PathBuf, u64, f64)> = FEEDS
        .iter()
        .map(|f| {
            (
                data.join("feeds").join(f.path),
                f.min_accepted,
                f.max_rejected,
            )
        })
        .collect();
    let mut trails: Vec<PathBuf> = std::fs::read_dir(data.join("feeds/maltrail"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    trails.retain(|p| p.extension().is_some_and(|x| x == "txt"));
    trails.sort();
    for p in trails {
        out.push((p, 1, MALTRAIL_MAX_REJECTED));
    }
    out
}

/// Loads every feed; checks the counts and the rejections; returns the set.
fn load_feeds(data: &Path) -> IocSet {
    let mut b = SetBuilder::new();
    let files = feed_files(data);
    let mut limits = Vec::new();
    let mut problems = Vec::new();
    for (path, min_accepted, max_rejected) in &files {
        let rel = path.strip_prefix(data).unwrap().display().to_string();
        let Ok(text) = std::fs::read(path) else {
            problems.push(format!("{rel}: cannot read"));
            continue;
        };
        let rejected = b.add_plain_list(&rel, &rel, &text);
        for r in &rejected {
            assert!(r.line > 0, "{r}: no line number");
            assert_eq!(r.location, rel, "{r}");
            assert!(!r.reason.to_string().is_empty(), "{r}: no reason");
        }
        limits.push((rel, *min_accepted, *max_rejected, rejected));
    }
    let (set, report) = b.finish();
    let mut total = 0;
    for (rel, min_accepted, max_rejected, rejected) in &limits {
        let f = report
            .feeds
            .iter()
            .find(|f| f.location == *rel)
            .expect("a report per feed");
        assert_eq!(f.rejected, rejected.len() as u64, "{rel}");
        let paths = rejected.iter().filter(|r| is_path(&r.value)).count() as u64;
        let bad: Vec<_> = rejected.iter().filter(|r| !is_path(&r.value)).collect();
        let share = bad.len() as f64 / (f.accepted + f.rejected - paths).max(1) as f64;
        println!(
            "{rel}: {} accepted, {} rejected ({paths} bare paths; others {:.2}%)",
            f.accepted,
            f.rejected,
            share * 100.0
        );
        total += f.accepted;
        if f.accepted < *min_accepted {
            problems.push(format!(
                "{rel}: {} indicators, expected at least {min_accepted}",
                f.accepted
            ));
        }
        if share > *max_rejected {
            let sample: Vec<String> = bad.iter().take(5).map(|r| r.to_string()).collect();
            problems.push(format!(
                "{rel}: {} of {} values rejected ({:.2}%, at most {:.2}% allowed), e.g. {sample:#?}",
                bad.len(),
                f.accepted + f.rejected - paths,
                share * 100.0,
                max_rejected * 100.0
            ));
        }
    }
    println!(
        "{} feeds, {total} listings, {} distinct indicators, {} merged",
        limits.len(),
        set.len(),
        report.merged
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(set.len() > 150_000, "only {} indicators", set.len());
    set
}

/// The set of all the feeds, loaded (and checked) once for both tests.
fn feeds(data: &Path) -> &'static IocSet {
    static SET: OnceLock<IocSet> = OnceLock::new();
    SET.get_or_init(|| load_feeds(data))
}

#[test]
fn real_feeds_load() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let set = feeds(&data);
    let kinds: Vec<_> = set.counts().into_iter().filter(|c| c.1 > 0).collect();
    println!("{kinds:?}");
    for kind in [
        "ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256",
    ] {
        assert!(
            kinds.iter().any(|(k, n)| k.as_str() == kind && *n > 0),
            "no {kind} indicator in the real feeds: {kinds:?}"
        );
    }
}

/// How many indicators beside the reported ones the oracle checks every line against.
const SAMPLE: usize = 2000;

#[test]
fn real_logs_engine_equals_oracle() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let set = feeds(&data);
    let files = shared_data::files_under(&data.join("logs"));
    assert!(!files.is_empty(), "no logs under {}", data.display());
    let texts: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&data).unwrap().display().to_string();
            (rel, std::fs::read(p).unwrap())
        })
        .collect();

    // Pass 1: the engine with every indicator.
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    let mut reported = HashSet::new();
    let mut n_lines = 0;
    for (_, text) in &texts {
        for line in text.split(|&b| b == b'\n') {
            n_lines += 1;
            hits.clear();
            set.scan(line, &mut scratch, &mut hits);
            reported.extend(hits.iter().map(|h| h.id));
        }
    }

    // The oracle's subset: what was reported, and a fixed sample of the rest.
    let mut subset: Vec<Pattern> = reported.iter().map(|&id| set.pattern(id)).collect();
    let mut others: Vec<IocId> = (0..set.len() as u32)
        .map(IocId)
        .filter(|id| !reported.contains(id))
        .collect();
    others.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0x10c));
    subset.extend(others.into_iter().take(SAMPLE).map(|id| set.pattern(id)));
    let oracle = Oracle::new(subset.iter().cloned());
    let small = compile(&subset);

    // Pass 2: per line, the full engine, the engine with the subset and the oracle agree.
    let mut n_hits = 0;
    let mut disagreements = Vec::new();
    for (rel, text) in &texts {
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let full = oracle::engine(set, line);
            let want = oracle.scan(line);
            let sub = oracle::engine(&small, line);
            n_hits += full.len();
            if full != want || sub != want {
                disagreements.push(format!(
                    "{rel}:{}: {:?}\n  engine {full:?}\n  engine(subset) {sub:?}\n  oracle {want:?}",
                    n + 1,
                    String::from_utf8_lossy(line)
                ));
            }
        }
    }
    let mut kinds: Vec<String> = reported
        .iter()
        .map(|&id| {
            label(&set.pattern(id))
                .split(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    println!(
        "{} log files, {n_lines} lines, {n_hits} hits of {} distinct indicators ({kinds:?}); \
         oracle checked {} indicators per line",
        texts.len(),
        reported.len(),
        oracle.patterns().len()
    );
    assert!(
        disagreements.is_empty(),
        "{} lines differ:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    assert!(
        n_hits > 0,
        "the real logs hold no indicator of the real feeds"
    );
}
