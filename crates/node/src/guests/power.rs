//! Starting, stopping and inspecting guests on this node.

use std::path::PathBuf;
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::accel::ProbeImage;
use brigade_guest::qemu::{self, Incoming, LaunchSpec, StartGate};
use brigade_guest::{container, AccelChoice, CtConfig, GuestError, VmConfig};

use super::common::{check_unlocked, stop_refused_by};
use super::locate::Located;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::{GuestState, GuestStatus};

impl Node {
    /// The accelerator for VMs on this node, probed once.
    pub(crate) async fn accel(&self) -> AccelChoice {
        self.guests
            .accel
            .get_or_init(|| async {
                let dir = self.config.appliance_dir();
                let image = ProbeImage {
                    kernel: dir.join("vmlinuz"),
                    initrd: dir.join("initramfs.img"),
                };
                let usable = image.kernel.exists() && image.initrd.exists();
                brigade_guest::accel::choose(self.config.accel, usable.then_some(&image)).await
            })
            .await
            .clone()
    }

    /// Builds the launch of a VM from its config text on this node.
    pub(crate) async fn launch_spec(
        &self,
        vmid: VmId,
        text: &str,
        incoming: Option<Incoming>,
    ) -> Result<LaunchSpec, NodeError> {
        let config = VmConfig::parse(text)
            .map_err(|e| NodeError::Invalid(format!("the config of VM {vmid} is invalid: {e}")))?;
        let (scfg, _) = self.storage_cfg()?;
        let mut disks = Vec::new();
        for d in &config.disks {
            let (_, path) = self.resolve_volume(&scfg, &d.volume)?;
            disks.push((d.clone(), path));
        }
        let (taps, netns) = self.plug_vm_nics(vmid.get(), text).await?;
        Ok(LaunchSpec {
            vmid: vmid.get(),
            config,
            disks,
            accel: self.accel().await.accel,
            incoming,
            paused: true,
            taps,
            netns,
        })
    }

    /// A container's root directory on this node.
    pub(crate) fn ct_rootfs(&self, cfg: &CtConfig) -> Result<PathBuf, NodeError> {
        let (scfg, _) = self.storage_cfg()?;
        Ok(self.resolve_volume(&scfg, &cfg.rootfs)?.1)
    }

