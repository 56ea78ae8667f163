//! The tree's version history survives what the state machine does to its state: a
//! flush and reopen (a restart), and a snapshot installed on another replica, which
//! then keeps the same history as the leader as both apply the same further entries.

// A test: a failed expectation is a failed test.
#![allow(clippy::expect_used)]

use brigade_cfs::command::{Op, Proposal};
use brigade_cfs::state_machine::StateMachine;
use brigade_cfs::tree::history::History;
use brigade_cfs::types::Entry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use redb::Durability;

fn write(path: &str, data: &str) -> Op {
    Op::Write {
        path: path.parse().expect("path"),
        data: data.as_bytes().to_vec(),
        expect_version: None,
        create_exclusive: false,
    }
}

fn entry(index: u64, ops: Vec<Op>) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Proposal { ops, mtime: index }),
    }
}

fn history_of(sm: &StateMachine) -> History {
    sm.shared().read().tree.history().clone()
}

fn kept(sm: &StateMachine, path: &str) -> Vec<(Vec<u8>, bool)> {
    sm.shared()
        .read()
        .tree
        .history()
        .versions(path)
        .map(|o| (o.data.clone(), o.deleted))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn history_survives_restart_and_snapshot_install() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("leader.redb");
    let first: Vec<Entry> = vec![
        entry(1, vec![write("storage.cfg", "one"), write("a", "1")]),
        entry(2, vec![write("storage.cfg", "two")]),
        entry(
            3,
            vec![Op::Delete {
                path: "a".parse().expect("path"),
                expect_version: None,
                recursive: false,
            }],
        ),
    ];
    {
        let mut sm = StateMachine::open(&path).expect("open");
        sm.apply(first.clone()).await.expect("apply");
        sm.flush(Durability::Immediate).expect("flush");
        // Further versions, flushed by a later (non-durable) flush; one is dropped again.
        sm.apply(vec![entry(4, vec![write("storage.cfg", "three")])])
            .await
            .expect("apply");
        sm.flush(Durability::Immediate).expect("flush");
        assert_eq!(
            kept(&sm, "storage.cfg"),
            vec![(b"one".to_vec(), false), (b"two".to_vec(), false)]
        );
        assert_eq!(kept(&sm, "a"), vec![(b"1".to_vec(), true)]);
    }
    // Reopened: the same history, read from the file.
    let mut leader = StateMachine::open(&path).expect("reopen");
    assert_eq!(kept(&leader, "a"), vec![(b"1".to_vec(), true)]);
    assert_eq!(kept(&leader, "storage.cfg").len(), 2);

    // A replica that installs the leader's snapshot has its history, and keeps the
    // same as both go on applying the same entries.
    let snap = leader.build_snapshot().await.expect("snapshot");
    let mut replica = StateMachine::open(&dir.path().join("replica.redb")).expect("replica");
    replica.apply(first[..1].to_vec()).await.expect("apply");
    replica
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .expect("install");
    assert_eq!(history_of(&replica), history_of(&leader));
    let more = vec![entry(
        5,
        vec![write("storage.cfg", "four"), write("b", "x")],
    )];
    leader.apply(more.clone()).await.expect("apply");
    replica.apply(more).await.expect("apply");
    assert_eq!(history_of(&replica), history_of(&leader));
    assert_eq!(kept(&replica, "storage.cfg").len(), 3);
    // And the installed history is in the replica's file too.
    replica.flush(Durability::Immediate).expect("flush");
    drop(replica);
    let reopened = StateMachine::open(&dir.path().join("replica.redb")).expect("reopen");
    assert_eq!(history_of(&reopened), history_of(&leader));
}
