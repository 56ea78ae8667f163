//! PURE: desired vs current state into ordered steps: remove stale, create, set, addresses, VLANs, FDB.
//!
//! Only devices whose alias marks them as brigade's are removed or changed; a desired name
//! taken by a device brigade did not create is refused. Ports named in network.cfg are only
//! enslaved and set up.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Net;
use crate::current::{CurrentKind, CurrentLink, CurrentState};
use crate::error::{Result, SdnError};
use crate::plan::{DesiredLink, DesiredState, LinkKind};
pub use crate::step::{Step, ZERO_MAC};

/// Whether an existing device can stay as `d` (changing only mutable settings).
fn compatible(d: &DesiredLink, c: &CurrentLink) -> bool {
    match (&d.kind, &c.kind) {
        (LinkKind::Bridge { .. }, CurrentKind::Bridge { .. }) => true,
        (
            LinkKind::Vxlan {
                vni,
                local,
                dstport,
            },
            CurrentKind::Vxlan {
                vni: v,
                local: l,
                dstport: p,
            },
        ) => vni == v && Some(*local) == *l && dstport == p,
        (LinkKind::Veth { peer, .. }, CurrentKind::Veth { peer: p }) => {
            p.as_deref() == Some(peer.as_str())
        }
        (LinkKind::Vlan { link, vid }, CurrentKind::Vlan { link: l, vid: v }) => {
            l.as_deref() == Some(link.as_str()) && vid == v
        }
        _ => false,
    }
}

