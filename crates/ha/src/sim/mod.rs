//! A deterministic simulator: the real CRM and LRM steps against a fake cluster in
//! virtual time, driven by a scenario (`cmdlist`), checking the safety invariants
//! after every step and writing the decisions as a log (compared with `log.expect`).
//!
//! The model: Raft has quorum while a strict majority of nodes is powered, connected
//! and has its daemon running; the leader is the first such node by name (it stays
//! leader while it can). Writes (administrator events, the CRM's status, renewals,
//! config moves) commit only in a quorate majority. Every node acts on its own view
//! of the tree: what it last applied, stale while it is cut off. A node's watchdog
//! and its self-fence kill the HA guests of its own view, at the deadline of its own
//! lease; the daemon feeds the watchdog only while that lease is valid.

mod admin;
mod check;
mod lrm;
mod node;
mod rule_line;
mod scenario;
mod usage;

use std::collections::{BTreeMap, BTreeSet};

pub use check::Violation;
use node::{Daemon, SimNode, View};
pub use scenario::{describe, Event, Scenario};

use crate::crm::{self, CrmAction, CrmInput, NodeInput};
use crate::crs::{Live, NodeStats};
use crate::status::LrmMode;
use crate::{Resource, ServiceId, Timing};

/// The simulated cluster.
pub struct Sim {
    pub now_ms: u64,
    /// The tree as the quorate majority has committed it.
    committed: View,
    nodes: Vec<SimNode>,
    fail_start: BTreeSet<(ServiceId, String)>,
    leader: Option<String>,
    leader_since: u64,
    /// When the leader saw each node's last renewal commit.
    seen: BTreeMap<String, u64>,
    pub log: Vec<String>,
    /// Node capacities (`node` lines).
    pub capacity: BTreeMap<String, NodeStats>,
    /// The bridges of each node (`bridges` lines; a node without one is not checked).
    pub node_bridges: BTreeMap<String, BTreeSet<String>>,
    /// What runs on each node besides its guests (`load` events).
    base_load: BTreeMap<String, Live>,
    /// Each guest's live usage while it runs (`usage` events; its configured size otherwise).
    guest_live: BTreeMap<ServiceId, Live>,
    /// Also check after every step that no feasible rule is broken.
    pub check_rules: bool,
}

impl Sim {
    pub fn new(nodes: &[String], timing: Timing) -> Sim {
        Sim {
            now_ms: 0,
            committed: View {
                timing,
                ..View::default()
            },
            nodes: nodes.iter().map(|n| SimNode::new(n, timing)).collect(),
            fail_start: BTreeSet::new(),
            leader: None,
            leader_since: 0,
            seen: BTreeMap::new(),
            log: Vec::new(),
            capacity: BTreeMap::new(),
            node_bridges: BTreeMap::new(),
            base_load: BTreeMap::new(),
            guest_live: BTreeMap::new(),
            check_rules: false,
        }
    }

