//! `ha/rules.cfg`: Proxmox VE 9's HA rules in its section-config format, parsed and
//! written: `node-affinity` (resources, nodes with priorities, strict) and
//! `resource-affinity` (resources kept together, `positive`, or apart, `negative`).

pub mod check;
pub mod compile;
pub mod groups;

use std::collections::{BTreeMap, BTreeSet};

use brigade_core::section_config::{self, Section};
use serde::{Deserialize, Serialize};

use crate::config::parse_group_nodes;
use crate::{HaError, ServiceId};

pub use compile::{compile, Compiled, NodeAffinity};

/// The section type of a node-affinity rule.
pub const NODE_AFFINITY: &str = "node-affinity";
/// The section type of a resource-affinity rule.
pub const RESOURCE_AFFINITY: &str = "resource-affinity";
/// Longest rule id accepted.
pub const RULE_ID_MAX_LEN: usize = 64;

/// Whether a resource-affinity rule keeps its resources together or apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Affinity {
    Positive,
    Negative,
}

impl Affinity {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "positive" => Ok(Affinity::Positive),
            "negative" => Ok(Affinity::Negative),
            _ => Err(HaError::Invalid(format!(
                "affinity {s:?}: positive (keep together) or negative (keep apart)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Affinity::Positive => "positive",
            Affinity::Negative => "negative",
        }
    }
}

/// What a rule says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RuleKind {
    /// Its resources run on these nodes, the highest priority first; `strict`: only there.
    NodeAffinity {
        nodes: BTreeMap<String, i32>,
        strict: bool,
    },
    /// Its resources run on one node (`positive`) or on pairwise different nodes (`negative`).
    ResourceAffinity { affinity: Affinity },
}

impl RuleKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            RuleKind::NodeAffinity { .. } => NODE_AFFINITY,
            RuleKind::ResourceAffinity { .. } => RESOURCE_AFFINITY,
        }
    }
}

/// One rule of `ha/rules.cfg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    pub resources: BTreeSet<ServiceId>,
    #[serde(default)]
    pub disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Rule {
    /// A short description for logs: `keep-apart (negative resource-affinity)`.
    pub fn describe(&self) -> String {
        match &self.kind {
            RuleKind::NodeAffinity { strict, .. } => format!(
                "{} ({}node-affinity)",
                self.id,
                if *strict { "strict " } else { "" }
            ),
            RuleKind::ResourceAffinity { affinity } => {
                format!("{} ({} resource-affinity)", self.id, affinity.as_str())
            }
        }
    }
}

/// `ha/rules.cfg`, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesConfig {
    pub rules: Vec<Rule>,
}

