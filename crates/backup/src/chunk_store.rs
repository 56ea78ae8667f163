//! The content-addressed chunk store of a backup storage: `<path>/.chunks/<first 4 hex>/<sha256>`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::error::{BackupError, Result};

/// A chunk's name: the SHA-256 of its content.
pub type Digest = [u8; 32];

/// The directory under the storage's path that holds the chunks.
pub const CHUNK_DIR: &str = ".chunks";
/// Suffix of a chunk being written (renamed into place when complete).
pub const TEMP_SUFFIX: &str = ".tmp";

/// SHA-256 of `data`.
pub fn digest_of(data: &[u8]) -> Digest {
    Sha256::digest(data).into()
}

/// Counters of one operation on the store (bytes read from the source, written, reused).
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes read from the disk being backed up.
    pub read_bytes: AtomicU64,
    /// Bytes of new chunks written to the store.
    pub written_bytes: AtomicU64,
    /// Bytes of chunks already in the store (deduplicated).
    pub reused_bytes: AtomicU64,
    /// Chunks written.
    pub written_chunks: AtomicU64,
    /// Chunks already present.
    pub reused_chunks: AtomicU64,
}

/// A plain copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub read_bytes: u64,
    pub written_bytes: u64,
    pub reused_bytes: u64,
    pub written_chunks: u64,
    pub reused_chunks: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            read_bytes: self.read_bytes.load(Ordering::Relaxed),
            written_bytes: self.written_bytes.load(Ordering::Relaxed),
            reused_bytes: self.reused_bytes.load(Ordering::Relaxed),
            written_chunks: self.written_chunks.load(Ordering::Relaxed),
            reused_chunks: self.reused_chunks.load(Ordering::Relaxed),
        }
    }

    pub fn add_read(&self, n: u64) {
        self.read_bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// When written chunks reach the disk (Proxmox Backup Server's `sync-level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncLevel {
    /// Each chunk is fsynced before it is renamed into place.
    File,
    /// The whole file system is synced (syncfs) before a snapshot's manifest is written
    /// and after it is renamed into place: one sync per backup instead of one per chunk.
    #[default]
    Filesystem,
}

/// The chunk store in one backup storage directory.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    base: PathBuf,
    root: PathBuf,
    sync_level: SyncLevel,
}

impl ChunkStore {
    /// Opens (creating if needed) the chunk store of the storage at `base`.
    pub fn open(base: &Path) -> Result<ChunkStore> {
        ChunkStore::open_with(base, SyncLevel::default())
    }

