//! Figures of a run: the longest time without an acknowledged write, and each HA
//! guest's longest time running nowhere.

use serde::{Deserialize, Serialize};

use crate::checkers::never_twice::Evidence;
use crate::history::{secs, Micros, Op, Outcome};

/// An interval on the run's clock, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub seconds: f64,
    pub from_s: f64,
    pub to_s: f64,
}

impl Gap {
    fn new(from: Micros, to: Micros) -> Self {
        Gap {
            seconds: secs(to.saturating_sub(from)),
            from_s: secs(from),
            to_s: secs(to),
        }
    }
}

/// The longest interval within [from, to] in which no write was acknowledged.
pub fn write_unavailability(ops: &[Op], from: Micros, to: Micros) -> Option<Gap> {
    let mut acks: Vec<Micros> = ops
        .iter()
        .filter(|o| o.kind.is_write() && o.outcome == Outcome::Ok)
        .map(|o| o.end)
        .filter(|t| (from..=to).contains(t))
        .collect();
    acks.sort_unstable();
    let mut points = vec![from];
    points.extend(acks);
    points.push(to);
    points
        .windows(2)
        .map(|w| (w[0], w[1]))
        .max_by_key(|(a, b)| b - a)
        .map(|(a, b)| Gap::new(a, b))
}

/// A guest's longest time running nowhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub guest: String,
    #[serde(flatten)]
    pub gap: Gap,
}

fn longest_gap(mut points: Vec<(Micros, Micros)>, from: Micros, to: Micros) -> Gap {
    points.sort_unstable();
    let mut best = (from, from);
    let mut covered = from;
    for (s, e) in points {
        if s > covered && s - covered > best.1 - best.0 {
            best = (covered, s.min(to));
        }
        covered = covered.max(e);
    }
    if to > covered && to - covered > best.1 - best.0 {
        best = (covered, to);
    }
    Gap::new(best.0, best.1)
}

/// How long a record's writing stands for: a VM writes one every 100 ms (slower under
/// load), so a record covers the second after it.
const RECORD_COVERS: Micros = 1_000_000;

/// The longest downtime of each VM (from its witness records) and container (from its
/// processes) within [from, to].
pub fn downtimes(
    e: &Evidence,
    vms: &[u32],
    cts: &[u32],
    from: Micros,
    to: Micros,
) -> Vec<Downtime> {
    let mut out = Vec::new();
    for &vmid in vms {
        let points = e
            .records
            .iter()
            .filter(|r| r.vmid == vmid)
            .map(|r| (r.seen, r.seen + RECORD_COVERS))
            .collect();
        out.push(Downtime {
            guest: format!("vm:{vmid}"),
            gap: longest_gap(points, from, to),
        });
    }
    for &vmid in cts {
        let points = e
            .lives
            .iter()
            .filter(|l| !l.vm && l.vmid == vmid)
            .map(|l| (l.start, l.last_seen))
            .collect();
        out.push(Downtime {
            guest: format!("ct:{vmid}"),
            gap: longest_gap(points, from, to),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::never_twice::ProcessLife;
    use crate::history::build::write;

    #[test]
    fn the_longest_gap_between_acknowledged_writes() {
        let ops = vec![
            write(0, "r", "a", 0, 1),
            write(0, "r", "b", 2, 3),
            write(0, "r", "c", 9, 10),
        ];
        let g = write_unavailability(&ops, 0, 12_000).expect("gap");
        assert_eq!((g.from_s, g.to_s), (0.003, 0.01));
    }

    #[test]
    fn a_container_down_between_two_lives() {
        let mut e = Evidence::default();
        for (start, last) in [(0, 4_000_000), (7_000_000, 20_000_000)] {
            e.lives.push(ProcessLife {
                vmid: 201,
                vm: false,
                node: "n1".into(),
                pid: 1,
                start,
                last_seen: last,
            });
        }
        let d = downtimes(&e, &[], &[201], 0, 20_000_000);
        assert_eq!(d[0].gap.seconds, 3.0);
        assert_eq!(d[0].gap.from_s, 4.0);
    }
}
