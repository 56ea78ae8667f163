//! A node restarted after a clean stop and after SIGKILL comes back with its state from redb.

use std::time::Duration;

use brigade_e2e::{cluster, dump, eventually, write_retrying};
use brigade_node::config::RaftTuning;

#[tokio::test(flavor = "multi_thread")]
async fn restarts_keep_state() {
    let mut c = cluster("restart", 14, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    for k in 0..20 {
        n1.fs_put(&format!("data/k{k}"), &format!("v{k}"))
            .await
            .expect("write");
    }
    let before = dump(&n1, "").await.expect("dump");

    for (how, i) in [("clean stop", 1usize), ("SIGKILL", 2usize)] {
        if how == "clean stop" {
            c.stop(i).expect("stop");
        } else {
            c.kill(i);
        }
        // The rest keeps writing while the node is down.
        write_retrying(
            &n1,
            &format!("while-down/{i}"),
            how,
            Duration::from_secs(20),
        )
        .await
        .expect("write while down");
        c.start(i).expect("start");
        c.wait_api(i).await.expect("api");
        let client = c.client(i).expect("client");
        // Straight after restart, before catching up, the node already has what it had (from redb).
        let own = dump(&client, "data").await.expect("dump after restart");
        let want: std::collections::BTreeMap<_, _> = before
            .iter()
            .filter(|(k, _)| k.starts_with("data/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(own, want, "{how}: state came back from redb");
        eventually(
            Duration::from_secs(20),
            "caught up with writes made while down",
            || {
                let client = client.clone();
                async move {
                    client
                        .fs_read(&format!("while-down/{i}"), false)
                        .await
                        .is_ok()
                }
            },
        )
        .await;
    }

    // The whole cluster stopped and started again: everything is there, one leader.
    for i in 0..3 {
        c.stop(i).expect("stop");
    }
    for i in 0..3 {
        c.start(i).expect("start");
    }
    c.wait_quorate(&[0, 1, 2])
        .await
        .expect("quorum after full restart");
    let after = dump(&c.client(0).expect("n1"), "data").await.expect("dump");
    assert_eq!(after.len(), 20);
    write_retrying(
        &c.client(2).expect("n3"),
        "after/full-restart",
        "ok",
        Duration::from_secs(20),
    )
    .await
    .expect("write");
}
