//! The cluster resource scheduler (datacenter.cfg `crs:`), like Proxmox VE's: `basic`
//! counts HA services per node; `static` weighs each guest's configured CPUs and memory
//! against each node's capacity; `dynamic` also uses the live usage the nodes sample.
//! A candidate node is scored by the load the whole cluster would have with the guest
//! there (the highest and the average node load, memory weighted most); the same loads
//! measure the imbalance that automatic rebalancing reduces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{HaError, ServiceId};

/// Weights of the placement score (lower is better): memory counts most.
const W_MEM_MAX: f64 = 0.35;
const W_MEM_AVG: f64 = 0.25;
const W_CPU_MAX: f64 = 0.25;
const W_CPU_AVG: f64 = 0.15;
/// The share of memory in a node's load when measuring imbalance.
const W_MEM_LOAD: f64 = 0.6;
/// Default imbalance (percentage points between the most and least loaded node) above
/// which automatic rebalancing moves a guest.
pub const DEFAULT_REBALANCE_THRESHOLD_PCT: f64 = 30.0;
/// Default time the imbalance must last before a move (Proxmox: 3 rounds of ~10 s).
pub const DEFAULT_REBALANCE_HOLD_SECS: u64 = 30;
/// Default share of the imbalance a move must remove to be worth it.
pub const DEFAULT_REBALANCE_MARGIN_PCT: f64 = 10.0;
/// Capacity assumed for a node that published none (CPUs, MiB).
const UNKNOWN_CAPACITY: (f64, f64) = (1.0, 1024.0);

/// How placement weighs nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrsMode {
    #[default]
    Basic,
    Static,
    Dynamic,
}

impl CrsMode {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "basic" => Ok(CrsMode::Basic),
            "static" => Ok(CrsMode::Static),
            "dynamic" => Ok(CrsMode::Dynamic),
            _ => Err(HaError::Invalid(format!(
                "crs: ha={s:?}: basic, static or dynamic"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CrsMode::Basic => "basic",
            CrsMode::Static => "static",
            CrsMode::Dynamic => "dynamic",
        }
    }
}

/// Automatic rebalancing: move a running guest live when the imbalance exceeds the
/// threshold for the hold time, and only if the move removes at least the margin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoRebalance {
    pub threshold_pct: f64,
    pub hold_secs: u64,
    pub margin_pct: f64,
}

impl Default for AutoRebalance {
    fn default() -> Self {
        AutoRebalance {
            threshold_pct: DEFAULT_REBALANCE_THRESHOLD_PCT,
            hold_secs: DEFAULT_REBALANCE_HOLD_SECS,
            margin_pct: DEFAULT_REBALANCE_MARGIN_PCT,
        }
    }
}

/// datacenter.cfg `crs:`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CrsSettings {
    pub mode: CrsMode,
    /// A stopped HA guest asked to start goes to the best node first.
    pub rebalance_on_start: bool,
    pub auto: Option<AutoRebalance>,
    /// Log why each node was chosen (the daemon always does; old simulator scenarios
    /// without a `crs` line keep their logs).
    #[serde(default)]
    pub explain: bool,
}

fn bool01(key: &str, v: &str) -> Result<bool, HaError> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(HaError::Invalid(format!(
            "crs: {key} must be 0 or 1, not {v:?}"
        ))),
    }
}

fn number(key: &str, v: &str, max: f64) -> Result<f64, HaError> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && (0.0..=max).contains(x))
        .ok_or_else(|| HaError::Invalid(format!("crs: {key} {v:?} must be a number 0..{max}")))
}

