use std::sync::Arc;

use super::*;
use crate::{Compiler, IocId, Pattern, Scratch};

/// A set of every kind, big enough for the filters and maps big sets get (a Bloom filter in
/// front of the domains, the /24 map), with metadata, contexts shared between listings, a
/// report, feed weights and a feed context.
fn every_kind(n_domains: usize) -> IocSet {
    let mut c = Compiler::new();
    let a = c.add_feed("alpha", "/feeds/alpha.txt");
    let b = c.add_feed("beta", "https://tip.example/beta.json");
    c.set_feed_weight(b, 2.5);
    c.set_feed_context(
        b,
        Arc::new(Context {
            malware: vec!["Emotet".into()],
            ..Context::default()
        }),
    );
    let shared = Arc::new(Context {
        groups: vec!["APT-X".into()],
        techniques: vec![Technique {
            id: Some("T1071.001".into()),
            name: None,
        }],
        report: Some("report--1".into()),
        ..Context::default()
    });
    let pats: Vec<Pattern> = [
        "198.51.100.7",
        "2001:db8::7",
        "203.0.113.0/24",
        "10.0.0.0/8",
        "2001:db8:1::/48",
        "evil.example",
        "http://bad.example/x.php",
        "d41d8cd98f00b204e9800998ecf8427f",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "mal@evil.example",
    ]
    .iter()
    .map(|t| pat(t))
    .collect();
    for (i, p) in pats.iter().enumerate() {
        c.add(p, SourceRef::plain(a, i as u32 + 1));
    }
    c.add_with_meta(
        &pats[0],
        SourceRef::plain(b, 9),
        Meta {
            confidence: Some(80),
            severity: Some(60),
            tags: vec!["c2".into(), "botnet".into()],
            first_seen: Some(1_700_000_000),
            last_seen: Some(-5),
            valid_until: Some(1_900_000_000),
            tlp: Some(Tlp::AmberStrict),
            description: Some("a C2 ✓".into()),
            context: Some(Arc::clone(&shared)),
        },
    );
    c.add_with_meta(
        &pats[5],
        SourceRef::plain(b, 10),
        Meta {
            context: Some(shared),
            ..Meta::default()
        },
    );
    for (text, ci) in [("Mozilla/4.0 (evil)", false), ("cmd.exe /c whoami", true)] {
        c.add(
            &Pattern::String {
                text: text.into(),
                case_insensitive: ci,
            },
            SourceRef::plain(a, 0),
        );
    }
    for i in 0..n_domains {
        c.add(
            &Pattern::Domain {
                name: format!("d{i}.bad.example"),
                subdomains: i % 2 == 0,
            },
            SourceRef::plain(a, 100 + i as u32),
        );
        c.add(
            &Pattern::Ipv4(std::net::Ipv4Addr::from(0x0b00_0000 + i as u32 * 7)),
            SourceRef::plain(a, 100 + i as u32),
        );
    }
    c.build()
}

/// The pattern a test writes as text.
pub(crate) fn pat(t: &str) -> Pattern {
    if let Ok(n) = t.parse::<ipnet::IpNet>() {
        return Pattern::Cidr(n);
    }
    if let Ok(a) = t.parse::<std::net::Ipv4Addr>() {
        return Pattern::Ipv4(a);
    }
    if let Ok(a) = t.parse::<std::net::Ipv6Addr>() {
        return Pattern::Ipv6(a);
    }
    let hex = |n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_hexdigit());
    let digest = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    if hex(32) {
        return Pattern::Md5(digest(16).try_into().unwrap());
    }
    if hex(40) {
        return Pattern::Sha1(digest(20).try_into().unwrap());
    }
    if hex(64) {
        return Pattern::Sha256(digest(32).try_into().unwrap());
    }
    if t.contains("://") {
        return Pattern::Url {
            url: crate::canonical_url(t).unwrap(),
            prefix: false,
        };
    }
    if t.contains('@') {
        return Pattern::Email(t.into());
    }
    Pattern::Domain {
        name: t.into(),
        subdomains: true,
    }
}

