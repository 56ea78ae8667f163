//! HA rules as cmdlist lines: `rule NAME node-affinity resources=vm:100 nodes=n1:2,n2
//! [strict]` and `rule NAME resource-affinity resources=vm:100,vm:101 affinity=negative`.

use crate::config::parse_group_nodes;
use crate::rules::{self, Affinity, Rule, RuleKind, NODE_AFFINITY, RESOURCE_AFFINITY};
use crate::HaError;

fn kv<'a>(words: &'a [&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Parses the words of a `rule` line (starting with `rule`).
pub fn parse(w: &[&str]) -> Result<Rule, HaError> {
    let missing = |m: &str| HaError::Invalid(m.to_string());
    let id = w
        .get(1)
        .ok_or_else(|| missing("rule needs a name"))?
        .to_string();
    if !rules::is_valid_rule_id(&id) {
        return Err(HaError::Invalid(format!("invalid rule name {id:?}")));
    }
    let resources = rules::parse_resources(
        kv(w, "resources").ok_or_else(|| missing("rule needs resources="))?,
    )?;
    let kind = match w.get(2).copied() {
        Some(NODE_AFFINITY) => RuleKind::NodeAffinity {
            nodes: parse_group_nodes(
                kv(w, "nodes").ok_or_else(|| missing("node-affinity needs nodes="))?,
            )?,
            strict: w.contains(&"strict"),
        },
        Some(RESOURCE_AFFINITY) => RuleKind::ResourceAffinity {
            affinity: Affinity::parse(
                kv(w, "affinity").ok_or_else(|| missing("resource-affinity needs affinity="))?,
            )?,
        },
        other => return Err(HaError::Invalid(format!("unknown rule type {other:?}"))),
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
