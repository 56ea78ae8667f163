//! Upgrades: a joiner of another format is refused with the release to install; a member
//! restarted as the next release keeps replicating while the cluster's format stays until
//! every member speaks the next one, and a member that cannot speak the active format
//! does not start, changing nothing, and comes back on a good binary. (Other releases are
//! played by a debug build with `BRIGADE_DEBUG_FORMAT_VERSION` and `BRIGADE_DEBUG_RELEASE`;
//! `previous_release_binary_joins_and_replicates` runs a real old binary.)

use std::time::Duration;

use brigade_e2e::{bin, brigade, cluster, eventually, write_retrying};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use brigade_node::format_version::{
    ACTIVE_FORMAT_RECORD, ACTIVE_FORMAT_TREE_PATH, DEBUG_OVERRIDE_ENV, DEBUG_RELEASE_ENV,
    FORMAT_VERSION, RELEASE,
};

/// How long a write may wait for a leader.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long replication to a new node may take.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long until members have heard each other's formats (a few announcement rounds).
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a refused node may take to exit by itself.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// The release the next release is played as.
const NEXT_RELEASE: &str = "0.2.0";

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

/// The wrapper playing release `release` speaking `formats` (`N` or `MIN-MAX`).
fn playing(release: &str, formats: &str) -> Vec<String> {
    vec![
        "env".into(),
        format!("{DEBUG_OVERRIDE_ENV}={formats}"),
        format!("{DEBUG_RELEASE_ENV}={release}"),
    ]
}

/// Restarts node `i` with `wrapper` (None: this build as it is) and waits for its API.
async fn restart_with(c: &mut ProcCluster, i: usize, wrapper: Option<Vec<String>>) {
    c.stop(i).expect("stop");
    match wrapper {
        Some(w) => {
            c.wrappers.insert(i, w);
        }
        None => {
            c.wrappers.remove(&i);
        }
    }
    c.start(i).expect("start");
    c.wait_api(i).await.expect("api");
}

/// Writes `key` through node `from` and waits until node `to` has it.
async fn replicates(c: &ProcCluster, from: usize, to: usize, key: &str, value: &str) {
    write_retrying(&c.client(from).expect("writer"), key, value, WRITE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("write {key} through node {from}: {e:#}"));
    let reader = c.client(to).expect("reader");
    eventually(REPLICATION_TIMEOUT, &format!("node {to} has {key}"), || {
        let reader = reader.clone();
        async move {
            reader
                .fs_read(key, false)
                .await
                .ok()
                .and_then(|f| f.content)
                .as_deref()
                == Some(value)
        }
    })
    .await;
}

fn log_of(c: &ProcCluster, i: usize) -> String {
    std::fs::read_to_string(c.dir.join(format!("{}.log", c.nodes[i].name))).unwrap_or_default()
}

