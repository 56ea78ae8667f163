//! Request and answer bodies shared by the API, the internal RPC and the client.

use serde::{Deserialize, Serialize};

use brigade_cfs::{CfsStatus, FileInfo};
use brigade_core::cluster_conf::ClusterConf;

/// `POST /cluster/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub name: String,
}

/// The answer to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateResult {
    pub cluster: String,
    pub node_id: u64,
    /// The root API token; shown once.
    pub root_token: String,
    pub ca_fingerprint: String,
}

/// The answer to `POST /cluster/join-token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinTokenResult {
    pub token: String,
    pub expires: u64,
}

/// `POST /cluster/join`: make this node join a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// A member's API address: `IP` or `IP:PORT`.
    pub address: String,
    pub token: String,
}

/// The answer to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResult {
    pub cluster: String,
    pub node_id: u64,
}

/// What a joining node sends to a member (authenticated by the join token).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinApplication {
    pub token_id: String,
    pub secret: String,
    pub name: String,
    pub address: String,
    pub api_port: u16,
    pub rpc_port: u16,
    #[serde(default)]
    pub link1: Option<String>,
    /// The applicant is a quorum device.
    #[serde(default)]
    pub qdevice: bool,
}

/// What the cluster grants a joining node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinGrant {
    pub cluster: String,
    pub node_id: u64,
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

/// One row of `cluster nodes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRow {
    pub name: String,
    pub nodeid: u64,
    pub votes: u32,
    pub address: String,
    /// voter, learner or joining.
    pub role: String,
    pub leader: bool,
    pub local: bool,
    pub matched_index: Option<u64>,
}

/// `GET /cluster/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node: String,
    pub cluster: Option<String>,
    pub node_id: Option<u64>,
    pub quorate: bool,
    pub cfs: Option<CfsStatus>,
    pub config: Option<ClusterConf>,
    /// Heartbeat view of every node: alive, links, RTT, clock offset.
    #[serde(default)]
    pub members: Vec<brigade_membership::PeerStatus>,
    /// Heartbeat packets received and dropped (bad key, replays, garbage).
    #[serde(default)]
    pub heartbeats: brigade_membership::DropCounters,
    /// Things an administrator should look at (clock alarms, dead links, ...).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A file as the API returns it: `content` when the data is UTF-8.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsFile {
    pub path: String,
    pub dir: bool,
    pub version: u64,
    pub size: u64,
    pub mtime: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The data, base64.
    pub data: String,
}

impl From<FileInfo> for FsFile {
    fn from(f: FileInfo) -> Self {
        use base64::Engine as _;
        FsFile {
            data: base64::engine::general_purpose::STANDARD.encode(&f.data),
            content: String::from_utf8(f.data).ok(),
            path: f.path,
            dir: f.dir,
            version: f.version,
            size: f.size,
            mtime: f.mtime,
        }
    }
}

/// `POST /fs/write`: `content` (text) or `data` (base64), not both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    pub path: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub expect_version: Option<u64>,
    #[serde(default)]
    pub create_exclusive: bool,
}

/// `POST /fs/mkdir`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MkdirRequest {
    pub path: String,
    #[serde(default)]
    pub parents: bool,
}

/// `POST /fs/delete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub path: String,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub expect_version: Option<u64>,
}

/// `POST /fs/rename`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    pub from: String,
    pub to: String,
}

/// `POST /fs/lock` and `/fs/unlock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    pub path: String,
    pub owner: String,
    #[serde(default)]
    pub lease_ms: Option<u64>,
}

/// Leader-only operations, forwarded over the internal RPC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminOp {
    Join(JoinApplication),
    DelNode { name: String },
    RemoveQdevice,
}

/// Answers to [`AdminOp`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResult {
    Joined(JoinGrant),
    Removed,
}
