//! The LRM in the daemon: renews this node's lease through Raft, feeds the watchdog
//! while the lease is valid, and carries out the CRM's commands for this node.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_cfs::Op;
use brigade_core::layout::GuestKind;
use brigade_guest::RunDir;
use brigade_ha::lrm::{self, LrmCommand, LrmInput};
use brigade_ha::{LrmResult, LrmStatus, ServiceId, Timing};

use super::config_io;
use super::watchdog::{kill_ha_guests, Feed};
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often a running migration task is polled by the LRM.
const TASK_POLL: Duration = Duration::from_millis(200);
/// How often the fence guard checks the lease (independent of slow renewals).
const FENCE_GUARD_INTERVAL: Duration = Duration::from_millis(100);

impl Node {
    pub(super) fn spawn_lrm(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        // The fence guard: the moment the lease lapses, HA guests die, however long a
        // renewal or a command takes.
        let guard = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FENCE_GUARD_INTERVAL).await;
                // The timing the LRM last read (no config parsing ten times a second).
                let (had_lease, t) = guard.ha.lrm(|l| (l.last_renew_sent.is_some(), l.timing));
                if had_lease && !guard.lease_valid(t) {
                    guard.self_fence(t).await;
                }
            }
        });
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let timing = config_io::settings(&rt.cfs).timing;
                node.ha.lrm(|l| l.timing = timing);
                node.lrm_tick(&rt, timing).await;
                tokio::time::sleep(Duration::from_millis(timing.renew_ms)).await;
            }
        });
    }

    /// The lease lapsed: kill this node's HA guests at once, and say so.
    async fn self_fence(&self, t: Timing) {
        let killed = kill_ha_guests(&self.guests.run);
        if !killed.is_empty() {
            self.log_event(
                "ha-fence",
                format!(
                    "{}: no lease renewal committed for {} ms: self-fenced, killed HA guests {killed:?}",
                    self.config.name, t.fence_timeout_ms
                ),
            )
            .await;
        }
    }

    /// Whether this node's lease is valid now.
    pub(crate) fn lease_valid(&self, t: Timing) -> bool {
        self.ha.lrm(|l| {
            l.last_renew_sent
                .is_some_and(|s| s.elapsed() < Duration::from_millis(t.fence_timeout_ms))
        })
    }

    /// Writes lrm_status; a committed write renews the lease from when it was sent.
    /// Returns the cluster version the renewal committed at.
    pub(crate) async fn renew_lease(&self, rt: &ClusterRuntime, t: Timing) -> Option<u64> {
        let sent = Instant::now();
        let status = self.ha.lrm(|l| {
            l.seq += 1;
            LrmStatus {
                mode: l.mode,
                seq: l.seq,
                results: l.results.clone(),
            }
        });
        let Ok(path) = cfs_path(&format!("nodes/{}/lrm_status", self.config.name)) else {
            return None;
        };
        let data = serde_json::to_vec(&status).unwrap_or_default();
        let write = rt.cfs.propose(Op::Write {
            path,
            data,
            expect_version: None,
            create_exclusive: false,
        });
        // A renewal slower than this does not count here (if it commits anyway, the
        // leader's view is later than ours: the safe direction).
        let limit = Duration::from_millis(t.renew_ms.max(500));
        match tokio::time::timeout(limit, write).await.unwrap_or(Err(
            brigade_cfs::CfsError::Timeout {
                secs: limit.as_secs(),
            },
        )) {
            Ok(applied) => {
                self.ha.lrm(|l| l.last_renew_sent = Some(sent));
                Some(applied.version)
            }
            Err(e) => {
                tracing::debug!("lease renewal failed: {e}");
                None
            }
        }
    }

    /// Tells the watchdog when to fire (the lease's deadline), or to stand down.
    pub(crate) fn feed_watchdog(&self, t: Timing, armed: bool) {
        let feed = self.ha.lrm(|l| {
            l.feed_seq += 1;
            let remaining = l
                .last_renew_sent
                .map(|s| {
                    t.fence_timeout_ms
                        .saturating_sub(s.elapsed().as_millis() as u64)
                })
                .unwrap_or(0);
            if armed {
                Feed::Armed {
                    seq: l.feed_seq,
                    remaining_ms: remaining,
                }
            } else {
                Feed::Disarmed { seq: l.feed_seq }
            }
        });
        if let Err(e) = RunDir::write_atomic(&self.guests.run.watchdog_feed(), &feed.to_line()) {
            tracing::warn!("cannot feed the watchdog: {e}");
        }
    }

    fn record(&self, sid: ServiceId, uid: u64, outcome: Result<(), String>) {
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
                    message: outcome.err().unwrap_or_default(),
                },
            );
        });
    }

    async fn lrm_tick(self: &Arc<Self>, rt: &Arc<ClusterRuntime>, t: Timing) {
        let Ok((resources, _)) = config_io::resources(&rt.cfs) else {
            return;
        };
        if resources.resources.is_empty() {
            // No HA in this cluster: nothing to renew, nothing for the watchdog to kill.
            let _ = RunDir::write_atomic(&self.guests.run.ha_vmids(), "");
            return;
        }
        let renewed_at = self.renew_lease(rt, t).await;
        let lease_valid = self.lease_valid(t);
        // Act only on a view at least as new as the renewal: a node catching up after
        // a partition must not act on the assignments it had before.
        let current = renewed_at.is_some_and(|v| rt.cfs.version() >= v);
        if lease_valid && !current {
            self.feed_watchdog(t, true);
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
        let ha: BTreeSet<ServiceId> = resources
            .resources
            .values()
            .filter(|r| r.state != brigade_ha::config::RequestState::Ignored)
            .map(|r| r.sid)
            .collect();
        let ids: String = ha.iter().map(|s| format!("{}\n", s.vmid)).collect();
        let _ = RunDir::write_atomic(&self.guests.run.ha_vmids(), &ids);
        if lease_valid {
            self.feed_watchdog(t, true);
        }
        let (manager, _) = config_io::manager_status(&rt.cfs);
        let running: BTreeSet<ServiceId> = self
            .local_states()
            .into_iter()
            .filter_map(|s| {
                let sid = ServiceId {
                    kind: s.kind,
                    vmid: brigade_core::VmId::try_from(s.vmid).ok()?,
                };
                ha.contains(&sid).then_some(sid)
            })
            .collect();
        // The configs in this node's own directories (no need to read the others).
        let here: BTreeSet<ServiceId> = crate::guests::guests_on(&rt.cfs, &self.config.name)
            .into_iter()
            .map(|(kind, vmid)| ServiceId { kind, vmid })
            .collect();
        let done = self.ha.lrm(|l| l.done.clone());
        let cmds = lrm::step(&LrmInput {
            node: self.config.name.as_str(),
            lease_valid,
            manager: &manager,
            running: &running,
            configs_here: &here,
            done: &done,
        });
        for c in cmds {
            self.execute(c, t).await;
        }
    }

    async fn execute(self: &Arc<Self>, c: LrmCommand, t: Timing) {
        match c {
            LrmCommand::FenceAll => self.self_fence(t).await,
            LrmCommand::Ack { sid, uid } => self.record(sid, uid, Ok(())),
            LrmCommand::KillStray { sid } => {
                let _ = self.kill_guest(sid.kind, sid.vmid).await;
                self.log_event(
                    "ha",
                    format!(
                        "{}: killed {sid}: it belongs to another node",
                        self.config.name
                    ),
                )
                .await;
            }
            LrmCommand::Stop { sid, uid } => {
                let r = self
                    .kill_guest(sid.kind, sid.vmid)
                    .await
                    .map_err(|e| e.to_string());
                self.record(sid, uid, r);
            }
            LrmCommand::Start { sid, uid } => self.spawn_command(sid, uid, t, Action::Start),
            LrmCommand::Migrate { sid, target, uid } => {
                self.spawn_command(sid, uid, t, Action::Migrate(target))
            }
            LrmCommand::Relocate { sid, target, uid } => {
                self.spawn_command(sid, uid, t, Action::Relocate(target))
            }
        }
    }

    /// Runs a longer command in its own task, once per service at a time.
    fn spawn_command(self: &Arc<Self>, sid: ServiceId, uid: u64, t: Timing, action: Action) {
        {
            let mut busy = self.ha.busy.lock().unwrap_or_else(|p| p.into_inner());
            if !busy.insert(sid) {
                return;
            }
        }
        let node = self.clone();
        tokio::spawn(async move {
            let outcome = node.run_action(sid, t, action).await;
            node.record(sid, uid, outcome);
            node.ha
                .busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&sid);
        });
    }

    async fn run_action(
        self: &Arc<Self>,
        sid: ServiceId,
        t: Timing,
        action: Action,
    ) -> Result<(), String> {
        match action {
            Action::Start => {
                // Never start without a valid lease, checked at the last moment.
                if !self.lease_valid(t) {
                    return Err("lease not valid".into());
                }
                let l = self
                    .local_guest(sid.kind, sid.vmid)
                    .map_err(|e| e.to_string())?;
                self.start_guest(&l).await.map_err(|e| e.to_string())?;
                self.log_event("ha", format!("{}: started {sid}", self.config.name))
                    .await;
                Ok(())
            }
            Action::Migrate(target) => {
                let online = sid.kind == GuestKind::Qemu
                    && self.guest_pid(sid.kind, sid.vmid.get()).is_some();
                self.migrate_and_wait(sid, &target, online).await
            }
            Action::Relocate(target) => {
                self.kill_guest(sid.kind, sid.vmid)
                    .await
                    .map_err(|e| e.to_string())?;
                self.migrate_and_wait(sid, &target, false).await
            }
        }
    }

    async fn migrate_and_wait(
        self: &Arc<Self>,
        sid: ServiceId,
        target: &str,
        online: bool,
    ) -> Result<(), String> {
        let task = self
            .start_migration(sid.kind, sid.vmid, target, online)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            tokio::time::sleep(TASK_POLL).await;
            match self.guests.tasks.get(&task.upid) {
                Some(s) if s.status == "running" => continue,
                Some(s) if s.status == "ok" => {
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
                Some(s) => return Err(s.error.unwrap_or_else(|| "migration failed".into())),
                None => return Err("the migration task vanished".into()),
            }
        }
    }
}

enum Action {
    Start,
    Migrate(String),
    Relocate(String),
}
