//! A clean daemon stop under the HA shutdown policy: stop the LRM first, let commands
//! under way finish, then freeze (leave the guests running, recorded) or kill and wait
//! for every HA guest to exit before releasing them for recovery elsewhere.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_ha::config::{RequestState, ShutdownPolicy};
use brigade_ha::{LrmMode, ServiceId};

use super::config_io;
use super::lease_io::FENCE_EXIT_TIMEOUT;
use super::watchdog;
use crate::node::{ClusterRuntime, Node};

/// How long the migrate shutdown policy waits for HA guests to leave.
pub const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long HA commands under way (a start, a migration) may take to finish on stop.
pub const COMMAND_FINISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the shutdown checks the drain and the commands.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

impl Node {
    /// On a clean daemon stop: apply the shutdown policy to this node's HA guests.
    pub(crate) async fn ha_shutdown(&self) {
        let Some(rt) = self.cluster().cloned() else {
            return;
        };
        if self.config.qdevice {
            return;
        }
        let settings = config_io::settings(&rt.cfs);
        let t = settings.timing;
        let me = self.config.name.to_string();
        let ha = ha_set(&rt);
        if settings.shutdown_policy == ShutdownPolicy::Migrate {
            // The LRM keeps running while the CRM moves the guests away.
            if let Err(e) = self.ha_maintenance_for_shutdown(&me, true).await {
                tracing::warn!("HA: cannot drain this node: {e}");
            }
            let drained = Instant::now() + SHUTDOWN_DRAIN_TIMEOUT;
            let _ = poll_until(drained, SHUTDOWN_POLL, || {
                std::future::ready(self.running_of(&ha).is_empty())
            })
            .await;
        }
        // From here on the LRM carries out nothing: no start can race the policy.
        self.ha.stopping.store(true, Ordering::SeqCst);
        let finished = Instant::now() + COMMAND_FINISH_TIMEOUT;
        let _ = poll_until(finished, SHUTDOWN_POLL, || {
            std::future::ready(!self.ha_commands_running())
        })
        .await;
        match settings.shutdown_policy {
            ShutdownPolicy::Freeze => {
                self.ha.lrm(|l| l.mode = LrmMode::Freeze);
                let running = self.running_of(&ha);
                if self.renew_lease(&rt, t, &ha, &running).await.is_some() {
                    // The CRM will see the freeze: the guests may keep running unwatched.
                    self.disarm_watchdog();
                    tracing::info!("HA: guests frozen (left running) until the daemon returns");
                } else {
                    tracing::warn!("HA: could not record the freeze (no quorum): the watchdog fences as for a lost node");
                }
            }
            ShutdownPolicy::Failover | ShutdownPolicy::Migrate => {
                let (killed, stuck) =
                    watchdog::kill_ha_guests_and_wait(&self.guests.run, FENCE_EXIT_TIMEOUT).await;
                crate::faults::pause_or(&self.config.state_dir(), "ha.shutdown.after-kill").await;
                if !stuck.is_empty() {
                    // Releasing would let the CRM start them elsewhere while they live.
                    tracing::error!(
                        ?stuck,
                        "HA: guests did not exit after SIGKILL; not releasing them (the watchdog stays armed)"
                    );
                    return;
                }
                self.ha.lrm(|l| l.mode = LrmMode::Released);
                if self
                    .renew_lease(&rt, t, &ha, &BTreeSet::new())
                    .await
                    .is_some()
                {
                    self.disarm_watchdog();
                }
                tracing::info!(?killed, "HA: guests released for recovery elsewhere");
            }
        }
    }
}

/// What HA manages, by this node's replica.
fn ha_set(rt: &ClusterRuntime) -> BTreeSet<ServiceId> {
    config_io::resources(&rt.cfs)
        .map(|(r, _)| {
            r.resources
                .values()
                .filter(|x| x.state != RequestState::Ignored)
                .map(|x| x.sid)
                .collect()
        })
        .unwrap_or_default()
}
