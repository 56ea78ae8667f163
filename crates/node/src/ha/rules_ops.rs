//! HA rules behind the API: list with each rule's state, add, change, remove; a rule
//! that could not hold is refused with the reason the feasibility checks give. Also
//! the thin layer that keeps `ha group-*` working on node-affinity rules.

use std::collections::BTreeMap;

use brigade_cfs::Op;
use brigade_core::layout;
use brigade_ha::config::parse_group_nodes;
use brigade_ha::rules::{self, Affinity, Rule, RuleKind, RulesConfig};
use brigade_ha::{Group, ResourcesConfig, ServiceId};

use super::config_io;
use super::ops::GroupRequest;
use super::rules_io::{self, write_op, HA_RULES_CFG};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::ha_rules::{RuleRequest, RuleRow};

fn invalid(e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(e.to_string())
}

fn row(r: &Rule, dropped: &BTreeMap<String, String>) -> RuleRow {
    let (nodes, strict, affinity) = match &r.kind {
        RuleKind::NodeAffinity { nodes, strict } => (Some(rules::nodes_text(nodes)), *strict, None),
        RuleKind::ResourceAffinity { affinity } => (None, false, Some(affinity.as_str().into())),
    };
    let reason = dropped.get(&r.id).cloned();
    RuleRow {
        rule: r.id.clone(),
        kind: r.kind.type_name().into(),
        resources: rules::resources_text(&r.resources),
        nodes,
        strict,
        affinity,
        disable: r.disable,
        comment: r.comment.clone(),
        state: if r.disable {
            "disabled"
        } else if reason.is_some() {
            "infeasible"
        } else {
            "enabled"
        }
        .into(),
        reason,
    }
}

/// Where `ha add/set --group NAME` puts a resource.
pub(crate) enum GroupJoin {
    /// A group of groups.cfg not migrated yet: the resource's `group`.
    Legacy,
    /// A node-affinity rule: the rules with the resource moved into it.
    Rule(RulesConfig, u64),
}

impl Node {
    fn cluster_nodes(&self) -> Result<Vec<String>, NodeError> {
        let rt = self.require_cluster()?;
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        Ok(conf.nodes.iter().map(|n| n.name.to_string()).collect())
    }

    pub fn ha_rules_list(&self) -> Result<Vec<RuleRow>, NodeError> {
        let rt = self.require_cluster()?;
        let (rules, _) = rules_io::rules(&rt.cfs)?;
        let dropped = rules::compile(&rules, &self.cluster_nodes()?).dropped_reasons();
        Ok(rules.rules.iter().map(|r| row(r, &dropped)).collect())
    }

    /// The rule `req` describes, on top of `old` (a change) or new (an add).
    fn build_rule(
        &self,
        id: &str,
        old: Option<&Rule>,
        req: &RuleRequest,
    ) -> Result<Rule, NodeError> {
        if !rules::is_valid_rule_id(id) {
            return Err(invalid(format!(
                "invalid rule id {id:?}: a letter, then letters, digits, '-' or '_'"
            )));
        }
        let kind = match (req.kind.as_deref(), old) {
            (Some(t), Some(o)) if t != o.kind.type_name() => {
                return Err(invalid(format!(
                    "rule {id} is a {} rule; its type cannot change (remove it and add a new one)",
                    o.kind.type_name()
                )))
            }
            (Some(t), _) => t.to_string(),
            (None, Some(o)) => o.kind.type_name().to_string(),
            (None, None) => {
                return Err(invalid(
                    "type is required: node-affinity or resource-affinity",
                ))
            }
        };
        let resources = match &req.resources {
            Some(r) => rules::parse_resources(r).map_err(invalid)?,
            None => old.map(|o| o.resources.clone()).unwrap_or_default(),
        };
        let rt = self.require_cluster()?;
        let (res, _) = config_io::resources(&rt.cfs)?;
        for sid in &resources {
            if !res.resources.contains_key(sid) {
                return Err(NodeError::NotFound(format!(
                    "{sid} is not HA-managed: add it first with 'brigade ha add {sid}'"
                )));
            }
        }
        let members = self.cluster_nodes()?;
        let kind = match kind.as_str() {
            rules::NODE_AFFINITY => {
                if req.affinity.is_some() {
                    return Err(invalid("affinity is for resource-affinity rules; node-affinity takes nodes and strict"));
                }
                let (old_nodes, old_strict) = match old.map(|o| &o.kind) {
                    Some(RuleKind::NodeAffinity { nodes, strict }) => {
                        (Some(nodes.clone()), *strict)
                    }
                    _ => (None, false),
                };
                let nodes = match &req.nodes {
                    Some(n) => parse_group_nodes(n).map_err(invalid)?,
                    None => {
                        old_nodes.ok_or_else(|| invalid("a node-affinity rule needs --nodes"))?
                    }
                };
                for n in nodes.keys() {
                    if !members.contains(n) {
                        return Err(NodeError::NotFound(format!(
                            "node {n:?} is not a member of this cluster"
                        )));
                    }
                }
                RuleKind::NodeAffinity {
                    nodes,
                    strict: req.strict.unwrap_or(old_strict),
                }
            }
            rules::RESOURCE_AFFINITY => {
                if req.nodes.is_some() || req.strict.is_some() {
                    return Err(invalid("nodes and strict are for node-affinity rules; resource-affinity takes affinity"));
                }
                let affinity = match (&req.affinity, old.map(|o| &o.kind)) {
                    (Some(a), _) => Affinity::parse(a).map_err(invalid)?,
                    (None, Some(RuleKind::ResourceAffinity { affinity })) => *affinity,
                    _ => {
                        return Err(invalid(
                            "a resource-affinity rule needs --affinity positive or negative",
                        ))
                    }
                };
                if resources.len() < 2 {
                    return Err(invalid(
                        "a resource-affinity rule needs at least two resources",
                    ));
                }
                RuleKind::ResourceAffinity { affinity }
            }
            other => {
                return Err(invalid(format!(
                    "unknown rule type {other:?}: node-affinity or resource-affinity"
                )))
            }
        };
        Ok(Rule {
            id: id.to_string(),
            kind,
            resources,
            disable: req.disable.unwrap_or(old.is_some_and(|o| o.disable)),
            comment: req
                .comment
                .clone()
                .or_else(|| old.and_then(|o| o.comment.clone())),
        })
    }