const LINES: &[u8] = b"deny 198.51.100.7 -> 203.0.113.9 dport 443 via 2001:db8:1::5\n\
GET http://bad.example/x.php?q=1 from x.d4.bad.example user mal@evil.example\n\
hash d41d8cd98f00b204e9800998ecf8427f DA39A3EE5E6B4B0D3255BFEF95601890AFD80709\n\
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 Mozilla/4.0 (evil)\n\
CMD.EXE /C WHOAMI 10.1.2.3 11.0.0.7 11.0.0.8 d3.bad.example a.d3.bad.example 2001:db8::7\n";

fn hits(set: &IocSet, hay: &[u8]) -> Vec<crate::Hit> {
    let mut h = Vec::new();
    set.scan(hay, &mut Scratch::new(), &mut h);
    h
}

fn load(bytes: Vec<u8>) -> Result<SetFile, FileError> {
    IocSet::from_bytes(Arc::new(bytes))
}

#[test]
fn a_set_read_back_is_the_same_set() {
    for n in [0, 40_000] {
        let set = every_kind(n);
        let bytes = set.to_bytes(b"compiled from alpha, beta");
        let file = load(bytes.clone()).expect("reads back");
        let back = &file.set;
        assert_eq!(file.note, b"compiled from alpha, beta");
        assert!(back.mapped_bytes() > 0);
        assert_eq!(back.len(), set.len());
        assert_eq!(back.counts(), set.counts());
        let found = hits(&set, LINES);
        assert!(
            found.len() >= 12 + 3 * usize::from(n > 0),
            "{} hits",
            found.len()
        );
        assert_eq!(hits(back, LINES), found);
        for i in 0..set.len() as u32 {
            let id = IocId(i);
            assert_eq!(back.pattern(id), set.pattern(id));
            assert_eq!(back.sources(id), set.sources(id));
            assert_eq!(back.identity(id), set.identity(id));
            for s in set.sources(id) {
                assert_eq!(back.meta(s), set.meta(s));
            }
            assert_eq!(back.find(&set.pattern(id)), Some(id));
        }
        assert_eq!(back.feeds(), set.feeds());
        assert_eq!(
            back.report_members("report--1"),
            set.report_members("report--1")
        );
        assert_eq!(back.report_members("report--1").len(), 2);
        // Shared contexts stay shared.
        let ip = back.find(&pat("198.51.100.7")).unwrap();
        let dom = back.find(&pat("evil.example")).unwrap();
        let ctx = |id| {
            back.meta(&back.sources(id)[1])
                .unwrap()
                .context
                .clone()
                .unwrap()
        };
        assert!(Arc::ptr_eq(&ctx(ip), &ctx(dom)));
        // Written again, the same bytes: nothing is lost or reordered on the way.
        assert_eq!(back.to_bytes(b"compiled from alpha, beta"), bytes);
        // The tables are used in place, not copied.
        assert!(back.heap_bytes() < set.heap_bytes() / 2 || n == 0);
    }
}

#[test]
fn the_empty_set_round_trips() {
    let set = IocSet::empty();
    let back = load(set.to_bytes(b"")).unwrap().set;
    assert!(back.is_empty());
    assert!(hits(&back, LINES).is_empty());
}

/// Sets `bytes`' checksum to match its content, as a forger (or a bug in a writer) would.
fn reseal(bytes: &mut [u8]) {
    crate::fuzzing_reseal(bytes);
}

