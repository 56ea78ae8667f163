//! `vzdump` of a guest of this node as a task; a VM live through QMP (fleecing and dirty
//! bitmaps, incremental after the first), or from its image files when it is stopped
//! (containers: run_ct.rs).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use brigade_api::backup::{backup_volid, DumpMode};
use brigade_api::tasks::TaskStarted;
use brigade_backup::{
    backup_files, backup_live, Abort, BackupMode, BackupReport, Datastore, DiskFile,
    FileBackupRequest, LiveBackupRequest,
};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::VmConfig;

use super::{node_error, BACKUP_TASK};
use crate::error::NodeError;
use crate::guests::Located;
use crate::node::Node;
use crate::tasks::TaskHandle;

/// How long a guest is given to shut down for a `stop` mode backup.
pub(super) const STOP_MODE_SHUTDOWN_SECS: u64 = 60;

/// `n` bytes in MiB, for the task log.
fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// The per-guest directory of a live backup's fleecing overlays and NBD socket: short
/// (a Unix socket path), private to this daemon.
fn work_dir(vmid: VmId) -> PathBuf {
    std::env::temp_dir().join(format!("brigade-bk-{}-{vmid}", std::process::id()))
}

impl Node {
    /// Starts backing up guest `vmid` (of this node) to backup storage `storage`; the task's
    /// id comes back at once. Bad input (no such guest or storage, not a backup storage, a
    /// locked guest) is refused before the task starts. The guest's config carries
    /// `lock: backup` from here until the task ends, however it ends; a stop of the task
    /// aborts the backup.
    pub(crate) async fn start_backup(
        self: &Arc<Self>,
        vmid: VmId,
        storage: &str,
        mode: DumpMode,
        bwlimit: Option<u64>,
    ) -> Result<TaskStarted, NodeError> {
        let rt = self.require_cluster()?;
        let kind = crate::guests::find_guest(&rt.cfs, vmid).map_or(GuestKind::Qemu, |l| l.kind);
        let noun = crate::guests::noun(kind);
        self.local_guest(kind, vmid)?;
        let ds = self.backup_store(storage)?;
        self.take_backup_lock(kind, vmid).await?;
        let task = match self.guests.tasks.begin(
            BACKUP_TASK,
            &vmid.to_string(),
            &crate::tasks::caller::current(),
            &format!(
                "starting backup of {noun} {vmid} to storage {storage} (mode {})",
                mode.as_str()
            ),
        ) {
            Ok(t) => t,
            Err(e) => {
                self.release_backup_lock(kind, vmid).await;
                return Err(e);
            }
        };
        let started = TaskStarted {
            upid: task.upid().to_string(),
            node: self.config.name.to_string(),
        };
        let me = self.clone();
        let storage = storage.to_string();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let (abort, watcher) = super::lock::abort_on_stop(&task);
            let out = match kind {
                GuestKind::Qemu => {
                    me.run_backup(&task, &ds, &storage, vmid, mode, bwlimit, &abort)
                        .await
                }
                GuestKind::Lxc => {
                    me.run_ct_backup(&task, &ds, &storage, vmid, mode, bwlimit, &abort)
                        .await
                }
            };
            watcher.abort();
            match &out {
                Ok(r) => {
                    let secs = t0.elapsed().as_secs_f64().max(0.001);
                    task.log(format!(
                        "backup finished in {secs:.2} s: read {} bytes, wrote {} bytes, reused {} bytes ({:.1} MiB/s read)",
                        r.stats.read_bytes,
                        r.stats.written_bytes,
                        r.stats.reused_bytes,
                        r.stats.read_bytes as f64 / (1024.0 * 1024.0) / secs
                    ));
                    task.log(format!(
                        "archive {}",
                        backup_volid(&storage, vmid.get(), &r.snapshot.time_string())
                    ));
                }
                Err(e) => task.log(format!("backup of {noun} {vmid} failed: {e}")),
            }
            me.unlock_after_backup(&task, kind, vmid).await;
            task.finish(out.as_ref().map(|_| ()));
        });
        Ok(started)
    }

    /// The backup itself, under `lock: backup` (not the operation lock: the guest may be
    /// stopped meanwhile, which fails the backup).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_backup(
        self: &Arc<Self>,
        task: &TaskHandle,
        ds: &Datastore,
        storage: &str,
        vmid: VmId,
        mode: DumpMode,
        bwlimit: Option<u64>,
        abort: &Abort,
    ) -> Result<BackupReport, NodeError> {
        let l = self.local_guest(GuestKind::Qemu, vmid)?;
        let running = self.guest_pid(GuestKind::Qemu, vmid.get()).is_some();
        let report = match (running, mode) {
            (true, DumpMode::Snapshot | DumpMode::Suspend) => {
                let m = if mode == DumpMode::Suspend {
                    task.log("suspending the guest for the backup");
                    BackupMode::Suspend
                } else {
                    BackupMode::Snapshot
                };
                let cfg = VmConfig::parse(&l.text)?;
                let req = LiveBackupRequest {
                    vmid: vmid.get(),
                    config: crate::guests::without_lock(&l.text)?,
                    slots: cfg
                        .disks
                        .iter()
                        .filter(|d| !d.cdrom)
                        .map(|d| d.slot.clone())
                        .collect(),
                    qmp_socket: self.guests.run.qmp(vmid.get()),
                    time: chrono::Utc::now(),
                    mode: m,
                    bwlimit_kib: bwlimit,
                    work_dir: work_dir(vmid),
                    abort: abort.clone(),
                };
                task.log("backing up the running guest live (fleecing, dirty bitmaps)");
                let out = backup_live(ds, &req)
                    .await
                    .map_err(node_error(&format!("backup to storage {storage} failed")));
                let _ = std::fs::remove_dir_all(&req.work_dir);
                out?
            }
            (true, DumpMode::Stop) => {
                task.log(format!(
                    "shutting the guest down for the backup (timeout {STOP_MODE_SHUTDOWN_SECS} s)"
                ));
                self.shutdown_guest(&l, Some(STOP_MODE_SHUTDOWN_SECS), true)
                    .await?;
                let out = self.backup_images(ds, storage, &l, bwlimit, abort).await;
                task.log("starting the guest again");
                let again = self.local_guest(GuestKind::Qemu, vmid)?;
                // The backup's own lock does not stop it starting the guest again.
                let again = Located {
                    text: crate::guests::without_lock(&again.text)?,
                    ..again
                };
                self.start_guest(&again, &self.quorum_gate()).await?;
                out?
            }
            (false, _) => {
                task.log("the guest is stopped: reading its image files");
                self.backup_images(ds, storage, &l, bwlimit, abort).await?
            }
        };
        for d in &report.manifest.disks {
            task.log(format!(
                "{}: {} read of {}: read {}, wrote {}, reused {}",
                d.slot,
                match d.read_mode {
                    brigade_backup::manifest::ReadMode::Full => "full",
                    brigade_backup::manifest::ReadMode::Incremental => "incremental",
                },
                mib(d.size),
                mib(d.read_bytes),
                mib(d.written_bytes),
                mib(d.reused_bytes)
            ));
        }
        Ok(report)
    }

    /// A stopped guest's disks, read from their image files.
    async fn backup_images(
        &self,
        ds: &Datastore,
        storage: &str,
        l: &Located,
        bwlimit: Option<u64>,
        abort: &Abort,
    ) -> Result<BackupReport, NodeError> {
        let cfg = VmConfig::parse(&l.text)?;
        let (scfg, _) = self.storage_cfg()?;
        let mut disks = Vec::new();
        for d in cfg.disks.iter().filter(|d| !d.cdrom) {
            let (_, path) = self.resolve_volume(&scfg, &d.volume)?;
            disks.push(DiskFile {
                slot: d.slot.clone(),
                path,
            });
        }
        let req = FileBackupRequest {
            vmid: l.vmid.get(),
            config: crate::guests::without_lock(&l.text)?,
            disks,
            time: chrono::Utc::now(),
            bwlimit_kib: bwlimit,
            abort: abort.clone(),
        };
        let ds = ds.clone();
        let context = format!("backup to storage {storage} failed");
        tokio::task::spawn_blocking(move || backup_files(&ds, &req))
            .await
            .map_err(NodeError::failed("backup worker"))?
            .map_err(node_error(&context))
    }
}
