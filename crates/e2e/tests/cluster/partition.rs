//! One node is cut off by firewall rules: it refuses writes with the
//! read-only error but still reads; the majority keeps writing; healed, it converges.

use std::time::{Duration, Instant};

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_e2e::{cluster, dump, eventually, write_retrying};
use brigade_localcluster::firewall;
use brigade_node::config::RaftTuning;

const TAG: &str = "e2e-partition";

#[tokio::test(flavor = "multi_thread")]
async fn minority_is_read_only_and_converges_after_heal() {
    let c = cluster("partition", 13, 3, RaftTuning::default()).await;
    let (n1, n3) = (c.client(0).expect("n1"), c.client(2).expect("n3"));
    n1.fs_put("before/a", "1").await.expect("write before");
    eventually(Duration::from_secs(10), "n3 has the first write", || {
        let n3 = n3.clone();
        async move { n3.fs_read("before/a", false).await.is_ok() }
    })
    .await;

    let _heal = brigade_e2e::HealOnDrop(TAG);
    let n3_addr = c.nodes[2].addr;
    firewall::partition(&[n3_addr], &[c.nodes[0].addr, c.nodes[1].addr], TAG).expect("partition");
    let cut_at = Instant::now();

    // The isolated node loses quorum and refuses writes at once with the read-only error.
    eventually(
        Duration::from_secs(15),
        "n3 reports itself not quorate",
        || {
            let n3 = n3.clone();
            async move { n3.status().await.is_ok_and(|s| !s.quorate) }
        },
    )
    .await;
    eprintln!("n3 not quorate {:?} after the cut", cut_at.elapsed());
    for (i, name) in [(0usize, "n1"), (1, "n2")] {
        let client = c.client(i).expect("client");
        eventually(
            Duration::from_secs(15),
            "the majority side stays quorate",
            || {
                let client = client.clone();
                async move { client.status().await.is_ok_and(|s| s.quorate) }
            },
        )
        .await;
        eprintln!("{name} quorate during the partition");
    }
    let t = Instant::now();
    let err = n3
        .fs_put("minority/x", "lost")
        .await
        .expect_err("minority write must fail");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the refusal is immediate, took {:?}",
        t.elapsed()
    );
    assert_eq!(err.to_string(), NOT_QUORATE_MSG);
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        n3.fs_read("before/a", false)
            .await
            .expect("reads still work")
            .content
            .as_deref(),
        Some("1")
    );

    // The majority keeps writing.
    let n1c = c.client(0).expect("n1");
    let n2c = c.client(1).expect("n2");
    for k in 0..20 {
        let client = if k % 2 == 0 { &n1c } else { &n2c };
        write_retrying(
            client,
            &format!("majority/k{k}"),
            &format!("v{k}"),
            Duration::from_secs(20),
        )
        .await
        .expect("majority write");
    }
    assert!(
        n3.fs_read("majority/k0", false).await.is_err(),
        "the minority did not see majority writes yet"
    );

    firewall::heal(TAG).expect("heal");
    c.wait_quorate(&[0, 1, 2])
        .await
        .expect("all quorate after heal");
    // The tree keeps changing after the heal (n3 logs "quorate again" to the
    // cluster log once it is): compare with the majority's tree as it is at
    // each look, not with a copy taken before n3 wrote its own event.
    eventually(
        Duration::from_secs(20),
        "n3 converges to the majority's tree",
        || {
            let (n1c, n3) = (n1c.clone(), n3.clone());
            async move {
                let want = dump(&n1c, "").await.ok();
                want.is_some() && dump(&n3, "").await.ok() == want
            }
        },
    )
    .await;
    let majority_tree = dump(&n1c, "").await.expect("dump n1");
    for k in 0..20 {
        assert_eq!(
            majority_tree
                .get(&format!("majority/k{k}"))
                .map(String::as_str),
            Some(format!("v{k}").as_str())
        );
    }
    assert!(
        !majority_tree.contains_key("minority/x"),
        "the refused write never appeared"
    );
}
