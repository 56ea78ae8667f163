//! A node's store files stay within a small multiple of the tree under steady
//! writes (issue 13 item 4: state.redb grew 34 MB -> 68 MB in 30 s of a lab).

use std::time::{Duration, Instant};

use brigade_e2e::cluster;
use brigade_node::config::RaftTuning;

/// How long the node is written to.
const RUN: Duration = Duration::from_secs(40);
/// Renewal-like writes per second (four nodes' lrm_status, ten times a second).
const WRITE_INTERVAL: Duration = Duration::from_millis(100);
const MAX_STATE_BYTES: u64 = 8 * 1024 * 1024;
const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn store_files_stay_small_under_steady_writes() {
    let c = cluster("state-size", 63, 1, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    let cfs_dir = c.nodes[0].state_dir().join("cfs");
    let size = |f: &str| {
        std::fs::metadata(cfs_dir.join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let start = Instant::now();
    let mut next_report = Duration::ZERO;
    let (mut max_state, mut max_log, mut seq) = (0, 0, 0u64);
    while start.elapsed() < RUN {
        seq += 1;
        for n in 1..=4 {
            n1.fs_put(
                &format!("nodes/n{n}/lrm_status"),
                &format!("{{\"mode\":\"active\",\"seq\":{seq}}}{}", " ".repeat(150)),
            )
            .await
            .expect("write");
        }
        max_state = max_state.max(size("state.redb"));
        max_log = max_log.max(size("log.redb"));
        if start.elapsed() >= next_report {
            eprintln!(
                "{:>3} s: state.redb {} bytes, log.redb {} bytes",
                start.elapsed().as_secs(),
                size("state.redb"),
                size("log.redb")
            );
            next_report += Duration::from_secs(5);
        }
        tokio::time::sleep(WRITE_INTERVAL).await;
    }
    let s = n1.status().await.expect("status").cfs.expect("cfs");
    eprintln!(
        "after {RUN:?}: largest state.redb {max_state}, log.redb {max_log} bytes; tree {} bytes in {} entries, log index {:?}",
        s.tree_bytes, s.tree_entries, s.last_log_index
    );
    assert!(
        max_state <= MAX_STATE_BYTES,
        "state.redb grew to {max_state} bytes"
    );
    assert!(max_log <= MAX_LOG_BYTES, "log.redb grew to {max_log} bytes");
}

/// Bytes of each large file rewrite (a guest config with a long description, a big list).
const LARGE_FILE_BYTES: usize = 96 * 1024;
/// Rewrites: about 38 MiB of log, far fewer entries than a snapshot by count needs (10 000).
const LARGE_REWRITES: usize = 400;
/// Without snapshots by bytes the log held every rewrite: log.redb passed 150 MB.
const MAX_LOG_BYTES_LARGE: u64 = 48 * 1024 * 1024;

/// Large entries are snapshotted and purged by their bytes, not only by their count,
/// and a restart gives back the space redb kept (the chaos run's full state disk).
#[tokio::test(flavor = "multi_thread")]
async fn large_rewrites_are_snapshotted_by_bytes_and_a_restart_shrinks_the_files() {
    let mut c = cluster("state-size-large", 98, 1, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    let cfs_dir = c.nodes[0].state_dir().join("cfs");
    let size = |f: &str| {
        std::fs::metadata(cfs_dir.join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let mut max_log = 0;
    for round in 0..LARGE_REWRITES {
        let body = format!("{round:>8}").repeat(LARGE_FILE_BYTES / 8);
        n1.fs_put(&format!("data/big{}", round % 4), &body)
            .await
            .expect("write");
        max_log = max_log.max(size("log.redb"));
    }
    let written = (LARGE_FILE_BYTES * LARGE_REWRITES) as u64;
    eprintln!(
        "{written} bytes written: largest log.redb {max_log}, now state.redb {} log.redb {}",
        size("state.redb"),
        size("log.redb")
    );
    assert!(
        max_log <= MAX_LOG_BYTES_LARGE,
        "log.redb grew to {max_log} bytes for {written} bytes of rewrites of 4 files"
    );
    let before = size("state.redb") + size("log.redb");
    c.stop(0).expect("stop");
    c.start(0).expect("start");
    c.wait_api(0).await.expect("api");
    let after = size("state.redb") + size("log.redb");
    eprintln!("store files {before} bytes before a restart, {after} after");
    assert!(
        after < before,
        "a restart did not compact the stores ({before} -> {after} bytes)"
    );
    let n1 = c.client(0).expect("n1");
    let last = format!("{:>8}", LARGE_REWRITES - 1).repeat(LARGE_FILE_BYTES / 8);
    let read = n1
        .fs_read(&format!("data/big{}", (LARGE_REWRITES - 1) % 4), false)
        .await
        .expect("read after restart");
    assert_eq!(
        read.content.as_deref(),
        Some(last.as_str()),
        "the data survived compaction"
    );
}
