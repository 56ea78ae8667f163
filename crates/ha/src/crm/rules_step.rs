//! HA rules in the CRM step: say which rules the feasibility checks disabled, keep a
//! started service where its rules allow (move it, or stop it while no node can hold
//! the rule), place a stopped service before it starts, and move positive partners
//! together.

use super::place::{self, Placement};
use super::Step;
use crate::status::{ServiceState, ServiceStatus};
use crate::ServiceId;

/// Logs rules newly disabled or enabled again, and records them in the status.
pub(super) fn log_rule_changes(s: &mut Step) {
    let now = s.rules.dropped_reasons();
    let before = std::mem::take(&mut s.out.status.disabled_rules);
    for (id, why) in &now {
        if before.get(id) != Some(why) {
            s.log(format!("rule {id} disabled: {why}"));
        }
    }
    for id in before.keys() {
        if !now.contains_key(id) && s.input.rules.get(id).is_some() {
            s.log(format!("rule {id} enabled again: it can hold now"));
        }
    }
    s.out.status.disabled_rules = now;
}

/// Logs a placement's reasons under the service.
pub(super) fn log_why(s: &mut Step, sid: ServiceId, p: &Placement) {
    for w in &p.why {
        s.log(format!("{sid}: to {}: {w}", p.node));
    }
}

fn start_move(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus, to: &str, maintenance: bool) {
    s.add_load(to, sid, 1);
    if maintenance {
        ss.maintenance_node = Some(ss.node.clone());
    }
    ss.state = ServiceState::Migrate;
    ss.target = Some(to.to_string());
    ss.uid = s.uid();
}

/// Migrates `sid` from its node to `to` (logging `reason`), and with it every positive
/// partner started on the same node.
pub(super) fn migrate_with_partners(
    s: &mut Step,
    sid: ServiceId,
    ss: &mut ServiceStatus,
    to: &str,
    reason: &str,
    maintenance: bool,
) {
    let here = ss.node.clone();
    start_move(s, sid, ss, to, maintenance);
    s.log(format!("{sid}: migrate from {here} to {to} ({reason})"));
    move_partners(s, sid, &here, to, maintenance);
}

/// Whether every positive partner of `sid` that runs is started on `here` and staying:
/// then they can all move together.
pub(super) fn partners_beside(s: &Step, sid: ServiceId, here: &str) -> bool {
    let Some((_, partners)) = s.rules.together.get(&sid) else {
        return true;
    };
    partners
        .iter()
        .all(|p| match s.out.status.service_status.get(p) {
            None => true,
            Some(pss) => match pss.state {
                ServiceState::Started => pss.node == here,
                ServiceState::Migrate | ServiceState::Relocate => false,
                _ => true,
            },
        })
}

/// Moves every positive partner of `sid` started on `here` to `to` as well.
pub(super) fn move_partners(s: &mut Step, sid: ServiceId, here: &str, to: &str, maintenance: bool) {
    let Some((rule, partners)) = s.rules.together.get(&sid).cloned() else {
        return;
    };
    if !s.cond(here).fresh {
        return;
    }
    for p in partners {
        let Some(mut pss) = s.out.status.service_status.get(&p).cloned() else {
            continue;
        };
        if pss.state != ServiceState::Started || pss.node != here {
            continue;
        }
        start_move(s, p, &mut pss, to, maintenance);
        s.log(format!(
            "{p}: migrate from {here} to {to} (with {sid}: rule {rule})"
        ));
        s.out.status.service_status.insert(p, pss);
    }
}

/// Stops a started service its rules do not let run anywhere now; it starts again once
/// they can hold.
fn hold_stop(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus, why: String) {
    s.log(format!(
        "{sid}: {why}: stop it on {} until the rule can hold",
        ss.node
    ));
    ss.state = ServiceState::RequestStop;
    ss.uid = s.uid();
    ss.held = Some(why);
}

