//! `nodes/<node>/usage`: the capacity and live usage a node publishes for the CRS, kept
//! small (rounded, at most [`MAX_REPORTED_GUESTS`] guests, the heaviest first) and
//! rewritten only when it changed enough to matter for placement.

use std::collections::BTreeMap;

use brigade_ha::crs::Live;
use brigade_ha::ServiceId;
use serde::{Deserialize, Serialize};

/// The file's name under `nodes/<node>/`.
pub const USAGE_FILE: &str = "usage";
/// Guests listed at most (the rest count with their configured size).
pub const MAX_REPORTED_GUESTS: usize = 32;
/// A change smaller than this (cores, MiB) and than [`RELATIVE_CHANGE`] is not published.
const CPU_CHANGE: f64 = 0.25;
const MEMORY_CHANGE_MIB: u64 = 64;
const RELATIVE_CHANGE: f64 = 0.10;

/// What a node publishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// CPUs and memory (MiB) for guests: the machine's, or `guest_memory_mib`.
    pub cpus: f64,
    pub memory_mib: u64,
    /// In use now.
    pub live: Live,
    /// The HA guests running here, in use now.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guests: BTreeMap<ServiceId, Live>,
}

fn round(l: Live) -> Live {
    Live {
        cpu: (l.cpu * 100.0).round() / 100.0,
        memory_mib: l.memory_mib,
    }
}

fn differs(a: Live, b: Live) -> bool {
    let cpu = (a.cpu - b.cpu).abs();
    let mem = a.memory_mib.abs_diff(b.memory_mib);
    let rel = |d: f64, base: f64| d > RELATIVE_CHANGE * base.max(f64::MIN_POSITIVE);
    (cpu >= CPU_CHANGE && rel(cpu, a.cpu.max(b.cpu)))
        || (mem >= MEMORY_CHANGE_MIB && rel(mem as f64, a.memory_mib.max(b.memory_mib) as f64))
}

impl UsageReport {
    /// A report of the heaviest guests, rounded.
    pub fn new(cpus: f64, memory_mib: u64, live: Live, guests: BTreeMap<ServiceId, Live>) -> Self {
        let mut v: Vec<(ServiceId, Live)> = guests.into_iter().collect();
        v.sort_by(|a, b| b.1.memory_mib.cmp(&a.1.memory_mib).then(a.0.cmp(&b.0)));
        v.truncate(MAX_REPORTED_GUESTS);
        UsageReport {
            cpus,
            memory_mib,
            live: round(live),
            guests: v.into_iter().map(|(s, l)| (s, round(l))).collect(),
        }
    }

    /// Whether the capacity (what basic and static scheduling read) changed: only the
    /// dynamic CRS reads live usage, so without it an idle node writes nothing.
    pub fn capacity_differs(&self, old: &UsageReport) -> bool {
        self.cpus != old.cpus || self.memory_mib != old.memory_mib
    }

    /// Whether `self` (new) is worth publishing over `old`.
    pub fn differs_much(&self, old: &UsageReport) -> bool {
        self.cpus != old.cpus
            || self.memory_mib != old.memory_mib
            || self.guests.keys().ne(old.guests.keys())
            || differs(self.live, old.live)
            || self
                .guests
                .iter()
                .any(|(s, l)| old.guests.get(s).is_some_and(|o| differs(*l, *o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(cpu: f64, memory_mib: u64) -> Live {
        Live { cpu, memory_mib }
    }

    #[test]
    fn without_live_usage_only_a_capacity_change_matters() {
        let sid: ServiceId = "vm:100".parse().expect("sid");
        let a = UsageReport::new(4.0, 8192, live(1.0, 3000), [(sid, live(0.5, 200))].into());
        let busy = UsageReport::new(4.0, 8192, live(3.9, 8000), BTreeMap::new());
        assert!(busy.differs_much(&a));
        assert!(!busy.capacity_differs(&a));
        let bigger = UsageReport::new(8.0, 8192, live(1.0, 3000), BTreeMap::new());
        assert!(bigger.capacity_differs(&a));
        let more_memory = UsageReport::new(4.0, 16384, live(1.0, 3000), BTreeMap::new());
        assert!(more_memory.capacity_differs(&a));
    }

    #[test]
    fn only_changes_that_matter_are_published() {
        let sid: ServiceId = "vm:100".parse().expect("sid");
        let a = UsageReport::new(4.0, 8192, live(1.0, 3000), [(sid, live(0.5, 200))].into());
        let small = UsageReport::new(4.0, 8192, live(1.1, 3030), [(sid, live(0.52, 210))].into());
        assert!(!small.differs_much(&a));
        let busy = UsageReport::new(4.0, 8192, live(2.0, 3000), [(sid, live(0.5, 200))].into());
        assert!(busy.differs_much(&a));
        let gone = UsageReport::new(4.0, 8192, live(1.0, 3000), BTreeMap::new());
        assert!(gone.differs_much(&a));
        let grown = UsageReport::new(4.0, 8192, live(1.0, 3000), [(sid, live(0.5, 900))].into());
        assert!(grown.differs_much(&a));
    }

    #[test]
    fn a_report_is_small() {
        let guests: BTreeMap<ServiceId, Live> = (0..200)
            .map(|i| {
                (
                    format!("vm:{}", 100 + i).parse().expect("sid"),
                    live(0.123_456, 100 + i),
                )
            })
            .collect();
        let r = UsageReport::new(64.0, 262_144, live(12.3456, 100_000), guests);
        assert_eq!(r.guests.len(), MAX_REPORTED_GUESTS);
        assert!(
            r.guests.contains_key(&"vm:299".parse().expect("sid")),
            "heaviest kept"
        );
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.len() < 2048, "{} bytes: {json}", json.len());
        let three = UsageReport::new(
            2.0,
            4096,
            live(0.5, 1500),
            (0..3)
                .map(|i| {
                    (
                        format!("vm:{}", 100 + i).parse().expect("sid"),
                        live(0.31, 140),
                    )
                })
                .collect(),
        );
        let json = serde_json::to_string(&three).expect("json");
        assert!(json.len() < 300, "{} bytes: {json}", json.len());
        assert_eq!(
            serde_json::from_str::<UsageReport>(&json).expect("back"),
            three
        );
    }
}
