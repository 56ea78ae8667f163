//! The guests of a cluster's nodes and what their daemons leave behind (mounts).

use std::path::{Path, PathBuf};
use std::process::Command;

use brigade_api::storage::StorageAddRequest;
use brigade_client::Client;

use crate::{LocalClusterError, ProcCluster};

/// The storage every node of a one-machine cluster sees: a directory under the cluster's.
pub const SHARED_STORAGE: &str = "shared";

/// Adds storage [`SHARED_STORAGE`] for disks and container roots: `dir/shared`, marked
/// shared (the nodes of one machine see the same path, as a cluster sees an NFS share).
/// Its path.
pub async fn add_shared_dir_storage(
    client: &Client,
    dir: &Path,
) -> Result<PathBuf, LocalClusterError> {
    let path = dir.join(SHARED_STORAGE);
    std::fs::create_dir_all(&path).map_err(LocalClusterError::io(format!(
        "creating {}",
        path.display()
    )))?;
    client
        .storage_add(&StorageAddRequest {
            storage: SHARED_STORAGE.into(),
            kind: "dir".into(),
            path: path.display().to_string(),
            content: Some("images,rootdir".into()),
            shared: true,
            nodes: None,
        })
        .await?;
    Ok(path)
}

/// Lazily unmounts every mount below `dir` (FUSE mounts of killed daemons).
pub fn detach_mounts_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for mp in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        if mp.starts_with(&prefix) {
            let _ = Command::new("umount").arg("-l").arg(mp).status();
        }
    }
}

impl ProcCluster {
    /// The run directory of node `i` (its guests' pidfiles and sockets).
    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].config.run_dir()
    }

    /// The pids of the guests (QEMU and containers) node `i` runs.
    pub fn guest_pids(&self, i: usize) -> Vec<(u32, i32)> {
        let Ok(run) = brigade_guest::RunDir::open(&self.run_dir(i)) else {
            return Vec::new();
        };
        brigade_guest::running_guests(&run)
            .into_iter()
            .map(|g| (g.vmid, g.pid))
            .collect()
    }

    /// A power cut: SIGKILL of node `i`'s daemon, watchdog helper and guests.
    pub fn power_cut(&mut self, i: usize) {
        self.kill(i);
        self.kill_guests(i);
    }

    /// SIGKILLs node `i`'s guests and its watchdog helper.
    pub fn kill_guests(&self, i: usize) {
        if let Ok(run) = brigade_guest::RunDir::open(&self.run_dir(i)) {
            if let Some(pid) = brigade_guest::process::read_pidfile(&run.watchdog_pid()) {
                if brigade_guest::process::cmdline(pid)
                    .iter()
                    .any(|a| a == "watchdog")
                {
                    let _ =
                        brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
                }
            }
        }
        for (_, pid) in self.guest_pids(i) {
            let _ =
                brigade_guest::process::send_group(pid, brigade_guest::process::Signal::SIGKILL);
            let _ = brigade_guest::process::send(pid, brigade_guest::process::Signal::SIGKILL);
        }
    }
}
