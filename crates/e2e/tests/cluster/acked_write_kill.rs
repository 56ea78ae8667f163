//! An acknowledged write survives a SIGKILL of the leader straight after the
//! acknowledgement, and of the whole cluster after it: the Raft log (one fsync per
//! batch, written before a write is acknowledged) is the truth, and a restarted node
//! replays what its state file (flushed in the background) had not yet written.

use std::time::Duration;

use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;

/// Rounds of write, kill, restart: even rounds write through the leader, odd rounds
/// through a follower (forwarded to the leader).
const ROUNDS: usize = 4;
/// How long a restarted cluster may take to serve every acknowledged write again.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_write_survives_killing_the_leader_then_everyone() {
    let mut c = cluster("acked-write-kill", 137, 3, RaftTuning::default()).await;
    let all = [0usize, 1, 2];
    let mut acked: Vec<(String, String)> = Vec::new();
    for round in 0..ROUNDS {
        let leader = c.index_of_id(c.wait_quorate(&all).await.expect("a leader"));
        let via = if round % 2 == 0 {
            leader
        } else {
            (leader + 1) % all.len()
        };
        let (path, content) = (format!("acked/r{round}"), format!("value {round}"));
        c.client(via)
            .expect("client")
            .fs_put(&path, &content)
            .await
            .expect("write");
        // Straight after the acknowledgement: the leader first, then the others, none
        // of them given time to flush its state file.
        c.kill(leader);
        for i in all.into_iter().filter(|i| *i != leader) {
            c.kill(i);
        }
        acked.push((path, content));
        for i in all {
            c.start(i).expect("start");
        }
        c.wait_quorate(&all).await.expect("quorum after the kill");
        for i in all {
            let client = c.client(i).expect("client");
            let acked = acked.clone();
            eventually(
                RECOVERY_TIMEOUT,
                &format!("node {i} has every acknowledged write after round {round}"),
                || {
                    let (client, acked) = (client.clone(), acked.clone());
                    async move {
                        for (path, content) in &acked {
                            match client.fs_read(path, false).await {
                                Ok(f) if f.content.as_deref() == Some(content.as_str()) => {}
                                _ => return false,
                            }
                        }
                        true
                    }
                },
            )
            .await;
        }
    }
}
