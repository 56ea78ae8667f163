//! `qmrestore`/`pct restore` as a task: a backup becomes guest `vmid` on this node (a VM's
//! disks, a container's root tree) on a chosen storage, every chunk's hash checked before
//! a disk or tree appears; an existing VMID needs force.

use std::path::PathBuf;
use std::sync::Arc;

use brigade_api::tasks::TaskStarted;
use brigade_backup::restore_config::{restore_config, restore_ct_config, RestoredDisk};
use brigade_backup::{restore_tree, Datastore, GuestType, RestoreRequest, SnapshotId, ROOTFS_SLOT};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::{CtConfig, Storage, VmConfig};

use super::content::{parse_volid, snapshot_of};
use super::{node_error, RESTORE_TASK};
use crate::error::NodeError;
use crate::guests::Located;
use crate::node::Node;
use crate::tasks::TaskHandle;

/// Everything a restore needs, checked before its task starts.
struct Plan {
    ds: Datastore,
    snapshot: SnapshotId,
    archive: String,
    vmid: VmId,
    /// What the backup holds (and the restore makes).
    kind: GuestKind,
    config: String,
    disks: Vec<(RestoredDisk, PathBuf)>,
    /// The guest it overwrites (with force).
    existing: Option<Located>,
    force: bool,
}

impl Node {
    /// Starts restoring backup `archive` as VM `vmid` here; the task's id comes back at
    /// once. Refused before it starts: a VMID that exists without `force` (or, with it, one
    /// that runs, is locked or lives on another node), an unknown backup or storage.
    pub(crate) fn start_restore(
        self: &Arc<Self>,
        vmid: VmId,
        archive: &str,
        storage: Option<String>,
        force: bool,
    ) -> Result<TaskStarted, NodeError> {
        self.quorum_gate()()?;
        let plan = self.restore_plan(vmid, archive, storage, force)?;
        let task = self.guests.tasks.begin(
            RESTORE_TASK,
            &vmid.to_string(),
            &crate::tasks::caller::current(),
            &format!("restoring {archive} as guest {vmid}"),
        )?;
        let started = TaskStarted {
            upid: task.upid().to_string(),
            node: self.config.name.to_string(),
        };
        let me = self.clone();
        tokio::spawn(async move {
            let out = me.run_restore(&task, plan).await;
            if let Err(e) = &out {
                task.log(format!("restore of guest {vmid} failed: {e}"));
            }
            task.finish(out.as_ref().copied());
        });
        Ok(started)
    }

    fn restore_plan(
        &self,
        vmid: VmId,
        archive: &str,
        storage: Option<String>,
        force: bool,
    ) -> Result<Plan, NodeError> {
        let rt = self.require_cluster()?;
        let (from, _, _) = parse_volid(archive)?;
        let ds = self.backup_store(&from)?;
        let snapshot = snapshot_of(&ds, archive)?;
        let manifest = ds
            .manifest(&snapshot)
            .map_err(node_error("cannot read the backup"))?;
        let kind = match manifest.kind {
            GuestType::Qemu => GuestKind::Qemu,
            GuestType::Lxc => GuestKind::Lxc,
        };
        let existing = crate::guests::find_guest(&rt.cfs, vmid);
        if let Some(l) = &existing {
            let what = format!("{} {vmid}", crate::guests::noun(l.kind));
            if !force {
                return Err(NodeError::Conflict(format!(
                    "{what} exists already on node {}: restoring onto it needs --force (it is overwritten), or restore under a new VMID",
                    l.node
                )));
            }
            if l.kind != kind || l.node != self.config.name.as_str() {
                return Err(NodeError::Conflict(format!(
                    "{what} is on node {}: overwrite it there (restore on node {0} with --force)",
                    l.node
                )));
            }
            if self.guest_pid(l.kind, vmid.get()).is_some() {
                return Err(NodeError::Conflict(format!(
                    "{what} is running: stop it before overwriting it"
                )));
            }
            if let Some(lock) = crate::guests::config_lock(&l.text) {
                return Err(NodeError::Conflict(format!("{what} is locked ({lock})")));
            }
        }
        let target = match (storage, kind) {
            (Some(s), _) => s,
            (None, GuestKind::Qemu) => VmConfig::parse(&manifest.config)?
                .storages()
                .into_iter()
                .next()
                .ok_or_else(|| {
                    NodeError::Invalid("the backup has no disk: give --storage".into())
                })?,
            (None, GuestKind::Lxc) => CtConfig::parse(&manifest.config)?.rootfs.storage,
        };
        let content = match kind {
            GuestKind::Qemu => "images",
            GuestKind::Lxc => "rootdir",
        };
        let (scfg, _) = self.storage_cfg()?;
        let s = scfg.get(&target)?;
        if !s.content.iter().any(|c| c == content) {
            return Err(NodeError::Invalid(format!(
                "storage {target:?} does not hold what the backup restores (content {content})"
            )));
        }
        if !s.available_on(self.config.name.as_str()) {
            return Err(NodeError::Insufficient(format!(
                "storage {target:?} is not available on node {}",
                self.config.name
            )));
        }
        let root = self.storage_root(s);
        let (config, restored) = match kind {
            GuestKind::Qemu => restore_config(&manifest.config, vmid.get(), &target),
            GuestKind::Lxc => {
                restore_ct_config(&manifest.config, vmid.get(), &target).map(|(text, volume)| {
                    let d = RestoredDisk {
                        slot: ROOTFS_SLOT.to_string(),
                        volume,
                        format: "subvol".to_string(),
                    };
                    (text, vec![d])
                })
            }
        }
        .map_err(node_error("cannot restore the config"))?;
        let mut disks = Vec::new();
        for d in restored {
            if manifest.disk(&d.slot).is_none() {
                return Err(NodeError::Invalid(format!(
                    "the backup has no image of disk {}",
                    d.slot
                )));
            }
            let path = Storage::volume_path(&root, &d.volume);
            disks.push((d, path));
        }
        Ok(Plan {
            ds,
            snapshot,
            archive: archive.to_string(),
            vmid,
            kind,
            config,
            disks,
            existing,
            force,
        })
    }

