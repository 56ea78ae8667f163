//! Cluster membership the way corosync/knet sees it: UDP heartbeats every
//! second to every node on every link, authenticated with the cluster key,
//! giving liveness, per-link state, round-trip time and clock offset.

pub mod packet;
pub mod service;
pub mod view;

pub use packet::{Heartbeat, PacketError};
pub use service::{Membership, MembershipConfig, Peer};
pub use view::{DropCounters, LinkStatus, MemberView, PeerStatus};
