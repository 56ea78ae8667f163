//! The leader is SIGKILLed: a new leader is elected, writes continue, and
//! every acknowledged write is present on every live node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brigade_e2e::{cluster, dump, eventually};
use brigade_node::config::RaftTuning;

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_a_leader_kill() {
    let mut c = cluster("leader-failover", 12, 3, RaftTuning::default()).await;
    let leader_id = c.wait_quorate(&[0, 1, 2]).await.expect("leader");
    let leader = c.index_of_id(leader_id);
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();

    // History of acknowledged writes: path -> content.
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut seq = 0u64;
    let mut write_some = |c: &brigade_localcluster::ProcCluster, targets: Vec<usize>, n: usize| {
        let clients: Vec<_> = targets
            .iter()
            .map(|i| c.client(*i).expect("client"))
            .collect();
        let start = seq;
        seq += n as u64 * 10;
        async move {
            let mut done = Vec::new();
            let mut k = start;
            let deadline = Instant::now() + Duration::from_secs(40);
            while done.len() < n {
                assert!(Instant::now() < deadline, "writes did not continue");
                let client = &clients[k as usize % clients.len()];
                let (path, content) = (format!("history/w{k}"), format!("value {k}"));
                k += 1;
                if client.fs_put(&path, &content).await.is_ok() {
                    done.push((path, content));
                }
            }
            done
        }
    };

    acked.extend(write_some(&c, vec![0, 1, 2], 30).await);
    let (probe, probe_content) = acked
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a write");
    c.kill(leader);
    let t_kill = Instant::now();
    // A consistent read asked right after the kill waits for the next leader (or says the
    // cluster is unavailable for now, 503); the dead leader's silence is not a bad gateway.
    let reader = c.client(survivors[0]).expect("client");
    match reader.fs_read(&probe, true).await {
        Ok(f) => assert_eq!(
            f.content.as_deref(),
            Some(probe_content.as_str()),
            "a consistent read"
        ),
        Err(e) => assert_eq!(
            e.status(),
            Some(503),
            "a consistent read during the election: {e}"
        ),
    }
    // Writes continue through the survivors (retrying through the election).
    acked.extend(write_some(&c, survivors.clone(), 30).await);
    let new_leader = c.wait_quorate(&survivors).await.expect("new leader");
    assert_ne!(new_leader, leader_id, "a new leader was elected");
    eprintln!(
        "new leader n{new_leader} writing again {:?} after the kill",
        t_kill.elapsed()
    );

    for &i in &survivors {
        has_every_write(
            &c.client(i).expect("client"),
            &acked,
            Duration::from_secs(15),
        )
        .await;
    }

    // The killed leader comes back and catches up too.
    c.start(leader).expect("restart");
    has_every_write(
        &c.client(leader).expect("client"),
        &acked,
        Duration::from_secs(30),
    )
    .await;
}

/// Waits until `client`'s replica holds every acknowledged write.
async fn has_every_write(
    client: &brigade_client::Client,
    acked: &BTreeMap<String, String>,
    timeout: Duration,
) {
    eventually(timeout, "every acknowledged write is present", || {
        let (client, acked) = (client.clone(), acked.clone());
        async move {
            let tree = dump(&client, "history").await.unwrap_or_default();
            acked.iter().all(|(p, v)| tree.get(p) == Some(v))
        }
    })
    .await;
}
