//! Backup jobs behind the API (`/cluster/backup`): list with next runs, show with recent runs,
//! add, change and remove (validated, each key named in errors), and run now.

use std::sync::Arc;

use brigade_access::Authid;
use brigade_api::backup::BackupOp;
use brigade_api::backup_jobs::{BackupJobRequest, BackupJobRow, BackupJobRun};
use brigade_api::guests::GuestRequest;
use brigade_backup::jobs_cfg_write::{keep_text, replace_section, to_section, vmid_list};
use brigade_backup::{BackupJob, BackupMode, CalendarEvent, KeepOptions, Selection};
use brigade_core::VmId;
use chrono::Utc;
use serde_json::Value;

use super::runner::dump_mode;
use super::state_io::job_states;
use super::{read_jobs, JOBS_CFG};
use crate::error::NodeError;
use crate::node::Node;

fn invalid(key: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(format!("{key}: {e}"))
}

/// A job as the API lists it.
fn row(job: &BackupJob, with_runs: Option<&brigade_cfs::Cfs>) -> BackupJobRow {
    let (vmid, all, exclude, pool) = match &job.selection {
        Selection::Vmids(v) => (Some(vmid_list(v)), false, None, None),
        Selection::All { exclude } => (
            None,
            true,
            (!exclude.is_empty()).then(|| vmid_list(exclude)),
            None,
        ),
        Selection::Pool(p) => (None, false, None, Some(p.clone())),
    };
    let next_run = job
        .enabled
        .then(|| job.calendar().ok()?.next_after(&Utc::now()))
        .flatten()
        .map(|t| t.timestamp());
    let mut runs: Vec<BackupJobRun> = with_runs
        .map(|cfs| job_states(cfs, &job.id))
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(vmid, s)| {
            s.runs.into_iter().map(move |r| BackupJobRun {
                vmid,
                point: r.point,
                node: r.node,
                ok: r.ok,
                started: r.started,
                duration_secs: r.duration_secs,
                volid: r.volid,
                size: r.size,
                error: r.error,
                upid: r.upid,
            })
        })
        .collect();
    runs.sort_by_key(|r| (r.point, r.vmid));
    BackupJobRow {
        id: job.id.clone(),
        schedule: job.schedule.clone(),
        storage: job.storage.clone(),
        mode: job.mode.to_string(),
        vmid,
        all,
        exclude,
        pool,
        prune_backups: job.prune.as_ref().map(keep_text),
        repeat_missed: job.repeat_missed,
        bwlimit: job.bwlimit_kib,
        enabled: job.enabled,
        comment: job
            .extra
            .iter()
            .find(|(k, _)| k == "comment")
            .map(|(_, v)| v.clone()),
        next_run,
        runs,
    }
}

fn vmids(key: &str, v: &str) -> Result<Vec<u32>, NodeError> {
    let mut out = Vec::new();
    for p in v.split([',', ' ']).filter(|p| !p.is_empty()) {
        let id = VmId::try_from(
            p.parse::<u32>()
                .map_err(|_| invalid(key, format!("{p:?} is not a VMID")))?,
        )
        .map_err(|e| invalid(key, e))?;
        if !out.contains(&id.get()) {
            out.push(id.get());
        }
    }
    if out.is_empty() {
        return Err(invalid(key, "empty list"));
    }
    Ok(out)
}

impl Node {
    pub fn backup_jobs_list(&self) -> Result<Vec<BackupJobRow>, NodeError> {
        let rt = self.require_cluster()?;
        let (jobs, _, _) = read_jobs(&rt.cfs)?;
        Ok(jobs.iter().map(|j| row(j, None)).collect())
    }

