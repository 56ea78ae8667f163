//! The replicated configuration tree on the wire: errors, write results, changes, listings, status.

use serde::{Deserialize, Serialize};

/// The message every write gets while the node has no quorum.
pub const NOT_QUORATE_MSG: &str = "cluster not quorate: configuration is read-only";

/// Why a cfs operation failed. It crosses the wire as is (between nodes, and inside
/// [`ErrorBody::cfs`](crate::ErrorBody::cfs)), tagged by `kind`.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, utoipa::ToSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CfsError {
    /// No file or directory at `path`.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// Something is at `path` already (create-exclusive, mkdir, rename target).
    #[error("{path}: already exists")]
    Exists {
        /// The path that exists.
        path: String,
    },
    /// A compare-and-swap found another version.
    #[error("{path}: version conflict: expected {expected}, found {actual}")]
    VersionMismatch {
        /// The file compared.
        path: String,
        /// The version the writer expected (0: must not exist).
        expected: u64,
        /// The version found.
        actual: u64,
    },
    /// A file operation on a directory.
    #[error("{path}: is a directory")]
    IsADirectory {
        /// The directory.
        path: String,
    },
    /// A directory operation on a file (or a file where a parent directory should be).
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The file.
        path: String,
    },
    /// A non-recursive delete of a directory with entries.
    #[error("{path}: directory not empty")]
    NotEmpty {
        /// The directory.
        path: String,
    },
    /// A file over the per-file limit.
    #[error("{path}: file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The tree would grow over its byte limit.
    #[error("tree full: {size} bytes would exceed the limit of {limit} bytes")]
    TreeFull {
        /// The size the tree would have.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The tree would hold too many entries.
    #[error("tree full: more than {limit} files and directories")]
    TooManyEntries {
        /// The most entries allowed.
        limit: u64,
    },
    /// A guest config for a VMID that another node or kind already holds.
    #[error("guest {vmid} already exists ({path})")]
    GuestIdTaken {
        /// The VMID.
        vmid: u32,
        /// The config that holds it.
        path: String,
    },
    /// The path is locked by someone else.
    #[error("{path}: locked by {owner}")]
    Locked {
        /// The locked path.
        path: String,
        /// Who holds the lock.
        owner: String,
    },
    /// An unlock by someone who does not hold the lock.
    #[error("{path}: not locked by {owner}")]
    NotLockOwner {
        /// The locked path.
        path: String,
        /// Who asked to unlock.
        owner: String,
    },
    /// An operation that makes no sense (deleting the root, a lock without owner, ...).
    #[error("invalid operation: {message}")]
    Invalid {
        /// What is wrong with it.
        message: String,
    },
    /// The node has no quorum: the tree is read-only here.
    #[error("cluster not quorate: configuration is read-only")]
    NotQuorate,
    /// No leader is known (an election is under way).
    #[error("no leader is known yet; try again")]
    NoLeader,
    /// The write was sent but no commit was seen in time: it may or may not have happened.
    #[error("write timed out after {secs} s: the outcome is unknown")]
    Timeout {
        /// How long the writer waited.
        secs: u64,
    },
    /// The node's stores failed to read or write.
    #[error("storage error: {message}")]
    Storage {
        /// What failed.
        message: String,
    },
    /// A write of this node's stores failed (a full disk): Raft is stopped here until it recovers.
    #[error("storage failed on this node: {message}; it takes no writes until the stores are writable again")]
    StorageFailed {
        /// The failed write.
        message: String,
    },
    /// Talking to another member failed.
    #[error("cluster RPC failed: {message}")]
    Rpc {
        /// What failed.
        message: String,
    },
    /// A store file failed its integrity check: this node's replica cannot be trusted.
    #[error("the stores of this node are corrupted: {message}; it does not start, so that it never serves wrong data: wipe its state directory and join the cluster again")]
    Corrupted {
        /// What the check found.
        message: String,
    },
}

impl CfsError {
    /// A store failure, described by `e`.
    pub fn storage(e: impl std::fmt::Display) -> Self {
        CfsError::Storage {
            message: e.to_string(),
        }
    }
    /// An RPC failure, described by `e`.
    pub fn rpc(e: impl std::fmt::Display) -> Self {
        CfsError::Rpc {
            message: e.to_string(),
        }
    }
    /// An invalid operation, described by `e`.
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        CfsError::Invalid {
            message: e.to_string(),
        }
    }
}

/// What a successful operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Applied {
    /// The cluster version after the operation (the new version of every entry it touched).
    pub version: u64,
    /// The lock generation, for lock operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_generation: Option<u64>,
}

/// A change to the tree, as seen by watchers (`fs watch`, one JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The cluster version of the change.
    pub version: u64,
    /// The path that changed.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// What happened to a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A file was written.
    Written,
    /// A directory was made.
    Mkdir,
    /// A file or directory was deleted.
    Deleted,
    /// The path was made by a rename of `from`.
    RenamedFrom {
        /// Where it came from.
        from: String,
    },
    /// The path was renamed to `to`.
    RenamedTo {
        /// Where it went.
        to: String,
    },
    /// The path was locked by `owner`.
    Locked {
        /// The lock's owner.
        owner: String,
    },
    /// The path's lock was released.
    Unlocked,
}

/// One directory entry (`fs ls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirEntryInfo {
    /// The entry's name in its directory.
    pub name: String,
    /// Whether it is a directory.
    pub dir: bool,
    /// The cluster version of its last change.
    pub version: u64,
    /// Its size in bytes (0 for directories).
    pub size: u64,
    /// The leader's wall-clock seconds of its last change (display only).
    pub mtime: u64,
}

/// A member as Raft sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberInfo {
    /// Its Raft node id (cluster.conf's `nodeid`).
    pub id: u64,
    /// Its node name.
    pub name: String,
    /// `ip:port` of its mutual-TLS RPC listener.
    pub rpc_addr: String,
    /// `ip:port` of its HTTPS API.
    pub api_addr: String,
    /// Whether it votes (otherwise a learner).
    pub voter: bool,
    /// The leader's view of this member's replicated log index (only on the leader).
    pub matched: Option<u64>,
}

/// The store's state on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CfsStatus {
    /// This node's Raft node id.
    pub node_id: u64,
    /// Whether it belongs to a cluster (has any membership).
    pub initialized: bool,
    /// Its Raft role: Leader, Follower, Candidate or Learner.
    pub role: String,
    /// Whether it may write now (holds the quorum lease).
    pub quorate: bool,
    /// The leader's node id, if one is known.
    pub leader: Option<u64>,
    /// The leader's name, if one is known.
    pub leader_name: Option<String>,
    /// The current Raft term.
    pub term: u64,
    /// The index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry it applied.
    pub last_applied: Option<u64>,
    /// The index its last snapshot covers.
    pub snapshot_index: Option<u64>,
    /// The index up to which its log is purged.
    pub purged_index: Option<u64>,
    /// The cluster version it applied.
    pub cluster_version: u64,
    /// Bytes its tree uses (data plus path names).
    pub tree_bytes: u64,
    /// Files and directories in its tree.
    pub tree_entries: u64,
    /// Every member as Raft sees it.
    pub members: Vec<MemberInfo>,
    /// As leader: Raft heartbeats to learners answered from the learner's last
    /// acknowledgement instead of sent (learners are beaten less often than voters).
    #[serde(default)]
    pub learner_beats_spared: u64,
    /// The failed write of this node's stores that stopped Raft here, until
    /// they are reopened ("raft log write failed: No space left on device").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_error: Option<String>,
}
