use std::net::Ipv4Addr;

use rand::{Rng, SeedableRng};

use super::*;
use crate::ioc::parse_indicator;

fn cfg(format: &str, extra: &str) -> ExportConfig {
    toml::from_str(&format!(
        "name = \"blk\"\nformat = \"{format}\"\npath = \"/tmp/x\"\n{extra}"
    ))
    .unwrap()
}

fn entry(p: Pattern) -> Entry {
    Entry {
        pattern: p,
        score: 50.0,
        feeds: vec!["feodo".into()],
    }
}

fn entries(values: &[&str]) -> Vec<Entry> {
    values
        .iter()
        .map(|v| entry(parse_indicator(v).unwrap()))
        .collect()
}

fn text(r: &Rendered) -> &str {
    std::str::from_utf8(&r.bytes).unwrap()
}

fn domain(name: &str, subdomains: bool) -> Entry {
    entry(Pattern::Domain {
        name: name.into(),
        subdomains,
    })
}

/// The naive reference: mark every address, then from the lowest marked one take the largest
/// aligned block whose addresses are all marked, and go on after it.
fn naive_cover(nets: &[Ipv4Net], base: u32, span: u32) -> Vec<Ipv4Net> {
    let mut marked = vec![false; span as usize];
    for n in nets {
        let start = u32::from(n.network()) - base;
        let size = 1u32 << (32 - n.prefix_len());
        for a in start..start + size {
            marked[a as usize] = true;
        }
    }
    let mut out = Vec::new();
    let mut a = 0u32;
    while a < span {
        if !marked[a as usize] {
            a += 1;
            continue;
        }
        let mut size = 1u32;
        loop {
            let bigger = size * 2;
            let aligned = (base + a).is_multiple_of(bigger);
            if !aligned || a + bigger > span || !(a..a + bigger).all(|x| marked[x as usize]) {
                break;
            }
            size = bigger;
        }
        out.push(Ipv4Net::new(Ipv4Addr::from(base + a), 32 - size.trailing_zeros() as u8).unwrap());
        a += size;
    }
    out
}

#[test]
fn aggregation_matches_the_naive_reference() {
    let base = u32::from(Ipv4Addr::new(10, 20, 0, 0));
    let span = 1024u32;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    for round in 0..300 {
        let n = rng.gen_range(0..40);
        let mut es = Vec::new();
        let mut nets = Vec::new();
        for _ in 0..n {
            let len: u8 = rng.gen_range(22..=32);
            let addr = base + rng.gen_range(0..span);
            let net = Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc();
            nets.push(net);
            es.push(entry(if len == 32 {
                Pattern::Ipv4(net.addr())
            } else {
                Pattern::Cidr(IpNet::V4(net))
            }));
        }
        let (got, v6) = aggregate(&es);
        assert!(v6.is_empty());
        assert_eq!(
            got,
            naive_cover(&nets, base, span),
            "round {round}: {nets:?}"
        );
    }
}

/// The same reference for IPv6, within a /118 (1024 addresses).
fn naive_cover6(nets: &[Ipv6Net], base: u128, span: u128) -> Vec<Ipv6Net> {
    let mut marked = vec![false; span as usize];
    for n in nets {
        let start = u128::from(n.network()) - base;
        let size = 1u128 << (128 - n.prefix_len());
        for a in start..start + size {
            marked[a as usize] = true;
        }
    }
    let mut out = Vec::new();
    let mut a = 0u128;
    while a < span {
        if !marked[a as usize] {
            a += 1;
            continue;
        }
        let mut size = 1u128;
        while (base + a).is_multiple_of(size * 2)
            && a + size * 2 <= span
            && (a..a + size * 2).all(|x| marked[x as usize])
        {
            size *= 2;
        }
        let addr = std::net::Ipv6Addr::from(base + a);
        out.push(Ipv6Net::new(addr, 128 - size.trailing_zeros() as u8).unwrap());
        a += size;
    }
    out
}

