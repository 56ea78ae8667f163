//! The guests whose processes run in a run directory (QEMU and containers).

use brigade_core::layout::GuestKind;
use serde::{Deserialize, Serialize};

use crate::rundir::RunDir;
use crate::{container, qemu};

/// A guest process running here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningGuest {
    pub vmid: u32,
    #[serde(rename = "type")]
    pub kind: GuestKind,
    pub pid: i32,
}

/// Every guest with a live process in `run`: VMs first, then containers, by VMID.
pub fn running_guests(run: &RunDir) -> Vec<RunningGuest> {
    let vms = run.qemu_vmids().into_iter().filter_map(|vmid| {
        qemu::running_pid(run, vmid).map(|pid| RunningGuest {
            vmid,
            kind: GuestKind::Qemu,
            pid,
        })
    });
    let cts = run.ct_vmids().into_iter().filter_map(|vmid| {
        container::running_pid(run, vmid).map(|pid| RunningGuest {
            vmid,
            kind: GuestKind::Lxc,
            pid,
        })
    });
    vms.chain(cts).collect()
}
