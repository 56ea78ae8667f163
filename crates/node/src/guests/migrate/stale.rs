//! Migration locks whose operation cannot be running any more: after this daemon
//! restarted (its migrations died with it), or on a node known dead (cleared by the
//! leader). Clearing is a compare-and-swap on the locked version, so a handover still
//! in flight can no longer commit: the guest definitely stays where its config is.

use std::sync::Arc;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_core::NodeName;
use brigade_guest::{qemu, GuestLock};

use super::super::common::with_lock;
use super::super::locate::{self, Located};
use super::super::power::lock_of;
use crate::node::{ClusterRuntime, Node};

/// How long after start the daemon waits for quorum before looking at its locks.
pub const STALE_LOCK_QUORUM_WAIT: Duration = Duration::from_secs(120);
/// How often the leader looks for locks on dead nodes.
pub const DEAD_NODE_LOCK_INTERVAL: Duration = Duration::from_secs(5);
/// How often the start-up check polls for quorum.
const QUORUM_POLL: Duration = Duration::from_millis(250);

impl Node {
    /// Clears stale migration locks: this node's own once after start, and, on the
    /// leader, those of nodes dead for longer than node_timeout.
    pub(crate) fn spawn_stale_lock_cleanup(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let waited = std::time::Instant::now();
            while !rt.cfs.is_quorate() && waited.elapsed() < STALE_LOCK_QUORUM_WAIT {
                tokio::time::sleep(QUORUM_POLL).await;
            }
            let me = node.config.name.clone();
            node.clear_stale_locks_on(&rt, &me, "this node's daemon restarted")
                .await;
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(DEAD_NODE_LOCK_INTERVAL).await;
                // Judge liveness only once heartbeats had a full timeout to arrive.
                let settled = started.elapsed() > rt.members.node_timeout();
                if !settled || rt.cfs.status().leader != Some(rt.membership.node_id) {
                    continue;
                }
                for peer in rt.members.status() {
                    if peer.local || peer.alive {
                        continue;
                    }
                    let Ok(name) = peer.name.parse::<NodeName>() else {
                        continue;
                    };
                    node.clear_stale_locks_on(&rt, &name, "its node is dead")
                        .await;
                }
            }
        });
    }

    async fn clear_stale_locks_on(&self, rt: &ClusterRuntime, on: &NodeName, why: &str) {
        for (kind, vmid) in locate::guests_on(&rt.cfs, on) {
            if self.guests.tasks.running_for(vmid.get()) {
                continue;
            }
            let Ok(l) = locate::require(&rt.cfs, kind, vmid) else {
                continue;
            };
            if l.node != on.as_str() || lock_of(&l) != Some(GuestLock::Migrate) {
                continue;
            }
            self.clear_stale_lock(&l, why).await;
        }
    }

    async fn clear_stale_lock(&self, l: &Located, why: &str) {
        let Ok(text) = with_lock(&l.text, None) else {
            return;
        };
        let v = l.vmid.get();
        let here = l.node == self.config.name.as_str();
        match self
            .write_guest_config(&l.path, text, Some(l.version))
            .await
        {
            Ok(_) => {
                self.log_event(
                    "migrate",
                    format!(
                        "VM {v}: cleared the stale lock 'migrate' on {} ({why}); it stays there",
                        l.node
                    ),
                )
                .await;
                // A copy paused by a migration that never handed it over runs again.
                if here && l.kind == GuestKind::Qemu {
                    if let Ok(mut q) = qemu::monitor(&self.guests.run, v).await {
                        if q.status().await.is_ok_and(|s| s != "running") {
                            let _ = q.execute("cont", None).await;
                        }
                    }
                }
            }
            Err(e) => {
                // The config changed meanwhile: if it left this node, so must the guest.
                if here {
                    let gone = self
                        .cluster()
                        .and_then(|rt| locate::find(&rt.cfs, l.vmid))
                        .is_none_or(|x| x.node != self.config.name.as_str());
                    if gone {
                        let _ = self.kill_guest(l.kind, l.vmid).await;
                    }
                }
                tracing::debug!(vmid = v, "stale lock not cleared: {e}");
            }
        }
    }
}
