//! Backing up image files of a stopped guest (mode `stop`): raw read directly, qcow2 through `qemu-nbd`; every chunk hashed and deduplicated.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::chunk_store::{Counters, Stats};
use crate::datastore::{format_time, Datastore, SnapshotId};
use crate::disk_backup::{backup_disk, Abort, DiskResult, ImageSource, RateLimit, RawFile};
use crate::error::{BackupError, Result};
use crate::manifest::{BackupMode, DiskEntry, Manifest};
use crate::nbd_source::{NbdSource, QemuNbd};
use crate::qemu_img;

/// One disk to back up.
#[derive(Debug, Clone)]
pub struct DiskFile {
    /// The config key (`scsi0`).
    pub slot: String,
    pub path: PathBuf,
}

/// A backup of image files.
#[derive(Debug, Clone)]
pub struct FileBackupRequest {
    pub vmid: u32,
    /// The guest's config text, kept in the manifest.
    pub config: String,
    pub disks: Vec<DiskFile>,
    pub time: DateTime<Utc>,
    /// KiB/s, as vzdump's `bwlimit`.
    pub bwlimit_kib: Option<u64>,
    /// Stops the backup before its next chunk.
    pub abort: Abort,
}

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub snapshot: SnapshotId,
    pub stats: Stats,
    pub manifest: Manifest,
}

/// Adds one disk's result to the manifest entries.
pub(crate) fn disk_entry(
    writer: &mut crate::datastore::SnapshotWriter,
    slot: &str,
    r: &DiskResult,
    before: Stats,
    after: Stats,
) -> Result<DiskEntry> {
    let index = writer.write_index(slot, &r.index)?;
    Ok(DiskEntry {
        slot: slot.to_string(),
        index,
        size: r.index.image_size,
        index_csum: hex::encode(r.index.csum()),
        image_sha256: r.image_sha256.clone(),
        read_mode: r.read_mode,
        read_bytes: after.read_bytes - before.read_bytes,
        written_bytes: after.written_bytes - before.written_bytes,
        reused_bytes: after.reused_bytes - before.reused_bytes,
    })
}

/// Checks a disk slot name (it becomes a file name).
pub(crate) fn check_slot(slot: &str) -> Result<()> {
    if slot.is_empty() || slot.len() > 32 || !slot.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BackupError::Invalid(format!("invalid disk slot {slot:?}")));
    }
    Ok(())
}

/// Backs up image files into a new snapshot. On any error (a full storage included) no
/// snapshot is listed and the in-progress files are removed.
pub fn backup_files(ds: &Datastore, req: &FileBackupRequest) -> Result<BackupReport> {
    for d in &req.disks {
        check_slot(&d.slot)?;
        if !d.path.exists() {
            return Err(BackupError::NotFound(format!(
                "{}: image {} does not exist",
                d.slot,
                d.path.display()
            )));
        }
    }
    let prev = ds.latest(req.vmid)?;
    let started = Utc::now().timestamp();
    let mut writer = ds.begin(req.vmid, req.time)?;
    let counters = Counters::default();
    let mut limit = req.bwlimit_kib.map(RateLimit::kib_per_sec);
    let mut entries = Vec::new();
    let tmp = tempdir_in_store(ds)?;
    for d in &req.disks {
        let info = qemu_img::info(&d.path)?;
        let prev_index = prev.as_ref().and_then(|p| ds.index(p, &d.slot).ok());
        let before = counters.snapshot();
        let r = if info.format == "raw" {
            let mut src = RawFile::open(&d.path)?;
            run(
                ds,
                &mut src,
                prev_index.as_ref(),
                &counters,
                limit.as_mut(),
                &req.abort,
            )?
        } else {
            let socket = tmp.path().join(format!("{}.nbd", d.slot));
            let _server = QemuNbd::serve(&d.path, &info.format, &socket, &d.slot)?;
            let mut src = NbdSource::connect(&socket, &d.slot, None)?;
            run(
                ds,
                &mut src,
                prev_index.as_ref(),
                &counters,
                limit.as_mut(),
                &req.abort,
            )?
        };
        entries.push(disk_entry(
            &mut writer,
            &d.slot,
            &r,
            before,
            counters.snapshot(),
        )?);
    }
    let manifest = Manifest {
        vmid: req.vmid,
        kind: crate::manifest::GuestType::Qemu,
        backup_time: format_time(writer.id.time),
        started,
        finished: Utc::now().timestamp(),
        mode: BackupMode::Stop,
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

fn run(
    ds: &Datastore,
    src: &mut dyn ImageSource,
    prev: Option<&crate::index::FixedIndex>,
    counters: &Counters,
    limit: Option<&mut RateLimit>,
    abort: &Abort,
) -> Result<DiskResult> {
    backup_disk(&ds.chunks, src, prev, false, counters, limit, abort)
}

/// A short-lived private directory for sockets (Unix socket paths are short: under /tmp).
pub(crate) fn tempdir_in_store(_ds: &Datastore) -> Result<TempDir> {
    TempDir::new()
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "brigade-backup-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&path)
            .map_err(BackupError::io(format!("cannot create {}", path.display())))?;
        Ok(TempDir { path })
    }
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
