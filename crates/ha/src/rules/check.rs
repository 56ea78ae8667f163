//! Feasibility checks of HA rules, as Proxmox VE 9 documents them: a rule that can
//! never hold, or contradicts another, is disabled with the reason, so every rule
//! left can be kept in every state of the cluster.

use std::collections::{BTreeMap, BTreeSet};

use super::{Affinity, Rule, RuleKind, RulesConfig};
use crate::ServiceId;

/// Why each disabled rule was disabled (rule id -> reasons).
pub type Dropped = BTreeMap<String, Vec<String>>;

/// Positive resource-affinity rules whose resources overlap, merged: the rule ids
/// and the union of their resources, each set disjoint from the others.
pub(crate) fn positive_groups(rules: &[&Rule]) -> Vec<(Vec<String>, BTreeSet<ServiceId>)> {
    let mut groups: Vec<(Vec<String>, BTreeSet<ServiceId>)> = Vec::new();
    for r in rules {
        if r.kind
            != (RuleKind::ResourceAffinity {
                affinity: Affinity::Positive,
            })
        {
            continue;
        }
        let mut ids = vec![r.id.clone()];
        let mut set = r.resources.clone();
        // Absorb every group it touches.
        let mut i = 0;
        while i < groups.len() {
            if groups[i].1.is_disjoint(&set) {
                i += 1;
            } else {
                let (gids, gset) = groups.remove(i);
                ids.splice(0..0, gids);
                set.extend(gset);
                i = 0;
            }
        }
        groups.push((ids, set));
    }
    groups
}

fn names(v: &[&str]) -> String {
    v.join(", ")
}

