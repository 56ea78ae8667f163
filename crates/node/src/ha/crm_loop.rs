//! The CRM in the daemon: on the Raft leader, every renewal interval, one step of the
//! pure CRM; config moves and the new manager status are written in one cfs batch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use brigade_cfs::Op;
use brigade_core::layout;
use brigade_ha::crm::{self, CrmAction, CrmInput, NodeInput};

use super::clock::{boot_ms, boot_ms_of};
use super::{config_io, rules_io};
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How long after a lease's end the CRM's early step runs (the lease has surely ended).
const CRM_EXPIRY_SLACK_MS: u64 = 5;

impl Node {
    pub(super) fn spawn_crm(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut leader_since: Option<u64> = None;
            loop {
                let settings = config_io::settings(&rt.cfs);
                let mut wait = Duration::from_millis(settings.timing.renew_ms);
                let leads =
                    rt.cfs.status().leader == Some(rt.membership.node_id) && rt.cfs.is_quorate();
                if leads {
                    // Since Raft made this node leader (or, later, since first seen leading):
                    // a full lease passes before anyone is expired.
                    let since = *leader_since.get_or_insert_with(|| {
                        rt.cfs
                            .leader_since()
                            .map(boot_ms_of)
                            .unwrap_or_else(boot_ms)
                    });
                    match node.crm_tick(&rt, settings, since).await {
                        // Step again the moment the next lease runs out.
                        Ok(Some(expiry)) => {
                            let until = expiry.saturating_sub(boot_ms()) + CRM_EXPIRY_SLACK_MS;
                            wait = wait.min(Duration::from_millis(until));
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!("CRM step not written: {e}"),
                    }
                } else {
                    leader_since = None;
                }
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// One CRM step; when the next node lease runs out (boot-clock ms), if one does.
    async fn crm_tick(
        &self,
        rt: &ClusterRuntime,
        settings: config_io::HaSettings,
        leader_since_ms: u64,
    ) -> Result<Option<u64>, crate::error::NodeError> {
        let timing = settings.timing;
        // Every committed entry applied here first: no committed renewal is missed.
        rt.cfs.read_index().await?;
        let me = self.config.name.to_string();
        // HA groups become node-affinity rules first, once (as in Proxmox VE 9).
        let migrated = self.migrate_ha_groups(&rt.cfs).await?;
        if !migrated.is_empty() {
            for line in migrated {
                self.log_event("ha", format!("crm {me}: {line}")).await;
            }
            return Ok(None);
        }
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        let seen = self
            .ha
            .renewals_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let nodes: Vec<NodeInput> = conf
            .nodes
            .iter()
            .map(|n| NodeInput {
                name: n.name.to_string(),
                last_renewal_ms: seen.get(n.name.as_str()).copied(),
                lrm: config_io::lrm_status(&rt.cfs, n.name.as_str()),
            })
            .collect();
        let (resources, _) = config_io::resources(&rt.cfs)?;
        let (groups, _) = config_io::groups(&rt.cfs)?;
        let config_io::GuestFacts {
            locations,
            memory,
            bridges: guest_bridges,
        } = config_io::guest_locations(&rt.cfs);
        let (maintenance, _) = config_io::maintenance(&rt.cfs);
        let (migrations, commands_version) = config_io::migrations(&rt.cfs);
        let (previous, status_version) = config_io::manager_status(&rt.cfs);
        if resources.resources.is_empty() && previous.service_status.is_empty() {
            return Ok(None);
        }
        let (rules, _) = rules_io::rules(&rt.cfs)?;
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let usage = rules_io::usage(&rt.cfs, &names, &locations);
        // Each node's bridges (network.cfg) and vnets (the running SDN, read once for
        // all); a node whose network cannot be read is not checked.
        let node_bridges: BTreeMap<String, BTreeSet<String>> =
            match crate::guests::running_sdn(&rt.cfs) {
                Ok(sdn) => names
                    .iter()
                    .filter_map(|n| {
                        let known = crate::guests::bridges_of(&rt.cfs, n, &sdn).ok()?;
                        Some((n.clone(), known.0.into_keys().collect()))
                    })
                    .collect(),
                Err(_) => BTreeMap::new(),
            };
        let input = CrmInput {
            now_ms: boot_ms(),
            leader_since_ms,
            me: &me,
            timing,
            nodes: &nodes,
            resources: &resources,
            groups: &groups,
            locations: &locations,
            memory_mib: &memory,
            maintenance: &maintenance,
            migrations: &migrations,
            rules: &rules,
            crs: settings.crs,
            usage: &usage,
            guest_bridges: &guest_bridges,
            node_bridges: &node_bridges,
        };
        let next = crm::next_lease_expiry(&input);
        let out = crm::step(&input, &previous);
        if out.status == previous && out.actions.is_empty() && out.consumed_migrations.is_empty() {
            return Ok(next);
        }
        let mut ops = Vec::new();
        let mut cleared = Vec::new();
        for a in &out.actions {
            let CrmAction::MoveConfig { sid, from, to } = a;
            let from: brigade_core::NodeName =
                from.parse().map_err(crate::error::NodeError::Format)?;
            let to: brigade_core::NodeName = to.parse().map_err(crate::error::NodeError::Format)?;
            let (from_path, to_path) = (
                sid.kind.config_path(&from, sid.vmid),
                sid.kind.config_path(&to, sid.vmid),
            );
            // A lock on the config belonged to an operation of the fenced node, which
            // cannot be running any more: the recovered guest must be startable.
            let f = rt.cfs.read(&from_path)?;
            let text = String::from_utf8_lossy(&f.data).into_owned();
            let lock = crate::guests::config_lock(&text);
            let moved = crate::guests::without_lock(&text)?;
            if let Some(l) = lock {
                cleared.push(format!(
                    "{sid}: cleared the stale lock '{l}' of an operation on the fenced node {from}"
                ));
            }
            ops.push(Op::Write {
                path: from_path.clone(),
                data: f.data.clone(),
                expect_version: Some(f.version),
                create_exclusive: false,
            });
            ops.push(Op::Rename {
                from: from_path,
                to: to_path.clone(),
            });
            ops.push(Op::Write {
                path: to_path,
                data: moved.into_bytes(),
                expect_version: None,
                create_exclusive: false,
            });
        }
        ops.push(Op::Write {
            path: cfs_path(layout::HA_MANAGER_STATUS)?,
            data: serde_json::to_vec_pretty(&out.status).unwrap_or_default(),
            expect_version: Some(status_version),
            create_exclusive: false,
        });
        if !out.consumed_migrations.is_empty() {
            let rest: String = migrations
                .iter()
                .filter(|(sid, _)| !out.consumed_migrations.contains(sid))
                .map(|(sid, n)| format!("migrate {sid} {n}\n"))
                .collect();
            ops.push(Op::Write {
                path: cfs_path(config_io::HA_CRM_COMMANDS)?,
                data: rest.into_bytes(),
                expect_version: Some(commands_version),
                create_exclusive: false,
            });
        }
        // Each recovery is a task of this (the CRM's) node, as `harecover`.
        let recoveries: Vec<crate::tasks::TaskHandle> = out
            .actions
            .iter()
            .filter_map(|a| {
                let CrmAction::MoveConfig { sid, from, to } = a;
                self.guests
                    .tasks
                    .begin(
                        "harecover",
                        &sid.vmid.to_string(),
                        crate::tasks::caller::ROOT_USER,
                        &format!("HA: recovering {sid} from the fenced node {from} to {to}"),
                    )
                    .ok()
            })
            .collect();
        let proposed = rt
            .cfs
            .propose(Op::Batch { ops })
            .await
            .map_err(crate::error::NodeError::from);
        for t in &recoveries {
            if proposed.is_ok() {
                t.log("config moved; the new node starts the guest");
            }
            t.finish(proposed.as_ref().map(|_| ()));
        }
        proposed?;
        for line in out.log.into_iter().chain(cleared) {
            self.log_event("ha", format!("crm {me}: {line}")).await;
        }
        Ok(next)
    }
}
