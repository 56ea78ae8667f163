//! Disk faults: a node's state filesystem filled up and freed, and a stopped node's
//! store files damaged.

use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::schedule::Damage;

/// The file that fills a node's state filesystem.
pub const FILLER: &str = "chaos-filler";
const CHUNK: usize = 1 << 20;
/// The page size redb writes.
const PAGE: u64 = 4096;
/// What a damaged record is found by: the workload's paths are plain text in both files.
const RECORD_NEEDLE: &[u8] = b"chaos/";

/// Writes zeros into `state_dir/FILLER` until its filesystem is full; bytes written.
pub fn fill(state_dir: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::File::create(state_dir.join(FILLER))?;
    let chunk = vec![0u8; CHUNK];
    let mut written = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = f.flush();
    Ok(written)
}

/// Frees what [`fill`] took.
pub fn free(state_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(state_dir.join(FILLER)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Damages `file` as `damage` says (`seed` picks the bytes); what was done. Only the
/// damaged bytes are written, in place: the store files are sparse (a `log.redb` of
/// 130 MB may hold 15 MB), so rewriting a whole file would not fit its filesystem.
pub fn damage(file: &Path, damage: Damage, seed: u64) -> std::io::Result<String> {
    let bytes = std::fs::read(file)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (at, new, what) = match damage {
        Damage::Record => {
            let found: Vec<usize> = bytes
                .windows(RECORD_NEEDLE.len())
                .enumerate()
                .filter(|(_, w)| *w == RECORD_NEEDLE)
                .map(|(i, _)| i)
                .collect();
            match found.get(rng.gen_range(0..found.len().max(1))) {
                Some(i) => {
                    let i = i + RECORD_NEEDLE.len();
                    let b = bytes.get(i).copied().unwrap_or_default() ^ 0x01;
                    (
                        i as u64,
                        vec![b],
                        format!("{name}: flipped a bit of a record's key at byte {i}"),
                    )
                }
                None => page(bytes.len() as u64, &mut rng, 500, &name),
            }
        }
        Damage::Page { at_permille } => page(bytes.len() as u64, &mut rng, at_permille, &name),
        Damage::Header => {
            let mut header = vec![0u8; bytes.len().min(512)];
            rng.fill(&mut header[..]);
            let what = format!("{name}: overwrote its header ({} bytes)", header.len());
            (0, header, what)
        }
    };
    let f = std::fs::OpenOptions::new().write(true).open(file)?;
    f.write_all_at(&new, at)?;
    f.sync_all()?;
    Ok(what)
}

/// Random bytes for the page at `at_permille` of a file of `len` bytes.
fn page(len: u64, rng: &mut StdRng, at_permille: u16, name: &str) -> (u64, Vec<u8>, String) {
    let at = (len * u64::from(at_permille) / 1000) / PAGE * PAGE;
    let mut p = vec![0u8; (at + PAGE).min(len).saturating_sub(at) as usize];
    rng.fill(&mut p[..]);
    (at, p, format!("{name}: overwrote the page at byte {at}"))
}

/// The store files of a node's state directory.
pub fn store_file(state_dir: &Path, log: bool) -> PathBuf {
    state_dir
        .join(brigade_node::state_dir::CFS_DIR)
        .join(if log { "log.redb" } else { "state.redb" })
}

/// Empties a node's state directory (the mount point stays).
pub fn wipe(state_dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(state_dir)?.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_damage_changes_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("s.redb");
        let original: Vec<u8> = (0..20_000u32)
            .map(|i| (i % 251) as u8)
            .chain(b"xx chaos/reg/r1 yy".iter().copied())
            .collect();
        for d in [
            Damage::Record,
            Damage::Page { at_permille: 500 },
            Damage::Header,
        ] {
            std::fs::write(&f, &original).expect("write");
            let what = damage(&f, d, 7).expect("damage");
            assert_ne!(std::fs::read(&f).expect("read"), original, "{what}");
        }
    }

    #[test]
    fn damage_writes_in_place_and_keeps_a_sparse_file_sparse() {
        // Found by the 30-minute run (seed 1800): a sparse log.redb of 135 MB holding
        // 17 MB was rewritten whole on its 96 MiB tmpfs, failed with ENOSPC halfway and
        // left the file truncated, not damaged as the report said.
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("log.redb");
        let len: u64 = 64 << 20;
        let file = std::fs::File::create(&f).expect("create");
        file.write_all_at(b"head chaos/reg/r1 tail", 4096)
            .expect("write");
        file.set_len(len).expect("sparse");
        drop(file);
        for d in [
            Damage::Record,
            Damage::Page { at_permille: 900 },
            Damage::Header,
        ] {
            damage(&f, d, 3).expect("damage");
            let m = std::fs::metadata(&f).expect("metadata");
            assert_eq!(m.len(), len, "{d:?} changed the length");
            assert!(
                m.blocks() * 512 < 1 << 20,
                "{d:?} filled the holes: {} blocks",
                m.blocks()
            );
        }
        let bytes = std::fs::read(&f).expect("read");
        assert_ne!(&bytes[4096..4096 + 22], b"head chaos/reg/r1 tail");
    }

    #[test]
    fn fill_and_free_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        free(dir.path()).expect("nothing to free");
        std::fs::write(dir.path().join("keep"), "x").expect("write");
        wipe(dir.path()).expect("wipe");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