/// The steps that turn `current` into `desired`; empty when they already agree.
pub fn diff(desired: &DesiredState, current: &CurrentState) -> Result<Vec<Step>> {
    let conflict = SdnError::Conflict;
    let mut steps = Vec::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for (name, c) in current.links.iter().filter(|(_, c)| c.owned()) {
        if gone.contains(name) {
            continue;
        }
        let keep = desired.link(name).is_some_and(|d| compatible(d, c));
        if !keep {
            steps.push(Step::DeleteLink { name: name.clone() });
            gone.insert(name.clone());
            if let CurrentKind::Veth { peer: Some(p) } = &c.kind {
                gone.insert(p.clone());
            }
        }
    }
    let existing = |name: &str| current.links.get(name).filter(|_| !gone.contains(name));
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for d in &desired.links {
        match existing(&d.name) {
            Some(c) if !c.owned() => {
                return Err(conflict(format!(
                    "device {} exists and was not created by brigade",
                    d.name
                )))
            }
            Some(_) => {}
            None => {
                if let LinkKind::Veth {
                    peer,
                    primary: false,
                } = &d.kind
                {
                    if existing(peer).is_none() {
                        continue; // created with its primary end
                    }
                }
                created.insert(&d.name);
                if let LinkKind::Veth { peer, .. } = &d.kind {
                    created.insert(peer);
                }
                steps.push(Step::CreateLink { link: d.clone() });
            }
        }
    }
    let now = |name: &str| {
        if created.contains(name) {
            None
        } else {
            existing(name)
        }
    };
    for d in &desired.links {
        let c = now(&d.name);
        if let Some(mtu) = d.mtu.filter(|m| c.map(|c| c.mtu) != Some(*m)) {
            steps.push(Step::SetMtu {
                name: d.name.clone(),
                mtu,
            });
        }
        if let (
            LinkKind::Bridge { vlan_filtering },
            Some(CurrentKind::Bridge {
                vlan_filtering: cur,
            }),
        ) = (&d.kind, c.map(|c| &c.kind))
        {
            if vlan_filtering != cur {
                steps.push(Step::SetVlanFiltering {
                    name: d.name.clone(),
                    on: *vlan_filtering,
                });
            }
        }
        if c.and_then(|c| c.master.as_ref()) != d.master.as_ref()
            && (c.is_some() || d.master.is_some())
        {
            steps.push(Step::SetMaster {
                name: d.name.clone(),
                master: d.master.clone(),
            });
        }
        if !c.is_some_and(|c| c.up) {
            steps.push(Step::SetUp {
                name: d.name.clone(),
            });
        }
    }
    for (port, bridge) in &desired.enslaved {
        let c = existing(port)
            .ok_or_else(|| conflict(format!("port {port} of bridge {bridge} does not exist")))?;
        if c.master.as_deref() != Some(bridge.as_str()) {
            steps.push(Step::SetMaster {
                name: port.clone(),
                master: Some(bridge.clone()),
            });
        }
        if !c.up {
            steps.push(Step::SetUp { name: port.clone() });
        }
    }
    for d in &desired.links {
        let have: BTreeSet<&Ipv4Net> = if now(&d.name).is_some() {
            current
                .addresses
                .iter()
                .filter(|(dev, _)| *dev == d.name)
                .map(|(_, a)| a)
                .collect()
        } else {
            BTreeSet::new()
        };
        let want: BTreeSet<&Ipv4Net> = desired
            .addresses
            .iter()
            .filter(|(dev, _)| *dev == d.name)
            .map(|(_, a)| a)
            .collect();
        for a in have.difference(&want) {
            steps.push(Step::DelAddress {
                dev: d.name.clone(),
                addr: **a,
            });
        }
        for a in want.difference(&have) {
            steps.push(Step::AddAddress {
                dev: d.name.clone(),
                addr: **a,
            });
        }
    }
    for (dev, want) in &desired.port_vlans {
        let fresh = now(dev).is_none()
            || steps
                .iter()
                .any(|s| matches!(s, Step::SetMaster { name, .. } if name == dev));
        if fresh || current.port_vlans.get(dev) != Some(want) {
            steps.push(Step::SetPortVlans {
                dev: dev.clone(),
                vlans: want.iter().map(|(v, f)| (*v, *f)).collect(),
            });
        }
    }
    for d in desired
        .links
        .iter()
        .filter(|d| matches!(d.kind, LinkKind::Vxlan { .. }))
    {
        let have: BTreeSet<Ipv4Addr> = if now(&d.name).is_some() {
            current
                .fdb
                .iter()
                .filter(|(dev, _)| *dev == d.name)
                .map(|(_, a)| *a)
                .collect()
        } else {
            BTreeSet::new()
        };
        let want: BTreeSet<Ipv4Addr> = desired
            .fdb
            .iter()
            .filter(|(dev, _)| *dev == d.name)
            .map(|(_, a)| *a)
            .collect();
        for dst in have.difference(&want) {
            steps.push(Step::DelFdb {
                dev: d.name.clone(),
                dst: *dst,
            });
        }
        for dst in want.difference(&have) {
            steps.push(Step::AddFdb {
                dev: d.name.clone(),
                dst: *dst,
            });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::config::SdnConfig;
    use crate::node_net::parse_node_network;
    use crate::plan::{plan, PlanInput};
    use crate::simulate;

    fn desired(
        zones: &str,
        vnets: &str,
        subnets: &str,
        net: &str,
        nodes: &[(&str, [u8; 4])],
    ) -> DesiredState {
        let sdn = SdnConfig::parse(zones, vnets, subnets).expect("parse");
        crate::validate::validate(&sdn).expect("valid");
        let network = parse_node_network(net).expect("net");
        let addrs: BTreeMap<String, Ipv4Addr> = nodes
            .iter()
            .map(|(n, a)| (n.to_string(), Ipv4Addr::from(*a)))
            .collect();
        plan(&PlanInput {
            node: "n1",
            network: &network,
            sdn: &sdn,
            node_addresses: &addrs,
            link_mtu: None,
        })
        .expect("plan")
    }

    fn converge(d: &DesiredState, mut state: CurrentState) -> CurrentState {
        for step in diff(d, &state).expect("diff") {
            simulate::apply(&mut state, &step);
        }
        state
    }

    fn uplink() -> CurrentState {
        let mut s = CurrentState::default();
        let eth0 = CurrentLink {
            ifindex: 2,
            name: "eth0".into(),
            kind: CurrentKind::Other("veth".into()),
            alias: None,
            master: None,
            mtu: 1500,
            up: true,
        };
        s.links.insert("eth0".into(), eth0);
        s
    }

    #[test]
    fn creates_in_order_then_is_idle() {
        let d = desired(
            "vxlan: z\n",
            "vnet: v1\n\tzone z\n\ttag 9\n",
            "",
            "",
            &[("n1", [10, 0, 0, 1]), ("n2", [10, 0, 0, 2])],
        );
        let steps = diff(&d, &CurrentState::default()).expect("diff");
        let text: Vec<String> = steps.iter().map(ToString::to_string).collect();
        assert!(
            text[0].starts_with("create v1") && text[1].starts_with("create vxlan_v1"),
            "{text:?}"
        );
        assert_eq!(
            text.last().map(String::as_str),
            Some("add peer 10.0.0.2 to vxlan_v1")
        );
        let cmds: Vec<String> = steps
            .iter()
            .flat_map(|s| s.commands())
            .map(|c| c.to_string())
            .collect();
        assert!(
            cmds.contains(
                &"ip link add name vxlan_v1 type vxlan id 9 local 10.0.0.1 dstport 4789 nolearning"
                    .to_string()
            ),
            "{cmds:?}"
        );
        assert!(
            cmds.contains(
                &"bridge fdb append 00:00:00:00:00:00 dev vxlan_v1 dst 10.0.0.2".to_string()
            ),
            "{cmds:?}"
        );
        let state = converge(&d, CurrentState::default());
        assert_eq!(diff(&d, &state).expect("diff"), vec![]);
    }

    #[test]
    fn a_leaving_node_loses_its_fdb_entry_and_a_vni_change_recreates() {
        let two = [
            ("n1", [10, 0, 0, 1]),
            ("n2", [10, 0, 0, 2]),
            ("n3", [10, 0, 0, 3]),
        ];
        let d = desired("vxlan: z\n", "vnet: v1\n\tzone z\n\ttag 9\n", "", "", &two);
        let state = converge(&d, CurrentState::default());
        let d2 = desired(
            "vxlan: z\n",
            "vnet: v1\n\tzone z\n\ttag 9\n",
            "",
            "",
            &two[..2],
        );
        let steps = diff(&d2, &state).expect("diff");
        assert_eq!(
            steps,
            vec![Step::DelFdb {
                dev: "vxlan_v1".into(),
                dst: Ipv4Addr::new(10, 0, 0, 3)
            }]
        );
        let d3 = desired("vxlan: z\n", "vnet: v1\n\tzone z\n\ttag 10\n", "", "", &two);
        let steps = diff(&d3, &state).expect("diff");
        assert_eq!(
            steps[0],
            Step::DeleteLink {
                name: "vxlan_v1".into()
            }
        );
        assert!(matches!(&steps[1], Step::CreateLink { link } if link.name == "vxlan_v1"));
    }

    #[test]
    fn stale_owned_devices_go_and_foreign_ones_are_never_touched() {
        let d = desired(
            "simple: z\n",
            "vnet: v1\n\tzone z\n\nvnet: v2\n\tzone z\n",
            "",
            "",
            &[],
        );
        let mut state = converge(&d, uplink());
        let d1 = desired("simple: z\n", "vnet: v1\n\tzone z\n", "", "", &[]);
        assert_eq!(
            diff(&d1, &state).expect("diff"),
            vec![Step::DeleteLink { name: "v2".into() }]
        );
        // A foreign device with a desired name is refused, not adopted.
        state.links.get_mut("v1").expect("v1").alias = None;
        let e = diff(&d1, &state).expect_err("foreign");
        assert!(e.to_string().contains("not created by brigade"), "{e}");
        // Foreign devices not in the plan stay.
        assert!(diff(&d1, &uplink())
            .expect("diff")
            .iter()
            .all(|s| !matches!(s, Step::DeleteLink { .. })));
    }

    #[test]
    fn node_bridge_enslaves_its_port_and_missing_ports_are_refused() {
        let net = "iface vmbr0 inet static\n\taddress 10.9.0.1/24\n\tbridge-ports eth0\n\tbridge-vlan-aware yes\n";
        let d = desired(
            "vlan: z\n\tbridge vmbr0\n",
            "vnet: v1\n\tzone z\n\ttag 30\n",
            "",
            net,
            &[],
        );
        let state = converge(&d, uplink());
        assert_eq!(state.links["eth0"].master.as_deref(), Some("vmbr0"));
        assert_eq!(
            state.port_vlans["pr_v1"]
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![30]
        );
        assert_eq!(diff(&d, &state).expect("diff"), vec![]);
        let e = diff(&d, &CurrentState::default()).expect_err("no eth0");
        assert!(e.to_string().contains("port eth0"), "{e}");
    }

    fn arb_config() -> impl Strategy<Value = (String, String, String, String, Vec<u8>)> {
        // Up to 4 vnets over 3 zones; VNIs and tags distinct by construction.
        (
            prop::collection::vec((0usize..3, any::<bool>(), any::<bool>()), 0..5),
            prop::option::of(1200u32..1500),
            prop::collection::vec(any::<bool>(), 3),
            any::<bool>(),
        )
            .prop_map(|(vnets, mtu, nodes_up, aware)| {
                let mtu = mtu.map(|m| format!("\tmtu {m}\n")).unwrap_or_default();
                let zones = format!("simple: zs\n\nvlan: zl\n\tbridge vmbr0\n\nvxlan: zx\n{mtu}");
                let mut v = String::new();
                let mut s = String::new();
                for (i, (zone, vlanaware, gw)) in vnets.iter().enumerate() {
                    let (zid, tag) = match zone {
                        0 => ("zs", String::new()),
                        1 => ("zl", format!("\ttag {}\n", 10 + i)),
                        _ => ("zx", format!("\ttag {}\n", 100 + i)),
                    };
                    let aware = if *vlanaware { "\tvlanaware 1\n" } else { "" };
                    v.push_str(&format!("vnet: v{i}\n\tzone {zid}\n{tag}{aware}\n"));
                    let gw = if *gw {
                        format!("\tgateway 10.{i}.0.1\n")
                    } else {
                        String::new()
                    };
                    s.push_str(&format!("subnet: {zid}-10.{i}.0.0-24\n\tvnet v{i}\n{gw}\n"));
                }
                let net = format!(
                    "iface vmbr0 inet manual\n\tbridge-ports eth0\n{}",
                    if aware {
                        "\tbridge-vlan-aware yes\n"
                    } else {
                        ""
                    }
                );
                let nodes: Vec<u8> = nodes_up
                    .iter()
                    .enumerate()
                    .filter(|(_, up)| **up)
                    .map(|(i, _)| i as u8 + 2)
                    .collect();
                (zones, v, s, net, nodes)
            })
    }

    fn plan_of(c: &(String, String, String, String, Vec<u8>)) -> DesiredState {
        let mut nodes: Vec<(String, [u8; 4])> = vec![("n1".into(), [10, 0, 0, 1])];
        nodes.extend(c.4.iter().map(|i| (format!("n{i}"), [10, 0, 0, *i])));
        let refs: Vec<(&str, [u8; 4])> = nodes.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        desired(&c.0, &c.1, &c.2, &c.3, &refs)
    }

    proptest! {
        /// Applying the plan and diffing again yields nothing, from scratch and from any
        /// other converged configuration.
        #[test]
        fn diff_is_idempotent(a in arb_config(), b in arb_config()) {
            let da = plan_of(&a);
            let sa = converge(&da, uplink());
            prop_assert_eq!(diff(&da, &sa).expect("diff"), vec![]);
            let db = plan_of(&b);
            let sb = converge(&db, sa);
            prop_assert_eq!(diff(&db, &sb).expect("diff"), vec![]);
            prop_assert_eq!(sb.links.keys().filter(|n| *n != "eth0").count(), db.links.len());
        }
    }
}