impl CrsSettings {
    /// Parses the value of `crs:` (`ha=static,ha-rebalance-on-start=1,...`).
    pub fn parse(value: &str) -> Result<Self, HaError> {
        let mut s = CrsSettings {
            explain: true,
            ..CrsSettings::default()
        };
        let mut auto = false;
        let mut a = AutoRebalance::default();
        let mut tuned = Vec::new();
        for (i, item) in value.split(',').map(str::trim).enumerate() {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => (k, v),
                None if i == 0 && !item.is_empty() => ("ha", item),
                _ => return Err(HaError::Invalid(format!("crs: {item:?} is not key=value"))),
            };
            match k {
                "ha" => s.mode = CrsMode::parse(v)?,
                "ha-rebalance-on-start" => s.rebalance_on_start = bool01(k, v)?,
                "ha-auto-rebalance" => auto = bool01(k, v)?,
                "ha-auto-rebalance-threshold" => {
                    a.threshold_pct = number(k, v, 100.0)?;
                    tuned.push(k);
                }
                "ha-auto-rebalance-hold-duration" => {
                    a.hold_secs = number(k, v, 86_400.0)? as u64;
                    tuned.push(k);
                }
                "ha-auto-rebalance-margin" => {
                    a.margin_pct = number(k, v, 100.0)?;
                    tuned.push(k);
                }
                "ha-auto-rebalance-method" if v == "bruteforce" => tuned.push(k),
                "ha-auto-rebalance-method" => {
                    return Err(HaError::Invalid(format!(
                        "crs: ha-auto-rebalance-method {v:?}: brigade scores every single move (bruteforce)"
                    )))
                }
                _ => {
                    return Err(HaError::Invalid(format!(
                        "crs: unknown option {k:?} (known: ha, ha-rebalance-on-start, ha-auto-rebalance, ha-auto-rebalance-threshold, ha-auto-rebalance-hold-duration, ha-auto-rebalance-margin, ha-auto-rebalance-method)"
                    )))
                }
            }
        }
        if auto && s.mode == CrsMode::Basic {
            return Err(HaError::Invalid(
                "crs: ha-auto-rebalance needs ha=static or ha=dynamic (basic does not measure load)"
                    .into(),
            ));
        }
        if !auto {
            if let Some(k) = tuned.first() {
                return Err(HaError::Invalid(format!(
                    "crs: {k} has no effect without ha-auto-rebalance=1"
                )));
            }
        }
        s.auto = auto.then_some(a);
        Ok(s)
    }
}

/// Live usage, as sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// CPUs busy (1.0 = one core fully).
    pub cpu: f64,
    pub memory_mib: u64,
}

/// A node's capacity and, when sampled, its live usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub cpus: f64,
    pub memory_mib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

/// A guest's configured size and, when sampled, its live usage on a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestStats {
    pub cpus: f64,
    pub memory_mib: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<(String, Live)>,
}

/// Everything the scheduler knows about sizes and usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub nodes: BTreeMap<String, NodeStats>,
    pub guests: BTreeMap<ServiceId, GuestStats>,
}

#[derive(Debug, Clone, Copy, Default)]
struct NodeLoad {
    services: u32,
    memory_cfg_mib: u64,
    cpu: f64,
    mem: f64,
    cap_cpu: f64,
    cap_mem: f64,
}

impl NodeLoad {
    fn frac(&self) -> (f64, f64) {
        (self.cpu / self.cap_cpu, self.mem / self.cap_mem)
    }
}

/// How good a node is for a guest: lower first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    key: (f64, f64),
    /// The node's own memory and CPU load (%) with the guest there.
    pub mem_pct: f64,
    pub cpu_pct: f64,
    /// HA services on the node with the guest there.
    pub services: u32,
}

/// The placement accounting of one CRM step.
#[derive(Debug, Clone)]
pub struct Scheduler {
    mode: CrsMode,
    nodes: BTreeMap<String, NodeLoad>,
    default_cap: (f64, f64),
}

