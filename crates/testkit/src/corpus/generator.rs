//! The line generator [`Gen`]: its state and constructor, the primitive emitters,
//! timestamps, background values (never a hit), the slots a planted token can go into, and
//! the choice and rendering of a line's format. The formats are in `net_formats` and
//! `host_formats`, the planted tokens in `plant`: each adds an `impl Gen` block.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::index::{fp, mask4};
use super::vocab::{
    BENIGN_DOMAINS, BG_TLDS, FIRST_NAMES, LAST_NAMES, POPULAR4, USER_AGENTS, dotted_quads,
    gen_domain, gen_path, ioc_v6, overlaps_reserved, push_word,
};
use super::{CorpusSpec, IndicatorSet, Kind};

pub(super) type Slot = u16;
pub(super) const IP4: Slot = 1;
pub(super) const IP6: Slot = 2;
pub(super) const DOM: Slot = 4;
pub(super) const URL: Slot = 8;
pub(super) const MD5: Slot = 16;
pub(super) const SHA1: Slot = 32;
pub(super) const SHA256: Slot = 64;
pub(super) const EMAIL: Slot = 128;
pub(super) const UA: Slot = 256;
pub(super) const MUTEX: Slot = 512;
pub(super) const HASHES: Slot = MD5 | SHA1 | SHA256;

/// Formats: name, weight, slots a planted token can go into.
pub(super) const FORMATS: &[(&str, u32, Slot)] = &[
    ("iptables", 13, IP4 | IP6),
    ("cisco-asa", 9, IP4),
    ("fortigate", 9, IP4 | DOM),
    ("zeek", 11, IP4 | IP6 | DOM | URL | UA | HASHES),
    ("suricata", 12, IP4 | IP6 | DOM | UA | HASHES),
    ("apache", 14, IP4 | IP6 | URL | UA),
    ("squid", 10, IP4 | DOM | URL),
    ("dns", 11, IP4 | IP6 | DOM),
    ("sysmon", 8, IP4 | IP6 | DOM | URL | HASHES | MUTEX),
    ("postfix", 10, IP4 | IP6 | DOM | EMAIL),
];

/// Format names, in the order of [`Truth::formats`](super::Truth::formats).
pub fn format_names() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().map(|f| f.0)
}

pub(super) struct Ov {
    pub(super) slot: Slot,
    pub(super) skip: u32,
    pub(super) text: String,
    pub(super) used: Option<Range<usize>>,
}

#[derive(Clone, Copy, Default)]
pub(super) struct Tm {
    pub(super) secs: u64,
    pub(super) ms: u32,
    pub(super) y: u32,
    pub(super) mo: u32,
    pub(super) d: u32,
    pub(super) h: u32,
    pub(super) mi: u32,
    pub(super) s: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn civil_from_days(z: i64) -> (u32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y as u32, m as u32, d as u32)
}

pub(super) struct Gen<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) set: &'a IndicatorSet,
    pub(super) buf: Vec<u8>,
    pub(super) tmp: String,
    pub(super) ms: u64,
    pub(super) tm: Tm,
    pub(super) ov: Option<Ov>,
    pub(super) wan: [u32; 4],
    pub(super) uas: Vec<&'static str>,
    pub(super) plant_kinds: Vec<(Kind, u32)>,
}

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub(super) fn push_ip4(buf: &mut Vec<u8>, ip: u32) {
    for k in 0..4 {
        if k > 0 {
            buf.push(b'.');
        }
        push_u64(buf, ((ip >> (24 - 8 * k)) & 255) as u64);
    }
}

