//! The cluster's guests with their node and state (`vm list`, `/cluster/resources`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_core::NodeName;
use serde::{Deserialize, Serialize};

use super::locate::node_dirs;
use crate::error::NodeError;
use crate::guest_messages::{GuestRequest, GuestRow};
use crate::node::Node;

/// How long a node may take to report its guests' states.
pub const STATE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// A guest process running on a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalState {
    pub vmid: u32,
    #[serde(rename = "type")]
    pub kind: GuestKind,
    pub pid: i32,
}

impl Node {
    /// The guests whose processes run on this node.
    pub fn local_states(&self) -> Vec<LocalState> {
        let run = &self.guests.run;
        let mut out = Vec::new();
        for v in run.qemu_vmids() {
            if let Some(pid) = brigade_guest::qemu::running_pid(run, v) {
                out.push(LocalState {
                    vmid: v,
                    kind: GuestKind::Qemu,
                    pid,
                });
            }
        }
        for v in run.ct_vmids() {
            if let Some(pid) = brigade_guest::container::running_pid(run, v) {
                out.push(LocalState {
                    vmid: v,
                    kind: GuestKind::Lxc,
                    pid,
                });
            }
        }
        out
    }

    /// Every guest of the cluster, with the state its node reports.
    pub async fn cluster_resources(self: &Arc<Self>) -> Result<Vec<GuestRow>, NodeError> {
        let rt = self.require_cluster()?.clone();
        let mut rows = Vec::new();
        for node in node_dirs(&rt.cfs) {
            let Ok(name) = node.parse::<NodeName>() else {
                continue;
            };
            for kind in [GuestKind::Qemu, GuestKind::Lxc] {
                let dir = format!(
                    "{}/{}",
                    brigade_core::layout::node_dir(&name).as_str(),
                    kind.dir()
                );
                let Ok(dir) = dir.parse::<brigade_core::CfsPath>() else {
                    continue;
                };
                let Ok(entries) = rt.cfs.list(&dir) else {
                    continue;
                };
                for e in entries {
                    let Some(v) = e
                        .name
                        .strip_suffix(".conf")
                        .and_then(|s| s.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    let Ok(vmid) = brigade_core::VmId::try_from(v) else {
                        continue;
                    };
                    let Ok(f) = rt.cfs.read(&kind.config_path(&name, vmid)) else {
                        continue;
                    };
                    let kv = KeyValueConfig::parse(&String::from_utf8_lossy(&f.data))
                        .unwrap_or_default();
                    let name_key = if kind == GuestKind::Qemu {
                        "name"
                    } else {
                        "hostname"
                    };
                    rows.push(GuestRow {
                        vmid: v,
                        kind,
                        node: node.clone(),
                        name: kv.get(name_key).map(str::to_string),
                        status: "unknown".into(),
                        memory_mib: kv
                            .get("memory")
                            .and_then(|m| m.parse().ok())
                            .unwrap_or(brigade_guest::vm_config::DEFAULT_MEMORY_MIB),
                        lock: kv.get("lock").map(str::to_string),
                    });
                }
            }
        }
        // Nodes known dead are not asked (their guests show as unknown at once).
        let alive: BTreeSet<String> = rt
            .members
            .status()
            .into_iter()
            .filter(|p| p.alive)
            .map(|p| p.name)
            .collect();
        let nodes: BTreeSet<String> = rows
            .iter()
            .map(|r| r.node.clone())
            .filter(|n| n == self.config.name.as_str() || alive.contains(n))
            .collect();
        let queries = nodes.into_iter().map(|n| {
            let me = self.clone();
            async move {
                let states = tokio::time::timeout(
                    STATE_QUERY_TIMEOUT,
                    me.guest_on(&n, GuestRequest::LocalStates),
                )
                .await
                .ok()
                .and_then(|r| r.ok())
                .and_then(|v| serde_json::from_value::<Vec<LocalState>>(v).ok());
                (n, states)
            }
        });
        let states: BTreeMap<String, Option<Vec<LocalState>>> = futures::future::join_all(queries)
            .await
            .into_iter()
            .collect();
        for r in &mut rows {
            if let Some(Some(s)) = states.get(&r.node) {
                let running = s.iter().any(|x| x.vmid == r.vmid && x.kind == r.kind);
                r.status = if running { "running" } else { "stopped" }.into();
            }
        }
        rows.sort_by_key(|r| r.vmid);
        Ok(rows)
    }
}
