//! `lock: backup` on a guest's config for the duration of a vzdump, as Proxmox: taken before the task starts, cleared on every path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_backup::Abort;
use brigade_core::layout::GuestKind;
use brigade_core::{poll_until, VmId};
use brigade_guest::{GuestLock, VmConfig};

use crate::error::NodeError;
use crate::guests::{config_lock, Located};
use crate::node::Node;
use crate::tasks::TaskHandle;

/// How long clearing the lock keeps trying (a config written meanwhile, a leader change).
pub(super) const UNLOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// How often it tries again.
const UNLOCK_RETRY: Duration = Duration::from_millis(200);

/// An [`Abort`] set when someone stops `task`; the watcher is to be aborted after the backup.
pub(crate) fn abort_on_stop(task: &TaskHandle) -> (Abort, tokio::task::JoinHandle<()>) {
    let abort = Abort::default();
    let (t, a) = (task.clone(), abort.clone());
    let watcher = tokio::spawn(async move {
        t.stopped().await;
        a.abort();
    });
    (abort, watcher)
}

impl Node {
    /// Writes `lock: backup` into guest `vmid`'s config (of this node), refusing a guest that is
    /// already locked or whose config does not parse; the config as it was comes back.
    pub(crate) async fn take_backup_lock(
        self: &Arc<Self>,
        kind: GuestKind,
        vmid: VmId,
    ) -> Result<Located, NodeError> {
        let noun = crate::guests::noun(kind);
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let l = self.local_guest(kind, vmid)?;
        if let Some(lock) = config_lock(&l.text) {
            return Err(NodeError::Conflict(format!(
                "{noun} {vmid} is locked ({lock}): wait for that operation to end"
            )));
        }
        match kind {
            GuestKind::Qemu => drop(VmConfig::parse(&l.text)?),
            GuestKind::Lxc => drop(brigade_guest::CtConfig::parse(&l.text)?),
        }
        let locked = crate::guests::with_lock(&l.text, Some(GuestLock::Backup))?;
        self.write_guest_config(&l.path, locked, Some(l.version))
            .await?;
        Ok(l)
    }

    /// Removes `lock: backup` from guest `vmid`'s config (a lock of another kind stays);
    /// whether the config is unlocked now. Tries again for [`UNLOCK_TIMEOUT`].
    pub(super) async fn release_backup_lock(self: &Arc<Self>, kind: GuestKind, vmid: VmId) -> bool {
        let deadline = Instant::now() + UNLOCK_TIMEOUT;
        poll_until(deadline, UNLOCK_RETRY, || self.try_release(kind, vmid))
            .await
            .is_ok()
    }

    /// Clears the lock after a backup, saying so in its task (or how to clear it by hand).
    pub(crate) async fn unlock_after_backup(
        self: &Arc<Self>,
        task: &TaskHandle,
        kind: GuestKind,
        vmid: VmId,
    ) {
        if self.release_backup_lock(kind, vmid).await {
            task.log("lock: backup cleared");
        } else {
            task.log(format!(
                "cannot clear lock: backup of {} {vmid}; clear it with 'brigade {} unlock {vmid}'",
                crate::guests::noun(kind),
                if kind == GuestKind::Qemu { "vm" } else { "ct" }
            ));
        }
    }

    async fn try_release(self: &Arc<Self>, kind: GuestKind, vmid: VmId) -> bool {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let Ok(l) = self.local_guest(kind, vmid) else {
            // Gone from this node (removed by hand): nothing of ours is left to clear.
            return true;
        };
        if crate::guests::lock_in(&l.text) != Some(GuestLock::Backup) {
            return true;
        }
        let Ok(text) = crate::guests::without_lock(&l.text) else {
            return false;
        };
        match self
            .write_guest_config(&l.path, text, Some(l.version))
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(vmid = vmid.get(), "cannot clear lock: backup yet: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use brigade_core::layout::GuestKind;
    use brigade_guest::GuestLock;

    use crate::guests::{with_lock, without_lock};

    fn vmid() -> brigade_core::VmId {
        brigade_core::VmId::try_from(100).expect("vmid")
    }

    #[test]
    fn a_backup_lock_refuses_changes_but_not_a_stop_and_goes_without_a_trace() {
        let text = "memory: 512\nscsi0: local:100/vm-100-disk-0.qcow2\n";
        let locked = with_lock(text, Some(GuestLock::Backup)).expect("lock");
        assert!(locked.contains("lock: backup"), "{locked}");
        let lock = crate::guests::lock_in(&locked);
        assert_eq!(lock, Some(GuestLock::Backup));
        // Migrate, destroy, config and disk changes check the lock as it is: refused.
        let e = crate::guests::check_unlocked(GuestKind::Qemu, vmid(), lock).expect_err("locked");
        assert!(e.to_string().contains("VM 100 is locked (backup)"), "{e}");
        let e = crate::guests::check_unlocked(GuestKind::Lxc, vmid(), lock).expect_err("locked");
        assert!(
            e.to_string().contains("container 100 is locked (backup)"),
            "{e}"
        );
        // A stop or shutdown sees no lock in a backup's, but does in any other.
        assert_eq!(crate::guests::stop_refused_by(lock), None);
        assert_eq!(
            crate::guests::stop_refused_by(Some(GuestLock::Migrate)),
            Some(GuestLock::Migrate)
        );
        // Unlocked, the config is byte for byte what it was.
        assert_eq!(without_lock(&locked).expect("unlock"), text);
    }
}
