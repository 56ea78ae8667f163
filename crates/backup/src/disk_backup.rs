//! The chunking engine shared by file and live backups: split an image into 4 MiB chunks, hash, store new ones, reuse known ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::chunk_store::{digest_of, ChunkStore, Counters, Digest};
use crate::error::{BackupError, Result};
use crate::index::{FixedIndex, CHUNK_SIZE};
use crate::manifest::ReadMode;

/// A disk image to back up, read by offset.
pub trait ImageSource {
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Whether the range is known to read as zeroes (so it need not be read).
    fn known_zero(&mut self, _offset: u64, _len: u64) -> Result<bool> {
        Ok(false)
    }
    /// Whether the range may differ from the previous snapshot (true when unknown).
    fn maybe_changed(&mut self, _offset: u64, _len: u64) -> Result<bool> {
        Ok(true)
    }
}

/// What backing up one disk produced.
#[derive(Debug, Clone)]
pub struct DiskResult {
    pub index: FixedIndex,
    /// SHA-256 of the whole image (only when every chunk was read or known zero).
    pub image_sha256: Option<String>,
    pub read_mode: ReadMode,
}

/// A backup's stop switch, shared with whoever may stop it (a task stop): the reader looks at
/// it before every chunk, so an aborted backup ends within one chunk (and its rate-limit wait).
#[derive(Debug, Clone, Default)]
pub struct Abort(Arc<AtomicBool>);

impl Abort {
    /// Asks the backup to stop.
    pub fn abort(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_aborted(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// An error once the backup was asked to stop.
    pub fn check(&self) -> Result<()> {
        if self.is_aborted() {
            return Err(BackupError::Aborted);
        }
        Ok(())
    }
}

/// Limits the read rate (vzdump's `bwlimit`, KiB/s).
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_sec: u64,
    start: Instant,
    done: u64,
}

impl RateLimit {
    pub fn kib_per_sec(kib: u64) -> RateLimit {
        RateLimit {
            bytes_per_sec: kib.max(1) * 1024,
            start: Instant::now(),
            done: 0,
        }
    }

