//! Backups on the wire: `vzdump` (back a guest up as a task), the backup content of a
//! storage, `qmrestore`, verify and prune, and the internal request that runs each where it belongs.

use brigade_core::VmId;
use serde::{Deserialize, Serialize};

/// How a running guest is backed up, as vzdump's `--mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DumpMode {
    /// Live: the guest keeps running (a point in time by image fleecing).
    #[default]
    Snapshot,
    /// The guest is paused for the backup, then resumed.
    Suspend,
    /// The guest is stopped for the backup, then started again.
    Stop,
}

impl DumpMode {
    /// The mode's name (`snapshot`, `suspend`, `stop`).
    pub fn as_str(self) -> &'static str {
        match self {
            DumpMode::Snapshot => "snapshot",
            DumpMode::Suspend => "suspend",
            DumpMode::Stop => "stop",
        }
    }
}

/// `POST /nodes/{node}/vzdump`: back up one guest to a backup storage (a task, run on the
/// node that runs the guest).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VzdumpRequest {
    /// The guest to back up.
    pub vmid: u32,
    /// A `dir` storage with `content backup`.
    pub storage: String,
    /// snapshot (default), suspend or stop.
    #[serde(default)]
    pub mode: DumpMode,
    /// Read at most this many KiB/s.
    #[serde(default)]
    pub bwlimit: Option<u64>,
}

/// `POST /nodes/{node}/qmrestore`: restore a backup as VM `vmid` on that node (a task).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The VMID to restore as (the backed-up one or a new one).
    pub vmid: u32,
    /// The backup's volume id (`backups:backup/vm/100/2026-12-01T16:03:20Z`).
    pub archive: String,
    /// The storage for the disks (default: the one of the backed-up guest's first disk).
    #[serde(default)]
    pub storage: Option<String>,
    /// Overwrite an existing, stopped VM `vmid` on that node.
    #[serde(default)]
    pub force: bool,
}

/// `POST /nodes/{node}/storage/{storage}/verify`: re-read chunks and check their hashes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// One backup only (its volume id); default: all of the storage.
    #[serde(default)]
    pub volid: Option<String>,
}

/// `POST /nodes/{node}/storage/{storage}/prunebackups`: apply retention (keep-* as Proxmox).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PruneRequest {
    /// Only this guest's backups (default: every guest's).
    #[serde(default)]
    pub vmid: Option<u32>,
    /// Keep the newest N.
    #[serde(default)]
    pub keep_last: Option<u64>,
    /// Keep the newest of each of the last N hours.
    #[serde(default)]
    pub keep_hourly: Option<u64>,
    /// Keep the newest of each of the last N days.
    #[serde(default)]
    pub keep_daily: Option<u64>,
    /// Keep the newest of each of the last N ISO weeks.
    #[serde(default)]
    pub keep_weekly: Option<u64>,
    /// Keep the newest of each of the last N months.
    #[serde(default)]
    pub keep_monthly: Option<u64>,
    /// Keep the newest of each of the last N years.
    #[serde(default)]
    pub keep_yearly: Option<u64>,
    /// Only say what would be removed.
    #[serde(default)]
    pub dry_run: bool,
    /// Then remove the chunks no backup references any more (garbage collection).
    #[serde(default)]
    pub gc: bool,
}

impl PruneRequest {
    /// The options as Proxmox's `prune-backups` property string (`keep-last=3,keep-daily=7`).
    pub fn keep_string(&self) -> String {
        [
            ("keep-last", self.keep_last),
            ("keep-hourly", self.keep_hourly),
            ("keep-daily", self.keep_daily),
            ("keep-weekly", self.keep_weekly),
            ("keep-monthly", self.keep_monthly),
            ("keep-yearly", self.keep_yearly),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|n| format!("{k}={n}")))
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// What one disk of a backup holds and what backing it up read and wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupDisk {
    /// The config key (`scsi0`).
    pub slot: String,
    /// The disk's size in bytes.
    pub size: u64,
    /// `full` (every chunk read) or `incremental` (only what the dirty bitmap marked).
    pub read_mode: String,
    /// Bytes read from the disk.
    pub read_bytes: u64,
    /// Bytes of new chunks written to the store.
    pub written_bytes: u64,
    /// Bytes taken over from the previous backup without reading.
    pub reused_bytes: u64,
    /// SHA-256 of the whole image, when every chunk was read.
    pub sha256: Option<String>,
}

/// One backup on a storage (`GET /nodes/{node}/storage/{storage}/content?content=backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupContent {
    /// Its volume id (`backups:backup/vm/100/2026-12-01T16:03:20Z`).
    pub volid: String,
    /// Always `backup`.
    pub content: String,
    /// The guest backed up.
    pub vmid: u32,
    /// When (Unix seconds): the point in time the disks show.
    pub ctime: i64,
    /// Sum of the disks' sizes in bytes (what a restore writes).
    pub size: u64,
    /// snapshot, suspend or stop.
    pub mode: String,
    /// Seconds the backup took.
    pub duration_secs: i64,
    /// Each disk.
    pub disks: Vec<BackupDisk>,
}

