//! Where a service runs: the allowed nodes of its group, the highest priority first,
//! then the least loaded (memory, then guest count), then the node name.

use std::collections::BTreeMap;

use crate::Group;

/// What runs on a node, for placement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Load {
    pub memory_mib: u64,
    pub services: u32,
}

/// The priority of `node` for a service of `group` (None: not allowed).
fn priority(group: Option<&Group>, node: &str) -> Option<i32> {
    match group {
        None => Some(0),
        Some(g) => match g.nodes.get(node) {
            Some(p) => Some(*p),
            None if g.restricted => None,
            // Unrestricted: any node, below every member of the group.
            None => Some(i32::MIN),
        },
    }
}

/// The best node among `candidates` (usable nodes), skipping `exclude`.
pub fn select_node(
    group: Option<&Group>,
    candidates: &[String],
    load: &BTreeMap<String, Load>,
    exclude: &[String],
) -> Option<String> {
    candidates
        .iter()
        .filter(|n| !exclude.contains(n))
        .filter_map(|n| priority(group, n).map(|p| (p, n)))
        .max_by(|(pa, a), (pb, b)| {
            pa.cmp(pb)
                .then_with(|| {
                    let la = load.get(*a).copied().unwrap_or_default();
                    let lb = load.get(*b).copied().unwrap_or_default();
                    lb.cmp(&la)
                })
                .then_with(|| b.cmp(a))
        })
        .map(|(_, n)| n.clone())
}

/// Failback: a better node than `current` by group priority, if one is usable.
pub fn preferred_node(
    group: &Group,
    current: &str,
    candidates: &[String],
    load: &BTreeMap<String, Load>,
) -> Option<String> {
    let best = select_node(Some(group), candidates, load, &[])?;
    let here = priority(Some(group), current);
    (priority(Some(group), &best) > here).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(nodes: &[(&str, i32)], restricted: bool) -> Group {
        Group {
            name: "g".into(),
            nodes: nodes.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            restricted,
            nofailback: false,
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn least_loaded_then_name() {
        let mut load = BTreeMap::new();
        load.insert(
            "n1".to_string(),
            Load {
                memory_mib: 512,
                services: 1,
            },
        );
        let c = names(&["n1", "n2", "n3"]);
        assert_eq!(select_node(None, &c, &load, &[]).as_deref(), Some("n2"));
        assert_eq!(
            select_node(None, &c, &load, &names(&["n2"])).as_deref(),
            Some("n3")
        );
        assert_eq!(select_node(None, &[], &load, &[]), None);
    }

    #[test]
    fn groups_prefer_priority_and_restrict() {
        let load = BTreeMap::new();
        let c = names(&["n1", "n2", "n3"]);
        let g = group(&[("n3", 2), ("n2", 1)], true);
        assert_eq!(select_node(Some(&g), &c, &load, &[]).as_deref(), Some("n3"));
        assert_eq!(
            select_node(Some(&g), &names(&["n1"]), &load, &[]),
            None,
            "restricted"
        );
        let open = group(&[("n3", 2)], false);
        assert_eq!(
            select_node(Some(&open), &names(&["n1", "n2"]), &load, &[]).as_deref(),
            Some("n1")
        );
        assert_eq!(preferred_node(&g, "n2", &c, &load).as_deref(), Some("n3"));
        assert_eq!(preferred_node(&g, "n3", &c, &load), None);
    }
}
