//! The LRM in the daemon: renews this node's lease through Raft each round and carries
//! out the CRM's commands for this node, acting only on a view at least as new as its
//! renewal, and starting guests only while the lease, quorum and the watchdog hold.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use brigade_core::layout::{self, GuestKind};
use brigade_ha::config::RequestState;
use brigade_ha::lrm::{self, LrmCommand, LrmInput};
use brigade_ha::{LrmResult, ServiceId, Timing};

use super::config_io;
use crate::error::NodeError;
use crate::node::{ClusterRuntime, Node};
use crate::tasks::TaskHandle;

/// How often a running migration task is polled by the LRM.
const TASK_POLL: Duration = Duration::from_millis(200);
/// The shortest LRM round, however often the manager status changes.
const LRM_MIN_ROUND: Duration = Duration::from_millis(50);

impl Node {
    pub(super) fn spawn_lrm(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        self.spawn_fence_guard();
        let node = self.clone();
        tokio::spawn(async move {
            let mut changes = rt.cfs.subscribe();
            loop {
                let started = tokio::time::Instant::now();
                let timing = config_io::settings(&rt.cfs).timing;
                node.ha.lrm(|l| l.timing = timing);
                if node.ha.stopping() {
                    return;
                }
                node.lrm_tick(&rt, timing).await;
                // A new manager status (a guest assigned here) starts the next round at once.
                super::wake::sleep_or_change(
                    &mut changes,
                    Duration::from_millis(timing.renew_ms),
                    |p| p == layout::HA_MANAGER_STATUS,
                )
                .await;
                tokio::time::sleep_until(started + LRM_MIN_ROUND).await;
            }
        });
    }

    fn record(&self, sid: ServiceId, uid: u64, outcome: Result<(), NodeError>) {
        let ok = outcome.is_ok();
        if let Err(e) = &outcome {
            tracing::warn!(%sid, "HA command failed: {e}");
        }
        self.ha.lrm(|l| {
            l.done.insert(sid, (uid, ok));
            l.results.insert(
                sid,
                LrmResult {
                    uid,
                    ok,
                    message: outcome.err().map(|e| e.to_string()).unwrap_or_default(),
                },
            );
        });
    }

    /// The HA guests whose processes run here, of `set`.
    pub(super) fn running_of(&self, set: &BTreeSet<ServiceId>) -> BTreeSet<ServiceId> {
        self.local_states()
            .into_iter()
            .filter_map(|s| {
                let sid = ServiceId {
                    kind: s.kind,
                    vmid: brigade_core::VmId::try_from(s.vmid).ok()?,
                };
                set.contains(&sid).then_some(sid)
            })
            .collect()
    }

    async fn lrm_tick(self: &Arc<Self>, rt: &Arc<ClusterRuntime>, t: Timing) {
        let Ok((resources, _)) = config_io::resources(&rt.cfs) else {
            return;
        };
        // What HA manages by this replica (ignored services are left alone).
        let ha: BTreeSet<ServiceId> = resources
            .resources
            .values()
            .filter(|r| r.state != RequestState::Ignored)
            .map(|r| r.sid)
            .collect();
        let promised = self.ha.lrm(|l| l.lease.covers().clone());
        if ha.is_empty() && promised.is_empty() {
            // No HA here: nothing to renew, nothing for the watchdog to kill (written
            // only when it was not empty already: an idle node writes nothing).
            let path = self.guests.run.ha_vmids();
            if std::fs::read(&path).map_or(true, |b| !b.is_empty()) {
                let _ = brigade_guest::RunDir::write_atomic(&path, "");
            }
            return;
        }
        let fence_set: BTreeSet<ServiceId> = ha.union(&promised).copied().collect();
        let running_ha = self.running_of(&ha);
        let renewed_at = self.renew_lease(rt, t, &ha, &running_ha).await;
        let lease_valid = self.lease_valid();
        // Act only on a view at least as new as the renewal: a node catching up after
        // a partition must not act on the assignments it had before.
        let current = renewed_at.is_some_and(|v| rt.cfs.version() >= v);
        if lease_valid && !current {
            return;
        }
        if self.ha.stopping() {
            return;
        }
        // Back from a shutdown that drained this node: take its guests again.
        if lease_valid {
            let me = self.config.name.to_string();
            let (text, _) = config_io::read(&rt.cfs, config_io::HA_MAINTENANCE).unwrap_or_default();
            if text.lines().any(|l| l.trim() == format!("{me} shutdown")) {
                let _ = self.ha_maintenance_for_shutdown(&me, false).await;
            }
        }
        let (manager, _) = config_io::manager_status(&rt.cfs);
        let running = self.running_of(&fence_set);
        // The configs in this node's own directories (no need to read the others).
        let here: BTreeSet<ServiceId> = crate::guests::guests_on(&rt.cfs, &self.config.name)
            .into_iter()
            .map(|(kind, vmid)| ServiceId { kind, vmid })
            .collect();
        let done = self.ha.lrm(|l| l.done.clone());
        let may_start = current && self.may_start_ha(rt).is_ok();
        let cmds = lrm::step(&LrmInput {
            node: self.config.name.as_str(),
            lease_valid,
            quorate: may_start,
            manager: &manager,
            running: &running,
            configs_here: &here,
            done: &done,
        });
        for c in cmds {
            if self.ha.stopping() {
                return;
            }
            self.execute(c, t).await;
        }
    }

