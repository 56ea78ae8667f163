//! Bad input changes nothing: a full backup storage (a small tmpfs), corrupt chunks and indexes (found by verify, refused by restore), restoring onto an existing target.

// Test support: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]

mod common;

use brigade_backup::datastore::parse_time;
use brigade_backup::{
    backup_files, restore, verify, BackupError, Datastore, DiskFile, FileBackupRequest,
    RestoreRequest, CHUNK_SIZE,
};
use common::*;

fn request(vmid: u32, image: &std::path::Path, time: &str) -> FileBackupRequest {
    FileBackupRequest {
        vmid,
        config: "memory: 128\nscsi0: local:100/vm-100-disk-0.qcow2\n".into(),
        disks: vec![DiskFile {
            slot: "scsi0".into(),
            path: image.to_path_buf(),
        }],
        time: parse_time(time).expect("time"),
        bwlimit_kib: None,
        abort: brigade_backup::Abort::default(),
    }
}

#[test]
fn a_full_backup_storage_fails_clearly_and_lists_no_snapshot() {
    let dir = short_tempdir();
    let image = dir.path().join("big.raw");
    write_random_raw(&image, 48 * MIB, 7);
    let fs = Tmpfs::mount("24M");
    let ds = Datastore::open(fs.path()).expect("datastore");
    let e = backup_files(&ds, &request(100, &image, "2026-12-01T10:00:00Z"))
        .expect_err("the storage is too small");
    assert!(e.is_storage_full(), "{e:?}");
    assert!(matches!(e, BackupError::StorageFull { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("is full") && msg.contains(&fs.path().display().to_string()),
        "{msg}"
    );
    assert!(ds.snapshots(100).expect("list").is_empty());
    assert!(
        ds.writers().expect("writers").is_empty(),
        "the in-progress dir is gone"
    );
    let temps: Vec<_> = ds
        .chunks
        .list()
        .expect("chunks")
        .into_iter()
        .filter(|c| c.digest.is_none())
        .collect();
    assert!(temps.is_empty(), "temporary chunk files left: {temps:?}");
    // A smaller disk then fits: the failed backup did not break the storage.
    let small = dir.path().join("small.raw");
    write_random_raw(&small, 4 * MIB, 8);
    // The chunks the failed backup wrote are garbage: once older than GC's grace, GC frees them.
    for c in ds.chunks.list().expect("chunks") {
        let f = std::fs::File::options()
            .write(true)
            .open(&c.path)
            .expect("open");
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .expect("age");
    }
    let gc = brigade_backup::gc::garbage_collect(&ds).expect("gc");
    assert!(gc.removed_chunks > 0 && gc.referenced_chunks == 0, "{gc:?}");
    let r = backup_files(&ds, &request(100, &small, "2026-12-01T10:01:00Z")).expect("fits");
    assert_eq!(ds.snapshots(100).expect("list"), vec![r.snapshot]);
}

#[test]
fn corrupt_chunks_and_indexes_are_found_by_verify_and_refused_by_restore() {
    let dir = short_tempdir();
    let image = dir.path().join("vm-100-disk-0.qcow2");
    create_image(&image, "qcow2", "64M");
    qemu_io(&image, "qcow2", "write -P 0xab 0 8M");
    let ds = Datastore::open(&dir.path().join("store")).expect("datastore");
    let s1 = backup_files(&ds, &request(100, &image, "2026-12-01T10:00:00Z")).expect("b1");
    // Only 4 MiB change: the first chunk is shared by both snapshots.
    qemu_io(&image, "qcow2", "write -P 0xcd 4M 4M");
    let s2 = backup_files(&ds, &request(100, &image, "2026-12-01T11:00:00Z")).expect("b2");
    assert_eq!(s2.stats.written_bytes, CHUNK_SIZE, "{:?}", s2.stats);
    assert!(verify(&ds, None).expect("verify").ok());

    let shared = ds.index(&s1.snapshot, "scsi0").expect("index").digests[0];
    let path = ds.chunks.chunk_path(&shared);
    let mut bytes = std::fs::read(&path).expect("chunk");
    bytes[100] ^= 1;
    std::fs::write(&path, &bytes).expect("damage");

    let report = verify(&ds, None).expect("verify");
    assert!(!report.ok());
    assert_eq!(report.damaged_chunks.len(), 1, "{report:?}");
    let damaged = &report.damaged_chunks[0];
    assert_eq!(damaged.digest, hex::encode(shared));
    assert_eq!(
        damaged.snapshots,
        vec![s1.snapshot.to_string(), s2.snapshot.to_string()]
    );

    let target = dir.path().join("restored.raw");
    let req = |snapshot, target: &std::path::Path, force| RestoreRequest {
        snapshot,
        slot: "scsi0".into(),
        target: target.to_path_buf(),
        format: "raw".into(),
        force,
    };
    let e = restore(&ds, &req(s2.snapshot, &target, false)).expect_err("corrupt chunk");
    assert!(matches!(e, BackupError::Corrupt { .. }), "{e}");
    assert!(!target.exists(), "a failed restore leaves no target");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Repair the chunk; then damage the second snapshot's index.
    bytes[100] ^= 1;
    std::fs::write(&path, &bytes).expect("repair");
    let index = ds.snapshot_dir(&s2.snapshot).join("scsi0.img.fidx");
    let mut idx = std::fs::read(&index).expect("index");
    idx[40] ^= 0xff;
    std::fs::write(&index, &idx).expect("damage index");
    let report = verify(&ds, None).expect("verify");
    assert_eq!(report.damaged_snapshots.len(), 1, "{report:?}");
    assert_eq!(
        report.damaged_snapshots[0].snapshot,
        s2.snapshot.to_string()
    );
    assert!(report.damaged_chunks.is_empty());
    let e = restore(&ds, &req(s2.snapshot, &target, false)).expect_err("corrupt index");
    assert!(e.to_string().contains("corrupt"), "{e}");

    // The intact snapshot restores; a second restore onto it needs force.
    let rep = restore(&ds, &req(s1.snapshot, &target, false)).expect("restore s1");
    assert_eq!(
        Some(rep.sha256.as_str()),
        s1.manifest.disks[0].image_sha256.as_deref()
    );
    std::fs::write(&target, b"precious").expect("overwrite by hand");
    let e = restore(&ds, &req(s1.snapshot, &target, false)).expect_err("exists");
    assert!(matches!(e, BackupError::Exists(_)), "{e}");
    assert_eq!(std::fs::read(&target).expect("read"), b"precious");
    restore(&ds, &req(s1.snapshot, &target, true)).expect("forced");
    assert_eq!(file_sha256(&target), rep.sha256);

    // A tampered manifest is corrupt too.
    let manifest = ds.snapshot_dir(&s1.snapshot).join("manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("memory: 128", "memory: 256")).expect("tamper");
    let report = verify(&ds, None).expect("verify");
    assert!(report
        .affected_snapshots()
        .contains(&s1.snapshot.to_string()));
}