    pub(crate) fn consumed(&mut self, n: u64) {
        self.done += n;
        let due = Duration::from_secs_f64(self.done as f64 / self.bytes_per_sec as f64);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// Backs up `src` into `store`. With `prev` of the same geometry and `incremental`, the
/// chunks the source reports unchanged keep their digest from `prev` (after checking the
/// chunk is still stored); every other chunk is read, hashed and stored if new.
pub fn backup_disk(
    store: &ChunkStore,
    src: &mut dyn ImageSource,
    prev: Option<&FixedIndex>,
    incremental: bool,
    counters: &Counters,
    mut limit: Option<&mut RateLimit>,
    abort: &Abort,
) -> Result<DiskResult> {
    let size = src.size();
    let prev = prev.filter(|p| p.image_size == size && p.chunk_size == CHUNK_SIZE);
    let incremental = incremental && prev.is_some();
    let count = FixedIndex::chunk_count(size, CHUNK_SIZE) as usize;
    let mut digests: Vec<Digest> = Vec::with_capacity(count);
    let mut whole = (!incremental).then(Sha256::new);
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    let zero = vec![0u8; CHUNK_SIZE as usize];
    let zero_full = digest_of(&zero);
    for i in 0..count {
        abort.check()?;
        let off = i as u64 * CHUNK_SIZE;
        let len = CHUNK_SIZE.min(size - off);
        if incremental && !src.maybe_changed(off, len)? {
            if let Some(d) = prev.and_then(|p| p.digests.get(i)) {
                if store.touch(d)? {
                    counters.reused_bytes.fetch_add(len, Ordering::Relaxed);
                    counters.reused_chunks.fetch_add(1, Ordering::Relaxed);
                    digests.push(*d);
                    continue;
                }
            }
        }
        let data: &[u8] = if src.known_zero(off, len)? {
            &zero[..len as usize]
        } else {
            let b = &mut buf[..len as usize];
            src.read_at(off, b)?;
            counters.add_read(len);
            if let Some(l) = limit.as_deref_mut() {
                l.consumed(len);
            }
            b
        };
        let d = if len == CHUNK_SIZE && data.as_ptr() == zero.as_ptr() {
            zero_full
        } else {
            digest_of(data)
        };
        if let Some(h) = whole.as_mut() {
            h.update(data);
        }
        store.insert(&d, data, counters)?;
        digests.push(d);
    }
    Ok(DiskResult {
        index: FixedIndex {
            image_size: size,
            chunk_size: CHUNK_SIZE,
            digests,
        },
        image_sha256: whole.map(|h| hex::encode(h.finalize())),
        read_mode: if incremental {
            ReadMode::Incremental
        } else {
            ReadMode::Full
        },
    })
}

/// A raw image file read directly.
#[derive(Debug)]
pub struct RawFile {
    file: std::fs::File,
    size: u64,
}

impl RawFile {
    pub fn open(path: &std::path::Path) -> Result<RawFile> {
        let file = std::fs::File::open(path).map_err(crate::error::BackupError::io(format!(
            "cannot open {}",
            path.display()
        )))?;
        let size = file
            .metadata()
            .map_err(crate::error::BackupError::io(format!(
                "cannot stat {}",
                path.display()
            )))?
            .len();
        Ok(RawFile { file, size })
    }
}

impl ImageSource for RawFile {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(buf, offset)
            .map_err(crate::error::BackupError::io("cannot read the image"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem {
        data: Vec<u8>,
        changed: Option<std::ops::Range<u64>>,
    }
    impl ImageSource for Mem {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
            let o = offset as usize;
            buf.copy_from_slice(&self.data[o..o + buf.len()]);
            Ok(())
        }
        fn maybe_changed(&mut self, offset: u64, len: u64) -> Result<bool> {
            Ok(self
                .changed
                .as_ref()
                .is_none_or(|r| r.start < offset + len && offset < r.end))
        }
    }

    #[test]
    fn the_rate_limit_slows_reads_down() {
        let mut l = RateLimit::kib_per_sec(1024);
        let start = Instant::now();
        for _ in 0..4 {
            l.consumed(128 * 1024);
        }
        // 512 KiB at 1 MiB/s: about half a second, never much less.
        assert!(
            start.elapsed() >= Duration::from_millis(450),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn incremental_reads_only_changed_chunks_and_full_dedups() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ChunkStore::open(d.path()).expect("store");
        let mut data: Vec<u8> = (0..(10 * CHUNK_SIZE + 5))
            .map(|i| (i / 4096) as u8)
            .collect();
        let mut src = Mem {
            data: data.clone(),
            changed: None,
        };
        let c1 = Counters::default();
        let none = Abort::default();
        let r1 = backup_disk(&store, &mut src, None, false, &c1, None, &none).expect("full");
        assert_eq!(r1.index.digests.len(), 11);
        assert_eq!(c1.snapshot().read_bytes, 10 * CHUNK_SIZE + 5);
        assert!(r1.image_sha256.is_some());
        data[(3 * CHUNK_SIZE + 7) as usize] ^= 1;
        let mut src = Mem {
            data: data.clone(),
            changed: Some(3 * CHUNK_SIZE + 7..3 * CHUNK_SIZE + 8),
        };
        let c2 = Counters::default();
        let r2 =
            backup_disk(&store, &mut src, Some(&r1.index), true, &c2, None, &none).expect("incr");
        let s2 = c2.snapshot();
        assert_eq!((s2.read_bytes, s2.written_bytes), (CHUNK_SIZE, CHUNK_SIZE));
        assert_eq!(r2.read_mode, ReadMode::Incremental);
        let diff: Vec<usize> = (0..11)
            .filter(|&i| r1.index.digests[i] != r2.index.digests[i])
            .collect();
        assert_eq!(diff, vec![3]);
        // A full read of the same data writes nothing new.
        let c3 = Counters::default();
        let r3 =
            backup_disk(&store, &mut src, Some(&r2.index), false, &c3, None, &none).expect("full");
        assert_eq!(c3.snapshot().written_bytes, 0);
        assert_eq!(r3.index, r2.index);
        // An aborted backup stops before its next chunk and stores nothing more.
        let stop = Abort::default();
        stop.abort();
        let c4 = Counters::default();
        let e = backup_disk(&store, &mut src, None, false, &c4, None, &stop).expect_err("aborted");
        assert!(matches!(e, BackupError::Aborted), "{e}");
        assert_eq!(c4.snapshot().read_bytes, 0);
    }
}
