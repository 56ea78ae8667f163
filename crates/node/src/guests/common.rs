//! Helpers every guest operation shares: the local guest, locks, config writes,
//! storages, memory, peers.

use std::net::SocketAddr;
use std::path::PathBuf;

use brigade_cfs::Op;
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::{self, GuestKind};
use brigade_core::{poll_until, CfsPath, VmId};
use brigade_guest::{GuestLock, Storage, StorageConfig, VolumeId};

use super::locate::{self, noun, Located};
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How long a peer not (yet) heard is given before it is called offline.
pub const LIVENESS_GRACE: std::time::Duration =
    brigade_membership::service::HEARTBEAT_INTERVAL.saturating_mul(2);
/// How often that grace looks for the peer's heartbeat.
const LIVENESS_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl Node {
    /// The guest, which must live on this node.
    /// The node a guest's config is on.
    pub fn guest_node(&self, kind: GuestKind, vmid: VmId) -> Result<String, NodeError> {
        let rt = self.require_cluster()?;
        Ok(locate::require(&rt.cfs, kind, vmid)?.node)
    }

    pub(crate) fn local_guest(&self, kind: GuestKind, vmid: VmId) -> Result<Located, NodeError> {
        self.guest_held_by(kind, vmid, self.config.name.as_str())
    }

    /// Guest `vmid` from this node's copy of the tree, refused unless `node` holds it.
    pub(crate) fn guest_held_by(
        &self,
        kind: GuestKind,
        vmid: VmId,
        node: &str,
    ) -> Result<Located, NodeError> {
        let rt = self.require_cluster()?;
        let l = locate::require(&rt.cfs, kind, vmid)?;
        if l.node != node {
            return Err(NodeError::Conflict(format!(
                "{} {vmid} is on node {}, not {node}",
                noun(kind),
                l.node
            )));
        }
        Ok(l)
    }

    /// Writes a guest config if it still has version `expect`.
    pub(crate) async fn write_guest_config(
        &self,
        path: &CfsPath,
        text: String,
        expect: Option<u64>,
    ) -> Result<u64, NodeError> {
        let rt = self.require_cluster()?;
        let applied = rt
            .cfs
            .propose(Op::Write {
                path: path.clone(),
                data: text.into_bytes(),
                expect_version: expect,
                create_exclusive: false,
            })
            .await?;
        Ok(applied.version)
    }

    /// storage.cfg, parsed.
    pub(crate) fn storage_cfg(&self) -> Result<(StorageConfig, u64), NodeError> {
        let rt = self.require_cluster()?;
        match rt.cfs.read(&cfs_path(layout::STORAGE_CFG)?) {
            Ok(f) => Ok((
                StorageConfig::parse(&String::from_utf8_lossy(&f.data))?,
                f.version,
            )),
            Err(brigade_cfs::CfsError::NotFound { .. }) => Ok((StorageConfig::default(), 0)),
            Err(e) => Err(e.into()),
        }
    }

    /// A storage's directory on this node.
    pub(crate) fn storage_root(&self, s: &Storage) -> PathBuf {
        s.root(self.config.name.as_str(), &self.config.state_dir())
    }

    /// A volume's storage and path on this node.
    pub(crate) fn resolve_volume(
        &self,
        cfg: &StorageConfig,
        vol: &VolumeId,
    ) -> Result<(Storage, PathBuf), NodeError> {
        let s = cfg.get(&vol.storage)?;
        if !s.available_on(self.config.name.as_str()) {
            return Err(NodeError::Insufficient(format!(
                "storage {:?} is not available on node {}",
                s.id, self.config.name
            )));
        }
        let path = Storage::volume_path(&self.storage_root(s), vol);
        Ok((s.clone(), path))
    }

    /// Memory (MiB) this node can still give a guest.
    pub(crate) fn free_guest_memory_mib(&self) -> Result<u64, NodeError> {
        let available = brigade_guest::memory::available_mib()?;
        Ok(match self.config.guest_memory_mib {
            Some(limit) => available.min(limit.saturating_sub(self.running_guest_memory_mib())),
            None => available,
        })
    }

    /// Refuses a guest that needs more memory than this node has left.
    pub(crate) fn check_memory(&self, what: &str, need_mib: u64) -> Result<(), NodeError> {
        let free = self.free_guest_memory_mib()?;
        if need_mib > free {
            return Err(NodeError::Insufficient(format!(
                "not enough memory on node {} for {what}: it needs {need_mib} MiB, {free} MiB are available",
                self.config.name
            )));
        }
        Ok(())
    }

    /// The memory of the guests running here.
    fn running_guest_memory_mib(&self) -> u64 {
        let Some(rt) = self.cluster() else { return 0 };
        let me = self.config.name.clone();
        brigade_guest::running_guests(&self.guests.run)
            .into_iter()
            .filter_map(|g| {
                let vmid = VmId::try_from(g.vmid).ok()?;
                let f = rt.cfs.read(&g.kind.config_path(&me, vmid)).ok()?;
                let kv = KeyValueConfig::parse(&String::from_utf8_lossy(&f.data)).ok()?;
                kv.get("memory")?.parse::<u64>().ok()
            })
            .sum()
    }

    /// Whether `name` is this node or a peer heard within node_timeout.
    pub(crate) fn peer_alive(&self, rt: &ClusterRuntime, name: &str) -> bool {
        name == self.config.name.as_str()
            || rt
                .members
                .status()
                .iter()
                .any(|p| p.name == name && p.alive)
    }

    /// A cluster node's RPC address, if it is a member and alive.
    pub(crate) async fn peer_rpc(
        &self,
        rt: &ClusterRuntime,
        name: &str,
    ) -> Result<SocketAddr, NodeError> {
        let status = rt.cfs.status();
        let member = status
            .members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                NodeError::NotFound(format!("node {name:?} is not a member of this cluster"))
            })?;
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        if !conf.nodes.iter().any(|n| n.name.as_str() == name) {
            return Err(NodeError::Invalid(format!(
                "{name} is a quorum device; it runs no guests"
            )));
        }
        let is_alive = || {
            name == self.config.name.as_str()
                || rt
                    .members
                    .status()
                    .iter()
                    .any(|p| p.name == name && p.alive)
        };
        // A node that just started has not heard everyone yet: give heartbeats a moment.
        let grace = std::time::Instant::now() + LIVENESS_GRACE;
        let heard = poll_until(grace, LIVENESS_POLL, || std::future::ready(is_alive())).await;
        if heard.is_err() {
            return Err(NodeError::Unavailable(format!(
                "node {name} is offline (no heartbeats within node_timeout)"
            )));
        }
        member
            .rpc_addr
            .parse()
            .map_err(NodeError::failed(format!("bad RPC address of {name}")))
    }
}