/// Whether `id` may name a rule: a letter first, then letters, digits, `-` and `_`.
pub fn is_valid_rule_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && id.len() <= RULE_ID_MAX_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses `vm:100,ct:101`.
pub fn parse_resources(v: &str) -> Result<BTreeSet<ServiceId>, HaError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// Writes resources as `vm:100,ct:101`.
pub fn resources_text(r: &BTreeSet<ServiceId>) -> String {
    r.iter()
        .map(ServiceId::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes nodes as Proxmox does: `n1:2,n2` (no priority when it is 0).
pub fn nodes_text(nodes: &BTreeMap<String, i32>) -> String {
    nodes
        .iter()
        .map(|(n, p)| {
            if *p == 0 {
                n.clone()
            } else {
                format!("{n}:{p}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn flag(id: &str, key: &str, v: &str) -> Result<bool, HaError> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(HaError::Invalid(format!(
            "rules.cfg: {id}: {key} must be 0 or 1, not {v:?}"
        ))),
    }
}

fn parse_rule(s: &Section) -> Result<Rule, HaError> {
    let id = &s.id;
    if !is_valid_rule_id(id) {
        return Err(HaError::Invalid(format!(
            "rules.cfg: invalid rule id {id:?}: a letter, then letters, digits, '-' or '_' (at most {RULE_ID_MAX_LEN})"
        )));
    }
    let bad = |m: String| HaError::Invalid(format!("rules.cfg: {id}: {m}"));
    let mut resources = None;
    let mut nodes = None;
    let mut strict = false;
    let mut affinity = None;
    let mut disable = false;
    let mut comment = None;
    let node_affinity = match s.kind.as_str() {
        NODE_AFFINITY => true,
        RESOURCE_AFFINITY => false,
        other => {
            return Err(HaError::Invalid(format!(
                "rules.cfg: unknown rule type {other:?} (node-affinity or resource-affinity)"
            )))
        }
    };
    for (k, v) in &s.props {
        match (k.as_str(), node_affinity) {
            ("resources", _) => {
                resources = Some(parse_resources(v).map_err(|e| bad(e.to_string()))?);
            }
            ("disable", _) => disable = flag(id, k, v)?,
            ("comment", _) => comment = Some(v.clone()),
            ("nodes", true) => nodes = Some(parse_group_nodes(v).map_err(|e| bad(e.to_string()))?),
            ("strict", true) => strict = flag(id, k, v)?,
            // Proxmox writes `affinity positive` on node-affinity rules migrated from groups.
            ("affinity", true) if v == "positive" => {}
            ("affinity", false) => {
                affinity = Some(Affinity::parse(v).map_err(|e| bad(e.to_string()))?);
            }
            _ => return Err(bad(format!("unknown property {k:?} for a {} rule", s.kind))),
        }
    }
    let resources = resources.unwrap_or_default();
    let kind = if node_affinity {
        RuleKind::NodeAffinity {
            nodes: nodes.ok_or_else(|| bad("a node-affinity rule needs nodes".into()))?,
            strict,
        }
    } else {
        if resources.is_empty() {
            return Err(bad("a resource-affinity rule needs resources".into()));
        }
        RuleKind::ResourceAffinity {
            affinity: affinity.ok_or_else(|| {
                bad("a resource-affinity rule needs affinity positive or negative".into())
            })?,
        }
    };
    Ok(Rule {
        id: id.clone(),
        kind,
        resources,
        disable,
        comment,
    })
}

impl RulesConfig {
    pub fn parse(text: &str) -> Result<Self, HaError> {
        let sections =
            section_config::parse(text).map_err(|e| HaError::Invalid(format!("rules.cfg: {e}")))?;
        let mut out = RulesConfig::default();
        for s in &sections {
            let rule = parse_rule(s)?;
            if out.get(&rule.id).is_some() {
                return Err(HaError::Invalid(format!(
                    "rules.cfg: rule {:?} is defined twice",
                    rule.id
                )));
            }
            out.rules.push(rule);
        }
        Ok(out)
    }

    pub fn to_text(&self) -> String {
        let sections: Vec<Section> = self
            .rules
            .iter()
            .map(|r| {
                let mut s = Section::new(r.kind.type_name(), &r.id);
                if !r.resources.is_empty() {
                    s = s.with("resources", resources_text(&r.resources));
                }
                match &r.kind {
                    RuleKind::NodeAffinity { nodes, strict } => {
                        s = s.with("nodes", nodes_text(nodes));
                        if *strict {
                            s = s.with("strict", 1);
                        }
                    }
                    RuleKind::ResourceAffinity { affinity } => {
                        s = s.with("affinity", affinity.as_str());
                    }
                }
                if r.disable {
                    s = s.with("disable", 1);
                }
                if let Some(c) = &r.comment {
                    s = s.with("comment", c);
                }
                s
            })
            .collect();
        section_config::write(&sections)
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Rule> {
        self.rules.iter_mut().find(|r| r.id == id)
    }

    /// Removes a resource from every rule (it left HA).
    pub fn forget(&mut self, sid: ServiceId) -> bool {
        let mut changed = false;
        for r in &mut self.rules {
            changed |= r.resources.remove(&sid);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "node-affinity: prefer-n1\n\tresources vm:100,vm:101\n\tnodes n1:2,n2\n\tstrict 1\n\n\
        resource-affinity: apart\n\tresources vm:100,vm:102\n\taffinity negative\n\tcomment web tier\n\n\
        resource-affinity: together\n\tresources ct:200,vm:101\n\taffinity positive\n\tdisable 1\n";

    #[test]
    fn rules_round_trip_in_proxmox_format() {
        let r = RulesConfig::parse(SAMPLE).expect("parses");
        assert_eq!(r.rules.len(), 3);
        assert_eq!(r.rules[0].id, "prefer-n1");
        match &r.rules[0].kind {
            RuleKind::NodeAffinity { nodes, strict } => {
                assert_eq!((nodes["n1"], nodes["n2"], *strict), (2, 0, true));
            }
            k @ RuleKind::ResourceAffinity { .. } => panic!("{k:?}"),
        }
        assert!(r.rules[2].disable);
        let text = r.to_text();
        assert!(text.contains("\tnodes n1:2,n2\n"), "{text}");
        assert_eq!(RulesConfig::parse(&text).expect("again"), r);
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule_named() {
        for (bad, needle) in [
            ("node-affinity: r1\n\tresources vm:100\n", "needs nodes"),
            (
                "resource-affinity: r1\n\tresources vm:100,vm:101\n",
                "needs affinity",
            ),
            (
                "resource-affinity: r1\n\taffinity negative\n",
                "needs resources",
            ),
            (
                "resource-affinity: r1\n\tresources vm:100\n\taffinity sideways\n",
                "affinity",
            ),
            (
                "node-affinity: r1\n\tnodes n1\n\tstrict yes\n",
                "strict must be 0 or 1",
            ),
            (
                "node-affinity: r1\n\tnodes n1\n\tbogus 1\n",
                "unknown property",
            ),
            ("group-affinity: r1\n\tnodes n1\n", "unknown rule type"),
            ("node-affinity: 1r\n\tnodes n1\n", "invalid rule id"),
            ("node-affinity: r1\n\tnodes n1\n\tresources vm:1\n", "r1"),
            (
                "node-affinity: r1\n\tnodes n1\n\nnode-affinity: r1\n\tnodes n2\n",
                "duplicate",
            ),
        ] {
            let e = RulesConfig::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }
}