impl<'a> Gen<'a> {
    pub(super) fn new(spec: &CorpusSpec, set: &'a IndicatorSet) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        rng.set_stream(2);
        let uas = USER_AGENTS
            .iter()
            .copied()
            .filter(|ua| !dotted_quads(ua).any(|ip| set.idx.v4_hit(ip)))
            .collect();
        let weights: &[(Kind, u32)] = &[
            (Kind::Ipv4, 30),
            (Kind::Cidr4, 10),
            (Kind::Ipv6, 5),
            (Kind::Cidr6, 3),
            (Kind::Domain, 20),
            (Kind::DomainExact, 3),
            (Kind::Url, 9),
            (Kind::UrlPrefix, 2),
            (Kind::Md5, 3),
            (Kind::Sha1, 3),
            (Kind::Sha256, 3),
            (Kind::Email, 4),
            (Kind::Str, 2),
            (Kind::IStr, 2),
        ];
        let plant_kinds = weights
            .iter()
            .copied()
            .filter(|&(k, _)| set.count(k) > 0)
            .collect();
        let mut g = Gen {
            rng,
            set,
            buf: Vec::with_capacity(2048),
            tmp: String::with_capacity(256),
            ms: 1_709_596_800_000 + (spec.seed % 1000) * 86_400_000,
            tm: Tm::default(),
            ov: None,
            wan: [0; 4],
            uas,
            plant_kinds,
        };
        for i in 0..4 {
            g.wan[i] = g.bg_ip4();
        }
        g
    }

    // --- small writers ---

    pub(super) fn s(&mut self, x: &str) {
        self.buf.extend_from_slice(x.as_bytes());
    }

    pub(super) fn n(&mut self, x: u64) {
        push_u64(&mut self.buf, x);
    }

    pub(super) fn nr(&mut self, lo: u64, hi: u64) {
        let v = self.rng.gen_range(lo..hi);
        self.n(v);
    }

    pub(super) fn pad(&mut self, v: u64, width: usize) {
        let start = self.buf.len();
        push_u64(&mut self.buf, v);
        let len = self.buf.len() - start;
        if len < width {
            let z = width - len;
            self.buf.splice(start..start, std::iter::repeat_n(b'0', z));
        }
    }

    pub(super) fn padr(&mut self, range: Range<u64>, width: usize) {
        let v = self.rng.gen_range(range);
        self.pad(v, width);
    }

