//! `vzdump` of a container of this node: its root tree archived while it is frozen
//! (`suspend`/`snapshot`), stopped (`stop`, started again after) or not running.

use std::sync::Arc;

use brigade_api::backup::DumpMode;
use brigade_backup::{backup_tree, Abort, BackupMode, BackupReport, Datastore, TreeBackupRequest};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::CtConfig;

use super::freeze::Frozen;
use super::node_error;
use super::run::STOP_MODE_SHUTDOWN_SECS;
use crate::error::NodeError;
use crate::node::Node;
use crate::tasks::TaskHandle;

impl Node {
    /// The container backup itself, under `lock: backup`; `abort` (a task stop) ends it
    /// before its next chunk.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_ct_backup(
        self: &Arc<Self>,
        task: &TaskHandle,
        ds: &Datastore,
        storage: &str,
        vmid: VmId,
        mode: DumpMode,
        bwlimit: Option<u64>,
        abort: &Abort,
    ) -> Result<BackupReport, NodeError> {
        let l = self.local_guest(GuestKind::Lxc, vmid)?;
        let cfg = CtConfig::parse(&l.text)?;
        let root = self.ct_rootfs(&cfg)?;
        let supervisor = self.guest_pid(GuestKind::Lxc, vmid.get());
        let mut req = TreeBackupRequest {
            vmid: vmid.get(),
            config: crate::guests::without_lock(&l.text)?,
            root,
            time: chrono::Utc::now(),
            mode: BackupMode::Stop,
            bwlimit_kib: bwlimit,
            abort: abort.clone(),
        };
        let context = format!("backup to storage {storage} failed");
        let report = match (supervisor, mode) {
            (Some(pid), DumpMode::Snapshot | DumpMode::Suspend) => {
                req.mode = if mode == DumpMode::Suspend {
                    BackupMode::Suspend
                } else {
                    BackupMode::Snapshot
                };
                task.log("freezing the container's cgroup for the backup");
                let frozen = Frozen::freeze(vmid.get(), pid).await?;
                let out = archive(ds, req, &context).await;
                drop(frozen);
                task.log("container thawed");
                out?
            }
            (Some(_), DumpMode::Stop) => {
                task.log(format!(
                    "shutting the container down for the backup (timeout {STOP_MODE_SHUTDOWN_SECS} s)"
                ));
                self.shutdown_guest(&l, Some(STOP_MODE_SHUTDOWN_SECS), true)
                    .await?;
                let out = archive(ds, req, &context).await;
                task.log("starting the container again");
                let again = self.local_guest(GuestKind::Lxc, vmid)?;
                // The backup's own lock does not stop it starting the container again.
                let again = crate::guests::Located {
                    text: crate::guests::without_lock(&again.text)?,
                    ..again
                };
                self.start_guest(&again, &self.quorum_gate()).await?;
                out?
            }
            (None, _) => {
                task.log("the container is stopped: archiving its root directory");
                archive(ds, req, &context).await?
            }
        };
        if let Some(d) = report.manifest.disks.first() {
            task.log(format!(
                "rootfs: tar stream of {} bytes: wrote {} bytes, reused {} bytes",
                d.size, d.written_bytes, d.reused_bytes
            ));
        }
        Ok(report)
    }
}

/// Archives off the async threads.
async fn archive(
    ds: &Datastore,
    req: TreeBackupRequest,
    context: &str,
) -> Result<BackupReport, NodeError> {
    let ds = ds.clone();
    tokio::task::spawn_blocking(move || backup_tree(&ds, &req))
        .await
        .map_err(NodeError::failed("backup worker"))?
        .map_err(node_error(context))
}
