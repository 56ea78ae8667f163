//! The job runner every node starts: checks the jobs, claims due points of its own guests by
//! compare-and-swap, runs each claimed point as a `vzdump` task (renewing the claim), prunes,
//! and records the result in the guest's state and the cluster log.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use brigade_api::backup::{backup_volid, DumpMode};
use brigade_backup::job_state::{self, Action, Claim, Context, RunRecord};
use brigade_backup::{BackupJob, BackupMode, Selection};
use brigade_core::layout::GuestKind;
use brigade_core::{NodeName, VmId};
use chrono::{DateTime, Utc};

use super::state_io::read_state;
use super::{
    chrono_of, read_jobs, CLAIM_RENEW_INTERVAL, CLAIM_STALE, JOB_CHECK_INTERVAL, JOB_SLACK,
};
use crate::backup::{node_error, BACKUP_TASK};
use crate::error::NodeError;
use crate::node::{ClusterRuntime, Node};

/// (job, vmid) pairs this node is running now.
type Running = Arc<Mutex<BTreeSet<(String, u32)>>>;

fn lock(r: &Running) -> std::sync::MutexGuard<'_, BTreeSet<(String, u32)>> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A job's mode as the backup code's.
pub(crate) fn dump_mode(m: BackupMode) -> DumpMode {
    match m {
        BackupMode::Snapshot => DumpMode::Snapshot,
        BackupMode::Suspend => DumpMode::Suspend,
        BackupMode::Stop => DumpMode::Stop,
    }
}

/// What one finished run reports.
struct Outcome {
    volid: String,
    size: u64,
    pruned: usize,
}

