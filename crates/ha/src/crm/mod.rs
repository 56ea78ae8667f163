//! The cluster resource manager: one pure step from the cluster's state to the next
//! manager status, the config moves to make, and the decisions to log.
//!
//! Safety: a service on a node that stopped renewing its lease is recovered only
//! when the node's last committed renewal *covered* it (promised to kill it when the
//! lease lapses) and that lease expired on the leader's monotonic clock: the lease
//! derived from the larger of the configured fence timeout and the one the node
//! announced, after the last renewal the leader applied (which the node sent
//! earlier), or, for a node whose renewals it never saw, after it became leader.
//! The driver must run a step only on a view that has applied every committed
//! entry (a read-index), so no committed renewal is missed. The node kills what it
//! covered `fence_timeout` after sending its last committed renewal, which is
//! earlier by at least the margin.

pub mod network;
mod place;
mod rebalance;
mod rules_step;
mod service;
mod started;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::RequestState;
use crate::crs::{CrsSettings, Scheduler, Usage};
use crate::rules::{Compiled, RulesConfig};
use crate::status::{LrmMode, LrmStatus, ManagerStatus, NodeState, ServiceState};
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
    /// `ha/rules.cfg`.
    pub rules: &'a RulesConfig,
    /// datacenter.cfg `crs:`.
    pub crs: CrsSettings,
    /// Node capacities, guest sizes and live usage, for the scheduler.
    pub usage: &'a Usage,
    /// The bridges each guest's NICs name: (config key, bridge).
    pub guest_bridges: &'a BTreeMap<ServiceId, Vec<(String, String)>>,
    /// The bridges and vnets each node has; a node not listed is not checked.
    pub node_bridges: &'a BTreeMap<String, BTreeSet<String>>,
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
    /// Its lease (as long as the longer of the configured and its announced fence
    /// timeout allow) ran out on this leader's clock.
    expired: bool,
    mode: LrmMode,
    silent_ms: u64,
}

/// The lease the leader waits out for a node: from the larger of the configured fence
/// timeout and the one the node's last committed renewal announced (a change of
/// `fence_timeout` never shortens a lease already running).
fn node_lease_ms(configured: Timing, lrm: &LrmStatus) -> u64 {
    let announced = lrm
        .fence_timeout_ms
        .map(|f| Timing::from_fence_timeout(f).lease_ms)
        .unwrap_or(0);
    configured.lease_ms.max(announced)
}

/// When the next node lease runs out on the leader's clock (ms), if one is running:
/// the CRM's next step is due then (a node lost now is recovered at that instant, not
/// up to a round later).
pub fn next_lease_expiry(input: &CrmInput) -> Option<u64> {
    input
        .nodes
        .iter()
        .filter_map(|n| {
            let since = n.last_renewal_ms.unwrap_or(input.leader_since_ms);
            let at = since.saturating_add(node_lease_ms(input.timing, &n.lrm));
            (at > input.now_ms).then_some(at)
        })
        .min()
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
    sched: Scheduler,
    rules: Compiled,
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

    /// Whether `node`'s last committed renewal promised to kill `sid` when its lease lapses.
    fn covers(&self, node: &str, sid: ServiceId) -> bool {
        self.input
            .nodes
            .iter()
            .find(|n| n.name == node)
            .is_some_and(|n| n.lrm.covers.contains(&sid))
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

    fn fallback_memory(&self, sid: ServiceId) -> u64 {
        self.input.memory_mib.get(&sid).copied().unwrap_or(0)
    }

    fn add_load(&mut self, node: &str, sid: ServiceId, sign: i64) {
        let mem = self.fallback_memory(sid);
        self.sched.add(node, sid, sign, self.input.usage, mem);
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
                expired: input.now_ms.saturating_sub(since) >= node_lease_ms(t, &n.lrm),
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
    let names: Vec<String> = input.nodes.iter().map(|n| n.name.clone()).collect();
    let rules = crate::rules::compile(input.rules, &names);
    let tracked: BTreeSet<ServiceId> = previous.service_status.keys().copied().collect();
    let mut s = Step {
        input,
        conds,
        usable,
        sched: Scheduler::new(input.crs.mode, input.usage, &tracked),
        rules,
        out: CrmOutput {
            status: previous.clone(),
            ..CrmOutput::default()
        },
    };
    s.out.status.master_node = Some(input.me.to_string());
    if previous.master_node.as_deref() != Some(input.me) {
        s.log("became master".to_string());
    }
    rules_step::log_rule_changes(&mut s);
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
        // A move under way loads its target too (a failed one takes that off again).
        if let (ServiceState::Migrate | ServiceState::Relocate, Some(t)) = (ss.state, &ss.target) {
            s.add_load(t, *sid, 1);
        }
    }
    for sid in input
        .resources
        .resources
        .keys()
        .copied()
        .collect::<Vec<_>>()
    {
        service::service_step(&mut s, sid);
    }
    rebalance::auto_rebalance(&mut s);
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
