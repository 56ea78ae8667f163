//! Container backups on real directories: archive a tree, back it up again unchanged (no
//! new chunk), verify, restore to a new root (contents, modes, owners, mtimes, links equal),
//! refuse an existing target without force and a damaged chunk.

// Test support: a failed expectation ends it with its message.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use brigade_backup::datastore::parse_time;
use brigade_backup::{
    backup_tree, restore_tree, verify, Abort, BackupError, BackupMode, Datastore, GuestType,
    TreeBackupRequest,
};

/// Every entry under `root`: kind, mode, owner, mtime, content hash or link target.
fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).expect("link").display())
            } else {
                let data = std::fs::read(&p).expect("read");
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
            };
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let mtime = if m.file_type().is_symlink() {
                0
            } else {
                m.mtime()
            };
            out.insert(
                rel,
                format!(
                    "{what} mode {:o} {}:{} mtime {mtime}",
                    m.mode(),
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}

fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sbin")).expect("mkdir");
    std::fs::create_dir_all(root.join("var/data")).expect("mkdir");
    std::fs::write(root.join("sbin/init"), "#!/bin/sh\nexec sleep 1000\n").expect("w");
    std::fs::set_permissions(
        root.join("sbin/init"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let big: Vec<u8> = (0..(9u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("var/data/big"), big).expect("w");
    std::fs::write(root.join("var/data/small"), "hello\n").expect("w");
    std::os::unix::fs::chown(root.join("var/data/small"), Some(1234), Some(4321)).expect("chown");
    std::os::unix::fs::symlink("../sbin/init", root.join("var/init")).expect("symlink");
}

fn request(root: &Path, time: &str) -> TreeBackupRequest {
    TreeBackupRequest {
        vmid: 200,
        config: "hostname: ct200\nrootfs: local:200/subvol-200-disk-0\n".into(),
        root: root.to_path_buf(),
        time: parse_time(time).expect("time"),
        mode: BackupMode::Suspend,
        bwlimit_kib: None,
        abort: Abort::default(),
    }
}

#[test]
fn an_aborted_container_backup_stores_no_chunk_and_lists_no_snapshot() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("subvol-200-disk-0");
    make_tree(&root);
    let ds = Datastore::open(&d.path().join("store")).expect("datastore");
    let req = request(&root, "2026-12-01T10:00:00Z");
    req.abort.abort();
    let err = backup_tree(&ds, &req).expect_err("an aborted backup fails");
    assert!(matches!(err, BackupError::Aborted), "{err}");
    assert!(
        ds.snapshots(200).expect("list").is_empty(),
        "a snapshot was listed"
    );
    assert!(
        ds.chunks.list().expect("chunks").is_empty(),
        "an aborted backup stored chunks"
    );
    // Not aborted, the same request goes through.
    let full = backup_tree(&ds, &request(&root, "2026-12-01T10:01:00Z")).expect("full");
    assert!(!ds.chunks.list().expect("chunks").is_empty());
    assert_eq!(
        ds.snapshots(200).expect("list").len(),
        1,
        "{:?}",
        full.stats
    );
}

#[test]
fn a_container_tree_backs_up_dedups_verifies_and_restores_exactly() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("subvol-200-disk-0");
    make_tree(&root);
    let ds = Datastore::open(&d.path().join("store")).expect("datastore");
    let first = backup_tree(&ds, &request(&root, "2026-12-01T10:00:00Z")).expect("first");
    assert_eq!(first.manifest.kind, GuestType::Lxc);
    assert!(first.stats.written_bytes > 9 << 20, "{:?}", first.stats);
    let second = backup_tree(&ds, &request(&root, "2026-12-01T11:00:00Z")).expect("second");
    assert_eq!(second.stats.written_chunks, 0, "{:?}", second.stats);
    assert_eq!(second.stats.written_bytes, 0);
    assert_eq!(ds.snapshots(200).expect("list").len(), 2);
    let v = verify(&ds, None).expect("verify");
    assert!(v.ok(), "{v:?}");

    let target = d.path().join("subvol-301-disk-0");
    let r = restore_tree(&ds, &second.snapshot, &target, false).expect("restore");
    assert_eq!(
        Some(r.sha256.clone()),
        second.manifest.disks[0].image_sha256
    );
    assert_eq!(listing(&target), listing(&root));

    let e = restore_tree(&ds, &first.snapshot, &target, false).expect_err("exists");
    assert!(matches!(e, BackupError::Exists(_)), "{e}");
    std::fs::write(target.join("var/data/small"), "changed\n").expect("w");
    restore_tree(&ds, &first.snapshot, &target, true).expect("force");
    assert_eq!(listing(&target), listing(&root));

    // A damaged chunk: verify names it, restore refuses and leaves the target as it was.
    let idx = ds.index(&first.snapshot, "rootfs").expect("index");
    std::fs::write(ds.chunks.chunk_path(&idx.digests[1]), b"garbage").expect("damage");
    assert!(!verify(&ds, None).expect("verify").ok());
    let e = restore_tree(&ds, &first.snapshot, &target, true).expect_err("corrupt");
    assert!(matches!(e, BackupError::Corrupt { .. }), "{e}");
    assert_eq!(listing(&target), listing(&root));
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