#[test]
fn ipv6_aggregation_matches_the_naive_reference() {
    let base = u128::from("2001:db8:1::".parse::<std::net::Ipv6Addr>().unwrap());
    let span = 1024u128;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    for round in 0..300 {
        let mut es = Vec::new();
        let mut nets = Vec::new();
        for _ in 0..rng.gen_range(0..40) {
            let len: u8 = rng.gen_range(118..=128);
            let addr = std::net::Ipv6Addr::from(base + rng.gen_range(0..span));
            let net = Ipv6Net::new(addr, len).unwrap().trunc();
            nets.push(net);
            es.push(entry(if len == 128 {
                Pattern::Ipv6(net.addr())
            } else {
                Pattern::Cidr(IpNet::V6(net))
            }));
        }
        let (v4, got) = aggregate(&es);
        assert!(v4.is_empty());
        assert_eq!(
            got,
            naive_cover6(&nets, base, span),
            "round {round}: {nets:?}"
        );
    }
}

#[test]
fn adjacent_and_covered_networks_merge_in_every_ip_format() {
    let es = entries(&[
        "192.0.2.0",
        "192.0.2.1",
        "192.0.2.2/31",
        "198.51.100.0/24",
        "198.51.100.77",
        "2001:db8::/33",
        "2001:db8:8000::/33",
        "203.0.113.9",
    ]);
    let want = "192.0.2.0/30\n198.51.100.0/24\n203.0.113.9\n2001:db8::/32\n";
    assert_eq!(text(&render(&cfg("plain", ""), &es, 0)), want);
    let r = render(&cfg("nftables", ""), &es, 0);
    assert_eq!(r.entries, 4);
    assert!(
        text(&r).contains(
            "add element inet iocd blk_v4 { 192.0.2.0/30, 198.51.100.0/24, 203.0.113.9 }"
        )
    );
    assert!(text(&r).contains("add element inet iocd blk_v6 { 2001:db8::/32 }"));
    let r = render(&cfg("ipset", ""), &es, 0);
    assert_eq!(r.entries, 4);
    let adds: Vec<&str> = text(&r).lines().filter(|l| l.starts_with("add ")).collect();
    assert_eq!(
        adds,
        [
            "add blk_v4_t 192.0.2.0/30",
            "add blk_v4_t 198.51.100.0/24",
            "add blk_v4_t 203.0.113.9",
            "add blk_v6_t 2001:db8::/32"
        ]
    );
    assert!(text(&r).contains("swap blk_v4_t blk_v4\ndestroy blk_v4_t\n"));
}