impl Scheduler {
    /// `tracked`: the HA services whose placement the step will add.
    pub fn new(mode: CrsMode, usage: &Usage, tracked: &BTreeSet<ServiceId>) -> Scheduler {
        let known: Vec<&NodeStats> = usage.nodes.values().filter(|n| n.cpus > 0.0).collect();
        let default_cap = if known.is_empty() {
            UNKNOWN_CAPACITY
        } else {
            let n = known.len() as f64;
            (
                known.iter().map(|s| s.cpus).sum::<f64>() / n,
                known.iter().map(|s| s.memory_mib as f64).sum::<f64>() / n,
            )
        };
        let mut s = Scheduler {
            mode,
            nodes: BTreeMap::new(),
            default_cap,
        };
        for (name, st) in &usage.nodes {
            let l = s.entry(name, usage);
            if mode == CrsMode::Dynamic {
                if let Some(live) = st.live {
                    l.cpu = live.cpu;
                    l.mem = live.memory_mib as f64;
                }
            }
        }
        if mode == CrsMode::Dynamic {
            // The HA guests are added one by one with their best-known usage: take
            // what their samples contributed out of the node's total first.
            for sid in tracked {
                if let Some((node, live)) = usage.guests.get(sid).and_then(|g| g.live.clone()) {
                    let l = s.entry(&node, usage);
                    l.cpu = (l.cpu - live.cpu).max(0.0);
                    l.mem = (l.mem - live.memory_mib as f64).max(0.0);
                }
            }
        }
        s
    }

    pub fn mode(&self) -> CrsMode {
        self.mode
    }

    fn entry(&mut self, node: &str, usage: &Usage) -> &mut NodeLoad {
        let cap = usage
            .nodes
            .get(node)
            .filter(|n| n.cpus > 0.0 && n.memory_mib > 0)
            .map(|n| (n.cpus, n.memory_mib as f64))
            .unwrap_or(self.default_cap);
        self.nodes.entry(node.to_string()).or_insert(NodeLoad {
            cap_cpu: cap.0,
            cap_mem: cap.1,
            ..NodeLoad::default()
        })
    }

    /// What `sid` weighs: configured for static, live (if sampled) for dynamic.
    fn weight(&self, sid: ServiceId, usage: &Usage, fallback_mem: u64) -> (f64, f64) {
        let g = usage.guests.get(&sid);
        let configured = g
            .map(|g| (g.cpus, g.memory_mib as f64))
            .unwrap_or((1.0, fallback_mem as f64));
        match (self.mode, g.and_then(|g| g.live.as_ref())) {
            (CrsMode::Dynamic, Some((_, live))) => (live.cpu, live.memory_mib as f64),
            _ => configured,
        }
    }

    /// Adds (`sign > 0`) or removes `sid`'s load on `node`.
    pub fn add(&mut self, node: &str, sid: ServiceId, sign: i64, usage: &Usage, fallback_mem: u64) {
        let (cpu, mem) = self.weight(sid, usage, fallback_mem);
        let cfg_mem = usage
            .guests
            .get(&sid)
            .map(|g| g.memory_mib)
            .unwrap_or(fallback_mem);
        let l = self.entry(node, usage);
        if sign > 0 {
            l.services += 1;
            l.memory_cfg_mib += cfg_mem;
            l.cpu += cpu;
            l.mem += mem;
        } else {
            l.services = l.services.saturating_sub(1);
            l.memory_cfg_mib = l.memory_cfg_mib.saturating_sub(cfg_mem);
            l.cpu = (l.cpu - cpu).max(0.0);
            l.mem = (l.mem - mem).max(0.0);
        }
    }

    fn load(&self, node: &str) -> NodeLoad {
        self.nodes.get(node).copied().unwrap_or(NodeLoad {
            cap_cpu: self.default_cap.0,
            cap_mem: self.default_cap.1,
            ..NodeLoad::default()
        })
    }

