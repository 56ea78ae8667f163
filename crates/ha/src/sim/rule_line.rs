//! HA rules as cmdlist lines: `rule NAME node-affinity resources=vm:100 nodes=n1:2,n2
//! [strict]` and `rule NAME resource-affinity resources=vm:100,vm:101 affinity=negative`.

use crate::config::parse_group_nodes;
use crate::rules::{self, Affinity, Rule, RuleKind, NODE_AFFINITY, RESOURCE_AFFINITY};

fn kv<'a>(words: &'a [&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Parses the words of a `rule` line (starting with `rule`).
pub fn parse(w: &[&str]) -> Result<Rule, String> {
    let id = w.get(1).ok_or("rule needs a name")?.to_string();
    if !rules::is_valid_rule_id(&id) {
        return Err(format!("invalid rule name {id:?}"));
    }
    let resources = rules::parse_resources(kv(w, "resources").ok_or("rule needs resources=")?)
        .map_err(|e| e.to_string())?;
    let kind = match w.get(2).copied() {
        Some(NODE_AFFINITY) => RuleKind::NodeAffinity {
            nodes: parse_group_nodes(kv(w, "nodes").ok_or("node-affinity needs nodes=")?)
                .map_err(|e| e.to_string())?,
            strict: w.contains(&"strict"),
        },
        Some(RESOURCE_AFFINITY) => RuleKind::ResourceAffinity {
            affinity: Affinity::parse(
                kv(w, "affinity").ok_or("resource-affinity needs affinity=")?,
            )
            .map_err(|e| e.to_string())?,
        },
        other => return Err(format!("unknown rule type {other:?}")),
    };
    Ok(Rule {
        id,
        kind,
        resources,
        disable: w.contains(&"disabled"),
        comment: None,
    })
}

/// The cmdlist line of a rule.
pub fn describe(r: &Rule) -> String {
    let body = match &r.kind {
        RuleKind::NodeAffinity { nodes, strict } => format!(
            "{NODE_AFFINITY} resources={} nodes={}{}",
            rules::resources_text(&r.resources),
            rules::nodes_text(nodes),
            if *strict { " strict" } else { "" }
        ),
        RuleKind::ResourceAffinity { affinity } => format!(
            "{RESOURCE_AFFINITY} resources={} affinity={}",
            rules::resources_text(&r.resources),
            affinity.as_str()
        ),
    };
    format!(
        "rule {} {body}{}",
        r.id,
        if r.disable { " disabled" } else { "" }
    )
}
