//! The cluster's guests with their node and state (`vm list`, `/cluster/resources`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_core::NodeName;

use super::locate::{guests_on, node_dirs};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::{GuestRequest, GuestRow, GuestState};

/// How long a node may take to report its guests' states.
pub const STATE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// A guest process running on a node.
pub type LocalState = brigade_guest::RunningGuest;

impl Node {
    /// The guests whose processes run on this node.
    pub fn local_states(&self) -> Vec<LocalState> {
        brigade_guest::running_guests(&self.guests.run)
    }

    /// Every guest of the cluster, with the state its node reports.
    pub async fn cluster_resources(self: &Arc<Self>) -> Result<Vec<GuestRow>, NodeError> {
        let rt = self.require_cluster()?.clone();
        let mut rows = Vec::new();
        for node in node_dirs(&rt.cfs) {
            let Ok(name) = node.parse::<NodeName>() else {
                continue;
            };
            for (kind, vmid) in guests_on(&rt.cfs, &name) {
                let v = vmid.get();
                let Ok(f) = rt.cfs.read(&kind.config_path(&name, vmid)) else {
                    continue;
                };
                let kv =
                    KeyValueConfig::parse(&String::from_utf8_lossy(&f.data)).unwrap_or_default();
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
                    status: GuestState::Unknown,
                    memory_mib: kv
                        .get("memory")
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(brigade_guest::vm_config::DEFAULT_MEMORY_MIB),
                    lock: kv.get("lock").map(str::to_string),
                });
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
                r.status = GuestState::of(running);
            }
        }
        rows.sort_by_key(|r| r.vmid);
        Ok(rows)
    }
}
