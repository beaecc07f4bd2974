//! The engine's contract (the table in `iocd_engine`'s docs, and ARCHITECTURE.md), row by
//! row: what must match and what must not. Indicators are written as users write them and
//! normalized by `iocd::ioc::parse_indicator`, as feeds are.

use iocd::ioc::parse_indicator;
use iocd_engine::{Compiler, Hit, IocId, IocSet, Scratch, SourceRef, parse_ipv4};

fn set_of(indicators: &[&str]) -> IocSet {
    let mut c = Compiler::new();
    let feed = c.add_feed("t", "t");
    for (n, raw) in indicators.iter().enumerate() {
        let p = parse_indicator(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        c.add(&p, SourceRef::plain(feed, n as u32 + 1));
    }
    c.build()
}

/// The (token text, indicator text) pairs found in `line`.
fn found(set: &IocSet, line: &str) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    set.scan(line.as_bytes(), &mut Scratch::new(), &mut hits);
    hits.iter()
        .map(|h| {
            (
                line[h.start..h.end].to_owned(),
                set.pattern(h.id).to_string(),
            )
        })
        .collect()
}

#[track_caller]
fn must(indicator: &str, line: &str, token: &str) {
    let set = set_of(&[indicator]);
    let got = found(&set, line);
    let want = set.pattern(IocId(0)).to_string();
    assert!(
        got.contains(&(token.to_owned(), want.clone())),
        "{indicator} must match {token:?} in {line:?}; found {got:?}"
    );
}

#[track_caller]
fn must_not(indicator: &str, line: &str) {
    let set = set_of(&[indicator]);
    let got = found(&set, line);
    assert!(
        got.is_empty(),
        "{indicator} must not match in {line:?}; found {got:?}"
    );
}