    /// The score of putting `sid` on `to` (taking it off `from` first), over the `all` nodes.
    fn score(
        &self,
        sid: ServiceId,
        to: &str,
        from: Option<&str>,
        all: &[String],
        usage: &Usage,
        fallback_mem: u64,
    ) -> Score {
        let (cpu, mem) = self.weight(sid, usage, fallback_mem);
        let cfg_mem = usage
            .guests
            .get(&sid)
            .map(|g| g.memory_mib)
            .unwrap_or(fallback_mem);
        let mut nodes: Vec<&String> = all.iter().collect();
        let to_owned = to.to_string();
        if !all.contains(&to_owned) {
            nodes.push(&to_owned);
        }
        let at = |n: &str| -> NodeLoad {
            let mut l = self.load(n);
            if Some(n) == from {
                l.services = l.services.saturating_sub(1);
                l.memory_cfg_mib = l.memory_cfg_mib.saturating_sub(cfg_mem);
                l.cpu = (l.cpu - cpu).max(0.0);
                l.mem = (l.mem - mem).max(0.0);
            }
            if n == to {
                l.services += 1;
                l.memory_cfg_mib += cfg_mem;
                l.cpu += cpu;
                l.mem += mem;
            }
            l
        };
        let target = at(to);
        let (tc, tm) = target.frac();
        let key = match self.mode {
            CrsMode::Basic => (target.services as f64, target.memory_cfg_mib as f64),
            CrsMode::Static | CrsMode::Dynamic => {
                let fr: Vec<(f64, f64)> = nodes.iter().map(|n| at(n).frac()).collect();
                let k = fr.len().max(1) as f64;
                let max_c = fr.iter().map(|f| f.0).fold(0.0, f64::max);
                let max_m = fr.iter().map(|f| f.1).fold(0.0, f64::max);
                let avg_c = fr.iter().map(|f| f.0).sum::<f64>() / k;
                let avg_m = fr.iter().map(|f| f.1).sum::<f64>() / k;
                (
                    W_MEM_MAX * max_m + W_MEM_AVG * avg_m + W_CPU_MAX * max_c + W_CPU_AVG * avg_c,
                    tm,
                )
            }
        };
        Score {
            key,
            mem_pct: tm * 100.0,
            cpu_pct: tc * 100.0,
            services: target.services,
        }
    }

