//! Cluster lifecycle on the wire: create, join tokens, join (the joiner's request and what
//! a member grants), node list, status, and the leader-only operations nodes forward.

use serde::{Deserialize, Serialize};

use brigade_core::cluster_conf::ClusterConf;

use crate::cfs::CfsStatus;
use crate::membership::{DropCounters, PeerStatus};

/// `POST /cluster/create`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The cluster's name (lowercase letters, digits, '-').
    pub name: String,
}

/// The answer to create.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinTokenResult {
    /// The one-time token (`brigade-join.…`), pinning the CA fingerprint.
    pub token: String,
    /// When it expires (Unix seconds).
    pub expires: u64,
}

/// `POST /cluster/join`: make this node join a cluster.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// A member's API address: `IP` or `IP:PORT`.
    pub address: String,
    /// A join token made on a member.
    pub token: String,
}

/// The answer to join.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinResult {
    /// The cluster joined.
    pub cluster: String,
    /// The node id the cluster gave this node.
    pub node_id: u64,
}

/// What a joining node sends to a member (authenticated by the join token).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Option<crate::schema::ClusterConfSchema>)]
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
    /// The cluster's format version and each member's formats and release.
    #[serde(default)]
    pub format: Option<ClusterFormat>,
}

/// `DELETE /cluster/nodes/{name}?force=true`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DelnodeQuery {
    /// Remove it even while guest configs are still under `nodes/NAME`.
    #[serde(default)]
    pub force: bool,
}

/// `GET /cluster/nextid?vmid=N`: Proxmox's next-free-VMID question.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NextIdQuery {
    /// Ask whether this VMID is free (answered with it, or refused 409 when taken)
    /// instead of for the lowest free one (100 to 999999999, as a VMID).
    #[serde(default)]
    #[param(minimum = 100, maximum = 999_999_999)]
    pub vmid: Option<u32>,
}

/// The answer to `GET /cluster/nextid`: a VMID no guest of the cluster has (the lowest
/// from 100 unless one was asked about). Only a suggestion: a create in between may take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NextId {
    /// The free VMID.
    pub vmid: u32,
}

/// `GET /cluster/log?max=N`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClusterLogQuery {
    /// The newest N events (default 50; 0: every event kept).
    #[serde(default)]
    pub max: Option<usize>,
}

/// One event of the cluster log, oldest first, as `brigade log` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterLogEntry {
    /// Wall-clock Unix seconds on the node that saw it.
    pub time: u64,
    /// The node that saw it.
    pub node: String,
    /// joined, removed, dead, alive, quorum-lost, quorum-regained, leader, clock-alarm,
    /// clock-ok, storage-failed, storage-recovered.
    pub kind: String,
    /// What happened, in words.
    pub msg: String,
}

/// `GET /version`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Version {
    /// brigade's version (`0.1.0`).
    pub version: String,
    /// Always `brigade`.
    pub release: String,
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

/// What a node says of its formats, both ways, on the internal `POST /node/format`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormatAnnouncement {
    /// The node speaking.
    pub node: String,
    /// Its brigade release (`0.1.0`).
    pub release: String,
    /// The oldest format version it speaks.
    pub min_format: u32,
    /// The newest format version it speaks.
    pub max_format: u32,
    /// The cluster's active format version as its replica has it.
    pub active_format: u32,
}

/// One member's formats, as the answering node last heard them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberFormat {
    /// The member's name.
    pub name: String,
    /// `announced`; `unannounced` (a build older than format announcements, taken to
    /// speak format 1 only); `unknown` (not heard from since this node started).
    pub state: String,
    /// Its release, when announced.
    pub release: Option<String>,
    /// The oldest format it speaks, when known.
    pub min_format: Option<u32>,
    /// The newest format it speaks, when known.
    pub max_format: Option<u32>,
    /// Seconds since it was last heard.
    pub age_secs: Option<u64>,
    /// Whether it is the answering node.
    pub local: bool,
}

/// The cluster's format: the active version and what each member speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterFormat {
    /// The format version every member speaks now (the replicated tree's `priv/cluster-format`; 1 when absent).
    pub active: u32,
    /// The highest format every member speaks, when every member is known:
    /// `brigade cluster format upgrade` raises the active one to it.
    pub highest_common: Option<u32>,
    /// Each member of cluster.conf.
    pub members: Vec<MemberFormat>,
}

/// `POST /cluster/format/upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormatUpgradeResult {
    /// The active format before.
    pub previous: u32,
    /// The active format now.
    pub active: u32,
}
