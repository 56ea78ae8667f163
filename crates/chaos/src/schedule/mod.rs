//! The fault schedule: drawn from a seed, so the same seed, node count, duration and
//! fault kinds give the same faults in the same order with the same targets and times.
//! Kinds come in shuffled rounds (every enabled kind once per round), so even a short
//! run injects each of them.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

mod fault;

pub use fault::{Damage, Fault, FaultKind, FaultKindError, Target};

/// A fault in the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub index: usize,
    /// When it starts, from the start of the workload (later if the one before is late).
    pub at_ms: u64,
    /// How long it holds before it is healed.
    pub hold_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

/// The whole schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub faults: Vec<PlannedFault>,
}

/// When the first fault may start, so the workload runs on a healthy cluster first.
pub const FIRST_FAULT_MS: u64 = 5_000;
/// Quiet time between a heal and the next fault.
const GAP_MS: (u64, u64) = (500, 2_500);

/// How long each kind holds (ms).
fn hold_range(kind: FaultKind) -> (u64, u64) {
    match kind {
        FaultKind::Kill => (1_000, 10_000),
        FaultKind::PartitionHalves | FaultKind::PartitionOne | FaultKind::PartitionBridge => {
            (2_000, 14_000)
        }
        FaultKind::Loss => (2_000, 10_000),
        FaultKind::Pause => (1_000, 11_000),
        FaultKind::Clock => (3_000, 15_000),
        FaultKind::LeaderMigration => (1_000, 6_000),
        FaultKind::RestartAll => (0, 3_000),
        FaultKind::DiskFull => (3_000, 12_000),
        FaultKind::Corrupt => (0, 2_000),
    }
}

/// Wall-clock offsets a clock jump picks from (seconds), seconds to minutes.
const CLOCK_OFFSETS_S: [i64; 8] = [5, 12, 30, 45, 90, 180, 300, 600];

fn pick(rng: &mut StdRng, n: usize) -> usize {
    rng.gen_range(0..n)
}

fn draw(rng: &mut StdRng, kind: FaultKind, n: usize) -> Fault {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    match kind {
        FaultKind::Kill => Fault::Kill {
            target: if rng.gen_bool(0.4) {
                Target::Leader
            } else {
                Target::Node(pick(rng, n))
            },
        },
        FaultKind::PartitionHalves => {
            let small = order.split_off(n.div_ceil(2));
            Fault::PartitionHalves {
                sides: [small, order],
            }
        }
        FaultKind::PartitionOne => Fault::PartitionOne { node: order[0] },
        FaultKind::PartitionBridge => {
            let bridge = order.remove(0);
            let split = rng.gen_range(1..order.len().max(2));
            let c = order.split_off(split.min(order.len()));
            Fault::PartitionBridge {
                a: order,
                bridge,
                c,
            }
        }
        FaultKind::Loss => {
            let from = order.remove(0);
            let k = rng.gen_range(1..=order.len());
            order.truncate(k);
            Fault::Loss {
                from,
                to: order,
                percent: [30u8, 50, 75, 100][pick(rng, 4)],
            }
        }
        FaultKind::Pause => Fault::Pause {
            target: if rng.gen_bool(0.6) {
                Target::Leader
            } else {
                Target::Node(pick(rng, n))
            },
        },
        FaultKind::Clock => {
            let magnitude = CLOCK_OFFSETS_S[pick(rng, CLOCK_OFFSETS_S.len())];
            Fault::Clock {
                node: order[0],
                offset_s: if rng.gen_bool(0.5) {
                    magnitude
                } else {
                    -magnitude
                },
            }
        }
        FaultKind::LeaderMigration => Fault::LeaderMigration {
            ha: rng.gen_bool(0.5),
            to: order[0],
            delay_ms: rng.gen_range(0..2_500),
            power: rng.gen_bool(0.3),
        },
        FaultKind::RestartAll => Fault::RestartAll {
            power: rng.gen_bool(0.3),
        },
        FaultKind::DiskFull => Fault::DiskFull { node: order[0] },
        FaultKind::Corrupt => Fault::Corrupt {
            node: order[0],
            log: rng.gen_bool(0.5),
            damage: match pick(rng, 4) {
                0 | 1 => Damage::Record,
                2 => Damage::Page {
                    at_permille: rng.gen_range(50..1000),
                },
                _ => Damage::Header,
            },
        },
    }
}