    /// Refuses a rule set in which `id` could not hold; returns its row.
    fn checked(&self, rules: &RulesConfig, id: &str) -> Result<RuleRow, NodeError> {
        let dropped = rules::compile(rules, &self.cluster_nodes()?).dropped_reasons();
        let rule = rules
            .get(id)
            .ok_or_else(|| NodeError::Conflict(format!("rule {id} was removed meanwhile")))?;
        if let Some(why) = dropped.get(id).filter(|_| !rule.disable) {
            return Err(NodeError::Conflict(format!("rule {id} cannot hold: {why}")));
        }
        Ok(row(rule, &dropped))
    }

    pub async fn ha_rule_add(&self, req: RuleRequest) -> Result<RuleRow, NodeError> {
        let rt = self.require_cluster()?;
        let id = req
            .rule
            .clone()
            .ok_or_else(|| invalid("rule is required: the new rule's id"))?;
        let (mut rules, version) = rules_io::rules(&rt.cfs)?;
        if rules.get(&id).is_some() {
            return Err(NodeError::Conflict(format!(
                "HA rule {id:?} already exists"
            )));
        }
        let rule = self.build_rule(&id, None, &req)?;
        rules.rules.push(rule);
        let out = self.checked(&rules, &id)?;
        rt.cfs
            .propose(write_op(HA_RULES_CFG, rules.to_text(), version)?)
            .await?;
        self.log_event("ha", format!("HA rule {id} added")).await;
        Ok(out)
    }

