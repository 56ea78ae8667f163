//! Membership and quorum with real processes: death and return, majority
//! partitions, redundant links, clock skew, forged heartbeats, learners.

use std::time::{Duration, Instant};

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_client::Client;
use brigade_e2e::{bin, cluster, eventually, test_dir, write_retrying};
use brigade_localcluster::{firewall, ProcCluster};
use brigade_node::config::RaftTuning;

/// A short node_timeout keeps these tests fast; detection itself is benchmarked at the default.
const TEST_NODE_TIMEOUT_SECS: u32 = 3;

async fn alive_in_view(c: &Client, name: &str) -> Option<bool> {
    let s = c.status().await.ok()?;
    s.members.iter().find(|m| m.name == name).map(|m| m.alive)
}

async fn short_timeout(c: &ProcCluster) {
    c.edit_cluster_conf(0, |conf| conf.node_timeout_secs = TEST_NODE_TIMEOUT_SECS)
        .await
        .expect("edit cluster.conf");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_node_is_reported_dead_by_both_survivors_and_returns() {
    let mut c = cluster("member-death", 20, 3, RaftTuning::default()).await;
    short_timeout(&c).await;
    let (n1, n2) = (c.client(0).expect("n1"), c.client(1).expect("n2"));
    eventually(
        Duration::from_secs(15),
        "everyone alive in n1's view",
        || {
            let n1 = n1.clone();
            async move {
                alive_in_view(&n1, "n3").await == Some(true)
                    && alive_in_view(&n1, "n2").await == Some(true)
            }
        },
    )
    .await;

    c.kill(2);
    let killed = Instant::now();
    for (who, client) in [("n1", &n1), ("n2", &n2)] {
        eventually(
            Duration::from_secs(u64::from(TEST_NODE_TIMEOUT_SECS) + 20),
            "n3 reported dead",
            || {
                let client = client.clone();
                async move { alive_in_view(&client, "n3").await == Some(false) }
            },
        )
        .await;
        eprintln!("{who} reports n3 dead {:?} after SIGKILL", killed.elapsed());
        assert!(
            client.status().await.expect("status").quorate,
            "{who} keeps quorum with 2 of 3 votes"
        );
    }
    assert!(
        killed.elapsed() >= Duration::from_secs(u64::from(TEST_NODE_TIMEOUT_SECS) - 1),
        "not before node_timeout"
    );
    let s = n1.status().await.expect("status");
    assert!(
        s.warnings.iter().any(|w| w.contains("n3 is dead")),
        "{:?}",
        s.warnings
    );

    // The leader logs the death (it scans its view a few times a second).
    eventually(
        Duration::from_secs(10),
        "the cluster log has the death",
        || {
            let n1 = n1.clone();
            async move {
                n1.fs_read("cluster.log", false)
                    .await
                    .ok()
                    .and_then(|f| f.content)
                    .is_some_and(|log| log.contains("node n3 is dead"))
            }
        },
    )
    .await;
    c.start(2).expect("restart n3");
    let n3 = c.client(2).expect("n3");
    eventually(Duration::from_secs(30), "n3 is a member again", || {
        let (n1, n3) = (n1.clone(), n3.clone());
        async move {
            alive_in_view(&n1, "n3").await == Some(true)
                && n3.status().await.is_ok_and(|s| s.quorate)
        }
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the cluster log has the death and the return",
        || {
            let n1 = n1.clone();
            async move {
                let log = n1
                    .fs_read("cluster.log", false)
                    .await
                    .ok()
                    .and_then(|f| f.content)
                    .unwrap_or_default();
                log.contains("node n3 is dead") && log.contains("node n3 is alive again")
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_nodes_split_two_three_only_the_three_side_is_quorate() {
    let c = cluster("member-split", 21, 5, RaftTuning::default()).await;
    let _heal = brigade_e2e::HealOnDrop("e2e-split");
    let small: Vec<_> = c.nodes[..2].iter().map(|n| n.addr).collect();
    let big: Vec<_> = c.nodes[2..].iter().map(|n| n.addr).collect();
    firewall::partition(&small, &big, "e2e-split").expect("partition");

    let clients: Vec<Client> = (0..5).map(|i| c.client(i).expect("client")).collect();
    eventually(
        Duration::from_secs(20),
        "the 2 side loses quorum, the 3 side keeps it",
        || {
            let clients = clients.clone();
            async move {
                let mut q = Vec::new();
                for cl in &clients {
                    q.push(cl.status().await.map(|s| s.quorate).unwrap_or(false));
                }
                q == vec![false, false, true, true, true]
            }
        },
    )
    .await;
    for minority in &clients[..2] {
        let e = minority
            .fs_put("split/minority", "x")
            .await
            .expect_err("minority write refused");
        assert_eq!(e.to_string(), NOT_QUORATE_MSG);
    }
    write_retrying(&clients[3], "split/majority", "ok", Duration::from_secs(20))
        .await
        .expect("majority writes");

    firewall::heal("e2e-split").expect("heal");
    c.wait_quorate(&[0, 1, 2, 3, 4])
        .await
        .expect("all quorate again");
}

#[tokio::test(flavor = "multi_thread")]
async fn cutting_link0_keeps_every_node_alive_and_quorate_over_link1() {
    let mut c = ProcCluster::new(&bin(), &test_dir("member-links"), 22, RaftTuning::default());
    c.link1_subnet = Some(23);
    for _ in 0..3 {
        c.spawn_node().expect("spawn");
    }
    for i in 0..3 {
        c.wait_api(i).await.expect("api");
    }
    c.create("links").await.expect("create");
    for i in 1..3 {
        c.join(i).await.expect("join");
    }
    c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    short_timeout(&c).await;
    let n1 = c.client(0).expect("n1");
    eventually(Duration::from_secs(15), "both links up everywhere", || {
        let n1 = n1.clone();
        async move {
            n1.status().await.is_ok_and(|s| {
                s.members
                    .iter()
                    .filter(|m| !m.local)
                    .all(|m| m.links.len() == 2 && m.links.iter().all(|l| l.up))
            })
        }
    })
    .await;

    let _heal = brigade_e2e::HealOnDrop("e2e-links");
    let link0: Vec<_> = c.nodes.iter().map(|n| n.addr).collect();
    for a in 0..3 {
        for b in a + 1..3 {
            firewall::cut(link0[a], link0[b], "e2e-links").expect("cut link0");
        }
    }
    let cut = Instant::now();
    // Writes keep working (Raft fails over to link1).
    for k in 0..5 {
        write_retrying(&n1, &format!("links/k{k}"), "v", Duration::from_secs(20))
            .await
            .expect("write over link1");
    }
    eprintln!("writing over link1 {:?} after the cut", cut.elapsed());
    let clients: Vec<Client> = (0..3).map(|i| c.client(i).expect("client")).collect();
    eventually(
        Duration::from_secs(u64::from(TEST_NODE_TIMEOUT_SECS) + 10),
        "link0 shown down, nodes alive and quorate",
        || {
            let clients = clients.clone();
            async move {
                for cl in &clients {
                    let Ok(s) = cl.status().await else {
                        return false;
                    };
                    let ok = s.quorate
                        && s.members.iter().all(|m| m.alive)
                        && s.members
                            .iter()
                            .filter(|m| !m.local)
                            .all(|m| !m.links[0].up && m.links[1].up);
                    if !ok {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
    let s = n1.status().await.expect("status");
    assert!(
        s.warnings.iter().any(|w| w.starts_with("link0 to")),
        "{:?}",
        s.warnings
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_its_clock_15s_ahead_raises_the_alarm_and_safety_holds() {
    let mut c = cluster("member-clock", 24, 3, RaftTuning::default()).await;
    c.stop(2).expect("stop n3");
    c.wrappers.insert(
        2,
        vec![
            "env".into(),
            "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
            "faketime".into(),
            "-f".into(),
            "+15s".into(),
        ],
    );
    c.start(2).expect("start n3 with its clock 15 s ahead");
    let n1 = c.client(0).expect("n1");
    eventually(Duration::from_secs(30), "n1 sees n3's clock alarm", || {
        let n1 = n1.clone();
        async move {
            n1.status().await.is_ok_and(|s| {
                s.members.iter().any(|m| {
                    m.name == "n3"
                        && m.clock == "alarm"
                        && m.clock_offset_ms
                            .is_some_and(|o| (o - 15_000.0).abs() < 2_000.0)
                }) && s.warnings.iter().any(|w| w.contains("clock ALARM: n3"))
            })
        }
    })
    .await;
    // Safety and liveness do not depend on wall clocks: n3 is a quorate member and writes work through it.
    let n3 = c.client(2).expect("n3");
    c.wait_quorate(&[0, 1, 2])
        .await
        .expect("quorum with a skewed clock");
    write_retrying(&n3, "clock/through-n3", "ok", Duration::from_secs(20))
        .await
        .expect("write via n3");
    eventually(
        Duration::from_secs(10),
        "the alarm is in the cluster log",
        || {
            let n1 = n1.clone();
            async move {
                n1.fs_read("cluster.log", false)
                    .await
                    .ok()
                    .and_then(|f| f.content)
                    .is_some_and(|l| l.contains("clock-alarm"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_replayed_and_garbage_heartbeats_are_dropped_and_counted() {
    use brigade_membership::Heartbeat;
    let c = cluster("member-forged", 25, 2, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    // Heartbeats flow (n1 has the key and knows n2's current boot) before we forge any.
    eventually(Duration::from_secs(15), "n1 hears n2", || {
        let n1 = n1.clone();
        async move { alive_in_view(&n1, "n2").await == Some(true) }
    })
    .await;
    let key = n1
        .fs_read("priv/authkey", false)
        .await
        .expect("key")
        .content
        .expect("text")
        .into_bytes();
    let target = std::net::SocketAddr::new(c.nodes[0].addr, 5405);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let before = n1.status().await.expect("status").heartbeats;
    let hb = Heartbeat {
        link: 0,
        from: 2,
        to: 1,
        boot: 1,
        seq: 1,
        sent_ns: 0,
        echo_seq: 0,
        echo_sent_ns: 0,
        echo_recv_ns: 0,
    };
    let garbage = [0xffu8; 50];
    for _ in 0..5 {
        sock.send_to(&hb.encode(b"wrong key"), target)
            .expect("send");
        sock.send_to(&hb.encode(&key)[..60], target).expect("send");
        sock.send_to(&garbage, target).expect("send");
        // Authentic but from an older boot of n2: a replay.
        sock.send_to(&hb.encode(&key), target).expect("send");
    }
    eventually(Duration::from_secs(10), "every bad packet counted", || {
        let n1 = n1.clone();
        let before = before.clone();
        async move {
            n1.status().await.is_ok_and(|s| {
                let h = s.heartbeats;
                h.dropped_auth >= before.dropped_auth + 5
                    && h.dropped_malformed >= before.dropped_malformed + 10
                    && h.dropped_replay >= before.dropped_replay + 5
            })
        }
    })
    .await;
    let s = n1.status().await.expect("status");
    assert!(
        s.quorate && s.members.iter().all(|m| m.alive),
        "the daemon is fine: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn seven_nodes_with_three_voters_promote_a_learner_when_a_voter_dies() {
    let mut c = ProcCluster::new(
        &bin(),
        &test_dir("member-learners"),
        26,
        RaftTuning::default(),
    );
    c.spawn_node().expect("spawn n1");
    c.wait_api(0).await.expect("api");
    c.create("big").await.expect("create");
    c.edit_cluster_conf(0, |conf| {
        conf.max_voters = 3;
        conf.node_timeout_secs = TEST_NODE_TIMEOUT_SECS;
    })
    .await
    .expect("max_voters 3");
    for _ in 1..7 {
        c.add_node().await.expect("join");
    }
    let n1 = c.client(0).expect("n1");
    let roles = |rows: &[brigade_client::NodeRow]| {
        (
            rows.iter().filter(|r| r.role == "voter").count(),
            rows.iter().filter(|r| r.role == "learner").count(),
        )
    };
    eventually(Duration::from_secs(20), "3 voters and 4 learners", || {
        let n1 = n1.clone();
        async move { n1.nodes().await.is_ok_and(|r| roles(&r) == (3, 4)) }
    })
    .await;
    let rows = n1.nodes().await.expect("nodes");
    let victim = rows
        .iter()
        .find(|r| r.role == "voter" && !r.leader)
        .expect("a non-leader voter")
        .nodeid;
    c.kill(c.index_of_id(victim));
    eventually(
        Duration::from_secs(30),
        "a learner took the dead voter's vote",
        || {
            let n1 = n1.clone();
            async move {
                n1.nodes().await.is_ok_and(|r| {
                    // The dead voter stays as a learner (it may come back); a live learner now votes.
                    roles(&r) == (3, 4)
                        && r.iter().any(|x| x.nodeid == victim && x.role == "learner")
                })
            }
        },
    )
    .await;
    write_retrying(&n1, "learners/after", "ok", Duration::from_secs(20))
        .await
        .expect("quorum holds");
    assert!(n1.status().await.expect("status").quorate);
}
