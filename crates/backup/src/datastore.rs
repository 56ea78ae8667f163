//! A backup storage directory: its chunk store, snapshots per guest (`dump/vm/<vmid>/<time>/`) and in-progress markers.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::chunk_store::{ChunkStore, SyncLevel, TEMP_SUFFIX};
use crate::error::{BackupError, Result};
use crate::index::{FixedIndex, INDEX_EXT};
use crate::manifest::{Manifest, CONFIG_NAME, MANIFEST_NAME};

/// The file naming the datastore (its id ties dirty bitmaps to it).
pub const DATASTORE_FILE: &str = ".brigade-datastore";
/// The prefix of a snapshot directory being written.
pub const IN_PROGRESS_PREFIX: &str = ".tmp-";
/// The marker inside an in-progress snapshot: who writes it, since when.
pub const WRITER_FILE: &str = "writer.json";

/// A snapshot: a guest and the point in time its disks show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SnapshotId {
    pub vmid: u32,
    pub time: DateTime<Utc>,
}

impl SnapshotId {
    /// The directory name: RFC 3339 in UTC, to the second (`2026-12-01T16:03:20Z`).
    pub fn time_string(&self) -> String {
        format_time(self.time)
    }
}

impl std::fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vm/{}/{}", self.vmid, self.time_string())
    }
}

/// RFC 3339, UTC, whole seconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a snapshot directory name.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (format_time(t) == s).then_some(t)
}

/// What an in-progress marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterInfo {
    pub pid: u32,
    /// Unix seconds when the backup started.
    pub started: i64,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// How long an in-progress directory without its marker yet counts as a starting backup.
pub const MARKERLESS_GRACE_SECS: i64 = 60;

impl WriterInfo {
    /// Whether its writer still runs (pid 0: no marker yet, alive while young).
    pub fn alive(&self) -> bool {
        if self.pid == 0 {
            return Utc::now().timestamp() - self.started < MARKERLESS_GRACE_SECS;
        }
        brigade_guest::process::is_alive(self.pid as i32)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct DatastoreFile {
    id: String,
}

/// One backup storage.
#[derive(Debug, Clone)]
pub struct Datastore {
    base: PathBuf,
    id: String,
    pub chunks: ChunkStore,
}

impl Datastore {
    /// Opens the backup storage at `base`, initializing it when new.
    pub fn open(base: &Path) -> Result<Datastore> {
        Datastore::open_with(base, SyncLevel::default())
    }

    /// Opens the backup storage with an explicit sync level.
    pub fn open_with(base: &Path, sync_level: SyncLevel) -> Result<Datastore> {
        std::fs::create_dir_all(base).map_err(BackupError::store_io(
            base,
            format!("cannot create {}", base.display()),
        ))?;
        let file = base.join(DATASTORE_FILE);
        let id = match std::fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice::<DatastoreFile>(&bytes)
                    .map_err(|e| BackupError::corrupt(file.display().to_string(), e.to_string()))?
                    .id
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = hex::encode(rand::random::<[u8; 8]>());
                let text =
                    serde_json::to_vec(&DatastoreFile { id: id.clone() }).map_err(|source| {
                        BackupError::Json {
                            context: "datastore file".into(),
                            source,
                        }
                    })?;
                write_synced(base, &file, &text)?;
                id
            }
            Err(e) => {
                return Err(BackupError::io(format!("cannot read {}", file.display()))(
                    e,
                ))
            }
        };
        Ok(Datastore {
            base: base.to_path_buf(),
            id,
            chunks: ChunkStore::open_with(base, sync_level)?,
        })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// A random id made when the storage was initialized.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn guest_dir(&self, vmid: u32) -> PathBuf {
        self.base.join("dump").join("vm").join(vmid.to_string())
    }

    pub fn snapshot_dir(&self, id: &SnapshotId) -> PathBuf {
        self.guest_dir(id.vmid).join(id.time_string())
    }

