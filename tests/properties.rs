//! Property tests: the engine agrees with the naive oracle (`crates/testkit/src/oracle`) on random
//! indicator sets and random lines built to be full of near misses, and scanning many lines at
//! once finds what scanning each line alone finds.
//!
//! The case count defaults to a few hundred per property so that `cargo test` stays fast;
//! `PROPTEST_CASES=20000 cargo test --test properties` runs a longer search.

use iocd_testkit::oracle;

use iocd::{Hit, IocSet, Scratch};
use oracle::synth::{self, Src};
use oracle::{Oracle, compile, engine, kept};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn scan_hits(set: &IocSet, hay: &[u8]) -> Vec<Hit> {
    let mut hits = Vec::new();
    set.scan(hay, &mut Scratch::new(), &mut hits);
    hits
}

proptest! {
    #![proptest_config(config())]

    /// Indicators and lines both from the shared generator.
    #[test]
    fn engine_equals_oracle(
        set_bytes in prop::collection::vec(any::<u8>(), 0..96),
        line_bytes in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let pats = synth::indicators(&mut Src::new(&set_bytes), 1 + set_bytes.len() / 6);
        let set = compile(&pats);
        let pats = kept(&set, pats);
        let line = synth::line(&mut Src::new(&line_bytes), &pats);
        let want = Oracle::new(pats.iter().cloned()).scan(&line);
        let got = engine(&set, &line);
        prop_assert_eq!(&got, &want, "line {:?}", String::from_utf8_lossy(&line));
        // Written to a compiled set file and read back, the set finds the same.
        let back = IocSet::from_bytes(std::sync::Arc::new(set.to_bytes(b""))).unwrap().set;
        prop_assert_eq!(engine(&back, &line), want);
    }

    /// The same, with arbitrary bytes in the line: the engine must not panic and must agree.
    #[test]
    fn engine_equals_oracle_on_raw_bytes(
        set_bytes in prop::collection::vec(any::<u8>(), 0..64),
        line in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let pats = synth::indicators(&mut Src::new(&set_bytes), 1 + set_bytes.len() / 6);
        let set = compile(&pats);
        let pats = kept(&set, pats);
        prop_assert_eq!(engine(&set, &line), Oracle::new(pats.iter().cloned()).scan(&line));
    }

    /// A buffer of many lines holds exactly the hits of its lines, with offsets moved.
    #[test]
    fn many_lines_equal_each_line(
        set_bytes in prop::collection::vec(any::<u8>(), 0..96),
        lines_bytes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..6),
        crlf in any::<bool>(),
    ) {
        let pats = synth::indicators(&mut Src::new(&set_bytes), 1 + set_bytes.len() / 6);
        let set = compile(&pats);
        let pats = kept(&set, pats);
        let lines: Vec<Vec<u8>> = lines_bytes
            .iter()
            .map(|b| synth::line(&mut Src::new(b), &pats))
            .collect();
        let sep: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let joined = lines.join(sep);
        let mut each = Vec::new();
        let mut off = 0;
        for l in &lines {
            each.extend(scan_hits(&set, l).into_iter().map(|h| Hit {
                start: h.start + off,
                end: h.end + off,
                id: h.id,
            }));
            off += l.len() + sep.len();
        }
        each.sort();
        each.dedup();
        prop_assert_eq!(scan_hits(&set, &joined), each);
    }
}

/// The generator is only useful if lines really hold indicators: over a fixed sample, every
/// type must be matched many times, and near misses must outnumber nothing.
#[test]
fn generator_reaches_every_type() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut per_kind: std::collections::BTreeMap<String, usize> = Default::default();
    let mut with_hits = 0;
    let n = 3000;
    for _ in 0..n {
        let len = rng.gen_range(0..256);
        let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let (pats, line) = synth::case(&bytes);
        let found = Oracle::new(pats).scan(&line);
        with_hits += usize::from(!found.is_empty());
        for (_, _, label) in found {
            let kind = label.split(':').next().unwrap().to_owned();
            *per_kind.entry(kind).or_default() += 1;
        }
    }
    println!("{with_hits}/{n} cases with hits; hits per type: {per_kind:?}");
    assert!(with_hits > n / 4, "{with_hits}/{n}");
    for kind in [
        "ipv4",
        "ipv6",
        "cidr",
        "domain",
        "domain-exact",
        "url",
        "url-prefix",
        "md5",
        "sha1",
        "sha256",
        "email",
        "string",
        "istring",
    ] {
        let k = per_kind.get(kind).copied().unwrap_or(0);
        assert!(k >= 20, "{kind}: only {k} hits in {n} cases");
    }
}
