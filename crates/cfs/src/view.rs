//! What readers get back: files, directory listings, status.

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// A file or directory with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub dir: bool,
    pub version: u64,
    pub size: u64,
    pub mtime: u64,
    #[serde(with = "crate::b64")]
    pub data: Vec<u8>,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntryInfo {
    pub name: String,
    pub dir: bool,
    pub version: u64,
    pub size: u64,
    pub mtime: u64,
}

/// A member as Raft sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: NodeId,
    pub name: String,
    pub rpc_addr: String,
    pub api_addr: String,
    pub voter: bool,
    /// The leader's view of this member's replicated log index (only on the leader).
    pub matched: Option<u64>,
}

/// The store's state on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfsStatus {
    pub node_id: NodeId,
    pub initialized: bool,
    pub role: String,
    pub quorate: bool,
    pub leader: Option<NodeId>,
    pub leader_name: Option<String>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub cluster_version: u64,
    pub tree_bytes: u64,
    pub tree_entries: u64,
    pub members: Vec<MemberInfo>,
    /// The failed write of this node's stores that stopped Raft here, until
    /// they are reopened ("raft log write failed: No space left on device").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_error: Option<String>,
}