    /// The gate of a start outside HA: this node must be quorate at that instant.
    pub(crate) fn quorum_gate(&self) -> impl Fn() -> Result<(), GuestError> + Send + Sync + '_ {
        move || {
            let quorate = self.cluster().is_some_and(|rt| rt.cfs.is_quorate());
            if quorate {
                Ok(())
            } else {
                Err(GuestError::Refused(format!(
                    "node {} is not quorate: it starts no guest (its view of the cluster may be stale)",
                    self.config.name
                )))
            }
        }
    }

    /// Starts a guest here. `gate` is checked before anything is done, right before
    /// the process is spawned, and (for VMs, which start paused) right before the
    /// guest's CPUs run: a start that lost its right to run stops there.
    pub(crate) async fn start_guest(
        &self,
        l: &Located,
        gate: StartGate<'_>,
    ) -> Result<(), NodeError> {
        gate()?;
        let v = l.vmid;
        match l.kind {
            GuestKind::Qemu => {
                let spec = self.launch_spec(v, &l.text, None).await?;
                check_unlocked(l.kind, v, spec.config.lock)?;
                if qemu::running_pid(&self.guests.run, v.get()).is_some() {
                    return Err(NodeError::Conflict(format!("VM {v} is already running")));
                }
                self.check_memory(&format!("VM {v}"), spec.config.memory_mib)?;
                if let Err(e) = qemu::launch(&self.guests.run, &spec, gate).await {
                    self.unplug_vm_nics(v.get()).await;
                    return Err(e.into());
                }
                crate::faults::pause_or(&self.config.state_dir(), "guest.start.before-resume")
                    .await;
                // Nothing of the guest has run yet: the last check, then its CPUs go.
                let resumed = match gate() {
                    Ok(()) => qemu::resume(&self.guests.run, v.get()).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = resumed {
                    let _ = qemu::stop(&self.guests.run, v.get()).await;
                    return Err(e.into());
                }
            }
            GuestKind::Lxc => {
                let cfg = CtConfig::parse(&l.text).map_err(|e| {
                    NodeError::Invalid(format!("the config of container {v} is invalid: {e}"))
                })?;
                check_unlocked(l.kind, v, cfg.lock)?;
                if container::running_pid(&self.guests.run, v.get()).is_some() {
                    return Err(NodeError::Conflict(format!(
                        "container {v} is already running"
                    )));
                }
                self.check_memory(&format!("container {v}"), cfg.memory_mib)?;
                let rootfs = self.ct_rootfs(&cfg)?;
                let hostname = cfg.hostname.clone().unwrap_or_else(|| format!("ct{v}"));
                // Its init runs only once its NICs are plugged, moved into its network
                // namespace and configured.
                let (pid, held) =
                    container::start(&self.guests.run, v.get(), &rootfs, &hostname, gate).await?;
                if let Err(e) = self.plug_ct_nics(v.get(), &l.text, pid).await {
                    let _ = container::stop(&self.guests.run, v.get()).await;
                    self.unplug_ct_nics(v.get()).await;
                    return Err(e);
                }
                held.release().await;
            }
        }
        self.guests.mark_started(v.get());
        tracing::info!(vmid = v.get(), kind = %l.kind, "guest started");
        Ok(())
    }

    pub(crate) async fn stop_guest(&self, l: &Located) -> Result<(), NodeError> {
        check_unlocked(l.kind, l.vmid, stop_refused_by(lock_of(l)))?;
        self.kill_guest(l.kind, l.vmid).await
    }

    /// Stops a guest here, whatever its config says (used by stop, destroy and migration).
    pub(crate) async fn kill_guest(&self, kind: GuestKind, vmid: VmId) -> Result<(), NodeError> {
        match kind {
            GuestKind::Qemu => {
                qemu::stop(&self.guests.run, vmid.get()).await?;
                self.unplug_vm_nics(vmid.get()).await;
            }
            GuestKind::Lxc => {
                container::stop(&self.guests.run, vmid.get()).await?;
                self.unplug_ct_nics(vmid.get()).await;
            }
        }
        tracing::info!(vmid = vmid.get(), %kind, "guest stopped");
        Ok(())
    }

    pub(crate) async fn shutdown_guest(
        &self,
        l: &Located,
        timeout: Option<u64>,
        force: bool,
    ) -> Result<(), NodeError> {
        check_unlocked(l.kind, l.vmid, stop_refused_by(lock_of(l)))?;
        let v = l.vmid.get();
        match l.kind {
            GuestKind::Qemu => {
                let t = timeout
                    .map(Duration::from_secs)
                    .unwrap_or(qemu::DEFAULT_SHUTDOWN_TIMEOUT);
                qemu::shutdown(&self.guests.run, v, t, force).await?;
                self.unplug_vm_nics(v).await;
            }
            GuestKind::Lxc => {
                let t = timeout
                    .map(Duration::from_secs)
                    .unwrap_or(container::DEFAULT_CT_SHUTDOWN_TIMEOUT);
                container::shutdown(&self.guests.run, v, t, force).await?;
                self.unplug_ct_nics(v).await;
            }
        }
        Ok(())
    }

    pub(crate) async fn reboot_guest(&self, l: &Located) -> Result<(), NodeError> {
        check_unlocked(l.kind, l.vmid, lock_of(l))?;
        match l.kind {
            GuestKind::Qemu => qemu::reset(&self.guests.run, l.vmid.get()).await?,
            GuestKind::Lxc => {
                container::shutdown(
                    &self.guests.run,
                    l.vmid.get(),
                    container::DEFAULT_CT_SHUTDOWN_TIMEOUT,
                    true,
                )
                .await?;
                self.start_guest(l, &self.quorum_gate()).await?;
            }
        }
        Ok(())
    }

    /// The pid of a guest running here.
    pub(crate) fn guest_pid(&self, kind: GuestKind, vmid: u32) -> Option<i32> {
        match kind {
            GuestKind::Qemu => qemu::running_pid(&self.guests.run, vmid),
            GuestKind::Lxc => container::running_pid(&self.guests.run, vmid),
        }
    }

    pub(crate) async fn guest_status(&self, l: &Located) -> Result<GuestStatus, NodeError> {
        let v = l.vmid.get();
        let pid = self.guest_pid(l.kind, v);
        let kv = brigade_core::key_value::KeyValueConfig::parse(&l.text).ok();
        let get = |k: &str| kv.as_ref().and_then(|kv| kv.get(k)).map(str::to_string);
        let num = |k: &str, d: u64| get(k).and_then(|s| s.parse().ok()).unwrap_or(d);
        let (name, cpus) = match l.kind {
            GuestKind::Qemu => (get("name"), (num("cores", 1) * num("sockets", 1)) as u32),
            GuestKind::Lxc => (get("hostname"), num("cores", 1) as u32),
        };
        let mut status = GuestStatus {
            vmid: v,
            kind: l.kind,
            node: l.node.clone(),
            name,
            status: GuestState::of(pid.is_some()),
            qmp_status: None,
            pid,
            memory_mib: num("memory", brigade_guest::vm_config::DEFAULT_MEMORY_MIB),
            cpus,
            lock: get("lock"),
            accel: None,
            accel_reason: None,
            uptime_secs: pid.and(self.guests.uptime_secs(v)),
            upid: None,
        };
        if l.kind == GuestKind::Qemu && pid.is_some() {
            if let Ok(mut q) = qemu::monitor(&self.guests.run, v).await {
                status.qmp_status = q.status().await.ok();
            }
            let accel = self.accel().await;
            status.accel = Some(accel.accel.as_str().into());
            status.accel_reason = Some(accel.reason);
        }
        Ok(status)
    }
}

/// The lock of a located guest config, if it parses.
pub(crate) fn lock_of(l: &Located) -> Option<brigade_guest::GuestLock> {
    lock_in(&l.text)
}

/// The `lock:` a guest config's text holds, if any.
pub(crate) fn lock_in(text: &str) -> Option<brigade_guest::GuestLock> {
    brigade_core::key_value::KeyValueConfig::parse(text)
        .ok()
        .and_then(|kv| {
            kv.get("lock")
                .and_then(|s| brigade_guest::GuestLock::parse(s).ok())
        })
}
