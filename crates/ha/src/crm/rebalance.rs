//! Automatic rebalancing (`crs: ha-auto-rebalance=1`): when the load imbalance between
//! nodes stays over the threshold for the hold time and nothing else is moving, the one
//! live migration that lowers it most, if it removes at least the margin. Each move
//! lowers the imbalance by that margin and the hold time starts over, so guests do not
//! flap between nodes.

use super::place::{self, priority};
use super::{network, rules_step, Step};
use crate::config::RequestState;
use crate::crs::CrsMode;
use crate::status::ServiceState;
use crate::ServiceId;

pub(super) fn auto_rebalance(s: &mut Step) {
    let Some(a) = s.input.crs.auto else {
        return;
    };
    if s.sched.mode() == CrsMode::Basic {
        return;
    }
    let nodes = s.usable.clone();
    let busy = s.out.status.service_status.values().any(|ss| {
        matches!(
            ss.state,
            ServiceState::Migrate
                | ServiceState::Relocate
                | ServiceState::Recovery
                | ServiceState::Fence
                | ServiceState::RequestStop
        )
    });
    if nodes.len() < 2 || busy {
        s.out.status.rebalance_rounds = 0;
        return;
    }
    let imbalance = s.sched.imbalance_pct(&nodes);
    if imbalance <= a.threshold_pct {
        s.out.status.rebalance_rounds = 0;
        return;
    }
    s.out.status.rebalance_rounds += 1;
    let rounds = s.out.status.rebalance_rounds;
    let hold = (a.hold_secs.saturating_mul(1000))
        .div_ceil(s.input.timing.renew_ms.max(1))
        .max(1) as u32;
    let loads = |s: &Step| -> String {
        nodes
            .iter()
            .map(|n| format!("{n} {:.0} %", s.sched.node_load_pct(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if rounds == 1 {
        s.log(format!(
            "CRS {}: imbalance {imbalance:.0} % over the threshold {:.0} % (load {}); a guest moves if it lasts {} s",
            s.sched.mode().as_str(),
            a.threshold_pct,
            loads(s),
            a.hold_secs
        ));
    }
    if rounds < hold {
        return;
    }
    let mut best: Option<(f64, ServiceId, String, String)> = None;
    let candidates: Vec<(ServiceId, String)> = s
        .out
        .status
        .service_status
        .iter()
        .filter(|(sid, ss)| {
            ss.state == ServiceState::Started
                && ss.held.is_none()
                && nodes.contains(&ss.node)
                && !s.rules.together.contains_key(sid)
                && s.input
                    .resources
                    .resources
                    .get(sid)
                    .is_some_and(|r| r.state == RequestState::Started)
        })
        .map(|(sid, ss)| (*sid, ss.node.clone()))
        .collect();
    for (sid, from) in candidates {
        let aff = place::affinity(s, sid);
        let here = priority(aff.as_ref(), &from);
        for to in nodes.iter().filter(|n| **n != from) {
            // Never somewhere a rule forbids, nor below its node-affinity priority
            // (failback would move it straight back).
            if priority(aff.as_ref(), to) < here
                || place::violation(s, sid, to, false).is_some()
                || network::lacks_bridge(s, sid, to).is_some()
            {
                continue;
            }
            let after = s.sched.imbalance_after(
                sid,
                &from,
                to,
                &nodes,
                s.input.usage,
                s.fallback_memory(sid),
            );
            if best.as_ref().is_none_or(|b| after < b.0 - 1e-9) {
                best = Some((after, sid, from.clone(), to.clone()));
            }
        }
    }
    match best {
        Some((after, sid, _, to)) if (imbalance - after) * 100.0 / imbalance >= a.margin_pct => {
            let Some(mut ss) = s.out.status.service_status.get(&sid).cloned() else {
                return;
            };
            let reason = format!(
                "auto-rebalance: imbalance {imbalance:.0} % -> {after:.0} %, load {}",
                loads(s)
            );
            rules_step::migrate_with_partners(s, sid, &mut ss, &to, &reason, false);
            s.out.status.service_status.insert(sid, ss);
            s.out.status.rebalance_rounds = 0;
        }
        _ if rounds == hold => s.log(format!(
            "CRS {}: no single move removes {:.0} % of the imbalance {imbalance:.0} %; nothing moves",
            s.sched.mode().as_str(),
            a.margin_pct
        )),
        _ => {}
    }
}