    pub(super) fn one<T: ?Sized>(&mut self, xs: &[&'static T]) -> &'static T {
        xs[self.rng.gen_range(0..xs.len())]
    }

    pub(super) fn p(&mut self, xs: &[&'static str]) {
        let x = self.one(xs);
        self.s(x);
    }

    pub(super) fn hex(&mut self, n: usize, upper: bool) {
        let table: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut bits = 0u64;
        for i in 0..n {
            if i % 16 == 0 {
                bits = self.rng.r#gen();
            }
            self.buf.push(table[(bits & 15) as usize]);
            bits >>= 4;
        }
    }

    pub(super) fn again(&mut self, r: Range<usize>) {
        self.buf.extend_from_within(r);
    }

    pub(super) fn port(&mut self) {
        self.nr(1024, 65535);
    }

    pub(super) fn guid(&mut self) {
        self.s("{");
        self.hex(8, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(4, false);
        self.s("-");
        self.hex(12, false);
        self.s("}");
    }

    // --- time ---

    fn tick(&mut self) {
        self.ms += self.rng.gen_range(0..7);
        let secs = self.ms / 1000;
        if secs != self.tm.secs || self.tm.y == 0 {
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let sod = (secs % 86_400) as u32;
            self.tm = Tm {
                secs,
                ms: 0,
                y,
                mo,
                d,
                h: sod / 3600,
                mi: sod / 60 % 60,
                s: sod % 60,
            };
        }
        self.tm.ms = (self.ms % 1000) as u32;
    }

    pub(super) fn hms(&mut self) {
        let t = self.tm;
        self.pad(t.h as u64, 2);
        self.s(":");
        self.pad(t.mi as u64, 2);
        self.s(":");
        self.pad(t.s as u64, 2);
    }

    pub(super) fn ymd(&mut self) {
        let t = self.tm;
        self.n(t.y as u64);
        self.s("-");
        self.pad(t.mo as u64, 2);
        self.s("-");
        self.pad(t.d as u64, 2);
    }

    /// `Mar  5 10:42:31`
    pub(super) fn ts_syslog(&mut self) {
        let t = self.tm;
        self.s(MONTHS[t.mo as usize - 1]);
        self.s(if t.d < 10 { "  " } else { " " });
        self.n(t.d as u64);
        self.s(" ");
        self.hms();
    }

    /// `2024-03-05T10:42:31.123456+0000`
    pub(super) fn ts_iso_us(&mut self) {
        self.ymd();
        self.s("T");
        self.hms();
        self.s(".");
        let us = self.tm.ms as u64 * 1000 + self.rng.gen_range(0..1000);
        self.pad(us, 6);
        self.s("+0000");
    }

    /// `2024-03-05 10:42:31.123`
    pub(super) fn ts_sql(&mut self) {
        self.ymd();
        self.s(" ");
        self.hms();
        self.s(".");
        self.pad(self.tm.ms as u64, 3);
    }

    /// `05/Mar/2024:10:42:31 +0000`
    pub(super) fn ts_apache(&mut self) {
        let t = self.tm;
        self.pad(t.d as u64, 2);
        self.s("/");
        self.s(MONTHS[t.mo as usize - 1]);
        self.s("/");
        self.n(t.y as u64);
        self.s(":");
        self.hms();
        self.s(" +0000");
    }

    /// `1709635351.123` (`frac` = 3) or `1709635351.123456` (`frac` = 6)
    pub(super) fn ts_epoch(&mut self, frac: usize) {
        self.n(self.tm.secs);
        self.s(".");
        if frac == 3 {
            self.pad(self.tm.ms as u64, 3);
        } else {
            let us = self.tm.ms as u64 * 1000 + self.rng.gen_range(0..1000);
            self.pad(us, 6);
        }
    }

    // --- background values (never a hit) ---

    pub(super) fn bg_ip4(&mut self) -> u32 {
        loop {
            let ip = if self.rng.gen_ratio(1, 4) {
                let (net, len) = POPULAR4[self.rng.gen_range(0..POPULAR4.len())];
                net | (self.rng.r#gen::<u32>() & !mask4(len))
            } else {
                self.rng.r#gen()
            };
            if !overlaps_reserved(ip, 32) && !self.set.idx.v4_hit(ip) {
                return ip;
            }
        }
    }

    fn bg_ip4_int(&mut self) -> u32 {
        let r: u32 = self.rng.r#gen();
        match r % 10 {
            0..=5 => 0x0a00_0000 | ((r >> 4) & 0x1f_ffff) | 1,
            6..=8 => 0xc0a8_0000 | ((r >> 4) & 0x0fff) | 1,
            _ => 0xac10_0000 | ((r >> 4) & 0x3_ffff) | 1,
        }
    }

    fn bg_ip6(&mut self) -> u128 {
        const POOLS: &[u128] = &[
            0x2a00_1450_4001_0000 << 64,
            0x2606_4700_0000_0000 << 64,
            0x2620_01ec_0000_0000 << 64,
            0x2a03_2880_f000_0000 << 64,
            0x2001_4860_4860_0000 << 64,
        ];
        loop {
            let ip = if self.rng.gen_ratio(1, 2) {
                POOLS[self.rng.gen_range(0..POOLS.len())]
                    | ((self.rng.r#gen::<u16>() as u128) << 64)
                    | self.rng.gen_range(1..0x1_0000u128)
            } else {
                ioc_v6(&mut self.rng)
            };
            if !self.set.idx.v6_hit(ip) {
                return ip;
            }
        }
    }

    fn bg_ip6_int(&mut self) -> u128 {
        let low = self.rng.r#gen::<u64>() as u128;
        if self.rng.gen_ratio(1, 2) {
            (0xfe80u128 << 112) | low
        } else {
            (0xfd12_3456_789a_0001u128 << 64) | (low & 0xffff)
        }
    }

    /// A background domain into `self.tmp`.
    pub(super) fn bg_domain_tmp(&mut self) {
        loop {
            if self.rng.gen_ratio(9, 20) {
                self.tmp.clear();
                let d = self.one(BENIGN_DOMAINS);
                self.tmp.push_str(d);
            } else {
                gen_domain(&mut self.rng, &mut self.tmp, BG_TLDS, 40);
            }
            if !self.set.idx.domain_near(&self.tmp) {
                return;
            }
        }
    }

    /// A background URL into `self.tmp`.
    fn bg_url_tmp(&mut self) {
        loop {
            let https = self.rng.gen_ratio(1, 2);
            if self.rng.gen_ratio(1, 20) {
                let ip = self.bg_ip4();
                self.tmp.clear();
                let _ = write!(self.tmp, "http://{}", Ipv4Addr::from(ip));
            } else {
                self.bg_domain_tmp();
                if self.set.idx.url_hosts.contains(&fp(&self.tmp)) {
                    continue;
                }
                self.tmp
                    .insert_str(0, if https { "https://" } else { "http://" });
            }
            gen_path(&mut self.rng, &mut self.tmp, false);
            return;
        }
    }

    pub(super) fn bg_email_tmp(&mut self) {
        loop {
            let mut e = String::with_capacity(40);
            if self.rng.gen_ratio(2, 3) {
                e.push_str(self.one(FIRST_NAMES));
                e.push('.');
                e.push_str(self.one(LAST_NAMES));
            } else {
                push_word(&mut self.rng, &mut e, 2);
                let _ = write!(e, "{}", self.rng.gen_range(1..1000));
            }
            e.push('@');
            let d = match self.rng.gen_range(0..6) {
                0 => "gmail.com",
                1 => "outlook.com",
                2 => "yahoo.com",
                3 => "northwind-traders.com",
                _ => {
                    self.bg_domain_tmp();
                    ""
                }
            };
            if d.is_empty() {
                e.push_str(&self.tmp);
            } else {
                e.push_str(d);
            }
            if !self.set.idx.emails.contains(&fp(&e)) {
                self.tmp = e;
                return;
            }
        }
    }

    // --- slots: a background value, or the planted token ---

    fn pending(&self) -> Option<Slot> {
        match &self.ov {
            Some(o) if o.used.is_none() => Some(o.slot),
            _ => None,
        }
    }

    fn take_ov(&mut self, slot: Slot) -> bool {
        match &mut self.ov {
            Some(o) if o.slot == slot && o.used.is_none() => {
                if o.skip == 0 {
                    let start = self.buf.len();
                    self.buf.extend_from_slice(o.text.as_bytes());
                    o.used = Some(start..self.buf.len());
                    true
                } else {
                    o.skip -= 1;
                    false
                }
            }
            _ => false,
        }
    }

    /// Picks one of `variants` (weight, slots); a line that must carry a planted token
    /// picks among the variants that have a slot for it.
    pub(super) fn sub(&mut self, variants: &[(u32, Slot)]) -> usize {
        let want = self.pending();
        let ok = |m: Slot| want.is_none_or(|w| m & w != 0);
        let any = variants.iter().any(|&(_, m)| ok(m));
        let total: u32 = variants
            .iter()
            .filter(|&&(_, m)| !any || ok(m))
            .map(|v| v.0)
            .sum();
        let mut r = self.rng.gen_range(0..total);
        for (i, &(w, m)) in variants.iter().enumerate() {
            if any && !ok(m) {
                continue;
            }
            if r < w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// An address of the family `v6`: an external one (which may be a planted indicator) or
    /// an internal one.
    pub(super) fn addr(&mut self, v6: bool, external: bool) -> Range<usize> {
        match (v6, external) {
            (false, true) => self.ip4(),
            (false, false) => self.ip4_int(),
            (true, true) => self.ip6(),
            (true, false) => self.ip6_int(),
        }
    }

    pub(super) fn ip4(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(IP4) {
            let ip = self.bg_ip4();
            push_ip4(&mut self.buf, ip);
        }
        start..self.buf.len()
    }

    pub(super) fn ip4_int(&mut self) -> Range<usize> {
        let start = self.buf.len();
        let ip = self.bg_ip4_int();
        push_ip4(&mut self.buf, ip);
        start..self.buf.len()
    }

    pub(super) fn ip6(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(IP6) {
            let ip = self.bg_ip6();
            let _ = write!(VecWriter(&mut self.buf), "{}", Ipv6Addr::from(ip));
        }
        start..self.buf.len()
    }

    pub(super) fn ip6_int(&mut self) -> Range<usize> {
        let start = self.buf.len();
        let ip = self.bg_ip6_int();
        let _ = write!(VecWriter(&mut self.buf), "{}", Ipv6Addr::from(ip));
        start..self.buf.len()
    }

    /// Writes the planted value for `slot` if one is due, else a background value that
    /// `fill` leaves in `self.tmp`.
    fn token_via_tmp(&mut self, slot: Slot, fill: fn(&mut Self)) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(slot) {
            fill(self);
            self.buf.extend_from_slice(self.tmp.as_bytes());
        }
        start..self.buf.len()
    }

    pub(super) fn domain(&mut self) -> Range<usize> {
        self.token_via_tmp(DOM, Self::bg_domain_tmp)
    }

    pub(super) fn url(&mut self) -> Range<usize> {
        self.token_via_tmp(URL, Self::bg_url_tmp)
    }

    pub(super) fn email(&mut self) -> Range<usize> {
        self.token_via_tmp(EMAIL, Self::bg_email_tmp)
    }

    pub(super) fn hash(&mut self, slot: Slot, upper: bool) -> Range<usize> {
        let start = self.buf.len();
        if self.take_ov(slot) {
            if upper {
                self.buf[start..].make_ascii_uppercase();
            }
        } else {
            let len = match slot {
                MD5 => 32,
                SHA1 => 40,
                _ => 64,
            };
            loop {
                self.buf.truncate(start);
                self.hex(len, false);
                let s = std::str::from_utf8(&self.buf[start..]).unwrap();
                if !self.set.idx.hashes.contains(&fp(s)) {
                    break;
                }
            }
            if upper {
                self.buf[start..].make_ascii_uppercase();
            }
        }
        start..self.buf.len()
    }

    pub(super) fn ua(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(UA) {
            let ua = self.uas[self.rng.gen_range(0..self.uas.len())];
            self.s(ua);
        }
        start..self.buf.len()
    }

    pub(super) fn mutex(&mut self) -> Range<usize> {
        let start = self.buf.len();
        if !self.take_ov(MUTEX) {
            self.p(&[
                "WilStaging_",
                "SessionSync_",
                "OneDriveMtx_",
                "ChromeUpdate_",
            ]);
            self.nr(1, 100_000);
        }
        start..self.buf.len()
    }

    /// One of the firewall's public addresses.
    pub(super) fn wan(&mut self) {
        let ip = self.wan[self.rng.gen_range(0..4)];
        push_ip4(&mut self.buf, ip);
    }

    // --- formats ---

    pub(super) fn render(&mut self, f: usize) {
        self.buf.clear();
        self.tick();
        match f {
            0 => self.f_iptables(),
            1 => self.f_asa(),
            2 => self.f_fortigate(),
            3 => self.f_zeek(),
            4 => self.f_suricata(),
            5 => self.f_apache(),
            6 => self.f_squid(),
            7 => self.f_dns(),
            8 => self.f_sysmon(),
            _ => self.f_postfix(),
        }
    }

    pub(super) fn pick_format(&mut self, slot: Option<Slot>) -> usize {
        let ok = |m: Slot| slot.is_none_or(|s| m & s != 0);
        let total: u32 = FORMATS.iter().filter(|f| ok(f.2)).map(|f| f.1).sum();
        let mut r = self.rng.gen_range(0..total);
        for (i, f) in FORMATS.iter().enumerate() {
            if !ok(f.2) {
                continue;
            }
            if r < f.1 {
                return i;
            }
            r -= f.1;
        }
        0
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
