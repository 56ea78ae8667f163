//! Container backups on a 3-node cluster: a running container holding known files is
//! backed up frozen (its cgroup frozen while the archive is read, its ticks stopped, then
//! going on), destroyed, restored on another node with the files' checksums equal; a second
//! backup of the unchanged (stopped) tree writes no new chunk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{add_backup_storage, appliance, ct_ticks, guest_pid};
use brigade_e2e::{brigade, cluster, eventually};
use brigade_node::config::RaftTuning;

const CTID: u32 = 210;
const MIB: usize = 1 << 20;
/// The read limit of the frozen backup: about 4 s for its 8 MiB, long enough to look.
const BWLIMIT_KIB: &str = "2048";
/// How long the container is watched while frozen (it ticks once a second).
const FROZEN_WATCH: Duration = Duration::from_millis(1500);
const TICK_TIMEOUT: Duration = Duration::from_secs(15);

/// The known files the test writes into the container's root, relative to it.
const FILES: &[&str] = &["srv/data/big.bin", "srv/data/hello.txt", "etc/motd"];

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().expect("a sum").to_string()
}

fn sums(root: &Path) -> Vec<String> {
    FILES.iter().map(|f| sha256(&root.join(f))).collect()
}

/// Whether some freeze cgroup of the container reports it frozen (v2 or v1).
fn frozen() -> bool {
    let v2 = format!("/sys/fs/cgroup/unified/brigade-ct/{CTID}/cgroup.events");
    let v1 = format!("/sys/fs/cgroup/freezer/brigade-ct/{CTID}/freezer.state");
    std::fs::read_to_string(v2).is_ok_and(|t| t.lines().any(|l| l == "frozen 1"))
        || std::fs::read_to_string(v1).is_ok_and(|t| t.trim() == "FROZEN")
}

/// `wrote N bytes` of a backup task log's summary.
fn wrote(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("backup finished"))
        .unwrap_or_else(|| panic!("no summary line: {log}"));
    let rest = &line[line.find("wrote ").expect("wrote") + 6..];
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number in {line}"))
}

fn archive(log: &str) -> String {
    log.lines()
        .find_map(|l| l.split_once(" archive ").map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no archive line: {log}"))
}

fn backup(cfg: &Path, extra: &[&str]) -> String {
    let id = CTID.to_string();
    let mut args = vec!["backup", "run", &id, "--storage", "backups"];
    args.extend_from_slice(extra);
    let (ok, out, err) = brigade(cfg, &args);
    assert!(ok && err.contains("TASK OK"), "backup failed: {out}{err}");
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_container_is_backed_up_and_restored_on_another_node() {
    let appliance = appliance();
    let c = cluster("backup_ct", 115, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let cfg1 = c.nodes[0].config_path.clone();
    add_backup_storage(&c);

    let template = appliance.join("rootfs").display().to_string();
    let mut params = BTreeMap::new();
    params.insert("hostname".to_string(), "keeper".to_string());
    params.insert("memory".to_string(), "64".to_string());
    params.insert("rootfs".to_string(), "local:1".to_string());
    n1.guest_create("n1", GuestKind::Lxc, CTID, &params, Some(&template), true)
        .await
        .expect("create and start");
    let root: PathBuf = c.nodes[0]
        .state_dir()
        .join(format!("storage/images/{CTID}/subvol-{CTID}-disk-0"));
    std::fs::create_dir_all(root.join("srv/data")).expect("mkdir");
    let big: Vec<u8> = (0..6 * MIB)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(root.join(FILES[0]), big).expect("write");
    std::fs::write(root.join(FILES[1]), "hello from the container\n").expect("write");
    std::fs::write(root.join(FILES[2]), "backed up frozen\n").expect("write");
    let sums_at_backup = sums(&root);
    eventually(TICK_TIMEOUT, "the container ticks", || async {
        ct_ticks(&c, 0, CTID).len() >= 2
    })
    .await;
    let pid = guest_pid(&c, 0, CTID).expect("running");

    // 1. Backed up frozen (mode suspend), slowed down so that the freeze can be seen.
    let cfg = cfg1.clone();
    let job =
        std::thread::spawn(move || backup(&cfg, &["--mode", "suspend", "--bwlimit", BWLIMIT_KIB]));
    eventually(
        Duration::from_secs(20),
        "the container is frozen",
        || async { frozen() },
    )
    .await;
    let at_freeze = ct_ticks(&c, 0, CTID).len();
    tokio::time::sleep(FROZEN_WATCH).await;
    assert!(
        frozen(),
        "thawed before the backup ended (it reads for about 4 s)"
    );
    assert_eq!(
        ct_ticks(&c, 0, CTID).len(),
        at_freeze,
        "it ticked while frozen"
    );
    let log1 = job.join().expect("the backup thread");
    assert!(
        log1.contains("freezing") && log1.contains("thawed"),
        "{log1}"
    );
    assert!(!frozen(), "left frozen");
    let vol1 = archive(&log1);
    let after = ct_ticks(&c, 0, CTID).len();
    eventually(
        TICK_TIMEOUT,
        "the container ticks after the thaw",
        || async { ct_ticks(&c, 0, CTID).len() >= after + 2 },
    )
    .await;
    assert_eq!(
        guest_pid(&c, 0, CTID),
        Some(pid),
        "the container was restarted"
    );

    // 2. Stopped, the tree does not change: the second of two backups writes no chunk.
    let loc = n1.locate(CTID).await.expect("locate");
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    let log2 = backup(&cfg1, &[]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let log3 = backup(&cfg1, &[]);
    assert_eq!(wrote(&log3), 0, "an unchanged tree wrote chunks: {log3}");
    assert!(wrote(&log2) > 0 || wrote(&log1) > 0);
    let (ok, out, err) = brigade(&cfg1, &["backup", "verify", "--storage", "backups"]);
    assert!(ok, "verify: {out}{err}");

    // 3. Destroyed, restored on n2 from the frozen backup: the files are the same.
    n1.guest_destroy(&loc).await.expect("destroy");
    assert!(!root.exists(), "root left behind");
    let id = CTID.to_string();
    let (ok, out, err) = brigade(&cfg1, &["backup", "restore", &vol1, &id, "--on", "n2"]);
    assert!(ok && err.contains("TASK OK"), "restore failed: {out}{err}");
    let loc = n1.locate(CTID).await.expect("restored");
    assert_eq!((loc.node.as_str(), loc.kind), ("n2", GuestKind::Lxc));
    let root2 = c.nodes[1]
        .state_dir()
        .join(format!("storage/images/{CTID}/subvol-{CTID}-disk-0"));
    assert_eq!(sums(&root2), sums_at_backup);
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start on n2");
    eventually(
        TICK_TIMEOUT,
        "the restored container ticks on n2",
        || async { ct_ticks(&c, 1, CTID).len() >= 2 },
    )
    .await;
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
}
