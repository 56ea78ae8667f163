//! VM NICs on bridges: the TAP `tap<vmid>i<n>` of each `netN: ...,bridge=X` is plugged into
//! bridge X in this node's guest namespace before QEMU starts (QEMU then runs in that
//! namespace and opens it), and removed when the VM stops here. NICs without `bridge=` keep
//! QEMU's user networking.

use std::collections::BTreeMap;

use brigade_core::key_value::KeyValueConfig;
use brigade_sdn::apply::Runner;
use brigade_sdn::command::Command;
use brigade_sdn::nic::{check_nic, parse_nic, KnownBridges, Nic};
use brigade_sdn::node_net::{node_network_path, parse_node_network};
use brigade_sdn::plug::{plug_commands, tap_name, unplug_command, BridgeInfo, HostDevice};

use crate::error::NodeError;
use crate::ha::config_io;
use crate::node::Node;

/// The TAPs QEMU opens (slot to device) and the namespace it must run in.
pub(crate) type Plugged = (BTreeMap<String, String>, Option<String>);

fn invalid(e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(e.to_string())
}

/// The index of a NIC key: `net3` → 3.
fn nic_index(key: &str) -> Option<u32> {
    key.strip_prefix("net")
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

/// Gives every NIC without a MAC the one it has always had at start
/// ([`brigade_guest::qemu::default_mac`]), written into the config so it is kept.
pub(crate) fn fill_macs(vmid: u32, kv: &mut KeyValueConfig) -> Result<(), NodeError> {
    let missing: Vec<(String, u32, String)> = kv
        .entries
        .iter()
        .filter_map(|(k, v)| nic_index(k).map(|i| (k.clone(), i, v.clone())))
        .filter(|(_, _, v)| !v.split(',').next().unwrap_or_default().contains('='))
        .collect();
    for (key, index, value) in missing {
        let mac = brigade_guest::qemu::default_mac(vmid, index);
        let new = match value.split_once(',') {
            Some((model, rest)) => format!("{model}={mac},{rest}"),
            None => format!("{value}={mac}"),
        };
        kv.set(&key, &new).map_err(NodeError::from)?;
    }
    Ok(())
}

/// Refuses a MAC of `mine` (VM `vmid`'s NICs: key, MAC) that another VM in `others` uses.
pub(crate) fn check_macs(
    vmid: u32,
    mine: &[(String, String)],
    others: &[(u32, brigade_guest::VmConfig)],
) -> Result<(), NodeError> {
    for (key, mac) in mine {
        for (other, cfg) in others.iter().filter(|(o, _)| *o != vmid) {
            if let Some(n) = cfg.nets.iter().find(|n| {
                n.mac
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            }) {
                return Err(NodeError::Invalid(format!(
                    "{key}: MAC {mac} is already used by {} of VM {other}",
                    n.slot
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
        if v.split(',').any(|p| p.starts_with("bridge=")) {
            out.push((index, parse_nic(k, v).map_err(invalid)?));
        }
    }
    Ok(out)
}

impl Node {
    fn nic_runner(&self) -> Runner {
        match &self.config.guest_netns {
            Some(ns) => Runner::netns(ns),
            None => Runner::host(),
        }
    }

    /// The bridges a NIC may name on `node`: its network.cfg and the running vnets there.
    pub(crate) fn known_bridges(&self, node: &str) -> Result<KnownBridges, NodeError> {
        let rt = self.require_cluster()?;
        let (text, _) = config_io::read(&rt.cfs, &node_network_path(node))?;
        let net = parse_node_network(&text).map_err(invalid)?;
        let sdn = match crate::sdn::running(&rt.cfs)? {
            Some(run) => run.config()?,
            None => brigade_sdn::config::SdnConfig::default(),
        };
        Ok(KnownBridges::of_node(node, &net, &sdn))
    }

    /// Checks the NICs of VM `vmid` living on `node` before its config is written: every
    /// NIC gets its MAC written in; a bridge= must be known there (network.cfg or a running
    /// vnet), a tag= needs a VLAN-aware bridge, and no other VM in the cluster may use the MAC.
    pub(crate) fn check_vm_nics(
        &self,
        node: &str,
        vmid: u32,
        kv: &mut KeyValueConfig,
    ) -> Result<(), NodeError> {
        fill_macs(vmid, kv)?;
        let nics = bridged_nics(kv)?;
        if !nics.is_empty() {
            let bridges = self.known_bridges(node)?;
            for (_, nic) in &nics {
                check_nic(nic, &bridges).map_err(invalid)?;
            }
        }
        let mine: Vec<(String, String)> = brigade_guest::VmConfig::from_kv(kv)?
            .nets
            .into_iter()
            .filter_map(|n| n.mac.map(|m| (n.slot, m)))
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let cfs = &self.require_cluster()?.cfs;
        let mut others = Vec::new();
        for dir in super::locate::node_dirs(cfs) {
            let Ok(name) = dir.parse() else { continue };
            for (kind, other) in super::locate::guests_on(cfs, &name) {
                if kind != brigade_core::layout::GuestKind::Qemu || other.get() == vmid {
                    continue;
                }
                if let Ok(l) = super::locate::require(cfs, kind, other) {
                    if let Ok(cfg) = brigade_guest::VmConfig::parse(&l.text) {
                        others.push((other.get(), cfg));
                    }
                }
            }
        }
        check_macs(vmid, &mine, &others)
    }

    /// Plugs the TAP of every bridged NIC of VM `vmid` (config `text`) into its bridge.
    pub(crate) async fn plug_vm_nics(&self, vmid: u32, text: &str) -> Result<Plugged, NodeError> {
        let kv = KeyValueConfig::parse(text).map_err(NodeError::from)?;
        let nics = bridged_nics(&kv)?;
        if nics.is_empty() {
            return Ok((BTreeMap::new(), None));
        }
        let bridges = self.known_bridges(self.config.name.as_str())?;
        let mut jobs = Vec::new();
        let mut taps = BTreeMap::new();
        for (index, nic) in &nics {
            check_nic(nic, &bridges).map_err(invalid)?;
            let dev = HostDevice::Tap {
                name: tap_name(vmid, *index),
            };
            let info = BridgeInfo {
                vlan_aware: bridges.0.get(&nic.bridge).copied().unwrap_or(false),
                mtu: None,
            };
            taps.insert(nic.key.clone(), dev.name().to_string());
            jobs.push((unplug_command(&dev), plug_commands(&dev, nic, info)));
        }
        let runner = self.nic_runner();
        tokio::task::spawn_blocking(move || {
            for (unplug, plug) in &jobs {
                // A TAP left by an earlier run of this VM here.
                let _ = runner.run(unplug);
                for c in plug {
                    runner.run(c)?;
                }
            }
            Ok::<_, brigade_sdn::SdnError>(())
        })
        .await
        .map_err(NodeError::internal)?
        .map_err(|e| NodeError::Upstream(format!("cannot plug the NICs of VM {vmid}: {e}")))?;
        Ok((taps, self.config.guest_netns.clone()))
    }

    /// Removes VM `vmid`'s TAPs on this node (after QEMU is gone).
    pub(crate) async fn unplug_vm_nics(&self, vmid: u32) {
        let runner = self.nic_runner();
        let prefix = format!("tap{vmid}i");
        let done = tokio::task::spawn_blocking(move || {
            let out = runner.run(&Command::ip(&["-o", "link", "show"]))?;
            for name in tap_names(&out, &prefix) {
                let dev = HostDevice::Tap { name };
                runner.run(&unplug_command(&dev))?;
            }
            Ok::<_, brigade_sdn::SdnError>(())
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(vmid, "cannot remove the TAPs: {e}");
        }
    }
}

/// The devices in `ip -o link show` output named `<prefix><digits>`.
fn tap_names(ip_o_link: &str, prefix: &str) -> Vec<String> {
    ip_o_link
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .filter(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nic_without_mac_gets_its_start_mac_written_in_and_duplicates_are_refused() {
        let mut kv = KeyValueConfig::parse(
            "net0: virtio,bridge=blue\nnet1: e1000\nnet2: virtio=BC:24:11:00:00:09\n",
        )
        .expect("kv");
        fill_macs(100, &mut kv).expect("fill");
        assert_eq!(kv.get("net0"), Some("virtio=BC:24:00:00:64:00,bridge=blue"));
        assert_eq!(kv.get("net1"), Some("e1000=BC:24:00:00:64:01"));
        assert_eq!(kv.get("net2"), Some("virtio=BC:24:11:00:00:09"));
        let other =
            brigade_guest::VmConfig::parse("net4: virtio=bc:24:11:00:00:09\n").expect("cfg");
        let mine = vec![("net2".to_string(), "BC:24:11:00:00:09".to_string())];
        let e = check_macs(100, &mine, &[(101, other.clone())]).expect_err("duplicate");
        assert!(
            e.to_string()
                .contains("net2: MAC BC:24:11:00:00:09 is already used by net4 of VM 101"),
            "{e}"
        );
        check_macs(100, &mine, &[(100, other)]).expect("its own old config is no conflict");
    }

    #[test]
    fn unknown_bridges_and_tags_on_plain_bridges_are_refused_naming_the_key() {
        let known = KnownBridges(BTreeMap::from([
            ("vmbr0".to_string(), true),
            ("blue".to_string(), false),
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
    }

    #[test]
    fn only_the_vms_own_taps_are_found() {
        let out = "1: lo: <LOOPBACK,UP> mtu 65536\n\
                   7: tap100i0: <BROADCAST> mtu 1500\n\
                   8: tap100i12: <BROADCAST> mtu 1500\n\
                   9: tap1000i0: <BROADCAST> mtu 1500\n\
                   10: veth100i0@if3: <BROADCAST> mtu 1500\n";
        assert_eq!(tap_names(out, "tap100i"), vec!["tap100i0", "tap100i12"]);
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
