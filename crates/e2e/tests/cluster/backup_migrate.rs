//! The dirty bitmap survives a live migration (subnet 119): a VM on shared storage is backed
//! up on n1 (full), 8 MiB change, it moves live to n2, and the backup there reads only about
//! those 8 MiB (incremental), the guest ticking on throughout.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_e2e::guests::{add_backup_storage, add_shared_storage, appliance, hmp, wait_tick};
use brigade_e2e::{brigade, cluster};
use brigade_node::config::RaftTuning;

const VMID: u32 = 100;
const MIB: u64 = 1 << 20;
/// The backup store's chunk size.
const CHUNK: u64 = 4 * MIB;
/// Boot to the first tick is about 2.2 s under TCG; allow for a loaded machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(40);

/// `read N bytes` of a backup task's summary line, and the task's whole log.
fn backup(cfg: &Path) -> (u64, String) {
    let (ok, out, err) = brigade(cfg, &["backup", "run", "100", "--storage", "backups"]);
    assert!(ok && err.contains("TASK OK"), "backup failed: {out}{err}");
    let line = err
        .lines()
        .find(|l| l.contains("backup finished"))
        .unwrap_or_else(|| panic!("no summary line: {err}"));
    let rest = &line[line.find("read ").expect("read") + 5..];
    let read = rest
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after read in {line}"));
    (read, err)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_backup_after_a_live_migration_is_still_incremental() {
    let appliance = appliance();
    let c = cluster("backup_migrate", 119, 2, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let shared = add_shared_storage(&c, &n1).await;
    let cfg = c.nodes[0].config_path.clone();
    add_backup_storage(&c);
    let params = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        128,
        Some("shared:128M"),
    );
    n1.guest_create("n1", GuestKind::Qemu, VMID, &params, None, false)
        .await
        .expect("create");
    let image = shared.join("images/100/vm-100-disk-0.qcow2");
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0xab 0 32M"])
        .arg(&image)
        .output()
        .expect("qemu-io");
    assert!(out.status.success(), "{out:?}");
    let loc = n1.locate(VMID).await.expect("locate");
    n1.guest_power(&loc, "start", serde_json::json!({}))
        .await
        .expect("start");
    wait_tick(&c, 0, VMID, 2, BOOT_TIMEOUT).await;

    // Full on n1: the 32 MiB written.
    let (read1, log1) = backup(&cfg);
    assert!(
        (32 * MIB..=32 * MIB + 2 * CHUNK).contains(&read1),
        "full read {read1}: {log1}"
    );
    // 8 MiB change, then the VM moves live to n2 (the bitmaps go with it).
    hmp(&c, 0, VMID, "qemu-io drive-scsi0 \"write -P 0x77 40M 8M\"").await;
    hmp(&c, 0, VMID, "qemu-io drive-scsi0 flush").await;
    let (ok, out, err) = brigade(&cfg, &["vm", "migrate", "100", "n2", "--online"]);
    assert!(ok, "live migration failed: {out}{err}");
    assert_eq!(n1.locate(VMID).await.expect("locate").node, "n2");
    let ticks = wait_tick(&c, 1, VMID, 1, BOOT_TIMEOUT).await;
    let bitmaps = hmp(&c, 1, VMID, "info block -v drive-scsi0").await;
    eprintln!("after the move: ticks {ticks:?}; {bitmaps}");

    // The backup on n2 reads about the 8 MiB changed, not the disk's 32 MiB of data.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (read2, log2) = backup(&cfg);
    eprintln!("backup after the live migration: read {read2} bytes");
    assert!(
        log2.contains("scsi0: incremental read"),
        "not incremental after the move: {log2}"
    );
    assert!(
        (8 * MIB..8 * MIB + 2 * CHUNK).contains(&read2),
        "read {read2} after changing 8 MiB: {log2}"
    );
    let (ok, out, err) = brigade(&cfg, &["backup", "verify", "--storage", "backups"]);
    assert!(ok && out.contains("OK"), "verify: {out}{err}");
    let dir = c.dir.clone();
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}
