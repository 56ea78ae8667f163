//! A simulated network of 128 member views with random packet loss: every
//! killed node is reported dead by every live one within the node timeout,
//! and no live, reachable node is ever reported dead.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::view::{MemberView, Outgoing, PeerConfig};

/// Members in the simulation.
const NODES: u64 = 128;
/// Simulated time step.
const TICK: Duration = Duration::from_millis(100);
/// Ticks per heartbeat round.
const TICKS_PER_ROUND: u64 = 10;
/// The default node timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Ticks before liveness is checked (everyone has been heard of by then).
const WARM_UP_TICKS: u64 = 200;
/// Liveness is checked every this many ticks (and at the bound).
const CHECK_EVERY: u64 = 5;
/// When the victims are killed.
const KILL_TICK: u64 = 300;

fn addr(id: u64) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 1000 + id as u16))
}

fn views() -> Vec<MemberView> {
    let peers: Vec<PeerConfig> = (1..=NODES)
        .map(|id| PeerConfig {
            id,
            name: format!("n{id}"),
            links: vec![Some(addr(id))],
        })
        .collect();
    (1..=NODES)
        .map(|id| {
            let mut v = MemberView::new(id, &format!("n{id}"), TIMEOUT, 1000 + id);
            v.set_peers(peers.clone());
            v
        })
        .collect()
}

struct Sim {
    views: Vec<MemberView>,
    dead: Vec<bool>,
    phase: Vec<u64>,
    rng: StdRng,
    loss: f64,
    base: Instant,
    packets: u64,
}

impl Sim {
    fn at(&self, tick: u64) -> (Instant, i64) {
        let t = TICK * tick as u32;
        (self.base + t, t.as_nanos() as i64)
    }

    /// Delivers `o` from a live node (lost with probability `loss`), and its answer.
    fn deliver(&mut self, o: Outgoing, tick: u64) {
        self.packets += 1;
        let to = o.packet.hb.to as usize - 1;
        if self.dead[to] || self.rng.gen_bool(self.loss) {
            return;
        }
        let (now, ns) = self.at(tick);
        if let Ok(Some(answer)) = self.views[to].on_packet(&o.packet, now, ns) {
            self.deliver(answer, tick);
        }
    }

    fn step(&mut self, tick: u64) {
        let (now, ns) = self.at(tick);
        for i in 0..self.views.len() {
            if self.dead[i] || tick % TICKS_PER_ROUND != self.phase[i] {
                continue;
            }
            for o in self.views[i].round(now, ns) {
                self.deliver(o, tick);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn dead_nodes_are_detected_in_time_and_live_ones_never_falsely(
        seed in any::<u64>(),
        loss in 0.0f64..0.3,
        victims in proptest::collection::btree_set(0usize..NODES as usize, 1..6),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let phase = (0..NODES).map(|_| rng.gen_range(0..TICKS_PER_ROUND)).collect();
        let mut sim = Sim {
            views: views(),
            dead: vec![false; NODES as usize],
            phase,
            rng,
            loss,
            base: Instant::now(),
            packets: 0,
        };
        let bound = KILL_TICK + (TIMEOUT.as_millis() / TICK.as_millis()) as u64;
        for tick in 0..=bound {
            if tick == KILL_TICK {
                for v in &victims {
                    sim.dead[*v] = true;
                }
            }
            sim.step(tick);
            if tick < WARM_UP_TICKS || (tick % CHECK_EVERY != 0 && tick != bound) {
                continue;
            }
            let (now, _) = sim.at(tick);
            for (i, v) in sim.views.iter().enumerate() {
                if sim.dead[i] {
                    continue;
                }
                for j in 0..NODES as usize {
                    let alive = v.is_alive(j as u64 + 1, now);
                    if !sim.dead[j] {
                        prop_assert!(alive, "tick {tick}: n{} thinks live n{} dead (loss {loss})", i + 1, j + 1);
                    } else if tick == bound {
                        prop_assert!(!alive, "n{} still thinks n{} alive a node timeout after its death", i + 1, j + 1);
                    }
                }
            }
        }
        // Traffic does not grow with N: about 2 × fanout packets per node per round.
        let per_node_round = sim.packets as f64 / NODES as f64 / (bound / TICKS_PER_ROUND) as f64;
        prop_assert!(per_node_round < 2.0 * super::GOSSIP_FANOUT as f64 + 1.0, "{per_node_round}");
    }
}
