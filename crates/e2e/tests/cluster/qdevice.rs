//! The two-node problem and its tie-breaker: a qdevice votes but never leads.

use std::time::Duration;

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_client::Client;
use brigade_e2e::timing::ClusterTiming;
use brigade_e2e::{cluster, eventually, settle, write_retrying};
use brigade_localcluster::{firewall, ProcCluster};
use brigade_node::config::RaftTuning;

/// How often "exactly one side is quorate" is checked while it must stay so.
const STAYS_CHECK_INTERVAL: Duration = Duration::from_millis(300);

/// The timing of these clusters (default Raft timing; node_timeout and HA untouched).
fn timing() -> ClusterTiming {
    ClusterTiming::new(
        &RaftTuning::default(),
        brigade_core::cluster_conf::DEFAULT_NODE_TIMEOUT_SECS,
        u64::from(brigade_core::cluster_conf::DEFAULT_NODE_TIMEOUT_SECS),
    )
}

async fn quorate(c: &Client) -> bool {
    c.status().await.is_ok_and(|s| s.quorate)
}

/// Forms `n` nodes plus a qdevice and returns the qdevice's index.
async fn with_qdevice(name: &str, subnet: u8, n: usize) -> (ProcCluster, usize) {
    let mut c = cluster(name, subnet, n, RaftTuning::default()).await;
    let q = c.spawn_qdevice().expect("spawn qdevice");
    c.setup_qdevice(q).await.expect("qdevice setup");
    let n1 = c.client(0).expect("n1");
    let qid = q as u64 + 1;
    eventually(Duration::from_secs(30), "the qdevice votes", || {
        let n1 = n1.clone();
        async move {
            n1.status().await.is_ok_and(|s| {
                s.config
                    .as_ref()
                    .and_then(|c| c.qdevice.as_ref())
                    .is_some_and(|qd| qd.nodeid == qid)
                    && s.cfs
                        .as_ref()
                        .is_some_and(|cfs| cfs.members.iter().any(|m| m.id == qid && m.voter))
            })
        }
    })
    .await;
    (c, q)
}

