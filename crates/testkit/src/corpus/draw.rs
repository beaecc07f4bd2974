//! The indicator set: [`indicators`] draws it and writes the plain list, a small fraction
//! of its lines in the messy forms real feeds use ([`messy_form`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::index::{Index, fp, mask4, mask6};
use super::vocab::{
    FIRST_NAMES, IOC_TLDS, LAST_NAMES, cidr4_len, gen_domain, gen_path, ioc_v6, overlaps_reserved,
    pick, push_alnum, push_hex, push_word, push_words,
};
use super::{CorpusSpec, IndicatorSet, Kind};

/// Draws the indicator set of `spec` (its size and seed; `target_bytes` is not used).
pub fn indicators(spec: &CorpusSpec) -> IndicatorSet {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(1);
    let n = spec.indicators;
    let min1 = |x: usize| if n >= 200 { x.max(1) } else { x };
    let n_str = if n >= 200 {
        (4 + n / 60_000).min(20)
    } else {
        0
    };
    let n_c6 = min1(n / 200);
    let n_c4 = min1(n / 20 - n / 200);
    let n_v6 = min1(n * 3 / 100);
    let n_email = min1(n / 200);
    let n_dom_exact = min1(n / 100);
    let n_dom = (n * 22 / 100).saturating_sub(n_email + n_dom_exact);
    let n_url_prefix = min1(n / 200);
    let n_url = (n / 10).saturating_sub(n_url_prefix);
    let n_hash = n / 10;
    let others =
        n_str + n_c6 + n_c4 + n_v6 + n_email + n_dom_exact + n_dom + n_url_prefix + n_url + n_hash;
    let n_v4 = n.saturating_sub(others);

    let mut idx = Index::new();
    let mut set = IndicatorSet {
        ipv4: Vec::with_capacity(n_v4),
        cidr4: Vec::with_capacity(n_c4),
        ipv6: Vec::with_capacity(n_v6),
        cidr6: Vec::with_capacity(n_c6),
        domains: Vec::with_capacity(n_dom),
        domains_exact: Vec::with_capacity(n_dom_exact),
        urls: Vec::with_capacity(n_url),
        url_prefixes: Vec::with_capacity(n_url_prefix),
        hashes: Vec::with_capacity(n_hash),
        emails: Vec::with_capacity(n_email),
        strings: Vec::new(),
        istrings: Vec::new(),
        plain: String::new(),
        messy: 0,
        hash_by_len: Default::default(),
        idx: Index::new(),
    };

    while set.ipv4.len() < n_v4 {
        let ip: u32 = rng.r#gen();
        if !overlaps_reserved(ip, 32) && idx.v4.insert(ip) {
            set.ipv4.push(ip.into());
        }
    }
    while set.cidr4.len() < n_c4 {
        let len = cidr4_len(&mut rng);
        let net = rng.r#gen::<u32>() & mask4(len);
        if !overlaps_reserved(net, len) && idx.add_c4(net, len) {
            set.cidr4.push((net.into(), len));
        }
    }
    while set.ipv6.len() < n_v6 {
        let ip = ioc_v6(&mut rng);
        if idx.v6.insert(ip) {
            set.ipv6.push(ip.into());
        }
    }
    while set.cidr6.len() < n_c6 {
        let len = [32u8, 36, 40, 44, 48, 48, 56, 64][rng.gen_range(0..8)];
        let net = ioc_v6(&mut rng) & mask6(len);
        if idx.add_c6(net, len) {
            set.cidr6.push((net.into(), len));
        }
    }

    let mut tmp = String::new();
    while set.domains.len() + set.domains_exact.len() < n_dom + n_dom_exact {
        gen_domain(&mut rng, &mut tmp, IOC_TLDS, 22);
        let f = fp(&tmp);
        if idx.reserved.contains(&f) || !idx.dom_all.insert(f) {
            continue;
        }
        if set.domains_exact.len() < n_dom_exact {
            set.domains_exact.push(tmp.clone());
        } else {
            idx.dom_sub.insert(f);
            set.domains.push(tmp.clone());
        }
    }

    // A fresh domain: not a domain indicator, not under one, not a template's domain.
    let fresh_domain = |rng: &mut ChaCha8Rng, idx: &Index, out: &mut String, sub: u32| loop {
        gen_domain(rng, out, IOC_TLDS, sub);
        if !idx.domain_near(out)
            && !idx.reserved.contains(&fp(out))
            && !idx.url_hosts.contains(&fp(out))
        {
            return;
        }
    };

    while set.emails.len() < n_email {
        let mut e = String::new();
        match rng.gen_range(0..3) {
            0 => {
                e.push_str(pick(&mut rng, FIRST_NAMES));
                e.push('.');
                e.push_str(pick(&mut rng, LAST_NAMES));
            }
            1 => {
                push_words(&mut rng, &mut e, 2..4);
                let _ = write!(e, "{}", rng.gen_range(1..100));
            }
            _ => e.push_str(pick(
                &mut rng,
                &[
                    "billing", "invoice", "support", "hr", "noreply", "payroll", "admin",
                ],
            )),
        }
        e.push('@');
        fresh_domain(&mut rng, &idx, &mut tmp, 10);
        e.push_str(&tmp);
        if idx.emails.insert(fp(&e)) {
            set.emails.push(e);
        }
    }

    let mut exact_hosts: Vec<String> = Vec::new();
    while set.urls.len() + set.url_prefixes.len() < n_url + n_url_prefix {
        let prefix_mode = set.url_prefixes.len() < n_url_prefix;
        let mut u = String::from(if rng.gen_ratio(7, 10) {
            "http://"
        } else {
            "https://"
        });
        let host;
        if !prefix_mode && !exact_hosts.is_empty() && rng.gen_ratio(1, 5) {
            host = exact_hosts[rng.gen_range(0..exact_hosts.len())].clone();
            u.push_str(&host);
        } else if rng.gen_ratio(1, 10) {
            let ip = loop {
                let ip: u32 = rng.r#gen();
                if !overlaps_reserved(ip, 32) && !idx.v4_hit(ip) {
                    break ip;
                }
            };
            host = Ipv4Addr::from(ip).to_string();
            u.push_str(&host);
            if rng.gen_ratio(1, 3) {
                let _ = write!(u, ":{}", [8080, 8000, 8443, 4443][rng.gen_range(0..4)]);
            }
        } else {
            fresh_domain(&mut rng, &idx, &mut tmp, 30);
            host = tmp.clone();
            u.push_str(&host);
        }
        gen_path(&mut rng, &mut u, prefix_mode);
        if !idx.urls.insert(fp(&u)) {
            continue;
        }
        idx.url_hosts.insert(fp(&host));
        if prefix_mode {
            set.url_prefixes.push(u);
        } else {
            exact_hosts.push(host);
            set.urls.push(u);
        }
    }

    while set.hashes.len() < n_hash {
        let (len, which) = match rng.gen_range(0..20) {
            0..=7 => (32, 0),
            8..=12 => (40, 1),
            _ => (64, 2),
        };
        let mut h = String::with_capacity(len);
        push_hex(&mut rng, &mut h, len);
        if idx.hashes.insert(fp(&h)) {
            set.hash_by_len[which].push(set.hashes.len() as u32);
            set.hashes.push(h);
        }
    }

    for i in 0..n_str {
        let mut s = String::new();
        if i % 2 == 0 {
            match rng.gen_range(0..3) {
                0 => {
                    s.push_str("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; ");
                    push_alnum(&mut rng, &mut s, 8);
                    s.push(')');
                }
                1 => {
                    let mut w = String::new();
                    push_word(&mut rng, &mut w, 2);
                    s.push_str(&w[..1].to_ascii_uppercase());
                    s.push_str(&w[1..]);
                    let _ = write!(
                        s,
                        "Client/{}.{} (",
                        rng.gen_range(1..10),
                        rng.gen_range(0..30)
                    );
                    push_alnum(&mut rng, &mut s, 10);
                    s.push(')');
                }
                _ => {
                    s.push_str("Mozilla/5.0 (Windows NT 6.1; WOW64; ");
                    push_alnum(&mut rng, &mut s, 6);
                    s.push_str(") like Gecko");
                }
            }
        } else {
            let mut w = String::new();
            push_word(&mut rng, &mut w, 2);
            s.push_str(&w[..1].to_ascii_uppercase());
            s.push_str(&w[1..]);
            s.push_str(pick(&mut rng, &["Mutex_", "_sync_", "Lock", "_MTX_"]));
            push_alnum(&mut rng, &mut s, 10);
        }
        if i % 4 < 2 {
            set.strings.push(s);
        } else {
            set.istrings.push(s);
        }
    }

    // The plain list.
    let mut lines: Vec<String> = Vec::with_capacity(n + 16);
    let mut messy = 0;
    let mut add = |rng: &mut ChaCha8Rng, kind: Kind, v: String, lines: &mut Vec<String>| {
        if rng.gen_ratio(1, 50)
            && let Some(m) = messy_form(rng, kind, &v)
        {
            messy += 1;
            lines.push(m);
            return;
        }
        lines.push(v);
    };
    for ip in &set.ipv4 {
        add(&mut rng, Kind::Ipv4, ip.to_string(), &mut lines);
    }
    for (net, len) in &set.cidr4 {
        add(&mut rng, Kind::Cidr4, format!("{net}/{len}"), &mut lines);
    }
    for ip in &set.ipv6 {
        add(&mut rng, Kind::Ipv6, ip.to_string(), &mut lines);
    }
    for (net, len) in &set.cidr6 {
        add(&mut rng, Kind::Cidr6, format!("{net}/{len}"), &mut lines);
    }
    for d in &set.domains {
        add(&mut rng, Kind::Domain, d.clone(), &mut lines);
    }
    for u in &set.urls {
        add(&mut rng, Kind::Url, u.clone(), &mut lines);
    }
    for h in &set.hashes {
        add(&mut rng, Kind::Md5, h.clone(), &mut lines);
    }
    for e in &set.emails {
        add(&mut rng, Kind::Email, e.clone(), &mut lines);
    }
    lines.extend(
        set.domains_exact
            .iter()
            .map(|d| format!("domain-exact:{d}")),
    );
    lines.extend(set.url_prefixes.iter().map(|u| format!("url-prefix:{u}")));
    lines.extend(set.strings.iter().map(|s| format!("string:{s}")));
    lines.extend(set.istrings.iter().map(|s| format!("istring:{s}")));
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.gen_range(0..=i));
    }
    let mut plain = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 256);
    let _ = writeln!(
        plain,
        "# iocd-corpus indicator list: seed={} indicators={}",
        spec.seed, n
    );
    plain.push_str("# plain list: one indicator per line, type inferred; '#' starts a comment\n");
    for (i, l) in lines.iter().enumerate() {
        if i % 10_000 == 9_999 {
            let _ = writeln!(plain, "\n# --- block {} ---", i / 10_000 + 1);
        }
        plain.push_str(l);
        plain.push('\n');
    }
    set.plain = plain;
    set.messy = messy;
    set.idx = idx;
    set
}