    /// Guests with at least one directory here.
    pub fn guests(&self) -> Result<Vec<u32>> {
        let dir = self.base.join("dump").join("vm");
        let mut out: Vec<u32> = read_names(&dir)?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The complete snapshots of a guest, oldest first. One without a manifest (being
    /// written, or left by a failed backup) is not listed.
    pub fn snapshots(&self, vmid: u32) -> Result<Vec<SnapshotId>> {
        let dir = self.guest_dir(vmid);
        let mut out: Vec<SnapshotId> = read_names(&dir)?
            .iter()
            .filter_map(|n| parse_time(n))
            .map(|time| SnapshotId { vmid, time })
            .filter(|id| self.snapshot_dir(id).join(MANIFEST_NAME).is_file())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every complete snapshot of every guest.
    pub fn all_snapshots(&self) -> Result<Vec<SnapshotId>> {
        let mut out = Vec::new();
        for vmid in self.guests()? {
            out.extend(self.snapshots(vmid)?);
        }
        Ok(out)
    }

    pub fn latest(&self, vmid: u32) -> Result<Option<SnapshotId>> {
        Ok(self.snapshots(vmid)?.pop())
    }

    pub fn manifest(&self, id: &SnapshotId) -> Result<Manifest> {
        let path = self.snapshot_dir(id).join(MANIFEST_NAME);
        if !path.is_file() {
            return Err(BackupError::NotFound(format!(
                "snapshot {id} does not exist"
            )));
        }
        Manifest::read(&path)
    }

    /// The index of disk `slot` in a snapshot.
    pub fn index(&self, id: &SnapshotId, slot: &str) -> Result<FixedIndex> {
        let m = self.manifest(id)?;
        let disk = m
            .disk(slot)
            .ok_or_else(|| BackupError::NotFound(format!("snapshot {id} has no disk {slot}")))?;
        let idx = FixedIndex::read(&self.snapshot_dir(id).join(&disk.index))?;
        if hex::encode(idx.csum()) != disk.index_csum {
            return Err(BackupError::corrupt(
                format!("index {} of {id}", disk.index),
                "it does not match the checksum in the manifest",
            ));
        }
        Ok(idx)
    }

    /// Starts a snapshot: an in-progress directory with a marker GC respects.
    pub fn begin(&self, vmid: u32, time: DateTime<Utc>) -> Result<SnapshotWriter> {
        let id = SnapshotId { vmid, time };
        let id = SnapshotId {
            vmid,
            time: parse_time(&id.time_string()).unwrap_or(time),
        };
        if self.snapshot_dir(&id).exists() {
            return Err(BackupError::Exists(format!("snapshot {id} exists already")));
        }
        self.clean_stale_writers()?;
        let guest = self.guest_dir(vmid);
        std::fs::create_dir_all(&guest).map_err(BackupError::store_io(
            &self.base,
            format!("cannot create {}", guest.display()),
        ))?;
        let tmp = guest.join(format!("{IN_PROGRESS_PREFIX}{}", id.time_string()));
        std::fs::create_dir(&tmp).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                BackupError::Exists(format!("a backup of {id} is already running"))
            } else {
                BackupError::store_io(&self.base, format!("cannot create {}", tmp.display()))(e)
            }
        })?;
        let mut writer = SnapshotWriter {
            ds: self.clone(),
            id,
            dir: tmp,
            committed: false,
        };
        let info = WriterInfo {
            pid: std::process::id(),
            started: Utc::now().timestamp(),
            dir: PathBuf::new(),
        };
        let text = serde_json::to_vec(&info).map_err(|source| BackupError::Json {
            context: "writer marker".into(),
            source,
        })?;
        writer.write_file(WRITER_FILE, &text)?;
        Ok(writer)
    }

