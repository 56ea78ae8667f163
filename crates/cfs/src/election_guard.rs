//! The election guard, brigade's Raft pre-vote: a voter stands for election
//! only after a majority of the voters agreed that no leader is alive.
//!
//! openraft 0.9 has no pre-vote. A voter cut off from the others raises its
//! term at every election timeout; when the partition heals, its higher term
//! makes the healthy leader step down (the leader's appends are answered with
//! the higher vote) and quorum is lost for an election. So elections are
//! switched off (`Raft::runtime_config().elect(false)`) unless this guard
//! allows them, and it allows them only after a pre-vote round that a majority
//! of every voter configuration granted.
//!
//! The windows, from the Raft timing (`h` = heartbeat, `T` in
//! `[election_min, election_max]` openraft's randomized election timeout,
//! `L = election_max` openraft's leader lease):
//!
//! - openraft itself elects only after `L + T` without a message of a leader,
//!   and refuses real votes within `L` of one.
//! - A voter asks for pre-votes once it has had no leader contact for `L`,
//!   again every `h`, each round bounded by `election_min`.
//! - A voter grants a pre-vote only when it, too, had no leader contact for
//!   `L` (and is not the leader), and the asker's log is at least as
//!   up-to-date as its own (the rule of a real vote).
//! - When a leader dies, every follower loses contact within one heartbeat of
//!   the others, so a round started at `L` is granted by `L + h + rtt`, before
//!   openraft's own timer fires at `L + T >= L + election_min`: failover time
//!   is unchanged while `h + rtt < election_min` (default 250 ms vs 1000 ms,
//!   aggressive tuning 100 ms vs 400 ms).
//! - A voter cut off gets no answers: it never stands, its term stays. When
//!   the partition heals, every voter it asks has heard the leader within
//!   `h < L` and refuses, and the leader's next append (within `h`, or `h`
//!   plus openraft's 500 ms back-off after an unreachable peer) resets its
//!   election timer: it rejoins without an election.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{LogId, NodeId};

/// A pre-vote request: "would you vote for me, were I to stand?"
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreVoteRequest {
    pub candidate: NodeId,
    pub last_log_id: Option<LogId>,
}

/// The answer to a pre-vote request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreVoteResponse {
    pub granted: bool,
    /// Why not, when refused (for the log).
    #[serde(default)]
    pub reason: String,
}

/// The guard's windows, from the Raft timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardTiming {
    /// `L`: no leader contact for this long before asking or granting.
    pub leader_silence: Duration,
    /// `h`: how often to ask again.
    pub retry: Duration,
    /// How long one round may take.
    pub round_timeout: Duration,
}

impl GuardTiming {
    pub fn new(heartbeat_ms: u64, election_min_ms: u64, election_max_ms: u64) -> Self {
        GuardTiming {
            leader_silence: Duration::from_millis(election_max_ms),
            retry: Duration::from_millis(heartbeat_ms),
            round_timeout: Duration::from_millis(election_min_ms),
        }
    }
}

/// What the receiver of a pre-vote knows of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalView {
    pub is_leader: bool,
    /// Time since this node last heard a leader (or led).
    pub since_leader_contact: Duration,
    pub last_log_id: Option<LogId>,
}

/// The receiver's decision on a pre-vote.
pub fn grant(req: &PreVoteRequest, me: &LocalView, timing: &GuardTiming) -> PreVoteResponse {
    let refuse = |reason: String| PreVoteResponse {
        granted: false,
        reason,
    };
    if me.is_leader {
        return refuse("I am the leader".into());
    }
    if me.since_leader_contact < timing.leader_silence {
        return refuse(format!(
            "heard a leader {} ms ago",
            me.since_leader_contact.as_millis()
        ));
    }
    if req.last_log_id < me.last_log_id {
        return refuse("my log is more up-to-date".into());
    }
    PreVoteResponse {
        granted: true,
        reason: String::new(),
    }
}

/// Whether this node should ask for pre-votes now.
pub fn should_ask(me: &LocalView, timing: &GuardTiming) -> bool {
    !me.is_leader && me.since_leader_contact >= timing.leader_silence
}

/// Whether the granted set (this node included) holds a majority of every
/// voter configuration (two during a joint membership change).
pub fn majority_granted(configs: &[BTreeSet<NodeId>], granted: &BTreeSet<NodeId>) -> bool {
    !configs.is_empty()
        && configs
            .iter()
            .all(|c| c.intersection(granted).count() > c.len() / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn timing() -> GuardTiming {
        GuardTiming::new(250, 1000, 2000)
    }

    fn log(term: u64, index: u64) -> Option<LogId> {
        Some(LogId::new(CommittedLeaderId::new(term, 1), index))
    }

    fn view(is_leader: bool, silence_ms: u64, last: Option<LogId>) -> LocalView {
        LocalView {
            is_leader,
            since_leader_contact: Duration::from_millis(silence_ms),
            last_log_id: last,
        }
    }

    fn req(last: Option<LogId>) -> PreVoteRequest {
        PreVoteRequest {
            candidate: 3,
            last_log_id: last,
        }
    }

    #[test]
    fn a_follower_of_a_live_leader_refuses() {
        let t = timing();
        assert!(!grant(&req(log(1, 10)), &view(false, 250, log(1, 10)), &t).granted);
        assert!(!grant(&req(log(1, 10)), &view(false, 1999, log(1, 10)), &t).granted);
        assert!(!grant(&req(log(9, 99)), &view(true, 5000, log(1, 10)), &t).granted);
    }

    #[test]
    fn without_a_leader_an_up_to_date_candidate_is_granted() {
        let t = timing();
        assert!(grant(&req(log(1, 10)), &view(false, 2000, log(1, 10)), &t).granted);
        assert!(grant(&req(log(2, 3)), &view(false, 2000, log(1, 10)), &t).granted);
        let stale = grant(&req(log(1, 9)), &view(false, 9000, log(1, 10)), &t);
        assert!(!stale.granted, "a stale log is refused: {stale:?}");
    }

    #[test]
    fn asking_waits_for_a_lease_of_silence() {
        let t = timing();
        assert!(!should_ask(&view(false, 1999, None), &t));
        assert!(should_ask(&view(false, 2000, None), &t));
        assert!(!should_ask(&view(true, 9000, None), &t));
    }

    #[test]
    fn majority_of_every_configuration() {
        let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
        let c = vec![set(&[1, 2, 3])];
        assert!(!majority_granted(&c, &set(&[3])), "alone: an isolated node");
        assert!(majority_granted(&c, &set(&[2, 3])));
        assert!(majority_granted(&[set(&[1])], &set(&[1])), "a single voter");
        let joint = vec![set(&[1, 2, 3]), set(&[3, 4, 5])];
        assert!(!majority_granted(&joint, &set(&[1, 2, 3])));
        assert!(majority_granted(&joint, &set(&[2, 3, 4])));
        assert!(!majority_granted(&[], &set(&[1])));
    }
}