    fn say(&mut self, who: &str, msg: &str) {
        self.log
            .push(format!("{:>5} {who}: {msg}", self.now_ms / 1000));
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Where each guest runs now.
    pub fn running(&self) -> BTreeMap<ServiceId, Vec<String>> {
        let mut out: BTreeMap<ServiceId, Vec<String>> = BTreeMap::new();
        for n in &self.nodes {
            for s in &n.running {
                out.entry(*s).or_default().push(n.name.clone());
            }
        }
        out
    }

    fn in_quorum(n: &SimNode) -> bool {
        n.powered && n.connected && n.daemon == Daemon::Running
    }

    fn quorate(&self) -> bool {
        self.nodes.iter().filter(|n| Self::in_quorum(n)).count() * 2 > self.nodes.len()
    }

    /// Whether node `i` is in the quorate majority (its writes commit, it is quorate).
    fn in_majority(&self, i: usize) -> bool {
        self.quorate() && Self::in_quorum(&self.nodes[i])
    }

    /// Applies one event. Administrator changes are writes: refused without quorum.
    pub fn apply(&mut self, e: &Event) {
        let text = describe(e);
        let is_write = !matches!(
            e,
            Event::Power(..)
                | Event::Network(..)
                | Event::Acks(..)
                | Event::DaemonStop(_)
                | Event::DaemonStart(_)
                | Event::DaemonHang(_)
                | Event::FailStart(..)
                | Event::Load(..)
                | Event::Usage(..)
        );
        if is_write && !self.quorate() {
            self.say("event", &format!("{text} (refused: no quorum)"));
            return;
        }
        let mut outcome = None;
        match e.clone() {
            Event::Power(n, on) => {
                if let Some(i) = self.index(&n) {
                    let node = &mut self.nodes[i];
                    node.power_off();
                    node.powered = on;
                    if on {
                        node.daemon = Daemon::Running;
                    }
                }
            }
            Event::Network(n, on) => {
                if let Some(i) = self.index(&n) {
                    self.nodes[i].connected = on;
                }
            }
            Event::Acks(n, on) => {
                if let Some(i) = self.index(&n) {
                    self.nodes[i].acks_lost = !on;
                }
            }
            Event::DaemonHang(n) => {
                if let Some(i) = self.index(&n) {
                    self.nodes[i].daemon = Daemon::Hung;
                }
            }
            Event::DaemonStart(n) => {
                if let Some(i) = self.index(&n) {
                    let node = &mut self.nodes[i];
                    if node.powered {
                        node.daemon = Daemon::Running;
                        node.lrm.mode = LrmMode::Active;
                        node.draining = false;
                    }
                }
            }
            Event::DaemonStop(n) => self.daemon_stop(&n),
            Event::Guest {
                sid,
                node,
                running,
                memory,
            } => outcome = self.guest_event(sid, &node, running, memory),
            Event::ServiceAdd {
                sid,
                node,
                group,
                state,
                memory,
                max_restart,
                max_relocate,
                cpus,
                failback,
                nics,
            } => {
                let c = &mut self.committed;
                if c.resources.resources.contains_key(&sid) {
                    outcome = Some(format!("refused: {sid} is already HA-managed"));
                } else if let Some(n) = node.filter(|_| !c.locations.contains_key(&sid)) {
                    c.locations.insert(sid, n);
                    c.memory.insert(sid, memory);
                    if !nics.is_empty() {
                        c.guest_bridges.insert(sid, nics);
                    }
                    if let Some(cpus) = cpus {
                        c.cpus.insert(sid, cpus);
                    }
                }
                if outcome.is_none() && !self.committed.locations.contains_key(&sid) {
                    outcome = Some(format!("refused: {sid} has no config"));
                }
                if outcome.is_none() {
                    let mut r = Resource::new(sid);
                    r.group = group;
                    r.state = state;
                    r.max_restart = max_restart.unwrap_or(r.max_restart);
                    r.max_relocate = max_relocate.unwrap_or(r.max_relocate);
                    r.failback = failback;
                    self.committed.resources.resources.insert(sid, r);
                }
            }
            Event::ServiceState(sid, st) => {
                if let Some(r) = self.committed.resources.resources.get_mut(&sid) {
                    r.state = st;
                }
            }
            Event::ServiceRemove(sid) => {
                self.committed.resources.resources.remove(&sid);
            }
            Event::Group(g) => {
                self.committed.groups.groups.insert(g.name.clone(), g);
            }
            Event::Maintenance(n, on) => {
                if on {
                    self.committed.maintenance.insert(n);
                } else {
                    self.committed.maintenance.remove(&n);
                }
            }
            Event::Migrate(sid, n) => {
                self.committed.migrations.insert(sid, n);
            }
            Event::FailStart(sid, n, on) => {
                if on {
                    self.fail_start.insert((sid, n));
                } else {
                    self.fail_start.remove(&(sid, n));
                }
            }
            Event::Policy(p) => self.committed.policy = p,
            Event::Rule(r) => {
                let rules = &mut self.committed.rules.rules;
                match rules.iter_mut().find(|x| x.id == r.id) {
                    Some(x) => *x = r,
                    None => rules.push(r),
                }
            }
            Event::RuleRemove(id) => self.committed.rules.rules.retain(|r| r.id != id),
            Event::Crs(c) => self.committed.crs = c,
            Event::Load(n, l) => {
                self.base_load.insert(n, l);
            }
            Event::Usage(sid, l) => {
                self.guest_live.insert(sid, l);
            }
            Event::FenceTimeout(ms) => self.committed.timing = Timing::from_fence_timeout(ms),
        }
        match outcome {
            Some(why) => self.say("event", &format!("{text} ({why})")),
            None => self.say("event", &text),
        }
    }

    /// Node `i`'s lrm_status write commits (a lease renewal); it then has applied
    /// everything committed so far.
    fn renew(&mut self, i: usize, now: u64) {
        let n = &mut self.nodes[i];
        let fence = n.view.timing.fence_timeout_ms;
        n.lrm.seq += 1;
        n.lrm.fence_timeout_ms = Some(fence);
        n.lrm.covers = n.view.ha_set();
        n.lrm.running = n.ha_running();
        if n.acks_lost {
            n.lease.uncertain(now, fence, &n.lrm.covers);
        } else {
            n.lease.committed(now, fence, n.lrm.covers.clone());
        }
        self.committed.lrm.insert(n.name.clone(), n.lrm.clone());
        self.seen.insert(n.name.clone(), now);
        if !n.acks_lost {
            n.view = self.committed.clone();
        }
    }

    /// Every node of the quorate majority applies what was committed.
    fn sync_majority(&mut self) {
        for i in 0..self.nodes.len() {
            if self.in_majority(i) {
                self.nodes[i].view = self.committed.clone();
            }
        }
    }

    /// One step of renew_ms.
    pub fn tick(&mut self) -> Result<(), Violation> {
        let now = self.now_ms;
        self.elect();
        // Lease renewals commit in the quorate majority.
        for i in 0..self.nodes.len() {
            if self.in_majority(i) {
                self.renew(i, now);
            }
        }
        if let Some(l) = self.leader.clone() {
            self.crm_step(&l);
        }
        self.sync_majority();
        for i in 0..self.nodes.len() {
            if self.nodes[i].powered && self.nodes[i].daemon == Daemon::Running {
                self.lrm_step(i)?;
            }
        }
        self.watchdogs();
        self.finish_drains();
        self.check()?;
        if self.check_rules {
            self.check_rules()?;
        }
        Ok(())
    }

    /// Raft leadership: the current leader while it can, else the first eligible node.
    fn elect(&mut self) {
        let eligible: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| Self::in_quorum(n))
            .map(|n| n.name.clone())
            .collect();
        let leader = if self.quorate() {
            match &self.leader {
                Some(l) if eligible.contains(l) => Some(l.clone()),
                _ => eligible.first().cloned(),
            }
        } else {
            None
        };
        if leader != self.leader {
            // `seen` holds commit times, which every replica applies: the new leader
            // keeps them (a real one applies later, which only delays expiry).
            self.leader.clone_from(&leader);
            self.leader_since = self.now_ms;
            match &leader {
                Some(l) => self.say("raft", &format!("{l} is leader")),
                None => self.say("raft", "no quorum"),
            }
        }
    }

