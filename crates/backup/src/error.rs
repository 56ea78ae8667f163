//! Typed errors of backup operations; each keeps its source.

use std::path::PathBuf;

/// Why a backup, restore, verify, prune or GC failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Bad input: an argument, a config line, a schedule.
    #[error("{0}")]
    Invalid(String),
    /// A snapshot, disk or datastore that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The target exists already (a restore without force, a snapshot of the same second).
    #[error("{0}")]
    Exists(String),
    /// The backup storage has no room left.
    #[error("backup storage {path} is full: {source}")]
    StorageFull {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Stored data failed its checksum: an index, a manifest or a chunk.
    #[error("{what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    /// A helper program (qemu-img, qemu-nbd) failed.
    #[error("{0}")]
    Failed(String),
    /// The NBD server answered with an error or broke the protocol.
    #[error("NBD: {0}")]
    Nbd(String),
    /// QEMU's monitor failed.
    #[error("QMP: {source}")]
    Guest {
        #[from]
        source: brigade_guest::GuestError,
    },
    /// The backup was stopped (its task was stopped) before it ended; nothing is listed.
    #[error("the backup was aborted (its task was stopped)")]
    Aborted,
    /// The guest's QEMU ended (stopped, shut down, crashed) while its live backup read it.
    #[error("the guest stopped during the backup, so it is incomplete and not listed ({detail})")]
    GuestStopped { detail: String },
    /// A manifest could not be encoded or decoded.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

impl BackupError {
    /// An I/O error with what was being done; ENOSPC and EDQUOT become [`BackupError::StorageFull`]
    /// when `path` is given.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Io { context, source }
    }

    /// An I/O error on the backup storage at `path`: a full disk says so.
    pub fn store_io(
        path: impl Into<PathBuf>,
        context: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> BackupError {
        let path = path.into();
        let context = context.into();
        move |source| {
            if is_no_space(&source) {
                BackupError::StorageFull { path, source }
            } else {
                BackupError::Io { context, source }
            }
        }
    }

    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> BackupError {
        BackupError::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Whether this error is a full backup storage.
    pub fn is_storage_full(&self) -> bool {
        match self {
            BackupError::StorageFull { .. } => true,
            BackupError::Io { source, .. } => is_no_space(source),
            _ => false,
        }
    }
}

/// ENOSPC or EDQUOT.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == nix::errno::Errno::ENOSPC as i32 || code == nix::errno::Errno::EDQUOT as i32
    ) || e.kind() == std::io::ErrorKind::StorageFull
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
