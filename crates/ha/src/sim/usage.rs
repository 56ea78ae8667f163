//! The usage the simulated nodes would sample: capacities (`node` lines), guest sizes,
//! and the live usage of what runs where (`usage` and `load` events).

use super::Sim;
use crate::crs::{GuestStats, Live, NodeStats, Usage};

impl Sim {
    /// What the nodes would sample now: capacities, sizes, and the live usage of what
    /// runs where.
    pub(super) fn usage(&self) -> Usage {
        let c = &self.committed;
        let mut u = Usage::default();
        for (sid, mem) in &c.memory {
            let cpus = c.cpus.get(sid).copied().unwrap_or(1.0);
            let at = self.nodes.iter().find(|n| n.running.contains(sid));
            let live = at.map(|n| {
                let l = self.guest_live.get(sid).copied().unwrap_or(Live {
                    cpu: cpus,
                    memory_mib: *mem,
                });
                (n.name.clone(), l)
            });
            u.guests.insert(
                *sid,
                GuestStats {
                    cpus,
                    memory_mib: *mem,
                    live,
                },
            );
        }
        for n in &self.nodes {
            let Some(cap) = self.capacity.get(&n.name) else {
                continue;
            };
            let mut live = self.base_load.get(&n.name).copied().unwrap_or_default();
            for g in u.guests.values() {
                if let Some((at, l)) = &g.live {
                    if *at == n.name {
                        live.cpu += l.cpu;
                        live.memory_mib += l.memory_mib;
                    }
                }
            }
            u.nodes.insert(
                n.name.clone(),
                NodeStats {
                    live: n.powered.then_some(live),
                    ..*cap
                },
            );
        }
        u
    }
}