    /// The `candidates` for `sid`, best first (ties by name).
    pub fn rank(
        &self,
        sid: ServiceId,
        candidates: &[String],
        from: Option<&str>,
        all: &[String],
        usage: &Usage,
        fallback_mem: u64,
    ) -> Vec<(String, Score)> {
        let mut v: Vec<(String, Score)> = candidates
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    self.score(sid, n, from, all, usage, fallback_mem),
                )
            })
            .collect();
        v.sort_by(|(na, a), (nb, b)| {
            a.key
                .0
                .total_cmp(&b.key.0)
                .then(a.key.1.total_cmp(&b.key.1))
                .then_with(|| na.cmp(nb))
        });
        v
    }

    /// Why `chosen` won over the runner-up, in words.
    pub fn explain(&self, ranked: &[(String, Score)]) -> String {
        let line = |(n, s): &(String, Score)| match self.mode {
            CrsMode::Basic => format!("{n} with {} HA services", s.services),
            _ => format!("{n} at memory {:.0} %, cpu {:.0} %", s.mem_pct, s.cpu_pct),
        };
        match ranked {
            [] => String::new(),
            [only] => format!(
                "CRS {}: {} (the only candidate)",
                self.mode.as_str(),
                line(only)
            ),
            [best, next, ..] => format!(
                "CRS {}: {} vs {}",
                self.mode.as_str(),
                line(best),
                line(next)
            ),
        }
    }

    /// A node's load (%): memory weighted most.
    pub fn node_load_pct(&self, node: &str) -> f64 {
        let (c, m) = self.load(node).frac();
        (W_MEM_LOAD * m + (1.0 - W_MEM_LOAD) * c) * 100.0
    }

    /// Percentage points between the most and the least loaded of `nodes`.
    pub fn imbalance_pct(&self, nodes: &[String]) -> f64 {
        let loads: Vec<f64> = nodes.iter().map(|n| self.node_load_pct(n)).collect();
        let max = loads.iter().copied().fold(f64::MIN, f64::max);
        let min = loads.iter().copied().fold(f64::MAX, f64::min);
        if loads.is_empty() {
            0.0
        } else {
            max - min
        }
    }

    /// The imbalance if `sid` moved from `from` to `to`.
    pub fn imbalance_after(
        &self,
        sid: ServiceId,
        from: &str,
        to: &str,
        nodes: &[String],
        usage: &Usage,
        fallback_mem: u64,
    ) -> f64 {
        let mut s = self.clone();
        s.add(from, sid, -1, usage, fallback_mem);
        s.add(to, sid, 1, usage, fallback_mem);
        s.imbalance_pct(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> ServiceId {
        s.parse().expect("sid")
    }

    #[test]
    fn crs_settings_parse_like_proxmox() {
        let s = CrsSettings::parse("ha=static,ha-rebalance-on-start=1").expect("parses");
        assert_eq!(
            (s.mode, s.rebalance_on_start, s.auto),
            (CrsMode::Static, true, None)
        );
        let s = CrsSettings::parse(
            "ha=dynamic,ha-auto-rebalance=1,ha-auto-rebalance-threshold=20,ha-auto-rebalance-hold-duration=10,ha-auto-rebalance-margin=5",
        )
        .expect("parses");
        assert_eq!(
            s.auto,
            Some(AutoRebalance {
                threshold_pct: 20.0,
                hold_secs: 10,
                margin_pct: 5.0
            })
        );
        assert_eq!(
            CrsSettings::parse("basic").expect("bare").mode,
            CrsMode::Basic
        );
        for (bad, needle) in [
            ("ha=fancy", "basic, static or dynamic"),
            (
                "ha=basic,ha-auto-rebalance=1",
                "needs ha=static or ha=dynamic",
            ),
            (
                "ha=static,ha-auto-rebalance-threshold=20",
                "no effect without",
            ),
            (
                "ha=static,ha-auto-rebalance=1,ha-auto-rebalance-threshold=200",
                "0..100",
            ),
            ("ha=static,weird=1", "unknown option \"weird\""),
            ("ha=static,ha-rebalance-on-start=yes", "0 or 1"),
            (
                "ha=static,ha-auto-rebalance=1,ha-auto-rebalance-method=topsis",
                "bruteforce",
            ),
        ] {
            let e = CrsSettings::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    fn usage() -> Usage {
        let mut u = Usage::default();
        for (n, mem) in [("n1", 4096), ("n2", 16384), ("n3", 8192)] {
            u.nodes.insert(
                n.into(),
                NodeStats {
                    cpus: 4.0,
                    memory_mib: mem,
                    live: None,
                },
            );
        }
        u.guests.insert(
            sid("vm:100"),
            GuestStats {
                cpus: 2.0,
                memory_mib: 2048,
                live: None,
            },
        );
        u
    }

    #[test]
    fn static_prefers_the_node_with_the_most_free_memory() {
        let u = usage();
        let s = Scheduler::new(CrsMode::Static, &u, &BTreeSet::new());
        let all: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        let r = s.rank(sid("vm:100"), &all, None, &all, &u, 512);
        assert_eq!(r[0].0, "n2", "{r:?}");
        assert!(
            s.explain(&r).contains("n2 at memory 12 %"),
            "{}",
            s.explain(&r)
        );
        // basic: all empty, by name.
        let b = Scheduler::new(CrsMode::Basic, &u, &BTreeSet::new());
        assert_eq!(b.rank(sid("vm:100"), &all, None, &all, &u, 512)[0].0, "n1");
    }

    #[test]
    fn dynamic_uses_live_usage_and_moving_reduces_imbalance() {
        let mut u = usage();
        u.nodes.get_mut("n1").expect("n1").live = Some(Live {
            cpu: 3.0,
            memory_mib: 3500,
        });
        u.guests.get_mut(&sid("vm:100")).expect("g").live = Some((
            "n1".into(),
            Live {
                cpu: 2.0,
                memory_mib: 2000,
            },
        ));
        let tracked: BTreeSet<ServiceId> = [sid("vm:100")].into();
        let mut s = Scheduler::new(CrsMode::Dynamic, &u, &tracked);
        s.add("n1", sid("vm:100"), 1, &u, 512);
        let all: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        let before = s.imbalance_pct(&all);
        let after = s.imbalance_after(sid("vm:100"), "n1", "n2", &all, &u, 512);
        assert!(before > 60.0 && after < before, "{before} -> {after}");
        let r = s.rank(sid("vm:100"), &all[1..], Some("n1"), &all, &u, 512);
        assert_eq!(r[0].0, "n2");
    }
}
