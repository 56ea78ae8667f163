//! Migration locks whose operation cannot be running any more: after this daemon
//! restarted (its migrations died with it), or on a node known dead (cleared by the
//! leader). Clearing is a compare-and-swap on the locked version, so a handover still
//! in flight can no longer commit: the guest definitely stays where its config is.

use std::sync::Arc;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_core::{poll_until, NodeName};
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
            // It goes on after the wait, quorate or not.
            let deadline = std::time::Instant::now() + STALE_LOCK_QUORUM_WAIT;
            let _ = poll_until(deadline, QUORUM_POLL, || {
                std::future::ready(rt.cfs.is_quorate())
            })
            .await;
            let me = node.config.name.clone();
            node.clear_stale_locks_on(&rt, &me, "this node's daemon restarted")
                .await;
            node.reconcile_paused_guests(&rt).await;
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

    /// After a restart: a QEMU left paused by an operation of the previous run. A
    /// migration source whose config stayed here (unlocked: no handover can commit any
    /// more) runs again; one whose config left dies; a start that never got past its
    /// last check (`prelaunch`) dies, for whoever asked to retry it.
    async fn reconcile_paused_guests(&self, rt: &ClusterRuntime) {
        if rt.cfs.read_index().await.is_err() {
            return;
        }
        let arriving = self.guests.run.incoming_vmids();
        for g in self.local_states() {
            if g.kind != GuestKind::Qemu || arriving.contains(&g.vmid) {
                continue;
            }
            let Ok(vmid) = brigade_core::VmId::try_from(g.vmid) else {
                continue;
            };
            let status = match qemu::monitor(&self.guests.run, g.vmid).await {
                Ok(mut q) => q.status().await.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(vmid = g.vmid, "no QMP monitor: {e}");
                    continue;
                }
            };
            tracing::debug!(vmid = g.vmid, %status, "a guest left by the previous run");
            let loc = locate::find(&rt.cfs, vmid);
            let here = loc
                .as_ref()
                .is_some_and(|l| l.node == self.config.name.as_str());
            let locked = loc.as_ref().and_then(lock_of).is_some();
            let what = match status.as_str() {
                "postmigrate" | "finish-migrate" if here && !locked => {
                    match qemu::resume(&self.guests.run, g.vmid).await {
                        Ok(()) => {
                            "resumed it: its migration was abandoned and its config stayed here"
                        }
                        Err(_) => continue,
                    }
                }
                "postmigrate" | "finish-migrate" if !here => {
                    let _ = self.kill_guest(GuestKind::Qemu, vmid).await;
                    "stopped this stale copy: the guest was handed over elsewhere"
                }
                "prelaunch" => {
                    let _ = self.kill_guest(GuestKind::Qemu, vmid).await;
                    "stopped it: its start was interrupted before the guest ran"
                }
                _ => continue,
            };
            self.log_event(
                "guest",
                format!(
                    "{}: VM {} was left {status} by the previous run; {what}",
                    self.config.name, g.vmid
                ),
            )
            .await;
        }
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
                if here && l.kind == GuestKind::Qemu && self.guest_pid(l.kind, v).is_some() {
                    match qemu::monitor(&self.guests.run, v).await {
                        Ok(mut q) => match q.status().await {
                            Ok(s) if s != "running" => {
                                if let Err(e) = q.execute("cont", None).await {
                                    tracing::warn!(vmid = v, "cannot resume ({s}): {e}");
                                }
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(vmid = v, "no QMP status: {e}"),
                        },
                        Err(e) => tracing::warn!(vmid = v, "no QMP monitor: {e}"),
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