    /// Opens the chunk store with an explicit sync level.
    pub fn open_with(base: &Path, sync_level: SyncLevel) -> Result<ChunkStore> {
        let root = base.join(CHUNK_DIR);
        std::fs::create_dir_all(&root).map_err(BackupError::store_io(
            base,
            format!("cannot create {}", root.display()),
        ))?;
        Ok(ChunkStore {
            base: base.to_path_buf(),
            root,
            sync_level,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sync_level(&self) -> SyncLevel {
        self.sync_level
    }

    /// Where the chunk named `digest` lives.
    pub fn chunk_path(&self, digest: &Digest) -> PathBuf {
        let hex = hex::encode(digest);
        self.root.join(&hex[..4]).join(hex)
    }

    /// Whether the chunk exists; if it does, its mtime is set to now, so a GC
    /// running meanwhile keeps it (GC never removes a chunk touched after a running backup started).
    pub fn touch(&self, digest: &Digest) -> Result<bool> {
        let path = self.chunk_path(digest);
        match File::options().write(true).open(&path) {
            Ok(f) => {
                f.set_modified(SystemTime::now())
                    .map_err(BackupError::io(format!(
                        "cannot touch chunk {}",
                        path.display()
                    )))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BackupError::io(format!(
                "cannot open chunk {}",
                path.display()
            ))(e)),
        }
    }

    /// Stores `data` under `digest` (its SHA-256, computed by the caller) unless it is
    /// there already. New chunks are written to a temporary file, synced, then renamed
    /// into place: a reader sees a whole chunk or none. Returns whether it was new.
    pub fn insert(&self, digest: &Digest, data: &[u8], counters: &Counters) -> Result<bool> {
        let len = data.len() as u64;
        if self.touch(digest)? {
            counters.reused_bytes.fetch_add(len, Ordering::Relaxed);
            counters.reused_chunks.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let path = self.chunk_path(digest);
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(BackupError::store_io(
            &self.base,
            format!("cannot create {}", dir.display()),
        ))?;
        let tmp = path.with_extension(format!(
            "{}.{}{TEMP_SUFFIX}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let result = (|| {
            let mut f = File::create(&tmp).map_err(BackupError::store_io(
                &self.base,
                format!("cannot create {}", tmp.display()),
            ))?;
            f.write_all(data).map_err(BackupError::store_io(
                &self.base,
                format!("cannot write {}", tmp.display()),
            ))?;
            if self.sync_level == SyncLevel::File {
                f.sync_all().map_err(BackupError::store_io(
                    &self.base,
                    format!("cannot sync {}", tmp.display()),
                ))?;
            }
            std::fs::rename(&tmp, &path).map_err(BackupError::store_io(
                &self.base,
                format!("cannot rename {}", tmp.display()),
            ))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        counters.written_bytes.fetch_add(len, Ordering::Relaxed);
        counters.written_chunks.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Reads a chunk and checks that its content hashes to its name.
    pub fn read_verified(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.chunk_path(digest);
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    BackupError::corrupt(
                        format!("chunk {}", hex::encode(digest)),
                        "it is missing from the store",
                    )
                } else {
                    BackupError::io(format!("cannot read chunk {}", path.display()))(e)
                }
            })?;
        let actual = digest_of(&data);
        if &actual != digest {
            return Err(BackupError::corrupt(
                format!("chunk {}", hex::encode(digest)),
                format!("its content hashes to {}", hex::encode(actual)),
            ));
        }
        Ok(data)
    }

    /// Every chunk file in the store with its mtime (temporary files included, marked).
    pub fn list(&self) -> Result<Vec<StoredChunk>> {
        let mut out = Vec::new();
        let prefixes = std::fs::read_dir(&self.root).map_err(BackupError::io(format!(
            "cannot list {}",
            self.root.display()
        )))?;
        for prefix in prefixes {
            let prefix = prefix.map_err(BackupError::io("cannot list chunk dirs"))?;
            if !prefix.path().is_dir() {
                continue;
            }
            let files = std::fs::read_dir(prefix.path()).map_err(BackupError::io(format!(
                "cannot list {}",
                prefix.path().display()
            )))?;
            for f in files {
                let f = f.map_err(BackupError::io("cannot list chunks"))?;
                let name = f.file_name().to_string_lossy().into_owned();
                let meta = match f.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BackupError::io("cannot stat chunk")(e)),
                };
                let digest = parse_digest(&name);
                out.push(StoredChunk {
                    path: f.path(),
                    digest,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(out)
    }
}

/// A file found in the chunk store.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub path: PathBuf,
    /// None for a temporary or foreign file.
    pub digest: Option<Digest>,
    pub size: u64,
    pub modified: SystemTime,
}

/// The digest a 64-hex-digit name stands for.
pub fn parse_digest(hex_name: &str) -> Option<Digest> {
    if hex_name.len() != 64 {
        return None;
    }
    let bytes = hex::decode(hex_name).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_once_read_verified_and_detect_corruption() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ChunkStore::open_with(d.path(), SyncLevel::File).expect("open");
        let c = Counters::default();
        let data = vec![7u8; 1000];
        let dg = digest_of(&data);
        assert!(store.insert(&dg, &data, &c).expect("insert"));
        assert!(!store.insert(&dg, &data, &c).expect("again"));
        let s = c.snapshot();
        assert_eq!((s.written_bytes, s.reused_bytes), (1000, 1000));
        assert_eq!(store.read_verified(&dg).expect("read"), data);
        let path = store.chunk_path(&dg);
        assert!(path.starts_with(d.path().join(".chunks").join(&hex::encode(dg)[..4])));
        std::fs::write(&path, b"garbage").expect("corrupt");
        let e = store.read_verified(&dg).expect_err("corrupt");
        assert!(matches!(e, BackupError::Corrupt { .. }), "{e}");
        std::fs::remove_file(&path).expect("rm");
        assert!(store
            .read_verified(&dg)
            .expect_err("missing")
            .to_string()
            .contains("missing"));
        let listed = store.list().expect("list");
        assert!(listed.is_empty(), "no temp files left: {listed:?}");
    }
}
