//! A snapshot's manifest (`manifest.json`): the guest's config, each disk's index, size and checksums, times, mode; checksummed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chunk_store::digest_of;
use crate::error::{BackupError, Result};

/// The manifest's file name inside a snapshot directory.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The guest config's file name inside a snapshot directory (a plain copy, for people).
pub const CONFIG_NAME: &str = "qemu-server.conf";

/// How the guest was backed up (vzdump's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    /// Live, while the guest runs (a point in time taken through QMP).
    Snapshot,
    /// The guest paused for the whole backup.
    Suspend,
    /// The guest stopped (or an image file read directly).
    Stop,
}

impl std::fmt::Display for BackupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        })
    }
}

impl std::str::FromStr for BackupMode {
    type Err = BackupError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "snapshot" => Ok(BackupMode::Snapshot),
            "suspend" => Ok(BackupMode::Suspend),
            "stop" => Ok(BackupMode::Stop),
            _ => Err(BackupError::Invalid(format!(
                "unknown backup mode {s:?} (snapshot, suspend or stop)"
            ))),
        }
    }
}

/// What kind of guest a snapshot holds (a container's one "disk" is its root tree's archive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestType {
    /// A VM: each disk entry is a raw image.
    #[default]
    Qemu,
    /// A container: one entry, `rootfs`, a tar archive of its root directory.
    Lxc,
}

impl GuestType {
    /// Whether this is a VM (left out of the manifest then, so VM manifests keep their bytes).
    pub fn is_qemu(&self) -> bool {
        *self == GuestType::Qemu
    }
}

/// How a disk's chunks were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Every chunk read (and compared by hash with the store).
    Full,
    /// Only the chunks a dirty bitmap marked were read.
    Incremental,
}

/// One disk of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskEntry {
    /// The config key (`scsi0`).
    pub slot: String,
    /// The index file inside the snapshot directory (`scsi0.img.fidx`).
    pub index: String,
    pub size: u64,
    /// SHA-256 of the index's content.
    pub index_csum: String,
    /// SHA-256 of the whole image, when every byte was seen (not after an incremental read).
    pub image_sha256: Option<String>,
    pub read_mode: ReadMode,
    /// Bytes read from the source, written as new chunks, reused from the store.
    pub read_bytes: u64,
    pub written_bytes: u64,
    pub reused_bytes: u64,
}

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub vmid: u32,
    /// `qemu` (not written) or `lxc`.
    #[serde(default, skip_serializing_if = "GuestType::is_qemu")]
    pub kind: GuestType,
    /// The snapshot's time: the point in time the disks show (RFC 3339, UTC).
    pub backup_time: String,
    /// Unix seconds when the backup started and ended.
    pub started: i64,
    pub finished: i64,
    pub mode: BackupMode,
    /// The guest's config as it was.
    pub config: String,
    pub disks: Vec<DiskEntry>,
}

/// The file: the manifest and the SHA-256 of its canonical JSON.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    manifest: Manifest,
    csum: String,
}

impl Manifest {
    /// SHA-256 of the canonical JSON (struct field order, no whitespace).
    pub fn csum(&self) -> Result<String> {
        let bytes = serde_json::to_vec(self).map_err(|source| BackupError::Json {
            context: "cannot encode manifest".into(),
            source,
        })?;
        Ok(hex::encode(digest_of(&bytes)))
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let file = ManifestFile {
            manifest: self.clone(),
            csum: self.csum()?,
        };
        serde_json::to_vec_pretty(&file).map_err(|source| BackupError::Json {
            context: "cannot encode manifest".into(),
            source,
        })
    }

    /// Parses and checks a manifest; damage is [`BackupError::Corrupt`].
    pub fn decode(what: &str, bytes: &[u8]) -> Result<Manifest> {
        let file: ManifestFile = serde_json::from_slice(bytes)
            .map_err(|e| BackupError::corrupt(what, format!("not a manifest: {e}")))?;
        if file.manifest.csum()? != file.csum {
            return Err(BackupError::corrupt(
                what,
                "its checksum does not match its content",
            ));
        }
        Ok(file.manifest)
    }

    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path)
            .map_err(BackupError::io(format!("cannot read {}", path.display())))?;
        Manifest::decode(&format!("manifest {}", path.display()), &bytes)
    }

    pub fn disk(&self, slot: &str) -> Option<&DiskEntry> {
        self.disks.iter().find(|d| d.slot == slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            vmid: 100,
            kind: crate::manifest::GuestType::Qemu,
            backup_time: "2026-12-01T16:00:00Z".into(),
            started: 1,
            finished: 2,
            mode: BackupMode::Snapshot,
            config: "memory: 128\nscsi0: local:100/vm-100-disk-0.qcow2\n".into(),
            disks: vec![DiskEntry {
                slot: "scsi0".into(),
                index: "scsi0.img.fidx".into(),
                size: 1 << 30,
                index_csum: "ab".into(),
                image_sha256: None,
                read_mode: ReadMode::Incremental,
                read_bytes: 3,
                written_bytes: 2,
                reused_bytes: 1,
            }],
        }
    }

    #[test]
    fn round_trip_and_tampering_is_caught() {
        let m = sample();
        let bytes = m.encode().expect("encode");
        assert_eq!(Manifest::decode("m", &bytes).expect("decode"), m);
        let text = String::from_utf8(bytes).expect("utf8");
        let tampered = text.replace("memory: 128", "memory: 999");
        let e = Manifest::decode("m", tampered.as_bytes()).expect_err("tampered");
        assert!(e.to_string().contains("checksum"), "{e}");
        assert!(Manifest::decode("m", b"{").is_err());
        assert!("bogus".parse::<BackupMode>().is_err());
    }
}
