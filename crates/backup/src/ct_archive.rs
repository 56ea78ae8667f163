//! A container's root tree as a deterministic tar stream (sorted entries; modes, owners,
//! mtimes and symlinks kept; device nodes and FIFOs recorded; sockets skipped), cut into
//! the chunk store's fixed 4 MiB chunks as it is written.

use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::chunk_store::{digest_of, ChunkStore, Counters, Digest};
use crate::disk_backup::{Abort, DiskResult, RateLimit};
use crate::error::{BackupError, Result};
use crate::index::{FixedIndex, CHUNK_SIZE};
use crate::manifest::ReadMode;

/// A `Write` that cuts what it is given into 4 MiB chunks and stores each (new ones only).
pub struct ChunkSink<'a> {
    store: &'a ChunkStore,
    counters: &'a Counters,
    limit: Option<RateLimit>,
    abort: Abort,
    buf: Vec<u8>,
    digests: Vec<Digest>,
    size: u64,
    whole: Sha256,
    /// The first store error (`Write` can only say io::Error; this keeps the typed one).
    failed: Option<BackupError>,
}

impl<'a> ChunkSink<'a> {
    pub fn new(
        store: &'a ChunkStore,
        counters: &'a Counters,
        limit: Option<RateLimit>,
        abort: Abort,
    ) -> Self {
        ChunkSink {
            store,
            counters,
            limit,
            abort,
            buf: Vec::with_capacity(CHUNK_SIZE as usize),
            digests: Vec::new(),
            size: 0,
            whole: Sha256::new(),
            failed: None,
        }
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Asked to stop (a task stop): no further chunk is stored.
        if let Err(e) = self.abort.check() {
            let msg = e.to_string();
            self.failed = Some(e);
            return Err(io::Error::other(msg));
        }
        let d = digest_of(&self.buf);
        if let Err(e) = self.store.insert(&d, &self.buf, self.counters) {
            let msg = e.to_string();
            self.failed = Some(e);
            return Err(io::Error::other(msg));
        }
        self.digests.push(d);
        self.buf.clear();
        Ok(())
    }

    /// Stores the last (short) chunk; the archive as a disk result (always a full read).
    pub fn finish(mut self) -> Result<DiskResult> {
        if let Err(e) = self.flush_chunk() {
            return Err(self
                .failed
                .take()
                .unwrap_or_else(|| BackupError::io("cannot store the archive")(e)));
        }
        Ok(DiskResult {
            index: FixedIndex {
                image_size: self.size,
                chunk_size: CHUNK_SIZE,
                digests: self.digests,
            },
            image_sha256: Some(hex::encode(self.whole.finalize())),
            read_mode: ReadMode::Full,
        })
    }

    /// The typed error behind a failed write, if the store failed.
    pub fn take_error(&mut self) -> Option<BackupError> {
        self.failed.take()
    }
}

impl Write for ChunkSink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE as usize - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.whole.update(&data[..n]);
        self.size += n as u64;
        self.counters.add_read(n as u64);
        if let Some(l) = self.limit.as_mut() {
            l.consumed(n as u64);
        }
        if self.buf.len() == CHUNK_SIZE as usize {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the tree under `root` (not `root` itself) as a tar stream to `out`: entries in
/// byte order of their names, depth first, so the same tree always gives the same bytes.
pub fn write_tree<W: Write>(root: &Path, out: W) -> io::Result<W> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    add_dir(&mut b, root, Path::new(""))?;
    b.into_inner()
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, root: &Path, rel: &Path) -> io::Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty())?;
            add_dir(b, root, &rel)?;
        } else if ft.is_file() {
            let f = std::fs::File::open(&path)?;
            b.append_data(&mut h, &rel, f)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &rel, target)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            h.set_size(0);
            let dev = meta.rdev();
            h.set_device_major(nix::sys::stat::major(dev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(dev) as u32)?;
            b.append_data(&mut h, &rel, io::empty())?;
        }
        // Sockets cannot be archived (and mean nothing in a backup): skipped.
    }
    Ok(())
}

/// Archives `root` into `store`: the archive's index and checksum.
pub fn archive_tree(
    store: &ChunkStore,
    root: &Path,
    counters: &Counters,
    limit: Option<RateLimit>,
    abort: &Abort,
) -> Result<DiskResult> {
    if !root.is_dir() {
        return Err(BackupError::NotFound(format!(
            "the container's root {} is not a directory",
            root.display()
        )));
    }
    let mut sink = ChunkSink::new(store, counters, limit, abort.clone());
    match write_tree(root, &mut sink) {
        Ok(_) => sink.finish(),
        // A store failure or an abort keeps its own (typed) error.
        Err(e) => Err(sink
            .take_error()
            .unwrap_or_else(|| BackupError::io(format!("cannot archive {}", root.display()))(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("etc/sub")).expect("mkdir");
        std::fs::create_dir_all(root.join("bin")).expect("mkdir");
        std::fs::write(root.join("etc/hostname"), "ct\n").expect("w");
        std::fs::write(root.join("etc/sub/b"), vec![7u8; 5 << 20]).expect("w");
        std::fs::write(root.join("bin/tool"), "#!/bin/sh\n").expect("w");
        std::fs::set_permissions(
            root.join("bin/tool"),
            std::fs::Permissions::from_mode(0o751),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("tool", root.join("bin/link")).expect("symlink");
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");
    }

    #[test]
    fn the_same_tree_gives_the_same_chunks_and_writes_nothing_new() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = ChunkStore::open(&d.path().join("store")).expect("store");
        let root = d.path().join("root");
        tree(&root);
        let c1 = Counters::default();
        let a = archive_tree(&store, &root, &c1, None, &Abort::default()).expect("first");
        assert!(
            a.index.digests.len() >= 2,
            "5 MiB of data: two chunks or more"
        );
        assert!(c1.snapshot().written_bytes > 0);
        let c2 = Counters::default();
        let b = archive_tree(&store, &root, &c2, None, &Abort::default()).expect("second");
        assert_eq!(a.index, b.index);
        assert_eq!(a.image_sha256, b.image_sha256);
        assert_eq!(
            c2.snapshot().written_bytes,
            0,
            "an unchanged tree writes no chunk"
        );
        // One byte changed: a different archive, yet most chunks are shared.
        std::fs::write(root.join("etc/hostname"), "cu\n").expect("w");
        let c3 = Counters::default();
        let c = archive_tree(&store, &root, &c3, None, &Abort::default()).expect("third");
        assert_ne!(a.image_sha256, c.image_sha256);
        assert!(c3.snapshot().written_chunks >= 1);
    }

    #[test]
    fn entries_are_sorted_and_keep_modes_links_and_fifos() {
        let d = tempfile::tempdir().expect("tempdir");
        tree(d.path());
        let bytes = write_tree(d.path(), Vec::new()).expect("archive");
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().expect("entries") {
            let e = e.expect("entry");
            let path = e.path().expect("path").display().to_string();
            let h = e.header();
            match path.as_str() {
                "bin/tool" => assert_eq!(h.mode().expect("mode") & 0o7777, 0o751),
                "bin/link" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Symlink);
                    assert_eq!(
                        e.link_name().expect("link").expect("some").to_str(),
                        Some("tool")
                    );
                }
                "fifo" => assert_eq!(h.entry_type(), tar::EntryType::Fifo),
                _ => {}
            }
            seen.push(path);
        }
        assert_eq!(
            seen,
            [
                "bin",
                "bin/link",
                "bin/tool",
                "etc",
                "etc/hostname",
                "etc/sub",
                "etc/sub/b",
                "fifo"
            ]
        );
    }
}
