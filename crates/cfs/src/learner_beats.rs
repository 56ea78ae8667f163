//! Learners are beaten less often than voters: which Raft heartbeats to a learner may stay unsent.
//!
//! openraft beats every member on each of its ticks (1.5 × `heartbeat_ms`). A voter's
//! acknowledgements keep the leader's quorum lease, so voters keep that pace. A learner's do not count for any
//! quorum, so a heartbeat to a learner that would only repeat what the learner already
//! acknowledged (same vote, same log position, same commit index) is answered here, from
//! that acknowledgement, while the acknowledged real one is younger than the learner
//! interval. Anything new (entries, a commit index, a vote) goes out at once.
//!
//! Safety rests on never doing this for a voter: [`LearnerView`] says who is a learner,
//! taken from the leader's own metrics for its current vote, minus every node being made a
//! voter (held from before the membership change is proposed until a later membership
//! shows it as a learner again).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::raft::AppendEntriesRequest;

use crate::types::{LogId, NodeId, TypeConfig, Vote};

/// The learner interval for Raft settings. openraft checks for a due heartbeat on a tick
/// of 1.5 heartbeats (375 ms by default), so a learner is beaten on the first tick at
/// least this long after its last real heartbeat. Half the lease less one tick: the
/// relayed lease (the leader's lease less the age of its last quorum acknowledgement,
/// at most about one tick) then outlasts the gap (two ticks, 750 ms by default) by
/// more than a tick. `None` when that is not longer than a tick (nothing is skipped).
pub fn learner_interval(heartbeat: Duration, lease: Duration) -> Option<Duration> {
    let tick = heartbeat * 3 / 2;
    let every = (lease / 2).saturating_sub(tick);
    (every > tick).then_some(every)
}

/// Who this leader may beat less often.
#[derive(Debug, Default)]
pub struct LearnerView {
    /// The leader's vote the learner set was taken under (None: not leading).
    vote: Option<Vote>,
    /// The membership's log id the set was taken from.
    membership: Option<LogId>,
    learners: BTreeSet<NodeId>,
    /// Nodes being made voters, with the membership log id current when that began: they
    /// count as voters in every membership up to that one.
    held: BTreeMap<NodeId, Option<LogId>>,
}

impl LearnerView {
    /// Takes the leader's metrics: its vote, the effective membership's log id and learners.
    /// Not leading (`vote` None) forgets everything.
    pub fn observe(
        &mut self,
        vote: Option<Vote>,
        membership: Option<LogId>,
        learners: impl Iterator<Item = NodeId>,
    ) {
        let Some(vote) = vote else {
            *self = LearnerView::default();
            return;
        };
        if self.vote == Some(vote) && self.membership == membership {
            return;
        }
        // Holds end once a membership newer than the one they began under is in effect.
        self.held.retain(|_, at| membership <= *at);
        self.vote = Some(vote);
        self.membership = membership;
        self.learners = learners.filter(|l| !self.held.contains_key(l)).collect();
    }

    /// Before proposing a membership in which `voters` vote: they are voters from now on.
    pub fn hold(&mut self, voters: impl Iterator<Item = NodeId>) {
        for v in voters {
            self.learners.remove(&v);
            self.held.insert(v, self.membership);
        }
    }

    /// Whether `target` is a learner of the leader that sends under `vote`.
    pub fn is_learner(&self, target: NodeId, vote: &Vote) -> bool {
        self.vote.as_ref() == Some(vote)
            && !self.held.contains_key(&target)
            && self.learners.contains(&target)
    }
}

/// What one learner last acknowledged of a real append.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    /// When that append was sent.
    at: Instant,
    vote: Vote,
    /// The log position the learner then matched (the last entry sent, or the previous one).
    matched: Option<LogId>,
    commit: Option<LogId>,
}

/// Per target: the last acknowledged append, to tell a repeat from news.
#[derive(Debug, Default)]
pub struct BeatGate {
    acked: Option<Acked>,
}

impl BeatGate {
    /// Whether `rpc` only repeats what the target acknowledged less than `every` before `now`.
    pub fn is_repeat(
        &self,
        rpc: &AppendEntriesRequest<TypeConfig>,
        now: Instant,
        every: Duration,
    ) -> bool {
        self.acked.as_ref().is_some_and(|a| {
            rpc.entries.is_empty()
                && rpc.vote == a.vote
                && rpc.prev_log_id == a.matched
                && rpc.leader_commit == a.commit
                && now.saturating_duration_since(a.at) < every
        })
    }

