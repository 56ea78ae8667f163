//! A leader killed right after acknowledging a write and restarted before anyone else
//! stood for election leads again in the same term (openraft restores a committed
//! leadership at startup), with a commit index older than that write (its hint is not
//! fsynced). Its consistent reads must still see the write. Found by
//! `brigade chaos run --nodes 3 --seed 1`: a read through the restarted leader missed
//! an append it had acknowledged 2.5 s before.
//!
//! Made exact here: the write commits on the leader and follower A while follower B is
//! stopped; the leader dies; A stops and B resumes, so the restarted leader confirms its
//! leadership with B (a heartbeat) long before B holds the write and it can count the
//! write as committed.

use std::time::{Duration, Instant};

use brigade_e2e::cluster;
use brigade_node::config::RaftTuning;

/// How long the restarted leader may take to answer a consistent read.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Reads through the restarted leader, each of which must see the write.
const READS: usize = 20;
/// Writes follower B misses while it is stopped.
const LAG: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_leader_never_serves_a_stale_consistent_read() {
    let mut c = cluster("restart-leader-read", 67, 3, RaftTuning::default()).await;
    let leader = c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    let l = c.index_of_id(leader);
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    let client = c.client(l).expect("client");
    client.fs_put("probe/k", "before").await.expect("write");
    c.pause(b);
    // B falls far behind: the restarted leader needs many round trips to find where
    // B's log ends, while a heartbeat to B confirms its leadership at once.
    for k in 0..LAG {
        client
            .fs_put("probe/k", &format!("v{k}"))
            .await
            .expect("the leader and A acknowledge the write");
    }
    client
        .fs_put("probe/k", "after")
        .await
        .expect("the leader and A acknowledge the write");
    c.kill(l);
    c.pause(a);
    c.resume(b);
    c.start(l).expect("restart the leader");
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut seen = Vec::new();
    while seen.len() < READS {
        match client.fs_read("probe/k", true).await {
            Ok(f) => seen.push(f.content.unwrap_or_default()),
            Err(e) => assert!(
                Instant::now() < deadline,
                "no consistent read through the restarted n{} within {READ_TIMEOUT:?}: {e}",
                l + 1
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.resume(a);
    assert!(
        seen.iter().all(|v| v == "after"),
        "consistent reads through the restarted n{} missed the write it had acknowledged: {seen:?}",
        l + 1
    );
}
