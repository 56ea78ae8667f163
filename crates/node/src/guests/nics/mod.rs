//! Guest NICs (`netN`) of VMs and containers: the checks every writer of a guest config
//! runs (guest create and set, `fs write`, `fs mv`, the FUSE mount) and the MACs written
//! in once; [`plug`] puts their host devices on bridges.

pub(crate) mod plug;

use brigade_cfs::Cfs;
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_sdn::config::SdnConfig;
use brigade_sdn::nic::{check_nic, parse_nic, KnownBridges, Nic};
use brigade_sdn::node_net::{node_network_path, parse_node_network};

use crate::error::NodeError;
use crate::ha::config_io;
use crate::node::Node;

fn invalid(e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(e.to_string())
}

/// The index of a NIC key: `net3` → 3.
pub(crate) fn nic_index(key: &str) -> Option<u32> {
    key.strip_prefix("net")
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

/// Gives every NIC without a MAC the one it has always had at start
/// ([`brigade_guest::qemu::default_mac`]), written into the config so it is kept: the
/// model's `virtio=MAC` for a VM, `hwaddr=MAC` for a container.
pub(crate) fn fill_macs(
    kind: GuestKind,
    vmid: u32,
    kv: &mut KeyValueConfig,
) -> Result<(), NodeError> {
    let nics: Vec<(String, u32, String)> = kv
        .entries
        .iter()
        .filter_map(|(k, v)| nic_index(k).map(|i| (k.clone(), i, v.clone())))
        .collect();
    for (key, index, value) in nics {
        let mac = brigade_guest::qemu::default_mac(vmid, index);
        let new = match kind {
            GuestKind::Qemu if !value.split(',').next().unwrap_or_default().contains('=') => {
                match value.split_once(',') {
                    Some((model, rest)) => format!("{model}={mac},{rest}"),
                    None => format!("{value}={mac}"),
                }
            }
            GuestKind::Lxc if !value.split(',').any(|p| p.trim().starts_with("hwaddr=")) => {
                format!("{value},hwaddr={mac}")
            }
            _ => continue,
        };
        kv.set(&key, &new).map_err(NodeError::from)?;
    }
    Ok(())
}

/// The MACs a guest config's NICs set: (key, MAC), read leniently (a VM's `model=MAC`
/// first item, a container's `hwaddr=`), so a config with other faults still counts.
pub(crate) fn nic_macs(kv: &KeyValueConfig) -> Vec<(String, String)> {
    kv.entries
        .iter()
        .filter(|(k, _)| nic_index(k).is_some())
        .filter_map(|(k, v)| {
            let first = v.split(',').next().unwrap_or_default();
            let mac = v
                .split(',')
                .find_map(|p| p.trim().strip_prefix("hwaddr="))
                .or_else(|| {
                    first
                        .split_once('=')
                        .filter(|(m, _)| *m != "name")
                        .map(|(_, mac)| mac)
                })?;
            Some((k.clone(), mac.trim().to_string()))
        })
        .collect()
}

/// A guest's NICs' keys and MACs.
pub(crate) type GuestMacs = (GuestKind, u32, Vec<(String, String)>);

/// Refuses a MAC of `mine` (guest `vmid`'s NICs: key, MAC) that another guest in `others`
/// (guest, its NICs' keys and MACs) uses.
pub(crate) fn check_macs(
    vmid: u32,
    mine: &[(String, String)],
    others: &[GuestMacs],
) -> Result<(), NodeError> {
    for (key, mac) in mine {
        for (kind, other, nics) in others.iter().filter(|(_, o, _)| *o != vmid) {
            if let Some((slot, _)) = nics.iter().find(|(_, m)| m.eq_ignore_ascii_case(mac)) {
                let noun = super::locate::noun(*kind);
                return Err(NodeError::Invalid(format!(
                    "{key}: MAC {mac} is already used by {slot} of {noun} {other}"
                )));
            }
        }
    }
    Ok(())
}

/// The NICs of a config that name a bridge, with their index (`net3` → 3).
pub(crate) fn bridged_nics(kv: &KeyValueConfig) -> Result<Vec<(u32, Nic)>, NodeError> {
    let mut out = Vec::new();
    for (k, v) in &kv.entries {
        let Some(index) = nic_index(k) else {
            continue;
        };
        if v.split(',').any(|p| p.trim().starts_with("bridge=")) {
            out.push((index, parse_nic(k, v).map_err(invalid)?));
        }
    }
    Ok(out)
}

/// The configuration of the running vnets (none before the first `sdn apply`).
pub(crate) fn running_sdn(cfs: &Cfs) -> Result<SdnConfig, NodeError> {
    match crate::sdn::running(cfs)? {
        Some(run) => run.config(),
        None => Ok(SdnConfig::default()),
    }
}

/// The bridges a NIC may name on `node`: its network.cfg and the vnets of `sdn` there.
pub(crate) fn bridges_of(
    cfs: &Cfs,
    node: &str,
    sdn: &SdnConfig,
) -> Result<KnownBridges, NodeError> {
    let (text, _) = config_io::read(cfs, &node_network_path(node))?;
    let net = parse_node_network(&text).map_err(invalid)?;
    Ok(KnownBridges::of_node(node, &net, sdn))
}

impl Node {
    /// The bridges a NIC may name on `node`: its network.cfg and the running vnets there.
    pub(crate) fn known_bridges(&self, node: &str) -> Result<KnownBridges, NodeError> {
        let cfs = &self.require_cluster()?.cfs;
        bridges_of(cfs, node, &running_sdn(cfs)?)
    }

    /// The one check of the NICs of guest `vmid` living on `node`, for every writer of its
    /// config: a bridge= must be known there (network.cfg or a running vnet), a tag= needs
    /// a VLAN-aware bridge, an mtu= may not be above the bridge's, and no other guest in
    /// the cluster may use the MAC. Each refusal names the key.
    pub(crate) fn check_guest_nics(
        &self,
        node: &str,
        vmid: u32,
        kv: &KeyValueConfig,
    ) -> Result<(), NodeError> {
        let nics = bridged_nics(kv)?;
        if !nics.is_empty() {
            let bridges = self.known_bridges(node)?;
            for (_, nic) in &nics {
                check_nic(nic, &bridges).map_err(invalid)?;
            }
        }
        let mine = nic_macs(kv);
        if mine.is_empty() {
            return Ok(());
        }
        let cfs = &self.require_cluster()?.cfs;
        let mut others = Vec::new();
        for dir in super::locate::node_dirs(cfs) {
            let Ok(name) = dir.parse() else { continue };
            for (kind, other) in super::locate::guests_on(cfs, &name) {
                if other.get() == vmid {
                    continue;
                }
                if let Ok(l) = super::locate::require(cfs, kind, other) {
                    if let Ok(okv) = KeyValueConfig::parse(&l.text) {
                        others.push((kind, other.get(), nic_macs(&okv)));
                    }
                }
            }
        }
        check_macs(vmid, &mine, &others)
    }

    /// Create and set: every NIC gets its MAC written in, then [`Node::check_guest_nics`].
    pub(crate) fn prepare_guest_nics(
        &self,
        kind: GuestKind,
        node: &str,
        vmid: u32,
        kv: &mut KeyValueConfig,
    ) -> Result<(), NodeError> {
        fill_macs(kind, vmid, kv)?;
        self.check_guest_nics(node, vmid, kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_nic_without_mac_gets_its_start_mac_written_in_and_duplicates_are_refused() {
        let mut kv = KeyValueConfig::parse(
            "net0: virtio,bridge=blue\nnet1: e1000\nnet2: virtio=BC:24:11:00:00:09\n",
        )
        .expect("kv");
        fill_macs(GuestKind::Qemu, 100, &mut kv).expect("fill");
        assert_eq!(kv.get("net0"), Some("virtio=BC:24:00:00:64:00,bridge=blue"));
        assert_eq!(kv.get("net1"), Some("e1000=BC:24:00:00:64:01"));
        assert_eq!(kv.get("net2"), Some("virtio=BC:24:11:00:00:09"));
        let other = KeyValueConfig::parse("net4: name=eth0,bridge=x,hwaddr=bc:24:11:00:00:09\n")
            .expect("kv");
        let others = vec![(GuestKind::Lxc, 101, nic_macs(&other))];
        let mine = nic_macs(&kv);
        let e = check_macs(100, &mine, &others).expect_err("duplicate");
        assert!(
            e.to_string()
                .contains("net2: MAC BC:24:11:00:00:09 is already used by net4 of container 101"),
            "{e}"
        );
        let own = vec![(GuestKind::Lxc, 100, nic_macs(&other))];
        check_macs(100, &mine, &own).expect("its own old config is no conflict");
    }

    #[test]
    fn a_container_nic_gets_its_hwaddr_written_in_once() {
        let mut kv = KeyValueConfig::parse(
            "net0: name=eth0,bridge=blue,ip=10.5.0.2/24\nnet1: name=eth1,bridge=blue,hwaddr=BC:24:11:00:00:07\n",
        )
        .expect("kv");
        fill_macs(GuestKind::Lxc, 300, &mut kv).expect("fill");
        let want = format!(
            "name=eth0,bridge=blue,ip=10.5.0.2/24,hwaddr={}",
            brigade_guest::qemu::default_mac(300, 0)
        );
        assert_eq!(kv.get("net0"), Some(want.as_str()));
        assert_eq!(
            kv.get("net1"),
            Some("name=eth1,bridge=blue,hwaddr=BC:24:11:00:00:07")
        );
        let again = kv.clone();
        fill_macs(GuestKind::Lxc, 300, &mut kv).expect("fill");
        assert_eq!(kv, again, "kept");
        assert_eq!(
            nic_macs(&kv)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            vec!["net0", "net1"]
        );
    }

    #[test]
    fn unknown_bridges_and_tags_on_plain_bridges_are_refused_naming_the_key() {
        let plain = brigade_sdn::plug::BridgeInfo {
            vlan_aware: false,
            mtu: Some(1450),
        };
        let known = KnownBridges(BTreeMap::from([
            (
                "vmbr0".to_string(),
                brigade_sdn::plug::BridgeInfo {
                    vlan_aware: true,
                    mtu: None,
                },
            ),
            ("blue".to_string(), plain),
        ]));
        let kv = KeyValueConfig::parse("net1: virtio,bridge=nope\n").expect("kv");
        let nics = bridged_nics(&kv).expect("nics");
        let e = check_nic(&nics[0].1, &known).expect_err("unknown");
        assert!(
            e.to_string().contains("net1") && e.to_string().contains("nope"),
            "{e}"
        );
        let kv = KeyValueConfig::parse("net0: virtio,bridge=blue,tag=7\n").expect("kv");
        let e = check_nic(&bridged_nics(&kv).expect("nics")[0].1, &known).expect_err("tag");
        assert!(
            e.to_string().contains("net0") && e.to_string().contains("VLAN-aware"),
            "{e}"
        );
        let kv = KeyValueConfig::parse("net0: virtio,bridge=vmbr0,tag=7\n").expect("kv");
        check_nic(&bridged_nics(&kv).expect("nics")[0].1, &known).expect("tag on vmbr0");
        let kv = KeyValueConfig::parse("net0: virtio,bridge=vmbr0,tag=5000\n").expect("kv");
        assert!(bridged_nics(&kv).is_err(), "tag 5000 is refused");
        let kv = KeyValueConfig::parse("net2: name=eth0,bridge=blue,tag=3\n").expect("kv");
        let e = check_nic(&bridged_nics(&kv).expect("nics")[0].1, &known).expect_err("ct tag");
        assert!(e.to_string().contains("net2"), "{e}");
    }

    #[test]
    fn bridged_nics_are_parsed_and_user_networking_is_left_alone() {
        let kv = KeyValueConfig::parse(
            "memory: 64\nnet0: virtio=BC:24:11:00:00:01,bridge=blue,tag=5\nnet1: e1000\n",
        )
        .expect("kv");
        let nics = bridged_nics(&kv).expect("nics");
        assert_eq!(nics.len(), 1);
        assert_eq!((nics[0].0, nics[0].1.bridge.as_str()), (0, "blue"));
        assert_eq!(nics[0].1.tag, Some(5));
        let bad = KeyValueConfig::parse("net0: virtio,bridge=blue,tag=x\n").expect("kv");
        let e = bridged_nics(&bad).expect_err("bad tag");
        assert!(e.to_string().contains("net0"), "{e}");
    }
}