    async fn run_restore(self: &Arc<Self>, task: &TaskHandle, plan: Plan) -> Result<(), NodeError> {
        let lock = self.guests.op_lock(plan.vmid.get());
        let _g = lock.lock().await;
        let made: Vec<PathBuf> = plan
            .disks
            .iter()
            .filter(|(_, p)| !p.exists())
            .map(|(_, p)| p.clone())
            .collect();
        let out = self.restore_disks_and_config(task, &plan).await;
        if out.is_err() {
            // A failed restore leaves no new image behind (overwritten ones are replaced
            // only once complete, so they are intact).
            for p in made {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(p)
                } else {
                    std::fs::remove_file(p)
                };
            }
        }
        out
    }

    async fn restore_disks_and_config(
        self: &Arc<Self>,
        task: &TaskHandle,
        plan: &Plan,
    ) -> Result<(), NodeError> {
        for (d, path) in &plan.disks {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(NodeError::failed(format!(
                    "cannot create {}",
                    dir.display()
                )))?;
            }
            if plan.kind == GuestKind::Lxc {
                let (ds, snapshot, target, force) =
                    (plan.ds.clone(), plan.snapshot, path.clone(), plan.force);
                let r = tokio::task::spawn_blocking(move || {
                    restore_tree(&ds, &snapshot, &target, force)
                })
                .await
                .map_err(NodeError::failed("restore worker"))?
                .map_err(node_error("cannot restore the root directory"))?;
                task.log(format!(
                    "rootfs: unpacked an archive of {} bytes ({} chunks, every hash checked) to {}",
                    r.size, r.chunks, d.volume
                ));
                continue;
            }
            let req = RestoreRequest {
                snapshot: plan.snapshot,
                slot: d.slot.clone(),
                target: path.clone(),
                format: d.format.clone(),
                force: plan.force,
            };
            let ds = plan.ds.clone();
            let r = tokio::task::spawn_blocking(move || brigade_backup::restore(&ds, &req))
                .await
                .map_err(NodeError::failed("restore worker"))?
                .map_err(node_error(&format!("cannot restore disk {}", d.slot)))?;
            task.log(format!(
                "{}: restored {} bytes ({} chunks, every hash checked) to {} (sha256 {})",
                d.slot, r.size, r.chunks, d.volume, r.sha256
            ));
        }
        let rt = self.require_cluster()?;
        let (path, expect, exclusive) = match &plan.existing {
            Some(l) => (l.path.clone(), Some(l.version), false),
            None => (
                plan.kind.config_path(&self.config.name, plan.vmid),
                Some(0),
                true,
            ),
        };
        rt.cfs
            .propose(brigade_cfs::Op::Write {
                path,
                data: plan.config.clone().into_bytes(),
                expect_version: expect,
                create_exclusive: exclusive,
            })
            .await
            .map_err(|e| match e {
                brigade_cfs::CfsError::GuestIdTaken { vmid, path } => {
                    NodeError::Conflict(format!("{vmid} was created meanwhile ({path})"))
                }
                other => other.into(),
            })?;
        task.log(format!(
            "{} {} restored from {} on node {}",
            crate::guests::noun(plan.kind),
            plan.vmid,
            plan.archive,
            self.config.name
        ));
        Ok(())
    }
}
