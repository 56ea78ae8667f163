//! Errors of the replicated file tree, serializable so they cross the RPC boundary.

use serde::{Deserialize, Serialize};

/// The message every write gets while the node has no quorum.
pub const NOT_QUORATE_MSG: &str = "cluster not quorate: configuration is read-only";

/// Why a cfs operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CfsError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: already exists")]
    Exists { path: String },
    #[error("{path}: version conflict: expected {expected}, found {actual}")]
    VersionMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: is a directory")]
    IsADirectory { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: directory not empty")]
    NotEmpty { path: String },
    #[error("{path}: file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error("tree full: {size} bytes would exceed the limit of {limit} bytes")]
    TreeFull { size: u64, limit: u64 },
    #[error("tree full: more than {limit} files and directories")]
    TooManyEntries { limit: u64 },
    #[error("guest {vmid} already exists ({path})")]
    GuestIdTaken { vmid: u32, path: String },
    #[error("{path}: locked by {owner}")]
    Locked { path: String, owner: String },
    #[error("{path}: not locked by {owner}")]
    NotLockOwner { path: String, owner: String },
    #[error("invalid operation: {message}")]
    Invalid { message: String },
    #[error("cluster not quorate: configuration is read-only")]
    NotQuorate,
    #[error("no leader is known yet; try again")]
    NoLeader,
    #[error("write timed out after {secs} s: the outcome is unknown")]
    Timeout { secs: u64 },
    #[error("storage error: {message}")]
    Storage { message: String },
    /// A write of this node's stores failed (a full disk): Raft is stopped here until it recovers.
    #[error("storage failed on this node: {message}; it takes no writes until the stores are writable again")]
    StorageFailed { message: String },
    #[error("cluster RPC failed: {message}")]
    Rpc { message: String },
    /// A store file failed its integrity check: this node's replica cannot be trusted.
    #[error("the stores of this node are corrupted: {message}; it does not start, so that it never serves wrong data: wipe its state directory and join the cluster again")]
    Corrupted { message: String },
}

impl CfsError {
    pub fn storage(e: impl std::fmt::Display) -> Self {
        CfsError::Storage {
            message: e.to_string(),
        }
    }
    pub fn rpc(e: impl std::fmt::Display) -> Self {
        CfsError::Rpc {
            message: e.to_string(),
        }
    }
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        CfsError::Invalid {
            message: e.to_string(),
        }
    }
}