#[test]
fn ipv4_row() {
    for (line, tok) in [
        ("1.2.3.4", "1.2.3.4"),
        ("src=1.2.3.4:443", "1.2.3.4"),
        ("\"1.2.3.4\"", "1.2.3.4"),
        ("[1.2.3.4]", "1.2.3.4"),
        ("from 1.2.3.4.", "1.2.3.4"),
        ("range 1.2.3.0-1.2.3.4 end", "1.2.3.4"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
    ] {
        must("1.2.3.4", line, tok);
    }
    for line in [
        "11.2.3.4",
        "1.2.3.45",
        "1.2.3.4.5",
        "01.2.3.4",
        "v1.2.3.4",
        "1.2.3.4a",
        "1.2.3.04",
    ] {
        must_not("1.2.3.4", line);
    }
}

#[test]
fn ipv6_row() {
    for (line, tok) in [
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0:0::1", "2001:0db8:0:0::1"),
        ("2001:DB8::1", "2001:DB8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        (
            "\"dst\":\"2001:0db8:0000:0000:0000:0000:0000:0001\"",
            "2001:0db8:0000:0000:0000:0000:0000:0001",
        ),
    ] {
        must("2001:db8::1", line, tok);
    }
    for line in [
        "2001:db8::2",
        "2001:db8::1:2",
        "x2001:db8::1",
        "13:06:56",
        "de:1c:88:64:10:19",
    ] {
        must_not("2001:db8::1", line);
    }
}

#[test]
fn cidr_row() {
    must("10.0.0.0/8", "SRC=10.20.30.40 DST=8.8.8.8", "10.20.30.40");
    must_not("10.0.0.0/8", "SRC=11.20.30.40 DST=8.8.8.8");
    must(
        "2001:db8::/32",
        "from [2001:db8:ffff::7]:22",
        "2001:db8:ffff::7",
    );
    must_not("2001:db8::/32", "from 2001:db9::7");
    // Longest prefix wins; the exact address is reported beside it.
    let set = set_of(&["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"]);
    assert_eq!(
        found(&set, "10.1.2.3"),
        vec![
            ("10.1.2.3".to_owned(), "10.1.2.3".to_owned()),
            ("10.1.2.3".to_owned(), "10.1.0.0/16".to_owned())
        ]
    );
    assert_eq!(
        found(&set, "10.9.9.9"),
        vec![("10.9.9.9".to_owned(), "10.0.0.0/8".to_owned())]
    );
}

#[test]
fn domain_row() {
    for (line, tok) in [
        ("evil.com", "evil.com"),
        ("EVIL.COM", "EVIL.COM"),
        ("query evil.com. A", "evil.com"),
        ("a.b.evil.com", "a.b.evil.com"),
        ("http://www.evil.com/x", "www.evil.com"),
        ("\"dns.rrname\":\"x.evil.com\"", "x.evil.com"),
        ("host=bücher.evil.com", "bücher.evil.com"),
    ] {
        must("evil.com", line, tok);
    }
    for line in [
        "notevil.com",
        "evil.com.au",
        "evil.community",
        "evil-com",
        "evilcom",
    ] {
        must_not("evil.com", line);
    }
    must_not("domain-exact:evil.com", "a.evil.com");
    must("domain-exact:evil.com", "EVIL.com", "EVIL.com");
    must("bücher.de", "host=xn--bcher-kva.de", "xn--bcher-kva.de");
    must("xn--bcher-kva.de", "host=BÜCHER.de", "BÜCHER.de");
}

#[test]
fn parent_domains_are_looked_up_down_to_the_shortest_indicator() {
    // Subdomain indicators of three labels: `com` and `evil.com` are never looked up, and
    // must not match; `x.evil.com` and deeper do.
    let set = set_of(&["x.evil.com", "y.z.evil.com"]);
    assert!(found(&set, "a.evil.com evil.com com").is_empty());
    let hits = found(&set, "q a.x.evil.com b.y.z.evil.com");
    assert_eq!(
        hits,
        [
            ("a.x.evil.com".to_owned(), "x.evil.com".to_owned()),
            ("b.y.z.evil.com".to_owned(), "y.z.evil.com".to_owned()),
        ]
    );
    // One two-label indicator lowers the floor for the whole set.
    let set = set_of(&["x.evil.com", "bad.org"]);
    assert_eq!(found(&set, "a.b.bad.org").len(), 1);
}

#[test]
fn url_row() {
    let u = "http://evil.com/x/a.php";
    for (line, tok) in [
        (
            "GET http://evil.com/x/a.php HTTP/1.1",
            "http://evil.com/x/a.php",
        ),
        (
            "url=HTTP://EVIL.COM:80/x/a.php,",
            "HTTP://EVIL.COM:80/x/a.php",
        ),
        ("\"http://evil.com/x/%61.php\"", "http://evil.com/x/%61.php"),
        ("see http://evil.com/x/a.php.", "http://evil.com/x/a.php"),
        ("(http://evil.com/x/a.php)", "http://evil.com/x/a.php"),
        ("http://evil.com/x/a.php#top", "http://evil.com/x/a.php#top"),
    ] {
        must(u, line, tok);
    }
    for line in [
        "http://evil.com/x/a.php5",
        "http://evil.com/x/a.ph",
        "https://evil.com/x/a.php",
        "http://evil.com/x/a.php?q=1",
    ] {
        must_not(u, line);
    }
    must(
        "url-prefix:http://evil.com/x/",
        "GET http://evil.com/x/a.php5 200",
        "http://evil.com/x/a.php5",
    );
    must_not(
        "url-prefix:http://evil.com/x/",
        "GET http://evil.com/y/a.php 200",
    );
}

#[test]
fn hash_row() {
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    must(
        md5,
        "MD5=D41D8CD98F00B204E9800998ECF8427E,SHA1=x",
        "D41D8CD98F00B204E9800998ECF8427E",
    );
    must(md5, "\td41d8cd98f00b204e9800998ecf8427e\t", md5);
    must_not(md5, "0d41d8cd98f00b204e9800998ecf8427e");
    must_not(md5, "d41d8cd98f00b204e9800998ecf8427e0");
    must_not(md5, "xd41d8cd98f00b204e9800998ecf8427e");
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    must(sha1, "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", sha1);
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    must(
        sha256,
        &format!("SHA256={}", sha256.to_uppercase()),
        &sha256.to_uppercase(),
    );
    must_not(sha256, &format!("{sha256}{sha256}"));
    // At every alignment: the 16-byte sampling must not miss a hash.
    for pad in 0..40 {
        let line = format!("{}={md5} x", "a".repeat(pad).replace('a', "z"));
        must(md5, &line, md5);
    }
}

#[test]
fn email_row() {
    must("evil@bad.com", "from=<evil@bad.com>", "evil@bad.com");
    must("evil@bad.com", "from=evil@BAD.COM", "evil@BAD.COM");
    must(
        "john.doe@bad.com",
        "mail from john.doe@bad.com:",
        "john.doe@bad.com",
    );
    must_not("evil@bad.com", "xevil@bad.com");
    must_not("evil@bad.com", "evil@bad.com.au");
    must_not("evil@bad.com", "evil@sub.bad.com");
    must_not("evil@bad.com", "Evil@bad.com");
}

#[test]
fn string_row() {
    must("string:EvilMutex", "mutex=Global\\EvilMutex42", "EvilMutex");
    must_not("string:EvilMutex", "mutex=evilmutex");
    must("istring:EvilMutex", "mutex=EVILMUTEX", "EVILMUTEX");
}

#[test]
fn many_lines_in_one_buffer_equal_each_line_alone() {
    let set = set_of(&[
        "1.2.3.4",
        "evil.com",
        "d41d8cd98f00b204e9800998ecf8427e",
        "http://evil.com/a",
    ]);
    let lines = [
        "x 1.2.3.4\r",
        "d41d8cd98f00b204e9800998ecf8427e",
        "GET http://evil.com/a",
        "1.2.3",
        ".4 evil.",
        "com",
    ];
    let joined = lines.join("\n");
    let mut all = Vec::new();
    set.scan(joined.as_bytes(), &mut Scratch::new(), &mut all);
    let mut each = Vec::new();
    let mut off = 0;
    for l in lines {
        let mut h = Vec::new();
        set.scan(l.as_bytes(), &mut Scratch::new(), &mut h);
        each.extend(h.into_iter().map(|h| Hit {
            start: h.start + off,
            end: h.end + off,
            id: h.id,
        }));
        off += l.len() + 1;
    }
    assert_eq!(all, each);
    assert_eq!(all.len(), 4, "ip, md5, url and its domain");
}

#[test]
fn empty_set_matches_nothing() {
    let set = IocSet::empty();
    let mut hits = Vec::new();
    set.scan(b"1.2.3.4 evil.com", &mut Scratch::new(), &mut hits);
    assert!(hits.is_empty());
    assert!(set.is_empty());
}

#[test]
fn parse_ipv4_strict() {
    assert_eq!(parse_ipv4(b"1.2.3.4"), Some(0x01020304));
    assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
    assert_eq!(parse_ipv4(b"0.0.0.0"), Some(0));
    for bad in [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.1.1.1",
        "1..2.3",
        "1.2.3.",
        "1234.1.1.1",
        "",
    ] {
        assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
    }
}