/// Asserts the qdevice is not the leader in anybody's view.
async fn qdevice_never_leads(c: &ProcCluster, q: usize) {
    for i in 0..c.nodes.len() {
        if let Ok(s) = c.client(i).expect("client").status().await {
            let leader = s.cfs.and_then(|x| x.leader);
            assert_ne!(
                leader,
                Some(q as u64 + 1),
                "the qdevice led in {}'s view",
                c.nodes[i].name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_and_a_qdevice_survive_either_node_dying() {
    let (mut c, q) = with_qdevice("qdevice-kill", 30, 2).await;
    let leader = c.wait_quorate(&[0, 1]).await.expect("leader");
    qdevice_never_leads(&c, q).await;
    // Clear refusals: a qdevice already in use, and one that is not there.
    let token = c
        .client(0)
        .expect("n1")
        .join_token()
        .await
        .expect("token")
        .token;
    let member = c.nodes[0].config.api_addr().to_string();
    let e = Client::qdevice_adopt(&c.nodes[q].config.api_url(), None, &member, &token)
        .await
        .expect_err("already adopted");
    assert!(e.to_string().contains("already used by cluster"), "{e}");
    let e = Client::qdevice_adopt("https://127.0.30.200:8006", None, &member, &token)
        .await
        .expect_err("nobody there");
    assert!(e.to_string().contains("cannot reach"), "{e}");
    // Kill the leader: the other node must take over with the qdevice's vote.
    let dead = c.index_of_id(leader);
    let survivor = 1 - dead;
    c.kill(dead);
    let s = c.client(survivor).expect("survivor");
    write_retrying(&s, "qdevice/after-kill", "ok", Duration::from_secs(30))
        .await
        .expect("the survivor writes");
    assert!(quorate(&s).await);
    qdevice_never_leads(&c, q).await;
    let status = s.status().await.expect("status");
    assert_eq!(status.cfs.and_then(|x| x.leader), Some(survivor as u64 + 1));
    let rss = c.rss_kib(q).expect("qdevice rss");
    eprintln!("qdevice RSS: {rss} KiB ({:.1} MiB)", rss as f64 / 1024.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cutting_the_two_nodes_apart_leaves_exactly_one_quorate() {
    let (c, q) = with_qdevice("qdevice-cut", 31, 2).await;
    let _heal = brigade_e2e::HealOnDrop("e2e-qdevice-cut");
    firewall::cut(c.nodes[0].addr, c.nodes[1].addr, "e2e-qdevice-cut").expect("cut");
    let (n1, n2) = (c.client(0).expect("n1"), c.client(1).expect("n2"));
    // Give the loser time to lose its lease, then check it stays lost.
    settle(
        timing().quorum_settles(),
        "the cut decides who keeps quorum",
    )
    .await;
    for _ in 0..10 {
        let (a, b) = (quorate(&n1).await, quorate(&n2).await);
        assert!(a ^ b, "exactly one side is quorate (n1 {a}, n2 {b})");
        tokio::time::sleep(STAYS_CHECK_INTERVAL).await;
    }
    let loser = if quorate(&n1).await { &n2 } else { &n1 };
    assert_eq!(
        loser
            .fs_put("qdevice/x", "x")
            .await
            .expect_err("refused")
            .to_string(),
        NOT_QUORATE_MSG
    );
    qdevice_never_leads(&c, q).await;
    firewall::heal("e2e-qdevice-cut").expect("heal");
    c.wait_quorate(&[0, 1]).await.expect("both quorate again");
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_qdevice_keeps_both_nodes_quorate_and_it_counts_again_when_back() {
    let (mut c, q) = with_qdevice("qdevice-lost", 32, 2).await;
    c.kill(q);
    let (n1, n2) = (c.client(0).expect("n1"), c.client(1).expect("n2"));
    settle(
        timing().lease_outlived(),
        "a node without its majority would lose quorum",
    )
    .await;
    assert!(quorate(&n1).await && quorate(&n2).await, "2 of 3 votes");
    write_retrying(&n2, "qdevice/without", "ok", Duration::from_secs(20))
        .await
        .expect("writes");
    c.start(q).expect("qdevice back");
    let qname = c.nodes[q].name.clone();
    eventually(
        Duration::from_secs(30),
        "the qdevice is alive and counted again",
        || {
            let (n1, qname) = (n1.clone(), qname.clone());
            async move {
                n1.status().await.is_ok_and(|s| {
                    s.quorate && s.members.iter().any(|m| m.name == qname && m.alive)
                })
            }
        },
    )
    .await;
    // With the qdevice back, the cluster again survives a node's death.
    c.kill(1);
    write_retrying(&n1, "qdevice/after", "ok", Duration::from_secs(30))
        .await
        .expect("n1 alone + qdevice writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_without_a_qdevice_stop_when_one_dies_and_say_why() {
    let mut c = cluster("qdevice-none", 33, 2, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    // A stopped VM and container on n1, to be started once n1 is alone (issue 13.2).
    let appliance = brigade_e2e::guests::appliance();
    let dir = c.dir.join("local-images");
    std::fs::create_dir_all(&dir).expect("dir");
    n1.storage_add(&brigade_api::storage::StorageAddRequest {
        storage: "shared".into(),
        kind: "dir".into(),
        path: dir.display().to_string(),
        content: Some("images,rootdir".into()),
        shared: true,
        nodes: None,
    })
    .await
    .expect("storage");
    let params = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:1"),
    );
    n1.guest_create(
        "n1",
        brigade_core::layout::GuestKind::Qemu,
        101,
        &params,
        None,
        false,
    )
    .await
    .expect("vm 101");
    let ct: std::collections::BTreeMap<String, String> =
        [("rootfs".to_string(), "shared:1".to_string())].into();
    n1.guest_create(
        "n1",
        brigade_core::layout::GuestKind::Lxc,
        102,
        &ct,
        Some(&appliance.join("rootfs").display().to_string()),
        false,
    )
    .await
    .expect("ct 102");
    let s = n1.status().await.expect("status");
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("even number of voters (2) and no qdevice")),
        "{:?}",
        s.warnings
    );
    c.kill(1);
    eventually(
        Duration::from_secs(20),
        "n1 alone is not quorate and says why",
        || {
            let n1 = n1.clone();
            async move {
                n1.status().await.is_ok_and(|s| {
                    !s.quorate
                        && s.warnings.iter().any(|w| {
                            w.contains("not quorate: 1 of 2 votes present, 2 needed")
                                && w.contains("brigade cluster qdevice setup")
                        })
                })
            }
        },
    )
    .await;
    assert_eq!(
        n1.fs_put("x", "x")
            .await
            .expect_err("read-only")
            .to_string(),
        NOT_QUORATE_MSG
    );
    // Without quorum nothing starts: through the real CLI, as a user would.
    let cfg = c.nodes[0].config_path.clone();
    for args in [["vm", "start", "101"], ["ct", "start", "102"]] {
        let (ok, out, err) = brigade_e2e::brigade(&cfg, &args);
        assert!(!ok, "{args:?} succeeded without quorum: {out}");
        assert!(err.contains("not quorate"), "{args:?}: {err}");
    }
    assert!(
        c.guest_pids(0).is_empty(),
        "a guest started without quorum: {:?}",
        c.guest_pids(0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn four_nodes_and_a_qdevice_split_two_two_exactly_one_half_quorate() {
    let (c, q) = with_qdevice("qdevice-four", 34, 4).await;
    let _heal = brigade_e2e::HealOnDrop("e2e-qdevice-four");
    let a: Vec<_> = c.nodes[..2].iter().map(|n| n.addr).collect();
    let b: Vec<_> = c.nodes[2..4].iter().map(|n| n.addr).collect();
    firewall::partition(&a, &b, "e2e-qdevice-four").expect("partition");
    let clients: Vec<Client> = (0..4).map(|i| c.client(i).expect("client")).collect();
    settle(
        timing().quorum_settles(),
        "the split decides which half keeps quorum",
    )
    .await;
    eventually(Duration::from_secs(20), "exactly one half quorate", || {
        let clients = clients.clone();
        async move {
            let mut q = Vec::new();
            for cl in &clients {
                q.push(quorate(cl).await);
            }
            q == vec![true, true, false, false] || q == vec![false, false, true, true]
        }
    })
    .await;
    qdevice_never_leads(&c, q).await;
    firewall::heal("e2e-qdevice-four").expect("heal");
    c.wait_quorate(&[0, 1, 2, 3])
        .await
        .expect("all quorate again");
}
