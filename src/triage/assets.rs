//! What the configuration says about the protected network: which addresses are internal,
//! how critical each internal host is, and which hosts and indicators are known good.
//!
//! Lists are small (tens to hundreds of entries) and read only for lines with hits, so a
//! linear scan for the longest prefix is enough.

use std::net::IpAddr;

use hashbrown::{HashMap, HashSet};
use ipnet::IpNet;

use crate::config::triage::TriageConfig;
use crate::decode::event::is_private_default;

/// Internal networks and asset criticality.
#[derive(Clone, Debug)]
pub struct Assets {
    /// Empty: the default private ranges.
    internal: Vec<IpNet>,
    /// (network, criticality, asset index), any order.
    networks: Vec<(IpNet, u8, usize)>,
    /// Lower-case host name -> (criticality, asset index).
    hostnames: HashMap<String, (u8, usize)>,
    names: Vec<String>,
    default_criticality: u8,
}

impl Assets {
    pub fn new(cfg: &TriageConfig) -> Assets {
        let mut networks = Vec::new();
        let mut hostnames = HashMap::new();
        for (i, a) in cfg.assets.iter().enumerate() {
            for n in &a.networks {
                networks.push((n.0, a.criticality, i));
            }
            for h in &a.hostnames {
                hostnames
                    .entry(normalize_name(h))
                    .or_insert((a.criticality, i));
            }
        }
        Assets {
            internal: cfg.internal_networks.iter().map(|n| n.0).collect(),
            networks,
            hostnames,
            names: cfg.assets.iter().map(|a| a.name.clone()).collect(),
            default_criticality: cfg.score.default_criticality,
        }
    }

    /// Whether `ip` belongs to the protected network.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        if self.internal.is_empty() {
            is_private_default(ip)
        } else {
            let ip = canonical(ip);
            self.internal.iter().any(|n| n.contains(&ip))
        }
    }

    /// The criticality of an internal host (an address or a name) and the asset that set it;
    /// the default criticality when no asset names it.
    pub fn criticality(&self, host: &str) -> (u8, Option<&str>) {
        let hit = match host.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical(ip);
                self.networks
                    .iter()
                    .filter(|(n, _, _)| n.contains(&ip))
                    .max_by_key(|(n, _, i)| (n.prefix_len(), std::cmp::Reverse(*i)))
                    .map(|&(_, c, i)| (c, i))
            }
            Err(_) => self.hostnames.get(&normalize_name(host)).copied(),
        };
        match hit {
            Some((c, i)) => (c, Some(self.names[i].as_str())),
            None => (self.default_criticality, None),
        }
    }
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn normalize_name(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The match-time allowlist (`[triage.allow]`).
#[derive(Clone, Debug, Default)]
pub struct Allow {
    networks: Vec<IpNet>,
    hostnames: HashSet<String>,
    indicators: HashSet<String>,
}

impl Allow {
    pub fn new(cfg: &TriageConfig) -> Allow {
        Allow {
            networks: cfg.allow.networks.iter().map(|n| n.0).collect(),
            hostnames: cfg
                .allow
                .hostnames
                .iter()
                .map(|h| normalize_name(h))
                .collect(),
            indicators: cfg
                .allow
                .indicators
                .iter()
                .map(|i| i.trim().to_owned())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.hostnames.is_empty() && self.indicators.is_empty()
    }

    pub fn address(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// A host given as an address or a name.
    pub fn host(&self, host: &str) -> bool {
        match host.parse::<IpAddr>() {
            Ok(ip) => self.address(ip),
            Err(_) => !self.hostnames.is_empty() && self.hostnames.contains(&normalize_name(host)),
        }
    }

    pub fn indicator(&self, canonical: &str) -> bool {
        !self.indicators.is_empty() && self.indicators.contains(canonical)
    }

    /// Whether blocking `pattern` (canonical text `text`) would block something this list
    /// holds: the indicator itself, an address in an allowed network, a network that overlaps
    /// one, a domain that is an allowed host name or (covering subdomains) a parent of one.
    /// What exports leave out: a firewall must not cut off the hosts the alerts spare.
    pub(crate) fn covers(&self, pattern: &iocd_engine::Pattern, text: &str) -> bool {
        use iocd_engine::Pattern;
        if self.indicator(text) {
            return true;
        }
        match pattern {
            Pattern::Ipv4(a) => self.address(IpAddr::V4(*a)),
            Pattern::Ipv6(a) => self.address(IpAddr::V6(*a)),
            Pattern::Cidr(net) => self
                .networks
                .iter()
                .any(|n| n.contains(&net.network()) || net.contains(&n.network())),
            Pattern::Domain { name, subdomains } => self.hostnames.iter().any(|h| {
                h == name
                    || (*subdomains
                        && h.len() > name.len()
                        && h.ends_with(name.as_str())
                        && h.as_bytes()[h.len() - name.len() - 1] == b'.')
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> TriageConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn internal_default_and_configured() {
        let a = Assets::new(&TriageConfig::default());
        assert!(a.is_internal("10.1.2.3".parse().unwrap()));
        assert!(a.is_internal("::ffff:192.168.0.1".parse().unwrap()));
        assert!(!a.is_internal("8.8.8.8".parse().unwrap()));
        let a = Assets::new(&cfg("internal_networks = [\"198.51.100.0/24\"]\n"));
        assert!(a.is_internal("198.51.100.7".parse().unwrap()));
        assert!(!a.is_internal("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn longest_network_then_first_asset_wins() {
        let a = Assets::new(&cfg(r#"
            [score]
            default_criticality = 10
            [[assets]]
            name = "servers"
            networks = ["10.0.0.0/16"]
            criticality = 50
            [[assets]]
            name = "dc"
            networks = ["10.0.5.0/24"]
            hostnames = ["DC01.corp."]
            criticality = 95
            [[assets]]
            name = "dup"
            networks = ["10.0.5.0/24"]
            criticality = 5
            "#));
        assert_eq!(a.criticality("10.0.5.9"), (95, Some("dc")));
        assert_eq!(a.criticality("10.0.7.9"), (50, Some("servers")));
        assert_eq!(a.criticality("dc01.corp"), (95, Some("dc")));
        assert_eq!(a.criticality("10.9.0.1"), (10, None));
        assert_eq!(a.criticality("laptop7"), (10, None));
    }

    #[test]
    fn allowlist() {
        let a = Allow::new(&cfg(
            "[allow]\nnetworks = [\"10.0.9.0/24\"]\nhostnames = [\"Scanner01\"]\nindicators = [\"1.2.3.4\"]\n",
        ));
        assert!(a.address("10.0.9.200".parse().unwrap()));
        assert!(!a.address("10.0.8.1".parse().unwrap()));
        assert!(a.host("scanner01") && a.host("10.0.9.1") && !a.host("web01"));
        assert!(a.indicator("1.2.3.4") && !a.indicator("1.2.3.5"));
        assert!(Allow::default().is_empty());
    }
}
