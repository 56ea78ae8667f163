//! Installing a snapshot tells watchers what changed and restarts the lease
//! clock of every lock it holds (issue 14 item 6: a renewal that arrived in a
//! snapshot was never seen, so a new leader could expire a node early).

// A test: a failed expectation is a failed test.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use brigade_cfs::command::{Op, Proposal};
use brigade_cfs::state_machine::StateMachine;
use brigade_cfs::types::Entry;
use brigade_cfs::{Change, ChangeKind};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId};

fn write(path: &str, data: &str) -> Op {
    Op::Write {
        path: path.parse().expect("path"),
        data: data.as_bytes().to_vec(),
        expect_version: None,
        create_exclusive: false,
    }
}

fn lock(path: &str, owner: &str) -> Op {
    Op::Lock {
        path: path.parse().expect("path"),
        owner: owner.into(),
        lease_ms: 10_000,
        steal_generation: None,
    }
}

fn entry(index: u64, ops: Vec<Op>) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Proposal { ops, mtime: 0 }),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_install_emits_the_changes_and_restarts_lock_leases() {
    let dir = tempfile::tempdir().expect("dir");
    let history = vec![
        entry(
            1,
            vec![
                write("nodes/n1/lrm_status", "seq 1"),
                write("nodes/n2/lrm_status", "seq 1"),
                write("old/file", "x"),
                lock("nodes/n1/qemu-server/100.conf", "n1"),
                lock("nodes/n2/qemu-server/200.conf", "n2"),
                lock("released", "n1"),
            ],
        ),
        entry(
            2,
            vec![
                write("nodes/n1/lrm_status", "seq 2"),
                Op::Delete {
                    path: "old".parse().expect("path"),
                    expect_version: None,
                    recursive: true,
                },
                write("new/file", "y"),
                lock("nodes/n2/qemu-server/200.conf", "n2"),
                Op::Unlock {
                    path: "released".parse().expect("path"),
                    owner: "n1".into(),
                },
            ],
        ),
    ];

    // The leader applied everything and snapshots it.
    let mut leader = StateMachine::open(&dir.path().join("leader.redb")).expect("leader");
    leader.apply(history.clone()).await.expect("apply");
    let snap = leader.build_snapshot().await.expect("snapshot");

    // A lagging replica has only the first entry, applied a while ago.
    let mut replica = StateMachine::open(&dir.path().join("replica.redb")).expect("replica");
    replica.apply(history[..1].to_vec()).await.expect("apply");
    let shared = replica.shared();
    let unchanged_lock = "nodes/n1/qemu-server/100.conf";
    let seen_before = shared
        .lock_seen_at(unchanged_lock)
        .expect("seen when taken");
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut changes = replica.shared().changes.subscribe();
    let installed_at = Instant::now();
    replica
        .install_snapshot(&snap.meta, snap.snapshot)
        .await
        .expect("install");
    let mut got: Vec<Change> = Vec::new();
    while let Ok(c) = changes.try_recv() {
        got.push(c);
    }
    let kinds: Vec<(&str, &ChangeKind)> = got.iter().map(|c| (c.path.as_str(), &c.kind)).collect();
    assert!(
        kinds.contains(&("nodes/n1/lrm_status", &ChangeKind::Written)),
        "the renewal in the snapshot is seen: {kinds:?}"
    );
    assert!(
        kinds.contains(&("old/file", &ChangeKind::Deleted)),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("old", &ChangeKind::Deleted)), "{kinds:?}");
    assert!(
        kinds.contains(&("new/file", &ChangeKind::Written)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("released", &ChangeKind::Unlocked)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "nodes/n2/qemu-server/200.conf",
            &ChangeKind::Locked { owner: "n2".into() }
        )),
        "{kinds:?}"
    );
    assert!(
        !kinds
            .iter()
            .any(|(p, _)| *p == "nodes/n2/lrm_status" || *p == unchanged_lock),
        "unchanged paths are not reported: {kinds:?}"
    );
    let renewal = got
        .iter()
        .find(|c| c.path == "nodes/n1/lrm_status")
        .expect("renewal");
    assert_eq!(
        renewal.version,
        replica
            .shared()
            .read()
            .tree
            .get(&"nodes/n1/lrm_status".parse().expect("path"))
            .expect("file")
            .version,
        "the change carries the entry's version"
    );

    // Every lock the snapshot holds counts as just taken: a full lease from now.
    for path in [unchanged_lock, "nodes/n2/qemu-server/200.conf"] {
        let seen = shared.lock_seen_at(path).expect("lock clock");
        assert!(
            seen >= installed_at,
            "{path}: lease clock not restarted by the snapshot"
        );
    }
    assert!(shared.lock_seen_at(unchanged_lock) > Some(seen_before));
    assert!(shared.lock_seen_at("released").is_none());
    assert_eq!(
        replica.shared().read().tree,
        leader.shared().read().tree,
        "the replica holds the leader's tree"
    );
}
