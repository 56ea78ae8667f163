//! Bitmaps across QEMU restarts: the persistent bitmap comes back after a clean stop but is not
//! trusted (the image was written while QEMU was down), so the backup reads the whole disk and has
//! the offline write; incremental again in the same QEMU; a crash (SIGKILL) means a full read too.

// Test support: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]

mod common;

use brigade_backup::manifest::ReadMode;
use brigade_backup::{
    backup_live, restore, BackupMode, Datastore, LiveBackupRequest, RestoreRequest, CHUNK_SIZE,
};
use common::*;

fn request(vm: &Vm, work: &std::path::Path, mode: BackupMode) -> LiveBackupRequest {
    LiveBackupRequest {
        vmid: vm.vmid,
        config: vm.config.clone(),
        slots: vec!["scsi0".into()],
        qmp_socket: vm.qmp_socket(),
        time: chrono::Utc::now(),
        mode,
        bwlimit_kib: None,
        abort: brigade_backup::Abort::default(),
        work_dir: work.to_path_buf(),
    }
}

fn restored_sum(ds: &Datastore, snap: brigade_backup::SnapshotId, dir: &std::path::Path) -> String {
    let target = dir.join(format!("r-{}.raw", snap.time_string()));
    restore(
        ds,
        &RestoreRequest {
            snapshot: snap,
            slot: "scsi0".into(),
            target,
            format: "raw".into(),
            force: false,
        },
    )
    .expect("restore")
    .sha256
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_or_crashed_qemu_gets_a_full_read_that_has_the_offline_writes() {
    let dir = short_tempdir();
    let image = dir.path().join("vm-101-disk-0.qcow2");
    create_image(&image, "qcow2", "256M");
    qemu_io(&image, "qcow2", "write -P 0x11 0 32M");
    let ds = Datastore::open(&dir.path().join("store")).expect("datastore");
    let work = dir.path().join("w");
    let pause = std::time::Duration::from_millis(1100);

    let vm = Vm::start(101, &image).await;
    vm.wait_ticks(1).await;
    let r1 = backup_live(&ds, &request(&vm, &work, BackupMode::Snapshot))
        .await
        .expect("first");
    assert_eq!(r1.manifest.disks[0].read_mode, ReadMode::Full);
    // A clean stop (QMP quit) writes the persistent bitmap into the qcow2.
    brigade_guest::qemu::stop(&vm.run, vm.vmid)
        .await
        .expect("stop");
    drop(vm);

    // Written while QEMU is down: no bitmap can know.
    qemu_io(&image, "qcow2", "write -P 0x22 8M 4M");
    let vm = Vm::start(101, &image).await;
    vm.wait_ticks(1).await;
    let b = change_bitmaps(&vm.qmp("query-block", serde_json::json!({})).await);
    assert_eq!(b.len(), 1, "the persistent bitmap came back: {b:?}");
    assert_eq!(b[0]["recording"], true, "{b:?}");
    vm.hmp("qemu-io drive-scsi0 \"write -P 0x33 64M 4M\"").await;
    vm.hmp("qemu-io drive-scsi0 flush").await;
    let sum2 = image_sha256(&image);
    tokio::time::sleep(pause).await;
    // A restarted QEMU: the bitmap is not trusted, the whole disk is read, and the offline
    // write is in the snapshot. Suspend mode: paused for the backup, running after it.
    let r2 = backup_live(&ds, &request(&vm, &work, BackupMode::Suspend))
        .await
        .expect("second");
    assert_eq!(r2.manifest.disks[0].read_mode, ReadMode::Full);
    assert_eq!(r2.manifest.mode, BackupMode::Suspend);
    assert_eq!(vm.status().await, "running");
    assert_eq!(restored_sum(&ds, r2.snapshot, dir.path()), sum2);
    assert!(r2.stats.written_bytes <= 2 * CHUNK_SIZE, "{:?}", r2.stats);

    // Within this QEMU the next backup is incremental again.
    vm.hmp("qemu-io drive-scsi0 \"write -P 0x44 128M 1M\"")
        .await;
    vm.hmp("qemu-io drive-scsi0 flush").await;
    let sum3 = image_sha256(&image);
    tokio::time::sleep(pause).await;
    let r3 = backup_live(&ds, &request(&vm, &work, BackupMode::Snapshot))
        .await
        .expect("third");
    assert_eq!(r3.manifest.disks[0].read_mode, ReadMode::Incremental);
    assert_eq!(r3.stats.read_bytes, CHUNK_SIZE, "{:?}", r3.stats);
    assert_eq!(restored_sum(&ds, r3.snapshot, dir.path()), sum3);

    // A crash (SIGKILL): the next QEMU reads the whole disk again.
    drop(vm);
    let vm = Vm::start(101, &image).await;
    vm.wait_ticks(1).await;
    let sum4 = image_sha256(&image);
    tokio::time::sleep(pause).await;
    let r4 = backup_live(&ds, &request(&vm, &work, BackupMode::Snapshot))
        .await
        .expect("fourth");
    assert_eq!(r4.manifest.disks[0].read_mode, ReadMode::Full);
    assert_eq!(
        r4.manifest.disks[0].image_sha256.as_deref(),
        Some(sum4.as_str())
    );
    drop(vm);
    assert_eq!(restored_sum(&ds, r4.snapshot, dir.path()), sum4);
}
