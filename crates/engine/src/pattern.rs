//! What an indicator is: its kind, its canonical pattern, and the table that holds it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The type of an indicator, as users name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IocKind {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
    String,
}

impl IocKind {
    /// Every kind, in report order.
    pub const ALL: [IocKind; 10] = [
        IocKind::Ipv4,
        IocKind::Ipv6,
        IocKind::Cidr,
        IocKind::Domain,
        IocKind::Url,
        IocKind::Md5,
        IocKind::Sha1,
        IocKind::Sha256,
        IocKind::Email,
        IocKind::String,
    ];

    /// Its position in [`IocKind::ALL`]: an index for per-kind counters.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Ipv4 => "ipv4",
            IocKind::Ipv6 => "ipv6",
            IocKind::Cidr => "cidr",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Md5 => "md5",
            IocKind::Sha1 => "sha1",
            IocKind::Sha256 => "sha256",
            IocKind::Email => "email",
            IocKind::String => "string",
        }
    }
}

/// Written as [`IocKind::as_str`].
impl serde::Serialize for IocKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Read from [`IocKind::as_str`]; any other name is an error that lists the names.
impl<'de> serde::Deserialize<'de> for IocKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        IocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = IocKind::ALL.iter().map(|k| k.as_str()).collect();
                serde::de::Error::custom(format!(
                    "unknown indicator type {s:?}, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for IocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator in canonical form. Building one from feed text (refanging, type inference,
/// validation) is the `ioc` module's job; the engine takes it as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A network with its host bits cleared.
    Cidr(IpNet),
    /// Lower-case ASCII (IDN already in punycode), no trailing dot.
    Domain {
        name: String,
        subdomains: bool,
    },
    /// As [`canonical_url`](crate::canonical_url) returns it.
    Url {
        url: String,
        prefix: bool,
    },
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
    /// `local@domain` with the domain lower-cased.
    Email(String),
    /// Never empty, never holds a line break. Lower-cased when `case_insensitive`.
    String {
        text: String,
        case_insensitive: bool,
    },
}

impl Pattern {
    pub fn kind(&self) -> IocKind {
        match self {
            Pattern::Ipv4(_) => IocKind::Ipv4,
            Pattern::Ipv6(_) => IocKind::Ipv6,
            Pattern::Cidr(_) => IocKind::Cidr,
            Pattern::Domain { .. } => IocKind::Domain,
            Pattern::Url { .. } => IocKind::Url,
            Pattern::Md5(_) => IocKind::Md5,
            Pattern::Sha1(_) => IocKind::Sha1,
            Pattern::Sha256(_) => IocKind::Sha256,
            Pattern::Email(_) => IocKind::Email,
            Pattern::String { .. } => IocKind::String,
        }
    }

    /// Which table of a set holds this pattern, and under which key.
    pub(crate) fn table(&self) -> Table {
        match self {
            Pattern::Ipv4(_) => Table::Ipv4,
            Pattern::Ipv6(_) => Table::Ipv6,
            Pattern::Cidr(IpNet::V4(_)) => Table::Cidr4,
            Pattern::Cidr(IpNet::V6(_)) => Table::Cidr6,
            Pattern::Domain {
                subdomains: true, ..
            } => Table::DomainSub,
            Pattern::Domain {
                subdomains: false, ..
            } => Table::DomainExact,
            Pattern::Url { prefix: false, .. } => Table::UrlExact,
            Pattern::Url { prefix: true, .. } => Table::UrlPrefix,
            Pattern::Md5(_) => Table::Md5,
            Pattern::Sha1(_) => Table::Sha1,
            Pattern::Sha256(_) => Table::Sha256,
            Pattern::Email(_) => Table::Email,
            Pattern::String {
                case_insensitive: false,
                ..
            } => Table::StrCs,
            Pattern::String {
                case_insensitive: true,
                ..
            } => Table::StrCi,
        }
    }
}

pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// The canonical text of the indicator.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Ipv4(a) => write!(f, "{a}"),
            Pattern::Ipv6(a) => write!(f, "{a}"),
            Pattern::Cidr(n) => write!(f, "{n}"),
            Pattern::Domain { name, .. } => f.write_str(name),
            Pattern::Url { url, .. } => f.write_str(url),
            Pattern::Md5(d) => write_hex(f, d),
            Pattern::Sha1(d) => write_hex(f, d),
            Pattern::Sha256(d) => write_hex(f, d),
            Pattern::Email(e) => f.write_str(e),
            Pattern::String { text, .. } => f.write_str(text),
        }
    }
}

/// The tables of a set, in the order their indicators are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Table {
    Ipv4,
    Ipv6,
    Cidr4,
    Cidr6,
    DomainSub,
    DomainExact,
    UrlExact,
    UrlPrefix,
    Md5,
    Sha1,
    Sha256,
    Email,
    StrCs,
    StrCi,
}

pub const N_TABLES: usize = 14;

pub(crate) const TABLES: [Table; N_TABLES] = [
    Table::Ipv4,
    Table::Ipv6,
    Table::Cidr4,
    Table::Cidr6,
    Table::DomainSub,
    Table::DomainExact,
    Table::UrlExact,
    Table::UrlPrefix,
    Table::Md5,
    Table::Sha1,
    Table::Sha256,
    Table::Email,
    Table::StrCs,
    Table::StrCi,
];

/// The address of a dotted quad as the engine reads one (four decimal parts, no leading zeros:
/// `01.2.3.4` is no address), or `None`. Normalizing indicators uses it so that an indicator
/// is only ever an address a log token can equal.
#[inline]
pub fn parse_ipv4(b: &[u8]) -> Option<u32> {
    let mut ip: u32 = 0;
    let mut parts = 0;
    let mut i = 0;
    while i <= b.len() {
        let start = i;
        let mut v: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            v = v * 10 + u32::from(b[i] - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let n = i - start;
        if n == 0 || v > 255 || (n > 1 && b[start] == b'0') {
            return None;
        }
        ip = (ip << 8) | v;
        parts += 1;
        if i == b.len() {
            break;
        }
        if b[i] != b'.' || parts == 4 {
            return None;
        }
        i += 1;
    }
    (parts == 4).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, k) in IocKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "{k}");
        }
    }
}
