//! Scenario files (`cmdlist`): timed events for the simulator, parsed and written back.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{parse_group_nodes, RequestState, ShutdownPolicy};
use crate::crs::{CrsSettings, Live, NodeStats};
use crate::rules::Rule;
use crate::{Group, HaError, ServiceId, Timing};

/// One timed event of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Power(String, bool),
    Network(String, bool),
    /// `acks NODE off`: its renewals still commit, but it never learns they did.
    Acks(String, bool),
    DaemonStop(String),
    DaemonStart(String),
    DaemonHang(String),
    /// A guest config on a node, outside HA; `running` starts it there too (as `vm start` would).
    Guest {
        sid: ServiceId,
        node: String,
        running: bool,
        memory: u64,
    },
    /// `rule NAME node-affinity|resource-affinity ...`: adds or replaces a rule of ha/rules.cfg.
    Rule(Rule),
    /// `rule NAME remove`.
    RuleRemove(String),
    /// datacenter.cfg `crs:` changes.
    Crs(CrsSettings),
    /// `load NODE cpu=C memory=M`: what runs on the node besides its guests.
    Load(String, Live),
    /// `usage SID cpu=C memory=M`: the guest's live usage while it runs.
    Usage(ServiceId, Live),
    /// `ha add`: the guest's config is created on `node` first when it has none.
    ServiceAdd {
        sid: ServiceId,
        node: Option<String>,
        group: Option<String>,
        state: RequestState,
        memory: u64,
        max_restart: Option<u32>,
        max_relocate: Option<u32>,
        /// Configured CPUs (`cores=`).
        cpus: Option<f64>,
        /// `failback=0`.
        failback: bool,
        /// `netN=BRIDGE`: the bridges its NICs name.
        nics: Vec<(String, String)>,
    },
    ServiceState(ServiceId, RequestState),
    ServiceRemove(ServiceId),
    Group(Group),
    Maintenance(String, bool),
    Migrate(ServiceId, String),
    FailStart(ServiceId, String, bool),
    Policy(ShutdownPolicy),
    /// datacenter.cfg `ha: fence_timeout=` changes (ms).
    FenceTimeout(u64),
}

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub nodes: Vec<String>,
    pub timing: Timing,
    pub events: Vec<(u64, Event)>,
    pub end_ms: u64,
    /// `node NAME cpus=C memory=M`: node capacities.
    pub capacity: BTreeMap<String, NodeStats>,
    /// `bridges NODE B1 B2 ...`: the bridges and vnets a node has.
    pub bridges: BTreeMap<String, BTreeSet<String>>,
    /// `invariant rules`: also fail if a feasible rule is broken at any instant.
    pub check_rules: bool,
}

