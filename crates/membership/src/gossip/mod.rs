//! The pure decisions of gossip mode: whom to probe each round, how ages in a
//! digest become "last had word of" times, and which entries a packet carries.
//!
//! Up to [`ALL_TO_ALL_MAX_NODES`] nodes every node heartbeats every node, as
//! corosync does. Above it each node probes [`GOSSIP_FANOUT`] random peers per
//! round (plus every version-1 peer, which only understands all-to-all), the
//! probed peer answers at once, and both packets carry a digest: per node and
//! link, how long ago the sender last had word of it. A node is alive while
//! anyone's word of it, as it reached us, is younger than the node timeout.
//! Word only ever ages (a relayed age is never younger than the relay's own),
//! so a node that stops at `d` is reported dead by `d + node_timeout` at the
//! latest, as in the 3-node case; see ARCHITECTURE.md for the arithmetic.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::packet::digest::NEVER;

/// Clusters of at most this many nodes heartbeat all-to-all (no digest is used).
pub const ALL_TO_ALL_MAX_NODES: usize = 16;
/// Peers each node probes per round in gossip mode.
pub const GOSSIP_FANOUT: usize = 4;

/// How a round is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Heartbeat every peer; liveness only from what we hear ourselves.
    AllToAll,
    /// Probe a few; liveness also from digests.
    Gossip,
}

/// The mode for a cluster of `peers` other nodes.
pub fn mode(peers: usize) -> Mode {
    if peers < ALL_TO_ALL_MAX_NODES {
        Mode::AllToAll
    } else {
        Mode::Gossip
    }
}

/// The peers to probe this round: every one of `always` (version-1 peers) and
/// `fanout` others drawn at random from `candidates`, without repeats.
pub fn choose_probes<R: Rng>(
    candidates: &[u64],
    always: &[u64],
    fanout: usize,
    rng: &mut R,
) -> Vec<u64> {
    let mut out: Vec<u64> = always.to_vec();
    let rest: Vec<u64> = candidates
        .iter()
        .copied()
        .filter(|c| !always.contains(c))
        .collect();
    out.extend(rest.choose_multiple(rng, fanout.min(rest.len())));
    out
}

/// The age to put in a digest for word last had at `seen` (capped below [`NEVER`]).
pub fn age_ms(now: Instant, seen: Option<Instant>) -> u32 {
    match seen {
        None => NEVER,
        Some(t) => u32::try_from(now.saturating_duration_since(t).as_millis())
            .unwrap_or(NEVER - 1)
            .min(NEVER - 1),
    }
}

/// When word of a digest entry was had, in our clock (`None`: never, or before our clock began).
pub fn seen_at(now: Instant, age_ms: u32) -> Option<Instant> {
    if age_ms == NEVER {
        return None;
    }
    now.checked_sub(Duration::from_millis(u64::from(age_ms)))
}

/// Milliseconds a packet spent between its sender and us (queues, a busy receiver):
/// our receive time minus its send time on our clock, given the sender's clock offset
/// (`their - ours`, 0 when not yet estimated); never negative. Added to every age of
/// its digest, so that word does not get younger by the time it spent in transit,
/// hop after hop.
pub fn transit_ms(now_ns: i64, sent_ns: i64, offset_ms: Option<f64>) -> u32 {
    let offset_ns = offset_ms.unwrap_or(0.0) * 1e6;
    let lag_ns = (now_ns as f64 - sent_ns as f64 + offset_ns).max(0.0);
    (lag_ns / 1e6).min(f64::from(NEVER - 1)) as u32
}

/// An age as it reaches us: `age_ms` plus the packet's transit ([`NEVER`] stays never).
pub fn arrived_age_ms(age_ms: u32, transit_ms: u32) -> u32 {
    if age_ms == NEVER {
        NEVER
    } else {
        age_ms.saturating_add(transit_ms).min(NEVER - 1)
    }
}

/// The later of two "last had word" times.
pub fn fresher(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Which of `sizes` (entry byte lengths, in cluster order) the next packet carries,
/// starting at `cursor` and wrapping, within `budget` bytes; returns the indices
/// and the cursor for the packet after. Every entry is carried once per
/// `ceil(total / budget)` packets.
pub fn digest_window(sizes: &[usize], cursor: usize, budget: usize) -> (Vec<usize>, usize) {
    let n = sizes.len();
    if n == 0 {
        return (Vec::new(), 0);
    }
    let mut out = Vec::new();
    let mut used = 0;
    let start = cursor % n;
    for k in 0..n {
        let i = (start + k) % n;
        if used + sizes[i] > budget {
            break;
        }
        used += sizes[i];
        out.push(i);
    }
    let next = (start + out.len()) % n;
    (out, next)
}

#[cfg(test)]
mod tests;
