//! Storages on the wire: storage.cfg entries, adding one, and each node's free space.

use serde::{Deserialize, Serialize};

/// One storage of storage.cfg (`GET /storage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageEntry {
    /// Its id (`local`, `shared`).
    pub id: String,
    /// Its type (`dir`).
    pub kind: String,
    /// The path as written; `{node}` and `{state_dir}` are expanded per node.
    pub path: String,
    /// What it holds (`images`, `rootdir`, ...).
    pub content: Vec<String>,
    /// Every node sees the same directory (NFS, CephFS).
    pub shared: bool,
    /// Disabled: no node uses it.
    pub disable: bool,
    /// Nodes that have it (all when None).
    pub nodes: Option<Vec<String>>,
}

/// One storage on one node (`storage status`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageStatusRow {
    /// The storage's id.
    pub storage: String,
    /// The node measured.
    pub node: String,
    /// Its type (`dir`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its directory on that node.
    pub path: String,
    /// Whether it is shared.
    pub shared: bool,
    /// What it holds, comma-separated.
    pub content: String,
    /// Whether the node can use it now.
    pub active: bool,
    /// Size of its file system in bytes.
    pub total_bytes: u64,
    /// Bytes free.
    pub avail_bytes: u64,
    /// Bytes used.
    pub used_bytes: u64,
    /// Why it is not active.
    pub error: Option<String>,
}

/// `POST /storage`: add a `dir` storage.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageAddRequest {
    /// The new storage's id.
    pub storage: String,
    /// Its type (only `dir`).
    #[serde(rename = "type", default = "default_storage_type")]
    pub kind: String,
    /// Its directory (may use `{node}` and `{state_dir}`).
    pub path: String,
    /// What it holds (default: images,rootdir).
    #[serde(default)]
    pub content: Option<String>,
    /// Every node sees the same directory.
    #[serde(default)]
    pub shared: bool,
    /// Nodes that have it, comma-separated (default: all).
    #[serde(default)]
    pub nodes: Option<String>,
}

fn default_storage_type() -> String {
    "dir".into()
}
