//! Graph history on the wire (`/nodes/{node}/rrddata`, `.../{kind}/{vmid}/rrddata`), Proxmox's field names.

use serde::{Deserialize, Serialize};

/// The query of an rrddata call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
pub struct RrdQuery {
    /// `hour` (10 s steps), `day` (1 min), `week` (30 min), `month` (6 h) or `year` (1 day).
    pub timeframe: String,
    /// `AVERAGE` (the default) or `MAX`.
    #[serde(default)]
    pub cf: Option<String>,
}

/// One point of a history: the start of its bucket and each figure, absent where unknown.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RrdRow {
    /// Start of the bucket, seconds since the epoch.
    pub time: u64,
    /// CPU busy share, 0..1 (a guest's: of its configured CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// CPUs (the node's, or the guest's configured ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxcpu: Option<f64>,
    /// Memory used, bytes (a guest's: resident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<f64>,
    /// Memory in all, bytes (a guest's: configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmem: Option<f64>,
    /// Bytes received per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netin: Option<f64>,
    /// Bytes sent per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netout: Option<f64>,
    /// Bytes read from storage per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskread: Option<f64>,
    /// Bytes written to storage per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diskwrite: Option<f64>,
    /// The node's 1-minute load average (nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadavg: Option<f64>,
}
