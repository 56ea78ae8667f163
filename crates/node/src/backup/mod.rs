//! Backups of this node's guests to `dir` storages with `content backup` (brigade-backup's
//! datastore), restores, verify and prune: each a [`BackupOp`] run on the node that must do it.
//!
//! A backup runs on the node that runs the guest (the API forwards it there), a listing,
//! verify, prune and restore on the node named in the path: a backup storage marked
//! `shared 1` is seen by every node, so any node lists and restores its backups.

mod content;
mod freeze;
pub(crate) mod jobs;
pub(crate) mod lock;
mod restore;
mod run;
mod run_ct;

use std::sync::Arc;

use brigade_access::{AclPath, Authid, Permissions, Privilege as P};
use brigade_api::backup::BackupOp;
use brigade_backup::{BackupError, Datastore};
use serde_json::Value;

use crate::error::NodeError;
use crate::node::Node;

/// Proxmox's task type of a backup.
pub const BACKUP_TASK: &str = "vzdump";
/// Proxmox's task type of a restore.
pub const RESTORE_TASK: &str = "qmrestore";

/// A backup error as the API answers it, `context` saying what was being done.
pub(crate) fn node_error(context: &str) -> impl FnOnce(BackupError) -> NodeError + '_ {
    move |e| match e {
        BackupError::Invalid(m) => NodeError::Invalid(m),
        BackupError::NotFound(m) => NodeError::NotFound(m),
        BackupError::Exists(m) => NodeError::Conflict(m),
        full @ BackupError::StorageFull { .. } => {
            NodeError::Insufficient(format!("{context}: {full}"))
        }
        other => NodeError::Failed {
            context: context.to_string(),
            source: Box::new(other),
        },
    }
}

/// A privilege on a path, refused with the caller and what is missing.
fn need(
    perms: &Permissions<'_>,
    caller: &Authid,
    path: &str,
    privs: &[brigade_access::Privilege],
) -> Result<(), NodeError> {
    let path: AclPath = path
        .parse()
        .map_err(|_| NodeError::Invalid(format!("invalid ACL path {path:?}")))?;
    perms
        .check_any(caller, &path, privs)
        .map_err(|d| NodeError::Forbidden(format!("{caller}: {d}")))
}

