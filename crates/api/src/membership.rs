//! The heartbeat view on the wire: each peer's liveness, links, RTT and clock offset.

use serde::{Deserialize, Serialize};

/// Counters of received and dropped heartbeat packets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DropCounters {
    /// Authentic packets accepted.
    pub received: u64,
    /// Truncated or garbage packets.
    pub dropped_malformed: u64,
    /// Packets whose HMAC did not match the cluster key.
    pub dropped_auth: u64,
    /// Replays (an old sequence number or boot epoch).
    pub dropped_replay: u64,
    /// Authentic packets from a node not in cluster.conf.
    pub dropped_unknown: u64,
}

/// One link of one peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkStatus {
    /// The link number (0 or 1).
    pub link: u8,
    /// The peer's heartbeat address on this link, if it has one.
    pub address: Option<String>,
    /// Heard on this link within node_timeout.
    pub up: bool,
    /// Smoothed round-trip time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Milliseconds since the last packet on this link.
    pub last_heard_ms: Option<u64>,
}

/// One peer as the heartbeats show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerStatus {
    /// Its node id.
    pub id: u64,
    /// Its node name.
    pub name: String,
    /// Heard on any link within node_timeout (always true for the local node).
    pub alive: bool,
    /// Whether this is the node that answered.
    pub local: bool,
    /// Each of its links.
    pub links: Vec<LinkStatus>,
    /// The peer's clock minus ours, in milliseconds.
    pub clock_offset_ms: Option<f64>,
    /// "ok", "warning" (over 1 s) or "alarm" (over 10 s).
    pub clock: String,
}