    pub fn backup_job_show(&self, id: &str) -> Result<BackupJobRow, NodeError> {
        let rt = self.require_cluster()?;
        let (jobs, _, _) = read_jobs(&rt.cfs)?;
        let job = jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| not_found(id))?;
        Ok(row(job, Some(&rt.cfs)))
    }

    /// `req` applied on top of `old` (a change) or on nothing (an add), validated.
    fn build_job(
        &self,
        id: &str,
        old: Option<&BackupJob>,
        req: &BackupJobRequest,
    ) -> Result<BackupJob, NodeError> {
        let deleted: Vec<&str> = req
            .delete
            .as_deref()
            .unwrap_or("")
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .collect();
        if old.is_none() && !deleted.is_empty() {
            return Err(invalid("delete", "only a change removes properties"));
        }
        for d in &deleted {
            if ![
                "exclude",
                "prune-backups",
                "bwlimit",
                "comment",
                "repeat-missed",
            ]
            .contains(d)
            {
                return Err(invalid("delete", format!("{d:?} cannot be removed (exclude, prune-backups, bwlimit, comment, repeat-missed)")));
            }
        }
        let gone = |k: &str| deleted.contains(&k);
        let schedule = match (&req.schedule, old) {
            (Some(s), _) => {
                CalendarEvent::parse(s).map_err(|e| invalid("schedule", e))?;
                s.clone()
            }
            (None, Some(o)) => o.schedule.clone(),
            (None, None) => {
                return Err(invalid(
                    "schedule",
                    "required (e.g. daily, 'mon..fri 02:30', '*:0/15')",
                ))
            }
        };
        let storage = match (&req.storage, old) {
            (Some(s), _) => s.clone(),
            (None, Some(o)) => o.storage.clone(),
            (None, None) => {
                return Err(invalid(
                    "storage",
                    "required: a dir storage with content backup",
                ))
            }
        };
        if req.storage.is_some() {
            let (cfg, _) = self.storage_cfg()?;
            let s = cfg.get(&storage).map_err(|_| {
                invalid(
                    "storage",
                    format!("storage {storage:?} does not exist (see 'brigade storage list')"),
                )
            })?;
            if !s.content.iter().any(|c| c == "backup") {
                return Err(invalid(
                    "storage",
                    format!("storage {storage:?} has no content backup"),
                ));
            }
        }
        let mut selection = old.map(|o| o.selection.clone());
        let picks = [
            req.vmid.is_some(),
            req.all == Some(true),
            req.pool.is_some(),
        ];
        if picks.iter().filter(|p| **p).count() > 1 {
            return Err(invalid("vmid", "vmid, all and pool exclude each other"));
        }
        if let Some(v) = &req.vmid {
            selection = Some(Selection::Vmids(vmids("vmid", v)?));
        } else if req.all == Some(true) {
            selection = Some(Selection::All {
                exclude: Vec::new(),
            });
        } else if let Some(p) = &req.pool {
            if p.is_empty() {
                return Err(invalid("pool", "empty"));
            }
            selection = Some(Selection::Pool(p.clone()));
        }
        let mut selection =
            selection.ok_or_else(|| invalid("vmid", "required: --vmid, --all or --pool"))?;
        if let Some(e) = &req.exclude {
            match &mut selection {
                Selection::All { exclude } => *exclude = vmids("exclude", e)?,
                _ => return Err(invalid("exclude", "needs all")),
            }
        } else if gone("exclude") {
            if let Selection::All { exclude } = &mut selection {
                exclude.clear();
            }
        }
        let prune = match &req.prune_backups {
            Some(p) => Some(KeepOptions::parse(p).map_err(|e| invalid("prune-backups", e))?),
            None if gone("prune-backups") => None,
            None => old.and_then(|o| o.prune),
        };
        let mut extra = old.map(|o| o.extra.clone()).unwrap_or_default();
        if req.comment.is_some() || gone("comment") {
            extra.retain(|(k, _)| k != "comment");
        }
        if let Some(c) = req.comment.as_ref().filter(|c| !c.is_empty()) {
            if c.contains('\n') {
                return Err(invalid("comment", "one line only"));
            }
            extra.push(("comment".into(), c.clone()));
        }
        let job = BackupJob {
            id: id.to_string(),
            schedule,
            storage,
            mode: match req.mode {
                Some(m) => m.as_str().parse().map_err(|e| invalid("mode", e))?,
                None => old.map_or(BackupMode::Snapshot, |o| o.mode),
            },
            selection,
            prune,
            repeat_missed: req
                .repeat_missed
                .unwrap_or(!gone("repeat-missed") && old.is_some_and(|o| o.repeat_missed)),
            bwlimit_kib: match req.bwlimit {
                Some(b) => Some(b).filter(|b| *b > 0),
                None if gone("bwlimit") => None,
                None => old.and_then(|o| o.bwlimit_kib),
            },
            enabled: req.enabled.unwrap_or(old.is_none_or(|o| o.enabled)),
            extra,
            line: 0,
        };
        // The section must read back as itself (job id and the rest, as the runner reads it).
        brigade_backup::jobs_cfg::parse(&to_section(&job))
            .map_err(|e| NodeError::Invalid(e.to_string().replace("jobs.cfg line ", "line ")))?;
        Ok(job)
    }

    async fn write_jobs(&self, text: String, version: u64) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        rt.cfs
            .propose(crate::ha::rules_io::write_op(JOBS_CFG, text, version)?)
            .await?;
        Ok(())
    }

    pub async fn backup_job_add(&self, req: BackupJobRequest) -> Result<BackupJobRow, NodeError> {
        let rt = self.require_cluster()?;
        let id = req
            .id
            .clone()
            .ok_or_else(|| invalid("id", "required: the new job's id"))?;
        let (jobs, text, version) = read_jobs(&rt.cfs)?;
        if jobs.iter().any(|j| j.id == id) {
            return Err(NodeError::Conflict(format!(
                "backup job {id:?} already exists"
            )));
        }
        let job = self.build_job(&id, None, &req)?;
        self.write_jobs(
            replace_section(&text, &id, Some(&to_section(&job))),
            version,
        )
        .await?;
        self.log_event(
            "backup",
            format!("backup job {id} added ({})", job.schedule),
        )
        .await;
        Ok(row(&job, None))
    }

    pub async fn backup_job_set(
        &self,
        id: &str,
        req: BackupJobRequest,
    ) -> Result<BackupJobRow, NodeError> {
        let rt = self.require_cluster()?;
        if req.id.as_deref().is_some_and(|r| r != id) {
            return Err(invalid(
                "id",
                "a job's id cannot change (remove it and add a new one)",
            ));
        }
        let (jobs, text, version) = read_jobs(&rt.cfs)?;
        let old = jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| not_found(id))?;
        let job = self.build_job(id, Some(old), &req)?;
        self.write_jobs(replace_section(&text, id, Some(&to_section(&job))), version)
            .await?;
        self.log_event("backup", format!("backup job {id} changed"))
            .await;
        Ok(row(&job, None))
    }

    pub async fn backup_job_remove(&self, id: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let (jobs, text, version) = read_jobs(&rt.cfs)?;
        if !jobs.iter().any(|j| j.id == id) {
            return Err(not_found(id));
        }
        self.write_jobs(replace_section(&text, id, None), version)
            .await?;
        if let Ok(p) = crate::node::cfs_path(&format!("{}/{id}", super::JOBS_STATE_DIR)) {
            let _ = rt
                .cfs
                .propose(brigade_cfs::Op::Delete {
                    path: p,
                    expect_version: None,
                    recursive: true,
                })
                .await;
        }
        self.log_event("backup", format!("backup job {id} removed"))
            .await;
        Ok(())
    }

    /// Runs the job now for each of its guests (a vzdump task on each guest's node, outside
    /// the schedule: the scheduled points are not affected).
    pub async fn backup_job_run_now(
        self: &Arc<Self>,
        caller: &Authid,
        id: &str,
    ) -> Result<Vec<Value>, NodeError> {
        let rt = self.require_cluster()?;
        let (jobs, _, _) = read_jobs(&rt.cfs)?;
        let job = jobs
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(|| not_found(id))?;
        let mut started = Vec::new();
        for node in crate::guests::locate_node_dirs(&rt.cfs) {
            let Ok(name) = node.parse::<brigade_core::NodeName>() else {
                continue;
            };
            for (kind, vmid) in crate::guests::guests_on(&rt.cfs, &name) {
                if kind != brigade_core::layout::GuestKind::Qemu || !self.selects(&job, vmid) {
                    continue;
                }
                let op = BackupOp::Run {
                    vmid,
                    storage: job.storage.clone(),
                    mode: dump_mode(job.mode),
                    bwlimit: job.bwlimit_kib,
                };
                started.push(
                    self.guest_on_as(caller, &node, GuestRequest::Backup { backup: op })
                        .await?,
                );
            }
        }
        Ok(started)
    }
}

fn not_found(id: &str) -> NodeError {
    NodeError::NotFound(format!(
        "backup job {id:?} does not exist (see 'brigade backup job list')"
    ))
}
