//! What the scheduler knows of sizes and usage: node capacities, guests' configured
//! sizes, and the live usage the nodes sample.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ServiceId;

/// Live usage, as sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// CPUs busy (1.0 = one core fully).
    pub cpu: f64,
    pub memory_mib: u64,
}

/// A node's capacity and, when sampled, its live usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub cpus: f64,
    pub memory_mib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

/// A guest's configured size and, when sampled, its live usage on a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestStats {
    pub cpus: f64,
    pub memory_mib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<(String, Live)>,
}

/// Everything the scheduler knows about sizes and usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub nodes: BTreeMap<String, NodeStats>,
    pub guests: BTreeMap<ServiceId, GuestStats>,
}
