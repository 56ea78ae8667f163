//! Verification: re-read every chunk of every snapshot, check hashes, indexes and manifests; report damage with the snapshots it affects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::chunk_store::Digest;
use crate::datastore::{Datastore, SnapshotId};
use crate::error::{BackupError, Result};

/// A damaged chunk and who needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedChunk {
    pub digest: String,
    /// Why it is bad (missing, wrong content).
    pub reason: String,
    pub snapshots: Vec<String>,
}

/// A snapshot whose manifest or index is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedSnapshot {
    pub snapshot: String,
    pub reason: String,
}

/// What verify found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub snapshots: usize,
    pub chunks_checked: usize,
    pub bytes_checked: u64,
    pub damaged_chunks: Vec<DamagedChunk>,
    pub damaged_snapshots: Vec<DamagedSnapshot>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.damaged_chunks.is_empty() && self.damaged_snapshots.is_empty()
    }

    /// Every snapshot with some damage.
    pub fn affected_snapshots(&self) -> BTreeSet<String> {
        self.damaged_chunks
            .iter()
            .flat_map(|c| c.snapshots.iter().cloned())
            .chain(self.damaged_snapshots.iter().map(|s| s.snapshot.clone()))
            .collect()
    }
}

/// Verifies `snapshots` (all of the datastore when None). Each chunk is read once.
pub fn verify(ds: &Datastore, snapshots: Option<&[SnapshotId]>) -> Result<VerifyReport> {
    let list = match snapshots {
        Some(s) => s.to_vec(),
        None => ds.all_snapshots()?,
    };
    let mut report = VerifyReport {
        snapshots: list.len(),
        ..VerifyReport::default()
    };
    let mut users: BTreeMap<Digest, BTreeSet<SnapshotId>> = BTreeMap::new();
    for id in &list {
        let manifest = match ds.manifest(id) {
            Ok(m) => m,
            Err(e) => {
                report.damaged_snapshots.push(DamagedSnapshot {
                    snapshot: id.to_string(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        for disk in &manifest.disks {
            match ds.index(id, &disk.slot) {
                Ok(idx) => {
                    for d in idx.digests {
                        users.entry(d).or_default().insert(*id);
                    }
                }
                Err(e) => report.damaged_snapshots.push(DamagedSnapshot {
                    snapshot: id.to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    let mut bad: HashMap<Digest, String> = HashMap::new();
    for d in users.keys() {
        report.chunks_checked += 1;
        match ds.chunks.read_verified(d) {
            Ok(data) => report.bytes_checked += data.len() as u64,
            Err(BackupError::Corrupt { detail, .. }) => {
                bad.insert(*d, detail);
            }
            Err(e) => return Err(e),
        }
    }
    for (d, snaps) in users {
        if let Some(reason) = bad.remove(&d) {
            report.damaged_chunks.push(DamagedChunk {
                digest: hex::encode(d),
                reason,
                snapshots: snaps.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    Ok(report)
}
