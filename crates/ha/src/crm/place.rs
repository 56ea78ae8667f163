//! Where a service may and should run: its node affinity (an HA rule, or a group not
//! yet migrated to one), the services it must run with or apart from, then the CRS
//! score; and whether its rules allow a given node.

use std::collections::BTreeMap;

use super::{may_run, network, Step};
use crate::status::ServiceState;
use crate::ServiceId;

/// A service's node affinity, from a rule or a legacy group.
pub(super) struct Affinity<'x> {
    pub nodes: &'x BTreeMap<String, i32>,
    pub strict: bool,
    /// The rule that says so (None: a legacy group).
    pub rule: Option<&'x str>,
    /// It moves back to a higher-priority node when one returns.
    pub failback: bool,
}

pub(super) fn affinity<'x>(s: &'x Step, sid: ServiceId) -> Option<Affinity<'x>> {
    let res = s.input.resources.resources.get(&sid);
    let failback = res.is_none_or(|r| r.failback);
    if let Some(na) = s.rules.node_affinity.get(&sid) {
        return Some(Affinity {
            nodes: &na.nodes,
            strict: na.strict,
            rule: Some(&na.rule),
            failback,
        });
    }
    let g = res
        .and_then(|r| r.group.as_ref())
        .and_then(|g| s.input.groups.groups.get(g))?;
    Some(Affinity {
        nodes: &g.nodes,
        strict: g.restricted,
        rule: None,
        failback: failback && !g.nofailback,
    })
}

/// The priority of `node` (None: not allowed). Nodes outside a non-strict affinity come last.
pub(super) fn priority(a: Option<&Affinity>, node: &str) -> Option<i32> {
    match a {
        None => Some(0),
        Some(a) => match a.nodes.get(node) {
            Some(p) => Some(*p),
            None if a.strict => None,
            None => Some(i32::MIN),
        },
    }
}

/// `n1, n2` of a node list.
pub(super) fn names(nodes: &BTreeMap<String, i32>) -> String {
    nodes.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// The nodes `sid` runs on or may run on (or is about to): where a rule's partner must
/// not go, or must go along.
pub(super) fn occupied(s: &Step, sid: ServiceId) -> Vec<String> {
    match s.out.status.service_status.get(&sid) {
        Some(ss) => {
            let mut v = Vec::new();
            if may_run(ss.state) || matches!(ss.state, ServiceState::Fence | ServiceState::Ignored)
            {
                v.push(ss.node.clone());
            }
            if matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate) {
                v.extend(ss.target.clone());
            }
            v
        }
        // Named by a rule but not HA-managed: its node may run it.
        None => s.input.locations.get(&sid).cloned().into_iter().collect(),
    }
}

/// Where `sid` will be: like [`occupied`], but a service on the move only at its target
/// (what a positive partner must join).
pub(super) fn destination(s: &Step, sid: ServiceId) -> Vec<String> {
    match s.out.status.service_status.get(&sid) {
        Some(ss) if matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate) => {
            ss.target.clone().into_iter().collect()
        }
        _ => occupied(s, sid),
    }
}

/// A chosen node and why (lines for the log; empty when nothing but load decided
/// and the CRS is not asked to explain).
pub(super) struct Placement {
    pub node: String,
    pub why: Vec<String>,
}