    /// `rpc`, sent at `sent`, was answered Success (the target matches its last entry).
    pub fn acknowledged(&mut self, rpc: &AppendEntriesRequest<TypeConfig>, sent: Instant) {
        let matched = rpc
            .entries
            .last()
            .map(|e| Some(e.log_id))
            .unwrap_or(rpc.prev_log_id);
        self.acked = Some(Acked {
            at: sent,
            vote: rpc.vote,
            matched,
            commit: rpc.leader_commit,
        });
    }

    /// Anything but Success (or a snapshot): the next append goes out for real.
    pub fn forget(&mut self) {
        self.acked = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use openraft::{CommittedLeaderId, EntryPayload};

    use crate::types::Entry;

    const EVERY: Duration = Duration::from_millis(750);

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn vote(term: u64) -> Vote {
        let mut v = Vote::new(term, 1);
        v.commit();
        v
    }

    fn beat(term: u64, prev: u64, commit: u64) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: vote(term),
            prev_log_id: Some(log_id(term, prev)),
            leader_commit: Some(log_id(term, commit)),
            entries: Vec::new(),
        }
    }

    #[test]
    fn only_a_young_exact_repeat_stays_unsent() {
        let t0 = Instant::now();
        let mut g = BeatGate::default();
        assert!(!g.is_repeat(&beat(2, 5, 5), t0, EVERY), "nothing acked yet");
        g.acknowledged(&beat(2, 5, 5), t0);
        assert!(g.is_repeat(&beat(2, 5, 5), t0 + EVERY / 2, EVERY));
        assert!(!g.is_repeat(&beat(2, 5, 5), t0 + EVERY, EVERY), "too old");
        assert!(
            !g.is_repeat(&beat(2, 5, 6), t0, EVERY),
            "a new commit index"
        );
        assert!(!g.is_repeat(&beat(3, 5, 5), t0, EVERY), "a new vote");
        assert!(!g.is_repeat(&beat(2, 4, 5), t0, EVERY), "another position");
        g.forget();
        assert!(!g.is_repeat(&beat(2, 5, 5), t0, EVERY), "forgotten");
    }

    #[test]
    fn entries_always_go_out_and_move_the_matched_position() {
        let t0 = Instant::now();
        let mut g = BeatGate::default();
        let mut append = beat(2, 5, 5);
        append.entries.push(Entry {
            log_id: log_id(2, 6),
            payload: EntryPayload::Blank,
        });
        g.acknowledged(&append, t0);
        assert!(!g.is_repeat(&append, t0, EVERY), "entries are news");
        assert!(
            !g.is_repeat(&beat(2, 5, 5), t0, EVERY),
            "the learner is past 5"
        );
        assert!(g.is_repeat(&beat(2, 6, 5), t0, EVERY));
    }

    #[test]
    fn the_learner_interval_leaves_the_relayed_lease_a_margin() {
        let hb = Duration::from_millis(250);
        assert_eq!(
            learner_interval(hb, Duration::from_secs(2)),
            Some(Duration::from_millis(625))
        );
        assert_eq!(learner_interval(hb, Duration::from_millis(1400)), None);
    }

    #[test]
    fn a_learner_only_under_the_same_vote_and_never_while_held() {
        let mut v = LearnerView::default();
        assert!(!v.is_learner(4, &vote(2)), "not leading: nobody");
        v.observe(Some(vote(2)), Some(log_id(2, 10)), [4, 5].into_iter());
        assert!(v.is_learner(4, &vote(2)));
        assert!(!v.is_learner(4, &vote(3)), "another term");
        assert!(!v.is_learner(1, &vote(2)), "a voter");
        v.hold([4].into_iter());
        assert!(!v.is_learner(4, &vote(2)), "being promoted");
        // A stale report of the old membership does not undo the hold.
        v.observe(Some(vote(2)), Some(log_id(2, 10)), [4, 5].into_iter());
        assert!(!v.is_learner(4, &vote(2)));
        assert!(v.is_learner(5, &vote(2)));
        // A later membership where 4 is a learner again (demoted) ends the hold.
        v.observe(Some(vote(2)), Some(log_id(2, 12)), [4].into_iter());
        assert!(v.is_learner(4, &vote(2)));
        v.observe(None, None, std::iter::empty());
        assert!(!v.is_learner(4, &vote(2)), "no longer leading");
    }
}
