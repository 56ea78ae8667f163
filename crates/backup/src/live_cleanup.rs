//! Undoing a live backup's QEMU setup (exports, NBD server, fleecing jobs and overlays) and the per-guest backup lock.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use brigade_guest::qmp::Qmp;

use crate::error::{BackupError, Result};
use crate::live::Drive;

/// How long QEMU may take to drop an export or a job after being asked.
pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the teardown polls QEMU.
const TEARDOWN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Removes what a backup set up in QEMU (exports, NBD server, jobs, overlays); each step is
/// best effort, so it also clears what an earlier, interrupted backup left.
pub(crate) async fn teardown(q: &mut Qmp, drives: &[Drive]) {
    for d in drives {
        let _ = q
            .execute(
                "block-export-del",
                Some(json!({"id": d.export, "mode": "hard"})),
            )
            .await;
    }
    wait_until(q, "query-block-exports", |v| {
        !drives.iter().any(|d| has_id(v, "id", &d.export))
    })
    .await;
    let _ = q.execute("nbd-server-stop", None).await;
    for d in drives {
        let _ = q
            .execute(
                "block-job-cancel",
                Some(json!({"device": d.job, "force": true})),
            )
            .await;
    }
    wait_until(q, "query-block-jobs", |v| {
        !drives.iter().any(|d| has_id(v, "device", &d.job))
    })
    .await;
    for d in drives {
        let _ = q
            .execute("blockdev-del", Some(json!({"node-name": d.fleece_node})))
            .await;
        let _ = std::fs::remove_file(&d.fleece_file);
    }
}

/// Holds `<work_dir>/backup.lock` exclusively for the backup's duration.
pub(crate) fn lock_work_dir(dir: &Path, vmid: u32) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = dir.join("backup.lock");
    let file = std::fs::File::create(&path)
        .map_err(BackupError::io(format!("cannot create {}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
        |(_, errno)| {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                BackupError::Exists(format!("a backup of VM {vmid} is already running"))
            } else {
                BackupError::Io {
                    context: format!("cannot lock {}", path.display()),
                    source: errno.into(),
                }
            }
        },
    )
}

fn has_id(list: &Value, key: &str, id: &str) -> bool {
    list.as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x.get(key).and_then(Value::as_str) == Some(id))
    })
}

async fn wait_until(q: &mut Qmp, query: &str, done: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    while start.elapsed() < TEARDOWN_TIMEOUT {
        match q.execute(query, None).await {
            Ok(v) if !done(&v) => tokio::time::sleep(TEARDOWN_POLL_INTERVAL).await,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_backup_of_the_same_guest_is_refused_while_one_runs() {
        let d = tempfile::tempdir().expect("tempdir");
        let held = lock_work_dir(d.path(), 100).expect("first");
        let e = lock_work_dir(d.path(), 100).expect_err("second");
        assert!(matches!(e, BackupError::Exists(_)), "{e}");
        drop(held);
        lock_work_dir(d.path(), 100).expect("after the first ended");
    }
}
