//! The placement accounting of one CRM step: each node's load as the CRS mode counts
//! it, the score of a candidate node (the highest and the average node load with the
//! guest there, memory weighted most), and the imbalance automatic rebalancing lowers.

use std::collections::{BTreeMap, BTreeSet};

use super::{CrsMode, NodeStats, Usage};
use crate::ServiceId;

/// Weights of the placement score (lower is better): memory counts most.
const W_MEM_MAX: f64 = 0.35;
const W_MEM_AVG: f64 = 0.25;
const W_CPU_MAX: f64 = 0.25;
const W_CPU_AVG: f64 = 0.15;
/// The share of memory in a node's load when measuring imbalance.
const W_MEM_LOAD: f64 = 0.6;
/// Capacity assumed for a node that published none (CPUs, MiB).
const UNKNOWN_CAPACITY: (f64, f64) = (1.0, 1024.0);

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
    /// With the guest there: the highest and average memory load, the highest and
    /// average CPU load over the nodes (static and dynamic).
    criteria: [f64; 4],
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
        let fr: Vec<(f64, f64)> = nodes.iter().map(|n| at(n).frac()).collect();
        let k = fr.len().max(1) as f64;
        let criteria = [
            fr.iter().map(|f| f.1).fold(0.0, f64::max),
            fr.iter().map(|f| f.1).sum::<f64>() / k,
            fr.iter().map(|f| f.0).fold(0.0, f64::max),
            fr.iter().map(|f| f.0).sum::<f64>() / k,
        ];
        // Static and dynamic keys are weighed in `rank`, over all candidates.
        let key = match self.mode {
            CrsMode::Basic => (f64::from(target.services), target.memory_cfg_mib as f64),
            CrsMode::Static | CrsMode::Dynamic => (0.0, tm),
        };
        Score {
            key,
            criteria,
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
        if self.mode != CrsMode::Basic {
            // Each criterion relative to its worst candidate (as TOPSIS normalizes), so
            // an overcommitted CPU does not drown memory, which weighs most.
            let weights = [W_MEM_MAX, W_MEM_AVG, W_CPU_MAX, W_CPU_AVG];
            let worst: Vec<f64> = (0..4)
                .map(|c| v.iter().map(|(_, s)| s.criteria[c]).fold(0.0, f64::max))
                .collect();
            for (_, s) in &mut v {
                s.key.0 = (0..4)
                    .map(|c| {
                        let norm = if worst[c] > 0.0 {
                            s.criteria[c] / worst[c]
                        } else {
                            0.0
                        };
                        weights[c] * norm
                    })
                    .sum();
            }
        }
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
    use crate::crs::{GuestStats, Live, NodeStats};

    fn sid(s: &str) -> ServiceId {
        s.parse().expect("sid")
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
