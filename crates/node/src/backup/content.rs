//! The backups of a storage as the API shows them (volume ids, sizes, figures), verify and prune, thin over brigade-backup.

use brigade_api::backup::{
    backup_volid, parse_backup_volid, BackupContent, BackupDisk, DamagedChunk, PruneEntry,
    PruneRequest, PruneResult, VerifyResult,
};
use brigade_backup::datastore::parse_time;
use brigade_backup::manifest::ReadMode;
use brigade_backup::{Datastore, KeepOptions, PruneMark, SnapshotId};

use super::node_error;
use crate::error::NodeError;
use crate::node::Node;

/// Splits a backup volume id (`backups:backup/vm/100/2026-12-01T16:03:20Z`) into storage,
/// VMID and snapshot time; anything else is refused with the expected form.
pub(crate) fn parse_volid(volid: &str) -> Result<(String, u32, String), NodeError> {
    parse_backup_volid(volid).ok_or_else(|| {
        NodeError::Invalid(format!(
            "{volid:?} is not a backup volume id (STORAGE:backup/vm/VMID/TIME, see 'brigade backup list')"
        ))
    })
}

/// The snapshot a backup volume id names, which must be in `ds`.
pub(crate) fn snapshot_of(ds: &Datastore, volid: &str) -> Result<SnapshotId, NodeError> {
    let (_, vmid, time) = parse_volid(volid)?;
    let time = parse_time(&time)
        .ok_or_else(|| NodeError::Invalid(format!("{volid:?}: bad time {time:?}")))?;
    let id = SnapshotId { vmid, time };
    if !ds
        .snapshots(vmid)
        .map_err(node_error("cannot list backups"))?
        .contains(&id)
    {
        return Err(NodeError::NotFound(format!(
            "backup {volid} does not exist"
        )));
    }
    Ok(id)
}

/// A snapshot as a content row.
pub(crate) fn content_row(
    ds: &Datastore,
    storage: &str,
    id: &SnapshotId,
) -> Result<BackupContent, NodeError> {
    let m = ds
        .manifest(id)
        .map_err(node_error("cannot read a backup"))?;
    Ok(BackupContent {
        volid: backup_volid(storage, id.vmid, &id.time_string()),
        content: "backup".into(),
        vmid: id.vmid,
        ctime: id.time.timestamp(),
        size: m.disks.iter().map(|d| d.size).sum(),
        mode: m.mode.to_string(),
        duration_secs: m.finished - m.started,
        disks: m
            .disks
            .iter()
            .map(|d| BackupDisk {
                slot: d.slot.clone(),
                size: d.size,
                read_mode: match d.read_mode {
                    ReadMode::Full => "full".into(),
                    ReadMode::Incremental => "incremental".into(),
                },
                read_bytes: d.read_bytes,
                written_bytes: d.written_bytes,
                reused_bytes: d.reused_bytes,
                sha256: d.image_sha256.clone(),
            })
            .collect(),
    })
}

impl Node {
    /// The backups on `storage` (of `vmid` only, when given), oldest first.
    pub(crate) fn backup_content(
        &self,
        storage: &str,
        vmid: Option<u32>,
    ) -> Result<Vec<BackupContent>, NodeError> {
        let ds = self.backup_store(storage)?;
        let ids = match vmid {
            Some(v) => ds.snapshots(v),
            None => ds.all_snapshots(),
        }
        .map_err(node_error("cannot list backups"))?;
        // A snapshot whose manifest became unreadable is shown by verify, not here.
        Ok(ids
            .iter()
            .filter_map(|id| content_row(&ds, storage, id).ok())
            .collect())
    }

    /// Re-reads the chunks of every backup on `storage` (or of `volid`) and checks them.
    pub(crate) fn verify_backups(
        &self,
        storage: &str,
        volid: Option<&str>,
    ) -> Result<VerifyResult, NodeError> {
        let ds = self.backup_store(storage)?;
        let only = volid.map(|v| snapshot_of(&ds, v)).transpose()?;
        let list = only.map(|s| vec![s]);
        let r =
            brigade_backup::verify(&ds, list.as_deref()).map_err(node_error("verify failed"))?;
        // The crate names snapshots `vm/<vmid>/<time>`: show them as volume ids.
        let vol = |s: &str| format!("{storage}:backup/{s}");
        Ok(VerifyResult {
            storage: storage.to_string(),
            backups: r.snapshots,
            chunks_checked: r.chunks_checked,
            bytes_checked: r.bytes_checked,
            damaged_chunks: r
                .damaged_chunks
                .iter()
                .map(|c| DamagedChunk {
                    digest: c.digest.clone(),
                    reason: c.reason.clone(),
                    backups: c.snapshots.iter().map(|s| vol(s)).collect(),
                })
                .collect(),
            damaged_backups: r
                .damaged_snapshots
                .iter()
                .map(|s| format!("{}: {}", vol(&s.snapshot), s.reason))
                .collect(),
            affected: r.affected_snapshots().iter().map(|s| vol(s)).collect(),
            ok: r.ok(),
        })
    }

    /// Applies the keep options to the backups on `storage` (one guest's or all), then
    /// garbage-collects when asked.
    pub(crate) fn prune_backups(
        &self,
        storage: &str,
        req: &PruneRequest,
    ) -> Result<PruneResult, NodeError> {
        let keep = KeepOptions::parse(&req.keep_string()).map_err(node_error("prune"))?;
        if !keep.limits() {
            return Err(NodeError::Invalid(
                "prune needs at least one keep option (e.g. --keep-last 3); without one every backup is kept".into(),
            ));
        }
        let ds = self.backup_store(storage)?;
        let guests = match req.vmid {
            Some(v) => vec![v],
            None => ds.guests().map_err(node_error("cannot list backups"))?,
        };
        let mut entries = Vec::new();
        for vmid in guests {
            let marks = brigade_backup::prune::prune_guest(&ds, vmid, &keep, req.dry_run)
                .map_err(node_error("prune failed"))?;
            entries.extend(marks.into_iter().map(|(id, mark)| PruneEntry {
                volid: backup_volid(storage, id.vmid, &id.time_string()),
                vmid: id.vmid,
                ctime: id.time.timestamp(),
                mark: match mark {
                    PruneMark::Keep => "keep".into(),
                    PruneMark::Remove => "remove".into(),
                },
            }));
        }
        let gc = if req.gc && !req.dry_run {
            Some(
                brigade_backup::garbage_collect(&ds)
                    .map_err(node_error("garbage collection failed"))?,
            )
        } else {
            None
        };
        Ok(PruneResult {
            entries,
            dry_run: req.dry_run,
            gc_removed_chunks: gc.as_ref().map(|g| g.removed_chunks),
            gc_removed_bytes: gc.as_ref().map(|g| g.removed_bytes),
        })
    }
}
