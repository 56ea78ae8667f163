//! Migration: live (QEMU `-incoming` on the target, QMP `migrate` on the source, the
//! stream through the mTLS tunnel) and offline (local volumes copied). The config moves
//! to the target (a cfs rename) only once the guest runs there; until then the source keeps it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_cfs::Op;
use brigade_core::layout::{self, GuestKind};
use brigade_core::{NodeName, VmId};
use brigade_guest::qemu::{self, Incoming};
use brigade_guest::{storage, GuestLock, VolumeId};
use brigade_net::tunnel;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use super::common::{check_unlocked, with_lock};
use super::config_ops::volumes;
use super::locate::{noun, Located};
use super::power::lock_of;
use crate::error::NodeError;
use crate::guest_messages::{GuestRequest, MigrationProgress, MigrationResult, TaskStarted};
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often a live migration's progress is polled.
pub const MIGRATION_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long the target may take to report the guest running after the switch-over.
pub const TARGET_RESUME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long QEMU may take to connect to the tunnel's local end.
pub const TUNNEL_ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether datacenter.cfg asks for plain TCP migration (`migration: insecure`).
fn migration_insecure(rt: &ClusterRuntime) -> bool {
    cfs_path(layout::DATACENTER_CFG)
        .ok()
        .and_then(|p| rt.cfs.read(&p).ok())
        .and_then(|f| {
            brigade_core::key_value::KeyValueConfig::parse(&String::from_utf8_lossy(&f.data)).ok()
        })
        .and_then(|kv| kv.get("migration").map(str::to_string))
        .is_some_and(|v| v == "insecure" || v.split(',').any(|p| p == "type=insecure"))
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
        let (scfg, _) = self.storage_cfg()?;
        let vols = volumes(kind, &l.text)?;
        let mut storages = Vec::new();
        for v in &vols {
            let s = scfg.get(&v.storage)?;
            if live && !s.shared {
                return Err(NodeError::Invalid(format!(
                    "{what} cannot migrate live: volume {v} is on local storage {:?}; live migration needs every disk on shared storage (stop it and migrate offline to copy the disk)",
                    s.id
                )));
            }
            storages.push(s.id.clone());
        }
        let memory_mib = if live {
            brigade_guest::VmConfig::parse(&l.text)?.memory_mib
        } else {
            0
        };
        self.guest_on(
            target,
            GuestRequest::Precheck {
                memory_mib,
                storages,
            },
        )
        .await
        .map_err(|e| match e {
            NodeError::Unavailable(m) => {
                NodeError::Unavailable(format!("cannot migrate {what}: {m}"))
            }
            other => other,
        })?;
        let locked = with_lock(&l.text, Some(GuestLock::Migrate))?;
        let version = self
            .write_guest_config(&l.path, locked, Some(l.version))
            .await?;
        let task_kind = match kind {
            GuestKind::Qemu => "qmigrate",
            GuestKind::Lxc => "vzmigrate",
        };
        let upid = self
            .guests
            .tasks
            .begin(self.config.name.as_str(), task_kind, vmid.get());
        let me = self.clone();
        let target = target.to_string();
        let task = upid.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = if live {
                me.migrate_live(&l, version, &target, addr, &task, started)
                    .await
            } else {
                me.migrate_offline(&l, version, &target, addr, started)
                    .await
            };
            if let Err(e) = &outcome {
                tracing::warn!(vmid = vmid.get(), "migration to {target} failed: {e}");
                // Leave the guest where it was, unlocked.
                if let Ok(f) = rt.cfs.read(&l.path) {
                    if let Ok(text) = with_lock(&String::from_utf8_lossy(&f.data), None) {
                        let _ = me.write_guest_config(&l.path, text, Some(f.version)).await;
                    }
                }
            }
            me.guests
                .tasks
                .finish(&task, outcome.map_err(|e| e.to_string()));
        });
        Ok(TaskStarted {
            upid,
            node: self.config.name.to_string(),
        })
    }

    /// Moves the config to the target, unlocked, in one atomic cfs batch.
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

    async fn migrate_live(
        self: &Arc<Self>,
        l: &Located,
        locked_version: u64,
        target: &str,
        addr: std::net::SocketAddr,
        upid: &str,
        started: Instant,
    ) -> Result<MigrationResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let v = l.vmid.get();
        let insecure = migration_insecure(&rt);
        let config = with_lock(&l.text, None)?;
        let prep = self
            .guest_on(
                target,
                GuestRequest::PrepareIncoming {
                    vmid: l.vmid,
                    config,
                    insecure,
                },
            )
            .await?;
        let result = self
            .drive_live_migration(l, target, addr, upid, started, insecure, &prep)
            .await;
        let mut result = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = self
                    .guest_on(target, GuestRequest::AbortIncoming { vmid: l.vmid })
                    .await;
                // QEMU resumes the source itself when a migration fails; make sure.
                if let Ok(mut q) = qemu::monitor(&self.guests.run, v).await {
                    if q.status().await.is_ok_and(|s| s != "running") {
                        let _ = q.execute("cont", None).await;
                    }
                }
                return Err(e);
            }
        };
        // The guest runs on the target: hand over its config, then stop the source.
        if let Err(e) = self.move_config(l, locked_version, target).await {
            let _ = self
                .guest_on(target, GuestRequest::AbortIncoming { vmid: l.vmid })
                .await;
            if let Ok(mut q) = qemu::monitor(&self.guests.run, v).await {
                let _ = q.execute("cont", None).await;
            }
            return Err(NodeError::Conflict(format!(
                "the guest reached {target} but its config could not move ({e}); it keeps running here"
            )));
        }
        self.kill_guest(GuestKind::Qemu, l.vmid).await?;
        result.total_time_ms = started.elapsed().as_millis() as u64;
        tracing::info!(vmid = v, target, downtime_ms = ?result.downtime_ms, "live migration done");
        Ok(result)
    }

    #[allow(clippy::too_many_arguments)]
    async fn drive_live_migration(
        self: &Arc<Self>,
        l: &Located,
        target: &str,
        addr: std::net::SocketAddr,
        upid: &str,
        started: Instant,
        insecure: bool,
        prep: &Value,
    ) -> Result<MigrationResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let v = l.vmid.get();
        let uri = if insecure {
            prep.get("uri")
                .and_then(Value::as_str)
                .ok_or_else(|| NodeError::Upstream("the target gave no migration address".into()))?
                .to_string()
        } else {
            let sock = self.guests.run.migrate_out(v);
            let _ = std::fs::remove_file(&sock);
            let listener = tokio::net::UnixListener::bind(&sock).map_err(|e| {
                NodeError::Internal(format!("cannot listen on {}: {e}", sock.display()))
            })?;
            let tls = rt.client_tls.clone();
            let local = self.config.address;
            tokio::spawn(async move {
                let accepted = tokio::time::timeout(TUNNEL_ACCEPT_TIMEOUT, listener.accept()).await;
                let _ = std::fs::remove_file(&sock);
                let Ok(Ok((mut qemu_side, _))) = accepted else {
                    return;
                };
                let header = json!({ "kind": "migrate", "vmid": v });
                match tunnel::connect(addr, Some(local), tls, &header).await {
                    Ok(mut remote) => {
                        let _ = tokio::io::copy_bidirectional(&mut qemu_side, &mut remote).await;
                    }
                    Err(e) => tracing::warn!(vmid = v, "migration tunnel to {addr} failed: {e}"),
                }
            });
            format!("unix:{}", self.guests.run.migrate_out(v).display())
        };
        let mut mon = qemu::monitor(&self.guests.run, v).await?;
        qemu::prepare_migration(&mut mon, None).await?;
        mon.execute("migrate", Some(json!({ "uri": uri }))).await?;
        let info = loop {
            tokio::time::sleep(MIGRATION_POLL_INTERVAL).await;
            let info = mon.execute("query-migrate", None).await?;
            let status = info
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ram = info.get("ram");
            let num = |k: &str| {
                ram.and_then(|r| r.get(k))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            self.guests.tasks.progress(
                upid,
                MigrationProgress {
                    status: status.clone(),
                    transferred_bytes: num("transferred"),
                    remaining_bytes: num("remaining"),
                    total_bytes: num("total"),
                    mbps: ram
                        .and_then(|r| r.get("mbps"))
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                    expected_downtime_ms: info.get("expected-downtime").and_then(Value::as_u64),
                },
            );
            match status.as_str() {
                "completed" => break info,
                "failed" | "cancelled" => {
                    let why = info
                        .get("error-desc")
                        .and_then(Value::as_str)
                        .unwrap_or("QEMU reported failure");
                    return Err(NodeError::Upstream(format!(
                        "live migration to {target} failed: {why}; the guest keeps running here"
                    )));
                }
                _ => {}
            }
        };
        // Wait until the target runs the guest.
        let waited = Instant::now();
        loop {
            let s = self
                .guest_on(target, GuestRequest::IncomingStatus { vmid: l.vmid })
                .await?;
            if s.get("status").and_then(Value::as_str) == Some("running") {
                break;
            }
            if waited.elapsed() > TARGET_RESUME_TIMEOUT {
                return Err(NodeError::Upstream(format!(
                    "the guest did not resume on {target} within {} s",
                    TARGET_RESUME_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(MIGRATION_POLL_INTERVAL).await;
        }
        let ram = info.get("ram");
        Ok(MigrationResult {
            vmid: v,
            source: self.config.name.to_string(),
            target: target.to_string(),
            online: true,
            total_time_ms: started.elapsed().as_millis() as u64,
            qemu_total_time_ms: info.get("total-time").and_then(Value::as_u64),
            downtime_ms: info.get("downtime").and_then(Value::as_u64),
            transferred_bytes: ram
                .and_then(|r| r.get("transferred"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
            copied_volumes: Vec::new(),
        })
    }

    async fn migrate_offline(
        self: &Arc<Self>,
        l: &Located,
        locked_version: u64,
        target: &str,
        addr: std::net::SocketAddr,
        started: Instant,
    ) -> Result<MigrationResult, NodeError> {
        let (scfg, _) = self.storage_cfg()?;
        let mut copied = Vec::new();
        let mut local_paths = Vec::new();
        let mut bytes = 0;
        for vol in volumes(l.kind, &l.text)? {
            let (s, path) = self.resolve_volume(&scfg, &vol)?;
            if s.shared {
                continue;
            }
            bytes += self
                .send_volume(addr, &vol, &self.storage_root(&s))
                .await
                .map_err(|e| {
                    NodeError::Upstream(format!("copying {vol} to {target} failed: {e}"))
                })?;
            copied.push(vol.to_string());
            local_paths.push(path);
        }
        self.move_config(l, locked_version, target).await?;
        for p in local_paths {
            if let Err(e) = storage::free_volume(&p) {
                tracing::warn!("after migrating {}: {e}", l.vmid);
            }
        }
        Ok(MigrationResult {
            vmid: l.vmid.get(),
            source: self.config.name.to_string(),
            target: target.to_string(),
            online: false,
            total_time_ms: started.elapsed().as_millis() as u64,
            qemu_total_time_ms: None,
            downtime_ms: None,
            transferred_bytes: bytes,
            copied_volumes: copied,
        })
    }

    /// Streams a volume (file or directory) to the target with tar through the tunnel.
    async fn send_volume(
        &self,
        addr: std::net::SocketAddr,
        vol: &VolumeId,
        root: &Path,
    ) -> Result<u64, String> {
        let rt = self.require_cluster().map_err(|e| e.to_string())?;
        let header = json!({ "kind": "volume", "storage": vol.storage, "name": vol.name });
        let remote = tunnel::connect(
            addr,
            Some(self.config.address),
            rt.client_tls.clone(),
            &header,
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut remote = tokio::io::BufReader::new(remote);
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(root.join("images"))
            .args(["--sparse", "-cf", "-"])
            .arg(&vol.name)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        let mut out = tar.stdout.take().ok_or("tar has no stdout")?;
        let sent = tunnel::send_chunked(&mut out, remote.get_mut())
            .await
            .map_err(|e| e.to_string())?;
        let status = tar.wait_with_output().await.map_err(|e| e.to_string())?;
        if !status.status.success() {
            return Err(format!(
                "tar failed: {}",
                String::from_utf8_lossy(&status.stderr).trim()
            ));
        }
        let mut reply = String::new();
        remote
            .read_line(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        match reply.trim() {
            "ok" => Ok(sent),
            "" => Err("the target closed the stream".into()),
            other => Err(other.trim_start_matches("error: ").to_string()),
        }
    }

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
                return Err(NodeError::Unavailable(format!(
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

    /// Target side: start QEMU waiting for the migration stream.
    pub(crate) async fn prepare_incoming(
        &self,
        vmid: VmId,
        config: &str,
        insecure: bool,
    ) -> Result<Value, NodeError> {
        let op = self.guests.op_lock(vmid.get());
        let _g = op.lock().await;
        let rt = self.require_cluster()?;
        if let Some(l) = super::locate::find(&rt.cfs, vmid) {
            if l.node == self.config.name.as_str() {
                return Err(NodeError::Conflict(format!(
                    "VM {vmid} already lives on {}",
                    l.node
                )));
            }
        }
        if qemu::running_pid(&self.guests.run, vmid.get()).is_some() {
            return Err(NodeError::Conflict(format!(
                "a QEMU process for VM {vmid} already runs on {}",
                self.config.name
            )));
        }
        let (incoming, uri) = if insecure {
            let probe = std::net::TcpListener::bind((self.config.address, 0))
                .map_err(|e| NodeError::Internal(format!("no free port for migration: {e}")))?;
            let a = probe.local_addr().map_err(NodeError::internal)?;
            drop(probe);
            (Incoming::Tcp(a), Some(format!("tcp:{a}")))
        } else {
            (Incoming::Unix(self.guests.run.migrate_in(vmid.get())), None)
        };
        let spec = self.launch_spec(vmid, config, Some(incoming)).await?;
        self.check_memory(&format!("VM {vmid}"), spec.config.memory_mib)?;
        qemu::launch(&self.guests.run, &spec).await?;
        self.guests.mark_started(vmid.get());
        Ok(json!({ "uri": uri }))
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
        let rt = self.require_cluster()?;
        if let Some(l) = super::locate::find(&rt.cfs, vmid) {
            if l.node == self.config.name.as_str() {
                return Err(NodeError::Conflict(format!(
                    "VM {vmid} belongs to {}; not stopping it",
                    l.node
                )));
            }
        }
        self.kill_guest(GuestKind::Qemu, vmid).await
    }
}
