//! Cluster lifecycle on the wire: create, join tokens, join (the joiner's request and what
//! a member grants), node list, status, and the leader-only operations nodes forward.

use serde::{Deserialize, Serialize};

use brigade_core::cluster_conf::ClusterConf;

use crate::cfs::CfsStatus;
use crate::membership::{DropCounters, PeerStatus};

/// `POST /cluster/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The cluster's name (lowercase letters, digits, '-').
    pub name: String,
}

/// The answer to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateResult {
    /// The cluster's name.
    pub cluster: String,
    /// The creating node's id (1).
    pub node_id: u64,
    /// The root API token; shown once.
    pub root_token: String,
    /// SHA-256 fingerprint of the new cluster CA.
    pub ca_fingerprint: String,
}

/// The answer to `POST /cluster/join-token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinTokenResult {
    /// The one-time token (`brigade-join.…`), pinning the CA fingerprint.
    pub token: String,
    /// When it expires (Unix seconds).
    pub expires: u64,
}

/// `POST /cluster/join`: make this node join a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// A member's API address: `IP` or `IP:PORT`.
    pub address: String,
    /// A join token made on a member.
    pub token: String,
}

/// The answer to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResult {
    /// The cluster joined.
    pub cluster: String,
    /// The node id the cluster gave this node.
    pub node_id: u64,
}

/// What a joining node sends to a member (authenticated by the join token).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinApplication {
    /// The join token's id.
    pub token_id: String,
    /// The join token's secret.
    pub secret: String,
    /// The applicant's node name.
    pub name: String,
    /// The applicant's link0 address.
    pub address: String,
    /// The applicant's API port.
    pub api_port: u16,
    /// The address the applicant's API listens on, when it is not its link0 address
    /// (a management network). Absent from older applicants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_address: Option<String>,
    /// The applicant's RPC port.
    pub rpc_port: u16,
    /// The applicant's link1 address, if it has a second link.
    #[serde(default)]
    pub link1: Option<String>,
    /// The applicant is a quorum device.
    #[serde(default)]
    pub qdevice: bool,
}

/// What the cluster grants a joining node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinGrant {
    /// The cluster's name.
    pub cluster: String,
    /// The node id given to the applicant.
    pub node_id: u64,
    /// The applicant's certificate, signed by the cluster CA.
    pub cert_pem: String,
    /// The certificate's private key.
    pub key_pem: String,
    /// The cluster CA's certificate.
    pub ca_pem: String,
}

/// One row of `cluster nodes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRow {
    /// The node's name.
    pub name: String,
    /// Its node id.
    pub nodeid: u64,
    /// Its votes (0 while it is not a voter).
    pub votes: u32,
    /// Its link0 address.
    pub address: String,
    /// voter, learner or joining.
    pub role: String,
    /// Whether it leads.
    pub leader: bool,
    /// Whether it is the node that answered.
    pub local: bool,
    /// The leader's view of its replicated log index.
    pub matched_index: Option<u64>,
}

/// `GET /cluster/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node: String,
    /// Its cluster, if it is in one.
    pub cluster: Option<String>,
    /// Its node id, if it is in a cluster.
    pub node_id: Option<u64>,
    /// Whether it holds quorum.
    pub quorate: bool,
    /// Its store's state.
    pub cfs: Option<CfsStatus>,
    /// cluster.conf as its replica has it.
    pub config: Option<ClusterConf>,
    /// Heartbeat view of every node: alive, links, RTT, clock offset.
    #[serde(default)]
    pub members: Vec<PeerStatus>,
    /// Heartbeat packets received and dropped (bad key, replays, garbage).
    #[serde(default)]
    pub heartbeats: DropCounters,
    /// Things an administrator should look at (clock alarms, dead links, ...).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Leader-only operations, forwarded over the internal RPC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminOp {
    /// Grant a join application.
    Join(JoinApplication),
    /// Remove a node from the cluster.
    DelNode {
        /// The node to remove.
        name: String,
    },
    /// Remove the quorum device.
    RemoveQdevice,
}

/// Answers to [`AdminOp`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResult {
    /// The join was granted.
    Joined(JoinGrant),
    /// The node or qdevice was removed.
    Removed,
}