/// `v` written the way messy feeds write it, or `None` to keep it clean.
fn messy_form(rng: &mut ChaCha8Rng, kind: Kind, v: &str) -> Option<String> {
    let defang_last_dot = |v: &str| {
        let i = v.rfind('.')?;
        Some(format!("{}[.]{}", &v[..i], &v[i + 1..]))
    };
    let comment = |rng: &mut ChaCha8Rng, v: &str| {
        format!(
            "{v} # {}",
            ["c2", "seen 2024-02-11", "phishing kit", "botnet", "scanner"][rng.gen_range(0..5)]
        )
    };
    let r = rng.gen_range(0..6);
    Some(match kind {
        Kind::Ipv4 => match r {
            0 => defang_last_dot(v)?,
            1 => v.replace('.', "[.]"),
            2 => format!("{v}:{}", [80, 443, 8080, 4444, 8443][rng.gen_range(0..5)]),
            3 => format!("{v}   "),
            _ => comment(rng, v),
        },
        Kind::Cidr4 | Kind::Cidr6 => match r {
            0..=2 => format!("{v} "),
            _ => comment(rng, v),
        },
        Kind::Ipv6 => match r {
            0..=1 => v.to_ascii_uppercase(),
            2 => format!("{v}\t"),
            _ => comment(rng, v),
        },
        Kind::Domain => match r {
            0 => defang_last_dot(v)?,
            1 => v.to_ascii_uppercase(),
            2 => format!("{v}."),
            3 => format!("{v}  "),
            _ => comment(rng, v),
        },
        Kind::Url => {
            let (scheme, rest) = v.split_once("://")?;
            match r {
                0 => format!("hxxp{}://{rest}", &scheme[4..]),
                1 => format!("hxxp{}[:]//{rest}", &scheme[4..]),
                2 => {
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let host = match defang_last_dot(host) {
                        Some(h)
                            if !host
                                .bytes()
                                .all(|b| b.is_ascii_digit() || b == b'.' || b == b':') =>
                        {
                            h
                        }
                        _ => host.to_string(),
                    };
                    format!("{scheme}://{host}{path}")
                }
                3 => {
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    format!(
                        "{}://{}{path}",
                        scheme.to_ascii_uppercase(),
                        host.to_ascii_uppercase()
                    )
                }
                4 => format!("{v} "),
                _ => comment(rng, v),
            }
        }
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => match r {
            0..=2 => v.to_ascii_uppercase(),
            3 => format!("{v} "),
            _ => comment(rng, v),
        },
        Kind::Email => match r {
            0..=2 => format!("{v} "),
            _ => comment(rng, v),
        },
        _ => return None,
    })
}
