//! Volume ids as Proxmox writes them: `STORAGE:VOLNAME` (`local:100/vm-100-disk-0.qcow2`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{GuestError, Result};

/// A volume on a storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VolumeId {
    pub storage: String,
    /// Relative path inside the storage's `images/` directory.
    pub name: String,
}

/// Whether `id` is a valid storage id (`local`, `shared-nfs`).
pub fn is_valid_storage_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id.len() <= 64
}

impl VolumeId {
    pub fn parse(s: &str) -> Result<Self> {
        let (storage, name) = s.split_once(':').ok_or_else(|| {
            GuestError::Invalid(format!(
                "invalid volume {s:?}: expected STORAGE:VOLUME, e.g. local:100/vm-100-disk-0.qcow2"
            ))
        })?;
        if !is_valid_storage_id(storage) {
            return Err(GuestError::Invalid(format!(
                "invalid volume {s:?}: bad storage id {storage:?}"
            )));
        }
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        let ok_parts = name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
        if name.is_empty() || !ok_chars || !ok_parts || name.len() > 200 {
            return Err(GuestError::Invalid(format!(
                "invalid volume {s:?}: bad volume name {name:?}"
            )));
        }
        Ok(VolumeId {
            storage: storage.to_string(),
            name: name.to_string(),
        })
    }

    /// The image format told by the name's extension (`raw` for none, or a directory).
    pub fn format(&self) -> &'static str {
        if self.name.ends_with(".qcow2") {
            "qcow2"
        } else if self.name.ends_with(".vmdk") {
            "vmdk"
        } else {
            "raw"
        }
    }

    /// The guest this volume belongs to, by Proxmox's naming (`100/...`).
    pub fn owner(&self) -> Option<u32> {
        self.name.split('/').next()?.parse().ok()
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        let v = VolumeId::parse("local:100/vm-100-disk-0.qcow2").expect("ok");
        assert_eq!(v.storage, "local");
        assert_eq!(v.format(), "qcow2");
        assert_eq!(v.owner(), Some(100));
        assert_eq!(v.to_string(), "local:100/vm-100-disk-0.qcow2");
        for bad in [
            "nocolon",
            ":x",
            "local:",
            "local:../etc/passwd",
            "local:/abs",
            "local:a//b",
            "1local:x",
            "local:a b",
        ] {
            assert!(VolumeId::parse(bad).is_err(), "{bad}");
        }
    }
}