impl Schedule {
    /// The schedule for `nodes` nodes over `duration` with these kinds (bridge
    /// partitions need three nodes; they are skipped below that).
    pub fn generate(seed: u64, nodes: usize, duration: Duration, kinds: &[FaultKind]) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let kinds: Vec<FaultKind> = kinds
            .iter()
            .copied()
            .filter(|k| nodes >= 3 || *k != FaultKind::PartitionBridge)
            .collect();
        let end = duration.as_millis() as u64;
        let mut faults = Vec::new();
        let mut t = FIRST_FAULT_MS;
        let mut round: Vec<FaultKind> = Vec::new();
        while t < end && !kinds.is_empty() {
            if round.is_empty() {
                round.clone_from(&kinds);
                round.shuffle(&mut rng);
            }
            let Some(kind) = round.pop() else { break };
            let (lo, hi) = hold_range(kind);
            let hold_ms = rng.gen_range(lo..=hi);
            let fault = draw(&mut rng, kind, nodes);
            faults.push(PlannedFault {
                index: faults.len(),
                at_ms: t,
                hold_ms,
                fault,
            });
            t += hold_ms + rng.gen_range(GAP_MS.0..=GAP_MS.1);
        }
        Schedule { seed, faults }
    }

    /// One line per fault.
    pub fn lines(&self) -> Vec<String> {
        self.faults
            .iter()
            .map(|f| {
                format!(
                    "#{:<3} at {:>7.1} s for {:>5.1} s: {}",
                    f.index,
                    f.at_ms as f64 / 1000.0,
                    f.hold_ms as f64 / 1000.0,
                    f.fault
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let d = Duration::from_secs(600);
        let a = Schedule::generate(42, 5, d, &FaultKind::ALL);
        assert_eq!(a, Schedule::generate(42, 5, d, &FaultKind::ALL));
        assert_ne!(a, Schedule::generate(43, 5, d, &FaultKind::ALL));
        assert_eq!(
            a.lines(),
            Schedule::generate(42, 5, d, &FaultKind::ALL).lines()
        );
    }

    #[test]
    fn a_short_run_has_every_kind() {
        // 18: the seed of the test suite's run (crates/e2e/tests/chaos.rs).
        for seed in [1, 18] {
            let s = Schedule::generate(seed, 3, Duration::from_secs(120), &FaultKind::ALL);
            for k in FaultKind::ALL {
                assert!(
                    s.faults.iter().any(|f| f.fault.kind() == k),
                    "seed {seed}: {k} missing: {:#?}",
                    s.lines()
                );
            }
        }
    }

    #[test]
    fn a_thirty_minute_run_plans_over_200_faults_of_every_kind() {
        for (seed, nodes) in [(30, 5), (30, 3), (1800, 5)] {
            let s = Schedule::generate(seed, nodes, Duration::from_secs(1800), &FaultKind::ALL);
            assert!(
                s.faults.len() >= 220,
                "seed {seed}: {} faults",
                s.faults.len()
            );
            for k in FaultKind::ALL {
                let n = s.faults.iter().filter(|f| f.fault.kind() == k).count();
                assert!(n >= 20, "seed {seed}, {nodes} nodes: {n} of {k}");
            }
        }
    }

    #[test]
    fn partitions_split_every_node_into_a_side() {
        let s = Schedule::generate(7, 5, Duration::from_secs(3600), &FaultKind::ALL);
        for f in &s.faults {
            match &f.fault {
                Fault::PartitionHalves { sides } => {
                    assert_eq!(sides[0].len() + sides[1].len(), 5);
                    assert!(sides[0].len() < sides[1].len());
                }
                Fault::PartitionBridge { a, c, .. } => {
                    assert!(!a.is_empty() && !c.is_empty());
                    assert_eq!(a.len() + c.len(), 4);
                }
                Fault::Loss { from, to, .. } => assert!(!to.contains(from) && !to.is_empty()),
                _ => {}
            }
        }
    }

    #[test]
    fn kinds_parse_with_groups_and_refuse_unknown_names() {
        assert_eq!(
            FaultKind::parse_list("kill,partition")
                .expect("parse")
                .len(),
            4
        );
        assert_eq!(
            FaultKind::parse_list("all").expect("parse"),
            FaultKind::ALL.to_vec()
        );
        let e = FaultKind::parse_list("kill,bogus")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("bogus") && e.contains("disk-full"), "{e}");
    }
}
