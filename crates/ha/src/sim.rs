//! A deterministic simulator: the real CRM and LRM steps against a fake cluster in
//! virtual time, driven by a scenario (`cmdlist`), checking the safety invariants
//! after every step and writing the decisions as a log (compared with `log.expect`).
//!
//! The model: Raft has quorum while a strict majority of nodes is powered, connected
//! and has its daemon running; the leader is the first such node by name (it stays
//! leader while it can). A renewal is committed at once when its node is in the
//! quorate majority. A node's watchdog kills its HA guests `fence_timeout` after the
//! last feed; the daemon feeds it only while its lease is valid.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{parse_group_nodes, RequestState};
use crate::crm::{self, CrmAction, CrmInput, NodeInput};
use crate::lrm::{self, LrmCommand, LrmInput};
use crate::status::{LrmMode, LrmResult, LrmStatus, ManagerStatus};
use crate::{Group, GroupsConfig, HaError, Resource, ResourcesConfig, ServiceId, Timing};

/// What a clean daemon stop does with the node's HA guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPolicy {
    /// Leave them running, frozen: not recovered, resumed when the daemon returns.
    Freeze,
    /// Stop them and let them be recovered elsewhere at once.
    Failover,
    /// Migrate them away first, then stop.
    Migrate,
}

impl ShutdownPolicy {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "freeze" | "conditional" => Ok(ShutdownPolicy::Freeze),
            "failover" => Ok(ShutdownPolicy::Failover),
            "migrate" => Ok(ShutdownPolicy::Migrate),
            _ => Err(HaError::Invalid(format!(
                "unknown shutdown policy {s:?}: conditional, freeze, failover or migrate"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Running,
    /// Stopped cleanly (its last lrm_status says how).
    Stopped,
    /// SIGSTOPped or dead without a clean stop.
    Hung,
}

#[derive(Debug, Clone)]
struct SimNode {
    name: String,
    powered: bool,
    connected: bool,
    daemon: Daemon,
    /// When this node sent its last committed renewal (its clock = virtual time).
    last_renew_sent: Option<u64>,
    lrm: LrmStatus,
    /// What the leader last read of its lrm_status.
    published: LrmStatus,
    done: BTreeMap<ServiceId, (u64, bool)>,
    running: BTreeSet<ServiceId>,
    /// The watchdog kills the armed guests at this time unless fed a later deadline.
    watchdog_deadline: u64,
    /// Armed: when it fires it kills every HA guest running here (like a node reset,
    /// but only HA guests: the daemon marks them in its run dir).
    watchdog_armed: bool,
    /// A clean stop waiting for its guests to migrate away.
    draining: bool,
}

/// One timed event of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Power(String, bool),
    Network(String, bool),
    DaemonStop(String),
    DaemonStart(String),
    DaemonHang(String),
    ServiceAdd {
        sid: ServiceId,
        node: String,
        group: Option<String>,
        state: RequestState,
        memory: u64,
        max_restart: Option<u32>,
        max_relocate: Option<u32>,
    },
    ServiceState(ServiceId, RequestState),
    ServiceRemove(ServiceId),
    Group(Group),
    Maintenance(String, bool),
    Migrate(ServiceId, String),
    FailStart(ServiceId, String, bool),
    Policy(ShutdownPolicy),
}

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub nodes: Vec<String>,
    pub timing: Timing,
    pub events: Vec<(u64, Event)>,
    pub end_ms: u64,
}

fn bad(line: usize, msg: impl std::fmt::Display) -> HaError {
    HaError::Invalid(format!("cmdlist line {line}: {msg}"))
}

impl Scenario {
    /// Parses a `cmdlist`.
    pub fn parse(text: &str) -> Result<Scenario, HaError> {
        let mut sc = Scenario {
            nodes: Vec::new(),
            timing: Timing::default(),
            events: Vec::new(),
            end_ms: 120_000,
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "nodes" => sc.nodes = words[1..].iter().map(|s| s.to_string()).collect(),
                "fence_timeout" => {
                    let ms: u64 = words
                        .get(1)
                        .and_then(|w| w.parse().ok())
                        .ok_or_else(|| bad(n, "fence_timeout MS"))?;
                    sc.timing = Timing::from_fence_timeout(ms);
                }
                "end" => {
                    sc.end_ms = words
                        .get(1)
                        .and_then(|w| w.parse::<u64>().ok())
                        .ok_or_else(|| bad(n, "end SECONDS"))?
                        * 1000
                }
                w if w.starts_with('@') => {
                    let t: u64 = w[1..].parse().map_err(|_| bad(n, "bad time"))?;
                    sc.events
                        .push((t * 1000, parse_event(&words[1..]).map_err(|e| bad(n, e))?));
                }
                other => return Err(bad(n, format!("unknown directive {other:?}"))),
            }
        }
        if sc.nodes.is_empty() {
            return Err(HaError::Invalid("cmdlist: no 'nodes' line".into()));
        }
        sc.events.sort_by_key(|(t, _)| *t);
        Ok(sc)
    }
}