    /// The in-progress markers (of live and dead writers).
    pub fn writers(&self) -> Result<Vec<WriterInfo>> {
        let mut out = Vec::new();
        for vmid in self.guests()? {
            let guest = self.guest_dir(vmid);
            for name in read_names(&guest)? {
                if !name.starts_with(IN_PROGRESS_PREFIX) {
                    continue;
                }
                let dir = guest.join(&name);
                let info = std::fs::read(dir.join(WRITER_FILE))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<WriterInfo>(&b).ok());
                // No marker yet: a writer starting (or one that died right away).
                let info = info.unwrap_or_else(|| WriterInfo {
                    pid: 0,
                    started: std::fs::metadata(&dir)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs() as i64),
                    dir: PathBuf::new(),
                });
                out.push(WriterInfo { dir, ..info });
            }
        }
        Ok(out)
    }

    /// Removes the in-progress snapshots of dead writers (cheap: run before every backup).
    pub fn clean_stale_writers(&self) -> Result<usize> {
        let mut removed = 0;
        for w in self.writers()? {
            if !w.alive() {
                std::fs::remove_dir_all(&w.dir).map_err(BackupError::io(format!(
                    "cannot remove {}",
                    w.dir.display()
                )))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes what dead writers left: in-progress snapshots and chunk temp files (this
    /// lists the whole chunk store: GC runs it).
    pub fn clean_stale(&self) -> Result<usize> {
        let mut removed = self.clean_stale_writers()?;
        for c in self.chunks.list()? {
            let name = c.path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| n.ends_with(TEMP_SUFFIX)) else {
                continue;
            };
            // `<digest>.<pid>.<rand>.tmp`
            let pid: Option<i32> = name.split('.').nth(1).and_then(|p| p.parse().ok());
            if pid.is_none_or(|p| !brigade_guest::process::is_alive(p)) {
                let _ = std::fs::remove_file(&c.path);
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Deletes a snapshot (its chunks stay until GC).
    pub fn remove_snapshot(&self, id: &SnapshotId) -> Result<()> {
        let dir = self.snapshot_dir(id);
        if !dir.join(MANIFEST_NAME).is_file() {
            return Err(BackupError::NotFound(format!(
                "snapshot {id} does not exist"
            )));
        }
        // Drop the manifest first: a half-removed snapshot is never listed.
        std::fs::remove_file(dir.join(MANIFEST_NAME))
            .map_err(BackupError::io(format!("cannot remove {}", dir.display())))?;
        std::fs::remove_dir_all(&dir)
            .map_err(BackupError::io(format!("cannot remove {}", dir.display())))
    }
}

/// A snapshot being written; dropped without [`SnapshotWriter::commit`] it leaves nothing behind.
#[derive(Debug)]
pub struct SnapshotWriter {
    ds: Datastore,
    pub id: SnapshotId,
    dir: PathBuf,
    committed: bool,
}

impl SnapshotWriter {
    pub fn datastore(&self) -> &Datastore {
        &self.ds
    }

    fn write_file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        write_synced(&self.ds.base, &self.dir.join(name), data)
    }

    /// Writes a disk's index; returns its file name.
    pub fn write_index(&mut self, slot: &str, index: &FixedIndex) -> Result<String> {
        let name = format!("{slot}.img.{INDEX_EXT}");
        self.write_file(&name, &index.encode())?;
        Ok(name)
    }

    /// Makes the chunks and indexes durable, writes the config and manifest, then makes
    /// the snapshot visible with one rename (synced too).
    pub fn commit(mut self, manifest: &Manifest) -> Result<SnapshotId> {
        sync_fs(&self.ds.base)?;
        self.write_file(CONFIG_NAME, manifest.config.as_bytes())?;
        self.write_file(MANIFEST_NAME, &manifest.encode()?)?;
        let _ = std::fs::remove_file(self.dir.join(WRITER_FILE));
        let dest = self.ds.snapshot_dir(&self.id);
        std::fs::rename(&self.dir, &dest).map_err(BackupError::store_io(
            &self.ds.base,
            format!("cannot rename {} to {}", self.dir.display(), dest.display()),
        ))?;
        self.committed = true;
        sync_fs(&self.ds.base)?;
        Ok(self.id)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes a file and syncs it; a full disk is [`BackupError::StorageFull`].
fn write_synced(base: &Path, path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(BackupError::store_io(
        base,
        format!("cannot create {}", path.display()),
    ))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(BackupError::store_io(
            base,
            format!("cannot write {}", path.display()),
        ))
}

/// Flushes the file system holding `base` (chunks and indexes reach the disk before a snapshot counts).
fn sync_fs(base: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(base)
        .map_err(BackupError::io(format!("cannot open {}", base.display())))?;
    nix::unistd::syncfs(dir.as_raw_fd()).map_err(|e| BackupError::Io {
        context: format!("syncfs {}", base.display()),
        source: e.into(),
    })
}

fn read_names(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(BackupError::io(format!("cannot list {}", dir.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::BackupMode;

    #[test]
    fn only_committed_snapshots_are_listed_and_a_dropped_writer_leaves_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let ds = Datastore::open(d.path()).expect("open");
        let t = parse_time("2026-12-01T16:00:00Z").expect("time");
        let w = ds.begin(100, t).expect("begin");
        assert_eq!(ds.writers().expect("writers").len(), 1);
        assert!(ds.snapshots(100).expect("list").is_empty());
        drop(w);
        assert!(ds.writers().expect("writers").is_empty());
        let w = ds.begin(100, t).expect("begin");
        let m = Manifest {
            vmid: 100,
            kind: crate::manifest::GuestType::Qemu,
            backup_time: format_time(t),
            started: 0,
            finished: 0,
            mode: BackupMode::Stop,
            config: String::new(),
            disks: vec![],
        };
        let id = w.commit(&m).expect("commit");
        assert_eq!(ds.snapshots(100).expect("list"), vec![id]);
        assert!(matches!(ds.begin(100, t), Err(BackupError::Exists(_))));
        assert_eq!(Datastore::open(d.path()).expect("again").id(), ds.id());
        ds.remove_snapshot(&id).expect("rm");
        assert!(ds.snapshots(100).expect("list").is_empty());
    }

    #[test]
    fn a_dead_writers_leftovers_are_cleaned() {
        let d = tempfile::tempdir().expect("tempdir");
        let ds = Datastore::open(d.path()).expect("open");
        let dir = ds.guest_dir(7).join(".tmp-2026-12-01T16:00:00Z");
        std::fs::create_dir_all(&dir).expect("mkdir");
        // pid 0x7ffffffe does not exist.
        std::fs::write(dir.join(WRITER_FILE), r#"{"pid":2147483646,"started":1}"#).expect("w");
        assert_eq!(ds.clean_stale().expect("clean"), 1);
        assert!(!dir.exists());
    }
}
