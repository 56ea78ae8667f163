//! A node whose store files were damaged while it was stopped (issue 18): it refuses to
//! start with an error that says what happened and what to do, keeps refusing however
//! often it is started (it never serves what it would read wrong), and once its state
//! is wiped it comes back through `delnode --force` and `join` with every file.

use std::path::Path;
use std::time::Duration;

use brigade_e2e::{cluster, dump, eventually};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;
use brigade_node::state_dir::CFS_DIR;

/// Files written before the damage (their paths are plain text in the store files).
const FILES: usize = 60;
/// How long a refusing node may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

fn value(k: usize) -> String {
    format!("corruption-probe-{k:04}-padding")
}

/// Changes one byte in every copy of `needle` in `file`; how many copies there were.
fn damage(file: &Path, needle: &str) -> usize {
    let mut bytes = std::fs::read(file).expect("read store");
    let at: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for i in &at {
        bytes[i + 3] ^= 0x20;
    }
    std::fs::write(file, bytes).expect("write store");
    at.len()
}

fn log_of(c: &ProcCluster, i: usize) -> String {
    std::fs::read_to_string(c.dir.join(format!("{}.log", c.nodes[i].name))).unwrap_or_default()
}

/// Starts node `i` and waits for it to exit by itself; its log since the start.
async fn start_expecting_refusal(c: &mut ProcCluster, i: usize) -> String {
    let before = log_of(c, i).len();
    c.start(i).expect("start");
    eventually(EXIT_TIMEOUT, "the damaged node exits by itself", || {
        let running = c.nodes[i].is_running();
        async move { !running }
    })
    .await;
    log_of(c, i)[before..].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_is_refused_until_the_node_is_wiped_and_rejoins() {
    let mut c = cluster("corrupt-store", 64, 3, RaftTuning::default()).await;
    let (n1, n3) = (c.client(0).expect("n1"), c.client(2).expect("n3"));
    for k in 0..FILES {
        n1.fs_put(&format!("data/f{k}"), &value(k))
            .await
            .expect("write");
    }
    eventually(Duration::from_secs(20), "n3 has every file", || {
        let (n1, n3) = (n1.clone(), n3.clone());
        async move {
            let want = dump(&n1, "data").await.ok();
            want.as_ref().is_some_and(|w| w.len() == FILES) && dump(&n3, "data").await.ok() == want
        }
    })
    .await;

    // A clean stop: redb would open the file without checking it.
    c.stop(2).expect("stop n3");
    let cfs = c.nodes[2].state_dir().join(CFS_DIR);
    let copies = damage(&cfs.join("state.redb"), "data/f17");
    assert!(copies > 0, "the path is in state.redb");

    let log = start_expecting_refusal(&mut c, 2).await;
    eprintln!("n3 said: {log}");
    assert!(log.contains("state.redb"), "names the file: {log}");
    assert!(log.contains("corrupted"), "{log}");
    assert!(
        log.contains("brigade cluster delnode n3 --force"),
        "says what to do: {log}"
    );
    // However often it is started: the check's own repair must not let it in later.
    let again = start_expecting_refusal(&mut c, 2).await;
    assert!(again.contains("found earlier"), "{again}");

    // The survivors go on; the damaged node is removed, wiped and joins again.
    n1.fs_put("data/after", "x").await.expect("majority writes");
    n1.delnode("n3", true).await.expect("delnode n3 --force");
    let state = c.nodes[2].state_dir();
    std::fs::remove_dir_all(&state).expect("wipe n3");
    c.start(2).expect("start wiped n3");
    c.wait_api(2).await.expect("n3 answers");
    c.join(2).await.expect("n3 joins again");
    c.wait_quorate(&[0, 1, 2]).await.expect("quorum of three");
    let n3 = c.client(2).expect("n3");
    eventually(
        Duration::from_secs(30),
        "the rejoined n3 has every file",
        || {
            let (n1, n3) = (n1.clone(), n3.clone());
            async move {
                let want = dump(&n1, "data").await.ok();
                want.as_ref().is_some_and(|w| w.len() == FILES + 1)
                    && dump(&n3, "data").await.ok() == want
            }
        },
    )
    .await;
    let f = n3.fs_read("data/f17", true).await.expect("read");
    assert_eq!(f.content.as_deref(), Some(value(17).as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_raft_log_after_a_power_cut_is_refused() {
    let mut c = cluster("corrupt-log", 66, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    for k in 0..FILES {
        n1.fs_put(&format!("data/f{k}"), &value(k))
            .await
            .expect("write");
    }
    let n3 = c.client(2).expect("n3");
    eventually(Duration::from_secs(20), "n3 has every file", || {
        let n3 = n3.clone();
        async move { dump(&n3, "data").await.is_ok_and(|d| d.len() == FILES) }
    })
    .await;
    c.power_cut(2);
    let cfs = c.nodes[2].state_dir().join(CFS_DIR);
    let copies = damage(&cfs.join("log.redb"), "data/f40");
    assert!(copies > 0, "the path is in log.redb");
    let log = start_expecting_refusal(&mut c, 2).await;
    assert!(log.contains("log.redb"), "names the file: {log}");
    assert!(log.contains("corrupted"), "{log}");
}
