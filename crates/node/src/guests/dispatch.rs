//! Routing guest requests: to the node that holds the guest (`forward.rs`), and running
//! them here, each long one as a task.

use std::sync::Arc;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde_json::{json, Value};

use super::locate::{self, noun};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::GuestRequest;

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, NodeError> {
    serde_json::to_value(v).map_err(NodeError::internal)
}

/// Proxmox's task type of a guest operation: `qmstart`, `qmigrate`, `vzdestroy`, ...
pub(crate) fn task_type(kind: GuestKind, action: &str) -> String {
    match (kind, action) {
        // Proxmox's one irregular name.
        (GuestKind::Qemu, "migrate") => "qmigrate".into(),
        (GuestKind::Qemu, _) => format!("qm{action}"),
        (GuestKind::Lxc, _) => format!("vz{action}"),
    }
}

/// What a guest request would do that HA decides for an HA-managed guest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HaAction {
    Start,
    Stop,
    Migrate(String),
    Destroy,
}

fn ha_action(req: &GuestRequest) -> Option<(brigade_ha::ServiceId, HaAction)> {
    use GuestRequest as R;
    let (kind, vmid, action) = match req {
        R::Start { kind, vmid } => (kind, vmid, HaAction::Start),
        R::Stop { kind, vmid } | R::Shutdown { kind, vmid, .. } => (kind, vmid, HaAction::Stop),
        R::Destroy { kind, vmid } => (kind, vmid, HaAction::Destroy),
        R::Migrate {
            kind, vmid, target, ..
        } => (kind, vmid, HaAction::Migrate(target.clone())),
        _ => return None,
    };
    Some((
        brigade_ha::ServiceId {
            kind: *kind,
            vmid: *vmid,
        },
        action,
    ))
}

/// The refusal of an HA-managed guest's start, stop, migration or destruction,
/// with the one `ha` command that does what was asked.
fn ha_refusal(sid: brigade_ha::ServiceId, action: &HaAction) -> String {
    match action {
        HaAction::Start => format!(
            "{sid} is HA-managed: HA starts it; use 'brigade ha set {sid} --state started'"
        ),
        HaAction::Stop => format!(
            "{sid} is HA-managed: HA would start it again; use 'brigade ha set {sid} --state stopped'"
        ),
        HaAction::Migrate(target) => format!(
            "{sid} is HA-managed: HA moves it (live while it runs); use 'brigade ha migrate {sid} {target}'"
        ),
        HaAction::Destroy => format!(
            "{sid} is HA-managed: take it out of HA first with 'brigade ha remove {sid}'"
        ),
    }
}

