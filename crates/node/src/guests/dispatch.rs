//! Routing guest requests: run here, or forward over mTLS to the node that holds the guest.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::locate;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::GuestRequest;
use brigade_api::ErrorBody;

/// How long a forwarded guest request may take (a start waits for QEMU).
pub const GUEST_FORWARD_TIMEOUT: Duration = Duration::from_secs(120);
/// The cluster version the sender had applied; the receiver catches up first.
pub const MIN_VERSION_HEADER: &str = "x-brigade-min-version";
/// How long a receiver waits to catch up with the sender.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, NodeError> {
    serde_json::to_value(v).map_err(NodeError::internal)
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
    /// Runs `req` on `node`: here, or forwarded to it.
    pub async fn guest_on(
        self: &Arc<Self>,
        node: &str,
        req: GuestRequest,
    ) -> Result<Value, NodeError> {
        if node == self.config.name.as_str() {
            return self.handle_guest(req).await;
        }
        let rt = self.require_cluster()?.clone();
        let addr = self.peer_rpc(&rt, node).await?;
        let resp = rt
            .rpc_client
            .post(format!("https://{addr}/node/guest"))
            .timeout(GUEST_FORWARD_TIMEOUT)
            // What this node has seen, the target sees too before acting.
            .header(MIN_VERSION_HEADER, rt.cfs.version().to_string())
            .json(&req)
            .send()
            .await
            .map_err(|e| NodeError::Upstream(format!("cannot reach node {node}: {e}")))?;
        let answer: Result<Value, ErrorBody> = resp
            .json()
            .await
            .map_err(|e| NodeError::Upstream(format!("bad answer from node {node}: {e}")))?;
        answer.map_err(NodeError::from)
    }

    /// Runs `req` on `node`, giving up after `timeout` (the answer may still come).
    pub async fn guest_on_within(
        self: &Arc<Self>,
        node: &str,
        req: GuestRequest,
        timeout: Duration,
    ) -> Result<Value, NodeError> {
        tokio::time::timeout(timeout, self.guest_on(node, req))
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::Upstream(format!(
                    "node {node} did not answer within {} ms",
                    timeout.as_millis()
                )))
            })
    }

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
            | R::ConsoleLog { kind, vmid, .. } => {
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
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let out = self.create_guest(kind, vmid, params, ostemplate).await?;
                if start {
                    let l = self.local_guest(kind, vmid)?;
                    self.start_guest(&l, &self.quorum_gate()).await?;
                }
                Ok(out)
            }
            R::Start { kind, vmid } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                self.start_guest(&l, &self.quorum_gate()).await?;
                to_value(self.guest_status(&l).await?)
            }
            R::Stop { kind, vmid } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                self.stop_guest(&l).await?;
                to_value(self.guest_status(&l).await?)
            }
            R::Shutdown {
                kind,
                vmid,
                timeout_secs,
                force_stop,
            } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                self.shutdown_guest(&l, timeout_secs, force_stop).await?;
                to_value(self.guest_status(&l).await?)
            }
            R::Reboot { kind, vmid } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                self.reboot_guest(&l).await?;
                to_value(self.guest_status(&l).await?)
            }
            R::Destroy { kind, vmid } => {
                let lock = self.guests.op_lock(vmid.get());
                let _g = lock.lock().await;
                let l = self.local_guest(kind, vmid)?;
                self.destroy_guest(&l).await?;
                Ok(json!({ "vmid": vmid.get(), "destroyed": true }))
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
            R::Task { upid } => to_value(
                self.guests
                    .tasks
                    .get(&upid)
                    .ok_or_else(|| NodeError::NotFound(format!("no task {upid} on this node")))?,
            ),
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_core::layout::GuestKind;

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
