//! The state machine's file stays small under a steady stream of writes
//! (issue 13 item 4: non-durable commits alone never free replaced pages, so
//! state.redb grew by every rewritten entry, 135 MB after 3000 flushes of 4
//! small files).

use brigade_cfs::command::{Op, Proposal};
use brigade_cfs::state_machine::StateMachine;
use brigade_cfs::types::Entry;
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};

/// Flushes driven, as the background flusher would do in five minutes.
const FLUSHES: u64 = 3000;
/// The bound: the tree is ~1 KB; an empty redb file is ~1.5 MB.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn steady_writes_keep_the_state_file_small() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state.redb");
    let mut sm = StateMachine::open(&path).expect("open");
    let mut largest = 0;
    for round in 1..=FLUSHES {
        // Four lease renewals (lrm_status) per flush, as an HA lab writes them.
        let ops = (1..=4)
            .map(|n| Op::Write {
                path: format!("nodes/n{n}/lrm_status").parse().expect("path"),
                data: format!("{{\"seq\":{round},\"mode\":\"active\"}}{}", " ".repeat(160))
                    .into_bytes(),
                expect_version: None,
                create_exclusive: false,
            })
            .collect();
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), round),
            payload: EntryPayload::Normal(Proposal { ops, mtime: 0 }),
        };
        sm.apply(vec![entry]).await.expect("apply");
        assert!(sm.flush_tick().expect("flush"), "changes are flushed");
        largest = largest.max(std::fs::metadata(&path).expect("size").len());
    }
    assert!(
        !sm.flush_tick().expect("idle flush"),
        "an idle flush writes nothing"
    );
    eprintln!("largest state file over {FLUSHES} flushes: {largest} bytes");
    assert!(
        largest <= MAX_FILE_BYTES,
        "state.redb grew to {largest} bytes for a tree of {} bytes",
        sm.shared().read().tree.bytes()
    );
    // What was flushed is what a restart reads back.
    drop(sm);
    let reopened = StateMachine::open(&path).expect("reopen");
    assert_eq!(
        reopened.shared().read().last_applied.map(|l| l.index),
        Some(FLUSHES)
    );
}

/// A large file rewritten at every flush (the cluster log near its 512 KiB
/// bound, ten times a second) settles at a fixed size: nothing accumulates.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_rewritten_at_every_flush_settles() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state.redb");
    let mut sm = StateMachine::open(&path).expect("open");
    let (mut settled, mut largest) = (0, 0);
    for round in 1..=600u64 {
        let ops = vec![Op::Write {
            path: "cluster.log".parse().expect("path"),
            data: format!("{round:>8}").repeat(64 * 1024).into_bytes(),
            expect_version: None,
            create_exclusive: false,
        }];
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), round),
            payload: EntryPayload::Normal(Proposal { ops, mtime: 0 }),
        };
        sm.apply(vec![entry]).await.expect("apply");
        sm.flush_tick().expect("flush");
        let size = std::fs::metadata(&path).expect("size").len();
        if round == 100 {
            settled = size;
        }
        largest = largest.max(size);
    }
    let tree = sm.shared().read().tree.bytes();
    eprintln!("state file: {settled} bytes after 100 flushes, at most {largest} after 600, tree {tree} bytes");
    assert!(
        largest <= settled + 1024 * 1024,
        "state.redb kept growing: {settled} -> {largest} bytes"
    );
    // A value is stored as JSON with base64 data; redb allocates it in power-of-two
    // regions and frees the old copy only at the next durable commit.
    assert!(
        largest <= 16 * tree + 2 * 1024 * 1024,
        "state.redb grew to {largest} bytes for a tree of {tree} bytes"
    );
}