/// Each vendor's documented line syntax: (vendor, indicator, lines written).
#[test]
fn vendor_list_rules() {
    let long = format!("http://evil.example/{}", "a".repeat(300));
    let rows: &[(&str, Entry, &[&str])] = &[
        (
            "generic",
            domain("evil.example", true),
            &["evil.example", "*.evil.example"],
        ),
        (
            "paloalto",
            domain("evil.example", true),
            &["evil.example", "*.evil.example"],
        ),
        ("paloalto", domain("evil.example", false), &["evil.example"]),
        (
            "fortinet",
            domain("evil.example", true),
            &["evil.example", "*.evil.example"],
        ),
        (
            "checkpoint",
            domain("evil.example", true),
            &[".evil.example"],
        ),
        (
            "checkpoint",
            domain("evil.example", false),
            &[".evil.example"],
        ),
        // PAN-OS: no scheme.
        (
            "paloalto",
            entry(parse_indicator("https://evil.example/a/b.php?x=1").unwrap()),
            &["evil.example/a/b.php?x=1"],
        ),
        // FortiGate: the scheme stays.
        (
            "fortinet",
            entry(parse_indicator("http://evil.example/a").unwrap()),
            &["http://evil.example/a"],
        ),
        // A URL with the vendor's wildcard would match more than the indicator.
        (
            "paloalto",
            entry(parse_indicator("http://evil.example/a*b").unwrap()),
            &[],
        ),
        (
            "paloalto",
            entry(parse_indicator("http://evil.example/a^b").unwrap()),
            &[],
        ),
        (
            "fortinet",
            entry(parse_indicator("http://evil.example/a*b").unwrap()),
            &[],
        ),
        ("paloalto", entry(parse_indicator(&long).unwrap()), &[]),
        (
            "paloalto",
            entry(parse_indicator("192.0.2.7").unwrap()),
            &["192.0.2.7"],
        ),
        (
            "fortinet",
            entry(parse_indicator("2001:db8::/48").unwrap()),
            &["2001:db8::/48"],
        ),
        (
            "checkpoint",
            entry(parse_indicator("192.0.2.0/24").unwrap()),
            &["192.0.2.0/24"],
        ),
    ];
    for (vendor, e, want) in rows {
        let c = cfg("plain", &format!("vendor = \"{vendor}\""));
        let r = render(&c, std::slice::from_ref(e), 0);
        let got: Vec<&str> = text(&r).lines().collect();
        assert_eq!(&got, want, "{vendor} {:?}", e.pattern);
        assert_eq!(r.entries, want.len());
        assert_eq!(
            r.skipped.is_empty(),
            !want.is_empty(),
            "{vendor} {:?}",
            e.pattern
        );
    }
}

/// Names a feed could smuggle past a parser bug: none reaches a zone, a list or a dataset.
#[test]
fn hostile_names_are_left_out_not_written() {
    let hostile = [
        "evil.example. 60 IN NS attacker.example",
        "evil.example\n@ IN NS attacker.example.",
        "evil.example;rm",
        "evil.example$INCLUDE",
        "evil(.example",
        "$INCLUDE",
        "evil..example",
        "evil.example\0",
        "",
    ];
    let mut es: Vec<Entry> = hostile.iter().map(|h| domain(h, true)).collect();
    es.push(domain("ok.example", true));
    for (format, extra) in [
        ("rpz", ""),
        ("plain", ""),
        ("plain", "vendor = \"checkpoint\"\ntypes = [\"domain\"]"),
        ("zeek", ""),
        ("suricata", "types = [\"domain\"]"),
    ] {
        let r = render(&cfg(format, extra), &es, 7);
        let t = text(&r);
        let lines = if format == "plain" && !extra.contains("checkpoint") {
            2 // ok.example and *.ok.example
        } else {
            1
        };
        assert_eq!(r.entries, lines, "{format}: {t}");
        assert!(
            t.contains("ok.example") || t.contains("b2suZXhhbXBsZQ=="),
            "{t}"
        );
        assert_eq!(r.skipped, vec![(skip::UNSAFE, hostile.len())], "{format}");
        assert!(
            !t.contains("attacker") && !t.contains("INCLUDE") && !t.contains("rm"),
            "{t}"
        );
    }
    // A URL or string with white space or a control character cannot become two lines.
    let es = vec![
        entry(Pattern::Url {
            url: "http://evil.example/a\nevil2.example".into(),
            prefix: false,
        }),
        entry(Pattern::String {
            text: "two words".into(),
            case_insensitive: false,
        }),
    ];
    let r = render(&cfg("plain", ""), &es, 0);
    assert_eq!((r.entries, text(&r)), (0, ""));
    assert_eq!(r.skipped, vec![(skip::UNSAFE, 2)]);
}

