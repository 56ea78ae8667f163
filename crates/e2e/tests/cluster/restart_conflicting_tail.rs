//! A leader power-cut with an entry nobody else got, restarted after the others elected
//! a new leader: its tail conflicts with the new leader's log and is truncated. That
//! truncation, of entries only on disk after the restart, used to deadlock the log
//! store (issue 22): the node went silent and never answered AppendEntries again.
//!
//! Made exact here: the leader is cut off by firewall rules right before it appends a
//! write, so the write stays in its log alone (stopping the followers instead would not
//! do: the kernel still takes the entries into their sockets); the two others elect a
//! new leader, whose entries take that index in a newer term; the old leader is
//! SIGKILLed, the network healed, and the old leader restarted.

use std::time::Duration;

use brigade_e2e::{cluster, eventually, settle, write_retrying, HealOnDrop};
use brigade_localcluster::firewall;
use brigade_node::config::RaftTuning;

const TAG: &str = "e2e-restart-conflicting-tail";
/// Time for the cut-off leader to append and fsync the write nobody can acknowledge.
const TAIL_WRITTEN: Duration = Duration::from_millis(800);
/// How long the two others may take to elect a leader and accept a write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the restarted node may take to catch up with the new leader.
const CATCH_UP: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_leader_whose_tail_conflicts_catches_up() {
    let mut c = cluster("restart-conflicting-tail", 68, 3, RaftTuning::default()).await;
    let leader = c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    let l = c.index_of_id(leader);
    let others = [(l + 1) % 3, (l + 2) % 3];
    let client = c.client(l).expect("client");
    client.fs_put("probe/k", "before").await.expect("write");

    let _heal = HealOnDrop(TAG);
    let other_addrs = [c.nodes[others[0]].addr, c.nodes[others[1]].addr];
    firewall::partition(&[c.nodes[l].addr], &other_addrs, TAG).expect("partition");
    // Appended to the leader's log only: neither follower can get it.
    let unreplicated = tokio::spawn(async move { client.fs_put("probe/k", "lost").await });
    settle(
        TAIL_WRITTEN,
        "the cut-off leader appends a write it cannot commit",
    )
    .await;
    let survivor = c.client(others[0]).expect("client");
    write_retrying(&survivor, "probe/k", "after", WRITE_TIMEOUT)
        .await
        .expect("the two others elect a leader and accept a write");
    c.kill(l);
    unreplicated.abort();
    firewall::heal(TAG).expect("heal");

    c.start(l).expect("restart the former leader");
    let restarted = c.client(l).expect("client");
    eventually(
        CATCH_UP,
        "the restarted former leader holds the new leader's write",
        || {
            let restarted = restarted.clone();
            async move {
                restarted
                    .fs_read("probe/k", false)
                    .await
                    .is_ok_and(|f| f.content.as_deref() == Some("after"))
            }
        },
    )
    .await;
}