    /// The CRM on the leader, on the committed tree.
    fn crm_step(&mut self, leader: &str) {
        let usage = self.usage();
        let c = &self.committed;
        let inputs: Vec<NodeInput> = self
            .nodes
            .iter()
            .map(|n| NodeInput {
                name: n.name.clone(),
                last_renewal_ms: self.seen.get(&n.name).copied(),
                lrm: c.lrm.get(&n.name).cloned().unwrap_or_default(),
            })
            .collect();
        let input = CrmInput {
            now_ms: self.now_ms,
            leader_since_ms: self.leader_since,
            me: leader,
            timing: c.timing,
            nodes: &inputs,
            resources: &c.resources,
            groups: &c.groups,
            locations: &c.locations,
            memory_mib: &c.memory,
            maintenance: &c.maintenance,
            migrations: &c.migrations,
            rules: &c.rules,
            crs: c.crs,
            usage: &usage,
            guest_bridges: &c.guest_bridges,
            node_bridges: &self.node_bridges,
        };
        let out = crm::step(&input, &c.manager);
        for a in &out.actions {
            let CrmAction::MoveConfig { sid, to, .. } = a;
            self.committed.locations.insert(*sid, to.clone());
        }
        for sid in &out.consumed_migrations {
            self.committed.migrations.remove(sid);
        }
        for line in &out.log {
            self.say(&format!("crm {leader}"), line);
        }
        self.committed.manager = out.status;
    }

    /// Watchdogs fire at their deadline unless fed: they kill the HA guests of their
    /// node's own view.
    fn watchdogs(&mut self) {
        let now = self.now_ms;
        for i in 0..self.nodes.len() {
            let n = &mut self.nodes[i];
            if !(n.powered && n.watchdog_armed && now >= n.watchdog_deadline) {
                continue;
            }
            let fence = n.lease.fence_timeout_ms().unwrap_or(0);
            let killed = n.kill_ha_guests();
            if !killed.is_empty() {
                let name = n.name.clone();
                let list: Vec<String> = killed.iter().map(ServiceId::to_string).collect();
                self.say(
                    &format!("watchdog {name}"),
                    &format!(
                        "lease deadline passed without a feed (fence_timeout {fence} ms): killed {}",
                        list.join(", ")
                    ),
                );
            }
        }
    }

    /// A draining node stops once its HA guests are gone.
    fn finish_drains(&mut self) {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if !n.draining || !n.ha_running().is_empty() {
                continue;
            }
            let name = n.name.clone();
            let commits = self.in_majority(i);
            if commits {
                self.committed.maintenance.remove(&name);
            }
            let n = &mut self.nodes[i];
            n.draining = false;
            n.lrm.mode = LrmMode::Released;
            n.watchdog_armed = false;
            if commits {
                self.renew(i, self.now_ms);
            }
            self.nodes[i].daemon = Daemon::Stopped;
            self.say(&format!("lrm {name}"), "drained; daemon stopped");
        }
    }

    /// Runs `events` until `end_ms`, one tick per renewal interval of the initial timing.
    pub fn run(&mut self, events: &[(u64, Event)], end_ms: u64) -> Result<(), Violation> {
        let step = self.committed.timing.renew_ms;
        let mut next = 0;
        while self.now_ms <= end_ms {
            while next < events.len() && events[next].0 <= self.now_ms {
                let e = events[next].1.clone();
                self.apply(&e);
                next += 1;
            }
            self.tick()?;
            self.now_ms += step;
        }
        Ok(())
    }
}

/// Runs a scenario; returns the log, or the violated invariant.
pub fn simulate(scenario: &Scenario) -> Result<Vec<String>, (Violation, Vec<String>)> {
    let mut sim = Sim::new(&scenario.nodes, scenario.timing);
    sim.capacity = scenario.capacity.clone();
    sim.node_bridges = scenario.bridges.clone();
    sim.check_rules = scenario.check_rules;
    match sim.run(&scenario.events, scenario.end_ms) {
        Ok(()) => Ok(sim.log),
        Err(v) => Err((v, sim.log)),
    }
}
