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

/// The NICs of a config that name a bridge, with their index (`net3` → 3).
pub(crate) fn bridged_nics(kv: &KeyValueConfig) -> Result<Vec<(u32, Nic)>, NodeError> {
    let mut out = Vec::new();
    for (k, v) in &kv.entries {
        let Some(index) = k.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) else {
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
