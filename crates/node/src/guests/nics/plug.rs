//! Guest NICs on bridges. A VM's TAP `tap<vmid>i<n>` of each `netN: ...,bridge=X` is plugged
//! into bridge X in this node's guest namespace before QEMU starts (QEMU then runs in that
//! namespace and opens it); a container's veth pair `veth<vmid>i<n>` is made there with its
//! peer moved into the container's network namespace, named, addressed and up. Both get
//! the bridge's MTU (or the NIC's `mtu=`) and are removed when the guest stops here. NICs
//! without `bridge=` keep QEMU's user networking (VMs) or nothing (containers).

use std::collections::BTreeMap;

use brigade_core::key_value::KeyValueConfig;
use brigade_sdn::apply::Runner;
use brigade_sdn::command::Command;
use brigade_sdn::nic::{check_nic, KnownBridges, Nic};
use brigade_sdn::plug::{
    container_inside_commands, plug_commands, tap_name, unplug_command, veth_name, HostDevice,
};

use super::{bridged_nics, invalid};
use crate::error::NodeError;
use crate::node::Node;

/// The TAPs QEMU opens (slot to device) and the namespace it must run in.
pub(crate) type Plugged = (BTreeMap<String, String>, Option<String>);

/// One NIC's commands: the leftover device removed, then the plug in the guest namespace,
/// then what runs inside the container.
type Job = (Command, Vec<Command>, Vec<Command>);

impl Node {
    fn nic_runner(&self) -> Runner {
        match &self.config.guest_netns {
            Some(ns) => Runner::netns(ns),
            None => Runner::host(),
        }
    }

    /// The jobs plugging the bridged NICs of a guest config; `dev` names each NIC's device.
    fn nic_jobs(
        &self,
        text: &str,
        dev: impl Fn(u32, &Nic) -> HostDevice,
    ) -> Result<Vec<(Nic, HostDevice, Job)>, NodeError> {
        let kv = KeyValueConfig::parse(text).map_err(NodeError::from)?;
        let nics = bridged_nics(&kv)?;
        if nics.is_empty() {
            return Ok(Vec::new());
        }
        let bridges: KnownBridges = self.known_bridges(self.config.name.as_str())?;
        let mut jobs = Vec::new();
        for (index, nic) in nics {
            check_nic(&nic, &bridges).map_err(invalid)?;
            let d = dev(index, &nic);
            let info = bridges.info(&nic.bridge).unwrap_or_default();
            let job = (
                unplug_command(&d),
                plug_commands(&d, &nic, info),
                container_inside_commands(&nic),
            );
            jobs.push((nic, d, job));
        }
        Ok(jobs)
    }

    /// Runs the jobs of `guest`'s NICs: in the guest namespace, and inside the process
    /// `inside`'s namespace.
    async fn run_nic_jobs(
        &self,
        guest: &str,
        jobs: Vec<Job>,
        inside: Option<i32>,
    ) -> Result<(), NodeError> {
        let runner = self.nic_runner();
        tokio::task::spawn_blocking(move || {
            for (unplug, plug, in_guest) in &jobs {
                // A device left by an earlier run of this guest here.
                let _ = runner.run(unplug);
                for c in plug {
                    runner.run(c)?;
                }
                if let Some(pid) = inside {
                    let r = Runner::of_pid(pid);
                    for c in in_guest {
                        r.run(c)?;
                    }
                }
            }
            Ok::<_, brigade_sdn::SdnError>(())
        })
        .await
        .map_err(NodeError::internal)?
        .map_err(|e| NodeError::Upstream(format!("cannot plug the NICs of {guest}: {e}")))
    }

    /// Plugs the TAP of every bridged NIC of VM `vmid` (config `text`) into its bridge.
    pub(crate) async fn plug_vm_nics(&self, vmid: u32, text: &str) -> Result<Plugged, NodeError> {
        let jobs = self.nic_jobs(text, |index, _| HostDevice::Tap {
            name: tap_name(vmid, index),
        })?;
        if jobs.is_empty() {
            return Ok((BTreeMap::new(), None));
        }
        let taps = jobs
            .iter()
            .map(|(nic, dev, _)| (nic.key.clone(), dev.name().to_string()))
            .collect();
        let jobs = jobs.into_iter().map(|(_, _, j)| j).collect();
        self.run_nic_jobs(&format!("VM {vmid}"), jobs, None).await?;
        Ok((taps, self.config.guest_netns.clone()))
    }

    /// Gives running container `vmid` (its network namespace that of process `pid`) a veth
    /// on its bridge for every bridged NIC of its config `text`.
    pub(crate) async fn plug_ct_nics(
        &self,
        vmid: u32,
        text: &str,
        pid: i32,
    ) -> Result<(), NodeError> {
        let netns = format!("/proc/{pid}/ns/net");
        let jobs = self.nic_jobs(text, |index, nic| HostDevice::Veth {
            name: veth_name(vmid, index),
            // `ip link ... netns PID` moves the peer into that process's namespace.
            guest_netns: pid.to_string(),
            guest_name: nic.ct_name.clone().unwrap_or_else(|| format!("eth{index}")),
        })?;
        if jobs.is_empty() {
            return Ok(());
        }
        tracing::debug!(vmid, %netns, nics = jobs.len(), "plugging the container's NICs");
        let jobs = jobs.into_iter().map(|(_, _, j)| j).collect();
        self.run_nic_jobs(&format!("container {vmid}"), jobs, Some(pid))
            .await
    }

    /// Removes VM `vmid`'s TAPs on this node (after QEMU is gone).
    pub(crate) async fn unplug_vm_nics(&self, vmid: u32) {
        self.unplug_devices(vmid, "tap").await;
    }

    /// Removes container `vmid`'s host veths on this node (after it stopped: its namespace
    /// may take a moment to go and take the pairs with it).
    pub(crate) async fn unplug_ct_nics(&self, vmid: u32) {
        self.unplug_devices(vmid, "veth").await;
    }

    /// Removes the devices `<kind><vmid>i<n>` in the guest namespace.
    async fn unplug_devices(&self, vmid: u32, kind: &'static str) {
        let runner = self.nic_runner();
        let prefix = format!("{kind}{vmid}i");
        let done = tokio::task::spawn_blocking(move || {
            let out = runner.run(&Command::ip(&["-o", "link", "show"]))?;
            for name in device_names(&out, &prefix) {
                let dev = HostDevice::Tap { name };
                // Gone with the container's namespace meanwhile is fine.
                if let Err(e) = runner.run(&unplug_command(&dev)) {
                    if !e.to_string().contains("Cannot find device") {
                        return Err(e);
                    }
                }
            }
            Ok::<_, brigade_sdn::SdnError>(())
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(vmid, "cannot remove the guest's {kind} devices: {e}");
        }
    }
}

/// The devices in `ip -o link show` output named `<prefix><digits>`.
fn device_names(ip_o_link: &str, prefix: &str) -> Vec<String> {
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
    fn only_the_guests_own_devices_are_found() {
        let out = "1: lo: <LOOPBACK,UP> mtu 65536\n\
                   7: tap100i0: <BROADCAST> mtu 1500\n\
                   8: tap100i12: <BROADCAST> mtu 1500\n\
                   9: tap1000i0: <BROADCAST> mtu 1500\n\
                   10: veth100i0@if3: <BROADCAST> mtu 1500\n";
        assert_eq!(device_names(out, "tap100i"), vec!["tap100i0", "tap100i12"]);
        assert_eq!(device_names(out, "veth100i"), vec!["veth100i0"]);
    }
}
