//! Cluster membership the way corosync/knet sees it: UDP heartbeats every
//! second on every link, authenticated with the cluster key, giving liveness,
//! per-link state, round-trip time and clock offset. Small clusters heartbeat
//! all-to-all; large ones probe a few peers and gossip liveness (`gossip`).

pub mod gossip;
pub mod packet;
pub mod service;
pub mod view;

pub use packet::{Heartbeat, Packet, PacketError};
pub use service::{Membership, MembershipConfig, Peer};
pub use view::{DropCounters, LinkStatus, MemberView, PeerStatus};