impl Node {
    /// Starts the job runner (every node; it acts only while quorate).
    pub(crate) fn spawn_backup_jobs(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        let running: Running = Arc::default();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(JOB_CHECK_INTERVAL);
            let mut last_error = String::new();
            loop {
                tick.tick().await;
                if !rt.cfs.is_quorate() {
                    continue;
                }
                if let Err(e) = node.check_jobs(&rt, &running).await {
                    let e = e.to_string();
                    if e != last_error {
                        tracing::warn!("backup jobs: {e}");
                        last_error = e;
                    }
                } else {
                    last_error.clear();
                }
            }
        });
    }

    /// Whether `job` backs up `vmid`.
    pub(crate) fn selects(&self, job: &BackupJob, vmid: VmId) -> bool {
        match &job.selection {
            Selection::Vmids(ids) => ids.contains(&vmid.get()),
            Selection::All { exclude } => !exclude.contains(&vmid.get()),
            Selection::Pool(p) => crate::access_admin::store::read_user_cfg(self)
                .ok()
                .is_some_and(|cfg| {
                    cfg.pools
                        .iter()
                        .any(|(id, pool)| id.to_string() == *p && pool.vms.contains(&vmid))
                }),
        }
    }

    /// The VMs of `job` whose configs this node holds.
    fn local_job_guests(&self, rt: &ClusterRuntime, job: &BackupJob) -> Vec<VmId> {
        let Ok(me) = self.config.name.as_str().parse::<NodeName>() else {
            return Vec::new();
        };
        crate::guests::guests_on(&rt.cfs, &me)
            .into_iter()
            .filter(|(k, v)| *k == GuestKind::Qemu && self.selects(job, *v))
            .map(|(_, v)| v)
            .collect()
    }

    /// One check of every enabled job.
    async fn check_jobs(
        self: &Arc<Self>,
        rt: &Arc<ClusterRuntime>,
        running: &Running,
    ) -> Result<(), NodeError> {
        let (jobs, _, _) = read_jobs(&rt.cfs)?;
        for job in jobs.into_iter().filter(|j| j.enabled) {
            let event = job.calendar().map_err(node_error("backup job"))?;
            for vmid in self.local_job_guests(rt, &job) {
                let key = (job.id.clone(), vmid.get());
                let here = lock(running).contains(&key);
                let (state, version) = read_state(&rt.cfs, &job.id, vmid.get())?;
                let cx = Context {
                    event: &event,
                    now: Utc::now(),
                    repeat_missed: job.repeat_missed,
                    slack: chrono_of(JOB_SLACK),
                    me: self.config.name.as_str(),
                    running_here: here,
                    stale_after: chrono_of(CLAIM_STALE),
                };
                match job_state::decide(state.as_ref(), &cx) {
                    Action::Wait(_) | Action::Busy(_) => {}
                    Action::Write(s) => {
                        self.write_job_state(&job.id, vmid.get(), &s, version)
                            .await?;
                    }
                    Action::Run {
                        point,
                        state: claimed,
                        took_over,
                    } => {
                        let prev = state.unwrap_or_default();
                        if let Some(c) = took_over {
                            if self.finished_before(&job, vmid, &c, &prev, version).await? {
                                continue;
                            }
                        }
                        if self.guest_locked(vmid) {
                            continue;
                        }
                        if !self
                            .write_job_state(&job.id, vmid.get(), &claimed, version)
                            .await?
                        {
                            continue;
                        }
                        lock(running).insert(key.clone());
                        let me = self.clone();
                        let running = running.clone();
                        let job = job.clone();
                        tokio::spawn(async move {
                            me.run_job_point(&job, vmid, point).await;
                            lock(&running).remove(&key);
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the guest's config is locked (a migration, a restore): its point waits.
    fn guest_locked(&self, vmid: VmId) -> bool {
        self.local_guest(GuestKind::Qemu, vmid)
            .map(|l| crate::guests::config_lock(&l.text).is_some())
            .unwrap_or(true)
    }

    /// A stale claim whose node finished the backup but could not record it: records it
    /// (true) instead of running the point again.
    async fn finished_before(
        &self,
        job: &BackupJob,
        vmid: VmId,
        claim: &Claim,
        prev: &job_state::GuestJobState,
        version: u64,
    ) -> Result<bool, NodeError> {
        let Ok(ds) = self.backup_store(&job.storage) else {
            return Ok(false);
        };
        let latest = ds.latest(vmid.get()).ok().flatten();
        let Some(snap) = latest.filter(|s| job_state::finished_by(claim, s.time)) else {
            return Ok(false);
        };
        let rec = RunRecord {
            point: claim.point,
            node: claim.node.clone(),
            ok: true,
            started: claim.since,
            duration_secs: snap.time.timestamp() - claim.since,
            volid: Some(backup_volid(&job.storage, vmid.get(), &snap.time_string())),
            size: None,
            error: Some(format!(
                "recorded by {} after {} stopped renewing its claim",
                self.config.name, claim.node
            )),
            upid: None,
        };
        self.write_job_state(&job.id, vmid.get(), &job_state::finish(prev, rec), version)
            .await?;
        Ok(true)
    }

    /// Runs one claimed point as a task, renewing the claim, then records the result.
    async fn run_job_point(self: &Arc<Self>, job: &BackupJob, vmid: VmId, point: DateTime<Utc>) {
        let started = Utc::now();
        let t0 = Instant::now();
        let task = match self.guests.tasks.begin(
            BACKUP_TASK,
            &vmid.to_string(),
            crate::tasks::caller::ROOT_USER,
            &format!(
                "backup job {}: VM {vmid} to storage {} (mode {}), scheduled {}",
                job.id,
                job.storage,
                job.mode,
                point.to_rfc3339()
            ),
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("backup job {}: cannot start a task: {e}", job.id);
                None
            }
        };
        let out = match &task {
            Some(task) => {
                let work = self.job_backup(task, job, vmid);
                tokio::pin!(work);
                let mut renew = tokio::time::interval(CLAIM_RENEW_INTERVAL);
                loop {
                    tokio::select! {
                        r = &mut work => break r,
                        _ = renew.tick() => self.renew_claim(job, vmid, point).await,
                    }
                }
            }
            None => Err(NodeError::internal("the task could not start")),
        };
        let secs = t0.elapsed().as_secs();
        let name = self.config.name.to_string();
        let rec = RunRecord {
            point: point.timestamp(),
            node: name.clone(),
            ok: out.is_ok(),
            started: started.timestamp(),
            duration_secs: i64::try_from(secs).unwrap_or(i64::MAX),
            volid: out.as_ref().ok().map(|o| o.volid.clone()),
            size: out.as_ref().ok().map(|o| o.size),
            error: out.as_ref().err().map(ToString::to_string),
            upid: task.as_ref().map(|t| t.upid().to_string()),
        };
        let msg = match &out {
            Ok(o) => format!(
                "backup job {}: VM {vmid} OK on {name}: {} ({} bytes) in {secs} s{}",
                job.id,
                o.volid,
                o.size,
                if o.pruned > 0 {
                    format!(", pruned {}", o.pruned)
                } else {
                    String::new()
                }
            ),
            Err(e) => format!(
                "backup job {}: VM {vmid} FAILED on {name} after {secs} s: {e}",
                job.id
            ),
        };
        if let Some(task) = &task {
            task.log(&msg);
            task.finish(out.as_ref().map(|_| ()));
        }
        self.log_event("backup", msg).await;
        self.record_run(job, vmid, rec).await;
    }

    /// The backup and the job's prune, under the task.
    async fn job_backup(
        self: &Arc<Self>,
        task: &crate::tasks::TaskHandle,
        job: &BackupJob,
        vmid: VmId,
    ) -> Result<Outcome, NodeError> {
        let ds = self.backup_store(&job.storage)?;
        let kind = brigade_core::layout::GuestKind::Qemu;
        self.take_backup_lock(kind, vmid).await?;
        let (abort, watcher) = super::super::lock::abort_on_stop(task);
        let report = self
            .run_backup(
                task,
                &ds,
                &job.storage,
                vmid,
                dump_mode(job.mode),
                job.bwlimit_kib,
                &abort,
            )
            .await;
        watcher.abort();
        self.unlock_after_backup(task, kind, vmid).await;
        let report = report?;
        let volid = backup_volid(&job.storage, vmid.get(), &report.snapshot.time_string());
        task.log(format!("archive {volid}"));
        let mut pruned = 0;
        if let Some(keep) = job.prune.filter(brigade_backup::KeepOptions::limits) {
            let ds = ds.clone();
            let marks = tokio::task::spawn_blocking(move || {
                brigade_backup::prune::prune_guest(&ds, vmid.get(), &keep, false)
            })
            .await
            .map_err(NodeError::failed("prune worker"))?
            .map_err(node_error("prune after the backup failed"))?;
            pruned = marks
                .iter()
                .filter(|(_, m)| *m == brigade_backup::PruneMark::Remove)
                .count();
            task.log(format!(
                "prune-backups {}: removed {pruned} backup(s)",
                brigade_backup::jobs_cfg_write::keep_text(&keep)
            ));
        }
        Ok(Outcome {
            volid,
            size: report.manifest.disks.iter().map(|d| d.size).sum(),
            pruned,
        })
    }

    /// Renews this node's claim of `point` (a taken-over claim is left alone and logged).
    async fn renew_claim(&self, job: &BackupJob, vmid: VmId, point: DateTime<Utc>) {
        let Some(rt) = self.cluster() else { return };
        let Ok((Some(state), version)) = read_state(&rt.cfs, &job.id, vmid.get()) else {
            return;
        };
        let renewed = job_state::renew(
            &state,
            self.config.name.as_str(),
            point.timestamp(),
            Utc::now(),
        );
        let Some(s) = renewed else {
            tracing::warn!(
                "backup job {}: the claim of VM {vmid} for {point} was taken over",
                job.id
            );
            return;
        };
        if let Err(e) = self.write_job_state(&job.id, vmid.get(), &s, version).await {
            tracing::warn!(
                "backup job {}: cannot renew the claim of VM {vmid}: {e}",
                job.id
            );
        }
    }

    /// Records a run in the guest's state (a few attempts against concurrent writes).
    async fn record_run(&self, job: &BackupJob, vmid: VmId, rec: RunRecord) {
        const ATTEMPTS: usize = 5;
        let Some(rt) = self.cluster() else { return };
        for _ in 0..ATTEMPTS {
            let Ok((state, version)) = read_state(&rt.cfs, &job.id, vmid.get()) else {
                continue;
            };
            let next = job_state::finish(&state.unwrap_or_default(), rec.clone());
            match self
                .write_job_state(&job.id, vmid.get(), &next, version)
                .await
            {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        "backup job {}: cannot record the run of VM {vmid}: {e}",
                        job.id
                    );
                    return;
                }
            }
        }
    }
}
