//! One service's CRM step: follow its config, finish moves, fence a lost node and
//! recover what it covered, then carry out the state the administrator asked for.

use super::{initial_state, may_run, place, rules_step, started, CrmAction, Step};
use crate::config::RequestState;
use crate::status::{LrmMode, ServiceState, ServiceStatus};
use crate::{LrmResult, ServiceId};

/// The result `node` reported for command `uid` of `sid`, if it did.
fn result_of(s: &Step, node: &str, sid: ServiceId, uid: u64) -> Option<LrmResult> {
    s.input
        .nodes
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.lrm.results.get(&sid))
        .filter(|res| res.uid == uid)
        .cloned()
}

pub(super) fn service_step(s: &mut Step, sid: ServiceId) {
    let input = s.input;
    let r = &input.resources.resources[&sid];
    let Some(loc) = input.locations.get(&sid).cloned() else {
        if s.out.status.service_status.remove(&sid).is_some() {
            s.log(format!("{sid}: its config is gone; no longer managed"));
        }
        return;
    };
    if !s.out.status.service_status.contains_key(&sid) {
        let uid = s.uid();
        let state = initial_state(r.state);
        s.out.status.service_status.insert(
            sid,
            ServiceStatus {
                state,
                node: loc.clone(),
                target: None,
                uid,
                restarts: 0,
                relocates: 0,
                failed_nodes: Vec::new(),
                maintenance_node: None,
                held: None,
            },
        );
        s.log(format!("{sid}: added on {loc} as {state}"));
        if may_run(state) {
            s.add_load(&loc, sid, 1);
        }
    }
    let mut ss = s.out.status.service_status[&sid].clone();
    // The config moved outside a migration (by hand): follow it.
    if ss.node != loc && !matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate) {
        s.add_load(&ss.node, sid, -1);
        s.add_load(&loc, sid, 1);
        ss.node.clone_from(&loc);
    }
    finish_move(s, sid, &mut ss, &loc);
    // The outcome of the command now in force, once its node reported it.
    let result = result_of(s, &ss.node, sid, ss.uid);
    fence_lost_node(s, sid, &mut ss);
    let cond = s.cond(&ss.node);

    match ss.state {
        ServiceState::Fence => {
            if cond.fresh && cond.mode == LrmMode::Active {
                ss.state = ServiceState::Started;
                ss.uid = s.uid();
                s.log(format!("{sid}: node {} is back; stays there", ss.node));
            } else if (cond.expired || cond.mode == LrmMode::Released) && s.covers(&ss.node, sid) {
                ss.state = ServiceState::Recovery;
                s.log(format!(
                    "{sid}: node {} fenced (lease expired): recover",
                    ss.node
                ));
            }
        }
        ServiceState::Freeze if cond.fresh && cond.mode == LrmMode::Active => {
            ss.state = ServiceState::Started;
            ss.uid = s.uid();
            s.log(format!("{sid}: unfreeze on {}", ss.node));
        }
        _ => {}
    }

    match ss.state {
        ServiceState::Recovery => recover(s, sid, &mut ss),
        ServiceState::Ignored => {
            if r.state != RequestState::Ignored {
                ss.state = initial_state(r.state);
                ss.uid = s.uid();
                s.log(format!("{sid}: managed again as {}", ss.state));
            }
        }
        ServiceState::Started => started::started_step(s, sid, &mut ss, cond, result),
        ServiceState::RequestStop => {
            if r.state == RequestState::Started && ss.held.is_none() {
                ss.state = ServiceState::Started;
                ss.uid = s.uid();
            } else if result.as_ref().is_some_and(|x| x.ok) {
                ss.state = if r.state == RequestState::Disabled {
                    ServiceState::Disabled
                } else {
                    ServiceState::Stopped
                };
                s.add_load(&ss.node.clone(), sid, -1);
                s.log(format!("{sid}: stopped on {}", ss.node));
            }
        }
        ServiceState::Stopped | ServiceState::Disabled => match r.state {
            RequestState::Started => {
                if !cond.fresh && (cond.seen || cond.expired) {
                    // Its node may still run it (it never saw the stop, or never knew it
                    // was HA): the same wait as for a running guest.
                    ss.state = ServiceState::Fence;
                    s.log(format!(
                        "{sid}: start requested but node {} is lost: fence, recover once its lease expires",
                        ss.node
                    ));
                } else if cond.fresh {
                    match rules_step::start_target(s, sid, &ss) {
                        Ok(None) => {
                            ss.state = ServiceState::Started;
                            ss.uid = s.uid();
                            ss.restarts = 0;
                            ss.relocates = 0;
                            ss.failed_nodes.clear();
                            ss.held = None;
                            s.add_load(&ss.node.clone(), sid, 1);
                            s.log(format!("{sid}: start on {}", ss.node));
                        }
                        Ok(Some((p, reason))) => {
                            let here = ss.node.clone();
                            s.add_load(&p.node, sid, 1);
                            ss.state = ServiceState::Relocate;
                            ss.target = Some(p.node.clone());
                            ss.uid = s.uid();
                            ss.restarts = 0;
                            ss.relocates = 0;
                            ss.failed_nodes.clear();
                            ss.held = None;
                            s.log(format!(
                                "{sid}: start requested: relocate from {here} to {} first ({reason})",
                                p.node
                            ));
                            rules_step::log_why(s, sid, &p);
                        }
                        Err(why) => {
                            // Held by a rule already: it said why when it stopped.
                            if ss.held.is_none() {
                                s.log(format!(
                                    "{sid}: start requested but {why}: it stays stopped until the rule can hold"
                                ));
                                ss.held = Some(why);
                            }
                        }
                    }
                }
            }
            RequestState::Stopped => ss.state = ServiceState::Stopped,
            RequestState::Disabled => ss.state = ServiceState::Disabled,
            RequestState::Ignored => ss.state = ServiceState::Ignored,
        },
        // Still moving: the source's LRM reports when done.
        ServiceState::Migrate | ServiceState::Relocate => {}
        ServiceState::Error => {
            if r.state == RequestState::Disabled {
                ss.state = ServiceState::Disabled;
                ss.uid = s.uid();
                s.log(format!("{sid}: error cleared (disabled)"));
            }
        }
        ServiceState::Fence | ServiceState::Freeze => {}
    }
    s.out.status.service_status.insert(sid, ss);
}

