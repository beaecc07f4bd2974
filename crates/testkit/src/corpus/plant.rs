//! Planted tokens: true hits ([`Gen::plant_value`]) and traps ([`Gen::trap_value`]) in the
//! textual variants logs use, and rendering a line that carries one.

use rand::Rng;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::Kind;
use super::generator::{DOM, EMAIL, Gen, IP4, IP6, MD5, MUTEX, Ov, SHA1, SHA256, Slot, UA, URL};
use super::index::{fp, mask4, mask6};
use super::vocab::{
    FILE_EXTS, SUB_LABELS, ipv6_text, ipv6_variant, push_hex, push_word, strict_v4,
};

impl<'a> Gen<'a> {
    fn rand_of<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.rng.gen_range(0..v.len())].clone()
    }

    fn domain_variant(&mut self, d: &str, allow_sub: bool) -> String {
        match self.rng.gen_range(0..if allow_sub { 7 } else { 4 }) {
            0 => d.to_string(),
            1 => d.to_ascii_uppercase(),
            2 => format!("{d}."),
            3 => d
                .split('.')
                .map(|l| {
                    let mut c = l.to_string();
                    c[..1].make_ascii_uppercase();
                    c
                })
                .collect::<Vec<_>>()
                .join("."),
            _ => {
                let mut s = String::new();
                for _ in 0..self.rng.gen_range(1..3) {
                    if self.rng.gen_ratio(1, 2) {
                        s.push_str(self.one(SUB_LABELS));
                    } else {
                        push_word(&mut self.rng, &mut s, 2);
                    }
                    s.push('.');
                }
                s.push_str(d);
                s
            }
        }
    }

    /// The same URL after normalization: scheme or host case, default port, an
    /// unreserved character percent-encoded.
    fn url_variant(&mut self, u: &str) -> String {
        let (scheme, rest) = u.split_once("://").unwrap();
        let cut = rest.find('/').unwrap_or(rest.len());
        let (host, path) = rest.split_at(cut);
        let mut scheme = scheme.to_string();
        let mut host = host.to_string();
        let mut path = path.to_string();
        let r = self.rng.gen_range(0..5);
        if r == 0 {
            return u.to_string();
        }
        if r == 1 || self.rng.gen_ratio(1, 4) {
            scheme.make_ascii_uppercase();
        }
        if r == 2 || self.rng.gen_ratio(1, 4) {
            host.make_ascii_uppercase();
        }
        if (r == 3 || self.rng.gen_ratio(1, 4)) && !host.contains(':') {
            host.push_str(if scheme.eq_ignore_ascii_case("http") {
                ":80"
            } else {
                ":443"
            });
        }
        if r == 4 || self.rng.gen_ratio(1, 4) {
            let end = path.find('?').unwrap_or(path.len());
            let cands: Vec<usize> = path[..end]
                .bytes()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_alphanumeric())
                .map(|(i, _)| i)
                .collect();
            if !cands.is_empty() {
                let i = self.rand_of(&cands);
                let b = path.as_bytes()[i];
                path.replace_range(i..i + 1, &format!("%{b:02X}"));
            }
        }
        format!("{scheme}://{host}{path}")
    }

    /// (kind, indicator, token, slot) for a planted true hit.
    pub(super) fn plant_value(&mut self) -> (Kind, String, String, Slot) {
        let total: u32 = self.plant_kinds.iter().map(|k| k.1).sum();
        let mut r = self.rng.gen_range(0..total);
        let mut kind = self.plant_kinds[0].0;
        for &(k, w) in &self.plant_kinds {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        let set = self.set;
        match kind {
            Kind::Ipv4 => {
                let ip = self.rand_of(&set.ipv4).to_string();
                (kind, ip.clone(), ip, IP4)
            }
            Kind::Cidr4 => {
                let (net, len) = self.rand_of(&set.cidr4);
                let host = u32::from(net) | (self.rng.r#gen::<u32>() & !mask4(len));
                (
                    kind,
                    format!("{net}/{len}"),
                    Ipv4Addr::from(host).to_string(),
                    IP4,
                )
            }
            Kind::Ipv6 => {
                let ip = u128::from(self.rand_of(&set.ipv6));
                let text = if self.rng.gen_ratio(1, 3) {
                    ipv6_text(ip)
                } else {
                    ipv6_variant(&mut self.rng, ip)
                };
                (kind, ipv6_text(ip), text, IP6)
            }
            Kind::Cidr6 => {
                let (net, len) = self.rand_of(&set.cidr6);
                let host = u128::from(net) | (self.rng.r#gen::<u128>() & !mask6(len));
                let text = if self.rng.gen_ratio(1, 2) {
                    ipv6_text(host)
                } else {
                    ipv6_variant(&mut self.rng, host)
                };
                (kind, format!("{net}/{len}"), text, IP6)
            }
            Kind::Domain | Kind::DomainExact => {
                let d = if kind == Kind::Domain {
                    self.rand_of(&set.domains)
                } else {
                    self.rand_of(&set.domains_exact)
                };
                let t = self.domain_variant(&d, kind == Kind::Domain);
                (kind, d, t, DOM)
            }
            Kind::Url => {
                let u = self.rand_of(&set.urls);
                let t = self.url_variant(&u);
                (kind, u, t, URL)
            }
            Kind::UrlPrefix => {
                let u = self.rand_of(&set.url_prefixes);
                let mut t = u.clone();
                push_word(&mut self.rng, &mut t, 2);
                t.push('.');
                t.push_str(self.one(FILE_EXTS));
                if self.rng.gen_ratio(1, 3) {
                    let _ = write!(t, "?id={}", self.rng.gen_range(1..10_000));
                }
                (kind, u, t, URL)
            }
            Kind::Md5 | Kind::Sha1 | Kind::Sha256 => {
                let which = match kind {
                    Kind::Md5 => 0,
                    Kind::Sha1 => 1,
                    _ => 2,
                };
                let i = self.rand_of(&set.hash_by_len[which]) as usize;
                let h = set.hashes[i].clone();
                let t = if self.rng.gen_ratio(1, 5) {
                    h.to_ascii_uppercase()
                } else {
                    h.clone()
                };
                (kind, h, t, [MD5, SHA1, SHA256][which])
            }
            Kind::Email => {
                let e = self.rand_of(&set.emails);
                let t = if self.rng.gen_ratio(1, 3) {
                    let (l, d) = e.split_once('@').unwrap();
                    format!("{l}@{}", d.to_ascii_uppercase())
                } else {
                    e.clone()
                };
                (kind, e, t, EMAIL)
            }
            Kind::Str | Kind::IStr => {
                let s = if kind == Kind::Str {
                    self.rand_of(&set.strings)
                } else {
                    self.rand_of(&set.istrings)
                };
                let t = if kind == Kind::IStr && self.rng.gen_ratio(2, 3) {
                    if self.rng.gen_ratio(1, 2) {
                        s.to_ascii_uppercase()
                    } else {
                        s.to_ascii_lowercase()
                    }
                } else {
                    s.clone()
                };
                let slot = if s.contains(' ') { UA } else { MUTEX };
                (kind, s, t, slot)
            }
        }
    }

    /// (kind, indicator, trap token, slot) for a trap, or `None` when none could be made.
    pub(super) fn trap_value(&mut self) -> Option<(Kind, String, String, Slot)> {
        let set = self.set;
        let idx = &set.idx;
        for _ in 0..20 {
            let r = self.rng.gen_range(0..100);
            if r < 35 && !set.ipv4.is_empty() {
                let ip = self.rand_of(&set.ipv4).to_string();
                let t = match self.rng.gen_range(0..5) {
                    0 => format!("{}{ip}", self.rng.gen_range(1..10)),
                    1 => format!("{ip}{}", self.rng.gen_range(0..10)),
                    2 => format!("{ip}.{}", self.rng.gen_range(0..256)),
                    3 => format!("{}.{ip}", self.rng.gen_range(1..256)),
                    // a leading zero: `01.2.3.4` (still a substring match for grep)
                    _ => format!("0{ip}"),
                };
                if strict_v4(&t).is_some_and(|v| idx.v4_hit(v)) {
                    continue;
                }
                return Some((Kind::Ipv4, ip, t, IP4));
            } else if r < 65 && !(set.domains.is_empty() && set.domains_exact.is_empty()) {
                let exact = set.domains.is_empty()
                    || (!set.domains_exact.is_empty() && self.rng.gen_ratio(1, 6));
                let d = if exact {
                    self.rand_of(&set.domains_exact)
                } else {
                    self.rand_of(&set.domains)
                };
                let mut t = String::new();
                match self.rng.gen_range(0..if exact { 6 } else { 5 }) {
                    0 => {
                        t.push_str(self.one(&["not", "my", "x", "secure", "the", "e"]));
                        t.push_str(&d);
                    }
                    1 => {
                        push_word(&mut self.rng, &mut t, 1);
                        t.push('-');
                        t.push_str(&d);
                    }
                    2 => {
                        t.push_str(&d);
                        t.push('.');
                        t.push_str(self.one(&["au", "br", "uk", "cn", "ru", "de"]));
                    }
                    3 => {
                        t.push_str(&d);
                        t.push_str(self.one(&["munity", "pany", "x", "s", "work", "line"]));
                    }
                    4 => {
                        t.push_str(&d);
                        t.push('-');
                        t.push_str(self.one(&["secure", "login", "cdn", "verify"]));
                        t.push('.');
                        t.push_str(self.one(&["net", "com", "org"]));
                    }
                    _ => {
                        t.push_str(self.one(SUB_LABELS));
                        t.push('.');
                        t.push_str(&d);
                    }
                }
                if idx.domain_hit(&t) || idx.url_hosts.contains(&fp(&t)) {
                    continue;
                }
                let kind = if exact {
                    Kind::DomainExact
                } else {
                    Kind::Domain
                };
                return Some((kind, d, t, DOM));
            } else if r < 77 && !set.hashes.is_empty() {
                let i = self.rng.gen_range(0..set.hashes.len());
                let h = set.hashes[i].clone();
                let (kind, slot) = match h.len() {
                    32 => (Kind::Md5, MD5),
                    40 => (Kind::Sha1, SHA1),
                    _ => (Kind::Sha256, SHA256),
                };
                let before = self.rng.gen_range(0..5);
                let after = self.rng.gen_range(if before == 0 { 1 } else { 0 }..5);
                let mut t = String::new();
                push_hex(&mut self.rng, &mut t, before);
                t.push_str(&h);
                push_hex(&mut self.rng, &mut t, after);
                if idx.hashes.contains(&fp(&t)) {
                    continue;
                }
                return Some((kind, h, t, slot));
            } else if r < 85 && !set.emails.is_empty() {
                let e = self.rand_of(&set.emails);
                let t = if self.rng.gen_ratio(1, 2) {
                    format!("{}{e}", self.one(&["x", "no", "e", "a.", "1"]))
                } else {
                    format!("{e}.{}", self.one(&["au", "br", "cn", "uk"]))
                };
                let dom = t.split_once('@').unwrap().1;
                if idx.emails.contains(&fp(&t)) || idx.domain_near(dom) {
                    continue;
                }
                return Some((Kind::Email, e, t, EMAIL));
            } else if r >= 85 && !set.urls.is_empty() {
                let u = self.rand_of(&set.urls);
                if u.contains('?') || u.ends_with('/') {
                    continue;
                }
                let mut t = u.clone();
                t.push_str(self.one(&["5", "x", "s", "1", "_old", "-bak", "~"]));
                if idx.urls.contains(&fp(&t)) {
                    continue;
                }
                return Some((Kind::Url, u, t, URL));
            }
        }
        None
    }

    /// Renders a line in which `text` takes the place of one token of `slot` (the first,
    /// second or third such token, at random); returns the format used and the token as
    /// written.
    pub(super) fn render_planted(&mut self, slot: Slot, text: String) -> (usize, String) {
        let skip = self.rng.gen_range(0..3);
        self.ov = Some(Ov {
            slot,
            skip,
            text,
            used: None,
        });
        let f = self.render_override(slot);
        let o = self.ov.take().expect("render_override keeps the override");
        let used = o
            .used
            .expect("render_override returns once the override is used");
        (f, String::from_utf8_lossy(&self.buf[used]).into_owned())
    }

    /// Renders a line carrying the pending override; returns the format used.
    fn render_override(&mut self, slot: Slot) -> usize {
        for _ in 0..200 {
            let f = self.pick_format(Some(slot));
            self.render(f);
            if self.ov.as_ref().is_some_and(|o| o.used.is_some()) {
                return f;
            }
            let o = self.ov.as_mut().unwrap();
            o.skip = 0;
            o.used = None;
        }
        unreachable!("no format carries slot {slot}");
    }
}
