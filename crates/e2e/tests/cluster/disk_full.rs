//! A node whose state disk fills up (issue 13 item 3): it says so plainly
//! (status, /metrics, the write errors, the cluster log), refuses writes with
//! that reason, and recovers by itself once space returns, without losing or
//! corrupting anything. Its state dir is a small tmpfs, filled and freed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use brigade_e2e::{bin, dump, eventually, test_dir};
use brigade_localcluster::ProcCluster;
use brigade_node::config::RaftTuning;

/// The size of n3's state filesystem.
const TMPFS_SIZE: &str = "size=48m";
/// Files written while n3's disk is full, large enough to need new pages.
const BIG_FILES: usize = 8;
const BIG_FILE_BYTES: usize = 600 * 1024;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem is full.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    let _ = f.flush();
    written
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_reported_and_recovered_from_without_a_restart() {
    let dir = test_dir("disk-full");
    let state = dir.join("n3");
    std::fs::create_dir_all(&state).expect("mountpoint");
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "tmpfs"])
        .arg(&state)
        .output()
        .expect("mount");
    assert!(
        out.status.success(),
        "mount tmpfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _unmount = Unmount(state.clone());
    let mut c = ProcCluster::form(&bin(), &dir, 62, 3, RaftTuning::default())
        .await
        .expect("cluster");
    c.wait_quorate(&[0, 1, 2]).await.expect("quorum");
    let (n1, n3) = (c.client(0).expect("n1"), c.client(2).expect("n3"));
    n1.fs_put("data/before", "1").await.expect("write");
    eventually(Duration::from_secs(10), "n3 has the first write", || {
        let n3 = n3.clone();
        async move { n3.fs_read("data/before", false).await.is_ok() }
    })
    .await;

    let filler = state.join("filler");
    let filled = fill(&filler);
    eprintln!("filled n3's state disk with {filled} bytes");
    let big = "x".repeat(BIG_FILE_BYTES);
    for k in 0..BIG_FILES {
        n1.fs_put(&format!("data/big{k}"), &big)
            .await
            .expect("the majority writes while n3's disk is full");
    }
    eventually(Duration::from_secs(30), "n3 reports its disk error", || {
        let n3 = n3.clone();
        async move {
            n3.status()
                .await
                .ok()
                .and_then(|s| s.cfs)
                .and_then(|c| c.storage_error)
                .is_some()
        }
    })
    .await;
    let s = n3.status().await.expect("status");
    let err = s
        .cfs
        .as_ref()
        .and_then(|c| c.storage_error.clone())
        .expect("storage error");
    eprintln!("n3 storage error: {err}; warnings: {:?}", s.warnings);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!s.quorate);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("storage failed") && w.contains("No space left")),
        "status says why: {:?}",
        s.warnings
    );
    let refused = n3
        .fs_put("data/refused", "x")
        .await
        .expect_err("n3 refuses writes");
    eprintln!("n3 write: {refused}");
    assert!(
        refused.to_string().contains("storage failed on this node"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("No space left on device"),
        "{refused}"
    );
    assert_eq!(refused.status(), Some(503));
    let consistent = n3
        .fs_read("data/before", true)
        .await
        .expect_err("a consistent read needs Raft");
    assert!(
        consistent.to_string().contains("storage failed"),
        "{consistent}"
    );
    let metrics = n3.metrics().await.expect("metrics");
    assert!(
        metrics.contains("brigade_cfs_storage_failed 1"),
        "{metrics}"
    );
    for k in 0..10 {
        n1.fs_put(&format!("data/during{k}"), &format!("v{k}"))
            .await
            .expect("the majority keeps writing");
    }

    std::fs::remove_file(&filler).expect("free the disk");
    eventually(
        Duration::from_secs(60),
        "n3 recovers by itself once space returns",
        || {
            let n3 = n3.clone();
            async move {
                n3.status()
                    .await
                    .is_ok_and(|s| s.quorate && s.cfs.is_some_and(|c| c.storage_error.is_none()))
            }
        },
    )
    .await;
    let metrics = n3.metrics().await.expect("metrics");
    assert!(
        metrics.contains("brigade_cfs_storage_failed 0"),
        "{metrics}"
    );
    n3.fs_put("data/after", "2").await.expect("n3 writes again");
    eventually(Duration::from_secs(20), "n3 has every write", || {
        let (n1, n3) = (n1.clone(), n3.clone());
        async move {
            let want = dump(&n1, "data").await.ok();
            want.as_ref().is_some_and(|w| w.len() == BIG_FILES + 12)
                && dump(&n3, "data").await.ok() == want
        }
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "the cluster log tells of the failure and the recovery",
        || {
            let n1 = n1.clone();
            async move {
                let log = n1
                    .fs_read("cluster.log", false)
                    .await
                    .ok()
                    .and_then(|f| f.content)
                    .unwrap_or_default();
                log.lines().any(|l| {
                    l.contains("n3: storage failed:") && l.contains("No space left on device")
                }) && log.contains("n3: storage writable again")
            }
        },
    )
    .await;

    // Nothing was lost or corrupted on n3's disk: a restart reads the same tree.
    let want = dump(&n1, "data").await.expect("dump n1");
    c.kill(2);
    c.start(2).expect("restart n3");
    c.wait_quorate(&[0, 1, 2])
        .await
        .expect("quorum after restart");
    eventually(Duration::from_secs(20), "n3's tree after a restart", || {
        let (n3, want) = (n3.clone(), want.clone());
        async move { dump(&n3, "data").await.ok() == Some(want) }
    })
    .await;
}
