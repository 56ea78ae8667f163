//! Reading and writing HA state in cfs: resources, groups, manager status, lrm status,
//! maintenance requests, administrator commands, and the timing in datacenter.cfg.

use std::collections::{BTreeMap, BTreeSet};

use brigade_cfs::Cfs;
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout;
use brigade_ha::config::ShutdownPolicy;
use brigade_ha::crs::CrsSettings;
use brigade_ha::{GroupsConfig, LrmStatus, ManagerStatus, ResourcesConfig, ServiceId, Timing};

use crate::error::NodeError;
use crate::node::cfs_path;
use crate::validate::DatacenterConfig;

/// Nodes in maintenance, one per line: `NODE` (by an administrator) or
/// `NODE shutdown` (the migrate shutdown policy; lifted when the daemon returns).
pub const HA_MAINTENANCE: &str = "ha/maintenance";
/// Administrator commands for the CRM (`migrate vm:100 n2`), one per line.
pub const HA_CRM_COMMANDS: &str = "ha/crm_commands";

/// A file's text and version (0 when missing).
pub fn read(cfs: &Cfs, path: &str) -> Result<(String, u64), NodeError> {
    match cfs.read(&cfs_path(path)?) {
        Ok(f) => Ok((String::from_utf8_lossy(&f.data).into_owned(), f.version)),
        Err(brigade_cfs::CfsError::NotFound { .. }) => Ok((String::new(), 0)),
        Err(e) => Err(e.into()),
    }
}

pub fn resources(cfs: &Cfs) -> Result<(ResourcesConfig, u64), NodeError> {
    let (text, v) = read(cfs, layout::HA_RESOURCES_CFG)?;
    Ok((ResourcesConfig::parse(&text).map_err(NodeError::from)?, v))
}

pub fn groups(cfs: &Cfs) -> Result<(GroupsConfig, u64), NodeError> {
    let (text, v) = read(cfs, layout::HA_GROUPS_CFG)?;
    Ok((GroupsConfig::parse(&text).map_err(NodeError::from)?, v))
}

pub fn manager_status(cfs: &Cfs) -> (ManagerStatus, u64) {
    match read(cfs, layout::HA_MANAGER_STATUS) {
        Ok((text, v)) if !text.is_empty() => (serde_json::from_str(&text).unwrap_or_default(), v),
        Ok((_, v)) => (ManagerStatus::default(), v),
        Err(_) => (ManagerStatus::default(), 0),
    }
}

pub fn lrm_status(cfs: &Cfs, node: &str) -> LrmStatus {
    let path = format!("{}/{node}/lrm_status", layout::NODES_DIR);
    read(cfs, &path)
        .ok()
        .and_then(|(t, _)| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn maintenance(cfs: &Cfs) -> (BTreeSet<String>, u64) {
    let (text, v) = read(cfs, HA_MAINTENANCE).unwrap_or_default();
    (
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect(),
        v,
    )
}

/// Pending `migrate SID NODE` commands.
pub fn migrations(cfs: &Cfs) -> (BTreeMap<ServiceId, String>, u64) {
    let (text, v) = read(cfs, HA_CRM_COMMANDS).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let ["migrate", sid, node] = w.as_slice() {
            if let Ok(sid) = sid.parse() {
                out.insert(sid, node.to_string());
            }
        }
    }
    (out, v)
}

/// HA settings of datacenter.cfg: `ha: fence_timeout=S,shutdown_policy=P` and `crs:`.
#[derive(Debug, Clone, Copy)]
pub struct HaSettings {
    pub timing: Timing,
    pub shutdown_policy: ShutdownPolicy,
    pub crs: CrsSettings,
}

/// datacenter.cfg through its validator; an unreadable or invalid file (which the
/// validator keeps out of the tree) gives the defaults.
pub fn settings(cfs: &Cfs) -> HaSettings {
    let node_timeout_ms = crate::cluster_ops::read_cluster_conf(cfs)
        .map(|c| u64::from(c.node_timeout_secs) * 1000)
        .unwrap_or(10_000);
    let dc = read(cfs, layout::DATACENTER_CFG)
        .ok()
        .and_then(|(text, _)| DatacenterConfig::parse(&text).ok())
        .unwrap_or_default();
    HaSettings {
        timing: Timing::from_fence_timeout(dc.fence_timeout_ms.unwrap_or(node_timeout_ms)),
        shutdown_policy: dc.shutdown_policy.unwrap_or_default(),
        // The daemon always says why it placed a guest where it did.
        crs: CrsSettings {
            explain: true,
            ..dc.crs.unwrap_or_default()
        },
    }
}

/// What the CRM reads of every guest config.
#[derive(Debug, Default)]
pub struct GuestFacts {
    /// The node whose directory holds it.
    pub locations: BTreeMap<ServiceId, String>,
    pub memory: BTreeMap<ServiceId, u64>,
    /// The bridges its NICs name: (config key, bridge).
    pub bridges: BTreeMap<ServiceId, Vec<(String, String)>>,
}

/// Where each guest's config lives, its memory and the bridges its NICs name.
pub fn guest_locations(cfs: &Cfs) -> GuestFacts {
    let mut facts = GuestFacts::default();
    let prefix: brigade_core::CfsPath =
        cfs_path(layout::NODES_DIR).unwrap_or_else(|_| brigade_core::CfsPath::root());
    for (path, (_, data)) in cfs.dump(&prefix) {
        let Some(g) = layout::parse_guest_config_path(&path) else {
            continue;
        };
        let Ok(vmid) = brigade_core::VmId::try_from(g.vmid) else {
            continue;
        };
        let sid = ServiceId { kind: g.kind, vmid };
        let kv = KeyValueConfig::parse(&String::from_utf8_lossy(&data)).ok();
        let memory = kv
            .as_ref()
            .and_then(|kv| kv.get("memory").and_then(|m| m.parse().ok()))
            .unwrap_or(brigade_guest::vm_config::DEFAULT_MEMORY_MIB);
        // A config whose NICs do not parse was refused when written; none checked then.
        let nics = kv
            .as_ref()
            .and_then(|kv| crate::guests::bridged_nics(kv).ok())
            .unwrap_or_default();
        if !nics.is_empty() {
            let named = nics.into_iter().map(|(_, n)| (n.key, n.bridge)).collect();
            facts.bridges.insert(sid, named);
        }
        facts.locations.insert(sid, g.node);
        facts.memory.insert(sid, memory);
    }
    facts
}
