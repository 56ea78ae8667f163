//! The CRM step of a started service: stop or ignore on request, restart and relocate
//! after failed starts, administrator migrations, maintenance, and failback.

use super::{network, place, rules_step, NodeCond, Step};
use crate::config::RequestState;
use crate::status::{NodeState, ServiceState, ServiceStatus};
use crate::ServiceId;

pub(super) fn started_step(
    s: &mut Step,
    sid: ServiceId,
    ss: &mut ServiceStatus,
    cond: NodeCond,
    result: Option<crate::LrmResult>,
) {
    let input = s.input;
    let r = &input.resources.resources[&sid];
    match r.state {
        RequestState::Stopped | RequestState::Disabled => {
            ss.state = ServiceState::RequestStop;
            ss.uid = s.uid();
            s.log(format!("{sid}: stop requested on {}", ss.node));
            return;
        }
        RequestState::Ignored => {
            ss.state = ServiceState::Ignored;
            s.log(format!("{sid}: ignored from now on"));
            return;
        }
        RequestState::Started => {}
    }
    if let Some(res) = result.filter(|x| !x.ok) {
        if ss.restarts < r.max_restart {
            ss.restarts += 1;
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: start on {} failed ({}); restart {}/{}",
                ss.node, res.message, ss.restarts, r.max_restart
            ));
            return;
        }
        if !ss.failed_nodes.contains(&ss.node) {
            ss.failed_nodes.push(ss.node.clone());
        }
        if ss.relocates < r.max_relocate {
            if let Ok(p) = place::place(s, sid, &ss.failed_nodes.clone(), None, false) {
                let to = p.node.clone();
                ss.relocates += 1;
                ss.restarts = 0;
                ss.state = ServiceState::Relocate;
                ss.target = Some(to.clone());
                ss.uid = s.uid();
                s.log(format!(
                    "{sid}: start on {} failed ({}); relocate to {to} ({}/{})",
                    ss.node, res.message, ss.relocates, r.max_relocate
                ));
                rules_step::log_why(s, sid, &p);
                return;
            }
        }
        ss.state = ServiceState::Error;
        ss.uid = s.uid();
        s.log(format!(
            "{sid}: start failed ({}); no restarts or relocations left: error (disable it to clear)",
            res.message
        ));
        return;
    }
    if !cond.fresh {
        return;
    }
    let here = ss.node.clone();
    if let Some(target) = input.migrations.get(&sid) {
        s.out.consumed_migrations.push(sid);
        if *target == here {
            s.log(format!("{sid}: already on {target}"));
        } else if let Some(why) = s
            .usable
            .contains(target)
            .then(|| {
                place::violation(s, sid, target, true)
                    .or_else(|| network::lacks_bridge(s, sid, target))
            })
            .flatten()
        {
            s.log(format!("{sid}: migration to {target} refused: {why}"));
        } else if s.usable.contains(target) {
            rules_step::migrate_with_partners(s, sid, ss, target, "requested", false);
            return;
        } else {
            s.log(format!(
                "{sid}: migration to {target} refused: node not online"
            ));
        }
    }
    if input.maintenance.contains(&here) {
        match place::place(s, sid, std::slice::from_ref(&here), Some(&here), true) {
            Ok(p) => {
                rules_step::migrate_with_partners(s, sid, ss, &p.node, "node maintenance", true);
                rules_step::log_why(s, sid, &p);
            }
            // Said once, as the maintenance begins.
            Err(Some(why))
                if s.out.status.node_status.get(&here) != Some(&NodeState::Maintenance) =>
            {
                s.log(format!(
                    "{sid}: stays on {here} during its maintenance: {why}"
                ));
            }
            Err(_) => {}
        }
        return;
    }
    if let Some(home) = ss.maintenance_node.clone() {
        // Back home unless a rule now forbids it there (it stays where it is then), with its
        // positive partners; while one of them is elsewhere or moving, it waits.
        if home != here
            && s.usable.contains(&home)
            && place::violation(s, sid, &home, true).is_none()
            && rules_step::partners_beside(s, sid, &here)
        {
            s.add_load(&home, sid, 1);
            ss.state = ServiceState::Migrate;
            ss.target = Some(home.clone());
            ss.maintenance_node = None;
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: migrate back from {here} to {home} (maintenance ended)"
            ));
            rules_step::move_partners(s, sid, &here, &home, false);
            return;
        }
        if home == here {
            ss.maintenance_node = None;
        }
    }
    if rules_step::enforce(s, sid, ss) {
        return;
    }
    // A group fails back together, once each of its members has settled beside it.
    if !rules_step::partners_beside(s, sid, &here) {
        return;
    }
    if let Some(p) = place::failback_target(s, sid, &here) {
        rules_step::migrate_with_partners(
            s,
            sid,
            ss,
            &p.node,
            "failback to a preferred node",
            false,
        );
        rules_step::log_why(s, sid, &p);
    }
}
