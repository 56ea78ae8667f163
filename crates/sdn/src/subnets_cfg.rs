//! `sdn/subnets.cfg`: `subnet: z1-10.1.0.0-24` with `vnet`, `gateway`, `snat`, `dhcp-range`.

use std::net::Ipv4Addr;

use crate::cidr::Ipv4Net;
use crate::error::Result;
use crate::section::{self, Prop, Section};

/// The file's path in the replicated tree.
pub const SUBNETS_CFG: &str = "sdn/subnets.cfg";

/// A DHCP range `start-address=A,end-address=B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpRange {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// One subnet; its id is `<zone>-<network>-<prefix>` as Proxmox writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub zone: String,
    pub cidr: Ipv4Net,
    pub vnet: String,
    pub gateway: Option<Ipv4Addr>,
    pub snat: bool,
    pub dhcp_ranges: Vec<DhcpRange>,
    pub line: usize,
}

impl Subnet {
    /// The section id: `z1-10.1.0.0-24`.
    pub fn id(&self) -> String {
        format!("{}-{}-{}", self.zone, self.cidr.addr, self.cidr.prefix)
    }
}

/// Splits `z1-10.1.0.0-24` into the zone and the network.
pub fn parse_subnet_id(id: &str) -> Option<(String, Ipv4Net)> {
    let mut parts = id.rsplitn(3, '-');
    let prefix = parts.next()?;
    let addr = parts.next()?;
    let zone = parts.next()?;
    let cidr = Ipv4Net::parse_network(&format!("{addr}/{prefix}"))?;
    (!zone.is_empty()).then(|| (zone.to_string(), cidr))
}

fn parse_range(prop: &Prop) -> Result<DhcpRange> {
    let bad = |m: &str| {
        section::prop_error(
            SUBNETS_CFG,
            prop,
            format!("dhcp-range: {m} in {:?}", prop.value),
        )
    };
    let (mut start, mut end) = (None, None);
    for item in prop.value.split(',') {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| bad("expected key=value"))?;
        let ip: Ipv4Addr = v.trim().parse().map_err(|_| bad("not an IPv4 address"))?;
        match k.trim() {
            "start-address" => start = Some(ip),
            "end-address" => end = Some(ip),
            _ => return Err(bad("unknown key")),
        }
    }
    match (start, end) {
        (Some(start), Some(end)) => Ok(DhcpRange { start, end }),
        _ => Err(bad("needs start-address and end-address")),
    }
}

/// Parses subnets.cfg.
pub fn parse_subnets(text: &str) -> Result<Vec<Subnet>> {
    let file = SUBNETS_CFG;
    section::parse(file, text)?
        .iter()
        .map(|s| {
            if s.kind != "subnet" {
                return Err(section::section_error(
                    file,
                    s,
                    format!("unknown section type {:?} (expected subnet)", s.kind),
                ));
            }
            section::check_keys(
                file,
                s,
                &["vnet", "gateway", "snat", "dhcp-range"],
                &["dhcp-range"],
            )?;
            let (zone, cidr) = parse_subnet_id(&s.id).ok_or_else(|| {
                section::section_error(
                    file,
                    s,
                    format!("{}: expected an id like z1-10.1.0.0-24", s.id),
                )
            })?;
            let vnet = section::get(s, "vnet").ok_or_else(|| {
                section::section_error(file, s, format!("{}: a subnet needs `vnet`", s.id))
            })?;
            let gateway = section::get(s, "gateway")
                .map(|p| {
                    p.value.parse().map_err(|_| {
                        section::prop_error(
                            file,
                            p,
                            format!("gateway: {:?} is not an IPv4 address", p.value),
                        )
                    })
                })
                .transpose()?;
            Ok(Subnet {
                zone,
                cidr,
                vnet: vnet.value.clone(),
                gateway,
                snat: section::get(s, "snat")
                    .map(|p| section::parse_bool(file, p))
                    .transpose()?
                    .unwrap_or(false),
                dhcp_ranges: s
                    .props
                    .iter()
                    .filter(|p| p.key == "dhcp-range")
                    .map(parse_range)
                    .collect::<Result<_>>()?,
                line: s.line,
            })
        })
        .collect()
}

/// Writes subnets.cfg.
pub fn write_subnets(subnets: &[Subnet]) -> String {
    let sections: Vec<Section> = subnets
        .iter()
        .map(|n| {
            let mut s = Section::new("subnet", &n.id());
            s.push("vnet", &n.vnet);
            if let Some(gw) = n.gateway {
                s.push("gateway", gw);
            }
            if n.snat {
                s.push("snat", 1);
            }
            for r in &n.dhcp_ranges {
                s.push(
                    "dhcp-range",
                    format!("start-address={},end-address={}", r.start, r.end),
                );
            }
            s
        })
        .collect();
    section::write(&sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let text = "subnet: z1-10.1.0.0-24\n\tvnet v1\n\tgateway 10.1.0.1\n\tsnat 1\n\
                    \tdhcp-range start-address=10.1.0.10,end-address=10.1.0.100\n\
                    \tdhcp-range start-address=10.1.0.150,end-address=10.1.0.160\n";
        let s = parse_subnets(text).expect("parse");
        assert_eq!(s[0].zone, "z1");
        assert_eq!(s[0].cidr.to_string(), "10.1.0.0/24");
        assert_eq!(s[0].dhcp_ranges.len(), 2);
        assert_eq!(parse_subnets(&write_subnets(&s)).expect("reparse"), s);
    }

    #[test]
    fn refusals() {
        let e = parse_subnets("subnet: z1-10.1.0.1-24\n\tvnet v1\n").expect_err("host bits");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_subnets(
            "subnet: z1-10.1.0.0-24\n\tvnet v1\n\tdhcp-range start-address=10.1.0.5\n",
        )
        .expect_err("range");
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("end-address"),
            "{e}"
        );
        let e = parse_subnets("subnet: z1-10.1.0.0-24\n\tgateway 10.1.0.1\n").expect_err("vnet");
        assert!(e.to_string().contains("vnet"), "{e}");
    }
}
