//! Container backups and restores: the root tree archived into a snapshot (one entry,
//! `rootfs`, guest kind `lxc`), and a snapshot unpacked into a new root directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::backup_file::{disk_entry, BackupReport};
use crate::chunk_store::Counters;
use crate::ct_archive::archive_tree;
use crate::datastore::{format_time, Datastore, SnapshotId};
use crate::disk_backup::{Abort, RateLimit};
use crate::error::{BackupError, Result};
use crate::index::FixedIndex;
use crate::manifest::{BackupMode, GuestType, Manifest};
use crate::restore::RestoreReport;

/// The manifest entry of a container's root tree.
pub const ROOTFS_SLOT: &str = "rootfs";

/// A backup of a container's root directory (frozen or stopped by the caller).
#[derive(Debug, Clone)]
pub struct TreeBackupRequest {
    pub vmid: u32,
    /// The container's config text, kept in the manifest.
    pub config: String,
    pub root: PathBuf,
    pub time: DateTime<Utc>,
    pub mode: BackupMode,
    /// KiB/s, as vzdump's `bwlimit`.
    pub bwlimit_kib: Option<u64>,
    /// Set when the backup is to stop (a task stop): it ends before its next chunk.
    pub abort: Abort,
}

/// Archives the tree into a new snapshot; on any error no snapshot is listed.
pub fn backup_tree(ds: &Datastore, req: &TreeBackupRequest) -> Result<BackupReport> {
    let started = Utc::now().timestamp();
    let mut writer = ds.begin(req.vmid, req.time)?;
    let counters = Counters::default();
    let before = counters.snapshot();
    let limit = req.bwlimit_kib.map(RateLimit::kib_per_sec);
    let r = archive_tree(&ds.chunks, &req.root, &counters, limit, &req.abort)?;
    let entry = disk_entry(&mut writer, ROOTFS_SLOT, &r, before, counters.snapshot())?;
    let manifest = Manifest {
        vmid: req.vmid,
        kind: GuestType::Lxc,
        backup_time: format_time(writer.id.time),
        started,
        finished: Utc::now().timestamp(),
        mode: req.mode,
        config: req.config.clone(),
        disks: vec![entry],
    };
    let snapshot = writer.commit(&manifest)?;
    Ok(BackupReport {
        snapshot,
        stats: counters.snapshot(),
        manifest,
    })
}

/// Reads an archive back from its chunks, each one's hash checked, hashing the whole.
struct ChunkReader<'a> {
    ds: &'a Datastore,
    index: FixedIndex,
    snapshot: SnapshotId,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    whole: Sha256,
    failed: Option<BackupError>,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            let Some(d) = self.index.digests.get(self.next).copied() else {
                return Ok(0);
            };
            let (off, len) = self.index.chunk_range(self.next);
            let checked = match self.ds.chunks.read_verified(&d) {
                Ok(data) if data.len() as u64 == len => Ok(data),
                Ok(data) => Err(BackupError::corrupt(
                    format!("chunk {} of {}", hex::encode(d), self.snapshot),
                    format!("it has {} bytes, the index expects {len}", data.len()),
                )),
                Err(BackupError::Corrupt { what, detail }) => Err(BackupError::corrupt(
                    format!(
                        "{what} (at offset {off} of the archive of {})",
                        self.snapshot
                    ),
                    detail,
                )),
                Err(e) => Err(e),
            };
            let data = checked.map_err(|e| self.fail(e))?;
            self.whole.update(&data);
            self.buf = data;
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl ChunkReader<'_> {
    fn fail(&mut self, e: BackupError) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        self.failed = Some(e);
        io
    }
}

/// Unpacks a container snapshot into `target` (a root directory, created). It appears
/// only complete, every chunk and the archive's checksum verified; an existing target is
/// refused without `force` and replaced only once the new tree is complete.
pub fn restore_tree(
    ds: &Datastore,
    snapshot: &SnapshotId,
    target: &Path,
    force: bool,
) -> Result<RestoreReport> {
    if target.exists() && !force {
        return Err(BackupError::Exists(format!(
            "{} exists already (use force to overwrite it)",
            target.display()
        )));
    }
    let manifest = ds.manifest(snapshot)?;
    let entry = manifest
        .disk(ROOTFS_SLOT)
        .filter(|_| manifest.kind == GuestType::Lxc)
        .ok_or_else(|| {
            BackupError::Invalid(format!("snapshot {snapshot} is not a container backup"))
        })?;
    let index = ds.index(snapshot, ROOTFS_SLOT)?;
    let chunks = index.digests.len();
    let size = index.image_size;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.restore-{}", std::process::id()));
    let old = dir.join(format!(".{name}.old-{}", std::process::id()));
    let guard = RemoveDirOnDrop(vec![tmp.clone(), old.clone()]);
    std::fs::create_dir_all(&tmp)
        .map_err(BackupError::io(format!("cannot create {}", tmp.display())))?;
    let mut reader = ChunkReader {
        ds,
        index,
        snapshot: *snapshot,
        next: 0,
        buf: Vec::new(),
        pos: 0,
        whole: Sha256::new(),
        failed: None,
    };
    let mut ar = tar::Archive::new(&mut reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_preserve_ownerships(true);
    ar.set_overwrite(false);
    let unpacked = unpack(&mut ar, &tmp);
    let unpacked =
        unpacked.and_then(|()| std::io::copy(&mut reader, &mut std::io::sink()).map(|_| ()));
    if let Err(e) = unpacked {
        return Err(reader.failed.take().unwrap_or_else(|| {
            BackupError::io(format!("cannot unpack the archive of {snapshot}"))(e)
        }));
    }
    let sha256 = hex::encode(reader.whole.finalize());
    if let Some(expected) = &entry.image_sha256 {
        if expected != &sha256 {
            return Err(BackupError::corrupt(
                format!("the archive of {snapshot}"),
                format!("it hashes to {sha256}, the manifest says {expected}"),
            ));
        }
    }
    if target.exists() {
        std::fs::rename(target, &old).map_err(BackupError::io(format!(
            "cannot move {} aside",
            target.display()
        )))?;
    }
    std::fs::rename(&tmp, target).map_err(BackupError::io(format!(
        "cannot rename to {}",
        target.display()
    )))?;
    drop(guard);
    Ok(RestoreReport {
        size,
        sha256,
        chunks,
    })
}

/// Unpacks every entry under `dir`, then sets the directories' mtimes (deepest first),
/// which unpacking their content has changed meanwhile.
fn unpack<R: Read>(ar: &mut tar::Archive<R>, dir: &Path) -> std::io::Result<()> {
    let mut dirs = Vec::new();
    for entry in ar.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            let mtime = entry.header().mtime()?;
            dirs.push((dir.join(entry.path()?), mtime));
        }
        if !entry.unpack_in(dir)? {
            return Err(std::io::Error::other(format!(
                "the archive's entry {} points outside the root",
                entry.path()?.display()
            )));
        }
    }
    for (path, mtime) in dirs.iter().rev() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(*mtime);
        std::fs::File::open(path)?.set_modified(t)?;
    }
    Ok(())
}

/// Removes directories when dropped (a failed restore leaves nothing half unpacked).
struct RemoveDirOnDrop(Vec<PathBuf>);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}
