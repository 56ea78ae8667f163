//! 3 real nodes: create, join, join; a write on n1 is read back on n3 and seen by a watch on n2.

use std::time::Duration;

use brigade_e2e::{cluster, dump, eventually};
use brigade_node::config::RaftTuning;

#[tokio::test(flavor = "multi_thread")]
async fn write_on_n1_is_read_on_n3_and_watched_on_n2() {
    let c = cluster("replication", 11, 3, RaftTuning::default()).await;
    let (n1, n2, n3) = (
        c.client(0).expect("n1"),
        c.client(1).expect("n2"),
        c.client(2).expect("n3"),
    );

    let nodes = n1.nodes().await.expect("nodes");
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.role == "voter"), "{nodes:?}");

    let mut watch = n2.fs_watch("nodes/n1").await.expect("watch");
    let content = "memory: 256\nname: vm100\nscsi0: shared:vm-100-disk-0,size=1G\n";
    let written = n1
        .fs_put("nodes/n1/qemu-server/100.conf", content)
        .await
        .expect("write");

    let change = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("watch saw a change in time")
        .expect("stream open")
        .expect("change");
    assert_eq!(change.path, "nodes/n1/qemu-server/100.conf");
    assert_eq!(change.version, written.version);

    eventually(Duration::from_secs(10), "n3 has the file", || {
        let n3 = n3.clone();
        async move {
            n3.fs_read("nodes/n1/qemu-server/100.conf", false)
                .await
                .is_ok()
        }
    })
    .await;
    let f = n3
        .fs_read("nodes/n1/qemu-server/100.conf", false)
        .await
        .expect("read on n3");
    assert_eq!(f.content.as_deref(), Some(content), "identical bytes on n3");
    assert_eq!(f.version, written.version);

    // A read-index read through a follower returns the same.
    let consistent = n3
        .fs_read("nodes/n1/qemu-server/100.conf", true)
        .await
        .expect("consistent read");
    assert_eq!(consistent.content.as_deref(), Some(content));

    // The whole trees are identical on all three nodes.
    let t1 = dump(&n1, "").await.expect("dump n1");
    eventually(Duration::from_secs(10), "trees converge", || {
        let (n2, n3, t1) = (n2.clone(), n3.clone(), t1.clone());
        async move {
            dump(&n2, "").await.ok() == Some(t1.clone()) && dump(&n3, "").await.ok() == Some(t1)
        }
    })
    .await;
    assert!(t1.contains_key("cluster.conf") && t1.contains_key("priv/token.cfg"));
}
