//! Upgrades: a node of another wire/tree format version is refused by the cluster with
//! the release to install, the refusal changes nothing, and the same node joins once it
//! runs the cluster's format. (The other release is played by a debug build announcing
//! another version; `previous_release_binary_joins_and_replicates` runs a real old binary.)

use std::time::Duration;

use brigade_e2e::{bin, cluster, eventually, write_retrying};
use brigade_node::config::RaftTuning;
use brigade_node::format_version::{DEBUG_OVERRIDE_ENV, FORMAT_VERSION, RELEASE};

/// How long a write may wait for a leader.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long replication to a new node may take.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Restarts node `i` of `c`, announcing format `version` (None: its own).
async fn restart_as(c: &mut brigade_localcluster::ProcCluster, i: usize, version: Option<u32>) {
    c.stop(i).expect("stop");
    match version {
        Some(v) => {
            c.wrappers
                .insert(i, vec!["env".into(), format!("{DEBUG_OVERRIDE_ENV}={v}")]);
        }
        None => {
            c.wrappers.remove(&i);
        }
    }
    c.start(i).expect("start");
    c.wait_api(i).await.expect("api");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_of_another_format_is_refused_with_the_release_to_install() {
    let mut c = cluster("upgrade-format", 83, 2, RaftTuning::default()).await;
    // n3 starts as a node of the previous format version.
    c.wrappers.insert(
        2,
        vec![
            "env".into(),
            format!("{DEBUG_OVERRIDE_ENV}={}", FORMAT_VERSION - 1),
        ],
    );
    let n3 = c.spawn_node().expect("spawn n3");
    c.wait_api(n3).await.expect("n3 api");
    let token = c
        .client(0)
        .expect("n1")
        .join_token()
        .await
        .expect("token")
        .token;
    let member = c.nodes[0].config.api_addr().to_string();

    let older = c
        .local_client(n3)
        .expect("n3")
        .cluster_join(&member, &token)
        .await
        .expect_err("an older format is refused");
    let msg = format!("{older:#}");
    eprintln!("older node: {msg}");
    assert!(
        msg.contains(&format!(
            "speaks brigade format version {}, but this cluster speaks format version {FORMAT_VERSION}",
            FORMAT_VERSION - 1
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "install brigade {RELEASE} (format {FORMAT_VERSION})"
        )),
        "{msg}"
    );

    // The same node, now playing the next release: refused, told to upgrade the cluster.
    restart_as(&mut c, n3, Some(FORMAT_VERSION + 1)).await;
    let newer = c
        .local_client(n3)
        .expect("n3")
        .cluster_join(&member, &token)
        .await
        .expect_err("a newer format is refused");
    let msg = format!("{newer:#}");
    eprintln!("newer node: {msg}");
    assert!(msg.contains("upgrade every member of the cluster"), "{msg}");

    // Nothing else broke: two members, writable, and the token was not consumed.
    assert_eq!(
        c.client(0).expect("n1").nodes().await.expect("nodes").len(),
        2
    );
    write_retrying(
        &c.client(1).expect("n2"),
        "upgrade/probe",
        "before",
        WRITE_TIMEOUT,
    )
    .await
    .expect("the cluster still takes writes");

    // With the cluster's format the same node joins with the same token and replicates.
    restart_as(&mut c, n3, None).await;
    c.local_client(n3)
        .expect("n3")
        .cluster_join(&member, &token)
        .await
        .expect("same format joins with the unused token");
    assert_eq!(
        c.client(0).expect("n1").nodes().await.expect("nodes").len(),
        3
    );
    write_retrying(
        &c.client(0).expect("n1"),
        "upgrade/probe",
        "after",
        WRITE_TIMEOUT,
    )
    .await
    .expect("write");
    let n3c = c.client(n3).expect("n3");
    eventually(REPLICATION_TIMEOUT, "n3 has the write", || {
        let n3c = n3c.clone();
        async move {
            n3c.fs_read("upgrade/probe", false)
                .await
                .ok()
                .and_then(|f| f.content)
                .as_deref()
                == Some("after")
        }
    })
    .await;
}

/// Needs `BRIGADE_PREVIOUS_BIN`: the brigade binary of the previous release (or commit),
/// e.g. built with `git worktree add /tmp/prev HEAD~1 && cargo build -p brigade-cli`
/// there. n3 runs it in a cluster of this build: it joins (same format) and replicates.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs BRIGADE_PREVIOUS_BIN, an older brigade binary (a second full build): scripts/test-previous-release builds one and runs this test"]
async fn previous_release_binary_joins_and_replicates() {
    let previous = std::env::var("BRIGADE_PREVIOUS_BIN")
        .expect("set BRIGADE_PREVIOUS_BIN to the previous release's brigade binary");
    assert_ne!(std::path::PathBuf::from(&previous), bin());
    let mut c = cluster("upgrade-previous", 80, 2, RaftTuning::default()).await;
    // The harness runs WRAPPER... THIS_BINARY node run ...: the wrapper swaps the binary.
    c.wrappers.insert(
        2,
        vec![
            "sh".into(),
            "-c".into(),
            format!("shift; exec '{previous}' \"$@\""),
            "sh".into(),
        ],
    );
    let n3 = c.add_node().await.expect("the previous release joins");
    write_retrying(
        &c.client(1).expect("n2"),
        "upgrade/old",
        "from n2",
        WRITE_TIMEOUT,
    )
    .await
    .expect("write");
    let n3c = c.client(n3).expect("n3");
    eventually(REPLICATION_TIMEOUT, "the old node has the write", || {
        let n3c = n3c.clone();
        async move {
            n3c.fs_read("upgrade/old", false)
                .await
                .ok()
                .and_then(|f| f.content)
                .as_deref()
                == Some("from n2")
        }
    })
    .await;
    write_retrying(&n3c, "upgrade/from-old", "from n3", WRITE_TIMEOUT)
        .await
        .expect("the old node writes through the new leader");
    let n1 = c.client(0).expect("n1");
    eventually(REPLICATION_TIMEOUT, "n1 has the old node's write", || {
        let n1 = n1.clone();
        async move {
            n1.fs_read("upgrade/from-old", false)
                .await
                .ok()
                .and_then(|f| f.content)
                .as_deref()
                == Some("from n3")
        }
    })
    .await;
}