fn kv<'a>(words: &'a [&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn on_off(w: Option<&&str>) -> Result<bool, String> {
    match w.copied() {
        Some("on") | Some("enable") => Ok(true),
        Some("off") | Some("disable") => Ok(false),
        other => Err(format!("expected on/off, got {other:?}")),
    }
}

fn parse_event(w: &[&str]) -> Result<Event, String> {
    let node = |i: usize| w.get(i).map(|s| s.to_string()).ok_or("missing node");
    let sid = |i: usize| -> Result<ServiceId, String> {
        w.get(i)
            .ok_or("missing service")?
            .parse()
            .map_err(|e: HaError| e.to_string())
    };
    Ok(match (w.first().copied(), w.get(2).copied()) {
        (Some("power"), _) => Event::Power(node(1)?, on_off(w.get(2))?),
        (Some("network"), _) => Event::Network(node(1)?, on_off(w.get(2))?),
        (Some("daemon"), Some("stop")) => Event::DaemonStop(node(1)?),
        (Some("daemon"), Some("start")) => Event::DaemonStart(node(1)?),
        (Some("daemon"), Some("hang")) => Event::DaemonHang(node(1)?),
        (Some("maintenance"), _) => Event::Maintenance(node(1)?, on_off(w.get(2))?),
        (Some("migrate"), _) => Event::Migrate(sid(1)?, node(2)?),
        (Some("failstart"), _) => Event::FailStart(sid(1)?, node(2)?, on_off(w.get(3))?),
        (Some("policy"), _) => Event::Policy(
            ShutdownPolicy::parse(w.get(1).ok_or("missing policy")?).map_err(|e| e.to_string())?,
        ),
        (Some("group"), _) => Event::Group(Group {
            name: node(1)?,
            nodes: parse_group_nodes(kv(w, "nodes").ok_or("group needs nodes=")?)
                .map_err(|e| e.to_string())?,
            restricted: w.contains(&"restricted"),
            nofailback: w.contains(&"nofailback"),
        }),
        (Some("service"), Some("add")) => Event::ServiceAdd {
            sid: sid(1)?,
            node: kv(w, "node").ok_or("service add needs node=")?.to_string(),
            group: kv(w, "group").map(str::to_string),
            state: RequestState::parse(kv(w, "state").unwrap_or("started"))
                .map_err(|e| e.to_string())?,
            memory: kv(w, "memory").and_then(|m| m.parse().ok()).unwrap_or(512),
            max_restart: kv(w, "max_restart").and_then(|m| m.parse().ok()),
            max_relocate: kv(w, "max_relocate").and_then(|m| m.parse().ok()),
        },
        (Some("service"), Some("remove")) => Event::ServiceRemove(sid(1)?),
        (Some("service"), Some(s)) => {
            Event::ServiceState(sid(1)?, RequestState::parse(s).map_err(|e| e.to_string())?)
        }
        _ => return Err(format!("unknown event {:?}", w.join(" "))),
    })
}

/// An event as a cmdlist line would write it.
pub fn describe(e: &Event) -> String {
    let onoff = |b: bool| if b { "on" } else { "off" };
    match e {
        Event::Power(n, on) => format!("power {n} {}", onoff(*on)),
        Event::Network(n, on) => format!("network {n} {}", onoff(*on)),
        Event::DaemonStop(n) => format!("daemon {n} stop"),
        Event::DaemonStart(n) => format!("daemon {n} start"),
        Event::DaemonHang(n) => format!("daemon {n} hang"),
        Event::ServiceAdd {
            sid,
            node,
            group,
            state,
            ..
        } => format!(
            "service {sid} add node={node}{} state={}",
            group
                .as_ref()
                .map(|g| format!(" group={g}"))
                .unwrap_or_default(),
            state.as_str()
        ),
        Event::ServiceState(sid, st) => format!("service {sid} {}", st.as_str()),
        Event::ServiceRemove(sid) => format!("service {sid} remove"),
        Event::Group(g) => format!(
            "group {} nodes={}{}{}",
            g.name,
            g.nodes
                .iter()
                .map(|(n, p)| format!("{n}:{p}"))
                .collect::<Vec<_>>()
                .join(","),
            if g.restricted { " restricted" } else { "" },
            if g.nofailback { " nofailback" } else { "" }
        ),
        Event::Maintenance(n, on) => {
            format!("maintenance {n} {}", if *on { "enable" } else { "disable" })
        }
        Event::Migrate(sid, n) => format!("migrate {sid} {n}"),
        Event::FailStart(sid, n, on) => format!("failstart {sid} {n} {}", onoff(*on)),
        Event::Policy(p) => format!("policy {p:?}").to_lowercase(),
    }
}

/// A safety invariant that broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {time_ms} ms: {message}")]
pub struct Violation {
    pub time_ms: u64,
    pub message: String,
}

/// The simulated cluster.
pub struct Sim {
    pub now_ms: u64,
    timing: Timing,
    nodes: Vec<SimNode>,
    resources: ResourcesConfig,
    groups: GroupsConfig,
    locations: BTreeMap<ServiceId, String>,
    memory: BTreeMap<ServiceId, u64>,
    maintenance: BTreeSet<String>,
    migrations: BTreeMap<ServiceId, String>,
    fail_start: BTreeSet<(ServiceId, String)>,
    policy: ShutdownPolicy,
    pub manager: ManagerStatus,
    leader: Option<String>,
    leader_since: u64,
    seen: BTreeMap<String, u64>,
    pub log: Vec<String>,
}

impl Sim {
    pub fn new(nodes: &[String], timing: Timing) -> Sim {
        Sim {
            now_ms: 0,
            timing,
            nodes: nodes
                .iter()
                .map(|n| SimNode {
                    name: n.clone(),
                    powered: true,
                    connected: true,
                    daemon: Daemon::Running,
                    last_renew_sent: None,
                    lrm: LrmStatus::default(),
                    published: LrmStatus::default(),
                    done: BTreeMap::new(),
                    running: BTreeSet::new(),
                    watchdog_deadline: 0,
                    watchdog_armed: false,
                    draining: false,
                })
                .collect(),
            resources: ResourcesConfig::default(),
            groups: GroupsConfig::default(),
            locations: BTreeMap::new(),
            memory: BTreeMap::new(),
            maintenance: BTreeSet::new(),
            migrations: BTreeMap::new(),
            fail_start: BTreeSet::new(),
            policy: ShutdownPolicy::Freeze,
            manager: ManagerStatus::default(),
            leader: None,
            leader_since: 0,
            seen: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn say(&mut self, who: &str, msg: &str) {
        self.log
            .push(format!("{:>5} {who}: {msg}", self.now_ms / 1000));
    }

    fn node_mut(&mut self, name: &str) -> Option<&mut SimNode> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Where each service runs now.
    pub fn running(&self) -> BTreeMap<ServiceId, Vec<String>> {
        let mut out: BTreeMap<ServiceId, Vec<String>> = BTreeMap::new();
        for n in &self.nodes {
            for s in &n.running {
                out.entry(*s).or_default().push(n.name.clone());
            }
        }
        out
    }

    fn in_quorum(&self, n: &SimNode) -> bool {
        n.powered && n.connected && n.daemon == Daemon::Running
    }

    fn quorate(&self) -> bool {
        self.nodes.iter().filter(|n| self.in_quorum(n)).count() * 2 > self.nodes.len()
    }

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        let text = describe(e);
        match e.clone() {
            Event::Power(n, on) => {
                if let Some(node) = self.node_mut(&n) {
                    node.powered = on;
                    node.running.clear();
                    node.watchdog_armed = false;
                    node.daemon = if on { Daemon::Running } else { Daemon::Hung };
                    node.last_renew_sent = None;
                    node.lrm = LrmStatus::default();
                    node.done.clear();
                    node.draining = false;
                }
            }
            Event::Network(n, on) => {
                if let Some(node) = self.node_mut(&n) {
                    node.connected = on;
                }
            }
            Event::DaemonHang(n) => {
                if let Some(node) = self.node_mut(&n) {
                    node.daemon = Daemon::Hung;
                }
            }
            Event::DaemonStart(n) => {
                if let Some(node) = self.node_mut(&n) {
                    if node.powered {
                        node.daemon = Daemon::Running;
                        node.lrm.mode = LrmMode::Active;
                        node.draining = false;
                    }
                }
            }
            Event::DaemonStop(n) => self.daemon_stop(&n),
            Event::ServiceAdd {
                sid,
                node,
                group,
                state,
                memory,
                max_restart,
                max_relocate,
            } => {
                let mut r = Resource::new(sid);
                r.group = group;
                r.state = state;
                if let Some(m) = max_restart {
                    r.max_restart = m;
                }
                if let Some(m) = max_relocate {
                    r.max_relocate = m;
                }
                self.resources.resources.insert(sid, r);
                self.locations.insert(sid, node);
                self.memory.insert(sid, memory);
            }
            Event::ServiceState(sid, st) => {
                if let Some(r) = self.resources.resources.get_mut(&sid) {
                    r.state = st;
                }
            }
            Event::ServiceRemove(sid) => {
                self.resources.resources.remove(&sid);
            }
            Event::Group(g) => {
                self.groups.groups.insert(g.name.clone(), g);
            }
            Event::Maintenance(n, on) => {
                if on {
                    self.maintenance.insert(n);
                } else {
                    self.maintenance.remove(&n);
                }
            }
            Event::Migrate(sid, n) => {
                self.migrations.insert(sid, n);
            }
            Event::FailStart(sid, n, on) => {
                if on {
                    self.fail_start.insert((sid, n));
                } else {
                    self.fail_start.remove(&(sid, n));
                }
            }
            Event::Policy(p) => self.policy = p,
        }
        self.say("event", &text);
    }

    fn daemon_stop(&mut self, n: &str) {
        let policy = self.policy;
        let quorate = self.quorate();
        let Some(i) = self.nodes.iter().position(|x| x.name == n) else {
            return;
        };
        // The final write commits only if this node is in the quorate majority.
        let commits = quorate && self.in_quorum(&self.nodes[i]);
        let now = self.now_ms;
        let node = &mut self.nodes[i];
        if node.daemon != Daemon::Running {
            return;
        }
        match policy {
            ShutdownPolicy::Migrate => {
                node.draining = true;
                self.maintenance.insert(n.to_string());
                return;
            }
            ShutdownPolicy::Freeze => {
                node.lrm.mode = LrmMode::Freeze;
                // Disarm only once the CRM is sure to see the freeze; otherwise the
                // watchdog fences as for any lost node.
                if commits {
                    node.watchdog_armed = false;
                }
            }
            ShutdownPolicy::Failover => {
                node.running.clear();
                node.watchdog_armed = false;
                node.lrm.mode = LrmMode::Released;
            }
        }
        // The final lrm_status write, if it can commit (it renews the lease too).
        if commits {
            node.lrm.seq += 1;
            node.published = node.lrm.clone();
            node.last_renew_sent = Some(now);
            self.seen.insert(n.to_string(), now);
        }
        let node = &mut self.nodes[i];
        node.daemon = Daemon::Stopped;
    }

    /// One step of renew_ms.
    pub fn tick(&mut self) -> Result<(), Violation> {
        let now = self.now_ms;
        // Leadership.
        let quorate = self.quorate();
        let eligible: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| self.in_quorum(n))
            .map(|n| n.name.clone())
            .collect();
        let leader = if quorate {
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
            self.leader = leader.clone();
            self.leader_since = now;
            if let Some(l) = &leader {
                self.say("raft", &format!("{l} is leader"));
            } else {
                self.say("raft", "no quorum");
            }
        }
        // Lease renewals commit in the quorate majority.
        if quorate {
            for n in self.nodes.iter_mut() {
                if n.powered && n.connected && n.daemon == Daemon::Running {
                    n.lrm.seq += 1;
                    n.last_renew_sent = Some(now);
                    n.published = n.lrm.clone();
                    self.seen.insert(n.name.clone(), now);
                }
            }
        }
        // The CRM on the leader.
        if let Some(l) = leader.clone() {
            let inputs: Vec<NodeInput> = self
                .nodes
                .iter()
                .map(|n| NodeInput {
                    name: n.name.clone(),
                    last_renewal_ms: self.seen.get(&n.name).copied(),
                    lrm: n.published.clone(),
                })
                .collect();
            let input = CrmInput {
                now_ms: now,
                leader_since_ms: self.leader_since,
                me: &l,
                timing: self.timing,
                nodes: &inputs,
                resources: &self.resources,
                groups: &self.groups,
                locations: &self.locations,
                memory_mib: &self.memory,
                maintenance: &self.maintenance,
                migrations: &self.migrations,
            };
            let out = crm::step(&input, &self.manager);
            for a in &out.actions {
                let CrmAction::MoveConfig { sid, to, .. } = a;
                self.locations.insert(*sid, to.clone());
            }
            for sid in &out.consumed_migrations {
                self.migrations.remove(sid);
            }
            for line in &out.log {
                self.say(&format!("crm {l}"), line);
            }
            self.manager = out.status;
        }
        // The LRMs.
        for i in 0..self.nodes.len() {
            if !(self.nodes[i].powered && self.nodes[i].daemon == Daemon::Running) {
                continue;
            }
            self.lrm_step(i);
        }
        // Watchdogs.
        let fence = self.timing.fence_timeout_ms;
        for i in 0..self.nodes.len() {
            let n = &mut self.nodes[i];
            if n.powered && n.watchdog_armed && now >= n.watchdog_deadline {
                n.watchdog_armed = false;
                let ha: Vec<ServiceId> = n
                    .running
                    .iter()
                    .filter(|s| self.resources.resources.contains_key(s))
                    .copied()
                    .collect();
                let mut killed = Vec::new();
                for s in ha {
                    n.running.remove(&s);
                    killed.push(s.to_string());
                }
                let name = n.name.clone();
                if !killed.is_empty() {
                    self.say(&format!("watchdog {name}"), &format!("lease deadline passed without a feed (fence_timeout {fence} ms): killed {}", killed.join(", ")));
                }
            }
        }
        // A draining node stops once its guests are gone.
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let ha_left = n
                .running
                .iter()
                .any(|s| self.resources.resources.contains_key(s));
            if n.draining && !ha_left {
                let name = n.name.clone();
                self.maintenance.remove(&name);
                let n = &mut self.nodes[i];
                n.draining = false;
                n.lrm.mode = LrmMode::Released;
                n.lrm.seq += 1;
                n.published = n.lrm.clone();
                n.daemon = Daemon::Stopped;
                self.say(&format!("lrm {name}"), "drained; daemon stopped");
            }
        }
        self.check()
    }

    fn lrm_step(&mut self, i: usize) {
        let now = self.now_ms;
        let fence = self.timing.fence_timeout_ms;
        let n = &self.nodes[i];
        let name = n.name.clone();
        let lease_valid = n
            .last_renew_sent
            .is_some_and(|t| now.saturating_sub(t) < fence);
        let ha_running: BTreeSet<ServiceId> = n
            .running
            .iter()
            .filter(|s| self.resources.resources.contains_key(s))
            .copied()
            .collect();
        let here: BTreeSet<ServiceId> = self
            .locations
            .iter()
            .filter(|(_, l)| **l == name)
            .map(|(s, _)| *s)
            .collect();
        let cmds = lrm::step(&LrmInput {
            node: &name,
            lease_valid,
            manager: &self.manager,
            running: &ha_running,
            configs_here: &here,
            done: &n.done,
        });
        for c in cmds {
            self.execute(i, c);
        }
        let n = &mut self.nodes[i];
        if lease_valid {
            // The deadline is the lease's own: fence_timeout after the last committed renewal.
            n.watchdog_deadline = n.last_renew_sent.unwrap_or(now) + fence;
            n.watchdog_armed = true;
        }
    }

    fn result(&mut self, i: usize, sid: ServiceId, uid: u64, ok: bool, message: &str) {
        let n = &mut self.nodes[i];
        n.done.insert(sid, (uid, ok));
        n.lrm.results.insert(
            sid,
            LrmResult {
                uid,
                ok,
                message: message.to_string(),
            },
        );
    }

    fn target_up(&self, target: &str) -> Option<usize> {
        self.nodes.iter().position(|n| {
            n.name == target && n.powered && n.connected && n.daemon == Daemon::Running
        })
    }

    fn execute(&mut self, i: usize, c: LrmCommand) {
        let name = self.nodes[i].name.clone();
        let who = format!("lrm {name}");
        match c {
            LrmCommand::FenceAll => {
                let n = &mut self.nodes[i];
                let killed: Vec<String> = n.running.iter().map(|s| s.to_string()).collect();
                n.running
                    .retain(|s| !self.resources.resources.contains_key(s));
                n.watchdog_armed = false;
                self.say(
                    &who,
                    &format!("lease lapsed: self-fence, killed {}", killed.join(", ")),
                );
            }
            LrmCommand::Start { sid, uid } => {
                if self.fail_start.contains(&(sid, name.clone())) {
                    self.say(&who, &format!("start {sid} failed"));
                    self.result(i, sid, uid, false, "start failed");
                } else {
                    self.nodes[i].running.insert(sid);
                    self.say(&who, &format!("start {sid}"));
                    self.result(i, sid, uid, true, "");
                }
            }
            LrmCommand::Stop { sid, uid } => {
                self.nodes[i].running.remove(&sid);
                self.say(&who, &format!("stop {sid}"));
                self.result(i, sid, uid, true, "");
            }
            LrmCommand::Ack { sid, uid } => self.result(i, sid, uid, true, ""),
            LrmCommand::KillStray { sid } => {
                self.nodes[i].running.remove(&sid);
                self.say(&who, &format!("kill stray {sid} (it belongs elsewhere)"));
            }
            LrmCommand::Migrate { sid, target, uid }
            | LrmCommand::Relocate { sid, target, uid } => {
                let Some(t) = self.target_up(&target) else {
                    self.say(
                        &who,
                        &format!("move {sid} to {target} failed: target unreachable"),
                    );
                    self.result(i, sid, uid, false, "target unreachable");
                    return;
                };
                let was_running = self.nodes[i].running.remove(&sid);
                let fails = self.fail_start.contains(&(sid, target.clone()));
                if was_running && !fails {
                    self.nodes[t].running.insert(sid);
                }
                self.locations.insert(sid, target.clone());
                self.say(
                    &who,
                    &format!(
                        "move {sid} to {target}{}",
                        if was_running { " (running)" } else { "" }
                    ),
                );
                self.result(i, sid, uid, true, "");
            }
        }
    }

    fn check(&self) -> Result<(), Violation> {
        for (sid, nodes) in self.running() {
            if nodes.len() > 1 {
                return Err(Violation {
                    time_ms: self.now_ms,
                    message: format!("{sid} runs on {} at once", nodes.join(" and ")),
                });
            }
        }
        for sid in self.resources.resources.keys() {
            if !self.locations.contains_key(sid) {
                return Err(Violation {
                    time_ms: self.now_ms,
                    message: format!("{sid} lost its config"),
                });
            }
        }
        Ok(())
    }

    /// Runs `events` until `end_ms`, one tick per renewal interval.
    pub fn run(&mut self, events: &[(u64, Event)], end_ms: u64) -> Result<(), Violation> {
        let mut next = 0;
        while self.now_ms <= end_ms {
            while next < events.len() && events[next].0 <= self.now_ms {
                let e = events[next].1.clone();
                self.apply(&e);
                next += 1;
            }
            self.tick()?;
            self.now_ms += self.timing.renew_ms;
        }
        Ok(())
    }

    /// Whether every service asked to run runs exactly once (after the cluster healed).
    pub fn all_started_run_once(&self) -> Result<(), String> {
        let running = self.running();
        for (sid, r) in &self.resources.resources {
            if r.state == RequestState::Started {
                match running.get(sid).map(Vec::len) {
                    Some(1) => {}
                    n => {
                        return Err(format!(
                            "{sid} should run once, runs on {} node(s)",
                            n.unwrap_or(0)
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs a scenario; returns the log, or the violated invariant.
pub fn simulate(scenario: &Scenario) -> Result<Vec<String>, (Violation, Vec<String>)> {
    let mut sim = Sim::new(&scenario.nodes, scenario.timing);
    match sim.run(&scenario.events, scenario.end_ms) {
        Ok(()) => Ok(sim.log),
        Err(v) => Err((v, sim.log)),
    }
}