/// What `caller` needs for `op` (checked again where it runs, after a forward):
/// a backup VM.Backup on the guest and Datastore.AllocateSpace on the storage, a restore
/// VM.Allocate on the VMID and the target storage's space plus Datastore.Audit on the
/// backup storage, list/verify Datastore.Audit, prune Datastore.Allocate (as Proxmox).
pub(crate) fn check(
    perms: &Permissions<'_>,
    caller: &Authid,
    op: &BackupOp,
) -> Result<(), NodeError> {
    let storage = |s: &str| format!("/storage/{s}");
    match op {
        BackupOp::Run {
            vmid, storage: s, ..
        } => {
            need(perms, caller, &format!("/vms/{vmid}"), &[P::VmBackup])?;
            need(perms, caller, &storage(s), &[P::DatastoreAllocateSpace])
        }
        BackupOp::List { storage: s, .. } => need(
            perms,
            caller,
            &storage(s),
            &[P::DatastoreAudit, P::DatastoreAllocateSpace],
        ),
        BackupOp::Restore {
            vmid,
            archive,
            storage: target,
            ..
        } => {
            need(perms, caller, &format!("/vms/{vmid}"), &[P::VmAllocate])?;
            let (from, _, _) = content::parse_volid(archive)?;
            need(
                perms,
                caller,
                &storage(&from),
                &[P::DatastoreAudit, P::DatastoreAllocateSpace],
            )?;
            match target {
                Some(t) => need(perms, caller, &storage(t), &[P::DatastoreAllocateSpace]),
                None => Ok(()),
            }
        }
        BackupOp::Verify { storage: s, .. } => {
            need(perms, caller, &storage(s), &[P::DatastoreAudit])
        }
        BackupOp::Prune { storage: s, .. } => {
            need(perms, caller, &storage(s), &[P::DatastoreAllocate])
        }
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, NodeError> {
    serde_json::to_value(v).map_err(NodeError::internal)
}

impl Node {
    /// Runs a backup operation on this node.
    pub(crate) async fn backup_op(self: &Arc<Self>, op: BackupOp) -> Result<Value, NodeError> {
        match op {
            BackupOp::Run {
                vmid,
                storage,
                mode,
                bwlimit,
            } => to_value(self.start_backup(vmid, &storage, mode, bwlimit).await?),
            BackupOp::List { storage, vmid } => {
                let me = self.clone();
                blocking(move || me.backup_content(&storage, vmid)).await
            }
            BackupOp::Restore {
                vmid,
                archive,
                storage,
                force,
            } => to_value(self.start_restore(vmid, &archive, storage, force)?),
            BackupOp::Verify { storage, volid } => {
                let me = self.clone();
                blocking(move || me.verify_backups(&storage, volid.as_deref())).await
            }
            BackupOp::Prune { storage, request } => {
                let me = self.clone();
                blocking(move || me.prune_backups(&storage, &request)).await
            }
        }
    }

    /// The datastore of backup storage `id` on this node; a storage that is missing, not
    /// a `dir` with `content backup`, or not on this node is refused.
    pub(crate) fn backup_store(&self, id: &str) -> Result<Datastore, NodeError> {
        let (cfg, _) = self.storage_cfg()?;
        let s = cfg.get(id).map_err(|_| {
            NodeError::NotFound(format!(
                "storage {id:?} does not exist (see 'brigade storage list')"
            ))
        })?;
        if s.disable {
            return Err(NodeError::Invalid(format!("storage {id:?} is disabled")));
        }
        brigade_backup::storage::open_storage(
            s,
            self.config.name.as_str(),
            &self.config.state_dir(),
        )
        .map_err(node_error("cannot open the backup storage"))
    }
}

/// Runs file work off the async threads; its answer as JSON.
async fn blocking<T: serde::Serialize + Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<Value, NodeError> {
    let out = tokio::task::spawn_blocking(f)
        .await
        .map_err(NodeError::failed("backup worker"))??;
    to_value(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_api::backup::{DumpMode, PruneRequest};

    fn vmid(v: u32) -> brigade_core::VmId {
        brigade_core::VmId::try_from(v).expect("vmid")
    }

    #[test]
    fn a_backup_needs_the_guest_and_the_storage_and_a_restore_reads_the_archives_storage() {
        let cfg = brigade_access::parse_user_cfg(
            "user:op@pve:1:0::::::\nacl:1:/vms/100:op@pve:PVEVMUser:\n\
             acl:1:/storage/backups:op@pve:PVEDatastoreUser:\n",
        )
        .expect("user.cfg");
        let perms = Permissions::new(&cfg, 1_800_000_000);
        let op: Authid = "op@pve".parse().expect("id");
        let run = |v: u32, storage: &str| BackupOp::Run {
            vmid: vmid(v),
            storage: storage.into(),
            mode: DumpMode::Snapshot,
            bwlimit: None,
        };
        check(&perms, &op, &run(100, "backups")).expect("VM.Backup and the storage's space");
        let e = check(&perms, &op, &run(200, "backups")).expect_err("not its guest");
        assert!(e.to_string().contains("VM.Backup"), "{e}");
        let e = check(&perms, &op, &run(100, "other")).expect_err("not its storage");
        assert!(e.to_string().contains("Datastore"), "{e}");
        let list = BackupOp::List {
            storage: "backups".into(),
            vmid: None,
        };
        check(&perms, &op, &list).expect("audits its storage");
        // A restore makes a VM: PVEVMUser has no VM.Allocate.
        let restore = BackupOp::Restore {
            vmid: vmid(100),
            archive: "backups:backup/vm/100/2026-12-01T16:03:20Z".into(),
            storage: None,
            force: false,
        };
        let e = check(&perms, &op, &restore).expect_err("no VM.Allocate");
        assert!(e.to_string().contains("VM.Allocate"), "{e}");
        let prune = BackupOp::Prune {
            storage: "backups".into(),
            request: PruneRequest::default(),
        };
        assert!(
            check(&perms, &op, &prune).is_err(),
            "prune needs Datastore.Allocate"
        );
        let root: Authid = "root@pam".parse().expect("root");
        let bad = BackupOp::Restore {
            vmid: vmid(100),
            archive: "backups:nonsense".into(),
            storage: None,
            force: false,
        };
        let e = check(&perms, &root, &bad).expect_err("not a volume id");
        assert!(e.to_string().contains("STORAGE:backup/vm/VMID/TIME"), "{e}");
    }
}
