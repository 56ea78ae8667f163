//! The fixed-size index of one disk image: its size, the chunk size, each chunk's digest in order, and a checksum.

use std::path::Path;

use crate::chunk_store::{digest_of, Digest};
use crate::error::{BackupError, Result};

/// The size of every chunk but the last of an image: 4 MiB, as Proxmox Backup Server.
pub const CHUNK_SIZE: u64 = 4 << 20;
/// The first bytes of an index file (format version 1).
pub const INDEX_MAGIC: &[u8; 8] = b"BRGFIDX1";
/// Extension of index files.
pub const INDEX_EXT: &str = "fidx";
/// Header: magic, image size, chunk size, chunk count.
const HEADER_LEN: usize = 8 + 8 + 8 + 8;

/// Digests of an image's chunks, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIndex {
    pub image_size: u64,
    pub chunk_size: u64,
    pub digests: Vec<Digest>,
}

impl FixedIndex {
    /// The number of chunks an image of `size` bytes has.
    pub fn chunk_count(size: u64, chunk_size: u64) -> u64 {
        size.div_ceil(chunk_size)
    }

    /// Offset and length of chunk `i`.
    pub fn chunk_range(&self, i: usize) -> (u64, u64) {
        let off = i as u64 * self.chunk_size;
        (off, self.chunk_size.min(self.image_size - off))
    }

    /// The checksum of the index's content (what the manifest records).
    pub fn csum(&self) -> Digest {
        digest_of(&self.body())
    }

    fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + self.digests.len() * 32);
        b.extend_from_slice(INDEX_MAGIC);
        b.extend_from_slice(&self.image_size.to_le_bytes());
        b.extend_from_slice(&self.chunk_size.to_le_bytes());
        b.extend_from_slice(&(self.digests.len() as u64).to_le_bytes());
        for d in &self.digests {
            b.extend_from_slice(d);
        }
        b
    }

    /// The file's bytes: the body and its SHA-256.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.body();
        let csum = digest_of(&b);
        b.extend_from_slice(&csum);
        b
    }

    /// Parses an index file's bytes; any damage is [`BackupError::Corrupt`] naming `what`.
    pub fn decode(what: &str, bytes: &[u8]) -> Result<FixedIndex> {
        let bad = |detail: &str| BackupError::corrupt(what, detail);
        if bytes.len() < HEADER_LEN + 32 {
            return Err(bad("too short"));
        }
        if &bytes[..8] != INDEX_MAGIC {
            return Err(bad("bad magic (not a brigade index)"));
        }
        let (body, csum) = bytes.split_at(bytes.len() - 32);
        if digest_of(body).as_slice() != csum {
            return Err(bad("its checksum does not match its content"));
        }
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&body[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let image_size = u64_at(8);
        let chunk_size = u64_at(16);
        let count = u64_at(24);
        if chunk_size == 0 || count != FixedIndex::chunk_count(image_size, chunk_size) {
            return Err(bad("its chunk count does not fit its image size"));
        }
        let list = &body[HEADER_LEN..];
        if list.len() as u64 != count * 32 {
            return Err(bad("its length does not fit its chunk count"));
        }
        let digests = list
            .chunks_exact(32)
            .map(|c| {
                let mut d = [0u8; 32];
                d.copy_from_slice(c);
                d
            })
            .collect();
        Ok(FixedIndex {
            image_size,
            chunk_size,
            digests,
        })
    }

    /// Reads and checks an index file.
    pub fn read(path: &Path) -> Result<FixedIndex> {
        let bytes = std::fs::read(path).map_err(BackupError::io(format!(
            "cannot read index {}",
            path.display()
        )))?;
        FixedIndex::decode(&format!("index {}", path.display()), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip_and_any_flipped_byte_is_caught(size in 0u64..(40 << 20), flip in any::<prop::sample::Index>()) {
            let n = FixedIndex::chunk_count(size, CHUNK_SIZE) as usize;
            let idx = FixedIndex {
                image_size: size,
                chunk_size: CHUNK_SIZE,
                digests: (0..n).map(|i| digest_of(&i.to_le_bytes())).collect(),
            };
            let bytes = idx.encode();
            prop_assert_eq!(FixedIndex::decode("t", &bytes).expect("decodes"), idx);
            let mut bad = bytes.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x40;
            let corrupt = matches!(FixedIndex::decode("t", &bad), Err(BackupError::Corrupt { .. }));
            prop_assert!(corrupt, "a flipped byte at {} went unnoticed", i);
            prop_assert!(FixedIndex::decode("t", &bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn last_chunk_is_short() {
        let idx = FixedIndex {
            image_size: CHUNK_SIZE + 10,
            chunk_size: CHUNK_SIZE,
            digests: vec![[0; 32]; 2],
        };
        assert_eq!(idx.chunk_range(1), (CHUNK_SIZE, 10));
    }
}
