//! The flood scenario (issue 15): a deny-scan flood with real call-backs in it, generated.
//!
//! A few hundred addresses that a scanner feed lists probe a few hundred internal hosts and
//! are blocked at the edge (netfilter `[UFW BLOCK]`, inbound); among them, a few dozen internal
//! hosts call out to C2 addresses a C2 feed lists, and the firewall lets them through
//! (`[UFW ALLOW]`, outbound), each a few times as a beacon does. Two harder cases ride along:
//! one C2 address that many internal hosts reach (an outbreak: every one of those lines is a
//! true C2 line) and one CDN address that the C2 feed lists by mistake, reached by many hosts
//! too, whose network a shared-infrastructure list holds (a false positive).
//!
//! [`flood_scenario`] returns the feeds, the shared-infrastructure list, the log (lines
//! shuffled, so call-backs sit among the scans) and the [`FloodTruth`]: which lines are true
//! C2 lines, per (indicator, internal host). Everything comes from one seeded `ChaCha8Rng`:
//! the same [`FloodSpec`] gives the same bytes. `tests/flood_scenario.rs` runs it through the
//! real daemon and checks the targets of `docs/ALERT_QUALITY.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate. [`FloodSpec::default`] is the scenario the docs report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloodSpec {
    pub seed: u64,
    /// Listed scanner addresses, each blocked at the edge.
    pub scanners: usize,
    /// Internal hosts (`10.50.0.0/16`).
    pub hosts: usize,
    /// Distinct internal hosts each scanner probes.
    pub hosts_per_scanner: Range<usize>,
    /// C2 addresses, each called by one internal host.
    pub c2: usize,
    /// Lines per call-back (a beacon repeats).
    pub beacons: usize,
    /// Internal hosts that reach the outbreak's C2 address.
    pub outbreak_hosts: usize,
    /// Internal hosts that reach the CDN address the C2 feed lists.
    pub cdn_hosts: usize,
}

impl Default for FloodSpec {
    fn default() -> FloodSpec {
        FloodSpec {
            seed: 15,
            scanners: 400,
            hosts: 300,
            hosts_per_scanner: 25..60,
            c2: 48,
            beacons: 4,
            outbreak_hosts: 30,
            cdn_hosts: 40,
        }
    }
}

/// The shared-infrastructure network the CDN address is in.
pub const CDN_NETWORK: &str = "104.16.0.0/13";

/// What a correct triage must make of the scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FloodTruth {
    /// True C2 lines: (C2 address, internal host) -> lines. The outbreak's are included.
    pub c2_lines: BTreeMap<(String, String), usize>,
    /// The C2 address many hosts reach.
    pub outbreak: String,
    /// The CDN address the C2 feed lists.
    pub cdn: String,
    /// Every scanner address.
    pub scanners: BTreeSet<String>,
    /// Lines of scans (inbound, blocked).
    pub scan_lines: usize,
    /// Lines to the CDN address.
    pub cdn_lines: usize,
}

impl FloodTruth {
    /// Whether `indicator` is a true C2 address (a call-back's or the outbreak's).
    pub fn is_c2(&self, indicator: &str) -> bool {
        indicator == self.outbreak || self.c2_lines.keys().any(|(i, _)| i == indicator)
    }
}

/// The generated files and their truth.
#[derive(Clone, Debug)]
pub struct FloodScenario {
    /// The C2 feed (plain list): the C2 addresses, the outbreak's and the CDN address.
    pub c2_feed: String,
    /// The scanner feed (plain list).
    pub scanner_feed: String,
    /// The shared-infrastructure list (plain list): [`CDN_NETWORK`].
    pub shared_list: String,
    /// The log, one netfilter line per connection.
    pub log: String,
    pub lines: usize,
    pub truth: FloodTruth,
}

fn distinct_addr(rng: &mut ChaCha8Rng, first: u8, used: &mut BTreeSet<String>) -> String {
    loop {
        let a = format!(
            "{first}.{}.{}.{}",
            rng.gen_range(0..=255u8),
            rng.gen_range(0..=255u8),
            rng.gen_range(1..=254u8)
        );
        if used.insert(a.clone()) {
            return a;
        }
    }
}

fn host(i: usize) -> String {
    format!("10.50.{}.{}", i / 250, i % 250 + 1)
}

fn block_in(n: usize, src: &str, dst: &str, port: u16) -> String {
    format!(
        "Dec  3 10:{:02}:{:02} fw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00 SRC={src} DST={dst} LEN=44 TOS=0x00 PREC=0x00 TTL=240 ID={} PROTO=TCP SPT={} DPT={port} WINDOW=1024 RES=0x00 SYN URGP=0",
        (n / 60) % 60,
        n % 60,
        n % 65_536,
        40_000 + n % 20_000
    )
}

fn allow_out(n: usize, src: &str, dst: &str) -> String {
    format!(
        "Dec  3 10:{:02}:{:02} fw01 kernel: [UFW ALLOW] IN= OUT=eth0 SRC={src} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID={} DF PROTO=TCP SPT={} DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0",
        (n / 60) % 60,
        n % 60,
        n % 65_536,
        49_152 + n % 16_000
    )
}

