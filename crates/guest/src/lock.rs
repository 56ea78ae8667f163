//! Guest config locks (`lock: migrate`), as Proxmox sets them during long operations.

use serde::{Deserialize, Serialize};

use crate::error::{GuestError, Result};

/// Why a guest is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestLock {
    Backup,
    Clone,
    Create,
    Migrate,
    Rollback,
    Snapshot,
    SnapshotDelete,
    Suspending,
    Suspended,
    Destroyed,
}

const NAMES: [(GuestLock, &str); 10] = [
    (GuestLock::Backup, "backup"),
    (GuestLock::Clone, "clone"),
    (GuestLock::Create, "create"),
    (GuestLock::Migrate, "migrate"),
    (GuestLock::Rollback, "rollback"),
    (GuestLock::Snapshot, "snapshot"),
    (GuestLock::SnapshotDelete, "snapshot-delete"),
    (GuestLock::Suspending, "suspending"),
    (GuestLock::Suspended, "suspended"),
    (GuestLock::Destroyed, "destroyed"),
];

impl GuestLock {
    pub fn parse(s: &str) -> Result<Self> {
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(l, _)| *l)
            .ok_or_else(|| {
                GuestError::Invalid(format!(
                    "lock: unknown lock {s:?} (known: {})",
                    NAMES.map(|(_, n)| n).join(", ")
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(l, _)| *l == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }
}

impl std::fmt::Display for GuestLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lock_round_trips() {
        for (l, n) in NAMES {
            assert_eq!(GuestLock::parse(n).expect("known"), l);
            assert_eq!(l.as_str(), n);
        }
        assert!(GuestLock::parse("nope").is_err());
    }
}
