//! Scheduled backup jobs on the wire (Proxmox's `/cluster/backup`): the body of an add or a change, and a listed job with its next run and recent runs.

use serde::{Deserialize, Serialize};

use crate::backup::DumpMode;

/// `POST /cluster/backup` (add) and `PUT /cluster/backup/{id}` (change: only what is given
/// changes; `delete` removes properties).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupJobRequest {
    /// The job id (add only; the path names it for a change): a letter, then letters,
    /// digits, `-`, `_` or `.`.
    #[serde(default)]
    pub id: Option<String>,
    /// When it runs, in systemd calendar syntax (`daily`, `mon..fri 02:30`, `*:0/15`).
    #[serde(default)]
    pub schedule: Option<String>,
    /// A `dir` storage with `content backup`.
    #[serde(default)]
    pub storage: Option<String>,
    /// snapshot (default), suspend or stop.
    #[serde(default)]
    pub mode: Option<DumpMode>,
    /// These guests (`100,101`); excludes `all` and `pool`.
    #[serde(default)]
    pub vmid: Option<String>,
    /// Every guest of the cluster.
    #[serde(default)]
    pub all: Option<bool>,
    /// With `all`: not these guests (`102,103`).
    #[serde(default)]
    pub exclude: Option<String>,
    /// The guests of this pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Retention applied after each run (`keep-last=3,keep-daily=7`).
    #[serde(default)]
    pub prune_backups: Option<String>,
    /// Run a point that was missed (no node could) once at the next check.
    #[serde(default)]
    pub repeat_missed: Option<bool>,
    /// Read at most this many KiB/s.
    #[serde(default)]
    pub bwlimit: Option<u64>,
    /// Whether the job runs (default on).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A free-text comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Change only: properties to remove (`exclude,prune-backups`).
    #[serde(default)]
    pub delete: Option<String>,
}

/// One run of a job for one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupJobRun {
    /// The guest.
    pub vmid: u32,
    /// The scheduled point it ran for (Unix seconds).
    pub point: i64,
    /// The node that ran it.
    pub node: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Unix seconds when it started.
    pub started: i64,
    /// Seconds it took.
    pub duration_secs: i64,
    /// The backup made (its volume id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volid: Option<String>,
    /// Bytes of the guest's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Why it failed (or a note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The task that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
}

/// A job of `GET /cluster/backup` and `GET /cluster/backup/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct BackupJobRow {
    /// The job id.
    pub id: String,
    /// Its calendar event.
    pub schedule: String,
    /// The backup storage.
    pub storage: String,
    /// snapshot, suspend or stop.
    pub mode: String,
    /// The guests by id (`100,101`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<String>,
    /// Every guest.
    #[serde(default)]
    pub all: bool,
    /// With `all`: the guests left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// The guests of this pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Retention after each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_backups: Option<String>,
    /// Whether missed points run once later.
    #[serde(default)]
    pub repeat_missed: bool,
    /// KiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bwlimit: Option<u64>,
    /// Whether the job runs.
    pub enabled: bool,
    /// A free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The next scheduled point (Unix seconds), when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<i64>,
    /// Recent runs of every guest, oldest first.
    #[serde(default)]
    pub runs: Vec<BackupJobRun>,
}
