//! Garbage collection, mark and sweep: remove chunks no snapshot references, never one a running backup may still use.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::chunk_store::Digest;
use crate::datastore::Datastore;
use crate::error::{BackupError, Result};

/// Chunks touched this long before the cutoff are still kept (clock steps, slow renames).
pub const GC_GRACE: Duration = Duration::from_secs(5 * 60);

/// What GC did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    pub referenced_chunks: usize,
    pub removed_chunks: usize,
    pub removed_bytes: u64,
    pub kept_unreferenced: usize,
    pub removed_temp_files: usize,
    /// Snapshots whose index could not be read: GC removed nothing then.
    pub unreadable_snapshots: Vec<String>,
}

/// The decision for one chunk (pure): remove it only if nothing references it and it
/// was last touched before `cutoff`.
pub fn should_remove(referenced: bool, modified: SystemTime, cutoff: SystemTime) -> bool {
    !referenced && modified < cutoff
}

/// Runs GC on `ds`. The cutoff is the older of now and the start of the oldest running
/// backup, minus [`GC_GRACE`]: chunks a running backup wrote or reused (it touches them)
/// are younger and stay. If any snapshot's index is unreadable nothing is removed.
pub fn garbage_collect(ds: &Datastore) -> Result<GcReport> {
    let mut report = GcReport {
        removed_temp_files: ds.clean_stale()?,
        ..GcReport::default()
    };
    let now = SystemTime::now();
    let oldest_writer = ds
        .writers()?
        .iter()
        .filter(|w| w.alive())
        .map(|w| SystemTime::UNIX_EPOCH + Duration::from_secs(w.started.max(0) as u64))
        .min();
    let cutoff = oldest_writer.map_or(now, |w| w.min(now)) - GC_GRACE;
    let mut marked: HashSet<Digest> = HashSet::new();
    for id in ds.all_snapshots()? {
        let manifest = match ds.manifest(&id) {
            Ok(m) => m,
            Err(e) => {
                report.unreadable_snapshots.push(format!("{id}: {e}"));
                continue;
            }
        };
        for disk in &manifest.disks {
            match ds.index(&id, &disk.slot) {
                Ok(idx) => marked.extend(idx.digests),
                Err(e) => report.unreadable_snapshots.push(format!("{id}: {e}")),
            }
        }
    }
    report.referenced_chunks = marked.len();
    if !report.unreadable_snapshots.is_empty() {
        return Ok(report);
    }
    for c in ds.chunks.list()? {
        let Some(d) = c.digest else { continue };
        if !should_remove(marked.contains(&d), c.modified, cutoff) {
            if !marked.contains(&d) {
                report.kept_unreferenced += 1;
            }
            continue;
        }
        // Look again right before removing: a backup may have touched it meanwhile.
        let fresh = std::fs::metadata(&c.path)
            .and_then(|m| m.modified())
            .map(|m| m >= cutoff)
            .unwrap_or(true);
        if fresh {
            report.kept_unreferenced += 1;
            continue;
        }
        match std::fs::remove_file(&c.path) {
            Ok(()) => {
                report.removed_chunks += 1;
                report.removed_bytes += c.size;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BackupError::io(format!(
                    "cannot remove {}",
                    c.path.display()
                ))(e))
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_file::{backup_files, DiskFile, FileBackupRequest};
    use crate::datastore::parse_time;

    fn age(path: &std::path::Path, by: Duration) {
        let f = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(SystemTime::now() - by).expect("mtime");
    }

    #[test]
    fn the_decision() {
        let now = SystemTime::now();
        assert!(should_remove(false, now - Duration::from_secs(10), now));
        assert!(!should_remove(true, now - Duration::from_secs(10), now));
        assert!(!should_remove(false, now, now));
    }

    #[test]
    fn gc_frees_chunks_of_pruned_snapshots_only() {
        let d = tempfile::tempdir().expect("tempdir");
        let ds = Datastore::open(&d.path().join("store")).expect("ds");
        let img = d.path().join("a.raw");
        let chunk = crate::index::CHUNK_SIZE as usize;
        let mut data = vec![1u8; 2 * chunk];
        data[chunk..].fill(3);
        std::fs::write(&img, &data).expect("img");
        let req = |t: &str| FileBackupRequest {
            vmid: 100,
            config: "memory: 64\n".into(),
            disks: vec![DiskFile {
                slot: "scsi0".into(),
                path: img.clone(),
            }],
            time: parse_time(t).expect("t"),
            bwlimit_kib: None,
            abort: crate::disk_backup::Abort::default(),
        };
        let first = backup_files(&ds, &req("2026-01-01T00:00:00Z")).expect("b1");
        data[chunk..].fill(2);
        std::fs::write(&img, &data).expect("img");
        backup_files(&ds, &req("2026-01-02T00:00:00Z")).expect("b2");
        let all: Vec<_> = ds.chunks.list().expect("list");
        assert_eq!(all.len(), 3);
        for c in &all {
            age(&c.path, Duration::from_secs(3600));
        }
        // Nothing unreferenced yet.
        assert_eq!(garbage_collect(&ds).expect("gc").removed_chunks, 0);
        ds.remove_snapshot(&first.snapshot).expect("rm");
        // A running backup (this process) protects chunks younger than its start only.
        let w = ds
            .begin(101, parse_time("2026-01-03T00:00:00Z").expect("t"))
            .expect("w");
        let r = garbage_collect(&ds).expect("gc");
        assert_eq!((r.removed_chunks, r.referenced_chunks), (1, 2));
        drop(w);
        assert_eq!(ds.chunks.list().expect("list").len(), 2);
        // A fresh unreferenced chunk (just written by some backup) stays.
        let c = crate::chunk_store::Counters::default();
        let fresh = vec![9u8; 10];
        ds.chunks
            .insert(&crate::chunk_store::digest_of(&fresh), &fresh, &c)
            .expect("insert");
        let r = garbage_collect(&ds).expect("gc");
        assert_eq!((r.removed_chunks, r.kept_unreferenced), (0, 1));
        // An hour-old unreferenced chunk stays while a backup that started two hours ago
        // runs (it may have reused it), and goes once that backup is over.
        let path = ds.chunks.chunk_path(&crate::chunk_store::digest_of(&fresh));
        age(&path, Duration::from_secs(3600));
        let w = ds
            .begin(102, parse_time("2026-01-04T00:00:00Z").expect("t"))
            .expect("w");
        let marker = ds
            .guest_dir(102)
            .join(".tmp-2026-01-04T00:00:00Z/writer.json");
        let started = chrono::Utc::now().timestamp() - 7200;
        std::fs::write(
            &marker,
            format!(r#"{{"pid":{},"started":{started}}}"#, std::process::id()),
        )
        .expect("marker");
        let r = garbage_collect(&ds).expect("gc");
        assert_eq!((r.removed_chunks, r.kept_unreferenced), (0, 1));
        drop(w);
        let r = garbage_collect(&ds).expect("gc");
        assert_eq!(r.removed_chunks, 1);
    }
}
