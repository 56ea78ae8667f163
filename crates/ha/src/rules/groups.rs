//! HA groups become node-affinity rules, once, as Proxmox VE 9 migrates them: a group
//! turns into a rule of the same name (nodes and priorities kept, `restricted` becomes
//! `strict`), its resources join that rule, and `nofailback` becomes each member's
//! `failback 0`.

use super::{Rule, RuleKind, RulesConfig};
use crate::{GroupsConfig, ResourcesConfig};

/// The result of migrating groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMigration {
    pub rules: RulesConfig,
    pub resources: ResourcesConfig,
    /// What was done, one line per group and per dangling reference.
    pub log: Vec<String>,
}

/// The rule id a group becomes: its name, unless a rule already has that name.
fn rule_id(name: &str, rules: &RulesConfig) -> String {
    let mut id = name.to_string();
    let mut n = 1;
    while rules.get(&id).is_some() {
        id = format!(
            "{name}-group{}",
            if n == 1 { String::new() } else { n.to_string() }
        );
        n += 1;
    }
    id
}

/// Migrates every group of `groups` into `rules`; None when there is nothing to migrate.
pub fn migrate_groups(
    groups: &GroupsConfig,
    resources: &ResourcesConfig,
    rules: &RulesConfig,
) -> Option<GroupMigration> {
    let referenced = resources.resources.values().any(|r| r.group.is_some());
    if groups.groups.is_empty() && !referenced {
        return None;
    }
    let mut out = GroupMigration {
        rules: rules.clone(),
        resources: resources.clone(),
        log: Vec::new(),
    };
    for g in groups.groups.values() {
        let id = rule_id(&g.name, &out.rules);
        let mut rule = Rule {
            id: id.clone(),
            kind: RuleKind::NodeAffinity {
                nodes: g.nodes.clone(),
                strict: g.restricted,
            },
            resources: std::collections::BTreeSet::default(),
            disable: false,
            comment: Some(format!("migrated from HA group {}", g.name)),
        };
        for r in out.resources.resources.values_mut() {
            if r.group.as_deref() == Some(g.name.as_str()) {
                rule.resources.insert(r.sid);
                r.group = None;
                if g.nofailback {
                    r.failback = false;
                }
            }
        }
        out.log.push(format!(
            "HA group {} migrated to node-affinity rule {id}{}{}{}",
            g.name,
            if g.restricted { " (strict)" } else { "" },
            if rule.resources.is_empty() {
                String::new()
            } else {
                format!(" for {}", super::resources_text(&rule.resources))
            },
            if g.nofailback {
                "; nofailback became failback 0 on its resources"
            } else {
                ""
            }
        ));
        out.rules.rules.push(rule);
    }
    for r in out.resources.resources.values_mut() {
        if let Some(g) = r.group.take() {
            out.log.push(format!(
                "{}: its HA group {g} does not exist; the reference is dropped",
                r.sid
            ));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_become_rules_and_nofailback_becomes_failback_0() {
        let groups = GroupsConfig::parse(
            "group: g1\n\tnodes n1:2,n2:1\n\tnofailback 1\n\ngroup: g2\n\tnodes n3\n\trestricted 1\n",
        )
        .expect("groups");
        let resources = ResourcesConfig::parse(
            "vm: 100\n\tstate started\n\tgroup g1\n\nvm: 101\n\tstate started\n\tgroup gone\n",
        )
        .expect("resources");
        let existing = RulesConfig::parse("node-affinity: g2\n\tnodes n1\n").expect("rules");
        let m = migrate_groups(&groups, &resources, &existing).expect("something to do");
        let text = m.rules.to_text();
        assert!(
            text.contains("node-affinity: g1\n\tresources vm:100\n\tnodes n1:2,n2:1\n"),
            "{text}"
        );
        assert!(
            text.contains("node-affinity: g2-group\n\tnodes n3\n\tstrict 1\n"),
            "{text}"
        );
        let r = &m.resources.resources;
        assert!(r.values().all(|x| x.group.is_none()));
        assert!(!r[&"vm:100".parse().expect("sid")].failback);
        assert_eq!(m.log.len(), 3, "{:?}", m.log);
        assert!(m.log[2].contains("vm:101: its HA group gone does not exist"));
        assert_eq!(
            migrate_groups(&GroupsConfig::default(), &m.resources, &m.rules),
            None,
            "once"
        );
    }
}
