//! `sdn/zones.cfg`: `simple: z1`, `vlan: z2` (`bridge vmbr0`), `vxlan: z3` (`peers`, `mtu`).

use std::net::Ipv4Addr;

use crate::error::Result;
use crate::section::{self, Section};

/// The file's path in the replicated tree.
pub const ZONES_CFG: &str = "sdn/zones.cfg";

/// What kind of network a zone makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneKind {
    /// An isolated bridge per node (optionally with a gateway and SNAT).
    Simple,
    /// Vnets are VLAN tags on an existing node bridge.
    Vlan { bridge: String },
    /// An L2 overlay over UDP; `peers` empty means every cluster node's address.
    Vxlan { peers: Vec<Ipv4Addr> },
}

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: String,
    pub kind: ZoneKind,
    pub mtu: Option<u32>,
    /// The nodes the zone is deployed on; empty means all.
    pub nodes: Vec<String>,
    pub line: usize,
}

impl Zone {
    /// The zone type as written in the file.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ZoneKind::Simple => "simple",
            ZoneKind::Vlan { .. } => "vlan",
            ZoneKind::Vxlan { .. } => "vxlan",
        }
    }

    /// The MTU of this zone's vnets over an underlay of `link_mtu`: the zone's `mtu`, or
    /// for vxlan the link's minus the 50 bytes of VXLAN encapsulation.
    pub fn vnet_mtu(&self, link_mtu: u32) -> Option<u32> {
        match self.kind {
            ZoneKind::Vxlan { .. } => Some(
                self.mtu
                    .unwrap_or(link_mtu.saturating_sub(crate::plan::VXLAN_OVERHEAD)),
            ),
            _ => self.mtu,
        }
    }

    /// Whether the zone is deployed on `node`.
    pub fn on_node(&self, node: &str) -> bool {
        self.nodes.is_empty() || self.nodes.iter().any(|n| n == node)
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split([',', ' ', ';']).filter(|s| !s.is_empty())
}

/// Parses zones.cfg.
pub fn parse_zones(text: &str) -> Result<Vec<Zone>> {
    let file = ZONES_CFG;
    section::parse(file, text)?
        .iter()
        .map(|s| {
            let kind = match s.kind.as_str() {
                "simple" => {
                    section::check_keys(file, s, &["mtu", "nodes", "ipam"], &[])?;
                    ZoneKind::Simple
                }
                "vlan" => {
                    section::check_keys(file, s, &["bridge", "mtu", "nodes", "ipam"], &[])?;
                    let bridge = section::get(s, "bridge").ok_or_else(|| {
                        section::section_error(
                            file,
                            s,
                            format!("{}: a vlan zone needs `bridge`", s.id),
                        )
                    })?;
                    ZoneKind::Vlan {
                        bridge: bridge.value.clone(),
                    }
                }
                "vxlan" => {
                    section::check_keys(file, s, &["peers", "mtu", "nodes", "ipam"], &[])?;
                    let peers = match section::get(s, "peers") {
                        None => Vec::new(),
                        Some(p) => split_list(&p.value)
                            .map(|a| {
                                a.parse().map_err(|_| {
                                    section::prop_error(
                                        file,
                                        p,
                                        format!("{}: peers: {a:?} is not an IPv4 address", s.id),
                                    )
                                })
                            })
                            .collect::<Result<_>>()?,
                    };
                    ZoneKind::Vxlan { peers }
                }
                other => {
                    return Err(section::section_error(
                        file,
                        s,
                        format!("unknown zone type {other:?} (known: simple, vlan, vxlan)"),
                    ))
                }
            };
            let mtu = section::get(s, "mtu")
                .map(|p| section::parse_num(file, p))
                .transpose()?;
            let nodes = section::get(s, "nodes")
                .map(|p| split_list(&p.value).map(str::to_string).collect())
                .unwrap_or_default();
            Ok(Zone {
                id: s.id.clone(),
                kind,
                mtu,
                nodes,
                line: s.line,
            })
        })
        .collect()
}

/// Writes zones.cfg.
pub fn write_zones(zones: &[Zone]) -> String {
    let sections: Vec<Section> = zones
        .iter()
        .map(|z| {
            let mut s = Section::new(z.type_name(), &z.id);
            match &z.kind {
                ZoneKind::Simple => {}
                ZoneKind::Vlan { bridge } => s.push("bridge", bridge),
                ZoneKind::Vxlan { peers } if !peers.is_empty() => {
                    let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
                    s.push("peers", list.join(","));
                }
                ZoneKind::Vxlan { .. } => {}
            }
            if let Some(mtu) = z.mtu {
                s.push("mtu", mtu);
            }
            if !z.nodes.is_empty() {
                s.push("nodes", z.nodes.join(","));
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
    fn parses_each_zone_type() {
        let text = "simple: z1\n\nvlan: z2\n\tbridge vmbr0\n\nvxlan: z3\n\tpeers 10.0.0.1,10.0.0.2\n\tmtu 1450\n";
        let zones = parse_zones(text).expect("parse");
        assert_eq!(zones[0].kind, ZoneKind::Simple);
        assert_eq!(
            zones[1].kind,
            ZoneKind::Vlan {
                bridge: "vmbr0".into()
            }
        );
        assert_eq!(zones[2].mtu, Some(1450));
        assert_eq!(parse_zones(&write_zones(&zones)).expect("reparse"), {
            let mut z = zones.clone();
            for (zone, line) in z.iter_mut().zip([1, 3, 6]) {
                zone.line = line;
            }
            z
        });
    }

    #[test]
    fn refusals_name_the_line() {
        let e = parse_zones("vlan: z2\n\tmtu 1500\n").expect_err("no bridge");
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("bridge"),
            "{e}"
        );
        let e = parse_zones("vxlan: z3\n\tpeers 10.0.0.1,nope\n").expect_err("peer");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_zones("evpn: z4\n").expect_err("type");
        assert!(e.to_string().contains("unknown zone type"), "{e}");
        let e = parse_zones("simple: z1\n\tcolour red\n").expect_err("key");
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("colour"),
            "{e}"
        );
    }
}