/// Refuses an operation on a locked guest, naming the lock.
pub(crate) fn check_unlocked(
    kind: GuestKind,
    vmid: VmId,
    lock: Option<GuestLock>,
) -> Result<(), NodeError> {
    match lock {
        Some(l) => Err(NodeError::Conflict(format!(
            "{} {vmid} is locked ({l}); wait for that operation or clear it with 'brigade {} unlock {vmid}'",
            noun(kind),
            match kind {
                GuestKind::Qemu => "vm",
                GuestKind::Lxc => "ct",
            }
        ))),
        None => Ok(()),
    }
}

/// The lock that refuses a stop or shutdown: not a backup's, as Proxmox lets a guest being
/// backed up be stopped (the backup then fails, and clears its lock).
pub(crate) fn stop_refused_by(lock: Option<GuestLock>) -> Option<GuestLock> {
    lock.filter(|l| *l != GuestLock::Backup)
}

/// `text` with `lock` set (Some) or removed (None).
pub(crate) fn with_lock(text: &str, lock: Option<GuestLock>) -> Result<String, NodeError> {
    let mut kv = KeyValueConfig::parse(text).map_err(NodeError::from)?;
    kv.entries.retain(|(k, _)| k != "lock");
    if let Some(l) = lock {
        kv.set("lock", l.as_str()).map_err(NodeError::from)?;
    }
    Ok(kv.to_text())
}

/// The `lock:` of a config text, as written (whatever its value).
pub(crate) fn config_lock(text: &str) -> Option<String> {
    KeyValueConfig::parse(text)
        .ok()
        .and_then(|kv| kv.get("lock").map(str::to_string))
}

/// `text` without its `lock:` line.
pub(crate) fn without_lock(text: &str) -> Result<String, NodeError> {
    with_lock(text, None)
}
