//! Backups of a real QEMU guest on a 3-node cluster: backed up live while it ticks (full,
//! then incremental with the figures checked), destroyed, restored on another node with the
//! disk's checksum equal to the one at backup time; restoring onto an existing VMID without
//! --force is refused and changes nothing; a stopped VM is read from its image; verify finds a
//! damaged chunk; prune keeps the last of each guest. While a backup runs the VM is `lock: backup`
//! (changes, migration, destroy refused); stopping its task aborts it cleanly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{
    add_backup_storage, add_shared_storage, appliance, guest_pid, hmp, vm_ticks, wait_tick,
};
use brigade_e2e::{brigade, cluster};
use brigade_node::config::RaftTuning;

const VMID: u32 = 100;
/// The copy of the first backup, restored under a new VMID.
const COPY_VMID: u32 = 101;
const MIB: u64 = 1 << 20;
/// The backup store's chunk size.
const CHUNK: u64 = 4 * MIB;
/// Older than GC's grace (5 min), so GC may remove an unreferenced chunk.
const PAST_GC_GRACE: Duration = Duration::from_secs(3600);
/// Boot to the first tick is about 2.2 s under TCG; allow for a loaded machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(40);

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a helper");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SHA-256 of an image's content (its raw bytes), read while QEMU may hold it (`-U`).
fn image_sha256(image: &Path, scratch: &Path) -> String {
    let raw = scratch.join("content.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        .arg(image)
        .arg(&raw));
    let out = run(Command::new("sha256sum").arg(&raw));
    let _ = std::fs::remove_file(&raw);
    out.split_whitespace().next().expect("a sum").to_string()
}

/// `read N bytes, wrote M bytes` of a backup task's last line.
fn figures(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("backup finished"))
        .unwrap_or_else(|| panic!("no summary line in the task log: {log}"));
    let num = |key: &str| -> u64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
        rest.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number after {key} in {line}"))
    };
    (num("read "), num("wrote "))
}

/// Backs VM `VMID` up through the CLI (following the task): its task log and archive.
fn backup(cfg: &Path) -> (String, String) {
    let (ok, out, err) = brigade(cfg, &["backup", "run", "100", "--storage", "backups"]);
    assert!(ok, "backup failed: {out}{err}");
    assert!(
        err.contains(":vzdump:100:") && err.contains("TASK OK"),
        "{err}"
    );
    let volid = err
        .lines()
        .find_map(|l| l.split_once(" archive ").map(|(_, v)| v.trim()))
        .unwrap_or_else(|| panic!("no archive line: {err}"))
        .to_string();
    (err, volid)
}