    async fn execute(self: &Arc<Self>, c: LrmCommand, t: Timing) {
        match c {
            LrmCommand::FenceAll => {
                self.self_fence(t).await;
            }
            LrmCommand::Ack { sid, uid } => self.record(sid, uid, Ok(())),
            LrmCommand::KillStray { sid } => {
                let r = self.kill_guest(sid.kind, sid.vmid).await;
                self.log_event(
                    "ha",
                    match r {
                        Ok(()) => format!(
                            "{}: killed {sid}: it belongs to another node",
                            self.config.name
                        ),
                        Err(e) => format!(
                            "{}: {sid} belongs to another node but could not be killed: {e}",
                            self.config.name
                        ),
                    },
                )
                .await;
            }
            LrmCommand::Stop { sid, uid } => {
                let me = self.clone();
                let (_, r) = self
                    .guests
                    .tasks
                    .run(
                        "hastop",
                        &sid.vmid.to_string(),
                        &format!("HA: stopping {sid}"),
                        move |_| async move { me.kill_guest(sid.kind, sid.vmid).await },
                    )
                    .await;
                self.record(sid, uid, r);
            }
            LrmCommand::Start { sid, uid } => self.spawn_command(sid, uid, Action::Start),
            LrmCommand::Migrate { sid, target, uid } => {
                self.spawn_command(sid, uid, Action::Migrate(target));
            }
            LrmCommand::Relocate { sid, target, uid } => {
                self.spawn_command(sid, uid, Action::Relocate(target));
            }
        }
    }

    /// Runs a longer command in its own task, once per service at a time.
    fn spawn_command(self: &Arc<Self>, sid: ServiceId, uid: u64, action: Action) {
        {
            let mut busy = self.ha.busy.lock().unwrap_or_else(|p| p.into_inner());
            if !busy.insert(sid) {
                return;
            }
        }
        let node = self.clone();
        tokio::spawn(async move {
            let (kind, first) = match &action {
                Action::Start => ("hastart", format!("HA: starting {sid}")),
                Action::Migrate(t) => ("hamigrate", format!("HA: migrating {sid} to {t}")),
                Action::Relocate(t) => ("harelocate", format!("HA: relocating {sid} to {t}")),
            };
            let me = node.clone();
            let (_, outcome) = node
                .guests
                .tasks
                .run(
                    kind,
                    &sid.vmid.to_string(),
                    &first,
                    move |task| async move { me.run_action(sid, action, &task).await },
                )
                .await;
            node.record(sid, uid, outcome);
            node.ha
                .busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&sid);
        });
    }

    /// Whether an HA command is still being carried out here.
    pub(super) fn ha_commands_running(&self) -> bool {
        !self
            .ha
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    async fn run_action(
        self: &Arc<Self>,
        sid: ServiceId,
        action: Action,
        task: &TaskHandle,
    ) -> Result<(), NodeError> {
        match action {
            Action::Start => {
                let rt = self.require_cluster()?.clone();
                // Checked now, right before the spawn, and again before the guest runs.
                self.may_start_ha(&rt)?;
                if self.ha.stopping() {
                    return Err(NodeError::Unavailable("the daemon is stopping".into()));
                }
                let l = self.local_guest(sid.kind, sid.vmid)?;
                let gate = || {
                    self.may_start_ha(&rt)
                        .map_err(|e| brigade_guest::GuestError::Refused(e.to_string()))
                };
                self.start_guest(&l, &gate).await?;
                self.log_event("ha", format!("{}: started {sid}", self.config.name))
                    .await;
                Ok(())
            }
            Action::Migrate(target) => {
                let online = sid.kind == GuestKind::Qemu
                    && self.guest_pid(sid.kind, sid.vmid.get()).is_some();
                self.migrate_and_wait(sid, &target, online, task).await
            }
            Action::Relocate(target) => {
                self.kill_guest(sid.kind, sid.vmid).await?;
                task.log(format!("stopped {sid} for the relocation"));
                self.migrate_and_wait(sid, &target, false, task).await
            }
        }
    }

    async fn migrate_and_wait(
        self: &Arc<Self>,
        sid: ServiceId,
        target: &str,
        online: bool,
        ha_task: &TaskHandle,
    ) -> Result<(), NodeError> {
        let task = self
            .start_migration(sid.kind, sid.vmid, target, online)
            .await?;
        ha_task.log(format!("migration task {}", task.upid));
        loop {
            tokio::time::sleep(TASK_POLL).await;
            match self.guests.tasks.status(&task.upid).ok() {
                Some(s) if s.status == "running" => {}
                Some(s) if s.status == "ok" => {
                    if let Some(d) = s.result.and_then(|r| r.downtime_ms) {
                        ha_task.log(format!("migration downtime: {d} ms"));
                    }
                    self.log_event(
                        "ha",
                        format!(
                            "{}: moved {sid} to {target}{}",
                            self.config.name,
                            if online { " (live)" } else { "" }
                        ),
                    )
                    .await;
                    return Ok(());
                }
                Some(s) => {
                    return Err(NodeError::Upstream(
                        s.error.unwrap_or_else(|| "migration failed".into()),
                    ))
                }
                None => return Err(NodeError::internal("the migration task vanished")),
            }
        }
    }
}

enum Action {
    Start,
    Migrate(String),
    Relocate(String),
}
