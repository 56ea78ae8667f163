//! The election guard at work: answering pre-votes, and asking for them
//! before this node may stand for election (see `election_guard` for the rules).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use openraft::ServerState;

use crate::election_guard::{
    grant, majority_granted, should_ask, GuardTiming, LocalView, PreVoteRequest, PreVoteResponse,
};
use crate::network::KIND_PRE_VOTE;
use crate::service::Cfs;
use crate::types::NodeId;

impl Cfs {
    fn guard_timing(&self) -> GuardTiming {
        let s = &self.settings;
        GuardTiming::new(s.heartbeat_ms, s.election_min_ms, s.election_max_ms)
    }

    fn local_view(&self) -> LocalView {
        let m = self.raft().metrics().borrow().clone();
        let contact = *self
            .leader_contact
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last_log_id = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|l| l.last_log_id());
        LocalView {
            is_leader: m.state == ServerState::Leader,
            since_leader_contact: contact.elapsed(),
            last_log_id,
        }
    }

    /// Answers another voter's pre-vote.
    pub fn answer_pre_vote(&self, req: &PreVoteRequest) -> PreVoteResponse {
        if self.fault.current().is_some() {
            return PreVoteResponse {
                granted: false,
                reason: "my storage failed".into(),
            };
        }
        grant(req, &self.local_view(), &self.guard_timing())
    }

    /// Keeps openraft's elections switched off unless a pre-vote round was granted.
    pub(crate) fn spawn_election_guard(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let timing = self.guard_timing();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(timing.retry);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut allowed: Option<bool> = None;
            loop {
                tick.tick().await;
                let Some(cfs) = weak.upgrade() else { return };
                if cfs.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let decision = cfs.may_elect(&timing).await;
                // Set every round: a restarted Raft instance starts from its config.
                cfs.raft()
                    .runtime_config()
                    .elect(decision && cfs.settings.can_lead);
                if allowed != Some(decision) {
                    tracing::debug!(allowed = decision, "election guard");
                    allowed = Some(decision);
                }
            }
        });
    }

    /// Whether this node may stand for election now.
    async fn may_elect(&self, timing: &GuardTiming) -> bool {
        if !self.settings.can_lead {
            return false;
        }
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let configs: Vec<BTreeSet<NodeId>> = membership.get_joint_config().clone();
        if !configs.iter().any(|c| c.contains(&self.id)) {
            return false; // a learner never stands
        }
        let mut granted = BTreeSet::new();
        granted.insert(self.id);
        if majority_granted(&configs, &granted) {
            return true; // the only voter
        }
        let me = self.local_view();
        if !should_ask(&me, timing) {
            return false;
        }
        let req = PreVoteRequest {
            candidate: self.id,
            last_log_id: me.last_log_id,
        };
        let voters: BTreeSet<NodeId> = configs.iter().flatten().copied().collect();
        let asks = voters
            .iter()
            .filter(|v| **v != self.id)
            .filter_map(|v| membership.get_node(v).map(|n| (*v, n.clone())))
            .map(|(id, node)| {
                let req = req.clone();
                async move {
                    let answer: Result<PreVoteResponse, _> = self
                        .transport
                        .request(&node, KIND_PRE_VOTE, &req, timing.round_timeout)
                        .await;
                    (id, answer)
                }
            });
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timing.round_timeout;
        let mut pending: FuturesUnordered<_> = asks.collect();
        // Count answers as they come: a voter cut off by a firewall never
        // answers, and must not void the answers of the others.
        while !majority_granted(&configs, &granted) {
            let Ok(Some(next)) = tokio::time::timeout_at(deadline, pending.next()).await else {
                break;
            };
            match next {
                (id, Ok(a)) if a.granted => {
                    granted.insert(id);
                }
                (id, Ok(a)) => tracing::debug!(voter = id, reason = %a.reason, "pre-vote refused"),
                (id, Err(e)) => tracing::debug!(voter = id, "pre-vote unanswered: {e}"),
            }
        }
        let ok = majority_granted(&configs, &granted);
        tracing::debug!(
            ?granted,
            ok,
            micros = started.elapsed().as_micros() as u64,
            "pre-vote round"
        );
        ok
    }
}