/// How long a scenario runs without an `end` line (ms).
pub const DEFAULT_END_MS: u64 = 120_000;
/// The memory of a guest whose event names none (MiB).
pub const DEFAULT_GUEST_MEMORY_MIB: u64 = 512;

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
            end_ms: DEFAULT_END_MS,
            capacity: BTreeMap::new(),
            bridges: BTreeMap::new(),
            check_rules: false,
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(first) = words.first() else {
                continue;
            };
            match *first {
                "nodes" => sc.nodes = words[1..].iter().map(|s| s.to_string()).collect(),
                "fence_timeout" => {
                    let ms: u64 = words
                        .get(1)
                        .and_then(|w| w.parse().ok())
                        .ok_or_else(|| bad(n, "fence_timeout MS"))?;
                    sc.timing = Timing::from_fence_timeout(ms);
                }
                "node" => {
                    let name = words
                        .get(1)
                        .ok_or_else(|| bad(n, "node NAME cpus=C memory=M"))?;
                    let cpus = kv(&words, "cpus")
                        .and_then(|v| v.parse::<f64>().ok())
                        .ok_or_else(|| bad(n, "node needs cpus="))?;
                    let memory_mib = kv(&words, "memory")
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| bad(n, "node needs memory="))?;
                    sc.capacity.insert(
                        name.to_string(),
                        NodeStats {
                            cpus,
                            memory_mib,
                            live: None,
                        },
                    );
                }
                "bridges" => {
                    let name = words
                        .get(1)
                        .ok_or_else(|| bad(n, "bridges NODE B1 B2 ..."))?;
                    sc.bridges.insert(
                        name.to_string(),
                        words[2..].iter().map(|b| b.to_string()).collect(),
                    );
                }
                "invariant" if words.get(1) == Some(&"rules") => sc.check_rules = true,
                "end" => {
                    sc.end_ms = words
                        .get(1)
                        .and_then(|w| w.parse::<u64>().ok())
                        .ok_or_else(|| bad(n, "end SECONDS"))?
                        * 1000;
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

/// Why the words after `@TIME` are not an event.
#[derive(Debug, thiserror::Error)]
enum EventError {
    /// A word is missing or not what the event needs.
    #[error("{0}")]
    Malformed(String),
    /// A value the HA configuration refuses (a service id, a state, a policy).
    #[error(transparent)]
    Value(#[from] HaError),
}

impl From<&str> for EventError {
    fn from(m: &str) -> Self {
        EventError::Malformed(m.to_string())
    }
}

fn on_off(w: Option<&&str>) -> Result<bool, EventError> {
    match w.copied() {
        Some("on" | "enable") => Ok(true),
        Some("off" | "disable") => Ok(false),
        other => Err(EventError::Malformed(format!(
            "expected on/off, got {other:?}"
        ))),
    }
}

fn memory(w: &[&str]) -> Result<u64, EventError> {
    kv(w, "memory").map_or(Ok(DEFAULT_GUEST_MEMORY_MIB), |m| {
        m.parse()
            .map_err(|_| EventError::Malformed(format!("bad memory {m:?}")))
    })
}

fn live(w: &[&str]) -> Result<Live, EventError> {
    let cpu = kv(w, "cpu").map_or(Ok(0.0), |v| {
        v.parse::<f64>()
            .map_err(|_| EventError::Malformed(format!("bad cpu {v:?}")))
    })?;
    let memory_mib = kv(w, "memory").map_or(Ok(0), |v| {
        v.parse::<u64>()
            .map_err(|_| EventError::Malformed(format!("bad memory {v:?}")))
    })?;
    Ok(Live { cpu, memory_mib })
}

fn parse_event(w: &[&str]) -> Result<Event, EventError> {
    let node = |i: usize| w.get(i).map(|s| s.to_string()).ok_or("missing node");
    let sid = |i: usize| -> Result<ServiceId, EventError> {
        Ok(w.get(i).ok_or("missing service")?.parse()?)
    };
    Ok(match (w.first().copied(), w.get(2).copied()) {
        (Some("power"), _) => Event::Power(node(1)?, on_off(w.get(2))?),
        (Some("network"), _) => Event::Network(node(1)?, on_off(w.get(2))?),
        (Some("acks"), _) => Event::Acks(node(1)?, on_off(w.get(2))?),
        (Some("daemon"), Some("stop")) => Event::DaemonStop(node(1)?),
        (Some("daemon"), Some("start")) => Event::DaemonStart(node(1)?),
        (Some("daemon"), Some("hang")) => Event::DaemonHang(node(1)?),
        (Some("maintenance"), _) => Event::Maintenance(node(1)?, on_off(w.get(2))?),
        (Some("migrate"), _) => Event::Migrate(sid(1)?, node(2)?),
        (Some("failstart"), _) => Event::FailStart(sid(1)?, node(2)?, on_off(w.get(3))?),
        (Some("policy"), _) => {
            Event::Policy(ShutdownPolicy::parse(w.get(1).ok_or("missing policy")?)?)
        }
        (Some("timing"), _) => Event::FenceTimeout(
            kv(w, "fence_timeout")
                .and_then(|v| v.parse().ok())
                .ok_or("timing needs fence_timeout=MS")?,
        ),
        (Some("group"), _) => Event::Group(Group {
            name: node(1)?,
            nodes: parse_group_nodes(kv(w, "nodes").ok_or("group needs nodes=")?)?,
            restricted: w.contains(&"restricted"),
            nofailback: w.contains(&"nofailback"),
        }),
        (Some("rule"), Some("remove")) => Event::RuleRemove(node(1)?),
        (Some("rule"), Some(_)) => Event::Rule(super::rule_line::parse(w)?),
        (Some("crs"), _) => Event::Crs(CrsSettings::parse(w.get(1).ok_or("crs needs ha=...")?)?),
        (Some("load"), _) => Event::Load(node(1)?, live(w)?),
        (Some("usage"), _) => Event::Usage(sid(1)?, live(w)?),
        (Some("guest"), _) => Event::Guest {
            sid: sid(1)?,
            node: kv(w, "node").ok_or("guest needs node=")?.to_string(),
            running: w.contains(&"running"),
            memory: memory(w)?,
        },
        (Some("service"), Some("add")) => Event::ServiceAdd {
            sid: sid(1)?,
            node: kv(w, "node").map(str::to_string),
            group: kv(w, "group").map(str::to_string),
            state: RequestState::parse(kv(w, "state").unwrap_or("started"))?,
            memory: memory(w)?,
            max_restart: kv(w, "max_restart").and_then(|m| m.parse().ok()),
            max_relocate: kv(w, "max_relocate").and_then(|m| m.parse().ok()),
            cpus: kv(w, "cores")
                .map(|c| {
                    c.parse()
                        .map_err(|_| EventError::Malformed(format!("bad cores {c:?}")))
                })
                .transpose()?,
            failback: kv(w, "failback") != Some("0"),
            nics: w
                .iter()
                .filter_map(|x| x.split_once('='))
                .filter(|(k, _)| {
                    k.strip_prefix("net")
                        .is_some_and(|i| i.parse::<u32>().is_ok())
                })
                .map(|(k, b)| (k.to_string(), b.to_string()))
                .collect(),
        },
        (Some("service"), Some("remove")) => Event::ServiceRemove(sid(1)?),
        (Some("service"), Some(s)) => Event::ServiceState(sid(1)?, RequestState::parse(s)?),
        _ => {
            return Err(EventError::Malformed(format!(
                "unknown event {:?}",
                w.join(" ")
            )))
        }
    })
}

/// A `crs:` value as datacenter.cfg would hold it.
fn crs_text(c: &CrsSettings) -> String {
    let mut v = vec![format!("ha={}", c.mode.as_str())];
    if c.rebalance_on_start {
        v.push("ha-rebalance-on-start=1".into());
    }
    if let Some(a) = c.auto {
        v.push("ha-auto-rebalance=1".into());
        v.push(format!("ha-auto-rebalance-threshold={}", a.threshold_pct));
        v.push(format!("ha-auto-rebalance-hold-duration={}", a.hold_secs));
        v.push(format!("ha-auto-rebalance-margin={}", a.margin_pct));
    }
    v.join(",")
}

/// An event as a cmdlist line would write it.
pub fn describe(e: &Event) -> String {
    let onoff = |b: bool| if b { "on" } else { "off" };
    match e {
        Event::Power(n, on) => format!("power {n} {}", onoff(*on)),
        Event::Network(n, on) => format!("network {n} {}", onoff(*on)),
        Event::Acks(n, on) => format!("acks {n} {}", onoff(*on)),
        Event::DaemonStop(n) => format!("daemon {n} stop"),
        Event::DaemonStart(n) => format!("daemon {n} start"),
        Event::DaemonHang(n) => format!("daemon {n} hang"),
        Event::Guest {
            sid, node, running, ..
        } => format!(
            "guest {sid} node={node}{}",
            if *running { " running" } else { "" }
        ),
        Event::ServiceAdd {
            sid,
            node,
            group,
            state,
            ..
        } => format!(
            "service {sid} add{}{} state={}",
            node.as_ref()
                .map(|n| format!(" node={n}"))
                .unwrap_or_default(),
            group
                .as_ref()
                .map(|g| format!(" group={g}"))
                .unwrap_or_default(),
            state.as_str()
        ),
        Event::ServiceState(sid, st) => format!("service {sid} {}", st.as_str()),
        Event::Rule(r) => super::rule_line::describe(r),
        Event::RuleRemove(id) => format!("rule {id} remove"),
        Event::Crs(c) => format!("crs {}", crs_text(c)),
        Event::Load(n, l) => format!("load {n} cpu={} memory={}", l.cpu, l.memory_mib),
        Event::Usage(sid, l) => format!("usage {sid} cpu={} memory={}", l.cpu, l.memory_mib),
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
        Event::Policy(p) => format!("policy {}", p.as_str()),
        Event::FenceTimeout(ms) => format!("timing fence_timeout={ms}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_through_its_line() {
        let text = "nodes n1 n2\n\
            @0 guest vm:100 node=n1 running\n\
            @1 service vm:100 add state=started\n\
            @2 service ct:101 add node=n2 group=g state=stopped\n\
            @3 timing fence_timeout=20000\n\
            @4 policy failover\n\
            @5 network n1 off\n\
            @5 acks n2 off\n\
            @6 failstart vm:100 n2 on\n\
            @7 group g nodes=n1:2,n2:1 restricted\n\
            @8 maintenance n1 enable\n\
            @9 rule pin node-affinity resources=vm:100 nodes=n1:2,n2 strict\n\
            @9 rule apart resource-affinity resources=vm:100,ct:101 affinity=negative\n\
            @10 rule pin remove\n\
            @10 crs ha=dynamic,ha-auto-rebalance=1\n\
            @11 load n1 cpu=1.5 memory=800\n\
            @11 usage vm:100 cpu=0.5 memory=300\n\
            @12 service vm:102 add node=n1 cores=4 failback=0\n";
        let sc = Scenario::parse(text).expect("parses");
        assert_eq!(sc.events.len(), 17);
        for (_, e) in &sc.events {
            let line = describe(e);
            let words: Vec<&str> = line.split_whitespace().collect();
            let back = parse_event(&words).expect("its own line parses");
            assert_eq!(describe(&back), line);
        }
        for bad in [
            "nodes n1\n@x power n1 off\n",
            "nodes n1\n@1 timing\n",
            "nodes n1\n@1 guest vm:100\n",
            "nodes n1\n@1 service vm:100 add memory=lots\n",
            "@1 power n1 off\n",
            "nodes n1\nfrobnicate\n",
            "nodes n1\n@1 rule r1 node-affinity resources=vm:100\n",
            "nodes n1\n@1 rule r1 sideways resources=vm:100\n",
            "nodes n1\n@1 crs ha=fancy\n",
            "nodes n1\nnode n1 cpus=4\n",
        ] {
            assert!(Scenario::parse(bad).is_err(), "{bad}");
        }
    }
}
