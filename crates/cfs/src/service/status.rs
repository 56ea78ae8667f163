//! The status report of cfs (its role, leader, members, quorum) and its shutdown.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use openraft::ServerState;

use crate::service::Cfs;
use crate::types::NodeId;
use crate::view::{CfsStatus, MemberInfo};

impl Cfs {
    /// A status report of this replica.
    pub fn status(&self) -> CfsStatus {
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| MemberInfo {
                id: *id,
                name: n.name.clone(),
                rpc_addr: n.rpc_addr.clone(),
                api_addr: n.api_addr.clone(),
                voter: voters.contains(id),
                matched: m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id))
                    .and_then(|l| l.map(|l| l.index)),
            })
            .collect::<Vec<_>>();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Shutdown => "shutdown",
            _ if members.is_empty() => "none",
            _ if voters.contains(&self.id) => "voter",
            _ => "learner",
        };
        let leader_name = m
            .current_leader
            .and_then(|l| membership.get_node(&l))
            .map(|n| n.name.clone());
        let storage_error = self.storage_error();
        let st = self.shared.read();
        CfsStatus {
            node_id: self.id,
            initialized: !members.is_empty(),
            role: role.to_string(),
            quorate: self.is_quorate(),
            leader: m.current_leader,
            leader_name,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            cluster_version: st.tree.version(),
            tree_bytes: st.tree.bytes(),
            tree_entries: st.tree.len() as u64,
            members,
            learner_beats_spared: self.transport.beats_spared(),
            storage_error,
        }
    }

    /// Stops Raft (the stores stay consistent on disk).
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.raft().shutdown().await;
        let sm = self.sm.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(sm) = sm {
            if let Err(e) = sm.flush(redb::Durability::Immediate) {
                tracing::error!("final state flush failed: {e}");
            }
        }
    }
}
