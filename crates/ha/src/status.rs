//! What the CRM publishes (`ha/manager_status`) and each LRM reports (`nodes/<n>/lrm_status`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ServiceId;

/// ha-manager's node states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Online,
    Maintenance,
    Unknown,
    Fence,
    Gone,
}

/// ha-manager's service states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Started,
    Stopped,
    RequestStop,
    Disabled,
    Ignored,
    Migrate,
    Relocate,
    Freeze,
    Fence,
    Recovery,
    Error,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Started => "started",
            ServiceState::Stopped => "stopped",
            ServiceState::RequestStop => "request_stop",
            ServiceState::Disabled => "disabled",
            ServiceState::Ignored => "ignored",
            ServiceState::Migrate => "migrate",
            ServiceState::Relocate => "relocate",
            ServiceState::Freeze => "freeze",
            ServiceState::Fence => "fence",
            ServiceState::Recovery => "recovery",
            ServiceState::Error => "error",
        }
    }
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeState::Online => "online",
            NodeState::Maintenance => "maintenance",
            NodeState::Unknown => "unknown",
            NodeState::Fence => "fence",
            NodeState::Gone => "gone",
        })
    }
}

/// One service as the CRM tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub state: ServiceState,
    /// The node that owns it (holds its config).
    pub node: String,
    /// Where a migrate or relocate goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Changes with every command the CRM gives an LRM; results name it.
    pub uid: u64,
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub relocates: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_nodes: Vec<String>,
    /// The node it left for maintenance (it returns there when that ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_node: Option<String>,
    /// Why an HA rule keeps it from running now (it starts once the rule can hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// `ha/manager_status`: the CRM's whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStatus {
    /// The node whose CRM wrote this (the Raft leader).
    pub master_node: Option<String>,
    pub node_status: BTreeMap<String, NodeState>,
    pub service_status: BTreeMap<ServiceId, ServiceStatus>,
    /// The next command uid.
    pub next_uid: u64,
    /// HA rules the feasibility checks disabled, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disabled_rules: BTreeMap<String, String>,
    /// Consecutive CRM rounds the cluster has been over the auto-rebalance threshold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rebalance_rounds: u32,
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What an LRM is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrmMode {
    #[default]
    Active,
    /// The node asked to be drained (`node maintenance enable`).
    Maintenance,
    /// The daemon stopped cleanly and left its HA guests running, frozen.
    Freeze,
    /// The daemon stopped cleanly after stopping its HA guests: recover them at once.
    Released,
}

/// The outcome of one CRM command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LrmResult {
    pub uid: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `nodes/<n>/lrm_status`: written on every lease renewal.
///
/// A renewal is also a promise: from the moment it commits, the node kills every
/// service in `covers` once `fence_timeout_ms` passed since it sent the renewal
/// without a later one committing. The CRM recovers only what a lost node covered,
/// and waits a lease derived from the fence timeout that node announced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LrmStatus {
    pub mode: LrmMode,
    /// Renewal counter: every renewal is a new write.
    pub seq: u64,
    #[serde(default)]
    pub results: BTreeMap<ServiceId, LrmResult>,
    /// The fence timeout this renewal's lease runs on (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_timeout_ms: Option<u64>,
    /// The HA services this node's self-fence and watchdog kill when the lease lapses.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub covers: BTreeSet<ServiceId>,
    /// The HA services whose guests run on this node.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub running: BTreeSet<ServiceId>,
}
