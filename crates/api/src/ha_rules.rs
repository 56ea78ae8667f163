//! The wire types of HA rules (`/cluster/ha/rules`), in Proxmox VE 9's names:
//! the body of an add or a change, and one listed rule with its state.

use serde::{Deserialize, Serialize};

/// `POST /cluster/ha/rules` and `PUT /cluster/ha/rules/{rule}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    /// The rule id (add only; the path names it for a change).
    #[serde(default)]
    pub rule: Option<String>,
    /// `node-affinity` or `resource-affinity`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `vm:100,ct:101`.
    #[serde(default)]
    pub resources: Option<String>,
    /// node-affinity: `n1:2,n2` (priority 0 when absent).
    #[serde(default)]
    pub nodes: Option<String>,
    /// node-affinity: only these nodes (the guest stops rather than run elsewhere).
    #[serde(default)]
    pub strict: Option<bool>,
    /// resource-affinity: `positive` (together) or `negative` (apart).
    #[serde(default)]
    pub affinity: Option<String>,
    /// Whether the rule is switched off (kept, not applied).
    #[serde(default)]
    pub disable: Option<bool>,
    /// A free-text comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One rule of `GET /cluster/ha/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRow {
    /// The rule id.
    pub rule: String,
    /// `node-affinity` or `resource-affinity`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The services it binds (`vm:100,ct:101`).
    pub resources: String,
    /// node-affinity: the nodes with their priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<String>,
    /// node-affinity: only these nodes.
    #[serde(default)]
    pub strict: bool,
    /// resource-affinity: `positive` or `negative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// Switched off by its configuration.
    #[serde(default)]
    pub disable: bool,
    /// A free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `enabled`, `disabled` (by `disable 1`) or `infeasible` (by the checks).
    pub state: String,
    /// Why the checks disabled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
