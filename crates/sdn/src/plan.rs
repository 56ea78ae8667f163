//! PURE: the devices, addresses, FDB entries and VLANs one node should have.
//!
//! Per vnet, a bridge named like the vnet. A *vxlan* zone adds `vxlan_<vnet>` (id = VNI,
//! dstport 4789, local = this node's address, no learning) with one all-zero FDB entry per
//! peer (unicast head-end replication) and MTU = link MTU − 50 unless the zone sets one; the
//! peers are the zone's `peers` or, when it lists none, every cluster node's address, minus
//! this node's. A *vlan* zone joins the vnet bridge to the zone's node bridge: on a VLAN-aware
//! bridge through a veth pair `ln_<vnet>` / `pr_<vnet>` whose bridge end has the tag as its
//! only (PVID, untagged) VLAN, otherwise through the VLAN subinterface `<port>.<tag>` of the
//! bridge's first port. A *simple* zone's bridge is isolated and carries its subnets'
//! gateways; `snat 1` adds a masquerading rule (returned as data, see [`SnatRule`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Net;
use crate::config::SdnConfig;
use crate::error::{Result, SdnError};
use crate::node_net::NodeNetwork;
use crate::zones_cfg::ZoneKind;
use crate::{is_ifname, OWNED_ALIAS_PREFIX};

/// The IANA VXLAN port.
pub const VXLAN_PORT: u16 = 4789;
/// Bytes a VXLAN encapsulation adds over IPv4 (outer Ethernet is not counted: 14 + 20 + 8 + 8).
pub const VXLAN_OVERHEAD: u32 = 50;
/// The underlay MTU assumed when the caller does not know it.
pub const DEFAULT_LINK_MTU: u32 = 1500;

/// What a desired device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Bridge {
        vlan_filtering: bool,
    },
    Vxlan {
        vni: u32,
        local: Ipv4Addr,
        dstport: u16,
    },
    /// One end of a veth pair; the `primary` end's creation makes both.
    Veth {
        peer: String,
        primary: bool,
    },
    Vlan {
        link: String,
        vid: u16,
    },
}

/// A device brigade creates and owns (its `ifalias` is `alias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLink {
    pub name: String,
    pub kind: LinkKind,
    pub alias: String,
    pub mtu: Option<u32>,
    pub master: Option<String>,
}

/// The VLAN flags of one vid on a bridge port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VlanFlags {
    pub pvid: bool,
    pub untagged: bool,
}

/// Source NAT for a simple zone's subnet: `iptables -t nat -A POSTROUTING -s CIDR ! -o BRIDGE -j MASQUERADE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnatRule {
    pub subnet: Ipv4Net,
    pub bridge: String,
}

