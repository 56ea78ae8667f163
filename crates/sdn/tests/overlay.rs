//! Real VXLAN overlays between two namespaces "nodes": guests ping across, other VNIs are
//! isolated, applying twice is a no-op, a leaving node loses its FDB entry.

// Test support: a failed expectation ends the test with its message.
#![allow(clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use brigade_sdn::apply::pending_steps;
use brigade_sdn::config::SdnConfig;
use brigade_sdn::node_net::NodeNetwork;
use brigade_sdn::plan::PlanInput;
use brigade_sdn::plug::BridgeInfo;
use common::{apply, guest, guest_with_mtu, ThreeNodes, TwoNodes};

fn overlay() -> SdnConfig {
    SdnConfig::parse(
        "vxlan: ovl\n",
        "vnet: v1\n\tzone ovl\n\ttag 100\n\nvnet: v2\n\tzone ovl\n\ttag 200\n",
        "subnet: ovl-10.1.0.0-24\n\tvnet v1\n\nsubnet: ovl-10.2.0.0-24\n\tvnet v2\n",
    )
    .expect("parse")
}

fn fdb_dsts(ns: &common::Netns, dev: &str) -> Vec<String> {
    let out = common::sh(&["bridge", "-n", &ns.name, "-json", "fdb", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .filter_map(|e| e["dst"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn guests_on_one_vnet_ping_across_nodes_and_another_vni_cannot_reach_them() {
    let n = TwoNodes::new();
    let sdn = overlay();
    let net = NodeNetwork::default();
    apply(&n.a, "na", &net, &sdn, &n.addresses);
    apply(&n.b, "nb", &net, &sdn, &n.addresses);
    assert_eq!(fdb_dsts(&n.a, "vxlan_v1"), vec!["10.99.0.2"]);
    let details = n.a.ip(&["-d", "link", "show", "vxlan_v1"]);
    assert!(
        details.contains("id 100")
            && details.contains("dstport 4789")
            && details.contains("nolearning"),
        "{details}"
    );
    assert!(
        details.contains("mtu 1450"),
        "link MTU 1500 − 50: {details}"
    );
    // Same subnet space on both vnets: only the VNI separates them.
    let vnet_mtu = BridgeInfo {
        vlan_aware: false,
        mtu: Some(1450),
    };
    let ga1 = guest_with_mtu(
        &n.a,
        "ga1",
        101,
        "name=eth0,bridge=v1",
        "10.1.0.11/24",
        vnet_mtu,
    );
    let gb1 = guest_with_mtu(
        &n.b,
        "gb1",
        102,
        "name=eth0,bridge=v1",
        "10.1.0.12/24",
        vnet_mtu,
    );
    assert!(
        ga1.ip(&["link", "show", "eth0"]).contains("mtu 1450"),
        "the guest end has the vnet's MTU"
    );
    let ga2 = guest(
        &n.a,
        "ga2",
        103,
        "name=eth0,bridge=v2",
        "10.1.0.13/24",
        false,
    );
    let gb2 = guest(
        &n.b,
        "gb2",
        104,
        "name=eth0,bridge=v2",
        "10.1.0.14/24",
        false,
    );
    assert!(ga1.pings("10.1.0.12", 3), "v1 across the overlay");
    assert!(gb1.pings("10.1.0.11", 3), "v1 back");
    // A full-size frame of the vnet (1450-byte IP packets: 1422 bytes of ICMP payload) crosses.
    assert!(
        ga1.pings_size("10.1.0.12", 2, 1422),
        "full MTU across the overlay"
    );
    assert!(gb2.pings("10.1.0.13", 3), "v2 across the overlay works too");
    assert!(!ga1.pings("10.1.0.14", 2), "VNI 100 reached VNI 200");
    assert!(!ga2.pings("10.1.0.12", 2), "VNI 200 reached VNI 100");
}

#[test]
fn applying_twice_changes_nothing() {
    let n = TwoNodes::new();
    let sdn = overlay();
    let net = NodeNetwork::default();
    let first = apply(&n.a, "na", &net, &sdn, &n.addresses);
    assert!(!first.steps.is_empty());
    let before = n.a.runner().read_current().expect("read");
    let input = PlanInput {
        node: "na",
        network: &net,
        sdn: &sdn,
        node_addresses: &n.addresses,
        link_mtu: None,
    };
    assert_eq!(pending_steps(&n.a.runner(), &input).expect("diff"), vec![]);
    let second = apply(&n.a, "na", &net, &sdn, &n.addresses);
    assert!(second.steps.is_empty(), "{:?}", second.steps);
    let after = n.a.runner().read_current().expect("read");
    let ifindexes = |s: &brigade_sdn::current::CurrentState| -> BTreeMap<String, u32> {
        s.links
            .iter()
            .map(|(n, l)| (n.clone(), l.ifindex))
            .collect()
    };
    assert_eq!(ifindexes(&before), ifindexes(&after));
    assert_eq!(before, after);
}

#[test]
fn a_leaving_node_is_removed_from_the_fdb_and_a_removed_vnet_goes() {
    let n = TwoNodes::new();
    let sdn = overlay();
    let net = NodeNetwork::default();
    apply(&n.a, "na", &net, &sdn, &n.addresses);
    apply(&n.b, "nb", &net, &sdn, &n.addresses);
    let ga1 = guest(
        &n.a,
        "ga1",
        101,
        "name=eth0,bridge=v1",
        "10.1.0.11/24",
        false,
    );
    let _gb1 = guest(
        &n.b,
        "gb1",
        102,
        "name=eth0,bridge=v1",
        "10.1.0.12/24",
        false,
    );
    assert!(ga1.pings("10.1.0.12", 3));
    let mut only_a = n.addresses.clone();
    only_a.remove("nb");
    let report = apply(&n.a, "na", &net, &sdn, &only_a);
    assert_eq!(
        report
            .steps
            .iter()
            .map(|s| s.step.as_str())
            .collect::<Vec<_>>(),
        vec![
            "remove peer 10.99.0.2 from vxlan_v1",
            "remove peer 10.99.0.2 from vxlan_v2"
        ]
    );
    assert_eq!(fdb_dsts(&n.a, "vxlan_v1"), Vec::<String>::new());
    assert!(
        !ga1.pings("10.1.0.12", 2),
        "no replication to the node that left"
    );
    // v2 removed from the config: its bridge and VXLAN device go, the guest's veth stays.
    let _ga2 = guest(
        &n.a,
        "ga2",
        103,
        "name=eth0,bridge=v2",
        "10.1.0.13/24",
        false,
    );
    let v1_only =
        SdnConfig::parse("vxlan: ovl\n", "vnet: v1\n\tzone ovl\n\ttag 100\n", "").expect("parse");
    apply(&n.a, "na", &net, &v1_only, &n.addresses);
    let names = n.a.link_names();
    assert!(
        !names.contains(&"v2".to_string()) && !names.contains(&"vxlan_v2".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"veth103i0".to_string()),
        "the guest's device is not sdn's to remove: {names:?}"
    );
    assert_eq!(
        fdb_dsts(&n.a, "vxlan_v1"),
        vec!["10.99.0.2"],
        "the node is back"
    );
    assert!(ga1.pings("10.1.0.12", 3));
}

#[test]
fn three_nodes_replicate_to_every_peer() {
    let n = ThreeNodes::new();
    let sdn = overlay();
    let net = NodeNetwork::default();
    let mut guests = Vec::new();
    for (i, node) in n.nodes.iter().enumerate() {
        apply(node, &format!("n{}", i + 1), &net, &sdn, &n.addresses);
        let mut peers = fdb_dsts(node, "vxlan_v1");
        peers.sort();
        let expected: Vec<String> = (1..=3)
            .filter(|j| *j != i + 1)
            .map(|j| format!("10.98.0.{j}"))
            .collect();
        assert_eq!(peers, expected, "head-end replication to every other node");
        let vmid = 500 + i as u32;
        guests.push(guest(
            node,
            &format!("g{i}"),
            vmid,
            "name=eth0,bridge=v1",
            &format!("10.1.0.{}/24", 21 + i),
            false,
        ));
    }
    for (i, g) in guests.iter().enumerate() {
        for j in (0..3).filter(|j| *j != i) {
            assert!(
                g.pings(&format!("10.1.0.{}", 21 + j), 2),
                "guest {i} -> guest {j}"
            );
        }
    }
}
