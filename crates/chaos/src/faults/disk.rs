//! Disk faults: a node's state filesystem filled up and freed, and a stopped node's
//! store files damaged.

use std::io::Write as _;
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

/// Damages `file` as `damage` says (`seed` picks the bytes); what was done.
pub fn damage(file: &Path, damage: Damage, seed: u64) -> std::io::Result<String> {
    let mut bytes = std::fs::read(file)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let what = match damage {
        Damage::Record => {
            let at: Vec<usize> = bytes
                .windows(RECORD_NEEDLE.len())
                .enumerate()
                .filter(|(_, w)| *w == RECORD_NEEDLE)
                .map(|(i, _)| i)
                .collect();
            if at.is_empty() {
                return page(&mut bytes, &mut rng, 500, file, &name);
            }
            let i = at[rng.gen_range(0..at.len())] + RECORD_NEEDLE.len();
            if let Some(b) = bytes.get_mut(i) {
                *b ^= 0x01;
            }
            format!("{name}: flipped a bit of a record's key at byte {i}")
        }
        Damage::Page { at_permille } => {
            return page(&mut bytes, &mut rng, at_permille, file, &name);
        }
        Damage::Header => {
            let end = bytes.len().min(512);
            rng.fill(&mut bytes[..end]);
            format!("{name}: overwrote its header ({end} bytes)")
        }
    };
    std::fs::write(file, &bytes)?;
    Ok(what)
}

fn page(
    bytes: &mut [u8],
    rng: &mut StdRng,
    at_permille: u16,
    file: &Path,
    name: &str,
) -> std::io::Result<String> {
    let len = bytes.len() as u64;
    let at = (len * u64::from(at_permille) / 1000) / PAGE * PAGE;
    let end = (at + PAGE).min(len);
    if let Some(p) = bytes.get_mut(at as usize..end as usize) {
        rng.fill(p);
    }
    std::fs::write(file, &*bytes)?;
    Ok(format!("{name}: overwrote the page at byte {at}"))
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
    fn fill_and_free_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        free(dir.path()).expect("nothing to free");
        std::fs::write(dir.path().join("keep"), "x").expect("write");
        wipe(dir.path()).expect("wipe");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