/// Runs every check on the enabled rules; `nodes` are the cluster's members.
pub fn feasibility(config: &RulesConfig, nodes: &[String]) -> Dropped {
    let enabled: Vec<&Rule> = config.rules.iter().filter(|r| !r.disable).collect();
    let mut dropped = Dropped::new();
    let mut drop = |id: &str, why: String| dropped.entry(id.to_string()).or_default().push(why);
    let node_rules: Vec<&Rule> = enabled
        .iter()
        .copied()
        .filter(|r| matches!(r.kind, RuleKind::NodeAffinity { .. }))
        .collect();
    let negative: Vec<&Rule> = enabled
        .iter()
        .copied()
        .filter(|r| {
            r.kind
                == RuleKind::ResourceAffinity {
                    affinity: Affinity::Negative,
                }
        })
        .collect();

    // Resource affinity needs two resources; a negative one needs a node for each.
    for r in &enabled {
        if let RuleKind::ResourceAffinity { affinity } = r.kind {
            if r.resources.len() < 2 {
                drop(
                    &r.id,
                    "it has fewer than two resources, so it says nothing".into(),
                );
            } else if affinity == Affinity::Negative && r.resources.len() > nodes.len() {
                drop(
                    &r.id,
                    format!(
                        "it keeps {} resources apart but the cluster has only {} nodes",
                        r.resources.len(),
                        nodes.len()
                    ),
                );
            }
        }
    }
    // A resource is in one node-affinity rule at most.
    let mut by_resource: BTreeMap<ServiceId, Vec<&str>> = BTreeMap::new();
    for r in &node_rules {
        for sid in &r.resources {
            by_resource.entry(*sid).or_default().push(&r.id);
        }
    }
    for (sid, ids) in &by_resource {
        if ids.len() > 1 {
            for id in ids {
                drop(
                    id,
                    format!(
                        "{sid} is in more than one node-affinity rule ({})",
                        names(ids)
                    ),
                );
            }
        }
    }
    // A strict rule with none of its nodes in the cluster could never run anything.
    for r in &node_rules {
        if let RuleKind::NodeAffinity {
            nodes: rn,
            strict: true,
        } = &r.kind
        {
            if !r.resources.is_empty() && rn.keys().all(|n| !nodes.contains(n)) {
                drop(&r.id, "none of its nodes is a member of the cluster".into());
            }
        }
    }
    let groups = positive_groups(&enabled);
    for (ids, set) in &groups {
        // Together and apart at once.
        for n in &negative {
            let common: Vec<String> = set
                .intersection(&n.resources)
                .map(ServiceId::to_string)
                .collect();
            if common.len() >= 2 {
                for id in ids {
                    drop(
                        id,
                        format!(
                            "it keeps {} together, which negative rule {} keeps apart",
                            common.join(", "),
                            n.id
                        ),
                    );
                }
                drop(
                    &n.id,
                    format!(
                        "it keeps {} apart, which positive rule {} keeps together",
                        common.join(", "),
                        ids.join("+")
                    ),
                );
            }
        }
        // Resources kept together inherit one node affinity; two would contradict.
        let paired: Vec<&str> = node_rules
            .iter()
            .filter(|r| !r.resources.is_disjoint(set))
            .map(|r| r.id.as_str())
            .collect();
        if paired.len() > 1 {
            for id in ids {
                drop(
                    id,
                    format!(
                        "its resources are in more than one node-affinity rule ({})",
                        names(&paired)
                    ),
                );
            }
            for id in &paired {
                drop(
                    id,
                    format!(
                        "its resources are kept together by {} with resources of another node-affinity rule",
                        ids.join("+")
                    ),
                );
            }
        }
    }
    // Strict node affinity must leave a node for each resource a negative rule separates.
    for n in &negative {
        let mut located = BTreeSet::new();
        let mut allowed = BTreeSet::new();
        let mut paired = Vec::new();
        for r in &node_rules {
            if let RuleKind::NodeAffinity {
                nodes: rn,
                strict: true,
            } = &r.kind
            {
                let common: BTreeSet<ServiceId> =
                    r.resources.intersection(&n.resources).copied().collect();
                if !common.is_empty() {
                    located.extend(common);
                    allowed.extend(rn.keys().cloned());
                    paired.push(r.id.as_str());
                }
            }
        }
        if allowed.len() < located.len() {
            drop(
                &n.id,
                format!(
                    "strict node-affinity ({}) leaves {} nodes for the {} resources it keeps apart",
                    names(&paired),
                    allowed.len(),
                    located.len()
                ),
            );
            for id in paired {
                drop(
                    id,
                    format!(
                        "with negative rule {} it leaves fewer nodes than resources to keep apart",
                        n.id
                    ),
                );
            }
        }
    }
    for v in dropped.values_mut() {
        v.dedup();
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn check(text: &str, n: usize) -> Dropped {
        feasibility(&RulesConfig::parse(text).expect("parses"), &nodes(n))
    }

    #[test]
    fn a_resource_in_two_node_affinity_rules_disables_both() {
        let d = check(
            "node-affinity: a\n\tresources vm:100\n\tnodes n1\n\nnode-affinity: b\n\tresources vm:100,vm:101\n\tnodes n2\n",
            3,
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(d["a"][0].contains("vm:100 is in more than one node-affinity rule (a, b)"));
    }

    #[test]
    fn negative_with_more_guests_than_nodes_is_disabled() {
        let d = check(
            "resource-affinity: apart\n\tresources vm:100,vm:101,vm:102\n\taffinity negative\n",
            2,
        );
        assert!(d["apart"][0].contains("keeps 3 resources apart but the cluster has only 2 nodes"));
        assert!(check(
            "resource-affinity: apart\n\tresources vm:100,vm:101,vm:102\n\taffinity negative\n",
            3
        )
        .is_empty());
    }

    #[test]
    fn together_and_apart_at_once_disables_both_even_through_merged_rules() {
        let d = check(
            "resource-affinity: p1\n\tresources vm:100,vm:101\n\taffinity positive\n\n\
             resource-affinity: p2\n\tresources vm:101,vm:102\n\taffinity positive\n\n\
             resource-affinity: n\n\tresources vm:100,vm:102\n\taffinity negative\n",
            3,
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["n", "p1", "p2"]);
        assert!(
            d["n"][0].contains("which positive rule p1+p2 keeps together"),
            "{d:?}"
        );
    }

    #[test]
    fn one_resource_is_no_affinity_and_disabled_rules_are_not_checked() {
        let d = check(
            "resource-affinity: lone\n\tresources vm:100\n\taffinity positive\n\n\
             node-affinity: a\n\tresources vm:100\n\tnodes n1\n\tdisable 1\n\n\
             node-affinity: b\n\tresources vm:100\n\tnodes n2\n",
            3,
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["lone"]);
    }

    #[test]
    fn a_positive_group_in_two_node_affinity_rules_and_strict_rules_too_narrow() {
        let d = check(
            "resource-affinity: p\n\tresources vm:100,vm:101\n\taffinity positive\n\n\
             node-affinity: a\n\tresources vm:100\n\tnodes n1\n\n\
             node-affinity: b\n\tresources vm:101\n\tnodes n2\n",
            3,
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b", "p"]);
        let d = check(
            "resource-affinity: n\n\tresources vm:100,vm:101\n\taffinity negative\n\n\
             node-affinity: a\n\tresources vm:100,vm:101\n\tnodes n1\n\tstrict 1\n",
            3,
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "n"]);
        assert!(
            d["n"][0].contains("leaves 1 nodes for the 2 resources"),
            "{d:?}"
        );
        let d = check(
            "node-affinity: a\n\tresources vm:100\n\tnodes n9\n\tstrict 1\n",
            3,
        );
        assert!(d["a"][0].contains("none of its nodes"), "{d:?}");
    }
}
