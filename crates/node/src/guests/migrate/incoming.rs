//! The target side of a live migration: QEMU started with `-incoming` and `-S` (it
//! never runs the guest on its own), a record of the arrival in the run directory, the
//! resume once the config was handed over, and a reconciliation that resumes an
//! arrival whose handover it missed and removes one whose migration ended without it.

use std::sync::Arc;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::qemu::{self, Incoming};
use brigade_guest::{GuestLock, RunDir};
use serde_json::{json, Value};

use super::super::locate;
use super::super::power::lock_of;
use super::network::{migration_settings, relay_tcp_to_unix, MigrationSettings};
use super::states::INCOMING_COMPLETE;
use crate::error::NodeError;
use crate::node::Node;

/// How often a node looks at the arrivals in its run directory.
pub const INCOMING_RECONCILE_INTERVAL: Duration = Duration::from_secs(1);

impl Node {
    /// Target side: can this node take a guest with this memory and these storages?
    pub(crate) fn precheck_incoming(
        &self,
        memory_mib: u64,
        storages: &[String],
    ) -> Result<(), NodeError> {
        let (scfg, _) = self.storage_cfg()?;
        for s in storages {
            let st = scfg.get(s)?;
            if !st.available_on(self.config.name.as_str()) {
                return Err(NodeError::Insufficient(format!(
                    "storage {s:?} is not available on node {}",
                    self.config.name
                )));
            }
        }
        if memory_mib > 0 {
            self.check_memory("the migrating guest", memory_mib)?;
        }
        Ok(())
    }

    /// Target side: start QEMU paused, waiting for the migration stream.
    pub(crate) async fn prepare_incoming(
        &self,
        vmid: VmId,
        config: &str,
        insecure: bool,
    ) -> Result<Value, NodeError> {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let rt = self.require_cluster()?;
        let Some(source) = locate::find(&rt.cfs, vmid) else {
            return Err(NodeError::NotFound(format!("VM {vmid} does not exist")));
        };
        if source.node == self.config.name.as_str() {
            return Err(NodeError::Conflict(format!(
                "VM {vmid} already lives on {}",
                source.node
            )));
        }
        if qemu::running_pid(&self.guests.run, vmid.get()).is_some() {
            return Err(NodeError::Conflict(format!(
                "a QEMU process for VM {vmid} already runs on {}",
                self.config.name
            )));
        }
        let settings = MigrationSettings {
            insecure,
            network: migration_settings(rt).network,
        };
        // Insecure: QEMU listens on this node's migration address, unless it runs in the
        // guest namespace (a bridged VM), where that address does not exist: then this
        // daemon listens for it and pipes the stream into its Unix socket.
        let mut relay = None;
        let mut tunnel = None;
        let (incoming, mut uri) = if insecure {
            let mig = self.migration_address(&settings)?;
            if self.qemu_in_netns(config) {
                relay = Some(mig);
                (Incoming::Unix(self.guests.run.migrate_in(vmid.get())), None)
            } else {
                let probe = std::net::TcpListener::bind((mig, 0))
                    .map_err(NodeError::failed("no free port for migration"))?;
                let a = probe.local_addr().map_err(NodeError::internal)?;
                drop(probe);
                (Incoming::Tcp(a), Some(format!("tcp:{a}")))
            }
        } else {
            if settings.network.is_some() {
                tunnel = Some(self.tunnel_address(&settings)?);
            }
            (Incoming::Unix(self.guests.run.migrate_in(vmid.get())), None)
        };
        let spec = self.launch_spec(vmid, config, Some(incoming)).await?;
        self.check_memory(&format!("VM {vmid}"), spec.config.memory_mib)?;
        RunDir::write_atomic(&self.guests.run.incoming_marker(vmid.get()), &source.node)?;
        // Tests widen the window between the marker and QEMU's pidfile here.
        crate::faults::pause_or(&self.config.state_dir(), "migrate.incoming.before-launch").await;
        if let Err(e) = qemu::launch(&self.guests.run, &spec, &self.quorum_gate()).await {
            let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
            return Err(e.into());
        }
        // The disks stay the source's until this copy is told to run: the source can
        // resume at any point before the handover.
        if let Err(e) = qemu::late_block_activation(&self.guests.run, vmid.get()).await {
            let _ = self.kill_guest(GuestKind::Qemu, vmid).await;
            let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
            return Err(e.into());
        }
        if let Some(mig) = relay {
            match relay_tcp_to_unix(mig, self.guests.run.migrate_in(vmid.get())).await {
                Ok(a) => uri = Some(format!("tcp:{a}")),
                Err(e) => {
                    let _ = self.kill_guest(GuestKind::Qemu, vmid).await;
                    let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
                    return Err(e);
                }
            }
        }
        self.guests.mark_started(vmid.get());
        Ok(json!({ "uri": uri, "tunnel": tunnel }))
    }

