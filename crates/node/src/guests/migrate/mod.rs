//! Migration: live (QEMU `-incoming -S` on the target, QMP `migrate` on the source, the
//! stream through the mTLS tunnel) and offline (local volumes copied). The config moves
//! to the target (a cfs rename, compare-and-swapped on the version the migration
//! locked) only once the target holds the whole guest, paused; the target runs it only
//! once the config is there, and the source resumes only when the move can no longer
//! commit. So exactly one copy ever runs, whatever fails in between.

mod handover;
mod incoming;
mod live;
mod network;
mod offline;
mod stale;
mod states;
mod targets;
mod unlock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_cfs::Op;
use brigade_core::layout::{self, GuestKind};
use brigade_core::{NodeName, VmId};
use brigade_guest::GuestLock;

pub use handover::Handover;
pub use incoming::INCOMING_RECONCILE_INTERVAL;

use super::common::{check_unlocked, with_lock};
use super::locate::{noun, Located};
use super::power::lock_of;
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};
use brigade_api::guests::GuestRequest;
use brigade_api::tasks::TaskStarted;

/// How often a live migration's progress is polled.
pub const MIGRATION_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often the source asks its QEMU whether the migration completed: the guest stays
/// paused until the source sees it (the target resumes only after the handover), so
/// this adds up to one interval to the switch-over as the guest feels it.
pub const MIGRATION_STATUS_POLL: Duration = Duration::from_millis(5);
/// The pause QEMU may plan for the switch-over at first (`downtime-limit`; QEMU's own
/// default is 300 ms): it copies until what is left fits, so the guest feels little.
pub const DOWNTIME_LIMIT_START_MS: u64 = 30;
/// The largest `downtime-limit` a migration that does not converge is raised to (QEMU's
/// default: never worse than leaving it alone).
pub const DOWNTIME_LIMIT_MAX_MS: u64 = 300;
/// How long a migration runs at one `downtime-limit` before it is doubled.
pub const DOWNTIME_RAISE_INTERVAL: Duration = Duration::from_secs(3);
/// The buffer each direction of a migration stream's relay copies through (the
/// default 8 KiB costs a syscall and a TLS record per 8 KiB).
pub const MIGRATION_COPY_BUFFER: usize = 256 * 1024;
/// How often the target is asked whether it holds the whole guest, once the source
/// completed (the guest is paused on both sides meanwhile).
pub const TARGET_CONFIRM_POLL: Duration = Duration::from_millis(2);
/// How long the target may take to report the whole guest received after the source
/// completed, and to report it running after the handover.
pub const TARGET_RESUME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long QEMU may take to connect to the tunnel's local end.
pub const TUNNEL_ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// datacenter.cfg's `bwlimit: migration=KiB/s` (or `default=`), as Proxmox reads it.
fn migration_bwlimit_kib(rt: &ClusterRuntime) -> Option<u64> {
    let text = cfs_path(layout::DATACENTER_CFG)
        .ok()
        .and_then(|p| rt.cfs.read(&p).ok())?;
    let kv = brigade_core::key_value::KeyValueConfig::parse(&String::from_utf8_lossy(&text.data))
        .ok()?;
    bwlimit_of(kv.get("bwlimit")?, "migration")
}

