//! Membership changes: learners, voters, removal, reconciling the voters with cluster.conf.

use std::collections::BTreeSet;

use openraft::ChangeMembers;

use crate::error::CfsError;
use crate::service::Cfs;
use crate::types::{Member, NodeId};

impl Cfs {
    // ---- membership ----

    /// On the leader: adds a node as a non-voting learner (returns once it is recorded).
    pub async fn add_learner(&self, id: NodeId, member: Member) -> Result<(), CfsError> {
        self.raft()
            .add_learner(id, member, false)
            .await
            .map(|_| ())
            .map_err(CfsError::rpc)
    }

    /// On the leader: sets the voters.
    pub async fn set_voters(&self, voters: BTreeSet<NodeId>) -> Result<(), CfsError> {
        // Beaten as voters before Raft counts them as voters (see `learner_beats`).
        self.transport.learners().hold(voters.iter().copied());
        self.raft()
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), true)
            .await
            .map(|_| ())
            .map_err(CfsError::rpc)
    }

    /// On the leader: removes a node entirely (demoting it first if it votes).
    pub async fn remove_member(&self, id: NodeId) -> Result<(), CfsError> {
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        if membership.voter_ids().any(|v| v == id) {
            let voters: BTreeSet<NodeId> = membership.voter_ids().filter(|v| *v != id).collect();
            if voters.is_empty() {
                return Err(CfsError::invalid("cannot remove the last voter"));
            }
            self.set_voters(voters).await?;
        }
        let mut gone = BTreeSet::new();
        gone.insert(id);
        self.raft()
            .change_membership(ChangeMembers::RemoveNodes(gone), false)
            .await
            .map(|_| ())
            .map_err(CfsError::rpc)
    }

    /// Promotes caught-up learners while there are fewer voters than
    /// `max_voters`, and replaces voters that are not `alive` with live,
    /// caught-up learners. Returns the new voter set when it changed.
    pub async fn reconcile_voters(
        &self,
        max_voters: usize,
        alive: impl Fn(NodeId) -> bool,
    ) -> Result<Option<BTreeSet<NodeId>>, CfsError> {
        let m = self.raft().metrics().borrow().clone();
        if m.current_leader != Some(self.id) || !self.is_quorate() {
            return Ok(None);
        }
        let membership = m.membership_config.membership();
        if membership.get_joint_config().len() > 1 {
            return Ok(None);
        }
        let mut voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let caught_up = |id: &NodeId| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(id))
                .and_then(|l| l.map(|l| l.index))
                .is_some_and(|i| i + 100 >= last)
        };
        let mut changed = false;
        let mut candidates: Vec<NodeId> = membership
            .learner_ids()
            .filter(|l| caught_up(l) && alive(*l))
            .collect();
        while voters.len() < max_voters {
            let Some(learner) = candidates.pop() else {
                break;
            };
            voters.insert(learner);
            changed = true;
        }
        // A dead voter gives its vote to a live learner (never shrinking the voter count).
        let dead: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|v| *v != self.id && !alive(*v))
            .collect();
        for d in dead {
            let Some(replacement) = candidates.pop() else {
                break;
            };
            voters.remove(&d);
            voters.insert(replacement);
            changed = true;
        }
        if !changed {
            return Ok(None);
        }
        self.set_voters(voters.clone()).await?;
        Ok(Some(voters))
    }
}