impl SnatRule {
    /// The iptables arguments after `-A`/`-C`/`-D` (the caller picks the verb).
    pub fn iptables_rule(&self) -> Vec<String> {
        [
            "-t",
            "nat",
            "POSTROUTING",
            "-s",
            &self.subnet.to_string(),
            "!",
            "-o",
            &self.bridge,
            "-j",
            "MASQUERADE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// Everything brigade wants on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Owned devices, bridges first.
    pub links: Vec<DesiredLink>,
    /// Existing devices (not brigade's) to enslave: (port, bridge).
    pub enslaved: Vec<(String, String)>,
    /// Addresses on owned devices.
    pub addresses: BTreeSet<(String, Ipv4Net)>,
    /// The exact VLAN set of bridge ports (only for the ports listed).
    pub port_vlans: BTreeMap<String, BTreeMap<u16, VlanFlags>>,
    /// All-zero FDB entries (device, remote VTEP).
    pub fdb: BTreeSet<(String, Ipv4Addr)>,
    pub snat: Vec<SnatRule>,
}

impl DesiredState {
    /// The desired device called `name`.
    pub fn link(&self, name: &str) -> Option<&DesiredLink> {
        self.links.iter().find(|l| l.name == name)
    }
}

/// What [`plan`] needs.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub node: &'a str,
    pub network: &'a NodeNetwork,
    pub sdn: &'a SdnConfig,
    /// Every cluster node's underlay address (the address VXLAN runs over).
    pub node_addresses: &'a BTreeMap<String, Ipv4Addr>,
    /// The MTU of the underlay link ([`DEFAULT_LINK_MTU`] when `None`).
    pub link_mtu: Option<u32>,
}

fn alias(role: &str) -> String {
    format!("{OWNED_ALIAS_PREFIX}{role}")
}

/// Computes the node's desired state; `input.sdn` should have passed [`crate::validate::validate`].
pub fn plan(input: &PlanInput) -> Result<DesiredState> {
    let fail = |message: String| SdnError::Plan {
        node: input.node.to_string(),
        message,
    };
    let mut d = DesiredState::default();
    let mut others = Vec::new();
    for b in &input.network.bridges {
        d.links.push(DesiredLink {
            name: b.name.clone(),
            kind: LinkKind::Bridge {
                vlan_filtering: b.vlan_aware,
            },
            alias: alias("bridge"),
            mtu: b.mtu,
            master: None,
        });
        if let Some(a) = b.address {
            d.addresses.insert((b.name.clone(), a));
        }
        for p in &b.ports {
            d.enslaved.push((p.clone(), b.name.clone()));
        }
    }
    let link_mtu = input.link_mtu.unwrap_or(DEFAULT_LINK_MTU);
    for v in &input.sdn.vnets {
        let zone = input
            .sdn
            .zone(&v.zone)
            .ok_or_else(|| fail(format!("vnet {}: unknown zone {}", v.id, v.zone)))?;
        if !zone.on_node(input.node) {
            continue;
        }
        if input.network.bridge(&v.id).is_some() {
            return Err(fail(format!(
                "vnet {} has the name of a bridge in the node's network.cfg",
                v.id
            )));
        }
        let mut vnet = DesiredLink {
            name: v.id.clone(),
            kind: LinkKind::Bridge {
                vlan_filtering: v.vlanaware,
            },
            alias: alias("vnet"),
            mtu: zone.mtu,
            master: None,
        };
        let tag = v.tag.unwrap_or(0);
        match &zone.kind {
            ZoneKind::Simple => {
                for s in input.sdn.subnets_of(&v.id) {
                    if let Some(gw) = s.gateway {
                        d.addresses.insert((
                            v.id.clone(),
                            Ipv4Net {
                                addr: gw,
                                prefix: s.cidr.prefix,
                            },
                        ));
                    }
                    if s.snat {
                        d.snat.push(SnatRule {
                            subnet: s.cidr,
                            bridge: v.id.clone(),
                        });
                    }
                }
            }
            ZoneKind::Vxlan { peers } => {
                let local = *input.node_addresses.get(input.node).ok_or_else(|| {
                    fail(format!(
                        "vnet {}: the node has no cluster address for VXLAN",
                        v.id
                    ))
                })?;
                let mtu = zone
                    .vnet_mtu(link_mtu)
                    .unwrap_or(link_mtu.saturating_sub(VXLAN_OVERHEAD));
                vnet.mtu = Some(mtu);
                let name = format!("vxlan_{}", v.id);
                let remote: BTreeSet<Ipv4Addr> = if peers.is_empty() {
                    input.node_addresses.values().copied().collect()
                } else {
                    peers.iter().copied().collect()
                };
                for peer in remote.into_iter().filter(|p| *p != local) {
                    d.fdb.insert((name.clone(), peer));
                }
                others.push(DesiredLink {
                    name,
                    kind: LinkKind::Vxlan {
                        vni: tag,
                        local,
                        dstport: VXLAN_PORT,
                    },
                    alias: alias("vxlan"),
                    mtu: Some(mtu),
                    master: Some(v.id.clone()),
                });
            }
            ZoneKind::Vlan { bridge } => {
                let b = input.network.bridge(bridge).ok_or_else(|| {
                    fail(format!(
                        "vnet {}: zone {} uses bridge {bridge}, not in the node's network.cfg",
                        v.id, zone.id
                    ))
                })?;
                let vid = u16::try_from(tag)
                    .map_err(|_| fail(format!("vnet {}: VLAN tag {tag}", v.id)))?;
                if b.vlan_aware {
                    let (ln, pr) = (format!("ln_{}", v.id), format!("pr_{}", v.id));
                    others.push(DesiredLink {
                        name: ln.clone(),
                        kind: LinkKind::Veth {
                            peer: pr.clone(),
                            primary: true,
                        },
                        alias: alias("veth"),
                        mtu: zone.mtu,
                        master: Some(v.id.clone()),
                    });
                    others.push(DesiredLink {
                        name: pr.clone(),
                        kind: LinkKind::Veth {
                            peer: ln,
                            primary: false,
                        },
                        alias: alias("veth"),
                        mtu: zone.mtu,
                        master: Some(bridge.clone()),
                    });
                    d.port_vlans.insert(
                        pr,
                        BTreeMap::from([(
                            vid,
                            VlanFlags {
                                pvid: true,
                                untagged: true,
                            },
                        )]),
                    );
                    for p in &b.ports {
                        d.port_vlans
                            .entry(p.clone())
                            .or_insert_with(|| {
                                BTreeMap::from([(
                                    1,
                                    VlanFlags {
                                        pvid: true,
                                        untagged: true,
                                    },
                                )])
                            })
                            .insert(
                                vid,
                                VlanFlags {
                                    pvid: false,
                                    untagged: false,
                                },
                            );
                    }
                } else {
                    let port = b.ports.first().ok_or_else(|| {
                        fail(format!(
                            "vnet {}: bridge {bridge} is not VLAN-aware and has no port to tag",
                            v.id
                        ))
                    })?;
                    let name = format!("{port}.{vid}");
                    if !is_ifname(&name) {
                        return Err(fail(format!(
                            "vnet {}: VLAN device name {name} is longer than 15 characters",
                            v.id
                        )));
                    }
                    others.push(DesiredLink {
                        name,
                        kind: LinkKind::Vlan {
                            link: port.clone(),
                            vid,
                        },
                        alias: alias("vlan"),
                        mtu: zone.mtu,
                        master: Some(v.id.clone()),
                    });
                }
            }
        }
        d.links.push(vnet);
    }
    d.links.extend(others);
    let mut seen = BTreeSet::new();
    for l in &d.links {
        if !seen.insert(l.name.as_str()) {
            return Err(fail(format!("two devices would be called {}", l.name)));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_net::parse_node_network;

    fn addrs() -> BTreeMap<String, Ipv4Addr> {
        BTreeMap::from([
            ("n1".to_string(), Ipv4Addr::new(10, 0, 0, 1)),
            ("n2".to_string(), Ipv4Addr::new(10, 0, 0, 2)),
            ("n3".to_string(), Ipv4Addr::new(10, 0, 0, 3)),
        ])
    }

    fn run(zones: &str, vnets: &str, subnets: &str, net: &str) -> Result<DesiredState> {
        let sdn = SdnConfig::parse(zones, vnets, subnets).expect("parse");
        let network = parse_node_network(net).expect("net");
        let a = addrs();
        plan(&PlanInput {
            node: "n1",
            network: &network,
            sdn: &sdn,
            node_addresses: &a,
            link_mtu: Some(1500),
        })
    }

    #[test]
    fn vxlan_zone_has_head_end_replication_to_other_nodes() {
        let d = run("vxlan: z\n", "vnet: v1\n\tzone z\n\ttag 100\n", "", "").expect("plan");
        let vx = d.link("vxlan_v1").expect("vxlan device");
        assert_eq!(
            vx.kind,
            LinkKind::Vxlan {
                vni: 100,
                local: Ipv4Addr::new(10, 0, 0, 1),
                dstport: 4789
            }
        );
        assert_eq!(vx.mtu, Some(1450));
        assert_eq!(vx.master.as_deref(), Some("v1"));
        assert_eq!(d.link("v1").expect("bridge").mtu, Some(1450));
        let peers: Vec<String> = d.fdb.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(peers, vec!["10.0.0.2", "10.0.0.3"]);
        // Explicit peers win over the cluster's addresses; the zone's mtu over link − 50.
        let d = run(
            "vxlan: z\n\tpeers 10.0.0.1,10.0.0.9\n\tmtu 1400\n",
            "vnet: v1\n\tzone z\n\ttag 7\n",
            "",
            "",
        )
        .expect("plan");
        assert_eq!(
            d.fdb.iter().map(|(_, p)| p.to_string()).collect::<Vec<_>>(),
            vec!["10.0.0.9"]
        );
        assert_eq!(d.link("vxlan_v1").expect("vx").mtu, Some(1400));
    }

    #[test]
    fn vlan_zone_on_a_vlan_aware_bridge_uses_a_tagged_veth() {
        let net = "iface vmbr0 inet manual\n\tbridge-ports eth0\n\tbridge-vlan-aware yes\n";
        let d = run(
            "vlan: z\n\tbridge vmbr0\n",
            "vnet: v1\n\tzone z\n\ttag 30\n",
            "",
            net,
        )
        .expect("plan");
        assert_eq!(
            d.link("vmbr0").expect("vmbr0").kind,
            LinkKind::Bridge {
                vlan_filtering: true
            }
        );
        assert_eq!(d.enslaved, vec![("eth0".to_string(), "vmbr0".to_string())]);
        assert_eq!(
            d.link("pr_v1").expect("pr").master.as_deref(),
            Some("vmbr0")
        );
        assert_eq!(d.link("ln_v1").expect("ln").master.as_deref(), Some("v1"));
        assert_eq!(
            d.port_vlans["pr_v1"],
            BTreeMap::from([(
                30,
                VlanFlags {
                    pvid: true,
                    untagged: true
                }
            )])
        );
        assert!(d.port_vlans["eth0"].contains_key(&30) && d.port_vlans["eth0"][&1].pvid);
    }

    #[test]
    fn vlan_zone_on_a_plain_bridge_uses_a_vlan_subinterface() {
        let net = "iface vmbr0 inet manual\n\tbridge-ports eth0\n";
        let d = run(
            "vlan: z\n\tbridge vmbr0\n",
            "vnet: v1\n\tzone z\n\ttag 30\n",
            "",
            net,
        )
        .expect("plan");
        assert_eq!(
            d.link("eth0.30").expect("vlan").kind,
            LinkKind::Vlan {
                link: "eth0".into(),
                vid: 30
            }
        );
        let e = run(
            "vlan: z\n\tbridge vmbr9\n",
            "vnet: v1\n\tzone z\n\ttag 30\n",
            "",
            net,
        )
        .expect_err("no bridge");
        assert!(e.to_string().contains("vmbr9"), "{e}");
    }

    #[test]
    fn simple_zone_is_an_isolated_bridge_with_gateway_and_snat() {
        let d = run(
            "simple: z\n",
            "vnet: v1\n\tzone z\n",
            "subnet: z-10.5.0.0-24\n\tvnet v1\n\tgateway 10.5.0.1\n\tsnat 1\n",
            "",
        )
        .expect("plan");
        assert_eq!(d.links.len(), 1);
        assert!(d.addresses.contains(&(
            "v1".to_string(),
            Ipv4Net::parse_addr("10.5.0.1/24").expect("a")
        )));
        assert_eq!(
            d.snat[0].iptables_rule().join(" "),
            "-t nat POSTROUTING -s 10.5.0.0/24 ! -o v1 -j MASQUERADE"
        );
        assert!(d.fdb.is_empty());
    }

    #[test]
    fn zones_restricted_to_other_nodes_are_skipped() {
        let d = run("simple: z\n\tnodes n2,n3\n", "vnet: v1\n\tzone z\n", "", "").expect("plan");
        assert!(d.links.is_empty());
    }
}