/// The best node for `sid`, skipping `exclude`; `from` is where it runs now (its load
/// there is taken off when comparing). `group_move`: its positive partners move with
/// it, so they do not pin it. Err: why no node will do (None: no rule is involved).
pub(super) fn place(
    s: &Step,
    sid: ServiceId,
    exclude: &[String],
    from: Option<&str>,
    group_move: bool,
) -> Result<Placement, Option<String>> {
    let aff = affinity(s, sid);
    let mut why = Vec::new();
    let open: Vec<&String> = s.usable.iter().filter(|n| !exclude.contains(n)).collect();
    let mut cands: Vec<(String, i32)> = open
        .iter()
        .filter_map(|n| priority(aff.as_ref(), n).map(|p| ((*n).clone(), p)))
        .collect();
    if let Some(Affinity {
        rule: Some(rule),
        strict: true,
        nodes,
        ..
    }) = &aff
    {
        if cands.len() < open.len() || cands.is_empty() {
            why.push(format!("rule {rule} allows only {}", names(nodes)));
        }
    }
    cands.retain(|(n, _)| match network::lacks_bridge(s, sid, n) {
        Some(w) => {
            why.push(w);
            false
        }
        None => true,
    });
    if let Some(partners) = s.rules.apart.get(&sid) {
        for (p, rule) in partners {
            for n in occupied(s, *p) {
                if cands.iter().any(|(c, _)| *c == n) {
                    cands.retain(|(c, _)| *c != n);
                    why.push(format!("rule {rule} keeps it apart from {p} on {n}"));
                }
            }
        }
    }
    if !group_move {
        if let Some((rule, partners)) = s.rules.together.get(&sid) {
            let mut count: BTreeMap<String, Vec<ServiceId>> = BTreeMap::new();
            for p in partners {
                for n in destination(s, *p) {
                    if cands.iter().any(|(c, _)| *c == n) {
                        count.entry(n).or_default().push(*p);
                    }
                }
            }
            // The node with most partners (ties by name).
            let best = count
                .iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)));
            if let Some((node, with)) = best {
                let list: Vec<String> = with.iter().map(ServiceId::to_string).collect();
                why.push(format!(
                    "rule {rule} keeps it with {} on {node}",
                    list.join(", ")
                ));
                let node = node.clone();
                cands.retain(|(c, _)| *c == node);
            }
        }
    }
    let Some(top) = cands.iter().map(|(_, p)| *p).max() else {
        return Err((!why.is_empty()).then(|| why.join("; ")));
    };
    let names: Vec<String> = cands
        .into_iter()
        .filter(|(_, p)| *p == top)
        .map(|(n, _)| n)
        .collect();
    let ranked = s.sched.rank(
        sid,
        &names,
        from,
        &s.usable,
        s.input.usage,
        s.fallback_memory(sid),
    );
    if s.input.crs.explain {
        why.push(s.sched.explain(&ranked));
    }
    match ranked.into_iter().next() {
        Some((node, _)) => Ok(Placement { node, why }),
        None => Err(None),
    }
}

/// Why the rules do not let `sid` be on `node` (None: they do). `group_move`: its
/// positive partners move with it.
pub(super) fn violation(s: &Step, sid: ServiceId, node: &str, group_move: bool) -> Option<String> {
    if let Some(na) = s.rules.node_affinity.get(&sid) {
        if na.strict && !na.nodes.contains_key(node) {
            return Some(format!("rule {} allows only {}", na.rule, names(&na.nodes)));
        }
    }
    if let Some(partners) = s.rules.apart.get(&sid) {
        for (p, rule) in partners {
            if occupied(s, *p).iter().any(|n| n == node) {
                return Some(format!(
                    "rule {rule} keeps it apart from {p}, which is on {node}"
                ));
            }
        }
    }
    if !group_move {
        if let Some((rule, partners)) = s.rules.together.get(&sid) {
            let elsewhere: Vec<(ServiceId, String)> = partners
                .iter()
                .flat_map(|p| destination(s, *p).into_iter().map(move |n| (*p, n)))
                .filter(|(_, n)| s.usable.contains(n))
                .collect();
            if let Some((p, n)) = elsewhere.first() {
                if !elsewhere.iter().any(|(_, x)| x == node) {
                    return Some(format!("rule {rule} keeps it with {p}, which is on {n}"));
                }
            }
        }
    }
    None
}

/// A better node than `here` by node-affinity priority, for failback (its positive
/// partners move along).
pub(super) fn failback_target(s: &Step, sid: ServiceId, here: &str) -> Option<Placement> {
    let aff = affinity(s, sid)?;
    if !aff.failback {
        return None;
    }
    let here_prio = priority(Some(&aff), here);
    let best = place(s, sid, &[], Some(here), true).ok()?;
    (priority(Some(&aff), &best.node) > here_prio).then_some(best)
}