impl Node {
    /// Runs `req` where it belongs: where the guest lives, where the task runs, or here.
    pub async fn guest_request(self: &Arc<Self>, req: GuestRequest) -> Result<Value, NodeError> {
        use GuestRequest as R;
        let target = match &req {
            R::Start { kind, vmid }
            | R::Stop { kind, vmid }
            | R::Shutdown { kind, vmid, .. }
            | R::Reboot { kind, vmid }
            | R::Destroy { kind, vmid }
            | R::Status { kind, vmid }
            | R::Config { kind, vmid }
            | R::SetConfig { kind, vmid, .. }
            | R::Migrate { kind, vmid, .. }
            | R::MigrateTargets { kind, vmid }
            | R::ConsoleLog { kind, vmid, .. }
            | R::GuestRrd { kind, vmid, .. } => {
                let rt = self.require_cluster()?;
                locate::require(&rt.cfs, *kind, *vmid)?.node
            }
            R::Task { upid } => upid
                .split(':')
                .nth(1)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| NodeError::Invalid(format!("malformed task id {upid:?}")))?
                .to_string(),
            _ => self.config.name.to_string(),
        };
        self.guest_on(&target, req).await
    }

    /// Runs a guest operation as a task; its answer gains the task's `upid`.
    async fn as_task<F>(
        &self,
        kind: String,
        vmid: VmId,
        first: String,
        work: impl FnOnce(crate::tasks::TaskHandle) -> F,
    ) -> Result<Value, NodeError>
    where
        F: std::future::Future<Output = Result<Value, NodeError>> + Send + 'static,
    {
        let (upid, out) = self
            .guests
            .tasks
            .run(&kind, &vmid.to_string(), &first, work)
            .await;
        let mut v = out?;
        if let Value::Object(m) = &mut v {
            m.insert("upid".into(), Value::String(upid));
        }
        Ok(v)
    }

    /// A power operation on a guest of this node as a task: under the guest's operation
    /// lock, on its current location; it answers the guest's status afterwards.
    async fn power_task<F, Fut>(
        self: &Arc<Self>,
        kind: GuestKind,
        vmid: VmId,
        action: &str,
        first: String,
        op: F,
    ) -> Result<Value, NodeError>
    where
        F: FnOnce(Arc<Node>, super::locate::Located) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), NodeError>> + Send + 'static,
    {
        self.local_guest(kind, vmid)?;
        let me = self.clone();
        self.as_task(task_type(kind, action), vmid, first, move |_| async move {
            let lock = me.guests.op_lock(vmid.get());
            let _g = lock.lock().await;
            let l = me.local_guest(kind, vmid)?;
            op(me.clone(), l.clone()).await?;
            to_value(me.guest_status(&l).await?)
        })
        .await
    }

    /// Runs `req` on this node. Boxed: migration calls back into it for the target.
    pub fn handle_guest(
        self: &Arc<Self>,
        req: GuestRequest,
    ) -> futures::future::BoxFuture<'static, Result<Value, NodeError>> {
        let me = self.clone();
        Box::pin(async move { me.run_guest_request(req).await })
    }

    async fn run_guest_request(self: &Arc<Self>, req: GuestRequest) -> Result<Value, NodeError> {
        use GuestRequest as R;
        // HA-managed guests are started, stopped and moved by HA.
        if let Some((sid, action)) = ha_action(&req) {
            if self.ha_managed(sid) {
                return Err(NodeError::Conflict(ha_refusal(sid, &action)));
            }
        }
        // Nothing that starts, moves or changes a guest runs on a node without quorum
        // (stopping is allowed: it only reduces what runs).
        if matches!(
            req,
            R::Create { .. }
                | R::Start { .. }
                | R::Reboot { .. }
                | R::Destroy { .. }
                | R::SetConfig { .. }
                | R::Migrate { .. }
                | R::PrepareIncoming { .. }
        ) {
            self.quorum_gate()()?;
        }
        match req {
            R::Create {
                kind,
                vmid,
                params,
                ostemplate,
                start,
            } => {
                let me = self.clone();
                let first = format!("creating {} {vmid}", noun(kind));
                self.as_task(
                    task_type(kind, "create"),
                    vmid,
                    first,
                    move |task| async move {
                        let lock = me.guests.op_lock(vmid.get());
                        let _g = lock.lock().await;
                        let out = me.create_guest(kind, vmid, params, ostemplate).await?;
                        task.log(format!("{} {vmid} created", noun(kind)));
                        if start {
                            task.log(format!("starting {} {vmid}", noun(kind)));
                            let l = me.local_guest(kind, vmid)?;
                            me.start_guest(&l, &me.quorum_gate()).await?;
                        }
                        Ok(out)
                    },
                )
                .await
            }
            R::Start { kind, vmid } => {
                let first = format!("starting {} {vmid}", noun(kind));
                self.power_task(kind, vmid, "start", first, |me, l| async move {
                    me.start_guest(&l, &me.quorum_gate()).await
                })
                .await
            }
            R::Stop { kind, vmid } => {
                let first = format!("stopping {} {vmid}", noun(kind));
                self.power_task(kind, vmid, "stop", first, |me, l| async move {
                    me.stop_guest(&l).await
                })
                .await
            }
            R::Shutdown {
                kind,
                vmid,
                timeout_secs,
                force_stop,
            } => {
                let first = format!(
                    "shutting down {} {vmid}{}",
                    noun(kind),
                    timeout_secs
                        .map(|t| format!(" (timeout {t} s)"))
                        .unwrap_or_default()
                );
                self.power_task(kind, vmid, "shutdown", first, move |me, l| async move {
                    me.shutdown_guest(&l, timeout_secs, force_stop).await
                })
                .await
            }
            R::Reboot { kind, vmid } => {
                let first = format!("rebooting {} {vmid}", noun(kind));
                self.power_task(kind, vmid, "reboot", first, |me, l| async move {
                    me.reboot_guest(&l).await
                })
                .await
            }
            R::Destroy { kind, vmid } => {
                // Refused at once, not in a failed task (checked again under the lock).
                super::config_ops::check_not_protected(&self.local_guest(kind, vmid)?)?;
                let me = self.clone();
                let first = format!("destroying {} {vmid}", noun(kind));
                self.as_task(
                    task_type(kind, "destroy"),
                    vmid,
                    first,
                    move |_| async move {
                        let lock = me.guests.op_lock(vmid.get());
                        let _g = lock.lock().await;
                        let l = me.local_guest(kind, vmid)?;
                        me.destroy_guest(&l).await?;
                        Ok(json!({ "vmid": vmid.get(), "destroyed": true }))
                    },
                )
                .await
            }
            R::Status { kind, vmid } => {
                let l = self.local_guest(kind, vmid)?;
                to_value(self.guest_status(&l).await?)
            }
            R::Config { kind, vmid } => {
                let l = self.local_guest(kind, vmid)?;
                to_value(self.guest_config(&l)?)
            }
            R::SetConfig {
                kind,
                vmid,
                set,
                delete,
                digest,
            } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                to_value(self.set_guest_config(&l, set, delete, digest).await?)
            }
            R::Migrate {
                kind,
                vmid,
                target,
                online,
            } => to_value(self.start_migration(kind, vmid, &target, online).await?),
            R::MigrateTargets { kind, vmid } => to_value(self.migrate_targets(kind, vmid).await?),
            R::Task { upid } => to_value(self.guests.tasks.status(&upid)?),
            R::ConsoleLog {
                kind,
                vmid,
                tail_bytes,
            } => {
                let l = self.local_guest(kind, vmid)?;
                Ok(
                    json!({ "vmid": vmid.get(), "node": l.node, "output": self.console_log(&l, tail_bytes)? }),
                )
            }
            R::LocalStates => to_value(self.local_states()),
            R::Precheck {
                memory_mib,
                storages,
            } => {
                self.precheck_incoming(memory_mib, &storages)?;
                Ok(json!({ "ok": true }))
            }
            R::PrepareIncoming {
                vmid,
                config,
                insecure,
            } => self.prepare_incoming(vmid, &config, insecure).await,
            R::IncomingStatus { vmid } => Ok(json!({ "status": self.incoming_status(vmid).await })),
            R::AbortIncoming { vmid } => {
                self.abort_incoming(vmid).await?;
                Ok(json!({ "aborted": true }))
            }
            R::ResumeIncoming { vmid } => {
                self.resume_incoming(vmid).await?;
                Ok(json!({ "resumed": true }))
            }
            R::StorageStatus => to_value(self.local_storage_status()?),
            R::NodeRrd { timeframe, cf } => to_value(
                self.rrd_rows(crate::rrd::Subject::Node, &timeframe, &cf)
                    .await?,
            ),
            R::GuestRrd {
                kind,
                vmid,
                timeframe,
                cf,
            } => {
                let l = self.local_guest(kind, vmid)?;
                to_value(
                    self.rrd_rows(
                        crate::rrd::Subject::Guest(l.kind, vmid.get()),
                        &timeframe,
                        &cf,
                    )
                    .await?,
                )
            }
            R::Backup { backup } => self.backup_op(backup).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_are_proxmox_names() {
        assert_eq!(task_type(GuestKind::Qemu, "start"), "qmstart");
        assert_eq!(task_type(GuestKind::Qemu, "migrate"), "qmigrate");
        assert_eq!(task_type(GuestKind::Lxc, "migrate"), "vzmigrate");
        assert_eq!(task_type(GuestKind::Lxc, "shutdown"), "vzshutdown");
    }

    #[test]
    fn each_ha_refusal_names_the_command_for_what_was_asked() {
        let vmid = brigade_core::VmId::try_from(100).expect("vmid");
        let kind = GuestKind::Qemu;
        for (req, want) in [
            (
                GuestRequest::Start { kind, vmid },
                "use 'brigade ha set vm:100 --state started'",
            ),
            (
                GuestRequest::Stop { kind, vmid },
                "use 'brigade ha set vm:100 --state stopped'",
            ),
            (
                GuestRequest::Shutdown {
                    kind,
                    vmid,
                    timeout_secs: None,
                    force_stop: false,
                },
                "use 'brigade ha set vm:100 --state stopped'",
            ),
            (
                GuestRequest::Migrate {
                    kind,
                    vmid,
                    target: "n2".into(),
                    online: true,
                },
                "use 'brigade ha migrate vm:100 n2'",
            ),
            (
                GuestRequest::Destroy { kind, vmid },
                "with 'brigade ha remove vm:100'",
            ),
        ] {
            let (sid, action) = ha_action(&req).expect("an HA action");
            let msg = ha_refusal(sid, &action);
            assert!(msg.ends_with(want), "{msg}");
            if !matches!(action, HaAction::Migrate(_)) {
                assert!(!msg.contains("ha migrate"), "{msg}");
            }
        }
        assert!(ha_action(&GuestRequest::Status { kind, vmid }).is_none());
    }
}
