//! A fourth node joins after thousands of writes and catches up from a snapshot.

use std::time::Duration;

use brigade_e2e::{cluster, dump, eventually};
use brigade_node::config::RaftTuning;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread")]
async fn late_joiner_installs_a_snapshot() {
    let tuning = RaftTuning {
        snapshot_logs: Some(100),
        keep_logs: Some(20),
        ..RaftTuning::default()
    };
    let mut c = cluster("snapshot-join", 15, 3, tuning).await;
    let clients: Vec<_> = (0..3).map(|i| c.client(i).expect("client")).collect();
    let writes = 3000usize;
    futures::stream::iter(0..writes)
        .for_each_concurrent(16, |k| {
            let client = clients[k % 3].clone();
            async move {
                client
                    .fs_put(&format!("bulk/d{}/k{k}", k % 10), &format!("value {k}"))
                    .await
                    .expect("write");
            }
        })
        .await;

    let leader_status = c.client(0).expect("n1").status().await.expect("status");
    let purged = leader_status.cfs.as_ref().and_then(|s| s.purged_index);
    eprintln!(
        "before join: snapshot {:?}, purged {:?}",
        leader_status.cfs.as_ref().and_then(|s| s.snapshot_index),
        purged
    );
    eventually(
        Duration::from_secs(20),
        "the leader compacted its log",
        || {
            let n1 = c.client(0).expect("n1");
            async move {
                n1.status()
                    .await
                    .ok()
                    .and_then(|s| s.cfs)
                    .and_then(|s| s.purged_index)
                    .is_some_and(|p| p > 100)
            }
        },
    )
    .await;

    let n4 = c.add_node().await.expect("n4 joins");
    let n4c = c.client(n4).expect("n4");
    let want = dump(&clients[0], "bulk").await.expect("dump n1");
    assert_eq!(want.len(), writes);
    eventually(Duration::from_secs(30), "n4 has the whole tree", || {
        let (n4c, want) = (n4c.clone(), want.clone());
        async move { dump(&n4c, "bulk").await.ok() == Some(want) }
    })
    .await;
    let s4 = n4c.status().await.expect("status").cfs.expect("cfs");
    assert!(
        s4.snapshot_index.is_some_and(|i| i > 100),
        "n4 installed a snapshot: {s4:?}"
    );
    assert_eq!(n4c.nodes().await.expect("nodes").len(), 4);
}
