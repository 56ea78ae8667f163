//! Live backups of a running QEMU (TCG): a full then an incremental backup while the guest ticks, both restored to the exact content; a lost bitmap falls back to a full read.

// Test support: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]

mod common;

use brigade_backup::manifest::ReadMode;
use brigade_backup::{
    backup_live, restore, BackupMode, Datastore, LiveBackupRequest, RestoreRequest, CHUNK_SIZE,
};
use common::*;

fn request(vm: &Vm, work: &std::path::Path) -> LiveBackupRequest {
    LiveBackupRequest {
        vmid: vm.vmid,
        config: vm.config.clone(),
        slots: vec!["scsi0".into()],
        qmp_socket: vm.qmp_socket(),
        time: chrono::Utc::now(),
        mode: BackupMode::Snapshot,
        bwlimit_kib: None,
        abort: brigade_backup::Abort::default(),
        work_dir: work.to_path_buf(),
    }
}

/// Fills the file system of `path` with one file until it is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let block = vec![0x55u8; MIB as usize];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

/// Waits until the wall clock is in a new second (snapshots are named by the second).
async fn next_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_full_then_incremental_backup_restores_exactly_while_the_guest_runs() {
    let dir = short_tempdir();
    let image = dir.path().join("vm-100-disk-0.qcow2");
    create_image(&image, "qcow2", "1G");
    qemu_io(&image, "qcow2", "write -P 0xab 0 64M");
    // The storage is a small tmpfs, so the test can fill it.
    let fs = Tmpfs::mount("64M");
    let ds = Datastore::open(fs.path()).expect("datastore");
    let work = dir.path().join("w");

    let vm = Vm::start(100, &image).await;
    vm.wait_ticks(2).await;
    let sum1 = image_sha256(&image);
    let ticks_before = vm.ticks().len();

    // 1. The first backup reads the whole disk (zero ranges are known zero, not read).
    let r1 = backup_live(&ds, &request(&vm, &work))
        .await
        .expect("first backup");
    let d1 = &r1.manifest.disks[0];
    assert_eq!(d1.read_mode, ReadMode::Full);
    assert_eq!(d1.size, 1 << 30);
    assert_eq!(d1.image_sha256.as_deref(), Some(sum1.as_str()));
    assert!(
        r1.stats.read_bytes >= 64 * MIB && r1.stats.read_bytes <= 64 * MIB + 2 * CHUNK_SIZE,
        "{:?}",
        r1.stats
    );
    assert_eq!(vm.status().await, "running");

    // 2. Change 10 MiB while the guest runs; the next backup reads only those chunks.
    let out = vm
        .hmp("qemu-io drive-scsi0 \"write -P 0xcd 100M 10M\"")
        .await;
    // qcow2 metadata lives in QEMU's cache until flushed: flush so qemu-img sees it.
    let out2 = vm.hmp("qemu-io drive-scsi0 flush").await;
    let sum2 = image_sha256(&image);
    assert_ne!(sum1, sum2, "qemu-io said {out:?} {out2:?}");

    // 2a. A full storage fails the backup clearly: no snapshot is listed, the guest runs,
    // and the bitmap of the first snapshot still counts (the next backup stays incremental).
    next_second().await;
    let filler = fs.path().join("filler");
    fill(&filler);
    let e = backup_live(&ds, &request(&vm, &work))
        .await
        .expect_err("the storage is full");
    assert!(e.is_storage_full(), "{e:?}");
    assert_eq!(ds.snapshots(100).expect("list"), vec![r1.snapshot]);
    assert!(ds.writers().expect("writers").is_empty());
    assert_eq!(vm.status().await, "running");
    let blocks = vm.qmp("query-block", serde_json::json!({})).await;
    let bitmaps = change_bitmaps(&blocks);
    assert_eq!(bitmaps.len(), 1, "{blocks}");
    assert_eq!(bitmaps[0]["recording"], true, "{blocks}");
    std::fs::remove_file(&filler).expect("rm filler");

    next_second().await;
    let r2 = backup_live(&ds, &request(&vm, &work))
        .await
        .expect("second backup");
    let d2 = &r2.manifest.disks[0];
    assert_eq!(d2.read_mode, ReadMode::Incremental, "{:?}", r2.manifest);
    let change = 10 * MIB;
    let bound = 3 * change + 2 * CHUNK_SIZE;
    assert!(
        r2.stats.read_bytes >= change && r2.stats.read_bytes < bound,
        "read {:?}",
        r2.stats
    );
    assert!(r2.stats.written_bytes < bound, "written {:?}", r2.stats);
    assert_eq!(vm.status().await, "running");
    // The guest kept ticking through both backups, without a restart.
    vm.wait_ticks(ticks_before + 2).await;
    let ticks = vm.ticks();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "ticks: {ticks:?}"
    );
    // No fleecing overlay or export is left in QEMU.
    let exports = vm.qmp("query-block-exports", serde_json::json!({})).await;
    assert_eq!(exports, serde_json::json!([]));

    // 3. Both snapshots restore to the content they were taken at.
    let snaps = ds.snapshots(100).expect("list");
    assert_eq!(snaps, vec![r1.snapshot, r2.snapshot]);
    for (snap, sum, format) in [(r1.snapshot, &sum1, "qcow2"), (r2.snapshot, &sum2, "raw")] {
        let target = dir
            .path()
            .join(format!("restored-{}.{format}", snap.time_string()));
        let rep = restore(
            &ds,
            &RestoreRequest {
                snapshot: snap,
                slot: "scsi0".into(),
                target: target.clone(),
                format: format.into(),
                force: false,
            },
        )
        .expect("restore");
        assert_eq!(&rep.sha256, sum, "{snap}");
        assert_eq!(&image_sha256(&target), sum, "{snap} as {format}");
    }

    // 4. A lost bitmap (as after a QEMU restart without it): the next backup reads the
    // whole disk and compares chunk hashes, writing only what changed.
    let blocks = vm.qmp("query-block", serde_json::json!({})).await;
    let node = blocks[0]["inserted"]["node-name"]
        .as_str()
        .expect("node")
        .to_string();
    let bitmaps = change_bitmaps(&blocks);
    assert_eq!(bitmaps.len(), 1, "{blocks}");
    assert_eq!(bitmaps[0]["persistent"], true);
    let name = bitmaps[0]["name"].as_str().expect("name").to_string();
    vm.qmp(
        "block-dirty-bitmap-remove",
        serde_json::json!({"node": node, "name": name}),
    )
    .await;
    vm.hmp("qemu-io drive-scsi0 \"write -P 0xef 512M 4M\"")
        .await;
    vm.hmp("qemu-io drive-scsi0 flush").await;
    let sum3 = image_sha256(&image);
    next_second().await;
    let r3 = backup_live(&ds, &request(&vm, &work))
        .await
        .expect("third backup");
    assert_eq!(r3.manifest.disks[0].read_mode, ReadMode::Full);
    assert_eq!(
        r3.manifest.disks[0].image_sha256.as_deref(),
        Some(sum3.as_str())
    );
    assert!(r3.stats.written_bytes <= 2 * CHUNK_SIZE, "{:?}", r3.stats);
    assert_eq!(vm.status().await, "running");
    drop(vm);
    let target = dir.path().join("restored-3.raw");
    let rep = restore(
        &ds,
        &RestoreRequest {
            snapshot: r3.snapshot,
            slot: "scsi0".into(),
            target,
            format: "raw".into(),
            force: false,
        },
    )
    .expect("restore 3");
    assert_eq!(rep.sha256, sum3);
}
