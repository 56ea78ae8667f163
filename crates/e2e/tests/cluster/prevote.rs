//! A node cut off for many election timeouts cannot depose the healthy leader
//! when the partition heals (issue 13 item 6): its term stays, the leader
//! stays, and the majority's writes keep succeeding through the heal.

use std::time::{Duration, Instant};

use brigade_e2e::{cluster, eventually, HealOnDrop};
use brigade_localcluster::firewall;
use brigade_node::config::RaftTuning;

/// How often the majority writes while the partition lasts.
const WRITE_INTERVAL_CUT: Duration = Duration::from_millis(200);
/// How often it writes after the heal (each write must stay fast).
const WRITE_INTERVAL_HEALED: Duration = Duration::from_millis(100);
const TAG: &str = "e2e-prevote";
/// Many election timeouts (default 1-2 s after a 2 s leader lease).
const ISOLATION: Duration = Duration::from_secs(20);
/// How long writes are watched after the heal.
const AFTER_HEAL: Duration = Duration::from_secs(10);
/// A write slower than this counts as a disruption.
const WRITE_SLOW: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_node_rejoins_without_deposing_the_leader() {
    let c = cluster("prevote", 61, 3, RaftTuning::default()).await;
    let leader_id = c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    let leader = c.index_of_id(leader_id);
    let cut = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let status = |i: usize| {
        let client = c.client(i).expect("client");
        async move { client.status().await.expect("status").cfs.expect("cfs") }
    };
    let term_before = status(leader).await.term;
    assert_eq!(status(cut).await.term, term_before);

    let _heal = HealOnDrop(TAG);
    firewall::partition(
        &[c.nodes[cut].addr],
        &[c.nodes[leader].addr, c.nodes[other].addr],
        TAG,
    )
    .expect("partition");
    eprintln!(
        "cut off {} (leader is {})",
        c.nodes[cut].name, c.nodes[leader].name
    );
    let leader_client = c.client(leader).expect("leader client");
    let cut_client = c.client(cut).expect("cut client");
    let start = Instant::now();
    let mut k = 0;
    while start.elapsed() < ISOLATION {
        leader_client
            .fs_put(&format!("during/k{k}"), "v")
            .await
            .expect("the majority writes during the partition");
        k += 1;
        tokio::time::sleep(WRITE_INTERVAL_CUT).await;
    }
    let isolated = status(cut).await;
    eprintln!(
        "isolated node after {ISOLATION:?}: term {}, role {}",
        isolated.term, isolated.role
    );
    assert_eq!(
        isolated.term, term_before,
        "the isolated node raised its term while cut off"
    );

    firewall::heal(TAG).expect("heal");
    let healed = Instant::now();
    let mut failures = Vec::new();
    let mut worst = Duration::ZERO;
    let mut n = 0;
    while healed.elapsed() < AFTER_HEAL {
        let t = Instant::now();
        let r = leader_client.fs_put(&format!("after/k{n}"), "v").await;
        let took = t.elapsed();
        worst = worst.max(took);
        match r {
            Ok(_) if took < WRITE_SLOW => {}
            Ok(_) => failures.push(format!("write {n} took {took:?}")),
            Err(e) => failures.push(format!(
                "write {n} failed after {:?}: {e}",
                healed.elapsed()
            )),
        }
        n += 1;
        tokio::time::sleep(WRITE_INTERVAL_HEALED).await;
    }
    eprintln!("{n} writes after the heal, slowest {worst:?}");
    assert!(
        failures.is_empty(),
        "writes disrupted by the heal: {failures:?}"
    );
    for i in 0..3 {
        let s = status(i).await;
        assert_eq!(
            s.leader,
            Some(leader_id),
            "{}: the leader was deposed",
            c.nodes[i].name
        );
        assert_eq!(s.term, term_before, "{}: the term rose", c.nodes[i].name);
    }
    eventually(
        Duration::from_secs(10),
        "the healed node catches up",
        || {
            let cut_client = cut_client.clone();
            let last = format!("after/k{}", n - 1);
            async move { cut_client.fs_read(&last, false).await.is_ok() }
        },
    )
    .await;
}