/// A migration or relocation ends when the source reports it, or when the config
/// reached the target (the source may have died right after handing it over).
fn finish_move(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus, loc: &str) {
    if !matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate) {
        return;
    }
    let target = ss.target.clone().unwrap_or_default();
    let arrived = !target.is_empty() && loc == target;
    let result = result_of(s, &ss.node, sid, ss.uid);
    match result {
        _ if arrived => {
            s.add_load(&ss.node.clone(), sid, -1);
            s.log(format!(
                "{sid}: {} from {} to {target} done",
                ss.state, ss.node
            ));
            ss.node = target;
        }
        Some(res) if res.ok => {
            s.add_load(&ss.node.clone(), sid, -1);
            s.log(format!(
                "{sid}: {} from {} to {target} done",
                ss.state, ss.node
            ));
            ss.node = target;
        }
        Some(res) => {
            s.add_load(&target, sid, -1);
            s.log(format!(
                "{sid}: {} from {} to {target} failed: {}; stays on {}",
                ss.state, ss.node, res.message, ss.node
            ));
            // A relocation stopped it first: start it again only where its rules allow.
            if ss.state == ServiceState::Relocate {
                if let Some(why) = place::violation(s, sid, &ss.node, false) {
                    s.log(format!(
                        "{sid}: not started on {}: {why}; placing it again",
                        ss.node
                    ));
                    ss.target = None;
                    ss.state = ServiceState::Stopped;
                    ss.uid = s.uid();
                    return;
                }
            }
        }
        None => return,
    }
    ss.target = None;
    ss.state = ServiceState::Started;
    ss.uid = s.uid();
}

/// Losing the node comes first; a clean stop says at once what it did.
fn fence_lost_node(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus) {
    let cond = s.cond(&ss.node);
    let clean_stop = matches!(cond.mode, LrmMode::Freeze | LrmMode::Released);
    // Lost: it renewed before and stopped, or nothing was heard for a whole lease
    // (a node never heard yet, e.g. as HA starts, is given that long).
    let lost = !cond.fresh && (cond.seen || cond.expired);
    if !((lost || clean_stop) && (may_run(ss.state) || ss.state == ServiceState::Fence)) {
        return;
    }
    let covered = s.covers(&ss.node, sid);
    let uncovered = if covered {
        String::new()
    } else {
        format!(
            "; it never covered {sid} with its lease and may still run it: waiting for it to return"
        )
    };
    match cond.mode {
        LrmMode::Freeze if ss.state != ServiceState::Freeze => {
            ss.state = ServiceState::Freeze;
            s.log(format!(
                "{sid}: freeze on {} (its daemon stopped cleanly, the guest keeps running)",
                ss.node
            ));
        }
        LrmMode::Freeze => {}
        LrmMode::Released if covered => {
            ss.state = ServiceState::Recovery;
            ss.target = None;
            s.log(format!(
                "{sid}: {} stopped its guests and released them: recover",
                ss.node
            ));
        }
        _ if ss.state == ServiceState::Fence => {}
        _ => {
            ss.state = ServiceState::Fence;
            ss.target = None;
            let silent = if cond.silent_ms == u64::MAX {
                "no lease renewal seen by this leader".to_string()
            } else {
                format!("no lease renewal for {} ms", cond.silent_ms)
            };
            s.log(format!(
                "{sid}: node {} lost ({silent}): fence, recover once its lease expires{uncovered}",
                ss.node
            ));
        }
    }
}

/// Moves the config of a service whose node was fenced to the best usable node.
fn recover(s: &mut Step, sid: ServiceId, ss: &mut ServiceStatus) {
    let cond = s.cond(&ss.node);
    if !cond.fresh && !s.covers(&ss.node, sid) {
        // Never recover what the lost node did not promise to kill.
        ss.state = ServiceState::Fence;
        return;
    }
    let exclude = if cond.fresh {
        Vec::new()
    } else {
        vec![ss.node.clone()]
    };
    let p = match place::place(s, sid, &exclude, None, false) {
        Ok(p) => p,
        Err(why) => {
            if s.out.status.service_status[&sid].state != ServiceState::Recovery || ss.held != why {
                s.log(match &why {
                    Some(w) => format!("{sid}: no node available for recovery ({w}); waiting"),
                    None => format!("{sid}: no node available for recovery; waiting"),
                });
            }
            ss.held = why;
            return;
        }
    };
    let to = p.node.clone();
    s.out.actions.push(CrmAction::MoveConfig {
        sid,
        from: ss.node.clone(),
        to: to.clone(),
    });
    s.log(format!("{sid}: recover from {} to {to}", ss.node));
    rules_step::log_why(s, sid, &p);
    ss.held = None;
    s.add_load(&ss.node.clone(), sid, -1);
    s.add_load(&to, sid, 1);
    ss.node = to;
    ss.state = match s.input.resources.resources[&sid].state {
        RequestState::Started | RequestState::Ignored => ServiceState::Started,
        RequestState::Stopped => ServiceState::Stopped,
        RequestState::Disabled => ServiceState::Disabled,
    };
    ss.uid = s.uid();
    ss.restarts = 0;
    ss.maintenance_node = None;
}
