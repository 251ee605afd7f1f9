//! IPv4 address management: subnets, picking a free subnet from a pool, and the next free
//! address in a subnet or range. What is taken comes from the caller (the store), so allocations
//! survive restarts without any state here.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::Error;

/// An IPv4 network in CIDR form; the address is kept as given (`10.0.0.1/24` keeps `.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Cidr {
        Cidr { addr, prefix }
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix as u32)
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Cidr {
        Cidr::new(
            Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            self.prefix,
        )
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = if p == 0 {
            0
        } else {
            u32::MAX << (32 - p as u32)
        };
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The first usable host address (the conventional gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network().addr) + 1)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cidr, Error> {
        let bad = || Error::Invalid(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

/// The first subnet of `size` prefix inside one of `pools` that overlaps none of `taken`.
pub fn pick_subnet(pools: &[(Cidr, u8)], taken: &[Cidr]) -> Option<Cidr> {
    for (pool, size) in pools {
        let pool = pool.network();
        let step = 1u64 << (32 - *size as u32);
        let count = 1u64 << (*size as u32 - pool.prefix as u32);
        for i in 0..count {
            let base = u32::from(pool.addr) as u64 + i * step;
            let c = Cidr::new(Ipv4Addr::from(base as u32), *size);
            if !taken.iter().any(|t| t.overlaps(&c)) {
                return Some(c);
            }
        }
    }
    None
}

/// The lowest free host address of `range` (or of `subnet`), skipping the network and broadcast
/// addresses and everything in `used`.
pub fn next_free(subnet: Cidr, range: Option<Cidr>, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet).network();
    let start = u32::from(r.addr);
    let end = u32::from(r.broadcast());
    let net = u32::from(subnet.network().addr);
    let bcast = u32::from(subnet.broadcast());
    (start..=end)
        .filter(|a| *a != net && *a != bcast && subnet.contains(Ipv4Addr::from(*a)))
        .map(Ipv4Addr::from)
        .find(|a| !used.contains(a))
}

/// IPv4 networks routed on this host (`/proc/net/route`), so a new bridge subnet never shadows
/// one the host already uses. The default route is not a network.
pub fn host_routes() -> Vec<Cidr> {
    let Ok(s) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let dst = u32::from_str_radix(f[1], 16).ok()?;
            let mask = u32::from_str_radix(f[7], 16).ok()?;
            if mask == 0 {
                return None;
            }
            // The file prints the network-order value as a host integer.
            let dst = Ipv4Addr::from(dst.to_le_bytes());
            let prefix = mask.count_ones() as u8;
            Some(Cidr::new(dst, prefix))
        })
        .collect()
}

/// docker's MAC for an address: 02:42 and the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], Error> {
    let bad = || Error::Invalid(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if m[0] & 1 == 1 {
        return Err(Error::Invalid(format!("{s} is a multicast MAC address")));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_allocation() {
        let c: Cidr = "10.1.2.3/24".parse().unwrap();
        assert_eq!(c.network().to_string(), "10.1.2.0/24");
        assert_eq!(c.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 1, 2, 1));
        assert!(c.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let mut used = HashSet::new();
        used.insert(Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(next_free(c, None, &used), Some(Ipv4Addr::new(10, 1, 2, 2)));
        let range: Cidr = "10.1.2.128/25".parse().unwrap();
        assert_eq!(
            next_free(c, Some(range), &used),
            Some(Ipv4Addr::new(10, 1, 2, 128))
        );
        let tiny: Cidr = "10.9.0.0/30".parse().unwrap();
        used.insert(Ipv4Addr::new(10, 9, 0, 1));
        used.insert(Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(next_free(tiny, None, &used), None);
    }

    #[test]
    fn subnets_skip_taken_ones() {
        let pool: Cidr = "172.17.0.0/12".parse().unwrap();
        let taken = vec![
            "172.16.0.0/16".parse().unwrap(),
            "172.17.5.0/24".parse().unwrap(),
        ];
        let got = pick_subnet(&[(pool, 16)], &taken).unwrap();
        assert_eq!(got.to_string(), "172.18.0.0/16");
        assert_eq!(
            format_mac(&mac_for(Ipv4Addr::new(172, 18, 0, 2))),
            "02:42:ac:12:00:02"
        );
        assert!(parse_mac("01:00:00:00:00:00").is_err());
        assert_eq!(
            parse_mac("02:42:ac:12:00:02").unwrap(),
            mac_for(Ipv4Addr::new(172, 18, 0, 2))
        );
    }
}

/// An IPv6 network in CIDR form (dual-stack networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr6 {
    pub addr: std::net::Ipv6Addr,
    pub prefix: u8,
}

impl Cidr6 {
    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - self.prefix as u32)
        }
    }

    pub fn network(&self) -> Cidr6 {
        Cidr6 {
            addr: (u128::from(self.addr) & self.mask()).into(),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: std::net::Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Cidr6) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = if p == 0 {
            0
        } else {
            u128::MAX << (128 - p as u32)
        };
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    pub fn first_host(&self) -> std::net::Ipv6Addr {
        (u128::from(self.network().addr) + 1).into()
    }
}

impl fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr6 {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cidr6, Error> {
        let bad = || Error::Invalid(format!("invalid IPv6 CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: std::net::Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 126 {
            return Err(bad());
        }
        Ok(Cidr6 { addr, prefix })
    }
}

/// The lowest free IPv6 host address of `subnet` (from `::2`), skipping `used`.
pub fn next_free6(subnet: Cidr6, used: &HashSet<std::net::Ipv6Addr>) -> Option<std::net::Ipv6Addr> {
    let base = u128::from(subnet.network().addr);
    let size: u128 = if subnet.prefix <= 64 {
        1 << 20
    } else {
        1u128 << (128 - subnet.prefix as u32)
    };
    (1..size.saturating_sub(1))
        .map(|i| std::net::Ipv6Addr::from(base + i))
        .find(|a| !used.contains(a))
}

#[cfg(test)]
mod tests6 {
    use super::*;

    #[test]
    fn ipv6_subnets_and_allocation() {
        let c: Cidr6 = "fd00:1::/64".parse().unwrap();
        assert_eq!(c.first_host().to_string(), "fd00:1::1");
        assert!(c.contains("fd00:1::abcd".parse().unwrap()));
        assert!(!c.contains("fd00:2::1".parse().unwrap()));
        let mut used = HashSet::new();
        used.insert(c.first_host());
        assert_eq!(next_free6(c, &used).unwrap().to_string(), "fd00:1::2");
        assert!("fd00::/127".parse::<Cidr6>().is_err());
        assert!(c.overlaps(&"fd00:1::/48".parse().unwrap()));
    }
}
