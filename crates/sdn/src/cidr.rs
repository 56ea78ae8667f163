//! IPv4 networks and interface addresses (`10.1.0.0/24`, `10.1.0.1/24`).

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 address with a prefix length; as a network its host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d/n` (host bits allowed: an interface address).
    pub fn parse_addr(s: &str) -> Option<Ipv4Net> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        (prefix <= 32).then_some(Ipv4Net { addr, prefix })
    }

    /// Parses `a.b.c.d/n` and requires the host bits to be zero (a network).
    pub fn parse_network(s: &str) -> Option<Ipv4Net> {
        Ipv4Net::parse_addr(s).filter(|n| n.network() == n.addr)
    }

    /// The netmask as a number.
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether `ip` is usable by a host here (not the network or broadcast address of a /0-/30).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix >= 31 || (ip != self.network() && ip != self.broadcast()))
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Ipv4Net::parse_network("10.1.0.0/24").expect("net");
        assert!(n.contains("10.1.0.77".parse().expect("ip")));
        assert!(!n.contains("10.1.1.1".parse().expect("ip")));
        assert!(!n.is_host(n.broadcast()));
        assert!(Ipv4Net::parse_network("10.1.0.1/24").is_none());
        assert!(Ipv4Net::parse_addr("10.1.0.1/33").is_none());
        let big = Ipv4Net::parse_network("10.0.0.0/8").expect("net");
        assert!(big.overlaps(&n) && n.overlaps(&big));
        let other = Ipv4Net::parse_network("10.2.0.0/24").expect("net");
        assert!(!other.overlaps(&n));
    }
}