/// Generates the scenario of `spec`.
pub fn flood_scenario(spec: &FloodSpec) -> FloodScenario {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut used = BTreeSet::new();
    let mut truth = FloodTruth::default();
    let mut lines: Vec<String> = Vec::new();
    let hosts = spec
        .hosts
        .max(spec.c2 + spec.outbreak_hosts + spec.cdn_hosts)
        .max(1);

    // Scans: each scanner probes distinct hosts, blocked inbound.
    let all_hosts: Vec<usize> = (0..hosts).collect();
    for _ in 0..spec.scanners {
        let s = distinct_addr(&mut rng, 45, &mut used);
        let n = rng
            .gen_range(spec.hosts_per_scanner.clone())
            .min(hosts)
            .max(1);
        let port = [22u16, 23, 445, 3389, 5900][rng.gen_range(0..5)];
        for &h in all_hosts.choose_multiple(&mut rng, n) {
            lines.push(block_in(lines.len(), &s, &host(h), port));
            truth.scan_lines += 1;
        }
        truth.scanners.insert(s);
    }

    // Callers are distinct hosts: call-backs, then the outbreak's, then the CDN's.
    let mut callers = all_hosts.clone();
    callers.shuffle(&mut rng);
    let mut callers = callers.into_iter();
    let mut c2_feed = String::new();
    for _ in 0..spec.c2 {
        let c2 = distinct_addr(&mut rng, 185, &mut used);
        let h = host(callers.next().expect("enough hosts"));
        for _ in 0..spec.beacons {
            lines.push(allow_out(lines.len(), &h, &c2));
        }
        truth.c2_lines.insert((c2.clone(), h), spec.beacons);
        let _ = writeln!(c2_feed, "{c2}");
    }
    truth.outbreak = distinct_addr(&mut rng, 194, &mut used);
    let _ = writeln!(c2_feed, "{}", truth.outbreak);
    for _ in 0..spec.outbreak_hosts {
        let h = host(callers.next().expect("enough hosts"));
        for _ in 0..spec.beacons {
            lines.push(allow_out(lines.len(), &h, &truth.outbreak));
        }
        truth
            .c2_lines
            .insert((truth.outbreak.clone(), h), spec.beacons);
    }
    truth.cdn = format!(
        "104.16.{}.{}",
        rng.gen_range(0..=255u8),
        rng.gen_range(1..=254u8)
    );
    let _ = writeln!(c2_feed, "{}", truth.cdn);
    for _ in 0..spec.cdn_hosts {
        let h = host(callers.next().expect("enough hosts"));
        lines.push(allow_out(lines.len(), &h, &truth.cdn));
        truth.cdn_lines += 1;
    }

    lines.shuffle(&mut rng);
    let mut log = String::with_capacity(lines.len() * 200);
    for l in &lines {
        log.push_str(l);
        log.push('\n');
    }
    let mut scanner_feed = String::new();
    for s in &truth.scanners {
        let _ = writeln!(scanner_feed, "{s}");
    }
    FloodScenario {
        c2_feed,
        scanner_feed,
        shared_list: format!("# shared infrastructure (CDN)\n{CDN_NETWORK}\n"),
        log,
        lines: lines.len(),
        truth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_spec_gives_the_same_scenario_with_its_numbers() {
        let spec = FloodSpec::default();
        let a = flood_scenario(&spec);
        let b = flood_scenario(&spec);
        assert_eq!((a.log.as_str(), &a.truth), (b.log.as_str(), &b.truth));
        let t = &a.truth;
        assert_eq!(t.scanners.len(), spec.scanners);
        assert_eq!(t.c2_lines.len(), spec.c2 + spec.outbreak_hosts);
        let c2_lines: usize = t.c2_lines.values().sum();
        assert_eq!(c2_lines, (spec.c2 + spec.outbreak_hosts) * spec.beacons);
        assert_eq!(t.cdn_lines, spec.cdn_hosts);
        assert_eq!(a.lines, t.scan_lines + c2_lines + t.cdn_lines);
        assert_eq!(a.log.lines().count(), a.lines);
        // Every address the log names beside the internal hosts is in a feed.
        let c2: BTreeSet<&str> = a.c2_feed.lines().collect();
        assert!(c2.contains(t.outbreak.as_str()) && c2.contains(t.cdn.as_str()));
        assert_eq!(a.scanner_feed.lines().count(), spec.scanners);
        assert!(t.is_c2(&t.outbreak) && !t.is_c2(&t.cdn));
        let cdn: ipnet::Ipv4Net = CDN_NETWORK.parse().unwrap();
        assert!(cdn.contains(&t.cdn.parse::<std::net::Ipv4Addr>().unwrap()));
        // A different seed, a different scenario.
        let other = flood_scenario(&FloodSpec {
            seed: 16,
            ..spec.clone()
        });
        assert_ne!(other.log, a.log);
    }
}
