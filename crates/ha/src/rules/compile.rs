//! The feasible rules in the form the CRM uses: per resource its node affinity, the
//! resources it must run with and those it must not share a node with. Overlapping
//! positive rules merge; resources kept together inherit each other's node affinity
//! and negative affinities (as Proxmox VE 9 does).

use std::collections::{BTreeMap, BTreeSet};

use super::check::{feasibility, positive_groups, Dropped};
use super::{Affinity, Rule, RuleKind, RulesConfig};
use crate::ServiceId;

/// Where a resource may run, by the rule that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAffinity {
    pub rule: String,
    pub nodes: BTreeMap<String, i32>,
    pub strict: bool,
}

/// The compiled rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compiled {
    pub node_affinity: BTreeMap<ServiceId, NodeAffinity>,
    /// The resources each must share a node with, and the rule(s) that say so.
    pub together: BTreeMap<ServiceId, (String, BTreeSet<ServiceId>)>,
    /// The resources each must not share a node with, each with the rule that says so.
    pub apart: BTreeMap<ServiceId, BTreeMap<ServiceId, String>>,
    /// Rules disabled by the feasibility checks, with why.
    pub dropped: Dropped,
}

impl Compiled {
    /// Whether no rule applies to anything.
    pub fn is_empty(&self) -> bool {
        self.node_affinity.is_empty() && self.together.is_empty() && self.apart.is_empty()
    }

    /// `(rule id -> one line of reasons)`, for status and logs.
    pub fn dropped_reasons(&self) -> BTreeMap<String, String> {
        self.dropped
            .iter()
            .map(|(id, why)| (id.clone(), why.join("; ")))
            .collect()
    }
}

/// Checks `config` against the cluster's `nodes` and compiles what is feasible.
pub fn compile(config: &RulesConfig, nodes: &[String]) -> Compiled {
    let dropped = feasibility(config, nodes);
    let live: Vec<&Rule> = config
        .rules
        .iter()
        .filter(|r| !r.disable && !dropped.contains_key(&r.id))
        .collect();
    let mut out = Compiled {
        dropped,
        ..Compiled::default()
    };
    for r in &live {
        if let RuleKind::NodeAffinity { nodes, strict } = &r.kind {
            for sid in &r.resources {
                out.node_affinity.insert(
                    *sid,
                    NodeAffinity {
                        rule: r.id.clone(),
                        nodes: nodes.clone(),
                        strict: *strict,
                    },
                );
            }
        }
    }
    let groups = positive_groups(&live);
    let mut group_of: BTreeMap<ServiceId, usize> = BTreeMap::new();
    for (i, (ids, set)) in groups.iter().enumerate() {
        let name = ids.join("+");
        // The one node-affinity rule of any member applies to all of them.
        let inherited = set.iter().find_map(|s| out.node_affinity.get(s).cloned());
        for sid in set {
            group_of.insert(*sid, i);
            let others: BTreeSet<ServiceId> = set.iter().filter(|o| *o != sid).copied().collect();
            out.together.insert(*sid, (name.clone(), others));
            if let Some(na) = &inherited {
                out.node_affinity.insert(*sid, na.clone());
            }
        }
    }
    let members = |sid: ServiceId| -> Vec<ServiceId> {
        match group_of.get(&sid) {
            Some(i) => groups[*i].1.iter().copied().collect(),
            None => vec![sid],
        }
    };
    for r in &live {
        if r.kind
            != (RuleKind::ResourceAffinity {
                affinity: Affinity::Negative,
            })
        {
            continue;
        }
        let v: Vec<ServiceId> = r.resources.iter().copied().collect();
        for (i, a) in v.iter().enumerate() {
            for b in &v[i + 1..] {
                for x in members(*a) {
                    for y in members(*b) {
                        if x == y {
                            continue;
                        }
                        out.apart
                            .entry(x)
                            .or_default()
                            .entry(y)
                            .or_insert_with(|| r.id.clone());
                        out.apart
                            .entry(y)
                            .or_default()
                            .entry(x)
                            .or_insert_with(|| r.id.clone());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> ServiceId {
        s.parse().expect("sid")
    }

    fn nodes() -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }

    #[test]
    fn partners_inherit_node_affinity_and_negative_affinity() {
        let rules = RulesConfig::parse(
            "resource-affinity: pair\n\tresources vm:100,vm:101\n\taffinity positive\n\n\
             resource-affinity: more\n\tresources vm:101,vm:102\n\taffinity positive\n\n\
             node-affinity: pin\n\tresources vm:102\n\tnodes n2\n\tstrict 1\n\n\
             resource-affinity: apart\n\tresources vm:100,vm:103\n\taffinity negative\n",
        )
        .expect("parses");
        let c = compile(&rules, &nodes());
        assert!(c.dropped.is_empty(), "{:?}", c.dropped);
        assert_eq!(c.together[&sid("vm:100")].0, "pair+more");
        assert_eq!(c.together[&sid("vm:100")].1.len(), 2);
        for s in ["vm:100", "vm:101", "vm:102"] {
            assert_eq!(c.node_affinity[&sid(s)].rule, "pin", "{s}");
            assert_eq!(c.apart[&sid(s)][&sid("vm:103")], "apart", "{s}");
        }
        assert_eq!(c.apart[&sid("vm:103")].len(), 3);
    }

    #[test]
    fn dropped_rules_apply_to_nothing() {
        let rules = RulesConfig::parse(
            "resource-affinity: apart\n\tresources vm:100,vm:101,vm:102,vm:103\n\taffinity negative\n",
        )
        .expect("parses");
        let c = compile(&rules, &nodes());
        assert!(c.apart.is_empty());
        assert!(c.dropped_reasons()["apart"].contains("only 3 nodes"));
    }
}