/// The limit for `what` in a `bwlimit` value (`default=N,migration=N,...`, KiB/s).
fn bwlimit_of(value: &str, what: &str) -> Option<u64> {
    let item = |key: &str| {
        value
            .split(',')
            .filter_map(|i| i.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .filter(|v| *v > 0)
    };
    item(what).or_else(|| item("default"))
}

impl Node {
    /// Checks a migration, locks the guest and starts the task.
    pub(crate) async fn start_migration(
        self: &Arc<Self>,
        kind: GuestKind,
        vmid: VmId,
        target: &str,
        online: bool,
    ) -> Result<TaskStarted, NodeError> {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let l = self.local_guest(kind, vmid)?;
        let what = format!("{} {vmid}", noun(kind));
        if target == self.config.name.as_str() {
            return Err(NodeError::Invalid(format!(
                "{what} is already on node {target}"
            )));
        }
        let rt = self.require_cluster()?.clone();
        target
            .parse::<NodeName>()
            .map_err(|e| NodeError::Invalid(format!("target node: {e}")))?;
        let addr = self.peer_rpc(&rt, target).await?;
        check_unlocked(kind, vmid, lock_of(&l))?;
        if !rt.cfs.is_quorate() {
            return Err(brigade_cfs::CfsError::NotQuorate.into());
        }
        let running = self.guest_pid(kind, vmid.get()).is_some();
        if kind == GuestKind::Lxc && running {
            return Err(NodeError::Conflict(format!(
                "{what} is running; containers migrate offline: stop it first"
            )));
        }
        if running && !online {
            return Err(NodeError::Conflict(format!(
                "{what} is running; use --online for a live migration, or stop it first"
            )));
        }
        let live = running && online;
        let targets::Needs {
            storages,
            memory_mib,
        } = self.migration_needs(kind, &l, live)?;
        self.guest_on(
            target,
            GuestRequest::Precheck {
                memory_mib,
                storages,
            },
        )
        .await
        .map_err(|e| match e {
            NodeError::Insufficient(m) => {
                NodeError::Insufficient(format!("cannot migrate {what}: {m}"))
            }
            NodeError::Unavailable(m) => {
                NodeError::Unavailable(format!("cannot migrate {what}: {m}"))
            }
            other => other,
        })?;
        let locked = with_lock(&l.text, Some(GuestLock::Migrate))?;
        let version = self
            .write_guest_config(&l.path, locked, Some(l.version))
            .await?;
        let task_kind = super::dispatch::task_type(kind, "migrate");
        let task = self.guests.tasks.begin(
            &task_kind,
            &vmid.to_string(),
            &crate::tasks::caller::current(),
            &format!(
                "starting {} migration of {what} from {} to {target}",
                if live { "live" } else { "offline" },
                self.config.name
            ),
        )?;
        let upid = task.upid().to_string();
        let me = self.clone();
        let target = target.to_string();
        tokio::spawn(async move {
            let started = Instant::now();
            let work = async {
                if live {
                    me.migrate_live(&l, version, &target, addr, &task, started)
                        .await
                } else {
                    me.migrate_offline(&l, version, &target, addr, &task, started)
                        .await
                }
            };
            // A stop is honoured by the migration itself, only before the handover.
            let outcome = work.await;
            match &outcome {
                Ok(r) => {
                    task.log(format!(
                        "migration finished in {} ms: transferred {} bytes",
                        r.total_time_ms, r.transferred_bytes
                    ));
                    if let Some(d) = r.downtime_ms {
                        task.log(format!("migration downtime: {d} ms"));
                    }
                    task.set_result(r.clone());
                    me.send_history(kind, vmid.get(), &target).await;
                }
                Err(e) => {
                    tracing::warn!(vmid = vmid.get(), "migration to {target} failed: {e}");
                    task.log(format!(
                        "migration to {target} failed; {what} stays on {}",
                        me.config.name
                    ));
                    // The guest stayed here (the handover never committed): unlock it,
                    // or the target keeps its paused copy waiting for the handover.
                    if !me.unlock_after_failed_migration(&l).await {
                        task.log(format!(
                            "{what} stays locked until the cluster takes the unlock; retrying"
                        ));
                    }
                }
            }
            task.finish(outcome.as_ref().map(|_| ()));
        });
        Ok(TaskStarted {
            upid,
            node: self.config.name.to_string(),
        })
    }

    /// Moves the config to the target, unlocked, in one atomic cfs batch that commits
    /// only if the config still has the version this migration locked.
    async fn move_config(
        &self,
        l: &Located,
        locked_version: u64,
        target: &str,
    ) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let to_node: NodeName = target
            .parse()
            .map_err(|e| NodeError::Invalid(format!("target node: {e}")))?;
        let to = l.kind.config_path(&to_node, l.vmid);
        let locked = with_lock(&l.text, Some(GuestLock::Migrate))?;
        let unlocked = with_lock(&l.text, None)?;
        rt.cfs
            .propose(Op::Batch {
                ops: vec![
                    // Still the version this migration locked: nobody changed it meanwhile.
                    Op::Write {
                        path: l.path.clone(),
                        data: locked.into_bytes(),
                        expect_version: Some(locked_version),
                        create_exclusive: false,
                    },
                    Op::Rename {
                        from: l.path.clone(),
                        to: to.clone(),
                    },
                    Op::Write {
                        path: to,
                        data: unlocked.into_bytes(),
                        expect_version: None,
                        create_exclusive: false,
                    },
                ],
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_migration_bandwidth_limit_is_proxmoxs_bwlimit() {
        assert_eq!(super::bwlimit_of("migration=1024", "migration"), Some(1024));
        assert_eq!(
            super::bwlimit_of("default=10,migration=20", "migration"),
            Some(20)
        );
        assert_eq!(
            super::bwlimit_of("default=10,restore=5", "migration"),
            Some(10)
        );
        assert_eq!(super::bwlimit_of("restore=5", "migration"), None);
        assert_eq!(super::bwlimit_of("migration=x", "migration"), None);
        assert_eq!(super::bwlimit_of("migration=0", "migration"), None);
    }
}
