//! Guests on this node: the operations of `vm` and `ct`, run where the guest lives and
//! forwarded there from any node; storages; migration and its tunnel.

mod common;
mod config_ops;
mod create;
mod dispatch;
mod forward;
mod locate;
pub mod migrate;
mod nics;
mod power;
mod resources;
mod storage;
mod tunnel;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use brigade_guest::{AccelChoice, RunDir};

pub use crate::tasks::Tasks;
#[cfg(test)]
pub(crate) use common::{check_unlocked, stop_refused_by};
pub(crate) use common::{config_lock, with_lock, without_lock};
pub(crate) use config_ops::volumes as guest_volumes;
pub use forward::{CATCH_UP_TIMEOUT, GUEST_FORWARD_TIMEOUT, MIN_VERSION_HEADER};
pub use locate::{
    find as find_guest, first_free_vmid, guests_on, node_dirs as locate_node_dirs, noun,
    require as locate_require, used_vmids, Located,
};
pub(crate) use nics::{bridged_nics, bridges_of, running_sdn};
pub(crate) use power::lock_in;
pub use resources::LocalState;
pub use tunnel::tunnel_handler;

/// The node's guest runtime state.
pub struct Guests {
    pub run: RunDir,
    /// The accelerator, decided on the first start.
    accel: tokio::sync::OnceCell<AccelChoice>,
    /// One operation at a time per guest on this node.
    op_locks: Mutex<HashMap<u32, Arc<tokio::sync::Mutex<()>>>>,
    pub tasks: Tasks,
    /// When each guest was started here (uptime).
    started: Mutex<HashMap<u32, Instant>>,
}

impl Guests {
    pub fn open(run: RunDir, tasks: Tasks) -> Guests {
        Guests {
            run,
            accel: tokio::sync::OnceCell::new(),
            op_locks: Mutex::new(HashMap::new()),
            tasks,
            started: Mutex::new(HashMap::new()),
        }
    }

    /// The per-guest operation lock.
    pub(crate) fn op_lock(&self, vmid: u32) -> Arc<tokio::sync::Mutex<()>> {
        self.op_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(vmid)
            .or_default()
            .clone()
    }

    pub(crate) fn mark_started(&self, vmid: u32) {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(vmid, Instant::now());
    }

    pub(crate) fn uptime_secs(&self, vmid: u32) -> Option<u64> {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&vmid)
            .map(|t| t.elapsed().as_secs())
    }
}
