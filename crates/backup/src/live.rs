//! Live backup of a running QEMU through QMP: a point in time by image fleecing (`blockdev-backup sync=none`
//! into a temporary overlay), exported by QEMU's NBD server and read by [`crate::nbd`]; persistent dirty
//! bitmaps make the next backup read only the chunks the guest changed.
//!
//! Bitmaps are named after the datastore and the snapshot they count from
//! (`brigade-<datastore id>-<time>`). A backup finds the bitmap of the latest snapshot; if it is
//! there, recording and consistent, and the disk kept its size, one QMP transaction starts the
//! fleecing job, adds the new snapshot's bitmap and freezes the old one, which is exported with
//! the point in time: only chunks it marks are read. Otherwise (first backup, QEMU restarted,
//! crash: an inconsistent bitmap) the whole disk is read and chunks compared by hash. A
//! persistent bitmap reloaded by a restarted QEMU is not trusted either (the image may have been
//! written while QEMU was down): a non-persistent marker bitmap tells the QEMU process apart.
//! The guest runs throughout; only the transaction is atomic.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use brigade_guest::qmp::Qmp;

use crate::backup_file::{check_slot, disk_entry, BackupReport};
use crate::chunk_store::{Counters, Stats};
use crate::datastore::{format_time, Datastore, SnapshotId};
use crate::disk_backup::{backup_disk, Abort, DiskResult, RateLimit};
use crate::error::{BackupError, Result};
use crate::index::FixedIndex;
use crate::live_cleanup::{lock_work_dir, teardown};
use crate::manifest::{BackupMode, Manifest};
use crate::nbd_source::NbdSource;
use crate::qemu_img;

/// Prefix of every QMP object this module creates.
pub(crate) const PREFIX: &str = "brigade-backup";

/// A live backup of a running guest.
#[derive(Debug, Clone)]
pub struct LiveBackupRequest {
    pub vmid: u32,
    pub config: String,
    /// The disks by config key; QEMU knows them as `drive-<slot>`.
    pub slots: Vec<String>,
    pub qmp_socket: PathBuf,
    pub time: DateTime<Utc>,
    /// `snapshot` (live) or `suspend` (paused for the backup).
    pub mode: BackupMode,
    pub bwlimit_kib: Option<u64>,
    /// For the fleecing overlays and the NBD socket (short: Unix socket paths).
    pub work_dir: PathBuf,
    /// Stops the backup before its next chunk: the fleecing job is cancelled, nothing listed.
    pub abort: Abort,
}

/// What QEMU says of one drive.
#[derive(Debug, Clone)]
pub(crate) struct Drive {
    pub(crate) slot: String,
    pub(crate) node: String,
    pub(crate) format: String,
    pub(crate) size: u64,
    pub(crate) bitmaps: Vec<Value>,
    pub(crate) fleece_node: String,
    pub(crate) fleece_file: PathBuf,
    pub(crate) job: String,
    pub(crate) export: String,
}

/// Each disk's result, its counters before and after, and the totals.
type ReadOutcome = (Vec<DiskResult>, Vec<(Stats, Stats)>, Counters);

/// How one disk is read this time.
#[derive(Debug, Clone)]
struct Plan {
    prev_index: Option<FixedIndex>,
    /// The frozen bitmap of the previous snapshot (incremental) or None (full read).
    old_bitmap: Option<String>,
}

/// The name of the bitmap counting changes since snapshot `time` of datastore `ds_id`.
pub fn bitmap_name(ds_id: &str, time: DateTime<Utc>) -> String {
    format!("{PREFIX}-{ds_id}-{}", time.format("%Y%m%dT%H%M%SZ"))
}

fn bitmap_usable(b: &Value) -> bool {
    let flag = |k: &str| b.get(k).and_then(Value::as_bool);
    flag("recording") == Some(true)
        && flag("inconsistent") != Some(true)
        && flag("busy") != Some(true)
}

