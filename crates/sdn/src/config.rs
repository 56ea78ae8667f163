//! The whole SDN configuration: the three files of `sdn/` parsed together.

use crate::error::Result;
use crate::subnets_cfg::{parse_subnets, write_subnets, Subnet};
use crate::vnets_cfg::{parse_vnets, write_vnets, Vnet};
use crate::zones_cfg::{parse_zones, write_zones, Zone};
use sha2::{Digest, Sha256};

/// Zones, vnets and subnets as one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdnConfig {
    pub zones: Vec<Zone>,
    pub vnets: Vec<Vnet>,
    pub subnets: Vec<Subnet>,
}

impl SdnConfig {
    /// Parses the texts of zones.cfg, vnets.cfg and subnets.cfg (a missing file is "").
    pub fn parse(zones: &str, vnets: &str, subnets: &str) -> Result<SdnConfig> {
        Ok(SdnConfig {
            zones: parse_zones(zones)?,
            vnets: parse_vnets(vnets)?,
            subnets: parse_subnets(subnets)?,
        })
    }

    /// The three texts, in the order of [`SdnConfig::parse`].
    pub fn write(&self) -> (String, String, String) {
        (
            write_zones(&self.zones),
            write_vnets(&self.vnets),
            write_subnets(&self.subnets),
        )
    }

    /// The zone called `id`.
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The subnets of vnet `id`.
    pub fn subnets_of<'a>(&'a self, vnet: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets.iter().filter(move |s| s.vnet == vnet)
    }

    /// Removes `addr` from every vxlan zone's explicit `peers` (a node leaving the cluster);
    /// whether anything changed. Zones without `peers` follow the cluster's node list anyway.
    pub fn remove_peer(&mut self, addr: std::net::Ipv4Addr) -> bool {
        let mut changed = false;
        for z in &mut self.zones {
            if let crate::zones_cfg::ZoneKind::Vxlan { peers } = &mut z.kind {
                let before = peers.len();
                peers.retain(|p| *p != addr);
                changed |= peers.len() != before;
            }
        }
        changed
    }

    /// A version of this configuration: the SHA-256 of its canonical text (what `sdn status`
    /// compares between nodes).
    pub fn version(&self) -> String {
        let (z, v, s) = self.write();
        let mut h = Sha256::new();
        for part in [z, v, s] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::cidr::Ipv4Net;
    use crate::subnets_cfg::DhcpRange;
    use crate::zones_cfg::ZoneKind;

    fn without_lines(mut c: SdnConfig) -> SdnConfig {
        c.zones.iter_mut().for_each(|z| z.line = 0);
        c.vnets.iter_mut().for_each(|v| v.line = 0);
        c.subnets.iter_mut().for_each(|s| s.line = 0);
        c
    }

    fn arb_zone(i: usize) -> impl Strategy<Value = Zone> {
        let kind = prop_oneof![
            Just(ZoneKind::Simple),
            "vmbr[0-9]".prop_map(|bridge| ZoneKind::Vlan { bridge }),
            prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 0..3)
                .prop_map(|peers| ZoneKind::Vxlan { peers }),
        ];
        (
            kind,
            prop::option::of(576u32..9000),
            prop::collection::vec("n[0-9]", 0..3),
        )
            .prop_map(move |(kind, mtu, nodes)| Zone {
                id: format!("z{i}"),
                kind,
                mtu,
                nodes,
                line: 0,
            })
    }

    fn arb_config() -> impl Strategy<Value = SdnConfig> {
        let zones = (0usize..4).prop_flat_map(|n| (0..n).map(arb_zone).collect::<Vec<_>>());
        let vnets = prop::collection::vec(
            (
                prop::option::of(1u32..16_777_215),
                prop::option::of("[a-z][a-z ]{0,10}[a-z]"),
                any::<bool>(),
            ),
            0..4,
        );
        let subnets = prop::collection::vec(
            (
                any::<u32>(),
                8u8..=30,
                prop::option::of(any::<u8>()),
                any::<bool>(),
                any::<bool>(),
            ),
            0..3,
        );
        (zones, vnets, subnets).prop_map(|(zones, vnets, subnets)| SdnConfig {
            vnets: vnets
                .into_iter()
                .enumerate()
                .map(|(i, (tag, alias, vlanaware))| Vnet {
                    id: format!("v{i}"),
                    zone: "z0".into(),
                    tag,
                    alias,
                    vlanaware,
                    line: 0,
                })
                .collect(),
            subnets: subnets
                .into_iter()
                .enumerate()
                .map(|(i, (addr, prefix, gw, snat, dhcp))| {
                    let cidr = Ipv4Net {
                        addr: Ipv4Addr::from(addr),
                        prefix,
                    };
                    let cidr = Ipv4Net {
                        addr: cidr.network(),
                        prefix,
                    };
                    let base = u32::from(cidr.network());
                    Subnet {
                        zone: format!("z{i}"),
                        cidr,
                        vnet: "v0".into(),
                        gateway: gw.map(|g| Ipv4Addr::from(base + 1 + u32::from(g % 2))),
                        snat,
                        dhcp_ranges: if dhcp {
                            vec![DhcpRange {
                                start: Ipv4Addr::from(base + 5),
                                end: Ipv4Addr::from(base + 9),
                            }]
                        } else {
                            vec![]
                        },
                        line: 0,
                    }
                })
                .collect(),
            zones,
        })
    }

    #[test]
    fn a_leaving_node_is_removed_from_explicit_peers() {
        let mut c = SdnConfig::parse("vxlan: z\n\tpeers 10.0.0.1,10.0.0.2\n\nsimple: s\n", "", "")
            .expect("parse");
        assert!(c.remove_peer(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(
            c.zones[0].kind,
            ZoneKind::Vxlan {
                peers: vec![Ipv4Addr::new(10, 0, 0, 1)]
            }
        );
        assert!(
            !c.remove_peer(Ipv4Addr::new(10, 0, 0, 2)),
            "nothing left to remove"
        );
    }

    proptest! {
        #[test]
        fn written_config_parses_back_to_itself(cfg in arb_config()) {
            let (z, v, s) = cfg.write();
            let back = SdnConfig::parse(&z, &v, &s).expect("parse what we wrote");
            prop_assert_eq!(back.version(), cfg.version());
            prop_assert_eq!(without_lines(back), cfg);
        }
    }
}