/// Whether `p` is on `node` and not leaving it (a partner migrating away needs no move).
fn stays_on(s: &Step, p: ServiceId, node: &str) -> bool {
    match s.out.status.service_status.get(&p) {
        Some(pss) if matches!(pss.state, ServiceState::Migrate | ServiceState::Relocate) => {
            pss.target.as_deref() == Some(node)
        }
        _ => place::occupied(s, p).iter().any(|n| n == node),
    }
}

/// Keeps a started service (on a fresh node, no move under way) where its rules allow;
/// true if it acted.
pub(super) fn enforce(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus) -> bool {
    if s.rules.is_empty() {
        return false;
    }
    let here = ss.node.clone();
    if let Some(na) = s.rules.node_affinity.get(&sid).cloned() {
        if na.strict && !na.nodes.contains_key(&here) {
            let reason = format!("rule {} allows only {}", na.rule, place::names(&na.nodes));
            match place::place(s, sid, std::slice::from_ref(&here), Some(&here), true) {
                Ok(p) => {
                    migrate_with_partners(s, sid, ss, &p.node, &reason, false);
                    log_why(s, sid, &p);
                }
                Err(_) => hold_stop(
                    s,
                    sid,
                    ss,
                    format!("{reason} and none of them is available"),
                ),
            }
            return true;
        }
    }
    if let Some(partners) = s.rules.apart.get(&sid).cloned() {
        for (p, rule) in partners {
            if !stays_on(s, p, &here) {
                continue;
            }
            // Of two started services sharing a node, the one named later moves.
            let p_moves = s
                .out
                .status
                .service_status
                .get(&p)
                .is_some_and(|pss| pss.state == ServiceState::Started && p > sid);
            if p_moves {
                continue;
            }
            let reason = format!("rule {rule} keeps it apart from {p}");
            match place::place(s, sid, std::slice::from_ref(&here), Some(&here), true) {
                Ok(pl) => {
                    migrate_with_partners(s, sid, ss, &pl.node, &reason, false);
                    log_why(s, sid, &pl);
                }
                Err(_) => hold_stop(
                    s,
                    sid,
                    ss,
                    format!("{reason} and no other node is available"),
                ),
            }
            return true;
        }
    }
    if let Some((rule, partners)) = s.rules.together.get(&sid).cloned() {
        let elsewhere: Vec<String> = partners
            .iter()
            .flat_map(|p| place::destination(s, *p))
            .filter(|n| s.usable.contains(n))
            .collect();
        if !elsewhere.is_empty() && !elsewhere.contains(&here) {
            if let Ok(p) = place::place(s, sid, &[], Some(&here), false) {
                if p.node != here {
                    let reason = format!("rule {rule} keeps it with its partners");
                    migrate_with_partners(s, sid, ss, &p.node, &reason, false);
                    log_why(s, sid, &p);
                    return true;
                }
            }
        }
    }
    false
}

/// Where a stopped service asked to start starts: Ok(None) where it is, Ok(Some(..))
/// on another node (relocated there first, with the reason), Err(why) not yet.
pub(super) fn start_target(
    s: &Step,
    sid: ServiceId,
    ss: &ServiceStatus,
) -> Result<Option<(Placement, String)>, String> {
    let here = &ss.node;
    let broken = place::violation(s, sid, here, false);
    if !s.input.crs.rebalance_on_start && broken.is_none() {
        return Ok(None);
    }
    match place::place(s, sid, &[], None, false) {
        Ok(p) if p.node == *here => Ok(None),
        Ok(p) => {
            let reason = broken.unwrap_or_else(|| "rebalance on start".into());
            Ok(Some((p, reason)))
        }
        Err(why) => match broken {
            Some(b) => Err(match why {
                Some(w) if w.contains(&b) => format!("{w} and no such node is available"),
                Some(w) => format!("{b}; {w}"),
                None => format!("{b} and no node is available"),
            }),
            None => Ok(None),
        },
    }
}