async fn query_drives(q: &mut Qmp, slots: &[String], work: &Path) -> Result<Vec<Drive>> {
    let blocks = q.execute("query-block", None).await?;
    let list = blocks.as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for slot in slots {
        check_slot(slot)?;
        let device = format!("drive-{slot}");
        let b = list
            .iter()
            .find(|b| b.get("device").and_then(Value::as_str) == Some(device.as_str()))
            .ok_or_else(|| BackupError::NotFound(format!("the guest has no drive {device}")))?;
        let ins = b
            .get("inserted")
            .ok_or_else(|| BackupError::NotFound(format!("drive {device} has no medium")))?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let node = s(ins, "node-name")
            .ok_or_else(|| BackupError::Failed(format!("drive {device}: no node name")))?;
        let format = s(ins, "drv").unwrap_or_else(|| "raw".into());
        let size = ins
            .get("image")
            .and_then(|i| i.get("virtual-size"))
            .and_then(Value::as_u64)
            .ok_or_else(|| BackupError::Failed(format!("drive {device}: no size")))?;
        let bitmaps = ins
            .get("dirty-bitmaps")
            .or_else(|| b.get("dirty-bitmaps"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.push(Drive {
            slot: slot.clone(),
            node,
            format,
            size,
            bitmaps,
            fleece_node: format!("{PREFIX}-fleece-{slot}"),
            fleece_file: work.join(format!("fleece-{slot}.qcow2")),
            job: format!("{PREFIX}-job-{slot}"),
            export: format!("{PREFIX}-export-{slot}"),
        });
    }
    Ok(out)
}

/// The bitmap that marks a QEMU process a backup already ran in: not persistent, so a
/// restarted QEMU lacks it (kept by a live migration with the `dirty-bitmaps` capability).
pub const INSTANCE_BITMAP: &str = "brigade-backup-instance";
/// Its granularity: it never records anything, so the coarsest QEMU takes.
const INSTANCE_GRANULARITY: u64 = 1 << 26;

impl Drive {
    fn has_bitmap(&self, name: &str) -> bool {
        self.bitmaps
            .iter()
            .any(|b| b.get("name").and_then(Value::as_str) == Some(name))
    }
}

/// Incremental only if the previous snapshot's bitmap is usable, the disk kept its size, and
/// this QEMU process is the one that created the bitmap: a persistent bitmap reloaded after a
/// stop misses whatever wrote the image while QEMU was down, so a restart means a full read.
fn plan(ds: &Datastore, prev: Option<&SnapshotId>, d: &Drive) -> Plan {
    let prev_index = prev.and_then(|p| ds.index(p, &d.slot).ok());
    let same_process = d.has_bitmap(INSTANCE_BITMAP);
    let old_bitmap = prev.map(|p| bitmap_name(ds.id(), p.time)).filter(|name| {
        same_process
            && prev_index.as_ref().is_some_and(|i| i.image_size == d.size)
            && d.bitmaps.iter().any(|b| {
                b.get("name").and_then(Value::as_str) == Some(name.as_str()) && bitmap_usable(b)
            })
    });
    Plan {
        prev_index,
        old_bitmap,
    }
}

/// Backs up a running guest's disks into a new snapshot.
pub async fn backup_live(ds: &Datastore, req: &LiveBackupRequest) -> Result<BackupReport> {
    if req.mode == BackupMode::Stop {
        return Err(BackupError::Invalid(
            "mode stop backs up image files of a stopped guest (backup_files)".into(),
        ));
    }
    std::fs::create_dir_all(&req.work_dir).map_err(BackupError::io(format!(
        "cannot create {}",
        req.work_dir.display()
    )))?;
    // One backup per guest at a time: the teardown below would break a running one.
    let _lock = lock_work_dir(&req.work_dir, req.vmid)?;
    let mut q = Qmp::connect(&req.qmp_socket).await?;
    let drives = query_drives(&mut q, &req.slots, &req.work_dir).await?;
    teardown(&mut q, &drives).await;
    let prev = ds.latest(req.vmid)?;
    let plans: Vec<Plan> = drives.iter().map(|d| plan(ds, prev.as_ref(), d)).collect();
    let started = Utc::now().timestamp();
    let writer = ds.begin(req.vmid, req.time)?;
    let new_bitmap = bitmap_name(ds.id(), writer.id.time);
    let paused = req.mode == BackupMode::Suspend;
    if paused {
        q.execute("stop", None).await?;
    }
    let outcome = run(ds, req, q, &drives, &plans, &new_bitmap, writer, started).await;
    // The monitor was let go during the read (QEMU serves one client at a time: a stop, a
    // shutdown or a status query meanwhile must not wait for the backup); back for the end.
    let mut q = match Qmp::connect(&req.qmp_socket).await {
        Ok(q) => q,
        // QEMU is gone: its fleecing and exports went with it. A read that finished before
        // is a complete snapshot; one that did not is not listed.
        Err(e) => {
            return outcome.map_err(|read| BackupError::GuestStopped {
                detail: format!("{read}; {e}"),
            })
        }
    };
    teardown(&mut q, &drives).await;
    let resumed = if paused {
        q.execute("cont", None).await.map(|_| ())
    } else {
        Ok(())
    };
    let outcome = finish(ds, &mut q, &drives, &plans, &new_bitmap, outcome).await;
    resumed?;
    outcome
}

/// After the read: on success drop the bitmaps older than the new one; on failure give the
/// old bitmap back what the new one counted, so the next backup is still incremental.
async fn finish(
    ds: &Datastore,
    q: &mut Qmp,
    drives: &[Drive],
    plans: &[Plan],
    new_bitmap: &str,
    outcome: Result<BackupReport>,
) -> Result<BackupReport> {
    match outcome {
        Ok(report) => {
            // The new bitmap now counts from this snapshot; older ones are of no use.
            for d in drives {
                for b in &d.bitmaps {
                    let Some(name) = b.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    if name.starts_with(&format!("{PREFIX}-{}-", ds.id()))
                        && name != new_bitmap
                        && name != INSTANCE_BITMAP
                    {
                        let _ = q
                            .execute(
                                "block-dirty-bitmap-remove",
                                Some(json!({"node": d.node, "name": name})),
                            )
                            .await;
                    }
                }
            }
            Ok(report)
        }
        Err(e) => {
            for (d, p) in drives.iter().zip(plans) {
                let mut actions = Vec::new();
                if let Some(old) = &p.old_bitmap {
                    actions.push(json!({"type": "block-dirty-bitmap-merge",
                        "data": {"node": d.node, "target": old, "bitmaps": [new_bitmap]}}));
                    actions.push(json!({"type": "block-dirty-bitmap-enable",
                        "data": {"node": d.node, "name": old}}));
                }
                actions.push(json!({"type": "block-dirty-bitmap-remove",
                    "data": {"node": d.node, "name": new_bitmap}}));
                if q.execute("transaction", Some(json!({ "actions": actions })))
                    .await
                    .is_err()
                {
                    let _ = q
                        .execute(
                            "block-dirty-bitmap-remove",
                            Some(json!({"node": d.node, "name": new_bitmap})),
                        )
                        .await;
                }
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ds: &Datastore,
    req: &LiveBackupRequest,
    mut q: Qmp,
    drives: &[Drive],
    plans: &[Plan],
    new_bitmap: &str,
    mut writer: crate::datastore::SnapshotWriter,
    started: i64,
) -> Result<BackupReport> {
    let mut actions = Vec::new();
    for (d, p) in drives.iter().zip(plans) {
        qemu_img::create(&d.fleece_file, "qcow2", d.size)?;
        q.execute(
            "blockdev-add",
            Some(json!({
                "driver": "qcow2",
                "node-name": d.fleece_node,
                "file": {"driver": "file", "filename": d.fleece_file},
                "backing": d.node,
            })),
        )
        .await?;
        actions.push(json!({"type": "blockdev-backup", "data": {
            "job-id": d.job, "device": d.node, "target": d.fleece_node, "sync": "none"}}));
        actions.push(json!({"type": "block-dirty-bitmap-add", "data": {
            "node": d.node, "name": new_bitmap, "persistent": d.format == "qcow2"}}));
        if let Some(old) = &p.old_bitmap {
            actions.push(json!({"type": "block-dirty-bitmap-disable", "data": {
                "node": d.node, "name": old}}));
        }
        if !d.has_bitmap(INSTANCE_BITMAP) {
            actions.push(json!({"type": "block-dirty-bitmap-add", "data": {
                "node": d.node, "name": INSTANCE_BITMAP, "persistent": false,
                "disabled": true, "granularity": INSTANCE_GRANULARITY}}));
        }
    }
    // The point in time: every disk at once, the guest still running.
    q.execute("transaction", Some(json!({ "actions": actions })))
        .await?;
    let socket = req.work_dir.join("nbd.sock");
    let _ = std::fs::remove_file(&socket);
    q.execute(
        "nbd-server-start",
        Some(json!({"addr": {"type": "unix", "data": {"path": socket}}})),
    )
    .await?;
    for (d, p) in drives.iter().zip(plans) {
        let mut export = json!({"type": "nbd", "id": d.export, "node-name": d.fleece_node,
            "name": d.slot, "writable": false});
        if let Some(old) = &p.old_bitmap {
            export["bitmaps"] = json!([old]);
        }
        q.execute("block-export-add", Some(export)).await?;
    }
    drop(q);
    let store = ds.chunks.clone();
    let jobs: Vec<(String, Option<String>, Option<FixedIndex>)> = drives
        .iter()
        .zip(plans)
        .map(|(d, p)| (d.slot.clone(), p.old_bitmap.clone(), p.prev_index.clone()))
        .collect();
    let bwlimit = req.bwlimit_kib;
    let abort = req.abort.clone();
    let sock = socket.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<ReadOutcome> {
        let counters = Counters::default();
        let mut limit = bwlimit.map(RateLimit::kib_per_sec);
        let mut results = Vec::new();
        let mut spans = Vec::new();
        for (slot, old, prev) in &jobs {
            let before = counters.snapshot();
            let mut src = NbdSource::connect(&sock, slot, old.as_deref())?;
            let r = backup_disk(
                &store,
                &mut src,
                prev.as_ref(),
                old.is_some(),
                &counters,
                limit.as_mut(),
                &abort,
            )?;
            spans.push((before, counters.snapshot()));
            results.push(r);
        }
        Ok((results, spans, counters))
    })
    .await
    .map_err(|e| BackupError::Failed(format!("the reader thread failed: {e}")))??;
    let (results, spans, counters) = read;
    let mut entries = Vec::new();
    for ((d, r), (before, after)) in drives.iter().zip(&results).zip(&spans) {
        entries.push(disk_entry(&mut writer, &d.slot, r, *before, *after)?);
    }
    let manifest = Manifest {
        vmid: req.vmid,
        kind: crate::manifest::GuestType::Qemu,
        backup_time: format_time(writer.id.time),
        started,
        finished: Utc::now().timestamp(),
        mode: req.mode,
        config: req.config.clone(),
        disks: entries,
    };
    let snapshot = writer.commit(&manifest)?;
    Ok(BackupReport {
        snapshot,
        stats: counters.snapshot(),
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_names_and_usability() {
        let t = crate::datastore::parse_time("2026-12-01T16:03:20Z").expect("t");
        assert_eq!(
            bitmap_name("ab12", t),
            "brigade-backup-ab12-20261201T160320Z"
        );
        assert!(bitmap_usable(&json!({"recording": true, "busy": false})));
        assert!(!bitmap_usable(
            &json!({"recording": true, "inconsistent": true})
        ));
        assert!(!bitmap_usable(&json!({"recording": false})));
    }
}
