//! How long the tests wait for what must not happen, derived from the cluster's timing
//! (Raft, quorum lease, node_timeout, HA fencing, the appliance's ticks) instead of
//! fixed sleeps: when a test cluster's timing changes, its negative waits follow.

use std::time::Duration;

use brigade_cfs::RaftSettings;
use brigade_node::config::RaftTuning;

/// The appliance prints `tick N` this often (its init's `sleep 1`).
pub const APPLIANCE_TICK: Duration = Duration::from_secs(1);

/// The timing of one test cluster.
#[derive(Debug, Clone)]
pub struct ClusterTiming {
    /// Raft and the quorum lease, as the nodes run them.
    pub raft: RaftSettings,
    /// cluster.conf's node_timeout.
    pub node_timeout: Duration,
    /// HA's renewal, fence timeout and lease.
    pub ha: brigade_ha::Timing,
}

impl ClusterTiming {
    /// The timing of nodes started with `tuning`, a node_timeout and a fence timeout
    /// (datacenter.cfg's `ha: fence_timeout=`; the default follows node_timeout).
    pub fn new(tuning: &RaftTuning, node_timeout_secs: u32, fence_timeout_secs: u64) -> Self {
        let d = RaftSettings::default();
        ClusterTiming {
            raft: RaftSettings {
                heartbeat_ms: tuning.heartbeat_ms.unwrap_or(d.heartbeat_ms),
                election_min_ms: tuning.election_min_ms.unwrap_or(d.election_min_ms),
                election_max_ms: tuning.election_max_ms.unwrap_or(d.election_max_ms),
                lease_ms: tuning.lease_ms.unwrap_or(d.lease_ms),
                ..d
            },
            node_timeout: Duration::from_secs(node_timeout_secs.into()),
            ha: brigade_ha::Timing::from_fence_timeout(fence_timeout_secs * 1000),
        }
    }

    /// How long a node stays quorate after its last acknowledgement by a majority.
    pub fn quorum_lease(&self) -> Duration {
        Duration::from_millis(self.raft.lease_ms)
    }

    /// Long enough that a node which lost its majority has lost its quorum lease too
    /// (a lease, and two heartbeats for the acknowledgements in flight).
    pub fn lease_outlived(&self) -> Duration {
        self.quorum_lease() + Duration::from_millis(2 * self.raft.heartbeat_ms)
    }

    /// The longest a new leader takes to be elected once the old one is unreachable: a
    /// full election timeout of silence for the pre-vote, then one more for the vote.
    pub fn election(&self) -> Duration {
        Duration::from_millis(2 * self.raft.election_max_ms)
    }

    /// After a partition or a lost voter, the time within which every node's quorum
    /// has settled: a minority's lease runs out, a majority elects a leader, and the
    /// leader's lease is acknowledged.
    pub fn quorum_settles(&self) -> Duration {
        self.quorum_lease() + self.election() + Duration::from_millis(self.raft.heartbeat_ms)
    }

    /// The time within which an LRM acts on what it sees (a node resumed after SIGSTOP,
    /// say): its lease runs out within the fence timeout, and it renews and acts within
    /// that time as well.
    pub fn lrm_reaction(&self) -> Duration {
        Duration::from_millis(self.ha.fence_timeout_ms)
    }

    /// After a cut-off node returns: the time within which it has caught up and any
    /// decision about its guests has been taken (one HA lease).
    pub fn reunion(&self) -> Duration {
        Duration::from_millis(self.ha.lease_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cluster_settles_its_quorum_within_seconds() {
        let t = ClusterTiming::new(&RaftTuning::default(), 3, 6);
        assert_eq!(t.quorum_lease(), Duration::from_secs(2));
        assert_eq!(t.lease_outlived(), Duration::from_millis(2500));
        assert_eq!(t.election(), Duration::from_secs(4));
        assert_eq!(t.quorum_settles(), Duration::from_millis(6250));
        assert_eq!(t.lrm_reaction(), Duration::from_secs(6));
        assert_eq!(t.reunion(), Duration::from_millis(7200));
    }
}
