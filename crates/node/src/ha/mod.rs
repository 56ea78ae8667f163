//! HA in the daemon: the LRM (lease renewal, commands, watchdog feeding) on every node,
//! the CRM on the Raft leader, both driving the pure state machines of crate `ha`.

pub mod config_io;
mod crm_loop;
mod lrm_loop;
pub mod ops;
pub mod watchdog;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use brigade_ha::{LrmMode, LrmResult, ServiceId};

use crate::node::{ClusterRuntime, Node};

/// The node's HA runtime state.
pub struct HaRuntime {
    /// The zero of the millisecond clock handed to the pure code.
    epoch: Instant,
    /// When each node's lease renewal was last applied here.
    renewals_seen: Mutex<BTreeMap<String, Instant>>,
    /// This node's LRM.
    lrm: Mutex<LrmState>,
    /// Services with a command being carried out (not started twice).
    busy: Mutex<BTreeSet<ServiceId>>,
}

#[derive(Default)]
struct LrmState {
    mode: LrmMode,
    seq: u64,
    /// When the last renewal that committed was sent (own monotonic clock).
    last_renew_sent: Option<Instant>,
    results: BTreeMap<ServiceId, LrmResult>,
    done: BTreeMap<ServiceId, (u64, bool)>,
    feed_seq: u64,
    /// The timing the LRM last read from the configuration.
    timing: brigade_ha::Timing,
}

impl Default for HaRuntime {
    fn default() -> Self {
        HaRuntime {
            epoch: Instant::now(),
            renewals_seen: Mutex::new(BTreeMap::new()),
            lrm: Mutex::new(LrmState::default()),
            busy: Mutex::new(BTreeSet::new()),
        }
    }
}

impl HaRuntime {
    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn lrm<R>(&self, f: impl FnOnce(&mut LrmState) -> R) -> R {
        f(&mut self.lrm.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Node {
    /// Starts the HA loops (not on a qdevice).
    pub(crate) fn spawn_ha(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        if self.config.qdevice {
            return;
        }
        if let Err(e) = watchdog::ensure_running(&self.guests.run) {
            tracing::warn!("cannot start the watchdog helper: {e}");
        }
        self.spawn_renewal_watcher(rt.clone());
        self.spawn_lrm(rt.clone());
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
                                .insert(name.to_string(), Instant::now());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Renewals may have been missed: count every node as renewed now
                        // (later expiry: the safe direction).
                        let now = Instant::now();
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

/// How long the migrate shutdown policy waits for HA guests to leave.
pub const SHUTDOWN_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Node {
    /// On a clean daemon stop: apply the shutdown policy to this node's HA guests.
    pub(crate) async fn ha_shutdown(&self) {
        use brigade_ha::config::ShutdownPolicy;
        let Some(rt) = self.cluster().cloned() else {
            return;
        };
        if self.config.qdevice {
            return;
        }
        let settings = config_io::settings(&rt.cfs);
        let t = settings.timing;
        let me = self.config.name.to_string();
        match settings.shutdown_policy {
            ShutdownPolicy::Freeze => {
                self.ha.lrm(|l| l.mode = LrmMode::Freeze);
                if self.renew_lease(&rt, t).await.is_some() {
                    // The CRM will see the freeze: the guests may keep running unwatched.
                    self.feed_watchdog(t, false);
                    tracing::info!("HA: guests frozen (left running) until the daemon returns");
                } else {
                    tracing::warn!("HA: could not record the freeze (no quorum): the watchdog fences as for a lost node");
                }
            }
            ShutdownPolicy::Failover | ShutdownPolicy::Migrate => {
                if settings.shutdown_policy == ShutdownPolicy::Migrate {
                    if let Err(e) = self.ha_maintenance_for_shutdown(&me, true).await {
                        tracing::warn!("HA: cannot drain this node: {e}");
                    }
                    let start = Instant::now();
                    while start.elapsed() < SHUTDOWN_DRAIN_TIMEOUT
                        && !self.running_ha_guests(&rt).is_empty()
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
                let killed = watchdog::kill_ha_guests(&self.guests.run);
                self.ha.lrm(|l| l.mode = LrmMode::Released);
                self.renew_lease(&rt, t).await;
                self.feed_watchdog(t, false);
                tracing::info!(?killed, "HA: guests released for recovery elsewhere");
            }
        }
    }

    fn running_ha_guests(&self, rt: &ClusterRuntime) -> Vec<u32> {
        let ha: BTreeSet<u32> = config_io::resources(&rt.cfs)
            .map(|(r, _)| r.resources.keys().map(|s| s.vmid.get()).collect())
            .unwrap_or_default();
        self.local_states()
            .into_iter()
            .filter(|s| ha.contains(&s.vmid))
            .map(|s| s.vmid)
            .collect()
    }
}