/// Starts node `i` (stopped) and waits for it to exit by itself; its log since the start.
async fn start_expecting_refusal(c: &mut ProcCluster, i: usize) -> String {
    let before = log_of(c, i).len();
    c.start(i).expect("start");
    eventually(EXIT_TIMEOUT, "the refused node exits by itself", || {
        let running = c.nodes[i].is_running();
        async move { !running }
    })
    .await;
    log_of(c, i)[before..].to_string()
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read state dir").flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((
                    e.path().display().to_string(),
                    meta.len(),
                    meta.modified().expect("mtime"),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The cluster's active format file in node `i`'s replica, if any.
async fn active_in_tree(c: &ProcCluster, i: usize) -> Option<String> {
    c.client(i)
        .expect("client")
        .fs_read(ACTIVE_FORMAT_TREE_PATH, false)
        .await
        .ok()
        .and_then(|f| f.content)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_upgrade_keeps_the_format_until_every_member_speaks_the_next_one() {
    let mut c = cluster("upgrade-rolling", 100, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");

    // n3 restarted as the next release, which speaks formats 1 and 2: it keeps replicating both ways.
    restart_with(&mut c, 2, Some(playing(NEXT_RELEASE, "1-2"))).await;
    replicates(&c, 0, 2, "upgrade/to-new", "from n1").await;
    replicates(&c, 2, 1, "upgrade/from-new", "from n3").await;

    // Status shows each member's release and formats, and the mixed versions.
    let mixed = format!(
        "mixed versions: n3 runs {NEXT_RELEASE}, the others {RELEASE} — finish the rolling upgrade"
    );
    eventually(ANNOUNCE_TIMEOUT, "n1 has heard n3's formats", || {
        let n1 = n1.clone();
        let mixed = mixed.clone();
        async move { n1.status().await.is_ok_and(|s| s.warnings.contains(&mixed)) }
    })
    .await;
    let s = n1.status().await.expect("status");
    let f = s.format.expect("n1 is in a cluster");
    assert_eq!(f.active, 1, "{f:?}");
    assert_eq!(f.highest_common, Some(1), "{f:?}");
    let n3 = f
        .members
        .iter()
        .find(|m| m.name == "n3")
        .expect("n3 listed");
    assert_eq!(
        (n3.release.as_deref(), n3.min_format, n3.max_format),
        (Some(NEXT_RELEASE), Some(1), Some(2)),
        "{n3:?}"
    );
    let (ok, out, err) = brigade(&c.nodes[0].config_path, &["cluster", "status"]);
    assert!(ok, "{err}");
    assert!(out.contains(&mixed), "{out}");
    assert!(out.contains("Active format:    1"), "{out}");
    assert!(out.contains("1 to 2"), "{out}");

    // The format stays 1 while n1 and n2 speak only 1: raising it is refused, nothing written.
    let refused = format!(
        "{:#}",
        n1.format_upgrade()
            .await
            .expect_err("n1 and n2 hold it back")
    );
    assert!(
        refused.contains("the cluster already runs format version 1, the highest that every member speaks (n1, n2 speak no newer format: upgrade them first)"),
        "{refused}"
    );
    assert_eq!(active_in_tree(&c, 0).await, None);
    let (ok, _, err) = brigade(
        &c.nodes[0].config_path,
        &["fs", "write", ACTIVE_FORMAT_TREE_PATH, "2"],
    );
    assert!(!ok, "writing the format by hand must be refused");
    assert!(
        err.contains("written only by 'brigade cluster format upgrade'"),
        "{err}"
    );

    // Finish the rolling upgrade, one node at a time, each back and replicating before the next.
    for i in [0, 1] {
        restart_with(&mut c, i, Some(playing(NEXT_RELEASE, "1-2"))).await;
        c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
        replicates(&c, (i + 1) % 3, i, &format!("upgrade/rolled-{i}"), "ok").await;
    }
    eventually(
        ANNOUNCE_TIMEOUT,
        "every member speaks format 2, no warning",
        || {
            let n1 = n1.clone();
            async move {
                n1.status().await.is_ok_and(|s| {
                    s.format.is_some_and(|f| f.highest_common == Some(2))
                        && !s.warnings.iter().any(|w| w.contains("mixed versions"))
                })
            }
        },
    )
    .await;
    let raised = n1.format_upgrade().await.expect("every member speaks 2");
    assert_eq!((raised.previous, raised.active), (1, 2));
    for i in 0..3 {
        eventually(REPLICATION_TIMEOUT, "every replica has format 2", || {
            let c = &c;
            async move { active_in_tree(c, i).await.as_deref() == Some("2\n") }
        })
        .await;
    }
    replicates(&c, 1, 2, "upgrade/at-format-2", "ok").await;

    // The record cannot be removed or moved away (every member would read format 1 again),
    // not even with the rest of priv/; it still holds 2 afterwards.
    for args in [
        vec!["fs", "rm", ACTIVE_FORMAT_TREE_PATH],
        vec!["fs", "rm", "priv", "--recursive"],
        vec!["fs", "mv", ACTIVE_FORMAT_TREE_PATH, "upgrade/format-moved"],
    ] {
        let (ok, _, err) = brigade(&c.nodes[1].config_path, &args);
        assert!(!ok, "{args:?} must be refused");
        assert!(
            err.contains("records the format version the cluster runs"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(active_in_tree(&c, 1).await.as_deref(), Some("2\n"));

    // Now a node of the old release (format 1 only) refuses to start, naming what to install.
    let record = c.nodes[2].state_dir().join(ACTIVE_FORMAT_RECORD);
    eventually(ANNOUNCE_TIMEOUT, "n3 recorded format 2", || {
        let seen = std::fs::read_to_string(&record).unwrap_or_default();
        async move { seen.trim() == "2" }
    })
    .await;
    c.stop(2).expect("stop n3");
    c.wrappers.remove(&2);
    let log = start_expecting_refusal(&mut c, 2).await;
    assert!(
        log.contains(&format!("node n3 does not take part in its cluster: this brigade {RELEASE} speaks format version 1, but the cluster runs format version 2. Install a newer brigade release, one that speaks format 2 on n3 and start it again; nothing was changed")),
        "{log}"
    );
    replicates(&c, 0, 1, "upgrade/without-n3", "ok").await;

    // Had it been restarted before it recorded format 2, it starts, reads format 2 in its
    // replica, and stops by itself saying so, recording the format this time.
    std::fs::remove_file(&record).expect("forget the record");
    let log = start_expecting_refusal(&mut c, 2).await;
    assert!(
        log.contains(&format!("node n3 does not take part in its cluster: this brigade {RELEASE} speaks format version 1, but the cluster runs format version 2. Install a newer brigade release, one that speaks format 2 on n3 and start it again; it stopped")),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&record)
            .expect("recorded again")
            .trim(),
        "2"
    );
    replicates(&c, 1, 0, "upgrade/still-without-n3", "ok").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_cannot_speak_the_active_format_is_refused_and_comes_back_on_a_good_binary() {
    let mut c = cluster("upgrade-refused", 101, 3, RaftTuning::default()).await;
    replicates(&c, 0, 2, "upgrade/before", "1").await;

    // n3 restarted as a release that speaks only formats 2 and 3: it does not start.
    c.stop(2).expect("stop n3");
    let state = c.nodes[2].state_dir();
    let before = listing(&state);
    c.wrappers.insert(2, playing("0.3.0", "2-3"));
    let log = start_expecting_refusal(&mut c, 2).await;
    assert!(
        log.contains("node n3 does not take part in its cluster: this brigade 0.3.0 speaks format version 2 to 3, but the cluster runs format version 1. Install brigade 0.1.0 or a later release that speaks format 1 on n3 and start it again; nothing was changed"),
        "{log}"
    );
    assert_eq!(
        listing(&state),
        before,
        "the refused start changed n3's state"
    );

    // The others keep quorum and take writes.
    replicates(&c, 0, 1, "upgrade/while-refused", "2").await;
    assert!(
        c.client(1)
            .expect("n2")
            .status()
            .await
            .expect("status")
            .quorate
    );

    // On a good binary n3 comes back, catches up and takes part.
    c.wrappers.remove(&2);
    c.start(2).expect("start n3");
    c.wait_api(2).await.expect("n3 api");
    let n3 = c.client(2).expect("n3");
    eventually(REPLICATION_TIMEOUT, "n3 caught up", || {
        let n3 = n3.clone();
        async move {
            n3.fs_read("upgrade/while-refused", false)
                .await
                .ok()
                .and_then(|f| f.content)
                .as_deref()
                == Some("2")
        }
    })
    .await;
    replicates(&c, 2, 0, "upgrade/after", "3").await;
}
