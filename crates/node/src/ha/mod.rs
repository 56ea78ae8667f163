//! HA in the daemon: the LRM (lease renewal, commands, watchdog feeding) on every node,
//! the CRM on the Raft leader, both driving the pure state machines of crate `ha`.

pub(crate) mod cgroup;
pub mod clock;
pub mod config_io;
mod crm_loop;
mod lease_io;
mod lrm_loop;
pub mod ops;
mod proc_usage;
pub mod rules_io;
pub mod rules_ops;
mod shutdown;
pub mod usage_report;
mod usage_sampler;
mod wake;
pub mod watchdog;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use brigade_ha::lease::Lease;
use brigade_ha::{LrmMode, LrmResult, ServiceId};

use crate::node::{ClusterRuntime, Node};

/// The node's HA runtime state.
#[derive(Default)]
pub struct HaRuntime {
    /// When each node's lease renewal was last applied here (boot-clock ms).
    renewals_seen: Mutex<BTreeMap<String, u64>>,
    /// This node's LRM.
    lrm: Mutex<LrmState>,
    /// Services with a command being carried out (not started twice).
    busy: Mutex<BTreeSet<ServiceId>>,
    /// A clean stop began: the LRM carries out no further commands.
    stopping: AtomicBool,
}

#[derive(Default)]
struct LrmState {
    mode: LrmMode,
    seq: u64,
    /// This node's lease, on the boot clock.
    lease: Lease,
    results: BTreeMap<ServiceId, LrmResult>,
    done: BTreeMap<ServiceId, (u64, bool)>,
    feed_seq: u64,
    /// The timing the LRM last read from the configuration.
    timing: brigade_ha::Timing,
    /// The watchdog helper runs (HA guests are started only while it does).
    helper_ok: bool,
}

impl HaRuntime {
    fn lrm<R>(&self, f: impl FnOnce(&mut LrmState) -> R) -> R {
        f(&mut self.lrm.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

impl Node {
    /// When each node's last lease renewal was applied here (boot-clock ms).
    pub(crate) fn renewals_seen(&self) -> BTreeMap<String, u64> {
        self.ha
            .renewals_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the HA loops (not on a qdevice).
    pub(crate) fn spawn_ha(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        if self.config.qdevice {
            return;
        }
        self.restore_lease();
        self.supervise_helper();
        self.spawn_renewal_watcher(rt.clone());
        self.spawn_lrm(rt.clone());
        self.spawn_usage_sampler(rt.clone());
        self.spawn_crm(rt);
    }

    /// Records when each node's lrm_status write (its lease renewal) is applied here.
    fn spawn_renewal_watcher(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut changes = rt.cfs.subscribe();
            loop {
                match changes.recv().await {
                    Ok(c) => {
                        let p = c.path.trim_start_matches('/');
                        if let Some(name) = p
                            .strip_prefix("nodes/")
                            .and_then(|r| r.strip_suffix("/lrm_status"))
                        {
                            node.ha
                                .renewals_seen
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(name.to_string(), clock::boot_ms());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Renewals may have been missed: count every node as renewed now
                        // (later expiry: the safe direction).
                        let now = clock::boot_ms();
                        let mut seen = node
                            .ha
                            .renewals_seen
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        for t in seen.values_mut() {
                            *t = now;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}