#[test]
fn rpz_actions_and_subdomains() {
    let es = vec![domain("evil.example", true), domain("exact.example", false)];
    let head = "; iocd export blk: response policy zone\n$ORIGIN rpz.iocd.\n$TTL 300\n\
                @ IN SOA localhost. hostmaster.localhost. 42 3600 600 86400 300\n\
                @ IN NS localhost.\n";
    let rows = [
        ("", "CNAME ."),
        ("action = \"nodata\"", "CNAME *."),
        (
            "action = \"sinkhole\"\nsinkhole = \"192.0.2.53\"",
            "A 192.0.2.53",
        ),
        (
            "action = \"sinkhole\"\nsinkhole = \"2001:db8::53\"",
            "AAAA 2001:db8::53",
        ),
        (
            "action = \"sinkhole\"\nsinkhole = \"sinkhole.example.net\"",
            "CNAME sinkhole.example.net.",
        ),
    ];
    for (extra, rdata) in rows {
        let r = render(&cfg("rpz", extra), &es, 42);
        assert_eq!(
            text(&r),
            format!("{head}evil.example {rdata}\n*.evil.example {rdata}\nexact.example {rdata}\n")
        );
        assert_eq!(r.entries, 2);
    }
}

#[test]
fn zeek_and_suricata_lines() {
    let mut es = entries(&[
        "198.51.100.4",
        "192.0.2.0/24",
        "evil.example",
        "https://evil.example/x",
        "d41d8cd98f00b204e9800998ecf8427e",
        "bad@evil.example",
    ]);
    es[0].feeds = vec!["a feed".into(), "b,c".into()];
    let r = render(&cfg("zeek", ""), &es, 0);
    assert_eq!(
        text(&r),
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n\
         198.51.100.4\tIntel::ADDR\ta_feed,b_c\tiocd export blk score 50.0\n\
         192.0.2.0/24\tIntel::SUBNET\tfeodo\tiocd export blk score 50.0\n\
         evil.example\tIntel::DOMAIN\tfeodo\tiocd export blk score 50.0\n\
         evil.example/x\tIntel::URL\tfeodo\tiocd export blk score 50.0\n\
         d41d8cd98f00b204e9800998ecf8427e\tIntel::FILE_HASH\tfeodo\tiocd export blk score 50.0\n\
         bad@evil.example\tIntel::EMAIL\tfeodo\tiocd export blk score 50.0\n"
    );
    // Selection keeps the export's types; the dataset gets names only.
    let r = render(
        &cfg("suricata", "types = [\"domain\", \"url\"]"),
        &es[2..4],
        0,
    );
    assert_eq!(
        text(&r),
        "ZXZpbC5leGFtcGxl\naHR0cHM6Ly9ldmlsLmV4YW1wbGUveA==\n"
    );
    let r = render(&cfg("suricata", "types = [\"md5\"]"), &es[4..5], 0);
    assert_eq!(text(&r), "d41d8cd98f00b204e9800998ecf8427e\n");
}

/// What a file says it holds, read back, is what rendering said: for every format, with
/// subdomain wildcards, aggregated networks and skipped entries in the mix.
#[test]
fn entries_read_back_from_every_format() {
    let mut es = entries(&[
        "192.0.2.0",
        "192.0.2.1",
        "198.51.100.0/24",
        "2001:db8::/48",
        "evil.example",
        "https://evil.example/x",
        "d41d8cd98f00b204e9800998ecf8427e",
    ]);
    es.push(domain("exact.example", false));
    es.push(domain("bad name", true));
    for (format, extra) in [
        ("plain", ""),
        ("plain", "vendor = \"paloalto\"\ntypes = [\"url\"]"),
        ("rpz", ""),
        ("nftables", ""),
        ("ipset", ""),
        ("zeek", ""),
        ("suricata", "types = [\"domain\", \"url\"]"),
    ] {
        let c = cfg(format, extra);
        let kinds = c.kinds();
        let mine: Vec<Entry> = es
            .iter()
            .filter(|e| kinds.contains(&e.pattern.kind()))
            .cloned()
            .collect();
        let r = render(&c, &mine, 9);
        assert!(r.entries > 0, "{format}");
        assert_eq!(
            count_entries(c.format, text(&r)),
            r.entries,
            "{format} {extra}:\n{}",
            text(&r)
        );
    }
    assert_eq!(count_entries(ExportFormat::Nftables, ""), 0);
}
