//! The cluster resource manager: one pure step from the cluster's state to the next
//! manager status, the config moves to make, and the decisions to log.
//!
//! Safety: a service on a node that stopped renewing its lease is recovered only
//! after the lease expired on the leader's monotonic clock: `Timing::lease_ms`
//! after the last renewal the leader applied (which the node sent earlier), or,
//! for a node whose renewals it never saw, a full lease after it became leader.
//! The driver must run a step only on a view that has applied every committed
//! entry (a read-index), so no committed renewal is missed. The node kills its HA
//! guests `fence_timeout` after sending its last committed renewal, which is
//! earlier by at least the margin.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::RequestState;
use crate::placement::{preferred_node, select_node, Load};
use crate::status::{LrmMode, LrmStatus, ManagerStatus, NodeState, ServiceState, ServiceStatus};
use crate::{GroupsConfig, ResourcesConfig, ServiceId, Timing};

/// One cluster node as the leader sees it.
#[derive(Debug, Clone, Default)]
pub struct NodeInput {
    pub name: String,
    /// Leader-monotonic time (ms) its last lease renewal was applied on the leader's replica.
    pub last_renewal_ms: Option<u64>,
    pub lrm: LrmStatus,
}

/// Everything one CRM step reads.
#[derive(Debug, Clone)]
pub struct CrmInput<'a> {
    /// Leader-monotonic now (ms).
    pub now_ms: u64,
    /// When this node became leader (ms, same clock).
    pub leader_since_ms: u64,
    /// The leader's name.
    pub me: &'a str,
    pub timing: Timing,
    pub nodes: &'a [NodeInput],
    pub resources: &'a ResourcesConfig,
    pub groups: &'a GroupsConfig,
    /// The node whose directory holds each guest's config.
    pub locations: &'a BTreeMap<ServiceId, String>,
    pub memory_mib: &'a BTreeMap<ServiceId, u64>,
    /// Nodes an administrator put into maintenance.
    pub maintenance: &'a BTreeSet<String>,
    /// Migrations an administrator asked for (`ha migrate`).
    pub migrations: &'a BTreeMap<ServiceId, String>,
}

/// A change to make in cfs before publishing the new status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmAction {
    /// Recovery: move the guest's config from a fenced node to its new node.
    MoveConfig {
        sid: ServiceId,
        from: String,
        to: String,
    },
}

/// One step's result.
#[derive(Debug, Clone, Default)]
pub struct CrmOutput {
    pub status: ManagerStatus,
    pub actions: Vec<CrmAction>,
    pub log: Vec<String>,
    /// Administrator migrations acted on (or refused) this step.
    pub consumed_migrations: Vec<ServiceId>,
}

#[derive(Debug, Clone, Copy)]
struct NodeCond {
    /// A renewal of it was seen by this leader.
    seen: bool,
    fresh: bool,
    expired: bool,
    mode: LrmMode,
    silent_ms: u64,
}

fn initial_state(req: RequestState) -> ServiceState {
    match req {
        RequestState::Started => ServiceState::Started,
        RequestState::Stopped => ServiceState::Stopped,
        RequestState::Disabled => ServiceState::Disabled,
        RequestState::Ignored => ServiceState::Ignored,
    }
}

/// States in which the guest may be running on its node.
fn may_run(s: ServiceState) -> bool {
    matches!(
        s,
        ServiceState::Started
            | ServiceState::Migrate
            | ServiceState::Relocate
            | ServiceState::RequestStop
            | ServiceState::Freeze
    )
}

struct Step<'a, 'b> {
    input: &'b CrmInput<'a>,
    conds: BTreeMap<String, NodeCond>,
    usable: Vec<String>,
    load: BTreeMap<String, Load>,
    out: CrmOutput,
}

impl Step<'_, '_> {
    fn log(&mut self, line: String) {
        self.out.log.push(line);
    }

    fn uid(&mut self) -> u64 {
        self.out.status.next_uid += 1;
        self.out.status.next_uid
    }

    fn cond(&self, node: &str) -> NodeCond {
        self.conds.get(node).copied().unwrap_or(NodeCond {
            seen: false,
            fresh: false,
            expired: true,
            mode: LrmMode::Active,
            silent_ms: u64::MAX,
        })
    }

    fn select(&self, sid: ServiceId, exclude: &[String]) -> Option<String> {
        let group = self
            .input
            .resources
            .resources
            .get(&sid)
            .and_then(|r| r.group.as_ref())
            .and_then(|g| self.input.groups.groups.get(g));
        select_node(group, &self.usable, &self.load, exclude)
    }