fn list(cfg: &Path) -> Vec<brigade_api::backup::BackupContent> {
    let (ok, out, err) = brigade(
        cfg,
        &["backup", "list", "--storage", "backups", "--output", "json"],
    );
    assert!(ok, "list failed: {out}{err}");
    serde_json::from_str(&out).expect("the list as JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_vm_is_backed_up_live_and_restored_on_another_node() {
    let appliance = appliance();
    let c = cluster("backup", 104, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let shared = add_shared_storage(&c, &n1).await;
    let scratch: PathBuf = c.dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let cfg1 = c.nodes[0].config_path.clone();
    let backups = add_backup_storage(&c);

    // A VM on n1 with a small disk holding known data, written before it boots.
    let params = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:1G"),
    );
    n1.guest_create("n1", GuestKind::Qemu, VMID, &params, None, false)
        .await
        .expect("create");
    let image = shared.join("images/100/vm-100-disk-0.qcow2");
    for (pattern, at, len) in [("0xab", "0", "32M"), ("0x5a", "64M", "8M")] {
        run(Command::new("qemu-io")
            .args(["-f", "qcow2", "-c"])
            .arg(format!("write -P {pattern} {at} {len}"))
            .arg(&image));
    }
    let loc = n1.locate(VMID).await.expect("locate");
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start");
    wait_tick(&c, 0, VMID, 2, BOOT_TIMEOUT).await;
    let sum1 = image_sha256(&image, &scratch);

    // Bad input changes nothing: a storage that is not a backup storage, one that is missing.
    let (ok, _, err) = brigade(&cfg1, &["backup", "run", "100", "--storage", "shared"]);
    assert!(!ok && err.contains("content backup"), "{err}");
    let (ok, _, err) = brigade(&cfg1, &["backup", "run", "100", "--storage", "nope"]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    assert!(list(&cfg1).is_empty());

    // 1. Live, full: the data written (40 MiB) is read, the zero rest is not.
    let pid = guest_pid(&c, 0, VMID).expect("QEMU runs on n1");
    let (log1, vol1) = backup(&cfg1);
    let before = vm_ticks(&c, 0, VMID).last().copied().unwrap_or(0);
    let (read1, wrote1) = figures(&log1);
    eprintln!("full backup: read {read1} bytes, wrote {wrote1} bytes");
    assert!(
        (40 * MIB..=40 * MIB + 2 * CHUNK).contains(&read1),
        "full read {read1}: {log1}"
    );
    assert!(wrote1 <= read1, "{log1}");
    // The guest kept ticking through it and after, in the same QEMU, without a gap.
    let ticks = wait_tick(&c, 0, VMID, before + 2, Duration::from_secs(20)).await;
    assert_eq!(guest_pid(&c, 0, VMID), Some(pid), "QEMU was restarted");
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "ticks skipped or restarted: {ticks:?}"
    );

    // 2. Change 10 MiB of the 1 GiB disk while it runs; the incremental backup reads and
    // writes about that.
    let out = hmp(&c, 0, VMID, "qemu-io drive-scsi0 \"write -P 0xcd 16M 10M\"").await;
    hmp(&c, 0, VMID, "qemu-io drive-scsi0 flush").await;
    let sum2 = image_sha256(&image, &scratch);
    assert_ne!(sum1, sum2, "qemu-io said {out:?}");
    // Snapshots are named by the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (log2, vol2) = backup(&cfg1);
    let (read2, wrote2) = figures(&log2);
    eprintln!("incremental backup after changing 10 MiB: read {read2} bytes, wrote {wrote2} bytes");
    assert!(
        (10 * MIB..10 * MIB + 2 * CHUNK).contains(&read2),
        "incremental read {read2}: {log2}"
    );
    assert!(wrote2 <= read2 && wrote2 >= 4 * MIB, "{log2}");
    assert_eq!(guest_pid(&c, 0, VMID), Some(pid), "the VM stopped");
    let listed = list(&cfg1);
    assert_eq!(
        listed.iter().map(|b| b.volid.as_str()).collect::<Vec<_>>(),
        vec![vol1.as_str(), vol2.as_str()]
    );
    assert_eq!(listed[0].disks[0].sha256.as_deref(), Some(sum1.as_str()));
    assert_eq!(listed[1].disks[0].read_mode, "incremental");
    assert_eq!(listed[1].size, 1024 * MIB);

    // 2b. While a (slow) backup runs the config carries lock: backup and changes are refused;
    // stopping its task aborts it: nothing listed, lock gone, guest running, chunks GC'd.
    let conf = n1.fs_read("nodes/n1/qemu-server/100.conf", false).await;
    let conf = conf.expect("config").content.expect("text");
    assert!(
        !conf.contains("lock:"),
        "a finished backup left its lock: {conf}"
    );
    abort_a_locked_backup(&c, &n1, &cfg1, &backups, pid).await;
    assert_eq!(
        list(&cfg1)
            .iter()
            .map(|b| b.volid.as_str())
            .collect::<Vec<_>>(),
        vec![vol1.as_str(), vol2.as_str()],
        "the aborted backup is listed"
    );

    // 2c. Stopping the guest while its backup runs is allowed (as in Proxmox): the backup
    // fails saying so, lists nothing, and leaves no lock; the guest starts again.
    stop_the_guest_during_a_backup(&c, &n1, &cfg1, &backups).await;
    assert_eq!(list(&cfg1).len(), 2, "the interrupted backup is listed");
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start again after the interrupted backup");
    wait_tick(&c, 0, VMID, 2, BOOT_TIMEOUT).await;

    // 3. Restoring onto the existing VMID without --force is refused and changes nothing.
    let sum_now = image_sha256(&image, &scratch);
    let conf_before = n1
        .fs_read("nodes/n1/qemu-server/100.conf", false)
        .await
        .expect("config");
    let (ok, _, err) = brigade(&cfg1, &["backup", "restore", &vol1, "100", "--on", "n2"]);
    assert!(
        !ok && err.contains("exists already") && err.contains("--force"),
        "{err}"
    );
    let conf_after = n1
        .fs_read("nodes/n1/qemu-server/100.conf", false)
        .await
        .expect("config");
    assert_eq!(conf_before.version, conf_after.version);
    assert_eq!(image_sha256(&image, &scratch), sum_now);

    // 4. The VM is destroyed, then restored on n2 from the second backup and on n3 (as a
    // new VMID) from the first: each disk has the checksum taken at its backup.
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop");
    n1.guest_destroy(&loc).await.expect("destroy");
    assert!(!image.exists(), "disk left behind");
    let (ok, out, err) = brigade(&cfg1, &["backup", "restore", &vol2, "100", "--on", "n2"]);
    assert!(ok && err.contains("TASK OK"), "restore failed: {out}{err}");
    let (ok, out, err) = brigade(
        &cfg1,
        &[
            "backup",
            "restore",
            &vol1,
            "101",
            "--on",
            "n3",
            "--storage",
            "shared",
        ],
    );
    assert!(ok, "restore as 101 failed: {out}{err}");
    let restored = n1.locate(VMID).await.expect("restored 100");
    assert_eq!(restored.node, "n2");
    assert_eq!(n1.locate(COPY_VMID).await.expect("101").node, "n3");
    assert_eq!(image_sha256(&image, &scratch), sum2, "restored VM 100");
    let copy = shared.join("images/101/vm-101-disk-0.qcow2");
    assert_eq!(image_sha256(&copy, &scratch), sum1, "restored VM 101");
    // The restored VM boots on n2.
    n1.guest_power(&restored, "start", serde_json::json!({}))
        .await
        .expect("start the restored VM");
    wait_tick(&c, 1, VMID, 2, BOOT_TIMEOUT).await;

    // 5. Verify passes, then finds a damaged chunk and names the backups it affects; the
    // restore of an affected backup is refused.
    let (ok, out, err) = brigade(&cfg1, &["backup", "verify", "--storage", "backups"]);
    assert!(ok && out.contains("OK"), "{out}{err}");
    let chunk = damage_a_chunk_of_the_changed_range(&backups);
    let (ok, out, err) = brigade(
        &cfg1,
        &[
            "backup",
            "verify",
            "--storage",
            "backups",
            "--output",
            "json",
        ],
    );
    assert!(!ok, "verify missed the damage: {out}");
    let v: brigade_api::backup::VerifyResult = serde_json::from_str(&out).expect("json");
    assert_eq!(v.damaged_chunks.len(), 1, "{v:?} {err}");
    assert_eq!(v.damaged_chunks[0].digest, chunk);
    assert_eq!(v.affected, vec![vol2.clone()]);
    let (ok, out, err) = brigade(&cfg1, &["backup", "restore", &vol2, "102", "--on", "n3"]);
    assert!(!ok && err.contains("corrupt"), "{out}{err}");
    assert!(n1.locate(102).await.is_err(), "a half restore is listed");
    assert!(!shared.join("images/102/vm-102-disk-0.qcow2").exists());

    // A stopped VM is backed up from its image file (mode stop), forwarded to n3.
    let (ok, out, err) = brigade(&cfg1, &["backup", "run", "101", "--storage", "backups"]);
    assert!(ok && err.contains("reading its image files"), "{out}{err}");
    let vol101 = err
        .lines()
        .find_map(|l| l.split_once(" archive ").map(|(_, v)| v.trim().to_string()))
        .expect("an archive line");
    let row = list(&cfg1)
        .into_iter()
        .find(|b| b.volid == vol101)
        .expect("the backup of 101 is listed");
    assert_eq!((row.mode.as_str(), row.vmid), ("stop", COPY_VMID));
    assert_eq!(row.disks[0].sha256.as_deref(), Some(sum1.as_str()));

    // 6. Prune keeps the last backup of each guest.
    let (ok, out, err) = brigade(
        &cfg1,
        &[
            "backup",
            "prune",
            "--storage",
            "backups",
            "--keep-last",
            "1",
            "--gc",
        ],
    );
    assert!(ok, "prune: {out}{err}");
    let left = list(&cfg1);
    assert_eq!(
        left.iter().map(|b| b.volid.as_str()).collect::<Vec<_>>(),
        vec![vol2.as_str(), vol101.as_str()]
    );
    // The restore ran as a task on n2, recorded in its list.
    let t = n1
        .task_list("n2", &brigade_client::tasks::TaskQuery::default())
        .await
        .expect("tasks");
    assert!(
        t.iter()
            .any(|x| x.kind == "qmrestore" && x.status == brigade_api::tasks::TaskState::Ok),
        "{t:?}"
    );
    // What the test made (disks, the backup store) goes with the cluster.
    let dir = c.dir.clone();
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// The chunk files of `store` holding `byte` throughout.
fn chunks_of(store: &Path, byte: u8) -> Vec<PathBuf> {
    let want = vec![byte; CHUNK as usize];
    let mut out = Vec::new();
    for dir in std::fs::read_dir(store.join(".chunks"))
        .expect("chunks")
        .flatten()
    {
        for f in std::fs::read_dir(dir.path()).expect("chunk dir").flatten() {
            if std::fs::read(f.path()).is_ok_and(|d| d == want) {
                out.push(f.path());
            }
        }
    }
    out
}

/// Starts a backup of VM 100 at 1 MiB/s without following it; its UPID.
fn start_slow_backup(cfg: &Path) -> String {
    let (ok, out, err) = brigade(
        cfg,
        &[
            "backup",
            "run",
            "100",
            "--storage",
            "backups",
            "--bwlimit",
            "1024",
            "--no-follow",
        ],
    );
    assert!(ok, "backup run: {out}{err}");
    out.trim().to_string()
}

/// Waits for backup task `upid` on n1 to end; its status.
async fn backup_ended(n1: &brigade_client::Client, upid: &str) -> brigade_api::tasks::TaskStatus {
    brigade_e2e::eventually(Duration::from_secs(30), "the backup task ended", || async {
        n1.task_status("n1", upid)
            .await
            .is_ok_and(|s| s.endtime.is_some())
    })
    .await;
    n1.task_status("n1", upid).await.expect("status")
}

/// Step 2b: a backup at 1 MiB/s of 16 new MiB; while it runs VM 100 is `lock: backup`
/// (config change, migration and destroy refused, the config unchanged); its task is stopped
/// once it wrote a chunk: the task fails as aborted, QEMU has no block job left, the lock is
/// gone, the guest still runs, and GC removes the chunks it wrote (once past GC's grace).
async fn abort_a_locked_backup(
    c: &brigade_localcluster::ProcCluster,
    n1: &brigade_client::Client,
    cfg: &Path,
    store: &Path,
    pid: i32,
) {
    const CONF: &str = "nodes/n1/qemu-server/100.conf";
    hmp(c, 0, VMID, "qemu-io drive-scsi0 \"write -P 0xee 80M 16M\"").await;
    hmp(c, 0, VMID, "qemu-io drive-scsi0 flush").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let upid = start_slow_backup(cfg);
    let locked = n1.fs_read(CONF, false).await.expect("config");
    let text = locked.content.clone().unwrap_or_default();
    assert!(text.contains("lock: backup"), "{text}");
    let loc = n1.locate(VMID).await.expect("locate");
    let mut set = std::collections::BTreeMap::new();
    set.insert("memory".to_string(), "256".to_string());
    let e = n1
        .guest_set(&loc, &set, &[])
        .await
        .expect_err("config change");
    assert!(e.to_string().contains("VM 100 is locked (backup)"), "{e}");
    let e = n1.guest_destroy(&loc).await.expect_err("destroy");
    assert!(e.to_string().contains("VM 100 is locked (backup)"), "{e}");
    let (ok, _, err) = brigade(cfg, &["vm", "migrate", "100", "n2", "--online"]);
    assert!(!ok && err.contains("VM 100 is locked (backup)"), "{err}");
    let (ok, _, err) = brigade(cfg, &["backup", "run", "100", "--storage", "backups"]);
    assert!(
        !ok && err.contains("locked (backup)"),
        "a second backup: {err}"
    );
    let now = n1.fs_read(CONF, false).await.expect("config");
    assert_eq!(
        now.version, locked.version,
        "a refused change changed the config"
    );
    brigade_e2e::eventually(Duration::from_secs(30), "the backup wrote a chunk", || {
        std::future::ready(!chunks_of(store, 0xee).is_empty())
    })
    .await;
    let (ok, out, err) = brigade(cfg, &["task", "stop", &upid]);
    assert!(ok, "task stop: {out}{err}");
    let s = backup_ended(n1, &upid).await;
    assert!(
        s.error.as_deref().is_some_and(|e| e.contains("aborted")),
        "{s:?}"
    );
    let text = n1.fs_read(CONF, false).await.expect("config").content;
    let text = text.unwrap_or_default();
    assert!(!text.contains("lock:"), "the lock stayed: {text}");
    assert_eq!(guest_pid(c, 0, VMID), Some(pid), "the guest stopped");
    let jobs = hmp(c, 0, VMID, "info block-jobs").await;
    assert!(jobs.contains("No active jobs"), "{jobs}");
    // Its chunks are referenced by nothing: GC removes them once older than its grace.
    let written = chunks_of(store, 0xee);
    assert!(!written.is_empty() && written.len() <= 3, "{written:?}");
    let old = std::time::SystemTime::now() - PAST_GC_GRACE;
    for f in &written {
        let file = std::fs::File::options().write(true).open(f).expect("chunk");
        file.set_modified(old).expect("age the chunk");
    }
    let (ok, out, err) = brigade(
        cfg,
        &[
            "backup",
            "prune",
            "--storage",
            "backups",
            "--keep-last",
            "10",
            "--gc",
        ],
    );
    assert!(ok, "prune --gc: {out}{err}");
    assert!(
        chunks_of(store, 0xee).is_empty(),
        "GC left the aborted backup's chunks"
    );
}

/// Step 2c: a slow backup of 16 new MiB; once it wrote a chunk VM 100 is stopped (allowed
/// while `lock: backup`, and at once: the backup does not hold QEMU's monitor while it
/// reads): the backup task fails naming the stop, the lock is gone.
async fn stop_the_guest_during_a_backup(
    c: &brigade_localcluster::ProcCluster,
    n1: &brigade_client::Client,
    cfg: &Path,
    store: &Path,
) {
    const CONF: &str = "nodes/n1/qemu-server/100.conf";
    hmp(c, 0, VMID, "qemu-io drive-scsi0 \"write -P 0xef 96M 16M\"").await;
    hmp(c, 0, VMID, "qemu-io drive-scsi0 flush").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let upid = start_slow_backup(cfg);
    // It reads step 2b's aborted range (0xee) again first, then the new one.
    brigade_e2e::eventually(Duration::from_secs(30), "the backup wrote a chunk", || {
        std::future::ready(
            [0xee, 0xef]
                .iter()
                .any(|b| !chunks_of(store, *b).is_empty()),
        )
    })
    .await;
    let (ok, out, err) = brigade(cfg, &["vm", "stop", "100"]);
    assert!(ok, "vm stop during a backup: {out}{err}");
    let s = backup_ended(n1, &upid).await;
    let error = s.error.unwrap_or_default();
    eprintln!("a backup whose guest stopped: {error}");
    assert!(error.contains("stopped"), "{error}");
    let text = n1.fs_read(CONF, false).await.expect("config").content;
    let text = text.unwrap_or_default();
    assert!(!text.contains("lock:"), "the lock stayed: {text}");
    assert_eq!(guest_pid(c, 0, VMID), None, "the guest still runs");
}

/// Flips a byte of a chunk only the second backup has (the 0xcd range); its digest.
fn damage_a_chunk_of_the_changed_range(store: &Path) -> String {
    let want = vec![0xcdu8; CHUNK as usize];
    let chunks = store.join(".chunks");
    for dir in std::fs::read_dir(&chunks).expect("chunks").flatten() {
        for f in std::fs::read_dir(dir.path()).expect("chunk dir").flatten() {
            let data = std::fs::read(f.path()).expect("chunk");
            if data == want {
                let mut bad = data;
                bad[0] ^= 1;
                std::fs::write(f.path(), bad).expect("damage");
                return f.file_name().to_string_lossy().into_owned();
            }
        }
    }
    panic!("no chunk of 0xcd in {}", chunks.display());
}
