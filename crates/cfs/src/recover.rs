//! Emergency recovery after a permanent loss of the majority: this node's
//! own stores are rewritten so it is the only voter (like `pvecm expected 1`
//! followed by removing the lost nodes). Runs only while the daemon is stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::Membership;
use serde::Serialize;

use crate::error::CfsError;
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::types::{NodeId, StoredMembership};

/// What the recovery did.
#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    /// Voters before, by id.
    pub old_voters: Vec<NodeId>,
    /// Log entries applied that the state machine had not applied yet.
    pub replayed_entries: u64,
    /// Of those, entries past the last commit index this node knew of
    /// (they may never have been acknowledged to a client).
    pub beyond_known_commit: u64,
    /// The log index the node restarts from.
    pub restart_index: u64,
}

/// The voters recorded in this node's state machine (for the confirmation prompt).
pub fn current_voters(data_dir: &Path) -> Result<Vec<NodeId>, CfsError> {
    let sm = StateMachine::open(&data_dir.join("state.redb")).map_err(CfsError::storage)?;
    let st = sm.shared();
    let voters = st.read().membership.membership().voter_ids().collect();
    Ok(voters)
}

/// Makes `me` the single voter of the cluster as recorded in `data_dir`.
pub async fn force_single_voter(data_dir: &Path, me: NodeId) -> Result<RecoverReport, CfsError> {
    let mut log = LogStore::open(&data_dir.join("log.redb")).map_err(CfsError::storage)?;
    let mut sm = StateMachine::open(&data_dir.join("state.redb")).map_err(CfsError::storage)?;
    let (applied, membership) = sm.applied_state().await.map_err(CfsError::storage)?;
    let old_voters: Vec<NodeId> = membership.membership().voter_ids().collect();
    let member = membership
        .membership()
        .get_node(&me)
        .cloned()
        .ok_or_else(|| {
            CfsError::invalid(format!("node id {me} is not in this node's membership"))
        })?;
    let committed = log.read_committed().await.map_err(CfsError::storage)?;
    let state = log.get_log_state().await.map_err(CfsError::storage)?;
    let first = applied.map(|l| l.index + 1).unwrap_or(0);
    let last = state.last_log_id.map(|l| l.index).unwrap_or(0);
    let mut replayed = 0;
    let mut beyond = 0;
    if state.last_log_id > applied {
        // Everything this survivor holds is the best record left: apply it all.
        let entries = log
            .try_get_log_entries(first..=last)
            .await
            .map_err(CfsError::storage)?;
        replayed = entries.len() as u64;
        beyond = entries
            .iter()
            .filter(|e| committed.is_none_or(|c| e.log_id.index > c.index))
            .count() as u64;
        sm.apply(entries).await.map_err(CfsError::storage)?;
    }
    let (applied, _) = sm.applied_state().await.map_err(CfsError::storage)?;
    let mut voters = BTreeSet::new();
    voters.insert(me);
    let mut nodes = BTreeMap::new();
    nodes.insert(me, member);
    sm.force_membership(StoredMembership::new(
        applied,
        Membership::new(vec![voters], nodes),
    ));
    sm.flush(redb::Durability::Immediate)
        .map_err(CfsError::storage)?;
    if let Some(a) = applied {
        log.save_committed(Some(a))
            .await
            .map_err(CfsError::storage)?;
        // Purging waits for a durable write, which also carries the commit hint.
        log.purge(a).await.map_err(CfsError::storage)?;
    }
    Ok(RecoverReport {
        old_voters,
        replayed_entries: replayed,
        beyond_known_commit: beyond,
        restart_index: applied.map(|l| l.index).unwrap_or(0),
    })
}