    pub async fn ha_rule_set(&self, id: &str, req: RuleRequest) -> Result<RuleRow, NodeError> {
        let rt = self.require_cluster()?;
        if req.rule.as_deref().is_some_and(|r| r != id) {
            return Err(invalid(
                "a rule's id cannot change (remove it and add a new one)",
            ));
        }
        let (mut rules, version) = rules_io::rules(&rt.cfs)?;
        let old = rules
            .get(id)
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("HA rule {id:?} does not exist")))?;
        let rule = self.build_rule(id, Some(&old), &req)?;
        if let Some(r) = rules.get_mut(id) {
            *r = rule;
        }
        let out = self.checked(&rules, id)?;
        rt.cfs
            .propose(write_op(HA_RULES_CFG, rules.to_text(), version)?)
            .await?;
        self.log_event("ha", format!("HA rule {id} changed")).await;
        Ok(out)
    }

    pub async fn ha_rule_remove(&self, id: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let (mut rules, version) = rules_io::rules(&rt.cfs)?;
        let before = rules.rules.len();
        rules.rules.retain(|r| r.id != id);
        if rules.rules.len() == before {
            return Err(NodeError::NotFound(format!(
                "HA rule {id:?} does not exist"
            )));
        }
        rt.cfs
            .propose(write_op(HA_RULES_CFG, rules.to_text(), version)?)
            .await?;
        self.log_event("ha", format!("HA rule {id} removed")).await;
        Ok(())
    }

    /// Writes resources.cfg, and the rules a `--group` changed, in one batch.
    pub(crate) async fn write_resources_and_rules(
        &self,
        res: &ResourcesConfig,
        res_version: u64,
        rules: Option<(RulesConfig, u64)>,
    ) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let mut ops = vec![write_op(
            layout::HA_RESOURCES_CFG,
            res.to_text(),
            res_version,
        )?];
        if let Some((rules, v)) = rules {
            ops.push(write_op(HA_RULES_CFG, rules.to_text(), v)?);
        }
        rt.cfs.propose(Op::Batch { ops }).await?;
        Ok(())
    }

    /// The rules without `sid` (it leaves HA), if any named it.
    pub(crate) fn rules_without(
        &self,
        sid: ServiceId,
    ) -> Result<Option<(RulesConfig, u64)>, NodeError> {
        let rt = self.require_cluster()?;
        let (mut rules, v) = rules_io::rules(&rt.cfs)?;
        Ok(rules.forget(sid).then_some((rules, v)))
    }

    /// `--group NAME`: a node-affinity rule of that name takes the resource (out of any
    /// other), or a group not migrated yet names it.
    pub(crate) fn group_join(&self, sid: ServiceId, name: &str) -> Result<GroupJoin, NodeError> {
        let rt = self.require_cluster()?;
        let (mut rules, v) = rules_io::rules(&rt.cfs)?;
        if matches!(
            rules.get(name).map(|r| &r.kind),
            Some(RuleKind::NodeAffinity { .. })
        ) {
            for r in &mut rules.rules {
                if matches!(r.kind, RuleKind::NodeAffinity { .. }) {
                    r.resources.remove(&sid);
                }
            }
            if let Some(r) = rules.get_mut(name) {
                r.resources.insert(sid);
            }
            return Ok(GroupJoin::Rule(rules, v));
        }
        let (groups, _) = config_io::groups(&rt.cfs)?;
        if groups.groups.contains_key(name) {
            return Ok(GroupJoin::Legacy);
        }
        Err(NodeError::NotFound(format!(
            "HA group {name:?} does not exist (groups are node-affinity rules now: 'brigade ha rules list')"
        )))
    }

    /// The node-affinity rule of `sid`, shown as its group.
    pub(crate) fn group_of(&self, rules: &RulesConfig, sid: ServiceId) -> Option<String> {
        rules
            .rules
            .iter()
            .find(|r| matches!(r.kind, RuleKind::NodeAffinity { .. }) && r.resources.contains(&sid))
            .map(|r| r.id.clone())
    }

    /// `ha groups`: node-affinity rules as groups (and groups not migrated yet).
    pub fn ha_groups(&self) -> Result<Vec<Group>, NodeError> {
        let rt = self.require_cluster()?;
        let mut out: Vec<Group> = config_io::groups(&rt.cfs)?.0.groups.into_values().collect();
        let (rules, _) = rules_io::rules(&rt.cfs)?;
        for r in &rules.rules {
            if let RuleKind::NodeAffinity { nodes, strict } = &r.kind {
                out.push(Group {
                    name: r.id.clone(),
                    nodes: nodes.clone(),
                    restricted: *strict,
                    nofailback: false,
                });
            }
        }
        Ok(out)
    }

    /// `ha group-add`: a node-affinity rule with no resources yet (`ha add --group` adds them).
    pub async fn ha_group_add(&self, req: GroupRequest) -> Result<Group, NodeError> {
        if req.nofailback {
            return Err(invalid(format!(
                "nofailback is a property of each resource since HA groups became node-affinity rules: add the group without it and use 'brigade ha add SID --group {} --failback 0'",
                req.group
            )));
        }
        let (groups, _) = config_io::groups(&self.require_cluster()?.cfs)?;
        if groups.groups.contains_key(&req.group) {
            return Err(NodeError::Conflict(format!(
                "HA group {:?} already exists",
                req.group
            )));
        }
        let row = self
            .ha_rule_add(RuleRequest {
                rule: Some(req.group.clone()),
                kind: Some(rules::NODE_AFFINITY.into()),
                nodes: Some(req.nodes.clone()),
                strict: Some(req.restricted),
                comment: Some(format!("HA group {}", req.group)),
                ..RuleRequest::default()
            })
            .await
            .map_err(|e| match e {
                NodeError::Conflict(m) if m.contains("already exists") => {
                    NodeError::Conflict(format!(
                        "HA group (node-affinity rule) {:?} already exists",
                        req.group
                    ))
                }
                e => e,
            })?;
        let nodes = parse_group_nodes(row.nodes.as_deref().unwrap_or("")).map_err(invalid)?;
        Ok(Group {
            name: row.rule,
            nodes,
            restricted: row.strict,
            nofailback: false,
        })
    }

    /// `ha group-remove`: the node-affinity rule (refused while resources use it), or a
    /// group not migrated yet.
    pub async fn ha_group_remove(&self, name: &str) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let (rules, _) = rules_io::rules(&rt.cfs)?;
        if let Some(r) = rules
            .get(name)
            .filter(|r| matches!(r.kind, RuleKind::NodeAffinity { .. }))
        {
            if !r.resources.is_empty() {
                return Err(NodeError::Conflict(format!(
                    "HA group {name:?} is used by {}",
                    rules::resources_text(&r.resources).replace(',', ", ")
                )));
            }
            return self.ha_rule_remove(name).await;
        }
        self.ha_legacy_group_remove(name).await
    }
}