#[test]
fn files_of_another_kind_version_or_content_are_refused() {
    let good = every_kind(10).to_bytes(b"");
    assert!(load(good.clone()).is_ok());
    assert_eq!(
        load(b"1.2.3.4\n".to_vec()).err(),
        Some(FileError::NotASetFile)
    );
    assert_eq!(load(Vec::new()).err(), Some(FileError::NotASetFile));

    let mut v = good.clone();
    v[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = load(v).err().unwrap();
    assert_eq!(
        e,
        FileError::Version {
            found: 2,
            supported: 1
        }
    );
    assert!(e.to_string().contains("compile it again"), "{e}");

    let mut v = good.clone();
    v[12..16].copy_from_slice(&ENDIAN.to_be_bytes());
    assert_eq!(load(v).err(), Some(FileError::ByteOrder));

    for cut in [good.len() - 1, good.len() / 2, HEADER] {
        let e = load(good[..cut].to_vec()).err().unwrap();
        assert!(matches!(e, FileError::Length { .. }), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    // One bit anywhere after the header: the checksum says so.
    for at in [HEADER, HEADER + 100, good.len() / 2, good.len() - 1] {
        let mut v = good.clone();
        v[at] ^= 0x10;
        let e = load(v).err().unwrap();
        assert!(matches!(e, FileError::Checksum { .. }), "byte {at}: {e}");
        assert!(e.to_string().contains("damaged"), "{e}");
    }

    // The header is covered too (but for the checksum's own bytes).
    for at in [32, 40, 50, 63] {
        let mut v = good.clone();
        v[at] ^= 1;
        let e = load(v).err().unwrap();
        assert!(
            matches!(e, FileError::Checksum { .. }),
            "header byte {at}: {e}"
        );
    }
    let mut v = good.clone();
    v[32] ^= 1;
    reseal(&mut v);
    assert_eq!(load(v).err(), Some(FileError::HashFunction));

    // A file whose checksum holds but whose content does not: refused, never misread.
    let mut v = good.clone();
    v[40..44].copy_from_slice(&5u32.to_le_bytes());
    reseal(&mut v);
    assert!(matches!(load(v).err(), Some(FileError::Invalid(_))));
}

#[test]
fn a_forged_network_length_or_host_bits_are_refused() {
    let set = every_kind(0);
    let good = set.to_bytes(b"");
    // The first IPv4 network key: the `cidr4` keys section, the 5th entry of the directory
    // after scalars, note, ipv4 keys/ctrl/pos, ipv6 keys/ctrl/pos.
    let dir = |k: usize| {
        let e = &good[HEADER + k * DIR_ENTRY..HEADER + (k + 1) * DIR_ENTRY];
        usize::try_from(u64::from_le_bytes(e[8..16].try_into().unwrap())).unwrap()
    };
    let cidr4_keys = dir(8);
    for (byte, value) in [(0, 33u8), (0, 0), (1, 0xff)] {
        let mut v = good.clone();
        v[cidr4_keys + byte] = value;
        reseal(&mut v);
        match load(v) {
            Err(FileError::Invalid(why)) => assert!(why.contains("network"), "{why}"),
            // Length 0 on a network without host bits past it is a valid /0: still no panic.
            Err(e) => panic!("{e}"),
            Ok(f) => exercise(&f.set),
        }
    }
}

/// Damage the checksum cannot see (bytes forged with a valid checksum, or changed under a
/// mapping after the check): every load either refuses the file or gives a set that scans,
/// names its hits and their sources without panicking. A deterministic sweep; the fuzz target
/// `set_file` searches further.
#[test]
fn forged_content_never_panics_a_reader() {
    let good = every_kind(300).to_bytes(b"note");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut refused, mut loaded) = (0, 0);
    for round in 0..400 {
        let mut v = good.clone();
        let flips = 1 + round % 8;
        for _ in 0..flips {
            // Half the flips in the directory and small sections, where structure lives.
            let span = if next() % 2 == 0 {
                4096
            } else {
                v.len() - HEADER
            };
            let at = HEADER + (next() as usize % span.min(v.len() - HEADER));
            v[at] = next() as u8;
        }
        reseal(&mut v);
        match load(v) {
            Err(_) => refused += 1,
            Ok(f) => {
                loaded += 1;
                exercise(&f.set);
            }
        }
    }
    assert!(
        refused > 0 && loaded > 0,
        "refused {refused}, loaded {loaded}"
    );
}

/// Everything a caller does with a set: scan, then name each hit, its sources and metadata.
pub(crate) fn exercise(set: &IocSet) {
    for h in hits(set, LINES) {
        let _ = set.pattern(h.id);
        for s in set.sources(h.id) {
            let _ = set.meta(s);
            assert!((s.feed as usize) < set.feeds().len());
        }
        let _ = set.identity(h.id);
    }
    let _ = set.report_members("report--1");
    let _ = set.counts();
}
