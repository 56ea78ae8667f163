//! HA on the wire: resource and group requests, and `ha status` in the shape of
//! `ha-manager status`.

use serde::{Deserialize, Serialize};

/// `POST /cluster/ha/resources` and `PUT /cluster/ha/resources/{sid}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// The service id (`vm:100`, `ct:101`); from the path on PUT.
    #[serde(default)]
    pub sid: Option<String>,
    /// The requested state: started, stopped, disabled or ignored.
    #[serde(default)]
    pub state: Option<String>,
    /// The HA group it may run in.
    #[serde(default)]
    pub group: Option<String>,
    /// Restarts on the same node before it is relocated.
    #[serde(default)]
    pub max_restart: Option<u32>,
    /// Relocations to other nodes before it is in error.
    #[serde(default)]
    pub max_relocate: Option<u32>,
    /// A free-text comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Move back to a higher-priority node of its node-affinity rule when one returns.
    #[serde(default)]
    pub failback: Option<bool>,
}

/// `POST /cluster/ha/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// The group's name.
    pub group: String,
    /// Its nodes with priorities: `n1:2,n2:1`.
    pub nodes: String,
    /// Its services run only on its nodes.
    #[serde(default)]
    pub restricted: bool,
    /// Its services do not move back to a higher-priority node that returns.
    #[serde(default)]
    pub nofailback: bool,
}

/// One service of `ha status`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HaServiceRow {
    /// The service id.
    pub sid: String,
    /// The CRM's state (started, fence, recovery, error, ...).
    pub state: String,
    /// The node it is assigned to.
    pub node: String,
    /// Where it is moving to, if it moves.
    pub target: Option<String>,
    /// The requested state.
    pub request: String,
    /// Its HA group.
    pub group: Option<String>,
    /// Whether its node's LRM last reported its guest running (None: that node's
    /// report is older than a lease, or it never reported).
    #[serde(default)]
    pub running: Option<bool>,
    /// The last failed command's message, if the last command failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why an HA rule keeps it from running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// One node's LRM in `ha status`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HaNodeRow {
    /// The node's name.
    pub name: String,
    /// The CRM's node state (online, maintenance, fence, unknown).
    pub state: String,
    /// Its LRM's mode as its last renewal said (active, maintenance, freeze, released).
    pub mode: String,
    /// Heard (heartbeats) within node_timeout, as the answering node sees it.
    pub alive: bool,
    /// How long ago the answering node applied its last lease renewal (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_age_ms: Option<u64>,
}

/// `GET /cluster/ha/status`, in the shape of `ha-manager status`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HaStatus {
    /// The node that answered: this is its view.
    #[serde(default)]
    pub view_of: String,
    /// Whether that node holds quorum.
    pub quorate: bool,
    /// Why this view may be out of date (an inquorate node's replica stopped following).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// The node whose CRM is master (the Raft leader).
    pub master: Option<String>,
    /// Every node's LRM.
    pub nodes: Vec<HaNodeRow>,
    /// Every HA service.
    pub services: Vec<HaServiceRow>,
    /// The fence timeout in force.
    pub fence_timeout_ms: u64,
    /// The lease derived from it.
    pub lease_ms: u64,
}

/// `POST /cluster/ha/resources/{sid}/migrate`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HaMigrateRequest {
    /// The node to move the service to.
    pub node: String,
}

/// The answer to an HA migration: requested (HA carries it out).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HaMigrateRequested {
    /// The service id.
    pub requested: String,
    /// The node it is to move to.
    pub node: String,
}

/// `POST /nodes/{node}/maintenance`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// Enable (its HA guests move away) or disable (they come back).
    pub enable: bool,
}

/// The answer to a maintenance change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceSet {
    /// The node.
    pub node: String,
    /// Whether it is in maintenance now.
    pub maintenance: bool,
}

/// The answer to a removal (an HA resource, group or rule, a storage).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Removed {
    /// What was removed.
    pub removed: String,
}