/// `?content=backup` of `GET .../content` (the only content listed so far), and a guest filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// `backup` (the default; other contents are not listed here).
    #[serde(default)]
    pub content: Option<String>,
    /// Only this guest's backups.
    #[serde(default)]
    pub vmid: Option<u32>,
}

/// A damaged chunk and the backups that need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DamagedChunk {
    /// The chunk's SHA-256.
    pub digest: String,
    /// Missing, or what is wrong with its content.
    pub reason: String,
    /// Volume ids of the backups that reference it.
    pub backups: Vec<String>,
}

/// What verify found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyResult {
    /// The storage verified.
    pub storage: String,
    /// Backups checked.
    pub backups: usize,
    /// Distinct chunks re-read.
    pub chunks_checked: usize,
    /// Bytes re-read.
    pub bytes_checked: u64,
    /// Chunks missing or not matching their hash.
    pub damaged_chunks: Vec<DamagedChunk>,
    /// Backups whose manifest or index is unreadable, with why (`volid: reason`).
    pub damaged_backups: Vec<String>,
    /// Every backup with some damage (volume ids).
    pub affected: Vec<String>,
    /// No damage found.
    pub ok: bool,
}

/// One backup and what prune did (or would do) with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PruneEntry {
    /// Its volume id.
    pub volid: String,
    /// The guest.
    pub vmid: u32,
    /// When (Unix seconds).
    pub ctime: i64,
    /// `keep` or `remove`.
    pub mark: String,
}

/// What prune (and the garbage collection after it) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PruneResult {
    /// Every backup considered, newest first per guest.
    pub entries: Vec<PruneEntry>,
    /// Nothing was removed.
    pub dry_run: bool,
    /// Chunks the garbage collection removed (when asked).
    pub gc_removed_chunks: Option<usize>,
    /// Bytes it freed.
    pub gc_removed_bytes: Option<u64>,
}

/// A backup operation, run on the node that must do it (forwarded there over mTLS inside
/// a guest request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackupOp {
    /// Back up a guest of this node (a task).
    Run {
        /// The guest.
        vmid: VmId,
        /// The backup storage.
        storage: String,
        /// snapshot, suspend or stop.
        mode: DumpMode,
        /// KiB/s.
        #[serde(default)]
        bwlimit: Option<u64>,
    },
    /// The backups on a storage, as this node sees it.
    List {
        /// The backup storage.
        storage: String,
        /// Only this guest's.
        #[serde(default)]
        vmid: Option<u32>,
    },
    /// Restore a backup here (a task).
    Restore {
        /// The new guest's VMID.
        vmid: VmId,
        /// The backup's volume id.
        archive: String,
        /// The storage for its disks.
        #[serde(default)]
        storage: Option<String>,
        /// Overwrite an existing stopped VM.
        #[serde(default)]
        force: bool,
    },
    /// Verify a storage's backups (or one).
    Verify {
        /// The backup storage.
        storage: String,
        /// One backup only.
        #[serde(default)]
        volid: Option<String>,
    },
    /// Apply retention on a storage.
    Prune {
        /// The backup storage.
        storage: String,
        /// The options.
        request: PruneRequest,
    },
}

/// The volume id of a backup: `<storage>:backup/vm/<vmid>/<time>`.
pub fn backup_volid(storage: &str, vmid: u32, time: &str) -> String {
    format!("{storage}:backup/vm/{vmid}/{time}")
}

/// Splits a backup volume id into storage, VMID and time; None when it is not one.
pub fn parse_backup_volid(volid: &str) -> Option<(String, u32, String)> {
    let (storage, rest) = volid.split_once(':')?;
    let rest = rest.strip_prefix("backup/vm/")?;
    let (vmid, time) = rest.split_once('/')?;
    let ok = !storage.is_empty() && !time.is_empty() && !time.contains('/');
    ok.then(|| Some((storage.to_string(), vmid.parse().ok()?, time.to_string())))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volids_round_trip_and_bad_ones_are_refused() {
        let v = backup_volid("backups", 100, "2026-12-01T16:03:20Z");
        assert_eq!(v, "backups:backup/vm/100/2026-12-01T16:03:20Z");
        assert_eq!(
            parse_backup_volid(&v),
            Some(("backups".into(), 100, "2026-12-01T16:03:20Z".into()))
        );
        for bad in [
            "backups:vm/100/x",
            "backups:backup/vm/abc/x",
            ":backup/vm/1/x",
            "backups:backup/vm/1/",
            "backups:backup/vm/1/a/b",
            "nocolon",
        ] {
            assert_eq!(parse_backup_volid(bad), None, "{bad}");
        }
    }

    #[test]
    fn prune_options_become_a_property_string() {
        let r: PruneRequest =
            serde_json::from_str(r#"{"keep-last": 2, "keep-daily": 7}"#).expect("parses");
        assert_eq!(r.keep_string(), "keep-last=2,keep-daily=7");
        assert!(serde_json::from_str::<PruneRequest>(r#"{"keep-bogus": 1}"#).is_err());
    }
}
