//! Benchmark: live full and incremental backup throughput of a running guest's 1 GiB qcow2 disk, next to
//! `qemu-img convert` of the same disk to the same storage, and an offline file backup, in one run.
//!
//! `cargo run -p brigade-backup --example bench_backup [DATA_MIB]` (root; QEMU under TCG; the appliance).

// A benchmark example: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use brigade_backup::{
    backup_files, backup_live, BackupMode, Datastore, DiskFile, FileBackupRequest,
    LiveBackupRequest, Stats,
};
use common::*;

fn line(what: &str, secs: f64, disk: u64, stats: Option<Stats>) {
    let mib = |b: u64| b as f64 / MIB as f64;
    match stats {
        Some(s) => println!(
            "{what:<34} {secs:>7.2} s  {:>8.1} MiB/s of disk  read {:>7.1} MiB  written {:>7.1} MiB  reused {:>7.1} MiB",
            mib(disk) / secs,
            mib(s.read_bytes),
            mib(s.written_bytes),
            mib(s.reused_bytes)
        ),
        None => println!("{what:<34} {secs:>7.2} s  {:>8.1} MiB/s of disk", mib(disk) / secs),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let data_mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let disk = 1 << 30;
    let dir = short_tempdir();
    let raw = dir.path().join("data.raw");
    write_random_raw(&raw, data_mib * MIB, 42);
    let image = dir.path().join("vm-100-disk-0.qcow2");
    run(std::process::Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&image));
    run(std::process::Command::new("qemu-img")
        .args(["resize", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("1G"));
    std::fs::remove_file(&raw).expect("rm");
    let store = dir.path().join("store");
    let ds = Datastore::open(&store).expect("datastore");
    println!(
        "1 GiB qcow2 disk, {data_mib} MiB of random data, storage {} (same file system for every run)",
        store.display()
    );

    let vm = Vm::start(100, &image).await;
    vm.wait_ticks(2).await;
    let copy = store.join("copy.qcow2");
    let t = Instant::now();
    run(std::process::Command::new("qemu-img")
        .args(["convert", "-U", "-O", "qcow2"])
        .arg(&image)
        .arg(&copy));
    line(
        "qemu-img convert (running guest)",
        t.elapsed().as_secs_f64(),
        disk,
        None,
    );
    run(std::process::Command::new("sync").arg(&copy));
    line(
        "qemu-img convert + sync of the copy",
        t.elapsed().as_secs_f64(),
        disk,
        None,
    );
    std::fs::remove_file(&copy).expect("rm");

    let req = |time| LiveBackupRequest {
        vmid: 100,
        config: vm.config.clone(),
        slots: vec!["scsi0".into()],
        qmp_socket: vm.qmp_socket(),
        time,
        mode: BackupMode::Snapshot,
        bwlimit_kib: None,
        abort: brigade_backup::Abort::default(),
        work_dir: dir.path().join("w"),
    };
    let t = Instant::now();
    let full = backup_live(&ds, &req(chrono::Utc::now()))
        .await
        .expect("full");
    line(
        "live full backup",
        t.elapsed().as_secs_f64(),
        disk,
        Some(full.stats),
    );
    vm.hmp("qemu-io drive-scsi0 \"write -P 0xcd 100M 10M\"")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t = Instant::now();
    let incr = backup_live(&ds, &req(chrono::Utc::now()))
        .await
        .expect("incremental");
    line(
        "live incremental (10 MiB changed)",
        t.elapsed().as_secs_f64(),
        disk,
        Some(incr.stats),
    );
    assert_eq!(vm.status().await, "running");
    drop(vm);

    let fresh = Datastore::open(&dir.path().join("store2")).expect("datastore");
    let t = Instant::now();
    let file = backup_files(
        &fresh,
        &FileBackupRequest {
            vmid: 100,
            config: String::new(),
            disks: vec![DiskFile {
                slot: "scsi0".into(),
                path: image.clone(),
            }],
            time: chrono::Utc::now(),
            bwlimit_kib: None,
            abort: brigade_backup::Abort::default(),
        },
    )
    .expect("file backup");
    line(
        "file backup (stopped, empty store)",
        t.elapsed().as_secs_f64(),
        disk,
        Some(file.stats),
    );
    let t = Instant::now();
    let again = backup_files(
        &fresh,
        &FileBackupRequest {
            vmid: 100,
            config: String::new(),
            disks: vec![DiskFile {
                slot: "scsi0".into(),
                path: image.clone(),
            }],
            time: chrono::Utc::now() + chrono::Duration::seconds(1),
            bwlimit_kib: None,
            abort: brigade_backup::Abort::default(),
        },
    )
    .expect("file backup");
    line(
        "file backup again (all deduped)",
        t.elapsed().as_secs_f64(),
        disk,
        Some(again.stats),
    );
}
