//! Migration's wire types: the request that moves a guest, and which nodes can take it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST .../migrate`: move a guest to another node (a task).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateRequest {
    /// The node to move it to.
    pub target: String,
    /// Live, with its memory (a running VM on shared storage).
    #[serde(default)]
    pub online: bool,
}

/// `GET .../migrate`: where the guest can go now (Proxmox's migrate precondition), each
/// other node asked with the checks a migration makes (alive, storages, memory for a
/// live move).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MigrateTargets {
    /// The node the guest is on.
    pub node: String,
    /// It runs: a VM moves live (`online`), a container must be stopped first.
    pub running: bool,
    /// Why no node can take it as it is now (then every node is listed as not allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The nodes that can take it.
    pub allowed_nodes: Vec<String>,
    /// The other nodes, each with why not.
    pub not_allowed_nodes: BTreeMap<String, String>,
}