    /// Target side: QEMU's run state of an incoming guest.
    pub(crate) async fn incoming_status(&self, vmid: VmId) -> String {
        match qemu::monitor(&self.guests.run, vmid.get()).await {
            Ok(mut q) => q.status().await.unwrap_or_else(|_| "unknown".into()),
            Err(_) => "stopped".into(),
        }
    }

    /// Target side: stop an incoming guest after a failed migration, never one this node owns.
    pub(crate) async fn abort_incoming(&self, vmid: VmId) -> Result<(), NodeError> {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let rt = self.require_cluster()?;
        if let Some(l) = locate::find(&rt.cfs, vmid) {
            if l.node == self.config.name.as_str() {
                return Err(NodeError::Conflict(format!(
                    "VM {vmid} belongs to {}; not stopping it",
                    l.node
                )));
            }
        }
        self.kill_guest(GuestKind::Qemu, vmid).await?;
        let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
        Ok(())
    }

    /// Target side: run an arrived guest whose config is now here.
    pub(crate) async fn resume_incoming(&self, vmid: VmId) -> Result<(), NodeError> {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let rt = self.require_cluster()?.clone();
        let is_here =
            || locate::find(&rt.cfs, vmid).is_some_and(|l| l.node == self.config.name.as_str());
        // The handover may have committed before this replica applied it: catch up
        // (a read-index) rather than leave the guest paused until the reconciler's round.
        let here = is_here() || (rt.cfs.read_index().await.is_ok() && is_here());
        if !here {
            return Err(NodeError::Conflict(format!(
                "VM {vmid}'s config is not on {}: not resuming it here",
                self.config.name
            )));
        }
        let status = self.incoming_status(vmid).await;
        if status == "running" {
            let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
            return Ok(());
        }
        if status != INCOMING_COMPLETE {
            return Err(NodeError::Conflict(format!(
                "VM {vmid} has not arrived whole on {} (it is {status})",
                self.config.name
            )));
        }
        // Resuming is starting: the same rights as any start here.
        let sid = brigade_ha::ServiceId {
            kind: GuestKind::Qemu,
            vmid,
        };
        if self.ha_managed(sid) {
            self.may_start_ha(&rt)?;
        } else {
            self.quorum_gate()()?;
        }
        qemu::resume(&self.guests.run, vmid.get()).await?;
        // Peers on its vnet learn at once that it runs here now.
        if let Err(e) = qemu::announce(&self.guests.run, vmid.get()).await {
            tracing::warn!(vmid = vmid.get(), "announce-self after resume: {e}");
        }
        let _ = std::fs::remove_file(self.guests.run.incoming_marker(vmid.get()));
        tracing::info!(vmid = vmid.get(), "incoming guest resumed");
        Ok(())
    }

    /// Resumes arrivals whose config is here, and removes those whose migration ended
    /// without handing them over (their source unlocked, moved on, or is dead).
    pub(crate) fn spawn_incoming_reconciler(self: &Arc<Self>) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(INCOMING_RECONCILE_INTERVAL).await;
                for vmid in node.guests.run.incoming_vmids() {
                    node.reconcile_incoming(vmid).await;
                }
            }
        });
    }

    async fn reconcile_incoming(self: &Arc<Self>, vmid: u32) {
        let run = &self.guests.run;
        let (Ok(id), Some(rt)) = (VmId::try_from(vmid), self.cluster().cloned()) else {
            return;
        };
        if qemu::running_pid(run, vmid).is_none() {
            // An arrival being prepared has its marker before QEMU's pidfile: look again
            // under the guest's operation lock, which the preparation holds throughout.
            let op = self.guests.op_lock(vmid);
            let _g = op.lock().await;
            if qemu::running_pid(run, vmid).is_none() {
                let _ = std::fs::remove_file(run.incoming_marker(vmid));
            }
            return;
        }
        let source = std::fs::read_to_string(run.incoming_marker(vmid)).unwrap_or_default();
        let source = source.trim();
        match locate::find(&rt.cfs, id) {
            Some(l) if l.node == self.config.name.as_str() => {
                if let Err(e) = self.resume_incoming(id).await {
                    tracing::debug!(vmid, "arrival not resumed yet: {e}");
                }
            }
            Some(l)
                if l.node == source
                    && lock_of(&l) == Some(GuestLock::Migrate)
                    && self.peer_alive(&rt, source) =>
            {
                tracing::debug!(vmid, "arrival kept: {source} still migrates it");
            }
            _ => {
                if self.abort_incoming(id).await.is_ok() {
                    self.log_event(
                        "migrate",
                        format!(
                            "{}: removed the arrived copy of VM {vmid}: its migration from {source} ended without handing it over",
                            self.config.name
                        ),
                    )
                    .await;
                }
            }
        }
    }
}
