//! The leader writes its own log in parallel with replicating it: openraft 0.9 waits
//! for the leader's log write before it sends the entries to followers, which puts two
//! fsyncs one after the other on every write. So the log store tells openraft at once
//! that the leader's own entries are written, and two gates keep what a lie could
//! break from ever showing:
//!
//! - the state machine applies an entry only once it is durable in this node's log
//!   ([`wait_durable`]), so no client is answered and no read sees a write before
//!   the leader's fsync and a follower's (the commit) both completed;
//! - the commit index sent to followers is never past what the leader has made
//!   durable ([`clamp_commit`]), so no follower applies an entry that only one
//!   node holds durably.
//!
//! Only the current leader's own entries of its current term are acknowledged early
//! ([`own_entries`]); a follower's append (what it acknowledges to the leader) is
//! always reported after its fsync. An entry is therefore committed, in the sense
//! anyone can observe, only when the leader and a follower hold it durably: the
//! floor of one fsync (leader and follower in parallel) plus one round trip.

use std::time::Duration;

use tokio::sync::watch;

use crate::types::{Entry, LogId, NodeId, StorageError, Vote};

/// What of this node's log is durable, published by the log writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durable {
    /// Every index at or below this is durable.
    pub upto: u64,
    /// The id of the entry at `upto`, when known (not after a truncation, until the
    /// next append is durable).
    pub log_id: Option<LogId>,
    /// A log write failed: nothing more becomes durable until the stores are reopened.
    pub failed: bool,
}

/// Whether `entries` are this node's own, appended as the leader of the current term
/// (`vote` the vote it holds): those may be acknowledged before they are durable.
pub fn own_entries(me: NodeId, vote: Option<&Vote>, entries: &[Entry]) -> bool {
    let Some(vote) = vote else {
        return false;
    };
    vote.committed
        && vote.leader_id.voted_for() == Some(me)
        && !entries.is_empty()
        && entries.iter().all(|e| {
            e.log_id.leader_id.node_id == me && e.log_id.leader_id.term == vote.leader_id.term
        })
}

/// The commit index a follower may be told: `leader_commit`, or less when the leader
/// has not yet made it durable itself.
pub fn clamp_commit(leader_commit: Option<LogId>, durable: &Durable) -> Option<LogId> {
    let commit = leader_commit?;
    if commit.index <= durable.upto {
        return Some(commit);
    }
    durable.log_id.filter(|d| d.index <= commit.index)
}

/// How long an append to a follower waits for the leader's own fsync of the commit
/// index it carries before it carries less (the rest follows with the next append).
pub const SEND_WAIT_FOR_DURABLE: Duration = Duration::from_millis(500);

/// The commit index to send with an append: `leader_commit` once the leader holds it
/// durably (waiting up to [`SEND_WAIT_FOR_DURABLE`] for its fsync, usually under way),
/// else what it holds durably.
pub async fn commit_to_send(
    durable: &mut watch::Receiver<Durable>,
    leader_commit: Option<LogId>,
) -> Option<LogId> {
    if let Some(commit) = leader_commit {
        if durable.borrow().upto < commit.index {
            let _ =
                tokio::time::timeout(SEND_WAIT_FOR_DURABLE, wait_durable(durable, commit.index))
                    .await;
        }
    }
    let now = *durable.borrow();
    clamp_commit(leader_commit, &now)
}

/// Waits until the entry at `index` is durable in this node's log; an error once a
/// log write failed (the entry may never be).
pub async fn wait_durable(
    durable: &mut watch::Receiver<Durable>,
    index: u64,
) -> Result<(), StorageError> {
    let failed = || {
        crate::types::storage_err(
            openraft::ErrorSubject::Logs,
            openraft::ErrorVerb::Write,
            "the raft log write failed before this entry was durable",
        )
    };
    loop {
        let d = *durable.borrow_and_update();
        if d.upto >= index {
            return Ok(());
        }
        if d.failed {
            return Err(failed());
        }
        if durable.changed().await.is_err() {
            return Err(failed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn entry(term: u64, node: NodeId, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, node, index),
            payload: EntryPayload::Blank,
        }
    }

    fn leader_vote(term: u64, node: NodeId) -> Vote {
        let mut v = Vote::new(term, node);
        v.commit();
        v
    }

    #[test]
    fn only_the_current_leaders_own_entries_are_acknowledged_early() {
        let me = 1;
        let vote = leader_vote(5, me);
        assert!(own_entries(me, Some(&vote), &[entry(5, me, 10)]));
        // A follower appending the leader's entries: after its fsync.
        let theirs = leader_vote(5, 2);
        assert!(!own_entries(me, Some(&theirs), &[entry(5, 2, 10)]));
        // Our own entries of an older term sent back by a newer leader: after the fsync.
        assert!(!own_entries(me, Some(&theirs), &[entry(4, me, 9)]));
        assert!(!own_entries(
            me,
            Some(&vote),
            &[entry(5, me, 10), entry(4, me, 9)]
        ));
        // A candidate's vote (not committed) or none at all.
        assert!(!own_entries(
            me,
            Some(&Vote::new(5, me)),
            &[entry(5, me, 10)]
        ));
        assert!(!own_entries(me, None, &[entry(5, me, 10)]));
    }

    #[test]
    fn followers_are_never_told_a_commit_past_the_leaders_durable_log() {
        let durable = Durable {
            upto: 7,
            log_id: Some(log_id(3, 1, 7)),
            failed: false,
        };
        assert_eq!(
            clamp_commit(Some(log_id(3, 1, 6)), &durable),
            Some(log_id(3, 1, 6))
        );
        assert_eq!(
            clamp_commit(Some(log_id(3, 1, 9)), &durable),
            Some(log_id(3, 1, 7))
        );
        assert_eq!(clamp_commit(None, &durable), None);
        let unknown = Durable {
            log_id: None,
            ..durable
        };
        assert_eq!(clamp_commit(Some(log_id(3, 1, 9)), &unknown), None);
    }

    #[tokio::test]
    async fn apply_waits_for_the_fsync_and_fails_with_the_write() {
        let (tx, mut rx) = watch::channel(Durable::default());
        let waiter = tokio::spawn(async move { wait_durable(&mut rx, 3).await.is_ok() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "nothing durable yet");
        tx.send_replace(Durable {
            upto: 3,
            log_id: Some(log_id(1, 1, 3)),
            failed: false,
        });
        assert!(waiter.await.expect("join"));

        let (tx, mut rx) = watch::channel(Durable::default());
        let waiter = tokio::spawn(async move { wait_durable(&mut rx, 3).await.is_ok() });
        tx.send_modify(|d| d.failed = true);
        assert!(
            !waiter.await.expect("join"),
            "a failed write fails the apply"
        );
    }
}
