//! Restoring a snapshot's disk to an image file (raw, or qcow2 through qemu-img), every chunk's hash checked first.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::chunk_store::digest_of;
use crate::datastore::{Datastore, SnapshotId};
use crate::error::{BackupError, Result};
use crate::qemu_img;

/// Where and how to restore one disk.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub snapshot: SnapshotId,
    pub slot: String,
    pub target: PathBuf,
    /// `raw` or `qcow2`.
    pub format: String,
    /// Replace an existing target.
    pub force: bool,
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub size: u64,
    /// SHA-256 of the restored image's content (its raw bytes).
    pub sha256: String,
    pub chunks: usize,
}

/// Restores one disk. The target appears only when every chunk verified; an existing
/// target is refused without `force` and left untouched by a failed restore.
pub fn restore(ds: &Datastore, req: &RestoreRequest) -> Result<RestoreReport> {
    qemu_img::check_format(&req.format)?;
    if req.target.exists() && !req.force {
        return Err(BackupError::Exists(format!(
            "{} exists already (use force to overwrite it)",
            req.target.display()
        )));
    }
    let manifest = ds.manifest(&req.snapshot)?;
    let entry = manifest.disk(&req.slot).ok_or_else(|| {
        BackupError::NotFound(format!(
            "snapshot {} has no disk {}",
            req.snapshot, req.slot
        ))
    })?;
    let index = ds.index(&req.snapshot, &req.slot)?;
    let dir = req.target.parent().unwrap_or(Path::new("."));
    let name = req
        .target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let raw_tmp = dir.join(format!(".{name}.restore-{}.raw", std::process::id()));
    let guard = RemoveOnDrop(vec![raw_tmp.clone()]);
    let mut out = std::fs::File::create(&raw_tmp).map_err(BackupError::io(format!(
        "cannot create {}",
        raw_tmp.display()
    )))?;
    let mut whole = Sha256::new();
    let zero_full = digest_of(&vec![0u8; index.chunk_size as usize]);
    for (i, d) in index.digests.iter().enumerate() {
        let (off, len) = index.chunk_range(i);
        let data = ds.chunks.read_verified(d).map_err(|e| match e {
            BackupError::Corrupt { what, detail } => BackupError::corrupt(
                format!(
                    "{what} (at offset {off} of {} in {})",
                    req.slot, req.snapshot
                ),
                detail,
            ),
            other => other,
        })?;
        if data.len() as u64 != len {
            return Err(BackupError::corrupt(
                format!("chunk {} of {}", hex::encode(d), req.snapshot),
                format!("it has {} bytes, the index expects {len}", data.len()),
            ));
        }
        whole.update(&data);
        if d == &zero_full || data.iter().all(|b| *b == 0) {
            continue; // left sparse
        }
        out.seek(SeekFrom::Start(off))
            .and_then(|_| out.write_all(&data))
            .map_err(BackupError::io(format!(
                "cannot write {}",
                raw_tmp.display()
            )))?;
    }
    out.set_len(index.image_size)
        .and_then(|()| out.sync_all())
        .map_err(BackupError::io(format!(
            "cannot write {}",
            raw_tmp.display()
        )))?;
    drop(out);
    let sha256 = hex::encode(whole.finalize());
    if let Some(expected) = &entry.image_sha256 {
        if expected != &sha256 {
            return Err(BackupError::corrupt(
                format!("disk {} of {}", req.slot, req.snapshot),
                format!("the restored image hashes to {sha256}, the manifest says {expected}"),
            ));
        }
    }
    if req.format == "raw" {
        std::fs::rename(&raw_tmp, &req.target).map_err(BackupError::io(format!(
            "cannot rename to {}",
            req.target.display()
        )))?;
    } else {
        let q_tmp = dir.join(format!(".{name}.restore-{}.qcow2", std::process::id()));
        let _g2 = RemoveOnDrop(vec![q_tmp.clone()]);
        qemu_img::convert(&raw_tmp, "raw", &q_tmp, &req.format)?;
        std::fs::rename(&q_tmp, &req.target).map_err(BackupError::io(format!(
            "cannot rename to {}",
            req.target.display()
        )))?;
    }
    drop(guard);
    Ok(RestoreReport {
        size: index.image_size,
        sha256,
        chunks: index.digests.len(),
    })
}

/// Removes files when dropped (a failed restore leaves no temporary file).
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