    fn add_load(&mut self, node: &str, sid: ServiceId, sign: i64) {
        let mem = self.input.memory_mib.get(&sid).copied().unwrap_or(0);
        let l = self.load.entry(node.to_string()).or_default();
        if sign > 0 {
            l.memory_mib += mem;
            l.services += 1;
        } else {
            l.memory_mib = l.memory_mib.saturating_sub(mem);
            l.services = l.services.saturating_sub(1);
        }
    }
}

/// Runs one CRM step.
pub fn step(input: &CrmInput, previous: &ManagerStatus) -> CrmOutput {
    let t = input.timing;
    let mut conds = BTreeMap::new();
    for n in input.nodes {
        let silent_ms = n
            .last_renewal_ms
            .map(|r| input.now_ms.saturating_sub(r))
            .unwrap_or(u64::MAX);
        // A renewal this leader applied was sent no later than it was applied here; a
        // node never seen is given a full lease from when this node became leader.
        let since = n.last_renewal_ms.unwrap_or(input.leader_since_ms);
        conds.insert(
            n.name.clone(),
            NodeCond {
                seen: n.last_renewal_ms.is_some(),
                fresh: silent_ms < t.fresh_ms,
                expired: input.now_ms.saturating_sub(since) >= t.lease_ms,
                mode: n.lrm.mode,
                silent_ms,
            },
        );
    }
    let usable: Vec<String> = input
        .nodes
        .iter()
        .filter(|n| {
            let c = conds[&n.name];
            c.fresh && c.mode == LrmMode::Active && !input.maintenance.contains(&n.name)
        })
        .map(|n| n.name.clone())
        .collect();
    let mut s = Step {
        input,
        conds,
        usable,
        load: BTreeMap::new(),
        out: CrmOutput {
            status: previous.clone(),
            ..CrmOutput::default()
        },
    };
    s.out.status.master_node = Some(input.me.to_string());
    if previous.master_node.as_deref() != Some(input.me) {
        s.log("became master".to_string());
    }
    // Services no longer configured leave HA; their guests are left alone.
    let gone: Vec<ServiceId> = s
        .out
        .status
        .service_status
        .keys()
        .filter(|sid| !input.resources.resources.contains_key(sid))
        .copied()
        .collect();
    for sid in gone {
        s.out.status.service_status.remove(&sid);
        s.log(format!("{sid}: removed from HA"));
    }
    // Load of what is placed where.
    for (sid, ss) in &s.out.status.service_status.clone() {
        if may_run(ss.state) {
            s.add_load(&ss.node, *sid, 1);
        }
    }
    for sid in input
        .resources
        .resources
        .keys()
        .copied()
        .collect::<Vec<_>>()
    {
        service_step(&mut s, sid);
    }
    // Node states, for status displays.
    let mut node_status = BTreeMap::new();
    for n in input.nodes {
        let c = s.cond(&n.name);
        let fencing = s
            .out
            .status
            .service_status
            .values()
            .any(|ss| ss.node == n.name && ss.state == ServiceState::Fence);
        let state = if c.fresh && input.maintenance.contains(&n.name) {
            NodeState::Maintenance
        } else if c.fresh {
            NodeState::Online
        } else if fencing {
            NodeState::Fence
        } else {
            NodeState::Unknown
        };
        if previous.node_status.get(&n.name) != Some(&state) {
            s.log(format!(
                "node {}: {} -> {state}",
                n.name,
                previous
                    .node_status
                    .get(&n.name)
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "new".into())
            ));
        }
        node_status.insert(n.name.clone(), state);
    }
    for old in previous.node_status.keys() {
        if !node_status.contains_key(old) {
            s.log(format!("node {old}: gone"));
        }
    }
    s.out.status.node_status = node_status;
    s.out
}

