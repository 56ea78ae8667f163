//! HA administration behind the API: resources, groups, migrations, maintenance, status.

pub use brigade_api::ha::{GroupRequest, HaNodeRow, HaServiceRow, HaStatus, ResourceRequest};
use brigade_cfs::Op;
use brigade_core::layout;
use brigade_ha::config::RequestState;
use brigade_ha::{Resource, ServiceId};

use super::config_io;
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

fn invalid(e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(e.to_string())
}

impl Node {
    async fn write_ha_file(&self, path: &str, text: String, version: u64) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        rt.cfs
            .propose(Op::Write {
                path: cfs_path(path)?,
                data: text.into_bytes(),
                expect_version: Some(version),
                create_exclusive: false,
            })
            .await?;
        Ok(())
    }

    /// Why a guest cannot be HA-managed, if it cannot.
    fn ha_eligible(&self, sid: ServiceId) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let l = crate::guests::locate_require(&rt.cfs, sid.kind, sid.vmid)?;
        let (scfg, _) = self.storage_cfg()?;
        for vol in crate::guests::guest_volumes(sid.kind, &l.text)? {
            let s = scfg.get(&vol.storage)?;
            if !s.shared {
                return Err(NodeError::Invalid(format!(
                    "{sid} cannot be HA-managed: volume {vol} is on local storage {:?}; a survivor could not start it (move it to shared storage)",
                    s.id
                )));
            }
        }
        Ok(())
    }

    pub async fn ha_add(&self, req: ResourceRequest) -> Result<Resource, NodeError> {
        let rt = self.require_cluster()?;
        let sid: ServiceId = req
            .sid
            .as_deref()
            .ok_or_else(|| invalid("sid is required (vm:VMID or ct:VMID)"))?
            .parse()
            .map_err(invalid)?;
        let (mut res, version) = config_io::resources(&rt.cfs)?;
        if res.resources.contains_key(&sid) {
            return Err(NodeError::Conflict(format!("{sid} is already HA-managed")));
        }
        self.ha_eligible(sid)?;
        let mut r = Resource::new(sid);
        let rules = self.apply_resource_request(&mut r, &req)?;
        res.resources.insert(sid, r.clone());
        self.write_resources_and_rules(&res, version, rules).await?;
        Ok(r)
    }

    /// Applies `req` to `r`; the rules to write with it when `--group` names a
    /// node-affinity rule.
    fn apply_resource_request(
        &self,
        r: &mut Resource,
        req: &ResourceRequest,
    ) -> Result<Option<(brigade_ha::rules::RulesConfig, u64)>, NodeError> {
        if let Some(s) = &req.state {
            r.state = RequestState::parse(s).map_err(invalid)?;
        }
        let mut rules = None;
        if let Some(g) = &req.group {
            match self.group_join(r.sid, g)? {
                super::rules_ops::GroupJoin::Legacy => r.group = Some(g.clone()),
                super::rules_ops::GroupJoin::Rule(x, v) => rules = Some((x, v)),
            }
        }
        if let Some(f) = req.failback {
            r.failback = f;
        }
        for (what, v) in [
            ("max_restart", req.max_restart),
            ("max_relocate", req.max_relocate),
        ] {
            if v.is_some_and(|n| n > 10) {
                return Err(invalid(format!("{what} must be 0..10")));
            }
        }
        if let Some(n) = req.max_restart {
            r.max_restart = n;
        }
        if let Some(n) = req.max_relocate {
            r.max_relocate = n;
        }
        if let Some(c) = &req.comment {
            r.comment = Some(c.clone());
        }
        Ok(rules)
    }

    pub async fn ha_set(&self, sid: &str, req: ResourceRequest) -> Result<Resource, NodeError> {
        let rt = self.require_cluster()?;
        let sid: ServiceId = sid.parse().map_err(invalid)?;
        let (mut res, version) = config_io::resources(&rt.cfs)?;
        let mut r = res
            .resources
            .get(&sid)
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("{sid} is not HA-managed")))?;
        let rules = self.apply_resource_request(&mut r, &req)?;
        res.resources.insert(sid, r.clone());
        self.write_resources_and_rules(&res, version, rules).await?;
        Ok(r)
    }

    pub async fn ha_remove(&self, sid: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let sid: ServiceId = sid.parse().map_err(invalid)?;
        let (mut res, version) = config_io::resources(&rt.cfs)?;
        if res.resources.remove(&sid).is_none() {
            return Err(NodeError::NotFound(format!("{sid} is not HA-managed")));
        }
        // It leaves every rule too, as in Proxmox.
        let rules = self.rules_without(sid)?;
        self.write_resources_and_rules(&res, version, rules).await
    }

    /// Removes a group of groups.cfg not migrated to a rule yet.
    pub(crate) async fn ha_legacy_group_remove(&self, name: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let (res, _) = config_io::resources(&rt.cfs)?;
        let users: Vec<String> = res
            .resources
            .values()
            .filter(|r| r.group.as_deref() == Some(name))
            .map(|r| r.sid.to_string())
            .collect();
        if !users.is_empty() {
            return Err(NodeError::Conflict(format!(
                "HA group {name:?} is used by {}",
                users.join(", ")
            )));
        }
        let (mut groups, version) = config_io::groups(&rt.cfs)?;
        if groups.groups.remove(name).is_none() {
            return Err(NodeError::NotFound(format!(
                "HA group {name:?} does not exist"
            )));
        }
        self.write_ha_file(layout::HA_GROUPS_CFG, groups.to_text(), version)
            .await
    }

    fn require_cluster_node(&self, node: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        if conf.nodes.iter().any(|n| n.name.as_str() == node) {
            Ok(())
        } else {
            Err(NodeError::NotFound(format!(
                "node {node:?} is not a member of this cluster"
            )))
        }
    }

    /// Asks the CRM to migrate an HA service.
    pub async fn ha_migrate(&self, sid: &str, node: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let sid: ServiceId = sid.parse().map_err(invalid)?;
        let (res, _) = config_io::resources(&rt.cfs)?;
        if !res.resources.contains_key(&sid) {
            return Err(NodeError::NotFound(format!("{sid} is not HA-managed")));
        }
        self.require_cluster_node(node)?;
        let (text, version) = config_io::read(&rt.cfs, config_io::HA_CRM_COMMANDS)?;
        let text = format!("{text}migrate {sid} {node}\n");
        self.write_ha_file(config_io::HA_CRM_COMMANDS, text, version)
            .await
    }

    /// `node maintenance enable|disable NODE`.
    pub async fn ha_maintenance(&self, node: &str, enable: bool) -> Result<(), NodeError> {
        self.set_maintenance(node, enable, false).await
    }

    /// Maintenance for the migrate shutdown policy (lifted when the daemon returns).
    pub(crate) async fn ha_maintenance_for_shutdown(
        &self,
        node: &str,
        enable: bool,
    ) -> Result<(), NodeError> {
        self.set_maintenance(node, enable, true).await
    }

    async fn set_maintenance(
        &self,
        node: &str,
        enable: bool,
        shutdown: bool,
    ) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        self.require_cluster_node(node)?;
        let (text, version) = config_io::read(&rt.cfs, config_io::HA_MAINTENANCE)?;
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(node))
            .map(str::to_string)
            .collect();
        if enable {
            lines.push(if shutdown {
                format!("{node} shutdown")
            } else {
                node.to_string()
            });
        }
        let new: String = lines.iter().map(|l| format!("{l}\n")).collect();
        if new == text {
            return Ok(());
        }
        self.write_ha_file(config_io::HA_MAINTENANCE, new, version)
            .await?;
        self.log_event(
            "ha",
            format!(
                "node {node}: maintenance {}",
                if enable { "enabled" } else { "disabled" }
            ),
        )
        .await;
        Ok(())
    }

    pub fn ha_status(&self) -> Result<HaStatus, NodeError> {
        let rt = self.require_cluster()?;
        let (res, _) = config_io::resources(&rt.cfs)?;
        let (rules, _) = super::rules_io::rules(&rt.cfs).unwrap_or_default();
        let (m, _) = config_io::manager_status(&rt.cfs);
        let settings = config_io::settings(&rt.cfs);
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        let quorate = rt.cfs.is_quorate();
        let now = super::clock::boot_ms();
        let seen = self.renewals_seen();
        let alive = |name: &str| self.peer_alive(rt, name);
        let lease = settings.timing.lease_ms;
        let mut lrms = std::collections::BTreeMap::new();
        let nodes = conf
            .nodes
            .iter()
            .map(|n| {
                let name = n.name.to_string();
                let state = m
                    .node_status
                    .get(&name)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into());
                let lrm = config_io::lrm_status(&rt.cfs, &name);
                let mode = serde_json::to_value(lrm.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let renewal_age_ms = seen.get(&name).map(|t| now.saturating_sub(*t));
                lrms.insert(name.clone(), (lrm, renewal_age_ms));
                HaNodeRow {
                    alive: alive(&name),
                    name,
                    state,
                    mode,
                    renewal_age_ms,
                }
            })
            .collect();
        let services = res
            .resources
            .values()
            .map(|r| {
                let ss = m.service_status.get(&r.sid);
                let node = ss.map(|s| s.node.clone()).unwrap_or_default();
                let report = lrms
                    .get(&node)
                    .filter(|(_, age)| age.is_some_and(|a| a < lease));
                HaServiceRow {
                    sid: r.sid.to_string(),
                    state: ss
                        .map(|s| s.state.to_string())
                        .unwrap_or_else(|| "queued".into()),
                    target: ss.and_then(|s| s.target.clone()),
                    request: r.state.as_str().into(),
                    group: r.group.clone().or_else(|| self.group_of(&rules, r.sid)),
                    running: report.map(|(l, _)| l.running.contains(&r.sid)),
                    last_error: lrms
                        .get(&node)
                        .and_then(|(l, _)| l.results.get(&r.sid))
                        .filter(|x| !x.ok && ss.is_some_and(|s| s.uid == x.uid))
                        .map(|x| x.message.clone()),
                    held: ss.and_then(|s| s.held.clone()),
                    node,
                }
            })
            .collect();
        let me = self.config.name.to_string();
        Ok(HaStatus {
            stale: (!quorate).then(|| {
                format!("as seen by {me}, which is not quorate: this view stopped following the cluster and may be out of date")
            }),
            view_of: me,
            quorate,
            master: m.master_node,
            nodes,
            services,
            fence_timeout_ms: settings.timing.fence_timeout_ms,
            lease_ms: lease,
        })
    }

    /// Whether a guest is HA-managed (and not ignored): direct start/stop/migrate go through HA.
    pub(crate) fn ha_managed(&self, sid: ServiceId) -> bool {
        self.cluster()
            .and_then(|rt| config_io::resources(&rt.cfs).ok())
            .and_then(|(r, _)| {
                r.resources
                    .get(&sid)
                    .map(|x| x.state != RequestState::Ignored)
            })
            .unwrap_or(false)
    }
}
