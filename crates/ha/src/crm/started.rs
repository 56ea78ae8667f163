//! The CRM step of a started service: stop or ignore on request, restart and relocate
//! after failed starts, administrator migrations, maintenance, and failback.

use super::{NodeCond, Step};
use crate::config::RequestState;
use crate::placement::preferred_node;
use crate::status::{ServiceState, ServiceStatus};
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
            if let Some(to) = s.select(sid, &ss.failed_nodes.clone()) {
                ss.relocates += 1;
                ss.restarts = 0;
                ss.state = ServiceState::Relocate;
                ss.target = Some(to.clone());
                ss.uid = s.uid();
                s.log(format!(
                    "{sid}: start on {} failed ({}); relocate to {to} ({}/{})",
                    ss.node, res.message, ss.relocates, r.max_relocate
                ));
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
        } else if s.usable.contains(target) {
            s.add_load(target, sid, 1);
            ss.state = ServiceState::Migrate;
            ss.target = Some(target.clone());
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: migrate from {here} to {target} (requested)"
            ));
            return;
        } else {
            s.log(format!(
                "{sid}: migration to {target} refused: node not online"
            ));
        }
    }
    if input.maintenance.contains(&here) {
        if let Some(to) = s.select(sid, std::slice::from_ref(&here)) {
            s.add_load(&to, sid, 1);
            ss.state = ServiceState::Migrate;
            ss.target = Some(to.clone());
            ss.maintenance_node = Some(here.clone());
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: migrate from {here} to {to} (node maintenance)"
            ));
        }
        return;
    }
    if let Some(home) = ss.maintenance_node.clone() {
        if home != here && s.usable.contains(&home) {
            s.add_load(&home, sid, 1);
            ss.state = ServiceState::Migrate;
            ss.target = Some(home.clone());
            ss.maintenance_node = None;
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: migrate back from {here} to {home} (maintenance ended)"
            ));
            return;
        }
        if home == here {
            ss.maintenance_node = None;
        }
    }
    let group = r.group.as_ref().and_then(|g| input.groups.groups.get(g));
    if let Some(g) = group.filter(|g| !g.nofailback) {
        if let Some(to) = preferred_node(g, &here, &s.usable, &s.load) {
            s.add_load(&to, sid, 1);
            ss.state = ServiceState::Migrate;
            ss.target = Some(to.clone());
            ss.uid = s.uid();
            s.log(format!(
                "{sid}: migrate from {here} to {to} (failback to a preferred node)"
            ));
        }
    }
}