fn service_step(s: &mut Step, sid: ServiceId) {
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
        ss.node = loc.clone();
    }
    let result = input
        .nodes
        .iter()
        .find(|n| n.name == ss.node)
        .and_then(|n| n.lrm.results.get(&sid))
        .filter(|res| res.uid == ss.uid)
        .cloned();

    // A finished move first: the service is then where it went.
    if matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate) {
        if let Some(res) = &result {
            let target = ss.target.take().unwrap_or_default();
            if res.ok {
                s.add_load(&ss.node.clone(), sid, -1);
                s.log(format!(
                    "{sid}: {} from {} to {target} done",
                    ss.state, ss.node
                ));
                ss.node = target;
            } else {
                s.add_load(&target, sid, -1);
                s.log(format!(
                    "{sid}: {} from {} to {target} failed: {}; stays on {}",
                    ss.state, ss.node, res.message, ss.node
                ));
            }
            ss.state = ServiceState::Started;
            ss.uid = s.uid();
        }
    }
    let cond = s.cond(&ss.node);
    let result = if ss.state == ServiceState::Started {
        None
    } else {
        result
    };

    // Losing the node comes first; a clean stop says at once what it did.
    let clean_stop = matches!(cond.mode, LrmMode::Freeze | LrmMode::Released);
    // Lost: it renewed before and stopped, or nothing was heard for a whole lease
    // (a node never heard yet, e.g. as HA starts, is given that long).
    let lost = !cond.fresh && (cond.seen || cond.expired);
    if (lost || clean_stop) && (may_run(ss.state) || ss.state == ServiceState::Fence) {
        match cond.mode {
            LrmMode::Freeze if ss.state != ServiceState::Freeze => {
                ss.state = ServiceState::Freeze;
                s.log(format!(
                    "{sid}: freeze on {} (its daemon stopped cleanly, the guest keeps running)",
                    ss.node
                ));
            }
            LrmMode::Freeze => {}
            LrmMode::Released => {
                ss.state = ServiceState::Recovery;
                s.log(format!(
                    "{sid}: {} stopped its guests and released them: recover",
                    ss.node
                ));
            }
            LrmMode::Active | LrmMode::Maintenance if ss.state == ServiceState::Fence => {}
            LrmMode::Active | LrmMode::Maintenance => {
                ss.state = ServiceState::Fence;
                ss.target = None;
                let silent = if cond.silent_ms == u64::MAX {
                    "no lease renewal seen by this leader".to_string()
                } else {
                    format!("no lease renewal for {} ms", cond.silent_ms)
                };
                s.log(format!(
                    "{sid}: node {} lost ({silent}): fence, recover once its lease expires",
                    ss.node
                ));
            }
        }
    }

    match ss.state {
        ServiceState::Fence => {
            if cond.fresh && cond.mode == LrmMode::Active {
                ss.state = ServiceState::Started;
                ss.uid = s.uid();
                s.log(format!(
                    "{sid}: node {} is back before its lease expired; stays there",
                    ss.node
                ));
            } else if cond.expired || cond.mode == LrmMode::Released {
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
        ServiceState::Recovery => {
            let exclude = if cond.fresh {
                Vec::new()
            } else {
                vec![ss.node.clone()]
            };
            match s.select(sid, &exclude) {
                Some(to) => {
                    s.out.actions.push(crate::crm::CrmAction::MoveConfig {
                        sid,
                        from: ss.node.clone(),
                        to: to.clone(),
                    });
                    s.log(format!("{sid}: recover from {} to {to}", ss.node));
                    s.add_load(&ss.node, sid, -1);
                    s.add_load(&to, sid, 1);
                    ss.node = to;
                    ss.state = match r.state {
                        RequestState::Started | RequestState::Ignored => ServiceState::Started,
                        RequestState::Stopped => ServiceState::Stopped,
                        RequestState::Disabled => ServiceState::Disabled,
                    };
                    ss.uid = s.uid();
                    ss.restarts = 0;
                    ss.maintenance_node = None;
                }
                None => {
                    if s.out.status.service_status[&sid].state != ServiceState::Recovery {
                        s.log(format!("{sid}: no node available for recovery; waiting"));
                    }
                }
            }
        }
        ServiceState::Ignored => {
            if r.state != RequestState::Ignored {
                ss.state = initial_state(r.state);
                ss.uid = s.uid();
                s.log(format!("{sid}: managed again as {}", ss.state));
            }
        }
        ServiceState::Started => started_step(s, sid, &mut ss, cond, result),
        ServiceState::RequestStop => {
            if r.state == RequestState::Started {
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
                if !cond.fresh && cond.expired {
                    ss.state = ServiceState::Recovery;
                    s.log(format!(
                        "{sid}: start requested but {} is fenced: recover",
                        ss.node
                    ));
                } else {
                    ss.state = ServiceState::Started;
                    ss.uid = s.uid();
                    ss.restarts = 0;
                    ss.relocates = 0;
                    ss.failed_nodes.clear();
                    s.add_load(&ss.node.clone(), sid, 1);
                    s.log(format!("{sid}: start on {}", ss.node));
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

fn started_step(
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
